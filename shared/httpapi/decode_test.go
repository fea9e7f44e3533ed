package httpapi

import (
	"bytes"
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/domain"
)

var jpeg = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1, 2, 3}

func decodeReq(t testing.TB, ct string, body []byte, max int64) (*submission, error) {
	r := httptest.NewRequest("POST", "/v1/idcard/ocr", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return decodeSubmission(httptest.NewRecorder(), r, max)
}

func TestDecodeJSONForms(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(jpeg)
	tests := []struct {
		name     string
		body     string
		wantCode domain.Code
		native   bool
	}{
		{"standard", `{"side":"front","image":"` + std + `","native":true}`, "", true},
		{"unpadded", `{"side":"front","image":"` + strings.TrimRight(std, "=") + `"}`, "", false},
		{"url-safe", `{"side":"front","image":"` + base64.URLEncoding.EncodeToString(jpeg) + `"}`, "", false},
		{"data URL", `{"side":"front","image":"data:image/jpeg;base64,` + std + `"}`, "", false},
		{"line breaks", `{"side":"front","image":"` + std[:8] + `\n` + std[8:] + `"}`, "", false},
		{"native as string", `{"side":"front","image":"` + std + `","native":"1"}`, "", true},
		{"bad native", `{"side":"front","image":"` + std + `","native":"maybe"}`, domain.InvalidRequest, false},
		{"no image", `{"side":"front"}`, domain.InvalidRequest, false},
		{"null image", `{"side":"front","image":null}`, domain.InvalidRequest, false},
		{"bad base64", `{"side":"front","image":"@@@@"}`, domain.InvalidImage, false},
		{"trailing garbage", `{"side":"front","image":"` + std + `"} {}`, domain.InvalidRequest, false},
		{"not JSON", `side=front`, domain.InvalidRequest, false},
		{"array", `[1,2]`, domain.InvalidRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeReq(t, "application/json", []byte(tt.body), 1<<20)
			if got := domain.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code %q, want %q (%v)", got, tt.wantCode, err)
			}
			if err == nil && (!bytes.Equal(s.Image, jpeg) || s.Native != tt.native || s.Side != "front") {
				t.Errorf("decoded %+v", s)
			}
		})
	}
}

func TestDecodeSizeLimits(t *testing.T) {
	img := append(append([]byte{}, jpeg...), make([]byte, 2000)...)
	body := `{"side":"front","image":"` + base64.StdEncoding.EncodeToString(img) + `"}`
	if _, err := decodeReq(t, "application/json", []byte(body), 1000); domain.ErrorCode(err) != domain.ImageTooLarge {
		t.Errorf("JSON over the limit: %v", err)
	}
	ct, mb := multipartOf(map[string]string{"side": "front"}, img)
	if _, err := decodeReq(t, ct, mb, 1000); domain.ErrorCode(err) != domain.ImageTooLarge {
		t.Errorf("multipart over the limit: %v", err)
	}
	if _, err := decodeReq(t, "text/plain", []byte("x"), 1000); domain.ErrorCode(err) != domain.UnsupportedMediaType {
		t.Errorf("text/plain: %v", err)
	}
	if _, err := decodeReq(t, "", []byte("x"), 1000); domain.ErrorCode(err) != domain.UnsupportedMediaType {
		t.Errorf("no content type: %v", err)
	}
}

func multipartOf(fields map[string]string, image []byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if image != nil {
		fw, _ := mw.CreateFormFile("image", "x.jpg")
		fw.Write(image)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func TestDecodeMultipart(t *testing.T) {
	ct, body := multipartOf(map[string]string{"side": "back", "userId": "u1", "native": "true", "orderNo": "o1", "provider": "webank"}, jpeg)
	s, err := decodeReq(t, ct, body, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.Side != "back" || s.UserID != "u1" || !s.Native || s.OrderNo != "o1" || s.Provider != "webank" || !bytes.Equal(s.Image, jpeg) {
		t.Errorf("decoded %+v", s)
	}
	// The image as a base64 text field, as some clients send it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("side", "front")
	mw.WriteField("image", base64.StdEncoding.EncodeToString(jpeg))
	mw.Close()
	if s, err := decodeReq(t, mw.FormDataContentType(), buf.Bytes(), 1<<20); err != nil || !bytes.Equal(s.Image, jpeg) {
		t.Errorf("base64 field: %v", err)
	}
	ct, body = multipartOf(map[string]string{"side": "front"}, nil)
	if _, err := decodeReq(t, ct, body, 1<<20); domain.ErrorCode(err) != domain.InvalidRequest {
		t.Errorf("no image: %v", err)
	}
	if _, err := decodeReq(t, "multipart/form-data; boundary=zzz", []byte("garbage"), 1<<20); domain.ErrorCode(err) != domain.InvalidRequest {
		t.Errorf("garbage: %v", err)
	}
	if _, err := decodeReq(t, "multipart/form-data", body, 1<<20); domain.ErrorCode(err) != domain.InvalidRequest {
		t.Errorf("no boundary: %v", err)
	}
}

func TestStatusMapping(t *testing.T) {
	for code, st := range status {
		if got := StatusOf(domain.Errorf(code, "x")); got != st {
			t.Errorf("%s → %d, want %d", code, got, st)
		}
	}
	if StatusOf(bytes.ErrTooLarge) != http.StatusInternalServerError {
		t.Error("plain errors must be 500")
	}
	rec := httptest.NewRecorder()
	writeError(rec, domain.Wrap(domain.Internal, bytes.ErrTooLarge, "secret detail"), "")
	if strings.Contains(rec.Body.String(), "secret detail") || strings.Contains(rec.Body.String(), "too large") {
		t.Errorf("internal error text leaked: %s", rec.Body)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"side":"front","image":"/9j/4AAQ","native":true}`))
	f.Add([]byte(`{"side":"back","image":"data:image/png;base64,iVBORw0KGgo="}`))
	f.Add([]byte(`{"image":"-_-_"}`))
	f.Add([]byte(`{"native":"yes","image":"AAAA===="}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := decodeReq(t, "application/json", body, 1<<16)
		if err == nil && (len(s.Image) == 0 || len(s.Image) > 1<<16) {
			t.Fatalf("accepted an image of %d bytes", len(s.Image))
		}
		if err != nil && domain.ErrorCode(err) == domain.Internal {
			t.Fatalf("uncoded error: %v", err)
		}
	})
}

func FuzzDecodeMultipart(f *testing.F) {
	ct, body := multipartOf(map[string]string{"side": "front", "native": "1"}, jpeg)
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(boundary, body)
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nAAAA\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		s, err := decodeReq(t, "multipart/form-data; boundary=\""+strings.ReplaceAll(boundary, `"`, "")+"\"", body, 1<<16)
		if err == nil && (len(s.Image) == 0 || len(s.Image) > 1<<16) {
			t.Fatalf("accepted an image of %d bytes", len(s.Image))
		}
		if err != nil && domain.ErrorCode(err) == domain.Internal {
			t.Fatalf("uncoded error: %v", err)
		}
	})
}
