package webank

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/upstream"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
)

// These are unit tests of the client's parsing and error handling against
// canned answers; the protocol itself is tested against the emulator.

func server(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return New(Config{BaseURL: srv.URL, AppID: "IDAXXXXX", Secret: "s3cr3t-value-that-must-not-leak"})
}

func TestAccessTokenExpireInNumberOrString(t *testing.T) {
	for _, body := range []string{
		`{"code":"0","msg":"请求成功","access_token":"tok","expire_time":"20151022043831","expire_in":"7200"}`,
		`{"code":"0","msg":"ok","access_token":"tok","expire_in":7200}`,
		`{"code":0,"msg":"ok","result":{"access_token":"tok","expire_in":"7200"}}`,
	} {
		c := server(t, func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if r.URL.Path != "/api/oauth2/access_token" || q.Get("app_id") != "IDAXXXXX" || q.Get("grant_type") != "client_credential" || q.Get("version") != "1.0.0" {
				t.Errorf("bad request %s", r.URL.Path)
			}
			io.WriteString(w, body)
		})
		tok, err := c.AccessToken(context.Background())
		if err != nil || tok.Value != "tok" || tok.ExpiresIn != 7200*time.Second {
			t.Errorf("%s: %+v %v", body, tok, err)
		}
	}
}

func TestSignTicket(t *testing.T) {
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("type") != "SIGN" || r.URL.Query().Get("access_token") != "tok" {
			t.Errorf("bad query")
		}
		io.WriteString(w, `{"code":"0","msg":"ok","tickets":[{"value":"tick","expire_in":3600,"expire_time":"x"}]}`)
	})
	tk, err := c.SignTicket(context.Background(), "tok")
	if err != nil || tk.Value != "tick" || tk.ExpiresIn != time.Hour {
		t.Errorf("%+v %v", tk, err)
	}
}

func TestErrorsCarryCodesAndNoSecrets(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantCode      errcode.Code
		wantUpstream  string
		wantRejected  bool
		wantRetryable bool
	}{
		{"token expired", 200, `{"code":"15","msg":"token expired"}`, errcode.UpstreamError, "15", true, false},
		{"bad request", 200, `{"code":"400101","msg":"不合法请求"}`, errcode.UpstreamError, "400101", true, false},
		{"not an id card", 200, `{"code":"66661001","msg":"请调整角度"}`, errcode.RecognitionFailed, "66661001", false, false},
		{"no result", 200, `{"code":"66660020","msg":"OCR 结果查询不到"}`, errcode.NotFound, "66660020", false, false},
		{"not an image", 200, `{"code":"66661010","msg":"格式有误"}`, errcode.InvalidImage, "66661010", false, false},
		{"busy", 200, `{"code":"999999","msg":"busy"}`, errcode.UpstreamError, "999999", false, true},
		{"too many requests", 200, `{"code":"1506","msg":"too many requests"}`, errcode.Busy, "1506", false, true},
		{"concurrency limit", 200, `{"code":"66660004","msg":"limit"}`, errcode.Busy, "66660004", false, true},
		{"5xx", 503, `oops`, errcode.UpstreamError, "", false, true},
		{"malformed", 200, `{"code":"0",`, errcode.UpstreamError, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := server(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := c.AccessToken(context.Background())
			var de *errcode.Error
			var ae *upstream.Error
			if !errors.As(err, &de) || !errors.As(err, &ae) {
				t.Fatalf("error %T %v", err, err)
			}
			if de.Code != tt.wantCode || de.UpstreamCode != tt.wantUpstream || ae.CredentialsRejected != tt.wantRejected || de.Retryable != tt.wantRetryable {
				t.Errorf("got code %s upstream %q rejected %v retryable %v", de.Code, de.UpstreamCode, ae.CredentialsRejected, de.Retryable)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "secret=") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestTransportErrorHidesURL(t *testing.T) {
	c := New(Config{BaseURL: "http://127.0.0.1:1", AppID: "IDAXXXXX", Secret: "s3cr3t-value"})
	_, err := c.AccessToken(context.Background())
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "app_id") {
		t.Fatalf("err = %v", err)
	}
	if !errcode.IsRetryable(err) {
		t.Errorf("connection refused should be retryable")
	}
}

func TestTimeoutIsUpstreamTimeout(t *testing.T) {
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.IDCardResult(ctx, "ticket", "order1", false, false)
	if errcode.ErrorCode(err) != errcode.UpstreamTimeout {
		t.Fatalf("err = %v", err)
	}
}

func TestSubmitStreamsExactBody(t *testing.T) {
	img := make([]byte, 100_001) // not a multiple of 3: padding
	for i := range img {
		img[i] = byte(i * 7)
	}
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("orderNo") != "order1" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad request line or type")
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != r.ContentLength {
			t.Errorf("body %d bytes, Content-Length %d", len(b), r.ContentLength)
		}
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		got, _ := base64.StdEncoding.DecodeString(body["idcardStr"])
		if string(got) != string(img) {
			t.Errorf("image mangled")
		}
		if body["appId"] != "IDAXXXXX" || body["webankAppId"] != "IDAXXXXX" || body["orderNo"] != "order1" || body["cardType"] != "1" || body["userId"] != "u1" ||
			len(body["nonce"]) != 32 || len(body["sign"]) != 40 || body["version"] != "1.0.0" {
			t.Errorf("fields: %v", map[string]int{"nonce": len(body["nonce"]), "sign": len(body["sign"])})
		}
		io.WriteString(w, `{"code":"0","msg":"ok","result":{"authority":"某公安局","validDate":"20200101-长期","success":false}}`)
	})
	f, err := c.SubmitIDCard(context.Background(), "ticket", SubmitRequest{OrderNo: "order1", UserID: "u1", CardType: "1", Image: ocr.BytesImage(img)})
	if err != nil {
		t.Fatal(err)
	}
	if f.String("validDate") != "20200101-长期" || f.String("success") != "false" {
		t.Errorf("fields: %q", f.String("validDate"))
	}
}

