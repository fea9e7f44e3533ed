package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFileLease(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tickets.json")
	a, b := &File{Path: path}, &File{Path: path}
	var _ Leaser = a

	try := func(f *File, slot string, ttl time.Duration) bool {
		t.Helper()
		ok, err := f.TryLease(ctx, slot, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !try(a, "s1", 100*time.Millisecond) || !try(a, "s1", time.Second) {
		t.Fatal("a does not hold a free slot")
	}
	if try(b, "s1", time.Minute) {
		t.Fatal("b got a live lease")
	}
	if !try(b, "s2", time.Minute) {
		t.Fatal("another slot is not independent")
	}
	if try(a, "s2", time.Minute) {
		t.Fatal("a got b's live lease on s2")
	}
	time.Sleep(150 * time.Millisecond)
	if !try(b, "s1", time.Minute) {
		t.Fatal("b did not take over an expired lease")
	}
	if _, err := a.TryLease(ctx, "", time.Second); !errors.Is(err, ErrBadLease) {
		t.Errorf("empty slot: %v", err)
	}
	if _, err := a.Get(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("leases must not create the secret: %v", err)
	}
}

func TestFileLeaseOneWinner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tickets.json")
	var held atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		f := &File{Path: path} // one per simulated process
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := f.TryLease(context.Background(), "slot", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				held.Add(1)
			}
		}()
	}
	wg.Wait()
	if held.Load() != 1 {
		t.Fatalf("%d holders, want 1", held.Load())
	}
}

// A lease left by a process that no longer runs is not inherited (a local
// stack stopped mid-refresh and started again at once).
func TestFileLeaseOfAGoneProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` to spawn:", err)
	}
	gone := cmd.Process.Pid // reaped: no process has it now (pids are not reused this fast)
	path := filepath.Join(t.TempDir(), "tickets.json")
	docs := []LeaseDoc{
		{Slot: "dead", Holder: "other", Expires: time.Now().Add(time.Hour), PID: gone},
		{Slot: "alive", Holder: "other", Expires: time.Now().Add(time.Hour), PID: os.Getppid()},
	}
	b, _ := json.Marshal(docs)
	if err := os.WriteFile(path+".lease", b, 0o600); err != nil {
		t.Fatal(err)
	}
	f := &File{Path: path}
	if ok, err := f.TryLease(context.Background(), "dead", time.Minute); err != nil || !ok {
		t.Errorf("the lease of a gone process blocks: %v %v", ok, err)
	}
	if ok, err := f.TryLease(context.Background(), "alive", time.Minute); err != nil || ok {
		t.Errorf("the lease of a running process was taken: %v %v", ok, err)
	}
}
