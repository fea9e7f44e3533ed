package sign

import (
	"regexp"
	"sync"
	"testing"
)

// The worked examples of the official signature documents (docs/protocol.md §3).
func TestSignVectors(t *testing.T) {
	const nonce = "kHoSxvLZGxSoFsjxlbzEoUzh5PAnTU7T"
	const ticket2 = "XO99Qfxlti9iTVgHAjwvJdAZKN3nMuUhrsPdPlPVKlcyS50N6tlLnfuFBPIucaMS"
	const ticketH5 = "duSz9ptwyW1Xn7r6gYItxz3feMdJ8Na5x7JZuoxurE7RcI5TdwCE4KT2eEeNNDoe"
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"idcard ocr", []string{"appId001", "aabc1457895464", nonce, "1.0.0", "FxlAe3HFtEy73Um0pJNzIUriwtfnS3KRcPXiesd5ulS4XRAIcT0FbfaP52dwZf5S"}, "993D057C652D97FD90D5D298F2E5DC4B8D893CBC"},
		{"orderNo variant", []string{"IDAXXXXX", "orderNo596551", nonce, "1.0.0", ticket2}, "6CD5F0DBCFA1155E2A66754B33C2E67DD358393B"},
		{"userId nonce variant", []string{"IDAXXXXX", "userID19959248596551", nonce, "1.0.0", ticket2}, "D7606F1741DDCF90757DA924EDCF152A200AC7F0"},
		{"seven values, duplicates kept", []string{"appId001", "19959248596551", "testName", "4300000000000", "19959248596551", "1.0.0", ticketH5}, "11670F8BD6181CF71FB4656534253A0627D835CF"},
		{"legacy three values", []string{"appId001", "test1480921551481", ticketH5}, "B02CEBEB07F792B2F085E8CB1E7BA9EC19284F54"},
		{"order of arguments does not matter", []string{"1.0.0", ticket2, nonce, "orderNo596551", "IDAXXXXX"}, "6CD5F0DBCFA1155E2A66754B33C2E67DD358393B"},
		{"empty values dropped", []string{"IDAXXXXX", "", "orderNo596551", nonce, "1.0.0", ticket2}, "6CD5F0DBCFA1155E2A66754B33C2E67DD358393B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign(tt.values...); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNonce(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		n := Nonce()
		if !re.MatchString(n) {
			t.Fatalf("bad nonce %q", n)
		}
		if seen[n] {
			t.Fatalf("repeated nonce %q", n)
		}
		seen[n] = true
	}
}

func TestOrderNo(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				o := OrderNo("id")
				if !ValidOrderNo(o) {
					t.Errorf("invalid order number %q", o)
					return
				}
				mu.Lock()
				if seen[o] {
					t.Errorf("repeated order number %q", o)
				}
				seen[o] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if o := OrderNo("toolongprefix"); len(o) > 32 || !regexp.MustCompile(`^tool\d{12}T`).MatchString(o) {
		t.Errorf("order number %q longer than 32", o)
	}
}

func TestValidOrderNo(t *testing.T) {
	tests := map[string]bool{
		"":                                  false,
		"a":                                 true,
		"aabc1457895464":                    true,
		"12345678901234567890123456789012":  true,
		"123456789012345678901234567890123": false,
		"abc-123":                           false,
		"abc 123":                           false,
		"订单1":                               false,
		"../etc":                            false,
	}
	for in, want := range tests {
		if got := ValidOrderNo(in); got != want {
			t.Errorf("ValidOrderNo(%q) = %v, want %v", in, got, want)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	for b.Loop() {
		Sign("appId001", "aabc1457895464", "kHoSxvLZGxSoFsjxlbzEoUzh5PAnTU7T", "1.0.0", "FxlAe3HFtEy73Um0pJNzIUriwtfnS3KRcPXiesd5ulS4XRAIcT0FbfaP52dwZf5S")
	}
}
