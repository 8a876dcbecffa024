package web_test

import (
	"testing"

	"github.com/provisioner/provisioner/internal/governor"
)

// newTestGovernor is a rate governor of this process alone, fast enough
// not to slow the tests down: openai.New requires one.
func newTestGovernor(t testing.TB) *governor.Governor {
	t.Helper()
	g := governor.NewLocal(governor.Options{Params: governor.Params{StartRate: 5000}})
	t.Cleanup(g.Close)
	return g
}
