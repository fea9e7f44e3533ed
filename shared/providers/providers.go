// Package providers is the registry of OCR providers. Each provider package
// (webank, wechat, tencentcloud) registers one Descriptor from its init; a
// function's main links a provider by importing its package, and everything
// that needs to know the providers (setup, the refresher, the local stack,
// its console, /healthz, the OpenAPI check) iterates the registry instead of
// naming them. docs/architecture.md, "Adding a provider", walks through it.
package providers

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"

	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
)

// Descriptor is everything the rest of the tree knows about a provider.
type Descriptor struct {
	Name  string
	Kinds []string // the kinds it reads: ocr.KindIDCard, ocr.KindBankCard
	// Limits are its documented input limits and call rates (what
	// Provider.Limits returns, known without building it).
	Limits ocr.Limits
	// Settings returns a new pointer to its settings struct: exported
	// fields tagged env:"NAME" and default:"value", read by
	// config.ReadSettings, which then calls its Validate() error, if any.
	// nil: none.
	Settings func() any
	// Secrets are the members of the credentials secret it reads, each
	// with the environment variable that overrides it.
	Secrets []Secret
	// Build returns its Provider, or nil when this deployment has not
	// configured it (no credentials): asking for it is then a 400.
	Build func(Env) (ocr.Provider, error)
	// Keeper returns what keeps its token in the tickets document, or nil
	// (nil func: it keeps none): the refresher runs it as one of its
	// members (a tickets.Member, attached to the refresher when it has
	// Attach(*tickets.Refresher)), and an operator may force it
	// ({"<name>ForceRefresh":true} to ticketrefresh) when it has
	// Force(context.Context) error.
	Keeper func(Env) Keeper
	// Emulator is its emulator for the local stack; nil for the providers
	// whose emulators live in shared/emulator (the local stack's table).
	Emulator func() Emulator
}

// Secret is one member of the credentials secret.
type Secret struct {
	Key string // the JSON member, such as "wechatAppId"
	Env string // the environment variable that overrides it
}

// Keeper keeps a provider's token (see Descriptor.Keeper). This package
// names no tickets type, so that the tickets package's own tests may use
// the providers.
type Keeper interface {
	Name() string // the provider's
}

// Env is what a provider is built from.
type Env struct {
	Settings any // its settings, read (nil when it has none)
	// Secret returns a member of the credentials as read at startup (the
	// environment's value wins).
	Secret func(key string) string
	// Current returns a member as read again when due (a rotated key needs
	// no cold start); nil: Secret's value.
	Current func(key string) string
	// Rejected tells the credentials source that the upstream refused a
	// key: the secret is read again at the next Current.
	Rejected   func()
	HTTPClient *http.Client
	// Store is the tickets document's store (tokens live next to the
	// WeBank pair, kept by the one writer); Tickets reads the WeBank pair
	// (a *tickets.Reader; nil in the refresher).
	Store   secretstore.Store
	Tickets ocr.Credentials
	Logger  *slog.Logger
}

// Emulator is a provider's emulator as the local stack mounts it.
type Emulator struct {
	// URLEnv is the variable that names its upstream: when it is unset the
	// local stack sets it to where the emulator is mounted.
	URLEnv string
	// Handler serves the provider's API under /_emulator/<name>/.
	Handler http.Handler
	// Secrets are the credentials the emulator accepts: the local stack
	// stores them in its credentials file.
	Secrets map[string]string
}

var (
	mu  sync.RWMutex
	reg = map[string]Descriptor{}
)

// Register adds d. It panics on a repeated or empty name, or a descriptor
// without Build (a programming error, found at init).
func Register(d Descriptor) {
	mu.Lock()
	defer mu.Unlock()
	if d.Name == "" || d.Build == nil {
		panic("providers: a descriptor needs a name and Build")
	}
	if _, dup := reg[d.Name]; dup {
		panic(fmt.Sprintf("providers: %q registered twice", d.Name))
	}
	reg[d.Name] = d
}

// All returns the registered descriptors, by name.
func All() []Descriptor {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Descriptor, 0, len(reg))
	for _, d := range reg {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the registered names, sorted.
func Names() []string {
	all := All()
	out := make([]string, len(all))
	for i, d := range all {
		out[i] = d.Name
	}
	return out
}

// Serves reports whether d reads kind.
func (d Descriptor) Serves(kind string) bool { return slices.Contains(d.Kinds, kind) }

// Unregister removes n (tests that register a provider of their own).
func Unregister(n string) {
	mu.Lock()
	delete(reg, n)
	mu.Unlock()
}
