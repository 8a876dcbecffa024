package governor

import "context"

// Priority orders the calls waiting for a slot.
type Priority int

const (
	// Interactive calls have someone waiting for them: a signup, a staff
	// member's "Create project now", an assignment check. They take the
	// next free slot before any background call.
	Interactive Priority = iota
	// Background calls are jobs, backfills and syncs.
	Background
	numPriorities
)

func (p Priority) String() string {
	if p == Interactive {
		return "interactive"
	}
	return "background"
}

// Callers name who makes a call, for the metrics of refusals by caller.
const (
	CallerSignup    = "signup"    // the signup request's own attempt
	CallerManual    = "manual"    // a staff member's "Create project now"
	CallerAssign    = "assign"    // checking a project ID staff assign
	CallerJob       = "job"       // provisioning jobs (retries)
	CallerBackfill  = "backfill"  // backfill runs
	CallerCapacity  = "capacity"  // counting the organization's projects
	CallerKeys      = "keys"      // service accounts and keys: issue, rotate, revoke
	CallerPolicy    = "policy"    // guard rails applied to a project
	CallerReconcile = "reconcile" // drift checks and repairs
	CallerOffboard  = "offboard"  // offboarding a company's project
	CallerUsage     = "usage"     // the cost and usage sync
	CallerOther     = "other"     // anything that did not say
)

type callKey struct{}

type call struct {
	caller   string
	priority Priority
}

// WithCall returns ctx carrying who makes the OpenAI calls made with it
// and their priority.
func WithCall(ctx context.Context, caller string, p Priority) context.Context {
	if p < Interactive || p >= numPriorities {
		p = Background
	}
	return context.WithValue(ctx, callKey{}, call{caller: caller, priority: p})
}

// WithDefaultCall is WithCall unless ctx already says who calls: code that
// runs both in a job and on a staff member's request keeps the request's
// label and priority.
func WithDefaultCall(ctx context.Context, caller string, p Priority) context.Context {
	if _, ok := ctx.Value(callKey{}).(call); ok {
		return ctx
	}
	return WithCall(ctx, caller, p)
}

// CallOf returns the caller and priority ctx carries: CallerOther and
// Background when it carries none, so that an unlabelled call never jumps
// the queue.
func CallOf(ctx context.Context) (caller string, p Priority) {
	if c, ok := ctx.Value(callKey{}).(call); ok {
		return c.caller, c.priority
	}
	return CallerOther, Background
}
