package provision_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/testclock"
)

var gateAdmin = audit.Actor{ID: 1, Email: "admin@example.com"}

type gateOpts struct {
	work     bool
	settings func(*provision.Settings)
	pool     *pgxpool.Pool      // default: a fresh database
	fake     *openaitest.Server // default: a new fake
	// capacityRefresh starts the periodic count of the organization's projects.
	capacityRefresh time.Duration
}

// setupGate is setup with the safeguards' settings given.
func setupGate(t *testing.T, o gateOpts) *bundle {
	t.Helper()
	pool, fake := o.pool, o.fake
	if pool == nil {
		pool = dbtest.NewPool(t)
	}
	if fake == nil {
		fake = openaitest.New(openaitest.Options{AdminKey: testKey})
		t.Cleanup(fake.Close)
	}
	client, _ := fake.NewClient(t, openai.Options{AdminKey: testKey, Timeout: 3 * time.Second})
	logger := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := provision.Settings{
		MaxAttempts: 10, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		SettleDelay: 300 * time.Millisecond, LockWaitBusy: 50 * time.Millisecond,
	}
	if o.settings != nil {
		o.settings(&s)
	}
	prov := provision.New(pool, client, s, metrics.New(prometheus.NewRegistry()), logger)
	rc, err := provision.NewRiverClient(pool, prov, provision.ClientOptions{
		Work: o.work, Workers: 4, JobTimeout: 15 * time.Second, RescueAfter: 20 * time.Second, Logger: logger,
		CapacityRefresh: o.capacityRefresh,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.work {
		if err := rc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rc.StopAndCancel(ctx)
		})
	}
	return &bundle{pool: pool, fake: fake, prov: prov, river: rc,
		companies: company.NewService(pool, rc, prov, 2*time.Second, logger)}
}

