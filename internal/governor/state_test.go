package governor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// busy reserves slots every step for d, keeping the schedule full, and
// returns the time reached.
func busy(s *State, p Params, from time.Time, d, step time.Duration) time.Time {
	now := from
	for end := from.Add(d); now.Before(end); now = now.Add(step) {
		s.Reserve(now, 1000, true, p)
	}
	return now
}

func TestState_Reserve(t *testing.T) {
	t.Parallel()
	p := Params{StartRate: 100}
	s := NewState(p)
	start, n := s.Reserve(t0, 1000, true, p)
	if !start.Equal(t0) {
		t.Errorf("first slot at %v, want now (%v)", start, t0)
	}
	// Up to 200 ms ahead at 100/s: 21 slots (0, 10, …, 200 ms), and
	// nothing more until time passes.
	if n != 21 {
		t.Errorf("reserved %d slots, want 21 (a horizon's worth)", n)
	}
	if _, n := s.Reserve(t0, 1000, true, p); n != 0 {
		t.Errorf("reserved %d more slots at once, want 0", n)
	}
	start, n = s.Reserve(t0.Add(50*time.Millisecond), 3, true, p)
	if want := t0.Add(210 * time.Millisecond); start.Sub(want).Abs() > time.Millisecond || n != 3 {
		t.Errorf("next reservation = %d slots from %v, want 3 from %v (where the last ended)", n, start, want)
	}
}

func TestState_SlowStart(t *testing.T) {
	t.Parallel()
	p := Params{StartRate: 50}
	s := NewState(p)
	busy(&s, p, t0, 2*time.Second, 10*time.Millisecond)
	// 30 % a second, compounded: about 50 × e^0.6 ≈ 91.
	if s.Rate < 85 || s.Rate > 95 {
		t.Errorf("rate after 2 s of full schedule = %.1f, want about 91", s.Rate)
	}

	// A schedule nobody fills does not grow the rate.
	idle := NewState(p)
	for now := t0; now.Before(t0.Add(2 * time.Second)); now = now.Add(500 * time.Millisecond) {
		idle.Reserve(now, 1, true, p)
	}
	if idle.Rate != 50 {
		t.Errorf("rate after 2 s of one call per 500 ms = %.1f, want 50 (no demand, no growth)", idle.Rate)
	}

	// Nor does a full schedule whose callers leave slots unused (their own
	// pace, not the rate, holds them back).
	unsat := NewState(p)
	for now := t0; now.Before(t0.Add(2 * time.Second)); now = now.Add(10 * time.Millisecond) {
		unsat.Reserve(now, 1000, false, p)
	}
	if unsat.Rate != 50 {
		t.Errorf("rate after 2 s of unsaturated callers = %.1f, want 50", unsat.Rate)
	}
}

