// Package tenants is who may call the API: a tenants document kept in the
// secret store the deployment already uses (TENANTS_URL: awssm://,
// tencentssm://, file://), each tenant with the SHA-256 of its keys (never
// the keys), the card kinds it may use and its limits. API_KEYS stays as the
// one-tenant shortcut (tenant "default").
//
//	{"tenants":[{"id":"acme","keys":[{"id":"k1a2b3c4d5e6","sha256":"…"}],"kinds":["idcard","bankcard"],
//	             "dailyQuota":1000,"rate":{"perSecond":5,"burst":10}}]}
//
// Every instance reads the document at most once per TTL (60 s): a revoked
// key stops working within a minute, and authentication costs no store
// read.
package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
)

// Default is the tenant of API_KEYS and of orders made before tenants.
const Default = "default"

// Kinds of card a tenant may use.
var Kinds = []string{"idcard", "bankcard"}

// Key is a stored key: its id (shown in logs and audit records) and the
// SHA-256 of the key, hex.
type Key struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
}

// Rate is a tenant's request rate for the whole deployment; each instance
// holds the tenant to its share (httpapi, ratelimit.Share). Zero: none.
type Rate struct {
	PerSecond float64 `json:"perSecond,omitempty"`
	Burst     int     `json:"burst,omitempty"`
}

// Tenant is one caller of the API.
type Tenant struct {
	ID         string   `json:"id"`
	Keys       []Key    `json:"keys"`
	Kinds      []string `json:"kinds"`
	DailyQuota int      `json:"dailyQuota,omitempty"` // billable calls per China day; 0: none
	Rate       Rate     `json:"rate,omitzero"`
	// Callback is where this tenant's final orders are POSTed
	// (docs/callbacks.md); nil: none. The deployment's CALLBACK_URL serves
	// the default tenant only: a tenant's results go to its own URL.
	Callback *Callback `json:"callback,omitempty"`
}

// Callback is a tenant's callback receiver and signing secret.
type Callback struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// May reports whether the tenant may use kind.
func (t *Tenant) May(kind string) bool { return slices.Contains(t.Kinds, kind) }

// Doc is the tenants document.
type Doc struct {
	Tenants []Tenant `json:"tenants"`
}

// ValidID reports whether s is a tenant id: 1–32 lower-case letters,
// digits and '-', not starting with '-', as archive prefixes take them.
// (Checked by hand: a regexp compiled at init costs every cold start.)
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] == '-' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Parse reads and checks a document.
func Parse(b []byte) (Doc, error) {
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return d, errors.New("tenants: the document is not valid JSON") // never echo it
	}
	seen := map[string]bool{}
	for _, t := range d.Tenants {
		if !ValidID(t.ID) || seen[t.ID] {
			return d, fmt.Errorf("tenants: bad or repeated tenant id %q", t.ID)
		}
		seen[t.ID] = true
		for _, k := range t.Keys {
			if len(k.SHA256) != 64 {
				return d, fmt.Errorf("tenants: tenant %s: a key hash is not a hex SHA-256", t.ID)
			}
		}
		for _, k := range t.Kinds {
			if !slices.Contains(Kinds, k) {
				return d, fmt.Errorf("tenants: tenant %s: unknown kind %q", t.ID, k)
			}
		}
		if c := t.Callback; c != nil && (!strings.HasPrefix(c.URL, "https://") || len(c.Secret) < 16) {
			return d, fmt.Errorf("tenants: tenant %s: a callback needs an https url and a secret of 16 characters or more", t.ID)
		}
	}
	return d, nil
}

// Hash is the stored form of a key.
func Hash(key string) Key {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return Key{ID: "key:" + h[:12], SHA256: h}
}

// NewKey makes a random key (shown once; only its hash is stored).
func NewKey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "ck_" + hex.EncodeToString(b[:])
}

// Static is the one-tenant shortcut: API_KEYS as tenant "default", every
// kind, no limits.
func Static(keys []string) Doc {
	t := Tenant{ID: Default, Kinds: slices.Clone(Kinds)}
	for _, k := range keys {
		t.Keys = append(t.Keys, Hash(k))
	}
	return Doc{Tenants: []Tenant{t}}
}

// DefaultTTL is how long an instance trusts the document it read.
const DefaultTTL = time.Minute

