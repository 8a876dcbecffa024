package openai

import (
	"math/rand/v2"
	"time"
)

// RetryDelay is the wait before try number tries+1 of a call that failed
// with e: exponential backoff from base, capped at ceiling, with jitter; never
// shorter than a 429's Retry-After nor, after an uncertain outcome, than
// settle (the time OpenAI takes to show what an uncertain create did). The
// project and key steps share it, so both back off alike.
func RetryDelay(tries int, base, ceiling, settle time.Duration, e *Error) time.Duration {
	d := base
	for i := 1; i < tries && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	// "Equal jitter": half fixed, half random, so replicas spread out but
	// the wait never collapses to zero.
	d = d/2 + rand.N(d/2+1)
	if e.RetryAfter > d {
		d = e.RetryAfter
	}
	if e.Uncertain && settle > d {
		d = settle
	}
	return d
}
