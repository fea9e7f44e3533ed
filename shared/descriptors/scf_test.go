package descriptors

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// scfFile is serverless.yml (component multi-scf), parsed.
type scfFile struct {
	root      *yaml.Node
	inputs    *yaml.Node
	functions map[string]*scfFunction
	triggers  []*yaml.Node
}

type scfFunction struct {
	key      string
	node     *yaml.Node
	env      map[string]string
	triggers map[string][]*yaml.Node // type → triggers
}

func loadSCF(t *testing.T) *scfFile {
	t.Helper()
	root := loadYAML(t, "serverless.yml")
	s := &scfFile{root: root, inputs: get(root, "inputs"), functions: map[string]*scfFunction{}}
	if got := str(get(root, "component")); got != "multi-scf" {
		t.Fatalf("component %q, want multi-scf", got)
	}
	for _, e := range entries(get(s.inputs, "functions")) {
		f := &scfFunction{key: e.Key, node: e.Val, env: map[string]string{}, triggers: map[string][]*yaml.Node{}}
		for _, v := range entries(path(e.Val, "environment", "variables")) {
			if v.Val.Kind != yaml.ScalarNode {
				t.Errorf("%s: environment %s is not a string", e.Key, v.Key)
			}
			f.env[v.Key] = v.Val.Value
		}
		s.functions[e.Key] = f
	}
	s.triggers = items(get(s.inputs, "triggers"))
	for _, tr := range s.triggers {
		fn := str(get(tr, "function"))
		f := s.functions[fn]
		if f == nil {
			t.Errorf("trigger at %s: function %q is not in inputs.functions", where(tr), fn)
			continue
		}
		typ := str(get(tr, "type"))
		f.triggers[typ] = append(f.triggers[typ], tr)
	}
	return s
}

// scfKind derives what a function is from its triggers, like samKind.
func (f *scfFunction) kind() string {
	switch {
	case len(f.triggers["http"]) > 0:
		return kindHTTP
	case len(f.triggers["timer"]) > 0:
		return kindRefresher
	case len(f.triggers["cos"]) > 0 || len(f.triggers["cmq"]) > 0:
		return kindFetcher
	}
	return ""
}

func TestSCFDeploysEveryFunctionAndNothingElse(t *testing.T) {
	s := loadSCF(t)
	if got, want := sortedKeys(s.functions), functionDirs(t); !slices.Equal(got, want) {
		t.Fatalf("serverless.yml deploys %v; functions/ has %v", got, want)
	}
}

func TestSCFRuntimeHandlerCode(t *testing.T) {
	s := loadSCF(t)
	app := str(get(s.root, "app"))
	if app == "" || str(get(s.root, "stage")) == "" {
		t.Error("app and stage must be set (they name the functions)")
	}
	// multi-scf deploys one package for every function: the bundle that
	// scripts/deploy-scf.sh assembles from dist/scf/<fn>/bootstrap.
	if got := str(path(s.inputs, "src", "src")); got != "./dist/scf/bundle" {
		t.Errorf("inputs.src.src %q, want ./dist/scf/bundle", got)
	}
	if got := str(get(s.inputs, "type")); got != "event" {
		t.Errorf("inputs.type %q, want event (Custom Runtime with Function URLs, timer, COS and CMQ triggers)", got)
	}
	// multi-scf passes only namespace, runtime, description and code from the
	// top level to each function (src/formatter.ts): anything else set there
	// would silently not apply.
	for _, k := range []string{"environment", "role", "memorySize", "timeout", "eip", "handler"} {
		if get(s.inputs, k) != nil {
			t.Errorf("inputs.%s: multi-scf ignores it at the top level; set it per function", k)
		}
	}
	for _, f := range s.functions {
		if got := str(get(f.node, "runtime")); got != "CustomRuntime" {
			t.Errorf("%s: runtime %q, want CustomRuntime", f.key, got)
		}
		if got := str(get(f.node, "handler")); got != f.key {
			t.Errorf("%s: handler %q, want %q (the bundle's bootstrap execs <handler>/bootstrap)", f.key, got, f.key)
		}
		if got, want := str(get(f.node, "name")), "${app}-${stage}-"+f.key; got != want {
			t.Errorf("%s: name %q, want %q (scripts/deploy-scf.sh uses it)", f.key, got, want)
		}
		for _, k := range []string{"memorySize", "timeout", "role"} {
			if str(get(f.node, k)) == "" {
				t.Errorf("%s: %s is not set", f.key, k)
			}
		}
	}
}

