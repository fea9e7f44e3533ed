package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
)

// Order records live beside the evidence, one small JSON object per order
// number, {prefix}/_orders/{orderNo}.json (ocr.Order: kind, side, the
// image's SHA-256, the provider, the state; never an image or a result).
// The archive implements ocr.Orders: every instance of every function
// decides a repeated order number from the same record.

// OrderKey is where an owner's order number's record lives: the default
// tenant's at _orders/{orderNo}.json, another tenant's at
// _orders/{tenant}/{orderNo}.json (two tenants may use one number).
func (a *Archive) OrderKey(owner, orderNo string) string {
	if owner = ocr.OwnerOf(owner); owner != "" {
		return a.key("_orders", owner, orderNo+".json")
	}
	return a.key("_orders", orderNo+".json")
}

// Claim creates the record of o's order number unless one exists (a
// conditional create: of concurrent claims exactly one wins); prev is the
// existing record otherwise.
func (a *Archive) Claim(ctx context.Context, o ocr.Order) (prev *ocr.Order, err error) {
	if !sign.ValidOrderNo(o.OrderNo) {
		return nil, errors.New("archive: invalid order number")
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	err = a.Bucket.Create(ctx, a.OrderKey(o.Owner, o.OrderNo), b, "application/json")
	switch {
	case err == nil:
		return nil, nil
	case !errors.Is(err, ErrExists):
		return nil, fmt.Errorf("archive: order record: %w", err)
	}
	prev, err = a.Order(ctx, o.Owner, o.OrderNo)
	if err == nil && prev == nil {
		// Created by another claim and gone again (erased in between):
		// the caller retries.
		return nil, errors.New("archive: order record vanished during a claim")
	}
	return prev, err
}

// Order returns an owner's order number's record, or nil when it has none.
func (a *Archive) Order(ctx context.Context, owner, orderNo string) (*ocr.Order, error) {
	if !sign.ValidOrderNo(orderNo) {
		return nil, errors.New("archive: invalid order number")
	}
	rc, _, err := a.Bucket.Open(ctx, a.OrderKey(owner, orderNo))
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: order record: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<10))
	if err != nil {
		return nil, fmt.Errorf("archive: order record: %w", err)
	}
	var o ocr.Order
	if err := json.Unmarshal(b, &o); err != nil || o.OrderNo != orderNo {
		// Unreadable: treat it as another order's, never as no record.
		return &ocr.Order{OrderNo: orderNo, Owner: ocr.OwnerOf(owner), State: ocr.OrderSending, ImageSHA256: "unreadable"}, nil
	}
	return &o, nil
}

// SaveOrder writes an order's record, replacing any.
func (a *Archive) SaveOrder(ctx context.Context, o ocr.Order) error {
	if !sign.ValidOrderNo(o.OrderNo) {
		return errors.New("archive: invalid order number")
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := a.Bucket.Put(ctx, a.OrderKey(o.Owner, o.OrderNo), b, "application/json"); err != nil {
		return fmt.Errorf("archive: order record: %w", err)
	}
	return nil
}

var _ ocr.Orders = (*Archive)(nil)

// SaveResult archives a result at submit time (EVIDENCE=on, for providers
// that keep no results): result.json and the done marker, as resultfetch
// archives a queried one.
func (a *Archive) SaveResult(ctx context.Context, owner, kind, orderNo string, result any) error {
	_, err := a.Save(ctx, Record{Kind: kind, OrderNo: orderNo, Owner: owner, Result: result})
	return err
}

// ArchivedResult returns the result object of an archived order, or nil
// when the order is not archived (or was archived as an error).
func (a *Archive) ArchivedResult(ctx context.Context, kind, orderNo string) (json.RawMessage, error) {
	if err := checkOrder(kind, orderNo); err != nil {
		return nil, err
	}
	var m Marker
	if v, err := a.readJSON(ctx, a.DoneKey(kind, orderNo), &m); err != nil || v == nil {
		return nil, err
	}
	var doc struct {
		Result json.RawMessage `json:"result"`
	}
	if v, err := a.readJSON(ctx, m.Result, &doc); err != nil || v == nil {
		return nil, err
	}
	if len(doc.Result) == 0 || string(doc.Result) == "null" {
		return nil, nil
	}
	return doc.Result, nil
}

var _ ocr.Evidence = (*Archive)(nil)
