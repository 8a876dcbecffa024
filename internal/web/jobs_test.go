package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/provisioner/provisioner/internal/auth"
)

// River's job dashboard is for admins only.
func TestJobsDashboard(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{jobsUI: true})

	resp, err := app.client.Get(app.srv.URL + "/admin/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Fatalf("anonymous GET /admin/jobs = %d %s, want a redirect to the login", resp.StatusCode, resp.Header.Get("Location"))
	}

	support := app.newClient()
	support.loginAs(auth.RoleSupport)
	if resp, _ := support.get("/admin/jobs"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support GET /admin/jobs = %d, want 403", resp.StatusCode)
	}

	app.loginAs(auth.RoleAdmin)
	req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/admin/jobs/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Accept-Encoding", "gzip, br") // as a browser asks
	resp, err = app.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<title>River</title>") {
		t.Fatalf("admin GET /admin/jobs/ = %d, want River's dashboard", resp.StatusCode)
	}
	// A way back, and River's attempts explained against ours.
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	bar := doc.Find("#provisioner-jobs-bar")
	if href, _ := bar.Find("a").Attr("href"); href != "/admin" {
		t.Errorf("River's page links back to %q, want /admin", href)
	}
	if got := bar.Text(); !strings.Contains(got, "PROVISION_MAX_ATTEMPTS") || !strings.Contains(got, "attempts n / 25") {
		t.Errorf("River's page bar says %q, want the attempts explained", got)
	}
	resp, err = app.client.Get(app.srv.URL + "/admin/jobs/api/queues")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"data"`) {
		t.Errorf("admin GET /admin/jobs/api/queues = %d %s, want River's JSON", resp.StatusCode, body)
	}
}
