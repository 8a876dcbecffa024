package governor

import (
	"context"
	"sync"
	"time"
)

// Store keeps an organization's State where every process using the
// organization sees it.
type Store interface {
	// Update loads the state, lets fn change it and saves it, with no other
	// Update of the same state in between. now is the store's clock: the
	// one every process sharing the state goes by.
	Update(ctx context.Context, fn func(s *State, now time.Time)) error
}

// MemoryStore keeps the state in this process: one process, or tests.
type MemoryStore struct {
	clock Clock
	mu    sync.Mutex
	state State
}

// NewMemoryStore returns a store whose state starts as NewState(p), going
// by clock (the real one if nil).
func NewMemoryStore(clock Clock, p Params) *MemoryStore {
	if clock == nil {
		clock = realClock{}
	}
	return &MemoryStore{clock: clock, state: NewState(p)}
}

// Update implements Store.
func (m *MemoryStore) Update(_ context.Context, fn func(s *State, now time.Time)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(&m.state, m.clock.Now())
	return nil
}

// State returns a copy of the state.
func (m *MemoryStore) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Clock is the governor's time: real, or a fake in tests.
type Clock interface {
	Now() time.Time
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
