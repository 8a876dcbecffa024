package embeddedpg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// ChildCommand is the hidden subcommand that starts the server in a child
// process: main must pass "<program> internal-pg start" to ChildMain. The
// library runs initdb and pg_ctl as the user of the process calling it,
// and PostgreSQL refuses root, so as root the child runs as the server's
// user and the library runs unchanged in it.
const ChildCommand = "internal-pg"

// childConfig is what the parent tells the child, on its stdin: the
// password stays out of the process list.
type childConfig struct {
	Binaries      string // "" downloads PostgreSQL
	Version       string
	Runtime       string
	Data          string
	Cache         string
	LogDir        string
	Port          uint32
	Password      string
	RepositoryURL string
}

// childResult is the child's answer, on its stdout.
type childResult struct {
	Error string
	// NoBinaries is set when PostgreSQL had to be downloaded and was not.
	NoBinaries bool
}

// startError is a failed start as the child reported it.
type startError struct {
	msg        string
	noBinaries bool
}

func (e *startError) Error() string { return "start the private PostgreSQL: " + e.msg }

// runChild starts the server through the child process. The child inherits
// the start lock (as fd 3), so that the lock stays held until the child is
// done even if this process is killed meanwhile.
func (s *Server) runChild(ctx context.Context, lock *os.File, c childConfig) error {
	in, err := json.Marshal(c)
	if err != nil {
		return err
	}
	// A signal must not cut a first initialisation short: the start runs
	// to its end, and the caller stops the server again.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	exe, err := self()
	if err != nil {
		return err
	}
	cmd := s.as.command(cctx, []string{"HOME=" + s.l.root, "TMPDIR=" + c.LogDir}, exe, ChildCommand, "start")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = []*os.File{lock}
	runErr := cmd.Run()
	var res childResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		if runErr == nil {
			runErr = errors.New("no answer")
		}
		return &startError{msg: fmt.Sprintf("%v: %s", runErr, strings.TrimSpace(stderr.String()))}
	}
	if res.Error != "" {
		return &startError{msg: res.Error, noBinaries: res.NoBinaries}
	}
	return nil
}

// self is this program, for the child to run. On Linux /proc/self/exe
// lets the server's user run it even when it cannot reach the folder the
// binary is in (go run's and go test's private temporary folders).
func self() (string, error) {
	if runtime.GOOS == "linux" {
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

// ChildMain is the child's side (see ChildCommand): it reads its
// configuration from stdin, starts the server with the library and writes
// the result to stdout. The server keeps running after it exits.
func ChildMain(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "start" {
		return fmt.Errorf("%s is used by the program itself, not by hand", ChildCommand)
	}
	// fd 3 is the parent's start lock: held until this process exits, and
	// not handed on to the server, which would hold it forever.
	syscall.CloseOnExec(3)
	var c childConfig
	if err := json.NewDecoder(stdin).Decode(&c); err != nil {
		return fmt.Errorf("%s: read configuration: %w", ChildCommand, err)
	}
	err := startServer(c)
	res := childResult{}
	if err != nil {
		res.Error = err.Error()
		if c.Binaries == "" {
			_, statErr := os.Stat(filepath.Join(c.Runtime, "bin", "pg_ctl"))
			res.NoBinaries = statErr != nil
		}
	}
	if werr := json.NewEncoder(stdout).Encode(res); werr != nil && err == nil {
		err = werr
	}
	return err
}

// startServer initialises the data folder on the first run, starts the
// server on the loopback port and, on the first run, creates Database.
func startServer(c childConfig) error {
	// The library downloads with http.Get, which has no timeout.
	http.DefaultClient.Timeout = 3 * time.Minute
	cfg := embeddedpostgres.DefaultConfig().
		Version(embeddedpostgres.PostgresVersion(c.Version)).
		Port(c.Port).Database(Database).Username(User).Password(c.Password).
		RuntimePath(c.Runtime).DataPath(c.Data).CachePath(c.Cache).
		Locale("C").Encoding("UTF8").
		// TCP on loopback only: a Unix socket path could exceed the
		// 107-byte limit in a deep DATA_DIR, and the default socket
		// folder (/var/run/postgresql) is often not writable.
		StartParameters(map[string]string{"unix_socket_directories": ""}).
		StartTimeout(time.Minute).
		Logger(nil) // the server log stays in its file in LogDir (TMPDIR)
	if c.Binaries != "" {
		cfg = cfg.BinariesPath(c.Binaries)
	}
	if c.RepositoryURL != "" {
		cfg = cfg.BinaryRepositoryURL(c.RepositoryURL)
	}
	return embeddedpostgres.NewDatabase(cfg).Start()
}