func TestState_Refused(t *testing.T) {
	t.Parallel()
	p := Params{}
	t.Run("GentleNotHalf", func(t *testing.T) {
		t.Parallel()
		s := State{Rate: 100}
		s.Accepted(t0, 100)
		if !s.Refused(t0.Add(900*time.Millisecond), p) {
			t.Fatal("a first refusal did not cut")
		}
		if s.Rate < 94 || s.Rate > 96 {
			t.Errorf("rate after a 429 at 100/s = %.1f, want 95 (a 5 %% cut)", s.Rate)
		}
		if s.Limit < 95 || s.Limit > 100.01 {
			t.Errorf("learned limit = %.1f, want about the 100 accepted", s.Limit)
		}
	})
	t.Run("OneCutPerBurst", func(t *testing.T) {
		t.Parallel()
		s := State{Rate: 100}
		s.Refused(t0, p)
		r := s.Rate
		for i := 1; i <= 9; i++ {
			if s.Refused(t0.Add(time.Duration(i)*100*time.Millisecond), p) {
				t.Fatalf("refusal %d within a second of the cut cut again", i)
			}
		}
		if s.Rate != r {
			t.Errorf("rate = %.1f after the burst, want %.1f", s.Rate, r)
		}
		if !s.Refused(t0.Add(1100*time.Millisecond), p) {
			t.Error("a refusal after the cut window did not cut")
		}
		if s.Refusals != 11 {
			t.Errorf("refusals counted = %d, want 11", s.Refusals)
		}
	})
	t.Run("LearnsFromAccepted", func(t *testing.T) {
		t.Parallel()
		// Overshooting at 130/s with callers keeping the schedule full,
		// OpenAI took 100 in the last second: cut to just under 100 at
		// once, not 5 % a second.
		s := State{Rate: 130}
		now := busy(&s, p, t0, 1500*time.Millisecond, 10*time.Millisecond)
		s.Rate = 130
		s.Accepted(t0, 60)
		s.Accepted(t0.Add(1200*time.Millisecond), 50)
		// 50 in the current bucket, and 60 × the part of the previous one
		// still within the last second.
		frac := now.Sub(t0.Add(time.Second)).Seconds()
		if got, want := s.AcceptedRate(now), 50+60*(1-frac); math.Abs(got-want) > 0.01 {
			t.Errorf("accepted rate = %.2f, want %.2f", got, want)
		}
		est := s.AcceptedRate(now)
		s.Refused(now, p)
		if want := est * 0.975; math.Abs(s.Rate-want) > 0.01 {
			t.Errorf("rate = %.1f, want %.1f (just under the %.1f accepted)", s.Rate, want, est)
		}
		if math.Abs(s.Limit-est) > 0.01 {
			t.Errorf("learned limit = %.1f, want %.1f", s.Limit, est)
		}
	})
	t.Run("ShareWhileRamping", func(t *testing.T) {
		t.Parallel()
		// Fewer accepted than half the rate (callers still ramping up):
		// the share accepted tells, once a few refusals came.
		s := State{Rate: 100}
		s.Accepted(t0, 40)
		for range 15 {
			s.Refused(t0.Add(100*time.Millisecond), p)
		}
		s.CutAt, s.Rate = time.Time{}, 100
		s.Refused(t0.Add(200*time.Millisecond), p)
		// 40 of 56 answers accepted at 100/s: about 71/s allowed.
		if want := 100 * 40.0 / 56 * 0.975; math.Abs(s.Rate-want) > 0.5 {
			t.Errorf("rate = %.1f, want %.1f", s.Rate, want)
		}
	})
	t.Run("NeverByHalf", func(t *testing.T) {
		t.Parallel()
		// Almost everything refused lately (a long Retry-After, a daily
		// limit): each cut still takes at most 40 % off.
		s := State{Rate: 100, CutAt: t0}
		s.Accepted(t0, 2)
		for range 20 {
			s.Refused(t0.Add(100*time.Millisecond), p)
		}
		s.CutAt = time.Time{}
		s.Refused(t0.Add(200*time.Millisecond), p)
		if s.Rate != 60 {
			t.Errorf("rate = %.1f, want 60", s.Rate)
		}
	})
	t.Run("LowDemand", func(t *testing.T) {
		t.Parallel()
		// Five calls a second at a rate of 100, one refused: that says
		// nothing of the limit but that it was met; a gentle cut.
		s := State{Rate: 100}
		s.Accepted(t0, 5)
		s.Refused(t0.Add(100*time.Millisecond), p)
		if s.Rate != 95 || s.Limit != 95 {
			t.Errorf("rate %.1f, limit %.1f; want 95 and 95", s.Rate, s.Limit)
		}
	})
	t.Run("KnownLimitFallsGently", func(t *testing.T) {
		t.Parallel()
		// At the learnt limit, one refusal in a second in which OpenAI
		// accepted only 80 (calls bunched across a fixed window) cuts the
		// rate gently and puts the limit just under the rate refused,
		// not under the 80 accepted.
		s := State{Rate: 100, Limit: 102}
		s.Accepted(t0, 80)
		s.Refused(t0.Add(100*time.Millisecond), p)
		if s.Rate != 95 {
			t.Errorf("rate = %.2f, want 95", s.Rate)
		}
		if want := 99.0; math.Abs(s.Limit-want) > 0.01 {
			t.Errorf("learned limit = %.2f, want %.2f (1 %% under the 100 refused)", s.Limit, want)
		}
		// A probe refused far above the limit (a cold process's rate)
		// takes at most 5 % off the limit.
		s = State{Rate: 300, Limit: 100}
		s.Refused(t0.Add(100*time.Millisecond), p)
		if want := 100.0; math.Abs(s.Limit-want*0.99) > 0.01 {
			t.Errorf("learned limit = %.2f after a refusal at 300/s, want %.2f", s.Limit, want*0.99)
		}
		s = State{Rate: 50, Limit: 100}
		s.Refused(t0.Add(100*time.Millisecond), p)
		if want := 95.0; math.Abs(s.Limit-want) > 0.01 {
			t.Errorf("learned limit = %.2f after a lone refusal at 50/s, want %.2f (5 %% off)", s.Limit, want)
		}
		// A limit that really fell shows as refusals second after second:
		// the limit follows it down within a few seconds, not 5 % a cut.
		for ms := 2000; ms < 6000; ms += 100 {
			at := t0.Add(time.Duration(ms) * time.Millisecond)
			s.Accepted(at, 6)
			if ms%200 == 0 {
				s.Refused(at, p)
			}
		}
		if s.Limit > 66 {
			t.Errorf("learned limit = %.1f after four seconds of 60 accepted and 5 refused, want it down to about 60", s.Limit)
		}
	})
	t.Run("Floor", func(t *testing.T) {
		t.Parallel()
		s := State{Rate: 1.02}
		s.Refused(t0, p)
		if s.Rate != 1 {
			t.Errorf("rate = %v, want the floor 1", s.Rate)
		}
	})
}

