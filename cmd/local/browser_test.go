package main

// The console and the API docs in a real browser: Debian's chromium,
// headless, driven by chromedp, against the local stack on 127.0.0.1.
// .ci/run installs chromium; without it the test is skipped (and says so).

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cardocr/cardocr/shared/devstack"
	"github.com/cardocr/cardocr/shared/emulator"
)

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on a CI machine: .ci/run installs it")
	}
	t.Skip("no chromium here (apt-get install chromium)")
	return ""
}

func TestConsoleAndDocsInABrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	getenv := func(k string) string { return map[string]string{"PORT": "0", "CALLBACK_URL": "local"}[k] }
	s, err := devstack.Start(context.Background(), devstack.Options{Getenv: getenv, Dir: dir, Stdout: io.Discard, Logs: io.Discard,
		Web: webHandler(), OpenAPIPath: filepath.Join("..", "..", "docs", "openapi.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.WindowSize(1280, 1000),
		// Loopback only: no proxy, no background networking, no component updates.
		chromedp.Flag("no-proxy-server", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-features", "OptimizationHints,MediaRouter"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// The console: upload a sample, read what it renders.
	sample := filepath.Join(dir, "samples", "idcard-front.jpg")
	person := emulator.Person(devstack.Samples["idcard-front.jpg"].Seed)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#drop")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{sample}),
		chromedp.WaitEnabled(chromedp.CSS("#go")),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS(`#card td[data-field="idNumber"]`)),
		chromedp.WaitVisible(chromedp.CSS("#calls li")),
	); err != nil {
		t.Fatalf("console: %v", err)
	}
	text := func(sel string) string {
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	name, number, checks, calls := text(`#card td[data-field="name"]`), text(`#card td[data-field="idNumber"]`), text("#checks"), text("#calls")
	if name != person.Name || number != person.IDNumber {
		t.Errorf("console shows %q %q, want %q %q", name, number, person.Name, person.IDNumber)
	}
	for _, c := range []string{"ID number check digit", "birth date matches the number", "sex matches the number"} {
		if !strings.Contains(checks, c) {
			t.Errorf("checks %q lack %q", checks, c)
		}
	}
	if !strings.Contains(calls, "idcardocrapp × 1") {
		t.Errorf("upstream calls shown: %q", calls)
	}
	// A bank card through Tencent Cloud OCR: WeChat is not offered for it.
	bank := filepath.Join(dir, "samples", "bankcard.jpg")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#kind"), "bankcard")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('kind').dispatchEvent(new Event('change'))`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#provider"), "tencentcloud"),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{bank}),
		chromedp.WaitEnabled(chromedp.CSS("#go")),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS(`#card td[data-field="number"]`)),
	); err != nil {
		t.Fatalf("console, bank card: %v", err)
	}
	wxOff, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#provider option[value="wechat"]').disabled`))
	if err != nil || !wxOff {
		t.Errorf("WeChat offered for bank cards (%v)", err)
	}
	if n := s.Emulator.Count(emulator.EndpointTencentBankCardOCR); n != 1 {
		t.Errorf("BankCardOCR calls %d, want 1", n)
	}
	// Upload mode: the presigned flow from the browser, to the stack's
	// stand-in bucket, the result polled until it is there.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#mode"), "upload"),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{bank}),
		chromedp.WaitEnabled(chromedp.CSS("#go")),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS(`#steps li.ok`)),
	); err != nil {
		t.Fatalf("console, upload mode: %v", err)
	}
	steps, number := text("#steps"), text(`#card td[data-field="number"]`)
	for _, want := range []string{"form issued", "photo stored in the bucket", "result: 200"} {
		if !strings.Contains(steps, want) {
			t.Errorf("upload steps %q lack %q", steps, want)
		}
	}
	if want := emulator.BankCard(devstack.Samples["bankcard.jpg"].Seed).Number; number != want {
		t.Errorf("upload mode shows %q, want %q", number, want)
	}
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR); n != 1 {
		t.Errorf("WeBank bank card calls %d, want 1 (the upload's)", n)
	}
	// The callbacks the stack's own receiver got: one per final order.
	// (The upload's callback is posted right after its result is stored:
	// the list is read again until it is there.)
	var cbs string
	for i := 0; i < 50; i++ {
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#callbacks li"))); err != nil {
			t.Fatalf("callbacks list: %v", err)
		}
		if cbs = text("#callbacks"); strings.Count(cbs, "signature verified") == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Count(cbs, "signature verified") != 3 || !strings.Contains(cbs, "bankcard") || !strings.Contains(cbs, "idcard") {
		t.Errorf("callbacks listed: %q", cbs)
	}
	if p := os.Getenv("CONSOLE_SCREENSHOT"); p != "" { // scripts/console-screenshot.sh
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The API docs render every operation.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/docs/"), chromedp.WaitVisible(chromedp.CSS(".opblock"))); err != nil {
		t.Fatalf("docs: %v", err)
	}
	ops, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent.replace(/\u200b/g, ''))`))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(ops, " ")
	for _, p := range []string{"/healthz", "/v1/idcard/ocr", "/v1/idcard/results/{orderNo}", "/v1/bankcard/ocr", "/v1/bankcard/results/{orderNo}", "/v1/bankcard/uploads"} {
		if !strings.Contains(joined, p) {
			t.Errorf("docs do not show %s (%v)", p, ops)
		}
	}
	if u, _ := url.Parse(s.URL); net.ParseIP(u.Hostname()).IsLoopback() == false {
		t.Errorf("the stack is not on loopback: %s", s.URL)
	}
}
