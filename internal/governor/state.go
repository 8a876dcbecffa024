package governor

import (
	"math"
	"time"
)

// Params shape the governor's arithmetic. The zero value of a field takes
// its default (see withDefaults).
type Params struct {
	// StartRate is the first rate, in calls per second, of an organization
	// the governor knows nothing about yet (default 50). Afterwards it
	// starts from the rate kept in its store.
	StartRate float64
	// MinRate is the floor of the rate (default 1).
	MinRate float64
	// MaxRate caps the rate (OPENAI_MAX_RPS); 0 means no cap of ours.
	MaxRate float64
	// Horizon is how far ahead slots may be reserved (default 200 ms). It
	// bounds how long a call waits behind the slots other processes
	// reserved, and how many slots an idle process may leave unused.
	Horizon time.Duration
	// Backoff is the share of the rate a refusal takes off (default 0.05).
	Backoff float64
	// MaxCut bounds any one cut, however far the accepted calls fell
	// short of the rate (default 0.4): never "halve on a 429".
	MaxCut float64
	// CutWindow is how long after a cut further refusals count as the
	// same burst (default 1 s): the calls already in flight when OpenAI
	// first refused would otherwise cut the rate again and again.
	CutWindow time.Duration
	// SlowStart is the rate's growth per second while no limit is known
	// (default 0.3: 30 % a second).
	SlowStart float64
	// Recover is the growth per second back up to RecoverTo × the learned
	// limit after a cut (default 0.2).
	Recover float64
	// RecoverTo is the share of the learned limit the rate recovers to
	// quickly (default 0.98), and holds; above it the rate only probes.
	// The 2 % below the limit absorb most of the calls that bunch on their
	// way (a 20 ms bunch at 100 calls/s), which a limiter with fixed
	// windows would otherwise refuse.
	RecoverTo float64
	// Return is the growth per second from RecoverTo × the limit up to
	// RecoverTo × UpperLimit (default 0.05): after a cut on several
	// refusals, the rate climbs back to what bounds the limit from above
	// faster than a probe would. Measured cold backfills whose cut
	// read 89 where the limit was 100 spent 15 s of a 20 s run climbing
	// back at the probe's 1 % a second.
	Return float64
	// Probe is the growth per second from RecoverTo × the limit on
	// (default 0.01): slow enough that overshooting the limit costs a
	// handful of refusals, fast enough to find a limit that was raised.
	Probe float64
	// ProbeAfter is how long the rate holds at RecoverTo × the limit
	// after a cut, or after the schedule was idle, before it probes above
	// (default 5 s). A probe finds the limit by being refused: made on
	// every resumption, it would cost refusals each time a backfill
	// starts; held, it costs them once per calm spell.
	ProbeAfter time.Duration
	// Headroom is the share of an x-ratelimit limit the rate may reach
	// (default 0.98).
	Headroom float64
}

// hardMaxRate bounds the rate when nothing else does.
const hardMaxRate = 10_000

func (p Params) withDefaults() Params {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&p.StartRate, 50)
	def(&p.MinRate, 1)
	def(&p.Backoff, 0.05)
	def(&p.MaxCut, 0.4)
	def(&p.SlowStart, 0.3)
	def(&p.Recover, 0.2)
	def(&p.RecoverTo, 0.98)
	def(&p.Return, 0.05)
	def(&p.Probe, 0.01)
	def(&p.Headroom, 0.98)
	if p.Horizon <= 0 {
		p.Horizon = 200 * time.Millisecond
	}
	if p.CutWindow <= 0 {
		p.CutWindow = time.Second
	}
	if p.ProbeAfter <= 0 {
		p.ProbeAfter = 5 * time.Second
	}
	if p.MaxRate > 0 {
		p.StartRate = min(p.StartRate, p.MaxRate)
	}
	return p
}

// State is an organization's shared governor state. Its methods are the
// whole of the governor's arithmetic: pure functions of the state, the time
// given (the store's clock, which every process shares) and Params.
//
// Calls are spaced by reserving time slots one after the other at Rate
// (a virtual schedule whose end is NextSlot), never more than a Horizon
// ahead. The rate
//
//   - grows while the schedule is full (callers keep it busy): quickly
//     while no limit is known (SlowStart) and after a cut (Recover, up to
//     RecoverTo × Limit), then towards the bound a cut on several
//     refusals left (Return, up to RecoverTo × UpperLimit), slowly above
//     that (Probe),
//     and only after ProbeAfter of calm (ProbeFrom);
//   - falls back to RecoverTo × Limit from a probe as soon as callers
//     leave the schedule not full, and resumes from there;
//   - is cut on a refusal (429) by Backoff, or down to just under the rate
//     OpenAI was seen to accept over the last second when that is lower,
//     never by more than MaxCut, and at most once per CutWindow;
//   - never exceeds MaxRate, nor Headroom × an x-ratelimit limit.
type State struct {
	Rate float64
	// Limit is the learned limit: the calls per second OpenAI accepted
	// when it last refused one (raised when the rate probes above it
	// without refusals). 0 until known.
	Limit float64
	// HeaderLimit is the limit OpenAI's x-ratelimit-limit-requests header
	// announced, in calls per second; 0 when it never sent one.
	HeaderLimit float64
	// UpperLimit bounds the limit from above after a cut on several
	// refusals: the higher of the cut's two estimates, or the lower of
	// the limit known before and the rate refused (0 after other cuts).
	UpperLimit float64
	NextSlot   time.Time
	GrownAt    time.Time
	CutAt      time.Time
	// ProbeFrom is when the rate may next probe above RecoverTo × Limit.
	ProbeFrom time.Time
	// BucketAt starts the current second of answers: BucketOK counts the
	// calls OpenAI accepted, BucketRefused those it refused; PrevOK and
	// PrevRefused are the second before.
	BucketAt      time.Time
	BucketOK      int
	BucketRefused int
	PrevOK        int
	PrevRefused   int
	// Refusals counts refusals, for the record.
	Refusals int64
}

