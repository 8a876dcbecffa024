package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
)

const testAPIToken = "api-token-0123456789abcdef0123456789abcdef"

// addMissing inserts n companies named prefix 1…n without a project.
func (a *testApp) addMissing(prefix string, n int) {
	a.t.Helper()
	dbtest.InsertNumberedCompanies(a.t, a.pool, prefix, n, dbtest.CompanyOpts{})
}

// count runs a count query.
func (a *testApp) count(query string, args ...any) int {
	a.t.Helper()
	return dbtest.Count(a.t, a.pool, query, args...)
}

// csrfCookie is the CSRF token of the client's session, as the layout of
// any dashboard page carries it (the token is bound to the server-side
// session, no longer the value of a cookie).
func (a *testApp) csrfCookie() string {
	a.t.Helper()
	_, doc := a.get("/admin/companies")
	token := doc.Find(`meta[name="csrf-token"]`).AttrOr("content", "")
	if token == "" {
		a.t.Fatal("no CSRF token on /admin/companies")
	}
	return token
}

// waitRun follows a backfill run until it is over.
func (a *testApp) waitRun(id int64) provision.Run {
	a.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		run, err := a.backfill.Get(context.Background(), id)
		if err != nil {
			a.t.Fatal(err)
		}
		if !run.Running() {
			return run
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("run %d still running: %+v", id, run)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiCall sends a JSON API request and decodes the JSON answer.
func (a *testApp) apiCall(method, path, body string, header http.Header) (*http.Response, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		a.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	return resp, out
}

func flashTexts(doc *goquery.Document) string {
	return doc.Find(`[data-testid="flash"]`).Text()
}

const backfillAPI = "/api/admin/openai/projects/backfill"

var (
	jsonHeader  = http.Header{"Content-Type": {"application/json"}}
	tokenHeader = http.Header{"Authorization": {"Bearer " + testAPIToken}, "Content-Type": {"application/json"}}
)

// An admin goes from the dry run to a running run; a second start shows
// the running one. No worker runs here, so the run stays "running".
func TestBackfillPage_DryRunThenStart(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	a.addMissing("Co", 12)
	admin := a.loginAs(auth.RoleAdmin)

	resp, doc := a.get("/admin/backfill")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/backfill = %d", resp.StatusCode)
	}
	if href, _ := doc.Find("#backfill-dry-run-link").Attr("href"); href != "/admin/backfill/dry-run" {
		t.Errorf("dry run link = %q", href)
	}
	if doc.Find(`[data-testid="empty-state"]`).Length() != 1 {
		t.Error("no empty state before the first run")
	}

	resp, doc = a.get("/admin/backfill/dry-run")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET dry run = %d", resp.StatusCode)
	}
	if got, _ := doc.Find(`[data-testid="dry-run-count"]`).Attr("data-count"); got != "12" {
		t.Errorf("dry run count = %q, want 12", got)
	}
	names := doc.Find(`[data-testid="dry-run-name"]`)
	if names.Length() != 10 || strings.TrimSpace(names.First().Text()) != "Co 1" {
		t.Errorf("dry run names: %d, first %q; want 10 starting with Co 1", names.Length(), names.First().Text())
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 0 || a.fake.Count(openaitest.EndpointList) != len(a.fake.Requests()) {
		// It reads OpenAI's list, for the possible matches, and nothing else.
		t.Errorf("the dry run stored %d runs and sent %d requests besides listing", n, len(a.fake.Requests())-a.fake.Count(openaitest.EndpointList))
	}
	form := doc.Find("#backfill-start-form")
	token, _ := form.Find(`input[name="csrf"]`).Attr("value")
	if action, _ := form.Attr("action"); action != "/admin/backfill" || token == "" {
		t.Fatalf("start form action %q, csrf %q", action, token)
	}

	// Without the CSRF token nothing starts.
	if resp, _ := a.post("/admin/backfill", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF = %d, want 403", resp.StatusCode)
	}
	resp, _ = a.post("/admin/backfill", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/backfill/1" {
		t.Fatalf("POST /admin/backfill = %d to %q, want 303 to /admin/backfill/1", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, doc = a.get("/admin/backfill/1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET run page = %d", resp.StatusCode)
	}
	if got := flashTexts(doc); !strings.Contains(got, "Backfill started for 12 companies.") {
		t.Errorf("flash = %q", got)
	}
	live := doc.Find("#backfill-run")
	if get, _ := live.Attr("hx-get"); get != "/admin/backfill/1/progress" {
		t.Errorf("hx-get = %q, want the progress fragment", get)
	}
	if trigger, _ := live.Attr("hx-trigger"); trigger != "every 1s" {
		t.Errorf("hx-trigger = %q, want every 1s", trigger)
	}
	if pct, _ := doc.Find(`[data-testid="backfill-progress"]`).Attr("data-percent"); pct != "0" {
		t.Errorf("progress = %q, want 0", pct)
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="stat-remaining"]`).Text()); got != "12" {
		t.Errorf("remaining = %q, want 12", got)
	}
	if doc.Find("#backfill-summary").Length() != 0 {
		t.Error("a summary is shown while the run goes on")
	}
	if n := a.count(`SELECT count(*) FROM audit_log WHERE action = 'backfill.start' AND actor_email = $1 AND actor_id = $2`, admin.Email, admin.ID); n != 1 {
		t.Errorf("%d start audit entries by the admin, want 1", n)
	}

	// The polled fragment, as htmx asks for it.
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/admin/backfill/1/progress", nil)
	req.Header.Set("HX-Request", "true")
	presp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frag := parse(t, presp)
	if presp.StatusCode != http.StatusOK || frag.Find("#backfill-run").Length() != 1 || frag.Find("title, nav").Length() != 0 {
		t.Errorf("progress fragment: %d, %d #backfill-run, %d title/nav; want the fragment alone",
			presp.StatusCode, frag.Find("#backfill-run").Length(), frag.Find("title, nav").Length())
	}

	// A second click shows the running run.
	resp, _ = a.post("/admin/backfill", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/backfill/1" {
		t.Errorf("second POST = %d to %q, want 303 to the running run", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc = a.get("/admin/backfill/1")
	if got := flashTexts(doc); !strings.Contains(got, "A backfill is already running") {
		t.Errorf("flash = %q", got)
	}
	// The running run shows the pace of OpenAI calls, from the governor.
	if got := doc.Find(`[data-testid="backfill-pace"]`).Text(); !strings.Contains(got, "5000.0 calls/s") || !strings.Contains(got, "learning OpenAI's limit") {
		t.Errorf("pace = %q, want the governor's 5000.0 calls/s, still learning", got)
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	// The dry run now points at the running run instead of offering a start.
	_, doc = a.get("/admin/backfill/dry-run")
	if doc.Find("#backfill-start-form").Length() != 0 || doc.Find(`#dry-run-running a[href="/admin/backfill/1"]`).Length() != 1 {
		t.Error("the dry run offers a start while a run is running")
	}
	_, doc = a.get("/admin/backfill")
	if doc.Find(`#backfill-run[data-status="running"]`).Length() != 1 || doc.Find(`[data-testid="backfill-run-row"]`).Length() != 1 {
		t.Error("the backfill page does not show the running run")
	}
	for _, path := range []string{"/admin/backfill/2", "/admin/backfill/x", "/admin/backfill/2/progress"} {
		if resp, _ := a.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
}

// A finished run shows its summary and failures, stops polling, and
// "Retry failed" starts a run for those companies alone.
func TestBackfillPage_SummaryAndRetryFailed(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{work: true})
	a.addMissing("Co", 6)
	a.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusUnauthorized})
	a.loginAs(auth.RoleAdmin)

	resp, _ := a.post("/admin/backfill", url.Values{"csrf": {a.csrfCookie()}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /admin/backfill = %d", resp.StatusCode)
	}
	run := a.waitRun(1)
	if run.Created != 5 || run.Failed != 1 {
		t.Fatalf("run = %+v, want 5 created, 1 failed", run)
	}
	_, doc := a.get("/admin/backfill/1")
	live := doc.Find("#backfill-run")
	if _, polling := live.Attr("hx-trigger"); polling || live.AttrOr("data-status", "") != "finished" {
		t.Errorf("finished run: status %q, still polling %v", live.AttrOr("data-status", ""), polling)
	}
	if pct, _ := doc.Find(`[data-testid="backfill-progress"]`).Attr("data-percent"); pct != "100" {
		t.Errorf("progress = %q, want 100", pct)
	}
	if n := doc.Find(`[data-testid="backfill-pace"]`).Length(); n != 0 {
		t.Errorf("a finished run shows the live pace of OpenAI calls (%d)", n)
	}
	for testid, want := range map[string]string{"summary-created": "5", "summary-linked": "0", "summary-failed": "1", "summary-skipped": "0"} {
		if got := strings.TrimSpace(doc.Find(fmt.Sprintf(`[data-testid=%q]`, testid)).Text()); got != want {
			t.Errorf("%s = %q, want %q", testid, got, want)
		}
	}
	failure := doc.Find(`[data-testid="backfill-failure"]`)
	if failure.Length() != 1 || !strings.Contains(failure.Text(), "OpenAI rejected the admin key (401)") {
		t.Fatalf("failures: %q", failure.Text())
	}
	failedID := run.Failures[0].CompanyID
	if href, _ := failure.Find("a").Attr("href"); href != fmt.Sprintf("/admin/companies/%d", failedID) {
		t.Errorf("failure links to %q", href)
	}
	retry := doc.Find("#backfill-retry-form")
	token, _ := retry.Find(`input[name="csrf"]`).Attr("value")
	if action, _ := retry.Attr("action"); action != "/admin/backfill/1/retry-failed" || token == "" {
		t.Fatalf("retry form action %q, csrf %q", action, token)
	}

	// A company that signed up meanwhile is not the retry's business.
	a.addMissing("Late", 1)
	creates := a.fake.CreateCount()
	resp, _ = a.post("/admin/backfill/1/retry-failed", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/backfill/2" {
		t.Fatalf("retry = %d to %q, want 303 to run 2", resp.StatusCode, resp.Header.Get("Location"))
	}
	second := a.waitRun(2)
	if second.RetryOf != 1 || second.Total != 1 || second.Created != 1 {
		t.Errorf("retry run = %+v, want 1 created, retrying run 1", second)
	}
	if n := a.fake.CreateCount() - creates; n != 1 {
		t.Errorf("the retry sent %d creates, want 1", n)
	}
	if n := a.count(`SELECT count(*) FROM companies WHERE name = 'Late 1' AND openai_project_id IS NULL`); n != 1 {
		t.Error("the retry provisioned a company that had not failed")
	}
	_, doc = a.get("/admin/backfill/2")
	if got := flashTexts(doc); !strings.Contains(got, "the 1 companies that failed in run #1") {
		t.Errorf("flash = %q", got)
	}
	if doc.Find(`a[href="/admin/backfill/1"]`).Length() == 0 {
		t.Error("the retry run does not link the run it retries")
	}
	// Run 1's failures are fixed: nothing left to retry.
	resp, _ = a.post("/admin/backfill/1/retry-failed", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/backfill/1" {
		t.Errorf("second retry = %d to %q, want back to run 1", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}

func TestBackfillPage_NotConfigured(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{noKey: true})
	a.addMissing("Co", 2)
	a.loginAs(auth.RoleAdmin)
	_, doc := a.get("/admin/backfill")
	if doc.Find(`[data-testid="backfill-not-configured"]`).Length() != 1 || doc.Find("#backfill-dry-run-link").Length() != 0 {
		t.Error("the page does not say that no key is configured")
	}
	resp, _ := a.post("/admin/backfill", url.Values{"csrf": {a.csrfCookie()}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/backfill" {
		t.Fatalf("POST = %d to %q, want back to /admin/backfill", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc = a.get("/admin/backfill")
	if got := flashTexts(doc); !strings.Contains(got, "OPENAI_ADMIN_KEY") {
		t.Errorf("flash = %q", got)
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 0 {
		t.Errorf("%d runs, want 0", n)
	}
}

// Support staff may not see or run the backfill, by page, form or API.
func TestBackfill_SupportForbidden(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{apiToken: testAPIToken})
	a.addMissing("Co", 3)
	a.loginAs(auth.RoleSupport)

	for _, path := range []string{"/admin/backfill", "/admin/backfill/dry-run", "/admin/backfill/1", "/admin/backfill/1/progress"} {
		if resp, _ := a.get(path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s = %d, want 403", path, resp.StatusCode)
		}
	}
	token := a.csrfCookie()
	for _, path := range []string{"/admin/backfill", "/admin/backfill/1/retry-failed"} {
		if resp, _ := a.post(path, url.Values{"csrf": {token}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s = %d, want 403", path, resp.StatusCode)
		}
	}
	resp, body := a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": false}`, jsonHeader)
	if resp.StatusCode != http.StatusForbidden || body["error"] == nil {
		t.Errorf("API as support = %d %v, want 403 with an error", resp.StatusCode, body)
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 0 {
		t.Errorf("%d runs, want 0", n)
	}
	// Signed out, the pages send to the login.
	anon := a.newClient()
	if resp, _ := anon.get("/admin/backfill"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Errorf("anonymous GET = %d to %q, want the login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestBackfillAPI_Token(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{apiToken: testAPIToken})
	a.addMissing("Co", 3)

	for name, h := range map[string]http.Header{
		"None":   jsonHeader,
		"Wrong":  {"Authorization": {"Bearer " + testAPIToken + "x"}, "Content-Type": {"application/json"}},
		"Basic":  {"Authorization": {"Basic " + testAPIToken}},
		"Prefix": {"Authorization": {"Bearer " + testAPIToken[:10]}},
	} {
		resp, body := a.apiCall(http.MethodPost, backfillAPI, `{}`, h)
		if resp.StatusCode != http.StatusUnauthorized || body["error"] == nil {
			t.Errorf("%s: %d %v, want 401 with an error", name, resp.StatusCode, body)
		}
	}

	resp, body := a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": true}`, tokenHeader)
	if resp.StatusCode != http.StatusOK || body["count"] != 3.0 || len(body["names"].([]any)) != 3 {
		t.Errorf("dry run = %d %v, want 200 with 3 companies", resp.StatusCode, body)
	}
	for _, bad := range []string{`{"dry_run": "yes"}`, `{"dryrun": true}`, `{"dry_run": true`, `[]`, `{} {}`} {
		if resp, body := a.apiCall(http.MethodPost, backfillAPI, bad, tokenHeader); resp.StatusCode != http.StatusBadRequest || body["error"] == nil {
			t.Errorf("body %s: %d %v, want 400", bad, resp.StatusCode, body)
		}
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 0 {
		t.Fatalf("%d runs after dry runs and bad requests, want 0", n)
	}

	resp, body = a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": false}`, tokenHeader)
	if resp.StatusCode != http.StatusAccepted || body["id"] != 1.0 || body["status"] != "running" || body["total"] != 3.0 || body["started_by"] != "api" {
		t.Fatalf("start = %d %v, want 202 with running run 1 of 3", resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc != backfillAPI+"/1" {
		t.Errorf("Location = %q", loc)
	}
	resp, body = a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": false}`, tokenHeader)
	if resp.StatusCode != http.StatusConflict || body["id"] != 1.0 {
		t.Errorf("second start = %d %v, want 409 with run 1", resp.StatusCode, body)
	}
	resp, body = a.apiCall(http.MethodGet, backfillAPI+"/1", "", tokenHeader)
	if resp.StatusCode != http.StatusOK || body["id"] != 1.0 || body["remaining"] != 3.0 || body["url"] != backfillAPI+"/1" {
		t.Errorf("status = %d %v", resp.StatusCode, body)
	}
	for _, path := range []string{backfillAPI + "/2", backfillAPI + "/abc"} {
		if resp, body := a.apiCall(http.MethodGet, path, "", tokenHeader); resp.StatusCode != http.StatusNotFound || body["error"] == nil {
			t.Errorf("GET %s = %d %v, want 404 JSON", path, resp.StatusCode, body)
		}
	}
	if n := a.count(`SELECT count(*) FROM audit_log WHERE action = 'backfill.start' AND actor_email = 'api'`); n != 1 {
		t.Errorf("%d start audit entries by the API, want 1", n)
	}
}

// Without ADMIN_API_TOKEN no bearer token is accepted.
func TestBackfillAPI_NoTokenConfigured(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	a.addMissing("Co", 1)
	for _, auth := range []string{"Bearer ", "Bearer x", "Bearer " + testAPIToken} {
		resp, _ := a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": true}`, http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", auth, resp.StatusCode)
		}
	}
}

// An admin's session works for JSON requests only, which no other site can
// forge.
func TestBackfillAPI_AdminSession(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	a.addMissing("Co", 2)
	admin := a.loginAs(auth.RoleAdmin)

	formHeader := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for name, h := range map[string]http.Header{"Form": formHeader, "Text": {"Content-Type": {"text/plain"}}, "None": nil} {
		if resp, _ := a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": false}`, h); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %d, want 415", name, resp.StatusCode)
		}
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 0 {
		t.Fatalf("%d runs after non-JSON requests, want 0", n)
	}
	resp, body := a.apiCall(http.MethodPost, backfillAPI, `{"dry_run": false}`, http.Header{"Content-Type": {"application/json; charset=utf-8"}})
	if resp.StatusCode != http.StatusAccepted || body["started_by"] != admin.Email {
		t.Fatalf("start = %d %v, want 202 by %s", resp.StatusCode, body, admin.Email)
	}
	// Status reads need no JSON body.
	if resp, body := a.apiCall(http.MethodGet, backfillAPI+"/1", "", nil); resp.StatusCode != http.StatusOK || body["total"] != 2.0 {
		t.Errorf("status = %d %v", resp.StatusCode, body)
	}
	// The same run as a page.
	_, doc := a.get("/admin/backfill")
	if doc.Find(`#backfill-run[data-status="running"]`).Length() != 1 {
		t.Error("the API's run is not on the page")
	}
}
