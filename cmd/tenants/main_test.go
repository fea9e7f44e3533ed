package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestTenantsCLI(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tenants.json")
	env := func(k string) string { return map[string]string{"TENANTS_URL": "file://" + p}[k] }
	ctx := context.Background()
	var out strings.Builder
	if err := run(ctx, []string{"add", "acme", "-kinds", "idcard", "-quota", "3"}, env, &out, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`ck_[0-9a-f]+`).FindString(out.String())
	if key == "" {
		t.Fatalf("no key printed: %s", out.String())
	}
	stored, _ := os.ReadFile(p)
	if strings.Contains(string(stored), key) {
		t.Error("the key is stored in clear")
	}
	out.Reset()
	run(ctx, []string{"set-quota", "acme", "5"}, env, &out, strings.NewReader(""))
	run(ctx, []string{"rotate-key", "acme"}, env, &out, strings.NewReader(""))
	out.Reset()
	if err := run(ctx, []string{"list"}, env, &out, strings.NewReader("")); err != nil || !strings.Contains(out.String(), "acme\tkinds=idcard\tquota=5") ||
		strings.Count(out.String(), "key:") != 2 || strings.Contains(out.String(), key) {
		t.Errorf("list: %v %s", err, out.String())
	}
	if err := run(ctx, []string{"revoke", "acme"}, env, &out, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	run(ctx, []string{"list"}, env, &out, strings.NewReader(""))
	if strings.Contains(out.String(), "acme") {
		t.Errorf("revoked tenant listed: %s", out.String())
	}
	if err := run(ctx, []string{"add", "Bad Id"}, env, &out, strings.NewReader("")); err == nil {
		t.Error("a bad id accepted")
	}
	// An existing key, from standard input: the tenant is made, the key
	// works, and adding it again changes nothing.
	for range 2 {
		if err := run(ctx, []string{"add-key", "default"}, env, &out, strings.NewReader("legacy-api-key-0123456789\n")); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	run(ctx, []string{"list"}, env, &out, strings.NewReader(""))
	if !strings.Contains(out.String(), "default\t") || strings.Count(out.String(), "key:") != 1 {
		t.Errorf("add-key: %s", out.String())
	}
	if err := run(ctx, []string{"add-key", "default"}, env, &out, strings.NewReader("short")); err == nil {
		t.Error("a short key accepted")
	}
}
