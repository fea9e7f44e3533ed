// Package devstack is `make run`: the HTTP API, the ticket refresher on
// its timer, the embedded upstream emulator and file stores under .local/,
// in one process on 127.0.0.1, configured only through the environment
// variables of README.md.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/buildinfo"
	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/imagefit"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/setup"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// Options of the local stack; the zero value is `make run`.
type Options struct {
	Getenv   func(string) string // default os.Getenv
	Dir      string              // default ".local"
	Host     string              // default "127.0.0.1"
	Stdout   io.Writer           // the banner; default os.Stdout
	Logs     io.Writer           // JSON logs; default os.Stderr
	Emulator emulator.Config     // the embedded emulator's settings (tests scale lifetimes)
	// Web serves the console (GET /) and the API docs (/docs/): cmd/local
	// embeds them, so that no function binary does. Nil: none.
	Web http.Handler
	// OpenAPIPath is docs/openapi.yaml, served at /docs/openapi.yaml
	// [docs/openapi.yaml, relative to the working directory].
	OpenAPIPath string
}

// Stack is a running local stack.
type Stack struct {
	URL      string             // base URL of the API
	APIKey   string             // the first accepted key
	Emulator *emulator.Emulator // nil when KYC_BASE_URL points elsewhere
	// WeChatEmulator serves the WeChat API (the same instance as Emulator
	// when both are embedded); nil when WECHAT_BASE_URL points elsewhere.
	WeChatEmulator *emulator.Emulator
	// TencentCloudEmulator serves Tencent Cloud OCR on POST / (the same
	// instance again); nil when TENCENTCLOUD_OCR_ENDPOINT points elsewhere.
	TencentCloudEmulator *emulator.Emulator
	upstreams            *upstreams // every provider's emulator the stack serves
	Refresher            *tickets.Refresher
	Reader               *tickets.Reader
	Config               config.Config
	// Evidence is the local resultfetch (queue endpoint, uploads watcher).
	Evidence *Evidence
	bucket   *uploadTarget // the upload forms' target (BucketPath)
	receiver *receiver     // CALLBACK_URL=local's receiver; nil: another URL
	queue    *localQueue   // the stand-in for the resultfetch queue

	devKey      string // the generated dev key; empty when API_KEYS was given
	cancelQueue context.CancelFunc

	heal chan struct{} // asks of the refresher (Reader.Kick)

	quotaOnce  sync.Once   // the console's quota store, opened on first use
	quotaStore quota.Store // nil: none, or it could not be opened

	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// EmulatorPath is where the embedded WeBank emulator is mounted (every
// provider's is at /_emulator/<name>, but Tencent Cloud's: see upstreams.go).
const EmulatorPath = emulatorPrefix + "webank"

// Start starts the stack and returns once it serves.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Dir == "" {
		o.Dir = ".local"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Logs == nil {
		o.Logs = os.Stderr
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	local := func(name string) string { return "file://" + filepath.Join(o.Dir, name) }
	defaults := map[string]string{
		"CREDENTIALS_URL":  local("credentials.json"),
		"TICKET_STORE_URL": local("tickets.json"),
		"ARCHIVE_URL":      local("archive"),
		"EVIDENCE":         "on", // every order can be queried, whatever its provider
		"QUOTA_STORE_URL":  local("quota.json"),
		"SYNC_BODY_LIMIT":  "6MiB", // AWS Lambda's limit: met on the laptop, not first in production
		"PORT":             "8080",
		"LOG_FORMAT":       "text", // a person reads these
	}
	getenv := func(k string) string {
		if v := o.Getenv(k); v != "" {
			return v
		}
		return defaults[k]
	}
	// The providers' emulators (upstreams.go): each one whose upstream
	// variable is unset is served by the stack itself.
	ups := upstreamsFor(o)
	embedded := ups.embedded("webank")

	port := getenv("PORT")
	ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, port))
	if err != nil {
		return nil, fmt.Errorf("devstack: listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	// CALLBACK_URL=local (make run's default): the stack's own receiver,
	// with a secret made for this run unless one is given.
	var recv *receiver
	if getenv("CALLBACK_URL") == "local" {
		recv = &receiver{secret: or(getenv("CALLBACK_SECRET"), newSecret())}
	}
	env := func(k string) string {
		if recv != nil && k == "CALLBACK_URL" {
			return base + CallbacksPath
		}
		if recv != nil && k == "CALLBACK_SECRET" {
			return recv.secret
		}
		if u, ok := ups.url(k, base); ok {
			return u
		}
		return getenv(k)
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Stack{URL: base, Config: cfg, receiver: recv}
	log := setup.Logger(cfg, o.Logs)
	qctx, qcancel := context.WithCancel(context.WithoutCancel(ctx))
	s.queue = &localQueue{evidence: func() *Evidence { return s.Evidence }, log: log.With("component", "queue"), ctx: qctx, wg: &s.wg}
	s.cancelQueue = qcancel

	if embedded {
		// The emulator lives in memory: tickets stored by an earlier run
		// mean nothing to this one, and neither do its refresher's leases
		// (a process stopped mid-refresh would otherwise lock this one out
		// until they expire).
		if p, ok := strings.CutPrefix(cfg.TicketStoreURL, "file://"); ok {
			_ = os.Remove(p)
			_ = os.Remove(p + ".lease")
		}
	}
	if err := ups.storeSecrets(cfg.CredentialsURL); err != nil {
		ln.Close()
		return nil, err
	}
	s.upstreams = ups
	s.Emulator, s.WeChatEmulator, s.TencentCloudEmulator = ups.builtin("webank"), ups.builtin("wechat"), ups.builtin("tencentcloud")
	if len(cfg.APIKeys) == 0 && cfg.AuthMode == "apikey" && cfg.TenantsURL == "" {
		key, err := devKey(filepath.Join(o.Dir, "dev-api-key"))
		if err != nil {
			ln.Close()
			return nil, err
		}
		cfg.APIKeys = []string{key}
		s.devKey = key
	}
	if len(cfg.APIKeys) > 0 {
		s.APIKey = cfg.APIKeys[0]
	}
	s.Config = cfg

	uploads := &archive.FileBucket{Dir: o.Dir} // .local/uploads/… as object keys
	target := newUploadTarget(base, o.Dir, cfg.UploadMaxBytes, log.With("component", "bucket"), &s.wg)
	api, reader, err := setup.API(ctx, cfg, log, setup.WithUploads(func(context.Context, string) (archive.Bucket, error) { return uploads, nil }),
		setup.WithPresigner(target), setup.WithUploadForms(), setup.WithCallbackQueue(s.queue), setup.WithFitter(imagefit.New()))
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.Reader = reader
	// The in-process refresher is the one asked to run (no invoke API here).
	s.heal = make(chan struct{}, 1)
	reader.Kick = tickets.KickFunc(func(context.Context) error {
		select {
		case s.heal <- struct{}{}:
		default: // one ask is pending already
		}
		return nil
	})
	if s.Refresher, err = setup.Refresher(ctx, cfg, log.With("component", "ticketrefresh")); err != nil {
		ln.Close()
		return nil, err
	}
	if err := writeSamples(filepath.Join(o.Dir, "samples")); err != nil {
		ln.Close()
		return nil, err
	}

	if s.Evidence, err = newEvidence(ctx, cfg, log, o.Dir, setup.WithCallbackQueue(s.queue), setup.WithFitter(imagefit.New())); err != nil {
		ln.Close()
		return nil, err
	}
	target.evidence = func() *Evidence { return s.Evidence }
	s.bucket = target
	mux := http.NewServeMux()
	mux.Handle(QueuePath, s.Evidence)
	if recv != nil {
		mux.Handle(CallbacksPath, recv)
	}
	mux.Handle(BucketPath, target)
	mux.Handle(BucketPath+"/", target)
	mux.HandleFunc("GET /_local/console.json", s.serveConsoleConfig)
	mux.HandleFunc("GET /_local/state", s.serveState)
	if o.Web != nil {
		if o.OpenAPIPath == "" {
			o.OpenAPIPath = filepath.Join("docs", "openapi.yaml")
		}
		mux.Handle("GET /{$}", o.Web)
		mux.Handle("GET /console.js", o.Web)
		mux.Handle("GET /console.css", o.Web)
		mux.Handle("/docs/", o.Web)
		mux.HandleFunc("GET /docs/openapi.yaml", s.serveOpenAPI(o.OpenAPIPath))
	}
	ups.mount(mux)
	mux.Handle("/", api)
	// As in the functions' HTTP mode: the whole request read within
	// REQUEST_TIMEOUT (a trickled body cannot hold a connection open).
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: cfg.RequestTimeout, IdleTimeout: 2 * time.Minute}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "err", err)
		}
	}()

	// The refresher on its timer, first run at start (synchronously, so
	// the stack answers OCR requests as soon as Start returns).
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	ok := s.refresh(rctx, log)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.refreshLoop(rctx, log, cfg.RefreshInterval, ok)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.Evidence.watch(rctx, time.Second)
	}()

	fmt.Fprintf(o.Stdout, "cardocr %s local stack on %s\n", buildinfo.String(), base)
	if o.Web != nil {
		fmt.Fprintf(o.Stdout, "  console: %s/   API docs: %s/docs/\n", base, base)
	}
	ups.banner(o.Stdout, base)
	if s.APIKey != "" && o.Getenv("API_KEYS") == "" {
		fmt.Fprintf(o.Stdout, "  dev API key: %s\n", s.APIKey)
	}
	fmt.Fprintf(o.Stdout, "  try:\n    curl -s -H 'Authorization: Bearer %s' -F side=front -F image=@%s %s/v1/idcard/ocr\n",
		s.APIKey, filepath.Join(o.Dir, "samples", "idcard-front.jpg"), base)
	for _, d := range providers.All() {
		if d.Name == webank.Name || (!ups.embedded(d.Name) && cfg.Credentials.Get(d.Secrets[0].Key) == "") {
			continue
		}
		kind, sample, side := "bankcard", "bankcard.jpg", ""
		if !d.Serves(ocr.KindBankCard) {
			kind, sample, side = "idcard", "idcard-back.jpg", "-F side=back "
		}
		fmt.Fprintf(o.Stdout, "    curl -s -H 'Authorization: Bearer %s' %s-F provider=%s -F image=@%s %s/v1/%s/ocr\n",
			s.APIKey, side, d.Name, filepath.Join(o.Dir, "samples", sample), base, kind)
	}
	fmt.Fprintf(o.Stdout, "  evidence (archive %s):\n    cp %s %s/\n    curl -s -d '{\"kind\":\"bankcard\",\"orderNo\":\"<orderNo>\"}' %s%s\n",
		cfg.ArchiveURL, filepath.Join(o.Dir, "samples", "bankcard.jpg"), filepath.Join(o.Dir, "uploads", "bankcard"), base, QueuePath)
	return s, nil
}

