package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/testenv"
	"github.com/provisioner/provisioner/internal/web"
	"github.com/provisioner/provisioner/internal/webhook"
)

const testAdminKey = "sk-admin-fake-web-tests"

// testApp is the real web app on a fresh database, talking to the fake
// OpenAI over HTTP.
type testApp struct {
	t      *testing.T
	pool   *pgxpool.Pool
	fake   *openaitest.Server
	srv    *httptest.Server
	client *http.Client
	logs   *syncBuffer
	spec   *openaitest.SpecChecker
	river  *river.Client[pgx.Tx]
	auth   *auth.Service
	// backfill is the app's Backfiller, to follow runs.
	backfill *provision.Backfiller
	// policy is the app's guard-rails service.
	policy *policy.Service
	// keys, tokens and webhooks are set with appOptions.keys.
	keys     *keys.Service
	tokens   *apitoken.Service
	webhooks *webhook.Service
	// monitor watches the app's OpenAI client; nil with noKey.
	monitor *openai.Monitor
	costs   *cost.Service // when appOptions.costs is set
}

type appOptions struct {
	noKey          bool
	signupTimeout  time.Duration
	work           bool // run background jobs
	settings       provision.Settings
	dbURL          string         // a migrated database to use instead of a fresh one
	apiToken       string         // ADMIN_API_TOKEN
	setupToken     string         // a first run's setup token (setup.go)
	jobsUI         bool           // serve River's job dashboard (jobs.go)
	signupRate     int            // SIGNUP_RATE_PER_IP (0: off, as in most tests)
	trustedProxies []netip.Prefix // TRUSTED_PROXIES
	production     bool           // APP_ENV=production (Secure, __Host- cookies)
	metricsToken   string         // METRICS_TOKEN: /metrics on the public address
	keys           bool           // per-company keys and the host-app API (api_v1*.go)
	webhookURL     string         // WEBHOOK_URL (with keys): key events are delivered there
	openaiTimeout  time.Duration  // of each OpenAI call; 5 s when zero
	adminKey       string         // the key as configured, for its shape; testAdminKey when ""
	stallAfter     time.Duration  // of backfill runs; provision's default when zero
	costs          *cost.Settings // serve costs (costs.go) with these settings
}

