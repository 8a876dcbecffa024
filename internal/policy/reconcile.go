package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// ReconcileReport is what one reconcile run found.
type ReconcileReport struct {
	Checked  int // linked companies looked at
	Drifted  int // of which now drifted
	Missing  int // whose project no longer exists
	Orphans  int // projects of the organization that no company holds
	Fixed    int // re-applies enqueued by RECONCILE_AUTOFIX
	Errors   int // companies that could not be checked (OpenAI failing)
	Calls    int64
	Duration time.Duration
}

// CallsPerProject is the average number of OpenAI calls per checked company.
func (r ReconcileReport) CallsPerProject() float64 {
	if r.Checked == 0 {
		return 0
	}
	return float64(r.Calls) / float64(r.Checked)
}

// Reconcile reads every linked project and records how it differs from its
// company's effective policy; then it lists the organization's projects and
// records the ones no company holds. Offboarded companies are left out.
// With RECONCILE_AUTOFIX, drifted companies get a re-apply job.
func (s *Service) Reconcile(ctx context.Context) (ReconcileReport, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerReconcile, governor.Background)
	start := time.Now()
	var rep ReconcileReport
	if s.client == nil {
		return rep, ErrDisabled
	}
	var calls atomic.Int64
	cl := counting{Client: s.client, n: &calls}
	var after int64
	for {
		part, last, more, err := s.reconcileRange(ctx, cl, after, 0)
		rep.add(part)
		if err != nil {
			return rep, err
		}
		if !more {
			break
		}
		after = last
	}
	n, err := s.findOrphans(ctx, cl)
	rep.Orphans = n
	rep.Calls = calls.Load()
	rep.Duration = time.Since(start)
	return rep, err
}

func (r *ReconcileReport) add(o ReconcileReport) {
	r.Checked += o.Checked
	r.Drifted += o.Drifted
	r.Missing += o.Missing
	r.Fixed += o.Fixed
	r.Errors += o.Errors
}

// reconcileRange checks the linked companies after the ID after, at most
// limit of them (0: all); more is true when some are left, from last on.
func (s *Service) reconcileRange(ctx context.Context, cl Client, after int64, limit int) (rep ReconcileReport, last int64, more bool, err error) {
	tmpl, err := s.Template(ctx)
	if err != nil {
		return rep, after, false, err
	}
	work := make(chan dbgen.ListLinkedForReconcileRow)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range s.settings.ReconcileConcurrency {
		wg.Go(func() {
			for row := range work {
				res, err := s.reconcileOne(ctx, cl, tmpl, row)
				mu.Lock()
				rep.Checked++
				switch {
				case err != nil && firstErr == nil && ctx.Err() == nil && !isOpenAI(err):
					firstErr = err
				case err != nil:
					rep.Errors++
				}
				if res.drifted {
					rep.Drifted++
				}
				if res.missing {
					rep.Missing++
				}
				if res.fixed {
					rep.Fixed++
				}
				mu.Unlock()
			}
		})
	}
	var listErr error
	last, sent := after, 0
	for ctx.Err() == nil {
		page := int32(500)
		if limit > 0 {
			page = int32(min(500, limit-sent))
		}
		rows, err := s.q.ListLinkedForReconcile(ctx, dbgen.ListLinkedForReconcileParams{AfterID: last, MaxRows: page})
		if err != nil {
			listErr = err
			break
		}
		for _, r := range rows {
			work <- r
		}
		sent += len(rows)
		if len(rows) > 0 {
			last = rows[len(rows)-1].ID
		}
		if len(rows) < int(page) {
			break
		}
		if limit > 0 && sent >= limit {
			more = true
			break
		}
	}
	close(work)
	wg.Wait()
	switch {
	case listErr != nil:
		return rep, last, false, listErr
	case firstErr != nil:
		return rep, last, false, firstErr
	case ctx.Err() != nil:
		return rep, last, false, ctx.Err()
	}
	return rep, last, more, nil
}

func isOpenAI(err error) bool { _, ok := openai.AsError(err); return ok }

type reconciled struct{ drifted, missing, fixed bool }

func (s *Service) reconcileOne(ctx context.Context, c Client, tmpl Version, row dbgen.ListLinkedForReconcileRow) (reconciled, error) {
	o, _, err := s.Override(ctx, row.ID)
	if err != nil {
		return reconciled{}, err
	}
	d := Merge(tmpl.Document, o)
	obs, err := read(ctx, c, row.ProjectID, row.ProjectName, d)
	if err != nil {
		return reconciled{}, err
	}
	var out reconciled
	out.missing = obs.missing
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		cur, err := q.GetCompanyPolicyForUpdate(ctx, row.ID)
		if err != nil {
			return err
		}
		if cur.ProjectID != row.ProjectID {
			return nil // relinked meanwhile: this reading is about another project
		}
		state := cur.State
		switch {
		case len(obs.diffs) > 0 && state != StatePending:
			// Pending companies are about to be applied; their differences
			// are expected and not drift yet.
			state = StateDrifted
		case len(obs.diffs) == 0 && (state == StateDrifted || state == StateFailed):
			state = StateApplied
		}
		errText := cur.Error
		if state == StateApplied || state == StateDrifted {
			errText = ""
		}
		if _, err := q.SetPolicyState(ctx, dbgen.SetPolicyStateParams{
			CompanyID: row.ID, ProjectID: row.ProjectID, State: state, Error: errText,
			NextAttemptAt: cur.NextAttemptAt, ProjectName: obs.project.Name, Checked: true,
		}); err != nil {
			return err
		}
		if state == StatePending {
			return nil
		}
		if err := storeDifferences(ctx, q, row.ID, obs.diffs); err != nil {
			return err
		}
		out.drifted = state == StateDrifted
		if out.drifted && s.settings.Autofix && !obs.missing && obs.project.Active() && s.river != nil {
			if _, err := s.river.InsertTx(ctx, tx, ApplyArgs{CompanyID: row.ID, Trigger: TriggerAutofix}, nil); err != nil {
				return err
			}
			out.fixed = true
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("reconcile company %d: %w", row.ID, err)
	}
	return out, nil
}

