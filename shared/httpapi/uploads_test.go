package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/presign"
	"github.com/cardocr/cardocr/shared/uploads"
)

type stubUploads struct {
	got uploads.Request
	err error
}

func (s *stubUploads) Issue(_ context.Context, r uploads.Request) (*uploads.Ticket, error) {
	s.got = r
	if s.err != nil {
		return nil, s.err
	}
	return &uploads.Ticket{OrderNo: "o1", Upload: presign.Form{Method: "POST", URL: "http://127.0.0.1/b", FileField: "file"}}, nil
}

func TestUploadRoute(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	up := &stubUploads{}
	for _, tc := range []struct {
		name    string
		uploads Uploads
		err     error
		method  string
		path    string
		body    string
		status  int
		code    string
	}{
		{"issued", up, nil, "POST", "/v1/idcard/uploads", `{"side":"front","contentType":"image/jpeg","size":9}`, 201, ""},
		{"no archive", nil, nil, "POST", "/v1/bankcard/uploads", `{"contentType":"image/jpeg"}`, 404, "not_found"},
		{"GET", up, nil, "GET", "/v1/bankcard/uploads", ``, 405, "invalid_request"},
		{"not JSON", up, nil, "POST", "/v1/bankcard/uploads", `contentType=image/jpeg`, 400, "invalid_request"},
		{"an unknown member", up, nil, "POST", "/v1/bankcard/uploads", `{"contentType":"image/jpeg","kind":"idcard"}`, 400, "invalid_request"},
		{"two objects", up, nil, "POST", "/v1/bankcard/uploads", `{"contentType":"image/jpeg"}{}`, 400, "invalid_request"},
		{"an image in the request", up, nil, "POST", "/v1/bankcard/uploads", `{"contentType":"image/jpeg","x":"` + strings.Repeat("A", 5000) + `"}`, 400, "invalid_request"},
		{"presigning fails", &stubUploads{err: errors.New("no credentials")}, nil, "POST", "/v1/bankcard/uploads", `{"contentType":"image/jpeg"}`, 500, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Options{APIKeys: []string{"k"}, Uploads: tc.uploads, Logger: log})
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer k")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || tc.code != "" && !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body, tc.status, tc.code)
			}
			if tc.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
	if up.got.Kind != "idcard" || up.got.Owner != "default" || up.got.Side != "front" || up.got.Size != 9 {
		t.Errorf("the service got %+v", up.got)
	}
}
