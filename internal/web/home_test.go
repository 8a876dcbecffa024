package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// /admin is the dashboard's home, where the login sends staff: totals by
// state, the OpenAI connection, failures that need a human, the backfill
// and the latest audit entries.
func TestHome(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	a.insertCompany("Provisioned Co", "proj_home1", "provisioned")
	a.insertCompany("Pending Co", "", "pending")
	a.insertCompany("Skipped Co", "", "skipped")
	failed := a.insertCompany("Failed Co", "", "failed")
	if _, err := a.pool.Exec(t.Context(), `UPDATE companies SET provisioning_error = $2 WHERE id = $1`, failed,
		`openai create project: Post "http://127.0.0.1:1/v1/organization/projects": dial tcp 127.0.0.1:1: connect: connection refused`); err != nil {
		t.Fatal(err)
	}
	a.loginAs(auth.RoleSupport) // the login's own redirect to /admin: TestLogin_OpenRedirect
	resp, doc := a.get("/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin = %d, want 200", resp.StatusCode)
	}
	for testid, want := range map[string]string{
		"home-total-companies": "4", "home-total-provisioned": "1", "home-total-pending": "1",
		"home-total-skipped": "1", "home-total-failed": "1",
	} {
		if got := text(doc.Find(`[data-testid="` + testid + `"]`)); got != want {
			t.Errorf("%s = %q, want %q", testid, got, want)
		}
	}
	// The failure, in a sentence, with the Go error behind Details.
	f := doc.Find(`[data-testid="home-failure"]`)
	if got := text(f.Find(`[data-testid="error-sentence"]`)); got != "OpenAI could not be reached (connection refused)." {
		t.Errorf("failure sentence = %q", got)
	}
	if got := text(f.Find(`details [data-testid="error-detail"]`)); !strings.Contains(got, "dial tcp") {
		t.Errorf("failure detail = %q, want the technical text", got)
	}
	if got := text(doc.Find(`[data-testid="openai-key"]`)); got != "Configured" {
		t.Errorf("key = %q, want Configured", got)
	}
	if got := text(doc.Find(`[data-testid="openai-last"]`)); !strings.Contains(got, "No call since the server started") {
		t.Errorf("last call = %q", got)
	}
	if doc.Find(`[data-testid="home-capacity"]`).Length() != 0 {
		t.Error("capacity is shown although it is not known")
	}
	if doc.Find(`[data-testid="home-audit"]`).Length() != 1 || doc.Find(`[data-testid="home-backfill"]`).Length() != 1 {
		t.Error("home lacks the audit or backfill panel")
	}

	// Test connection: one cheap read call, then OK.
	lists := a.fake.Count(openaitest.EndpointList)
	resp, _ = a.post("/admin/openai/test", url.Values{"csrf": {a.csrfCookie()}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /admin/openai/test = %d", resp.StatusCode)
	}
	if got := a.fake.Count(openaitest.EndpointList) - lists; got != 1 {
		t.Errorf("the test made %d list calls, want 1", got)
	}
	if reqs := a.fake.Requests(); reqs[len(reqs)-1].Query.Get("limit") != "1" {
		t.Errorf("the test listed with limit %q, want 1", reqs[len(reqs)-1].Query.Get("limit"))
	}
	_, doc = a.get("/admin")
	if got := flashTexts(doc); !strings.Contains(got, "the connection works") {
		t.Errorf("flash = %q", got)
	}
	if got := doc.Find(`[data-testid="openai-last"] [data-ok]`).AttrOr("data-ok", ""); got != "true" {
		t.Errorf("last call ok = %q, want true", got)
	}

	// A refused key: the htmx test swaps the panel with the reason, and the
	// first failure stays on the home page.
	a.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointList, Status: http.StatusUnauthorized})
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/admin/openai/test", strings.NewReader(url.Values{"csrf": {a.csrfCookie()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	hresp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frag := parse(t, hresp)
	if got := frag.Find(`[data-testid="openai-test-result"]`).AttrOr("data-ok", ""); got != "false" {
		t.Errorf("test result ok = %q, want false", got)
	}
	if got := text(frag.Find(`[data-testid="openai-test-result"] [data-testid="error-sentence"]`)); !strings.Contains(got, "rejected the admin key (401)") {
		t.Errorf("test result says %q", got)
	}
	a.post("/admin/openai/test", url.Values{"csrf": {a.csrfCookie()}}) // OK again
	_, doc = a.get("/admin")
	if got := text(doc.Find(`[data-testid="openai-first-failure"]`)); !strings.Contains(got, "rejected the admin key (401)") {
		t.Errorf("first failure = %q, want the 401", got)
	}
	if got := doc.Find(`[data-testid="openai-last"] [data-ok]`).AttrOr("data-ok", ""); got != "true" {
		t.Errorf("last call ok = %q, want true after the later success", got)
	}
}

// A key that is not an admin key is warned about on the home page.
func TestHome_KeyWarning(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{adminKey: "sk-proj-abcdefghijklmnop"})
	a.loginAs(auth.RoleAdmin)
	_, doc := a.get("/admin")
	got := text(doc.Find(`[data-testid="openai-key-warning"]`))
	if !strings.Contains(got, "project key (sk-proj-…)") || !strings.Contains(got, "sk-admin-") {
		t.Errorf("key warning = %q", got)
	}
	if strings.Contains(doc.Text(), "sk-proj-abcdefghijklmnop") {
		t.Error("the page shows the key")
	}
}

// Without a key the home page says what is needed and offers no test.
func TestHome_NoKey(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{noKey: true})
	a.loginAs(auth.RoleAdmin)
	resp, doc := a.get("/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin = %d", resp.StatusCode)
	}
	if got := text(doc.Find(`[data-testid="openai-key"]`)); !strings.Contains(got, "Set OPENAI_ADMIN_KEY to create projects") {
		t.Errorf("key = %q", got)
	}
	if doc.Find("#openai-test").Length() != 0 {
		t.Error(`"Test connection" is offered without a key`)
	}
	_, doc = a.get("/admin/backfill")
	if doc.Find("#backfill-dry-run-link").Length() != 0 {
		t.Error("the backfill is offered without a key")
	}
	if got := text(doc.Find(`[data-testid="empty-state"]`)); strings.Contains(got, "Start a backfill") || !strings.Contains(got, "Set OPENAI_ADMIN_KEY") {
		t.Errorf("the backfill's empty state says %q: it points at a hidden button or not at what is needed", got)
	}
}
