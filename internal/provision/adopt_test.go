package provision_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
)

// runBackfill starts a backfill and waits for it to end.
func (b *bundle) runBackfill(t *testing.T) provision.Run {
	t.Helper()
	bf := provision.NewBackfiller(b.prov, b.river, 2)
	run, _, err := bf.Start(context.Background(), gateAdmin, provision.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for run.Running() {
		if time.Now().After(deadline) {
			t.Fatalf("backfill still running: %+v", run)
		}
		time.Sleep(50 * time.Millisecond)
		if run, err = bf.Get(context.Background(), run.ID); err != nil {
			t.Fatal(err)
		}
	}
	return run
}

func (b *bundle) dryRun(t *testing.T) provision.DryRun {
	t.Helper()
	dry, err := provision.NewBackfiller(b.prov, b.river, 2).DryRun(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dry.MatchesError != "" {
		t.Fatalf("dry run could not list projects: %s", dry.MatchesError)
	}
	return dry
}

// Finding 2: someone signs up under the name of the organization's
// year-old internal project while creates fail. Neither the search after an
// uncertain create nor the backfill hands them that project; the dry run
// shows it as a possible match, and only an admin's explicit, audited link
// attaches it.
func TestAdopt_OldSameNameProjectIsNotLinked(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{work: true})
	ctx := context.Background()
	const name = "Internal Billing Prod"
	internal := b.fake.AddProjectCreatedAt(name, time.Now().Add(-365*24*time.Hour))

	// Creates fail for good: the signup's attempt fails.
	b.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 403})
	c := b.signup(t, name)
	if c.Status != company.StatusFailed || c.OpenAIProjectID != "" {
		t.Fatalf("signup while creates fail: %+v, want failed without a project", c)
	}

	dry := b.dryRun(t)
	if len(dry.PossibleMatches) != 1 || dry.AutoLinks != 0 {
		t.Fatalf("dry run matches = %+v (auto %d); want the internal project as one possible match", dry.PossibleMatches, dry.AutoLinks)
	}
	m := dry.PossibleMatches[0]
	if m.CompanyID != c.ID || m.ProjectID != internal.ID || m.Released || !strings.Contains(m.Why, "before the company's first provisioning attempt") {
		t.Errorf("possible match = %+v; want company %d with %s, created before its first attempt", m, c.ID, internal.ID)
	}

	run := b.runBackfill(t)
	if got := b.get(t, c.ID); got.OpenAIProjectID == internal.ID {
		t.Fatalf("the backfill linked the company to the organization's internal project %s", internal.ID)
	}
	if run.Linked != 0 || run.Failed != 1 || len(run.Failures) != 1 || !strings.Contains(run.Failures[0].Error, "may not adopt automatically") {
		t.Errorf("run = %+v; want the company failed, asking for a decision by hand", run)
	}
	if n := b.fake.CountByName(name); n != 1 {
		t.Errorf("%d projects named %q, want only the internal one (no duplicate beside a possible match)", n, name)
	}

	// The search after an uncertain create does not take it either.
	b.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 500})
	if _, err := b.pool.Exec(ctx, `UPDATE companies SET provisioning_status = 'pending', provisioning_error = '', next_attempt_at = NULL WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if res := b.provision(t, c.ID, provision.TriggerManual); res.Outcome != provision.Uncertain {
		t.Fatalf("attempt with a 500: %+v, want uncertain", res)
	}
	for res := b.provision(t, c.ID, provision.TriggerRetry); !res.Outcome.Final(); res = b.provision(t, c.ID, provision.TriggerRetry) {
		time.Sleep(res.RetryAfter)
	}
	final := b.get(t, c.ID)
	if final.OpenAIProjectID == internal.ID || final.Status != company.StatusProvisioned {
		t.Errorf("after an uncertain create: %+v; want a project of its own, not %s", final, internal.ID)
	}

	// An admin may still link it explicitly, and that is audited.
	other := b.signup(t, "Billing Two")
	if _, err := b.pool.Exec(ctx, `UPDATE companies SET openai_project_id = NULL, provisioning_status = 'failed' WHERE id = $1`, other.ID); err != nil {
		t.Fatal(err)
	}
	res, err := b.companies.LinkPossibleMatch(ctx, other.ID, internal.ID, gateAdmin)
	if err != nil || !res.Verified {
		t.Fatalf("explicit link: %+v, %v", res, err)
	}
	if got := b.get(t, other.ID); got.OpenAIProjectID != internal.ID {
		t.Errorf("explicit link: project %q, want %s", got.OpenAIProjectID, internal.ID)
	}
	if n := b.scalar(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND company_id = $2 AND after = $3 AND actor_email = $4 AND detail LIKE $5`,
		audit.ActionAssignProjectID, other.ID, internal.ID, gateAdmin.Email, company.PossibleMatchNote+"%"); n != 1 {
		t.Errorf("%d audit entries for the explicit link, want 1", n)
	}
}

