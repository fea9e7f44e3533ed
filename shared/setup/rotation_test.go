package setup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/secretstore/awssm/awssmtest"
	"github.com/cardocr/cardocr/shared/secretstore/tencentssm/tencentssmtest"
	"github.com/cardocr/cardocr/shared/setup"

	_ "github.com/cardocr/cardocr/shared/backends/secrets"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// The WeBank app secret rotates without a cold start, on every store: the
// operator rotates it in the console (the upstream refuses the old one) and
// writes the new one to the credentials secret; the warm refresher's next
// run fails with the old one, reads the secret again, and the run after
// uses the new one. The old secret is never logged.
func TestWeBankSecretRotatesWithoutARestart(t *testing.T) {
	stores := map[string]func(t *testing.T) (url string, put func([]byte)){
		"file": func(t *testing.T) (string, func([]byte)) {
			p := filepath.Join(t.TempDir(), "credentials.json")
			return "file://" + p, func(b []byte) { os.WriteFile(p, b, 0o600) }
		},
		"awssm": func(t *testing.T) (string, func([]byte)) {
			awssmtest.Env(t)
			f := awssmtest.New(t)
			f.CreateSecret("creds")
			url := f.StoreURL("creds")
			return url, func(b []byte) {
				st, err := secretstore.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Put(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
		},
		"tencentssm": func(t *testing.T) (string, func([]byte)) {
			tencentssmtest.Env(t)
			f := tencentssmtest.New(t)
			f.CreateSecret("creds")
			return f.StoreURL("creds"), func(b []byte) { f.SetValue("creds", "current", b) }
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			const oldSecret, newSecret = "old-webank-secret-7f3a", "new-webank-secret-91c2"
			emu := emulator.New(emulator.Config{Secret: oldSecret})
			srv := httptest.NewServer(emu)
			defer srv.Close()
			credsURL, put := open(t)
			creds := func(secret string) []byte {
				b, _ := json.Marshal(config.Credentials{WeBankAppID: emulator.DefaultAppID, WeBankSecret: secret})
				return b
			}
			put(creds(oldSecret))
			cfg, err := config.FromEnv(func(k string) string {
				return map[string]string{"CREDENTIALS_URL": credsURL, "KYC_BASE_URL": srv.URL,
					"TICKET_STORE_URL": "file://" + filepath.Join(t.TempDir(), "tickets.json")}[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			logs := &lockedBuffer{}
			fn, err := setup.RefreshFunction(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			invoke := func(ev string) (any, error) { return fn.Event(context.Background(), json.RawMessage(ev)) }
			if out, err := invoke(`{}`); err != nil {
				t.Fatalf("first run: %v %v", out, err)
			}
			emu.RotateSecret(newSecret) // in the console
			put(creds(newSecret))       // and in the store
			if _, err := invoke(`{"force":true}`); err == nil {
				t.Fatal("a run with the old secret succeeded")
			}
			out, err := invoke(`{"force":true}`)
			if err != nil || !strings.Contains(jsonString(out), "refreshed") {
				t.Fatalf("after the rotation: %v %v", out, err)
			}
			for _, s := range []string{oldSecret, newSecret} {
				if strings.Contains(logs.String(), s) {
					t.Errorf("a secret is in the logs")
				}
			}
			if !strings.Contains(logs.String(), "credentials changed in the store") {
				t.Error("the rotation was not logged")
			}
		})
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }
