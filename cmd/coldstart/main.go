// Command coldstart measures, for each function binary, the time from spawn
// to its first GET /runtime/invocation/next against a fake AWS Lambda Runtime
// API (the init phase as Lambda bills and reports it), and compares it and
// the stripped binary sizes with a hello-world aws-lambda-go function built
// the same way. It prints a markdown table. Used by scripts/coldstart.sh:
//
//	coldstart -dir DIR -hello hello [-n 20] [-env K=V ...] name...
//
// DIR/host/<name> are run (built for this machine); DIR/arm64/<name> and
// DIR/amd64/<name>, when present, are the sizes reported for AWS and SCF.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type envList []string

func (e *envList) String() string     { return strings.Join(*e, ",") }
func (e *envList) Set(s string) error { *e = append(*e, s); return nil }

func main() {
	dir := flag.String("dir", "", "directory with host/, arm64/, amd64/ builds")
	hello := flag.String("hello", "hello", "name of the baseline binary")
	n := flag.Int("n", 20, "measured runs per binary")
	var env envList
	flag.Var(&env, "env", "K=V for the functions' environment (repeatable)")
	flag.Parse()
	names := append([]string{*hello}, flag.Args()...)
	if *dir == "" || len(names) < 2 {
		fmt.Fprintln(os.Stderr, "usage: coldstart -dir DIR -hello hello [-n 20] [-env K=V] name...")
		os.Exit(2)
	}
	if err := run(*dir, names, *n, env); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// fakeRuntime answers nothing: it records when /next is first called.
type fakeRuntime struct {
	addr string
	next chan time.Time
}

func startFake() (*fakeRuntime, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeRuntime{addr: ln.Addr().String(), next: make(chan time.Time, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case f.next <- time.Now():
		default:
		}
		<-r.Context().Done() // hold the long poll until the process is killed
	})
	go func() { _ = http.Serve(ln, mux) }()
	return f, nil
}

// once spawns bin and returns the time until its first /next.
func (f *fakeRuntime) once(bin string, env []string) (time.Duration, error) {
	select { // drain a late signal from a previous run
	case <-f.next:
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=" + f.addr, "AWS_LAMBDA_FUNCTION_NAME=" + filepath.Base(bin),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "PATH=/usr/bin:/bin"}, env...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case t := <-f.next:
		return t.Sub(start), nil
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("%s exited before its first next (%v): %s", filepath.Base(bin), err, lastLine(out.String()))
	case <-ctx.Done():
		return 0, errors.New(filepath.Base(bin) + ": no next within 15s")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func size(path string) (int64, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return st.Size(), true
}

func run(dir string, names []string, n int, env []string) error {
	f, err := startFake()
	if err != nil {
		return err
	}
	// host/ holds the AWS builds, host-scf/ the SCF builds, both for this
	// machine's architecture; the hello-world is the same in both.
	builds := []string{"host"}
	if _, err := os.Stat(filepath.Join(dir, "host-scf")); err == nil {
		builds = append(builds, "host-scf")
	}
	times := map[string][]time.Duration{}
	failed := map[string]error{}
	// One unmeasured run each (page cache), then n rounds interleaved so
	// that drift in machine load spreads over every binary alike.
	for round := -1; round < n; round++ {
		for _, b := range builds {
			for i, name := range names {
				if i == 0 && b != "host" {
					continue
				}
				id := b + "/" + name
				if failed[id] != nil {
					continue
				}
				d, err := f.once(filepath.Join(dir, b, name), env)
				if err != nil {
					failed[id] = err
					continue
				}
				if round >= 0 {
					times[id] = append(times[id], d)
				}
			}
		}
	}
	hello := names[0]
	if failed["host/"+hello] != nil {
		return failed["host/"+hello]
	}
	hInit := median(times["host/"+hello])
	hArm, _ := size(filepath.Join(dir, "arm64", hello))
	hAmd, _ := size(filepath.Join(dir, "amd64", hello))
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	ratio := func(a, b float64, limit float64) string {
		if b == 0 {
			return "–"
		}
		r := a / b
		mark := "✓"
		if r > limit {
			mark = "✗"
		}
		return fmt.Sprintf("%.2f× %s", r, mark)
	}
	const initGoal, sizeGoal = 1.4, 1.5
	fmt.Printf("Cold start = spawn to first `GET /runtime/invocation/next` against a fake AWS Runtime API on loopback, median of %d runs of this machine's builds of each target's code (`-tags cardocr_aws`, `cardocr_scf`); sizes are the stripped `dist` builds (AWS linux/arm64, SCF linux/amd64). Goals: init ≤ %.1f×, size ≤ %.1f× the hello-world aws-lambda-go function, on both targets.\n\n", n, initGoal, sizeGoal)
	fmt.Println("| function | init AWS build | vs hello | init SCF build | vs hello | AWS arm64 size | vs hello | SCF amd64 size | vs hello |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Printf("| %s (baseline) | %.1f ms | 1.00× | %.1f ms | 1.00× | %s | 1.00× | %s | 1.00× |\n", hello,
		float64(hInit.Microseconds())/1000, float64(hInit.Microseconds())/1000, mb(hArm), mb(hAmd))
	initOf := func(b, name string) (string, string) {
		id := b + "/" + name
		if err := failed[id]; err != nil {
			return "failed: " + err.Error(), "–"
		}
		if len(times[id]) == 0 {
			return "–", "–"
		}
		in := median(times[id])
		return fmt.Sprintf("%.1f ms", float64(in.Microseconds())/1000), ratio(float64(in), float64(hInit), initGoal)
	}
	for _, name := range names[1:] {
		arm, _ := size(filepath.Join(dir, "arm64", name))
		amd, _ := size(filepath.Join(dir, "amd64", name))
		awsIn, awsR := initOf("host", name)
		scfIn, scfR := initOf("host-scf", name)
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, awsIn, awsR, scfIn, scfR,
			mb(arm), ratio(float64(arm), float64(hArm), sizeGoal), mb(amd), ratio(float64(amd), float64(hAmd), sizeGoal))
	}
	return nil
}
