package httpapi

import (
	"net/http"
	"strings"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
)

// resultMethods are the methods of /v1/{kind}/results/{orderNo}.
const resultMethods = "GET, DELETE"

// erase is DELETE /v1/{kind}/results/{orderNo}: everything this service
// holds for the order goes, a tombstone stays (a later GET answers 410 and
// the upstream's copy is never served again), and one audit record is
// written. 204, also when repeated.
func (s *server) erase(w http.ResponseWriter, r *http.Request, kind string) {
	if !mayUse(w, r, kind) {
		return
	}
	orderNo := r.PathValue("orderNo")
	noteOrder(r, orderNo)
	if s.opt.Eraser == nil {
		fail(w, r, errcode.Errorf(errcode.NotFound, "this deployment keeps no archive (ARCHIVE_URL is not set): there is nothing to erase"), orderNo)
		return
	}
	if !sign.ValidOrderNo(orderNo) {
		fail(w, r, errcode.Errorf(errcode.InvalidRequest, "orderNo must be 1 to 32 letters or digits"), orderNo)
		return
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if len(reason) > 200 {
		fail(w, r, errcode.Errorf(errcode.InvalidRequest, "reason must be at most 200 characters"), orderNo)
		return
	}
	if reason == "" {
		reason = "requested through the API"
	}
	_, err := s.opt.Eraser.Erase(r.Context(), ocr.Erasure{Kind: kind, OrderNo: orderNo, Owner: tenantOf(r).ID, Caller: callerOf(r), Reason: reason})
	if err != nil {
		fail(w, r, err, orderNo)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
