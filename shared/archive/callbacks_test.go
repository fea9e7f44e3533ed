package archive

import (
	"context"
	"testing"

	"github.com/cardocr/cardocr/shared/ocr"
)

// A callback body waits in the outbox until delivered, and an erasure of
// its order takes it too.
func TestCallbackOutboxErased(t *testing.T) {
	ctx := context.Background()
	a := New(&FileBucket{Dir: t.TempDir()}, "archive")
	a.AuditSalt = []byte("salt")
	for _, owner := range []string{"", "acme"} {
		if err := a.SaveOrder(ctx, ocr.Order{OrderNo: "cb1", Kind: KindIDCard, Owner: owner, State: ocr.OrderDone}); err != nil {
			t.Fatal(err)
		}
		if err := a.PutCallback(ctx, owner, KindIDCard, "cb1", "done", []byte(`{"orderNo":"cb1"}`)); err != nil {
			t.Fatal(err)
		}
		if b, err := a.Callback(ctx, owner, KindIDCard, "cb1", "done"); err != nil || string(b) != `{"orderNo":"cb1"}` {
			t.Fatalf("waiting body %q %v", b, err)
		}
		tenant := owner
		if tenant == "" {
			tenant = "default"
		}
		dry, err := a.Erase(ctx, ocr.Erasure{Kind: KindIDCard, OrderNo: "cb1", Owner: tenant, Caller: "operator", Reason: "test", DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, k := range dry.Keys {
			found = found || k == a.CallbackKey(owner, KindIDCard, "cb1", "done")
		}
		if !found {
			t.Errorf("owner %q: the dry run does not list the callback body: %q", owner, dry.Keys)
		}
		if _, err := a.Erase(ctx, ocr.Erasure{Kind: KindIDCard, OrderNo: "cb1", Owner: tenant, Caller: "operator", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if b, err := a.Callback(ctx, owner, KindIDCard, "cb1", "done"); err != nil || b != nil {
			t.Errorf("owner %q: the body survived the erasure: %q %v", owner, b, err)
		}
	}
}
