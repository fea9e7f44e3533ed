package tenants

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
)

func TestDocumentChanges(t *testing.T) {
	var d Doc
	k1, err := d.Add("acme", []string{"idcard"}, 100, Rate{PerSecond: 5, Burst: 10})
	if err != nil || !strings.HasPrefix(k1, "ck_") {
		t.Fatal(k1, err)
	}
	for _, bad := range []string{"Acme", "", "a/b", strings.Repeat("a", 33)} {
		if _, err := d.Add(bad, nil, 0, Rate{}); err == nil {
			t.Errorf("tenant id %q accepted", bad)
		}
	}
	if _, err := d.Add("acme", nil, 0, Rate{}); err == nil {
		t.Error("a repeated tenant accepted")
	}
	if _, err := d.Add("x", []string{"passport"}, 0, Rate{}); err == nil {
		t.Error("an unknown kind accepted")
	}
	k2, _ := d.RotateKey("acme", false)
	if len(d.Tenants[0].Keys) != 2 {
		t.Fatal("rotation dropped the old key")
	}
	for _, k := range d.Tenants[0].Keys {
		if strings.Contains(k.SHA256, k1) || k.SHA256 == k1 || k.SHA256 == k2 {
			t.Fatal("a key is stored in clear")
		}
	}
	if err := d.Revoke("acme", Hash(k1).ID); err != nil || len(d.Tenants[0].Keys) != 1 {
		t.Fatalf("revoke a key: %v", err)
	}
	if err := d.SetQuota("acme", 7); err != nil || d.Tenants[0].DailyQuota != 7 {
		t.Fatal(err)
	}
	if err := d.Revoke("acme", ""); err != nil || len(d.Tenants) != 0 {
		t.Fatal("revoke a tenant", err)
	}
}

type flaky struct {
	secretstore.Store
	fail bool
	gets int
}

func (f *flaky) Get(ctx context.Context) ([]byte, error) {
	f.gets++
	if f.fail {
		return nil, errors.New("down")
	}
	return f.Store.Get(ctx)
}

// The document is read at most once per TTL; a store outage is ridden out
// with the last one; the API_KEYS tenant is always there.
func TestDirectoryCachesAndRidesOutOutages(t *testing.T) {
	ctx := context.Background()
	st, err := secretstore.Open(ctx, "file://"+filepath.Join(t.TempDir(), "t.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d Doc
	key, _ := d.Add("acme", nil, 0, Rate{})
	Save(ctx, st, d)
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f := &flaky{Store: st}
	dir := &Directory{Store: f, Doc: Static([]string{"legacy-key"}), Now: func() time.Time { return now }}
	for range 5 {
		if tt, id, err := dir.Lookup(ctx, key); err != nil || tt == nil || tt.ID != "acme" || id != Hash(key).ID {
			t.Fatal(tt, id, err)
		}
	}
	if f.gets != 1 {
		t.Errorf("%d store reads within the TTL", f.gets)
	}
	if tt, _, _ := dir.Lookup(ctx, "legacy-key"); tt == nil || tt.ID != Default {
		t.Error("API_KEYS is not tenant default")
	}
	if tt, _, _ := dir.Lookup(ctx, "wrong"); tt != nil {
		t.Error("a wrong key found a tenant")
	}
	now = now.Add(61 * time.Second)
	f.fail = true
	if tt, _, err := dir.Lookup(ctx, key); err != nil || tt == nil {
		t.Errorf("outage: %v %v", tt, err)
	}
	cold := &Directory{Store: f}
	if _, _, err := cold.Lookup(ctx, key); !errors.Is(err, ErrUnavailable) {
		t.Errorf("nothing cached, store down: %v", err)
	}
}
