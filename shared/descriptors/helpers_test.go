package descriptors

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// repoRoot is the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// functionDirs lists functions/<name> directories that hold a main.go.
func functionDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot(t), "functions", e.Name(), "main.go")); err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no functions/<name>/main.go found")
	}
	sort.Strings(names)
	return names
}

// ---------------------------------------------------------------- YAML nodes

// loadYAML parses a file and returns its top-level mapping node.
func loadYAML(t *testing.T, rel string) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("%s: not a YAML mapping", rel)
	}
	return doc.Content[0]
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// path follows keys through nested mappings.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = get(n, k)
	}
	return n
}

type entry struct {
	Key string
	Val *yaml.Node
}

// entries lists a mapping's pairs in order.
func entries(n *yaml.Node) []entry {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, entry{n.Content[i].Value, deref(n.Content[i+1])})
	}
	return out
}

// items lists a sequence's items; a single non-sequence node is one item.
func items(n *yaml.Node) []*yaml.Node {
	n = deref(n)
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode:
		out := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out[i] = deref(c)
		}
		return out
	default:
		return []*yaml.Node{n}
	}
}

// str is a scalar's value ("" for anything else).
func str(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// strs lists the scalar values of a scalar or a sequence of scalars.
func strs(n *yaml.Node) []string {
	var out []string
	for _, it := range items(n) {
		out = append(out, str(it))
	}
	return out
}

// tagged reports a node's intrinsic tag ("!Ref", "!Sub", …) and value;
// plain nodes give "".
func tagged(n *yaml.Node) (tag, value string) {
	n = deref(n)
	if n == nil || !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return "", str(n)
	}
	return n.Tag, n.Value
}

// refTo returns X for `!Ref X`, or "".
func refTo(n *yaml.Node) string {
	if tag, v := tagged(n); tag == "!Ref" {
		return v
	}
	return ""
}

// getAttOf returns (X, Attr) for `!GetAtt X.Attr` or `!GetAtt [X, Attr]`.
func getAttOf(n *yaml.Node) (string, string) {
	n = deref(n)
	if n == nil || n.Tag != "!GetAtt" {
		return "", ""
	}
	if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
		return n.Content[0].Value, n.Content[1].Value
	}
	res, attr, _ := strings.Cut(n.Value, ".")
	return res, attr
}

// walk calls fn for n and every node below it.
func walk(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for _, c := range n.Content {
		walk(c, fn)
	}
}

func where(n *yaml.Node) string {
	if n == nil {
		return "?"
	}
	return "line " + strconv.Itoa(n.Line)
}

// ---------------------------------------------------------------- what the code reads

// codeFacts is what the deployed binaries' source says, per function.
type codeFacts struct {
	env     map[string]map[string]bool // functions/<fn> → environment variable names it reads
	schemes map[string]map[string]bool // functions/<fn> → "secretstore:<scheme>", "archive:<scheme>" linked in
}

// Clouds, by the build tag scripts/build.sh gives their binaries (it
// decides which cloud backends are linked: shared/backends).
const (
	cloudAWS = "cardocr_aws"
	cloudSCF = "cardocr_scf"
)

var (
	codeMu    sync.Mutex
	codeCache = map[string]codeFacts{}
)

// scanCode finds, for each functions/<fn>, the environment variable names
// its binary reads: every string literal (or string constant) passed to a
// getenv-like call, or passed alongside a getenv function value (as in
// duration(getenv, "TICKET_CACHE_TTL", …)), in the module's packages it
// depends on for linux; and the secret store and archive URL schemes those
// packages register (secretstore.Register("awssm", …), archive.Register("s3",
// …); file:// is built into both).
func scanCode(t *testing.T, cloud string) codeFacts {
	t.Helper()
	codeMu.Lock()
	defer codeMu.Unlock()
	if c, ok := codeCache[cloud]; ok {
		return c
	}
	c, err := scanFunctions(repoRoot(t), functionDirs(t), cloud)
	if err != "" {
		t.Fatal(err)
	}
	codeCache[cloud] = c
	return c
}

