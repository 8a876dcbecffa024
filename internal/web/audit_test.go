package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/provisioner/provisioner/internal/auth"
)

func TestAudit_ShowsManualChanges(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	admin := app.loginAs(auth.RoleAdmin)
	support := app.newClient()
	support.loginAs(auth.RoleSupport)
	// Forget the staff accounts the logins created.
	if _, err := app.pool.Exec(context.Background(), `DELETE FROM audit_log`); err != nil {
		t.Fatal(err)
	}

	_, doc := app.get("/admin/audit")
	if got := text(doc.Find(`[data-testid="empty-state"]`)); !strings.Contains(got, "Nothing recorded yet") {
		t.Errorf("empty log: empty state = %q", got)
	}

	id := app.insertCompany("Acme <b>Labs</b>", "", "skipped")
	if resp, _ := app.submit(detailPath(id), detailPath(id)+"/project-id", url.Values{"project_id": {"proj_first1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("assign: status %d", resp.StatusCode)
	}
	if resp, _ := app.submit(detailPath(id), detailPath(id)+"/project-id/clear", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: status %d", resp.StatusCode)
	}

	// Support staff may read the log.
	resp, doc := support.get("/admin/audit")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/audit as support: status %d", resp.StatusCode)
	}
	rows := doc.Find(`[data-testid="audit-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("audit rows = %d, want 2", rows.Length())
	}
	newest := rows.First()
	for sel, want := range map[string]string{
		`[data-testid="audit-action"]`:  "Project ID cleared",
		`[data-testid="audit-actor"]`:   admin.Email,
		`[data-testid="audit-before"]`:  "proj_first1",
		`[data-testid="audit-after"]`:   "(none)",
		`[data-testid="audit-company"]`: "Acme <b>Labs</b>",
	} {
		if got := text(newest.Find(sel)); got != want {
			t.Errorf("newest row %s = %q, want %q", sel, got, want)
		}
	}
	if got := newest.Find(`[data-testid="audit-company"] a`).AttrOr("href", ""); got != detailPath(id) {
		t.Errorf("company link = %q, want %q", got, detailPath(id))
	}
	if newest.Find("b").Length() != 0 {
		t.Error("the company name became markup")
	}
	if got := text(rows.Last().Find(`[data-testid="audit-action"]`)); got != "Project ID assigned" {
		t.Errorf("oldest row action = %q", got)
	}

	// Filters: action, staff email, company name; each kept in the form.
	for query, want := range map[string]int{
		"action=project_id.assign": 1,
		"actor=ADMIN-":             2,
		"actor=nobody":             0,
		"company=acme+%3Cb":        2,
		"company=globex":           0,
	} {
		_, doc := support.get("/admin/audit?" + query)
		if got := doc.Find(`[data-testid="audit-row"]`).Length(); got != want {
			t.Errorf("%s: %d rows, want %d", query, got, want)
		}
		if want == 0 && doc.Find("#audit-clear").Length() != 1 {
			t.Errorf("%s: no empty state offering to clear the filters", query)
		}
	}
	_, doc = support.get("/admin/audit?action=project_id.clear&actor=admin")
	if doc.Find("#audit-action option[selected]").AttrOr("value", "") != "project_id.clear" || doc.Find("#audit-actor").AttrOr("value", "") != "admin" {
		t.Error("the filter form does not keep its values")
	}

	// htmx gets the results alone.
	_, frag := support.getHX("/admin/audit?action=project_id.assign")
	if frag.Find("#audit-results").Length() != 1 || frag.Find("#admin-nav").Length() != 0 || frag.Find("#audit-filters").Length() != 0 {
		t.Error("htmx filter did not return the results fragment alone")
	}
}

func TestAudit_Pagination(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleSupport)
	// 120 entries, three at each instant, so that the id breaks ties.
	_, err := app.pool.Exec(context.Background(), `
		INSERT INTO audit_log (at, actor_email, action, company_name, detail)
		SELECT timestamptz '2025-05-01 00:00:00+00' + (i / 3) * interval '1 second', 'ops@example.com',
		       'backfill.start', '', 'entry ' || lpad(i::text, 3, '0')
		FROM generate_series(1, 120) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	// The filter leaves out the login's own entry (the staff account).
	var seen []string
	pages := 0
	for path := "/admin/audit?action=backfill.start"; path != ""; pages++ {
		resp, doc := app.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
		details := doc.Find(`[data-testid="audit-row"] td:last-child`).Map(func(_ int, s *goquery.Selection) string { return text(s) })
		seen = append(seen, details...)
		if pages > 0 && doc.Find("#page-first").Length() != 1 {
			t.Errorf("page %d has no First page link", pages+1)
		}
		path = doc.Find("#page-next").AttrOr("href", "")
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	want := make([]string, 120)
	for i := range want {
		want[i] = fmt.Sprintf("entry %03d", 120-i)
	}
	if pages != 3 || !slices.Equal(seen, want) {
		t.Errorf("walked %d pages: %v\nwant newest first, each once: %v", pages, seen, want)
	}
	if resp, _ := app.get("/admin/audit?after=garbage"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("damaged cursor: status %d, want 400", resp.StatusCode)
	}
}
