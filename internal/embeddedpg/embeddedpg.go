// Package embeddedpg runs a private PostgreSQL server for the app when no
// DATABASE_URL is configured, so that a newcomer needs no database set up.
//
// The server's files live in DATA_DIR/postgres. Starting and stopping are
// done by github.com/fergusstrange/embedded-postgres, run by this program
// in a child process (the hidden subcommand ChildCommand): as root that
// child runs as an unprivileged user, because PostgreSQL refuses to run as
// root. A server that an earlier, crashed run left behind is reused, and
// several processes on one DATA_DIR (serve, then `provisioner user add`)
// share one server, which the last of them stops.
package embeddedpg

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database and User are the database the app uses on the private server and
// the superuser it connects as.
const (
	Database = "provisioner"
	User     = "postgres"
)

// Timeouts of the steps; a first start may download PostgreSQL.
const (
	lockWait     = 5 * time.Minute
	startTimeout = 5 * time.Minute
	stopTimeout  = time.Minute
	readyTimeout = 30 * time.Second
)

// Options configure Start.
type Options struct {
	// DataDir is DATA_DIR; the server's files go in DataDir/postgres.
	DataDir string

	// binDirs lists the folders that may hold bin/pg_ctl, in order of
	// preference; nil means the usual places (see candidates). Tests
	// replace it, as they replace repositoryURL, the download host.
	binDirs       func(ctx context.Context) []string
	repositoryURL string
}

// Server is a private PostgreSQL server this process uses.
type Server struct {
	l       layout
	as      *account // nil: the server runs as this process's user
	bin     binaries
	port    int
	url     string
	reused  bool
	users   *os.File // holds a shared lock while this process uses the server
	stopped sync.Once
	stopErr error
}

// URL is the connection URL of the app's database. It holds a password:
// never log it.
func (s *Server) URL() string { return s.url }

// Dir is the folder the server's files live in (DATA_DIR/postgres).
func (s *Server) Dir() string { return s.l.root }

// Addr is the loopback address the server listens on.
func (s *Server) Addr() string { return net.JoinHostPort("localhost", strconv.Itoa(s.port)) }

// Version is the major version of PostgreSQL, such as "15".
func (s *Server) Version() string { return s.bin.major }

// Reused reports whether the server was already running (left behind by an
// earlier run that crashed, or started by another process on DATA_DIR).
func (s *Server) Reused() bool { return s.reused }

// layout names the files of a private server.
type layout struct {
	root     string // DATA_DIR/postgres: owned by the server's user
	data     string // PGDATA
	run      string // the library's RuntimePath, emptied on every start
	log      string // server log files
	cache    string // downloaded PostgreSQL archives
	lock     string // held exclusively while starting or stopping
	users    string // held shared by every process using the server
	password string // the superuser's password (0600)
	portFile string // the last port, reused while it is free
}

func newLayout(dataDir string) layout {
	root := filepath.Join(dataDir, "postgres")
	return layout{
		root:     root,
		data:     filepath.Join(root, "data"),
		run:      filepath.Join(root, "run"),
		log:      filepath.Join(root, "log"),
		cache:    filepath.Join(root, "cache"),
		lock:     filepath.Join(root, "start.lock"),
		users:    filepath.Join(root, "users.lock"),
		password: filepath.Join(root, "password"),
		portFile: filepath.Join(root, "port"),
	}
}

