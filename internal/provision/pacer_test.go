package provision

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/openai"
)

func TestPacer_BacksOffTogether(t *testing.T) {
	t.Parallel()
	p := newPacer(100)
	limited := Result{Outcome: Retryable, Err: &openai.Error{StatusCode: http.StatusTooManyRequests, RetryAfter: 2 * time.Second}}
	start := time.Now()
	p.observe(start, limited)
	if p.rate != 50 {
		t.Errorf("rate after a 429 = %v, want 50", p.rate)
	}
	if wait := time.Until(p.next); wait < 1900*time.Millisecond {
		t.Errorf("next call in %s, want the Retry-After of 2s", wait)
	}
	// A 429 of the same burst does not halve again.
	p.observe(start, limited)
	if p.rate != 50 {
		t.Errorf("rate after a second 429 of the burst = %v, want 50", p.rate)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.wait(ctx); err == nil {
		t.Error("wait returned before the pause ended")
	}
	// The calls waited for their turn: accepted calls raise the rate, slowly.
	for range 50 {
		p.observe(time.Now(), Result{Outcome: Created})
	}
	if p.rate <= 50 || p.rate > 60 {
		t.Errorf("rate after 50 accepted calls = %v, want a slow rise above 50", p.rate)
	}
	// Calls that never waited (concurrency holds them back) leave it be.
	idle := newPacer(100)
	for range 50 {
		if err := idle.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(11 * time.Millisecond)
		idle.observe(time.Now(), Result{Outcome: Created})
	}
	if idle.rate != 100 {
		t.Errorf("rate of an unhurried pacer = %v, want 100", idle.rate)
	}
}
