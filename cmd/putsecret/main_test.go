package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPutsFromStdinAndNeverEchoes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "creds.json")
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	setenv := func(k, v string) error { env[k] = v; return nil }
	secret := `{"webankAppId":"IDA1","webankSecret":"s3cr3t-value"}`
	if err := run(context.Background(), []string{"file://" + p}, strings.NewReader(secret), getenv, setenv); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != secret {
		t.Errorf("stored %q", b)
	}
	err := run(context.Background(), []string{"file://" + p}, strings.NewReader("s3cr3t-value not json"), getenv, setenv)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad input: %v", err)
	}
	env["TENCENTCLOUD_SECRET_ID"] = "AKID"
	run(context.Background(), []string{"file://" + p}, strings.NewReader(secret), getenv, setenv)
	if env["TENCENTCLOUD_SECRETID"] != "AKID" {
		t.Error("tccli's credential names are not passed on")
	}
}
