package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/validation"
)

func TestParse_BadInputNamesTheField(t *testing.T) {
	t.Parallel()
	tooMany := `{"alerts": [` + strings.Repeat(`{"threshold_cents": 1, "recipients": ["a@example.com"]},`, MaxAlerts) +
		`{"threshold_cents": 2, "recipients": ["a@example.com"]}]}`
	for _, tt := range []struct {
		name, doc, field, want string
	}{
		{"NegativeCents", `{"spend_limit_cents": -5}`, "spend_limit_cents", "whole US cents"},
		{"FractionCents", `{"spend_limit_cents": 12.5}`, "spend_limit_cents", "no fractions"},
		{"StringCents", `{"spend_limit_cents": "500"}`, "spend_limit_cents", "not a number"},
		{"ZeroLimit", `{"spend_limit_cents": 0}`, "spend_limit_cents", "at least 1"},
		{"UnknownModelAllowed", `{"allowed_models": ["gpt-4o-mini", "gpt-9000"]}`, "allowed_models", `"gpt-9000"`},
		{"UnknownModelRateLimit", `{"rate_limits": {"gpt-9000": {"max_requests_per_1_minute": 5}}}`, "rate_limits.gpt-9000", "Unknown model"},
		{"NegativeRate", `{"rate_limits": {"gpt-4o": {"max_requests_per_1_minute": -5}}}`, "rate_limits.gpt-4o.max_requests_per_1_minute", "above 0"},
		{"UnknownRateField", `{"rate_limits": {"gpt-4o": {"rpm": 5}}}`, "rate_limits.gpt-4o.rpm", "Unknown limit"},
		{"TooManyAlerts", tooMany, "alerts", "At most 10 alerts"},
		{"AlertFraction", `{"alerts": [{"threshold_cents": 1.5, "recipients": ["a@example.com"]}]}`, "alerts.0.threshold_cents", "no fractions"},
		{"BadEmail", `{"alerts": [{"threshold_cents": 100, "recipients": ["not-an-email"]}]}`, "alerts.0.recipients", "not an email"},
		{"NoRecipients", `{"alerts": [{"threshold_cents": 100, "recipients": []}]}`, "alerts.0.recipients", "at least one"},
		{"DuplicateThreshold", `{"alerts": [{"threshold_cents": 100, "recipients": ["a@example.com"]}, {"threshold_cents": 100, "recipients": ["b@example.com"]}]}`, "alerts.1.threshold_cents", "once"},
		{"UnknownKey", `{"spend_limit": 5}`, "spend_limit", "Unknown key"},
		{"NotJSON", `spend`, "document", "JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc))
			var v validation.Errors
			if !errors.As(err, &v) {
				t.Fatalf("Parse(%s) = %v, want validation errors", tt.doc, err)
			}
			if got := v[tt.field]; !strings.Contains(got, tt.want) {
				t.Errorf("error for %s = %q, want it to contain %q (all: %v)", tt.field, got, tt.want, v)
			}
		})
	}
}

func TestParse_ShapeOfTheIssueRoundTrips(t *testing.T) {
	t.Parallel()
	in := `{"spend_limit_cents": 50000, "alerts": [{"threshold_cents": 40000, "recipients": ["ops@example.com"]}], "rate_limits": {"gpt-4o-mini": {"max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 200000}}, "allowed_models": ["gpt-4o-mini"]}`
	d, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if *d.SpendLimitCents != 50000 || len(d.Alerts) != 1 || *d.RateLimits["gpt-4o-mini"].MaxTokensPer1Minute != 200000 || d.AllowedModels[0] != "gpt-4o-mini" {
		t.Errorf("parsed %+v", d)
	}
	again, err := Parse([]byte(d.Pretty()))
	if err != nil || again.Pretty() != d.Pretty() {
		t.Errorf("round trip: %v\n%s\n%s", err, d.Pretty(), again.Pretty())
	}
	empty, err := Parse([]byte(`{}`))
	if err != nil || !empty.Empty() {
		t.Errorf("{} = %+v, %v; want an empty policy", empty, err)
	}
	if d, _ := Parse([]byte(`{"alerts": []}`)); !d.HasAlerts() || d.Empty() {
		t.Error(`{"alerts": []} must mean "no alerts", not "absent"`)
	}
}

