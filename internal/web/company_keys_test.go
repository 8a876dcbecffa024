package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/keys"
)

// issueKey gives the company (with a project on the fake) its key now.
func (a *testApp) issueKey(id int64) {
	a.t.Helper()
	if res, err := a.keys.Issue(context.Background(), id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil || res.Outcome != keys.Created {
		a.t.Fatalf("Issue = %+v, %v", res, err)
	}
}

// rawBody fetches path and returns the HTML as text.
func (a *testApp) rawBody(path string) string {
	a.t.Helper()
	resp, err := a.client.Get(a.srv.URL + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestCompanyKeyPanel(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true, work: true})
	p := app.fake.AddProject("Panel Co", false)
	id := app.insertCompany("Panel Co", p.ID, "provisioned")
	app.issueKey(id)
	sa := app.fake.ServiceAccounts(p.ID)[0]
	app.fake.TouchAPIKey(sa.KeyID, time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	app.loginAs(auth.RoleSupport)

	_, doc := app.get(detailPath(id))
	if got := text(doc.Find(`[data-testid="key-id"]`)); got != sa.KeyID {
		t.Errorf("key id %q, want %s", got, sa.KeyID)
	}
	if got := text(doc.Find(`[data-testid="key-redacted"]`)); got == "" || got == sa.KeyValue {
		t.Errorf("redacted value %q", got)
	}
	if got := text(doc.Find(`[data-testid="key-last-used"]`)); !strings.Contains(got, "2026-11-30") {
		t.Errorf("last used %q (from OpenAI)", got)
	}
	if text(doc.Find(`[data-testid="key-expires"]`)) == "" || text(doc.Find(`[data-testid="key-created"]`)) == "" {
		t.Error("no created or expires")
	}
	if doc.Find(`#key-rotate-submit`).Length() != 1 {
		t.Error("support sees no Rotate")
	}
	if doc.Find(`#key-revoke-submit`).Length() != 0 {
		t.Error("support sees Revoke")
	}
	if strings.Contains(app.rawBody(detailPath(id)), sa.KeyValue) {
		t.Fatal("the page shows the key value")
	}
	// Support may not revoke, even by posting.
	if resp, _ := app.submit(detailPath(id), detailPath(id)+"/key/revoke", url.Values{"confirm": {"Panel Co"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support revoke: %d", resp.StatusCode)
	}
	// Support rotates: a new key appears, the old one retires.
	if resp, _ := app.submit(detailPath(id), detailPath(id)+"/key/rotate", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate: %d", resp.StatusCode)
	}
	waitUntil(t, "the rotation", func() bool { return len(app.fake.ServiceAccounts(p.ID)) == 2 })
	_, doc = app.get(detailPath(id))
	if got := text(doc.Find(`[data-testid="key-id"]`)); got == sa.KeyID || got == "" {
		t.Errorf("after rotation the key is %q", got)
	}
	if doc.Find(`[data-testid="key-retiring"]`).Length() != 1 {
		t.Error("the replaced key is not shown as retiring")
	}
	if doc.Find(`[data-testid="key-history-row"]`).Length() < 2 {
		t.Error("the key history lacks the rotation")
	}

	admin := app.newClient()
	admin.loginAs(auth.RoleAdmin)
	_, doc = admin.get(detailPath(id))
	if doc.Find(`#key-revoke-submit`).Length() != 1 {
		t.Fatal("admin sees no Revoke")
	}
	// The wrong confirmation revokes nothing.
	admin.submit(detailPath(id), detailPath(id)+"/key/revoke", url.Values{"confirm": {"panel co"}})
	if n := len(app.fake.ServiceAccounts(p.ID)); n != 2 {
		t.Fatalf("a wrong confirmation revoked: %d left", n)
	}
	if resp, _ := admin.submit(detailPath(id), detailPath(id)+"/key/revoke", url.Values{"confirm": {"Panel Co"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if n := len(app.fake.ServiceAccounts(p.ID)); n != 0 {
		t.Errorf("%d service accounts after revoke", n)
	}
	_, doc = admin.get(detailPath(id))
	if text(doc.Find(`[data-testid="key-status"]`)) != "revoked" || doc.Find(`[data-testid="no-key"]`).Length() != 1 {
		t.Errorf("after revoke: status %q", text(doc.Find(`[data-testid="key-status"]`)))
	}
	acts := strings.Join(app.auditActions(id), "\n")
	for _, want := range []string{"key.issued", "key.rotate", "key.revoke"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %s:\n%s", want, acts)
		}
	}
	if strings.Contains(acts, sa.KeyValue) || strings.Contains(app.logs.String(), sa.KeyValue) {
		t.Error("the key value is in the audit log or the logs")
	}
}

func TestCompanyList_NoKeyFilter(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true})
	with := app.fake.AddProject("With Key", false)
	without := app.fake.AddProject("Without Key", false)
	a := app.insertCompany("With Key", with.ID, "provisioned")
	b := app.insertCompany("Without Key", without.ID, "provisioned")
	app.insertCompany("No Project", "", "pending")
	app.issueKey(a)
	app.loginAs(auth.RoleSupport)
	_, doc := app.get("/admin/companies?filter=no-key")
	ids := rowIDs(doc)
	if len(ids) != 1 || ids[0] != itoa(b) {
		t.Errorf("no-key filter shows %v, want only %d", ids, b)
	}
	if doc.Find(`option[value="no-key"]`).Length() != 1 {
		t.Error("the filter is not offered")
	}
}

// TestSignupIssuesKey: a signup through the form gets its project, then
// its key from the job, and is ready.
func TestSignupIssuesKey(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true, work: true})
	resp, _ := app.signup(url.Values{"company_name": {"Signed Up"}, "industry": {"Software"}, "contact_name": {"Ada"}, "contact_email": {"ada@example.com"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup: %d", resp.StatusCode)
	}
	c, ok := app.company("Signed Up")
	if !ok || c.ProjectID == nil {
		t.Fatalf("company %+v", c)
	}
	waitUntil(t, "the key", func() bool { _, err := app.keys.Current(context.Background(), c.ID); return err == nil })
	sas := app.fake.ServiceAccounts(*c.ProjectID)
	if len(sas) != 1 || sas[0].Name != "provisioner" {
		t.Fatalf("service accounts %+v", sas)
	}
	k, v, err := app.keys.Reveal(context.Background(), c.ID, audit.Actor{Email: "test"})
	if err != nil || k.ID != sas[0].KeyID || v.Reveal() != sas[0].KeyValue {
		t.Errorf("held key %+v %v", k, err)
	}
}

const testWebhookSecret = "whsec_dGVzdCB3ZWJob29rIHNlY3JldCBieXRlcw=="

func TestKeysAdminPages(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		events = append(events, r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer host.Close()
	app := newTestApp(t, appOptions{keys: true, work: true, webhookURL: host.URL + "/hook?token=secret-query", apiToken: strings.Repeat("a", 40)})
	for _, name := range []string{"Back One", "Back Two", "Back Three"} {
		p := app.fake.AddProject(name, false)
		app.insertCompany(name, p.ID, "provisioned")
	}
	support := app.newClient()
	support.loginAs(auth.RoleSupport)
	if resp, _ := support.get("/admin/keys"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support on the keys page: %d", resp.StatusCode)
	}
	app.loginAs(auth.RoleAdmin)
	_, doc := app.get("/admin/keys")
	if got := text(doc.Find(`[data-testid="without-key"]`)); got != "3" {
		t.Errorf("without key: %q", got)
	}
	// The admin API's dry run counts the same.
	_, body := app.apiCall("POST", "/api/admin/keys/backfill", `{"dry_run": true}`, http.Header{"Authorization": {"Bearer " + strings.Repeat("a", 40)}, "Content-Type": {"application/json"}})
	if body["count"] != float64(3) {
		t.Errorf("API dry run: %v", body)
	}
	if resp, _ := app.submit("/admin/keys", "/admin/keys/backfill", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("keys backfill: %d", resp.StatusCode)
	}
	waitUntil(t, "every key", func() bool { n, _ := app.keys.CountWithoutKey(context.Background()); return n == 0 })
	// The key.created events were delivered and are listed, with Resend.
	waitUntil(t, "the deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) >= 3 })
	_, doc = app.get("/admin/webhooks")
	rows := doc.Find(`[data-testid="webhook-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("%d delivery rows", rows.Length())
	}
	if strings.Contains(text(doc.Find(`[data-testid="webhook-url"]`)), "secret-query") {
		t.Error("the webhook URL's query is shown")
	}
	first, _ := rows.First().Attr("data-event")
	btn := rows.First().Find(`button`)
	id := strings.TrimPrefix(btn.AttrOr("id", ""), "resend-")
	if resp, _ := app.submit("/admin/webhooks", "/admin/webhooks/"+id+"/resend", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend: %d", resp.StatusCode)
	}
	waitUntil(t, "the resend", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range events {
			if e == first {
				n++
			}
		}
		return n == 2
	})
	if resp, _ := app.submit("/admin/webhooks", "/admin/webhooks/999999/resend", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("resend of nothing: %d", resp.StatusCode)
	}
}
