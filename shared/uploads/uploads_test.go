package uploads

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/presign"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct{ kind, side, owner, orderNo, ct, want string }{
		{ocr.KindBankCard, "", "default", "bank1", "image/jpeg", "uploads/bankcard/api/_/bank1.jpg"},
		{ocr.KindIDCard, "back", "acme", "o2", "image/png", "uploads/idcard/back/api/acme/o2.png"},
		{ocr.KindIDCard, "front", "", "o3", "image/jpeg", "uploads/idcard/front/api/_/o3.jpg"},
	} {
		k := Key(tc.kind, tc.side, tc.owner, tc.orderNo, tc.ct)
		if k != tc.want {
			t.Errorf("Key = %q, want %q", k, tc.want)
		}
		i := strings.Index(k, "api/")
		owner, orderNo, ok := ParseKey(k[i:])
		if !ok || owner != ocr.OwnerOf(tc.owner) || orderNo != tc.orderNo {
			t.Errorf("ParseKey(%q) = %q %q %v", k[i:], owner, orderNo, ok)
		}
	}
	for _, rest := range []string{"photo.jpg", "api/acme/o1.gif", "api/ACME/o1.jpg", "api/acme/o-1.jpg", "api/acme/x/o1.jpg", "api//o1.jpg"} {
		if _, _, ok := ParseKey(rest); ok {
			t.Errorf("ParseKey(%q) accepted", rest)
		}
	}
}

type memOrders map[string]ocr.Order

func (m memOrders) Claim(_ context.Context, o ocr.Order) (*ocr.Order, error) {
	if p, ok := m[o.Owner+"/"+o.OrderNo]; ok {
		return &p, nil
	}
	m[o.Owner+"/"+o.OrderNo] = o
	return nil, nil
}

func (m memOrders) SaveOrder(_ context.Context, o ocr.Order) error {
	m[o.Owner+"/"+o.OrderNo] = o
	return nil
}

type signer struct{ got presign.Upload }

func (s *signer) PresignUpload(_ context.Context, u presign.Upload, method string) (presign.Form, error) {
	s.got = u
	return presign.Form{Method: method}, nil
}

func TestIssue(t *testing.T) {
	now := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	orders, sg := memOrders{}, &signer{}
	s := &Service{Presigner: sg, Orders: orders, MaxBytes: 20 << 20, Now: func() time.Time { return now }}
	tk, err := s.Issue(context.Background(), Request{Kind: ocr.KindIDCard, Side: "front", ContentType: "image/jpeg", Owner: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	o := orders["acme/"+tk.OrderNo]
	if o.State != ocr.OrderIssued || !o.Upload || o.Kind != ocr.KindIDCard || o.Side != "front" || !o.ExpiresAt.Equal(now.Add(DefaultExpiry)) {
		t.Errorf("record %+v", o)
	}
	if sg.got.MaxBytes != 20<<20 || sg.got.ContentType != "image/jpeg" || !tk.ExpiresAt.Equal(sg.got.Expires) || tk.Upload.Method != "POST" {
		t.Errorf("signed %+v, ticket %+v", sg.got, tk)
	}
	s.Expiry = time.Hour // never more than presign.MaxExpiry
	if tk, _ := s.Issue(context.Background(), Request{Kind: ocr.KindBankCard, ContentType: "image/png", Size: 5, Method: "put"}); tk.ExpiresAt.Sub(now) != presign.MaxExpiry || tk.Upload.Method != "PUT" {
		t.Errorf("ticket %+v", tk)
	}
	for _, tc := range []struct {
		r    Request
		code errcode.Code
	}{
		{Request{Kind: ocr.KindIDCard, ContentType: "image/jpeg"}, errcode.InvalidRequest},
		{Request{Kind: ocr.KindBankCard, Side: "front", ContentType: "image/jpeg"}, errcode.InvalidRequest},
		{Request{Kind: ocr.KindBankCard, ContentType: "image/heic"}, errcode.UnsupportedMediaType},
		{Request{Kind: ocr.KindBankCard}, errcode.InvalidRequest},
		{Request{Kind: ocr.KindBankCard, ContentType: "image/jpeg", Size: 21 << 20}, errcode.ImageTooLarge},
		{Request{Kind: ocr.KindBankCard, ContentType: "image/jpeg", Method: "PUT"}, errcode.InvalidRequest},
		{Request{Kind: ocr.KindBankCard, ContentType: "image/jpeg", Method: "PATCH"}, errcode.InvalidRequest},
		{Request{Kind: ocr.KindBankCard, ContentType: "image/jpeg", OrderNo: "no-dashes"}, errcode.InvalidRequest},
		{Request{Kind: ocr.KindIDCard, Side: "back", ContentType: "image/jpeg", OrderNo: tk.OrderNo, Owner: "acme"}, errcode.OrderConflict},
	} {
		if _, err := s.Issue(context.Background(), tc.r); errcode.ErrorCode(err) != tc.code {
			t.Errorf("%+v: %v, want %s", tc.r, err, tc.code)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("api/acme/o1.jpg")
	f.Add("api/_/bank123.png")
	f.Fuzz(func(t *testing.T, rest string) {
		owner, orderNo, ok := ParseKey(rest)
		if !ok {
			return
		}
		kind, side := ocr.KindBankCard, ""
		if Key(kind, side, owner, orderNo, "image/jpeg") != "uploads/bankcard/"+rest && Key(kind, side, owner, orderNo, "image/png") != "uploads/bankcard/"+rest {
			t.Fatalf("%q does not round-trip", rest)
		}
	})
}
