package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/demo"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// served is a serving command (serve, demo) run in this process.
type served struct {
	url            string
	stdout, stderr *logTail
	cancel         context.CancelFunc
	done           chan error
	stopOnce       sync.Once
	err            error
}

// serveInProcess runs the command until the test ends (or stop) and waits
// until it listens.
func serveInProcess(t *testing.T, getenv func(string) string, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{stdout: &logTail{}, stderr: &logTail{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, args, getenv, strings.NewReader(""), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("provisioner %v: %v", args, err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listenLine.FindStringSubmatch(s.stdout.String()); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("provisioner %v exited before listening: %v\n%s", args, err, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("provisioner %v did not start listening\n%s", args, s.stderr.String())
		}
	}
}

// stop ends the command as a signal would and returns its error.
func (s *served) stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = fmt.Errorf("did not stop within 30s")
		}
	})
	return s.err
}

// demoCredential is one line of the credentials the demo prints.
var demoCredential = regexp.MustCompile(`(?m)^\s+(admin|support)\s+(\S+@\S+)\s+(\S+)$`)

// credentials reads the printed demo passwords by email.
func (s *served) credentials(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range demoCredential.FindAllStringSubmatch(s.stdout.String(), -1) {
		out[m[2]] = m[3]
	}
	if out[demo.AdminEmail] == "" || out[demo.SupportEmail] == "" {
		t.Fatalf("the demo printed no credentials for both demo users:\n%s", s.stdout.String())
	}
	return out
}

// browserClient is a cookie-keeping HTTP client that does not follow
// redirects.
type browserClient struct {
	t    *testing.T
	http *http.Client
	base string
}