// envReadByCode is the union of scanCode's environment names.
func envReadByCode(t *testing.T, cloud string) map[string]bool {
	all := map[string]bool{}
	for _, names := range scanCode(t, cloud).env {
		for n := range names {
			all[n] = true
		}
	}
	return all
}

var envNameRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

type pkgFacts struct {
	env     map[string]bool
	schemes map[string]bool
}

func scanFunctions(root string, fns []string, cloud string) (codeFacts, string) {
	facts := codeFacts{env: map[string]map[string]bool{}, schemes: map[string]map[string]bool{}}
	byDir := map[string]pkgFacts{}
	fset := token.NewFileSet()
	for _, fn := range fns {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "list", "-e", "-deps", "-tags", "lambda.norpc,"+cloud,
			"-f", `{{if .Module}}{{if eq .Module.Path "github.com/cardocr/cardocr"}}{{.Dir}}|{{join .GoFiles ","}}{{end}}{{end}}`,
			"./functions/"+fn)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			return facts, "go list ./functions/" + fn + ": " + err.Error() + ": " + stderr.String()
		}
		env, schemes := map[string]bool{}, map[string]bool{"secretstore:file": true, "archive:file": true}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			dir, files, ok := strings.Cut(line, "|")
			if !ok || files == "" {
				continue
			}
			pf, seen := byDir[dir]
			if !seen {
				pf = pkgFacts{env: map[string]bool{}, schemes: map[string]bool{}}
				var parsed []*ast.File
				consts := map[string]string{}
				for _, f := range strings.Split(files, ",") {
					af, err := parser.ParseFile(fset, filepath.Join(dir, f), nil, 0)
					if err != nil {
						return facts, err.Error()
					}
					parsed = append(parsed, af)
					collectStringConsts(af, consts)
				}
				for _, af := range parsed {
					collectEnvNames(af, consts, pf.env)
					collectSchemes(af, pf.schemes)
				}
				byDir[dir] = pf
			}
			for n := range pf.env {
				env[n] = true
			}
			for s := range pf.schemes {
				schemes[s] = true
			}
		}
		if len(env) == 0 {
			return facts, "found no environment variable reads in functions/" + fn + ": the scanner is broken"
		}
		facts.env[fn], facts.schemes[fn] = env, schemes
	}
	return facts, ""
}

// collectSchemes finds secretstore.Register("<scheme>", …) and
// archive.Register("<scheme>", …) calls, recording "secretstore:<scheme>"
// and "archive:<scheme>".
func collectSchemes(f *ast.File, schemes map[string]bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Register" {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok || (x.Name != "secretstore" && x.Name != "archive" && x.Name != "quota") {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				schemes[x.Name+":"+s] = true
			}
		}
		return true
	})
}

func collectStringConsts(f *ast.File, consts map[string]string) {
	ast.Inspect(f, func(n ast.Node) bool {
		gd, ok := n.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			return true
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							consts[name.Name] = s
						}
					}
				}
			}
		}
		return true
	})
}

// calleeName is the name of the called function or method.
func calleeName(e ast.Expr) string {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

func isEnvReader(name string) bool {
	l := strings.ToLower(name)
	if strings.HasSuffix(l, "setenv") {
		return false
	}
	return strings.HasSuffix(l, "getenv") || strings.HasSuffix(l, "lookupenv") || l == "firstenv" || l == "env"
}

func collectEnvNames(f *ast.File, consts map[string]string, names map[string]bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		// A provider's settings (config.ReadSettings reads the env:"NAME"
		// tags) and the variables of its secrets (providers.Secret{Env: …}).
		if field, ok := n.(*ast.Field); ok && field.Tag != nil {
			if tag, err := strconv.Unquote(field.Tag.Value); err == nil {
				if name := reflect.StructTag(tag).Get("env"); envNameRe.MatchString(name) {
					names[name] = true
				}
			}
			return true
		}
		if kv, ok := n.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Env" {
				if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if name, err := strconv.Unquote(lit.Value); err == nil && envNameRe.MatchString(name) {
						names[name] = true
					}
				}
			}
			return true
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		relevant := isEnvReader(calleeName(call.Fun))
		for _, a := range call.Args {
			if isEnvReader(calleeName(a)) { // a getenv function passed as a value
				relevant = true
			}
		}
		if !relevant {
			return true
		}
		for _, a := range call.Args {
			var s string
			switch v := a.(type) {
			case *ast.BasicLit:
				if v.Kind == token.STRING {
					s, _ = strconv.Unquote(v.Value)
				}
			case *ast.Ident:
				s = consts[v.Name]
			}
			if envNameRe.MatchString(s) {
				names[s] = true
			}
		}
		return true
	})
}