func TestSetTemplate_VersionedAuditedAndMakesPending(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id, _ := b.company(t, "Acme")
	b.setTemplate(t, `{"spend_limit_cents": 1000}`)
	b.applyNow(t)
	if st := b.status(t, id); st.State != StateApplied {
		t.Fatalf("state %s, want applied", st.State)
	}
	b.setTemplate(t, `{"spend_limit_cents": 2000}`)
	if st := b.status(t, id); st.State != StatePending {
		t.Errorf("after a template change, state %s, want pending", st.State)
	}
	d, _ := Parse([]byte(`{"spend_limit_cents": 2000}`))
	if _, unchanged, err := b.svc.SetTemplate(b.ctx, d, admin); err != nil || !unchanged {
		t.Errorf("same template again: unchanged=%v err=%v", unchanged, err)
	}
	vs, err := b.svc.Versions(b.ctx, 10)
	if err != nil || len(vs) != 2 || vs[0].Number <= vs[1].Number || *vs[0].Document.SpendLimitCents != 2000 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	var n int
	if err := b.pool.QueryRow(b.ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND actor_email = $2`, ActionSetTemplate, admin.Email).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d audit entries for policy.set, want 2 (%v)", n, err)
	}
}

func TestApply_AtLinkThenReadBack(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, fullPolicy)
	id, pid := b.company(t, "Acme")
	if st := b.status(t, id); st.State != StatePending {
		t.Fatalf("a freshly linked company is %q, want pending", st.State)
	}
	b.applyNow(t)
	st := b.status(t, id)
	if st.State != StateApplied || len(st.Differences) != 0 {
		t.Fatalf("status %+v, want applied with no differences", st)
	}
	g, _ := b.fake.GuardrailsOf(pid)
	if g.SpendLimit == nil || g.SpendLimit.ThresholdCents != 50000 || g.SpendLimit.Enforcement != "enforcing" {
		t.Errorf("spend limit on OpenAI = %+v", g.SpendLimit)
	}
	if len(g.Alerts) != 2 {
		t.Errorf("alerts on OpenAI = %+v", g.Alerts)
	}
	if g.ModelPermissions == nil || g.ModelPermissions.Mode != "allow_list" || !slices.Equal(g.ModelPermissions.ModelIDs, []string{"gpt-4.1", "gpt-4o-mini"}) {
		t.Errorf("model permissions = %+v", g.ModelPermissions)
	}
	i := slices.IndexFunc(g.RateLimits, func(r openaitest.RateLimit) bool { return r.Model == "gpt-4o-mini" })
	if r := g.RateLimits[i]; r.MaxRequestsPer1Minute != 500 || r.MaxTokensPer1Minute != 200000 {
		t.Errorf("rate limit = %+v", r)
	}
	h, _ := b.svc.History(b.ctx, id)
	if len(h) != 1 || h[0].Outcome != string(Applied) || h[0].Trigger != TriggerLinked || h[0].Calls < 8 {
		t.Fatalf("history = %+v", h)
	}
	// The read-back is real: it read every guard rail again after writing.
	if n := b.fake.Count(openaitest.EndpointGetSpendLimit); n != 2 {
		t.Errorf("spend limit read %d times, want 2 (before and after writing)", n)
	}
	// Applying again changes nothing and writes nothing.
	writes := b.fake.Count(openaitest.EndpointSetSpendLimit) + b.fake.Count(openaitest.EndpointCreateSpendAlert)
	if res, err := b.svc.Apply(b.ctx, id, Attempt{Trigger: TriggerManual}); err != nil || res.Outcome != Applied {
		t.Fatalf("second apply = %+v, %v", res, err)
	}
	if again := b.fake.Count(openaitest.EndpointSetSpendLimit) + b.fake.Count(openaitest.EndpointCreateSpendAlert); again != writes {
		t.Errorf("a second apply wrote again (%d → %d writes)", writes, again)
	}
}

func TestApply_AlertTrapDetectedAndRepaired(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.fake.SetAlertTrap(true)
	b.setTemplate(t, fullPolicy)
	id, pid := b.company(t, "Trapped")
	// The limit was set first on purpose: alerts then clobber it.
	if _, err := b.client.SetSpendLimit(b.ctx, pid, 50000); err != nil {
		t.Fatal(err)
	}
	b.applyNow(t)
	h, _ := b.svc.History(b.ctx, id)
	if len(h) != 1 || h[0].Outcome != string(Repaired) {
		t.Fatalf("history = %+v, want one repaired attempt", h)
	}
	g, _ := b.fake.GuardrailsOf(pid)
	if g.SpendLimit.ThresholdCents != 50000 || g.SpendLimit.Enforcement != "enforcing" {
		t.Errorf("after repair the limit is %+v, want $500.00 enforcing", g.SpendLimit)
	}
	if st := b.status(t, id); st.State != StateApplied {
		t.Errorf("state %s, want applied", st.State)
	}
}

func TestApply_TransientFailureRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, `{"spend_limit_cents": 1000}`)
	id, _ := b.company(t, "Flaky")
	// Three 503s: the SDK's two retries do not get through, our job's do.
	for range 3 {
		b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointSetSpendLimit, Status: 503})
	}
	b.applyNow(t)
	h, _ := b.svc.History(b.ctx, id)
	if len(h) != 2 || h[1].Outcome != string(Retryable) || h[0].Outcome != string(Applied) || h[0].Trigger != TriggerRetry {
		t.Fatalf("history = %+v, want retryable then applied", h)
	}
	if st := b.status(t, id); st.State != StateApplied {
		t.Errorf("state %s", st.State)
	}
}

func TestApply_PermanentFailureIsFailedWithReason(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.fake.SetModels([]string{"gpt-4o"}) // this project has no gpt-4o-mini row
	b.setTemplate(t, `{"rate_limits": {"gpt-4o-mini": {"max_requests_per_1_minute": 5}}}`)
	id, _ := b.company(t, "NoRow")
	b.applyNow(t)
	st := b.status(t, id)
	if st.State != StateFailed || !strings.Contains(st.Error, "gpt-4o-mini") {
		t.Fatalf("status %+v, want failed naming the model", st)
	}
}

func TestReconcile_EachFieldDriftFoundThenFixedByReapply(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		field string
		tamp  func(p *openaitest.Project, g *openaitest.Guardrails)
	}{
		{"SpendLimit", FieldSpendLimit, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.SpendLimit.ThresholdCents = 999999 }},
		{"SpendLimitDeleted", FieldSpendLimit, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.SpendLimit = nil }},
		{"Enforcement", FieldEnforcement, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.SpendLimit.Enforcement = "inactive" }},
		{"Alerts", FieldAlerts, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.Alerts = g.Alerts[:1] }},
		{"AlertRecipients", FieldAlerts, func(_ *openaitest.Project, g *openaitest.Guardrails) {
			g.Alerts[0].Recipients = []string{"evil@example.com"}
		}},
		{"RateLimit", "rate_limits.gpt-4o-mini.max_requests_per_1_minute", func(_ *openaitest.Project, g *openaitest.Guardrails) {
			for i := range g.RateLimits {
				if g.RateLimits[i].Model == "gpt-4o-mini" {
					g.RateLimits[i].MaxRequestsPer1Minute = 10000
				}
			}
		}},
		{"ModelPermissions", FieldModels, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.ModelPermissions = nil }},
		{"Renamed", FieldName, func(p *openaitest.Project, _ *openaitest.Guardrails) { p.Name = "Someone else" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			b.setTemplate(t, fullPolicy)
			id, pid := b.company(t, "Drifty")
			other, _ := b.company(t, "Steady")
			b.applyNow(t)
			b.fake.Tamper(pid, tt.tamp)

			rep, err := b.svc.Reconcile(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Checked != 2 || rep.Drifted != 1 {
				t.Errorf("report %+v, want 2 checked, 1 drifted", rep)
			}
			st := b.status(t, id)
			if st.State != StateDrifted || len(st.Differences) != 1 || st.Differences[0].Field != tt.field {
				t.Fatalf("status %+v, want drifted on %s", st, tt.field)
			}
			if d := st.Differences[0]; d.Expected == d.Found || d.Since.IsZero() {
				t.Errorf("difference %+v", d)
			}
			if st := b.status(t, other); st.State != StateApplied {
				t.Errorf("the untouched company is %s", st.State)
			}
			// A second reconcile keeps "since".
			since := st.Differences[0].Since
			if _, err := b.svc.Reconcile(b.ctx); err != nil {
				t.Fatal(err)
			}
			if st := b.status(t, id); st.Differences[0].Since != since {
				t.Errorf("since moved from %v to %v", since, st.Differences[0].Since)
			}

			if err := b.svc.Reapply(b.ctx, id, admin); err != nil {
				t.Fatal(err)
			}
			b.drain(t, b.svc)
			if st := b.status(t, id); st.State != StateApplied || len(st.Differences) != 0 {
				t.Fatalf("after re-apply: %+v", st)
			}
			if rep, _ := b.svc.Reconcile(b.ctx); rep.Drifted != 0 {
				t.Errorf("after re-apply, reconcile still finds %d drifted", rep.Drifted)
			}
		})
	}
}

func TestReconcile_AutofixAndReapplyAllDrifted(t *testing.T) {
	t.Parallel()
	b := setup(t, func(s *Settings) { s.Autofix = true })
	b.setTemplate(t, `{"spend_limit_cents": 1000}`)
	id, pid := b.company(t, "Auto")
	b.applyNow(t)
	b.fake.Tamper(pid, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.SpendLimit = nil })
	rep, err := b.svc.Reconcile(b.ctx)
	if err != nil || rep.Fixed != 1 {
		t.Fatalf("report %+v, %v; want one fix enqueued", rep, err)
	}
	b.drain(t, b.svc)
	if g, _ := b.fake.GuardrailsOf(pid); g.SpendLimit == nil || g.SpendLimit.ThresholdCents != 1000 {
		t.Errorf("autofix did not restore the limit: %+v", g.SpendLimit)
	}
	h, _ := b.svc.History(b.ctx, id)
	if h[0].Trigger != TriggerAutofix {
		t.Errorf("last attempt trigger %s, want autofix", h[0].Trigger)
	}

	// Without autofix, "Re-apply to all drifted" fixes them, audited.
	b.svc.settings.Autofix = false
	id2, pid2 := b.company(t, "Manual")
	b.applyNow(t)
	for _, p := range []string{pid, pid2} {
		b.fake.Tamper(p, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.SpendLimit.ThresholdCents = 5 })
	}
	if rep, _ := b.svc.Reconcile(b.ctx); rep.Drifted != 2 || rep.Fixed != 0 {
		t.Fatalf("report %+v", rep)
	}
	n, err := b.svc.ReapplyDrifted(b.ctx, admin)
	if err != nil || n != 2 {
		t.Fatalf("ReapplyDrifted = %d, %v", n, err)
	}
	b.drain(t, b.svc)
	for _, cid := range []int64{id, id2} {
		if st := b.status(t, cid); st.State != StateApplied {
			t.Errorf("company %d: %s", cid, st.State)
		}
	}
	var audited int
	_ = b.pool.QueryRow(b.ctx, `SELECT count(*) FROM audit_log WHERE action = $1`, ActionReapplyDrifted).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audit entries for re-apply all, want 1", audited)
	}
}

func TestOverride_ReplacesTemplateKeysForOneCompany(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, `{"spend_limit_cents": 1000, "rate_limits": {"gpt-4o": {"max_requests_per_1_minute": 10}}}`)
	big, bigP := b.company(t, "Big")
	_, smallP := b.company(t, "Small")
	o, _ := Parse([]byte(`{"spend_limit_cents": 900000, "rate_limits": {"gpt-4o-mini": {"max_requests_per_1_minute": 20}}}`))
	if err := b.svc.SetOverride(b.ctx, big, o, admin); err != nil {
		t.Fatal(err)
	}
	eff, _, _ := b.svc.Effective(b.ctx, big)
	if *eff.SpendLimitCents != 900000 || len(eff.RateLimits) != 2 {
		t.Errorf("effective = %s", eff.Pretty())
	}
	b.applyNow(t)
	gb, _ := b.fake.GuardrailsOf(bigP)
	gs, _ := b.fake.GuardrailsOf(smallP)
	if gb.SpendLimit.ThresholdCents != 900000 || gs.SpendLimit.ThresholdCents != 1000 {
		t.Errorf("limits: big %d, small %d", gb.SpendLimit.ThresholdCents, gs.SpendLimit.ThresholdCents)
	}
	if err := b.svc.SetOverride(b.ctx, big, Document{}, admin); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.svc.Override(b.ctx, big); ok {
		t.Error("empty override did not clear")
	}
	var actions []string
	rows, _ := b.pool.Query(b.ctx, `SELECT action FROM audit_log WHERE company_id = $1 ORDER BY id`, big)
	for rows.Next() {
		var a string
		_ = rows.Scan(&a)
		actions = append(actions, a)
	}
	if !slices.Equal(actions, []string{ActionSetOverride, ActionClearOverride}) {
		t.Errorf("audit = %v", actions)
	}
}

func TestReconcile_FlagsArchivedMissingRenamedAndOrphans(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, `{"spend_limit_cents": 1000}`)
	archived, archivedP := b.company(t, "Archived")
	missing, missingP := b.company(t, "Missing")
	b.applyNow(t)
	orphan := b.fake.AddProject("Nobody's", false)
	b.fake.AddProject("Old archived orphan", true) // archived orphans are not listed
	b.fake.Tamper(archivedP, func(p *openaitest.Project, _ *openaitest.Guardrails) {
		now := time.Now()
		p.Status, p.ArchivedAt = "archived", &now
	})
	b.fake.RemoveProject(missingP)

	rep, err := b.svc.Reconcile(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing != 1 || rep.Drifted != 2 || rep.Orphans != 1 {
		t.Errorf("report %+v", rep)
	}
	if st := b.status(t, archived); st.State != StateDrifted || st.Differences[0].Field != FieldStatus {
		t.Errorf("archived: %+v", st)
	}
	if st := b.status(t, missing); st.State != StateDrifted || st.Differences[0].Field != FieldProject {
		t.Errorf("missing: %+v", st)
	}
	orphans, err := b.svc.Orphans(b.ctx)
	if err != nil || len(orphans) != 1 || orphans[0].ProjectID != orphan.ID {
		t.Fatalf("orphans = %+v, %v", orphans, err)
	}
	// Re-apply cannot fix an archived project: it fails and says why.
	if err := b.svc.Reapply(b.ctx, archived, admin); err != nil {
		t.Fatal(err)
	}
	b.drain(t, b.svc)
	if st := b.status(t, archived); st.State != StateFailed {
		t.Errorf("re-apply to an archived project: %s", st.State)
	}
	// Assigning the orphan to a company takes it off the list.
	q := dbgen.New(b.pool)
	c, _ := q.CreateCompany(b.ctx, dbgen.CreateCompanyParams{Name: "Taker", Industry: "Software", ContactName: "T", ContactEmail: "t@example.com", ProvisioningStatus: "pending"})
	if _, err := q.LinkCompanyProject(b.ctx, dbgen.LinkCompanyProjectParams{ID: c.ID, ProjectID: &orphan.ID}); err != nil {
		t.Fatal(err)
	}
	if orphans, _ := b.svc.Orphans(b.ctx); len(orphans) != 0 {
		t.Errorf("orphan still listed after assignment: %+v", orphans)
	}
}

func TestOffboard_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, fullPolicy)
	id, pid := b.company(t, "Leaving")
	b.applyNow(t)
	b.fake.AddServiceAccount(pid, "key-1")
	b.fake.AddServiceAccount(pid, "key-2")

	var v validation.Errors
	if _, err := b.svc.Offboard(b.ctx, id, "leaving", admin); !errors.As(err, &v) || v[FieldConfirm] == "" {
		t.Fatalf("wrong confirmation: %v", err)
	}
	if _, ok, _ := b.svc.GetOffboarding(b.ctx, id); ok {
		t.Fatal("a wrong confirmation started the offboarding")
	}
	if _, err := b.svc.Offboard(b.ctx, id, "Leaving", admin); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Offboard(b.ctx, id, "Leaving", admin); !errors.Is(err, ErrAlreadyOffboarding) {
		t.Errorf("second offboard: %v", err)
	}
	if n := b.drain(t, b.svc); n != 3 {
		t.Errorf("%d step jobs ran, want 3", n)
	}
	o, _, _ := b.svc.GetOffboarding(b.ctx, id)
	if o.State != OffboardDone || o.Step != StepDone || o.KeysRevoked != 2 || o.AlertsRemoved != 2 || o.FinishedAt == nil {
		t.Fatalf("offboarding %+v", o)
	}
	if sas := b.fake.ServiceAccounts(pid); len(sas) != 0 {
		t.Errorf("service accounts left: %+v", sas)
	}
	g, _ := b.fake.GuardrailsOf(pid)
	if len(g.Alerts) != 0 {
		t.Errorf("alerts left: %+v", g.Alerts)
	}
	if p, _ := b.fake.Project(pid); p.Status != "archived" {
		t.Errorf("project status %s", p.Status)
	}
	// History is kept; reconcile and re-apply leave the company alone.
	if h, _ := b.svc.History(b.ctx, id); len(h) == 0 {
		t.Error("policy history lost")
	}
	if rep, _ := b.svc.Reconcile(b.ctx); rep.Checked != 0 {
		t.Errorf("reconcile checked an offboarded company: %+v", rep)
	}
	if err := b.svc.Reapply(b.ctx, id, admin); !errors.Is(err, ErrOffboarded) {
		t.Errorf("re-apply to an offboarded company: %v", err)
	}
	var audited int
	_ = b.pool.QueryRow(b.ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND company_id = $2`, ActionOffboard, id).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d offboard audit entries", audited)
	}
}

