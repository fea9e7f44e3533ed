package devstack

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	// The generated client's runtime: a test dependency, so that go.mod
	// and go.sum pin the version the generated code builds with.
	_ "github.com/oapi-codegen/runtime"
)

// A client generated from docs/openapi.yaml with oapi-codegen (the tool is
// pinned in go.mod) builds, and a program using it calls every operation
// against the local stack and gets a typed answer for each status it sees:
// a spec change that breaks generated clients fails make test.
func TestGeneratedGoClientCallsEveryOperation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	gen := filepath.Join(dir, "cardocrclient")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(wd string, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = wd
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	run(root, goBin, "tool", "oapi-codegen", "-generate", "types,client", "-package", "cardocrclient",
		"-o", filepath.Join(gen, "client.go"), filepath.Join("docs", "openapi.yaml"))
	// A module of its own with this module's requirements (so that it
	// builds from the module cache, offline once downloaded).
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module genclient"))
	mod = regexp.MustCompile(`(?s)\ntool \(.*?\)\n`).ReplaceAll(mod, []byte("\n"))
	sum, _ := os.ReadFile(filepath.Join(root, "go.sum"))
	for name, b := range map[string][]byte{"go.mod": mod, "go.sum": sum, "main.go": []byte(genMain)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "genclient")
	run(dir, goBin, "build", "-mod=mod", "-o", bin, ".")

	s, _ := startStack(t, env{"EVIDENCE": "on"})
	img := filepath.Join(t.TempDir(), "front.jpg")
	samples := filepath.Join(filepath.Dir(strings.TrimPrefix(s.Config.ArchiveURL, "file://")), "samples")
	if b, err := os.ReadFile(filepath.Join(samples, "idcard-front.jpg")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(img, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bank, _ := os.ReadFile(filepath.Join(samples, "bankcard.jpg"))
	bankFile := filepath.Join(t.TempDir(), "bank.jpg")
	os.WriteFile(bankFile, bank, 0o600)
	out := run(dir, bin, s.URL, s.APIKey, img, bankFile)
	t.Logf("%s", out)
	for _, op := range []string{"getHealth 200", "submitIDCard 200", "getIDCardResult 200", "submitBankCard 200", "getBankCardResult 200",
		"eraseIDCardResult 204", "getIDCardResult 410", "eraseBankCardResult 204", "submitIDCard 401", "getBankCardResult 404"} {
		if !bytes.Contains(out, []byte(op+" typed\n")) {
			t.Errorf("no typed %s", op)
		}
	}
}

// genMain calls every operation through the generated client's typed
// answers; each line is "<operation> <status> typed|untyped".
const genMain = `package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"genclient/cardocrclient"
)

func main() {
	base, key, front, bankImg := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	auth := func(k string) cardocrclient.ClientOption {
		return cardocrclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+k)
			return nil
		})
	}
	c, err := cardocrclient.NewClientWithResponses(base, auth(key))
	must(err)
	bad, err := cardocrclient.NewClientWithResponses(base, auth("wrong"))
	must(err)
	ctx := context.Background()
	say := func(op string, status int, typed bool) {
		w := "untyped"
		if typed {
			w = "typed"
		}
		fmt.Printf("%s %d %s\n", op, status, w)
	}
	img, err := os.ReadFile(front)
	must(err)
	bank, err := os.ReadFile(bankImg)
	must(err)

	h, err := c.GetHealthWithResponse(ctx)
	must(err)
	say("getHealth", h.StatusCode(), h.JSON200 != nil && h.JSON200.Tickets != "")

	id, err := c.SubmitIDCardWithResponse(ctx, cardocrclient.IDCardSubmit{Side: "front", Image: &img})
	must(err)
	say("submitIDCard", id.StatusCode(), id.JSON200 != nil && id.JSON200.Card.IdNumber != nil)
	orderNo := id.JSON200.OrderNo

	r, err := c.GetIDCardResultWithResponse(ctx, orderNo, nil)
	must(err)
	say("getIDCardResult", r.StatusCode(), r.JSON200 != nil && r.JSON200.OrderNo == orderNo)

	b, err := c.SubmitBankCardWithResponse(ctx, cardocrclient.BankCardSubmit{Image: bank})
	must(err)
	say("submitBankCard", b.StatusCode(), b.JSON200 != nil && b.JSON200.Card.Number != nil)
	bankNo := b.JSON200.OrderNo

	br, err := c.GetBankCardResultWithResponse(ctx, bankNo, nil)
	must(err)
	say("getBankCardResult", br.StatusCode(), br.JSON200 != nil)

	e, err := c.EraseIDCardResultWithResponse(ctx, orderNo, nil)
	must(err)
	say("eraseIDCardResult", e.StatusCode(), e.StatusCode() == 204)
	r, err = c.GetIDCardResultWithResponse(ctx, orderNo, nil)
	must(err)
	say("getIDCardResult", r.StatusCode(), r.JSON410 != nil && r.JSON410.Error.Code == "erased")

	eb, err := c.EraseBankCardResultWithResponse(ctx, bankNo, nil)
	must(err)
	say("eraseBankCardResult", eb.StatusCode(), eb.StatusCode() == 204)

	u, err := bad.SubmitIDCardWithResponse(ctx, cardocrclient.IDCardSubmit{Side: "front", Image: &img})
	must(err)
	say("submitIDCard", u.StatusCode(), u.JSON401 != nil && u.JSON401.Error.Code == "unauthorized")

	n, err := c.GetBankCardResultWithResponse(ctx, orderNo, nil) // an ID card order on the bank route
	must(err)
	say("getBankCardResult", n.StatusCode(), (n.JSON404 != nil && n.JSON404.Error.Code == "not_found") || (n.JSON410 != nil))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`