func newBrowserClient(t *testing.T, base string) *browserClient {
	jar, _ := cookiejar.New(nil)
	return &browserClient{t: t, base: base, http: &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *browserClient) get(path string) (int, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post submits form to path with the CSRF token of page.
func (c *browserClient) post(page, path string, form url.Values) (int, http.Header) {
	c.t.Helper()
	_, body := c.get(page)
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no csrf token on %s", page)
	}
	form.Set("csrf", m[1])
	resp, err := c.http.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

func (c *browserClient) login(email, password string) int {
	c.t.Helper()
	code, _ := c.post("/admin/login", "/admin/login", url.Values{"email": {email}, "password": {password}})
	return code
}

// TestDemo runs "provisioner demo" twice on one database: the first run
// creates the demo data and staff, the second keeps the data and gives the
// staff new passwords. The sandbox answers OpenAI's calls, including for
// the projects linked before it started.
func TestDemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// DATABASE_URL names a database the demo must not touch; the demo
	// uses another one on the same server.
	appURL, demoURL := dbtest.URL(t), dbtest.URL(t)
	u, _ := url.Parse(demoURL)
	demoName := strings.TrimPrefix(u.Path, "/")
	// A "real" OpenAI that must never be called.
	realOpenAI := openaitest.New(openaitest.Options{})
	t.Cleanup(realOpenAI.Close)
	env := map[string]string{
		"APP_ENV": "test", "ADDR": "127.0.0.1:0", "DATABASE_URL": appURL, "SHUTDOWN_TIMEOUT": "5s",
		"OPENAI_ADMIN_KEY": "sk-admin-fake-real-unused", "OPENAI_BASE_URL": realOpenAI.URL,
	}
	getenv := func(k string) string { return env[k] }

	s := serveInProcess(t, getenv, "demo", "--database", demoName)
	creds := s.credentials(t)
	for _, pw := range creds {
		if s.stderr.Contains(pw) {
			t.Error("a demo password was written to the log")
		}
	}
	c := newBrowserClient(t, s.url)
	if _, body := c.get("/signup"); !strings.Contains(body, `id="sandbox-banner"`) {
		t.Error("the signup page has no sandbox banner")
	}
	if code := c.login(demo.AdminEmail, creds[demo.AdminEmail]); code != http.StatusSeeOther {
		t.Fatalf("log in with the printed admin password: status %d", code)
	}
	_, body := c.get("/admin/companies")
	if !strings.Contains(body, `id="sandbox-banner"`) {
		t.Error("the dashboard has no sandbox banner")
	}
	pool := openPool(t, demoURL)
	var seeded int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM companies`).Scan(&seeded); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(body, `data-testid="company-row"`); seeded < 24 || rows != seeded {
		t.Errorf("seeded %d companies, the list shows %d; want a few dozen, all shown", seeded, rows)
	}

	// A project linked before the sandbox started is known to it: clearing
	// the ID and assigning it again verifies it on the sandbox.
	var id int64
	var projectID string
	if err := pool.QueryRow(ctx, `SELECT id, openai_project_id FROM companies WHERE name = 'Kessler Clinics'`).Scan(&id, &projectID); err != nil {
		t.Fatal(err)
	}
	detail := fmt.Sprintf("/admin/companies/%d", id)
	if code, _ := c.post(detail, detail+"/project-id/clear", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("clear the project ID: status %d", code)
	}
	if code, _ := c.post(detail, detail+"/project-id", url.Values{"project_id": {projectID}}); code != http.StatusSeeOther {
		t.Fatalf("assign %s again: status %d (is it unknown to the sandbox?)", projectID, code)
	}
	var auditDetail string
	if err := pool.QueryRow(ctx, `SELECT detail FROM audit_log WHERE action = 'project_id.assign' AND company_id = $1 ORDER BY id DESC LIMIT 1`, id).Scan(&auditDetail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(auditDetail, "verified on OpenAI") {
		t.Errorf("the assignment was not verified on the sandbox: %q", auditDetail)
	}

	// A signup gets its project from the sandbox.
	signup := newSignupClient(t, s.url)
	if ok, err := signup.signup("Demo Signup Ltd"); !ok {
		t.Fatal(err)
	}
	var got *string
	if err := pool.QueryRow(ctx, `SELECT openai_project_id FROM companies WHERE name = 'Demo Signup Ltd'`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got == nil || !strings.HasPrefix(*got, "proj_") {
		t.Errorf("the signup got project %v, want one from the sandbox", got)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the data and replaces the passwords.
	s2 := serveInProcess(t, getenv, "demo", "--database", demoName)
	creds2 := s2.credentials(t)
	c2 := newBrowserClient(t, s2.url)
	if code := c2.login(demo.AdminEmail, creds[demo.AdminEmail]); code == http.StatusSeeOther {
		t.Error("the previous run's admin password still works")
	}
	if code := c2.login(demo.SupportEmail, creds2[demo.SupportEmail]); code != http.StatusSeeOther {
		t.Fatalf("log in with the new support password: status %d", code)
	}
	_, body = c2.get("/admin/companies")
	if rows := strings.Count(body, `data-testid="company-row"`); rows != seeded+1 {
		t.Errorf("after the restart the list shows %d companies, want %d (no second seed)", rows, seeded+1)
	}

	var appCompanies int
	if err := openPool(t, appURL).QueryRow(ctx, `SELECT count(*) FROM companies`).Scan(&appCompanies); err != nil {
		t.Fatal(err)
	}
	if appCompanies != 0 {
		t.Errorf("the demo wrote %d companies to DATABASE_URL's database", appCompanies)
	}
	if n := len(realOpenAI.Requests()); n != 0 {
		t.Errorf("the demo sent %d requests to the configured OpenAI", n)
	}
}

// TestServe_Sandbox: the sandbox only runs when asked for, never in
// production, and then every page says so.
func TestServe_Sandbox(t *testing.T) {
	t.Parallel()
	base := map[string]string{"APP_ENV": "test", "ADDR": "127.0.0.1:0", "SHUTDOWN_TIMEOUT": "5s"}
	envFor := func(dbURL string, extra map[string]string) func(string) string {
		env := map[string]string{"DATABASE_URL": dbURL}
		for _, m := range []map[string]string{base, extra} {
			for k, v := range m {
				env[k] = v
			}
		}
		return func(k string) string { return env[k] }
	}

	t.Run("NoKeyNoFlag", func(t *testing.T) {
		t.Parallel()
		s := serveInProcess(t, envFor(dbtest.URL(t), nil), "serve", "--no-worker")
		if _, body := newBrowserClient(t, s.url).get("/signup"); strings.Contains(body, "sandbox-banner") {
			t.Error("a sandbox banner without --openai-sandbox")
		}
		if !s.stderr.Contains("OPENAI_ADMIN_KEY is not set") || s.stderr.Contains("sandbox mode") {
			t.Errorf("want the missing-key warning and no sandbox; logs:\n%s", s.stderr.String())
		}
	})

	t.Run("Flag", func(t *testing.T) {
		t.Parallel()
		s := serveInProcess(t, envFor(dbtest.URL(t), nil), "serve", "--openai-sandbox")
		c := newBrowserClient(t, s.url)
		for _, path := range []string{"/signup", "/no-such-page"} {
			if _, body := c.get(path); !strings.Contains(body, "Sandbox mode: OpenAI projects are simulated") {
				t.Errorf("%s has no sandbox banner", path)
			}
		}
		if !s.stderr.Contains("sandbox mode") || s.stderr.Contains("OPENAI_ADMIN_KEY is not set") {
			t.Errorf("want the sandbox warning; logs:\n%s", s.stderr.String())
		}
		signup := newSignupClient(t, s.url)
		if ok, err := signup.signup("Sandboxed Inc"); !ok {
			t.Fatal(err)
		}
		if _, body := c.get("/signup"); !strings.Contains(body, "sandbox-banner") {
			t.Error("banner gone after a signup")
		}
	})

	t.Run("Production", func(t *testing.T) {
		t.Parallel()
		getenv := envFor(dbtest.URL(t), map[string]string{"APP_ENV": "production", "SESSION_SECRET": strings.Repeat("s", 40)})
		var stdout, stderr logTail
		err := run(context.Background(), []string{"serve", "--openai-sandbox"}, getenv, strings.NewReader(""), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
			t.Errorf("serve --openai-sandbox in production: %v, want a refusal", err)
		}
		if strings.Contains(stdout.String(), "listening") {
			t.Error("it listened")
		}
	})
}

func TestDemo_BadDatabaseName(t *testing.T) {
	t.Parallel()
	var stdout, stderr logTail
	err := run(context.Background(), []string{"demo", "--database", "x; DROP DATABASE y"}, func(string) string { return "" },
		strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--database") {
		t.Errorf("demo --database with a bad name: %v", err)
	}
}

func TestDemoEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		env       map[string]string
		key, want string
	}{
		{"DatabaseURL", map[string]string{"DATABASE_URL": "postgres://u:p@db.example:5433/app?sslmode=require"},
			"DATABASE_URL", "postgres://u:p@db.example:5433/provisioner_demo?sslmode=require"},
		{"PrivateDefault", map[string]string{}, "DATA_DIR", ".data/demo"},
		{"PrivateDataDir", map[string]string{"DATA_DIR": "/var/lib/prov"}, "DATA_DIR", "/var/lib/prov/demo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, where, err := demoEnv(func(k string) string { return tt.env[k] }, demoDatabase)
			if err != nil {
				t.Fatal(err)
			}
			if got := env(tt.key); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
			if strings.Contains(where, "u:p") {
				t.Errorf("the description shows the password: %q", where)
			}
			if got := env("APP_ENV"); got != "" {
				t.Errorf("other variables changed: APP_ENV = %q", got)
			}
		})
	}
	if _, _, err := demoEnv(func(k string) string { return map[string]string{"DATABASE_URL": "mysql://x"}[k] }, demoDatabase); err == nil {
		t.Error("a non-postgres DATABASE_URL was accepted")
	}
}
