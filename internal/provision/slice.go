package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// runSlice is one execution of a run.
type runSlice struct {
	w        *BackfillWorker
	run      dbgen.BackfillRun
	jobID    int64
	deadline time.Time
	byName   map[string][]openai.Project // from BackfillWorker.projects

	// stopped is set when an admin paused or ended the run during the
	// slice: no new company is taken, and no passing failure is retried.
	stopped atomic.Bool
	// halt is done once stopped is set.
	halt <-chan struct{}

	mu sync.Mutex
	// setAside is true when companies were left for a later slice; resumeAt
	// is the earliest time one of them may be tried again.
	setAside bool
	resumeAt time.Time
	// retries are companies whose passing failure asked for a wait that
	// ends within the slice: they wait here, not in a goroutine of the
	// pool, so that a burst of 429s does not idle every worker for its
	// Retry-After.
	retries  []retry
	inFlight int
}

type retry struct {
	c  backfillCompany
	at time.Time
}

type backfillCompany struct {
	ID   int64
	Name string
}

// work lists the projects, then feeds the run's companies to a bounded
// pool until none is left or the slice is over. finished is true when every
// company of the run has its outcome recorded.
func (s *runSlice) work(ctx context.Context) (finished bool, err error) {
	halt := make(chan struct{})
	s.halt = halt
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watch(wctx, func() { s.stopped.Store(true); close(halt) })

	if s.byName, err = s.w.projects(ctx, s.run.ID); err != nil {
		return false, err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(int(s.run.Concurrency))
	var after int64
	exhausted, feedErr := false, error(nil)
feed:
	for {
		batch, err := s.next(gctx, after)
		if err != nil {
			feedErr = err
			break
		}
		if len(batch) == 0 {
			exhausted = true
			break
		}
		for _, c := range batch {
			if gctx.Err() != nil || s.stopped.Load() || s.over() {
				s.putAside(time.Now())
				break feed
			}
			for _, r := range s.due(time.Now()) {
				s.goOne(gctx, g, r)
			}
			s.goOne(gctx, g, c)
			after = c.ID
		}
	}
	if feedErr == nil {
		s.drainRetries(gctx, g)
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	if feedErr != nil {
		return false, fmt.Errorf("list companies to backfill: %w", feedErr)
	}
	return exhausted && !s.setAside, nil
}

// next reads the next batch of the run's companies that have no recorded
// outcome yet.
func (s *runSlice) next(ctx context.Context, after int64) ([]backfillCompany, error) {
	var out []backfillCompany
	if s.run.RetryOf != nil {
		rows, err := s.w.p.q.ListBackfillRetryCompanies(ctx, dbgen.ListBackfillRetryCompaniesParams{
			RetryOf: *s.run.RetryOf, RunID: s.run.ID, AfterID: after, MaxRows: batchSize,
		})
		for _, r := range rows {
			out = append(out, backfillCompany{ID: r.ID, Name: r.Name})
		}
		return out, err
	}
	rows, err := s.w.p.q.ListBackfillCompanies(ctx, dbgen.ListBackfillCompaniesParams{
		RunID: s.run.ID, AfterID: after, UptoID: s.run.UptoCompanyID, MaxRows: batchSize,
	})
	for _, r := range rows {
		out = append(out, backfillCompany{ID: r.ID, Name: r.Name})
	}
	return out, err
}

// goOne runs one company in the pool.
func (s *runSlice) goOne(ctx context.Context, g *errgroup.Group, c backfillCompany) {
	s.mu.Lock()
	s.inFlight++
	s.mu.Unlock()
	g.Go(func() error {
		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}()
		return s.one(ctx, c)
	})
}

// later keeps a company to try again at at, within the slice.
func (s *runSlice) later(c backfillCompany, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retries = append(s.retries, retry{c: c, at: at})
}

// due takes the companies whose wait is over.
func (s *runSlice) due(now time.Time) []backfillCompany {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []backfillCompany
	kept := s.retries[:0]
	for _, r := range s.retries {
		if r.at.After(now) {
			kept = append(kept, r)
		} else {
			out = append(out, r.c)
		}
	}
	s.retries = kept
	return out
}

// drainRetries runs the waiting companies as their waits end, until none
// waits or is in flight, or the slice is over (the rest are put aside).
func (s *runSlice) drainRetries(ctx context.Context, g *errgroup.Group) {
	for {
		for _, c := range s.due(time.Now()) {
			s.goOne(ctx, g, c)
		}
		s.mu.Lock()
		waiting, inFlight := len(s.retries), s.inFlight
		s.mu.Unlock()
		if waiting == 0 && inFlight == 0 {
			return
		}
		if ctx.Err() != nil || s.stopped.Load() || s.over() {
			break
		}
		if !s.sleep(ctx, 20*time.Millisecond) {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.retries {
		if !s.setAside || r.at.Before(s.resumeAt) {
			s.resumeAt = r.at
		}
		s.setAside = true
	}
	s.retries = nil
}

// over reports whether the slice should take no more companies: its time
// is up, or its process is stopping.
func (s *runSlice) over() bool {
	select {
	case <-s.w.stopping: // nil without BackfillOptions.Stopping: never
		return true
	default:
		return time.Now().After(s.deadline)
	}
}

// putAside notes a company left for a later slice, to be tried from at.
func (s *runSlice) putAside(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.setAside || at.Before(s.resumeAt) {
		s.resumeAt = at
	}
	s.setAside = true
}

// one makes an attempt for a company and records a final outcome. Passing
// failures wait for another attempt within the slice (drainRetries) when
// their wait ends before it does, without holding a worker; the others are
// put aside for a later slice. Returns only database errors.
func (s *runSlice) one(ctx context.Context, c backfillCompany) error {
	a := Attempt{Trigger: TriggerBackfill, Actor: s.run.StartedBy, JobID: &s.jobID}
	res, err := s.try(ctx, c, a)
	switch {
	case errors.Is(err, ErrCompanyNotFound):
		return nil // deleted meanwhile
	case err != nil && ctx.Err() != nil:
		s.putAside(time.Now())
		return nil
	case err != nil:
		return err
	case res.Outcome.Final():
		return s.record(ctx, c, res)
	}
	s.noteProblem(ctx, res.Err)
	next := time.Now().Add(res.RetryAfter)
	if next.After(s.deadline) || s.stopped.Load() || s.over() {
		s.putAside(next)
		return nil
	}
	s.later(c, next)
	return nil
}

// try makes one attempt: linking the company's free same-name project if
// the organization has one, creating a project otherwise.
func (s *runSlice) try(ctx context.Context, c backfillCompany, a Attempt) (Result, error) {
	if sameName := s.byName[c.Name]; len(sameName) > 0 {
		res, err := s.w.p.LinkExisting(ctx, c.ID, sameName, a)
		if !errors.Is(err, ErrNoFreeProject) {
			return res, err
		}
	}
	// The OpenAI client waits for the rate governor's slot, shared with
	// every other caller and process, and slows down on OpenAI's 429s.
	pctx, cancel := context.WithTimeout(ctx, s.w.itemTimeout)
	defer cancel()
	return s.w.p.Provision(pctx, c.ID, a)
}

// record writes the company's final outcome into the run, even when the
// slice is being stopped: the outcome is known and the company, provisioned
// now, would not come up again.
func (s *runSlice) record(ctx context.Context, c backfillCompany, res Result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	p := dbgen.RecordBackfillItemParams{RunID: s.run.ID, CompanyID: c.ID}
	switch res.Outcome {
	case Created:
		p.Outcome = "created"
	case Linked:
		p.Outcome = "linked"
	case Failed:
		p.Outcome = "failed"
		// The company row holds the reason as the dashboard shows it
		// (e.g. "gave up after 10 attempts: …").
		row, err := s.w.p.q.GetCompany(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("backfill run %d: read company %d: %w", s.run.ID, c.ID, err)
		}
		p.Error = row.ProvisioningError
		if p.Error == "" && res.Err != nil {
			p.Error = res.Err.Error()
		}
		s.w.logger.Warn(fmt.Sprintf("❌ [Backfill] No OpenAI project for %s: %s", c.Name, p.Error),
			slog.Int64("run_id", s.run.ID), slog.Int64("company_id", c.ID))
	default: // already provisioned meanwhile, or skipped
		p.Outcome = "skipped"
	}
	if res.ProjectID != "" {
		p.ProjectID = &res.ProjectID
	}
	if _, err := s.w.p.q.RecordBackfillItem(ctx, p); err != nil {
		return fmt.Errorf("backfill run %d: record company %d: %w", s.run.ID, c.ID, err)
	}
	return nil
}

// sleep is sleep, cut short when the run is stopped.
func (s *runSlice) sleep(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.halt:
			cancel()
		case <-ctx.Done():
		}
	}()
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
