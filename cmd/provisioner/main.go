// Command provisioner serves Provisioner: the public signup, the staff
// dashboard and the background jobs that create OpenAI projects.
//
//	provisioner serve [--no-worker] [--openai-sandbox]
//	                                  web server (and job worker)
//	provisioner demo                  demo database, staff accounts and sandbox OpenAI
//	provisioner worker                job worker only
//	provisioner migrate               create the database if missing, apply migrations
//	provisioner backfill [--dry-run]  give every company without a project its project
//	provisioner user add|list|disable staff accounts
//	provisioner policy show|set FILE  guard-rail policy template
//	provisioner reconcile             drift check of every linked project
//	provisioner keys …                per-company OpenAI keys: keyset, reencrypt, backfill
//	provisioner sync usage [--since D] sync OpenAI costs and usage now
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/provisioner/provisioner/internal/embeddedpg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "provisioner:", err)
		os.Exit(1)
	}
}

const usage = `usage: provisioner <command> [flags]

commands:
  serve [--no-worker] [--openai-sandbox]
                        serve the web app (and run background jobs unless --no-worker;
                        --openai-sandbox: simulate OpenAI in-process, for demos)
  demo [--database N]   serve a demo with sandbox OpenAI on its own seeded database
                        (provisioner_demo on DATABASE_URL's server, or a private one in
                        DATA_DIR/demo) and demo staff accounts, printing new passwords
  worker                run background jobs without the web server
  migrate               create the database if missing and apply migrations
  backfill [--dry-run]  create projects for every company without one, with a progress bar
                        (--dry-run: only count them and show the first names)
  user add|list|disable manage staff accounts (provisioner user help)
  policy show|set FILE  print the guard-rail policy template as JSON, or replace it
                        from FILE (- for standard input), validated and audited
  reconcile             check every linked project against its policy now, and
                        list orphan projects
  keys keyset create|rotate, keys reencrypt, keys backfill [--dry-run]
                        per-company OpenAI keys (provisioner keys help)
  token create|list|revoke
                        host-app API tokens (provisioner token help)
  sync usage [--since YYYY-MM-DD]
                        sync OpenAI costs and usage now, with a progress bar

Configuration comes from the environment; see README.md. Without DATABASE_URL,
the commands use a private PostgreSQL kept in DATA_DIR (default ./.data).`

// run is main without the process: tests call it with their own args,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return runWorker(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "backfill":
		return runBackfill(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "policy":
		return runPolicy(ctx, rest, getenv, stdin, stdout, stderr)
	case "reconcile":
		return runReconcile(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "sync":
		return runSync(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case embeddedpg.ChildCommand: // hidden: starts the private PostgreSQL
		return embeddedpg.ChildMain(rest, stdin, stdout)
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
