package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"
)

// Credentials the local stack (make run) uses.
const (
	DefaultAppID  = "IDAEMU01"
	DefaultSecret = "EmulatorSecret0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
)

// Endpoint names, for counters and faults.
const (
	EndpointAccessToken    = "access_token"
	EndpointAPITicket      = "api_ticket"
	EndpointIDCardOCR      = "idcardocrapp"
	EndpointOCRResult      = "getOcrResult"
	EndpointBankCardOCR    = "bankcardocrapp"
	EndpointBankCardResult = "getBankCardOcrResult"
	AllEndpoints           = "*" // SetFault target matching every endpoint without its own fault
	defaultTokenTTL        = 7200 * time.Second
	defaultTicketTTL       = 3600 * time.Second
	defaultNonceTTL        = 120 * time.Second
	defaultOverlap         = 60 * time.Second
	defaultOrderRetention  = 72 * time.Hour
	// The documented limits are on the Base64 text, not on the image:
	// idcardStr "图片的 Base64，大小不超过20MB" with length 20971520, and
	// bankcardStr "Base64 String … 大小不超过3MB".
	defaultMaxIDCardBase64   int64 = 20971520
	defaultMaxBankCardBase64 int64 = 3 << 20
	defaultDuplicateCode           = codeParamTooLong
)

// Config configures an Emulator. Zero values take the defaults in brackets.
type Config struct {
	AppID  string // [DefaultAppID]
	Secret string // [DefaultSecret]

	TokenTTL  time.Duration // access_token lifetime [7200 s]
	TicketTTL time.Duration // SIGN ticket lifetime [3600 s]
	NonceTTL  time.Duration // NONCE ticket lifetime [120 s]
	// Overlap is how long a superseded token (with its tickets) or a
	// superseded SIGN ticket stays valid [60 s]; negative means none.
	Overlap time.Duration

	// ExpireInAsNumber sends expire_in as a JSON number instead of the
	// documented string.
	ExpireInAsNumber bool

	// Longest Base64 string accepted in idcardStr [20971520] and in
	// bankcardStr [3145728]; longer ones get 66660015 (视频或图片异常).
	MaxIDCardBase64, MaxBankCardBase64 int64

	// DuplicateOrderCode answers a submission whose orderNo was used
	// before [66660000]. The documents require a unique orderNo per call
	// but not the answer to a repeat, so tests vary it.
	DuplicateOrderCode string

	// OrderRetention is how long results are kept and order numbers are
	// remembered as used [72 h].
	OrderRetention time.Duration
	// PhotoDelay: for this long after a submission, queries with get_file=1
	// answer without photos ("部分情况下获取照片会有1秒左右的延迟") [0].
	// Each order keeps the delay in force when it was submitted;
	// SetPhotoDelay changes it for later orders.
	PhotoDelay time.Duration

	// WeChat configures the WeChat endpoints (wechat.go).
	WeChat WeChatConfig
	// TencentCloud configures the Tencent Cloud OCR endpoint (tencentcloud.go).
	TencentCloud TencentCloudConfig

	Now    func() time.Time // [time.Now]
	Logger *slog.Logger     // [discard]; never given personal data, tokens or images
}

// Emulator is an in-process WeBank KYC API. It is an http.Handler and safe
// for concurrent use.
type Emulator struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger

	mu      sync.Mutex
	tcForce *tcForced // SetTencentCloudError
	secret  string
	tokens  map[string]*token
	tickets map[string]*ticket
	orders  map[string]*order
	seq     uint64
	// photoDelay is Config.PhotoDelay, changed by SetPhotoDelay.
	photoDelay time.Duration

	faults faults

	wx *wechatState // the WeChat endpoints' state (wechat.go)

	cmu    sync.Mutex
	counts map[string]int64
}

