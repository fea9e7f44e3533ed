package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
)

// Outbox keeps bodies until they are delivered (archive.Archive).
type Outbox interface {
	PutCallback(ctx context.Context, owner, kind, orderNo, status string, body []byte) error
	Callback(ctx context.Context, owner, kind, orderNo, status string) ([]byte, error)
	DeleteCallback(ctx context.Context, owner, kind, orderNo, status string) error
}

// Queue sends a message to the queue resultfetch reads, visible after
// delay (package queue).
type Queue interface {
	Send(ctx context.Context, body []byte, delay time.Duration) error
}

// Target is where an owner's callbacks go.
type Target struct {
	URL, Secret string
}

// Targets says where an owner's callbacks go; ok is false when it has
// none (no callback is made); err when that cannot be told now (the
// tenants document unavailable).
type Targets func(ctx context.Context, owner string) (t Target, ok bool, err error)

// Static is one target for every owner (tests; setup gives the default
// tenant CALLBACK_URL and each tenant its own).
func Static(url, secret string) Targets {
	return func(context.Context, string) (Target, bool, error) {
		return Target{url, secret}, url != "" && secret != "", nil
	}
}

// Notifier turns final orders into queued deliveries (ocr.Notifier).
type Notifier struct {
	Outbox  Outbox
	Queue   Queue
	Targets Targets
	Logger  *slog.Logger
	Now     func() time.Time
}

func (n *Notifier) log() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.Default()
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// Notify keeps the body and queues its delivery. A failure is logged, not
// returned: the answer to the order's caller stands.
func (n *Notifier) Notify(ctx context.Context, f ocr.Final) {
	// Unknown now (the tenants document unavailable): queued all the same,
	// the delivery decides.
	if _, ok, err := n.Targets(ctx, f.Owner); !ok && err == nil {
		return
	}
	b := Body{OrderNo: f.OrderNo, Kind: f.Kind, Status: Done}
	if f.Err != nil {
		de := errcode.AsError(f.Err)
		b.Status, b.Error = Failed, &Error{Code: string(de.Code), Message: de.Message, UpstreamCode: de.UpstreamCode}
	} else {
		raw, err := json.Marshal(f.Result)
		if err != nil {
			n.log().ErrorContext(ctx, "callback not queued: the result does not marshal", "kind", f.Kind, "err", err.Error())
			return
		}
		b.Result = raw
	}
	body, _ := json.Marshal(b)
	if err := n.Outbox.PutCallback(ctx, f.Owner, f.Kind, f.OrderNo, b.Status, body); err != nil {
		n.log().ErrorContext(ctx, "callback not queued: the outbox did not take it", "kind", f.Kind, "orderNo", f.OrderNo, "err", err.Error())
		return
	}
	job, _ := json.Marshal(map[string]Job{"callback": {Tenant: f.Owner, Kind: f.Kind, OrderNo: f.OrderNo, Status: b.Status, Since: n.now().Unix()}})
	if err := n.Queue.Send(ctx, job, 0); err != nil {
		n.log().ErrorContext(ctx, "callback not queued: the queue did not take it", "kind", f.Kind, "orderNo", f.OrderNo, "err", err.Error())
	}
}

// Orders marks an order whose callback was never delivered.
type Orders interface {
	Order(ctx context.Context, owner, orderNo string) (*ocr.Order, error)
	SaveOrder(ctx context.Context, o ocr.Order) error
}

// Deliverer POSTs queued bodies (resultfetch's side).
type Deliverer struct {
	Outbox  Outbox
	Queue   Queue
	Targets Targets
	Orders  Orders
	Client  *http.Client // default Client(Loopback)
	// Loopback allows http:// and 127.0.0.1 (the local stack's receiver).
	Loopback bool
	Base     time.Duration // the first backoff [10s]
	Logger   *slog.Logger
	Now      func() time.Time
}

// Outcomes of a delivery.
const (
	Delivered = "delivered"
	Retrying  = "retrying" // queued again, with its backoff
	Gone      = "gone"     // nothing waits: delivered before, or erased
)

// ErrGaveUp fails the message after MaxAge of attempts: the platform
// moves it to the dead-letter queue; the order is marked callbackFailed.
var ErrGaveUp = errors.New("callback: not delivered within 24 h; the order is marked callbackFailed")

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// Deliver makes one attempt. A failed attempt within MaxAge queues the
// next one after its backoff and succeeds (the message is done); past
// MaxAge it marks the order and fails.
func (d *Deliverer) Deliver(ctx context.Context, j Job) (string, error) {
	body, err := d.Outbox.Callback(ctx, j.Tenant, j.Kind, j.OrderNo, j.Status)
	if err != nil {
		return "", err
	}
	if body == nil {
		return Gone, nil
	}
	t, ok, err := d.Targets(ctx, j.Tenant)
	if err != nil {
		return "", err // redelivered later
	}
	if !ok {
		// Callbacks were turned off since: nothing to deliver to.
		if err := d.Outbox.DeleteCallback(ctx, j.Tenant, j.Kind, j.OrderNo, j.Status); err != nil {
			d.log().WarnContext(ctx, "undeliverable callback not removed from the outbox", "err", err.Error())
		}
		return Gone, nil
	}
	derr := d.post(ctx, t, body)
	if derr == nil {
		if err := d.Outbox.DeleteCallback(ctx, j.Tenant, j.Kind, j.OrderNo, j.Status); err != nil {
			d.log().WarnContext(ctx, "delivered callback not removed from the outbox; it may be delivered again", "err", err.Error())
		}
		return Delivered, nil
	}
	since := time.Unix(j.Since, 0)
	if d.now().Sub(since) >= MaxAge {
		d.log().ErrorContext(ctx, "callback not delivered within 24 h; the order is marked callbackFailed", "kind", j.Kind, "orderNo", j.OrderNo, "attempts", j.Attempt+1, "err", derr.Error())
		if o, err := d.Orders.Order(ctx, j.Tenant, j.OrderNo); err == nil && o != nil {
			o.CallbackFailed = true
			if err := d.Orders.SaveOrder(ctx, *o); err != nil {
				d.log().WarnContext(ctx, "order not marked callbackFailed", "err", err.Error())
			}
		}
		return "", ErrGaveUp
	}
	next := j
	next.Attempt++
	wait := Backoff(j.Attempt, d.Base)
	msg, _ := json.Marshal(map[string]Job{"callback": next})
	if err := d.Queue.Send(ctx, msg, wait); err != nil {
		return "", fmt.Errorf("callback: requeue: %w", err)
	}
	d.log().WarnContext(ctx, "callback not delivered; trying again", "kind", j.Kind, "attempt", j.Attempt+1, "wait", wait.String(), "err", derr.Error())
	return Retrying, nil
}

// post sends one signed delivery; only a 2xx answer counts.
func (d *Deliverer) post(ctx context.Context, t Target, body []byte) error {
	if _, err := CheckURL(t.URL, d.Loopback); err != nil {
		return err
	}
	hc := d.Client
	if hc == nil {
		hc = Client(d.Loopback)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("callback: the URL does not make a request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cardocr-callback")
	req.Header.Set(Header, Sign(t.Secret, d.now(), body))
	resp, err := hc.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // the error without the URL
		}
		return fmt.Errorf("callback: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("callback: the receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}
