// Command benchmem is the helper of scripts/bench-memory.sh: it runs the
// upstreams (the WeBank emulator and an in-memory S3) and a fake Lambda
// Runtime API that hands one event to a real function binary, and measures
// the peak RSS (VmHWM) of that binary. Everything runs on 127.0.0.1.
//
//	benchmem upstream -dir D     emulator + fake S3; writes D/env (exports) and serves until killed
//	benchmem invoke -event F -bin B -env D/env    run B on the fake Runtime API with event F, print its VmHWM
//	benchmem baseline -env D/env -key K           buffer-everything submit of an S3 object, print own VmHWM
//	benchmem event-s3 -bucket B -key K            print an S3 object-created event
//	benchmem event-apigw -size N                  print an HTTP API (payload 2.0) event: multipart ID card of N bytes
//	benchmem http -bin B -env D/env -form json|multipart -size N
//	                                              run B in HTTP mode, print its peak RSS above idle for one request
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: benchmem upstream|invoke|baseline|event-s3|event-apigw …"))
	}
	var err error
	switch os.Args[1] {
	case "upstream":
		err = upstream(os.Args[2:])
	case "invoke":
		err = invoke(os.Args[2:])
	case "baseline":
		err = baseline(os.Args[2:])
	case "event-s3":
		err = eventS3(os.Args[2:])
	case "event-apigw":
		err = eventAPIGW(os.Args[2:])
	case "http":
		err = httpRequest(os.Args[2:])
	case "phone":
		err = phonePhoto(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchmem:", err)
	os.Exit(1)
}

const (
	uploadsBucket = "uploads"
	archiveBucket = "evidence"
)

// upstream serves the emulator and a fake S3, refreshes tickets into a file
// store, uploads the test images, and writes the functions' environment.
func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	dir := fs.String("dir", "", "work directory")
	size := fs.Int("size", 20<<20, "bytes of the uploaded ID card image")
	fs.Parse(args)
	ctx := context.Background()
	emu := emulator.New(emulator.Config{})
	be := s3mem.New()
	for _, b := range []string{uploadsBucket, archiveBucket} {
		if err := be.CreateBucket(b); err != nil {
			return err
		}
	}
	emuURL, err := serve(emu)
	if err != nil {
		return err
	}
	s3URL, err := serve(gofakes3.New(be).Server())
	if err != nil {
		return err
	}
	ticketsURL := "file://" + filepath.Join(*dir, "tickets.json")
	store, err := secretstore.Open(ctx, ticketsURL)
	if err != nil {
		return err
	}
	wb := webank.New(webank.Config{BaseURL: emuURL, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
	if _, err := (&tickets.Refresher{Store: store, WeBank: wb, Interval: 20 * time.Minute, Logger: slog.New(slog.DiscardHandler)}).Refresh(ctx); err != nil {
		return err
	}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 20, MinSize: *size}.JPEG()
	client := s3Client(s3URL)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(uploadsBucket), Key: aws.String("uploads/idcard/front/bench.jpg"),
		Body: bytes.NewReader(img), ContentLength: aws.Int64(int64(len(img))),
	}); err != nil {
		return err
	}
	img = nil
	env := map[string]string{
		"KYC_BASE_URL":          emuURL,
		"WEBANK_APP_ID":         emulator.DefaultAppID,
		"TICKET_STORE_URL":      ticketsURL,
		"ARCHIVE_URL":           "s3://" + archiveBucket + "/cardocr?region=us-east-1&pathStyle=true&endpoint=" + url.QueryEscape(s3URL),
		"AWS_ACCESS_KEY_ID":     "AKIDBENCH",
		"AWS_SECRET_ACCESS_KEY": "bench-secret",
		"AWS_REGION":            "us-east-1",
		"AUTH_MODE":             "none",
		"LOG_LEVEL":             "warn",
		"BENCH_S3_URL":          s3URL,
	}
	var b strings.Builder
	for k, v := range env {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(*dir, "env"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	select {} // until killed
}

func serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(ln, h)
	return "http://" + ln.Addr().String(), nil
}

func s3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDBENCH", SecretAccessKey: "bench-secret"}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func readEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, nil
}

