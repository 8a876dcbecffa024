package cost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// syncLock is the advisory lock key of the usage sync ("cost" in ASCII).
const syncLock int64 = 0x636f7374

// Sync triggers.
const (
	TriggerPeriodic  = "periodic"
	TriggerCLI       = "cli"
	TriggerDashboard = "dashboard"
)

// Phases of a run, in order.
const (
	PhaseCosts  = "costs"
	PhaseUsage  = "usage"
	PhaseRollup = "rollup"
	PhaseDone   = "done"
)

// SyncOptions shape one sync.
type SyncOptions struct {
	Trigger string
	// Since, if set, starts the run at that day instead of the incremental
	// start (provisioner sync usage --since). An unfinished run is then
	// abandoned rather than resumed.
	Since *time.Time
	// Progress, if set, is told after every page.
	Progress func(Progress)
}

// Progress is where a running sync stands.
type Progress struct {
	RunID      int64
	Phase      string
	From, To   time.Time
	DaysDone   int // days of the phase read so far
	DaysTotal  int
	Pages      int
	Requests   int
	Rows       int64
	RateLimits int // 429s waited out
}

// Run is one sync run as stored.
type Run struct {
	ID          int64
	Trigger     string
	Status      string // running, finished, failed
	From, To    time.Time
	Phase       string
	Pages       int
	Requests    int
	RowsWritten int64
	Resumed     int
	Error       string
	StartedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  *time.Time
}

// Duration is how long the run took (so far).
func (r Run) Duration() time.Duration {
	if r.FinishedAt != nil {
		return r.FinishedAt.Sub(r.StartedAt)
	}
	return r.UpdatedAt.Sub(r.StartedAt)
}

func runFromRow(r dbgen.UsageSyncRun) Run {
	return Run{
		ID: r.ID, Trigger: r.Trigger, Status: r.Status, From: r.FromDay, To: r.ToDay, Phase: r.Phase,
		Pages: int(r.Pages), Requests: int(r.Requests), RowsWritten: r.RowsWritten, Resumed: int(r.Resumed),
		Error: r.Error, StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt,
	}
}

// Sync runs one sync now, in this goroutine. Returns ErrSyncRunning if
// another sync holds the lock, ErrNotConfigured without an admin key, or
// the error that stopped the run (its progress is kept for the next run).
func (s *Service) Sync(ctx context.Context, opts SyncOptions) (Run, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerUsage, governor.Background)
	if s.usage == nil {
		return Run{}, ErrNotConfigured
	}
	if opts.Trigger == "" {
		opts.Trigger = TriggerCLI
	}
	// A session lock on a connection of its own: it is released when the
	// run ends or, if the process dies, when PostgreSQL drops the session.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Run{}, fmt.Errorf("usage sync: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", syncLock).Scan(&locked); err != nil {
		return Run{}, fmt.Errorf("usage sync: lock: %w", err)
	}
	if !locked {
		return Run{}, ErrSyncRunning
	}
	defer func() {
		// Unlock even if ctx ended; a broken connection unlocks by itself.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", syncLock); err != nil {
			conn.Conn().Close(uctx) // drop the session, and the lock with it
		}
	}()

	run, err := s.startRun(ctx, opts)
	if err != nil {
		return Run{}, err
	}
	r := &runner{s: s, run: run, opts: opts}
	if err := r.work(ctx); err != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if ferr := s.q.FailSyncRun(fctx, dbgen.FailSyncRunParams{ID: run.ID, Error: errorText(err), Requests: int32(r.pendingRequests)}); ferr != nil {
			s.logger.Error("usage sync: record failure", "error", ferr)
		}
		out, _ := s.q.GetSyncRun(fctx, run.ID)
		return runFromRow(out), fmt.Errorf("usage sync run %d: %w", run.ID, err)
	}
	out, err := s.q.GetSyncRun(ctx, run.ID)
	if err != nil {
		return Run{}, err
	}
	return runFromRow(out), nil
}

// errorText is what the dashboard shows of a failed run.
func errorText(err error) string {
	if e, ok := openai.AsError(err); ok {
		return e.Reason()
	}
	return err.Error()
}

// startRun takes over the newest unfinished run, or creates a new one for
// the incremental range.
func (s *Service) startRun(ctx context.Context, opts SyncOptions) (dbgen.UsageSyncRun, error) {
	if opts.Since == nil {
		unfinished, err := s.q.GetUnfinishedSyncRun(ctx)
		switch {
		case err == nil:
			if err := s.q.TakeOverSyncRun(ctx, dbgen.TakeOverSyncRunParams{ID: unfinished.ID, Trigger: opts.Trigger}); err != nil {
				return dbgen.UsageSyncRun{}, err
			}
			s.logger.Info("usage sync: resuming an unfinished run", "run_id", unfinished.ID, "phase", unfinished.Phase)
			return s.q.GetSyncRun(ctx, unfinished.ID)
		case !errors.Is(err, pgx.ErrNoRows):
			return dbgen.UsageSyncRun{}, err
		}
	}
	from, to, err := s.nextRange(ctx, opts.Since)
	if err != nil {
		return dbgen.UsageSyncRun{}, err
	}
	return s.q.CreateSyncRun(ctx, dbgen.CreateSyncRunParams{Trigger: opts.Trigger, FromDay: from, ToDay: to})
}

