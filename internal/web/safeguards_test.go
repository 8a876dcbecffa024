package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/provision"
)

func gateSettings(f func(*provision.Settings)) provision.Settings {
	s := provision.Settings{MaxAttempts: 5, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, SettleDelay: 300 * time.Millisecond}
	f(&s)
	return s
}

// Over the signup budget the companies are created and shown waiting, with
// a banner, the count and the budget; the waiting filter lists them.
func TestSafeguards_BudgetBannerAndWaitingStatus(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{settings: gateSettings(func(s *provision.Settings) { s.SignupBudget = 1 })})
	var doneURL string
	for _, name := range []string{"Budget One", "Budget Two", "Budget Three"} {
		resp, _ := app.signup(validSignup(name))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("signup %s: status %d", name, resp.StatusCode)
		}
		doneURL = resp.Header.Get("Location")
	}
	if c, _ := app.company("Budget Three"); c.Status != "waiting" || c.ProjectID != nil {
		t.Fatalf("third signup = %+v, want waiting", c)
	}
	// The public confirmation says nothing of budgets.
	_, done := app.get(doneURL)
	if msg := done.Find(`[data-testid="done-message"]`).Text(); strings.Contains(msg, "budget") || !strings.Contains(msg, "queued") {
		t.Errorf("public message = %q", msg)
	}

	app.loginAs(auth.RoleSupport)
	_, doc := app.get("/admin/companies")
	if got := strings.TrimSpace(doc.Find(`[data-testid="waiting-budget"]`).Text()); got != "2" {
		t.Errorf("budget banner count = %q, want 2", got)
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="budget"]`).Text()); got != "1 / 1 per hour" {
		t.Errorf("budget = %q", got)
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="total-waiting"]`).Text()); got != "2" {
		t.Errorf("waiting total = %q, want 2", got)
	}
	if n := doc.Find(`[data-testid="badge"][data-status="waiting"]`).Length(); n != 2 {
		t.Errorf("%d waiting badges, want 2", n)
	}
	_, doc = app.get("/admin/companies?filter=waiting")
	if n := doc.Find(`[data-testid="company-row"]`).Length(); n != 2 {
		t.Errorf("waiting filter shows %d rows, want 2", n)
	}
	if got := doc.Find(`[data-testid="wait-reason"]`).First().Text(); !strings.Contains(got, "budget") {
		t.Errorf("wait reason = %q", got)
	}
	// The dashboard home counts them as waiting, not pending.
	_, home := app.get("/admin")
	if got := strings.TrimSpace(home.Find(`[data-testid="home-total-waiting"]`).Text()); got != "2" {
		t.Errorf("home waiting total = %q, want 2", got)
	}
	if got := strings.TrimSpace(home.Find(`[data-testid="home-total-pending"]`).Text()); got != "0" {
		t.Errorf("home pending total = %q, want 0", got)
	}
}

// At the organization's limit the list shows used / limit and the warning.
func TestSafeguards_CapacityShown(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{settings: gateSettings(func(s *provision.Settings) { s.ProjectLimit = 2 })})
	app.fake.AddProject("Old 1", false)
	app.loginAs(auth.RoleAdmin)
	_, doc := app.get("/admin/companies")
	if got := strings.TrimSpace(doc.Find(`[data-testid="capacity"]`).Text()); got != "not counted yet" {
		t.Errorf("capacity before a count = %q", got)
	}
	// As the periodic count would store it (provision.RefreshCapacity).
	if _, err := app.pool.Exec(context.Background(), `INSERT INTO org_capacity (active_projects, counted_at) VALUES (1, now())`); err != nil {
		t.Fatal(err)
	}
	app.signup(validSignup("Fills It"))
	_, doc = app.get("/admin/companies")
	if got := doc.Find(`[data-testid="capacity"]`).Text(); !strings.Contains(got, "2 / 2") {
		t.Errorf("capacity = %q, want 2 / 2", got)
	}
	if doc.Find(`[data-testid="capacity-full"]`).Length() != 1 {
		t.Error("no at-the-limit warning")
	}
	// The dashboard home shows the same count.
	_, home := app.get("/admin")
	if got := strings.Join(strings.Fields(home.Find(`[data-testid="home-capacity"]`).Text()), " "); !strings.Contains(got, "2 of 2 projects in use (100%)") {
		t.Errorf("home capacity = %q, want 2 of 2 projects in use (100%%)", got)
	}
	app.signup(validSignup("Too Many"))
	if c, _ := app.company("Too Many"); c.Status != "waiting" || c.LastError != provision.ReasonCapacity {
		t.Errorf("signup at the limit = %+v", c)
	}
}