// A project created after the company's first attempt began (its own,
// whose answer was lost) is still adopted by the backfill.
func TestAdopt_OwnProjectIsLinked(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{work: true})
	b.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 403})
	c := b.signup(t, "Own Project")
	own := b.fake.AddProject("Own Project", false) // as if a create had landed
	if dry := b.dryRun(t); dry.AutoLinks != 1 || len(dry.PossibleMatches) != 0 {
		t.Errorf("dry run: auto %d, possible %+v; want 1 automatic link", dry.AutoLinks, dry.PossibleMatches)
	}
	if run := b.runBackfill(t); run.Linked != 1 {
		t.Errorf("run = %+v, want 1 linked", run)
	}
	if got := b.get(t, c.ID); got.OpenAIProjectID != own.ID {
		t.Errorf("project %q, want its own %s", got.OpenAIProjectID, own.ID)
	}
}

// Finding 2, second half: a project ID an admin cleared is remembered and
// never adopted again automatically, by the backfill or by the search after
// an uncertain create.
func TestAdopt_ClearedIDIsNeverAdoptedAgain(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{work: true})
	ctx := context.Background()
	c := b.signup(t, "Acme Cleared")
	first := c.OpenAIProjectID
	if first == "" {
		t.Fatalf("signup: %+v, want a project", c)
	}
	if _, err := b.companies.ClearProjectID(ctx, c.ID, gateAdmin); err != nil {
		t.Fatal(err)
	}
	if n := b.scalar(t, `SELECT count(*) FROM released_projects WHERE project_id = $1 AND company_id = $2 AND released_by = $3`, first, c.ID, gateAdmin.Email); n != 1 {
		t.Fatalf("cleared ID not remembered (%d rows)", n)
	}

	dry := b.dryRun(t)
	if len(dry.PossibleMatches) != 1 || !dry.PossibleMatches[0].Released || dry.PossibleMatches[0].ProjectID != first || dry.AutoLinks != 0 {
		t.Errorf("dry run = %+v; want the cleared project as a released possible match", dry)
	}
	b.runBackfill(t)
	second := b.get(t, c.ID).OpenAIProjectID
	if second == "" || second == first {
		t.Fatalf("after the backfill: project %q; want a new one, not the cleared %s", second, first)
	}

	// The search after an uncertain create skips released IDs too, even
	// when the uncertain attempt began before the project was created.
	if _, err := b.companies.ClearProjectID(ctx, c.ID, gateAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO provision_attempts (company_id, trigger, outcome, started_at, finished_at)
		VALUES ($1, 'signup', 'uncertain', now() - interval '1 hour', now() - interval '1 hour')`, c.ID); err != nil {
		t.Fatal(err)
	}
	res := b.provision(t, c.ID, provision.TriggerManual)
	if res.Outcome != provision.Created || res.ProjectID == first || res.ProjectID == second {
		t.Errorf("after an uncertain attempt: %+v; want a new project, neither %s nor %s", res, first, second)
	}
	// An admin may link a cleared ID back by hand.
	if _, err := b.pool.Exec(ctx, `UPDATE companies SET openai_project_id = NULL, provisioning_status = 'pending' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.companies.LinkPossibleMatch(ctx, c.ID, first, gateAdmin); err != nil {
		t.Fatalf("explicit link of a cleared ID: %v", err)
	}
	if got := b.get(t, c.ID); got.OpenAIProjectID != first {
		t.Errorf("explicit link: %q, want %s", got.OpenAIProjectID, first)
	}
}
