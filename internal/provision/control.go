package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// An admin controls a running backfill, and the dashboard tells a run that
// is stuck from one that is merely slow:
//
//   - Pause keeps the run 'running' (so no second run starts) and marks it
//     paused; its worker takes no new company and snoozes until Resume.
//     Companies in flight finish their current call (bounded by the item
//     timeout) and are recorded as usual.
//   - Cancel ends the run at once as 'cancelled'. The worker stops feeding
//     within a second, lets the calls in flight finish, and then settles
//     every company the run tried but left without an outcome: marked
//     pending by a passing failure, with a next attempt only the run would
//     have made, it is marked failed with the reason instead, so that it
//     shows among the failures that need a human. Nothing is half-done:
//     each company has its project, or a state that says what happens next.
//   - A running, unpaused run that recorded no outcome for StallAfter is
//     stalled; the run's last OpenAI problem says why.
//
// Each of the three is audited with the admin who did it.

// Errors of the run controls.
var (
	// ErrRunNotRunning: the run is over; it cannot be paused, resumed or
	// cancelled.
	ErrRunNotRunning = errors.New("provision: the backfill run is over")
	// ErrRunPaused: the run is paused already.
	ErrRunPaused = errors.New("provision: the backfill run is paused already")
	// ErrRunNotPaused: the run is not paused, so there is nothing to resume.
	ErrRunNotPaused = errors.New("provision: the backfill run is not paused")
)

// DefaultStallAfter is how long a run may record no outcome before the
// dashboard calls it stalled.
const DefaultStallAfter = time.Minute

// controlPoll is how often a working slice looks whether the run was
// paused or cancelled, and how often a paused run's job looks again.
const controlPoll = time.Second

// SetStallAfter sets how long a run may go without an outcome before it is
// shown as stalled (DefaultStallAfter unless set).
func (b *Backfiller) SetStallAfter(d time.Duration) {
	if d > 0 {
		b.stallAfter = d
	}
}

// Pause pauses a running run. Returns ErrRunNotFound, ErrRunNotRunning or
// ErrRunPaused.
func (b *Backfiller) Pause(ctx context.Context, actor audit.Actor, id int64) (Run, error) {
	return b.control(ctx, id, func(q *dbgen.Queries) (dbgen.BackfillRun, audit.Entry, error) {
		row, err := q.PauseBackfillRun(ctx, dbgen.PauseBackfillRunParams{ID: id, PausedBy: actor.Email})
		return row, audit.Entry{
			Actor: actor, Action: audit.ActionBackfillPause,
			Before: fmt.Sprintf("run %d running", id), After: fmt.Sprintf("run %d paused", id),
			Detail: fmt.Sprintf("run %d paused", id),
		}, err
	}, ErrRunPaused)
}

// Resume resumes a paused run. Returns ErrRunNotFound, ErrRunNotRunning or
// ErrRunNotPaused.
func (b *Backfiller) Resume(ctx context.Context, actor audit.Actor, id int64) (Run, error) {
	return b.control(ctx, id, func(q *dbgen.Queries) (dbgen.BackfillRun, audit.Entry, error) {
		row, err := q.ResumeBackfillRun(ctx, id)
		return row, audit.Entry{
			Actor: actor, Action: audit.ActionBackfillResume,
			Before: fmt.Sprintf("run %d paused", id), After: fmt.Sprintf("run %d running", id),
			Detail: fmt.Sprintf("run %d resumed", id),
		}, err
	}, ErrRunNotPaused)
}

// Cancel ends a running or paused run. Companies it already gave a project
// keep it; those it left half-way are settled (see above), now and once its
// worker has stopped. Returns ErrRunNotFound or ErrRunNotRunning.
func (b *Backfiller) Cancel(ctx context.Context, actor audit.Actor, id int64) (Run, error) {
	why := fmt.Sprintf("cancelled by %s", actor.Email)
	run, err := b.control(ctx, id, func(q *dbgen.Queries) (dbgen.BackfillRun, audit.Entry, error) {
		row, err := q.CancelBackfillRun(ctx, dbgen.CancelBackfillRunParams{ID: id, LastError: why})
		return row, audit.Entry{
			Actor: actor, Action: audit.ActionBackfillCancel,
			Before: fmt.Sprintf("run %d running", id), After: fmt.Sprintf("run %d cancelled", id),
			Detail: fmt.Sprintf("run %d cancelled after %d of %d companies", id, row.Created+row.Linked+row.Failed+row.Skipped, row.Total),
		}, err
	}, ErrRunNotRunning)
	if err != nil {
		return Run{}, err
	}
	if err := settleCancelled(ctx, b.prov, run.ID, run.jobID); err != nil {
		return Run{}, err
	}
	return b.Get(ctx, id)
}

