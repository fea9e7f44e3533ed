// Package secretstore reads and writes one secret value (a JSON document) in
// a store chosen by URL: file://path here; awssm:// and tencentssm:// are
// registered by their own packages so that a binary links only the SDKs it
// needs.
package secretstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// ErrNotFound means the secret (or its value) does not exist yet.
var ErrNotFound = errors.New("secretstore: secret not found")

// Store is one secret.
type Store interface {
	// Get returns the current value, or an error wrapping ErrNotFound.
	Get(ctx context.Context) ([]byte, error)
	// Put replaces the value.
	Put(ctx context.Context, value []byte) error
}

// Opener builds a Store from a parsed URL.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{"file": openFile}
)

// Register makes a URL scheme available to Open. Backend packages call it
// from init.
func Register(scheme string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers[scheme] = o
}

// Open returns the Store a URL names. The error never repeats the URL's
// query (it may carry options) beyond scheme and host.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// An ARN after "scheme://" (awssm://arn:aws:secretsmanager:…) is
		// not a valid host: read everything after "//" as the path.
		if scheme, rest, ok := strings.Cut(rawURL, "://"); ok {
			if u2, err2 := url.Parse(scheme + ":///" + rest); err2 == nil {
				u, err = u2, nil
			}
		}
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return nil, fmt.Errorf("secretstore: bad store URL: %w", err)
	}
	mu.RLock()
	o, ok := openers[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("secretstore: unsupported scheme %q (is its backend linked in?)", u.Scheme)
	}
	return o(ctx, u)
}
