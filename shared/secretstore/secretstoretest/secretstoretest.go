// Package secretstoretest is the conformance suite every secret store
// backend runs (file, and awssm and tencentssm against their fakes): the
// Store contract, and the Leaser contract for stores that implement it.
package secretstoretest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
)

// Conformance checks the contract. open returns one process's view of the
// same, initially empty, secret (each call a new Store value, as separate
// processes would have).
func Conformance(t *testing.T, open func() secretstore.Store) {
	t.Helper()
	ctx := context.Background()
	s := open()
	if _, err := s.Get(ctx); !errors.Is(err, secretstore.ErrNotFound) {
		t.Fatalf("Get of an empty secret: %v, want ErrNotFound", err)
	}
	for _, v := range [][]byte{[]byte(`{"a":1}`), []byte(`{"a":2,"b":"` + string(bytes.Repeat([]byte("x"), 4000)) + `"}`)} {
		if err := s.Put(ctx, v); err != nil {
			t.Fatalf("Put: %v", err)
		}
		for _, view := range []secretstore.Store{s, open()} { // another process sees it too
			got, err := view.Get(ctx)
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("Get after Put: %d bytes, %v", len(got), err)
			}
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(canceled); err == nil {
		t.Errorf("Get with a canceled context succeeded")
	}
	if _, ok := s.(secretstore.Leaser); ok {
		leases(t, open)
	}
}

func leases(t *testing.T, open func() secretstore.Store) {
	t.Helper()
	ctx := context.Background()
	try := func(s secretstore.Store, slot string) bool {
		t.Helper()
		held, err := s.(secretstore.Leaser).TryLease(ctx, slot, time.Minute)
		if err != nil {
			t.Fatalf("TryLease(%s): %v", slot, err)
		}
		return held
	}
	a, b := open(), open()
	if !try(a, "conformance-1") {
		t.Errorf("a free slot is not held")
	}
	if again := try(a, "conformance-1"); !again { // a retried call by the holder is harmless
		t.Errorf("the holder does not hold its slot again")
	}
	if try(b, "conformance-1") {
		t.Errorf("another holder got a live lease")
	}
	if !try(b, "conformance-2") {
		t.Errorf("slots are not independent")
	}
	// Of concurrent callers on one slot, exactly one holds it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := 0
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if try(open(), "conformance-3") {
				mu.Lock()
				held++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if held != 1 {
		t.Errorf("%d of 6 concurrent callers hold one slot", held)
	}
	if _, err := a.(secretstore.Leaser).TryLease(ctx, "", time.Minute); !errors.Is(err, secretstore.ErrBadLease) {
		t.Errorf("empty slot: %v", err)
	}
}
