package cosarchive

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/presign"
)

// A presigned PUT is a request the COS fake (which checks COS's request
// signature strictly) accepts as it is, once, for the signed type and
// length; a POST Object form pins key, type, range and expiry.
func TestPresignUpload(t *testing.T) {
	fake, base := startFakeCOS(t)
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-chengdu", Endpoint: base, SecretID: testSecretID, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	photo := bytes.Repeat([]byte{0xFF, 0xD8}, 500)
	u := presign.Upload{Key: "uploads/bankcard/api/_/bank1.jpg", ContentType: "image/jpeg", Size: int64(len(photo)), MaxBytes: 20 << 20, Expires: time.Now().Add(10 * time.Minute)}
	f, err := b.PresignUpload(context.Background(), u, "PUT")
	if err != nil {
		t.Fatal(err)
	}
	put := func(body []byte, ct string) int {
		req, _ := http.NewRequest(http.MethodPut, f.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := put(photo, "image/png"); st != 403 {
		t.Errorf("another type: %d", st)
	}
	if st := put(append(photo, 0), "image/jpeg"); st != 403 {
		t.Errorf("another length: %d", st)
	}
	if st := put(photo, "image/jpeg"); st != 200 {
		t.Fatalf("PUT: %d", st)
	}
	fake.mu.Lock()
	got := fake.objects[u.Key]
	fake.mu.Unlock()
	if !bytes.Equal(got, photo) {
		t.Fatalf("stored %d bytes", len(got))
	}

	form, err := b.PresignUpload(context.Background(), u, "POST")
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := base64.StdEncoding.DecodeString(form.Fields["policy"])
	for _, want := range []string{`["eq","$key","uploads/bankcard/api/_/bank1.jpg"]`, `["eq","$Content-Type","image/jpeg"]`, `["content-length-range",1,20971520]`, `{"q-ak":"` + testSecretID + `"}`} {
		if !strings.Contains(string(policy), want) {
			t.Errorf("policy %s lacks %s", policy, want)
		}
	}
	if form.Method != "POST" || form.URL != base || form.FileField != "file" || form.Fields["q-signature"] != presign.COSPolicySignature(testSecretKey, form.Fields["q-key-time"], policy) {
		t.Errorf("form %+v", form)
	}
}