// NewState is the state of an organization never seen before.
func NewState(p Params) State { return State{Rate: p.withDefaults().StartRate} }

// ceiling is the highest rate allowed now.
func (s *State) ceiling(p Params) float64 {
	c := float64(hardMaxRate)
	if p.MaxRate > 0 {
		c = min(c, p.MaxRate)
	}
	if s.HeaderLimit > 0 {
		c = min(c, s.HeaderLimit*p.Headroom)
	}
	return c
}

func (s *State) clamp(p Params) {
	if math.IsNaN(s.Rate) || s.Rate <= 0 {
		s.Rate = p.StartRate
	}
	s.Rate = max(p.MinRate, min(s.Rate, s.ceiling(p)))
}

// Reserve reserves up to want consecutive slots from now on and returns the
// first one's time and how many it got; the slots are 1/s.Rate apart (read
// Rate after the call). saturated says that the caller used every slot it
// had and wants more than it holds: demand, not the caller's own pace, is
// what the rate holds back. The rate grows first when the caller is
// saturated and the schedule is full. n is 0 when the schedule is full
// beyond the horizon: try again at start - p.Horizon.
func (s *State) Reserve(now time.Time, want int, saturated bool, p Params) (start time.Time, n int) {
	p = p.withDefaults()
	// A schedule that reaches now has been kept busy.
	full := !s.NextSlot.Before(now)
	if !full && s.Limit > 0 && s.Rate > p.RecoverTo*s.Limit {
		// Callers want less than the rate (or nobody called for a while):
		// a probe above the learnt limit is over. Demand that comes back
		// resumes where calls are known to be accepted, not where the
		// probe had reached, and probes again after ProbeAfter.
		s.Rate = p.RecoverTo * s.Limit
		s.ProbeFrom = later(s.ProbeFrom, now.Add(p.ProbeAfter))
	}
	switch {
	case full && saturated:
		s.grow(now, p)
	case !full:
		// Nobody keeps the schedule busy: no growth for the idle time.
		s.GrownAt = now
	default:
		// Busy, but this caller left slots unused: others may be
		// growing the rate; this one says nothing.
	}
	s.clamp(p)
	start = now
	if s.NextSlot.After(now) {
		start = s.NextSlot
	}
	// Slots start, start+1/Rate, … up to the horizon.
	room := now.Add(p.Horizon).Sub(start).Seconds()
	if room < 0 || want <= 0 {
		return start, 0
	}
	n = min(want, 1+int(math.Floor(room*s.Rate+1e-9)))
	s.NextSlot = start.Add(time.Duration(float64(n) / s.Rate * float64(time.Second)))
	return start, n
}

// grow raises the rate for the time since it last grew.
func (s *State) grow(now time.Time, p Params) {
	dt := now.Sub(s.GrownAt).Seconds()
	s.GrownAt = now
	// One step is at most a second's worth.
	dt = min(dt, 1)
	if dt <= 0 || now.Sub(s.CutAt) < p.CutWindow {
		return
	}
	switch target := p.RecoverTo * s.Limit; {
	case s.Limit == 0:
		s.Rate *= 1 + p.SlowStart*dt
	case s.Rate < target:
		s.Rate = min(target, s.Rate*(1+p.Recover*dt))
	case s.Rate < p.RecoverTo*s.UpperLimit:
		// Under the bound the last cut left: towards it, not at the
		// probe's pace, and the limit with the rate (accepted so far).
		s.Rate = min(p.RecoverTo*s.UpperLimit, s.Rate*(1+p.Return*dt))
		s.Limit = max(s.Limit, s.Rate)
	case now.Before(s.ProbeFrom):
		// Hold: at RecoverTo × Limit until a calm spell has passed.
	default:
		if s.Rate >= s.Limit {
			// Accepted at the limit learnt, with callers wanting more:
			// the limit may be higher. It rises as slowly as the probe,
			// which stays within probeAbove of it, so that a limit that
			// did not move costs a refusal or two, not a burst.
			s.Limit = min(s.Limit*(1+p.Probe*dt), s.ceiling(p))
		}
		s.Rate = min(s.Rate*(1+p.Probe*dt), s.Limit*probeAbove)
	}
}

// probeAbove is how far above the learnt limit the rate may probe.
const probeAbove = 1.02