func TestParseFieldsLenient(t *testing.T) {
	f, err := ParseFields([]byte(`{"code":"0","name":"top","clarity":64,"result":{"name":"nested","orderNo":"o1","idcard":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.String("name") != "nested" || f.String("clarity") != "64" || f.String("orderNo") != "o1" || f.Has("idcard") {
		t.Errorf("lenient read failed")
	}
	for _, bad := range []string{``, `[]`, `null`, `"x"`, `{"result":{"a":`} {
		if _, err := ParseFields([]byte(bad)); err == nil {
			t.Errorf("ParseFields(%q) accepted", bad)
		}
	}
}

func FuzzParseFields(f *testing.F) {
	f.Add([]byte(`{"code":"0","result":{"name":"x","expire_in":"7200"}}`))
	f.Add([]byte(`{"code":0,"tickets":[{"value":"v","expire_in":3600}]}`))
	f.Add([]byte(`{"result":"string"}`))
	f.Add([]byte(`{"a\u0062":1, "a":[1,{"x":"}"}] ,"a":"\"q\\" , "n" : null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The reference: encoding/json's own reading into raw members.
		var ref map[string]json.RawMessage
		refOK := json.Unmarshal(b, &ref) == nil && ref != nil
		fl, err := ParseFields(b)
		if (err == nil) != refOK {
			t.Fatalf("ParseFields error %v, encoding/json ok %v", err, refOK)
		}
		if err != nil {
			return
		}
		if len(fl.top) != len(ref) {
			t.Fatalf("%d members, encoding/json %d", len(fl.top), len(ref))
		}
		for k, v := range ref {
			got := fl.top[k]
			if k == "result" && fl.result != nil {
				continue // replaced once parsed
			}
			if !bytes.Equal(got, v) {
				t.Fatalf("member %q: %q, encoding/json %q", k, got, v)
			}
		}
		_ = fl.String("code", "name")
		_, _ = Seconds(fl.String("expire_in"))
	})
}

func BenchmarkParseFields(b *testing.B) {
	body := []byte(`{"code":"0","msg":"请求成功","bizSeqNo":"21062120001184401617262326675389","transactionTime":"20210621172652","result":{"bizSeqNo":"21062120001184401617262326675389","transactionTime":"20210621172652","ocrId":"54805d8d","orderNo":"1rjh4","name":"某某","sex":"男","nation":"汉","birth":"19881001","address":"某省某市某区某路1号","idcard":"11010519491231002X","warning":"00000000","multiWarning":"00000000","clarity":"64","retry":"1","sign":"2E5A4268DB6B347DF34194D903A6927B8C454AAF","success":false}}`)
	b.ReportAllocs()
	for b.Loop() {
		f, err := ParseFields(body)
		if err != nil || f.String("idcard") == "" {
			b.Fatal(err)
		}
	}
}
