package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The WeChat endpoints (docs/protocol.md §7):
// cgi-bin/stable_token, cgi-bin/token and cv/ocr/idcard. They are served
// by path next to the WeBank ones (the paths do not clash).

// Credentials of the emulated WeChat app (the local stack writes them to
// .local/credentials.json as wechatAppId and wechatAppSecret).
const (
	DefaultWeChatAppID  = "wxe0e0e0e0e0e0e0e0"
	DefaultWeChatSecret = "0123456789abcdef0123456789abcdef"
)

// Endpoint names of the WeChat calls, for counters and faults.
const (
	EndpointWeChatStableToken = "wechat_stable_token"
	EndpointWeChatToken       = "wechat_token"
	EndpointWeChatIDCard      = "wechat_idcard"
)

// WeChatConfig configures the WeChat endpoints. Zero values take the
// defaults in brackets.
type WeChatConfig struct {
	AppID  string // [DefaultWeChatAppID]
	Secret string // [DefaultWeChatSecret]

	TokenTTL time.Duration // access_token lifetime [7200 s]
	// Overlap is both how early stable_token renews in normal mode and how
	// long cgi-bin/token leaves the previous token alive [5 min].
	Overlap time.Duration
	// ForceSpacing: force_refresh calls closer than this do not refresh
	// [30 s]. ForceDailyLimit: forced refreshes a day [20].
	ForceSpacing    time.Duration
	ForceDailyLimit int
	// TokenDailyLimit bounds cgi-bin/token calls a day [2000].
	TokenDailyLimit int
	// OCRDailyQuota is the free cv/ocr/idcard quota a day [100]; negative
	// means unlimited. Past it the answer is 45009.
	OCRDailyQuota int
	// MaxImage is the largest image accepted ["less than 2M": 2 MiB − 1].
	MaxImage int64
	// ImageHosts are loopback "host:port" addresses (a test's server)
	// whose img_url is downloaded; AllowImageHost adds more. Every other
	// img_url is never fetched and answers from the URL (URLImage).
	ImageHosts []string
	// DialContext dials those downloads [LoopbackDialer]; whatever it is,
	// a non-loopback address is refused before it is called.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// WeChat codes the emulator answers with (docs/protocol.md §7).
const (
	wxSystemError   = -1
	wxInvalidCred   = 40001
	wxGrantType     = 40002
	wxInvalidAppID  = 40013
	wxBadSecret     = 40125
	wxTokenMissing  = 41001
	wxAppIDMissing  = 41002
	wxSecretMissing = 41004
	wxTokenExpired  = 42001
	wxRequirePOST   = 43002
	wxRequireGET    = 43001
	wxDailyLimit    = 45009
	wxTooFrequent   = 45011
	wxDataFormat    = 47001
	wxInvalidArgs   = 40097
	wxBadImageURL   = 101000
	wxNoCertificate = 101001
	wxBadImageData  = 101002
	wxNoQuota       = 101003
)

var wxMsgs = map[int]string{
	wxSystemError:   "system error",
	wxInvalidCred:   "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
	wxGrantType:     "invalid grant_type",
	wxInvalidAppID:  "invalid appid",
	wxBadSecret:     "invalid appsecret",
	wxTokenMissing:  "access_token missing",
	wxAppIDMissing:  "appid missing",
	wxSecretMissing: "appsecret missing",
	wxTokenExpired:  "access_token expired",
	wxRequirePOST:   "require POST method",
	wxRequireGET:    "require GET method",
	wxDailyLimit:    "reach max api daily quota limit",
	wxTooFrequent:   "api minute-quota reach limit  mustslower  retry next minute",
	wxDataFormat:    "data format error",
	wxInvalidArgs:   "invalid args",
	wxBadImageURL:   "invalid image url",
	wxNoCertificate: "certificate not found",
	wxBadImageData:  "invalid image data",
	wxNoQuota:       "not enough market quota",
}

type wxToken struct {
	value   string
	stable  bool
	expires time.Time
	killed  time.Time // zero: alive until expires
}

type wechatState struct {
	cfg WeChatConfig

	mu        sync.Mutex
	tokens    map[string]*wxToken
	stable    *wxToken // the current stable token
	basic     *wxToken // the current cgi-bin/token token
	lastForce time.Time
	day       string
	forces    int
	basics    int
	ocrCalls  int

	imageHosts map[string]bool // AllowImageHost
	http       *http.Client    // downloads from imageHosts only
}

func (e *Emulator) registerWeChat() {
	c := e.cfg.WeChat
	if c.AppID == "" {
		c.AppID = DefaultWeChatAppID
	}
	if c.Secret == "" {
		c.Secret = DefaultWeChatSecret
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 7200 * time.Second
	}
	if c.Overlap <= 0 {
		c.Overlap = 5 * time.Minute
	}
	if c.ForceSpacing <= 0 {
		c.ForceSpacing = 30 * time.Second
	}
	if c.ForceDailyLimit <= 0 {
		c.ForceDailyLimit = 20
	}
	if c.TokenDailyLimit <= 0 {
		c.TokenDailyLimit = 2000
	}
	if c.OCRDailyQuota == 0 {
		c.OCRDailyQuota = 100
	}
	if c.MaxImage <= 0 {
		c.MaxImage = 2<<20 - 1
	}
	if c.DialContext == nil {
		c.DialContext = LoopbackDialer
	}
	e.wx = &wechatState{cfg: c, tokens: map[string]*wxToken{}, imageHosts: map[string]bool{}, http: imageClient(c.DialContext)}
	for _, h := range c.ImageHosts {
		if checkLoopback(h) == nil {
			e.wx.imageHosts[h] = true
		}
	}
	e.handleWeChat(http.MethodPost, "/cgi-bin/stable_token", EndpointWeChatStableToken, e.wxStableToken)
	e.handleWeChat(http.MethodGet, "/cgi-bin/token", EndpointWeChatToken, e.wxToken)
	e.handleWeChat(http.MethodPost, "/cv/ocr/idcard", EndpointWeChatIDCard, e.wxIDCard)
}

// handleWeChat registers a WeChat endpoint: count, method check (answered
// the WeChat way: HTTP 200 with an errcode), faults, then h.
func (e *Emulator) handleWeChat(method, path, name string, h http.HandlerFunc) {
	e.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		e.count(name)
		if r.Method != method {
			code := wxRequirePOST
			if method == http.MethodGet {
				code = wxRequireGET
			}
			e.wxFail(w, name, "method_not_allowed", code)
			return
		}
		e.withFaults(w, r, name, h)
	})
}