func TestOffboard_ResumedAfterACrashMidway(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id, pid := b.company(t, "Crashy")
	for i := range 3 {
		b.fake.AddServiceAccount(pid, "key-"+string(rune('a'+i)))
	}
	if _, err := b.svc.Offboard(b.ctx, id, "Crashy", admin); err != nil {
		t.Fatal(err)
	}
	// The process dies while deleting the second service account: its
	// context ends with the request in flight.
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointDeleteServiceAccount},
		openaitest.Fault{Endpoint: openaitest.EndpointDeleteServiceAccount, Latency: 3 * time.Second})
	ctx, cancel := context.WithTimeout(b.ctx, 500*time.Millisecond)
	err := b.svc.runOffboardStep(ctx, OffboardArgs{CompanyID: id, Step: StepRevokeKeys}, false)
	cancel()
	if err == nil {
		t.Fatal("the interrupted step reported success")
	}
	o, _, _ := b.svc.GetOffboarding(b.ctx, id)
	if o.Step != StepRevokeKeys || o.State != OffboardRunning {
		t.Fatalf("after the crash: %+v, want still at revoke_keys", o)
	}
	if left := len(b.fake.ServiceAccounts(pid)); left == 0 || left == 3 {
		t.Fatalf("%d service accounts left: the crash was not midway", left)
	}
	// A new process (a fresh Service) picks the step up again, as River's
	// rescue of the stuck job does, and finishes.
	restarted := New(b.pool, b.client, b.svc.settings, nil)
	restarted.SetRiver(b.rc)
	if n := b.drain(t, restarted); n != 3 {
		t.Errorf("%d jobs after restart, want 3 (revoke again, alerts, archive)", n)
	}
	o, _, _ = b.svc.GetOffboarding(b.ctx, id)
	if o.State != OffboardDone {
		t.Fatalf("after resume: %+v", o)
	}
	if left := len(b.fake.ServiceAccounts(pid)); left != 0 {
		t.Errorf("%d service accounts left", left)
	}
}

