package embeddedpg

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/proctest"
)

// TestMain lets the test binary play the child process: Start runs this
// program again with ChildCommand, as the real binary's main does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ChildCommand {
		if err := ChildMain(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dataDir is a fresh DATA_DIR. As root the server runs as another user,
// who must be able to pass through the folders above it; t.TempDir makes
// them private to root, where a project folder usually is not.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := ForceStop(context.Background(), dir); err != nil {
			t.Errorf("stop the server left running: %v", err)
		}
	})
	return filepath.Join(dir, "data")
}

func start(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func exec1(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM kept").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// killServer kills the server on dir and its children with SIGKILL, as a
// power cut would, and waits until they are gone.
func killServer(t *testing.T, dir string) {
	t.Helper()
	pids := proctest.Postmasters(t, dir)
	if len(pids) != 1 {
		t.Fatalf("server processes = %v, want one", pids)
	}
	victims := append(pids, proctest.Children(pids[0])...)
	for _, pid := range victims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range victims {
		for processAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestStart: the first start initialises and starts a server (as a user
// other than root), a second user shares it, the last Stop stops it, and
// the next start finds the data.
func TestStart(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	first := start(t, dir)
	if first.Reused() {
		t.Error("first start: Reused() = true, want false")
	}
	if got, want := first.Dir(), filepath.Join(dir, "postgres"); got != want {
		t.Errorf("Dir() = %q, want %q", got, want)
	}
	exec1(t, first.URL(), "CREATE TABLE kept (id int)")
	exec1(t, first.URL(), "INSERT INTO kept VALUES (1)")
	pids := proctest.Postmasters(t, dir)
	if len(pids) != 1 {
		t.Fatalf("server processes on %s = %v, want one", dir, pids)
	}
	if os.Geteuid() == 0 {
		if uid := proctest.UID(t, pids[0]); uid == 0 {
			t.Error("the server runs as root")
		}
	}

	// Another process (here: another Start) shares the running server.
	second := start(t, dir)
	if !second.Reused() {
		t.Error("second start: Reused() = false, want true")
	}
	if got := proctest.Postmasters(t, dir); len(got) != 1 || got[0] != pids[0] {
		t.Errorf("server processes after the second start = %v, want only %d", got, pids[0])
	}
	if err := first.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, second.URL()); n != 1 {
		t.Errorf("after the first user stopped: rows = %d, want 1 (the server must keep running for the second)", n)
	}
	if err := second.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := proctest.Postmasters(t, dir); len(got) != 0 {
		t.Fatalf("server processes after the last Stop = %v, want none", got)
	}

	third := start(t, dir)
	defer third.Stop(context.Background())
	if third.Reused() {
		t.Error("start after a clean stop: Reused() = true, want false")
	}
	if n := count(t, third.URL()); n != 1 {
		t.Errorf("after a restart: rows = %d, want 1", n)
	}
}

// TestStart_Crash: a process that dies without stopping the server leaves
// it running; the next start reuses it rather than starting a second one.
// A stale postmaster.pid without a server does not stop a start.
func TestStart_Crash(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, dir)
	exec1(t, s.URL(), "CREATE TABLE kept (id int)")
	exec1(t, s.URL(), "INSERT INTO kept VALUES (1)")
	before := proctest.Postmasters(t, dir)
	s.users.Close() // what the process's death does to its lock

	again := start(t, dir)
	if !again.Reused() {
		t.Error("start after a crash: Reused() = false, want true")
	}
	if got := proctest.Postmasters(t, dir); len(got) != 1 || got[0] != before[0] {
		t.Errorf("server processes = %v, want only the first, %v", got, before)
	}
	if n := count(t, again.URL()); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
	if err := again.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A crash of the server itself (or of the machine) leaves its
	// postmaster.pid behind, naming a process that no longer exists.
	start(t, dir) // only its server matters: killed below
	killServer(t, dir)
	last := start(t, dir)
	defer last.Stop(context.Background())
	if last.Reused() {
		t.Error("start with a stale postmaster.pid: Reused() = true, want false")
	}
	if n := count(t, last.URL()); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
}

// TestStart_NoPostgres: with nothing installed and no download, the error
// says how to fix it.
func TestStart_NoPostgres(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	_, err := Start(context.Background(), Options{
		DataDir:       dir,
		binDirs:       func(context.Context) []string { return []string{"/nonexistent/pgsql"} },
		repositoryURL: "http://127.0.0.1:1",
	})
	if err == nil {
		t.Fatal("Start succeeded without PostgreSQL")
	}
	for _, want := range []string{"no PostgreSQL was found", "/nonexistent/pgsql", "127.0.0.1:1", "Install PostgreSQL", "set DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("error spans several lines, want one: %q", err)
	}
}

// TestStart_KeepsForeignData: the library wipes a data folder it cannot
// use; Start refuses instead, and touches nothing.
func TestStart_KeepsForeignData(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"NotPostgres", map[string]string{"notes.txt": "mine"}, "no PostgreSQL data folder"},
		{"OtherVersion", map[string]string{"PG_VERSION": "13\n", "base": "x"}, "PostgreSQL 13"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := dataDir(t)
			data := filepath.Join(dir, "postgres", "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "postgres", "password"), []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Start(context.Background(), Options{
				DataDir: dir, repositoryURL: "http://127.0.0.1:1",
				binDirs: func(ctx context.Context) []string { return candidates(ctx) },
			})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error = %v, want one saying %q", err, tt.wantErr)
			}
			for name, content := range tt.files {
				b, err := os.ReadFile(filepath.Join(data, name))
				if err != nil || !bytes.Equal(b, []byte(content)) {
					t.Errorf("%s changed: %q, %v", name, b, err)
				}
			}
		})
	}
}

// TestStart_Unreachable: as root, a DATA_DIR the server's user cannot
// reach stops start-up with a message naming the folder.
func TestStart_Unreachable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	private := filepath.Dir(t.TempDir()) // 0700, root's
	_, err := Start(context.Background(), Options{DataDir: filepath.Join(t.TempDir(), "data")})
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+private) {
		t.Fatalf("Start error = %v, want one naming %s", err, private)
	}
}
