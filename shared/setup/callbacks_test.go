package setup

import (
	"context"
	"errors"
	"testing"

	"github.com/cardocr/cardocr/shared/tenants"
)

type fakeDir map[string]*tenants.Tenant

func (d fakeDir) Get(_ context.Context, id string) (*tenants.Tenant, error) {
	if id == "broken" {
		return nil, errors.New("the document is unavailable")
	}
	return d[id], nil
}

// The default tenant's orders go to CALLBACK_URL; another tenant's only to
// its own callback, never to the deployment's.
func TestCallbackTargets(t *testing.T) {
	dir := fakeDir{
		"acme":  {ID: "acme", Callback: &tenants.Callback{URL: "https://acme.example.com/hooks", Secret: "acme-secret-0123456789"}},
		"bravo": {ID: "bravo"},
	}
	tg := targets("https://ops.example.com/hooks", "ops-secret", dir)
	for _, tc := range []struct {
		owner   string
		url     string
		ok, err bool
	}{
		{"", "https://ops.example.com/hooks", true, false},
		{"acme", "https://acme.example.com/hooks", true, false},
		{"bravo", "", false, false},
		{"nobody", "", false, false},
		{"broken", "", false, true},
	} {
		got, ok, err := tg(context.Background(), tc.owner)
		if got.URL != tc.url || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%q: %+v %v %v", tc.owner, got, ok, err)
		}
	}
	if _, ok, _ := targets("", "", dir)(context.Background(), ""); ok {
		t.Error("the default tenant has a target without CALLBACK_URL")
	}
	if got, ok, _ := targets("", "", nil)(context.Background(), "acme"); ok {
		t.Errorf("a target without tenants: %+v", got)
	}
}
