package localstack

import (
	"context"
	"encoding/base64"
	"io"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// `make run` stopped and started again at once serves within 10 s: the new
// process inherits neither the old one's tickets (its emulator is gone) nor
// its refresher's leases.
func TestRestartServesAtOnce(t *testing.T) {
	dir := t.TempDir()
	e := env{"PORT": "0"}
	start := func() *Stack {
		s, err := Start(context.Background(), Options{Getenv: e.get, Dir: dir, Stdout: io.Discard, Logs: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := start()
	a.Close()
	began := time.Now()
	b := start()
	t.Cleanup(func() { b.Close() })
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 9}.JPEG())
	for {
		st, body := do(t, b, "POST", "/v1/bankcard/ocr", "application/json", jsonBody(t, map[string]any{"image": img}), b.APIKey)
		if st == 200 {
			break
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("not serving 10 s after a restart: %d %s", st, truncate(body))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("serving %v after the restart", time.Since(began).Round(time.Millisecond))
}
