package cosarchive

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/archive/archivetest"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/resultfetch"
)

// fakeCOS speaks the part of the COS object API the archive uses (PUT, GET
// and HEAD Object, XML errors) for one bucket, and records the SSE header
// of every PUT. Every request must carry a valid signature made with the
// test key pair (verifySignature), as COS requires.
type fakeCOS struct {
	mu      sync.Mutex
	objects map[string][]byte
	sse     map[string]string
	kmsKeys map[string]string // x-cos-server-side-encryption-cos-kms-key-id per key
	gets    int
	denied  int
	// The bucket itself: whether it exists, its ACL and its configuration
	// as last PUT (PUT Bucket, PUT Bucket lifecycle and encryption).
	missing    bool
	acl        string
	bucketConf map[string][]byte
}

const (
	testSecretID  = "AKIDtest"
	testSecretKey = "secretkey"
)

func (f *fakeCOS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	if code := verifySignature(r, testSecretID, testSecretKey, time.Now()); code != "" {
		f.mu.Lock()
		f.denied++
		f.mu.Unlock()
		cosError(w, http.StatusForbidden, code)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if key == "" && f.bucketRequest(w, r) {
		return
	}
	if f.missing {
		cosError(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	switch r.Method {
	case http.MethodPut:
		data, err := io.ReadAll(r.Body)
		if err != nil || int64(len(data)) != r.ContentLength {
			cosError(w, http.StatusBadRequest, "IncompleteBody")
			return
		}
		// PUT Object's x-cos-forbid-overwrite: true refuses to replace an
		// existing object (the fake answers 409; the client does not rely
		// on the code, it checks with a HEAD).
		if _, exists := f.objects[key]; exists && strings.EqualFold(r.Header.Get("x-cos-forbid-overwrite"), "true") {
			cosError(w, http.StatusConflict, "FileAlreadyExists")
			return
		}
		f.objects[key] = data
		f.sse[key] = r.Header.Get("x-cos-server-side-encryption")
		f.kmsKeys[key] = r.Header.Get("x-cos-server-side-encryption-cos-kms-key-id")
		w.Header().Set("ETag", etag(data))
		w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(data, crcTable), 10))
		w.Header().Set("x-cos-server-side-encryption", f.sse[key])
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		// DELETE Object answers 204 whether or not the key existed.
		delete(f.objects, key)
		delete(f.sse, key)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		if key != "" {
			f.getObject(w, r, key)
			return
		}
		// GET Bucket (List Objects): prefix, marker and max-keys; keys in
		// lexical order; IsTruncated and NextMarker when a page is full.
		q := r.URL.Query()
		limit, err := strconv.Atoi(q.Get("max-keys"))
		if err != nil || limit <= 0 || limit > 1000 {
			limit = 1000
		}
		var keys []string
		for k := range f.objects {
			if strings.HasPrefix(k, q.Get("prefix")) && k > q.Get("marker") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		truncated := len(keys) > limit
		if truncated {
			keys = keys[:limit]
		}
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bucket</Name>`)
		for _, k := range keys {
			b.WriteString("<Contents><Key>")
			xml.EscapeText(&b, []byte(k))
			b.WriteString("</Key></Contents>")
		}
		fmt.Fprintf(&b, "<IsTruncated>%t</IsTruncated>", truncated)
		if truncated {
			b.WriteString("<NextMarker>")
			xml.EscapeText(&b, []byte(keys[len(keys)-1]))
			b.WriteString("</NextMarker>")
		}
		b.WriteString("</ListBucketResult>")
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, b.String())
	case http.MethodHead:
		f.getObject(w, r, key)
	default:
		cosError(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
}

// bucketRequest answers the bucket APIs cmd/cosbucket uses (the lock is
// held): HEAD Bucket, PUT Bucket, PUT Bucket lifecycle and encryption, whose
// documents require Content-MD5 (checked) and a well-formed XML body. It
// returns false for GET Bucket (the listing), answered with the objects.
func (f *fakeCOS) bucketRequest(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodHead:
		if f.missing {
			w.WriteHeader(http.StatusNotFound)
		} else {
			w.WriteHeader(http.StatusOK)
		}
	case r.Method == http.MethodPut && len(q) == 0:
		if !f.missing {
			cosError(w, http.StatusConflict, "BucketAlreadyExists")
			return true
		}
		f.missing, f.acl = false, r.Header.Get("x-cos-acl")
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPut && (q.Has("lifecycle") || q.Has("encryption")):
		body, _ := io.ReadAll(r.Body)
		sum := md5.Sum(body)
		if r.Header.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) {
			cosError(w, http.StatusBadRequest, "InvalidDigest")
			return true
		}
		if xml.Unmarshal(body, new(struct{})) != nil {
			cosError(w, http.StatusBadRequest, "MalformedXML")
			return true
		}
		if f.missing {
			cosError(w, http.StatusNotFound, "NoSuchBucket")
			return true
		}
		for k := range q {
			f.bucketConf[k] = body
		}
		w.WriteHeader(http.StatusOK)
	default:
		return false
	}
	return true
}

// getObject answers GET and HEAD Object (the lock is held).
func (f *fakeCOS) getObject(w http.ResponseWriter, r *http.Request, key string) {
	{
		data, ok := f.objects[key]
		if !ok {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			cosError(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("ETag", etag(data))
		w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(data, crcTable), 10))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			f.gets++
			w.Write(data)
		}
	}
}

// verifySignature checks Authorization as COS's request signature document
// describes (https://cloud.tencent.com/document/product/436/7778), written
// from the document and independently of the client's Sign: KeyTime
// "start;end" around now; SignKey = HMAC-SHA1(SecretKey, KeyTime) in hex;
// HttpString = method (lower case), path, the listed parameters and
// headers as sorted key=value pairs (keys lower-cased, both URL-encoded);
// StringToSign = "sha1", KeyTime, SHA1(HttpString) in hex; Signature =
// HMAC-SHA1(SignKey, StringToSign) in hex. The host must be signed. It
// returns the COS error code, or "".
func verifySignature(r *http.Request, id, key string, now time.Time) string {
	q := url.Values{} // not url.ParseQuery: the lists are ";"-separated
	auth := r.Header.Get("Authorization")
	if auth == "" && r.URL.Query().Get("q-sign-algorithm") != "" {
		auth = r.URL.RawQuery // a presigned URL carries the signature as its query
	}
	for _, kv := range strings.Split(auth, "&") {
		k, v, _ := strings.Cut(kv, "=")
		q.Set(k, v)
	}
	if q.Get("q-sign-algorithm") != "sha1" {
		return "AccessDenied"
	}
	if q.Get("q-ak") != id {
		return "InvalidAccessKeyId"
	}
	kt := q.Get("q-key-time")
	from, to, ok := strings.Cut(kt, ";")
	a, err1 := strconv.ParseInt(from, 10, 64)
	b, err2 := strconv.ParseInt(to, 10, 64)
	if !ok || err1 != nil || err2 != nil || q.Get("q-sign-time") != kt || now.Unix() < a || now.Unix() > b {
		return "RequestTimeTooSkewed"
	}
	enc := func(s string) string {
		var out strings.Builder
		for _, c := range []byte(s) {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
				out.WriteByte(c)
			} else {
				fmt.Fprintf(&out, "%%%02X", c)
			}
		}
		return out.String()
	}
	pairs := func(list string, value func(name string) []string) (string, bool) {
		if list == "" {
			return "", true
		}
		// "按照 key 的字典序排序": sorted by key, not by the key=value
		// string (they differ when one key is a prefix of another).
		names := strings.Split(list, ";")
		sort.Strings(names)
		var kv []string
		for _, name := range names {
			vs := value(name)
			if len(vs) == 0 {
				return "", false // signed but not sent
			}
			for _, v := range vs {
				kv = append(kv, name+"="+enc(v))
			}
		}
		return strings.Join(kv, "&"), true
	}
	headerList := q.Get("q-header-list")
	if !slices.Contains(strings.Split(headerList, ";"), "host") {
		return "AccessDenied"
	}
	headers, ok1 := pairs(headerList, func(name string) []string {
		switch name {
		case "host":
			return []string{r.Host}
		case "content-length":
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		for k, v := range r.Header {
			if strings.ToLower(enc(k)) == name {
				return v
			}
		}
		return nil
	})
	params, ok2 := pairs(q.Get("q-url-param-list"), func(name string) []string {
		for k, v := range r.URL.Query() {
			if strings.ToLower(enc(k)) == name {
				return v
			}
		}
		return nil
	})
	if !ok1 || !ok2 {
		return "AccessDenied"
	}
	mac := func(k []byte, m string) []byte { h := hmac.New(sha1.New, k); h.Write([]byte(m)); return h.Sum(nil) }
	sum := sha1.Sum([]byte(strings.ToLower(r.Method) + "\n" + r.URL.Path + "\n" + params + "\n" + headers + "\n"))
	signKey := hex.EncodeToString(mac([]byte(key), kt))
	want := hex.EncodeToString(mac([]byte(signKey), "sha1\n"+kt+"\n"+hex.EncodeToString(sum[:])+"\n"))
	if !hmac.Equal([]byte(want), []byte(q.Get("q-signature"))) {
		return "SignatureDoesNotMatch"
	}
	return ""
}

var crcTable = crc64.MakeTable(crc64.ECMA)

func etag(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func cosError(w http.ResponseWriter, st int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-cos-request-id", "req-test")
	w.WriteHeader(st)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>req-test</RequestId></Error>`, code, code)
}

func startFakeCOS(t *testing.T) (*fakeCOS, string) {
	f := &fakeCOS{objects: map[string][]byte{}, sse: map[string]string{}, kmsKeys: map[string]string{}, bucketConf: map[string][]byte{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestOpenByURLAndBasics(t *testing.T) {
	fake, base := startFakeCOS(t)
	t.Setenv("TENCENTCLOUD_SECRETID", testSecretID)
	t.Setenv("TENCENTCLOUD_SECRETKEY", testSecretKey)
	t.Setenv("TENCENTCLOUD_SESSIONTOKEN", "")
	ctx := context.Background()
	a, err := archive.Open(ctx, "cos://evidence-1250000000?region=ap-guangzhou&prefix=/cardocr/prod/&endpoint="+base)
	if err != nil {
		t.Fatal(err)
	}
	if a.Prefix != "cardocr/prod" {
		t.Errorf("prefix %q", a.Prefix)
	}
	if done, err := a.Done(ctx, "idcard", "order1"); err != nil || done {
		t.Fatalf("Done on an empty bucket: %v %v", done, err)
	}
	if _, err := a.Save(ctx, archive.Record{Kind: "idcard", OrderNo: "order1", Result: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if done, err := a.Done(ctx, "idcard", "order1"); err != nil || !done {
		t.Fatalf("Done after Save: %v %v", done, err)
	}
	if fake.sse["cardocr/prod/_done/idcard/order1.json"] != "AES256" {
		t.Errorf("SSE: %v", fake.sse)
	}
	for _, bad := range []string{"cos://evidence?region=ap-guangzhou", "cos://evidence-1250000000", "cos://evidence-1250000000?region=x&endpoint=ftp://h"} {
		if _, err := archive.Open(ctx, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	t.Setenv("TENCENTCLOUD_SECRETKEY", "")
	if _, err := archive.Open(ctx, "cos://evidence-1250000000?region=ap-guangzhou"); err == nil {
		t.Error("no credentials: no error")
	}
}

func TestErrorsDoNotRepeatKeys(t *testing.T) {
	_, base := startFakeCOS(t)
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-guangzhou", Endpoint: base, SecretID: testSecretID, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Open(context.Background(), "uploads/bankcard/6222020000000000001.jpg")
	if !errors.Is(err, archive.ErrNotExist) || strings.Contains(err.Error(), "6222020000000000001") {
		t.Errorf("err = %v", err)
	}
	if got := longRegion("cd"); got != "ap-chengdu" {
		t.Errorf("longRegion(cd) = %q", got)
	}
}

func TestCOSUploadEventAndCMQMessage(t *testing.T) {
	ctx := context.Background()
	fake, base := startFakeCOS(t)
	up := archivetest.NewUpstream(t)
	emu, svc, quiet := up.Emu, up.Svc, slog.New(slog.DiscardHandler)
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-chengdu", Endpoint: base, SecretID: testSecretID, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	h := &resultfetch.Handler{OCR: svc, Archive: archive.New(b, "cardocr"), Logger: quiet}
	emu.ResetCounts()

	// An upload to the same bucket, as a mini-program puts it there.
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 17}.JPEG()
	key := "uploads/bankcard/user17/card.jpg"
	if err := b.Put(ctx, key, img, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	event := `{"Records":[{"cos":{"cosSchemaVersion":"1.0","cosObject":{"url":"http://evidence-1250000000.cos.ap-chengdu.myqcloud.com/` + key + `","meta":{"x-cos-request-id":"NWM=","Content-Type":""},"vid":"","key":"/1250000000/evidence/` + key + `","size":` + strconv.Itoa(len(img)) + `},"cosBucket":{"region":"cd","name":"evidence","appid":"1250000000"},"cosNotificationId":"unkown"},"event":{"eventName":"cos:ObjectCreated:*","eventVersion":"1.0","eventTime":1545205770,"eventSource":"qcs::cos","requestParameters":{"requestSourceIP":"192.168.15.101","requestHeaders":{"Authorization":"x"}},"eventQueue":"q","reservedInfo":"","reqid":179398952}}]}`
	out, err := h.Handle(ctx, json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	if s := out.(resultfetch.Summary); s.Outcomes["archived"] != 1 {
		t.Fatalf("%+v", s)
	}
	orderNo := resultfetch.UploadOrderNo("evidence-1250000000", key, strings.Trim(etag(img), `"`), int64(len(img)))
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006/01/02")
	resultKey := "cardocr/bankcard/" + day + "/" + orderNo + "/result.json"
	fake.mu.Lock()
	doc, sse := fake.objects[resultKey], fake.sse[resultKey]
	fake.mu.Unlock()
	if !bytes.Contains(doc, []byte(emulator.BankCard(17).Number)) || !bytes.Contains(doc, []byte(`"key": "`+key+`"`)) {
		t.Errorf("result.json at %s: %s", resultKey, doc)
	}
	if sse != "AES256" {
		t.Errorf("SSE header %q", sse)
	}
	if _, err := h.Handle(ctx, json.RawMessage(event)); err != nil {
		t.Fatal(err)
	}
	if n := emu.Count(emulator.EndpointBankCardOCR); n != 1 {
		t.Errorf("submits = %d, want 1", n)
	}

	// A CMQ message for an order submitted elsewhere: result and photos.
	img2 := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 18}.JPEG()
	if _, err := svc.SubmitIDCard(ctx, ocr.IDCardRequest{Side: ocr.Front, Image: ocr.BytesImage(img2), OrderNo: "idcmq18"}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(`{"kind":"idcard","orderNo":"idcmq18"}`)
	if _, err := h.Handle(ctx, json.RawMessage(`{"Records":[{"CMQ":{"type":"topic","topicOwner":"1250000000","topicName":"t","msgId":"9","msgBody":`+string(body)+`,"msgTag":["a"]}}]}`)); err != nil {
		t.Fatal(err)
	}
	dir := "cardocr/idcard/" + day + "/idcmq18/"
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, k := range []string{"result.json", "frontPhoto.jpg", "frontCrop.jpg", "headPhoto.jpg"} {
		if _, ok := fake.objects[dir+k]; !ok || fake.sse[dir+k] != "AES256" {
			t.Errorf("%s missing or unencrypted", dir+k)
		}
	}
	if !bytes.Equal(fake.objects[dir+"frontPhoto.jpg"], img2) {
		t.Errorf("frontPhoto differs from the upload")
	}
}

func newTestBucket(t *testing.T) *Bucket {
	t.Helper()
	_, base := startFakeCOS(t)
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-chengdu", Endpoint: base, SecretID: testSecretID, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCOSErasure(t *testing.T) {
	archivetest.Erasure(t, newTestBucket(t))
}

func TestCOSBucketConformance(t *testing.T) {
	archivetest.Conformance(t, newTestBucket(t))
}

// Eight simultaneous deliveries of one upload submit it once: the pending
// marker is a PUT with x-cos-forbid-overwrite: true, which the fake enforces.
func TestCOSConcurrentDeliveriesSubmitOnce(t *testing.T) {
	archivetest.ConcurrentDeliveriesSubmitOnce(t, newTestBucket(t), "evidence-1250000000", "uploads/bankcard/808.jpg",
		func(key string, size int64, _ string) string {
			return `{"Records":[{"cos":{"cosSchemaVersion":"1.0","cosObject":{"url":"http://evidence-1250000000.cos.ap-chengdu.myqcloud.com/` + key +
				`","key":"/1250000000/evidence/` + key + `","size":` + strconv.FormatInt(size, 10) + `},"cosBucket":{"region":"cd","name":"evidence","appid":"1250000000"}},"event":{"eventName":"cos:ObjectCreated:*","eventSource":"qcs::cos"}}]}`
		})
}

// The fake's verification agrees with the signer Tencent ships: requests
// signed by cos-go-sdk-v5 (a test-only dependency) pass it, a wrong key
// does not, and so do the client's own requests (every other test).
func TestSignatureAgreesWithTheSDK(t *testing.T) {
	fake, base := startFakeCOS(t)
	bu, _ := url.Parse(base)
	for _, tc := range []struct {
		key  string
		want int
	}{{testSecretKey, http.StatusOK}, {"wrong", http.StatusForbidden}} {
		c := cos.NewClient(&cos.BaseURL{BucketURL: bu}, &http.Client{Transport: &cos.AuthorizationTransport{SecretID: testSecretID, SecretKey: tc.key, SessionToken: "tok"}})
		resp, err := c.Object.Put(context.Background(), "sdk/a b+c.json", strings.NewReader(`{"a":1}`), &cos.ObjectPutOptions{
			ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{ContentType: "application/json", XCosServerSideEncryption: "AES256"}})
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		if st != tc.want {
			t.Errorf("SDK-signed PUT with key %q: HTTP %d (%v), want %d", tc.key, st, err, tc.want)
		}
	}
	if fake.denied != 1 {
		t.Errorf("%d requests denied, want 1", fake.denied)
	}
	// The client's own signature over a key with spaces and a query.
	req := httptest.NewRequest(http.MethodGet, base+"/x/a%20b.json?versionId=1&acl", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-cos-security-token", "tok")
	now := time.Now()
	req.Header.Set("Authorization", Sign(req, testSecretID, testSecretKey, now.Add(-time.Minute), now.Add(time.Minute)))
	if code := verifySignature(req, testSecretID, testSecretKey, now); code != "" {
		t.Errorf("Sign: %s", code)
	}
	if code := verifySignature(req, testSecretID, testSecretKey, now.Add(2*time.Minute)); code != "RequestTimeTooSkewed" {
		t.Errorf("expired: %q", code)
	}
	req.Header.Set("x-cos-security-token", "changed")
	if code := verifySignature(req, testSecretID, testSecretKey, now); code != "SignatureDoesNotMatch" {
		t.Errorf("a signed header changed: %q", code)
	}
}

// A wrong key is refused by COS: the error keeps the status and code.
func TestWrongKeyRefused(t *testing.T) {
	_, base := startFakeCOS(t)
	b, _ := New(Config{Bucket: "evidence-1250000000", Region: "ap-guangzhou", Endpoint: base, SecretID: testSecretID, SecretKey: "wrong"})
	err := b.Put(context.Background(), "x/a.json", []byte(`{}`), "application/json")
	if err == nil || !strings.Contains(err.Error(), "403 SignatureDoesNotMatch") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("%v", err)
	}
}

// The deploy's bucket setup: created private, default encryption under the
// operator's KMS key, and the retention rules, each as the documents give
// them; objects are then written under that key.
func TestBucketSetupSendsTheDocumentedRules(t *testing.T) {
	ctx := context.Background()
	fake, base := startFakeCOS(t)
	fake.missing = true
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-chengdu", Endpoint: base, SecretID: testSecretID, SecretKey: testSecretKey,
		SSE: "cos/kms", KMSKeyID: "kms-key-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Exists(ctx); err != nil || ok {
		t.Fatalf("exists before: %v %v", ok, err)
	}
	if err := b.CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Exists(ctx); err != nil || !ok || fake.acl != "private" {
		t.Fatalf("exists after: %v %v, acl %q", ok, err, fake.acl)
	}
	if err := b.PutEncryption(ctx, "kms-key-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.PutLifecycle(ctx, archive.RetentionRules("archive", 180, 1096)); err != nil {
		t.Fatal(err)
	}
	want := `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>KMS</SSEAlgorithm>` +
		`<KMSMasterKeyID>kms-key-1</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`
	if got := string(fake.bucketConf["encryption"]); got != want {
		t.Errorf("encryption:\n%s\nwant\n%s", got, want)
	}
	var lc struct {
		Rules []struct {
			ID     string `xml:"ID"`
			Prefix string `xml:"Filter>Prefix"`
			Status string `xml:"Status"`
			Days   int    `xml:"Expiration>Days"`
		} `xml:"Rule"`
	}
	if err := xml.Unmarshal(fake.bucketConf["lifecycle"], &lc); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range lc.Rules {
		if r.Status != "Enabled" || r.ID == "" {
			t.Errorf("rule %+v", r)
		}
		got[r.Prefix] = r.Days
	}
	if got["uploads/"] != 1 || got["archive/idcard/"] != 180 || got["archive/_orders/"] != 180 || got["archive/_audit/"] != 1096 || got["archive/_tenants/"] != 180 || got["archive/_callbacks/"] != 180 || len(got) != 10 {
		t.Errorf("lifecycle rules: %s", fake.bucketConf["lifecycle"])
	}
	if err := b.Put(ctx, "archive/x.json", []byte("{}"), "application/json"); err != nil {
		t.Fatal(err)
	}
	if fake.sse["archive/x.json"] != "cos/kms" || fake.kmsKeys["archive/x.json"] != "kms-key-1" {
		t.Errorf("object encryption %q key %q", fake.sse["archive/x.json"], fake.kmsKeys["archive/x.json"])
	}
}
