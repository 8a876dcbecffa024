package auth

import (
	"fmt"
	"time"
)

// Throttle limits failed logins: once an email, or a client address, has
// failed MaxPerEmail (or MaxPerAddr) times within Window, further attempts
// are refused without checking the password until the oldest of those
// failures leaves the window.
type Throttle struct {
	Window      time.Duration
	MaxPerEmail int
	MaxPerAddr  int
}

// DefaultThrottle allows 5 failures per account and 20 per address in 15
// minutes.
var DefaultThrottle = Throttle{Window: 15 * time.Minute, MaxPerEmail: 5, MaxPerAddr: 20}

// ThrottledError is returned by Login while an account or address is
// locked out. Wait is how long until the next attempt is allowed.
type ThrottledError struct {
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many failed logins; retry in %s", e.Wait.Round(time.Second))
}

// Minutes is Wait in whole minutes, rounded up, for people to read.
func (e *ThrottledError) Minutes() int {
	return int((e.Wait + time.Minute - 1) / time.Minute)
}

// lockout returns how long the caller must wait, given the most recent
// failures (newest first, all within the window) and the limit: zero while
// fewer than max failures are in the window, else until the max-th newest
// leaves it.
func lockout(failures []time.Time, max int, window time.Duration, now time.Time) time.Duration {
	if max <= 0 || len(failures) < max {
		return 0
	}
	wait := failures[max-1].Add(window).Sub(now)
	if wait < 0 {
		return 0
	}
	return wait
}
