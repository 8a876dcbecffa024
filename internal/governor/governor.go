// Package governor paces every call Provisioner makes to OpenAI, in every
// process, so that together they stay within the organization's rate limit
// and run close to it. It knows OpenAI only by its answers (status code,
// x-ratelimit headers), never by what a call was for.
//
// Rules:
//
//   - One Governor per organization (per admin key) per process, shared by
//     every caller; the OpenAI client cannot be built without one
//     (internal/openai), so no call bypasses it.
//   - The processes share one State in a Store (PostgresStore: one row per
//     organization). A process reserves a batch of consecutive time slots
//     at the shared rate, never more than Params.Horizon (200 ms) ahead,
//     and hands them to its waiting callers; the next reservation, by any
//     process, starts where the last one ended, so the calls of all
//     processes together are spaced at the rate.
//   - Within a process, Interactive callers take the next slot before any
//     Background caller. Across processes an interactive call waits at
//     most a horizon behind the slots others reserved.
//   - The rate adapts (see State): it grows while callers it holds back
//     keep the schedule full, is cut gently on a 429 (by 5 %, or to just
//     under what OpenAI accepted in the last second, never by more than
//     40 %, once per burst), holds at 98 % of the limit it learnt, climbs
//     back faster after a cut that may have read the limit too low,
//     probes above it only after 5 s without a refusal, resumes after
//     idle time at those 98 % (not where a probe had reached), follows an
//     x-ratelimit-limit-requests header and never exceeds Params.MaxRate.
//     A refusal never holds the other callers back for its Retry-After:
//     only the refused call waits (its caller decides when to try again).
//   - A slot this process could only hand out more than 20 ms late is
//     dropped, not spent in a burst with the next ones. Reservations go to
//     the store beside the loop that hands out the slots, so a slow round
//     trip to the database delays no slot already in hand.
//   - The state outlives the processes, so a restart begins at the rate
//     that last worked. If the store cannot be reached, the process goes on
//     alone at the last rate it knew, and says so in its log.
package governor

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Wait once the governor is closed.
var ErrClosed = errors.New("governor: closed")

// Options configure a Governor.
type Options struct {
	Params Params
	// Clock is the local clock slots are waited for on; the real one if nil.
	Clock  Clock
	Logger *slog.Logger
	// OnWait, if set, is told how long each granted call waited.
	OnWait func(p Priority, d time.Duration)
	// OnAnswer, if set, is told the status of every answer (0: none came).
	OnAnswer func(caller string, status int)
}

// Status is what a governor knows of the shared state, for metrics and the
// dashboard.
type Status struct {
	// Rate is the calls per second allowed now; Limit the learned limit
	// (0 until OpenAI refused a call or announced its limit).
	Rate, Limit float64
	// MaxRate is OPENAI_MAX_RPS (0: none).
	MaxRate float64
	// Waiting is how many calls of this process wait for a slot, by priority.
	Waiting [numPriorities]int
	// Shared is false while the store cannot be reached.
	Shared bool
}

// Governor paces the calls of one process to one organization. Create it
// with New and Close it when done.
type Governor struct {
	store Store
	clock Clock
	p     Params
	o     Options
	log   *slog.Logger

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once

	// accepted counts answers not yet reported to the store; announced is
	// the last x-ratelimit limit seen (calls/s), reported with the next
	// reservation.
	accepted  atomic.Int64
	announced atomic.Value // float64

	mu     sync.Mutex
	queues [numPriorities][]*waiter
	slots  []time.Time // granted slots, on the local clock
	// unused counts the slots dropped since the last reservation (nobody
	// waited, or this process was too busy to hand them out in time): the
	// rate was not what held this process's calls back.
	unused int
	// reserving is true while a reservation is out to the store: it runs
	// beside the loop, which goes on handing out the slots in hand, so
	// that a slow round trip to the database does not hold them back and
	// release them in a burst. retryAt is when a reservation that got
	// nothing may be tried again.
	reserving bool
	retryAt   time.Time
	status    Status
	local     State     // the last state seen, for going on alone
	warnedAt  time.Time // last "store unreachable" warning
}

type waiter struct {
	ready   chan struct{}
	granted bool
}

// New returns a governor over store and starts it.
func New(store Store, o Options) *Governor {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := o.Params.withDefaults()
	g := &Governor{
		store: store, clock: o.Clock, p: p, o: o, log: o.Logger,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		local: NewState(p),
	}
	g.status = Status{Rate: g.local.Rate, MaxRate: p.MaxRate, Shared: true}
	go g.loop()
	return g
}

