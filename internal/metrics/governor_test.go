package metrics_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/provisioner/provisioner/internal/metrics"
)

// The governor's figures reach /metrics: its rate and learnt limit read at
// scrape time, waits by priority, and 429s by caller.
func TestGovernorMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	metrics.RegisterGovernor(reg, func() metrics.GovernorReading {
		return metrics.GovernorReading{Rate: 97.5, Limit: 100, MaxRate: 0, Waiting: map[string]int{"interactive": 1, "background": 7}}
	})
	m.ObserveGovernorWait("interactive", 20*time.Millisecond)
	m.ObserveGovernorWait("background", 150*time.Millisecond)
	m.ObserveOpenAIAnswer("backfill", http.StatusOK)
	m.ObserveOpenAIAnswer("backfill", http.StatusTooManyRequests)
	m.ObserveOpenAIAnswer("signup", http.StatusCreated)
	m.ObserveOpenAIAnswer("signup", 0) // no answer: not counted

	want := `
# HELP provisioner_openai_governor_learned_limit Calls per second OpenAI was learnt to allow (0 until it refused a call or announced its limit).
# TYPE provisioner_openai_governor_learned_limit gauge
provisioner_openai_governor_learned_limit 100
# HELP provisioner_openai_governor_rate Calls per second the OpenAI rate governor allows now (shared by every process).
# TYPE provisioner_openai_governor_rate gauge
provisioner_openai_governor_rate 97.5
# HELP provisioner_openai_governor_waiting Calls of this process waiting for the rate governor, by priority.
# TYPE provisioner_openai_governor_waiting gauge
provisioner_openai_governor_waiting{priority="background"} 7
provisioner_openai_governor_waiting{priority="interactive"} 1
# HELP provisioner_openai_rate_limited_total Calls OpenAI refused with 429, by caller (signup, manual, assign, job, backfill, capacity, keys, policy, reconcile, offboard, usage, other).
# TYPE provisioner_openai_rate_limited_total counter
provisioner_openai_rate_limited_total{caller="backfill"} 1
# HELP provisioner_openai_calls_total Answers from OpenAI by caller (signup, manual, assign, job, backfill, capacity, keys, policy, reconcile, offboard, usage, other).
# TYPE provisioner_openai_calls_total counter
provisioner_openai_calls_total{caller="backfill"} 2
provisioner_openai_calls_total{caller="signup"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"provisioner_openai_governor_rate", "provisioner_openai_governor_learned_limit", "provisioner_openai_governor_waiting",
		"provisioner_openai_rate_limited_total", "provisioner_openai_calls_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.GovernorWait); n != 2 {
		t.Errorf("wait histograms = %d, want one per priority (2)", n)
	}
}
