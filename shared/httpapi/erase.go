package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
)

// resultMethods are the methods of /v1/{kind}/results/{orderNo}.
const resultMethods = "GET, DELETE"

// KeyID names an API key in logs and audit records without revealing it:
// the first 12 hex digits of its SHA-256 (a key cannot be recovered from it,
// and an operator holding the key can compute it).
func KeyID(sum [sha256.Size]byte) string { return "key:" + hex.EncodeToString(sum[:6]) }

// erase is DELETE /v1/{kind}/results/{orderNo}: everything this service
// holds for the order goes, a tombstone stays (a later GET answers 410 and
// the upstream's copy is never served again), and one audit record is
// written. 204, also when repeated.
func (s *server) erase(w http.ResponseWriter, r *http.Request, kind string) {
	orderNo := r.PathValue("orderNo")
	noteOrder(r, orderNo)
	if s.opt.Eraser == nil {
		fail(w, r, domain.Errorf(domain.NotFound, "this deployment keeps no archive (ARCHIVE_URL is not set): there is nothing to erase"), orderNo)
		return
	}
	if !sign.ValidOrderNo(orderNo) {
		fail(w, r, domain.Errorf(domain.InvalidRequest, "orderNo must be 1 to 32 letters or digits"), orderNo)
		return
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if len(reason) > 200 {
		fail(w, r, domain.Errorf(domain.InvalidRequest, "reason must be at most 200 characters"), orderNo)
		return
	}
	if reason == "" {
		reason = "requested through the API"
	}
	_, err := s.opt.Eraser.Erase(r.Context(), ocr.Erasure{Kind: kind, OrderNo: orderNo, Caller: callerOf(r), Reason: reason})
	if err != nil {
		fail(w, r, err, orderNo)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