type wxError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// wxFail answers an errcode (HTTP 200, as WeChat does) with the " rid: …"
// suffix real answers carry, and counts reason.
func (e *Emulator) wxFail(w http.ResponseWriter, endpoint, reason string, code int) {
	e.reject(endpoint, reason)
	writeJSON(w, http.StatusOK, wxError{ErrCode: code, ErrMsg: wxMsgs[code] + " rid: " + randomHex(4) + "-" + randomHex(4) + "-" + randomHex(6)})
}

// rollDay resets the daily counters at midnight China time. Caller holds mu.
func (s *wechatState) rollDay(now time.Time) {
	if d := now.In(cst).Format("20060102"); d != s.day {
		s.day, s.forces, s.basics, s.ocrCalls = d, 0, 0, 0
	}
}

// issue makes a new token of a family. Caller holds mu.
func (s *wechatState) issue(stable bool, now time.Time) *wxToken {
	t := &wxToken{value: randomToken(136), stable: stable, expires: now.Add(s.cfg.TokenTTL)}
	s.tokens[t.value] = t
	// Forget tokens long dead (an expired token is still known for a day,
	// so that it gets 42001 rather than 40001).
	for v, old := range s.tokens {
		if now.Sub(old.expires) > 24*time.Hour || (!old.killed.IsZero() && now.Sub(old.killed) > 24*time.Hour) {
			delete(s.tokens, v)
		}
	}
	return t
}

// check returns 0 when value is a live token, else its errcode.
func (s *wechatState) check(value string, now time.Time) int {
	t, ok := s.tokens[value]
	switch {
	case !ok:
		return wxInvalidCred
	case !t.killed.IsZero() && !now.Before(t.killed):
		return wxInvalidCred
	case !now.Before(t.expires):
		return wxTokenExpired
	}
	return 0
}

type wxTokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func answerToken(w http.ResponseWriter, t *wxToken, now time.Time) {
	writeJSON(w, http.StatusOK, wxTokenAnswer{AccessToken: t.value, ExpiresIn: int64(t.expires.Sub(now) / time.Second)})
}