func TestOffboard_FailureShowsWhereItStoppedAndResumes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id, pid := b.company(t, "Stuck")
	if _, err := b.svc.Offboard(b.ctx, id, "Stuck", admin); err != nil {
		t.Fatal(err)
	}
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointArchive, Status: 403})
	b.drain(t, b.svc)
	o, _, _ := b.svc.GetOffboarding(b.ctx, id)
	if o.State != OffboardFailed || o.Step != StepArchiveProject || !strings.Contains(o.Error, "403") {
		t.Fatalf("offboarding %+v, want failed at archive_project with the reason", o)
	}
	if err := b.svc.ResumeOffboarding(b.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	b.drain(t, b.svc)
	if o, _, _ := b.svc.GetOffboarding(b.ctx, id); o.State != OffboardDone {
		t.Fatalf("after resume: %+v", o)
	}
	if p, _ := b.fake.Project(pid); p.Status != "archived" {
		t.Errorf("project %s", p.Status)
	}
	if err := b.svc.ResumeOffboarding(b.ctx, id, admin); !errors.Is(err, ErrNotFailed) {
		t.Errorf("resume of a finished offboarding: %v", err)
	}
}

func TestDisabled_NothingIsApplied(t *testing.T) {
	t.Parallel()
	b := setup(t, func(s *Settings) { s.Enabled = false })
	b.setTemplate(t, `{"spend_limit_cents": 1000}`)
	id, pid := b.company(t, "Off")
	if n, err := b.svc.Sweep(b.ctx); err != nil || n != 0 {
		t.Errorf("sweep with policies disabled enqueued %d (%v)", n, err)
	}
	if res, err := b.svc.Apply(b.ctx, id, Attempt{Trigger: TriggerManual}); err != nil || res.Outcome != Skipped {
		t.Errorf("apply = %+v, %v; want skipped", res, err)
	}
	if err := b.svc.Reapply(b.ctx, id, admin); !errors.Is(err, ErrDisabled) {
		t.Errorf("re-apply: %v", err)
	}
	if g, _ := b.fake.GuardrailsOf(pid); g.SpendLimit != nil {
		t.Errorf("a disabled policy wrote a limit: %+v", g.SpendLimit)
	}
}

