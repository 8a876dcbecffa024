package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// govTrace samples the shared governor row (every second, say) while a scenario
// runs, so a report can say what rate the governor allowed, not only what
// the fake accepted.
type govTrace struct {
	mu      sync.Mutex
	samples []string
	stop    context.CancelFunc
	done    chan struct{}
}

func traceGovernor(ctx context.Context, pool *pgxpool.Pool, every time.Duration) *govTrace {
	ctx, cancel := context.WithCancel(ctx)
	t := &govTrace{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var rate, limit float64
			s := "–"
			if err := pool.QueryRow(ctx, `SELECT rate, learned_limit FROM openai_governors LIMIT 1`).Scan(&rate, &limit); err == nil {
				s = fmt.Sprintf("%.0f", rate)
				if limit > 0 {
					s += fmt.Sprintf("/%.0f", limit)
				}
			}
			t.mu.Lock()
			t.samples = append(t.samples, s)
			t.mu.Unlock()
		}
	}()
	return t
}

// String stops the trace and returns "rate/limit" second by second.
func (t *govTrace) String() string {
	t.stop()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.samples, ", ")
}
