package web_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/provisioner/provisioner/internal/db/dbtest"
)

var serverTimingRE = regexp.MustCompile(`^app;dur=\d+\.\d{3}$`)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := app.client.Get(app.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
		// Every answer says how long the server took (make bench reads it).
		if st := resp.Header.Get("Server-Timing"); !serverTimingRE.MatchString(st) {
			t.Errorf("GET %s: Server-Timing = %q, want app;dur=<ms>", path, st)
		}
	}
	// A pending migration makes the app unready, with a JSON reason.
	if _, err := app.pool.Exec(context.Background(), `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	status, body := getJSON(t, app, "/readyz")
	if status != http.StatusServiceUnavailable || body["reason"] != "database_not_migrated" {
		t.Errorf("GET /readyz = %d %v, want 503 database_not_migrated", status, body)
	}
	// The probe is public: a reason code, never the error's text.
	if want := map[string]string{"status": "unavailable", "reason": "database_not_migrated"}; !maps.Equal(body, want) {
		t.Errorf("GET /readyz body = %v, want exactly %v", body, want)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{metricsToken: testMetricsToken})
	if resp, _ := app.signup(validSignup("Metrics Co")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup status %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, app.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err := app.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	for _, want := range []string{
		`provisioner_provision_attempts_total{outcome="created"} 1`,
		`provisioner_companies_without_project 0`,
		`provisioner_companies{status="provisioned"} 1`,
		`provisioner_jobs{kind="provision_project",state="retryable"} 0`,
		`provisioner_openai_request_duration_seconds_count{endpoint="create_project",status="200"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, testAdminKey) {
		t.Error("/metrics shows the admin key")
	}
}

// TestDatabaseOutage cuts the connection to PostgreSQL: requests answer 503
// with a clear page, nothing is half-written, and the app recovers by itself
// when the database returns.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	proxy := newTCPProxy(t, "127.0.0.1:5432")
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.addr
	app := newTestApp(t, appOptions{dbURL: u.String()})

	if resp, _ := app.signup(validSignup("Before Outage")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup before the outage: %d", resp.StatusCode)
	}
	token, doc := app.csrf("/signup")
	form := validSignup("During Outage")
	form.Set("csrf", token)
	form.Set("signup_token", doc.Find(`input[name="signup_token"]`).AttrOr("value", ""))

	proxy.cut()
	resp, page := app.post("/signup", form)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("signup during the outage = %d, want 503", resp.StatusCode)
	}
	if msg := page.Find(`[data-testid="error-message"]`).Text(); !strings.Contains(msg, "database") {
		t.Errorf("503 page says %q, want an explanation about the database", msg)
	}
	if status, body := getJSON(t, app, "/readyz"); status != http.StatusServiceUnavailable || body["reason"] != "database_unreachable" {
		t.Errorf("/readyz during the outage = %d %v", status, body)
	} else if want := map[string]string{"status": "unavailable", "reason": "database_unreachable"}; !maps.Equal(body, want) {
		// The error would name the database's host and port.
		t.Errorf("/readyz during the outage answers %v, want exactly %v", body, want)
	}

	proxy.restore()
	resp, _ = app.post("/signup", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup after the outage = %d, want 303", resp.StatusCode)
	}
	if status, _ := getJSON(t, app, "/readyz"); status != http.StatusOK {
		t.Errorf("/readyz after the outage = %d", status)
	}
	// Exactly the two acknowledged companies exist, each complete.
	var n, provisioned int
	if err := app.pool.QueryRow(context.Background(),
		`SELECT count(*), count(*) FILTER (WHERE openai_project_id IS NOT NULL) FROM companies`).Scan(&n, &provisioned); err != nil {
		t.Fatal(err)
	}
	if n != 2 || provisioned != 2 {
		t.Errorf("companies = %d (provisioned %d), want 2 and 2", n, provisioned)
	}
	if got := app.fake.CountByName("During Outage"); got != 1 {
		t.Errorf("projects for the company signed up around the outage = %d, want 1", got)
	}
}

func getJSON(t *testing.T, app *testApp, path string) (int, map[string]string) {
	t.Helper()
	resp, err := app.client.Get(app.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// tcpProxy forwards connections to PostgreSQL and can cut them all, as a
// network failure or a database restart would.
type tcpProxy struct {
	addr   string
	target string
	ln     net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.accept()
	return p
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, upstream)
		go func() { io.Copy(upstream, c); upstream.Close() }()
		go func() { io.Copy(c, upstream); c.Close() }()
	}
}

func (p *tcpProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