// New returns an emulator configured by cfg.
func New(cfg Config) *Emulator {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.AppID == "" {
		cfg.AppID = DefaultAppID
	}
	if cfg.Secret == "" {
		cfg.Secret = DefaultSecret
	}
	def(&cfg.TokenTTL, defaultTokenTTL)
	def(&cfg.TicketTTL, defaultTicketTTL)
	def(&cfg.NonceTTL, defaultNonceTTL)
	def(&cfg.Overlap, defaultOverlap)
	if cfg.Overlap < 0 {
		cfg.Overlap = 0
	}
	def(&cfg.OrderRetention, defaultOrderRetention)
	if cfg.MaxIDCardBase64 <= 0 {
		cfg.MaxIDCardBase64 = defaultMaxIDCardBase64
	}
	if cfg.MaxBankCardBase64 <= 0 {
		cfg.MaxBankCardBase64 = defaultMaxBankCardBase64
	}
	if cfg.DuplicateOrderCode == "" {
		cfg.DuplicateOrderCode = defaultDuplicateCode
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Emulator{
		cfg:     cfg,
		mux:     http.NewServeMux(),
		log:     cfg.Logger,
		secret:  cfg.Secret,
		tokens:  map[string]*token{},
		tickets: map[string]*ticket{},
		orders:  map[string]*order{},
		counts:  map[string]int64{},

		photoDelay: cfg.PhotoDelay,
	}
	e.faults.byEndpoint = map[string]*faultState{}
	e.registerWeBank()
	e.registerWeChat()
	e.registerTencentCloud()
	e.registerNotFound()
	return e
}

// ServeHTTP serves the emulated APIs. Unknown paths get HTTP 404 and
// known paths with the wrong method HTTP 405, both with a JSON body whose
// code is "400101".
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mux.ServeHTTP(w, r)
}

// handle registers an endpoint: it counts the call, applies faults and
// method checks, then runs h.
func (e *Emulator) handle(method, path, name string, h http.HandlerFunc) {
	e.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		e.count(name)
		if r.Method != method {
			e.reject(name, "method_not_allowed")
			w.Header().Set("Allow", method)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody("400101", "不合法请求：请求方法错误", e.now()))
			return
		}
		e.withFaults(w, r, name, h)
	})
}

func (e *Emulator) registerNotFound() {
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.reject("", "not_found")
		writeJSON(w, http.StatusNotFound, errorBody("400101", "不合法请求：接口不存在", e.now()))
	})
}

// SetPhotoDelay sets the photo delay of orders submitted from now on
// (orders already submitted keep theirs).
func (e *Emulator) SetPhotoDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.photoDelay = d
}

// Counters.

// Counts returns a copy of all counters: received calls per endpoint name
// (EndpointAccessToken, …), "accepted:<endpoint>" for submissions that
// recognized a card (the billable ones), "rejected:<reason>" for answers
// with a non-zero code, and "fault:<kind>" for injected faults.
func (e *Emulator) Counts() map[string]int64 {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	return maps.Clone(e.counts)
}

// Count returns one counter of Counts (0 if never incremented).
func (e *Emulator) Count(name string) int64 {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	return e.counts[name]
}

// ResetCounts sets every counter to zero.
func (e *Emulator) ResetCounts() {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	clear(e.counts)
}

func (e *Emulator) count(name string) {
	e.cmu.Lock()
	e.counts[name]++
	e.cmu.Unlock()
}

func (e *Emulator) reject(endpoint, reason string) {
	e.count("rejected:" + reason)
	e.log.Debug("emulator: rejected", "endpoint", endpoint, "reason", reason)
}

// Time and identifiers.

// cst is China Standard Time, the zone of the upstream's timestamps.
var cst = time.FixedZone("CST", 8*3600)

func (e *Emulator) now() time.Time { return e.cfg.Now() }

func stamp(t time.Time) string { return t.In(cst).Format("20060102150405") }

func operateTime(t time.Time) string { return t.In(cst).Format("2006-01-02 15:04:05") }

// randomToken returns n random characters of [A-Za-z0-9].
func randomToken(n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("emulator: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		panic("emulator: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// bizSeqNo returns a 32-digit sequence number like the documented ones
// (date, then digits).
func (e *Emulator) bizSeqNo(t time.Time) string {
	e.mu.Lock()
	e.seq++
	n := e.seq
	e.mu.Unlock()
	s := t.In(cst).Format("060102") + "2000" + randomDigits(12)
	d := []byte("0000000000")
	for i := len(d) - 1; i >= 0 && n > 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return s + string(d)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("emulator: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// JSON answers.

type codeMsg struct {
	Code            string `json:"code"`
	Msg             string `json:"msg"`
	BizSeqNo        string `json:"bizSeqNo,omitempty"`
	TransactionTime string `json:"transactionTime,omitempty"`
}

func errorBody(code, msg string, t time.Time) codeMsg {
	return codeMsg{Code: code, Msg: msg, TransactionTime: stamp(t)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("emulator: encoding answer: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.Copy(w, &buf)
}
