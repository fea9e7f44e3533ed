// Package ocrtest is the conformance suite every OCR provider runs against
// its emulator: both sides of an ID card, a wrong side, a bank card, the
// limits the service enforces before any call, each error class (billed or
// not, retryable or not), timeouts, and no personal data or secret in any
// error. A new provider passes it before it is wired in.
package ocrtest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/upstream"
)

// Emulator is what the suite turns on a provider's emulator: a fault on an
// endpoint, and the count of calls that reached it. *emulator.Emulator is
// one; a provider with its own emulator implements the two.
type Emulator interface {
	SetFault(endpoint string, f emulator.Fault)
	Count(endpoint string) int64
}

// Harness is one provider wired to its emulator on 127.0.0.1.
type Harness struct {
	Provider ocr.Provider
	Emulator Emulator
	// Cred returns the stored credential calls are made with (the SIGN
	// ticket, the access token); nil for providers that sign with keys.
	Cred func(t *testing.T) string
	// IDEndpoint and BankEndpoint name the emulator's endpoints (faults,
	// counts); BankEndpoint is "" for a provider without bank cards.
	IDEndpoint, BankEndpoint string
	// DetectsSide: the provider reads the side itself and answers an image
	// of the other side with the side it saw (the service then refuses
	// the mismatch) rather than with an error.
	DetectsSide bool
	// FreeFailures: the provider's documents say its recognition failures
	// are not billed (they go back to the quota).
	FreeFailures bool
	// AccountCode and ThrottleCode are the provider's answers for an
	// account-level refusal (arrears, quota used up, not opened) and for
	// its rate limit. Force makes the next ID card call answer code; nil:
	// the image carries the code (emulator.CardSpec.Code).
	AccountCode, ThrottleCode string
	Force                     func(code string)
	// Secrets must never appear in an error.
	Secrets []string
}

// Once makes a Harness.Cred from a fetch of the provider's credential
// (the SIGN ticket, the access token): fetched on first use, then reused,
// as the service reuses the stored one.
func Once(fetch func(ctx context.Context) (string, error)) func(t *testing.T) string {
	var cred string
	return func(t *testing.T) string {
		t.Helper()
		if cred == "" {
			c, err := fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			cred = c
		}
		return cred
	}
}

func (h Harness) cred(t *testing.T) string {
	if h.Cred == nil {
		return ""
	}
	return h.Cred(t)
}

// orders numbers every call apart: upstreams refuse a number used twice.
var orders atomic.Int64

func orderNo() string { return "conform" + strconv.FormatInt(orders.Add(1), 10) }