// findOrphans records the organization's active projects that no company
// holds, and forgets those no longer seen.
func (s *Service) findOrphans(ctx context.Context, c Client) (int, error) {
	linked, err := s.q.ListLinkedProjectIDs(ctx)
	if err != nil {
		return 0, err
	}
	held := make(map[string]bool, len(linked))
	for _, id := range linked {
		held[id] = true
	}
	start := time.Now()
	n := 0
	err = c.ListProjects(ctx, false, func(p openai.Project) error {
		if held[p.ID] {
			return nil
		}
		n++
		return s.q.UpsertOrphan(ctx, dbgen.UpsertOrphanParams{ProjectID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt})
	})
	if err != nil {
		return n, err
	}
	// Rows not touched by this listing are gone or linked now.
	return n, s.q.DeleteOrphansNotSeenSince(ctx, start.Add(-time.Second))
}

// Orphan is a project of the organization that no company holds.
type Orphan struct {
	ProjectID string
	Name      string
	CreatedAt time.Time
	FirstSeen time.Time
	LastSeen  time.Time
}

// Orphans lists the orphans the last reconcile found, newest first, less
// those linked since.
func (s *Service) Orphans(ctx context.Context) ([]Orphan, error) {
	rows, err := s.q.ListOrphans(ctx, 500)
	if err != nil {
		return nil, err
	}
	out := make([]Orphan, 0, len(rows))
	for _, r := range rows {
		if _, err := s.q.GetCompanyByProjectID(ctx, &r.ProjectID); err == nil {
			continue // assigned since the last reconcile
		}
		out = append(out, Orphan{ProjectID: r.ProjectID, Name: r.Name, CreatedAt: r.CreatedAt, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen})
	}
	return out, nil
}

// ForgetOrphan drops an orphan from the list (after it was assigned).
func (s *Service) ForgetOrphan(ctx context.Context, projectID string) error {
	return s.q.DeleteOrphan(ctx, projectID)
}

// ReconcileArgs is one part of a reconcile run: the periodic job starts at
// AfterID 0, and each part enqueues the next until the last one, which
// also looks for orphan projects.
type ReconcileArgs struct {
	AfterID int64 `json:"after_id,omitempty"`
}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "policy_reconcile" }

// InsertOpts implements river.JobArgsWithInsertOpts: one run at a time.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePolicy, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// ReconcileWorker runs ReconcileArgs.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	s *Service
}

// Work implements river.Worker.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	ctx = governor.WithCall(ctx, governor.CallerReconcile, governor.Background)
	if !w.s.Enabled() {
		return nil
	}
	var calls atomic.Int64
	cl := counting{Client: w.s.client, n: &calls}
	rep, last, more, err := w.s.reconcileRange(ctx, cl, job.Args.AfterID, w.s.settings.ReconcileChunk)
	if err != nil {
		return err
	}
	if more {
		_, err = w.s.river.Insert(ctx, ReconcileArgs{AfterID: last}, nil)
	} else {
		rep.Orphans, err = w.s.findOrphans(ctx, cl)
	}
	w.s.logger.Info("policy reconcile part finished", "after_id", job.Args.AfterID, "checked", rep.Checked,
		"drifted", rep.Drifted, "missing", rep.Missing, "orphans", rep.Orphans, "fixed", rep.Fixed,
		"errors", rep.Errors, "calls", calls.Load(), "last", !more)
	return err
}

// FindCompany resolves what staff typed to assign an orphan: a company ID
// or its exact name (any letter case). Returns ErrCompanyNotFound.
func (s *Service) FindCompany(ctx context.Context, nameOrID string) (int64, error) {
	nameOrID = strings.TrimSpace(nameOrID)
	if id, err := strconv.ParseInt(nameOrID, 10, 64); err == nil && id > 0 {
		if c, err := s.q.GetCompany(ctx, id); err == nil {
			return c.ID, nil
		}
	}
	c, err := s.q.GetCompanyByName(ctx, nameOrID)
	if errors.Is(err, pgx.ErrNoRows) || nameOrID == "" {
		return 0, ErrCompanyNotFound
	}
	if err != nil {
		return 0, err
	}
	return c.ID, nil
}