func TestState_Recovery(t *testing.T) {
	t.Parallel()
	p := Params{}
	s := State{Rate: 100, NextSlot: t0.Add(500 * time.Millisecond)} // a busy schedule
	s.Accepted(t0, 80)
	s.Refused(t0.Add(500*time.Millisecond), p) // limit 80ish → rate 78
	cut, limit := s.Rate, s.Limit
	// No growth in the cut window, even with a full schedule.
	now := busy(&s, p, t0.Add(500*time.Millisecond), 900*time.Millisecond, 10*time.Millisecond)
	if s.Rate != cut {
		t.Errorf("rate grew to %.1f within the cut window, want %.1f", s.Rate, cut)
	}
	// Back to 98 % of the limit quickly…
	now = busy(&s, p, now, 2*time.Second, 10*time.Millisecond)
	if s.Rate < 0.979*limit {
		t.Errorf("rate = %.1f 3 s after the cut, want back at 98 %% of the learned %.1f", s.Rate, limit)
	}
	// …held there until ProbeAfter (5 s) has passed since the cut…
	held := s.Rate
	now = busy(&s, p, now, 2*time.Second, 10*time.Millisecond)
	if s.Rate != held || s.Limit != limit {
		t.Errorf("rate %.2f, limit %.2f 5 s after the cut; want them held at %.2f and %.2f", s.Rate, s.Limit, held, limit)
	}
	// …then probing slowly: 1 % a second.
	now = busy(&s, p, now, 500*time.Millisecond, 10*time.Millisecond)
	before := s.Rate
	busy(&s, p, now, 5*time.Second, 10*time.Millisecond)
	if grown := s.Rate / before; grown < 1.04 || grown > 1.06 {
		t.Errorf("rate grew ×%.3f in 5 s of probing, want about ×1.05", grown)
	}
	// The limit rises with a probe that meets no refusal, and the probe
	// never runs more than 2 % above it.
	if s.Limit <= limit || s.Rate > 1.02*s.Limit+1e-9 {
		t.Errorf("after probing: rate %.2f, learned limit %.2f (from %.2f); want the limit raised and the rate within 2 %% of it", s.Rate, s.Limit, limit)
	}
}

func TestState_Ceilings(t *testing.T) {
	t.Parallel()
	t.Run("MaxRate", func(t *testing.T) {
		t.Parallel()
		p := Params{StartRate: 50, MaxRate: 20}
		s := NewState(p)
		if s.Rate != 20 {
			t.Errorf("start rate = %v, want the cap 20", s.Rate)
		}
		busy(&s, p, t0, 10*time.Second, 10*time.Millisecond)
		if s.Rate != 20 {
			t.Errorf("rate = %v after 10 s of demand, want the cap 20", s.Rate)
		}
	})
	t.Run("Header", func(t *testing.T) {
		t.Parallel()
		p := Params{}
		s := State{Rate: 200}
		s.Announced(6000.0/60, p) // 6,000 a minute
		if s.Rate != 98 || s.Limit != 100 || s.HeaderLimit != 100 {
			t.Errorf("after a 100/s header: rate %v, limit %v, header %v; want 98, 100, 100", s.Rate, s.Limit, s.HeaderLimit)
		}
		busy(&s, p, t0, 10*time.Second, 10*time.Millisecond)
		if s.Rate > 98 {
			t.Errorf("rate = %v, want at most 98 %% of the announced limit", s.Rate)
		}
		s.Announced(math.NaN(), p)
		s.Announced(-1, p)
		if s.HeaderLimit != 100 {
			t.Errorf("nonsense header changed the limit to %v", s.HeaderLimit)
		}
	})
}

