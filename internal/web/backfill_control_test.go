package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
)

// waitFor polls cond until it holds or a minute passes.
func (a *testApp) waitFor(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			a.t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// With OpenAI hanging, a backfill says it is stalled and why after a
// bounded time; an admin pauses, resumes and cancels it, each audited; the
// cancelled run leaves every company in a consistent state and nothing
// more is tried.
func TestBackfill_StalledPauseResumeCancel(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{
		work:          true,
		openaiTimeout: 300 * time.Millisecond,
		stallAfter:    time.Second,
		// Passing failures are retried for as long as the run goes on.
		settings: provision.Settings{MaxAttempts: 1000, BackoffBase: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond, SettleDelay: 10 * time.Millisecond},
	})
	a.addMissing("Hung", 3)
	// Every create hangs past the client's timeout, then the connection
	// drops: nothing is ever created, nothing is answered.
	hang := make([]openaitest.Fault, 2000)
	for i := range hang {
		hang[i] = openaitest.Fault{Endpoint: openaitest.EndpointCreate, Latency: 500 * time.Millisecond, Reset: true}
	}
	a.fake.Inject(hang...)
	admin := a.loginAs(auth.RoleAdmin)

	if resp, _ := a.post("/admin/backfill", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /admin/backfill = %d", resp.StatusCode)
	}
	const page = "/admin/backfill/1"

	// Stalled, with the reason, on the run page and on the home page.
	const wantStall = "Stalled: OpenAI is not answering (last error: OpenAI did not answer in time.)"
	a.waitFor("the run to show as stalled", func() bool {
		_, doc := a.get(page)
		return text(doc.Find(`[data-testid="backfill-stall"]`)) == wantStall
	})
	_, doc := a.get(page)
	if got := doc.Find("#backfill-run").AttrOr("data-state", ""); got != "stalled" {
		t.Errorf("run state = %q, want stalled", got)
	}
	if got := text(doc.Find(`[data-testid="backfill-status"]`)); got != "Stalled" {
		t.Errorf("status pill = %q, want Stalled", got)
	}
	_, home := a.get("/admin")
	if got := text(home.Find(`[data-testid="home-backfill-problem"]`)); got != wantStall {
		t.Errorf("home page says %q, want %q", got, wantStall)
	}
	if got := home.Find(`[data-testid="home-backfill-status"]`).AttrOr("data-status", ""); got != "stalled" {
		t.Errorf("home backfill status = %q, want stalled", got)
	}

	// Pause, then resume: each changes the state and is audited.
	if resp, _ := a.post(page+"/pause", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause = %d", resp.StatusCode)
	}
	_, doc = a.get(page)
	if got := doc.Find("#backfill-run").AttrOr("data-state", ""); got != "paused" {
		t.Errorf("after pause the state is %q, want paused", got)
	}
	if doc.Find("#backfill-resume").Length() != 1 || doc.Find("#backfill-pause").Length() != 0 {
		t.Error("a paused run offers no Resume (or still offers Pause)")
	}
	if resp, _ := a.post(page+"/pause", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second pause = %d", resp.StatusCode)
	}
	_, doc = a.get(page)
	if got := flashTexts(doc); !strings.Contains(got, "paused already") {
		t.Errorf("a second pause flashes %q", got)
	}
	if resp, _ := a.post(page+"/resume", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resume = %d", resp.StatusCode)
	}
	_, doc = a.get(page)
	if got := doc.Find("#backfill-run").AttrOr("data-state", ""); got != "running" {
		t.Errorf("after resume the state is %q, want running (the stall clock restarts)", got)
	}

	// Cancel while companies are in flight.
	if resp, _ := a.post(page+"/cancel", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel = %d", resp.StatusCode)
	}
	run, err := a.backfill.Get(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != provision.RunCancelled {
		t.Fatalf("run status = %s, want cancelled", run.Status)
	}
	for _, action := range []string{audit.ActionBackfillPause, audit.ActionBackfillResume, audit.ActionBackfillCancel} {
		if n := a.count(`SELECT count(*) FROM audit_log WHERE action = $1 AND actor_email = $2`, action, admin.Email); n != 1 {
			t.Errorf("%d %s entries by %s, want 1", n, action, admin.Email)
		}
	}
	// The worker lets its calls in flight end, then stops.
	a.waitFor("the backfill job to end", func() bool {
		return a.count(`SELECT count(*) FROM river_job WHERE kind = 'backfill_run' AND state NOT IN ('completed', 'cancelled', 'discarded')`) == 0
	})
	creates := a.fake.CreateCount()
	time.Sleep(time.Second)
	if got := a.fake.CreateCount(); got != creates {
		t.Errorf("%d more creates after the cancelled run stopped", got-creates)
	}
	// Consistent: every company has its project, or a final state with the
	// reason, and nobody is left pending with an attempt nobody will make.
	if n := a.count(`SELECT count(*) FROM companies WHERE openai_project_id IS NULL AND provisioning_status = 'pending'`); n != 0 {
		t.Errorf("%d companies left pending by the cancelled run", n)
	}
	if n := a.count(`SELECT count(*) FROM companies WHERE provisioning_status = 'failed' AND provisioning_error LIKE 'backfill run 1 was cancelled%'`); n != 3 {
		t.Errorf("%d companies marked failed by the cancel, want the 3 it was working on", n)
	}
	if n := a.count(`SELECT count(*) FROM provision_attempts WHERE outcome = 'started'`); n != 0 {
		t.Errorf("%d attempts left open", n)
	}
	if n := len(a.fake.Projects()); n != 0 {
		t.Errorf("%d projects exist on OpenAI, want none (every create hung)", n)
	}
	// They are the failures that need a human, on the home page.
	_, home = a.get("/admin")
	if got := home.Find(`[data-testid="home-failure"]`).Length(); got != 3 {
		t.Errorf("home page lists %d failures, want 3", got)
	}
	// A control on a run that is over changes nothing.
	if resp, _ := a.post(page+"/resume", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resume after cancel = %d", resp.StatusCode)
	}
	_, doc = a.get(page)
	if got := flashTexts(doc); !strings.Contains(got, "over already") {
		t.Errorf("resume after cancel flashes %q", got)
	}
	if doc.Find("#backfill-controls").Length() != 0 {
		t.Error("a cancelled run still offers Pause or Cancel")
	}
}

// Support staff may not control a run.
func TestBackfillControl_SupportForbidden(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	a.addMissing("Co", 1)
	a.loginAs(auth.RoleAdmin)
	if resp, _ := a.post("/admin/backfill", url.Values{"csrf": {a.csrfCookie()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start = %d", resp.StatusCode)
	}
	s := a.newClient()
	s.loginAs(auth.RoleSupport)
	for _, c := range []string{"pause", "resume", "cancel"} {
		if resp, _ := s.post("/admin/backfill/1/"+c, url.Values{"csrf": {s.csrfCookie()}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("support POST %s = %d, want 403", c, resp.StatusCode)
		}
	}
	if run, _ := a.backfill.Get(context.Background(), 1); run.Status != provision.RunRunning || run.Paused {
		t.Errorf("after support's refused controls the run is %s (paused %v)", run.Status, run.Paused)
	}
}
