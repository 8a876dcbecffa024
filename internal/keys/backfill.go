package keys

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// The keys backfill gives every provisioned company without a key one
// (companies whose key was revoked on purpose are left alone). It goes
// through Issue, so every rule of the key step holds; its OpenAI calls go
// through the client's rate governor like any other.

// CountWithoutKey counts the provisioned companies with no current key.
func (s *Service) CountWithoutKey(ctx context.Context) (int64, error) {
	return s.q.CountCompaniesWithoutKey(ctx)
}

// WithoutKey lists up to n provisioned companies with no current key,
// in ID order (for a dry run).
func (s *Service) WithoutKey(ctx context.Context, n int) ([]dbgen.ListCompaniesWithoutKeyRow, error) {
	return s.q.ListCompaniesWithoutKey(ctx, dbgen.ListCompaniesWithoutKeyParams{AfterID: 0, MaxRows: int32(n)})
}

// BackfillReport is what a synchronous keys backfill did.
type BackfillReport struct {
	Total, Created, Already, Failed int
	Elapsed                         time.Duration
}

// Backfill issues keys to every company without one, concurrency at a
// time, in this process, retrying passing failures until ctx ends.
// progress, if set, is called after each company.
func (s *Service) Backfill(ctx context.Context, concurrency int, actor audit.Actor, progress func(done, total int)) (BackfillReport, error) {
	start := time.Now()
	var rep BackfillReport
	if !s.Enabled() {
		return rep, ErrDisabled
	}
	total, err := s.CountWithoutKey(ctx)
	if err != nil {
		return rep, err
	}
	rep.Total = int(total)
	// Each attempt holds a lock connection and needs another: stay well
	// inside the pool, or the workers would starve one another.
	if limit := int(s.pool.Config().MaxConns) / 2; concurrency > limit {
		concurrency = max(limit, 1)
	}
	ids := make(chan int64)
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(ids)
		var after int64
		for {
			rows, err := s.q.ListCompaniesWithoutKey(gctx, dbgen.ListCompaniesWithoutKeyParams{AfterID: after, MaxRows: 500})
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			for _, r := range rows {
				after = r.ID
				select {
				case ids <- r.ID:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
	})
	for range max(concurrency, 1) {
		g.Go(func() error {
			for id := range ids {
				res, err := s.issueUntilFinal(gctx, id, Attempt{Trigger: TriggerBackfill, Actor: actor})
				if err != nil {
					return err
				}
				mu.Lock()
				switch res.Outcome {
				case Created:
					rep.Created++
				case AlreadyIssued:
					rep.Already++
				default:
					rep.Failed++
				}
				done++
				if progress != nil {
					progress(done, rep.Total)
				}
				mu.Unlock()
			}
			return nil
		})
	}
	err = g.Wait()
	rep.Elapsed = time.Since(start)
	return rep, err
}

// issueUntilFinal calls Issue until its outcome is final, waiting what
// each passing failure asks for.
func (s *Service) issueUntilFinal(ctx context.Context, id int64, a Attempt) (Result, error) {
	for {
		res, err := s.Issue(ctx, id, a)
		if err != nil || res.Outcome.Final() {
			return res, err
		}
		t := time.NewTimer(max(res.RetryAfter, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
	}
}

// EnqueueBackfill inserts one key job per company without a key (for the
// backfill page and the API: River works them, with retries). Returns how
// many it enqueued; jobs already waiting for a company are not doubled.
func (s *Service) EnqueueBackfill(ctx context.Context, actor audit.Actor) (int, error) {
	if !s.Enabled() || s.river == nil {
		return 0, ErrDisabled
	}
	n := 0
	var after int64
	for {
		rows, err := s.q.ListCompaniesWithoutKey(ctx, dbgen.ListCompaniesWithoutKeyParams{AfterID: after, MaxRows: 1000})
		if err != nil {
			return n, err
		}
		if len(rows) == 0 {
			break
		}
		params := make([]river.InsertManyParams, len(rows))
		for i, r := range rows {
			after = r.ID
			params[i] = river.InsertManyParams{Args: IssueArgs{CompanyID: r.ID, Trigger: TriggerBackfill, Actor: actor.Email}}
		}
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			_, err := s.river.InsertManyTx(ctx, tx, params)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("enqueue keys backfill: %w", err)
		}
		n += len(rows)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return audit.Record(ctx, s.q.WithTx(tx), audit.Entry{
			Actor: actor, Action: ActionKeyBackfil, Detail: fmt.Sprintf("keys backfill: %d companies enqueued", n),
		})
	})
	return n, err
}