// wxStableToken is cgi-bin/stable_token: normal mode returns the current
// token until five minutes before it expires, then a new one (the old one
// living on until its own expiry); force_refresh kills the current token
// at once and returns a new one, at most 20 times a day and only when the
// previous forced call is at least 30 s old (else it is a normal call).
func (e *Emulator) wxStableToken(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointWeChatStableToken
	var body struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh *bool  `json:"force_refresh"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<10))
	if err != nil || json.Unmarshal(b, &body) != nil {
		e.wxFail(w, ep, "invalid_request", wxDataFormat)
		return
	}
	if reason, code := e.wxCheckCredentials(body.GrantType, body.AppID, body.Secret); code != 0 {
		e.wxFail(w, ep, reason, code)
		return
	}
	s := e.wx
	now := e.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDay(now)
	force := body.ForceRefresh != nil && *body.ForceRefresh
	if force && (s.lastForce.IsZero() || now.Sub(s.lastForce) >= s.cfg.ForceSpacing) {
		if s.forces >= s.cfg.ForceDailyLimit {
			e.wxFail(w, ep, "force_limit", wxDailyLimit)
			return
		}
		s.forces++
		s.lastForce = now
		e.count("wechat:force_refresh")
		if s.stable != nil {
			s.stable.killed = now
		}
		s.stable = s.issue(true, now)
		answerToken(w, s.stable, now)
		return
	}
	cur := s.stable
	if cur == nil || s.check(cur.value, now) != 0 || !now.Before(cur.expires.Add(-s.cfg.Overlap)) {
		s.stable = s.issue(true, now)
	}
	answerToken(w, s.stable, now)
}

// wxToken is cgi-bin/token: every call issues a new token; the previous
// one stays usable for five more minutes (at most until its own expiry).
func (e *Emulator) wxToken(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointWeChatToken
	q := r.URL.Query()
	if reason, code := e.wxCheckCredentials(q.Get("grant_type"), q.Get("appid"), q.Get("secret")); code != 0 {
		e.wxFail(w, ep, reason, code)
		return
	}
	s := e.wx
	now := e.now()
	s.mu.Lock()
	s.rollDay(now)
	if s.basics >= s.cfg.TokenDailyLimit {
		s.mu.Unlock()
		e.wxFail(w, ep, "daily_limit", wxDailyLimit)
		return
	}
	s.basics++
	if old := s.basic; old != nil && (old.killed.IsZero() || old.killed.After(now.Add(s.cfg.Overlap))) {
		old.killed = now.Add(s.cfg.Overlap)
	}
	s.basic = s.issue(false, now)
	t := *s.basic
	s.mu.Unlock()
	answerToken(w, &t, now)
}

func (e *Emulator) wxCheckCredentials(grantType, appID, secret string) (reason string, code int) {
	c := e.wx.cfg
	switch {
	case appID == "":
		return "invalid_request", wxAppIDMissing
	case secret == "":
		return "invalid_request", wxSecretMissing
	case grantType != "client_credential":
		return "invalid_request", wxGrantType
	case appID != c.AppID:
		return "unknown_app", wxInvalidAppID
	case secret != c.Secret:
		return "bad_secret", wxBadSecret
	}
	return "", 0
}

// The OCR answers. The document's own examples send errcode as the string
// "0" for the portrait side and as the number 0 for the emblem side; the
// emulator does the same, so clients must read it either way.
type wxFrontAnswer struct {
	ErrCode     string `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	ID          string `json:"id"`
	Addr        string `json:"addr"`
	Gender      string `json:"gender"`
	Nationality string `json:"nationality"`
}