// TestState_Simulation runs two processes' worth of reservations against a
// fixed-window limiter like the fake OpenAI's (N a second, answers after
// 100 ms) for a simulated minute: from no knowledge at all (cold), and from
// the state a previous run left (warm).
func TestState_Simulation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		limit     int
		warm      bool
		minShare  float64
		maxRefuse float64 // share of calls
		// jitter delays each call by up to this much between its slot and
		// the limiter, as HTTP clients, schedulers and the network do.
		jitter time.Duration
	}{
		{"Cold100", 100, false, 0.95, 0.01, 0},
		{"Cold300", 300, false, 0.90, 0.01, 0},
		{"Cold20", 20, false, 0.93, 0.08, 0}, // starts at 2.5 × the limit: a few seconds of refusals
		{"Warm100", 100, true, 0.96, 0.01, 0},
		{"Warm500", 500, true, 0.96, 0.01, 0},
		{"Warm100Jitter", 100, true, 0.95, 0.01, 25 * time.Millisecond},
		{"Cold100Jitter", 100, false, 0.94, 0.01, 25 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s State
			if tt.warm {
				s = State{Rate: 0.96 * float64(tt.limit), Limit: float64(tt.limit)}
			} else {
				s = NewState(Params{})
			}
			res := simulate(s, tt.limit, 2, 60*time.Second, tt.jitter, Params{})
			t.Logf("%d accepted (%.1f%% of N×60), %d refused, highest in any 1 s after learning %d (at all %d), final rate %.1f, limit %.1f",
				res.accepted, 100*float64(res.accepted)/float64(tt.limit*60), res.refused, res.maxLearnt, res.maxSliding, res.rate, res.limit)
			if min := int(tt.minShare * float64(tt.limit*60)); res.accepted < min {
				t.Errorf("%d calls accepted in 60 s, want at least %d", res.accepted, min)
			}
			if float64(res.refused) > tt.maxRefuse*float64(res.accepted) {
				t.Errorf("%d refused for %d accepted, want under %.0f %%", res.refused, res.accepted, 100*tt.maxRefuse)
			}
			// Once the limit is known, no second holds more than 5 % over it.
			if max := tt.limit + tt.limit/20; res.maxLearnt > max {
				t.Errorf("%d accepted in one second after learning the limit, want at most %d", res.maxLearnt, max)
			}
			if tt.warm && res.maxSliding > tt.limit+tt.limit/20 {
				t.Errorf("warm start: %d accepted in one second, want at most %d", res.maxSliding, tt.limit+tt.limit/20)
			}
		})
	}
}

type simResult struct {
	accepted, refused int
	// maxSliding is the most calls accepted in any one second (sliding),
	// maxLearnt the same from 2 s after the first refusal on.
	maxSliding, maxLearnt int
	rate, limit           float64
}