// reservedEnv reports names a descriptor must not set: the platforms own
// them (Lambda's reserved keys, SCF's reserved prefixes) or they select the
// binary's platform mode.
func reservedEnv(name string) bool {
	for _, p := range []string{"AWS_", "LAMBDA_", "_", "SCF_", "QCLOUD_", "TENCENTCLOUD_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return slices.Contains([]string{"TZ", "LANG", "PATH", "LD_LIBRARY_PATH", "PORT"}, name)
}

// requiredEnv is what each kind of function cannot start without.
func requiredEnv(kind string) []string {
	switch kind {
	case kindHTTP:
		return []string{"TENANTS_URL", "AUTH_MODE", "CREDENTIALS_URL", "TICKET_STORE_URL"}
	case kindRefresher:
		return []string{"CREDENTIALS_URL", "TICKET_STORE_URL", "TICKET_REFRESH_INTERVAL"}
	case kindFetcher:
		return []string{"ARCHIVE_URL", "CREDENTIALS_URL", "TICKET_STORE_URL"}
	}
	return nil
}

const (
	kindHTTP      = "http"
	kindRefresher = "refresher"
	kindFetcher   = "fetcher"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runScript runs a repository script with bash, bounded, and returns its
// combined output and exit code.
func runScript(t *testing.T, env []string, script string, args ...string) (string, int) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not available")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, append([]string{filepath.Join(repoRoot(t), script)}, args...)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out; output:\n%s", script, out)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", script, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// cleanEnv is the test process's environment without AWS_*, CARDOCR_*,
// TENCENT* and SMOKE_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "CARDOCR_") || strings.HasPrefix(k, "TENCENT") || strings.HasPrefix(k, "SMOKE_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// readFile reads a repository file.
func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storeVars maps the variables holding store URLs to the registry whose
// Register makes their scheme available.
var storeVars = map[string]string{"CREDENTIALS_URL": "secretstore", "TICKET_STORE_URL": "secretstore", "ARCHIVE_URL": "archive",
	"TENANTS_URL": "secretstore", "QUOTA_STORE_URL": "quota"}

// checkLinked reports a store URL whose scheme functions/<fn> does not link.
func checkLinked(t *testing.T, facts codeFacts, fn, name, registry, url string) {
	t.Helper()
	linked := facts.schemes[fn]
	if linked == nil {
		return // no functions/<fn>: reported elsewhere
	}
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return // set at deploy time (${env:…}, or off)
	}
	if !linked[registry+":"+scheme] {
		t.Errorf("%s: %s is %s://…, but functions/%s links no package calling %s.Register(%q) (linked: %v)",
			fn, name, scheme, fn, registry, scheme, sortedKeys(linked))
	}
}

// TestCloudBinariesLinkOnlyTheirCloud: the build tags of scripts/build.sh
// keep the other cloud's SDKs out of each binary (size and cold start).
func TestCloudBinariesLinkOnlyTheirCloud(t *testing.T) {
	foreign := map[string][]string{
		cloudAWS: {"secretstore:tencentssm", "archive:cos"},
		cloudSCF: {"secretstore:awssm", "archive:s3"},
	}
	for cloud, schemes := range foreign {
		for fn, linked := range scanCode(t, cloud).schemes {
			for _, s := range schemes {
				if linked[s] {
					t.Errorf("%s built with -tags %s links %s", fn, cloud, s)
				}
			}
		}
	}
}
