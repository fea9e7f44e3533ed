package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// The fault suite: every kind of upstream trouble the emulator can make
// gets a bounded, honest answer from the API, and the stack recovers.
func TestFaultSuite(t *testing.T) {
	s, logs := startStack(t, env{"REQUEST_TIMEOUT": "700ms", "TICKET_CACHE_TTL": "100ms", "TICKET_REFRESH_INTERVAL": "20m"})
	emu := s.Emulator
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 77}.JPEG()
	submit := func() (int, apiError, time.Duration) {
		start := time.Now()
		st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
			jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)}), s.APIKey)
		var e apiError
		json.Unmarshal(body, &e)
		return st, e, time.Since(start)
	}

	faults := []struct {
		name          string
		fault         emulator.Fault
		wantStatus    int
		wantCode      string
		wantRetryable bool
	}{
		{"latency past the deadline", emulator.Fault{Latency: 5 * time.Second}, 504, "upstream_timeout", true},
		{"5xx", emulator.Fault{Kind: emulator.FaultStatus, Status: 503}, 502, "upstream_error", true},
		{"malformed JSON", emulator.Fault{Kind: emulator.FaultMalformed}, 502, "upstream_error", true},
		{"connection reset", emulator.Fault{Kind: emulator.FaultReset}, 502, "upstream_error", true},
		{"5xx after processing", emulator.Fault{Kind: emulator.FaultStatus, AfterProcessing: true}, 502, "upstream_error", true},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			emu.SetFault(emulator.EndpointIDCardOCR, f.fault)
			defer emu.ClearFaults()
			st, e, took := submit()
			if st != f.wantStatus || e.Error.Code != f.wantCode || e.Error.Retryable != f.wantRetryable {
				t.Errorf("got %d %+v, want %d %s retryable=%v", st, e.Error, f.wantStatus, f.wantCode, f.wantRetryable)
			}
			if e.OrderNo == "" {
				t.Errorf("no orderNo in the error: the caller cannot query the result later")
			}
			if took > 4*time.Second { // bounded by REQUEST_TIMEOUT, with room for a slow machine
				t.Errorf("answer took %v", took)
			}
		})
	}
	if st, e, _ := submit(); st != 200 {
		t.Fatalf("no recovery after the faults: %d %+v", st, e)
	}

	t.Run("ticket invalidated mid-flight", func(t *testing.T) {
		emu.ExpireTokens() // e.g. the secret was changed in the console
		st, e, _ := submit()
		if st != 503 || e.Error.Code != "tickets_unavailable" || !e.Error.Retryable || e.Error.UpstreamCode == "" {
			t.Fatalf("got %d %+v", st, e.Error)
		}
		if out, err := s.Refresher.ForceRefresh(context.Background()); err != nil || out != "refreshed" {
			t.Fatalf("refresh: %v %v", out, err)
		}
		time.Sleep(150 * time.Millisecond) // the readers' TTL
		if st, e, _ := submit(); st != 200 {
			t.Fatalf("after the refresh: %d %+v", st, e)
		}
	})

	t.Run("ticket store outage", func(t *testing.T) {
		path := strings.TrimPrefix(s.Config.TicketStoreURL, "file://")
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// A directory where the file was: every read fails.
		os.Remove(path)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		defer func() {
			os.Remove(path)
			os.WriteFile(path, saved, 0o600)
		}()
		time.Sleep(150 * time.Millisecond) // past the TTL: the reader must reload and fail
		for i := 0; i < 3; i++ {
			if st, e, _ := submit(); st != 200 {
				t.Fatalf("during the outage: %d %+v", st, e)
			}
		}
		if !strings.Contains(logs.String(), "serving the cached pair") {
			t.Error("the outage was not logged")
		}
		// The refresher cannot read the store: it fetches nothing.
		emu.ResetCounts()
		if _, err := s.Refresher.ForceRefresh(context.Background()); err == nil {
			t.Error("refresh succeeded with the store down")
		}
		if n := emu.Count(emulator.EndpointAccessToken); n != 0 {
			t.Errorf("refresher fetched %d tokens it could not store", n)
		}
	})
	assertNoPII(t, logs.String(), s, emulator.Person(77).IDNumber, emulator.Person(77).Name)
}

func TestEmptyStoreIsTicketsUnavailable(t *testing.T) {
	// An upstream that refuses tokens: the refresher at start fails, the
	// store stays empty, and requests get 503 without fetching tokens.
	s, _ := startStack(t, env{"WEBANK_SECRET": "wrong-secret-for-this-test"})
	s.Emulator.ResetCounts()
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1}.JPEG()
	st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)}), s.APIKey)
	if st != 503 || code(body) != "tickets_unavailable" {
		t.Fatalf("got %d %s", st, body)
	}
	if n := s.Emulator.Count(emulator.EndpointAccessToken) + s.Emulator.Count(emulator.EndpointIDCardOCR); n != 0 {
		t.Errorf("the request path made %d upstream calls", n)
	}
	st, body = do(t, s, "GET", "/healthz", "", nil, "")
	if st != 200 || !strings.Contains(string(body), `"missing"`) {
		t.Errorf("healthz: %s", body)
	}
}
