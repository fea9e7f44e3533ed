package tencentcloud

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/upstream"
)

func setup(t *testing.T, cfg emulator.Config) (*emulator.Emulator, *Provider) {
	t.Helper()
	e := emulator.New(cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, New(Config{Endpoint: srv.URL, SecretID: emulator.DefaultTencentCloudSecretID, SecretKey: emulator.DefaultTencentCloudSecretKey})
}

func idCall(spec emulator.CardSpec, side string) ocr.IDCardCall {
	return ocr.IDCardCall{OrderNo: "o1", Side: side, Image: ocr.BytesImage(spec.JPEG()), Format: "jpeg"}
}

func TestIDCardBothSides(t *testing.T) {
	_, p := setup(t, emulator.Config{})
	want := emulator.Person(11)
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 11, Warning: "01000000"}
	r, err := p.SubmitIDCard(context.Background(), "", idCall(front, ocr.Front))
	if err != nil {
		t.Fatal(err)
	}
	if r.Side != ocr.Front || r.Card.Name != want.Name || r.Card.IDNumber != want.IDNumber || r.Fields.Birth == "" ||
		len(r.Warnings) != 1 || r.Warnings[0] != cardcheck.WarnPhotocopy || r.Clarity == nil || len(r.Upstream) == 0 {
		t.Errorf("front: %+v", r)
	}
	if d, ok := cardcheck.NormalizeDate(r.Fields.Birth); !ok || strings.ReplaceAll(d, "-", "") != want.Birth {
		t.Errorf("birth %q, want %s", r.Fields.Birth, want.Birth)
	}
	back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 11}
	r, err = p.SubmitIDCard(context.Background(), "", idCall(back, ocr.Back))
	if err != nil {
		t.Fatal(err)
	}
	if v, verr := cardcheck.ParseValidity(r.Fields.ValidDate); r.Side != ocr.Back || r.Card.Authority != want.Authority || verr != nil ||
		strings.ReplaceAll(v.From, "-", "") != want.ValidFrom || r.Card.IDNumber != "" {
		t.Errorf("back: %+v", r)
	}
	// The back sent as the front: "FailedOperation.CardSideError" is a
	// wrong side, the caller's image: recognition_failed with the code,
	// never a reason to try another provider.
	_, err = p.SubmitIDCard(context.Background(), "", idCall(back, ocr.Front))
	if errcode.ErrorCode(err) != errcode.RecognitionFailed || errcode.AsError(err).UpstreamCode != "FailedOperation.CardSideError" {
		t.Errorf("wrong side: %v", err)
	}
}

func TestBankCard(t *testing.T) {
	_, p := setup(t, emulator.Config{})
	spec := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 4, Warning: "-9111,-9114"}
	r, err := p.SubmitBankCard(context.Background(), "", ocr.BankCardCall{OrderNo: "b1", Image: ocr.BytesImage(spec.JPEG())})
	if err != nil {
		t.Fatal(err)
	}
	if r.Number != emulator.BankCard(4).Number || r.ValidThru != emulator.BankCard(4).ValidThru ||
		len(r.Warnings) != 2 || r.Warnings[0] != cardcheck.WarnBorderIncomplete || r.Warnings[1] != cardcheck.WarnRecaptured {
		t.Errorf("%+v", r)
	}
	if strings.Contains(string(r.Upstream), "Image") {
		t.Errorf("images echoed: %s", r.Upstream)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	e, p := setup(t, emulator.Config{TencentCloud: emulator.TencentCloudConfig{MaxBase64: 8 << 10}})
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 2}
	for _, tc := range []struct {
		name      string
		call      func() error
		code      errcode.Code
		upstream  string
		retryable bool
	}{
		{"not an ID card", func() error {
			_, err := p.SubmitIDCard(ctx, "", idCall(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 1}, ocr.Front))
			return err
		}, errcode.RecognitionFailed, "FailedOperation.ImageNoIdCard", false},
		{"too large for the API", func() error {
			_, err := p.SubmitIDCard(ctx, "", idCall(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 2, MinSize: 16 << 10}, ocr.Front))
			return err
		}, errcode.ImageTooLarge, "LimitExceeded.TooLargeFileError", false},
		{"wrong key", func() error {
			bad := New(Config{Endpoint: p.cfg.Endpoint, SecretID: emulator.DefaultTencentCloudSecretID, SecretKey: "wrong-secret-key"})
			_, err := bad.SubmitIDCard(ctx, "", idCall(front, ocr.Front))
			return err
		}, errcode.UpstreamError, "AuthFailure.SignatureFailure", false},
		{"gateway 503", func() error {
			e.SetFault(emulator.EndpointTencentIDCardOCR, emulator.Fault{Kind: emulator.FaultStatus, Next: 1})
			_, err := p.SubmitIDCard(ctx, "", idCall(front, ocr.Front))
			return err
		}, errcode.UpstreamError, "", true},
		{"malformed answer", func() error {
			e.SetFault(emulator.EndpointTencentIDCardOCR, emulator.Fault{Kind: emulator.FaultMalformed, Next: 1})
			_, err := p.SubmitIDCard(ctx, "", idCall(front, ocr.Front))
			return err
		}, errcode.UpstreamError, "", true},
		{"slow", func() error {
			e.SetFault(emulator.EndpointTencentIDCardOCR, emulator.Fault{Latency: time.Second, Next: 1})
			ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := p.SubmitIDCard(ctx, "", idCall(front, ocr.Front))
			return err
		}, errcode.UpstreamTimeout, "", true},
	} {
		err := tc.call()
		de := errcode.AsError(err)
		if de.Code != tc.code || de.UpstreamCode != tc.upstream || de.Retryable != tc.retryable {
			t.Errorf("%s: %v (code %s, upstream %q, retryable %v)", tc.name, err, de.Code, de.UpstreamCode, de.Retryable)
		}
		if !upstream.Reached(err) {
			t.Errorf("%s: not marked as having reached the upstream", tc.name)
		}
		if s := err.Error(); strings.Contains(s, "wrong-secret-key") || strings.Contains(s, emulator.DefaultTencentCloudSecretKey) || strings.Contains(s, "<html") {
			t.Errorf("%s: error text leaks: %s", tc.name, s)
		}
	}
}

