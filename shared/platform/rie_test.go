package platform_test

// The real function binaries under the real AWS Lambda Runtime Interface
// Emulator (github.com/aws/aws-lambda-runtime-interface-emulator, pinned as
// a Go tool in go.mod), outside any container: the emulator starts the
// binary as its bootstrap and drives it through the Runtime API, as Lambda
// does. The hand-played AWS runtime in harness_test.go stays only for what
// the RIE cannot drive: an exact invocation deadline and the
// init-error/exit paths it observes from outside.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/webank"
)

const riePkg = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// rie is one emulator running one function binary.
type rie struct {
	url string
	p   *proc
}

// startRIE runs bin under the RIE with env, both of its addresses on
// loopback, and waits until it accepts invocations.
func startRIE(t *testing.T, bin string, env ...string) *rie {
	t.Helper()
	rieBin := buildBinary(t, riePkg)
	apiPort, rieAddr := freePort(t), "127.0.0.1:"+freePort(t)
	p := startArgs(t, rieBin, []string{"--runtime-api-address", "127.0.0.1:" + apiPort, "--runtime-interface-emulator-address", rieAddr, bin},
		append([]string{"AWS_LAMBDA_FUNCTION_TIMEOUT=60"}, env...)...)
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := net.DialTimeout("tcp", rieAddr, time.Second)
		if err == nil {
			c.Close()
			return &rie{url: "http://" + rieAddr + "/2015-03-31/functions/function/invocations", p: p}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the RIE did not listen: %v\n%s", err, p.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke posts one event and returns the function's response payload.
func (r *rie) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(event))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, r.p.output.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// apigw is an HTTP API (payload 2.0) event for method and path, with a JSON
// body and the API key.
func apigw(t *testing.T, method, path, body string) []byte {
	t.Helper()
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
		"headers": map[string]string{"authorization": "Bearer test-key", "content-type": "application/json", "host": "api.example"},
		"requestContext": map[string]any{"http": map[string]any{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.1"},
			"requestId": "r1", "routeKey": "$default", "stage": "$default"},
		"body": body, "isBase64Encoded": false,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type apigwAnswer struct {
	StatusCode int    `json:"statusCode"`
	Body       string `json:"body"`
}

func TestFunctionsUnderTheRIE(t *testing.T) {
	bins := buildFunctions(t, functionNames(t))
	emu := emulator.New(emulator.Config{})
	up := httptest.NewServer(emu)
	t.Cleanup(up.Close)
	env := localEnv(t, up.URL) // one tickets store and archive for all six

	// ticketrefresh, on its schedule: fills the store the others read.
	r := startRIE(t, bins["ticketrefresh"], env...)
	var out struct{ Outcome string }
	if b := r.invoke(t, fixture(t, "aws-eventbridge-scheduled.json")); json.Unmarshal(b, &out) != nil || out.Outcome != "refreshed" {
		t.Fatalf("ticketrefresh: %s", b)
	}

	for name := range httpFunctions {
		t.Run(name+" /healthz", func(t *testing.T) {
			var a apigwAnswer
			b := startRIE(t, bins[name], env...).invoke(t, apigw(t, "GET", "/healthz", ""))
			if json.Unmarshal(b, &a) != nil || a.StatusCode != 200 || !strings.Contains(a.Body, `"tickets":"fresh"`) {
				t.Errorf("%s", b)
			}
		})
	}

	t.Run("idcardsubmit, an ID card", func(t *testing.T) {
		img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 61}.JPEG()
		body, _ := json.Marshal(map[string]string{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
		var a apigwAnswer
		b := startRIE(t, bins["idcardsubmit"], env...).invoke(t, apigw(t, "POST", "/v1/idcard/ocr", string(body)))
		if json.Unmarshal(b, &a) != nil || a.StatusCode != 200 || !strings.Contains(a.Body, emulator.Person(61).IDNumber) {
			t.Errorf("%.300s", b)
		}
	})

	t.Run("resultfetch, an SQS batch with one failing record", func(t *testing.T) {
		// A bank card order to archive, and an ID card order whose query the
		// upstream keeps failing (a 5xx: the record is redelivered).
		wb := webank.New(webank.Config{BaseURL: up.URL, AppID: emulator.DefaultAppID})
		ticket := storedTicket(t, env)
		img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 62}.JPEG()
		if _, err := wb.SubmitBankCard(context.Background(), ticket, webank.SubmitRequest{OrderNo: "bankRie62", Image: ocr.BytesImage(img)}); err != nil {
			t.Fatal(err)
		}
		emu.SetFault(emulator.EndpointOCRResult, emulator.Fault{Kind: emulator.FaultStatus})
		defer emu.ClearFaults()
		event := `{"Records":[` + sqsRecord("m-good", `{"kind":"bankcard","orderNo":"bankRie62"}`) + `,` + sqsRecord("m-bad", `{"kind":"idcard","orderNo":"idRie63"}`) + `]}`
		b := startRIE(t, bins["resultfetch"], env...).invoke(t, []byte(event))
		if !bytes.Equal(bytes.TrimSpace(b), []byte(`{"batchItemFailures":[{"itemIdentifier":"m-bad"}]}`)) {
			t.Errorf("%s", b)
		}
	})

	t.Run("a panic is a function error", func(t *testing.T) {
		b := startRIE(t, testfn(t)).invoke(t, withPath(t, fixture(t, "aws-httpapi-v2-get.json"), "/panic"))
		var e struct{ ErrorMessage, ErrorType string }
		if json.Unmarshal(b, &e) != nil || e.ErrorMessage != "testfn: boom" {
			t.Errorf("%s", b)
		}
	})
}

func sqsRecord(id, body string) string {
	b, _ := json.Marshal(body)
	return `{"messageId":"` + id + `","receiptHandle":"rh","body":` + string(b) + `,"attributes":{},"messageAttributes":{},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:ap-east-1:123456789012:q","awsRegion":"ap-east-1"}`
}

// storedTicket reads the SIGN ticket ticketrefresh stored.
func storedTicket(t *testing.T, env []string) string {
	t.Helper()
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "TICKET_STORE_URL=file://"); ok {
			b, err := os.ReadFile(filepath.Clean(p))
			if err != nil {
				t.Fatal(err)
			}
			var doc struct{ WeBank struct{ SignTicket string } }
			if json.Unmarshal(b, &doc) != nil || doc.WeBank.SignTicket == "" {
				t.Fatalf("no ticket stored")
			}
			return doc.WeBank.SignTicket
		}
	}
	t.Fatal("no TICKET_STORE_URL")
	return ""
}
