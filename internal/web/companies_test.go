package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/db/dbtest"
)

// insertCompany adds a company straight to the database: projectID "" for
// none; status is its provisioning status.
func (a *testApp) insertCompany(name, projectID, status string) int64 {
	a.t.Helper()
	return dbtest.InsertCompany(a.t, a.pool, dbtest.CompanyOpts{
		Name: name, ContactName: "Ada Lovelace", ContactEmail: "ada@example.com",
		Website: "https://example.com", CompanySize: "11-50", Country: "United Kingdom",
		Description: "Project for " + name, ProjectID: projectID, Status: status,
	})
}

// projectOf reads a company's project ID and status.
func (a *testApp) projectOf(id int64) (projectID, status string) {
	a.t.Helper()
	var pid *string
	if err := a.pool.QueryRow(context.Background(),
		`SELECT openai_project_id, provisioning_status FROM companies WHERE id = $1`, id).Scan(&pid, &status); err != nil {
		a.t.Fatal(err)
	}
	if pid != nil {
		projectID = *pid
	}
	return projectID, status
}

// auditActions lists the audit log's actions for the company, oldest first,
// as "action before→after by actor".
func (a *testApp) auditActions(companyID int64) []string {
	a.t.Helper()
	rows, err := a.pool.Query(context.Background(),
		`SELECT action || ' ' || before || '→' || after || ' by ' || actor_email FROM audit_log WHERE company_id = $1 ORDER BY id`, companyID)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// getHX fetches path as htmx does.
func (a *testApp) getHX(path string) (*http.Response, *goquery.Document) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, parse(a.t, resp)
}

// submit loads page, then posts form to action with the page's CSRF token.
func (a *testApp) submit(page, action string, form url.Values) (*http.Response, *goquery.Document) {
	a.t.Helper()
	token, _ := a.csrf(page)
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", token)
	return a.post(action, form)
}

func detailPath(id int64) string { return "/admin/companies/" + strconv.FormatInt(id, 10) }

