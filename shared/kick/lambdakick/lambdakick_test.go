package lambdakick

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cardocr/cardocr/shared/kick"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "session"}

// fakeLambda answers Invoke as the API reference says: POST
// /2015-03-31/functions/{FunctionName}/invocations, X-Amz-Invocation-Type:
// Event → 202. It checks the SigV4 signature by signing the request it got
// again, at the time it names, with the credentials it expects.
func fakeLambda(t *testing.T, status int, got *[]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		*got = append(*got, r.URL.Path)
		if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/cardocr-ticketrefresh/invocations" ||
			r.Header.Get("X-Amz-Invocation-Type") != "Event" || !bytes.Equal(body, kick.Payload) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.Path, bytes.NewReader(body))
		for _, h := range []string{"Content-Type", "X-Amz-Invocation-Type"} {
			again.Header.Set(h, r.Header.Get(h))
		}
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, again, hex.EncodeToString(sum[:]), "lambda", "ap-east-1", at); err != nil ||
			again.Header.Get("Authorization") != r.Header.Get("Authorization") || r.Header.Get("X-Amz-Security-Token") != "session" {
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if status != http.StatusAccepted {
			w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestKickInvokesAsynchronously(t *testing.T) {
	var got []string
	srv := fakeLambda(t, http.StatusAccepted, &got)
	k, err := kick.Open(context.Background(), "lambda://cardocr-ticketrefresh?region=ap-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	k.(*Kicker).Credentials = func() (aws.Credentials, error) { return testCreds, nil }
	if err := k.Kick(context.Background()); err != nil || len(got) != 1 {
		t.Fatalf("kick: %v (%d requests)", err, len(got))
	}
	// A wrong key is refused by the signature check.
	k.(*Kicker).Credentials = func() (aws.Credentials, error) {
		c := testCreds
		c.SecretAccessKey = "wrong"
		return c, nil
	}
	if err := k.Kick(context.Background()); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("wrong key: %v", err)
	}
}

func TestKickErrorsNameTheStatusNotTheSecrets(t *testing.T) {
	var got []string
	srv := fakeLambda(t, http.StatusForbidden, &got)
	k := &Kicker{Function: "cardocr-ticketrefresh", Region: "ap-east-1", Endpoint: srv.URL,
		Credentials: func() (aws.Credentials, error) { return testCreds, nil }}
	err := k.Kick(context.Background())
	if err == nil || !strings.Contains(err.Error(), "403 AccessDeniedException") {
		t.Fatalf("%v", err)
	}
	for _, s := range []string{testCreds.SecretAccessKey, testCreds.SessionToken, srv.URL} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error carries %q", s)
		}
	}
	// Nothing listens: the error says so without the URL.
	srv.Close()
	if err := k.Kick(context.Background()); err == nil || strings.Contains(err.Error(), "/invocations") {
		t.Errorf("closed: %v", err)
	}
}

func TestOpen(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := kick.Open(context.Background(), "lambda://fn"); err == nil {
		t.Error("no region accepted")
	}
	for _, bad := range []string{"lambda://", "nope://fn", "::"} {
		if _, err := kick.Open(context.Background(), bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