// control runs one control's update and its audit entry in a transaction.
// When the update matches no row, it tells why: no such run, a run that is
// over, or else noop.
func (b *Backfiller) control(ctx context.Context, id int64, update func(*dbgen.Queries) (dbgen.BackfillRun, audit.Entry, error), noop error) (Run, error) {
	var row dbgen.BackfillRun
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		q := b.q.WithTx(tx)
		r, entry, err := update(q)
		if errors.Is(err, pgx.ErrNoRows) {
			cur, gerr := q.GetBackfillRun(ctx, id)
			switch {
			case errors.Is(gerr, pgx.ErrNoRows):
				return ErrRunNotFound
			case gerr != nil:
				return gerr
			case cur.Status != string(RunRunning):
				return ErrRunNotRunning
			}
			return noop
		}
		if err != nil {
			return err
		}
		row = r
		return audit.Record(ctx, q, entry)
	})
	if err != nil {
		if errors.Is(err, ErrRunNotFound) || errors.Is(err, ErrRunNotRunning) || errors.Is(err, noop) {
			return Run{}, err
		}
		return Run{}, fmt.Errorf("backfill run %d: %w", id, err)
	}
	return b.fromRow(row, time.Now()), nil
}

// settleCancelled marks failed the companies a cancelled run tried and left
// pending without an outcome (see above). Companies with a provisioning job
// of their own still queued keep their state: that job decides. It is
// idempotent, so both Cancel and the stopping worker call it.
//
// Plain SQL rather than sqlc: it reads River's job table, which is not in
// sqlc's schema.
func settleCancelled(ctx context.Context, p *Provisioner, runID int64, jobID *int64) error {
	if jobID == nil {
		return nil
	}
	const q = `
UPDATE companies c
SET provisioning_status = 'failed', provisioning_error = $3, next_attempt_at = NULL, updated_at = now()
WHERE c.openai_project_id IS NULL AND c.provisioning_status = 'pending'
  AND c.id IN (SELECT a.company_id FROM provision_attempts a WHERE a.job_id = $2)
  AND NOT EXISTS (SELECT 1 FROM backfill_items i WHERE i.run_id = $1 AND i.company_id = c.id)
  AND NOT EXISTS (
      SELECT 1 FROM river_job j
      WHERE j.kind = 'provision_project' AND (j.args->>'company_id')::bigint = c.id
        AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))`
	reason := fmt.Sprintf("backfill run %d was cancelled before this company got its project; retry it, or run a backfill", runID)
	if _, err := p.pool.Exec(ctx, q, runID, *jobID, reason); err != nil {
		return fmt.Errorf("settle companies of cancelled backfill run %d: %w", runID, err)
	}
	return nil
}

// noteProblem keeps a passing OpenAI problem of the run, which explains a
// stall. Best effort: the run goes on without it.
func (s *runSlice) noteProblem(ctx context.Context, err error) {
	if err == nil {
		return
	}
	reason := err.Error()
	if oe, ok := openai.AsError(err); ok {
		reason = oe.Reason()
	}
	_ = s.w.p.q.SetBackfillRunProblem(context.WithoutCancel(ctx), dbgen.SetBackfillRunProblemParams{ID: s.run.ID, LastError: reason})
}

// watch looks every controlPoll whether the run was paused or ended, and
// then calls stop. It returns when ctx ends.
func (s *runSlice) watch(ctx context.Context, stop func()) {
	t := time.NewTicker(controlPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := s.w.p.q.GetBackfillRun(ctx, s.run.ID)
		if err != nil {
			continue // the slice's own queries will tell
		}
		if cur.Status != string(RunRunning) || cur.PausedAt != nil {
			stop()
			return
		}
	}
}