func TestSCFEnvironment(t *testing.T) {
	s := loadSCF(t)
	sam := loadSAM(t)
	facts := scanCode(t, cloudSCF)
	var creds, tickets string
	for _, fn := range sortedKeys(s.functions) {
		f := s.functions[fn]
		if code := facts.env[fn]; code != nil {
			for _, name := range sortedKeys(f.env) {
				if !code[name] {
					t.Errorf("%s: sets %s, which functions/%s does not read", fn, name, fn)
				}
			}
		}
		for _, name := range sortedKeys(f.env) {
			if reservedEnv(name) {
				t.Errorf("%s: sets %s, which the platform owns", fn, name)
			}
		}
		for _, name := range requiredEnv(f.kind()) {
			if f.env[name] == "" {
				t.Errorf("%s (%s function): %s is not set", fn, f.kind(), name)
			}
		}
		// The same variables on both clouds.
		if a := sam.functions[fn]; a != nil {
			if got, want := sortedKeys(f.env), sortedKeys(a.env); !slices.Equal(got, want) {
				t.Errorf("%s: SCF sets %v, AWS sets %v", fn, got, want)
			}
		}
		for _, name := range []string{"CREDENTIALS_URL", "TICKET_STORE_URL"} {
			v := f.env[name]
			if !strings.HasPrefix(v, "tencentssm://") || !strings.Contains(v, "?region=") {
				t.Errorf("%s: %s %q, want tencentssm://<name>?region=…", fn, name, v)
			}
		}
		if creds == "" {
			creds, tickets = f.env["CREDENTIALS_URL"], f.env["TICKET_STORE_URL"]
		} else if f.env["CREDENTIALS_URL"] != creds || f.env["TICKET_STORE_URL"] != tickets {
			t.Errorf("%s: its secrets differ from the other functions'", fn)
		}
		for name, registry := range storeVars {
			if v := f.env[name]; v != "" {
				checkLinked(t, facts, fn, name, registry, v)
			}
		}
		v, ok := f.env["ARCHIVE_URL"]
		if (f.kind() == kindFetcher || f.kind() == kindHTTP) != ok {
			t.Errorf("%s (%s function): ARCHIVE_URL set: %v (evidence, order records and erasure need it; the refresher does not)", fn, f.kind(), ok)
		}
		if ok && !regexp.MustCompile(`^cos://[^/?]+\?region=[^&]+&prefix=[^&$]+\$\{env:CARDOCR_COS_SSE\}$`).MatchString(v) {
			t.Errorf("%s: ARCHIVE_URL %q, want cos://<bucket-appid>?region=…&prefix=…${env:CARDOCR_COS_SSE}", fn, v)
		}
	}
	if creds == tickets {
		t.Error("credentials and tickets share one secret")
	}
}

// every20MinutesSCF accepts SCF's 7-field cron (second minute hour
// day-of-month month day-of-week year) firing at minutes 0, 20 and 40.
func every20MinutesSCF(expr string) bool {
	f := strings.Fields(expr)
	return len(f) == 7 && f[0] == "0" && slices.Contains([]string{"*/20", "0/20", "0,20,40"}, f[1]) &&
		f[2] == "*" && f[3] == "*" && f[4] == "*" && f[5] == "*" && f[6] == "*"
}

