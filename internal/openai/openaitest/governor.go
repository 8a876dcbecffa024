package openaitest

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/provisioner/provisioner/internal/governor"
)

// NewGovernor returns a rate governor of this process alone, fast enough
// not to slow a test down, for tests that build the client themselves
// (openai.New requires one). It is closed when t ends.
func NewGovernor(t testing.TB) *governor.Governor {
	t.Helper()
	return newLocalGovernor(t, 5000)
}

func newLocalGovernor(t testing.TB, rate float64) *governor.Governor {
	g := governor.NewLocal(governor.Options{Params: governor.Params{StartRate: rate}})
	t.Cleanup(g.Close)
	return g
}

// RecordingGovernor is a rate governor of this process alone that records
// who made each call as "caller/priority", so a test can prove which
// caller and priority reached OpenAI.
type RecordingGovernor struct {
	g     *governor.Governor
	mu    sync.Mutex
	calls []string
}

// NewRecordingGovernor returns a RecordingGovernor starting at rate calls a
// second (0 means the fast default of NewGovernor). It is closed when t ends.
func NewRecordingGovernor(t testing.TB, rate float64) *RecordingGovernor {
	t.Helper()
	if rate == 0 {
		rate = 5000
	}
	return &RecordingGovernor{g: newLocalGovernor(t, rate)}
}

// Acquire records the call, then waits for the governor's permission.
func (r *RecordingGovernor) Acquire(ctx context.Context) (func(int, http.Header), error) {
	caller, p := governor.CallOf(ctx)
	r.mu.Lock()
	r.calls = append(r.calls, caller+"/"+p.String())
	r.mu.Unlock()
	return r.g.Acquire(ctx)
}

// Calls returns the calls recorded so far.
func (r *RecordingGovernor) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}
