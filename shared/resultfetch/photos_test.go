package resultfetch

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/metrics"
)

// Seeds 002 and 004: "为确保用户操作整体流程顺利完成，部分情况下获取照片会有1秒左右的
// 延迟". With the emulator's photos 2 s late, an upload and a queued order
// are both archived with their photos, each from one delivery.
func TestLatePhotosAreArchived(t *testing.T) {
	emu := emulator.New(emulator.Config{PhotoDelay: 2 * time.Second})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	f := newFixtureWith(t, emu, srv.URL)

	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 61}.JPEG()
	key := "uploads/idcard/front/61.jpg"
	f.upload(t, key, img)
	info, _ := f.bucket.Stat(context.Background(), key)
	submitBank(t, f, 62, "bankLate62")

	for _, ev := range []string{s3Event("b", key, len(img)), sqsEvent(map[string]string{"m1": `{"kind":"bankcard","orderNo":"bankLate62"}`})} {
		out, err := f.invoke(t, ev)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := out.(SQSResponse); ok && len(r.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", r.BatchItemFailures)
		}
	}
	up := f.archived(t, "idcard", UploadOrderNo("b", key, info.ETag, info.Size))
	if !has(up.Photos, "frontPhoto.jpg") {
		t.Errorf("upload archived without its photo: %v", up.Photos)
	}
	q := f.archived(t, "bankcard", "bankLate62")
	if !has(q.Photos, "originBankcardPhoto.jpg") {
		t.Errorf("queued order archived without its photo: %v", q.Photos)
	}
	if n := f.emu.Count("accepted:" + emulator.EndpointIDCardOCR); n != 1 {
		t.Errorf("accepted ID submits %d", n)
	}
}

// Photos that do not come within the invocation: the item fails (no done
// marker, redelivered); past the cut-off it is archived without them,
// marked, logged at error level and counted.
func TestMissingPhotosFailUntilTheCutoff(t *testing.T) {
	emu := emulator.New(emulator.Config{PhotoDelay: time.Hour})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	f := newFixtureWith(t, emu, srv.URL)
	f.svc.PhotoWait = 200 * time.Millisecond
	f.h.PhotoPatience = 500 * time.Millisecond
	submitBank(t, f, 63, "bankNever63")
	ev := sqsEvent(map[string]string{"m1": `{"kind":"bankcard","orderNo":"bankNever63"}`})

	out, err := f.invoke(t, ev)
	if err != nil {
		t.Fatal(err)
	}
	if r := out.(SQSResponse); len(r.BatchItemFailures) != 1 {
		t.Fatalf("photos missing, yet the message was acknowledged: %+v", r)
	}
	if done, _ := f.archive.Done(context.Background(), "bankcard", "bankNever63"); done {
		t.Fatal("marked done without its photos")
	}
	if !strings.Contains(f.logs.String(), ErrPhotosPending.Error()) {
		t.Errorf("the failure does not say why")
	}

	// Three days and more later (the upstream keeps results "3 days").
	f.h.Now = func() time.Time { return time.Now().Add(73 * time.Hour) }
	rec := &metrics.Recorder{Logger: f.h.Logger}
	f.h.Metrics = rec
	out, err = f.invoke(t, ev)
	if err != nil {
		t.Fatal(err)
	}
	if r := out.(SQSResponse); len(r.BatchItemFailures) != 0 {
		t.Fatalf("past the cut-off: %+v", r)
	}
	raw := f.read(t, findResult(t, f, "bankcard", "bankNever63"))
	if !strings.Contains(string(raw), `"photosMissing": true`) {
		t.Errorf("result.json does not say the photos are missing: %s", raw)
	}
	if rec.Counts()["photos_missing:/bankcard"] != 1 || !strings.Contains(f.logs.String(), `"level":"ERROR","msg":"photos never came`) {
		t.Errorf("not counted or not logged at error level: %v", rec.Counts())
	}
	f.assertClean(t, emulator.BankCard(63).Number)
}

func has(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// findResult returns the key of an order's result.json from its done marker.
func findResult(t *testing.T, f *fixture, kind, orderNo string) string {
	t.Helper()
	b := f.read(t, "evidence/_done/"+kind+"/"+orderNo+".json")
	i := strings.Index(string(b), `"result":"`)
	if i < 0 {
		t.Fatalf("marker %s", b)
	}
	rest := string(b[i+len(`"result":"`):])
	return rest[:strings.IndexByte(rest, '"')]
}
