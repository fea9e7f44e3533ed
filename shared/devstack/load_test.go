package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/loadtest"
)

// TestLoad: 64 concurrent clients against the local stack, zero 5xx. make
// test runs it for 3 s (LOAD_DURATION overrides; make bench runs 20 s and
// records the percentiles). Bounded in time and count, loopback only.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	d := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("LOAD_DURATION")); err == nil && v > 0 {
		d = v
	}
	s, _ := startStack(t, env{"LOG_LEVEL": "warn"})
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 5}.JPEG()
	body, _ := json.Marshal(map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
	res := loadtest.Run(context.Background(), loadtest.Options{Clients: 64, Duration: d, MaxTotal: 200_000},
		loadtest.JSONPost(s.URL+"/v1/idcard/ocr", s.APIKey, body))
	t.Logf("load: %s", res)
	if res.Requests == 0 || res.Count5xx() != 0 || res.Errors != 0 || res.Status[200] != res.Requests {
		t.Errorf("load: %s", res)
	}
	if n := s.Emulator.Count("access_token"); n != 1 {
		t.Errorf("%d token fetches under load, want 1 (the refresher's)", n)
	}
}
