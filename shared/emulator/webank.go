package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cardocr/cardocr/shared/sign"
)

// The WeBank KYC endpoints (docs/protocol.md §1–§5).

const apiVersion = "1.0.0"

// Codes the emulator answers with (docs/protocol.md §6).
const (
	codeOK            = "0"
	codeInvalid       = "400101"
	codeTokenExpired  = "15"
	codeParamTooLong  = "66660000"
	codeBadImage      = "66660015" // 视频或图片异常: also an over-long image string
	codeNoResult      = "66660020"
	codeAdjust        = "66661001"
	codeExpiredCard   = "66661003"
	codeBadDates      = "66661004"
	codeDecode        = "66661005"
	codeNotFront      = "66661006"
	codeNotBack       = "66661007"
	codeUnreadableID  = "66661008"
	codeNotImage      = "66661010"
	codeNoAuthority   = "66661012"
	codeBankFailed    = "-9011"
	codeBankBlurry    = "-9012"
	codeNotBankCard   = "-9013"
	codeBankExpiredWn = "66661009"
	msgOK             = "请求成功"
)

var codeMsgs = map[string]string{
	codeParamTooLong: "参数过长",
	codeBadImage:     "视频或图片异常",
	codeNoResult:     "OCR 结果查询不到",
	codeAdjust:       "请调整角度,保持清晰",
	codeExpiredCard:  "身份证已失效",
	codeBadDates:     "身份证日期不正确",
	codeDecode:       "图像解码异常",
	codeNotFront:     "非身份证人像面",
	codeNotBack:      "非身份证国徽面",
	codeUnreadableID: "姓名或身份证号未能识别",
	codeNotImage:     "格式有误",
	codeNoAuthority:  "签发机关未能识别",
	"66661099":       "处理失败",
	"300101":         "加解密失败",
	codeBankFailed:   "识别失败",
	codeBankBlurry:   "图片模糊",
	codeNotBankCard:  "不是银行卡",
	"-9014":          "信息不合法",
	"-1304":          "参数过长",
}

func msgFor(code string) string {
	if m, ok := codeMsgs[code]; ok {
		return m
	}
	return "处理失败"
}

func (e *Emulator) registerWeBank() {
	e.handle(http.MethodGet, "/api/oauth2/access_token", EndpointAccessToken, e.accessToken)
	e.handle(http.MethodGet, "/api/oauth2/api_ticket", EndpointAPITicket, e.apiTicket)
	e.handle(http.MethodPost, "/api/paas/idcardocrapp", EndpointIDCardOCR, func(w http.ResponseWriter, r *http.Request) {
		e.submit(w, r, KindIDCard)
	})
	e.handle(http.MethodPost, "/api/paas/bankcardocrapp", EndpointBankCardOCR, func(w http.ResponseWriter, r *http.Request) {
		e.submit(w, r, KindBankCard)
	})
	e.handle(http.MethodGet, "/api/server/getOcrResult", EndpointOCRResult, func(w http.ResponseWriter, r *http.Request) {
		e.query(w, r, KindIDCard)
	})
	e.handle(http.MethodGet, "/api/server/getBankCardOcrResult", EndpointBankCardResult, func(w http.ResponseWriter, r *http.Request) {
		e.query(w, r, KindBankCard)
	})
}

// fail answers a non-zero code (HTTP 200, as upstream) and counts reason.
func (e *Emulator) fail(w http.ResponseWriter, endpoint, reason, code, msg string, biz bool) {
	e.reject(endpoint, reason)
	now := e.now()
	if msg == "" {
		msg = msgFor(code)
	}
	b := errorBody(code, msg, now)
	if biz {
		b.BizSeqNo = e.bizSeqNo(now)
	}
	writeJSON(w, http.StatusOK, b)
}

// Parameter checks.

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func validNonce(s string) bool   { return len(s) == 32 && isAlnum(s) }
func validSign(s string) bool    { return len(s) == 40 && isHex(s) }
func validOrderNo(s string) bool { return s != "" && len(s) <= 32 && isAlnum(s) }
func validUserID(s string) bool  { return len(s) <= 32 && isAlnum(s) }

