package cosarchive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/archive/archivetest"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/resultfetch"
	"github.com/cardocr/cardocr/shared/webank"
)

// fakeCOS speaks the part of the COS object API the archive uses (PUT, GET
// and HEAD Object, XML errors) for one bucket, and records the SSE header
// of every PUT. Unsigned requests are refused, as COS does.
type fakeCOS struct {
	mu      sync.Mutex
	objects map[string][]byte
	sse     map[string]string
	gets    int
}

func (f *fakeCOS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	if !strings.Contains(r.Header.Get("Authorization"), "q-sign-algorithm=sha1") {
		cosError(w, http.StatusForbidden, "AccessDenied")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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
		w.Header().Set("ETag", etag(data))
		w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(data, crcTable), 10))
		w.Header().Set("x-cos-server-side-encryption", f.sse[key])
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
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
	default:
		cosError(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
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
	f := &fakeCOS{objects: map[string][]byte{}, sse: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestOpenByURLAndBasics(t *testing.T) {
	fake, base := startFakeCOS(t)
	t.Setenv("TENCENTCLOUD_SECRETID", "AKIDtest")
	t.Setenv("TENCENTCLOUD_SECRETKEY", "secretkey")
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
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-guangzhou", Endpoint: base, SecretID: "id", SecretKey: "k"})
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
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-chengdu", Endpoint: base, SecretID: "AKIDtest", SecretKey: "k"})
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
	if _, err := svc.SubmitIDCard(ctx, ocr.IDCardRequest{Side: ocr.Front, Image: webank.BytesImage(img2), Head: img2, OrderNo: "idcmq18"}); err != nil {
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
	b, err := New(Config{Bucket: "evidence-1250000000", Region: "ap-chengdu", Endpoint: base, SecretID: "AKIDtest", SecretKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return b
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
