// Package ratelimit counts events per key in a sliding window, in
// PostgreSQL, so that every process of the app enforces one limit.
//
// A caller reserves a slot before doing the limited thing and cancels the
// reservation when the thing did not happen after all (a refused form),
// so that only what really happened counts. Check and insert run in one
// transaction under an advisory lock on the key: concurrent requests from
// one key, on any process, cannot both take the last slot.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Limiter allows Limit events per key within Window. Limit 0 allows all.
type Limiter struct {
	pool   *pgxpool.Pool
	q      *dbgen.Queries
	bucket string
	limit  int
	window time.Duration
	// Now defaults to time.Now; tests move the clock.
	Now func() time.Time
}

// New returns a limiter of the events named bucket (one limiter per kind
// of event shares the table with the others).
func New(pool *pgxpool.Pool, bucket string, limit int, window time.Duration) *Limiter {
	return &Limiter{pool: pool, q: dbgen.New(pool), bucket: bucket, limit: limit, window: window, Now: time.Now}
}

// LimitedError is returned by Reserve while the key is at its limit.
type LimitedError struct {
	// RetryAfter is how long until the oldest counted event leaves the
	// window and a slot frees up.
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("ratelimit: limit reached; retry in %s", e.RetryAfter.Round(time.Second))
}

// Reservation is one counted event. The zero value (limit off) counts
// nothing.
type Reservation struct {
	l  *Limiter
	id int64
}

// Reserve counts one event for key, or returns a *LimitedError (counting
// nothing) when key already has Limit events in the window.
func (l *Limiter) Reserve(ctx context.Context, key string) (Reservation, error) {
	if l == nil || l.limit <= 0 {
		return Reservation{}, nil
	}
	now := l.Now()
	since := now.Add(-l.window)
	var (
		id      int64
		limited *LimitedError
	)
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		q := l.q.WithTx(tx)
		if err := q.LockRateKey(ctx, dbgen.LockRateKeyParams{Bucket: l.bucket, Key: key}); err != nil {
			return err
		}
		if err := q.DeleteRateEventsBefore(ctx, dbgen.DeleteRateEventsBeforeParams{Bucket: l.bucket, Before: since}); err != nil {
			return err
		}
		events, err := q.ListRateEvents(ctx, dbgen.ListRateEventsParams{Bucket: l.bucket, Key: key, Since: since})
		if err != nil {
			return err
		}
		if len(events) >= l.limit {
			// The slot that frees first is the one of the oldest event
			// that must leave for the count to drop below the limit.
			oldest := events[len(events)-l.limit]
			limited = &LimitedError{RetryAfter: max(oldest.Add(l.window).Sub(now), time.Second)}
			return nil
		}
		id, err = q.CreateRateEvent(ctx, dbgen.CreateRateEventParams{Bucket: l.bucket, Key: key, At: now})
		return err
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("rate limit %s: %w", l.bucket, err)
	}
	if limited != nil {
		return Reservation{}, limited
	}
	return Reservation{l: l, id: id}, nil
}

// Cancel uncounts the event: what it reserved for did not happen.
func (r Reservation) Cancel(ctx context.Context) error {
	if r.l == nil || r.id == 0 {
		return nil
	}
	if err := r.l.q.DeleteRateEvent(ctx, r.id); err != nil {
		return fmt.Errorf("rate limit %s: cancel: %w", r.l.bucket, err)
	}
	return nil
}

// IsLimited reports whether err is a *LimitedError, and returns it.
func IsLimited(err error) (*LimitedError, bool) {
	var le *LimitedError
	ok := errors.As(err, &le)
	return le, ok
}
