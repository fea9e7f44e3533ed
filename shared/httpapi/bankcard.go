package httpapi

import (
	"net/http"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
)

// bankcardSubmit is POST /v1/bankcard/ocr: JSON {"image","userId","orderNo","provider"}
// or multipart with the file in "image".
func (s *server) bankcardSubmit(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	if s.opt.BankCards == nil {
		fail(w, r, errcode.Errorf(errcode.NotFound, "bank card OCR is not served here"), "")
		return
	}
	if !mayUse(w, r, ocr.KindBankCard) {
		return
	}
	sub, err := decodeSubmission(w, r, s.opt.BankCards.MaxBankCardImage(), s.opt.SyncBodyLimit, ocr.KindBankCard)
	if err != nil {
		fail(w, r, err, "")
		return
	}
	req := ocr.BankCardRequest{Image: ocr.BytesImage(sub.Image), UserID: sub.UserID, OrderNo: sub.OrderNo,
		Provider: sub.Provider, ImageURL: sub.ImageURL, Owner: tenantOf(r).ID, Quota: tenantOf(r).DailyQuota}
	res, err := s.opt.BankCards.SubmitBankCard(r.Context(), req)
	if err != nil {
		fail(w, r, err, sub.OrderNo)
		return
	}
	noteOrder(r, res.OrderNo)
	writeJSON(w, http.StatusOK, res)
}

// bankcardResult is GET /v1/bankcard/results/{orderNo}[?files=1].
func (s *server) bankcardResult(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.erase(w, r, ocr.KindBankCard)
		return
	}
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, resultMethods)
		return
	}
	if s.opt.BankCards == nil {
		fail(w, r, errcode.Errorf(errcode.NotFound, "bank card OCR is not served here"), "")
		return
	}
	if !mayUse(w, r, ocr.KindBankCard) {
		return
	}
	orderNo := r.PathValue("orderNo")
	noteOrder(r, orderNo)
	files, err := boolQuery(r, "files")
	if err != nil {
		fail(w, r, err, orderNo)
		return
	}
	res, err := s.opt.BankCards.BankCardResult(r.Context(), ocr.ResultQuery{OrderNo: orderNo, Files: files, Owner: tenantOf(r).ID})
	if err != nil {
		fail(w, r, err, orderNo)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
