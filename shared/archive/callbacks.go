package archive

import (
	"context"
	"errors"
	"io"
)

// Callback bodies wait under {prefix}/_callbacks/{owner|_}/{kind}/ until
// they are delivered: the queue carries only their names, the bucket's
// encryption and lifecycle cover them, and an erasure deletes them.

// CallbackKey is where an order's callback body of a status waits.
func (a *Archive) CallbackKey(owner, kind, orderNo, status string) string {
	if owner == "" {
		owner = "_"
	}
	return a.key("_callbacks", owner, kind, orderNo+"."+status+".json")
}

// PutCallback keeps a body until it is delivered.
func (a *Archive) PutCallback(ctx context.Context, owner, kind, orderNo, status string, body []byte) error {
	if err := checkOrder(kind, orderNo); err != nil {
		return err
	}
	return a.Bucket.Put(ctx, a.CallbackKey(owner, kind, orderNo, status), body, "application/json")
}

// Callback returns a waiting body, or nil when there is none (delivered,
// or erased).
func (a *Archive) Callback(ctx context.Context, owner, kind, orderNo, status string) ([]byte, error) {
	if err := checkOrder(kind, orderNo); err != nil {
		return nil, err
	}
	rc, _, err := a.Bucket.Open(ctx, a.CallbackKey(owner, kind, orderNo, status))
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 4<<20))
}

// DeleteCallback removes a delivered body.
func (a *Archive) DeleteCallback(ctx context.Context, owner, kind, orderNo, status string) error {
	return a.Bucket.Delete(ctx, a.CallbackKey(owner, kind, orderNo, status))
}
