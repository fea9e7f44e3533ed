package ocr

import (
	"encoding/json"
	"testing"
)

func TestPruneUpstream(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
		values    []string
	}{
		{`{"idcard":"11010519491231002X","name":"某某","sex":"男","warning":"-9100","clarity":"70"}`, `{"clarity":"70","warning":"-9100"}`,
			[]string{"11010519491231002X", "某某", "男"}},
		{`{"result":{"birth":"19491231","validDate":"2020.01.01-2040.01.01","code":"0"}}`, `{"result":{"code":"0"}}`,
			[]string{"1949-12-31", "2020-01-0120400101"}},
		{`{"bankcardNo":"6222 0202 0011 2233 445","list":[{"no":"6222020200112233445","t":1}]}`, `{"list":[{"t":1}]}`,
			[]string{"6222020200112233445"}},
		{`{"number":"6222020200112233445"}`, ``, []string{"6222020200112233445"}}, // nothing left: nothing kept
		{`not json`, ``, nil},
	} {
		got := pruneUpstream(json.RawMessage(tc.raw), tc.values...)
		if string(got) != tc.want {
			t.Errorf("%s: got %s, want %s", tc.raw, got, tc.want)
		}
	}
}
