package devstack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
)

// phonePhoto is an 8 MB, 12 MP phone photo of a bank card.
func phonePhoto(t *testing.T, seed int64) []byte {
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed, Width: 4000, Height: 3000, Grain: 60, MinSize: 8 << 20}.JPEG()
	if len(img) < 8<<20 || len(img) > 10<<20 {
		t.Fatalf("the photo is %d bytes", len(img))
	}
	return img
}

// The photo sent as multipart: WeBank takes 2,359,296 bytes, so it is
// fitted before the call, and the answer says so. 8 MB is over the
// synchronous limit of a deployed function (and of make run's default,
// which stands for it): this stack raises SYNC_BODY_LIMIT, as an HTTP-mode
// deployment behind its own server may. On the clouds the same photo takes
// the upload route (TestUploadPhoneFitted).
func TestPhonePhotoFitted(t *testing.T) {
	const seed = 31
	img := phonePhoto(t, seed)
	s, _ := startStack(t, env{"SYNC_BODY_LIMIT": "12MiB"})
	before := s.Emulator.Count(emulator.EndpointBankCardOCR)
	ct, body := multipartBody(t, map[string]string{"orderNo": "phone0001"}, img)
	st, out := do(t, s, "POST", "/v1/bankcard/ocr", ct, body, s.APIKey)
	if st != 200 {
		t.Fatalf("submit: %d %s", st, out)
	}
	var r struct {
		bankResult
		ImageFitted struct {
			From, To struct {
				Width, Height int
				Bytes         int64
			}
		} `json:"imageFitted"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Card.Number != emulator.BankCard(seed).Number {
		t.Errorf("card %+v", r.Card)
	}
	f := r.ImageFitted
	if f.From.Width != 4000 || f.From.Height != 3000 || f.From.Bytes != int64(len(img)) || f.To.Bytes > 2359296 || f.To.Width > 2560 {
		t.Errorf("imageFitted = %+v", f)
	}
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR) - before; n != 1 {
		t.Errorf("%d upstream calls, want 1", n)
	}
	// The image as received is the order's: the same photo again is a
	// retry, answered without a call; the fitted image is not its identity.
	ct, body = multipartBody(t, map[string]string{"orderNo": "phone0001"}, img)
	if st, out := do(t, s, "POST", "/v1/bankcard/ocr", ct, body, s.APIKey); st != 200 || !strings.Contains(string(out), `"replayed":true`) {
		t.Errorf("retry: %d %s", st, out)
	}
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR) - before; n != 1 {
		t.Errorf("%d upstream calls after the retry, want 1", n)
	}
}

// A 7 MB JSON body is over the synchronous limit (6 MiB locally, as on AWS
// Lambda): 413, naming the upload route, and no upstream call.
func TestSyncBodyLimit(t *testing.T) {
	s, _ := startStack(t, nil)
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3, MinSize: 7<<20*3/4 + 1}.JPEG()
	b, _ := json.Marshal(map[string]string{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
	if len(b) < 7<<20 {
		t.Fatalf("body %d bytes", len(b))
	}
	before := s.Emulator.Count(emulator.EndpointIDCardOCR)
	for _, chunked := range []bool{false, true} {
		var body = bytes.NewReader(b)
		var rd interface{ Read([]byte) (int, error) } = body
		if chunked {
			rd = struct{ *bytes.Reader }{body} // no length known: read up to the limit
		}
		st, out := do(t, s, "POST", "/v1/idcard/ocr", "application/json", rd, s.APIKey)
		var e apiError
		json.Unmarshal(out, &e)
		if st != 413 || e.Error.Code != "image_too_large" || !strings.Contains(e.Error.Message, "POST /v1/idcard/uploads") {
			t.Fatalf("chunked=%v: %d %s", chunked, st, out)
		}
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR); n != before {
		t.Errorf("%d upstream calls for refused bodies", n-before)
	}
}

// A HEIC photo (an iPhone's default) is a 415 naming the accepted types,
// with no upstream call.
func TestHEICRefused(t *testing.T) {
	s, _ := startStack(t, nil)
	heic := append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), bytes.Repeat([]byte{7}, 4096)...)
	before := s.Emulator.Count(emulator.EndpointBankCardOCR)
	ct, body := multipartBody(t, nil, heic)
	st, out := do(t, s, "POST", "/v1/bankcard/ocr", ct, body, s.APIKey)
	var e apiError
	json.Unmarshal(out, &e)
	if st != 415 || e.Error.Code != "unsupported_media_type" || !strings.Contains(e.Error.Message, "HEIC") || !strings.Contains(e.Error.Message, "JPEG") {
		t.Fatalf("HEIC: %d %s", st, out)
	}
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR); n != before {
		t.Errorf("%d upstream calls", n-before)
	}
}