// Directory answers "which tenant holds this key", from a document read at
// most once per TTL (a store outage is ridden out with the last one).
type Directory struct {
	Store secretstore.Store // nil: Doc only
	Doc   Doc               // consulted as well (API_KEYS: tenant "default")
	TTL   time.Duration
	Now   func() time.Time

	mu     sync.Mutex
	cached *Doc
	at     time.Time
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// ErrUnavailable: the document could not be read and none is cached.
var ErrUnavailable = errors.New("tenants: the tenants document is unavailable")

func (d *Directory) doc(ctx context.Context) (*Doc, error) {
	if d.Store == nil {
		return &d.Doc, nil
	}
	ttl := d.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cached != nil && d.now().Sub(d.at) < ttl {
		return d.cached, nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b, err := d.Store.Get(rctx)
	if err == nil {
		var doc Doc
		if doc, err = Parse(b); err == nil {
			d.cached, d.at = &doc, d.now()
			return d.cached, nil
		}
	}
	if d.cached != nil {
		d.at = d.now().Add(-ttl).Add(5 * time.Second) // try again soon
		return d.cached, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Get returns the tenant with id, or nil.
func (d *Directory) Get(ctx context.Context, id string) (*Tenant, error) {
	doc, err := d.doc(ctx)
	if err != nil {
		return nil, err
	}
	for _, dd := range []*Doc{doc, &d.Doc} {
		for i := range dd.Tenants {
			if dd.Tenants[i].ID == id {
				return &dd.Tenants[i], nil
			}
		}
	}
	return nil, nil
}

// Lookup returns the tenant holding key and the key's id, or nil. Every
// stored hash is compared, in constant time.
func (d *Directory) Lookup(ctx context.Context, key string) (*Tenant, string, error) {
	doc, err := d.doc(ctx)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256([]byte(key))
	got := hex.EncodeToString(sum[:])
	var found *Tenant
	var keyID string
	for _, dd := range []*Doc{doc, &d.Doc} {
		for i := range dd.Tenants {
			for _, k := range dd.Tenants[i].Keys {
				if subtle.ConstantTimeCompare([]byte(got), []byte(k.SHA256)) == 1 {
					found, keyID = &dd.Tenants[i], k.ID
				}
			}
		}
		if d.Store == nil {
			break // doc is d.Doc
		}
	}
	return found, keyID, nil
}

// Operator changes to the document (cmd/tenants). Each returns the changed
// document; a key made here is returned in clear once and stored hashed.

func (d *Doc) find(id string) *Tenant {
	for i := range d.Tenants {
		if d.Tenants[i].ID == id {
			return &d.Tenants[i]
		}
	}
	return nil
}

// Add adds a tenant with a new key.
func (d *Doc) Add(id string, kinds []string, quota int, rate Rate) (key string, err error) {
	if !ValidID(id) {
		return "", fmt.Errorf("tenants: %q is not a tenant id (1-32 of a-z, 0-9, -)", id)
	}
	if d.find(id) != nil {
		return "", fmt.Errorf("tenants: tenant %s exists", id)
	}
	if len(kinds) == 0 {
		kinds = slices.Clone(Kinds)
	}
	for _, k := range kinds {
		if !slices.Contains(Kinds, k) {
			return "", fmt.Errorf("tenants: unknown kind %q", k)
		}
	}
	key = NewKey()
	d.Tenants = append(d.Tenants, Tenant{ID: id, Keys: []Key{Hash(key)}, Kinds: kinds, DailyQuota: quota, Rate: rate})
	return key, nil
}

// AddKey adds an existing key to a tenant, made with every kind when it
// does not exist (API keys kept from before tenants); a key the tenant has
// already is no change.
func (d *Doc) AddKey(id, key string) error {
	if !ValidID(id) {
		return fmt.Errorf("tenants: %q is not a tenant id (1-32 of a-z, 0-9, -)", id)
	}
	t := d.find(id)
	if t == nil {
		d.Tenants = append(d.Tenants, Tenant{ID: id, Kinds: slices.Clone(Kinds)})
		t = &d.Tenants[len(d.Tenants)-1]
	}
	h := Hash(key)
	if !slices.Contains(t.Keys, h) {
		t.Keys = append(t.Keys, h)
	}
	return nil
}

// RotateKey adds a new key to a tenant; with dropOld its other keys go.
func (d *Doc) RotateKey(id string, dropOld bool) (string, error) {
	t := d.find(id)
	if t == nil {
		return "", fmt.Errorf("tenants: no tenant %s", id)
	}
	key := NewKey()
	if dropOld {
		t.Keys = nil
	}
	t.Keys = append(t.Keys, Hash(key))
	return key, nil
}

// Revoke removes one key of a tenant (by its id), or the whole tenant.
func (d *Doc) Revoke(id, keyID string) error {
	t := d.find(id)
	if t == nil {
		return fmt.Errorf("tenants: no tenant %s", id)
	}
	if keyID == "" {
		d.Tenants = slices.DeleteFunc(d.Tenants, func(x Tenant) bool { return x.ID == id })
		return nil
	}
	n := len(t.Keys)
	t.Keys = slices.DeleteFunc(t.Keys, func(k Key) bool { return k.ID == keyID })
	if len(t.Keys) == n {
		return fmt.Errorf("tenants: tenant %s has no key %s", id, keyID)
	}
	return nil
}

// SetQuota sets a tenant's daily quota of billable calls (0: none).
func (d *Doc) SetQuota(id string, quota int) error {
	t := d.find(id)
	if t == nil {
		return fmt.Errorf("tenants: no tenant %s", id)
	}
	if quota < 0 {
		return errors.New("tenants: a quota is 0 or more")
	}
	t.DailyQuota = quota
	return nil
}

// SetCallback sets (or, with an empty URL, removes) where a tenant's final
// orders are POSTed, and the secret they are signed with.
func (d *Doc) SetCallback(id, url, secret string) error {
	t := d.find(id)
	if t == nil {
		return fmt.Errorf("tenants: no tenant %s", id)
	}
	if url == "" {
		t.Callback = nil
		return nil
	}
	if !strings.HasPrefix(url, "https://") || len(secret) < 16 {
		return errors.New("tenants: a callback needs an https url and a secret of 16 characters or more")
	}
	t.Callback = &Callback{URL: url, Secret: secret}
	return nil
}

// Load reads the document from a store (an empty one when there is none).
func Load(ctx context.Context, st secretstore.Store) (Doc, error) {
	b, err := st.Get(ctx)
	if errors.Is(err, secretstore.ErrNotFound) {
		return Doc{}, nil
	}
	if err != nil {
		return Doc{}, err
	}
	if len(b) == 0 || string(b) == "{}" {
		return Doc{}, nil
	}
	return Parse(b)
}

// Save writes the document to a store.
func Save(ctx context.Context, st secretstore.Store, d Doc) error {
	if d.Tenants == nil {
		d.Tenants = []Tenant{}
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return st.Put(ctx, b)
}