// NewLocal returns a governor whose state lives in this process only: for
// tests and tools that run alone.
func NewLocal(o Options) *Governor { return New(NewMemoryStore(o.Clock, o.Params), o) }

// Close stops the governor; waiting calls get ErrClosed.
func (g *Governor) Close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}

// Status returns what the governor knows now.
func (g *Governor) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.status
	for p := range st.Waiting {
		st.Waiting[p] = len(g.queues[p])
	}
	return st
}

// Acquire waits for a slot for one request, with the caller and priority
// ctx carries (see WithCall), and returns done, to be called with the
// answer's status (0 if none came) and headers. Returns ctx's error if it
// ends first, or ErrClosed.
func (g *Governor) Acquire(ctx context.Context) (done func(status int, h http.Header), err error) {
	caller, prio := CallOf(ctx)
	if err := g.wait(ctx, prio); err != nil {
		return nil, err
	}
	var once sync.Once
	return func(status int, h http.Header) {
		once.Do(func() { g.answered(caller, status, h) })
	}, nil
}

// wait blocks until a slot is granted to a caller of priority p.
func (g *Governor) wait(ctx context.Context, p Priority) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := g.clock.Now()
	w := &waiter{ready: make(chan struct{})}
	g.mu.Lock()
	g.queues[p] = append(g.queues[p], w)
	g.mu.Unlock()
	g.poke()
	select {
	case <-w.ready:
	case <-ctx.Done():
		if !g.forget(p, w) {
			break // granted meanwhile: let the call go
		}
		return ctx.Err()
	case <-g.stop:
		return ErrClosed
	}
	if g.o.OnWait != nil {
		g.o.OnWait(p, g.clock.Now().Sub(start))
	}
	return nil
}

