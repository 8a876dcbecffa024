// Command provisioner-bench measures Provisioner against the limits its
// issues set, on this machine, and writes bench/RESULTS.md. `make bench`
// runs it; `make bench SCALE=small` is a quick check.
//
// It builds the real binary, creates a scratch database on DATABASE_URL's
// server (dropped at the end), and drives the server over HTTP with the fake
// OpenAI running in this process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/provisioner/provisioner/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "provisioner-bench:", err)
		os.Exit(1)
	}
}

// sizes of each scenario at a scale.
type sizes struct {
	Signups        int
	ListSmall      int
	ListLarge      int
	ListQueries    int
	Backfill       int
	MemoryBackfill int
	Reconcile      int
	Keys           int
}

var scales = map[string]sizes{
	"small": {Signups: 1000, ListSmall: 2_000, ListLarge: 50_000, ListQueries: 50, Backfill: 300, MemoryBackfill: 5_000, Reconcile: 200, Keys: 200},
	"full":  {Signups: 10_000, ListSmall: 10_000, ListLarge: 1_000_000, ListQueries: 200, Backfill: 2_000, MemoryBackfill: 100_000, Reconcile: 2_000, Keys: 1_000},
}

// bench holds what every scenario needs.
type bench struct {
	out     io.Writer
	bin     string
	baseURL string // database server URL (any database)
	scale   string
	sizes   sizes
	report  *report
	// peakRSS is the server's peak resident memory (MB) in each scenario
	// that ran one, for the memory scenario's report.
	peakRSS map[string]float64
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("provisioner-bench", flag.ContinueOnError)
	scale := fs.String("scale", "full", "small or full")
	only := fs.String("only", "", "comma-separated scenarios to run (signup,list,backfill,memory,keys,shared,costs,reconcile); all when empty")
	out := fs.String("out", "bench/RESULTS.md", "report file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz, ok := scales[*scale]
	if !ok {
		return fmt.Errorf("unknown -scale %q (small or full)", *scale)
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "provisioner-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The scratch databases live on the machine's PostgreSQL, the one the
	// tests use, unless DATABASE_URL names another server.
	dbServer := cfg.DatabaseURL
	if dbServer == "" {
		dbServer = config.DefaultDatabaseURL
	}
	b := &bench{out: stdout, bin: filepath.Join(dir, "provisioner"), baseURL: dbServer, scale: *scale, sizes: sz,
		report: newReport(*scale), peakRSS: map[string]float64{}}
	b.logf("building the binary")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/provisioner").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	scenarios := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"signup", b.signupScenario},
		{"list", b.listScenario},
		{"backfill", b.backfillScenario},
		{"memory", b.memoryScenario},
		{"reconcile", b.reconcileScenario},
		{"keys", b.keysScenario},
		{"shared", b.sharedScenario},
		{"costs", b.costsScenario}, // costs.go
		// costlist is the list step of costs alone, for working on it; it
		// is not part of a full run.
		{"costlist", b.costListScenario},
	}
	for _, s := range scenarios {
		if (*only == "" && s.name == "costlist") || *only != "" && !strings.Contains(","+*only+",", ","+s.name+",") {
			continue
		}
		b.logf("== scenario %s (%s scale)", s.name, *scale)
		start, loadBefore := time.Now(), loadAverage()
		if err := s.fn(ctx); err != nil {
			b.report.failed(s.name, err)
			b.logf("scenario %s failed: %v", s.name, err)
		}
		took := time.Since(start).Round(time.Second)
		b.report.ran(s.name, took, loadBefore, loadAverage())
		b.logf("== scenario %s took %v", s.name, took)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, []byte(b.report.markdown(machine())), 0o644); err != nil {
		return err
	}
	b.logf("report written to %s", *out)
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// loadAverage is the machine's one-minute load average ("" if unknown):
// other work on the machine slows the figures down.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b))[0]
}

// machine describes where the figures were measured.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.TrimSpace(strings.SplitN(strings.SplitN(string(b), "\n", 2)[0], ":", 2)[1])
	}
	pg := "PostgreSQL"
	if out, err := exec.Command("psql", "--version").Output(); err == nil {
		pg = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d cores (%s), %s memory, %s, %s, %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), pg, runtime.GOOS, runtime.GOARCH)
}