// appIDParam returns app_id or appId; both present must agree.
func appIDParam(q url.Values) (string, bool) {
	a, b := q.Get("app_id"), q.Get("appId")
	switch {
	case a != "" && b != "" && a != b:
		return "", false
	case a != "":
		return a, true
	default:
		return b, b != ""
	}
}

// expireIn renders a lifetime in whole seconds, as a string or a number.
func (e *Emulator) expireIn(d time.Duration) any {
	s := int64(d / time.Second)
	if e.cfg.ExpireInAsNumber {
		return s
	}
	return strconv.FormatInt(s, 10)
}

// access_token.

type tokenAnswer struct {
	Code            string `json:"code"`
	Msg             string `json:"msg"`
	TransactionTime string `json:"transactionTime"`
	AccessToken     string `json:"access_token"`
	ExpireTime      string `json:"expire_time"`
	ExpireIn        any    `json:"expire_in"`
}

func (e *Emulator) accessToken(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointAccessToken
	q := r.URL.Query()
	appID, ok := appIDParam(q)
	if !ok || q.Get("secret") == "" || q.Get("grant_type") != "client_credential" || q.Get("version") != apiVersion {
		e.fail(w, ep, "invalid_request", codeInvalid, "不合法请求", false)
		return
	}
	now := e.now()
	e.mu.Lock()
	good := appID == e.cfg.AppID && q.Get("secret") == e.secret
	var t token
	if good {
		t = *e.issueToken(now) // a copy: a later token cuts the original's expiry under e.mu
	}
	e.mu.Unlock()
	if !good {
		e.fail(w, ep, "bad_credentials", codeInvalid, "不合法请求：appId 或 secret 错误", false)
		return
	}
	writeJSON(w, http.StatusOK, tokenAnswer{
		Code: codeOK, Msg: msgOK, TransactionTime: stamp(now),
		AccessToken: t.value, ExpireTime: stamp(t.expires), ExpireIn: e.expireIn(e.cfg.TokenTTL),
	})
}

// api_ticket.

type ticketValue struct {
	Value      string `json:"value"`
	ExpireIn   any    `json:"expire_in"`
	ExpireTime string `json:"expire_time"`
}

type ticketAnswer struct {
	Code            string        `json:"code"`
	Msg             string        `json:"msg"`
	TransactionTime string        `json:"transactionTime"`
	Tickets         []ticketValue `json:"tickets"`
}

func (e *Emulator) apiTicket(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointAPITicket
	q := r.URL.Query()
	appID, ok := appIDParam(q)
	kind, userID := q.Get("type"), q.Get("user_id")
	if !ok || q.Get("access_token") == "" || q.Get("version") != apiVersion ||
		(kind != ticketSign && kind != ticketNonce) ||
		(kind == ticketNonce && (userID == "" || !validUserID(userID))) {
		e.fail(w, ep, "invalid_request", codeInvalid, "不合法请求", false)
		return
	}
	if appID != e.cfg.AppID {
		e.fail(w, ep, "unknown_app", codeInvalid, "不合法请求：appId 错误", false)
		return
	}
	now := e.now()
	e.mu.Lock()
	var t ticket
	live := e.tokenValid(q.Get("access_token"), now)
	if live {
		t = *e.issueTicket(q.Get("access_token"), kind, userID, now) // a copy, as in accessToken
	}
	e.mu.Unlock()
	if !live {
		e.fail(w, ep, "token_expired", codeTokenExpired, "Token 过期，请重试", false)
		return
	}
	ttl := e.cfg.TicketTTL
	if kind == ticketNonce {
		ttl = e.cfg.NonceTTL
	}
	writeJSON(w, http.StatusOK, ticketAnswer{
		Code: codeOK, Msg: msgOK, TransactionTime: stamp(now),
		Tickets: []ticketValue{{Value: t.value, ExpireIn: e.expireIn(ttl), ExpireTime: stamp(t.expires)}},
	})
}

// Orders.