// invoke runs a function binary against a fake Lambda Runtime API serving
// one event, waits for its response, and prints the binary's VmHWM in KiB
// and the response's status.
func invoke(args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ExitOnError)
	eventFile := fs.String("event", "", "event JSON file")
	bin := fs.String("bin", "", "function binary")
	envFile := fs.String("env", "", "environment file written by upstream")
	fs.Parse(args)
	event, err := os.ReadFile(*eventFile)
	if err != nil {
		return err
	}
	env, err := readEnv(*envFile)
	if err != nil {
		return err
	}
	responses := make(chan []byte, 1)
	var served atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if served.Swap(true) {
			<-r.Context().Done() // one invocation only
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "bench-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(5*time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
		w.Write(event)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		responses <- b
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		responses <- append([]byte("ERROR "), b...)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		responses <- append([]byte("INIT ERROR "), b...)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, mux)
	cmd := exec.Command(*bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr, cmd.Stdout = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	var resp []byte
	select {
	case resp = <-responses:
	case <-time.After(3 * time.Minute):
		return fmt.Errorf("no response from the function")
	}
	hwm, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("%d %s\n", hwm, summarize(resp))
	return nil
}

// summarize reduces a response to its status: an HTTP statusCode, or the
// resultfetch outcome counts.
func summarize(resp []byte) string {
	var r struct {
		StatusCode int            `json:"statusCode"`
		Outcomes   map[string]int `json:"outcomes"`
	}
	if json.Unmarshal(resp, &r) == nil {
		if r.StatusCode != 0 {
			return fmt.Sprintf("HTTP-%d", r.StatusCode)
		}
		if r.Outcomes != nil {
			b, _ := json.Marshal(r.Outcomes)
			return string(b)
		}
	}
	if len(resp) > 200 {
		resp = resp[:200]
	}
	return strings.ReplaceAll(string(resp), " ", "_")
}

func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM")
}

// baseline is the buffer-everything submit: the whole object in memory, its
// base64 as a string, the JSON body marshalled, then posted.
func baseline(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	envFile := fs.String("env", "", "environment file written by upstream")
	key := fs.String("key", "uploads/idcard/front/bench.jpg", "object key")
	fs.Parse(args)
	env, err := readEnv(*envFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, err := secretstore.Open(ctx, env["TICKET_STORE_URL"])
	if err != nil {
		return err
	}
	pair, err := (&tickets.Reader{Store: store, TTL: time.Hour}).Get(ctx)
	if err != nil {
		return err
	}
	out, err := s3Client(env["BENCH_S3_URL"]).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(uploadsBucket), Key: aws.String(*key)})
	if err != nil {
		return err
	}
	img, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return err
	}
	appID, orderNo, nonce := env["WEBANK_APP_ID"], sign.OrderNo("base"), sign.Nonce()
	body, err := json.Marshal(map[string]string{
		"appId": appID, "version": webank.Version, "nonce": nonce, "orderNo": orderNo, "cardType": "0",
		"sign":      sign.Sign(appID, orderNo, nonce, webank.Version, pair.SignTicket),
		"idcardStr": base64.StdEncoding.EncodeToString(img),
	})
	if err != nil {
		return err
	}
	resp, err := http.Post(env["KYC_BASE_URL"]+"/api/paas/idcardocrapp?orderNo="+orderNo, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f, err := webank.ParseFields(answer)
	status := "upstream-code-?"
	if err == nil {
		status = "upstream-code-" + f.TopString("code")
	}
	hwm, err := vmHWM(os.Getpid())
	if err != nil {
		return err
	}
	fmt.Printf("%d %s\n", hwm, status)
	return nil
}

func eventS3(args []string) error {
	fs := flag.NewFlagSet("event-s3", flag.ExitOnError)
	bucket := fs.String("bucket", uploadsBucket, "bucket")
	key := fs.String("key", "uploads/idcard/front/bench.jpg", "object key")
	fs.Parse(args)
	ev := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"s3SchemaVersion": "1.0", "bucket": map[string]string{"name": *bucket},
			"object": map[string]any{"key": url.QueryEscape(*key)}},
	}}}
	return json.NewEncoder(os.Stdout).Encode(ev)
}

// eventAPIGW prints POST /v1/idcard/ocr as an HTTP API payload 2.0 event,
// the multipart body (what wx.uploadFile sends) base64-encoded by the
// gateway.
func eventAPIGW(args []string) error {
	fs := flag.NewFlagSet("event-apigw", flag.ExitOnError)
	size := fs.Int("size", 4<<20, "image bytes")
	fs.Parse(args)
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 4, MinSize: *size}.JPEG()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("side", "front")
	fw, _ := mw.CreateFormFile("image", "card.jpg")
	fw.Write(img)
	mw.Close()
	ev := map[string]any{
		"version": "2.0", "routeKey": "POST /v1/idcard/ocr", "rawPath": "/v1/idcard/ocr", "rawQueryString": "",
		"headers": map[string]string{"content-type": mw.FormDataContentType(), "host": "bench.execute-api.us-east-1.amazonaws.com"},
		"requestContext": map[string]any{
			"accountId": "000000000000", "apiId": "bench", "domainName": "bench.execute-api.us-east-1.amazonaws.com",
			"http":      map[string]string{"method": "POST", "path": "/v1/idcard/ocr", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
			"requestId": "bench", "routeKey": "POST /v1/idcard/ocr", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 1767225600000,
		},
		"body": base64.StdEncoding.EncodeToString(buf.Bytes()), "isBase64Encoded": true,
	}
	return json.NewEncoder(os.Stdout).Encode(ev)
}

