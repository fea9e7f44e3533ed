package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cardocr/cardocr/shared/tc3"
)

// Tencent Cloud OCR (API 3.0, service "ocr", version 2018-11-19): the two
// actions the tencentcloud provider calls, IDCardOCR and BankCardOCR, on
// POST / of any host, as the public endpoint ocr.tencentcloudapi.com serves
// them (https://cloud.tencent.com/document/api/866/33524 and
// https://cloud.tencent.com/document/api/866/36216; signing:
// https://cloud.tencent.com/document/api/866/33519). Strict on the
// protocol: Content-Type application/json, X-TC-Action, X-TC-Version
// 2018-11-19, X-TC-Region, X-TC-Timestamp within five minutes, and a
// TC3-HMAC-SHA256 Authorization for service ocr whose signature is checked
// with the configured key pair; unknown request members are refused. Images
// are recognized exactly as the WeBank endpoints recognize them, so one
// photo gives one identity (or one card number) on every provider.

// Endpoint names (for SetFault and Counts).
const (
	EndpointTencentIDCardOCR   = "tencentcloud_IDCardOCR"
	EndpointTencentBankCardOCR = "tencentcloud_BankCardOCR"
)

// Default Tencent Cloud API key pair of the emulator.
const (
	DefaultTencentCloudSecretID  = "AKIDcardocrEmulator0000000000000000"
	DefaultTencentCloudSecretKey = "cardocrEmulatorSecretKey00000000"
)

// TencentCloudConfig configures the Tencent Cloud OCR endpoint.
type TencentCloudConfig struct {
	SecretID, SecretKey string // [DefaultTencentCloudSecretID, …Key]
	// Token, when set, must come as X-TC-Token (temporary credentials of
	// a role); when empty any token is accepted.
	Token string
	// MaxBase64 is the longest ImageBase64 accepted: "要求图片经Base64编码后
	// 不超过 10M" (the current IDCardOCR and BankCardOCR pages,
	// https://cloud.tencent.com/document/api/866/33524 and 866/36216, and
	// the SDK's models.go; older copies said 7M) [10 MiB]; longer ones get
	// LimitExceeded.TooLargeFileError.
	MaxBase64 int64
	// InvalidDateCode is the WarnInfos code of an invalid validity date:
	// -9109 in the current models.go, -9100 on older pages [-9109].
	InvalidDateCode int
}

const tcVersion = "2018-11-19"

type tcError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (e *Emulator) registerTencentCloud() {
	c := &e.cfg.TencentCloud
	if c.SecretID == "" {
		c.SecretID, c.SecretKey = DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey
	}
	if c.MaxBase64 <= 0 {
		c.MaxBase64 = 10 << 20
	}
	if c.InvalidDateCode == 0 {
		c.InvalidDateCode = -9109
	}
	e.mux.HandleFunc("POST /{$}", e.tencentCloud)
}

// tcFail answers an API 3.0 error: HTTP 200, {"Response":{"Error":…,"RequestId":…}}.
func (e *Emulator) tcFail(w http.ResponseWriter, endpoint, reason, code, msg string) {
	e.reject(endpoint, reason)
	writeJSON(w, http.StatusOK, map[string]any{"Response": map[string]any{
		"Error": tcError{Code: code, Message: msg}, "RequestId": requestID(),
	}})
}

func tcAnswer(w http.ResponseWriter, fields map[string]any) {
	fields["RequestId"] = requestID()
	writeJSON(w, http.StatusOK, map[string]any{"Response": fields})
}

