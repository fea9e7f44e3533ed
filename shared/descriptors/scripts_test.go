package descriptors

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

const testAPIKey = "k3y-that-must-never-be-printed"

func TestDeployAWSDryRun(t *testing.T) {
	env := cleanEnv("CARDOCR_API_KEYS="+testAPIKey, "CARDOCR_CREDENTIALS_FILE=/nonexistent/credentials.json", "AWS_REGION=eu-west-1")
	out, code := runScript(t, env, "scripts/deploy-aws.sh", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, testAPIKey) {
		t.Errorf("the dry run printed the API key:\n%s", out)
	}
	for _, want := range []string{
		"+ make build",
		"+ sam build --template-file template.yaml",
		"+ sam deploy --template-file .aws-sam/build/template.yaml --stack-name cardocr --region eu-west-1",
		"--capabilities CAPABILITY_IAM",
		"+ aws secretsmanager put-secret-value --region eu-west-1 --secret-id <CredentialsSecretArn> --secret-string file:///nonexistent/credentials.json",
		"+ aws lambda invoke --region eu-west-1 --function-name <TicketRefreshFunctionName>",
		// Keys from before tenants: through standard input, into the tenants secret.
		"+ go run ./cmd/tenants add-key default < (a key of CARDOCR_API_KEYS)",
		"Add a tenant: TENANTS_URL=awssm://<TenantsSecretArn> go run ./cmd/tenants add <id>",
		"scripts/smoke.sh <ApiUrl>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	// Every parameter override is a template parameter, and every stack
	// output the script reads exists.
	s := loadSAM(t)
	deploy := regexp.MustCompile(`(?m)^\+ sam deploy .*--parameter-overrides (.*)$`).FindStringSubmatch(out)
	if deploy == nil {
		t.Fatalf("no sam deploy --parameter-overrides line:\n%s", out)
	}
	for _, kv := range strings.Fields(deploy[1]) {
		k, _, _ := strings.Cut(kv, "=")
		if s.params[k] == nil {
			t.Errorf("parameter override %s: no such parameter in template.yaml", k)
		}
	}
	outputs := map[string]bool{}
	for _, o := range entries(get(s.root, "Outputs")) {
		outputs[o.Key] = true
	}
	for _, m := range regexp.MustCompile(`\$\(output ([A-Za-z]+)\)`).FindAllStringSubmatch(readFile(t, "scripts/deploy-aws.sh"), -1) {
		if !outputs[m[1]] {
			t.Errorf("deploy-aws.sh reads stack output %s, which template.yaml does not have", m[1])
		}
	}
}

func TestDeployAWSRefusesBadInput(t *testing.T) {
	for name, env := range map[string][]string{
		"uppercase stack": {"CARDOCR_STACK=CardOCR", "AWS_REGION=eu-west-1", "CARDOCR_API_KEYS=x"},
		"bad auth mode":   {"CARDOCR_AUTH_MODE=basic", "AWS_REGION=eu-west-1", "CARDOCR_API_KEYS=x"},
	} {
		out, code := runScript(t, cleanEnv(env...), "scripts/deploy-aws.sh", "--dry-run")
		if code == 0 {
			t.Errorf("%s: exit 0:\n%s", name, out)
		}
	}
	if out, code := runScript(t, cleanEnv(), "scripts/deploy-aws.sh", "--bogus"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2:\n%s", code, out)
	}
}

func TestDeploySCFDryRun(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials.json")
	const secret = "webank-secret-5b7e"
	os.WriteFile(creds, []byte(`{"webankAppId":"IDA1","webankSecret":"`+secret+`"}`), 0o600)
	env := cleanEnv("CARDOCR_API_KEYS="+testAPIKey, "CARDOCR_UIN=100000000001", "CARDOCR_APPID=1250000000",
		"CARDOCR_CREDENTIALS_FILE="+creds)
	out, code := runScript(t, env, "scripts/deploy-scf.sh", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, testAPIKey) {
		t.Errorf("the dry run printed the API key:\n%s", out)
	}
	// No command line carries a secret (ps shows command lines): the
	// credentials reach the store through standard input.
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "+ ") {
			continue
		}
		if strings.Contains(line, secret) || strings.Contains(line, testAPIKey) {
			t.Errorf("a command line carries a secret: %s", line)
		}
		if i := strings.Index(line, "--SecretString "); i >= 0 && !slices.Contains([]string{"{}", `{"tenants":[]}`}, line[i+len("--SecretString "):]) {
			t.Errorf("a secret value on a command line: %s", line)
		}
	}
	for _, want := range []string{
		"+ make build",
		"+ assemble dist/scf/bundle",
		"+ tccli cam CreateRole --RoleName cardocr-prod-refresher",
		"+ tccli cam AttachRolePolicy --AttachRoleName cardocr-prod-resultfetch --PolicyName cardocr-prod-resultfetch-policy",
		"+ tccli ssm CreateSecret --region ap-guangzhou --SecretName cardocr-prod-credentials --VersionId current --SecretString {}",
		"+ go run ./cmd/putsecret tencentssm://cardocr-prod-credentials?region=ap-guangzhou < ",
		"+ tccli ssm CreateSecret --region ap-guangzhou --SecretName cardocr-prod-tickets --VersionId current --SecretString {}",
		"+ scf deploy",
		// The evidence bucket: created private if missing, encrypted, the retention rules set.
		"+ go run ./cmd/cosbucket -bucket cardocr-prod-1250000000 -region ap-guangzhou -prefix archive -retention-days 180 -audit-days 1096 -kms-key ",
		"+ tccli scf PutReservedConcurrencyConfig --region ap-guangzhou --FunctionName cardocr-prod-ticketrefresh",
		// Each HTTP function's concurrency cap (10 by default), in memory: 10 × 256 MB.
		"+ tccli scf PutReservedConcurrencyConfig --region ap-guangzhou --FunctionName cardocr-prod-idcardsubmit --ReservedConcurrencyMem 2560",
		"+ tccli scf PutReservedConcurrencyConfig --region ap-guangzhou --FunctionName cardocr-prod-bankcardresult --ReservedConcurrencyMem 2560",
		"export CARDOCR_CONCURRENCY_CAP=10",
		"+ tccli scf Invoke --region ap-guangzhou --FunctionName cardocr-prod-ticketrefresh",
		"scripts/smoke.sh <Function URL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}

	// With a KMS key: SSE-KMS in every ARCHIVE_URL, and the key's use for
	// the roles that read and write the archive.
	kmsOut, code := runScript(t, append(env, "CARDOCR_KMS_KEY=kms-0123"), "scripts/deploy-scf.sh", "--dry-run")
	for _, want := range []string{
		"export CARDOCR_COS_SSE=&sse=cos/kms&kmsKeyId=kms-0123",
		"-kms-key kms-0123",
		"+ tccli cam AttachRolePolicy --AttachRoleName cardocr-prod-api --PolicyName cardocr-prod-kms",
		"+ tccli cam AttachRolePolicy --AttachRoleName cardocr-prod-resultfetch --PolicyName cardocr-prod-kms",
	} {
		if code != 0 || !strings.Contains(kmsOut, want) {
			t.Errorf("dry run with CARDOCR_KMS_KEY lacks %q (exit %d)", want, code)
		}
	}

	s := loadSCF(t)
	// The functions and HTTP functions the script knows are serverless.yml's.
	script := readFile(t, "scripts/deploy-scf.sh")
	list := func(name string) []string {
		m := regexp.MustCompile(`(?m)^` + name + `=\(([^)]*)\)`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("deploy-scf.sh has no %s=(…)", name)
		}
		l := strings.Fields(m[1])
		slices.Sort(l)
		return l
	}
	if got, want := list("FUNCTIONS"), functionDirs(t); !slices.Equal(got, want) {
		t.Errorf("deploy-scf.sh FUNCTIONS %v; functions/ has %v", got, want)
	}
	var httpFns []string
	for _, f := range s.functions {
		if f.kind() == kindHTTP {
			httpFns = append(httpFns, f.key)
			if !strings.Contains(out, "+ tccli scf CreateTrigger --region ap-guangzhou --FunctionName cardocr-prod-"+f.key+" --TriggerName url --Type http") {
				t.Errorf("dry run does not ensure the Function URL of %s", f.key)
			}
		}
	}
	slices.Sort(httpFns)
	if got := list("HTTP_FUNCTIONS"); !slices.Equal(got, httpFns) {
		t.Errorf("deploy-scf.sh HTTP_FUNCTIONS %v; serverless.yml's Function URLs are on %v", got, httpFns)
	}
	// Reserved concurrency 1 is memory-based on SCF: 1 × the refresher's memory.
	if m := regexp.MustCompile(`(?m)^MEM_REFRESHER=(\d+)`).FindStringSubmatch(script); m == nil ||
		m[1] != str(get(s.functions["ticketrefresh"].node, "memorySize")) {
		t.Errorf("deploy-scf.sh MEM_REFRESHER %v is not ticketrefresh's memorySize", m)
	}
	// Every ${env:X} in serverless.yml is exported by the script.
	for _, m := range regexp.MustCompile(`\$\{env:([A-Z_]+)\}`).FindAllStringSubmatch(readFile(t, "serverless.yml"), -1) {
		if !strings.Contains(out, "export "+m[1]+"=") {
			t.Errorf("serverless.yml uses ${env:%s}; the script does not export it", m[1])
		}
	}
}

