package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

const benchKey = "sk-admin-fake-bench-key"

// scratchDB creates a fresh database for one scenario and returns its URL
// and a function that drops it.
func (b *bench) scratchDB(ctx context.Context, name string) (string, func(), error) {
	u, err := url.Parse(b.baseURL)
	if err != nil {
		return "", nil, err
	}
	dbName := fmt.Sprintf("provisioner_bench_%s_%d", name, os.Getpid())
	u.Path = "/" + dbName
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return "", nil, fmt.Errorf("reach database server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize()); err != nil {
		return "", nil, err
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), admin.String())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)")
	}
	// Migrate through the binary, as an operator would.
	cmd := exec.CommandContext(ctx, b.bin, "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+u.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		drop()
		return "", nil, fmt.Errorf("migrate: %v\n%s", err, out)
	}
	return u.String(), drop, nil
}

func openPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) { return db.Open(ctx, dbURL) }

// scratchPool is scratchDB with a pool open on it, the start of most
// scenarios; closeFn closes the pool and drops the database.
func (b *bench) scratchPool(ctx context.Context, name string) (dbURL string, pool *pgxpool.Pool, closeFn func(), err error) {
	dbURL, drop, err := b.scratchDB(ctx, name)
	if err != nil {
		return "", nil, nil, err
	}
	if pool, err = openPool(ctx, dbURL); err != nil {
		drop()
		return "", nil, nil, err
	}
	return dbURL, pool, func() { pool.Close(); drop() }, nil
}

// server is one running `provisioner serve`.
type server struct {
	cmd  *exec.Cmd
	URL  string
	done chan error
	// exited is closed when the process has ended.
	exited chan struct{}
	// maxHWM is the highest VmHWM (kB) read so far. The kernel updates the
	// high-water mark lazily, so a VmHWM read after memory was returned
	// can be below one read earlier: the server is watched all along.
	maxHWM atomic.Uint64
}

// benchMetricsToken is the servers' METRICS_TOKEN.
const benchMetricsToken = "bench-metrics-token-0123456789abcdef0123"

// startServer runs the binary with the fake OpenAI and extra environment.
func (b *bench) startServer(ctx context.Context, dbURL string, fake *openaitest.Server, extra ...string) (*server, error) {
	cmd := exec.Command(b.bin, "serve")
	cmd.Env = append(os.Environ(),
		"APP_ENV=test", "ADDR=127.0.0.1:0", "DATABASE_URL="+dbURL,
		"OPENAI_ADMIN_KEY="+benchKey, "OPENAI_BASE_URL="+fake.URL,
		// The bench signs up from one address on purpose, and reads the
		// server's memory from /metrics.
		"SIGNUP_RATE_PER_IP=0", "METRICS_TOKEN="+benchMetricsToken,
		// The bench measures throughput; the signup budget would hold
		// its projects back on purpose.
		"PROJECT_CREATE_BUDGET=0",
		// The fake has no project limit, and the scenarios create more
		// than OpenAI's default of 2,000: at that limit the capacity gate
		// would rightly hold the last companies until a recount.
		"OPENAI_PROJECT_LIMIT=1000000",
	)
	cmd.Env = append(cmd.Env, extra...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp("", "provisioner-bench-server-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- strings.Replace(m[1], "localhost", "127.0.0.1", 1)
			}
		}
	}()
	go func() { s.done <- cmd.Wait(); close(s.exited); logFile.Close() }()
	go s.watchRSS()
	select {
	case s.URL = <-urls:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("server exited: %v (log: %s)", err, logFile.Name())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("server did not start (log: %s)", logFile.Name())
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

// peakRSSMB is the process's peak resident memory so far (VmHWM).
func (s *server) peakRSSMB() float64 {
	s.readHWM()
	return float64(s.maxHWM.Load()) / 1024
}

// watchRSS reads VmHWM every 100 ms until the process ends.
func (s *server) watchRSS() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.exited:
			return
		case <-t.C:
			s.readHWM()
		}
	}
}

// readHWM raises maxHWM to the process's VmHWM.
func (s *server) readHWM() {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return
			}
			for {
				cur := s.maxHWM.Load()
				if kb <= cur || s.maxHWM.CompareAndSwap(cur, kb) {
					return
				}
			}
		}
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