func requestID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (e *Emulator) tencentCloud(w http.ResponseWriter, r *http.Request) {
	action := r.Header.Get("X-TC-Action")
	name := "tencentcloud_" + action
	switch action {
	case "IDCardOCR", "BankCardOCR":
	default:
		e.count("tencentcloud_unknown")
		e.tcFail(w, "tencentcloud", "invalid_action", "InvalidAction", "action not found")
		return
	}
	e.count(name)
	e.withFaults(w, r, name, func(w http.ResponseWriter, r *http.Request) {
		limit := e.cfg.TencentCloud.MaxBase64 + e.cfg.TencentCloud.MaxBase64/16 + 64<<10
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				e.tcFail(w, name, "too_large", "LimitExceeded.TooLargeFileError", "file too large")
				return
			}
			e.tcFail(w, name, "invalid_request", "InvalidParameter", "cannot read the body")
			return
		}
		if code, msg := e.tcCheckProtocol(r, body); code != "" {
			e.tcFail(w, name, "auth", code, msg)
			return
		}
		if code := e.tcForcedCode(); code != "" {
			e.tcFail(w, name, "forced", code, "forced by SetTencentCloudError")
			return
		}
		if action == "IDCardOCR" {
			e.tcIDCard(w, name, body)
		} else {
			e.tcBankCard(w, name, body)
		}
	})
}

// tcForced is an error every Tencent Cloud action answers (after the
// signature check), for the next n calls or, with n 0, until cleared.
type tcForced struct {
	code string
	n    int
}

// SetTencentCloudError makes the Tencent Cloud OCR actions answer code (an
// account's "FailedOperation.ArrearsError", a throttle's
// "RequestLimitExceeded", …) for the next n calls, or every call when n is
// 0; an empty code clears it. The calls are counted as usual.
func (e *Emulator) SetTencentCloudError(code string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if code == "" {
		e.tcForce = nil
		return
	}
	e.tcForce = &tcForced{code: code, n: n}
}

// tcForcedCode takes one forced answer, or "".
func (e *Emulator) tcForcedCode() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.tcForce
	if f == nil {
		return ""
	}
	if f.n > 0 {
		if f.n--; f.n == 0 {
			e.tcForce = nil
		}
	}
	return f.code
}

// RotateTencentCloudKey replaces the key pair the endpoint accepts (an
// operator disabled the old key in the console): calls signed with the old
// one get AuthFailure.SecretIdNotFound or AuthFailure.SignatureFailure.
func (e *Emulator) RotateTencentCloudKey(id, key string) {
	e.mu.Lock()
	e.cfg.TencentCloud.SecretID, e.cfg.TencentCloud.SecretKey = id, key
	e.mu.Unlock()
}

// tcCheckProtocol returns the API 3.0 error a request gets, or "".
func (e *Emulator) tcCheckProtocol(r *http.Request, body []byte) (code, msg string) {
	e.mu.Lock()
	c := e.cfg.TencentCloud
	e.mu.Unlock()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return "InvalidParameter", "Content-Type must be application/json"
	}
	if v := r.Header.Get("X-TC-Version"); v != tcVersion {
		return "NoSuchVersion", "the version does not exist"
	}
	if r.Header.Get("X-TC-Region") == "" {
		return "MissingParameter", "X-TC-Region is missing"
	}
	return tc3.Verify(r, body, "ocr", tc3.Credentials{SecretID: c.SecretID, SecretKey: c.SecretKey, Token: c.Token}, e.now())
}

// tcDecode decodes a request body strictly: unknown members are
// UnknownParameter, as the API answers them.
func tcDecode(body []byte, v any) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v) == nil
}

// tcImage decodes ImageBase64 and recognizes it like the WeBank endpoints.
// ok false: the answer has been written.
func (e *Emulator) tcImage(w http.ResponseWriter, name, b64, url, kind, side string) (spec CardSpec, hasMarker, ok bool) {
	if b64 == "" {
		if url != "" { // the emulator downloads nothing from Tencent's side
			e.tcFail(w, name, "download", "FailedOperation.DownLoadError", "file download failed")
			return spec, false, false
		}
		e.tcFail(w, name, "no_image", "InvalidParameterValue.InvalidParameterValueLimit", "ImageBase64 or ImageUrl is required")
		return spec, false, false
	}
	if int64(len(b64)) > e.cfg.TencentCloud.MaxBase64 {
		e.tcFail(w, name, "too_large", "LimitExceeded.TooLargeFileError", "file too large")
		return spec, false, false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		e.tcFail(w, name, "not_image", "FailedOperation.ImageDecodeFailed", "image decode failed")
		return spec, false, false
	}
	format, decodeOK, spec, hasMarker := inspectImage(raw)
	if format == "" || !decodeOK {
		e.tcFail(w, name, "decode_error", "FailedOperation.ImageDecodeFailed", "image decode failed")
		return spec, false, false
	}
	if !hasMarker {
		spec, hasMarker = photoSpec(raw, kind, side), true
	}
	return spec, hasMarker, true
}