type wxBackAnswer struct {
	ErrCode   int    `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	Type      string `json:"type"`
	ValidDate string `json:"valid_date"`
}

// wxIDCard is cv/ocr/idcard: access_token and type in the query, the image
// as the multipart field img or downloaded from img_url.
func (e *Emulator) wxIDCard(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointWeChatIDCard
	s := e.wx
	q := r.URL.Query()
	tok := q.Get("access_token")
	if tok == "" {
		e.wxFail(w, ep, "no_token", wxTokenMissing)
		return
	}
	now := e.now()
	s.mu.Lock()
	code := s.check(tok, now)
	s.mu.Unlock()
	switch code {
	case wxInvalidCred:
		e.wxFail(w, ep, "bad_token", code)
		return
	case wxTokenExpired:
		e.wxFail(w, ep, "expired_token", code)
		return
	}
	if m := q.Get("type"); m != "" && m != "photo" && m != "scan" {
		e.wxFail(w, ep, "invalid_request", wxInvalidArgs)
		return
	}

	raw, reason, code := e.wxImage(w, r)
	if code != 0 {
		e.wxFail(w, ep, reason, code)
		return
	}
	s.mu.Lock()
	s.rollDay(now)
	if s.cfg.OCRDailyQuota >= 0 && s.ocrCalls >= s.cfg.OCRDailyQuota {
		s.mu.Unlock()
		e.wxFail(w, ep, "quota", wxDailyLimit)
		return
	}
	s.ocrCalls++
	s.mu.Unlock()

	format, decodeOK, spec, hasMarker := inspectImage(raw)
	if decodeOK && !hasMarker { // any photo: the portrait side (WeChat detects it)
		spec, hasMarker = photoSpec(raw, KindIDCard, SideFront), true
	}
	switch {
	case format == "" || !decodeOK:
		e.wxFail(w, ep, "bad_image", wxBadImageData)
		return
	case !hasMarker || spec.Kind != KindIDCard || spec.Blurry || spec.Unreadable:
		e.wxFail(w, ep, "not_recognized", wxNoCertificate)
		return
	case spec.Code != "" && spec.Code != "0":
		var c int
		if _, err := fmt.Sscan(spec.Code, &c); err == nil && wxMsgs[c] != "" {
			e.wxFail(w, ep, "forced", c)
			return
		}
		e.wxFail(w, ep, "forced", wxNoCertificate)
		return
	}
	p := Person(spec.Seed)
	if spec.Side == SideBack {
		from, to := p.ValidFrom, p.ValidTo
		if spec.ValidFrom != "" {
			from = spec.ValidFrom
		}
		if spec.ValidTo != "" {
			to = spec.ValidTo
		}
		writeJSON(w, http.StatusOK, wxBackAnswer{ErrCode: 0, ErrMsg: "ok", Type: "Back", ValidDate: from + "-" + to})
		return
	}
	a := wxFrontAnswer{ErrCode: "0", ErrMsg: "ok", Type: "Front", Name: p.Name, ID: p.IDNumber, Addr: p.Address, Gender: p.Sex, Nationality: p.Nation}
	if spec.Name != "" {
		a.Name = spec.Name
	}
	if spec.IDNumber != "" {
		a.ID = spec.IDNumber
	}
	if spec.BadCheckDigit && len(a.ID) == 18 {
		c := "0123456789X"
		i := strings.IndexByte(c, a.ID[17])
		a.ID = a.ID[:17] + string(c[(i+1)%len(c)])
	}
	if spec.Sex != "" {
		a.Gender = spec.Sex
	}
	writeJSON(w, http.StatusOK, a)
}

// wxImage reads the image: the multipart field img, else img_url.
func (e *Emulator) wxImage(w http.ResponseWriter, r *http.Request) (raw []byte, reason string, code int) {
	maxImg := e.wx.cfg.MaxImage
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxImg+64<<10)
		mr, err := r.MultipartReader()
		if err != nil || params["boundary"] == "" {
			return nil, "invalid_request", wxDataFormat
		}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return nil, "too_large", wxBadImageData
				}
				return nil, "invalid_request", wxDataFormat
			}
			if p.FormName() != "img" {
				continue
			}
			b, err := io.ReadAll(io.LimitReader(p, maxImg+1))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return nil, "too_large", wxBadImageData
				}
				return nil, "invalid_request", wxDataFormat
			}
			if int64(len(b)) > maxImg {
				return nil, "too_large", wxBadImageData
			}
			return b, "", 0
		}
	}
	u := r.URL.Query().Get("img_url")
	if u == "" {
		return nil, "no_image", wxBadImageURL
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	b, err := e.fetchImageURL(ctx, u)
	switch {
	case err != nil:
		return nil, "image_url", wxBadImageURL
	case int64(len(b)) > maxImg:
		return nil, "too_large", wxBadImageData
	}
	return b, "", 0
}

// Knobs.

// RotateWeChatStableToken does what a force_refresh made by someone else
// (another system holding the same AppSecret) does: the current stable
// token dies now and a new one is current. It does not count as a forced
// call of this emulator's clients.
func (e *Emulator) RotateWeChatStableToken() {
	s := e.wx
	now := e.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stable != nil {
		s.stable.killed = now
	}
	s.stable = s.issue(true, now)
}

// ExpireWeChatTokens ends every WeChat token now, as if they had all
// reached their expiry (they answer 42001 from then on).
func (e *Emulator) ExpireWeChatTokens() {
	s := e.wx
	now := e.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.expires.After(now) {
			t.expires = now
		}
	}
}

// SetWeChatOCRQuota changes the daily cv/ocr/idcard quota (negative:
// unlimited). Calls already made today still count.
func (e *Emulator) SetWeChatOCRQuota(n int) {
	e.wx.mu.Lock()
	defer e.wx.mu.Unlock()
	e.wx.cfg.OCRDailyQuota = n
}

// WeChatOCRCallsToday returns how many cv/ocr/idcard calls used the quota
// today (China time).
func (e *Emulator) WeChatOCRCallsToday() int {
	s := e.wx
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDay(e.now())
	return s.ocrCalls
}
