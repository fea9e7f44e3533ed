package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/errcode"
)

var jpeg = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1, 2, 3}

func decodeReq(t testing.TB, ct string, body []byte, max int64) (*submission, error) {
	r := httptest.NewRequest("POST", "/v1/idcard/ocr", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return decodeSubmission(httptest.NewRecorder(), r, max, 0, "idcard")
}

func TestDecodeJSONForms(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(jpeg)
	tests := []struct {
		name     string
		body     string
		wantCode errcode.Code
		native   bool
	}{
		{"standard", `{"side":"front","image":"` + std + `","native":true}`, "", true},
		{"unpadded", `{"side":"front","image":"` + strings.TrimRight(std, "=") + `"}`, "", false},
		{"url-safe", `{"side":"front","image":"` + base64.URLEncoding.EncodeToString(jpeg) + `"}`, "", false},
		{"data URL", `{"side":"front","image":"data:image/jpeg;base64,` + std + `"}`, "", false},
		{"line breaks", `{"side":"front","image":"` + std[:8] + `\n` + std[8:] + `"}`, "", false},
		{"native as string", `{"side":"front","image":"` + std + `","native":"1"}`, "", true},
		{"bad native", `{"side":"front","image":"` + std + `","native":"maybe"}`, errcode.InvalidRequest, false},
		{"no image", `{"side":"front"}`, errcode.InvalidRequest, false},
		{"null image", `{"side":"front","image":null}`, errcode.InvalidRequest, false},
		{"bad base64", `{"side":"front","image":"@@@@"}`, errcode.InvalidImage, false},
		{"trailing garbage", `{"side":"front","image":"` + std + `"} {}`, errcode.InvalidRequest, false},
		{"not JSON", `side=front`, errcode.InvalidRequest, false},
		{"array", `[1,2]`, errcode.InvalidRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeReq(t, "application/json", []byte(tt.body), 1<<20)
			if got := errcode.ErrorCode(err); got != tt.wantCode {
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
	if _, err := decodeReq(t, "application/json", []byte(body), 1000); errcode.ErrorCode(err) != errcode.ImageTooLarge {
		t.Errorf("JSON over the limit: %v", err)
	}
	ct, mb := multipartOf(map[string]string{"side": "front"}, img)
	if _, err := decodeReq(t, ct, mb, 1000); errcode.ErrorCode(err) != errcode.ImageTooLarge {
		t.Errorf("multipart over the limit: %v", err)
	}
	if _, err := decodeReq(t, "text/plain", []byte("x"), 1000); errcode.ErrorCode(err) != errcode.UnsupportedMediaType {
		t.Errorf("text/plain: %v", err)
	}
	if _, err := decodeReq(t, "", []byte("x"), 1000); errcode.ErrorCode(err) != errcode.UnsupportedMediaType {
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
	if _, err := decodeReq(t, ct, body, 1<<20); errcode.ErrorCode(err) != errcode.InvalidRequest {
		t.Errorf("no image: %v", err)
	}
	if _, err := decodeReq(t, "multipart/form-data; boundary=zzz", []byte("garbage"), 1<<20); errcode.ErrorCode(err) != errcode.InvalidRequest {
		t.Errorf("garbage: %v", err)
	}
	if _, err := decodeReq(t, "multipart/form-data", body, 1<<20); errcode.ErrorCode(err) != errcode.InvalidRequest {
		t.Errorf("no boundary: %v", err)
	}
}

func TestStatusMapping(t *testing.T) {
	for code, st := range status {
		if got := StatusOf(errcode.Errorf(code, "x")); got != st {
			t.Errorf("%s → %d, want %d", code, got, st)
		}
	}
	if StatusOf(bytes.ErrTooLarge) != http.StatusInternalServerError {
		t.Error("plain errors must be 500")
	}
	rec := httptest.NewRecorder()
	writeError(rec, errcode.Wrap(errcode.Internal, bytes.ErrTooLarge, "secret detail"), "")
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
		if err != nil && errcode.ErrorCode(err) == errcode.Internal {
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
		if err != nil && errcode.ErrorCode(err) == errcode.Internal {
			t.Fatalf("uncoded error: %v", err)
		}
	})
}

// The JSON decoding this package had before the streaming decoder: the
// whole body unmarshalled, then the image string decoded. It stays as the
// reference the stream is fuzzed against.

// jsonSubmission is the JSON body; native accepts true/false or "1"/"0".
type jsonSubmission struct {
	Side     string          `json:"side"`
	Image    *string         `json:"image"`
	UserID   string          `json:"userId"`
	Native   json.RawMessage `json:"native"`
	Provider string          `json:"provider"`
	OrderNo  string          `json:"orderNo"`
	ImageURL string          `json:"imageUrl"`
}

func referenceDecodeJSON(body io.Reader, maxImage int64) (*submission, error) {
	var js jsonSubmission
	dec := json.NewDecoder(body)
	if err := dec.Decode(&js); err != nil {
		if be := bodyErr(err); errcode.ErrorCode(be) != errcode.InvalidRequest {
			return nil, be // too large, or too slow
		}
		return nil, errcode.Errorf(errcode.InvalidRequest, "the body is not valid JSON")
	}
	if dec.More() {
		return nil, errcode.Errorf(errcode.InvalidRequest, "the body is not a single JSON object")
	}
	if js.ImageURL != "" && js.Image != nil && *js.Image != "" {
		return nil, errcode.Errorf(errcode.InvalidRequest, "send either image or imageUrl, not both")
	}
	if js.ImageURL != "" {
		native, err := parseBool(string(bytes.Trim(js.Native, `"`)))
		if err != nil {
			return nil, err
		}
		return &submission{Side: js.Side, UserID: js.UserID, Native: native, Provider: js.Provider, OrderNo: js.OrderNo, ImageURL: js.ImageURL}, nil
	}
	if js.Image == nil || *js.Image == "" {
		return nil, errcode.Errorf(errcode.InvalidRequest, "image is required (base64)")
	}
	native, err := parseBool(string(bytes.Trim(js.Native, `"`)))
	if err != nil {
		return nil, err
	}
	img, err := decodeBase64(*js.Image, maxImage)
	if err != nil {
		return nil, err
	}
	return &submission{Side: js.Side, UserID: js.UserID, Native: native, Provider: js.Provider, OrderNo: js.OrderNo, Image: img}, nil
}

// FuzzJSONStreamMatchesReference: whatever the reference decoder accepts
// (a body without repeated members), the stream decodes to the same
// submission.
func FuzzJSONStreamMatchesReference(f *testing.F) {
	std := base64.StdEncoding.EncodeToString(jpeg)
	for _, b := range []string{
		`{"side":"front","image":"` + std + `","native":true}`,
		`{"image":"data:image/jpeg;base64,` + std + `","side":"back","userId":"u1"}`,
		`{"image":"` + std[:8] + `\n` + std[8:] + `","orderNo":"o1","x":{"y":[1,"}"]}}`,
		`{"image":"` + strings.TrimRight(base64.URLEncoding.EncodeToString(jpeg), "=") + `","native":"1"}`,
		`{"imageUrl":"https://a.example/x.jpg","provider":"wechat","side":"front"}`,
		`{"image":"\u0041\u0041\u0041\u0041"}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Count(body, []byte(`"`)) > 200 || bytes.Contains(body, []byte(`\u0000`)) {
			return
		}
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return
		}
		members := map[string]bool{}
		for k := range raw {
			members[strings.ToLower(k)] = true
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		keys := 0
		for tok, err := dec.Token(); err == nil; tok, err = dec.Token() {
			if _, ok := tok.(string); ok {
				keys++
			}
		}
		if keys > 2*len(members)+1 { // nested or repeated members: encoding/json keeps the last
			return
		}
		want, werr := referenceDecodeJSON(bytes.NewReader(body), 1<<16)
		if werr != nil || (want.ImageURL != "" && len(want.Image) > 0) {
			return
		}
		got, err := decodeJSONStream(bytes.NewReader(body), 1<<16, int64(len(body)))
		if err != nil {
			t.Fatalf("the reference accepts %q, the stream says %v", body, err)
		}
		if !bytes.Equal(got.Image, want.Image) || got.Side != want.Side || got.UserID != want.UserID || got.OrderNo != want.OrderNo ||
			got.Provider != want.Provider || got.ImageURL != want.ImageURL || got.Native != want.Native {
			t.Fatalf("%q: stream %+v, reference %+v", body, got, want)
		}
	})
}