// loneRefusal is how far under the refused rate a lone refusal puts a
// known limit.
const loneRefusal = 0.01

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// roll moves the accepted-calls buckets on to now.
func (s *State) roll(now time.Time) {
	el := now.Sub(s.BucketAt)
	switch {
	case el < time.Second:
		return
	case el < 2*time.Second:
		s.PrevOK, s.PrevRefused = s.BucketOK, s.BucketRefused
		s.BucketAt = s.BucketAt.Add(time.Second)
	default:
		s.PrevOK, s.PrevRefused = 0, 0
		s.BucketAt = now
	}
	s.BucketOK, s.BucketRefused = 0, 0
	s.roll(now)
}

// Accepted counts n calls OpenAI accepted, reported at now.
func (s *State) Accepted(now time.Time, n int) {
	s.roll(now)
	s.BucketOK += n
}

// AcceptedRate estimates the calls OpenAI accepted over the second before
// now: the current bucket plus the part of the previous one still inside
// the last second.
func (s *State) AcceptedRate(now time.Time) float64 {
	s.roll(now)
	frac := now.Sub(s.BucketAt).Seconds()
	return float64(s.BucketOK) + float64(s.PrevOK)*(1-frac)
}

// refusedRate is AcceptedRate for refusals.
func (s *State) refusedRate(now time.Time) float64 {
	s.roll(now)
	frac := now.Sub(s.BucketAt).Seconds()
	return float64(s.BucketRefused) + float64(s.PrevRefused)*(1-frac)
}

// Refused records a call OpenAI refused (429) at now and cuts the rate
// unless it was cut within the last CutWindow. It reports whether it cut.
func (s *State) Refused(now time.Time, p Params) bool {
	p = p.withDefaults()
	s.Refusals++
	s.roll(now)
	s.BucketRefused++
	if now.Sub(s.CutAt) < p.CutWindow {
		return false
	}
	// What OpenAI allows, from the answers of the last second: the count
	// it accepted, when callers used at least half the rate (otherwise it
	// measures them, not the limit), and the rate times the share it
	// accepted, once a few refusals make that share mean something
	// (answers come back as late for accepted calls as for refused ones,
	// so the share holds while the rate is still ramping up). When both
	// tell and the share is lower, their mean (see below).
	//
	// Once a limit is known, a lone refusal is weak evidence: a limiter
	// with fixed windows refuses a bunch of calls that straddles its
	// windows even at a rate it accepts, and the second before may have
	// held fewer accepted calls for reasons of our own (a cut, callers
	// between batches). Then the rate is cut gently and the learnt limit
	// goes to just under the rate that was refused (a probe that went a
	// little too far), never more than Backoff below what it was; a limit
	// that really fell shows as several refusals and is followed at once.
	accepted, refused := s.AcceptedRate(now), s.refusedRate(now)
	strong := refused >= 3
	est := 0.0
	if accepted >= 0.5*s.Rate && (s.Limit == 0 || strong) {
		est = accepted
	}
	s.UpperLimit = 0
	if strong {
		// The count accepted tends high behind fixed windows, the share
		// low while refusals of calls sent at an earlier, higher rate are
		// still coming in: between the two, their mean.
		if share := s.Rate * accepted / (accepted + refused); est == 0 {
			est = share
		} else {
			// Which was right shows later: the rate climbs back to the
			// higher (Return) unless OpenAI refuses again on the way.
			s.UpperLimit = min(max(est, share), s.Rate)
			if share < est {
				est = (est + share) / 2
			}
		}
		// Several refusals at a known limit: the limit now lies under
		// both the limit accepted before and the rate refused, but
		// maybe not by as much as this second says. Behind fixed
		// windows, a second that follows a faster one holds the faster
		// one's refusals, and fewer accepted calls than the limit
		// allows (a measured cold backfill read 89 where the limit was
		// 100). So the rate climbs back towards the lower of the two
		// bounds; a limit that really fell stops it at its first
		// refusals, with a tighter bound each time.
		if s.Limit > 0 {
			s.UpperLimit = max(s.UpperLimit, min(s.Limit, s.Rate))
		}
	}
	next := s.Rate * (1 - p.Backoff)
	if est > 0 {
		next = max(min(next, est*(1-p.Backoff/2)), s.Rate*(1-p.MaxCut))
	}
	limit := max(est, next)
	if !strong && s.Limit > 0 {
		limit = max(min(s.Limit, s.Rate)*(1-loneRefusal), s.Limit*(1-p.Backoff))
	}
	s.Limit = limit
	s.Rate, s.CutAt = next, now
	s.ProbeFrom = now.Add(p.ProbeAfter)
	s.clamp(p)
	return true
}

// Announced records the limit OpenAI's headers announced, in calls per
// second (x-ratelimit-limit-requests is per minute: divide by 60).
func (s *State) Announced(perSecond float64, p Params) {
	p = p.withDefaults()
	if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return
	}
	s.HeaderLimit = perSecond
	if s.Limit == 0 || s.Limit > perSecond {
		s.Limit = perSecond
	}
	s.clamp(p)
}