func idCall(spec emulator.CardSpec, side string) ocr.IDCardCall {
	img := spec.JPEG()
	return ocr.IDCardCall{OrderNo: orderNo(), Side: side, Image: ocr.BytesImage(img), Format: ocr.ImageKind(img)}
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Provider
	person := emulator.Person(41)
	var errs []error // every error seen: none may carry personal data
	t.Cleanup(func() {
		for _, err := range errs {
			s := err.Error() + " " + errcode.AsError(err).Message
			for _, bad := range append([]string{person.Name, person.IDNumber, emulator.BankCard(41).Number}, h.Secrets...) {
				if bad != "" && strings.Contains(s, bad) {
					t.Errorf("an error carries personal data or a secret: %q", s)
				}
			}
		}
	})

	t.Run("front and back", func(t *testing.T) {
		front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 41}
		r, err := p.SubmitIDCard(ctx, h.cred(t), idCall(front, ocr.Front))
		if err != nil {
			t.Fatal(err)
		}
		if (r.Side != "" && r.Side != ocr.Front) || r.Card.Name != person.Name || r.Card.IDNumber != person.IDNumber {
			t.Errorf("front read %+v", r.Card)
		}
		back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 41}
		r, err = p.SubmitIDCard(ctx, h.cred(t), idCall(back, ocr.Back))
		if err != nil {
			t.Fatal(err)
		}
		// The back: the authority, or at least the validity (WeChat reads
		// only that), and never the front's number.
		if (r.Side != "" && r.Side != ocr.Back) || (r.Card.Authority != person.Authority && r.Fields.ValidDate == "") || r.Card.IDNumber != "" {
			t.Errorf("back read %+v %+v", r.Card, r.Fields)
		}
	})

	t.Run("wrong side", func(t *testing.T) {
		back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 41}
		r, err := p.SubmitIDCard(ctx, h.cred(t), idCall(back, ocr.Front))
		if err != nil {
			errs = append(errs, err)
		}
		switch {
		case h.DetectsSide && err == nil && r.Side == ocr.Back:
		case err != nil && errcode.ErrorCode(err) == errcode.RecognitionFailed:
		default:
			t.Errorf("the back sent as the front: %+v, %v", r, err)
		}
	})

	if h.BankEndpoint != "" {
		t.Run("bank card", func(t *testing.T) {
			img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 41}.JPEG()
			r, err := p.SubmitBankCard(ctx, h.cred(t), ocr.BankCardCall{OrderNo: orderNo(), Image: ocr.BytesImage(img), Format: ocr.ImageKind(img)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Number != emulator.BankCard(41).Number {
				t.Errorf("bank card read %+v", r)
			}
		})
	}

	t.Run("limits checked before any call", func(t *testing.T) {
		l := p.Limits()
		if l.IDCardImage <= 0 || (h.BankEndpoint != "") != (l.BankCardImage > 0) {
			t.Fatalf("limits %+v do not say which kinds the provider reads", l)
		}
		svc := &ocr.Service{Providers: ocr.ProvidersOf(p), PhotoWait: -1}
		big := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 42, MinSize: int(l.IDCardImage) + 1}.JPEG()
		before := h.Emulator.Count(h.IDEndpoint)
		_, err := svc.SubmitIDCard(ctx, ocr.IDCardRequest{Provider: p.Name(), Side: ocr.Front, Image: ocr.BytesImage(big)})
		if errcode.ErrorCode(err) != errcode.ImageTooLarge || h.Emulator.Count(h.IDEndpoint) != before {
			t.Errorf("an image of %d bytes over a limit of %d: %v, %d calls", len(big), l.IDCardImage, err, h.Emulator.Count(h.IDEndpoint)-before)
		}
	})

	t.Run("unreadable card", func(t *testing.T) {
		spec := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 41, Unreadable: true}
		_, err := p.SubmitIDCard(ctx, h.cred(t), idCall(spec, ocr.Front))
		errs = append(errs, err)
		if errcode.ErrorCode(err) != errcode.RecognitionFailed || errcode.AsError(err).Retryable || !upstream.Reached(err) {
			t.Errorf("unreadable: %v", err)
		}
		if billed := upstream.Billed(err); billed == h.FreeFailures {
			t.Errorf("unreadable: billed %v; the documents say free: %v", billed, h.FreeFailures)
		}
	})

	// The answers that decide money: an account-level refusal suspends the
	// provider and a throttle is retried, and neither is billed.
	for _, tc := range []struct {
		name, code string
		want       func(*upstream.Error) bool
		domain     errcode.Code
	}{
		{"account-level refusal", h.AccountCode, func(ue *upstream.Error) bool { return ue.Quota && !ue.Throttled }, ""},
		{"throttle", h.ThrottleCode, func(ue *upstream.Error) bool { return ue.Throttled && !ue.Quota }, errcode.Busy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code == "" {
				t.Fatal("the harness names no code for it")
			}
			spec := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 41}
			if h.Force != nil {
				h.Force(tc.code)
			} else {
				spec.Code = tc.code
			}
			_, err := p.SubmitIDCard(ctx, h.cred(t), idCall(spec, ocr.Front))
			errs = append(errs, err)
			var ue *upstream.Error
			if !errors.As(err, &ue) || !tc.want(ue) || ue.Code != tc.code || upstream.Billed(err) ||
				(tc.domain != "" && errcode.ErrorCode(err) != tc.domain) {
				t.Errorf("%v (%+v)", err, ue)
			}
		})
	}

	for _, tc := range []struct {
		name      string
		fault     emulator.Fault
		timeout   time.Duration
		code      errcode.Code
		retryable bool
	}{
		{"gateway 5xx", emulator.Fault{Kind: emulator.FaultStatus, Next: 1}, 0, errcode.UpstreamError, true},
		{"malformed answer", emulator.Fault{Kind: emulator.FaultMalformed, Next: 1}, 0, errcode.UpstreamError, true},
		{"no answer in time", emulator.Fault{Latency: time.Second, Next: 1}, 100 * time.Millisecond, errcode.UpstreamTimeout, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.Emulator.SetFault(h.IDEndpoint, tc.fault)
			defer h.Emulator.SetFault(h.IDEndpoint, emulator.Fault{})
			cctx := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 41}
			_, err := p.SubmitIDCard(cctx, h.cred(t), idCall(front, ocr.Front))
			errs = append(errs, err)
			de := errcode.AsError(err)
			var ue *upstream.Error
			if de.Code != tc.code || de.Retryable != tc.retryable || !errors.As(err, &ue) || !upstream.Reached(err) {
				t.Errorf("%v (code %s, retryable %v)", err, de.Code, de.Retryable)
			}
		})
	}
}
