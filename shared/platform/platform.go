// Package platform runs one function binary on every platform the project
// deploys to, choosing the mode from the environment:
//
//   - AWS_LAMBDA_RUNTIME_API: AWS Lambda Runtime API, through aws-lambda-go.
//   - SCF_RUNTIME_API and SCF_RUNTIME_API_PORT: Tencent SCF Custom Runtime
//     (init/ready, invocation/next, response or error).
//   - _LAMBDA_SERVER_PORT: Tencent SCF Go1 runtime (the net/rpc gob protocol
//     of scf-go-lib, spoken without importing net/rpc; see scfgo1.go), with
//     the per-invoke Environment applied, listening on BIND_ADDR (0.0.0.0).
//   - otherwise: an HTTP server on BIND_ADDR:PORT (default 0.0.0.0, and port
//     9000 when SCF environment variables are present, as for SCF web
//     functions, 8080 otherwise). Each request's context has a deadline
//     (REQUEST_TIMEOUT, default 30s). A function with only an Event handler
//     serves GET /healthz and, off SCF, POST /invoke (body = event JSON).
//
// Binaries must be built with -tags lambda.norpc: without it aws-lambda-go
// registers its own RPC entry on _LAMBDA_SERVER_PORT.
//
// On the event platforms one JSON payload arrives per invocation and is
// dispatched by shape: API Gateway HTTP API (payload 2.0), Lambda Function URL
// and API Gateway REST (v1) events go to Function.HTTP through
// aws-lambda-go-api-proxy; SCF Function URL (and legacy API Gateway) events go
// to Function.HTTP through this package's own adapter; everything else
// (schedules, timers, queues, object storage) goes to Function.Event as raw
// JSON. The invocation's deadline is in the context on every path.
//
// Panics: on AWS aws-lambda-go reports them as function errors and the process
// exits; on SCF Custom Runtime the error is reported and Run returns an error
// (the caller exits, SCF starts a fresh instance); on SCF Go1 the error is
// returned with ShouldExit set and the runtime decides; in HTTP mode the
// request gets a 500 JSON error and the server keeps serving.
package platform

import (
	"github.com/cardocr/cardocr/shared/buildinfo"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
)

// Function is what a binary serves. HTTP functions set HTTP; event functions
// set Event; either may be nil.
type Function struct {
	Name string
	HTTP http.Handler
	// Event handles scheduled and queue/object events, as raw JSON. Its result
	// is marshalled to JSON as the invocation's response.
	Event  func(ctx context.Context, event json.RawMessage) (any, error)
	Logger *slog.Logger
}

// Environment variables that select and configure the mode (see the package doc).
const (
	envAWSRuntimeAPI  = "AWS_LAMBDA_RUNTIME_API"
	envSCFRuntimeAPI  = "SCF_RUNTIME_API"
	envSCFRuntimePort = "SCF_RUNTIME_API_PORT"
	envSCFGo1Port     = "_LAMBDA_SERVER_PORT"
	// envPort is the HTTP mode's port.
	envPort = "PORT"
	// envBindAddr is the address the HTTP and SCF Go1 modes listen on
	// (default 0.0.0.0, which SCF requires; tests use 127.0.0.1).
	envBindAddr = "BIND_ADDR"
	// envRequestTimeout bounds each request in HTTP mode (a Go duration,
	// default 30s), so that handlers see a deadline there too.
	envRequestTimeout = "REQUEST_TIMEOUT"
)

// mode is how the binary talks to its platform.
type mode string

const (
	modeAWS        mode = "aws-runtime-api"
	modeSCFRuntime mode = "scf-custom-runtime"
	modeSCFGo1     mode = "scf-go1"
	modeHTTP       mode = "http"
)

// detectMode reports the mode Run would pick for the given environment lookup.
func detectMode(getenv func(string) string) mode {
	switch {
	case getenv(envAWSRuntimeAPI) != "":
		return modeAWS
	case getenv(envSCFRuntimeAPI) != "":
		return modeSCFRuntime
	case getenv(envSCFGo1Port) != "":
		return modeSCFGo1
	default:
		return modeHTTP
	}
}

// ErrUnsupportedEvent is the function error for an event the function has no
// handler for.
var ErrUnsupportedEvent = errors.New("unsupported event")

// Run picks the mode from the environment and serves until the platform stops
// it or ctx is done. It returns an error when the mode cannot start or the
// platform connection fails; callers should log it and exit non-zero.
func Run(ctx context.Context, fn Function) error {
	if fn.Logger == nil {
		fn.Logger = slog.Default().With("function", fn.Name) // setup.Main's logger has it already
	}
	if fn.HTTP == nil && fn.Event == nil {
		return errors.New("platform: function has neither an HTTP nor an Event handler")
	}
	d := newDispatcher(fn)
	m := detectMode(os.Getenv)
	fn.Logger.Info("starting", "mode", string(m), "version", buildinfo.String())
	switch m {
	case modeAWS:
		return runAWS(ctx, d)
	case modeSCFRuntime:
		port := os.Getenv(envSCFRuntimePort)
		if port == "" {
			return fmt.Errorf("platform: %s is set but %s is not", envSCFRuntimeAPI, envSCFRuntimePort)
		}
		return runSCFRuntime(ctx, d, os.Getenv(envSCFRuntimeAPI), port)
	case modeSCFGo1:
		return runSCFGo1(ctx, d, bindAddr(), os.Getenv(envSCFGo1Port))
	default:
		return runHTTP(ctx, d, os.Getenv)
	}
}

func bindAddr() string {
	if a := os.Getenv(envBindAddr); a != "" {
		return a
	}
	return "0.0.0.0"
}

// onSCF reports whether SCF's reserved environment variables are present
// (names starting with SCF_, or TENCENTCLOUD_RUNENV), as in a web function.
func onSCF(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "SCF_") || strings.HasPrefix(kv, "TENCENTCLOUD_RUNENV=") {
			return true
		}
	}
	return false
}
