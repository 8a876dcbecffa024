package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/embeddedpg"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/proctest"
)

// These tests run the real binary without DATABASE_URL, so that it runs
// its private PostgreSQL in DATA_DIR. As root (as in CI) that server runs
// as the postgres user.

// TestMain lets this package's test binary play the private PostgreSQL's
// child process, as main does, should a test run the app in-process
// without DATABASE_URL.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == embeddedpg.ChildCommand {
		if err := embeddedpg.ChildMain(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// privateDataDir returns a fresh DATA_DIR and stops any server left on it
// when the test ends (after the processes of start, whose cleanups run
// first). t.TempDir's folders are root's alone; the server's user must
// pass through them, as it can through a project folder.
func privateDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	t.Cleanup(func() {
		if err := embeddedpg.ForceStop(context.Background(), data); err != nil {
			t.Errorf("stop the private PostgreSQL left running: %v", err)
		}
	})
	return data
}

// embeddedEnv is procEnv without DATABASE_URL, with DATA_DIR set.
func embeddedEnv(fake *openaitest.Server, dataDir string) []string {
	var env []string
	for _, kv := range procEnv("", fake, "DATA_DIR="+dataDir) {
		if !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return env
}

var setupLine = regexp.MustCompile(`create the first admin at (http://\S+/setup\?token=\S+)`)

// startServe is start for "serve" that also keeps what the process prints
// on stdout (complete once it has exited).
func startServe(t *testing.T, env []string) (p *proc, stdout *logTail) {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = env
	stdout = &logTail{}
	p = &proc{t: t, cmd: cmd, done: make(chan struct{}), logs: &logTail{}}
	cmd.Stdout, cmd.Stderr = stdout, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("logs of serve (last lines):\n%s", p.logs.String())
		}
	})
	m := waitPrinted(t, p, stdout, listenLine, 60*time.Second)
	p.url = strings.Replace(m, "localhost", "127.0.0.1", 1)
	return p, stdout
}

