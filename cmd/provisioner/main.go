// Command provisioner serves Provisioner: the public signup, the staff
// dashboard and the background jobs that create OpenAI projects.
//
//	provisioner serve [--no-worker]   web server (and job worker)
//	provisioner worker                job worker only
//	provisioner migrate               create the database if missing, apply migrations
//	provisioner backfill [--dry-run]  give every company without a project its project
//	provisioner user add|list|disable staff accounts
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
  serve [--no-worker]   serve the web app (and run background jobs unless --no-worker)
  worker                run background jobs without the web server
  migrate               create the database if missing and apply migrations
  backfill [--dry-run]  create projects for every company without one, with a progress bar
                        (--dry-run: only count them and show the first names)
  user add|list|disable manage staff accounts (provisioner user help)

Configuration comes from the environment; see README.md.`

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
	case "worker":
		return runWorker(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "backfill":
		return runBackfill(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
