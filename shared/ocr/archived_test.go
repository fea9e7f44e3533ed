package ocr

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/sign"
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

// A WeChat openid ("o6_bmjrPTlm6_2sgVt7hMZOPfL2M": letters, '_' and '-')
// is a valid userId; upstream it is a deterministic 32-character form.
func TestUserIDs(t *testing.T) {
	openid := "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
	for id, ok := range map[string]bool{openid: true, "user123": true, "a-b": true, "": true, "bad id": false, "x/y": false,
		"0123456789012345678901234567890123456789012345678901234567890123456789": false} {
		if err := checkIDs("", id); (err == nil) != ok {
			t.Errorf("%q: %v", id, err)
		}
	}
	up := UpstreamUserID(openid)
	if len(up) != 32 || up != UpstreamUserID(openid) || !sign.ValidOrderNo(up) || strings.Contains(up, "bmjr") {
		t.Errorf("upstream userId %q", up)
	}
	if UpstreamUserID("user123") != "user123" {
		t.Error("a valid upstream userId was changed")
	}
}
