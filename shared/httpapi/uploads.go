package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/uploads"
)

// Uploads issues presigned upload forms (uploads.Service).
type Uploads interface {
	Issue(ctx context.Context, r uploads.Request) (*uploads.Ticket, error)
}

// maxUploadRequest bounds the JSON of an upload request: a few short fields.
const maxUploadRequest = 4 << 10

// upload is POST /v1/{kind}/uploads: 201 with the order number and a form
// that puts the photo in the bucket directly. Nothing is sent upstream
// until the photo arrives.
func (s *server) upload(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		if !mayUse(w, r, kind) {
			return
		}
		if s.opt.Uploads == nil {
			fail(w, r, errcode.Errorf(errcode.NotFound, "uploads are not served here: the submitting functions serve them, with an archive bucket to upload to (ARCHIVE_URL)"), "")
			return
		}
		var req uploads.Request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUploadRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fail(w, r, errcode.Errorf(errcode.InvalidRequest, "the request is larger than %d bytes: send the photo to the form, not here", maxUploadRequest), "")
				return
			}
			fail(w, r, errcode.Errorf(errcode.InvalidRequest, `send JSON: {"side":"front"|"back" (ID cards), "contentType":"image/jpeg"|"image/png", "size":N, "orderNo"?, "method"?}`), "")
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			fail(w, r, errcode.Errorf(errcode.InvalidRequest, "the body must hold one JSON object"), "")
			return
		}
		req.Kind, req.Owner = kind, tenantOf(r).ID
		t, err := s.opt.Uploads.Issue(r.Context(), req)
		if err != nil {
			fail(w, r, err, req.OrderNo)
			return
		}
		noteOrder(r, t.OrderNo)
		writeJSON(w, http.StatusCreated, t)
	}
}