// nextRange is [from, to) of a new run: up to today included, from the day
// after the last synced one minus the trailing ResyncDays, or HistoryDays
// back for the first sync.
func (s *Service) nextRange(ctx context.Context, since *time.Time) (from, to time.Time, err error) {
	today := day(s.settings.Now())
	to = today.AddDate(0, 0, 1)
	if since != nil {
		return day(*since), to, nil
	}
	last, err := s.q.LastFinishedSyncRun(ctx)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return today.AddDate(0, 0, -s.settings.HistoryDays), to, nil
	case err != nil:
		return from, to, err
	}
	next := last.ToDay // the day after the last synced one
	if next.After(today) {
		next = today
	}
	return next.AddDate(0, 0, -s.settings.ResyncDays), to, nil
}

// runner carries one run through its phases.
type runner struct {
	s    *Service
	run  dbgen.UsageSyncRun
	opts SyncOptions

	progress        Progress
	pendingRequests int // requests not yet saved with a page
}

func (r *runner) work(ctx context.Context) error {
	r.progress = Progress{
		RunID: r.run.ID, From: r.run.FromDay, To: r.run.ToDay,
		DaysTotal: int(r.run.ToDay.Sub(r.run.FromDay).Hours() / 24),
	}
	phase, cursor := r.run.Phase, r.run.Cursor
	for phase != PhaseDone {
		var err error
		r.progress.Phase, r.progress.DaysDone = phase, 0
		switch phase {
		case PhaseCosts:
			err = r.pages(ctx, cursor, r.costPage)
			phase = PhaseUsage
		case PhaseUsage:
			err = r.pages(ctx, cursor, r.usagePage)
			phase = PhaseRollup
		case PhaseRollup:
			err = r.rollup(ctx)
			phase = PhaseDone
		default:
			return fmt.Errorf("unknown phase %q", phase)
		}
		if err != nil {
			return err
		}
		cursor = ""
		if phase == PhaseDone {
			break
		}
		if err := r.s.q.SaveSyncProgress(ctx, dbgen.SaveSyncProgressParams{ID: r.run.ID, Phase: phase}); err != nil {
			return err
		}
	}
	if err := r.s.q.FinishSyncRun(ctx, r.run.ID); err != nil {
		return err
	}
	return r.s.q.AbandonSyncRuns(ctx, r.run.ID)
}

// pageFunc reads the page at cursor and writes it in tx; it returns the
// next cursor ("" after the last page) and the rows written.
type pageFunc func(ctx context.Context, cursor string, days *dayTracker) (next string, write func(tx pgx.Tx) (int64, error), err error)