func TestDeploySCFRefusesBadInput(t *testing.T) {
	out, code := runScript(t, cleanEnv("CARDOCR_UIN=1", "CARDOCR_APPID=1250000000", "CARDOCR_API_KEYS=x",
		"CARDOCR_COS_BUCKET=no_appid"), "scripts/deploy-scf.sh", "--dry-run")
	if code == 0 {
		t.Errorf("bad bucket name: exit 0:\n%s", out)
	}
}

// fakeAPI answers like the HTTP API, with knobs for failures.
type fakeAPI struct {
	tickets   string
	ocrStatus int
	resStatus int
	sentinel  int // status of the sentinel result query [404 with 66660020]
	submits   *atomic.Int32
}

func (f fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	authed := r.Header.Get("Authorization") == "Bearer "+testAPIKey
	switch {
	case r.Method == "GET" && r.URL.Path == "/healthz":
		fmt.Fprintf(w, `{"status":"ok","tickets":%q,"version":"0.1.0"}`, f.tickets)
	case !authed:
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"no","retryable":false}}`)
	case r.Method == "POST" && r.Header.Get("Content-Type") == "application/json":
		w.WriteHeader(400) // the smoke's bad input
		fmt.Fprint(w, `{"error":{"code":"invalid_request","message":"bad","retryable":false}}`)
	case r.Method == "POST" && r.URL.Path == "/v1/idcard/ocr":
		if err := r.ParseMultipartForm(1 << 20); err != nil || r.FormValue("side") != "front" {
			w.WriteHeader(400)
			return
		}
		f.submits.Add(1)
		w.WriteHeader(f.ocrStatus)
		fmt.Fprint(w, `{"orderNo":"id123ABC","provider":"webank","side":"front","card":{"name":"x"}}`)
	case r.Method == "GET" && r.URL.Path == "/v1/idcard/results/cardocrSelfCheck0":
		st := f.sentinel
		if st == 0 {
			st = 404
		}
		w.WriteHeader(st)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"none","retryable":false,"upstreamCode":"66660020"}}`)
	case r.Method == "GET" && r.URL.Path == "/v1/idcard/results/id123ABC":
		w.WriteHeader(f.resStatus)
		fmt.Fprint(w, `{"orderNo":"id123ABC","card":{}}`)
	default:
		w.WriteHeader(404)
	}
}

