package provision

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/provisioner/provisioner/internal/openai"
)

// pacer spaces the OpenAI calls of a process's backfill goroutines and backs
// them off together: its rate grows slowly while OpenAI accepts calls and
// halves on a 429, when every goroutine also waits out the Retry-After
// (additive increase, multiplicative decrease). A backfill so settles just
// under the organization's rate limit instead of hammering it.
type pacer struct {
	mu   sync.Mutex
	rate float64   // calls per second
	next time.Time // earliest start of the next call
	// cutAt is the last decrease: the 429s of calls started before it
	// belong to the same burst and do not halve the rate again.
	cutAt time.Time
	// pacedAt is when a call last had to wait for its turn. The rate only
	// grows while it is what holds the calls back, not the concurrency;
	// otherwise it would drift far above the calls really made.
	pacedAt time.Time
}

const (
	pacerMinRate = 0.5
	pacerMaxRate = 1000
	// pacerStep is the rate gained per second of accepted calls.
	pacerStep = 5
)

func newPacer(rate float64) *pacer { return &pacer{rate: rate} }

// wait blocks until the caller may make its call.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	at := now
	if p.next.After(now) {
		at, p.pacedAt = p.next, now
	}
	p.next = at.Add(time.Duration(float64(time.Second) / p.rate))
	p.mu.Unlock()
	if !sleep(ctx, time.Until(at)) {
		return ctx.Err()
	}
	return nil
}

// observe adjusts the rate after a call that started at start.
func (p *pacer) observe(start time.Time, res Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	oe, ok := openai.AsError(res.Err)
	if !ok || oe.StatusCode != http.StatusTooManyRequests {
		switch res.Outcome {
		case Created, Linked, Retryable, Uncertain, Failed: // OpenAI took the call
			if time.Since(p.pacedAt) < time.Second {
				p.rate = min(pacerMaxRate, p.rate+pacerStep/p.rate)
			}
		}
		return
	}
	if start.Before(p.cutAt) {
		return
	}
	p.rate = max(pacerMinRate, p.rate/2)
	p.cutAt = time.Now()
	pause := oe.RetryAfter
	if pause <= 0 {
		pause = time.Second
	}
	if until := p.cutAt.Add(pause); until.After(p.next) {
		p.next = until
	}
}