func TestSCFTriggers(t *testing.T) {
	s := loadSCF(t)
	sam := loadSAM(t)
	for _, tr := range s.triggers {
		if typ := str(get(tr, "type")); !slices.Contains([]string{"timer", "http", "cos", "cmq"}, typ) {
			t.Errorf("trigger at %s: type %q; allowed: timer, http (Function URL), cos, cmq (API Gateway triggers are gone)", where(tr), typ)
		}
	}
	timers := 0
	for _, f := range s.functions {
		if k := f.kind(); k == "" {
			t.Errorf("%s: no trigger", f.key)
		}
		for typ, trs := range f.triggers {
			for _, tr := range trs {
				p := get(tr, "parameters")
				switch typ {
				case "timer":
					timers++
					if f.key != "ticketrefresh" {
						t.Errorf("%s: only ticketrefresh runs on a timer", f.key)
					}
					if expr := str(get(p, "cronExpression")); !every20MinutesSCF(expr) {
						t.Errorf("%s: cronExpression %q is not a 7-field cron every 20 minutes", f.key, expr)
					}
					if str(get(p, "enable")) != "true" {
						t.Errorf("%s: timer not enabled", f.key)
					}
				case "http":
					if str(get(p, "authType")) != "NONE" || f.env["AUTH_MODE"] == "" {
						t.Errorf("%s: Function URL must be authType NONE with the function checking keys (AUTH_MODE)", f.key)
					}
					if str(path(p, "netConfig", "enableExtranet")) != "true" {
						t.Errorf("%s: Function URL without public access", f.key)
					}
				case "cos":
					bucket := str(get(p, "bucket"))
					env := `\$\{env:[A-Z_]+\}`
					if !regexp.MustCompile(`^(` + env + `|[a-z0-9-]+-[0-9]+)\.cos\.(` + env + `|[a-z0-9-]+)\.myqcloud\.com$`).MatchString(bucket) {
						t.Errorf("%s: cos bucket %q, want <name>-<appid>.cos.<region>.myqcloud.com", f.key, bucket)
					}
					if got := str(path(p, "filter", "prefix")); got != "uploads/" {
						t.Errorf("%s: cos filter prefix %q, want uploads/", f.key, got)
					}
					if got := str(get(p, "events")); got != "cos:ObjectCreated:*" {
						t.Errorf("%s: cos events %q, want cos:ObjectCreated:*", f.key, got)
					}
					archive := f.env["ARCHIVE_URL"]
					name, _, _ := strings.Cut(bucket, ".cos.")
					if !strings.HasPrefix(archive, "cos://"+name+"?") {
						t.Errorf("%s: the cos trigger's bucket %s is not the archive's (%s)", f.key, name, archive)
					}
				case "cmq":
					if str(get(p, "name")) == "" {
						t.Errorf("%s: cmq trigger without a topic name", f.key)
					}
				}
			}
		}
		// The same function kinds on both clouds.
		if a := sam.functions[f.key]; a != nil && a.kind != f.kind() {
			t.Errorf("%s: a %s function on AWS, a %s function on SCF", f.key, a.kind, f.kind())
		}
	}
	if timers != 1 {
		t.Errorf("%d timers, want 1", timers)
	}
	if f := s.functions["resultfetch"]; f != nil && (len(f.triggers["cos"]) != 1 || len(f.triggers["cmq"]) != 1) {
		t.Error("resultfetch needs one cos and one cmq trigger")
	}
}

// camPolicy is a CAM policy document.
type camPolicy struct {
	Version   string `json:"version"`
	Statement []struct {
		Effect    string          `json:"effect"`
		Action    []string        `json:"action"`
		Resource  []string        `json:"resource"`
		Principal json.RawMessage `json:"principal"`
	} `json:"statement"`
}

func loadCAM(t *testing.T, rel string) camPolicy {
	t.Helper()
	var p camPolicy
	if err := json.Unmarshal([]byte(readFile(t, rel)), &p); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if p.Version != "2.0" || len(p.Statement) == 0 {
		t.Fatalf("%s: not a CAM policy (version 2.0 with statements)", rel)
	}
	return p
}