func rowIDs(doc *goquery.Document) []string {
	var ids []string
	doc.Find(`[data-testid="company-row"]`).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-id", ""))
	})
	return ids
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func TestCompanyList_SearchFilterPaginate(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleSupport)
	// 120 companies: every 10th without a project (skipped), every 15th failed.
	rows := make([]dbtest.CompanyOpts, 120)
	for n := range rows {
		i := n + 1
		rows[n] = dbtest.CompanyOpts{
			Name: fmt.Sprintf("Company%03d", i), ContactName: fmt.Sprintf("Contact %d", i), ContactEmail: fmt.Sprintf("owner%d@example.com", i),
			CreatedAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i/2) * time.Minute),
			ProjectID: fmt.Sprintf("proj_web%d", i), Status: "provisioned",
		}
		switch {
		case i%15 == 0:
			rows[n].ProjectID, rows[n].Status = "", "failed"
		case i%10 == 0:
			rows[n].ProjectID, rows[n].Status = "", "skipped"
		}
	}
	dbtest.InsertCompanies(t, app.pool, rows)

	resp, doc := app.get("/admin/companies")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/companies: status %d", resp.StatusCode)
	}
	// 12 without a project (i%10), 8 failed (i%15), 4 both (i%30).
	for id, want := range map[string]string{"total-companies": "120", "total-with-project": "104", "total-missing": "16", "total-failed": "8"} {
		if got := text(doc.Find(`[data-testid="` + id + `"]`)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}

	// Newest first, 50 a page, every company once.
	var seen []string
	pages := 0
	for path := "/admin/companies"; path != ""; pages++ {
		resp, doc := app.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
		ids := rowIDs(doc)
		if path != "/admin/companies" && (doc.Find("#page-first").Length() != 1 || doc.Find("#page-prev").Length() != 1) {
			t.Errorf("page %d has no First/Previous links", pages+1)
		}
		if next, ok := doc.Find("#page-next").Attr("href"); ok {
			if len(ids) != 50 {
				t.Errorf("page %d has %d rows, want 50", pages+1, len(ids))
			}
			path = next
		} else {
			path = ""
		}
		seen = append(seen, ids...)
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || len(seen) != 120 {
		t.Errorf("walked %d pages, %d rows; want 3 pages, 120 rows", pages, len(seen))
	}
	unique := slices.Clone(seen)
	slices.Sort(unique)
	if len(slices.Compact(unique)) != 120 {
		t.Errorf("rows repeat across pages: %v", seen)
	}
	_, first := app.get("/admin/companies")
	if got := text(first.Find(`[data-testid="company-link"]`).First()); got != "Company120" {
		t.Errorf("newest company = %q, want Company120", got)
	}

	// Previous from page 2 is page 1.
	_, page2 := app.get(first.Find("#page-next").AttrOr("href", ""))
	_, back := app.get(page2.Find("#page-prev").AttrOr("href", ""))
	if got, want := rowIDs(back), rowIDs(first); !slices.Equal(got, want) {
		t.Errorf("Previous from page 2 = %v, want page 1 %v", got, want)
	}

	// Search by name fragment, email and project ID; the form keeps the query.
	for q, want := range map[string]string{"ANY099": "Company099", "owner7@EXAMPLE.com": "Company007", "proj_web11": "Company011"} {
		_, doc := app.get("/admin/companies?q=" + url.QueryEscape(q))
		if got := text(doc.Find(`[data-testid="company-link"]`)); got != want {
			t.Errorf("q=%s found %q, want %q", q, got, want)
		}
		if got := doc.Find("#company-q").AttrOr("value", ""); got != q {
			t.Errorf("search box = %q, want %q kept", got, q)
		}
	}

	// Filters: missing = no project ID, whatever the status.
	_, doc = app.get("/admin/companies?filter=missing&sort=name")
	if got := len(rowIDs(doc)); got != 16 {
		t.Errorf("filter=missing: %d rows, want 16", got)
	}
	if doc.Find(`[data-testid="project-id"]`).Length() != 0 {
		t.Error("filter=missing shows companies with a project ID")
	}
	doc.Find(`[data-testid="company-row"] [data-testid="badge"]`).Each(func(_ int, s *goquery.Selection) {
		if st := s.AttrOr("data-status", ""); st != "missing" && st != "failed" {
			t.Errorf("filter=missing shows a %q badge", st)
		}
	})
	names := doc.Find(`[data-testid="company-link"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	if !slices.IsSorted(names) {
		t.Errorf("sort=name order: %v", names)
	}
	if got := doc.Find("#company-filter option[selected]").AttrOr("value", ""); got != "missing" {
		t.Errorf("filter select shows %q, want missing", got)
	}
	_, doc = app.get("/admin/companies?filter=failed")
	if got := len(rowIDs(doc)); got != 8 {
		t.Errorf("filter=failed: %d rows, want 8", got)
	}

	// Each row: link, copy button and OpenAI link for the project, badge.
	_, doc = app.get("/admin/companies?q=proj_web11")
	row := doc.Find(`[data-testid="company-row"]`)
	if href := row.Find(`[data-testid="company-link"]`).AttrOr("href", ""); !strings.HasPrefix(href, "/admin/companies/") {
		t.Errorf("company link = %q", href)
	}
	if got := row.Find(`button[data-copy]`).AttrOr("data-copy", ""); got != "proj_web11" {
		t.Errorf("copy button copies %q", got)
	}
	if got := row.Find(`[data-testid="project-link"]`).AttrOr("href", ""); !strings.HasPrefix(got, "https://platform.openai.com/settings/proj_web11") {
		t.Errorf("OpenAI link = %q", got)
	}
	if got := row.Find(`[data-testid="badge"]`).AttrOr("data-status", ""); got != "provisioned" {
		t.Errorf("badge = %q, want provisioned", got)
	}

	// A damaged cursor is a clear 400, not a 500.
	if resp, _ := app.get("/admin/companies?after=garbage"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("damaged cursor: status %d, want 400", resp.StatusCode)
	}
}

func TestCompanyList_HTMXFragment(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleSupport)
	app.insertCompany("Acme", "proj_acme1", "provisioned")
	app.insertCompany("Globex", "", "skipped")

	resp, doc := app.getHX("/admin/companies?q=glob")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if doc.Find("#company-results").Length() != 1 || doc.Find("html head title").Length() != 0 ||
		doc.Find("#admin-nav").Length() != 0 || doc.Find("#company-totals").Length() != 0 || doc.Find("#company-search").Length() != 0 {
		t.Errorf("htmx search did not return the results fragment alone")
	}
	if got := text(doc.Find(`[data-testid="company-link"]`)); got != "Globex" {
		t.Errorf("fragment rows = %q, want Globex", got)
	}
	if got := doc.Find(`[data-testid="badge"]`).AttrOr("data-status", ""); got != "missing" {
		t.Errorf("badge = %q, want missing", got)
	}
	if vary := strings.Join(resp.Header.Values("Vary"), ", "); !strings.Contains(vary, "HX-Request") {
		t.Errorf("Vary = %q, want HX-Request", vary)
	}

	// Without htmx, the whole page; the form targets the fragment.
	_, page := app.get("/admin/companies?q=glob")
	form := page.Find("#company-search")
	if form.AttrOr("method", "") != "get" || form.AttrOr("hx-target", "") != "#company-results" || form.AttrOr("hx-push-url", "") != "true" {
		t.Errorf("search form: method=%q hx-target=%q hx-push-url=%q", form.AttrOr("method", ""), form.AttrOr("hx-target", ""), form.AttrOr("hx-push-url", ""))
	}
}

func TestCompanyList_EmptyStates(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleSupport)

	_, doc := app.get("/admin/companies")
	if doc.Find(`[data-testid="empty-state"]`).Length() != 1 || doc.Find(`#empty-signup[href="/signup"]`).Length() != 1 {
		t.Errorf("no companies: want an empty state linking to /signup, got %q", text(doc.Find("#company-results")))
	}

	app.insertCompany("Acme", "", "pending")
	_, doc = app.get("/admin/companies?q=nothing-like-this")
	if !strings.Contains(text(doc.Find(`[data-testid="empty-state"]`)), "No companies match") ||
		doc.Find(`#empty-clear[href="/admin/companies"]`).Length() != 1 {
		t.Errorf("no match: want an empty state offering to clear the search, got %q", text(doc.Find("#company-results")))
	}
}

func TestCompany_EscapesHTML(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleAdmin)
	const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	id := app.insertCompany(evil, "", "pending")

	for _, path := range []string{"/admin/companies", detailPath(id)} {
		resp, err := app.client.Get(app.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, resp := readBody(t, resp)
		doc := parse(t, resp)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("GET %s: the company name is not escaped", path)
		}
		if doc.Find("script:not([src])").Length() != 0 || doc.Find("img").Length() != 0 {
			t.Errorf("GET %s: the name became markup", path)
		}
		if !strings.Contains(doc.Text(), evil) {
			t.Errorf("GET %s: the name is not shown as text", path)
		}
	}
}

