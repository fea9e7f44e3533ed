package scfkick

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/kick"
	"github.com/cardocr/cardocr/shared/tc3"
)

// fakeSCF answers the Invoke action of API 3.0 (Version 2018-04-16): a
// TC3-signed POST / whose body names the function, InvocationType Event and
// the event as ClientContext; errors as {"Response":{"Error":{…}}}.
func fakeSCF(t *testing.T, creds tc3.Credentials, calls *[]map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		answer := func(code string) {
			v := map[string]any{"RequestId": "req-1"}
			if code != "" {
				v["Error"] = map[string]string{"Code": code, "Message": code}
			}
			json.NewEncoder(w).Encode(map[string]any{"Response": v})
		}
		if code, _ := tc3.Verify(r, body, "scf", creds, time.Now()); code != "" {
			answer(code)
			return
		}
		var in map[string]string
		if r.Header.Get("X-TC-Action") != "Invoke" || r.Header.Get("X-TC-Version") != "2018-04-16" || json.Unmarshal(body, &in) != nil {
			answer("InvalidParameter")
			return
		}
		*calls = append(*calls, in)
		answer("")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestKickInvokesAsynchronously(t *testing.T) {
	creds := tc3.Credentials{SecretID: "AKIDtest", SecretKey: "key", Token: "tok"}
	var calls []map[string]string
	srv := fakeSCF(t, creds, &calls)
	k, err := kick.Open(context.Background(), "scf://cardocr-prod-ticketrefresh?region=ap-guangzhou&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	k.(*Kicker).Credentials = func() (string, string, string, error) { return "AKIDtest", "key", "tok", nil }
	if err := k.Kick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0]["FunctionName"] != "cardocr-prod-ticketrefresh" || calls[0]["InvocationType"] != "Event" ||
		calls[0]["ClientContext"] != string(kick.Payload) || calls[0]["Namespace"] != "default" {
		t.Errorf("calls %v", calls)
	}
	k.(*Kicker).Credentials = func() (string, string, string, error) { return "AKIDtest", "wrong", "tok", nil }
	if err := k.Kick(context.Background()); err == nil || !strings.Contains(err.Error(), "AuthFailure.SignatureFailure") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong key: %v", err)
	}
}