func (b *bundle) get(t *testing.T, id int64) company.Company {
	t.Helper()
	c, err := b.companies.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (b *bundle) safeguards(t *testing.T) company.Safeguards {
	t.Helper()
	s, err := b.companies.Safeguards(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *bundle) provision(t *testing.T, id int64, trigger string) provision.Result {
	t.Helper()
	res, err := b.prov.Provision(context.Background(), id, provision.Attempt{Trigger: trigger})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (b *bundle) scalar(t *testing.T, query string, args ...any) int {
	t.Helper()
	return dbtest.Count(t, b.pool, query, args...)
}

// The flood of finding 1, against the budget: every signup creates its
// company, but only PROJECT_CREATE_BUDGET projects are created per hour;
// the rest wait, visibly, and are created once the hour has passed.
// Staff actions and backfills do not count against the budget.
func TestGate_SignupBudget(t *testing.T) {
	t.Parallel()
	clock := testclock.New(time.Now())
	b := setupGate(t, gateOpts{settings: func(s *provision.Settings) {
		s.SignupBudget, s.BudgetWindow, s.Now = 2, time.Hour, clock.Now
	}})
	ctx := context.Background()
	names := []string{"Flood 1", "Flood 2", "Flood 3", "Flood 4", "Flood 5", "Flood 6"}
	var ids []int64
	for i, name := range names {
		c := b.signup(t, name)
		ids = append(ids, c.ID)
		switch {
		case i < 2 && c.Status != company.StatusProvisioned:
			t.Fatalf("signup %d: status %s (%q), want provisioned within the budget", i+1, c.Status, c.LastError)
		case i >= 2 && (c.Status != company.StatusWaiting || c.LastError != company.ReasonBudget || c.OpenAIProjectID != ""):
			t.Fatalf("signup %d: %+v; want waiting for the budget, no project", i+1, c)
		}
	}
	if n := b.fake.CreateCount(); n != 2 {
		t.Fatalf("%d projects created, want the budget's 2", n)
	}
	if n := b.scalar(t, `SELECT count(*) FROM companies`); n != len(names) {
		t.Errorf("%d companies, want every signup's %d", n, len(names))
	}
	sg := b.safeguards(t)
	if !sg.BudgetSpent() || sg.BudgetUsed != 2 || sg.WaitingBudget != 4 {
		t.Errorf("safeguards = %+v; want budget 2 of 2 used, 4 waiting for it", sg)
	}
	totals, err := b.companies.Totals(ctx)
	if err != nil || totals.Waiting != 4 {
		t.Errorf("totals = %+v, %v; want 4 waiting", totals, err)
	}
	page, err := b.companies.List(ctx, company.ListParams{Filter: company.FilterWaiting})
	if err != nil || len(page.Companies) != 4 {
		t.Errorf("waiting filter lists %d companies (%v), want 4", len(page.Companies), err)
	}

	// The job waking before the hour is over still waits.
	if res := b.provision(t, ids[2], provision.TriggerRetry); res.Outcome != provision.Waiting || res.RetryAfter < 50*time.Minute {
		t.Errorf("retry within the hour: %+v, want waiting about an hour", res)
	}
	// A staff member's "Create project now" and a backfill do not count.
	if _, err := b.companies.RequestProvisioning(ctx, ids[4], gateAdmin); err != nil {
		t.Fatal(err)
	}
	if res := b.provision(t, ids[4], provision.TriggerManual); res.Outcome != provision.Created {
		t.Errorf("staff request: %+v, want created despite the budget", res)
	}
	if res := b.provision(t, ids[5], provision.TriggerBackfill); res.Outcome != provision.Created {
		t.Errorf("backfill: %+v, want created despite the budget", res)
	}
	if n := b.fake.CreateCount(); n != 4 {
		t.Fatalf("%d projects created, want 4", n)
	}

	// An hour later the budget is free again: the waiting companies' jobs
	// create their projects, two more, and the next signup waits again.
	clock.Add(time.Hour + 10*time.Second)
	for _, id := range ids[2:4] {
		if res := b.provision(t, id, provision.TriggerRetry); res.Outcome != provision.Created {
			t.Errorf("company %d after the hour: %+v, want created", id, res)
		}
		if c := b.get(t, id); c.Status != company.StatusProvisioned || c.OpenAIProjectID == "" {
			t.Errorf("company %d = %+v, want provisioned", id, c)
		}
	}
	if c := b.signup(t, "Flood 7"); c.Status != company.StatusWaiting {
		t.Errorf("signup after the budget is spent again: %s, want waiting", c.Status)
	}
	if n := b.fake.CreateCount(); n != 6 {
		t.Errorf("%d projects created, want 6 (2 + staff + backfill + 2 an hour later)", n)
	}
	if totals, _ := b.companies.Totals(ctx); totals.Waiting != 1 {
		t.Errorf("totals.Waiting = %d, want 1", totals.Waiting)
	}
}

// A budget of 0 is no budget.
func TestGate_NoBudget(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{settings: func(s *provision.Settings) { s.SignupBudget = 0 }})
	for _, name := range []string{"Free 1", "Free 2", "Free 3"} {
		if c := b.signup(t, name); c.Status != company.StatusProvisioned {
			t.Errorf("%s: %s, want provisioned", name, c.Status)
		}
	}
}

// At the organization's project limit new projects wait with the reason
// "organization project limit", and are created by their own jobs once a
// count of the organization's projects shows room again.
func TestGate_ProjectLimit(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{work: true, settings: func(s *provision.Settings) {
		s.ProjectLimit, s.CapacityRecheck = 3, 100*time.Millisecond
	}})
	ctx := context.Background()
	old := b.fake.AddProject("Internal 1", false)
	b.fake.AddProject("Internal 2", false)
	b.fake.AddProject("Archived", true)
	if n, err := b.prov.RefreshCapacity(ctx); err != nil || n != 2 {
		t.Fatalf("capacity count = %d, %v; want the 2 active projects", n, err)
	}
	if sg := b.safeguards(t); !sg.CapacityKnown || sg.Used != 2 || sg.Limit != 3 || sg.NearLimit() || sg.AtLimit() {
		t.Errorf("safeguards = %+v; want 2 of 3 used, not near", sg)
	}
	a := b.signup(t, "Room For One")
	if a.Status != company.StatusProvisioned {
		t.Fatalf("first signup: %s (%q), want provisioned", a.Status, a.LastError)
	}
	if sg := b.safeguards(t); sg.Used != 3 || !sg.AtLimit() || !sg.NearLimit() {
		t.Errorf("safeguards = %+v; want 3 of 3 used: at the limit", sg)
	}
	c := b.signup(t, "One Too Many")
	if c.Status != company.StatusWaiting || c.LastError != company.ReasonCapacity {
		t.Fatalf("signup at the limit: %s (%q), want waiting for %q", c.Status, c.LastError, company.ReasonCapacity)
	}
	// Backfills and staff wait too: the limit is OpenAI's.
	if res := b.provision(t, c.ID, provision.TriggerBackfill); res.Outcome != provision.Waiting && res.Outcome != provision.Busy {
		t.Errorf("backfill at the limit: %+v, want waiting", res)
	}
	if n := b.fake.CreateCount(); n != 1 {
		t.Fatalf("%d projects created, want 1", n)
	}
	if sg := b.safeguards(t); sg.WaitingCapacity != 1 {
		t.Errorf("safeguards = %+v, want 1 waiting for capacity", sg)
	}
	if got := b.get(t, c.ID); got.Status != company.StatusWaiting {
		t.Errorf("company at the limit = %s, want still waiting", got.Status)
	}

	// An admin archives a project on OpenAI; the next count shows room and
	// the waiting company's job creates its project by itself.
	if !b.fake.ArchiveProject(old.ID) {
		t.Fatal("archive failed")
	}
	if n, err := b.prov.RefreshCapacity(ctx); err != nil || n != 2 {
		t.Fatalf("capacity count = %d, %v; want 2", n, err)
	}
	final := b.waitFinal(t, c.ID, 20*time.Second)
	if final.Status != company.StatusProvisioned || b.fake.CountByName("One Too Many") != 1 {
		t.Errorf("after capacity returned: %+v, want provisioned with one project", final)
	}
	for _, at := range b.attempts(t, c.ID) {
		if at.Outcome == "failed" {
			t.Errorf("an attempt failed for good because of the limit: %+v", at)
		}
	}
}

// OpenAI's own "project limit" answer makes the company wait, not fail, and
// marks the organization full until its projects are counted again.
func TestGate_ProjectLimitErrorWaits(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{work: true, settings: func(s *provision.Settings) {
		s.ProjectLimit, s.CapacityRecheck = 50, 100*time.Millisecond
	}})
	b.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 400, Message: "You have reached the maximum number of projects (project limit) for this organization."})
	c := b.signup(t, "Limit Reached")
	if c.Status != company.StatusWaiting || c.LastError != company.ReasonCapacity {
		t.Fatalf("signup refused for the limit: %s (%q), want waiting for capacity", c.Status, c.LastError)
	}
	if sg := b.safeguards(t); !sg.AtLimit() {
		t.Errorf("safeguards = %+v, want the organization counted full", sg)
	}
	if at := b.attempts(t, c.ID); len(at) != 1 || at[0].Outcome != "waiting" {
		t.Errorf("attempts = %+v, want one ending 'waiting'", at)
	}
	if _, err := b.prov.RefreshCapacity(context.Background()); err != nil {
		t.Fatal(err)
	}
	if final := b.waitFinal(t, c.ID, 20*time.Second); final.Status != company.StatusProvisioned {
		t.Errorf("after the count: %+v, want provisioned", final)
	}
}

