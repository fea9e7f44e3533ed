package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/sign"
)

// status maps error codes to HTTP statuses: the one place this happens.
var status = map[errcode.Code]int{
	errcode.Unauthorized:         http.StatusUnauthorized,
	errcode.Forbidden:            http.StatusForbidden,
	errcode.InvalidRequest:       http.StatusBadRequest,
	errcode.InvalidImage:         http.StatusBadRequest,
	errcode.ImageTooLarge:        http.StatusRequestEntityTooLarge,
	errcode.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	errcode.RequestTimeout:       http.StatusRequestTimeout,
	errcode.Busy:                 http.StatusTooManyRequests, // slow down: Retry-After says when
	errcode.NotFound:             http.StatusNotFound,
	errcode.OrderConflict:        http.StatusConflict,
	errcode.Erased:               http.StatusGone,
	errcode.Pending:              http.StatusAccepted,
	errcode.UploadExpired:        http.StatusNotFound,
	errcode.StoreUnavailable:     http.StatusServiceUnavailable,
	errcode.RecognitionFailed:    http.StatusUnprocessableEntity,
	errcode.QuotaExceeded:        http.StatusTooManyRequests,
	errcode.TicketsUnavailable:   http.StatusServiceUnavailable,
	errcode.ProviderSuspended:    http.StatusServiceUnavailable,
	errcode.UpstreamError:        http.StatusBadGateway,
	errcode.UpstreamTimeout:      http.StatusGatewayTimeout,
	errcode.Internal:             http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for an error.
func StatusOf(err error) int {
	if s, ok := status[errcode.ErrorCode(err)]; ok {
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
	Code         errcode.Code `json:"code"`
	Message      string       `json:"message"`
	Retryable    bool         `json:"retryable"`
	UpstreamCode string       `json:"upstreamCode,omitempty"`
}

func writeError(w http.ResponseWriter, err error, orderNo string) int {
	e := errcode.AsError(err)
	if e.OrderNo != "" {
		orderNo = e.OrderNo // the order the failed upstream call used
	}
	if !sign.ValidOrderNo(orderNo) {
		orderNo = "" // echo only what is valid: an invalid one may be anything
	}
	st := StatusOf(e)
	if e.Code == errcode.Pending {
		// Not an error: the order exists and its result is on its way.
		w.Header().Set("Retry-After", "2")
		writeJSON(w, st, pendingBody{Status: "pending", OrderNo: orderNo})
		return st
	}
	retryable := e.Retryable
	switch e.Code {
	case errcode.TicketsUnavailable, errcode.UpstreamTimeout, errcode.RequestTimeout, errcode.StoreUnavailable:
		retryable = true
	case errcode.Busy:
		retryable = true
		w.Header().Set("Retry-After", "1")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())+1))
	}
	msg := e.Message
	if e.Code == errcode.Internal {
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
