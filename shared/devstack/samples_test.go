package devstack

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The samples make run writes, each through the API, with the answer the
// README's scenario table gives it; and a photo the emulator never saw
// (no marker) is a card whose checks pass.
func TestSampleScenarios(t *testing.T) {
	s, _ := startStack(t, nil)
	dir := filepath.Join(filepath.Dir(strings.TrimPrefix(s.Config.ArchiveURL, "file://")), "samples")
	cases := []struct {
		file, route, side string
		status            int
		code, has         string
	}{
		{"idcard-front.jpg", "/v1/idcard/ocr", "front", 200, "", `"idNumberValid":true`},
		{"idcard-back.jpg", "/v1/idcard/ocr", "back", 200, "", `"expired":false`},
		{"idcard-front.png", "/v1/idcard/ocr", "front", 200, "", `"idNumberValid":true`},
		{"idcard-back.bmp", "/v1/idcard/ocr", "back", 200, "", `"validFrom"`},
		{"bankcard.jpg", "/v1/bankcard/ocr", "", 200, "", `"luhnValid":true`},
		{"scenario-wrong-side.jpg", "/v1/idcard/ocr", "front", 422, "recognition_failed", `"upstreamCode":"66661006"`},
		{"scenario-warnings.jpg", "/v1/idcard/ocr", "front", 200, "", `"code":"photocopy"`},
		{"scenario-not-a-card.jpg", "/v1/idcard/ocr", "front", 422, "recognition_failed", `"upstreamCode":"66661001"`},
		{"scenario-expired.jpg", "/v1/idcard/ocr", "back", 422, "recognition_failed", `"upstreamCode":"66661003"`},
		{"scenario-luhn-failure.jpg", "/v1/bankcard/ocr", "", 200, "", `"luhnValid":false`},
		{"scenario-blurred.jpg", "/v1/idcard/ocr", "front", 422, "recognition_failed", `"upstreamCode":"66661001"`},
		{"scenario-bank-warnings.png", "/v1/bankcard/ocr", "", 200, "", `"code":"recaptured"`},
	}
	if len(cases) != len(Samples) {
		t.Fatalf("%d cases for %d samples", len(cases), len(Samples))
	}
	readme, _ := os.ReadFile(filepath.Join("..", "..", "README.md"))
	for _, c := range cases {
		img, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		fields := map[string]string{}
		if c.side != "" {
			fields["side"] = c.side
		}
		ct, body := multipartBody(t, fields, img)
		st, out := do(t, s, "POST", c.route, ct, body, s.APIKey)
		if st != c.status || (c.code != "" && code(out) != c.code) || !strings.Contains(string(out), c.has) {
			t.Errorf("%s: %d %s", c.file, st, truncate(out))
		}
		if !bytes.Contains(readme, []byte("`"+c.file+"`")) {
			t.Errorf("README's scenario table does not list %s", c.file)
		}
	}

	// A photo of nothing in particular, never seen before: a card.
	photo := image.NewRGBA(image.Rect(0, 0, 800, 506))
	for y := range 506 {
		for x := range 800 {
			photo.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, photo, &jpeg.Options{Quality: 80})
	ct, body := multipartBody(t, map[string]string{"side": "front"}, buf.Bytes())
	st, out := do(t, s, "POST", "/v1/idcard/ocr", ct, body, s.APIKey)
	var r struct {
		Checks map[string]bool `json:"checks"`
	}
	json.Unmarshal(out, &r)
	if st != 200 || !r.Checks["idNumberValid"] || !r.Checks["birthDateMatches"] || !r.Checks["sexMatches"] {
		t.Errorf("a new photo: %d %s", st, truncate(out))
	}
}
