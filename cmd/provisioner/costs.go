package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/internal/openai"
)

// usageSyncTimeout bounds one sync job: a first sync of 90 days of a
// large organization reads hundreds of pages.
const usageSyncTimeout = time.Hour

func newCostService(cfg config.Config, pool *pgxpool.Pool, usage openai.Usage, logger *slog.Logger) *cost.Service {
	return cost.New(pool, usage, cost.Settings{
		HistoryDays: cfg.CostHistoryDays, ResyncDays: cfg.CostResyncDays, MarkupPercent: cfg.MarkupPercent,
	}, logger)
}

// runSync handles "provisioner sync usage [--since YYYY-MM-DD]": one sync
// now, in this process, drawing its progress. It takes the same lock as
// the periodic job, so it never runs beside another sync.
func runSync(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "usage" {
		fmt.Fprintln(stderr, "usage: provisioner sync usage [--since YYYY-MM-DD]")
		return fmt.Errorf("sync: say what to sync (usage)")
	}
	fs := flag.NewFlagSet("sync usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.String("since", "", "read from this day (YYYY-MM-DD) instead of the last synced day")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sync usage: unexpected argument %q", fs.Arg(0))
	}
	opts := cost.SyncOptions{Trigger: cost.TriggerCLI}
	if *since != "" {
		d, err := time.Parse(time.DateOnly, *since)
		if err != nil {
			return fmt.Errorf("sync usage: --since %q is not a day (YYYY-MM-DD)", *since)
		}
		if d.After(time.Now().UTC()) {
			return fmt.Errorf("sync usage: --since %s is in the future", *since)
		}
		opts.Since = &d
	}
	a, err := setup(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	tty := isTerminal(stdout)
	opts.Progress = func(p cost.Progress) {
		if tty {
			fmt.Fprintf(stdout, "\r\033[K%s", syncProgressLine(p))
		} else {
			fmt.Fprintln(stdout, syncProgressLine(p))
		}
	}
	run, err := a.costs.Sync(ctx, opts)
	if tty {
		fmt.Fprintln(stdout)
	}
	switch {
	case errors.Is(err, cost.ErrSyncRunning):
		return fmt.Errorf("sync usage: another sync is running now (the periodic job or another command); try again when it ends")
	case errors.Is(err, cost.ErrNotConfigured):
		return fmt.Errorf("sync usage: set OPENAI_ADMIN_KEY to sync costs and usage from OpenAI")
	case err != nil:
		return fmt.Errorf("sync usage: %w (the next sync resumes where this one stopped)", err)
	}
	fmt.Fprintf(stdout, "Synced %s to %s: %d pages, %d requests, %d rows written in %s.\n",
		run.From.Format(time.DateOnly), run.To.AddDate(0, 0, -1).Format(time.DateOnly),
		run.Pages, run.Requests, run.RowsWritten, run.Duration().Round(time.Millisecond))
	return nil
}

// syncProgressLine is "[#####-----] costs 12/91 days, 14 pages, 3,120 rows".
func syncProgressLine(p cost.Progress) string {
	filled := 0
	if p.DaysTotal > 0 {
		filled = min(p.DaysDone*progressBarWidth/p.DaysTotal, progressBarWidth)
	}
	if p.Phase == cost.PhaseRollup {
		filled = progressBarWidth
	}
	var b strings.Builder
	b.WriteString("[" + strings.Repeat("#", filled) + strings.Repeat("-", progressBarWidth-filled) + "] ")
	fmt.Fprintf(&b, "%s %d/%d days, %d pages, %d rows", p.Phase, p.DaysDone, p.DaysTotal, p.Pages, p.Rows)
	if p.RateLimits > 0 {
		fmt.Fprintf(&b, ", %d rate limits waited out", p.RateLimits)
	}
	return b.String()
}
