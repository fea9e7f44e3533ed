package descriptors

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// samTemplate is template.yaml, parsed.
type samTemplate struct {
	root       *yaml.Node
	resources  map[string]*yaml.Node // logical id → resource
	params     map[string]*yaml.Node
	conditions map[string]bool
	functions  map[string]*samFunction // functions/<name> → function
}

type samFunction struct {
	id     string // logical id
	fn     string // functions/<fn>
	kind   string // kindHTTP, kindRefresher, kindFetcher
	res    *yaml.Node
	props  *yaml.Node
	env    map[string]*yaml.Node // Globals merged with the function's own
	events []entry
}

func (f *samFunction) prop(name string, globals *yaml.Node) *yaml.Node {
	if v := get(f.props, name); v != nil {
		return v
	}
	return get(globals, name)
}

func loadSAM(t *testing.T) *samTemplate {
	t.Helper()
	root := loadYAML(t, "template.yaml")
	s := &samTemplate{root: root, resources: map[string]*yaml.Node{}, params: map[string]*yaml.Node{},
		conditions: map[string]bool{}, functions: map[string]*samFunction{}}
	if got := str(get(root, "Transform")); got != "AWS::Serverless-2016-10-31" {
		t.Fatalf("Transform = %q, want AWS::Serverless-2016-10-31", got)
	}
	for _, e := range entries(get(root, "Resources")) {
		s.resources[e.Key] = e.Val
	}
	for _, e := range entries(get(root, "Parameters")) {
		s.params[e.Key] = e.Val
	}
	for _, e := range entries(get(root, "Conditions")) {
		s.conditions[e.Key] = true
	}
	globals := path(root, "Globals", "Function")
	for id, r := range s.resources {
		if str(get(r, "Type")) != "AWS::Serverless::Function" {
			continue
		}
		f := &samFunction{id: id, res: r, props: get(r, "Properties"), env: map[string]*yaml.Node{}}
		tag, v := tagged(get(f.props, "FunctionName"))
		fn, ok := strings.CutPrefix(v, "${AWS::StackName}-")
		if tag != "!Sub" || !ok || fn == "" {
			t.Fatalf("%s: FunctionName must be !Sub \"${AWS::StackName}-<functions/ dir>\", got %s %q", id, tag, v)
		}
		if other, dup := s.functions[fn]; dup {
			t.Fatalf("functions/%s is deployed twice: %s and %s", fn, other.id, id)
		}
		f.fn = fn
		for _, e := range entries(path(globals, "Environment", "Variables")) {
			f.env[e.Key] = e.Val
		}
		for _, e := range entries(path(f.props, "Environment", "Variables")) {
			f.env[e.Key] = e.Val
		}
		f.events = entries(get(f.props, "Events"))
		f.kind = samKind(t, f)
		s.functions[fn] = f
	}
	return s
}

// samKind derives what a function is from its events.
func samKind(t *testing.T, f *samFunction) string {
	kinds := map[string]bool{}
	for _, ev := range f.events {
		switch typ := str(get(ev.Val, "Type")); typ {
		case "HttpApi":
			kinds[kindHTTP] = true
		case "ScheduleV2", "Schedule":
			kinds[kindRefresher] = true
		case "SQS", "S3":
			kinds[kindFetcher] = true
		default:
			t.Errorf("%s: event %s has type %q; allowed: HttpApi, ScheduleV2/Schedule, SQS, S3", f.id, ev.Key, typ)
		}
	}
	if len(kinds) != 1 {
		t.Fatalf("%s: events must make it exactly one of HTTP, scheduled, queue/object function; got %v", f.id, sortedKeys(kinds))
	}
	return sortedKeys(kinds)[0]
}

func TestSAMDeploysEveryFunctionAndNothingElse(t *testing.T) {
	s := loadSAM(t)
	want := functionDirs(t)
	got := sortedKeys(s.functions)
	if !slices.Equal(got, want) {
		t.Fatalf("template.yaml deploys %v; functions/ has %v", got, want)
	}
	// docs/architecture.md, "Functions": which function does what.
	for fn, kind := range map[string]string{"ticketrefresh": kindRefresher, "resultfetch": kindFetcher} {
		if f := s.functions[fn]; f != nil && f.kind != kind {
			t.Errorf("%s: is a %s function, want %s", fn, f.kind, kind)
		}
	}
	for _, f := range s.functions {
		if f.kind == kindRefresher && f.fn != "ticketrefresh" {
			t.Errorf("%s: only ticketrefresh runs on a schedule", f.id)
		}
	}
}

