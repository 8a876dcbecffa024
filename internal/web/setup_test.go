package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/provisioner/provisioner/internal/auth"
)

const (
	testSetupToken    = "SETUPTOKEN0123456789ABCDEF"
	testSetupPassword = "First admin pass 1"
)

// setupForm loads the setup page with the token and returns the form
// values to post (csrf and token filled in).
func (a *testApp) setupForm(email, password, confirm string) url.Values {
	a.t.Helper()
	csrf, doc := a.csrf("/setup?token=" + testSetupToken)
	token, _ := doc.Find(`#setup-form input[name="token"]`).Attr("value")
	return url.Values{
		"csrf": {csrf}, "token": {token}, "email": {email},
		"password": {password}, "password_confirm": {confirm},
	}
}

func TestSetup_TokenRequired(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{setupToken: testSetupToken})
	for _, tt := range []struct {
		name, path string
		want       int
	}{
		{"NoToken", "/setup", http.StatusNotFound},
		{"WrongToken", "/setup?token=WRONG" + testSetupToken[5:], http.StatusNotFound},
		{"Token", "/setup?token=" + testSetupToken, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, doc := app.get(tt.path)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
			if got := doc.Find("#setup-form").Length() == 1; got != (tt.want == http.StatusOK) {
				t.Errorf("GET %s shows the form: %v", tt.path, got)
			}
		})
	}

	t.Run("NotFirstRun", func(t *testing.T) {
		other := newTestApp(t, appOptions{})
		if resp, _ := other.get("/setup?token=" + testSetupToken); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /setup on a server started with staff = %d, want 404", resp.StatusCode)
		}
	})

	t.Run("PostWrongToken", func(t *testing.T) {
		form := app.setupForm("admin@example.com", testSetupPassword, testSetupPassword)
		form.Set("token", "WRONG")
		if resp, _ := app.post("/setup", form); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST /setup with a wrong token = %d, want 404", resp.StatusCode)
		}
		if n := app.countStaff(); n != 0 {
			t.Errorf("staff users = %d, want 0", n)
		}
	})

	t.Run("PostWithoutCSRF", func(t *testing.T) {
		form := app.setupForm("admin@example.com", testSetupPassword, testSetupPassword)
		form.Del("csrf")
		if resp, _ := app.post("/setup", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /setup without CSRF token = %d, want 403", resp.StatusCode)
		}
		if n := app.countStaff(); n != 0 {
			t.Errorf("staff users = %d, want 0", n)
		}
	})
}

// TestSetup_CreatesFirstAdmin: the form creates one admin, signs them in,
// and the page is gone for good, with the old token too.
func TestSetup_CreatesFirstAdmin(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{setupToken: testSetupToken})
	stale := app.newClient()
	staleForm := stale.setupForm("late@example.com", testSetupPassword, testSetupPassword)

	resp, doc := app.post("/setup", app.setupForm(" First.Admin@example.com ", testSetupPassword, testSetupPassword))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /setup = %d, want 303; errors: %q", resp.StatusCode, doc.Find("[data-testid^=error-]").Text())
	}
	if got := resp.Header.Get("Location"); got != "/admin" {
		t.Errorf("redirect to %q, want /admin/companies", got)
	}
	acc, err := app.auth.GetUserByEmail(t.Context(), "first.admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if acc.Role != auth.RoleAdmin || acc.Email != "First.Admin@example.com" {
		t.Errorf("created %s as %s, want First.Admin@example.com as admin", acc.Email, acc.Role)
	}
	if n := app.countStaff(); n != 1 {
		t.Errorf("staff users = %d, want 1", n)
	}
	// Signed in: the dashboard opens, as an admin.
	if resp, _ := app.get("/admin/staff"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /admin/staff after setup = %d, want 200 (signed in as admin)", resp.StatusCode)
	}

	// Gone for good.
	if resp, _ := app.get("/setup?token=" + testSetupToken); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /setup with the token after setup = %d, want 404", resp.StatusCode)
	}
	if resp, _ := stale.post("/setup", staleForm); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /setup with the old token after setup = %d, want 404", resp.StatusCode)
	}
	if n := app.countStaff(); n != 1 {
		t.Errorf("staff users after a second attempt = %d, want 1", n)
	}
	if resp, _ := app.newClient().get("/setup/pending"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("GET /setup/pending after setup = %d to %q, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestSetup_Race: of submissions racing with the token, one creates the
// admin and the others get 404.
func TestSetup_Race(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{setupToken: testSetupToken})
	const n = 4
	clients := make([]*testApp, n)
	forms := make([]url.Values, n)
	for i := range n {
		clients[i] = app.newClient()
		forms[i] = clients[i].setupForm("admin"+string(rune('a'+i))+"@example.com", testSetupPassword, testSetupPassword)
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := clients[i].client.PostForm(app.srv.URL+"/setup", forms[i])
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case http.StatusSeeOther:
			won++
		case http.StatusNotFound:
		default:
			t.Errorf("a racing submission got %d, want 303 or 404", c)
		}
	}
	if won != 1 {
		t.Errorf("%d submissions succeeded (codes %v), want 1", won, codes)
	}
	if got := app.countStaff(); got != 1 {
		t.Errorf("staff users = %d, want 1", got)
	}
}