func simulate(s State, limit, procs int, d, jitter time.Duration, p Params) simResult {
	const (
		step    = time.Millisecond
		latency = 100 * time.Millisecond
	)
	type answer struct {
		at time.Time
		ok bool
	}
	type proc struct {
		slots   []time.Time
		sent    []time.Time // calls on their way to the limiter, by arrival
		answers []answer
		ok      int
	}
	rng := rand.New(rand.NewPCG(1, 2)) // the same jitter every run
	ps := make([]*proc, procs)
	for i := range ps {
		ps[i] = &proc{}
	}
	var (
		res       simResult
		window    time.Time
		inWindow  int
		acceptedT []time.Time
		learntAt  time.Time
	)
	if s.Limit > 0 {
		learntAt = t0
	}
	for now := t0; now.Before(t0.Add(d)); now = now.Add(step) {
		for i, pr := range ps {
			// Answers in.
			for len(pr.answers) > 0 && !pr.answers[0].at.After(now) {
				a := pr.answers[0]
				pr.answers = pr.answers[1:]
				if a.ok {
					pr.ok++
					continue
				}
				s.Accepted(now, pr.ok)
				pr.ok = 0
				s.Refused(now, p)
				if learntAt.IsZero() {
					learntAt = now.Add(2 * time.Second)
				}
			}
			// Calls out, reaching the limiter up to jitter later.
			for len(pr.slots) > 0 && !pr.slots[0].After(now) {
				pr.slots = pr.slots[1:]
				at := now
				if jitter > 0 {
					at = now.Add(time.Duration(rng.Int64N(int64(jitter))))
				}
				i, _ := slices.BinarySearchFunc(pr.sent, at, time.Time.Compare)
				pr.sent = slices.Insert(pr.sent, i, at)
			}
			for len(pr.sent) > 0 && !pr.sent[0].After(now) {
				pr.sent = pr.sent[1:]
				if now.Sub(window) >= time.Second {
					window, inWindow = now, 0
				}
				ok := inWindow < limit
				if ok {
					inWindow++
					res.accepted++
					acceptedT = append(acceptedT, now)
				} else {
					res.refused++
				}
				pr.answers = append(pr.answers, answer{at: now.Add(latency), ok: ok})
			}
			// Reserve ahead, staggered between processes.
			if (len(pr.slots) == 0 || pr.slots[len(pr.slots)-1].Before(now.Add(100*time.Millisecond))) && int(now.Sub(t0)/step)%procs == i {
				s.Accepted(now, pr.ok)
				pr.ok = 0
				start, n := s.Reserve(now, 8, true, p)
				iv := time.Duration(float64(time.Second) / s.Rate)
				for k := range n {
					pr.slots = append(pr.slots, start.Add(time.Duration(k)*iv))
				}
			}
		}
	}
	for i, j := 0, 0; j < len(acceptedT); j++ {
		for acceptedT[j].Sub(acceptedT[i]) >= time.Second {
			i++
		}
		res.maxSliding = max(res.maxSliding, j-i+1)
		if !learntAt.IsZero() && acceptedT[i].After(learntAt) {
			res.maxLearnt = max(res.maxLearnt, j-i+1)
		}
	}
	res.rate, res.limit = s.Rate, s.Limit
	return res
}

// TestState_ResumeAfterIdle: a schedule left idle, or not full, resumes
// where calls are known to be accepted (RecoverTo × the limit), not at the
// rate a probe had reached when the callers slowed down, and probes again
// only after ProbeAfter.
func TestState_ResumeAfterIdle(t *testing.T) {
	t.Parallel()
	p := Params{}
	s := State{Rate: 101, Limit: 100, NextSlot: t0.Add(-3 * time.Second), GrownAt: t0.Add(-3 * time.Second)}
	s.Reserve(t0, 10, true, p)
	if s.Rate != 98 {
		t.Fatalf("rate = %.2f on resuming, want 98 (98 %% of the learnt 100)", s.Rate)
	}
	now := busy(&s, p, t0, 4900*time.Millisecond, 10*time.Millisecond)
	if s.Rate != 98 || s.Limit != 100 {
		t.Errorf("rate %.2f, limit %.2f within 5 s of resuming; want 98 and 100 held", s.Rate, s.Limit)
	}
	busy(&s, p, now, 2*time.Second, 10*time.Millisecond)
	if s.Rate <= 98 {
		t.Errorf("rate = %.2f 7 s after resuming, want it probing above 98", s.Rate)
	}
	// A full schedule keeps the probe going; one that callers left with
	// a gap (a trickle of signups under a probe's rate) ends it.
	s = State{Rate: 101, Limit: 100, NextSlot: t0.Add(50 * time.Millisecond)}
	s.Reserve(t0, 10, true, p)
	if s.Rate < 101 {
		t.Errorf("rate = %.2f with the schedule full, want the 101 kept", s.Rate)
	}
	s = State{Rate: 101, Limit: 100, NextSlot: t0.Add(-200 * time.Millisecond)}
	s.Reserve(t0, 1, false, p)
	if s.Rate != 98 {
		t.Errorf("rate = %.2f after a 200 ms gap, want 98", s.Rate)
	}
}

// cutAfter returns a state that cut a CutWindow ago (CutAt) at rate and
// limit, has since seen ok calls accepted and refused refused, spread over
// that second, and is now cut again by one more refusal.
func cutAfter(t *testing.T, rate, limit float64, ok, refused int, p Params) (State, time.Time) {
	t.Helper()
	s := State{Rate: rate, Limit: limit, CutAt: t0, BucketAt: t0}
	step := 990 * time.Millisecond / time.Duration(ok)
	now, left := t0, refused
	for i := range ok {
		now = now.Add(step)
		s.Accepted(now, 1)
		if left > 0 && i%(ok/refused) == 0 {
			s.Refused(now, p)
			left--
		}
	}
	now = t0.Add(time.Second + 10*time.Millisecond)
	s.NextSlot = now.Add(200 * time.Millisecond) // a busy schedule
	if !s.Refused(now, p) {
		t.Fatal("no cut a CutWindow after the last")
	}
	return s, now
}

