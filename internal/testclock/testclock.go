// Package testclock is the settable time source that tests hand to
// services taking a Now func, so a test moves time instead of sleeping.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time source that a test moves by hand; it is safe for
// concurrent use by the code under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
