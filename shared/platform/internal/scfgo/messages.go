// Package scfgo declares the net/rpc messages of Tencent SCF's Go1 runtime
// (the protocol of github.com/tencentyun/scf-go-lib, which the Go module proxy
// does not serve). The runtime calls the service "Function" with the methods
// Ping and Invoke, gob-encoded.
//
// gob matches struct fields by name, not type names, so only the field names
// and types below have to agree with scf-go-lib's messages package; the type
// names are ours.
package scfgo

// PingRequest is the argument of Function.Ping.
type PingRequest struct{}

// PingResponse is the reply of Function.Ping.
type PingResponse struct{}

// Timestamp is an absolute time as seconds and nanoseconds since the Unix epoch.
type Timestamp struct {
	Seconds int64
	Nanos   int64
}

// InvokeRequest is the argument of Function.Invoke.
type InvokeRequest struct {
	Payload               []byte
	RequestId             string
	TraceId               string
	Deadline              Timestamp
	InvokedFunctionUnique string
	ClientContext         []byte
	Namespace             string
	FunctionName          string
	FunctionVersion       string
	MemoryLimitInMb       int32
	TimeLimitInMs         int32
	// Environment is a JSON object string; every key is set in the process
	// environment before the handler runs, on every invoke.
	Environment        string
	TencentcloudRegion string
	TencentcloudAppID  string
	TencentcloudUin    string
	FunctionTrace      string
}

// InvokeResponse is the reply of Function.Invoke.
type InvokeResponse struct {
	Payload []byte
	Error   *InvokeError
}

// InvokeError is a function error. ShouldExit asks the runtime to replace
// the process (set after a panic).
type InvokeError struct {
	Message    string
	Type       string
	StackTrace []*StackFrame
	ShouldExit bool
}

// StackFrame is one frame of a panic's stack trace.
type StackFrame struct {
	Path  string
	Line  int32
	Label string
}