// TestState_ReturnToTheHigherEstimate: several refusals at a known limit
// cut to what the last second shows, which may be too low (behind fixed
// windows, a second that follows a faster one holds fewer accepted calls
// than the limit allows); the rate then climbs back towards the lower of
// the limit known before and the rate refused at Return's 5 % a second,
// not at the probe's 1 %, and holds there until ProbeAfter. The first
// cut, with no limit known, climbs back only to its higher estimate.
func TestState_ReturnToTheHigherEstimate(t *testing.T) {
	t.Parallel()
	p := Params{}
	// 89 accepted and 13 refused at 102 a second, where 104 was accepted.
	s, now := cutAfter(t, 102, 104, 89, 12, p)
	if s.Limit > 91 || s.UpperLimit != 102 {
		t.Fatalf("after the cut: rate %.1f, limit %.1f, upper %.1f; want a limit near 89 and 102 (the rate refused) to climb back to", s.Rate, s.Limit, s.UpperLimit)
	}
	now = busy(&s, p, now, 2*time.Second, 10*time.Millisecond)
	if s.Rate > 0.98*102+1e-9 || s.Rate < 0.979*s.Limit {
		t.Errorf("rate = %.1f 2 s after the cut (limit %.1f), want between 98 %% of the limit and 98 %% of 102", s.Rate, s.Limit)
	}
	now = busy(&s, p, now, 2*time.Second, 10*time.Millisecond)
	if s.Rate < 0.979*102 {
		t.Errorf("rate = %.1f 4 s after the cut, want back at 98 %% of 102", s.Rate)
	}
	if s.Limit < s.Rate {
		t.Errorf("limit %.1f under the rate %.1f it climbed to", s.Limit, s.Rate)
	}
	held := s.Rate
	busy(&s, p, now, 500*time.Millisecond, 10*time.Millisecond)
	if s.Rate != held {
		t.Errorf("rate = %.2f within ProbeAfter of the cut, want %.2f held", s.Rate, held)
	}

	// A probe refused above the limit it knew climbs back to that limit.
	probe, _ := cutAfter(t, 106, 103, 95, 10, p)
	if probe.UpperLimit != 103 {
		t.Errorf("refused at 106 over a limit of 103: upper %.1f, want 103", probe.UpperLimit)
	}

	// The first cut: 100 accepted and 20 refused at 120 a second, no limit
	// known. Count and share agree: nothing to climb back to.
	first, _ := cutAfter(t, 120, 0, 100, 20, p)
	if first.Limit < 95 || first.UpperLimit > 1.01*first.Limit {
		t.Errorf("first cut: limit %.1f, upper %.1f; want about 100 and nothing above it", first.Limit, first.UpperLimit)
	}
}

// TestState_LimitFalls: a limit that falls from 100 to 60 a second is
// followed, and the climb back after each cut stops at the refusals of
// the new limit instead of returning to the old one.
func TestState_LimitFalls(t *testing.T) {
	t.Parallel()
	for _, jitter := range []time.Duration{0, 25 * time.Millisecond} {
		res := simulate(State{Rate: 96, Limit: 100}, 60, 2, 30*time.Second, jitter, Params{})
		t.Logf("jitter %v: %d accepted, %d refused, highest in any 1 s after learning %d, final rate %.1f, limit %.1f",
			jitter, res.accepted, res.refused, res.maxLearnt, res.rate, res.limit)
		if min := int(0.94 * 60 * 30); res.accepted < min {
			t.Errorf("jitter %v: %d accepted in 30 s, want at least %d", jitter, res.accepted, min)
		}
		// The first second at 96 against 60 is refused in part whatever
		// the governor does; after it, a handful.
		if float64(res.refused) > 0.06*float64(res.accepted) {
			t.Errorf("jitter %v: %d refused for %d accepted, want under 6 %%", jitter, res.refused, res.accepted)
		}
		if res.maxLearnt > 63 {
			t.Errorf("jitter %v: %d accepted in one second after the fall, want at most 63", jitter, res.maxLearnt)
		}
		if res.limit > 63 || res.limit < 55 {
			t.Errorf("jitter %v: learnt limit %.1f, want about 60", jitter, res.limit)
		}
	}
}
