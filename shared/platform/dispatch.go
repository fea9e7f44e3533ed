package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
)

// eventKind is the shape of an invocation payload.
type eventKind int

const (
	kindOther   eventKind = iota // anything else: Function.Event
	kindAPIGWv2                  // API Gateway HTTP API payload 2.0 or Lambda Function URL
	kindAPIGWv1                  // API Gateway REST API (proxy integration, v1)
	kindSCFHTTP                  // SCF Function URL (event function) or legacy SCF API Gateway
)

func (k eventKind) String() string {
	switch k {
	case kindAPIGWv2:
		return "apigw-v2"
	case kindAPIGWv1:
		return "apigw-v1"
	case kindSCFHTTP:
		return "scf-http"
	default:
		return "event"
	}
}

// classify sniffs the payload's shape from its top-level keys, matched
// exactly (encoding/json's struct decoding would match keys case-insensitively,
// and SCF's own events use capitalised keys).
//
//   - payload 2.0 (HTTP API, Function URL): version "2.0", rawPath, requestContext.http.method
//   - REST v1: httpMethod, resource, requestContext
//   - SCF Function URL / API Gateway: httpMethod and path, no resource or rawPath
func classify(payload []byte) eventKind {
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) != nil {
		return kindOther
	}
	str := func(key string) (string, bool) {
		var s string
		raw, ok := top[key]
		if !ok || json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	_, hasRawPath := str("rawPath")
	_, hasResource := top["resource"]
	method, hasMethod := str("httpMethod")
	if v, _ := str("version"); v == "2.0" && hasRawPath {
		var rc struct {
			HTTP struct {
				Method string `json:"method"`
			} `json:"http"`
		}
		if json.Unmarshal(top["requestContext"], &rc) == nil && rc.HTTP.Method != "" {
			return kindAPIGWv2
		}
	}
	if !hasMethod || method == "" {
		return kindOther
	}
	if _, ok := top["requestContext"]; ok && hasResource {
		return kindAPIGWv1
	}
	if _, ok := str("path"); ok && !hasResource && !hasRawPath {
		return kindSCFHTTP
	}
	return kindOther
}

type dispatcher struct {
	fn  Function
	log *slog.Logger
}

func newDispatcher(fn Function) *dispatcher {
	return &dispatcher{fn: fn, log: fn.Logger}
}

// handle serves one invocation payload. The result is JSON-marshalled by the
// caller. ctx carries the invocation's deadline.
func (d *dispatcher) handle(ctx context.Context, payload json.RawMessage) (any, error) {
	kind := classify(payload)
	if kind != kindOther && d.fn.HTTP != nil {
		switch kind {
		case kindAPIGWv2:
			return serveAPIGWv2(ctx, d.fn.HTTP, payload)
		case kindAPIGWv1:
			return serveAPIGWv1(ctx, d.fn.HTTP, payload)
		case kindSCFHTTP:
			return serveSCFHTTP(ctx, d.fn.HTTP, payload)
		}
	}
	if d.fn.Event == nil {
		return nil, fmt.Errorf("%w (%s) for function %q", ErrUnsupportedEvent, kind, d.fn.Name)
	}
	return d.fn.Event(ctx, payload)
}

// invokeError is a function error as the SCF modes report it.
type invokeError struct {
	Message    string       `json:"errorMessage"`
	Type       string       `json:"errorType"`
	StackTrace []stackFrame `json:"stackTrace,omitempty"`
	panicked   bool
}

type stackFrame struct {
	Path  string `json:"path"`
	Line  int32  `json:"line"`
	Label string `json:"label"`
}

// safeHandle runs handle and turns an error or a panic into an invokeError.
// The result is marshalled to JSON.
func (d *dispatcher) safeHandle(ctx context.Context, payload []byte) (out []byte, ierr *invokeError) {
	defer func() {
		if v := recover(); v != nil {
			ierr = &invokeError{
				Message:    fmt.Sprint(v),
				Type:       typeName(v),
				StackTrace: panicStack(),
				panicked:   true,
			}
			out = nil
		}
	}()
	res, err := d.handle(ctx, payload)
	if err != nil {
		return nil, &invokeError{Message: err.Error(), Type: typeName(err)}
	}
	out, err = json.Marshal(res)
	if err != nil {
		return nil, &invokeError{Message: "marshal response: " + err.Error(), Type: typeName(err)}
	}
	return out, nil
}

// typeName names a value's type the way aws-lambda-go does (no pointer star,
// no package path).
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// panicStack returns the stack of the panicking goroutine, called from a
// deferred recover, skipping the runtime's panic machinery.
func panicStack() []stackFrame {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var out []stackFrame
	afterPanic := false
	for {
		f, more := frames.Next()
		if afterPanic {
			if len(out) > 0 || !strings.HasPrefix(f.Function, "runtime.") {
				out = append(out, stackFrame{Path: f.File, Line: int32(f.Line), Label: f.Function})
			}
		} else if strings.HasPrefix(f.Function, "runtime.gopanic") || f.Function == "runtime.panicmem" {
			afterPanic = true
		}
		if !more || len(out) >= 32 {
			break
		}
	}
	return out
}