// A call that never connects provably did not reach the upstream, and
// nothing reads the image of a call without credentials.
func TestNotSent(t *testing.T) {
	srv := httptest.NewServer(emulator.New(emulator.Config{}))
	url := srv.URL
	srv.Close()
	p := New(Config{Endpoint: url, SecretID: "id", SecretKey: "key"})
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 2}
	_, err := p.SubmitIDCard(context.Background(), "", idCall(front, ocr.Front))
	if errcode.ErrorCode(err) != errcode.UpstreamError || upstream.Reached(err) {
		t.Errorf("refused connection: %v reached=%v", err, upstream.Reached(err))
	}
	none := New(Config{Endpoint: url, Getenv: func(string) string { return "" }})
	if none.Configured() {
		t.Error("configured without credentials")
	}
	_, err = none.SubmitIDCard(context.Background(), "", idCall(front, ocr.Front))
	if upstream.Reached(err) || err == nil {
		t.Errorf("no credentials: %v", err)
	}
}

// The SCF role's temporary credentials, read at every call.
func TestRoleCredentials(t *testing.T) {
	e := emulator.New(emulator.Config{TencentCloud: emulator.TencentCloudConfig{Token: "session-token"}})
	srv := httptest.NewServer(e)
	defer srv.Close()
	env := map[string]string{"TENCENTCLOUD_SECRETID": emulator.DefaultTencentCloudSecretID,
		"TENCENTCLOUD_SECRETKEY": emulator.DefaultTencentCloudSecretKey, "TENCENTCLOUD_SESSIONTOKEN": "session-token"}
	p := New(Config{Endpoint: srv.URL, Getenv: func(k string) string { return env[k] }})
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3}
	if _, err := p.SubmitIDCard(context.Background(), "", idCall(front, ocr.Front)); err != nil {
		t.Fatal(err)
	}
	env["TENCENTCLOUD_SESSIONTOKEN"] = "rotated-away"
	_, err := p.SubmitIDCard(context.Background(), "", idCall(front, ocr.Front))
	if errcode.AsError(err).UpstreamCode != "AuthFailure.TokenFailure" {
		t.Fatalf("stale token: %v", err)
	}
}

func TestIDWarningCodes(t *testing.T) {
	for code, want := range map[int64]string{-9109: "invalid_date", -9100: "invalid_date", -9101: "border_incomplete", -9102: "photocopy", -9103: "recaptured",
		-9104: "temporary_card", -9105: "occluded", -9106: "tampered", -9107: "reflection", -9199: "id_warning_-9199"} {
		if got := idWarning(code).Code; got != want {
			t.Errorf("%d: %s, want %s", code, got, want)
		}
	}
	if kindOf("RequestLimitExceeded.UinLimitExceeded") != kindThrottled || kindOf("AuthFailure.SecretIdNotFound") != kindAuth {
		t.Error("prefix classes")
	}
	if toDomain(&upstream.Error{Code: "ResourceUnavailable.InArrears"}).Code != errcode.QuotaExceeded {
		t.Error("arrears is quota_exceeded")
	}
}
