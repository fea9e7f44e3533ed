// Package queue sends messages to the queue resultfetch reads (callback
// deliveries and their retries). The queue is named by URL
// (CALLBACK_QUEUE_URL), in the style of the store URLs:
//
//	sqs://sqs.<region>.amazonaws.com/<account>/<name>   AWS SQS SendMessage (package queue/sqsqueue)
//	cmq://<topic-name>?region=…                          TDMQ CMQ PublishCmqMsg (package queue/cmqqueue; no delay)
//
// The backends register by build tag (shared/backends/queues).
package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// Sender sends one message, visible after delay.
type Sender interface {
	Send(ctx context.Context, body []byte, delay time.Duration) error
}

// Opener builds a Sender from its URL.
type Opener func(u *url.URL) (Sender, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{}
)

// Register makes a scheme available to Open (backends call it from init).
func Register(scheme string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers[scheme] = o
}

// Open returns the Sender a URL names. It makes no network call.
func Open(_ context.Context, raw string) (Sender, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("queue: CALLBACK_QUEUE_URL is not sqs://sqs.<region>.amazonaws.com/<account>/<name> or cmq://<name>?region=…")
	}
	mu.RLock()
	o, ok := openers[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("queue: unsupported scheme %q (is its backend linked in?)", u.Scheme)
	}
	return o(u)
}
