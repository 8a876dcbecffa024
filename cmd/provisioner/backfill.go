package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/provisioner/provisioner/internal/provision"
)

// runBackfill handles "provisioner backfill [--dry-run]". The run is the
// same durable run the dashboard starts: this command starts it (or follows
// the one running), works it in a River client of its own, since it may be
// the only process, and draws its progress until it ends. Interrupted, it
// leaves the run to be resumed by any worker.
func runBackfill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "show how many companies have no project, and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backfill: unexpected argument %q", fs.Arg(0))
	}
	a, err := setup(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()

	if *dryRun {
		dry, err := a.backfill.DryRun(ctx)
		if err != nil {
			return err
		}
		printDryRun(stdout, dry)
		return nil
	}
	run, running, err := a.backfill.Start(ctx, cliActor, provision.StartOptions{})
	switch {
	case errors.Is(err, provision.ErrNothingToBackfill):
		fmt.Fprintln(stdout, "Every company has a project: there is nothing to backfill.")
		return nil
	case err != nil:
		return fmt.Errorf("backfill: %w", err)
	case running:
		fmt.Fprintf(stdout, "A backfill is already running (run %d, started by %s); following it.\n", run.ID, run.StartedBy)
	default:
		fmt.Fprintf(stdout, "Started backfill run %d for %d companies (concurrency %d).\n", run.ID, run.Total, run.Concurrency)
	}

	opts := a.riverOpts
	opts.Work, opts.Backfill.Only = true, true
	rc, err := provision.NewRiverClient(a.pool, a.prov, opts)
	if err != nil {
		return err
	}
	// The client outlives ctx: on a signal it is stopped below, which hands
	// the run back to River for the next worker.
	if err := rc.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rc.StopAndCancel(sctx); err != nil {
			a.logger.Warn("stop jobs", slog.Any("error", err))
		}
	}()
	return followRun(ctx, a.backfill, run.ID, stdout, isTerminal(stdout))
}

func printDryRun(w io.Writer, dry provision.DryRun) {
	if dry.Count == 0 {
		fmt.Fprintln(w, "Every company has a project: there is nothing to backfill.")
	} else {
		fmt.Fprintf(w, "%d companies have no OpenAI project", dry.Count)
		if len(dry.Names) < dry.Count {
			fmt.Fprint(w, "; the first of them")
		}
		fmt.Fprintln(w, ":")
		for _, name := range dry.Names {
			fmt.Fprintf(w, "  %s\n", name)
		}
		if more := dry.Count - len(dry.Names); more > 0 {
			fmt.Fprintf(w, "  … and %d more\n", more)
		}
	}
	if dry.MatchesError != "" {
		fmt.Fprintf(w, "Existing OpenAI projects could not be listed: %s\n", dry.MatchesError)
	} else if dry.Configured && dry.Count > 0 {
		fmt.Fprintf(w, "%d companies would be linked to a project their own earlier attempt created.\n", dry.AutoLinks)
	}
	if len(dry.PossibleMatches) > 0 {
		fmt.Fprintln(w, "Possible matches, not linked automatically (an admin links them from the dashboard's dry run):")
		for _, m := range dry.PossibleMatches {
			fmt.Fprintf(w, "  %s (company %d) ↔ %s: %s\n", m.CompanyName, m.CompanyID, m.ProjectID, m.Why)
		}
	}
	if !dry.Configured {
		fmt.Fprintln(w, "No OpenAI admin key is configured: set OPENAI_ADMIN_KEY to run the backfill.")
	}
}

// followRun draws the run's progress once a second (redrawing one line on
// a terminal) until it ends. Returns an error if the run failed or ctx ends.
func followRun(ctx context.Context, bf *provision.Backfiller, id int64, w io.Writer, tty bool) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		run, err := bf.Get(ctx, id)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", progressLine(run))
			} else {
				fmt.Fprintln(w, progressLine(run))
			}
			if !run.Running() {
				if tty {
					fmt.Fprintln(w)
				}
				return runOutcome(w, run)
			}
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return fmt.Errorf("interrupted: backfill run %d goes on when a worker runs (provisioner serve or worker), "+
				"or run provisioner backfill again to resume and follow it", id)
		case <-tick.C:
		}
	}
}

// progressBarWidth is the number of cells in the progress bar.
const progressBarWidth = 30

// progressLine is "[#####-----] 1234/2000 done, 5 failed, 91.2/s, ETA 8s".
func progressLine(r provision.Run) string {
	filled := r.Percent() * progressBarWidth / 100
	var b strings.Builder
	b.WriteString("[" + strings.Repeat("#", filled) + strings.Repeat("-", progressBarWidth-filled) + "] ")
	fmt.Fprintf(&b, "%d/%d done, %d failed, %.1f/s", r.Done, r.Total, r.Failed, r.Rate)
	if r.Running() {
		if r.ETA > 0 {
			fmt.Fprintf(&b, ", ETA %s", shortDuration(r.ETA))
		} else {
			b.WriteString(", ETA …")
		}
	}
	return b.String()
}

// shortDuration rounds d up to whole seconds: "8s", "3m20s".
func shortDuration(d time.Duration) string {
	return (time.Duration(math.Ceil(d.Seconds())) * time.Second).String()
}

// maxFailuresPrinted bounds the failures listed at the end of a run.
const maxFailuresPrinted = 20

// runOutcome prints the summary of an ended run; a run that did not finish
// is an error.
func runOutcome(w io.Writer, r provision.Run) error {
	fmt.Fprintf(w, "Backfill run %d %s: %d created, %d linked existing, %d failed, %d skipped.\n",
		r.ID, r.Status, r.Created, r.Linked, r.Failed, r.Skipped)
	for i, f := range r.Failures {
		if i == maxFailuresPrinted {
			fmt.Fprintf(w, "  … and %d more (see /admin/backfill/%d)\n", r.Failed-i, r.ID)
			break
		}
		fmt.Fprintf(w, "  failed: %s (company %d): %s\n", f.CompanyName, f.CompanyID, f.Error)
	}
	if r.Status != provision.RunFinished {
		return fmt.Errorf("backfill run %d %s: %s", r.ID, r.Status, r.LastError)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
