package devstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// The post-deploy smoke test bills nothing by default: run against the
// local stack, the emulators count no submission, and the one upstream call
// calls it makes are signed (free) result queries.
func TestSmokeMakesNoBillableCall(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl here (apt-get install curl)")
	}
	s, _ := startStack(t, nil)
	s.Emulator.ResetCounts()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", "smoke.sh"), s.URL, s.APIKey)
	cmd.Env = append(os.Environ(), "SMOKE_TIMEOUT=20")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("smoke: %v\n%s", err, out)
	}
	for _, ep := range []string{emulator.EndpointIDCardOCR, emulator.EndpointBankCardOCR, emulator.EndpointTencentIDCardOCR,
		emulator.EndpointTencentBankCardOCR, emulator.EndpointWeChatIDCard} {
		if n := s.Emulator.Count(ep); n != 0 {
			t.Errorf("the smoke test made %d %s calls", n, ep)
		}
	}
	// The sentinel query, and /healthz's own self-check: both free.
	if n := s.Emulator.Count(emulator.EndpointOCRResult); n < 1 || n > 2 {
		t.Errorf("result queries %d, want the sentinel query (and /healthz's self-check)", n)
	}
}
