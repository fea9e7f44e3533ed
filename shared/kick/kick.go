// Package kick asks the ticket refresher to run now, from a request that
// met a ticket the upstream rejects (tickets.Reader.Kick). The refresher is
// named by URL (REFRESHER_URL), in the style of the store URLs:
//
//	lambda://<function-name>[?region=…&endpoint=…]       AWS: asynchronous Invoke (package kick/lambdakick)
//	scf://<function-name>?region=…[&namespace=…&endpoint=…] SCF: asynchronous Invoke (package kick/scfkick)
//
// The backends register by build tag (shared/backends/kickers). The
// refresher receives Payload and runs tickets.Refresher.Heal: its
// self-check decides whether to replace the pair, and its lease keeps any
// number of asks to one replacement.
package kick

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/cardocr/cardocr/shared/tickets"
)

// Payload is the event the refresher is invoked with.
var Payload = []byte(`{"cause":"` + tickets.CauseRejectedOnRequest + `"}`)

// Opener builds a Kicker from its URL.
type Opener func(u *url.URL) (tickets.Kicker, error)

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

// Open returns the Kicker a URL names. It makes no network call.
func Open(_ context.Context, raw string) (tickets.Kicker, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("kick: bad REFRESHER_URL: %w", err)
	}
	if u.Host == "" {
		return nil, errors.New("kick: REFRESHER_URL names no function (lambda://<name> or scf://<name>?region=…)")
	}
	mu.RLock()
	o, ok := openers[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("kick: unsupported scheme %q (is its backend linked in?)", u.Scheme)
	}
	return o(u)
}