func newTestApp(t *testing.T, o appOptions) *testApp {
	t.Helper()
	ctx := context.Background()
	var pool *pgxpool.Pool
	if o.dbURL != "" {
		var err error
		if pool, err = db.Open(ctx, o.dbURL); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), nil))
	cfg := config.Config{Env: config.EnvTest, SignupTimeout: o.signupTimeout, AdminAPIToken: o.apiToken,
		SignupRatePerIP: o.signupRate, TrustedProxies: o.trustedProxies, MetricsToken: o.metricsToken}
	if o.production {
		cfg.Env = config.EnvProduction
	}
	if cfg.SignupTimeout == 0 {
		cfg.SignupTimeout = 2 * time.Second
	}
	if !o.noKey {
		cfg.OpenAIAdminKey = testAdminKey
	}
	if pool == nil {
		pool = dbtest.NewPool(t) // as testenv would; the policy service needs it first
	}
	// The policy's client is set once testenv has built it (below).
	pol := policy.New(pool, nil, policy.Settings{Enabled: !o.noKey, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, logger)
	settings := o.settings
	if settings.BackoffBase == 0 {
		settings = provision.Settings{MaxAttempts: 5, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, SettleDelay: 300 * time.Millisecond}
	}
	openaiTimeout := o.openaiTimeout
	if openaiTimeout == 0 {
		openaiTimeout = 5 * time.Second
	}
	var monitor *openai.Monitor
	gov := openaitest.NewGovernor(t)
	env := testenv.New(t, testenv.Options{
		Governor: gov, Pool: pool, AdminKey: testAdminKey, NoKey: o.noKey, OpenAITimeout: openaiTimeout, Logger: logger,
		WrapProjects: func(c *openai.Client) openai.Projects {
			key := testAdminKey
			if o.adminKey != "" {
				key = o.adminKey // only its shape matters to the monitor
			}
			monitor = openai.NewMonitor(c, key)
			return monitor
		},
		Settings: settings, SignupTimeout: cfg.SignupTimeout,
		// With keys, the app's River client is built below, with the key
		// and webhook workers; the env's is then not started.
		River: provision.ClientOptions{Work: o.work && !o.keys, Workers: 4, JobTimeout: 20 * time.Second, RescueAfter: 30 * time.Second,
			// POLICY-WIRING: guard rails, worked by the env's River client.
			Register: pol.Register, Queues: map[string]river.QueueConfig{policy.QueuePolicy: {MaxWorkers: 2}}},
	})
	if env.OpenAI != nil {
		pol.SetClient(env.OpenAI)
	}
	app := &testApp{t: t, pool: env.Pool, fake: env.Fake, logs: logs, spec: env.Spec, river: env.River, policy: pol, monitor: monitor}
	rc, reg, companies := env.River, env.Registry, env.Companies
	app.backfill = env.Backfill
	if o.keys {
		rc, companies = app.withKeys(env, o, logger)
		cfg.WebhookURL = o.webhookURL
	}
	pol.SetRiver(rc)
	if app.tokens == nil {
		// Service tokens serve every /api/v1 route, keys or not.
		app.tokens = apitoken.New(env.Pool, 1000)
	}
	deps := web.Deps{Config: cfg, Logger: logger, Pool: env.Pool, Companies: companies, Gatherer: reg, SetupToken: o.setupToken,
		Keys: app.keys, Tokens: app.tokens, Webhooks: app.webhooks, Policy: pol}
	if !o.noKey {
		deps.OpenAIPace = gov.Status
	}
	// AUTH-WIRING: staff accounts and sessions.
	authSvc, err := auth.NewService(env.Pool, auth.Options{Secret: testSessionSecret, Secure: cfg.Production()})
	if err != nil {
		t.Fatal(err)
	}
	deps.Auth, app.auth = authSvc, authSvc
	// BACKFILL-WIRING: runs start here and run on rc when o.work is set.
	app.backfill.SetStallAfter(o.stallAfter)
	deps.Backfill = app.backfill
	deps.OpenAI = app.monitor
	if o.jobsUI {
		// River's UI keeps background queries of its own; it stops with the
		// test, and logs only to the buffer, never to t once t is done.
		uiLogger := slog.New(slog.NewTextHandler(logs, nil))
		h, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(rc, nil), Logger: uiLogger, Prefix: web.JobsPrefix})
		if err != nil {
			t.Fatal(err)
		}
		uiCtx, stopUI := context.WithCancel(ctx)
		t.Cleanup(stopUI)
		if err := h.Start(uiCtx); err != nil {
			t.Fatal(err)
		}
		deps.JobsUI = h
	}
	if o.costs != nil {
		var usage openai.Usage // a nil *openai.Client must stay a nil interface
		if env.OpenAI != nil {
			usage = env.OpenAI
		}
		app.costs = cost.New(env.Pool, usage, *o.costs, logger)
		deps.Costs = app.costs
	}
	s := web.NewServer(deps)
	app.srv = httptest.NewServer(s.Handler())
	t.Cleanup(app.srv.Close)
	jar, _ := cookiejar.New(nil)
	app.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return app
}