// Start makes sure the private server on o.DataDir runs and returns it: it
// reuses a running one, or initialises (first run) and starts one. Call
// Stop when done. It returns one error saying what to do when there is no
// PostgreSQL to run (install one, or set DATABASE_URL).
func Start(ctx context.Context, o Options) (*Server, error) {
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("DATA_DIR %s: %w", o.DataDir, err)
	}
	l := newLayout(dir)
	as, err := serverAccount(l.root)
	if err != nil {
		return nil, err
	}
	if err := prepareRoot(l, as); err != nil {
		return nil, err
	}

	// Starting is exclusive: never two servers on one folder.
	lock, err := lockFile(ctx, l.lock, syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lock.Close() // releases the lock
	users, err := lockFile(ctx, l.users, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	s := &Server{l: l, as: as, users: users}
	if err := s.start(ctx, o, lock); err != nil {
		if s.url != "" && !s.reused { // started, then failed: leave nothing behind
			_ = s.pgStop(ctx)
		}
		users.Close()
		return nil, err
	}
	return s, nil
}

// start runs while holding the start lock.
func (s *Server) start(ctx context.Context, o Options, lock *os.File) error {
	want, err := dataVersion(s.l.data)
	if err != nil {
		return err
	}
	dirs := o.binDirs
	if dirs == nil {
		dirs = candidates
	}
	looked := dirs(ctx)
	s.bin, err = findBinaries(ctx, looked, want, s.l.run)
	if err != nil {
		return err
	}

	if want != "" {
		ok, err := s.reuse(ctx)
		if ok || err != nil {
			return err
		}
	}

	password, err := s.password(want != "")
	if err != nil {
		return err
	}
	if err := removeStalePIDFile(s.l.data); err != nil {
		return err
	}
	clearOldLogs(s.l.log)
	for try := 0; ; try++ {
		s.port, err = pickPort(s.l.portFile)
		if err != nil {
			return err
		}
		err = s.runChild(ctx, lock, childConfig{
			Binaries: s.bin.dir, Version: string(libraryVersion(s.bin.major)),
			Runtime: s.l.run, Data: s.l.data, Cache: s.l.cache, LogDir: s.l.log,
			Port: uint32(s.port), Password: password, RepositoryURL: o.repositoryURL,
		})
		// Another program may take the free port between our check and
		// the server's start; a new port then does.
		var se *startError
		if err == nil || try > 0 || !errors.As(err, &se) || !strings.Contains(se.msg, "already") {
			break
		}
	}
	if err != nil {
		var se *startError
		if errors.As(err, &se) && se.noBinaries {
			return noPostgres(looked, want, se.msg)
		}
		return err
	}
	s.url = connURL(password, s.port)
	if err := os.WriteFile(s.l.portFile, []byte(strconv.Itoa(s.port)+"\n"), 0o600); err != nil {
		return fmt.Errorf("remember the private PostgreSQL's port: %w", err)
	}
	return waitReady(ctx, s.url)
}

// reuse adopts a server that is already running on the data folder: one an
// earlier run left behind when it was killed, or one another process
// started. It reports false when none runs.
func (s *Server) reuse(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		if !s.running(ctx) {
			return false, nil
		}
		port, err := pidFilePort(s.l.data)
		if err == nil {
			password, perr := s.password(true)
			if perr != nil {
				return false, perr
			}
			url := connURL(password, port)
			if err = ping(ctx, url); err == nil {
				s.port, s.url, s.reused = port, url, true
				return true, nil
			}
		}
		// Still starting (crash recovery) or just stopping: look again.
		if time.Now().After(deadline) {
			return false, fmt.Errorf("a PostgreSQL server runs on %s but does not answer: %w", s.l.data, err)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// running reports whether a server runs on the data folder. On Linux it
// looks at the process postmaster.pid names, where pg_ctl status (kill -0)
// would take a zombie for a live server: a killed server that nobody
// reaps, as under a container init that reaps nothing, looks alive to it
// forever, and PostgreSQL then refuses to start.
func (s *Server) running(ctx context.Context) bool {
	if runtime.GOOS == "linux" {
		return postmasterAlive(s.l.data)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.as.command(cctx, nil, s.bin.pgCtl(), "status", "-D", s.l.data).Run() == nil
}

// postmasterAlive reports whether postmaster.pid names a live PostgreSQL
// server process.
func postmasterAlive(data string) bool {
	pid := postmasterPID(data)
	if pid <= 0 || !processAlive(pid) {
		return false
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	name := filepath.Base(argv0)
	return name == "postgres" || name == "postmaster"
}

// postmasterPID returns the PID on postmaster.pid's first line, or 0.
func postmasterPID(data string) int {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// processAlive reports whether process pid exists and is not a zombie
// (Linux only).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// "pid (comm) state …"; comm may hold spaces.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// waitExit waits until process pid has exited (Linux only). pg_ctl stop
// returns once the server has removed postmaster.pid, a moment before its
// process exits and lets go of its shared memory; a new server started
// right then would find that memory still in use.
func waitExit(ctx context.Context, pid int) error {
	if runtime.GOOS != "linux" || pid <= 0 {
		return nil
	}
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the private PostgreSQL (PID %d) to exit: %w", pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// removeStalePIDFile removes a postmaster.pid that names no live server,
// which PostgreSQL would otherwise refuse to start over when its PID now
// belongs to a zombie or another process. Its shared memory check still
// guards against leftover server processes.
func removeStalePIDFile(data string) error {
	err := os.Remove(filepath.Join(data, "postmaster.pid"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the stale postmaster.pid: %w", err)
	}
	return nil
}

// password returns the superuser's password, made up on the first run.
func (s *Server) password(exists bool) (string, error) {
	b, err := os.ReadFile(s.l.password)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if exists {
		return "", fmt.Errorf("the private PostgreSQL in %s has lost its password file %s: move %s away to start afresh, or set DATABASE_URL", s.l.root, s.l.password, s.l.data)
	}
	p := rand.Text()
	if err := os.WriteFile(s.l.password, []byte(p+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store the private PostgreSQL's password: %w", err)
	}
	return p, nil
}

// Stop stops the server with a fast shutdown, unless another process
// still uses it: the last one stops it. Close every connection first. It
// is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopped.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	defer s.users.Close()
	lock, err := lockFile(ctx, s.l.lock, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	// Turning our shared lock into an exclusive one works only when no
	// other process holds one; a process that died holds none.
	if err := syscall.Flock(int(s.users.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil
		}
		return fmt.Errorf("stop the private PostgreSQL: %w", err)
	}
	return s.pgStop(ctx)
}

// pgStop runs pg_ctl stop -m fast: sessions end, the server shuts down
// cleanly (a checkpoint), and the next start needs no recovery.
func (s *Server) pgStop(ctx context.Context) error {
	if !s.running(ctx) {
		return nil
	}
	pid := postmasterPID(s.l.data)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	out, err := s.as.command(cctx, nil, s.bin.pgCtl(), "stop", "-m", "fast", "-w", "-D", s.l.data).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop the private PostgreSQL in %s: %w: %s", s.l.data, err, strings.TrimSpace(string(out)))
	}
	return waitExit(cctx, pid)
}

// ForceStop stops whatever private server runs on dataDir, whichever
// process uses it. It is for clearing up after crashed processes (and
// tests); nothing is stopped when none runs.
func ForceStop(ctx context.Context, dataDir string) error {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	l := newLayout(dir)
	want, err := dataVersion(l.data)
	if err != nil || want == "" {
		return err
	}
	as, err := serverAccount(l.root)
	if err != nil {
		return err
	}
	bin, err := findBinaries(ctx, candidates(ctx), want, l.run)
	if err != nil {
		return err
	}
	s := &Server{l: l, as: as, bin: bin}
	return s.pgStop(ctx)
}

// dataVersion returns the major version in PGDATA/PG_VERSION, or "" when
// there is no data yet. A folder with files but no PG_VERSION is refused:
// the library would delete it to start afresh.
func dataVersion(data string) (string, error) {
	b, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the private PostgreSQL's version: %w", err)
	}
	entries, err := os.ReadDir(data)
	if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
		return "", nil
	}
	return "", fmt.Errorf("%s holds files but is no PostgreSQL data folder (no PG_VERSION): move it away or set DATA_DIR elsewhere", data)
}

// pidFilePort reads the port from postmaster.pid (its fourth line).
func pidFilePort(data string) (int, error) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, errors.New("postmaster.pid has no port yet")
	}
	return strconv.Atoi(strings.TrimSpace(lines[3]))
}

// pickPort returns the port used last time while it is free, so that a
// psql session or a saved connection keeps working, else a free one.
func pickPort(file string) (int, error) {
	if b, err := os.ReadFile(file); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && portFree(p) {
			return p, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for the private PostgreSQL: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func connURL(password string, port int) string {
	u := url.URL{
		Scheme: "postgres", User: url.UserPassword(User, password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/" + Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// waitReady waits until the app's database answers.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ping(ctx, url)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the private PostgreSQL started but does not answer: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, url string) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(cctx)
}

// clearOldLogs removes the log files of earlier runs; each start writes a
// new one.
func clearOldLogs(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, "embedded_postgres_log*"))
	for _, f := range old {
		os.Remove(f)
	}
}

// lockFile opens path and takes a flock on it, waiting until ctx ends or
// lockWait passes. Closing the file releases the lock; so does the
// process's death, which is what makes a crashed run harmless.
func lockFile(ctx context.Context, path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("private PostgreSQL lock: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("private PostgreSQL lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
