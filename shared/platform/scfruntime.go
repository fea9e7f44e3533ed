package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// SCF Custom Runtime (https://cloud.tencent.com/document/product/583/47274):
// after init, POST /runtime/init/ready; then loop: GET
// /runtime/invocation/next (a long poll, so no client timeout) gives the
// event with headers request_id, memory_limit_in_mb and time_limit_in_ms;
// POST the result to /runtime/invocation/response or a failure to
// /runtime/invocation/error. There is no deadline header: the deadline is the
// receive time plus time_limit_in_ms.

// runSCFRuntime runs the Custom Runtime loop until ctx is done, the runtime
// API fails, or a handler panics (reported, then Run returns an error so the
// process exits and SCF starts a fresh instance, as aws-lambda-go does on AWS).
func runSCFRuntime(ctx context.Context, d *dispatcher, host, port string) error {
	base := "http://" + net.JoinHostPort(host, port)
	client := &http.Client{} // no timeout: next is a long poll
	post := func(path string, contentType string, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: status %d", path, resp.StatusCode)
		}
		return nil
	}
	// The documented example posts a single space.
	if err := post("/runtime/init/ready", "text/plain", []byte(" ")); err != nil {
		return stopped(ctx, fmt.Errorf("platform: SCF custom runtime init/ready: %w", err))
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/runtime/invocation/next", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return stopped(ctx, fmt.Errorf("platform: SCF custom runtime next: %w", err))
		}
		received := time.Now()
		payload, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return stopped(ctx, fmt.Errorf("platform: SCF custom runtime next: %w", err))
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("platform: SCF custom runtime next: status %d", resp.StatusCode)
		}
		requestID := resp.Header.Get("request_id")
		ictx, cancel := withTimeLimit(ctx, received, resp.Header.Get("time_limit_in_ms"))
		out, ierr := d.safeHandle(ictx, payload)
		cancel()
		if ierr != nil {
			d.log.Error("invocation failed", "request_id", requestID,
				"error_type", ierr.Type, "error", ierr.Message, "panic", ierr.panicked)
			body, _ := json.Marshal(ierr)
			if err := post("/runtime/invocation/error", "application/json", body); err != nil {
				return stopped(ctx, fmt.Errorf("platform: SCF custom runtime error: %w", err))
			}
			if ierr.panicked {
				return errors.New("platform: handler panicked; exiting so that SCF starts a fresh instance")
			}
			continue
		}
		if err := post("/runtime/invocation/response", "application/json", out); err != nil {
			return stopped(ctx, fmt.Errorf("platform: SCF custom runtime response: %w", err))
		}
	}
}

// withTimeLimit bounds ctx by start + limitMs milliseconds when limitMs is a
// positive integer.
func withTimeLimit(ctx context.Context, start time.Time, limitMs string) (context.Context, context.CancelFunc) {
	ms, err := strconv.ParseInt(limitMs, 10, 64)
	if err != nil || ms <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, start.Add(time.Duration(ms)*time.Millisecond))
}

// stopped returns nil when ctx is done (a requested stop), else err.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