// Approval mode: companies are created but nothing is sent to OpenAI until
// a staff member approves them, one or several at once; a rejected company
// gets no project. Every decision is audited, and approving is a staff
// action that the signup budget does not hold back.
func TestApproval(t *testing.T) {
	t.Parallel()
	b := setupGate(t, gateOpts{work: true, settings: func(s *provision.Settings) {
		s.RequireApproval, s.SignupBudget = true, 1
	}})
	ctx := context.Background()
	var ids []int64
	for _, name := range []string{"Approve Me", "Approve Us 1", "Approve Us 2", "Reject Me"} {
		c := b.signup(t, name)
		if c.Status != company.StatusWaiting || c.LastError != company.ReasonApproval || !c.AwaitingApproval() {
			t.Fatalf("signup %q: %+v, want waiting for approval", name, c)
		}
		ids = append(ids, c.ID)
	}
	if n := len(b.fake.Requests()); n != 0 {
		t.Fatalf("%d requests sent to OpenAI before any approval", n)
	}
	if n := b.scalar(t, `SELECT count(*) FROM river_job WHERE kind = 'provision_project'`); n != 0 {
		t.Errorf("%d provisioning jobs before approval, want 0", n)
	}
	// Neither "Create project now" nor a backfill goes around approval.
	if _, err := b.companies.RequestProvisioning(ctx, ids[0], gateAdmin); !errors.Is(err, company.ErrNeedsApproval) {
		t.Errorf("RequestProvisioning before approval: %v, want ErrNeedsApproval", err)
	}
	if res := b.provision(t, ids[0], provision.TriggerBackfill); res.Outcome != provision.NotApproved {
		t.Errorf("backfill before approval: %+v, want not_approved", res)
	}
	if sg := b.safeguards(t); sg.WaitingApproval != 4 || !sg.RequireApproval {
		t.Errorf("safeguards = %+v, want 4 awaiting approval", sg)
	}

	one, err := b.companies.Approve(ctx, ids[:1], gateAdmin)
	if err != nil || len(one.Done) != 1 {
		t.Fatalf("approve one: %+v, %v", one, err)
	}
	many, err := b.companies.Approve(ctx, []int64{ids[1], ids[2], ids[0]}, gateAdmin)
	if err != nil || len(many.Done) != 2 || len(many.Unchanged) != 1 || many.Unchanged[0] != ids[0] {
		t.Fatalf("approve many: %+v, %v; want 2 approved, the first unchanged", many, err)
	}
	rej, err := b.companies.Reject(ctx, ids[3:], gateAdmin)
	if err != nil || len(rej.Done) != 1 {
		t.Fatalf("reject: %+v, %v", rej, err)
	}
	for _, id := range ids[:3] {
		if c := b.waitFinal(t, id, 20*time.Second); c.Status != company.StatusProvisioned {
			t.Errorf("approved company %d = %+v, want provisioned (the budget of 1 does not hold staff back)", id, c)
		}
	}
	if c := b.get(t, ids[3]); c.OpenAIProjectID != "" || !c.Rejected() || c.Status == company.StatusPending {
		t.Errorf("rejected company = %+v, want no project and no pending work", c)
	}
	if _, err := b.companies.RequestProvisioning(ctx, ids[3], gateAdmin); !errors.Is(err, company.ErrNeedsApproval) {
		t.Errorf("RequestProvisioning after rejection: %v, want ErrNeedsApproval", err)
	}
	if n := b.fake.CreateCount(); n != 3 {
		t.Errorf("%d projects created, want the 3 approved", n)
	}
	for action, want := range map[string]int{audit.ActionApproveSignup: 3, audit.ActionRejectSignup: 1} {
		if n := b.scalar(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND actor_email = $2 AND company_id IS NOT NULL`, action, gateAdmin.Email); n != want {
			t.Errorf("%d %s audit entries, want %d", n, action, want)
		}
	}
	tooMany := make([]int64, company.MaxDecisions+1)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	if _, err := b.companies.Approve(ctx, tooMany, gateAdmin); !errors.Is(err, company.ErrTooManyDecisions) {
		t.Errorf("approving too many at once: %v, want ErrTooManyDecisions", err)
	}
}

// The budget is one for all processes: signups racing through two
// processes on one database create exactly the budget's projects.
func TestGate_BudgetSharedByProcesses(t *testing.T) {
	t.Parallel()
	budget := func(s *provision.Settings) { s.SignupBudget = 3 }
	a := setupGate(t, gateOpts{settings: budget})
	b := setupGate(t, gateOpts{settings: budget, pool: a.pool, fake: a.fake})
	var wg sync.WaitGroup
	for i := range 10 {
		proc := a
		if i%2 == 1 {
			proc = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := proc.companies.CreateCompanyFromSignup(context.Background(), company.SignupParams{
				Name: "Race " + string(rune('A'+i)), Industry: "Software", ContactName: "Grace Hopper", ContactEmail: "grace@example.com",
			})
			if err != nil {
				t.Errorf("signup %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if n := a.fake.CreateCount(); n != 3 {
		t.Errorf("%d projects created by two processes, want the budget's 3", n)
	}
	if n := a.scalar(t, `SELECT count(*) FROM companies WHERE provisioning_status = 'waiting'`); n != 7 {
		t.Errorf("%d companies waiting, want 7", n)
	}
}

func TestSafeguards_NearLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		used       int
		near, full bool
	}{{1799, false, false}, {1800, true, false}, {1999, true, false}, {2000, true, true}} {
		s := provision.Safeguards{CapacityKnown: true, Used: tt.used, Limit: 2000}
		if s.NearLimit() != tt.near || s.AtLimit() != tt.full {
			t.Errorf("%d of 2000: near %v, full %v; want %v, %v", tt.used, s.NearLimit(), s.AtLimit(), tt.near, tt.full)
		}
	}
	if (provision.Safeguards{Used: 5000, Limit: 2000}).AtLimit() {
		t.Error("an unknown capacity counts as full")
	}
}

// The periodic job counts the organization's projects on its own and
// stores the count for every process.
func TestCapacity_PeriodicCount(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: testKey})
	t.Cleanup(fake.Close)
	for _, name := range []string{"One", "Two", "Three"} {
		fake.AddProject(name, false)
	}
	fake.AddProject("Gone", true)
	b := setupGate(t, gateOpts{work: true, fake: fake, capacityRefresh: time.Hour})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if sg := b.safeguards(t); sg.CapacityKnown {
			if sg.Used != 3 || sg.Limit != 2000 {
				t.Errorf("counted %d of %d, want 3 active of 2000", sg.Used, sg.Limit)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the periodic job never counted the organization's projects")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The gate keeps the creations let through since the last count as a
// number (not a count of rows on every admission); two processes admitting
// at once, a refused create that frees its place and a recount leave it
// exactly the rows it stands for.
func TestGate_AdmittedCountStaysExact(t *testing.T) {
	t.Parallel()
	limit := func(s *provision.Settings) { s.ProjectLimit, s.CapacityRecheck = 7, time.Hour }
	a := setupGate(t, gateOpts{settings: limit})
	b := setupGate(t, gateOpts{settings: limit, pool: a.pool, fake: a.fake})
	ctx := context.Background()
	a.fake.AddProject("Internal", false)
	if n, err := a.prov.RefreshCapacity(ctx); err != nil || n != 1 {
		t.Fatalf("capacity count = %d, %v; want 1", n, err)
	}
	exact := func(when string) {
		t.Helper()
		rows := a.scalar(t, `SELECT count(*) FROM project_reservations r, org_capacity c WHERE r.reserved_at >= c.counted_at`)
		if kept := a.scalar(t, `SELECT admitted FROM org_capacity`); kept != rows {
			t.Errorf("%s: the count says %d creations since the last count, the reservations %d", when, kept, rows)
		}
	}
	// A definite refusal: no project, so its place is freed.
	a.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 400, Message: "bad request"})
	var wg sync.WaitGroup
	for i := range 12 {
		proc := a
		if i%2 == 1 {
			proc = b
		}
		wg.Go(func() {
			_, err := proc.companies.CreateCompanyFromSignup(ctx, company.SignupParams{
				Name: "Seat " + string(rune('A'+i)), Industry: "Software", ContactName: "Grace Hopper", ContactEmail: "grace@example.com",
			})
			if err != nil {
				t.Errorf("signup %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	exact("after the signups")
	created := len(a.fake.Projects()) - 1
	if created == 0 || created > 6 {
		t.Fatalf("%d projects created, want 1 to the 6 the limit leaves", created)
	}
	if sg := a.safeguards(t); sg.Used != 1+created {
		t.Errorf("safeguards say %d used, want %d (1 counted + %d created)", sg.Used, 1+created, created)
	}
	if n := a.scalar(t, `SELECT count(*) FROM companies WHERE provisioning_status = 'waiting'`); n == 0 {
		t.Error("no signup waits for capacity: the gate let everyone through")
	}
	if n, err := b.prov.RefreshCapacity(ctx); err != nil || n != 1+created {
		t.Fatalf("recount = %d, %v; want %d", n, err, 1+created)
	}
	exact("after the recount")
	if sg := a.safeguards(t); sg.Used != 1+created {
		t.Errorf("after the recount the safeguards say %d used, want %d", sg.Used, 1+created)
	}
}
