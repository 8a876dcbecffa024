package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

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
	resp, err = app.client.Get(app.srv.URL + "/admin/jobs/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<title>River</title>") {
		t.Fatalf("admin GET /admin/jobs/ = %d, want River's dashboard", resp.StatusCode)
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
