package auth

import (
	"fmt"
	"time"
)

// Throttle slows password guessing without letting anyone lock a staff
// member out. Failed logins count per (email, client address) pair and
// per address, never per email alone: five wrong passwords from one
// address must not make the right password fail from another.
//
//   - Per pair: the first FreePerPair failures within Window cost nothing;
//     each further one doubles the wait before the next attempt from that
//     address for that email, from BaseDelay up to MaxDelay, counted from
//     the newest failure.
//   - Per address: once an address has failed MaxPerAddr times within
//     Window (any emails), it is refused until the oldest of those leaves
//     the window.
type Throttle struct {
	Window      time.Duration
	FreePerPair int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	MaxPerAddr  int
}

// DefaultThrottle: 3 free failures per email and address, then waits of
// 30s, 1m, 2m, … up to 15m; 20 failures per address in 15 minutes.
var DefaultThrottle = Throttle{Window: 15 * time.Minute, FreePerPair: 3, BaseDelay: 30 * time.Second, MaxDelay: 15 * time.Minute, MaxPerAddr: 20}

// maxPairRows bounds how many failures of a pair are read: enough for the
// delay to reach any sensible MaxDelay.
const maxPairRows = 64

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

// Seconds is Wait in whole seconds, rounded up.
func (e *ThrottledError) Seconds() int {
	return int((e.Wait + time.Second - 1) / time.Second)
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

// backoff returns how long the caller must wait, given a pair's failures
// (newest first, all within the window): nothing for the first free
// ones, then base doubled for each further failure, at most maxDelay,
// counted from the newest.
func backoff(failures []time.Time, free int, base, maxDelay time.Duration, now time.Time) time.Duration {
	extra := len(failures) - free
	if extra <= 0 || base <= 0 {
		return 0
	}
	delay := base
	for range extra - 1 {
		if delay >= maxDelay {
			break
		}
		delay *= 2
	}
	delay = min(delay, maxDelay)
	wait := failures[0].Add(delay).Sub(now)
	if wait < 0 {
		return 0
	}
	return wait
}