// withKeys wires the key step, service tokens and webhooks as
// cmd/provisioner does, on a River client of its own (started with
// o.work), and returns it with the company service on it.
func (a *testApp) withKeys(env *testenv.Env, o appOptions, logger *slog.Logger) (*river.Client[pgx.Tx], *company.Service) {
	t := a.t
	var projects openai.Projects
	if env.OpenAI != nil {
		projects = env.OpenAI
	}
	a.keys = newTestKeys(t, env.Pool, projects, logger)
	a.tokens = apitoken.New(env.Pool, 1000)
	hooks, err := webhook.New(env.Pool, o.webhookURL, testWebhookSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.webhooks = hooks
	a.keys.SetOnEvent(hooks.Emit)
	env.Prov.SetOnLinked(func(ctx context.Context, tx pgx.Tx, companyID int64, _ string) error {
		return a.keys.EnqueueTx(ctx, tx, companyID, keys.TriggerProject)
	})
	rc, err := provision.NewRiverClient(env.Pool, env.Prov, provision.ClientOptions{
		Work: o.work, Workers: 4, JobTimeout: 20 * time.Second, RescueAfter: 30 * time.Second, Logger: logger,
		Register: func(w *river.Workers) { a.keys.Register(w, 20*time.Second); hooks.Register(w); a.policy.Register(w) },
		Queues: map[string]river.QueueConfig{keys.QueueKeys: {MaxWorkers: 4}, webhook.QueueWebhooks: {MaxWorkers: 2},
			policy.QueuePolicy: {MaxWorkers: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.keys.SetRiver(rc)
	hooks.SetRiver(rc)
	if o.work {
		testenv.StartRiver(t, rc)
	}
	a.river = rc
	a.backfill = provision.NewBackfiller(env.Prov, rc, 4)
	return rc, company.NewService(env.Pool, rc, env.Prov, 2*time.Second, logger)
}

// get fetches path and parses the HTML.
func (a *testApp) get(path string) (*http.Response, *goquery.Document) {
	a.t.Helper()
	resp, err := a.client.Get(a.srv.URL + path)
	if err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, parse(a.t, resp)
}

// csrf loads page and returns its form's CSRF token (and the cookie lands
// in the jar).
func (a *testApp) csrf(page string) (token string, doc *goquery.Document) {
	a.t.Helper()
	_, doc = a.get(page)
	token, ok := doc.Find(`input[name="csrf"]`).First().Attr("value")
	if !ok || token == "" {
		a.t.Fatalf("GET %s: no csrf input in the form", page)
	}
	return token, doc
}

// post submits form to path.
func (a *testApp) post(path string, form url.Values) (*http.Response, *goquery.Document) {
	a.t.Helper()
	resp, err := a.client.PostForm(a.srv.URL+path, form)
	if err != nil {
		a.t.Fatalf("POST %s: %v", path, err)
	}
	return resp, parse(a.t, resp)
}

// signup loads the form, fills it with values (plus its csrf and token
// fields) and submits it.
func (a *testApp) signup(values url.Values) (*http.Response, *goquery.Document) {
	a.t.Helper()
	token, doc := a.csrf("/signup")
	form := url.Values{"csrf": {token}}
	if st, ok := doc.Find(`input[name="signup_token"]`).Attr("value"); ok {
		form.Set("signup_token", st)
	}
	for k, v := range values {
		form[k] = v
	}
	return a.post("/signup", form)
}

// testStaffPassword is the password of every staff user loginAs creates.
const testStaffPassword = "correct horse battery staple"

// testSessionSecret keys the test apps' session cookies.
const testSessionSecret = "test-session-secret-0123456789abcdef"

// staffSeq makes the emails of loginAs unique.
var staffSeq atomic.Int64

// loginAs creates a staff user with role directly through the auth service
// and signs in through the real login form, so that the session cookie
// lands in a.client's jar.
func (a *testApp) loginAs(role auth.Role) auth.User {
	a.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", role, staffSeq.Add(1))
	acc, err := a.auth.CreateUser(context.Background(), audit.Actor{Email: "test"},
		auth.NewAccount{Email: email, Role: role, Password: testStaffPassword})
	if err != nil {
		a.t.Fatalf("create %s: %v", role, err)
	}
	if resp, doc := a.login(email, testStaffPassword, ""); resp.StatusCode != http.StatusSeeOther {
		a.t.Fatalf("login as %s: status %d, %q", role, resp.StatusCode, doc.Find("#login-error").Text())
	}
	return acc.User
}

// login submits the login form with its CSRF token and next.
func (a *testApp) login(email, password, next string) (*http.Response, *goquery.Document) {
	a.t.Helper()
	token, _ := a.csrf("/admin/login")
	return a.post("/admin/login", url.Values{"csrf": {token}, "email": {email}, "password": {password}, "next": {next}})
}

// newClient returns the same app seen from another browser: a fresh cookie
// jar, nobody signed in.
func (a *testApp) newClient() *testApp {
	b := *a
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &b
}

func parse(t *testing.T, resp *http.Response) *goquery.Document {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// companyRow reads the stored company by name.
type storedCompany struct {
	ID          int64
	ProjectID   *string
	Status      string
	LastError   string
	Description string
}

func (a *testApp) company(name string) (storedCompany, bool) {
	a.t.Helper()
	var c storedCompany
	err := a.pool.QueryRow(context.Background(),
		`SELECT id, openai_project_id, provisioning_status, provisioning_error, project_description FROM companies WHERE name = $1`, name).
		Scan(&c.ID, &c.ProjectID, &c.Status, &c.LastError, &c.Description)
	if err == pgx.ErrNoRows {
		return c, false
	}
	if err != nil {
		a.t.Fatal(err)
	}
	return c, true
}

func (a *testApp) countCompanies() int {
	a.t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM companies`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func validSignup(name string) url.Values {
	return url.Values{
		"company_name":  {name},
		"industry":      {"Software"},
		"contact_name":  {"Ada Lovelace"},
		"contact_email": {"ada@example.com"},
		"website":       {"https://example.com"},
		"company_size":  {"11-50"},
		"country":       {"United Kingdom"},
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Contains(s string) bool { return strings.Contains(b.String(), s) }

// testWriter sends logs to t.Log so a failing test shows them.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