func TestSetup_Validation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{setupToken: testSetupToken})
	for _, tt := range []struct {
		name, email, password, confirm string
		field                          string
	}{
		{"BadEmail", "not-an-email", testSetupPassword, testSetupPassword, "email"},
		{"Short", "a@example.com", "Short 1", "Short 1", "password"},
		{"OneKind", "a@example.com", "onlylowercaseletters", "onlylowercaseletters", "password"},
		{"IsEmail", "long.name@example.com", "Long.Name@example.com", "Long.Name@example.com", "password"},
		{"Mismatch", "a@example.com", testSetupPassword, testSetupPassword + "x", "password_confirm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := app.newClient()
			resp, doc := c.post("/setup", c.setupForm(tt.email, tt.password, tt.confirm))
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("POST /setup = %d, want 422", resp.StatusCode)
			}
			if msg := strings.TrimSpace(doc.Find(`[data-testid="error-` + tt.field + `"]`).Text()); msg == "" {
				t.Errorf("no error shown for %s", tt.field)
			}
			if doc.Find(`#setup-form input[name="password"]`).AttrOr("value", "") != "" {
				t.Error("the password was sent back")
			}
			if v := doc.Find(`#setup-form input[name="token"]`).AttrOr("value", ""); v != testSetupToken {
				t.Errorf("token field = %q, want the token kept for the next try", v)
			}
		})
	}
	if n := app.countStaff(); n != 0 {
		t.Errorf("staff users = %d, want 0", n)
	}
}

// TestSetup_AdminRedirects: while a first run has no staff user, the
// dashboard (login included) sends people to the page explaining how to
// finish setup; once there is one, it works as usual.
func TestSetup_AdminRedirects(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{setupToken: testSetupToken})
	for _, path := range []string{"/admin/companies", "/admin/login", "/admin/staff", "/admin/nonexistent"} {
		resp, _ := app.get(path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup/pending" {
			t.Errorf("GET %s = %d to %q, want 303 to /setup/pending", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, doc := app.get("/setup/pending")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /setup/pending = %d, want 200", resp.StatusCode)
	}
	text := doc.Find("#setup-pending").Text()
	for _, want := range []string{"setup link", "ADMIN_EMAIL", "ADMIN_PASSWORD", "provisioner user add"} {
		if !strings.Contains(text, want) {
			t.Errorf("the setup explanation does not mention %q", want)
		}
	}
	if strings.Contains(doc.Text(), testSetupToken) {
		t.Error("the explanation page shows the setup token")
	}

	// A staff user created elsewhere (`provisioner user add`) ends it.
	app.loginAs(auth.RoleSupport)
	if resp, _ := app.get("/admin/companies"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /admin/companies once staff exist = %d, want 200", resp.StatusCode)
	}
	if resp, _ := app.get("/setup?token=" + testSetupToken); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /setup once staff exist = %d, want 404", resp.StatusCode)
	}
}