// httpRequest runs a function binary in HTTP mode, warms it up with a small
// submission (tickets loaded, connections open), takes its peak RSS as the
// idle figure, sends one submission with an image of -size bytes as JSON
// (base64) or multipart, and prints the growth of the peak RSS in KiB and
// the status. The goal: at most twice the image.
func httpRequest(args []string) error {
	fs := flag.NewFlagSet("http", flag.ExitOnError)
	bin := fs.String("bin", "", "function binary")
	envFile := fs.String("env", "", "environment file written by upstream")
	form := fs.String("form", "json", "json or multipart")
	size := fs.Int("size", 2<<20, "bytes of the ID card image")
	fs.Parse(args)
	env, err := readEnv(*envFile)
	if err != nil {
		return err
	}
	cmd, base, client, err := startHTTP(*bin, env)
	if err != nil {
		return err
	}
	defer cmd.Process.Kill()
	post := func(img []byte) (int, error) {
		var body io.Reader
		ct := "application/json"
		if *form == "multipart" {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			mw.WriteField("side", "front")
			fw, _ := mw.CreateFormFile("image", "card.jpg")
			fw.Write(img)
			mw.Close()
			body, ct = &buf, mw.FormDataContentType()
		} else {
			body = strings.NewReader(`{"side":"front","image":"` + base64.StdEncoding.EncodeToString(img) + `"}`)
		}
		resp, err := client.Post(base+"/v1/idcard/ocr", ct, body)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := post(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 21}.JPEG()); err != nil || st != 200 {
		return fmt.Errorf("warm-up: %d %v", st, err)
	}
	time.Sleep(200 * time.Millisecond)
	idle, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		return err
	}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 22, MinSize: *size}.JPEG()
	st, err := post(img)
	if err != nil {
		return err
	}
	peak, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("%d %d HTTP-%d\n", peak-idle, idle, st)
	return nil
}

// phonePhoto starts bankcardsubmit in HTTP mode and sends it one 12 MP,
// 8 MB phone JPEG as multipart: above WeBank's 2,359,296 bytes, so it is
// fitted before the call. It prints the process's peak RSS (VmHWM), the
// request's time and its outcome.
func phonePhoto(args []string) error {
	fs := flag.NewFlagSet("phone", flag.ExitOnError)
	bin := fs.String("bin", "", "bankcardsubmit binary")
	envFile := fs.String("env", "", "environment file written by upstream")
	fs.Parse(args)
	env, err := readEnv(*envFile)
	if err != nil {
		return err
	}
	cmd, base, client, err := startHTTP(*bin, env)
	if err != nil {
		return err
	}
	defer cmd.Process.Kill()
	post := func(img []byte) (int, bool, time.Duration, error) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("image", "photo.jpg")
		fw.Write(img)
		mw.Close()
		start := time.Now()
		resp, err := client.Post(base+"/v1/bankcard/ocr", mw.FormDataContentType(), &buf)
		if err != nil {
			return 0, false, 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, bytes.Contains(b, []byte(`"imageFitted"`)), time.Since(start), nil
	}
	if st, _, _, err := post(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 21}.JPEG()); err != nil || st != 200 {
		return fmt.Errorf("warm-up: %d %v", st, err)
	}
	photo := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 22, Width: 4000, Height: 3000, Grain: 60, MinSize: 8 << 20}.JPEG()
	st, fitted, took, err := post(photo)
	if err != nil {
		return err
	}
	peak, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		return err
	}
	outcome := fmt.Sprintf("HTTP-%d", st)
	if fitted {
		outcome += "+imageFitted"
	}
	fmt.Printf("%d %d %s\n", peak, took.Milliseconds(), outcome)
	return nil
}

// startHTTP starts a function binary in HTTP mode on a free loopback port
// and waits until it answers /healthz.
func startHTTP(bin string, env map[string]string) (*exec.Cmd, string, *http.Client, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT=" + port, "BIND_ADDR=127.0.0.1", "REQUEST_TIMEOUT=2m"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr, cmd.Stdout = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", nil, err
	}
	base := "http://127.0.0.1:" + port
	client := &http.Client{Timeout: 3 * time.Minute}
	for i := 0; ; i++ {
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd, base, client, nil
		}
		if i > 300 {
			cmd.Process.Kill()
			return nil, "", nil, fmt.Errorf("the function did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