// refresh runs one refresh; false when it failed (which, since a run that
// leaves nothing usable stored fails, includes that case).
func (s *Stack) refresh(ctx context.Context, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.Refresher.Refresh(ctx); err != nil {
		log.Error("ticket refresh failed", "err", err)
		return false
	}
	return true
}

// refreshLoop is the local stack's schedule: every interval while runs
// succeed; after a failure again in 1 s, 2 s, 4 s … (at most 30 s, and
// never later than the interval), as a platform's retry would.
func (s *Stack) refreshLoop(ctx context.Context, log *slog.Logger, interval time.Duration, ok bool) {
	backoff := time.Second
	for {
		wait := interval
		if !ok {
			wait = min(backoff, interval)
			backoff = min(2*backoff, 30*time.Second)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.heal:
			// A request met a ticket the upstream rejects (as an HTTP
			// function's asynchronous invoke of the refresher would).
			t.Stop()
			hctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := s.Refresher.Heal(hctx)
			cancel()
			if err != nil {
				log.Error("ticket refresh (asked by a request) failed", "err", err)
			}
			ok = err == nil
			continue
		case <-t.C:
		}
		ok = s.refresh(ctx, log)
	}
}

// Close stops the server and the refresher.
func (s *Stack) Close() error {
	s.cancel()
	s.queue.close()
	s.cancelQueue()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.wg.Wait()
	return err
}