// waitPrinted waits until out holds a match of re and returns its first
// group.
func waitPrinted(t *testing.T, p *proc, out *logTail, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(out.String()); m != nil {
				return m[1]
			}
			t.Fatalf("serve exited before printing %q: %v\nstdout:\n%s\nlogs:\n%s", re, p.err, out.String(), p.logs.String())
		case <-deadline:
			t.Fatalf("serve did not print %q within %v\nstdout:\n%s", re, within, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// childCommands returns the command lines of the children of process pid.
func childCommands(t *testing.T, pid int) []string {
	t.Helper()
	var out []string
	for _, child := range proctest.Children(pid) {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(child), "cmdline"))
		out = append(out, strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signupStored reports whether a company named name is stored: signing it
// up again is refused (422) because the name is taken.
func signupStored(t *testing.T, base, name string) bool {
	t.Helper()
	ok, err := newSignupClient(t, base).signup(name)
	if ok {
		t.Errorf("signup %q was accepted twice", name)
		return false
	}
	return err != nil && strings.Contains(err.Error(), "status 422")
}

// TestEmbedded_FirstRun: without DATABASE_URL, serve starts a private
// PostgreSQL (not as root), prints the setup link, stores a signup; a CLI
// command shares the server; SIGTERM stops both processes; the next start
// finds the company.
func TestEmbedded_FirstRun(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: procKey})
	defer fake.Close()
	dataDir := privateDataDir(t)
	env := embeddedEnv(fake, dataDir)

	p, out := startServe(t, env)
	if !p.logs.Contains("using a private PostgreSQL") || !p.logs.Contains(filepath.Join(dataDir, "postgres")) {
		t.Errorf("no start-up line naming the private PostgreSQL and %s:\n%s", dataDir, p.logs.String())
	}
	if got := getStatus(t, p.url+"/readyz"); got != http.StatusOK {
		t.Fatalf("GET /readyz = %d, want 200", got)
	}
	if ok, err := newSignupClient(t, p.url).signup("Embedded Co"); !ok {
		t.Fatalf("signup: %v", err)
	}
	servers := proctest.Postmasters(t, dataDir)
	if len(servers) != 1 {
		t.Fatalf("PostgreSQL servers on %s = %v, want one", dataDir, servers)
	}
	if os.Geteuid() == 0 {
		if uid := proctest.UID(t, servers[0]); uid == 0 {
			t.Error("the private PostgreSQL runs as root")
		}
	}

	// First run: the printed link opens the setup page.
	setup := strings.Replace(waitPrinted(t, p, out, setupLine, 10*time.Second), "localhost", "127.0.0.1", 1)
	if got := getStatus(t, setup); got != http.StatusOK {
		t.Errorf("GET the setup link = %d, want 200", got)
	}

	// Another command on the same DATA_DIR shares the running server, and
	// leaves it running for serve when it exits.
	add := exec.Command(binary(t), "user", "add", "--email", "ops@example.com", "--role", "admin")
	add.Env = env
	add.Stdin = strings.NewReader("a long enough Passw0rd\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "reused=true") {
		t.Errorf("user add did not reuse the running server:\n%s", out)
	}
	if got := proctest.Postmasters(t, dataDir); len(got) != 1 || got[0] != servers[0] {
		t.Errorf("PostgreSQL servers after user add = %v, want still only %v", got, servers)
	}
	if got := getStatus(t, p.url+"/readyz"); got != http.StatusOK {
		t.Errorf("GET /readyz after user add = %d, want 200", got)
	}
	if got := getStatus(t, setup); got != http.StatusNotFound {
		t.Errorf("GET the setup link once an admin exists = %d, want 404", got)
	}

	if err := p.stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	if got := proctest.Postmasters(t, dataDir); len(got) != 0 {
		t.Fatalf("PostgreSQL servers after SIGTERM = %v, want none", got)
	}

	again, out := startServe(t, env)
	if !signupStored(t, again.url, "Embedded Co") {
		t.Error("after a restart the company is gone")
	}
	if err := again.stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	if setupLine.MatchString(out.String()) {
		t.Errorf("serve printed a setup link although an admin exists:\n%s", out.String())
	}
	if got := proctest.Postmasters(t, dataDir); len(got) != 0 {
		t.Fatalf("PostgreSQL servers after the second SIGTERM = %v, want none", got)
	}
}

// TestEmbedded_KillRecovers: kill -9 of the app leaves its server running;
// the next start reuses that server (no second one) and the row is there.
func TestEmbedded_KillRecovers(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: procKey})
	defer fake.Close()
	dataDir := privateDataDir(t)
	env := embeddedEnv(fake, dataDir)

	p, _ := startServe(t, env)
	if ok, err := newSignupClient(t, p.url).signup("Killed Co"); !ok {
		t.Fatalf("signup: %v", err)
	}
	p.kill()
	left := proctest.Postmasters(t, dataDir)
	if len(left) != 1 {
		t.Fatalf("PostgreSQL servers after kill -9 of the app = %v, want the one it used", left)
	}

	again, _ := startServe(t, env)
	if !again.logs.Contains("reused=true") {
		t.Errorf("the restart did not reuse the running server:\n%s", again.logs.String())
	}
	if got := proctest.Postmasters(t, dataDir); len(got) != 1 || got[0] != left[0] {
		t.Errorf("PostgreSQL servers after the restart = %v, want only %v", got, left)
	}
	if !signupStored(t, again.url, "Killed Co") {
		t.Error("after kill -9 and a restart the company is gone")
	}
	if err := again.stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	if got := proctest.Postmasters(t, dataDir); len(got) != 0 {
		t.Fatalf("PostgreSQL servers after SIGTERM = %v, want none", got)
	}
}

// TestEmbedded_DatabaseURLSet: with DATABASE_URL set nothing private is
// started: no child process, nothing written to DATA_DIR.
func TestEmbedded_DatabaseURLSet(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: procKey})
	defer fake.Close()
	dataDir := t.TempDir()
	p := start(t, procEnv(dbtest.URL(t), fake, "DATA_DIR="+dataDir), "serve")
	if got := getStatus(t, p.url+"/readyz"); got != http.StatusOK {
		t.Fatalf("GET /readyz = %d, want 200", got)
	}
	if children := childCommands(t, p.cmd.Process.Pid); len(children) != 0 {
		t.Errorf("serve with DATABASE_URL runs child processes: %q", children)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("DATA_DIR has %d entries, want none", len(entries))
	}
	if got := proctest.Postmasters(t, dataDir); len(got) != 0 {
		t.Errorf("PostgreSQL servers on DATA_DIR = %v, want none", got)
	}
	if p.logs.Contains("private PostgreSQL") {
		t.Errorf("logs mention a private PostgreSQL:\n%s", p.logs.String())
	}
}
