package governor

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: time moves only when Advance is called.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock on by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// eventually polls cond, advancing the fake clock by step between polls,
// for up to n steps. The governor's goroutine runs on real time, so each
// poll also yields to it.
func eventually(t *testing.T, c *fakeClock, step time.Duration, n int, cond func() bool) {
	t.Helper()
	for range n {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
		c.Advance(step)
	}
	if !cond() {
		t.Fatal("condition not met")
	}
}

func TestGovernor_InteractiveFirst(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// 10 calls a second, and a horizon of one slot, so that each slot is
	// handed out on its own.
	p := Params{StartRate: 10, MaxRate: 10, Horizon: 100 * time.Millisecond}
	store := NewMemoryStore(clock, p)
	g := New(store, Options{Params: p, Clock: clock})
	defer g.Close()

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(name string, prio Priority) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := g.Acquire(WithCall(context.Background(), name, prio))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			done(http.StatusOK, nil)
		}()
	}
	queued := func(n int) func() bool {
		return func() bool { st := g.Status(); return st.Waiting[Interactive]+st.Waiting[Background] == n }
	}
	// Five background calls queue up; the first one gets the slot due now.
	for _, name := range []string{"b1", "b2", "b3", "b4", "b5"} {
		start(name, Background)
	}
	eventually(t, clock, 0, 1000, queued(4))
	// A signup arrives behind them.
	start("signup", Interactive)
	eventually(t, clock, 0, 1000, queued(5))
	eventually(t, clock, 10*time.Millisecond, 2000, queued(0))
	wg.Wait()
	if len(order) != 6 || order[1] != "signup" {
		t.Errorf("order of calls = %v, want the signup second (right after the call already granted)", order)
	}
}

func TestGovernor_Paces(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := Params{StartRate: 20, MaxRate: 20}
	g := New(NewMemoryStore(clock, p), Options{Params: p, Clock: clock})
	defer g.Close()

	const calls = 40
	var mu sync.Mutex
	var times []time.Time
	for range calls {
		go func() {
			done, err := g.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			times = append(times, clock.Now())
			mu.Unlock()
			done(http.StatusOK, nil)
		}()
	}
	eventually(t, clock, 5*time.Millisecond, 20000, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(times) == calls
	})
	var first, last time.Time
	for _, at := range times {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	// 40 calls at 20 a second: 39 intervals of 50 ms.
	if got := last.Sub(first); got < 1900*time.Millisecond {
		t.Errorf("40 calls at 20/s spread over %v, want at least 1.9 s", got)
	}
}

func TestGovernor_RefusalSlowsButDoesNotStall(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := Params{StartRate: 100}
	store := NewMemoryStore(clock, p)
	g := New(store, Options{Params: p, Clock: clock})
	defer g.Close()

	done, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Retry-After", "20")
	done(http.StatusTooManyRequests, h)
	if r := store.State().Rate; r < 94 || r > 96 {
		t.Errorf("rate after one 429 = %.1f, want 95", r)
	}
	// The next call goes in the next slot, not 20 s later.
	got := make(chan error, 1)
	go func() {
		done, err := g.Acquire(WithCall(context.Background(), CallerJob, Background))
		if err == nil {
			done(http.StatusOK, nil)
		}
		got <- err
	}()
	var waited time.Duration
	eventually(t, clock, 5*time.Millisecond, 1000, func() bool {
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			return true
		default:
			waited += 5 * time.Millisecond
			return false
		}
	})
	if waited > 500*time.Millisecond {
		t.Errorf("the next call waited %v of fake time after a 429 with Retry-After: 20, want well under a second", waited)
	}
}

func TestGovernor_Headers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := Params{StartRate: 50}
	store := NewMemoryStore(clock, p)
	g := New(store, Options{Params: p, Clock: clock})
	defer g.Close()
	done, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("X-Ratelimit-Limit-Requests", "1200") // a minute: 20/s
	done(http.StatusOK, h)
	// The limit is taken in with the next reservation.
	next := make(chan struct{})
	go func() {
		if d, err := g.Acquire(context.Background()); err == nil {
			d(http.StatusOK, nil)
		}
		close(next)
	}()
	eventually(t, clock, 10*time.Millisecond, 1000, func() bool {
		select {
		case <-next:
			return true
		default:
			return false
		}
	})
	st := store.State()
	if st.HeaderLimit != 20 || st.Rate > 19.6 {
		t.Errorf("after x-ratelimit-limit-requests: 1200: header limit %v, rate %v; want 20 and at most 19.6", st.HeaderLimit, st.Rate)
	}
}

func TestGovernor_Cancel(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := Params{StartRate: 1, MaxRate: 1, Horizon: 100 * time.Millisecond}
	g := New(NewMemoryStore(clock, p), Options{Params: p, Clock: clock})
	// The first call takes the only slot of the coming second.
	if _, err := g.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := g.Acquire(ctx); errc <- err }()
	eventually(t, clock, 0, 1000, func() bool { return g.Status().Waiting[Background] == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait returned %v, want context.Canceled", err)
	}
	if n := g.Status().Waiting[Background]; n != 0 {
		t.Errorf("%d calls still queued after cancelling, want 0", n)
	}
	go func() { _, err := g.Acquire(context.Background()); errc <- err }()
	eventually(t, clock, 0, 1000, func() bool { return g.Status().Waiting[Background] == 1 })
	g.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("wait on a closed governor returned %v, want ErrClosed", err)
	}
}

func TestCallOf(t *testing.T) {
	t.Parallel()
	if c, p := CallOf(context.Background()); c != CallerOther || p != Background {
		t.Errorf("CallOf(no call) = %q, %v; want other, background", c, p)
	}
	ctx := WithCall(context.Background(), CallerSignup, Interactive)
	if c, p := CallOf(ctx); c != CallerSignup || p != Interactive {
		t.Errorf("CallOf = %q, %v; want signup, interactive", c, p)
	}
	if _, p := CallOf(WithCall(ctx, "x", Priority(7))); p != Background {
		t.Errorf("an unknown priority became %v, want background", p)
	}
}

// Code that runs both in a job and on someone's request labels its calls
// only when the request did not.
func TestWithDefaultCall(t *testing.T) {
	t.Parallel()
	if c, p := CallOf(WithDefaultCall(context.Background(), CallerKeys, Background)); c != CallerKeys || p != Background {
		t.Errorf("CallOf = %q, %v; want keys, background", c, p)
	}
	staff := WithCall(context.Background(), CallerKeys, Interactive)
	if c, p := CallOf(WithDefaultCall(staff, CallerPolicy, Background)); c != CallerKeys || p != Interactive {
		t.Errorf("CallOf = %q, %v; want the request's keys, interactive", c, p)
	}
}