// IDCardOCR's Config options (a JSON string of booleans).
type tcIDConfig struct {
	CropIdCard, CropPortrait, CopyWarn, BorderCheckWarn, ReshootWarn, DetectPsWarn bool
	TempIdWarn, InvalidDateWarn, Quality, MultiCardDetect, ReflectWarn             bool
}

// tcIDWarnings maps the WeBank warning string's positions (the emulator's
// markers speak it) to IDCardOCR's WarnInfos codes, each reported only when
// its Config option asked for it.
var tcIDWarnings = [6]struct {
	code   int
	wanted func(tcIDConfig) bool
}{
	{-9101, func(c tcIDConfig) bool { return c.BorderCheckWarn }}, // border incomplete
	{-9102, func(c tcIDConfig) bool { return c.CopyWarn }},        // photocopy
	{0, func(c tcIDConfig) bool { return c.InvalidDateWarn }},     // invalid date: InvalidDateCode
	{-9103, func(c tcIDConfig) bool { return c.ReshootWarn }},     // recaptured
	{-9104, func(c tcIDConfig) bool { return c.TempIdWarn }},      // temporary card
	{-9105, func(c tcIDConfig) bool { return c.BorderCheckWarn }}, // occluded inside the frame
}

func (e *Emulator) tcIDCard(w http.ResponseWriter, name string, body []byte) {
	var req struct {
		ImageBase64, ImageUrl, CardSide, Config string
	}
	if !tcDecode(body, &req) {
		e.tcFail(w, name, "unknown_parameter", "UnknownParameter", "unknown or malformed parameter")
		return
	}
	var cfg tcIDConfig
	if req.Config != "" && json.Unmarshal([]byte(req.Config), &cfg) != nil {
		e.tcFail(w, name, "bad_config", "InvalidParameter.ConfigFormatError", "Config is not valid JSON")
		return
	}
	side := SideFront
	switch req.CardSide {
	case "", "FRONT":
	case "BACK":
		side = SideBack
	default:
		e.tcFail(w, name, "bad_side", "InvalidParameterValue.InvalidParameterValueLimit", "CardSide must be FRONT or BACK")
		return
	}
	spec, hasMarker, ok := e.tcImage(w, name, req.ImageBase64, req.ImageUrl, KindIDCard, side)
	if !ok {
		return
	}
	// The side comes from the image (CardSide is a hint: "该参数如果不填，将为您
	// 自动判断身份证正反面"); a photo without a marker shows the side asked for.
	rec := recognizeIDCardAs(spec, hasMarker, "", e.now(), false)
	if rec.code != codeOK {
		code := "FailedOperation.OcrFailed"
		switch {
		case rec.reason == "not_recognized" && spec.Blurry:
			code = "FailedOperation.ImageBlur"
		case rec.reason == "not_recognized":
			code = "FailedOperation.ImageNoIdCard"
		case rec.reason == "unreadable" || rec.reason == "bad_dates":
			code = "FailedOperation.IdCardInfoIllegal"
		}
		e.tcFail(w, name, rec.reason, code, "recognition failed")
		return
	}
	// "FailedOperation.CardSideError: 身份证正反面识别错误" (the error
	// codes of IDCardOCR): the image shows the other side than CardSide
	// asked for. Without CardSide the side is detected and answered.
	if req.CardSide != "" && rec.side != side {
		e.tcFail(w, name, "wrong_side", "FailedOperation.CardSideError", "card side error")
		return
	}
	out := map[string]any{"Name": "", "Sex": "", "Nation": "", "Birth": "", "Address": "", "IdNum": "", "Authority": "", "ValidDate": ""}
	if rec.side == SideFront {
		out["Name"], out["Sex"], out["Nation"], out["Address"], out["IdNum"] = rec.name, rec.sex, rec.nation, rec.address, rec.idcard
		out["Birth"] = slashDate(rec.birth)
	} else {
		from, to, _ := strings.Cut(rec.validDate, "-")
		out["Authority"], out["ValidDate"] = rec.authority, dotDate(from)+"-"+dotDate(to)
	}
	adv := map[string]any{}
	var warn []int
	for i, wn := range tcIDWarnings {
		if i < len(rec.warning) && rec.warning[i] == '1' && wn.wanted(cfg) {
			code := wn.code
			if code == 0 {
				code = e.cfg.TencentCloud.InvalidDateCode
			}
			warn = append(warn, code)
		}
	}
	if len(warn) > 0 {
		adv["WarnInfos"] = warn
	}
	if cfg.Quality {
		adv["Quality"], _ = strconv.Atoi(rec.clarity)
	}
	if len(adv) > 0 {
		b, _ := json.Marshal(adv)
		out["AdvancedInfo"] = string(b)
	}
	e.count("accepted:" + name)
	tcAnswer(w, out)
}