// forget takes a waiter that gave up out of its queue; false if it had been
// granted a slot already.
func (g *Governor) forget(p Priority, w *waiter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		return false
	}
	q := g.queues[p]
	for i, x := range q {
		if x == w {
			g.queues[p] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	return true
}

func (g *Governor) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// answered learns from an answer.
func (g *Governor) answered(caller string, status int, h http.Header) {
	if g.o.OnAnswer != nil {
		g.o.OnAnswer(caller, status)
	}
	if v, ok := announcedLimit(h); ok {
		g.announced.Store(v)
	}
	switch {
	case status == http.StatusTooManyRequests:
		g.refused()
	case status > 0:
		g.accepted.Add(1)
	}
}

// refused reports a refusal to the store at once: the sooner every process
// slows down, the fewer calls are refused.
func (g *Governor) refused() {
	ok := g.accepted.Swap(0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var st State
	err := g.store.Update(ctx, func(s *State, now time.Time) {
		s.Accepted(now, int(ok))
		if s.Refused(now, g.p) {
			g.log.Info("OpenAI refused a call (429): slowing down",
				slog.Float64("rate", s.Rate), slog.Float64("learned_limit", s.Limit))
		}
		st = *s
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.unreachable(err)
		g.local.Refused(g.clock.Now(), g.p)
		g.status.Rate, g.status.Limit = g.local.Rate, g.local.Limit
		return
	}
	g.seen(st)
}

// announcedLimit reads x-ratelimit-limit-requests, which OpenAI documents
// as requests per minute, as calls per second.
func announcedLimit(h http.Header) (float64, bool) {
	if h == nil {
		return 0, false
	}
	v := strings.TrimSpace(h.Get("X-Ratelimit-Limit-Requests"))
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n / 60, true
}

// seen takes in the shared state after an update; g.mu must be held.
func (g *Governor) seen(st State) {
	g.local = st
	g.status.Rate, g.status.Limit, g.status.Shared = st.Rate, st.Limit, true
}

// unreachable notes a store failure; g.mu must be held.
func (g *Governor) unreachable(err error) {
	g.status.Shared = false
	if now := g.clock.Now(); now.Sub(g.warnedAt) > 10*time.Second {
		g.warnedAt = now
		g.log.Warn("OpenAI governor: shared state unreachable; pacing this process alone at the last rate known",
			slog.Float64("rate", g.local.Rate), slog.Any("error", err))
	}
}

func (g *Governor) waiting() int {
	n := 0
	for _, q := range g.queues {
		n += len(q)
	}
	return n
}

// grantOne gives a slot to the first waiter of the highest priority; g.mu
// must be held.
func (g *Governor) grantOne() {
	for p := range g.queues {
		if q := g.queues[p]; len(q) > 0 {
			w := q[0]
			g.queues[p] = q[1:]
			w.granted = true
			close(w.ready)
			return
		}
	}
}

// slotSlack is how late a slot may be used: one that passed with nobody
// waiting, or that this process was too busy to hand out in time, is
// dropped rather than spent later in a burst with the slots after it.
const slotSlack = 20 * time.Millisecond

// loop hands out slots, reserving more as callers wait.
func (g *Governor) loop() {
	var reservations sync.WaitGroup
	defer close(g.done)
	defer reservations.Wait()
	for {
		g.mu.Lock()
		now := g.clock.Now()
		for len(g.slots) > 0 && !g.slots[0].After(now) {
			late := now.Sub(g.slots[0]) > slotSlack
			if !late && g.waiting() > 0 {
				g.grantOne()
				g.slots = g.slots[1:]
				continue
			}
			if !late {
				break // nobody waits: keep it a moment for the next caller
			}
			// Too late: spent now, it would go out together with the
			// next one. Either nobody wanted it or this process could not
			// keep up; both times the rate is not what holds calls back.
			g.unused++
			g.slots = g.slots[1:]
		}
		waiting, have := g.waiting(), len(g.slots)
		// Reserve ahead while callers outnumber the slots in hand, before
		// the last one is due, so the schedule has no gap.
		reserve := waiting > have && !g.reserving && !now.Before(g.retryAt) &&
			(have == 0 || g.slots[have-1].Before(now.Add(g.p.Horizon/2)))
		if reserve {
			g.reserving = true
			want := waiting - have
			reservations.Go(func() {
				again := g.reserve(want)
				g.mu.Lock()
				g.reserving = false
				if !again.IsZero() {
					g.retryAt = again
				}
				g.mu.Unlock()
				g.poke()
			})
		}
		var next time.Time
		switch {
		case have > 0:
			next = g.slots[0]
			if !g.slots[0].After(now) { // a kept slot: wait until it expires
				next = g.slots[0].Add(slotSlack)
			}
		case waiting > 0 && !g.reserving:
			next = g.retryAt
		}
		g.mu.Unlock()

		// Without a slot in hand, a reservation out wakes the loop when it
		// is back (poke).
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = g.clock.After(max(next.Sub(now), 0))
		}
		select {
		case <-timer:
		case <-g.wake:
		case <-g.stop:
			return
		}
	}
}

// reserve asks the store for up to want slots and adds them; it returns
// when to try again if none came.
func (g *Governor) reserve(want int) (again time.Time) {
	ok := g.accepted.Swap(0)
	announced, _ := g.announced.Swap(float64(0)).(float64)
	g.mu.Lock()
	saturated := g.unused == 0
	g.unused = 0
	g.mu.Unlock()
	var (
		st    State
		delay time.Duration
		n     int
		// local is this process's clock when the store's clock read now:
		// fn runs as soon as the row is read, before the write and the
		// commit, so the slots are not shifted by their round trips.
		local time.Time
	)
	apply := func(s *State, now time.Time) {
		local = g.clock.Now()
		s.Accepted(now, int(ok))
		if announced > 0 {
			s.Announced(announced, g.p)
		}
		start, got := s.Reserve(now, want, saturated, g.p)
		delay, n, st = start.Sub(now), got, *s
		if got == 0 {
			delay = start.Sub(now.Add(g.p.Horizon))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := g.store.Update(ctx, apply)
	cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.unreachable(err)
		apply(&g.local, g.clock.Now())
		g.status.Rate, g.status.Limit = g.local.Rate, g.local.Limit
	} else {
		g.seen(st)
	}
	if n == 0 {
		return local.Add(max(delay, time.Millisecond))
	}
	interval := time.Duration(float64(time.Second) / st.Rate)
	first := local.Add(delay)
	if len(g.slots) > 0 && first.Before(g.slots[len(g.slots)-1]) {
		first = g.slots[len(g.slots)-1].Add(interval)
	}
	for i := range n {
		g.slots = append(g.slots, first.Add(time.Duration(i)*interval))
	}
	return time.Time{}
}