// Approval mode from the list: approve several at once, reject one; from a
// company's page: approve one. Nothing goes to OpenAI before.
func TestSafeguards_ApproveAndRejectFromTheList(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{work: true, settings: gateSettings(func(s *provision.Settings) { s.RequireApproval = true })})
	names := []string{"Wait A", "Wait B", "Wait C", "Wait D"}
	for _, name := range names {
		app.signup(validSignup(name))
	}
	if n := app.fake.CreateCount(); n != 0 {
		t.Fatalf("%d projects created before approval", n)
	}
	app.loginAs(auth.RoleSupport)
	token, doc := app.csrf("/admin/companies?filter=waiting")
	if n := doc.Find(`[data-testid="decide-check"]`).Length(); n != 4 {
		t.Fatalf("%d approval checkboxes, want 4", n)
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="waiting-approval"]`).Text()); got != "4" {
		t.Errorf("approval banner = %q, want 4", got)
	}
	id := func(name string) string {
		c, _ := app.company(name)
		return itoa(c.ID)
	}
	resp, _ := app.post("/admin/companies/decide", url.Values{"csrf": {token}, "decision": {"approve"}, "company_id": {id("Wait A"), id("Wait B")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve many: status %d", resp.StatusCode)
	}
	resp, _ = app.post("/admin/companies/decide", url.Values{"csrf": {token}, "decision": {"reject"}, "company_id": {id("Wait C")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject: status %d", resp.StatusCode)
	}
	detailToken, detail := app.csrf("/admin/companies/" + id("Wait D"))
	if detail.Find(`[data-testid="approve-submit"]`).Length() != 1 || detail.Find("#provision-submit").Length() != 0 {
		t.Error("detail page of a company awaiting approval: want Approve, not Create project now")
	}
	app.post("/admin/companies/decide", url.Values{"csrf": {detailToken}, "decision": {"approve"}, "return": {"detail"}, "company_id": {id("Wait D")}})
	// Bad input changes nothing.
	if resp, _ := app.post("/admin/companies/decide", url.Values{"csrf": {token}, "decision": {"delete"}, "company_id": {id("Wait C")}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown decision: status %d, want 400", resp.StatusCode)
	}
	if resp, _ := app.post("/admin/companies/decide", url.Values{"csrf": {token}, "decision": {"approve"}, "company_id": {"x"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad id: status %d, want 400", resp.StatusCode)
	}

	deadline := time.Now().Add(20 * time.Second)
	for _, name := range []string{"Wait A", "Wait B", "Wait D"} {
		for {
			c, _ := app.company(name)
			if c.ProjectID != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s approved but no project: %+v", name, c)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if c, _ := app.company("Wait C"); c.ProjectID != nil {
		t.Errorf("rejected company got project %s", *c.ProjectID)
	}
	var approved, rejected int
	if err := app.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE action = 'signup.approve'), count(*) FILTER (WHERE action = 'signup.reject') FROM audit_log`).Scan(&approved, &rejected); err != nil {
		t.Fatal(err)
	}
	if approved != 3 || rejected != 1 {
		t.Errorf("audit: %d approvals, %d rejections; want 3, 1", approved, rejected)
	}
	_, doc = app.get("/admin/companies")
	if doc.Find(`[data-testid="badge"][data-status="rejected"]`).Length() != 1 {
		t.Error("no rejected badge")
	}
}

// The dry run lists an old same-name project as a possible match with a
// Link button; the admin's link is verified and audited.
func TestSafeguards_DryRunPossibleMatchLinkedByHand(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	old := app.fake.AddProjectCreatedAt("Internal Billing Prod", time.Now().Add(-365*24*time.Hour))
	if _, err := app.pool.Exec(context.Background(), `INSERT INTO companies (name, industry, contact_name, contact_email, provisioning_status)
		VALUES ('Internal Billing Prod', 'Software', 'Eve', 'eve@example.com', 'failed')`); err != nil {
		t.Fatal(err)
	}
	app.loginAs(auth.RoleAdmin)
	token, doc := app.csrf("/admin/backfill/dry-run")
	row := doc.Find(`[data-testid="possible-match"]`)
	if row.Length() != 1 || row.AttrOr("data-project-id", "") != old.ID {
		t.Fatalf("possible matches: %d rows, want the old project %s", row.Length(), old.ID)
	}
	c, _ := app.company("Internal Billing Prod")
	resp, _ := app.post("/admin/backfill/possible-matches/link", url.Values{"csrf": {token}, "company_id": {itoa(c.ID)}, "project_id": {old.ID}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("link: status %d", resp.StatusCode)
	}
	if c, _ := app.company("Internal Billing Prod"); c.ProjectID == nil || *c.ProjectID != old.ID {
		t.Errorf("after the explicit link: %+v", c)
	}
	var n int
	if err := app.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'project_id.assign' AND after = $1 AND detail LIKE '%possible match%'`, old.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d audit entries (%v), want 1", n, err)
	}
	// Support staff may not.
	support := app.newClient()
	support.loginAs(auth.RoleSupport)
	stoken, _ := support.csrf("/admin/companies")
	if resp, _ := support.post("/admin/backfill/possible-matches/link", url.Values{"csrf": {stoken}, "company_id": {itoa(c.ID)}, "project_id": {old.ID}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support links: status %d, want 403", resp.StatusCode)
	}
}
