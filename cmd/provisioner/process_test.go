package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// These tests run the real binary as separate processes against one
// database and the fake OpenAI, and kill or stop them the way an operator
// or a crash would.

const procKey = "sk-admin-fake-process-test"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/provisioner once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "provisioner-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "provisioner")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one running provisioner process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT, empty for a worker
	done chan struct{}
	err  error
	logs *logTail
}

// procEnv is the environment shared by the processes of one test.
func procEnv(dbURL string, fake *openaitest.Server, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"APP_ENV=test",
		"ADDR=127.0.0.1:0",
		"DATABASE_URL=" + dbURL,
		"OPENAI_ADMIN_KEY=" + procKey,
		"OPENAI_BASE_URL=" + fake.URL,
		"OPENAI_TIMEOUT=3s",
		"OPENAI_SIGNUP_TIMEOUT=1s",
		"PROVISION_BACKOFF_BASE=50ms",
		"PROVISION_BACKOFF_MAX=500ms",
		"PROVISION_SETTLE_DELAY=1s",
		"SHUTDOWN_TIMEOUT=15s",
		// These tests sign up hundreds of companies from one address.
		"SIGNUP_RATE_PER_IP=0",
		// These tests sign up hundreds of companies to prove exactly-once
		// creation; the signup budget is tested on its own (gate_test.go).
		"PROJECT_CREATE_BUDGET=0",
	}
	return append(env, extra...)
}

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{}), logs: &logTail{}}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("logs of %v (last lines):\n%s", args, p.logs.String())
		}
	})
	if args[0] != "serve" {
		return p
	}
	select {
	case p.url = <-urls:
	case <-p.done:
		t.Fatalf("provisioner %v exited before listening: %v\n%s", args, p.err, p.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("provisioner %v did not start listening\n%s", args, p.logs.String())
	}
	p.url = strings.Replace(p.url, "localhost", "127.0.0.1", 1)
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit error (nil for exit 0).
func (p *proc) stop(within time.Duration) error {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		p.t.Fatalf("process did not exit within %v of SIGTERM\n%s", within, p.logs.String())
		return nil
	}
}

// signupClient posts the real signup form.
type signupClient struct {
	http  *http.Client
	base  string
	token string
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newSignupClient(t *testing.T, base string) *signupClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &signupClient{base: base, http: &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	resp, err := c.http.Get(base + "/signup")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token on /signup:\n%s", body)
	}
	c.token = string(m[1])
	return c
}

// signup posts one company; it reports whether the app acknowledged it.
func (c *signupClient) signup(name string) (bool, error) {
	resp, err := c.http.PostForm(c.base+"/signup", url.Values{
		"csrf": {c.token}, "company_name": {name}, "industry": {"Software"},
		"contact_name": {"Load Test"}, "contact_email": {"load@example.com"},
	})
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return false, fmt.Errorf("signup %q: status %d", name, resp.StatusCode)
	}
	return true, nil
}

