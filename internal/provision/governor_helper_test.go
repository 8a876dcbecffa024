package provision

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/provisioner/provisioner/internal/governor"
)

// recordingGovernor is a rate governor of this process alone, fast enough
// not to slow the tests down (openai.New requires one), that records who
// made each call: "caller/priority".
type recordingGovernor struct {
	g     *governor.Governor
	mu    sync.Mutex
	calls []string
}

func newTestGovernor(t testing.TB, rate float64) *recordingGovernor {
	t.Helper()
	g := governor.NewLocal(governor.Options{Params: governor.Params{StartRate: rate}})
	t.Cleanup(g.Close)
	return &recordingGovernor{g: g}
}

func (r *recordingGovernor) Acquire(ctx context.Context) (func(int, http.Header), error) {
	caller, p := governor.CallOf(ctx)
	r.mu.Lock()
	r.calls = append(r.calls, caller+"/"+p.String())
	r.mu.Unlock()
	return r.g.Acquire(ctx)
}

// Calls returns the calls recorded so far.
func (r *recordingGovernor) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}
