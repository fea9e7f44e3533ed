package resultfetch

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/webank"
)

func submitID(t *testing.T, f *fixture, seed int64, orderNo string) {
	t.Helper()
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
	if _, err := f.svc.SubmitIDCard(context.Background(), ocr.IDCardRequest{Side: ocr.Front, Image: ocr.BytesImage(img), OrderNo: orderNo}); err != nil {
		t.Fatal(err)
	}
}

func submitBank(t *testing.T, f *fixture, seed int64, orderNo string) {
	t.Helper()
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed}.JPEG()
	if _, err := f.svc.SubmitBankCard(context.Background(), ocr.BankCardRequest{Image: ocr.BytesImage(img), OrderNo: orderNo}); err != nil {
		t.Fatal(err)
	}
}

func sqsEvent(msgs map[string]string) string {
	var recs []string
	for id, body := range msgs {
		b, _ := json.Marshal(body)
		recs = append(recs, `{"messageId":"`+id+`","receiptHandle":"rh","body":`+string(b)+`,"attributes":{},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:1:q","awsRegion":"us-east-1"}`)
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

// submitSlow submits a bank card whose photos never come (within a test).
func submitSlow(t *testing.T, f *fixture, seed int64, orderNo string) {
	t.Helper()
	f.emu.SetPhotoDelay(time.Hour)
	submitBank(t, f, seed, orderNo)
	f.emu.SetPhotoDelay(0)
	f.svc.PhotoWait = 100 * time.Millisecond
	f.h.PhotoPatience = 300 * time.Millisecond
}

func TestSQSBatchWithOneFailingItem(t *testing.T) {
	f := newFixture(t)
	submitID(t, f, 11, "idq0001")
	submitBank(t, f, 12, "bankq0001")
	submitSlow(t, f, 13, "bankslow01")
	f.emu.ResetCounts()
	event := sqsEvent(map[string]string{
		"m-id":      `{"kind":"idcard","orderNo":"idq0001"}`,
		"m-bank":    `{"kind":"bankcard","orderNo":"bankq0001"}`,
		"m-slow":    `{"kind":"bankcard","orderNo":"bankslow01"}`,
		"m-missing": `{"kind":"bankcard","orderNo":"nosuchorder9"}`,
		"m-garbage": `not json`,
		"m-kind":    `{"kind":"passport","orderNo":"x1"}`,
	})
	out, err := f.invoke(t, event)
	if err != nil {
		t.Fatal(err)
	}
	resp := out.(SQSResponse)
	// Only what a redelivery can mend fails: the photos not there yet.
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-slow" {
		t.Fatalf("batchItemFailures = %+v", resp.BatchItemFailures)
	}
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), `"batchItemFailures":[{"itemIdentifier":"m-slow"}]`) {
		t.Errorf("wire shape: %s", b)
	}

	id := f.archived(t, "idcard", "idq0001")
	if len(id.Photos) != 3 || !strings.Contains(string(id.Result), emulator.Person(11).IDNumber) {
		t.Errorf("idcard archive: photos %v", id.Photos)
	}
	if strings.Contains(string(id.Result), "frontPhoto") {
		t.Errorf("photos left inside result.json")
	}
	bank := f.archived(t, "bankcard", "bankq0001")
	if len(bank.Photos) != 3 || !strings.Contains(string(bank.Result), emulator.BankCard(12).Number) {
		t.Errorf("bankcard archive: photos %v", bank.Photos)
	}
	// An order the upstream does not know: archived as an error, after one query.
	if missing := f.archived(t, "bankcard", "nosuchorder9"); missing.Error == nil || missing.Error.Code != "not_found" {
		t.Errorf("unknown order: %+v", missing.Error)
	}
	// Messages that can never succeed: recorded under _rejected/, acknowledged.
	rejected, _ := filepath.Glob(filepath.Join(f.dir, "store", "evidence", "_rejected", "*", "*", "*", "*.json"))
	if len(rejected) != 2 {
		t.Errorf("rejection records %v, want 2", rejected)
	}
	if n := f.emu.Count(emulator.EndpointOCRResult); n != 1 {
		t.Errorf("ID queries = %d, want 1", n)
	}

	// Redelivery: the archived orders cost nothing; the slow one is asked again.
	f.emu.ResetCounts()
	out, err = f.invoke(t, event)
	if err != nil || len(out.(SQSResponse).BatchItemFailures) != 1 {
		t.Fatalf("redelivery: %+v %v", out, err)
	}
	if c := f.emu.Count(emulator.EndpointOCRResult); c != 0 {
		t.Errorf("redelivery queried the archived ID card order %d times", c)
	}
	if c := f.emu.Count(emulator.EndpointBankCardResult); c < 1 {
		t.Errorf("redelivery did not ask for the late photos again")
	}
	f.assertClean(t, emulator.Person(11).IDNumber, emulator.Person(11).Name, emulator.BankCard(12).Number)
}

