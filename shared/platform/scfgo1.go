package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
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

// go1Function is the RPC receiver, registered as "Function".
type go1Function struct {
	base  context.Context
	d     *dispatcher
	envMu sync.Mutex
}

// Ping answers the runtime's liveness check.
func (f *go1Function) Ping(_ *scfgo.PingRequest, _ *scfgo.PingResponse) error { return nil }

// Invoke runs one invocation.
func (f *go1Function) Invoke(req *scfgo.InvokeRequest, resp *scfgo.InvokeResponse) error {
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
		return nil
	}
	resp.Payload = out
	return nil
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
	srv := rpc.NewServer()
	if err := srv.RegisterName("Function", &go1Function{base: ctx, d: d}); err != nil {
		return fmt.Errorf("platform: SCF Go1: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("platform: SCF Go1: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("platform: SCF Go1 accept: %w", err)
		}
		go srv.ServeConn(conn)
	}
}
