package openai_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// TestGuardrailsConformToSpec runs every guard-rail call, its failures and
// the fake's drift hooks through the spec checker.
func TestGuardrailsConformToSpec(t *testing.T) {
	t.Parallel()
	checker := specChecker(t)
	ctx := context.Background()
	e := newEnv(t, func(o *openai.Options) {
		o.Timeout = 2 * time.Second
		o.HTTPClient = &http.Client{Transport: checker.Transport(http.DefaultTransport)}
	})
	p := e.fake.AddProject("guarded", false)

	// Spend limit: none, set, read back, delete (twice: idempotent).
	if _, ok, err := e.client.GetSpendLimit(ctx, p.ID); err != nil || ok {
		t.Fatalf("fresh project: spend limit ok=%v err=%v, want none", ok, err)
	}
	l, err := e.client.SetSpendLimit(ctx, p.ID, 50000)
	if err != nil {
		t.Fatal(err)
	}
	if l.ThresholdCents != 50000 || l.Enforcement != openai.EnforcementEnforcing || l.Currency != "USD" || l.Interval != "month" {
		t.Errorf("set spend limit = %+v", l)
	}
	if got, ok, err := e.client.GetSpendLimit(ctx, p.ID); err != nil || !ok || got != l {
		t.Errorf("get spend limit = %+v ok=%v err=%v, want %+v", got, ok, err, l)
	}

	// Alerts: create two, list, update, delete; delete of a missing one is fine.
	a1, err := e.client.CreateSpendAlert(ctx, p.ID, 40000, []string{"ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateSpendAlert(ctx, p.ID, 45000, []string{"a@example.com", "b@example.com"}); err != nil {
		t.Fatal(err)
	}
	alerts, err := e.client.ListSpendAlerts(ctx, p.ID)
	if err != nil || len(alerts) != 2 || alerts[0].ID != a1.ID {
		t.Fatalf("alerts = %+v, %v", alerts, err)
	}
	up, err := e.client.UpdateSpendAlert(ctx, p.ID, a1.ID, 30000, []string{"fin@example.com"})
	if err != nil || up.ThresholdCents != 30000 || !slices.Equal(up.Recipients, []string{"fin@example.com"}) {
		t.Errorf("update alert = %+v, %v", up, err)
	}
	if err := e.client.DeleteSpendAlert(ctx, p.ID, a1.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.client.DeleteSpendAlert(ctx, p.ID, a1.ID); err != nil {
		t.Errorf("second delete of an alert: %v", err)
	}
	if alerts, _ := e.client.ListSpendAlerts(ctx, p.ID); len(alerts) != 1 {
		t.Errorf("after delete, %d alerts, want 1", len(alerts))
	}

	// Rate limits: pre-seeded per model, update only.
	rows, err := e.client.ListRateLimits(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(openaitest.DefaultModels) {
		t.Fatalf("%d rate-limit rows, want one per model (%d)", len(rows), len(openaitest.DefaultModels))
	}
	i := slices.IndexFunc(rows, func(r openai.RateLimit) bool { return r.Model == "gpt-4o-mini" })
	rpm, tpm := int64(500), int64(200000)
	got, err := e.client.UpdateRateLimit(ctx, p.ID, rows[i].ID, openai.RateLimitUpdate{MaxRequestsPer1Minute: &rpm, MaxTokensPer1Minute: &tpm})
	if err != nil || got.MaxRequestsPer1Minute != 500 || got.MaxTokensPer1Minute != 200000 || got.Model != "gpt-4o-mini" {
		t.Errorf("update rate limit = %+v, %v", got, err)
	}
	if _, err := e.client.UpdateRateLimit(ctx, p.ID, "rl-nope", openai.RateLimitUpdate{MaxRequestsPer1Minute: &rpm}); err == nil {
		t.Error("update of an unknown rate-limit row: no error (there is no create)")
	}

	// Model permissions: none, set, read back, unknown model refused, delete.
	if _, ok, err := e.client.GetModelPermissions(ctx, p.ID); err != nil || ok {
		t.Errorf("fresh project: model permissions ok=%v err=%v, want none", ok, err)
	}
	mp, err := e.client.SetModelPermissions(ctx, p.ID, openai.ModelPermissions{Mode: openai.ModeAllowList, ModelIDs: []string{"gpt-4o-mini"}})
	if err != nil || mp.Mode != openai.ModeAllowList || !slices.Equal(mp.ModelIDs, []string{"gpt-4o-mini"}) {
		t.Errorf("set model permissions = %+v, %v", mp, err)
	}
	if got, ok, err := e.client.GetModelPermissions(ctx, p.ID); err != nil || !ok || !slices.Equal(got.ModelIDs, []string{"gpt-4o-mini"}) {
		t.Errorf("get model permissions = %+v ok=%v err=%v", got, ok, err)
	}
	_, err = e.client.SetModelPermissions(ctx, p.ID, openai.ModelPermissions{Mode: openai.ModeAllowList, ModelIDs: []string{"gpt-9"}})
	if oe := asError(t, err); oe.StatusCode != 400 || oe.Kind != openai.Permanent {
		t.Errorf("unknown model: %+v", oe)
	}
	if err := e.client.DeleteModelPermissions(ctx, p.ID); err != nil {
		t.Fatal(err)
	}

	// Rename; then the trap; then failures.
	if r, err := e.client.RenameProject(ctx, p.ID, "guarded-2"); err != nil || r.Name != "guarded-2" {
		t.Errorf("rename = %+v, %v", r, err)
	}
	e.fake.SetAlertTrap(true)
	if _, err := e.client.CreateSpendAlert(ctx, p.ID, 20000, []string{"ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	if l, ok, err := e.client.GetSpendLimit(ctx, p.ID); err != nil || !ok || l.Enforcement != openai.EnforcementInactive || l.ThresholdCents != 20000 {
		t.Errorf("after an alert with the trap on, limit = %+v ok=%v err=%v; want overwritten and inactive", l, ok, err)
	}
	for _, f := range []openaitest.Fault{
		{Endpoint: openaitest.EndpointSetSpendLimit, Status: 500},
		{Endpoint: openaitest.EndpointSetSpendLimit, Status: 429, RetryAfter: "1"},
		{Endpoint: openaitest.EndpointSetSpendLimit, Status: 429, RetryAfter: "1"},
		{Endpoint: openaitest.EndpointSetSpendLimit, Status: 429, RetryAfter: "1"},
	} {
		e.fake.Inject(f)
	}
	// The SDK retries a replaceable write twice: 500, 429, 429, then the last
	// 429 comes back.
	_, err = e.client.SetSpendLimit(ctx, p.ID, 100)
	if oe := asError(t, err); oe.StatusCode != 429 || oe.Kind != openai.Transient || oe.Op != openai.EndpointSetSpendLimit {
		t.Errorf("after faults: %+v", oe)
	}
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreateSpendAlert, Status: 500})
	before := e.fake.Count(openaitest.EndpointCreateSpendAlert)
	if _, err := e.client.CreateSpendAlert(ctx, p.ID, 1, []string{"x@example.com"}); err == nil {
		t.Error("create alert with a 500: no error")
	}
	if n := e.fake.Count(openaitest.EndpointCreateSpendAlert) - before; n != 1 {
		t.Errorf("create alert sent %d times, want 1 (no SDK retries on creates)", n)
	}

	// Archived projects refuse writes; a vanished one is 404.
	if _, err := e.client.ArchiveProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SetSpendLimit(ctx, p.ID, 100); asError(t, err).StatusCode != 400 {
		t.Errorf("write to an archived project: %v", err)
	}
	e.fake.RemoveProject(p.ID)
	if _, err := e.client.ListRateLimits(ctx, p.ID); !asError(t, err).NotFound() {
		t.Errorf("vanished project: %v", err)
	}

	if v := checker.Violations(); len(v) != 0 {
		t.Errorf("%d spec violations:\n%s", len(v), strings.Join(v, "\n"))
	}
	reqs, resps := checker.Checked()
	if reqs < 25 || resps < 20 {
		t.Errorf("checked %d requests and %d responses; expected every call to be checked", reqs, resps)
	}
}

// TestTamperIsSeenByTheClient proves the drift hook changes what the API answers.
func TestTamperIsSeenByTheClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	p := e.fake.AddProject("drifty", false)
	if _, err := e.client.SetSpendLimit(ctx, p.ID, 1000); err != nil {
		t.Fatal(err)
	}
	ok := e.fake.Tamper(p.ID, func(pr *openaitest.Project, g *openaitest.Guardrails) {
		pr.Name = "renamed"
		g.SpendLimit.ThresholdCents = 999999
		g.RateLimits[0].MaxRequestsPer1Minute = 1
		g.ModelPermissions = &openaitest.ModelPermissions{Mode: "deny_list", ModelIDs: []string{"o3"}}
	})
	if !ok {
		t.Fatal("Tamper: project not found")
	}
	if l, _, _ := e.client.GetSpendLimit(ctx, p.ID); l.ThresholdCents != 999999 {
		t.Errorf("limit after tamper = %d", l.ThresholdCents)
	}
	if rows, _ := e.client.ListRateLimits(ctx, p.ID); rows[0].MaxRequestsPer1Minute != 1 {
		t.Errorf("rate limit after tamper = %+v", rows[0])
	}
	if mp, ok, _ := e.client.GetModelPermissions(ctx, p.ID); !ok || mp.Mode != "deny_list" {
		t.Errorf("permissions after tamper = %+v", mp)
	}
	if pr, _ := e.client.GetProject(ctx, p.ID); pr.Name != "renamed" {
		t.Errorf("name after tamper = %q", pr.Name)
	}
}

// TestPolicyEndpointsAreNamedForMetrics keeps project IDs out of labels.
func TestPolicyEndpointsAreNamedForMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seen := map[string]int{}
	var mu = make(chan struct{}, 1)
	e := newEnv(t, func(o *openai.Options) {
		o.Observe = func(ep string, _ int, _ time.Duration) { mu <- struct{}{}; seen[ep]++; <-mu }
	})
	p := e.fake.AddProject("m", false)
	_, _ = e.client.SetSpendLimit(ctx, p.ID, 1)
	_, _, _ = e.client.GetSpendLimit(ctx, p.ID)
	_, _ = e.client.ListSpendAlerts(ctx, p.ID)
	_, _ = e.client.ListRateLimits(ctx, p.ID)
	_, _, _ = e.client.GetModelPermissions(ctx, p.ID)
	for _, ep := range []string{openai.EndpointSetSpendLimit, openai.EndpointGetSpendLimit, openai.EndpointListSpendAlerts,
		openai.EndpointListRateLimits, openai.EndpointGetModelPermissions} {
		if seen[ep] != 1 {
			t.Errorf("endpoint %s observed %d times, want 1 (seen %v)", ep, seen[ep], seen)
		}
	}
}
