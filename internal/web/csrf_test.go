package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/provision"
)

// addStaffForm is the "add staff user" form creating an admin.
func addStaffForm(csrf, email string) url.Values {
	const pw = "a fine long password"
	return url.Values{"csrf": {csrf}, "email": {email}, "role": {"admin"}, "password": {pw}, "password_confirm": {pw}}
}

// postWith posts form to path with extra headers.
func (a *testApp) postWith(path string, form url.Values, headers map[string]string) *http.Response {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// Issue 12, finding 3: the victim's session cookie plus a token the
// attacker chose (a planted _csrf cookie and the same value in the form,
// the token of the attacker's own session or pre-session) created an
// admin. Tokens are now bound to the victim's server-side session.
func TestCSRF_ForgedTokenRefused(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})

	// The attacker's own tokens: a pre-session one and a signed-in one.
	attacker := app.newClient()
	preToken, _ := attacker.csrf("/signup")
	attacker.loginAs(auth.RoleSupport)
	attackerToken := attacker.csrfCookie()

	victim := app.newClient()
	victimPre, _ := victim.csrf("/admin/login")
	victim.loginAs(auth.RoleAdmin)
	u, _ := url.Parse(app.srv.URL)
	// A cookie planted by a sibling host, the old double-submit scheme's.
	victim.client.Jar.SetCookies(u, []*http.Cookie{{Name: "_csrf", Value: "attacker-chosen", Path: "/"}})

	before := app.countStaff()
	for name, token := range map[string]string{
		"PlantedCookieValue":       "attacker-chosen",
		"AttackersPreSessionToken": preToken,
		"AttackersSessionToken":    attackerToken,
		"VictimsPreLoginToken":     victimPre, // rotated at login
		"HeaderWithPlantedValue":   "",
		"EmptyToken":               "",
	} {
		headers := map[string]string{}
		form := addStaffForm(token, "evil-"+strings.ToLower(name)+"@example.com")
		if name == "HeaderWithPlantedValue" {
			headers["X-CSRF-Token"] = "attacker-chosen"
		}
		if resp := victim.postWith("/admin/staff", form, headers); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST /admin/staff = %d, want 403", name, resp.StatusCode)
		}
	}
	if after := app.countStaff(); after != before {
		t.Fatalf("staff users %d → %d: a forged request created one", before, after)
	}
	// The victim's own token (form or htmx header) still works.
	if resp := victim.postWith("/admin/staff", addStaffForm(victim.csrfCookie(), "real@example.com"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST with the session's token = %d, want 303", resp.StatusCode)
	}
	if resp := victim.postWith("/admin/staff", addStaffForm("", "real2@example.com"), map[string]string{"X-CSRF-Token": victim.csrfCookie(), "HX-Request": "true"}); resp.StatusCode != http.StatusOK {
		t.Errorf("htmx POST with the session's token in X-CSRF-Token = %d, want 200", resp.StatusCode)
	}
	if after := app.countStaff(); after != before+2 {
		t.Errorf("staff users %d → %d, want 2 added by the real forms", before, after)
	}

	// A new login rotates the token: the one of the previous session dies.
	old := victim.csrfCookie()
	if resp := victim.postWith("/admin/logout", url.Values{"csrf": {old}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	victim.loginAs(auth.RoleAdmin)
	if fresh := victim.csrfCookie(); fresh == old {
		t.Error("the CSRF token did not change at login")
	}
	if resp := victim.postWith("/admin/staff", addStaffForm(old, "late@example.com"), nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("previous session's token after a new login = %d, want 403", resp.StatusCode)
	}
}

// A browser request from another site is refused before any handler, even
// with a valid token (net/http's CrossOriginProtection).
func TestCSRF_CrossOriginRefused(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleAdmin)
	token := app.csrfCookie()
	before := app.countStaff()
	for name, h := range map[string]map[string]string{
		"SecFetchSiteCrossSite": {"Sec-Fetch-Site": "cross-site"},
		"SecFetchSiteSameSite":  {"Sec-Fetch-Site": "same-site"}, // a sibling subdomain
		"ForeignOrigin":         {"Origin": "https://evil.example"},
	} {
		if resp := app.postWith("/admin/staff", addStaffForm(token, strings.ToLower(name)+"@example.com"), h); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST /admin/staff = %d, want 403", name, resp.StatusCode)
		}
	}
	if after := app.countStaff(); after != before {
		t.Errorf("staff users %d → %d after cross-origin posts", before, after)
	}
	if resp := app.postWith("/admin/staff", addStaffForm(token, "same@example.com"), map[string]string{"Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST = %d, want 303", resp.StatusCode)
	}
}

// Issue 12, finding 4: River's job UI took a cross-site text/plain POST
// (what an HTML form can send) that deleted a job.
func TestJobsUI_CrossSiteWriteRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app := newTestApp(t, appOptions{jobsUI: true, noKey: true})
	res, err := app.river.Insert(ctx, provision.ProjectArgs{CompanyID: 424242, Trigger: provision.TriggerBackfill}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jobExists := func() bool {
		var n int
		if err := app.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE id = $1`, res.Job.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	app.loginAs(auth.RoleAdmin)
	body := `{"ids":["` + strconv.FormatInt(res.Job.ID, 10) + `"]}`
	post := func(contentType string, headers map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/jobs/api/jobs/delete", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		name, contentType string
		headers           map[string]string
		want              int
	}{
		{"TextPlain", "text/plain", nil, http.StatusUnsupportedMediaType},
		{"FormEncoded", "application/x-www-form-urlencoded", nil, http.StatusUnsupportedMediaType},
		{"TextPlainCrossSite", "text/plain", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"JSONCrossSite", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"JSONForeignOrigin", "application/json", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		if got := post(tt.contentType, tt.headers); got != tt.want {
			t.Errorf("%s: POST delete = %d, want %d", tt.name, got, tt.want)
		}
		if !jobExists() {
			t.Fatalf("%s: the job was deleted", tt.name)
		}
	}
	// River's own dashboard loads the shim that labels its writes JSON,
	// and a same-origin JSON write works.
	_, doc := app.get("/admin/jobs/")
	if doc.Find(`head script[src="/static/js/riverui-json.js"]`).Length() != 1 {
		t.Error("River's page does not load /static/js/riverui-json.js")
	}
	if got := post("application/json", map[string]string{"Sec-Fetch-Site": "same-origin"}); got != http.StatusOK {
		t.Errorf("same-origin JSON delete = %d, want 200", got)
	}
	if jobExists() {
		t.Error("the legitimate delete did not delete the job")
	}
}