// pages reads every page of the current phase from cursor, committing each
// page's rows with the next cursor.
func (r *runner) pages(ctx context.Context, cursor string, read pageFunc) error {
	days := &dayTracker{resumed: cursor != ""}
	waits := 0
	for {
		next, write, err := read(ctx, cursor, days)
		r.pendingRequests++
		r.progress.Requests++
		if err != nil {
			e, ok := openai.AsError(err)
			if ok && e.StatusCode == http.StatusTooManyRequests && waits < r.s.settings.MaxRateLimitWaits {
				waits++
				r.progress.RateLimits++
				wait := e.RetryAfter
				if wait <= 0 {
					wait = time.Duration(waits) * time.Second
				}
				r.s.logger.Info("usage sync: rate limited; waiting", "wait", wait)
				if !r.s.sleep(wait, ctx.Done()) {
					return ctx.Err()
				}
				continue
			}
			return err
		}
		var rows int64
		err = pgx.BeginFunc(ctx, r.s.pool, func(tx pgx.Tx) error {
			n, err := write(tx)
			if err != nil {
				return err
			}
			rows = n
			return dbgen.New(tx).SaveSyncProgress(ctx, dbgen.SaveSyncProgressParams{
				ID: r.run.ID, Phase: r.progress.Phase, Cursor: next, Pages: 1,
				Requests: int32(r.pendingRequests), RowsWritten: rows,
			})
		})
		if err != nil {
			return err
		}
		r.pendingRequests = 0
		r.progress.Pages++
		r.progress.Rows += rows
		r.progress.DaysDone = days.done(r.run.FromDay)
		if r.opts.Progress != nil {
			r.opts.Progress(r.progress)
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// dayTracker follows the days of a phase across pages, so that a day read
// whole can drop the rows OpenAI no longer reports.
type dayTracker struct {
	resumed bool      // the phase started from a cursor: its first day may be partial
	current time.Time // the day being read
	partial bool      // current was not read from its start
	keys    []rowKey
	started bool
	last    time.Time
}

type rowKey struct{ a, b, c string }

// see records a page's bucket of day d; it returns the days completed by
// it (read whole, with their keys).
func (t *dayTracker) see(d time.Time) (completed *completedDay) {
	if t.started && d.Equal(t.current) {
		return nil
	}
	if t.started {
		completed = &completedDay{day: t.current, keys: t.keys, partial: t.partial}
	}
	t.partial = !t.started && t.resumed
	t.started, t.current, t.keys, t.last = true, d, nil, d
	return completed
}

func (t *dayTracker) add(k rowKey) { t.keys = append(t.keys, k) }

// finish completes the last day after the last page.
func (t *dayTracker) finish() *completedDay {
	if !t.started {
		return nil
	}
	c := &completedDay{day: t.current, keys: t.keys, partial: t.partial}
	t.started = false
	return c
}

func (t *dayTracker) done(from time.Time) int {
	if t.last.IsZero() {
		return 0
	}
	return int(t.last.Sub(from).Hours()/24) + 1
}

type completedDay struct {
	day     time.Time
	keys    []rowKey
	partial bool
}

// walkPage tells days of each bucket a page covered and hands each line,
// in order, to add, which collects it for writing and returns its key for
// days. dayOf is a line's day. It returns the cursor of the next page ("" on
// the query's last page, which also completes its last day) and the days the
// page completed. Lines outside the page's buckets are an error, named by
// what.
func walkPage[L any](days *dayTracker, pageDays []time.Time, lines []L, dayOf func(L) time.Time, hasMore bool, nextPage, what string, add func(L) rowKey) (string, []*completedDay, error) {
	var completed []*completedDay
	for _, d := range pageDays {
		if c := days.see(d); c != nil {
			completed = append(completed, c)
		}
		for len(lines) > 0 && dayOf(lines[0]).Equal(d) {
			l := lines[0]
			lines = lines[1:]
			days.add(add(l))
		}
	}
	if len(lines) > 0 {
		return "", nil, fmt.Errorf("%s: %d results outside the page's buckets", what, len(lines))
	}
	if hasMore {
		return nextPage, completed, nil
	}
	if c := days.finish(); c != nil {
		completed = append(completed, c)
	}
	return "", completed, nil
}

func (r *runner) costPage(ctx context.Context, cursor string, days *dayTracker) (string, func(pgx.Tx) (int64, error), error) {
	page, err := r.s.usage.Costs(ctx, openai.PageQuery{
		Start: r.run.FromDay, End: r.run.ToDay, Page: cursor, Limit: r.s.settings.CostPageBuckets,
	})
	if err != nil {
		return "", nil, err
	}
	var p dbgen.UpsertCostDailyParams
	next, completed, err := walkPage(days, page.Days, page.Lines, func(l openai.CostLine) time.Time { return l.Day },
		page.HasMore, page.NextPage, "openai costs", func(l openai.CostLine) rowKey {
			p.Days = append(p.Days, l.Day)
			p.ProjectIds = append(p.ProjectIds, l.ProjectID)
			p.LineItems = append(p.LineItems, l.LineItem)
			p.Currencies = append(p.Currencies, l.Currency)
			p.Amounts = append(p.Amounts, l.Amount.String())
			return rowKey{l.ProjectID, l.LineItem, l.Currency}
		})
	if err != nil {
		return "", nil, err
	}
	write := func(tx pgx.Tx) (int64, error) {
		q := dbgen.New(tx)
		n, err := q.UpsertCostDaily(ctx, p)
		if err != nil {
			return 0, fmt.Errorf("write costs: %w", err)
		}
		for _, c := range completed {
			if c.partial {
				continue
			}
			dp := dbgen.DeleteCostDayExceptParams{OnDay: c.day, ProjectIds: []string{}, LineItems: []string{}, Currencies: []string{}}
			for _, k := range c.keys {
				dp.ProjectIds = append(dp.ProjectIds, k.a)
				dp.LineItems = append(dp.LineItems, k.b)
				dp.Currencies = append(dp.Currencies, k.c)
			}
			d, err := q.DeleteCostDayExcept(ctx, dp)
			if err != nil {
				return 0, fmt.Errorf("drop withdrawn costs: %w", err)
			}
			n += d
		}
		return n, nil
	}
	return next, write, nil
}

func (r *runner) usagePage(ctx context.Context, cursor string, days *dayTracker) (string, func(pgx.Tx) (int64, error), error) {
	page, err := r.s.usage.CompletionsUsage(ctx, openai.PageQuery{
		Start: r.run.FromDay, End: r.run.ToDay, Page: cursor, Limit: r.s.settings.UsagePageBuckets,
	})
	if err != nil {
		return "", nil, err
	}
	var p dbgen.UpsertUsageDailyParams
	next, completed, err := walkPage(days, page.Days, page.Lines, func(l openai.UsageLine) time.Time { return l.Day },
		page.HasMore, page.NextPage, "openai usage", func(l openai.UsageLine) rowKey {
			p.Days = append(p.Days, l.Day)
			p.ProjectIds = append(p.ProjectIds, l.ProjectID)
			p.Models = append(p.Models, l.Model)
			p.InputTokens = append(p.InputTokens, l.InputTokens)
			p.OutputTokens = append(p.OutputTokens, l.OutputTokens)
			p.InputCachedTokens = append(p.InputCachedTokens, l.InputCachedTokens)
			p.Requests = append(p.Requests, l.Requests)
			return rowKey{l.ProjectID, l.Model, ""}
		})
	if err != nil {
		return "", nil, err
	}
	write := func(tx pgx.Tx) (int64, error) {
		q := dbgen.New(tx)
		n, err := q.UpsertUsageDaily(ctx, p)
		if err != nil {
			return 0, fmt.Errorf("write usage: %w", err)
		}
		for _, c := range completed {
			if c.partial {
				continue
			}
			dp := dbgen.DeleteUsageDayExceptParams{OnDay: c.day, ProjectIds: []string{}, Models: []string{}}
			for _, k := range c.keys {
				dp.ProjectIds = append(dp.ProjectIds, k.a)
				dp.Models = append(dp.Models, k.b)
			}
			d, err := q.DeleteUsageDayExcept(ctx, dp)
			if err != nil {
				return 0, fmt.Errorf("drop withdrawn usage: %w", err)
			}
			n += d
		}
		return n, nil
	}
	return next, write, nil
}

// rollup rebuilds the monthly rollup of the months the run read, and of
// the months whose attribution changed since the last finished run, then
// the companies' month-to-date figures.
func (r *runner) rollup(ctx context.Context) error {
	q := r.s.q
	months := map[time.Time]bool{}
	for m := monthOf(r.run.FromDay); m.Before(r.run.ToDay); m = m.AddDate(0, 1, 0) {
		months[m] = true
	}
	since := time.Unix(0, 0)
	if last, err := q.LastFinishedSyncRun(ctx); err == nil {
		since = last.StartedAt
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	changed, err := q.AssignmentChangesSince(ctx, since)
	if err != nil {
		return err
	}
	now := r.s.settings.Now()
	if changed.Changes > 0 {
		for m := monthOf(changed.Earliest); !m.After(now); m = m.AddDate(0, 1, 0) {
			months[m] = true
		}
	}
	var rows int64
	err = pgx.BeginFunc(ctx, r.s.pool, func(tx pgx.Tx) error {
		tq := dbgen.New(tx)
		for m := range months {
			p := dbgen.UpsertCostMonthlyParams{Month: m, NextMonth: m.AddDate(0, 1, 0)}
			n, err := tq.UpsertCostMonthly(ctx, p)
			if err != nil {
				return fmt.Errorf("roll up %s: %w", m.Format("2006-01"), err)
			}
			d, err := tq.DeleteStaleCostMonthly(ctx, dbgen.DeleteStaleCostMonthlyParams(p))
			if err != nil {
				return fmt.Errorf("roll up %s: %w", m.Format("2006-01"), err)
			}
			rows += n + d
		}
		cur := monthOf(now)
		n, err := tq.RefreshCompanyCosts(ctx, dbgen.RefreshCompanyCostsParams{Month: cur, LastMonth: cur.AddDate(0, -1, 0)})
		if err != nil {
			return fmt.Errorf("month-to-date: %w", err)
		}
		rows += n
		return tq.SaveSyncProgress(ctx, dbgen.SaveSyncProgressParams{ID: r.run.ID, Phase: PhaseRollup, RowsWritten: rows})
	})
	if err != nil {
		return err
	}
	r.progress.Rows += rows
	if r.opts.Progress != nil {
		r.opts.Progress(r.progress)
	}
	return nil
}

// Runs returns the latest sync runs, newest first.
func (s *Service) Runs(ctx context.Context, limit int) ([]Run, error) {
	rows, err := s.q.ListSyncRuns(ctx, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("list sync runs: %w", err)
	}
	out := make([]Run, len(rows))
	for i, r := range rows {
		out[i] = runFromRow(r)
	}
	return out, nil
}

// Configured reports whether the sync has an OpenAI client.
func (s *Service) Configured() bool { return s.usage != nil }