func TestCompanyDetail(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	app.loginAs(auth.RoleSupport)
	id := app.insertCompany("Acme", "", "failed")
	_, err := app.pool.Exec(context.Background(), `
		UPDATE companies SET provisioning_error = 'OpenAI refused: project limit reached' WHERE id = $1;`, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.pool.Exec(context.Background(), `
		INSERT INTO provision_attempts (company_id, trigger, actor, started_at, finished_at, outcome, error, http_status, openai_request_id)
		VALUES ($1, 'signup', '', now() - interval '1 hour', now() - interval '1 hour' + interval '250 milliseconds', 'retryable', 'server error', 500, 'req_old'),
		       ($1, 'manual', 'sam@example.com', now() - interval '1 minute', now(), 'failed', 'project limit reached', 400, 'req_new')`, id)
	if err != nil {
		t.Fatal(err)
	}

	resp, doc := app.get(detailPath(id))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for sel, want := range map[string]string{
		"#company-name": "Acme", `[data-testid="field-industry"]`: "Software", `[data-testid="field-email"]`: "ada@example.com",
		`[data-testid="field-country"]`: "United Kingdom", `[data-testid="field-size"]`: "11-50",
		`[data-testid="field-description"]`: "Project for Acme", `[data-testid="last-error"]`: "Last error: OpenAI refused: project limit reached",
	} {
		if got := text(doc.Find(sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	site := doc.Find(`[data-testid="field-website"] a`)
	if site.AttrOr("href", "") != "https://example.com" || site.AttrOr("rel", "") != "noopener noreferrer nofollow" {
		t.Errorf("website link href=%q rel=%q", site.AttrOr("href", ""), site.AttrOr("rel", ""))
	}
	if got := doc.Find(`[data-testid="badge"]`).AttrOr("data-status", ""); got != "failed" {
		t.Errorf("badge = %q, want failed", got)
	}

	// History, newest first, with who asked.
	rows := doc.Find(`[data-testid="history-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("history rows = %d, want 2", rows.Length())
	}
	first := rows.First()
	if got := text(first.Find(`[data-testid="history-trigger"]`)) + "/" + text(first.Find(`[data-testid="history-actor"]`)) + "/" +
		first.Find(`[data-testid="history-outcome"]`).AttrOr("data-outcome", ""); got != "manual/sam@example.com/failed" {
		t.Errorf("newest attempt = %q", got)
	}
	if got := text(rows.Last()); !strings.Contains(got, "server error") || !strings.Contains(got, "500") || !strings.Contains(got, "req_old") || !strings.Contains(got, "250ms") {
		t.Errorf("oldest attempt row = %q, want error, HTTP status, request id and duration", got)
	}

	// Support sees the actions support may take, not the admin-only ones.
	if doc.Find("#provision-form").Length() != 1 || doc.Find("#assign-form").Length() != 1 || doc.Find("#clear-form").Length() != 0 {
		t.Errorf("support on a company without project: provision=%d assign=%d clear=%d",
			doc.Find("#provision-form").Length(), doc.Find("#assign-form").Length(), doc.Find("#clear-form").Length())
	}
	withProject := app.insertCompany("Globex", "proj_globex1", "provisioned")
	_, doc = app.get(detailPath(withProject))
	if doc.Find("#assign-form").Length() != 0 || doc.Find("#clear-form").Length() != 0 || doc.Find("#provision-form").Length() != 0 {
		t.Error("support sees change/clear/provision on a company with a project")
	}
	if got := doc.Find(`#company-project button[data-copy]`).AttrOr("data-copy", ""); got != "proj_globex1" {
		t.Errorf("copy button copies %q", got)
	}

	admin := app.newClient()
	admin.loginAs(auth.RoleAdmin)
	_, doc = admin.get(detailPath(withProject))
	clear := doc.Find("#clear-form")
	if clear.Length() != 1 || clear.AttrOr("data-confirm", "") == "" || doc.Find("#assign-form").Length() != 1 {
		t.Errorf("admin: clear form %d (confirm %q), change form %d", clear.Length(), clear.AttrOr("data-confirm", ""), doc.Find("#assign-form").Length())
	}

	if resp, _ := app.get("/admin/companies/999999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown company: status %d, want 404", resp.StatusCode)
	}
	if resp, _ := app.get("/admin/companies/abc"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("malformed id: status %d, want 404", resp.StatusCode)
	}
}

func TestCompanyAssign_Support(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	support := app.loginAs(auth.RoleSupport)
	id := app.insertCompany("Acme", "", "failed")
	pr := app.fake.AddProject("Acme", false)

	// Assign when there is none: allowed, verified, audited.
	resp, _ := app.submit(detailPath(id), detailPath(id)+"/project-id", url.Values{"project_id": {pr.ID}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != detailPath(id) {
		t.Fatalf("assign: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, status := app.projectOf(id); got != pr.ID || status != "provisioned" {
		t.Errorf("stored %q %s, want %s provisioned", got, status, pr.ID)
	}
	_, doc := app.get(detailPath(id))
	if got := flashes(doc); !slices.Contains(got, "Success: Project ID saved") {
		t.Errorf("flashes = %q", got)
	}
	if got := doc.Find(`[data-testid="badge"]`).First().AttrOr("data-status", ""); got != "provisioned" {
		t.Errorf("badge = %q, want provisioned", got)
	}
	want := []string{"project_id.assign →" + pr.ID + " by " + support.Email}
	if got := app.auditActions(id); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	_, list := app.get("/admin/companies?q=Acme")
	if got := list.Find(`[data-testid="badge"]`).AttrOr("data-status", ""); got != "provisioned" {
		t.Errorf("list badge = %q, want provisioned", got)
	}

	// Change or clear an existing ID: 403, nothing changes.
	other := app.fake.AddProject("Other", false)
	token, _ := app.csrf(detailPath(id))
	for _, tt := range []struct {
		path string
		form url.Values
	}{
		{detailPath(id) + "/project-id", url.Values{"csrf": {token}, "project_id": {other.ID}}},
		{detailPath(id) + "/project-id/clear", url.Values{"csrf": {token}}},
	} {
		resp, _ := app.post(tt.path, tt.form)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("support POST %s: status %d, want 403", tt.path, resp.StatusCode)
		}
	}
	if got, status := app.projectOf(id); got != pr.ID || status != "provisioned" {
		t.Errorf("after forbidden actions: stored %q %s, want %s provisioned", got, status, pr.ID)
	}
	if got := app.auditActions(id); len(got) != 1 {
		t.Errorf("audit after forbidden actions = %q, want the assignment only", got)
	}
}

func TestCompanyAssign_Admin(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	admin := app.loginAs(auth.RoleAdmin)
	old := app.fake.AddProject("Acme old", false)
	pr := app.fake.AddProject("Acme", false)
	id := app.insertCompany("Acme", old.ID, "provisioned")

	resp, _ := app.submit(detailPath(id), detailPath(id)+"/project-id", url.Values{"project_id": {" " + pr.ID + " "}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: status %d", resp.StatusCode)
	}
	if got, _ := app.projectOf(id); got != pr.ID {
		t.Errorf("stored %q, want %q", got, pr.ID)
	}

	resp, _ = app.submit(detailPath(id), detailPath(id)+"/project-id/clear", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: status %d", resp.StatusCode)
	}
	if got, status := app.projectOf(id); got != "" || status != "pending" {
		t.Errorf("after clear: stored %q %s, want none, pending", got, status)
	}
	_, doc := app.get(detailPath(id))
	if got := strings.Join(flashes(doc), " "); !strings.Contains(got, "cleared") || !strings.Contains(got, "no project is created automatically") {
		t.Errorf("flash = %q", got)
	}
	want := []string{
		"project_id.change " + old.ID + "→" + pr.ID + " by " + admin.Email,
		"project_id.clear " + pr.ID + "→ by " + admin.Email,
	}
	if got := app.auditActions(id); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
}

func TestCompanyAssign_Validation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	app.loginAs(auth.RoleAdmin)
	holderProject := app.fake.AddProject("Globex", false)
	holder := app.insertCompany("Globex", holderProject.ID, "provisioned")
	archived := app.fake.AddProject("Archived", true)
	id := app.insertCompany("Acme", "", "pending")

	for _, tt := range []struct {
		name, value, wantErr string
		wantLink             string
	}{
		{"Format", "proj-123", "proj_ followed by letters and digits", ""},
		{"Duplicate", holderProject.ID, "already linked to Globex", detailPath(holder)},
		{"Archived", archived.ID, "That project is archived", ""},
		{"NotFound", "proj_nosuchproject", "No OpenAI project with this ID exists in the organization", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, doc := app.submit(detailPath(id), detailPath(id)+"/project-id", url.Values{"project_id": {tt.value}})
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			if got := text(doc.Find(`[data-testid="error-project_id"]`)); !strings.Contains(got, tt.wantErr) {
				t.Errorf("error = %q, want %q", got, tt.wantErr)
			}
			if got := doc.Find("#assign-project-id").AttrOr("value", ""); got != tt.value {
				t.Errorf("field value = %q, want %q kept", got, tt.value)
			}
			if got := doc.Find(`[data-testid="linked-company"]`).AttrOr("href", ""); got != tt.wantLink {
				t.Errorf("link = %q, want %q", got, tt.wantLink)
			}
			if got, _ := app.projectOf(id); got != "" {
				t.Errorf("stored %q, want nothing saved", got)
			}
		})
	}
	if got := app.auditActions(id); len(got) != 0 {
		t.Errorf("audit = %q, want nothing", got)
	}
}

func TestCompanyAssign_WithoutKey(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleSupport)
	id := app.insertCompany("Acme", "", "skipped")

	_, doc := app.get(detailPath(id))
	if doc.Find(`[data-testid="no-key-note"]`).Length() != 1 {
		t.Error("no note that no admin key is configured")
	}
	resp, _ := app.submit(detailPath(id), detailPath(id)+"/project-id", url.Values{"project_id": {"proj_unchecked1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got, _ := app.projectOf(id); got != "proj_unchecked1" {
		t.Errorf("stored %q", got)
	}
	_, doc = app.get(detailPath(id))
	if got := strings.Join(flashes(doc), " "); !strings.Contains(got, "saved without verification (no OpenAI admin key configured)") {
		t.Errorf("flash = %q", got)
	}

	// Create project now: no key, so nothing is queued and the flash says why.
	other := app.insertCompany("Globex", "", "skipped")
	resp, _ = app.submit(detailPath(other), detailPath(other)+"/provision", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("provision: status %d", resp.StatusCode)
	}
	_, doc = app.get(detailPath(other))
	if got := strings.Join(flashes(doc), " "); !strings.Contains(got, "No OpenAI admin key is configured") {
		t.Errorf("flash = %q", got)
	}
	if _, status := app.projectOf(other); status != "skipped" {
		t.Errorf("status = %s, want skipped unchanged", status)
	}
}

func TestCompanyProvision(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{work: true})
	support := app.loginAs(auth.RoleSupport)
	id := app.insertCompany("Acme Now", "", "failed")

	resp, _ := app.submit(detailPath(id), detailPath(id)+"/provision", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != detailPath(id) {
		t.Fatalf("provision: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc := app.get(detailPath(id))
	if got := strings.Join(flashes(doc), " "); !strings.Contains(got, "Provisioning started") {
		t.Errorf("flash = %q", got)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if pid, _ := app.projectOf(id); pid != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the company got no project")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := app.fake.CountByName("Acme Now"); n != 1 {
		t.Errorf("projects created = %d, want 1", n)
	}
	if got := app.auditActions(id); !slices.Equal(got, []string{"provision.retry failed→pending by " + support.Email}) {
		t.Errorf("audit = %q", got)
	}
	_, doc = app.get(detailPath(id))
	if got := text(doc.Find(`[data-testid="history-actor"]`).First()); got != support.Email {
		t.Errorf("history actor = %q, want %s", got, support.Email)
	}

	// Once it has a project, "Create project now" refuses.
	resp, _ = app.submit(detailPath(id), detailPath(id)+"/provision", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second provision: status %d", resp.StatusCode)
	}
	_, doc = app.get(detailPath(id))
	if got := strings.Join(flashes(doc), " "); !strings.Contains(got, "already has a project") {
		t.Errorf("flash = %q", got)
	}
	if n := app.fake.CountByName("Acme Now"); n != 1 {
		t.Errorf("projects created = %d, want 1", n)
	}
}

func TestCompanyActions_RequireCSRF(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	app.loginAs(auth.RoleAdmin)
	id := app.insertCompany("Acme", "proj_keep1", "provisioned")
	none := app.insertCompany("Globex", "", "failed")
	pr := app.fake.AddProject("Acme", false)

	for _, tt := range []struct {
		path string
		form url.Values
	}{
		{detailPath(id) + "/project-id", url.Values{"project_id": {pr.ID}}},
		{detailPath(id) + "/project-id/clear", url.Values{}},
		{detailPath(none) + "/provision", url.Values{}},
		{detailPath(none) + "/project-id", url.Values{"project_id": {pr.ID}, "csrf": {"forged"}}},
	} {
		if resp, _ := app.post(tt.path, tt.form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without a valid token: status %d, want 403", tt.path, resp.StatusCode)
		}
	}
	if got, _ := app.projectOf(id); got != "proj_keep1" {
		t.Errorf("stored %q, want it unchanged", got)
	}
	if got, status := app.projectOf(none); got != "" || status != "failed" {
		t.Errorf("stored %q %s, want unchanged", got, status)
	}
	if n := len(app.auditActions(id)) + len(app.auditActions(none)); n != 0 {
		t.Errorf("audit rows = %d, want 0", n)
	}
}

// readBody returns the response body and a copy of the response whose
// body can be parsed again.
func readBody(t *testing.T, resp *http.Response) (string, *http.Response) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return string(b), resp
}