// Each step's calls to OpenAI say who makes them, for the governor's
// metrics of refusals by caller; all of them are background work.
func TestCallsSayWhoTheyAre(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, fullPolicy)
	id, _ := b.company(t, "Labelled")
	step := func(name string, want string, run func()) {
		t.Helper()
		before := len(b.gov.Calls())
		run()
		calls := b.gov.Calls()[before:]
		if len(calls) == 0 || slices.ContainsFunc(calls, func(c string) bool { return c != want }) {
			t.Errorf("%s made calls %v, want %s only", name, calls, want)
		}
	}
	step("apply", "policy/background", func() { b.applyNow(t) })
	step("reconcile", "reconcile/background", func() {
		if _, err := b.svc.Reconcile(b.ctx); err != nil {
			t.Fatal(err)
		}
	})
	step("offboard", "offboard/background", func() {
		if _, err := b.svc.Offboard(b.ctx, id, "Labelled", admin); err != nil {
			t.Fatal(err)
		}
		b.drain(t, b.svc)
	})
}

// The list's count of companies without their policy stops at its limit.
func TestNotAppliedAtMost(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setTemplate(t, fullPolicy)
	for _, name := range []string{"One", "Two", "Three", "Four", "Five"} {
		b.company(t, name)
	}
	for _, tt := range []struct {
		limit int
		n     int64
		more  bool
	}{{3, 3, true}, {5, 5, false}, {10, 5, false}} {
		if n, more, err := b.svc.NotAppliedAtMost(b.ctx, tt.limit); err != nil || n != tt.n || more != tt.more {
			t.Errorf("NotAppliedAtMost(%d) = %d, %v, %v; want %d, %v", tt.limit, n, more, err, tt.n, tt.more)
		}
	}
	b.applyNow(t)
	if n, more, err := b.svc.NotAppliedAtMost(b.ctx, 3); err != nil || n != 0 || more {
		t.Errorf("after applying: %d, %v, %v; want 0", n, more, err)
	}
}