func TestAllGoodSQSBatchAnswersEmptyFailures(t *testing.T) {
	f := newFixture(t)
	submitBank(t, f, 3, "bankok01")
	out, err := f.invoke(t, sqsEvent(map[string]string{"m1": `{"kind":"bankcard","orderNo":"bankok01"}`}))
	b, _ := json.Marshal(out)
	if err != nil || string(b) != `{"batchItemFailures":[]}` {
		t.Fatalf("%s %v", b, err)
	}
}

func TestCMQMessage(t *testing.T) {
	f := newFixture(t)
	submitBank(t, f, 21, "bankcmq01")
	body, _ := json.Marshal(`{"kind":"bankcard","orderNo":"bankcmq01"}`)
	event := `{"Records":[{"CMQ":{"type":"topic","topicOwner":120000,"topicName":"evidence","subscriptionName":"resultfetch","publishTime":"2026-01-02T03:04:05.000Z","msgId":"123456789","requestId":"r1","msgBody":` + string(body) + `,"msgTag":"a, b"}}]}`
	out, err := f.invoke(t, event)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := out.(Summary); !ok || s.Outcomes[string(Archived)] != 1 {
		t.Fatalf("%+v", out)
	}
	f.archived(t, "bankcard", "bankcmq01")
	// A CMQ batch with a failure fails the invocation, so CMQ redelivers.
	submitSlow(t, f, 22, "bankcmqslow")
	bad, _ := json.Marshal(`{"kind":"bankcard","orderNo":"bankcmqslow"}`)
	_, err = f.invoke(t, `{"Records":[{"CMQ":{"msgId":"1","msgBody":`+string(body)+`}},{"CMQ":{"msgId":"2","msgBody":`+string(bad)+`}}]}`)
	if !errors.Is(err, ErrItemsFailed) {
		t.Errorf("err = %v, want ErrItemsFailed", err)
	}
}

func s3Event(bucket, key string, size int) string {
	return `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"` + bucket + `","arn":"arn:aws:s3:::` + bucket + `"},"object":{"key":"` + key + `","size":` + itoa(size) + `,"eTag":"0123abcd","sequencer":"0A1B"}}}]}`
}

