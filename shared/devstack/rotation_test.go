package devstack

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
)

// The Tencent Cloud key pair rotates without a restart: the operator makes a
// new key, writes it to the credentials secret and disables the old one;
// the next call that the old key fails for makes the instance read the
// secret again, and the call after uses the new key. No key is logged.
func TestTencentCloudKeyRotatesWithoutARestart(t *testing.T) {
	s, logs := startStack(t, nil)
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 88}.JPEG()
	submit := func() int {
		code, _ := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "provider": "tencentcloud", "image": img})
		return code
	}
	if code := submit(); code != http.StatusOK {
		t.Fatalf("before: %d", code)
	}
	const newID, newKey = "AKIDrotated0001", "rotated-key-3c9e41"
	path := strings.TrimPrefix(s.Config.CredentialsURL, "file://")
	var m map[string]any
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &m)
	m["tencentcloudSecretId"], m["tencentcloudSecretKey"] = newID, newKey
	b, _ = json.Marshal(m)
	os.WriteFile(path, b, 0o600)
	s.TencentCloudEmulator.RotateTencentCloudKey(newID, newKey)

	first := submit() // signed with the old key: refused, and the secret is read again
	if first != http.StatusBadGateway && first != http.StatusOK {
		t.Fatalf("first call after the rotation: %d", first)
	}
	if code := submit(); code != http.StatusOK {
		t.Fatalf("second call after the rotation: %d", code)
	}
	for _, k := range []string{newKey, emulator.DefaultTencentCloudSecretKey} {
		if strings.Contains(logs.String(), k) {
			t.Error("a key is in the logs")
		}
	}
}
