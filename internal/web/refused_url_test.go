package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/auth"
)

// A refused assignment, posted by htmx, answers the company page with
// HX-Replace-Url set to it, so the address bar keeps the page's own URL
// (the browser test checks the bar itself).
func TestAssignRefused_KeepsPageURL(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	a.loginAs(auth.RoleSupport)
	id := a.insertCompany("Acme", "", "skipped")
	token, doc := a.csrf(detailPath(id))
	if got := doc.Find("#assign-form").AttrOr("hx-post", ""); got != detailPath(id)+"/project-id" {
		t.Errorf("assign form hx-post = %q", got)
	}
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+detailPath(id)+"/project-id",
		strings.NewReader(url.Values{"csrf": {token}, "project_id": {"not-a-project"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc = parse(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	if got := resp.Header.Get("HX-Replace-Url"); got != detailPath(id) {
		t.Errorf("HX-Replace-Url = %q, want %s", got, detailPath(id))
	}
	if doc.Find("#main #assign-form").Length() != 1 || !strings.Contains(text(doc.Find(`[data-testid="error-project_id"]`)), "proj_") {
		t.Error("the answer lacks the form in #main with its error")
	}
}
