package auth

import (
	"testing"
	"time"
)

func TestLockout(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 10, 30, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	window := 15 * time.Minute
	for _, tt := range []struct {
		name     string
		failures []time.Time // newest first
		max      int
		want     time.Duration
	}{
		{"None", nil, 5, 0},
		{"BelowLimit", []time.Time{ago(1 * time.Minute), ago(2 * time.Minute), ago(3 * time.Minute), ago(4 * time.Minute)}, 5, 0},
		// The 5th newest failure was 10 minutes ago: 5 more to wait.
		{"AtLimit", []time.Time{ago(1 * time.Minute), ago(2 * time.Minute), ago(3 * time.Minute), ago(4 * time.Minute), ago(10 * time.Minute)}, 5, 5 * time.Minute},
		{"LeftWindow", []time.Time{ago(1 * time.Minute), ago(15 * time.Minute)}, 2, 0},
		{"Disabled", []time.Time{ago(time.Second)}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := lockout(tt.failures, tt.max, window, now); got != tt.want {
				t.Errorf("lockout = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 10, 30, 12, 0, 0, 0, time.UTC)
	fails := func(n int, newest time.Duration) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = now.Add(-newest - time.Duration(i)*time.Second)
		}
		return out
	}
	base, maxDelay := 30*time.Second, 15*time.Minute
	for _, tt := range []struct {
		name     string
		failures []time.Time
		want     time.Duration
	}{
		{"None", nil, 0},
		{"Free", fails(3, 0), 0},
		{"FirstDelay", fails(4, 0), 30 * time.Second},
		{"Doubles", fails(5, 0), time.Minute},
		{"DoublesAgain", fails(6, 0), 2 * time.Minute},
		{"Capped", fails(40, 0), maxDelay},
		{"PartlyWaited", fails(5, 20*time.Second), 40 * time.Second},
		{"Waited", fails(4, time.Minute), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := backoff(tt.failures, 3, base, maxDelay, now); got != tt.want {
				t.Errorf("backoff = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestThrottledError_Minutes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		wait time.Duration
		want int
	}{
		{time.Second, 1},
		{time.Minute, 1},
		{time.Minute + time.Second, 2},
		{14*time.Minute + 59*time.Second, 15},
	} {
		if got := (&ThrottledError{Wait: tt.wait}).Minutes(); got != tt.want {
			t.Errorf("Minutes(%v) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}