func TestSAMRuntimeHandlerArchitectureBuild(t *testing.T) {
	s := loadSAM(t)
	globals := path(s.root, "Globals", "Function")
	for _, f := range s.functions {
		if got := str(f.prop("Runtime", globals)); got != "provided.al2023" {
			t.Errorf("%s: Runtime %q, want provided.al2023", f.id, got)
		}
		if got := str(f.prop("Handler", globals)); got != "bootstrap" {
			t.Errorf("%s: Handler %q, want bootstrap", f.id, got)
		}
		if got := strs(f.prop("Architectures", globals)); !slices.Equal(got, []string{"arm64"}) {
			t.Errorf("%s: Architectures %v, want [arm64]", f.id, got)
		}
		if got := str(path(f.res, "Metadata", "BuildMethod")); got != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod %q, want makefile", f.id, got)
		}
		if got := str(f.prop("CodeUri", globals)); got != "." {
			t.Errorf("%s: CodeUri %q, want . (the directory of the Makefile)", f.id, got)
		}
	}
}

// TestSAMMakefileTargets: `sam build` runs build-<LogicalId>; each must copy
// that function's dist/aws/<fn>/bootstrap into $(ARTIFACTS_DIR), and there
// is no target for a function the template does not have.
func TestSAMMakefileTargets(t *testing.T) {
	s := loadSAM(t)
	root := repoRoot(t)
	mk := readFile(t, "Makefile")
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^build-([A-Za-z0-9]+):`).FindAllStringSubmatch(mk, -1) {
		targets[m[1]] = true
	}
	ids := map[string]bool{}
	for _, f := range s.functions {
		ids[f.id] = true
	}
	if got, want := sortedKeys(targets), sortedKeys(ids); !slices.Equal(got, want) {
		t.Errorf("Makefile build-<LogicalId> targets %v; template functions %v", got, want)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not available: recipes not checked")
	}
	for _, f := range s.functions {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "make", "-n", "-C", root, "build-"+f.id, "ARTIFACTS_DIR=/sam/artifacts").CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", f.id, err, out)
			continue
		}
		want := "cp dist/aws/" + f.fn + "/bootstrap \"/sam/artifacts/bootstrap\""
		if !strings.Contains(string(out), want) {
			t.Errorf("make -n build-%s does not run %s:\n%s", f.id, want, out)
		}
	}
}

func TestSAMEnvironment(t *testing.T) {
	s := loadSAM(t)
	facts := scanCode(t, cloudAWS)
	t.Logf("environment variables the deployed code reads: %v", sortedKeys(envReadByCode(t, cloudAWS)))
	for _, f := range s.functions {
		code := facts.env[f.fn]
		if code == nil {
			continue // no functions/<fn>: TestSAMDeploysEveryFunctionAndNothingElse says so
		}
		for _, name := range sortedKeys(f.env) {
			if !code[name] {
				t.Errorf("%s: sets %s, which functions/%s does not read", f.id, name, f.fn)
			}
			if reservedEnv(name) {
				t.Errorf("%s: sets %s, which the platform owns", f.id, name)
			}
		}
		for _, name := range requiredEnv(f.kind) {
			if f.env[name] == nil {
				t.Errorf("%s (%s function): %s is not set", f.id, f.kind, name)
			}
		}
		if f.kind == kindHTTP {
			// Keys are never a stack parameter: the tenants secret holds
			// their hashes (cmd/tenants writes it).
			if f.env["API_KEYS"] != nil {
				t.Errorf("%s: API_KEYS is set: keys belong in the tenants secret, not the template", f.id)
			}
			if tag, v := tagged(f.env["TENANTS_URL"]); tag != "!Sub" || v != "awssm://${TenantsSecret}" {
				t.Errorf("%s: TENANTS_URL must be !Sub \"awssm://${TenantsSecret}\", got %s %q", f.id, tag, v)
			}
		}
		// The archive holds the evidence (resultfetch) and the order
		// records and erasures (the HTTP functions); the refresher has none.
		if (f.kind == kindFetcher || f.kind == kindHTTP) != (f.env["ARCHIVE_URL"] != nil) {
			t.Errorf("%s (%s function): ARCHIVE_URL set: %v", f.id, f.kind, f.env["ARCHIVE_URL"] != nil)
		}
		if v := f.env["ARCHIVE_URL"]; v != nil {
			tag, u := tagged(v)
			if tag != "!Sub" || !strings.HasPrefix(u, "s3://") || !strings.HasSuffix(u, "/archive?sse=aws:kms&kmsKeyId=${EvidenceKey.Arn}") {
				t.Errorf("%s: ARCHIVE_URL must be !Sub \"s3://bucket/archive?sse=aws:kms&kmsKeyId=${EvidenceKey.Arn}\" (written under the operator's key), got %s %q", f.id, tag, u)
			}
		}
	}
}

// secretOf returns the Secret resource an awssm:// URL names, checking the form.
func (s *samTemplate) secretOf(t *testing.T, f *samFunction, name string) string {
	secret, _ := s.secretAndLease(t, f, name)
	return secret
}

// secretAndLease reads !Sub "awssm://${Secret}" with, for the refresher's
// TICKET_STORE_URL only, "?lease=${LeaseSecret}" (the store's cross-process
// arbitration, shared/secretstore/README.md).
func (s *samTemplate) secretAndLease(t *testing.T, f *samFunction, name string) (string, string) {
	t.Helper()
	tag, v := tagged(f.env[name])
	m := regexp.MustCompile(`^awssm://\$\{([A-Za-z0-9]+)\}(?:\?lease=\$\{([A-Za-z0-9]+)\})?$`).FindStringSubmatch(v)
	if tag != "!Sub" || m == nil {
		t.Errorf("%s: %s must be !Sub \"awssm://${<Secret>}\", got %s %q", f.id, name, tag, v)
		return "", ""
	}
	for _, id := range m[1:] {
		if id != "" && str(get(s.resources[id], "Type")) != "AWS::SecretsManager::Secret" {
			t.Errorf("%s: %s names %s, not an AWS::SecretsManager::Secret", f.id, name, id)
		}
	}
	if m[2] != "" && (f.fn != "ticketrefresh" || name != "TICKET_STORE_URL") {
		t.Errorf("%s: %s has a lease secret: only the refresher's TICKET_STORE_URL takes leases", f.id, name)
	}
	return m[1], m[2]
}

