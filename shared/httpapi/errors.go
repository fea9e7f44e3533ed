package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/sign"
)

// status maps domain codes to HTTP statuses: the one place this happens.
var status = map[domain.Code]int{
	domain.Unauthorized:         http.StatusUnauthorized,
	domain.Forbidden:            http.StatusForbidden,
	domain.InvalidRequest:       http.StatusBadRequest,
	domain.InvalidImage:         http.StatusBadRequest,
	domain.ImageTooLarge:        http.StatusRequestEntityTooLarge,
	domain.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	domain.RequestTimeout:       http.StatusRequestTimeout,
	domain.Busy:                 http.StatusTooManyRequests, // slow down: Retry-After says when
	domain.NotFound:             http.StatusNotFound,
	domain.OrderConflict:        http.StatusConflict,
	domain.Erased:               http.StatusGone,
	domain.Pending:              http.StatusAccepted,
	domain.UploadExpired:        http.StatusNotFound,
	domain.StoreUnavailable:     http.StatusServiceUnavailable,
	domain.RecognitionFailed:    http.StatusUnprocessableEntity,
	domain.QuotaExceeded:        http.StatusTooManyRequests,
	domain.TicketsUnavailable:   http.StatusServiceUnavailable,
	domain.ProviderSuspended:    http.StatusServiceUnavailable,
	domain.UpstreamError:        http.StatusBadGateway,
	domain.UpstreamTimeout:      http.StatusGatewayTimeout,
	domain.Internal:             http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for an error.
func StatusOf(err error) int {
	if s, ok := status[domain.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// pendingBody is the 202 of an upload whose result is not there yet.
type pendingBody struct {
	Status  string `json:"status"`
	OrderNo string `json:"orderNo,omitempty"`
}

type errorBody struct {
	Error   errorDetail `json:"error"`
	OrderNo string      `json:"orderNo,omitempty"`
}

type errorDetail struct {
	Code         domain.Code `json:"code"`
	Message      string      `json:"message"`
	Retryable    bool        `json:"retryable"`
	UpstreamCode string      `json:"upstreamCode,omitempty"`
}

func writeError(w http.ResponseWriter, err error, orderNo string) int {
	e := domain.AsError(err)
	if e.OrderNo != "" {
		orderNo = e.OrderNo // the order the failed upstream call used
	}
	if !sign.ValidOrderNo(orderNo) {
		orderNo = "" // echo only what is valid: an invalid one may be anything
	}
	st := StatusOf(e)
	if e.Code == domain.Pending {
		// Not an error: the order exists and its result is on its way.
		w.Header().Set("Retry-After", "2")
		writeJSON(w, st, pendingBody{Status: "pending", OrderNo: orderNo})
		return st
	}
	retryable := e.Retryable
	switch e.Code {
	case domain.TicketsUnavailable, domain.UpstreamTimeout, domain.RequestTimeout, domain.StoreUnavailable:
		retryable = true
	case domain.Busy:
		retryable = true
		w.Header().Set("Retry-After", "1")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())+1))
	}
	msg := e.Message
	if e.Code == domain.Internal {
		msg = "internal error"
	}
	writeJSON(w, st, errorBody{Error: errorDetail{Code: e.Code, Message: msg, Retryable: retryable, UpstreamCode: e.UpstreamCode}, OrderNo: orderNo})
	return st
}

func writeJSON(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
