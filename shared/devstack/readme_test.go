package devstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// The examples of README's "The API" run as written, with real phone-sized
// JPEGs (a base64 body far longer than a command line may be).
func TestReadmeExamplesRunWithARealJPEG(t *testing.T) {
	for _, tool := range []string{"curl", "base64", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)[strings.Index(string(readme), "## The API"):]
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("no sh block under The API")
	}
	// Commands: lines that start one, with their continuation lines.
	var cmds []string
	for _, line := range strings.Split(block[1], "\n") {
		switch {
		case strings.HasPrefix(line, "curl") || strings.HasPrefix(line, "{ printf"):
			cmds = append(cmds, line)
		case strings.HasPrefix(line, "  ") && len(cmds) > 0 && strings.HasSuffix(cmds[len(cmds)-1], "\\"):
			cmds[len(cmds)-1] += "\n" + line
		}
	}
	if len(cmds) < 5 {
		t.Fatalf("commands found: %q", cmds)
	}

	s, _ := startStack(t, nil)
	dir := t.TempDir()
	samples := filepath.Join(dir, ".local", "samples")
	os.MkdirAll(samples, 0o700)
	for name, side := range map[string]string{"idcard-front.jpg": emulator.SideFront, "idcard-back.jpg": emulator.SideBack} {
		// About 2 MB: a 12 MP phone photo's size; its base64 is longer
		// than a command line may be (ARG_MAX's single argument limit).
		img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: side, Seed: 77, Width: 1600, Height: 1010, MinSize: 2 << 20}.JPEG()
		os.WriteFile(filepath.Join(samples, name), img, 0o600)
	}
	var orderNo string
	for _, c := range cmds {
		if strings.Contains(c, "<orderNo>") {
			if orderNo == "" {
				t.Fatalf("no orderNo for %q", c)
			}
			c = strings.ReplaceAll(c, "<orderNo>", orderNo)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-c", c)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "KEY="+s.APIKey, "BASE="+s.URL)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		if strings.HasPrefix(c, "{ printf") {
			continue // writes the body file
		}
		if strings.Contains(string(out), `"error"`) || !strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
			t.Errorf("%s:\n%.300s", c, out)
		}
		if m := regexp.MustCompile(`"orderNo":"([A-Za-z0-9]+)"`).FindSubmatch(out); m != nil && orderNo == "" {
			orderNo = string(m[1])
		}
	}
}
