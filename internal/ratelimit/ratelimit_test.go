package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/ratelimit"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := ratelimit.New(pool, "test", 3, time.Hour)
	l.Now = func() time.Time { return now }

	// Concurrent reservations (as from several processes) take at most
	// the limit.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for range 10 {
		wg.Go(func() {
			_, err := l.Reserve(ctx, "198.51.100.7")
			mu.Lock()
			defer mu.Unlock()
			if _, is := ratelimit.IsLimited(err); is {
				limited++
			} else if err != nil {
				t.Error(err)
			} else {
				ok++
			}
		})
	}
	wg.Wait()
	if ok != 3 || limited != 7 {
		t.Fatalf("reserved %d, limited %d; want 3 and 7", ok, limited)
	}
	// Another key has its own count.
	r, err := l.Reserve(ctx, "198.51.100.8")
	if err != nil {
		t.Fatalf("other key: %v", err)
	}
	// A cancelled reservation frees its slot.
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := l.Reserve(ctx, "198.51.100.8"); err != nil {
			t.Fatalf("after cancel: %v", err)
		}
	}
	// RetryAfter says when the oldest event leaves the window.
	now = now.Add(40 * time.Minute)
	_, err = l.Reserve(ctx, "198.51.100.7")
	le, is := ratelimit.IsLimited(err)
	if !is || le.RetryAfter != 20*time.Minute {
		t.Fatalf("Reserve at limit = %v, want a LimitedError with RetryAfter 20m", err)
	}
	now = now.Add(20 * time.Minute)
	if _, err := l.Reserve(ctx, "198.51.100.7"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Limit 0 is off.
	off := ratelimit.New(pool, "off", 0, time.Hour)
	for range 5 {
		if _, err := off.Reserve(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
}