type order struct {
	kind     string
	created  time.Time
	photosAt time.Time // get_file=1 answers photos from then on
	done     bool      // recognition succeeded: there is a result to query
	spec     CardSpec
	jpeg     []byte // the uploaded image when it was a JPEG
	appID    string
	id       idRecognition
	bank     bankRecognition
}

// reserveOrder records orderNo as used; false if it already is. Orders
// older than OrderRetention are forgotten first.
func (e *Emulator) reserveOrder(orderNo, kind, appID string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, o := range e.orders {
		if now.Sub(o.created) > e.cfg.OrderRetention {
			delete(e.orders, k)
		}
	}
	if _, dup := e.orders[orderNo]; dup {
		return false
	}
	e.orders[orderNo] = &order{kind: kind, created: now, photosAt: now.Add(e.photoDelay), appID: appID}
	return true
}

// Submissions: idcardocrapp and bankcardocrapp.

type submitRequest struct {
	AppID       string  `json:"appId"`
	WebankAppID string  `json:"webankAppId"`
	Version     string  `json:"version"`
	Nonce       string  `json:"nonce"`
	Sign        string  `json:"sign"`
	OrderNo     string  `json:"orderNo"`
	UserID      string  `json:"userId"`
	CardType    *string `json:"cardType"`
	IDCardStr   string  `json:"idcardStr"`
	BankcardStr string  `json:"bankcardStr"`
	GetNative   string  `json:"getNative"`
}

func (e *Emulator) submit(w http.ResponseWriter, r *http.Request, kind string) {
	ep, maxB64, imageField := EndpointIDCardOCR, e.cfg.MaxIDCardBase64, "idcardStr"
	if kind == KindBankCard {
		ep, maxB64, imageField = EndpointBankCardOCR, e.cfg.MaxBankCardBase64, "bankcardStr"
	}
	invalid := func(reason, what string) {
		e.fail(w, ep, reason, codeInvalid, "不合法请求："+what, true)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		invalid("invalid_request", "Content-Type 须为 application/json")
		return
	}
	// Room for the longest image string (even with "\/" escapes) plus the
	// other fields.
	limit := maxB64 + maxB64/16 + 64<<10
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e.fail(w, ep, "too_large", codeBadImage, "视频或图片异常："+imageField+" 超过长度限制", true)
			return
		}
		invalid("invalid_request", "读取请求失败")
		return
	}
	var req submitRequest
	if err := json.Unmarshal(body, &req); err != nil {
		invalid("invalid_request", "请求报文格式错误")
		return
	}
	appID := req.AppID
	if appID == "" {
		appID = req.WebankAppID
	} else if req.WebankAppID != "" && req.WebankAppID != appID {
		invalid("invalid_request", "appId 与 webankAppId 不一致")
		return
	}
	image := req.IDCardStr
	if kind == KindBankCard {
		image = req.BankcardStr
	}
	switch {
	case appID == "":
		invalid("invalid_request", "缺少 appId")
		return
	case req.Version != apiVersion:
		invalid("invalid_request", "version 错误")
		return
	case !validNonce(req.Nonce):
		invalid("invalid_request", "nonce 须为32位字母数字")
		return
	case !validSign(req.Sign):
		invalid("invalid_request", "sign 格式错误")
		return
	case req.OrderNo == "":
		invalid("invalid_request", "缺少 orderNo")
		return
	case !validOrderNo(req.OrderNo):
		e.fail(w, ep, "bad_order_no", codeParamTooLong, "参数过长：orderNo", true)
		return
	case r.URL.Query().Has("orderNo") && r.URL.Query().Get("orderNo") != req.OrderNo:
		invalid("order_no_mismatch", "URL 与报文 orderNo 不一致")
		return
	case !validUserID(req.UserID):
		invalid("invalid_request", "userId 含特殊字符或过长")
		return
	case kind == KindIDCard && req.CardType != nil && *req.CardType != "0" && *req.CardType != "1":
		invalid("invalid_request", "cardType 须为 0 或 1")
		return
	case image == "":
		invalid("invalid_request", "缺少 "+imageField)
		return
	case appID != e.cfg.AppID:
		invalid("unknown_app", "appId 错误")
		return
	}
	now := e.now()
	tk, reason := e.verifySign(req.Sign, now, appID, req.OrderNo, req.Nonce, req.Version)
	if reason != "" {
		invalid(reason, "签名校验失败")
		return
	}
	if !e.reserveOrder(req.OrderNo, kind, appID, now) {
		e.fail(w, ep, "duplicate_order", e.cfg.DuplicateOrderCode, "订单号重复：orderNo", true)
		return
	}

	// The image. The limit is on the string as sent, whatever it decodes to.
	if int64(len(image)) > maxB64 {
		e.fail(w, ep, "too_large", codeBadImage, "视频或图片异常："+imageField+" 超过长度限制", true)
		return
	}
	raw, err := base64.StdEncoding.DecodeString(image)
	if err != nil {
		e.fail(w, ep, "not_image", codeNotImage, "", true)
		return
	}
	format, decodeOK, spec, hasMarker := inspectImage(raw)
	if decodeOK && !hasMarker {
		side := SideFront
		if req.CardType != nil && *req.CardType == "1" {
			side = SideBack
		}
		spec, hasMarker = photoSpec(raw, kind, side), true
	}
	switch {
	case format == "":
		e.fail(w, ep, "not_image", codeNotImage, "", true)
		return
	case !decodeOK:
		e.fail(w, ep, "decode_error", codeDecode, "", true)
		return
	}
	var jpg []byte
	if format == formatJPEG {
		jpg = raw
	}
	if kind == KindIDCard {
		cardType := ""
		if req.CardType != nil {
			cardType = *req.CardType
		}
		rec := recognizeIDCard(spec, hasMarker, cardType, now)
		if rec.code != codeOK {
			e.fail(w, ep, rec.reason, rec.code, "", true)
			return
		}
		e.finishOrder(req.OrderNo, spec, jpg, func(o *order) { o.id = rec })
		e.count("accepted:" + ep)
		e.answerIDCard(w, req, rec, tk, now)
		return
	}
	rec := recognizeBankCard(spec, hasMarker, now)
	if rec.code != codeOK {
		e.fail(w, ep, rec.reason, rec.code, "", true)
		return
	}
	e.finishOrder(req.OrderNo, spec, jpg, func(o *order) { o.bank = rec })
	e.count("accepted:" + ep)
	e.answerBankCard(w, req, rec, spec, now)
}