// Run is `make run`: start, then serve until ctx ends.
func Run(ctx context.Context, o Options) error {
	s, err := Start(ctx, o)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// ensureMembers adds an emulator's credentials to a local credentials file
// (made if need be) unless the file names the first of them already,
// keeping every other member.
func ensureMembers(u string, keys []string, vals map[string]string) error {
	p, ok := strings.CutPrefix(u, "file://")
	if !ok || len(keys) == 0 {
		return nil
	}
	m := map[string]any{}
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("devstack: credentials: %w", err)
	default:
		if json.Unmarshal(b, &m) != nil {
			return errors.New("devstack: the credentials file is not a JSON object")
		}
	}
	if v, _ := m[keys[0]].(string); v != "" {
		return nil
	}
	for _, k := range keys {
		m[k] = vals[k]
	}
	if b, err = json.Marshal(m); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o600)
}

// devKey returns the key kept in path, making one on first use.
func devKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	key := "dev-" + hex.EncodeToString(r[:])
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

// Samples are the images make run writes to .local/samples/: the ordinary
// cards, and one per scenario the emulator's markers stage (README.md,
// "Scenarios"). Any other photo is recognized too, as a card of its own.
var Samples = map[string]emulator.CardSpec{
	"idcard-front.jpg":           {Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1},
	"idcard-back.jpg":            {Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 1},
	"idcard-front.png":           {Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 2},
	"idcard-back.bmp":            {Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 2},
	"bankcard.jpg":               {Kind: emulator.KindBankCard, Seed: 1},
	"scenario-wrong-side.jpg":    {Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 3},
	"scenario-warnings.jpg":      {Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 4, Warning: "11010100"},
	"scenario-not-a-card.jpg":    {Kind: emulator.KindBankCard, Seed: 5},
	"scenario-expired.jpg":       {Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 6, ValidFrom: "20000101", ValidTo: "20200101"},
	"scenario-luhn-failure.jpg":  {Kind: emulator.KindBankCard, Seed: 7, CardNumber: "4367420000000001", BadLuhn: true},
	"scenario-blurred.jpg":       {Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 8, Blurry: true},
	"scenario-bank-warnings.png": {Kind: emulator.KindBankCard, Seed: 9, Warning: "-9111,-9114"},
}

// writeSamples writes Samples into dir.
func writeSamples(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, spec := range Samples {
		var b []byte
		switch filepath.Ext(name) {
		case ".png":
			b = spec.PNG()
		case ".bmp":
			b = spec.BMP()
		default:
			b = spec.JPEG()
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