// waitAllProvisioned waits until every company has a project or failed.
func waitAllProvisioned(t *testing.T, pool *pgxpool.Pool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var open int
		if err := pool.QueryRow(context.Background(),
			`SELECT count(*) FROM companies WHERE openai_project_id IS NULL`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			rows, _ := pool.Query(context.Background(), `SELECT name, provisioning_status, provisioning_error FROM companies WHERE openai_project_id IS NULL LIMIT 5`)
			for rows.Next() {
				var n, s, e string
				_ = rows.Scan(&n, &s, &e)
				t.Logf("not provisioned: %s %s %s", n, s, e)
			}
			rows.Close()
			t.Fatalf("%d companies still without a project after %v", open, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkExactlyOnce asserts each company holds exactly one project, the one
// OpenAI has under its name, and OpenAI has no project without a company.
func checkExactlyOnce(t *testing.T, pool *pgxpool.Pool, fake *openaitest.Server, wantAtLeast int) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT name, openai_project_id FROM companies`)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for rows.Next() {
		var name string
		var pid *string
		if err := rows.Scan(&name, &pid); err != nil {
			t.Fatal(err)
		}
		if pid == nil {
			t.Errorf("company %q has no project", name)
			continue
		}
		byName[name] = *pid
	}
	rows.Close()
	if len(byName) < wantAtLeast {
		t.Errorf("companies = %d, want at least %d (acknowledged signups)", len(byName), wantAtLeast)
	}
	counts := map[string]int{}
	for _, p := range fake.Projects() {
		counts[p.Name]++
		if pid, ok := byName[p.Name]; !ok {
			t.Errorf("OpenAI project %s (%q) belongs to no company", p.ID, p.Name)
		} else if pid != p.ID {
			t.Errorf("company %q linked to %s, but OpenAI's project is %s", p.Name, pid, p.ID)
		}
	}
	for name := range byName {
		if counts[name] != 1 {
			t.Errorf("company %q has %d projects on OpenAI, want 1", name, counts[name])
		}
	}
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestCrash: 200 signups against a slowed OpenAI, SIGKILL midway, restart:
// every company is provisioned exactly once and no acknowledged signup is lost.
func TestCrash(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the binary several times")
	}
	fake := openaitest.New(openaitest.Options{AdminKey: procKey, Latency: 150 * time.Millisecond})
	defer fake.Close()
	dbURL := dbtest.URL(t)
	env := procEnv(dbURL, fake)
	p := start(t, env, "serve")

	const total, workers = 200, 8
	names := make(chan string, total)
	for i := range total {
		names <- fmt.Sprintf("Crash Co %03d", i)
	}
	close(names)

	var (
		mu       sync.Mutex
		ackCount int
		halfway  = make(chan struct{})
		current  = p.url
		acked    sync.WaitGroup
	)
	base := func() string { mu.Lock(); defer mu.Unlock(); return current }
	for range workers {
		acked.Add(1)
		go func() {
			defer acked.Done()
			for name := range names {
				for try := 0; ; try++ {
					c := newSignupClientNoFail(base())
					var ok bool
					var err error
					if c != nil {
						ok, err = c.signup(name)
					}
					// A 422 on a retry means the first try stored it.
					if ok || err != nil && strings.Contains(err.Error(), "status 422") {
						mu.Lock()
						ackCount++
						if ackCount == total/2 {
							close(halfway)
						}
						mu.Unlock()
						break
					}
					if try > 100 {
						t.Errorf("signup %q never acknowledged: %v", name, err)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// Kill mid-way, at a moment when a create has reached OpenAI but its
	// project is not stored yet (on a loaded machine the signups can leave
	// gaps with nothing in flight), then restart.
	<-halfway
	pool := openPool(t, dbURL)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		var stored int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM companies WHERE openai_project_id IS NOT NULL`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if fake.Count(openaitest.EndpointCreate) > stored {
			break
		}
	}
	p.kill()
	restarted := start(t, env, "serve")
	mu.Lock()
	current = restarted.url
	mu.Unlock()
	acked.Wait()
	waitAllProvisioned(t, pool, 90*time.Second)
	checkExactlyOnce(t, pool, fake, total)
	// The kill cut creates in flight: OpenAI made those projects but the
	// process died before storing them; they were found and linked.
	var linked int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM provision_attempts WHERE outcome = 'linked'`).Scan(&linked); err != nil {
		t.Fatal(err)
	}
	if linked == 0 {
		t.Error("no attempt linked a project created before the kill: the crash did not hit a create in flight")
	}
	t.Logf("%d projects created before the kill were linked after the restart", linked)
}

// newSignupClientNoFail is newSignupClient for code running while the
// server may be down: it returns nil instead of failing.
func newSignupClientNoFail(base string) (c *signupClient) {
	defer func() {
		if recover() != nil {
			c = nil
		}
	}()
	jar, _ := cookiejar.New(nil)
	c = &signupClient{base: base, http: &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	resp, err := c.http.Get(base + "/signup")
	if err != nil {
		return nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(body)
	if m == nil {
		return nil
	}
	c.token = string(m[1])
	return c
}

// TestShutdown: SIGTERM while a signup request and provisioning jobs are in
// flight: the request completes, the process exits 0, and after a restart no
// job is lost.
func TestShutdown(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: procKey})
	defer fake.Close()
	dbURL := dbtest.URL(t)
	env := procEnv(dbURL, fake, "OPENAI_SIGNUP_TIMEOUT=300ms")
	p := start(t, env, "serve")
	client := newSignupClient(t, p.url)

	// OpenAI is slower than the signup timeout: the jobs finish the work.
	fake.SetLatency(800 * time.Millisecond)
	for i := range 10 {
		if ok, err := client.signup(fmt.Sprintf("Shutdown Co %d", i)); !ok {
			t.Fatal(err)
		}
	}
	// One more signup is in flight when SIGTERM arrives.
	inflight := make(chan error, 1)
	go func() {
		_, err := client.signup("Shutdown Late Co")
		inflight <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := p.stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, p.logs.String())
	}
	if err := <-inflight; err != nil {
		t.Errorf("in-flight signup during shutdown: %v", err)
	}
	fake.SetLatency(0)
	start(t, env, "serve")
	pool := openPool(t, dbURL)
	waitAllProvisioned(t, pool, 60*time.Second)
	checkExactlyOnce(t, pool, fake, 11)
}

// logTail keeps the last part of a process's log output.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 64<<10 {
		l.buf = l.buf[len(l.buf)-32<<10:]
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

func (l *logTail) Contains(s string) bool { return strings.Contains(l.String(), s) }

// TestReplicas: two servers (one of them web-only, with a separate worker)
// share one database with a backfill running through the same companies:
// 500 companies, each ends with exactly one project.
func TestReplicas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the binary several times")
	}
	// OpenAI is slower than the signup timeout for a share of requests, so
	// jobs, the backfill and the signups' own attempts overlap.
	fake := openaitest.New(openaitest.Options{AdminKey: procKey, Latency: 80 * time.Millisecond})
	defer fake.Close()
	dbURL := dbtest.URL(t)
	env := procEnv(dbURL, fake, "OPENAI_SIGNUP_TIMEOUT=100ms", "BACKFILL_CONCURRENCY=8", "PROVISION_SETTLE_DELAY=500ms")
	pool := openPool(t, dbURL)

	// 250 companies exist from before (no project, no job): only a backfill
	// gives them one.
	const before, signups = 250, 250
	legacy := make([]dbtest.CompanyOpts, before)
	for k := range legacy {
		legacy[k] = dbtest.CompanyOpts{Name: fmt.Sprintf("Legacy Co %04d", k+1), ContactName: "Old Contact", ContactEmail: "old@example.com",
			Description: fmt.Sprintf("Project for Legacy Co %d - Software", k+1), Status: "skipped"}
	}
	dbtest.InsertCompanies(t, pool, legacy)
	a := start(t, env, "serve")
	b := start(t, env, "serve", "--no-worker")
	start(t, env, "worker")

	// The backfill starts while signups pour into both servers.
	backfill := start(t, env, "backfill")
	var wg sync.WaitGroup
	names := make(chan string, signups)
	for i := range signups {
		names <- fmt.Sprintf("Replica Co %04d", i)
	}
	close(names)
	for i := range 8 {
		base := a.url
		if i%2 == 1 {
			base = b.url
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newSignupClientNoFail(base)
			if c == nil {
				t.Error("cannot reach " + base)
				return
			}
			for name := range names {
				if ok, err := c.signup(name); !ok {
					t.Errorf("signup %s: %v", name, err)
				}
			}
		}()
	}
	// A second backfill while the first runs follows the running one.
	second := start(t, env, "backfill")
	wg.Wait()
	for _, p := range []*proc{backfill, second} {
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("backfill exited with %v\n%s", p.err, p.logs.String())
			}
		case <-time.After(120 * time.Second):
			t.Fatal("backfill did not finish")
		}
	}
	waitAllProvisioned(t, pool, 120*time.Second)
	checkExactlyOnce(t, pool, fake, before+signups)
	var runs int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM backfill_runs`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != 1 {
		t.Errorf("backfill runs = %d, want 1 (the second command follows the running one)", runs)
	}
}