func (e *Emulator) finishOrder(orderNo string, spec CardSpec, jpg []byte, set func(*order)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if o, ok := e.orders[orderNo]; ok {
		o.done, o.spec, o.jpeg = true, spec, jpg
		set(o)
	}
}

// ID card recognition.

type idRecognition struct {
	code, reason                                           string
	side                                                   string
	name, sex, nation, birth, address, idcard, nativePlace string
	authority, validDate                                   string
	warning, clarity                                       string
}

func clarityOf(s CardSpec) string {
	if s.Clarity > 0 {
		return strconv.Itoa(s.Clarity)
	}
	m := s.Seed % 36
	if m < 0 {
		m = -m
	}
	return strconv.FormatInt(60+m, 10)
}

// today returns midnight of t's date in China.
func today(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

func recognizeIDCard(s CardSpec, hasMarker bool, cardType string, now time.Time) idRecognition {
	return recognizeIDCardAs(s, hasMarker, cardType, now, true)
}

// recognizeIDCardAs recognizes a card; judgeExpiry refuses an expired one
// (WeBank does: 66661003; Tencent Cloud OCR reads it and leaves the
// judgement to the caller).
func recognizeIDCardAs(s CardSpec, hasMarker bool, cardType string, now time.Time, judgeExpiry bool) idRecognition {
	fail := func(reason, code string) idRecognition { return idRecognition{code: code, reason: reason} }
	if !hasMarker || s.Kind != KindIDCard {
		return fail("not_recognized", codeAdjust)
	}
	switch {
	case cardType == "0" && s.Side != SideFront:
		return fail("wrong_side", codeNotFront)
	case cardType == "1" && s.Side != SideBack:
		return fail("wrong_side", codeNotBack)
	case s.Code != "" && s.Code != codeOK:
		return fail("forced", s.Code)
	case s.Blurry:
		return fail("not_recognized", codeAdjust)
	}
	p := Person(s.Seed)
	rec := idRecognition{code: codeOK, side: s.Side, warning: s.Warning, clarity: clarityOf(s)}
	if rec.warning == "" {
		rec.warning = "00000000"
	}
	if s.Side == SideFront {
		if s.Unreadable {
			return fail("unreadable", codeUnreadableID)
		}
		id := p.IDNumber
		if s.IDNumber != "" {
			id = s.IDNumber
		}
		if s.BadCheckDigit && len(id) == 18 {
			c := "0123456789X"
			i := strings.IndexByte(c, id[17])
			id = id[:17] + string(c[(i+1)%len(c)])
		}
		name := p.Name
		if s.Name != "" {
			name = s.Name
		}
		if !validIDNumber(id) || utf8.RuneCountInString(name) < 2 {
			return fail("unreadable", codeUnreadableID)
		}
		rec.idcard, rec.name = id, name
		rec.sex, rec.birth, rec.nation, rec.address = p.Sex, p.Birth, p.Nation, p.Address
		if s.Sex != "" {
			rec.sex = s.Sex
		}
		if s.Birth != "" {
			rec.birth = s.Birth
		}
		if reg, ok := regionByCode(id[:6]); ok {
			rec.nativePlace = reg.place()
		}
		return rec
	}
	if s.Unreadable {
		return fail("unreadable", codeNoAuthority)
	}
	from, to := p.ValidFrom, p.ValidTo
	if s.ValidFrom != "" {
		from = s.ValidFrom
	}
	if s.ValidTo != "" {
		to = s.ValidTo
	}
	f, err := time.ParseInLocation("20060102", from, cst)
	if err != nil || len(from) != 8 {
		return fail("bad_dates", codeBadDates)
	}
	if to != LongTerm {
		t, err := time.ParseInLocation("20060102", to, cst)
		if err != nil || len(to) != 8 || t.Before(f) {
			return fail("bad_dates", codeBadDates)
		}
		if judgeExpiry && t.Before(today(now)) {
			return fail("expired_card", codeExpiredCard)
		}
	}
	rec.authority = p.Authority
	rec.validDate = from + "-" + to
	return rec
}

type idSubmitResult struct {
	BizSeqNo        string `json:"bizSeqNo"`
	TransactionTime string `json:"transactionTime"`
	OcrID           string `json:"ocrId"`
	OrderNo         string `json:"orderNo"`
	Name            string `json:"name,omitempty"`
	Sex             string `json:"sex,omitempty"`
	Nation          string `json:"nation,omitempty"`
	Birth           string `json:"birth,omitempty"`
	Address         string `json:"address,omitempty"`
	IDCard          string `json:"idcard,omitempty"`
	ValidDate       string `json:"validDate,omitempty"`
	Authority       string `json:"authority,omitempty"`
	Warning         string `json:"warning"`
	Sign            string `json:"sign"`
	Clarity         string `json:"clarity"`
	MultiWarning    string `json:"multiWarning"`
	Retry           string `json:"retry"`
	NativePlace     string `json:"nativePlace,omitempty"`
	Success         bool   `json:"success"`
}

type envelope struct {
	Code            string `json:"code"`
	Msg             string `json:"msg"`
	BizSeqNo        string `json:"bizSeqNo"`
	Result          any    `json:"result"`
	TransactionTime string `json:"transactionTime"`
}

func (e *Emulator) answerIDCard(w http.ResponseWriter, req submitRequest, rec idRecognition, tk string, now time.Time) {
	biz := e.bizSeqNo(now)
	res := idSubmitResult{
		BizSeqNo: biz, TransactionTime: stamp(now), OcrID: randomHex(16), OrderNo: req.OrderNo,
		Warning: rec.warning, MultiWarning: rec.warning, Clarity: rec.clarity, Retry: "1",
		// [I] like the legacy SDK-result signature: appId, orderNo, ticket.
		Sign: sign.Sign(e.cfg.AppID, req.OrderNo, tk),
	}
	if rec.side == SideFront {
		res.Name, res.Sex, res.Nation, res.Birth, res.Address, res.IDCard = rec.name, rec.sex, rec.nation, rec.birth, rec.address, rec.idcard
		if req.GetNative == "1" {
			res.NativePlace = rec.nativePlace
		}
	} else {
		res.ValidDate, res.Authority = rec.validDate, rec.authority
	}
	writeJSON(w, http.StatusOK, envelope{Code: codeOK, Msg: msgOK, BizSeqNo: biz, Result: res, TransactionTime: stamp(now)})
}

// Bank card recognition.

type bankRecognition struct {
	code, reason      string
	number, validDate string
	warnings          []string
	clarity           string
}

func (b bankRecognition) warningCode() string {
	if len(b.warnings) == 0 {
		return "0"
	}
	return b.warnings[0]
}

func (b bankRecognition) multiWarningCode() string {
	if len(b.warnings) == 0 {
		return "0"
	}
	return "[" + strings.Join(b.warnings, ",") + "]"
}

func recognizeBankCard(s CardSpec, hasMarker bool, now time.Time) bankRecognition {
	fail := func(reason, code string) bankRecognition { return bankRecognition{code: code, reason: reason} }
	switch {
	case !hasMarker || s.Kind != KindBankCard:
		return fail("not_recognized", codeNotBankCard)
	case s.Code != "" && s.Code != codeOK:
		return fail("forced", s.Code)
	case s.Unreadable:
		return fail("unreadable", codeBankFailed)
	case s.Blurry:
		return fail("blurry", codeBankBlurry)
	}
	d := BankCard(s.Seed)
	rec := bankRecognition{code: codeOK, number: d.Number, validDate: d.ValidThru, clarity: clarityOf(s)}
	if s.CardNumber != "" {
		rec.number = s.CardNumber
	}
	if s.BadLuhn && LuhnValid(rec.number) {
		rec.number = breakLuhn(rec.number)
	}
	if s.ValidTo != "" {
		rec.validDate = s.ValidTo
	}
	rec.warnings = splitWarnings(s.Warning)
	if t, err := time.ParseInLocation("01/2006", rec.validDate, cst); err != nil || len(rec.validDate) != 7 {
		if !contains(rec.warnings, "-9110") {
			rec.warnings = append(rec.warnings, "-9110")
		}
	} else if !t.AddDate(0, 1, 0).After(today(now)) && !contains(rec.warnings, codeBankExpiredWn) {
		rec.warnings = append(rec.warnings, codeBankExpiredWn)
	}
	return rec
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

type bankSubmitResult struct {
	BizSeqNo          string `json:"bizSeqNo"`
	TransactionTime   string `json:"transactionTime"`
	OrderNo           string `json:"orderNo"`
	BankcardNo        string `json:"bankcardNo"`
	BankcardValidDate string `json:"bankcardValidDate"`
	WarningCode       string `json:"warningCode"`
	BankcardNoPhoto   string `json:"bankcardNoPhoto"`
	MultiWarningCode  string `json:"multiWarningCode"`
	Clarity           string `json:"clarity"`
	Success           bool   `json:"success"`
}

func (e *Emulator) answerBankCard(w http.ResponseWriter, req submitRequest, rec bankRecognition, spec CardSpec, now time.Time) {
	biz := e.bizSeqNo(now)
	res := bankSubmitResult{
		BizSeqNo: biz, TransactionTime: stamp(now), OrderNo: req.OrderNo,
		BankcardNo: rec.number, BankcardValidDate: rec.validDate,
		WarningCode: rec.warningCode(), MultiWarningCode: rec.multiWarningCode(),
		BankcardNoPhoto: b64(numberStrip(spec)), Clarity: rec.clarity,
	}
	writeJSON(w, http.StatusOK, envelope{Code: codeOK, Msg: msgOK, BizSeqNo: biz, Result: res, TransactionTime: stamp(now)})
}

// Result queries: getOcrResult and getBankCardOcrResult.

type idQueryResult struct {
	BizSeqNo          string `json:"bizSeqNo"`
	TransactionTime   string `json:"transactionTime"`
	FrontCode         string `json:"frontCode"`
	BackCode          string `json:"backCode"`
	OrderNo           string `json:"orderNo"`
	Name              string `json:"name,omitempty"`
	Sex               string `json:"sex,omitempty"`
	Nation            string `json:"nation,omitempty"`
	Birth             string `json:"birth,omitempty"`
	Address           string `json:"address,omitempty"`
	IDCard            string `json:"idcard,omitempty"`
	NativePlace       string `json:"nativePlace,omitempty"`
	ValidDate         string `json:"validDate,omitempty"`
	Authority         string `json:"authority,omitempty"`
	OperateTime       string `json:"operateTime"`
	FrontWarnCode     string `json:"frontWarnCode,omitempty"`
	BackWarnCode      string `json:"backWarnCode,omitempty"`
	FrontMultiWarning string `json:"frontMultiWarning,omitempty"`
	BackMultiWarning  string `json:"backMultiWarning,omitempty"`
	FrontClarity      string `json:"frontClarity,omitempty"`
	BackClarity       string `json:"backClarity,omitempty"`
	FrontPhoto        string `json:"frontPhoto,omitempty"`
	BackPhoto         string `json:"backPhoto,omitempty"`
	FrontCrop         string `json:"frontCrop,omitempty"`
	BackCrop          string `json:"backCrop,omitempty"`
	HeadPhoto         string `json:"headPhoto,omitempty"`
	Success           bool   `json:"success"`
}

type bankQueryResult struct {
	BizSeqNo            string `json:"bizSeqNo"`
	TransactionTime     string `json:"transactionTime"`
	OrderNo             string `json:"orderNo"`
	BankCardNo          string `json:"bankCardNo"`
	BankCardValidDate   string `json:"bankCardValidDate"`
	WarnCode            string `json:"warnCode"`
	MultiWarnCode       string `json:"multiWarnCode"`
	OperateTime         string `json:"operateTime"`
	Clarity             string `json:"clarity"`
	BankcardCropPhoto   string `json:"bankcardCropPhoto,omitempty"`
	BankcardNoPhoto     string `json:"bankcardNoPhoto,omitempty"`
	OriginBankcardPhoto string `json:"originBankcardPhoto,omitempty"`
	Success             bool   `json:"success"`
}

func (e *Emulator) query(w http.ResponseWriter, r *http.Request, kind string) {
	ep := EndpointOCRResult
	if kind == KindBankCard {
		ep = EndpointBankCardResult
	}
	invalid := func(reason, what string) {
		e.fail(w, ep, reason, codeInvalid, "不合法请求："+what, true)
	}
	q := r.URL.Query()
	appID, orderNo, nonce, version, sg := q.Get("app_id"), q.Get("order_no"), q.Get("nonce"), q.Get("version"), q.Get("sign")
	switch {
	case appID == "":
		invalid("invalid_request", "缺少 app_id")
		return
	case orderNo == "":
		invalid("invalid_request", "缺少 order_no")
		return
	case !validOrderNo(orderNo):
		e.fail(w, ep, "bad_order_no", codeParamTooLong, "参数过长：order_no", true)
		return
	case !validNonce(nonce):
		invalid("invalid_request", "nonce 须为32位字母数字")
		return
	case version != apiVersion:
		invalid("invalid_request", "version 错误")
		return
	case !validSign(sg):
		invalid("invalid_request", "sign 格式错误")
		return
	case appID != e.cfg.AppID:
		invalid("unknown_app", "app_id 错误")
		return
	}
	now := e.now()
	if _, reason := e.verifySign(sg, now, appID, orderNo, version, nonce); reason != "" {
		invalid(reason, "签名校验失败")
		return
	}
	e.mu.Lock()
	o, ok := e.orders[orderNo]
	var snap order
	if ok {
		snap = *o
	}
	e.mu.Unlock()
	if !ok || !snap.done || snap.kind != kind || snap.appID != appID || now.Sub(snap.created) > e.cfg.OrderRetention {
		e.fail(w, ep, "no_result", codeNoResult, "", true)
		return
	}
	files := q.Get("get_file") == "1" && !now.Before(snap.photosAt)
	biz := e.bizSeqNo(now)
	var res any
	if kind == KindIDCard {
		res = idQuery(snap, biz, now, orderNo, files, q.Get("get_native") == "1")
	} else {
		res = bankQuery(snap, biz, now, orderNo, files)
	}
	writeJSON(w, http.StatusOK, envelope{Code: codeOK, Msg: msgOK, BizSeqNo: biz, Result: res, TransactionTime: stamp(now)})
}

func idQuery(o order, biz string, now time.Time, orderNo string, files, native bool) idQueryResult {
	rec := o.id
	res := idQueryResult{
		BizSeqNo: biz, TransactionTime: stamp(now), OrderNo: orderNo,
		OperateTime: operateTime(o.created),
		// The side not submitted in this order has no result.
		FrontCode: codeNoResult, BackCode: codeNoResult,
	}
	if rec.side == SideFront {
		res.FrontCode = codeOK
		res.Name, res.Sex, res.Nation, res.Birth, res.Address, res.IDCard = rec.name, rec.sex, rec.nation, rec.birth, rec.address, rec.idcard
		if native {
			res.NativePlace = rec.nativePlace
		}
		res.FrontWarnCode, res.FrontMultiWarning, res.FrontClarity = rec.warning, rec.warning, rec.clarity
		if files {
			res.FrontPhoto = b64(original(o))
			res.FrontCrop = b64(crop(o.spec))
			res.HeadPhoto = b64(headPhoto(o.spec))
		}
	} else {
		res.BackCode = codeOK
		res.ValidDate, res.Authority = rec.validDate, rec.authority
		res.BackWarnCode, res.BackMultiWarning, res.BackClarity = rec.warning, rec.warning, rec.clarity
		if files {
			res.BackPhoto = b64(original(o))
			res.BackCrop = b64(crop(o.spec))
		}
	}
	return res
}

func bankQuery(o order, biz string, now time.Time, orderNo string, files bool) bankQueryResult {
	rec := o.bank
	res := bankQueryResult{
		BizSeqNo: biz, TransactionTime: stamp(now), OrderNo: orderNo,
		BankCardNo: rec.number, BankCardValidDate: rec.validDate,
		WarnCode: rec.warningCode(), MultiWarnCode: rec.multiWarningCode(),
		OperateTime: operateTime(o.created), Clarity: rec.clarity,
	}
	if files {
		res.BankcardCropPhoto = b64(crop(o.spec))
		res.BankcardNoPhoto = b64(numberStrip(o.spec))
		res.OriginBankcardPhoto = b64(original(o))
	}
	return res
}

// Photos: always JPEG, as documented ("转换后为 JPG 格式").

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// original is the uploaded image, or a JPEG rendering of it when it was
// not a JPEG.
func original(o order) []byte {
	if o.jpeg != nil {
		return o.jpeg
	}
	w, h := o.spec.size()
	return encodeJPEG(o.spec.render(w, h))
}

func crop(s CardSpec) []byte {
	w, h := s.size()
	return encodeJPEG(s.render(max(8, w*7/8), max(8, h*7/8)))
}

func headPhoto(s CardSpec) []byte {
	w, h := s.size()
	img := s.render(w, h)
	return encodeJPEG(img.SubImage(imageRect(w-w/3, h/6, w-w/12, h-h/6)))
}

func numberStrip(s CardSpec) []byte {
	w, h := s.size()
	img := s.render(w, h)
	return encodeJPEG(img.SubImage(imageRect(0, 2*h/3-2, w, 2*h/3+h/10+2)))
}