// TestSCFLeastPrivilege: each function's role (scripts/scf/policy-<kind>.json)
// allows only what its code needs: GetSecretValue on the two secrets; SSM
// writes only for ticketrefresh and only on the tickets secret; COS only for
// resultfetch, inside the evidence bucket; no wildcard actions.
func TestSCFLeastPrivilege(t *testing.T) {
	s := loadSCF(t)
	const (
		credsRes   = "qcs::ssm:${REGION}:uin/${UIN}:secret/creatorUin/${UIN}/${CREDENTIALS_SECRET}"
		ticketsRes = "qcs::ssm:${REGION}:uin/${UIN}:secret/creatorUin/${UIN}/${TICKETS_SECRET}"
		tenantsRes = "qcs::ssm:${REGION}:uin/${UIN}:secret/creatorUin/${UIN}/${TENANTS_SECRET}"
		cosPrefix  = "qcs::cos:${REGION}:uid/${APPID}:${COS_BUCKET}/"
	)
	readers := map[string]bool{"name/ssm:GetSecretValue": true}
	writers := map[string]bool{"name/ssm:PutSecretValue": true, "name/ssm:UpdateSecret": true,
		"name/ssm:ListSecretVersionIds": true, "name/ssm:DeleteSecretVersion": true}
	cos := map[string]bool{"name/cos:PutObject": true, "name/cos:GetObject": true, "name/cos:HeadObject": true, "name/cos:DeleteObject": true,
		// An upload form is a POST Object signed with the API role's
		// credentials: COS authorizes it as that role's.
		"name/cos:PostObject": true}
	// Tencent Cloud OCR's actions have no resource-level authorization:
	// "*" is the only resource they take.
	ocrActions := map[string]bool{"name/ocr:IDCardOCR": true, "name/ocr:BankCardOCR": true}

	roleRe := regexp.MustCompile(`^\$\{env:CARDOCR_ROLE_PREFIX\}-([a-z]+)$`)
	usedBy := map[string][]string{} // policy kind → functions
	for _, fn := range sortedKeys(s.functions) {
		m := roleRe.FindStringSubmatch(str(get(s.functions[fn].node, "role")))
		if m == nil {
			t.Errorf("%s: role must be ${env:CARDOCR_ROLE_PREFIX}-<kind> (scripts/scf/policy-<kind>.json)", fn)
			continue
		}
		usedBy[m[1]] = append(usedBy[m[1]], fn)
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "scripts", "scf", "policy-*.json"))
	for _, file := range files {
		kind := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "policy-"), ".json")
		if usedBy[kind] == nil {
			t.Errorf("scripts/scf/policy-%s.json: no function uses role <prefix>-%s", kind, kind)
		}
	}
	for kind, fns := range usedBy {
		p := loadCAM(t, "scripts/scf/policy-"+kind+".json")
		refresher := slices.Equal(fns, []string{"ticketrefresh"})
		fetcher := slices.Equal(fns, []string{"resultfetch"})
		reads := false
		for _, st := range p.Statement {
			if st.Effect == "deny" {
				// A deny only takes away: the one allowed keeps erasure
				// from ever deleting an audit record.
				if !slices.Equal(st.Action, []string{"name/cos:DeleteObject"}) || len(st.Resource) != 1 || !strings.HasSuffix(st.Resource[0], "/archive/_audit/*") {
					t.Errorf("policy-%s: a deny other than the audit records' protection", kind)
				}
				continue
			}
			if st.Effect != "allow" {
				t.Errorf("policy-%s: effect %q (role policies only allow)", kind, st.Effect)
			}
			for _, a := range st.Action {
				if strings.Contains(a, "*") {
					t.Errorf("policy-%s: wildcard action %q", kind, a)
				}
				for _, r := range st.Resource {
					switch {
					case readers[a]:
						reads = true
						// The tenants document: the API's keys, and resultfetch's
						// tenant callbacks.
						if r != credsRes && r != ticketsRes && (r != tenantsRes || kind != "api" && !fetcher) {
							t.Errorf("policy-%s: %s on %q, not one of the secrets its functions read", kind, a, r)
						}
					case writers[a]:
						if !refresher {
							t.Errorf("policy-%s (used by %v): %s: only ticketrefresh writes a secret", kind, fns, a)
						}
						if r != ticketsRes {
							t.Errorf("policy-%s: %s on %q: only the tickets secret", kind, a, r)
						}
					case cos[a]:
						if a == "name/cos:PostObject" && (kind != "api" || !strings.HasSuffix(r, "/uploads/*")) {
							t.Errorf("policy-%s: %s on %q: only the API role, only for uploads/", kind, a, r)
						}
						if !fetcher && kind != "api" {
							t.Errorf("policy-%s (used by %v): %s: only resultfetch and the API functions use COS", kind, fns, a)
						}
						if !strings.HasPrefix(r, cosPrefix) || r == cosPrefix+"*" {
							t.Errorf("policy-%s: %s on %q, not a prefix inside the evidence bucket", kind, a, r)
						}
					case a == "name/scf:InvokeFunction":
						// A request that meets a rejected ticket asks the refresher.
						if kind != "api" || r != "qcs::scf:${REGION}:uin/${UIN}:namespace/default/function/${REFRESHER_FUNCTION}" {
							t.Errorf("policy-%s: %s on %q: only the API role, on the refresher only", kind, a, r)
						}
					case a == "name/cos:GetBucket":
						// Listing (erasures find an order's objects): a
						// bucket-level action, on the bucket alone.
						if kind != "api" || r != cosPrefix+"*" {
							t.Errorf("policy-%s: %s on %q: only the API role lists, and only the evidence bucket", kind, a, r)
						}
					case a == "name/tdmq:PublishCmqMsg":
						// Callbacks are queued on the resultfetch topic by
						// the API role and resultfetch.
						if kind != "api" && !fetcher {
							t.Errorf("policy-%s (used by %v): %s: only the API functions and resultfetch queue callbacks", kind, fns, a)
						}
					case ocrActions[a]:
						if kind != "api" {
							t.Errorf("policy-%s (used by %v): %s: only the API functions call Tencent Cloud OCR", kind, fns, a)
						}
						if r != "*" {
							t.Errorf("policy-%s: %s on %q, want \"*\" (OCR actions are not resource-scoped)", kind, a, r)
						}
					default:
						t.Errorf("policy-%s: action %s is not one the code needs", kind, a)
					}
				}
			}
		}
		if !reads {
			t.Errorf("policy-%s: its functions cannot read their secrets", kind)
		}
	}
	trust := loadCAM(t, "scripts/scf/trust-scf.json")
	if len(trust.Statement) != 1 || !strings.Contains(string(trust.Statement[0].Principal), `"scf.qcloud.com"`) ||
		!slices.Equal(trust.Statement[0].Action, []string{"name/sts:AssumeRole"}) {
		t.Error("trust-scf.json must let only scf.qcloud.com assume the roles")
	}

	// The policies' placeholders are the secrets and bucket serverless.yml uses.
	script := readFile(t, "scripts/deploy-scf.sh")
	subst := map[string]string{}
	for _, m := range regexp.MustCompile(`s/\\\$\{([A-Z_]+)\}/\$([A-Z_]+)/g`).FindAllStringSubmatch(script, -1) {
		subst[m[1]] = m[2]
	}
	for _, file := range append(files, filepath.Join(repoRoot(t), "scripts", "scf", "trust-scf.json")) {
		for _, m := range regexp.MustCompile(`\$\{([A-Z_]+)\}`).FindAllStringSubmatch(readFile(t, "scripts/scf/"+filepath.Base(file)), -1) {
			if subst[m[1]] == "" {
				t.Errorf("%s: placeholder ${%s} is not filled in by deploy-scf.sh's render", filepath.Base(file), m[1])
			}
		}
	}
	if f := s.functions["resultfetch"]; f != nil {
		envRe := regexp.MustCompile(`\$\{env:([A-Z_]+)\}`)
		for placeholder, variable := range map[string]string{"CREDENTIALS_SECRET": "CREDENTIALS_URL", "TICKETS_SECRET": "TICKET_STORE_URL", "COS_BUCKET": "ARCHIVE_URL"} {
			m := envRe.FindStringSubmatch(f.env[variable])
			if m == nil || subst[placeholder] != m[1] {
				t.Errorf("policies' ${%s} is $%s; %s names ${env:%v}", placeholder, subst[placeholder], variable, m)
			}
		}
	}
}
