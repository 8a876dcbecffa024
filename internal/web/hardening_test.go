package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/web"
)

// testMetricsToken is METRICS_TOKEN in the tests that set it.
const testMetricsToken = "metrics-token-0123456789abcdef0123456789"

// Issue 12, finding 7: NUL bytes or invalid UTF-8 in the query, a form
// field, a cookie or the path answer 400, never 500.
func TestBadInput_400(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleAdmin)
	status := func(req *http.Request) int {
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, app.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	for name, req := range map[string]*http.Request{
		"QueryNUL":        get("/admin/companies?q=a%00b"),
		"QueryBadUTF8":    get("/admin/companies?q=%ff%fe"),
		"QueryBadEscape":  get("/admin/companies?q=%zz"),
		"QueryKeyNUL":     get("/admin/audit?%00=1"),
		"PathNUL":         get("/admin/companies/%00"),
		"PathBadUTF8":     get("/signup%ff"),
		"APIQueryNUL":     get("/api/admin/openai/projects/backfill/1?x=%00"),
		"SignupDoneToken": get("/signup/done?token=%00"),
	} {
		if got := status(req); got != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, got)
		}
	}
	// Form fields, with a valid CSRF token so that only the value is wrong.
	token := app.csrfCookie()
	for _, field := range []string{"q", "project_id", "email"} {
		for _, bad := range []string{"a\x00b", "\xff\xfe"} {
			form := url.Values{"csrf": {token}, field: {bad}}
			req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/staff", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if got := status(req); got != http.StatusBadRequest {
				t.Errorf("form field %s=%q: status %d, want 400", field, bad, got)
			}
		}
	}
	signup := validSignup("NUL\x00 Co")
	if resp, _ := app.newClient().signup(signup); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("signup with a NUL byte: status %d, want 400", resp.StatusCode)
	}
	// Cookies: invalid UTF-8 through the client, NUL (which Go's client
	// will not send) straight into the handler.
	req := get("/signup")
	req.Header.Set("Cookie", "provisioner_session=\xff\xfe")
	if got := status(req); got != http.StatusBadRequest {
		t.Errorf("cookie with invalid UTF-8: status %d, want 400", got)
	}
	rec := httptest.NewRecorder()
	raw := httptest.NewRequest(http.MethodGet, "/signup", nil)
	raw.Header.Set("Cookie", "provisioner_session=a\x00b")
	app.srv.Config.Handler.ServeHTTP(rec, raw)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("cookie with NUL: status %d, want 400", rec.Code)
	}
	if app.logs.Contains("level=ERROR") {
		t.Error("bad input was logged as a server error")
	}
}

// Admin pages and admin API answers are never cached.
func TestNoStore_AdminAndAPI(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true, apiToken: testAPIToken})
	app.loginAs(auth.RoleAdmin)
	for _, path := range []string{"/admin/companies", "/admin/staff", "/admin/audit", "/admin/backfill", "/admin/login", "/admin/companies/999999"} {
		resp, _ := app.get(path)
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, got)
		}
	}
	resp, _ := app.apiCall(http.MethodPost, backfillAPI, `{"dry_run": true}`, http.Header{"Authorization": {"Bearer " + testAPIToken}, "Content-Type": {"application/json"}})
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("API answer: Cache-Control %q, want no-store", got)
	}
	resp, _ = app.newClient().apiCall(http.MethodGet, backfillAPI+"/1", ``, nil)
	if got := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusUnauthorized || got != "no-store" {
		t.Errorf("API 401: %d, Cache-Control %q, want 401 no-store", resp.StatusCode, got)
	}
	// Public pages stay cacheable as before.
	if resp, _ := app.get("/signup"); resp.Header.Get("Cache-Control") == "no-store" {
		t.Error("the public signup page is no-store")
	}
}

// The backfill API refuses a body that does not say dry_run, instead of
// starting a real run.
func TestAPIBackfill_RequiresDryRun(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{apiToken: testAPIToken})
	a.addMissing("Co", 2)
	h := http.Header{"Authorization": {"Bearer " + testAPIToken}, "Content-Type": {"application/json"}}
	for _, body := range []string{``, `{}`, `null`, `{"dry_run": null}`} {
		resp, out := a.apiCall(http.MethodPost, backfillAPI, body, h)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "dry_run") {
			t.Errorf("body %q: %d %q, want 400 naming dry_run", body, resp.StatusCode, msg)
		}
	}
	if n := a.count(`SELECT count(*) FROM backfill_runs`); n != 0 {
		t.Fatalf("%d runs started by bodies without dry_run, want 0", n)
	}
	if n := a.fake.CreateCount(); n != 0 {
		t.Fatalf("%d projects created, want 0", n)
	}
}

// /metrics is not on the public address unless METRICS_TOKEN is set, and
// then only for that bearer token; METRICS_ADDR serves it on a listener of
// its own.
func TestMetrics_NotPublic(t *testing.T) {
	t.Parallel()
	open := newTestApp(t, appOptions{noKey: true})
	if resp, _ := open.get("/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics without METRICS_TOKEN: %d, want 404", resp.StatusCode)
	}
	app := newTestApp(t, appOptions{noKey: true, metricsToken: testMetricsToken})
	for name, header := range map[string]string{"None": "", "Wrong": "Bearer nope", "AdminAPIStyle": "Bearer " + testAPIToken, "Basic": "Basic " + testMetricsToken} {
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/metrics", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: %d, want 401", name, resp.StatusCode)
		}
	}

	// METRICS_ADDR: a separate listener.
	pool := dbtest.NewPool(t)
	svc, err := auth.NewService(pool, auth.Options{Secret: testSessionSecret})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "provisioner_test_total", Help: "test"}))
	metricsAddr := freeAddr(t)
	s := web.NewServer(web.Deps{
		Config: config.Config{Env: config.EnvTest, Addr: "127.0.0.1:0", MetricsAddr: metricsAddr},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Pool: pool, Auth: svc, Gatherer: reg,
	})
	ready := make(chan string, 1)
	go func() { _ = s.Serve(func(addr string) { ready <- addr }) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	main := <-ready
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "provisioner_test_total") {
		t.Errorf("GET METRICS_ADDR/metrics = %d, want 200 with the metrics", resp.StatusCode)
	}
	resp, err = http.Get("http://" + main + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public address with METRICS_ADDR set = %d, want 404", resp.StatusCode)
	}
}

// freeAddr returns a local address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The audit log records the client address the same helper finds for the
// signup limit and the login throttle: behind a trusted proxy, the
// forwarded client's.
func TestAudit_RecordsClientAddress(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true, trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	app.loginAs(auth.RoleAdmin)
	resp := app.postWith("/admin/staff", addStaffForm(app.csrfCookie(), "audited@example.com"),
		map[string]string{"X-Forwarded-For": "192.0.2.200, 198.51.100.33"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add staff = %d", resp.StatusCode)
	}
	var addr string
	if err := app.pool.QueryRow(context.Background(),
		`SELECT actor_addr FROM audit_log WHERE action = 'staff.add' AND detail = 'audited@example.com'`).Scan(&addr); err != nil {
		t.Fatal(err)
	}
	if addr != "198.51.100.33" {
		t.Errorf("audit actor_addr = %q, want the forwarded client 198.51.100.33", addr)
	}
}