func TestSmokeScript(t *testing.T) {
	img := filepath.Join(t.TempDir(), "front.jpg")
	if err := os.WriteFile(img, []byte("\xff\xd8\xff\xe0 not really a jpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := fakeAPI{tickets: "fresh", ocrStatus: 200, resStatus: 200}
	submit := []string{"SMOKE_SUBMIT=1"}
	for _, tc := range []struct {
		name    string
		api     fakeAPI
		env     []string
		want    int
		submits int32
		lines   []string
	}{
		{"no billable call by default", ok, nil, 0, 0, []string{"GET /healthz -> 200", "DELETE /v1/bankcard/results/smoke0 -> 401", "not billed", "smoke: OK (no billable call"}},
		{"with a card", ok, submit, 0, 1, []string{"orderNo: id123ABC", "GET /v1/idcard/results/id123ABC -> 200", "smoke: OK"}},
		{"no tickets", fakeAPI{tickets: "missing", ocrStatus: 200, resStatus: 200}, nil, 1, 0, []string{"invoke the ticketrefresh function"}},
		{"rejected tickets", fakeAPI{tickets: "rejected", ocrStatus: 200, resStatus: 200}, nil, 1, 0, []string{"rejects the stored tickets"}},
		{"sentinel refused", fakeAPI{tickets: "fresh", sentinel: 503}, nil, 1, 0, []string{"tickets unavailable"}},
		{"OCR fails", fakeAPI{tickets: "fresh", ocrStatus: 503, resStatus: 200}, submit, 1, 1, []string{"ID card OCR answered 503"}},
		{"result missing", fakeAPI{tickets: "stale", ocrStatus: 200, resStatus: 404}, submit, 1, 1, []string{"result query answered 404"}},
		{"unrecognized accepted", fakeAPI{tickets: "fresh", ocrStatus: 422, resStatus: 500}, append(submit, "SMOKE_ALLOW_UNRECOGNIZED=1"), 0, 1, []string{"422 recognition_failed accepted"}},
		{"unrecognized refused", fakeAPI{tickets: "fresh", ocrStatus: 422, resStatus: 200}, submit, 1, 1, []string{"answered 422"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.api.submits = &atomic.Int32{}
			srv := httptest.NewServer(tc.api)
			defer srv.Close()
			env := cleanEnv(append([]string{"SMOKE_IMAGE=" + img, "SMOKE_TIMEOUT=10"}, tc.env...)...)
			out, code := runScript(t, env, "scripts/smoke.sh", srv.URL+"/", testAPIKey)
			if code != tc.want {
				t.Errorf("exit %d, want %d:\n%s", code, tc.want, out)
			}
			if n := tc.api.submits.Load(); n != tc.submits {
				t.Errorf("%d billable submits, want %d", n, tc.submits)
			}
			for _, l := range tc.lines {
				if !strings.Contains(out, l) {
					t.Errorf("output lacks %q:\n%s", l, out)
				}
			}
		})
	}
	// The rolling form of CARDOCR_API_KEYS ("new,old", as the deploy
	// documents it): the first key is used.
	srv := httptest.NewServer(fakeAPI{tickets: "fresh", submits: &atomic.Int32{}})
	defer srv.Close()
	if out, code := runScript(t, cleanEnv("SMOKE_TIMEOUT=10"), "scripts/smoke.sh", srv.URL, testAPIKey+",older-key"); code != 0 {
		t.Errorf("rolling keys: exit %d:\n%s", code, out)
	}
	if out, code := runScript(t, cleanEnv(), "scripts/smoke.sh", "http://127.0.0.1:1"); code != 2 {
		t.Errorf("missing KEY: exit %d, want 2:\n%s", code, out)
	}
}
