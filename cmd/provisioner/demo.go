package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/demo"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// This file holds demo mode: "provisioner serve --openai-sandbox" (OpenAI
// simulated in-process) and "provisioner demo", which prepares a demo
// database and serves it that way.

// sandboxKey is the admin key the sandbox asks for. It is no secret: it
// opens nothing but the fake running in this process.
const sandboxKey = "sk-admin-sandbox-not-a-real-key"

// Every call to the sandbox takes 300 to 700 ms, as calls to OpenAI do, so
// that the demo shows the waits (signup, backfill progress) people will see.
const (
	sandboxLatency = 300 * time.Millisecond
	sandboxJitter  = 400 * time.Millisecond
)

// sandbox is the simulated OpenAI of a process started with
// --openai-sandbox.
type sandbox struct {
	fake *openaitest.Server
	// getenv is the process environment with OpenAI pointed at the fake.
	getenv func(string) string
}

// startSandbox starts the fake on 127.0.0.1 and returns the environment
// that points the app at it, whatever OpenAI settings the real environment
// holds.
func startSandbox(getenv func(string) string) *sandbox {
	fake := openaitest.New(openaitest.Options{AdminKey: sandboxKey, Latency: sandboxLatency, Jitter: sandboxJitter})
	return &sandbox{fake: fake, getenv: func(name string) string {
		switch name {
		case "OPENAI_ADMIN_KEY":
			return sandboxKey
		case "OPENAI_API_KEY", "OPENAI_ORG_ID":
			return ""
		case "OPENAI_BASE_URL":
			return fake.URL
		}
		return getenv(name)
	}}
}

// load refuses production, then gives the fake the projects the database
// links: it starts empty in every process, and verifying an assigned ID
// would otherwise find nothing.
func (sb *sandbox) load(ctx context.Context, a *app) error {
	if a.cfg.Production() {
		return errors.New("--openai-sandbox simulates OpenAI for demos and does not run with APP_ENV=production")
	}
	n, err := demo.LoadSandbox(ctx, a.pool, sb.fake)
	if err != nil {
		return err
	}
	a.logger.Warn("⚠️ sandbox mode: OpenAI is simulated in this process; no real project is created",
		slog.Int("linked_projects_loaded", n))
	return nil
}

func (sb *sandbox) close() { sb.fake.Close() }

// demoDatabase is the database "provisioner demo" uses unless told otherwise.
const demoDatabase = "provisioner_demo"

// databaseName is what --database accepts: a plain PostgreSQL identifier.
var databaseName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// runDemo handles "provisioner demo": it creates and migrates the demo
// database if missing (see demoEnv), seeds it when it has no companies,
// creates or resets the demo staff accounts, prints their new passwords
// once, and serves with the sandbox OpenAI.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("database", demoDatabase, "the database to use on the server of DATABASE_URL (when set)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !databaseName.MatchString(*name) {
		return fmt.Errorf("--database %q: want lower-case letters, digits and underscores", *name)
	}
	env, where, err := demoEnv(getenv, *name)
	if err != nil {
		return err
	}
	var creds []demo.Credential
	return serve(ctx, env, stdout, stderr, serveOptions{
		work:    true,
		sandbox: true,
		prepare: func(ctx context.Context, a *app) error {
			n, err := demo.Seed(ctx, a.pool, time.Now())
			if err != nil {
				return err
			}
			if n > 0 {
				a.logger.Info("seeded the demo database", slog.Int("companies", n))
			}
			creds, err = demo.ResetStaff(ctx, a.pool, a.auth)
			return err
		},
		ready: func(base string) { printDemo(stdout, base, where, creds) },
	})
}

// demoEnv is the environment of the demo, whose data must stay apart from
// the app's own: with DATABASE_URL set, DATABASE_URL names the database
// name on the same server; without, the private PostgreSQL lives in
// DATA_DIR/demo instead of DATA_DIR. where says which, for people.
func demoEnv(getenv func(string) string, name string) (env func(string) string, where string, err error) {
	var key, value string
	if raw := strings.TrimSpace(getenv("DATABASE_URL")); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// Never echo the value: it may hold a password.
			return nil, "", errors.New("DATABASE_URL is not a postgres:// URL")
		}
		u.Path, u.RawPath = "/"+name, ""
		key, value = "DATABASE_URL", u.String()
		where = fmt.Sprintf("database %s on the server of DATABASE_URL", name)
	} else {
		dir := strings.TrimSpace(getenv("DATA_DIR"))
		if dir == "" {
			dir = config.DefaultDataDir
		}
		key, value = "DATA_DIR", filepath.Join(dir, "demo")
		where = fmt.Sprintf("a private PostgreSQL in %s (DATABASE_URL is not set)", value)
	}
	return func(k string) string {
		if k == key {
			return value
		}
		return getenv(k)
	}, where, nil
}

// printDemo shows where to go and how to sign in. The passwords are written
// to the terminal only, never to the log.
func printDemo(w io.Writer, base, where string, creds []demo.Credential) {
	fmt.Fprintf(w, "\nDemo mode: OpenAI is simulated in this process (no real project is created).\n")
	fmt.Fprintf(w, "Data: %s\n\n", where)
	fmt.Fprintf(w, "  Public signup:  %s/signup\n", base)
	fmt.Fprintf(w, "  Staff sign-in:  %s/admin/login\n\n", base)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROLE\tEMAIL\tPASSWORD")
	for _, c := range creds {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Role, c.Email, c.Password)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nThese passwords are shown only now; every start of the demo sets new ones.\nPress Ctrl+C to stop.\n\n")
}