// slashDate writes yyyyMMdd as the API does: "1987/1/1".
func slashDate(s string) string {
	if len(s) != 8 {
		return s
	}
	m, _ := strconv.Atoi(s[4:6])
	d, _ := strconv.Atoi(s[6:8])
	return s[:4] + "/" + strconv.Itoa(m) + "/" + strconv.Itoa(d)
}

// dotDate writes yyyyMMdd as "yyyy.MM.dd" ("长期" stays).
func dotDate(s string) string {
	if len(s) != 8 {
		return s
	}
	return s[:4] + "." + s[4:6] + "." + s[6:8]
}

func (e *Emulator) tcBankCard(w http.ResponseWriter, name string, body []byte) {
	var req struct {
		ImageBase64, ImageUrl                                                      string
		RetBorderCutImage, RetCardNoImage                                          bool
		EnableCopyCheck, EnableReshootCheck, EnableBorderCheck, EnableQualityValue bool
	}
	if !tcDecode(body, &req) {
		e.tcFail(w, name, "unknown_parameter", "UnknownParameter", "unknown or malformed parameter")
		return
	}
	spec, hasMarker, ok := e.tcImage(w, name, req.ImageBase64, req.ImageUrl, KindBankCard, "")
	if !ok {
		return
	}
	rec := recognizeBankCard(spec, hasMarker, e.now())
	if rec.code != codeOK {
		code := "FailedOperation.OcrFailed"
		switch rec.reason {
		case "not_recognized":
			code = "FailedOperation.NoBankCardError"
		case "unreadable":
			code = "FailedOperation.IllegalBankCardError"
		case "blurry":
			code = "FailedOperation.ImageBlur"
		}
		e.tcFail(w, name, rec.reason, code, "recognition failed")
		return
	}
	// WarningCode: -9110 invalid date and -9112 reflection always; -9111
	// border, -9113 copy and -9114 reshoot only when their check is on.
	var warn []int
	for _, c := range rec.warnings {
		n, err := strconv.Atoi(c)
		if err != nil {
			continue
		}
		switch {
		case n == -9110 || n == -9112,
			n == -9111 && req.EnableBorderCheck,
			n == -9113 && req.EnableCopyCheck,
			n == -9114 && req.EnableReshootCheck:
			warn = append(warn, n)
		}
	}
	out := map[string]any{"CardNo": rec.number, "BankInfo": "模拟银行(01000000)", "ValidDate": rec.validDate,
		"CardType": "借记卡", "CardName": "模拟卡", "WarningCode": warn}
	if req.RetBorderCutImage {
		out["BorderCutImage"] = b64(crop(spec))
	}
	if req.RetCardNoImage {
		out["CardNoImage"] = b64(numberStrip(spec))
	}
	if req.EnableQualityValue {
		out["QualityValue"], _ = strconv.Atoi(rec.clarity)
	}
	e.count("accepted:" + name)
	tcAnswer(w, out)
}
