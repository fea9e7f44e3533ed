//go:build !cardocr_aws

package platform

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/platform/internal/scfgo"
)

// SCF Go1 runtime: the runtime starts the binary with _LAMBDA_SERVER_PORT and
// calls Function.Ping and Function.Invoke over net/rpc (gob), the protocol of
// github.com/tencentyun/scf-go-lib (which listens on 0.0.0.0 since 2023). Each
// Invoke carries the deadline and an Environment JSON object whose keys are
// set in the process environment before the handler runs. A panic is
// answered as a function error with ShouldExit set; the runtime replaces the
// process.

// go1Function serves the service "Function" (methods Ping and Invoke).
type go1Function struct {
	base  context.Context
	d     *dispatcher
	envMu sync.Mutex
}

// Invoke runs one invocation.
func (f *go1Function) Invoke(req *scfgo.InvokeRequest, resp *scfgo.InvokeResponse) {
	if err := f.applyEnvironment(req.Environment); err != nil {
		f.d.log.Warn("SCF Go1: ignoring malformed Environment", "function", f.d.fn.Name,
			"request_id", req.RequestId, "error", err)
	}
	ctx, cancel := go1Context(f.base, req)
	defer cancel()
	out, ierr := f.d.safeHandle(ctx, req.Payload)
	if ierr != nil {
		f.d.log.Error("invocation failed", "function", f.d.fn.Name, "request_id", req.RequestId,
			"error_type", ierr.Type, "error", ierr.Message, "panic", ierr.panicked)
		e := &scfgo.InvokeError{Message: ierr.Message, Type: ierr.Type, ShouldExit: ierr.panicked}
		for _, fr := range ierr.StackTrace {
			e.StackTrace = append(e.StackTrace, &scfgo.StackFrame{Path: fr.Path, Line: fr.Line, Label: fr.Label})
		}
		resp.Error = e
		return
	}
	resp.Payload = out
}

// applyEnvironment sets every key of the Environment JSON object, as
// scf-go-lib does on each invoke. Non-string values are set as their JSON text.
func (f *go1Function) applyEnvironment(environment string) error {
	if environment == "" {
		return nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal([]byte(environment), &env); err != nil {
		return err
	}
	f.envMu.Lock()
	defer f.envMu.Unlock()
	for k, raw := range env {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		if err := os.Setenv(k, s); err != nil {
			return fmt.Errorf("setenv %q: %w", k, err)
		}
	}
	return nil
}

// go1Context carries the invocation deadline: Deadline when set, else
// now + TimeLimitInMs when positive.
func go1Context(ctx context.Context, req *scfgo.InvokeRequest) (context.Context, context.CancelFunc) {
	if req.Deadline.Seconds != 0 || req.Deadline.Nanos != 0 {
		return context.WithDeadline(ctx, time.Unix(req.Deadline.Seconds, req.Deadline.Nanos))
	}
	if req.TimeLimitInMs > 0 {
		return context.WithTimeout(ctx, time.Duration(req.TimeLimitInMs)*time.Millisecond)
	}
	return context.WithCancel(ctx)
}

// runSCFGo1 serves the Go1 RPC protocol on host:port until ctx is done.
func runSCFGo1(ctx context.Context, d *dispatcher, host, port string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("platform: SCF Go1: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	f := &go1Function{base: ctx, d: d}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("platform: SCF Go1 accept: %w", err)
		}
		go serveRPCConn(conn, f)
	}
}

// The net/rpc wire protocol with its gob codec, implemented here instead of
// importing net/rpc: net/rpc finds methods through reflect.Type.Method, which
// makes the linker keep every exported method of every reachable type, and
// pulls in html/template for its debug page; together several MB per binary.
// On one connection the client sends, gob-encoded on one stream, a request
// header then the argument; the server answers a response header then the
// reply (an empty struct when Error is set). Calls run concurrently; replies
// are written one at a time.

// rpcRequest and rpcResponse are net/rpc's Request and Response headers
// (gob matches them by field name).
type rpcRequest struct {
	ServiceMethod string
	Seq           uint64
}

type rpcResponse struct {
	ServiceMethod string
	Seq           uint64
	Error         string
}

func serveRPCConn(conn net.Conn, f *go1Function) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	enc := gob.NewEncoder(w)
	dec := gob.NewDecoder(bufio.NewReader(conn))
	var sendMu sync.Mutex
	send := func(h *rpcResponse, body any) {
		sendMu.Lock()
		defer sendMu.Unlock()
		err := enc.Encode(h)
		if err == nil {
			err = enc.Encode(body)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			f.d.log.Error("SCF Go1: write reply", "function", f.d.fn.Name, "error", err)
			conn.Close()
		}
	}
	var calls sync.WaitGroup
	defer calls.Wait()
	for {
		var h rpcRequest
		if err := dec.Decode(&h); err != nil {
			return // EOF, or a stream we cannot follow
		}
		reply := &rpcResponse{ServiceMethod: h.ServiceMethod, Seq: h.Seq}
		switch h.ServiceMethod {
		case "Function.Ping":
			var req scfgo.PingRequest
			if err := dec.Decode(&req); err != nil {
				return
			}
			send(reply, &scfgo.PingResponse{})
		case "Function.Invoke":
			req := new(scfgo.InvokeRequest)
			if err := dec.Decode(req); err != nil {
				return
			}
			calls.Add(1)
			go func() {
				defer calls.Done()
				resp := new(scfgo.InvokeResponse)
				f.Invoke(req, resp)
				send(reply, resp)
			}()
		default:
			if err := dec.DecodeValue(reflect.Value{}); err != nil { // discard the argument
				return
			}
			reply.Error = "rpc: can't find method " + h.ServiceMethod
			send(reply, &struct{}{})
		}
	}
}
