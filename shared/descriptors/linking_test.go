package descriptors

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Each function links what it runs (issue 24): a provider only where it
// is called, the image decoders only where photos are fitted, one cloud's
// object store per build.
func TestFunctionsLinkWhatTheyRun(t *testing.T) {
	const shared = "github.com/cardocr/cardocr/shared/"
	rules := []struct {
		fn, cloud   string
		must, never []string
	}{
		{"idcardsubmit", "cardocr_aws", []string{"webank", "wechat", "tencentcloud", "imagefit", "archive/s3archive"}, []string{"archive/cosarchive", "emulator", "devstack"}},
		{"bankcardsubmit", "cardocr_scf", []string{"webank", "wechat", "tencentcloud", "imagefit", "archive/cosarchive"}, []string{"archive/s3archive", "emulator"}},
		{"ocrresult", "cardocr_aws", []string{"webank"}, []string{"wechat", "tencentcloud", "imagefit", "emulator"}},
		{"bankcardresult", "cardocr_scf", []string{"webank"}, []string{"wechat", "tencentcloud", "imagefit", "emulator"}},
		{"resultfetch", "cardocr_aws", []string{"webank", "imagefit", "archive/s3archive"}, []string{"archive/cosarchive", "wechat", "tencentcloud"}},
		{"resultfetch", "cardocr_scf", []string{"webank", "imagefit", "archive/cosarchive"}, []string{"archive/s3archive", "wechat", "tencentcloud"}},
		{"ticketrefresh", "cardocr_aws", []string{"webank", "wechat"}, []string{"tencentcloud", "imagefit", "archive/s3archive"}},
	}
	for _, r := range rules {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-tags", "lambda.norpc,"+r.cloud, "./functions/"+r.fn)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("go list %s: %v: %s", r.fn, err, stderr.String())
		}
		deps := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			deps[strings.TrimPrefix(p, shared)] = true
		}
		for _, p := range r.must {
			if !deps[p] {
				t.Errorf("%s (%s) does not link %s", r.fn, r.cloud, p)
			}
		}
		for _, p := range r.never {
			if deps[p] {
				t.Errorf("%s (%s) links %s", r.fn, r.cloud, p)
			}
		}
	}
}
