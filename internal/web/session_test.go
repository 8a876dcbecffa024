package web_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/web"
)

// sessionCookie returns the session cookie a response sets (by either of
// its names), or nil.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName || c.Name == auth.HostCookieName {
			return c
		}
	}
	return nil
}

// jarCookie returns the cookie named name that a's browser holds, or nil.
func jarCookie(a *testApp, name string) *http.Cookie {
	u, _ := url.Parse(a.srv.URL)
	for _, c := range a.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestRequireStaff(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})

	t.Run("Browser", func(t *testing.T) {
		resp, _ := app.get("/admin/staff?x=1")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", resp.StatusCode)
		}
		if got, want := resp.Header.Get("Location"), "/admin/login?next="+url.QueryEscape("/admin/staff?x=1"); got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
	})

	t.Run("Post", func(t *testing.T) {
		token, _ := app.csrf("/admin/login")
		resp, _ := app.post("/admin/staff", url.Values{"csrf": {token}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
			t.Errorf("POST: %d → %q, want 303 to the login without next", resp.StatusCode, resp.Header.Get("Location"))
		}
		if n := app.countStaff(); n != 0 {
			t.Errorf("staff users = %d", n)
		}
	})

	t.Run("HTMX", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/admin/staff", nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Current-URL", app.srv.URL+"/admin/companies?q=acme")
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.Header.Get("HX-Redirect"), "/admin/login?next="+url.QueryEscape("/admin/companies?q=acme"); got != want {
			t.Errorf("HX-Redirect = %q, want %q", got, want)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/admin/staff", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct {
				Status int `json:"status"`
			} `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || body.Error.Status != http.StatusUnauthorized {
			t.Errorf("status %d, body status %d; want 401 JSON", resp.StatusCode, body.Error.Status)
		}
	})
}

// next only ever leads to a page of this site.
func TestLogin_OpenRedirect(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.createStaff("ops@example.com", auth.RoleAdmin)
	for _, tt := range []struct {
		next string
		want string
	}{
		{"/admin/staff?tab=1", "/admin/staff?tab=1"},
		{"//evil.example", "/admin/companies"},
		{"//evil.example/admin", "/admin/companies"},
		{"https://evil.example/", "/admin/companies"},
		{`/\evil.example`, "/admin/companies"},
		{"/\t/evil.example", "/admin/companies"},
		{"javascript:alert(1)", "/admin/companies"},
		{"admin/staff", "/admin/companies"},
		{"", "/admin/companies"},
	} {
		t.Run(tt.next, func(t *testing.T) {
			// The form carries only a safe next.
			_, doc := app.get("/admin/login?next=" + url.QueryEscape(tt.next))
			if got := doc.Find(`input[name="next"]`).AttrOr("value", ""); got != "" && got != tt.want {
				t.Errorf("form next = %q", got)
			}
			browser := app.newClient()
			resp, _ := browser.login("ops@example.com", testStaffPassword, tt.next)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.want {
				t.Errorf("login with next %q: %d → %q, want %q", tt.next, resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
		})
	}
}

func TestLogin_CookieFlags(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.createStaff("ops@example.com", auth.RoleAdmin)
	resp, _ := app.login("ops@example.com", testStaffPassword, "")
	c := sessionCookie(resp)
	if c == nil {
		t.Fatal("login set no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, MaxAge > 0", c)
	}
	if c.Secure {
		t.Error("cookie is Secure outside production")
	}
	if strings.Contains(c.Value, testStaffPassword) {
		t.Error("cookie holds the password")
	}
}

// In production the cookie is Secure; the app is served over TLS so the
// test's browser sends Secure cookies back.
func TestLogin_CookieFlagsProduction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	cfg := config.Config{Env: config.EnvProduction, SessionSecret: testSessionSecret}
	svc, err := auth.NewService(pool, auth.Options{Secret: cfg.SessionSecret, Secure: cfg.Production()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, audit.Actor{Email: "test"}, auth.NewAccount{Email: "ops@example.com", Role: auth.RoleAdmin, Password: testStaffPassword}); err != nil {
		t.Fatal(err)
	}
	s := web.NewServer(web.Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Pool: pool, Auth: svc})
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	app := &testApp{t: t, pool: pool, srv: srv, client: client, auth: svc}

	resp, _ := app.login("ops@example.com", testStaffPassword, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	c := sessionCookie(resp)
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("production cookie = %+v, want Secure, HttpOnly, SameSite=Lax", c)
	}
	// The __Host- prefix: the browser accepts the cookie only over HTTPS,
	// for Path=/ and with no Domain, so no sibling host can plant one.
	if c.Name != auth.HostCookieName || c.Path != "/" || c.Domain != "" {
		t.Errorf("production cookie %q path %q domain %q, want %s on / with no domain", c.Name, c.Path, c.Domain, auth.HostCookieName)
	}
	if resp, _ := app.get("/admin/staff"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /admin/staff over TLS: status %d", resp.StatusCode)
	}
}

func TestLogin_SecurityHeaders(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	resp, err := app.client.Get(app.srv.URL + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for header, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "strict-origin-when-cross-origin",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
}
