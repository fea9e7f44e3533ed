package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		length int64
		limit  int64
		want   string
		err    error
	}{
		{"known length", "hello", 5, 10, "hello", nil},
		{"unknown length", "hello", -1, 10, "hello", nil},
		{"known length over the limit", "hello", 5, 4, "", ErrTooLarge},
		{"unknown length over the limit", "hello", -1, 4, "", ErrTooLarge},
		{"exactly the limit", "hello", -1, 5, "hello", nil},
		{"cut short", "hel", 5, 10, "", io.ErrUnexpectedEOF},
	} {
		resp := &http.Response{Body: io.NopCloser(strings.NewReader(tc.body)), ContentLength: tc.length}
		got, err := ReadBody(resp, tc.limit)
		if string(got) != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: %q %v", tc.name, got, err)
		}
	}
}

// Transport errors lose the URL (its query holds tokens and signatures);
// a refused dial is known not to have been sent.
func TestTransport(t *testing.T) {
	dial := &url.Error{Op: "Get", URL: "https://h/x?access_token=SECRET", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	err, notSent := Transport(context.Background(), dial)
	if !notSent || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("dial: %v notSent=%v", err, notSent)
	}
	quoted := &url.Error{Op: "Get", URL: "https://h/x", Err: errors.New(`proxy said no to "https://h/x?access_token=SECRET"`)}
	if err, notSent := Transport(context.Background(), quoted); notSent || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("quoted: %v notSent=%v", err, notSent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err, _ := Transport(ctx, errors.New("read: connection reset")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if Reached(errors.New("not an upstream error")) || Reached(&Error{NotSent: true}) || !Reached(&Error{Code: "1"}) {
		t.Error("Reached")
	}
}