func cosEvent(appid, name, key string, size int) string {
	return `{"Records":[{"cos":{"cosSchemaVersion":"1.0","cosObject":{"url":"http://` + name + `-` + appid + `.cos.ap-chengdu.myqcloud.com/` + key + `","meta":{"x-cos-request-id":"NWM=","Content-Type":""},"vid":"","key":"/` + appid + `/` + name + `/` + key + `","size":` + itoa(size) + `},"cosBucket":{"region":"cd","name":"` + name + `","appid":"` + appid + `"},"cosNotificationId":"unkown"},"event":{"eventName":"cos:ObjectCreated:*","eventVersion":"1.0","eventTime":1545205770,"eventSource":"qcs::cos","requestParameters":{"requestSourceIP":"192.168.15.101","requestHeaders":{"Authorization":"x"}},"eventQueue":"qcs:0:lambda:cd:appid/1253970026:default.printevent.$LATEST","reservedInfo":"","reqid":179398952}}]}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestS3UploadEvent(t *testing.T) {
	f := newFixture(t)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 31}.JPEG()
	key := "uploads/bankcard/user 7/card+1.jpg"
	f.upload(t, key, img)
	info, _ := f.bucket.Stat(context.Background(), key)
	event := s3Event("evidence-bucket", url.QueryEscape(key), len(img))
	out, err := f.invoke(t, event)
	if err != nil {
		t.Fatal(err)
	}
	if s := out.(Summary); s.Outcomes[string(Archived)] != 1 {
		t.Fatalf("%+v", s)
	}
	orderNo := UploadOrderNo("evidence-bucket", key, info.ETag, info.Size)
	doc := f.archived(t, "bankcard", orderNo)
	if doc.Source == nil || doc.Source.Key != key || doc.Source.Size != int64(len(img)) {
		t.Errorf("source %+v", doc.Source)
	}
	// One copy is kept: the upload goes once its order is archived.
	if _, err := f.bucket.Stat(context.Background(), key); !errors.Is(err, archive.ErrNotExist) {
		t.Errorf("the uploaded object is still there after archiving: %v", err)
	}
	if !strings.Contains(string(doc.Result), emulator.BankCard(31).Number) {
		t.Errorf("result: %s", doc.Result)
	}
	if c := f.emu.Count(emulator.EndpointBankCardOCR); c != 1 {
		t.Errorf("submits = %d", c)
	}
	// Redelivered: no second submission.
	if _, err := f.invoke(t, event); err != nil {
		t.Fatal(err)
	}
	if c := f.emu.Count(emulator.EndpointBankCardOCR); c != 1 {
		t.Errorf("redelivery submitted again: %d submits", c)
	}
	// Objects outside uploads/ are ignored.
	out, err = f.invoke(t, s3Event("evidence-bucket", "evidence%2Fbankcard%2Fx.json", 3))
	if err != nil || out.(Summary).Outcomes[string(Ignored)] != 1 {
		t.Errorf("outside uploads/: %+v %v", out, err)
	}
	f.assertClean(t, emulator.BankCard(31).Number)
}

func TestCOSUploadEventWithAppIDBucketKey(t *testing.T) {
	f := newFixture(t)
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 41}.JPEG()
	key := "uploads/idcard/back/u41.jpg"
	f.upload(t, key, img)
	info, _ := f.bucket.Stat(context.Background(), key)
	var gotBucket, gotRegion string
	f.h.Uploads = func(_ context.Context, bucket, region string) (archive.Bucket, error) {
		gotBucket, gotRegion = bucket, region
		return f.bucket, nil
	}
	if _, err := f.invoke(t, cosEvent("1253970026", "testpic", key, len(img))); err != nil {
		t.Fatal(err)
	}
	if gotBucket != "testpic-1253970026" || gotRegion != "ap-chengdu" {
		t.Errorf("bucket %q region %q", gotBucket, gotRegion)
	}
	doc := f.archived(t, "idcard", UploadOrderNo("testpic-1253970026", key, info.ETag, info.Size))
	if doc.Source.Key != key || !strings.Contains(string(doc.Result), `"side": "back"`) || !strings.Contains(string(doc.Result), emulator.Person(41).Authority) {
		t.Errorf("doc: %+v %s", doc.Source, doc.Result)
	}
	if c := f.emu.Count(emulator.EndpointIDCardOCR); c != 1 {
		t.Errorf("submits = %d", c)
	}
	if _, err := f.invoke(t, cosEvent("1253970026", "testpic", key, len(img))); err != nil {
		t.Fatal(err)
	}
	if c := f.emu.Count(emulator.EndpointIDCardOCR); c != 1 {
		t.Errorf("redelivery submitted again: %d", c)
	}
}

func TestArchiveFailureIsRetriedWithoutBillingTwice(t *testing.T) {
	f := newFixture(t)
	flaky := &flakyBucket{Bucket: f.bucket, failSuffix: "result.json"}
	f.h.Archive = archive.New(flaky, "evidence")
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 51}.JPEG()
	key := "uploads/bankcard/51.jpg"
	f.upload(t, key, img)
	info, _ := f.bucket.Stat(context.Background(), key)
	event := s3Event("b", key, len(img))
	if _, err := f.invoke(t, event); !errors.Is(err, ErrItemsFailed) {
		t.Fatalf("first delivery: err = %v, want ErrItemsFailed", err)
	}
	if _, err := f.invoke(t, event); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	// One submit; one query for the photos after it, one on the redelivery
	// (queries are not billed).
	if s, q := f.emu.Count(emulator.EndpointBankCardOCR), f.emu.Count(emulator.EndpointBankCardResult); s != 1 || q != 2 {
		t.Errorf("submits %d, queries %d; want 1 and 2", s, q)
	}
	doc := f.archived(t, "bankcard", UploadOrderNo("b", key, info.ETag, info.Size))
	if !strings.Contains(string(doc.Result), emulator.BankCard(51).Number) {
		t.Errorf("result: %s", doc.Result)
	}
}

func TestPermanentUploadFailuresAreArchived(t *testing.T) {
	f := newFixture(t)
	cases := map[string][]byte{
		"uploads/bankcard/text.jpg":   []byte("this is not an image at all"),
		"uploads/bankcard/blurry.jpg": emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 61, Blurry: true}.JPEG(),
		"uploads/bankcard/toobig.jpg": emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 62, MinSize: 3<<20 + 1}.JPEG(),
		"uploads/idcard/front/bk.jpg": emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 63}.JPEG(),
	}
	want := map[string]string{
		"uploads/bankcard/text.jpg": "invalid_image", "uploads/bankcard/blurry.jpg": "recognition_failed",
		"uploads/bankcard/toobig.jpg": "image_too_large", "uploads/idcard/front/bk.jpg": "recognition_failed",
	}
	for key, data := range cases {
		f.upload(t, key, data)
		info, _ := f.bucket.Stat(context.Background(), key)
		out, err := f.invoke(t, s3Event("b", key, len(data)))
		if err != nil || out.(Summary).Outcomes[string(FailedArchived)] != 1 {
			t.Errorf("%s: %+v %v", key, out, err)
			continue
		}
		kind := "bankcard"
		if strings.Contains(key, "idcard") {
			kind = "idcard"
		}
		doc := f.archived(t, kind, UploadOrderNo("b", key, info.ETag, info.Size))
		if doc.Error == nil || doc.Error.Code != want[key] {
			t.Errorf("%s: error %+v", key, doc.Error)
		}
	}
	// Bad input never reached the upstream; recognition failures once each.
	if s := f.emu.Count(emulator.EndpointBankCardOCR); s != 1 {
		t.Errorf("bank submits = %d, want 1 (the blurry one)", s)
	}
	for key, data := range cases {
		f.invoke(t, s3Event("b", key, len(data)))
	}
	if s, i := f.emu.Count(emulator.EndpointBankCardOCR), f.emu.Count(emulator.EndpointIDCardOCR); s != 1 || i != 1 {
		t.Errorf("redelivery called the upstream: bank %d, id %d", s, i)
	}
}

func TestUnsupportedEvents(t *testing.T) {
	f := newFixture(t)
	for _, ev := range []string{`{"hello":1}`, `[1,2]`, `"x"`} {
		if _, err := f.invoke(t, ev); err == nil {
			t.Errorf("%s: no error", ev)
		}
	}
	// A bare message (local queue, manual invoke) works.
	submitBank(t, f, 71, "bankbare1")
	out, err := f.invoke(t, `{"kind":"bankcard","orderNo":"bankbare1"}`)
	if err != nil || out.(Summary).Outcomes[string(Archived)] != 1 {
		t.Errorf("bare message: %+v %v", out, err)
	}
}

// A pending upload the upstream has no result for: while the submission
// may be in flight, the delivery fails (redelivered); after that it is
// archived as an error after one lookup and never submitted again. An
// upload whose claimed submission provably never left is submitted.
func TestPendingUploadWithoutResult(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 91}.JPEG()
	key := "uploads/bankcard/91.jpg"
	f.upload(t, key, img)
	info, _ := f.bucket.Stat(ctx, key)
	orderNo := UploadOrderNo("b", key, info.ETag, info.Size)
	if ok, err := f.archive.ClaimPending(ctx, "bankcard", orderNo); err != nil || !ok {
		t.Fatal(ok, err)
	}
	event := s3Event("b", key, len(img))

	f.emu.ResetCounts()
	if _, err := f.invoke(t, event); !errors.Is(err, ErrItemsFailed) || !strings.Contains(f.logs.String(), ErrSubmissionInFlight.Error()) {
		t.Fatalf("within the grace: %v", err)
	}
	f.h.Now = func() time.Time { return time.Now().Add(DefaultPendingGrace + time.Second) }
	f.emu.ResetCounts()
	out, err := f.invoke(t, event)
	if err != nil || out.(Summary).Outcomes[string(FailedArchived)] != 1 {
		t.Fatalf("after the grace: %+v %v", out, err)
	}
	if q, s := f.emu.Count(emulator.EndpointBankCardResult), f.emu.Count(emulator.EndpointBankCardOCR); q != 1 || s != 0 {
		t.Errorf("%d lookups and %d submissions, want 1 and 0", q, s)
	}
	if doc := f.archived(t, "bankcard", orderNo); doc.Error == nil || doc.Error.Code != "not_found" {
		t.Errorf("archived: %+v", doc.Error)
	}

	// A claim whose submission never reached the upstream (not_sent).
	key2 := "uploads/bankcard/92.jpg"
	img2 := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 92}.JPEG()
	f.upload(t, key2, img2)
	info2, _ := f.bucket.Stat(ctx, key2)
	order2 := UploadOrderNo("b", key2, info2.ETag, info2.Size)
	if err := f.archive.SetPending(ctx, "bankcard", order2, archive.NotSent); err != nil {
		t.Fatal(err)
	}
	f.emu.ResetCounts()
	if out, err := f.invoke(t, s3Event("b", key2, len(img2))); err != nil || out.(Summary).Outcomes[string(Archived)] != 1 {
		t.Fatalf("not_sent: %+v %v", out, err)
	}
	if s := f.emu.Count("accepted:" + emulator.EndpointBankCardOCR); s != 1 {
		t.Errorf("not_sent claim: %d submissions, want 1", s)
	}
}

// A submission that fails before reaching the upstream (no ticket stored)
// leaves its claim marked not_sent, so the redelivery submits it.
func TestUploadNotSentIsSubmittedOnRedelivery(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 93}.JPEG()
	key := "uploads/bankcard/93.jpg"
	f.upload(t, key, img)
	wp := f.svc.Providers["webank"].(*webank.Provider)
	good := wp.Tickets
	wp.Tickets = noTickets{}
	if _, err := f.invoke(t, s3Event("b", key, len(img))); !errors.Is(err, ErrItemsFailed) {
		t.Fatalf("without tickets: %v", err)
	}
	info, _ := f.bucket.Stat(ctx, key)
	orderNo := UploadOrderNo("b", key, info.ETag, info.Size)
	if pm, err := f.archive.Pending(ctx, "bankcard", orderNo); err != nil || pm == nil || pm.State != archive.NotSent {
		t.Fatalf("pending marker after a failure before the upstream: %+v %v", pm, err)
	}
	wp.Tickets = good
	if out, err := f.invoke(t, s3Event("b", key, len(img))); err != nil || out.(Summary).Outcomes[string(Archived)] != 1 {
		t.Fatalf("redelivery: %+v %v", out, err)
	}
}

type noTickets struct{}

func (noTickets) Current(context.Context) (string, error) {
	return "", errcode.Errorf(errcode.TicketsUnavailable, "no tickets")
}
func (noTickets) Rejected(context.Context, string) (string, error) {
	return "", errcode.Errorf(errcode.TicketsUnavailable, "no tickets")
}

// An order made through an upload form whose submission was cut off (its
// record still says sending) is settled when the pending upload is resumed:
// failed when the upstream has no result after the grace, so that the
// result query answers the error instead of 202 for ever.
func TestPendingFormUploadSettlesItsRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 93}.JPEG()
	const orderNo = "formCut0001"
	key := "uploads/bankcard/api/_/" + orderNo + ".jpg"
	now := time.Now().UTC()
	if err := f.archive.SaveOrder(ctx, ocr.Order{OrderNo: orderNo, Kind: "bankcard", State: ocr.OrderSending, Upload: true,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	f.upload(t, key, img)
	if ok, err := f.archive.ClaimPending(ctx, "bankcard", ocr.UpstreamOrderNo("", orderNo)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	f.h.Now = func() time.Time { return time.Now().Add(DefaultPendingGrace + time.Second) }
	out, err := f.invoke(t, s3Event("b", key, len(img)))
	if err != nil || out.(Summary).Outcomes[string(FailedArchived)] != 1 {
		t.Fatalf("after the grace: %+v %v", out, err)
	}
	o, err := f.archive.Order(ctx, "", orderNo)
	if err != nil || o == nil || o.State != ocr.OrderFailed || o.Code != "not_found" || o.Message == "" {
		t.Fatalf("record %+v %v, want failed with the archived error", o, err)
	}
	f.svc.Orders = f.archive // as the API's service reads the records
	_, err = f.svc.BankCardResult(ctx, ocr.ResultQuery{OrderNo: orderNo})
	if errcode.ErrorCode(err) != errcode.NotFound || !strings.Contains(err.Error(), "not submitted again") {
		t.Errorf("the query answers %v, want the archived not_found", err)
	}
}