type samStatement struct {
	sid       string
	effect    string
	actions   []string
	resources []string // "ref:X" for !Ref X, "sub:…" for !Sub, else the string
	node      *yaml.Node
}

func resourceKey(n *yaml.Node) string {
	tag, v := tagged(n)
	switch tag {
	case "!Ref":
		return "ref:" + v
	case "!Sub":
		return "sub:" + v
	case "":
		return v
	}
	return tag + ":" + v
}

func statements(n *yaml.Node) []samStatement {
	var out []samStatement
	for _, st := range items(n) {
		s := samStatement{sid: str(get(st, "Sid")), effect: str(get(st, "Effect")), actions: strs(get(st, "Action")), node: st}
		for _, r := range items(get(st, "Resource")) {
			s.resources = append(s.resources, resourceKey(r))
		}
		out = append(out, s)
	}
	return out
}

// TestSAMLeastPrivilege: inline statements only; no wildcard actions or
// resources; readers get GetSecretValue on exactly the secrets their
// *_URL variables name; only ticketrefresh may PutSecretValue, and only on
// the tickets secret; S3 only for the archive writer, inside its bucket.
func TestSAMLeastPrivilege(t *testing.T) {
	s := loadSAM(t)
	var ticketsSecret, credsSecret string
	for _, fn := range sortedKeys(s.functions) {
		f := s.functions[fn]
		reads := map[string]bool{}
		creds := s.secretOf(t, f, "CREDENTIALS_URL")
		tickets, lease := s.secretAndLease(t, f, "TICKET_STORE_URL")
		reads["ref:"+creds], reads["ref:"+tickets] = true, true
		if f.env["TENANTS_URL"] != nil {
			reads["ref:"+s.secretOf(t, f, "TENANTS_URL")] = true
		}
		writes := map[string]bool{"ref:" + tickets: true}
		if lease != "" {
			reads["ref:"+lease], writes["ref:"+lease] = true, true
		}
		if f.fn == "ticketrefresh" && lease == "" {
			t.Errorf("%s: TICKET_STORE_URL names no ?lease= secret: concurrent schedule fires would each fetch a token", f.id)
		}
		if creds == tickets {
			t.Errorf("%s: credentials and tickets share one secret", f.id)
		}
		if ticketsSecret == "" {
			ticketsSecret, credsSecret = tickets, creds
		} else if tickets != ticketsSecret || creds != credsSecret {
			t.Errorf("%s: reads secrets %s/%s; other functions %s/%s", f.id, creds, tickets, credsSecret, ticketsSecret)
		}

		got := map[string]map[string]bool{} // action → resources
		for _, p := range items(f.prop("Policies", nil)) {
			if p.Kind != yaml.MappingNode || len(p.Content) != 2 || p.Content[0].Value != "Statement" {
				t.Errorf("%s: policy at %s is not an inline {Statement: …}; managed policies and SAM policy templates hide their actions", f.id, where(p))
				continue
			}
			for _, st := range statements(get(p, "Statement")) {
				if st.effect == "Deny" {
					// A Deny only takes away: the one allowed is the
					// audit records' protection from deletion.
					if st.sid != "AuditRecordsAreNeverDeleted" || len(st.actions) != 1 || st.actions[0] != "s3:DeleteObject" {
						t.Errorf("%s: statement %s: a Deny other than the audit records' protection", f.id, st.sid)
					}
					continue
				}
				if st.effect != "Allow" {
					t.Errorf("%s: statement %s: Effect %q (function policies only allow)", f.id, st.sid, st.effect)
				}
				if len(st.actions) == 0 || len(st.resources) == 0 {
					t.Errorf("%s: statement %s without Action or Resource", f.id, st.sid)
				}
				for _, a := range st.actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %q", f.id, a)
					}
					if got[a] == nil {
						got[a] = map[string]bool{}
					}
					for _, r := range st.resources {
						if r == "*" || strings.HasSuffix(r, ":*") {
							t.Errorf("%s: action %s on wildcard resource %q", f.id, a, r)
						}
						got[a][r] = true
					}
				}
			}
		}
		for a, res := range got {
			switch {
			case a == "secretsmanager:GetSecretValue":
				if !mapsEqual(res, reads) {
					t.Errorf("%s: GetSecretValue on %v; it reads %v", f.id, sortedKeys(res), sortedKeys(reads))
				}
			case a == "secretsmanager:PutSecretValue":
				if f.fn != "ticketrefresh" {
					t.Errorf("%s: PutSecretValue: only ticketrefresh writes a secret", f.id)
				}
				if !mapsEqual(res, writes) || !writes["ref:"+ticketsSecret] {
					t.Errorf("%s: PutSecretValue on %v; only the tickets secret %s and its lease secret", f.id, sortedKeys(res), ticketsSecret)
				}
			case a == "s3:ListBucket":
				// s3archive: a missing marker must answer 404, not 403.
				_, archive := tagged(f.env["ARCHIVE_URL"])
				bucket, _, _ := strings.Cut(strings.TrimPrefix(archive, "s3://"), "/")
				if !mapsEqual(res, map[string]bool{"sub:arn:${AWS::Partition}:s3:::" + bucket: true}) {
					t.Errorf("%s: s3:ListBucket on %v; only the archive bucket %s", f.id, sortedKeys(res), bucket)
				}
			case a == "dynamodb:UpdateItem" || a == "dynamodb:GetItem":
				// The quota table: the one conditional increment per call
				// (resultfetch's: the uploads it submits).
				if f.kind != kindHTTP && f.fn != "resultfetch" || !mapsEqual(res, map[string]bool{"!GetAtt:QuotaTable.Arn": true}) {
					t.Errorf("%s: %s on %v; only the HTTP functions and resultfetch, on the quota table only", f.id, a, sortedKeys(res))
				}
				if tag, v := tagged(f.env["QUOTA_STORE_URL"]); tag != "!Sub" || v != "dynamodb://${QuotaTable}" {
					t.Errorf("%s: QUOTA_STORE_URL %s %q, want !Sub dynamodb://${QuotaTable}", f.id, tag, v)
				}
			case a == "lambda:InvokeFunction":
				// A request that meets a rejected ticket asks the refresher.
				if f.kind != kindHTTP || !mapsEqual(res, map[string]bool{"!GetAtt:TicketRefreshFunction.Arn": true}) {
					t.Errorf("%s: lambda:InvokeFunction on %v; only the HTTP functions, on the refresher only", f.id, sortedKeys(res))
				}
				if tag, v := tagged(f.env["REFRESHER_URL"]); tag != "!Sub" || v != "lambda://${AWS::StackName}-ticketrefresh" {
					t.Errorf("%s: REFRESHER_URL %s %q, want !Sub lambda://${AWS::StackName}-ticketrefresh (the refresher's FunctionName)", f.id, tag, v)
				}
			case a == "sqs:SendMessage":
				// Callbacks: queued by the HTTP functions and resultfetch.
				if f.fn == "ticketrefresh" || !mapsEqual(res, map[string]bool{"!GetAtt:ResultFetchQueue.Arn": true}) {
					t.Errorf("%s: sqs:SendMessage on %v; only the HTTP functions and resultfetch, on the resultfetch queue only", f.id, sortedKeys(res))
				}
			case a == "kms:GenerateDataKey" || a == "kms:Decrypt":
				if !mapsEqual(res, map[string]bool{"!GetAtt:EvidenceKey.Arn": true}) || f.env["ARCHIVE_URL"] == nil {
					t.Errorf("%s: %s on %v; only the evidence key, for a function with the archive", f.id, a, sortedKeys(res))
				}
			case a == "s3:PutObject" || a == "s3:GetObject" || a == "s3:DeleteObject":
				_, archive := tagged(f.env["ARCHIVE_URL"])
				bucket, _, _ := strings.Cut(strings.TrimPrefix(archive, "s3://"), "/")
				if archive == "" || bucket == "" {
					t.Errorf("%s: %s without ARCHIVE_URL", f.id, a)
					continue
				}
				for r := range res {
					if key, ok := strings.CutPrefix(r, "sub:arn:${AWS::Partition}:s3:::"+bucket+"/"); !ok || key == "*" {
						t.Errorf("%s: %s on %q: not a prefix of the archive bucket %s", f.id, a, r, bucket)
					}
				}
			default:
				t.Errorf("%s: action %s is not one the code needs (GetSecretValue, PutSecretValue, s3:PutObject/GetObject/DeleteObject/ListBucket, kms:GenerateDataKey/Decrypt)", f.id, a)
			}
		}
		if len(got["secretsmanager:GetSecretValue"]) == 0 {
			t.Errorf("%s: cannot read its secrets (no GetSecretValue)", f.id)
		}
		if f.fn == "ticketrefresh" && len(got["secretsmanager:PutSecretValue"]) == 0 {
			t.Errorf("%s: the refresher cannot write the tickets (no PutSecretValue)", f.id)
		}
	}

	// Every other policy document in the template: nothing allowed with a wildcard action.
	for id, r := range s.resources {
		walk(get(r, "Properties"), func(n *yaml.Node) {
			for _, st := range statements(get(n, "Statement")) {
				for _, a := range st.actions {
					if strings.Contains(a, "*") && st.effect != "Deny" {
						t.Errorf("%s: %s statement with wildcard action %q", id, st.effect, a)
					}
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	return slices.Equal(sortedKeys(a), sortedKeys(b))
}

func TestSAMHTTPRoutes(t *testing.T) {
	s := loadSAM(t)
	routes := map[string]string{}
	for _, f := range s.functions {
		for _, ev := range f.events {
			if str(get(ev.Val, "Type")) != "HttpApi" {
				continue
			}
			p := get(ev.Val, "Properties")
			api := refTo(get(p, "ApiId"))
			if str(get(s.resources[api], "Type")) != "AWS::Serverless::HttpApi" {
				t.Errorf("%s.%s: ApiId must be !Ref of the template's AWS::Serverless::HttpApi", f.id, ev.Key)
			}
			if v := str(get(p, "PayloadFormatVersion")); v != "2.0" {
				t.Errorf("%s.%s: PayloadFormatVersion %q, want \"2.0\"", f.id, ev.Key, v)
			}
			route := str(get(p, "Method")) + " " + str(get(p, "Path"))
			if other, dup := routes[route]; dup {
				t.Errorf("route %s is on %s and %s", route, other, f.fn)
			}
			routes[route] = f.fn
		}
	}
	// docs/architecture.md, "Functions", and docs/openapi.yaml.
	want := map[string]string{
		"POST /v1/idcard/ocr":                "idcardsubmit",
		"POST /v1/bankcard/ocr":              "bankcardsubmit",
		"GET /v1/idcard/results/{orderNo}":   "ocrresult",
		"GET /v1/bankcard/results/{orderNo}": "bankcardresult",
		// Erasure (docs/personal-data.md) beside each result query.
		"DELETE /v1/idcard/results/{orderNo}":   "ocrresult",
		"DELETE /v1/bankcard/results/{orderNo}": "bankcardresult",
		// Upload forms (docs/miniprogram.md) beside each submit.
		"POST /v1/idcard/uploads":   "idcardsubmit",
		"POST /v1/bankcard/uploads": "bankcardsubmit",
	}
	// Every operation docs/openapi.yaml describes is routed.
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if route := method + " " + path; want[route] == "" && route != "GET /healthz" {
				t.Errorf("docs/openapi.yaml describes %s, which the template does not route", route)
			}
		}
	}
	for route, fn := range want {
		if routes[route] != fn {
			t.Errorf("route %s goes to %q, want %s", route, routes[route], fn)
		}
	}
	if routes["GET /healthz"] == "" {
		t.Error("no GET /healthz route")
	}
	for route, fn := range routes {
		if _, ok := want[route]; !ok && route != "GET /healthz" {
			t.Errorf("route %s (%s) is not in docs/architecture.md", route, fn)
		}
	}
}

// every20Minutes accepts rate(20 minutes) and EventBridge crons firing at
// minutes 0, 20 and 40 of every hour.
func every20Minutes(expr string) bool {
	if expr == "rate(20 minutes)" {
		return true
	}
	inner, ok := strings.CutPrefix(expr, "cron(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return false
	}
	f := strings.Fields(strings.TrimSuffix(inner, ")"))
	return len(f) == 6 && slices.Contains([]string{"0/20", "*/20", "0,20,40"}, f[0]) &&
		f[1] == "*" && (f[2] == "*" || f[2] == "?") && f[3] == "*" && (f[4] == "?" || f[4] == "*") && f[5] == "*"
}

func TestSAMRefresher(t *testing.T) {
	s := loadSAM(t)
	f := s.functions["ticketrefresh"]
	if f == nil {
		t.Fatal("no ticketrefresh function")
	}
	if got := str(get(f.props, "ReservedConcurrentExecutions")); got != "1" {
		t.Errorf("ReservedConcurrentExecutions %q, want 1 (never two refreshers at once)", got)
	}
	n := 0
	for _, ev := range f.events {
		expr := str(path(ev.Val, "Properties", "ScheduleExpression"))
		if !every20Minutes(expr) {
			t.Errorf("schedule %s: %q is not every 20 minutes", ev.Key, expr)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d schedules, want 1", n)
	}
}

func TestSAMResultFetch(t *testing.T) {
	s := loadSAM(t)
	f := s.functions["resultfetch"]
	if f == nil {
		t.Fatal("no resultfetch function")
	}
	globals := path(s.root, "Globals", "Function")
	timeout, _ := strconv.Atoi(str(f.prop("Timeout", globals)))
	var sqs, s3 bool
	for _, ev := range f.events {
		p := get(ev.Val, "Properties")
		switch str(get(ev.Val, "Type")) {
		case "SQS":
			sqs = true
			q, attr := getAttOf(get(p, "Queue"))
			queue := s.resources[q]
			if str(get(queue, "Type")) != "AWS::SQS::Queue" || attr != "Arn" {
				t.Errorf("SQS event: Queue must be !GetAtt <AWS::SQS::Queue>.Arn")
				continue
			}
			if !slices.Contains(strs(get(p, "FunctionResponseTypes")), "ReportBatchItemFailures") {
				t.Error("SQS event without FunctionResponseTypes: [ReportBatchItemFailures]")
			}
			dlq, _ := getAttOf(path(queue, "Properties", "RedrivePolicy", "deadLetterTargetArn"))
			if dlq == "" || dlq == q || str(get(s.resources[dlq], "Type")) != "AWS::SQS::Queue" {
				t.Errorf("queue %s has no dead-letter queue (RedrivePolicy.deadLetterTargetArn: !GetAtt <other queue>.Arn)", q)
			}
			if n, _ := strconv.Atoi(str(path(queue, "Properties", "RedrivePolicy", "maxReceiveCount"))); n < 1 {
				t.Errorf("queue %s: RedrivePolicy.maxReceiveCount missing", q)
			}
			vis, _ := strconv.Atoi(str(path(queue, "Properties", "VisibilityTimeout")))
			if timeout == 0 || vis < 6*timeout {
				t.Errorf("queue %s: VisibilityTimeout %d < 6 × function timeout %d", q, vis, timeout)
			}
			if !outputRefs(s, "!Ref", q) {
				t.Errorf("no output gives the queue URL (!Ref %s)", q)
			}
		case "S3":
			s3 = true
			b := refTo(get(p, "Bucket"))
			if str(get(s.resources[b], "Type")) != "AWS::S3::Bucket" {
				t.Errorf("S3 event: Bucket must be !Ref of the template's bucket")
			}
			if ev := strs(get(p, "Events")); !slices.Contains(ev, "s3:ObjectCreated:*") {
				t.Errorf("S3 event: Events %v, want s3:ObjectCreated:*", ev)
			}
			var prefix string
			for _, r := range items(path(p, "Filter", "S3Key", "Rules")) {
				if strings.EqualFold(str(get(r, "Name")), "prefix") {
					prefix = str(get(r, "Value"))
				}
			}
			if prefix != "uploads/" {
				t.Errorf("S3 event: prefix filter %q, want uploads/", prefix)
			}
			checkBucket(t, s, b, f)
		}
	}
	if !sqs || !s3 {
		t.Errorf("resultfetch triggers: SQS %v, S3 %v; want both", sqs, s3)
	}
}

func checkBucket(t *testing.T, s *samTemplate, id string, writer *samFunction) {
	t.Helper()
	p := get(s.resources[id], "Properties")
	if len(items(path(p, "BucketEncryption", "ServerSideEncryptionConfiguration"))) == 0 {
		t.Errorf("bucket %s: no BucketEncryption", id)
	}
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if str(path(p, "PublicAccessBlockConfiguration", k)) != "true" {
			t.Errorf("bucket %s: PublicAccessBlockConfiguration.%s is not true", id, k)
		}
	}
	retention := false
	for _, r := range items(path(p, "LifecycleConfiguration", "Rules")) {
		param := refTo(get(r, "ExpirationInDays"))
		if str(get(r, "Status")) == "Enabled" && param != "" && str(get(s.params[param], "Type")) == "Number" {
			retention = true
		}
	}
	if !retention {
		t.Errorf("bucket %s: no enabled lifecycle rule with ExpirationInDays: !Ref <Number parameter>", id)
	}
	// The name is spelled out (a !Ref would make bucket and function depend
	// on each other): it must be the one ARCHIVE_URL and the policies use.
	tag, name := tagged(get(p, "BucketName"))
	_, archive := tagged(writer.env["ARCHIVE_URL"])
	if tag != "!Sub" || !strings.HasPrefix(archive, "s3://"+name+"/") {
		t.Errorf("bucket %s: BucketName %s %q is not the bucket of ARCHIVE_URL %q", id, tag, name, archive)
	}
	if !outputRefs(s, "!Ref", id) {
		t.Errorf("no output gives the bucket (!Ref %s)", id)
	}
}

// outputRefs reports whether an output's value is `tag id` (or, for !Sub,
// mentions ${id}).
func outputRefs(s *samTemplate, tag, id string) bool {
	for _, o := range entries(get(s.root, "Outputs")) {
		gt, v := tagged(get(o.Val, "Value"))
		if gt == tag && (v == id || (tag == "!Sub" && strings.Contains(v, "${"+id+"}"))) {
			return true
		}
	}
	return false
}

func TestSAMSecretsLogsOutputs(t *testing.T) {
	s := loadSAM(t)
	var secrets []string
	for id, r := range s.resources {
		if str(get(r, "Type")) == "AWS::SecretsManager::Secret" {
			secrets = append(secrets, id)
		}
	}
	if len(secrets) != 4 {
		t.Errorf("%d secrets %v, want 4 (credentials, tickets, the refresher's leases, tenants)", len(secrets), secrets)
	}
	used := map[string]string{}
	for _, f := range s.functions {
		lg := refTo(path(f.props, "LoggingConfig", "LogGroup"))
		r := s.resources[lg]
		if str(get(r, "Type")) != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup must be !Ref of an AWS::Logs::LogGroup (log retention)", f.id)
			continue
		}
		if get(get(r, "Properties"), "RetentionInDays") == nil {
			t.Errorf("%s: log group %s has no RetentionInDays", f.id, lg)
		}
		if other, dup := used[lg]; dup {
			t.Errorf("log group %s shared by %s and %s", lg, other, f.id)
		}
		used[lg] = f.id
	}
	var api string
	for id, r := range s.resources {
		if str(get(r, "Type")) == "AWS::Serverless::HttpApi" {
			api = id
		}
	}
	if api == "" || !outputRefs(s, "!Sub", api) {
		t.Errorf("no output gives the API URL (!Sub https://${%s}.execute-api…)", api)
	}
}

// TestSAMReferences: every intrinsic tag is one CloudFormation knows, and
// every !Ref, !GetAtt, !Sub ${…} and !If names something that exists.
func TestSAMReferences(t *testing.T) {
	s := loadSAM(t)
	known := map[string]bool{"!Ref": true, "!Sub": true, "!GetAtt": true, "!If": true, "!Not": true, "!Equals": true,
		"!Join": true, "!Select": true, "!Split": true, "!And": true, "!Or": true, "!Condition": true,
		"!FindInMap": true, "!Base64": true, "!Cidr": true, "!GetAZs": true, "!ImportValue": true}
	pseudo := map[string]bool{"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true,
		"AWS::Partition": true, "AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true}
	name := func(n string) bool { return s.resources[n] != nil || s.params[n] != nil || pseudo[n] }
	subVar := regexp.MustCompile(`\$\{([^!}][^}]*)\}`)
	walk(s.root, func(n *yaml.Node) {
		if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
			return
		}
		if !known[n.Tag] {
			t.Errorf("%s: unknown intrinsic %s", where(n), n.Tag)
			return
		}
		switch n.Tag {
		case "!Ref":
			if !name(n.Value) {
				t.Errorf("%s: !Ref %s: no such resource or parameter", where(n), n.Value)
			}
		case "!GetAtt":
			if res, _ := getAttOf(n); s.resources[res] == nil {
				t.Errorf("%s: !GetAtt %s: no such resource", where(n), res)
			}
		case "!Sub":
			text, locals := n.Value, map[string]bool{}
			if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
				text = n.Content[0].Value
				for _, e := range entries(n.Content[1]) {
					locals[e.Key] = true
				}
			}
			for _, m := range subVar.FindAllStringSubmatch(text, -1) {
				v, _, _ := strings.Cut(m[1], ".")
				if !locals[m[1]] && !name(v) {
					t.Errorf("%s: !Sub ${%s}: no such resource or parameter", where(n), m[1])
				}
			}
		case "!If":
			if c := items(n); len(c) != 3 || !s.conditions[str(c[0])] {
				t.Errorf("%s: !If needs [<condition>, then, else] with a declared condition", where(n))
			}
		}
	})
	// Every parameter without a default must be passed by scripts/deploy-aws.sh.
	script := readFile(t, "scripts/deploy-aws.sh")
	for p, n := range s.params {
		if get(n, "Default") == nil && !strings.Contains(script, `"`+p+`=`) {
			t.Errorf("parameter %s has no Default and scripts/deploy-aws.sh does not pass it", p)
		}
	}
}

// TestSAMStoresLinked: a function whose descriptor names awssm:// stores or
// an s3:// archive must link the package that registers that scheme, or it
// cannot start ("unsupported scheme").
func TestSAMStoresLinked(t *testing.T) {
	s := loadSAM(t)
	facts := scanCode(t, cloudAWS)
	for _, fn := range sortedKeys(s.functions) {
		f := s.functions[fn]
		for name, registry := range storeVars {
			if _, v := tagged(f.env[name]); v != "" {
				checkLinked(t, facts, fn, name, registry, v)
			}
		}
	}
}
