package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/web"
)

func newTestKeys(t *testing.T, pool *pgxpool.Pool, projects openai.Projects, logger *slog.Logger) *keys.Service {
	t.Helper()
	js, err := keystore.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	var accounts openai.ServiceAccounts
	if c, ok := projects.(*openai.Client); ok && c != nil {
		accounts = c
	}
	return keys.New(pool, accounts, ks, keys.Settings{
		BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, SettleDelay: 10 * time.Millisecond, ClockSkew: time.Second,
	}, logger)
}

// apiClient calls /api/v1 and checks every answer against the API's own
// OpenAPI document.
type apiClient struct {
	t      *testing.T
	app    *testApp
	router routers.Router
	mu     sync.Mutex
	seen   int
}

func newAPIClient(t *testing.T, app *testApp) *apiClient {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(web.APIV1OpenAPI())
	if err != nil {
		t.Fatalf("load the API's OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the API's OpenAPI document is invalid: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	doc.Servers = openapi3.Servers{{URL: app.srv.URL + "/api/v1"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiClient{t: t, app: app, router: router}
	t.Cleanup(func() {
		if c.seen == 0 {
			t.Error("no API response was checked against the OpenAPI document")
		}
	})
	return c
}

// do sends a request and returns the status, the headers and the body,
// failing the test if the answer strays from the OpenAPI document.
func (c *apiClient) do(method, path, token string, body any, hdr ...string) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		j, _ := json.Marshal(b)
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.app.srv.URL+"/api/v1"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		c.t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	c.check(req, resp, data)
	return resp.StatusCode, resp.Header, data
}

func (c *apiClient) check(req *http.Request, resp *http.Response, data []byte) {
	c.t.Helper()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(data)), Options: opts,
	})
	if err != nil {
		c.t.Errorf("%s %s answered %d, not as the OpenAPI document says: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, data)
	}
	c.mu.Lock()
	c.seen++
	c.mu.Unlock()
}

func (c *apiClient) token(scopes ...string) string {
	c.t.Helper()
	_, v, err := c.app.tokens.Create(context.Background(), "token-"+strings.Join(scopes, "-")+"-"+time.Now().Format("150405.000000000"), scopes, audit.Actor{Email: "test"})
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func validCompany(name string) map[string]any {
	return map[string]any{"company_name": name, "industry": "Software", "contact_name": "Ada", "contact_email": "ada@example.com"}
}

func errorFields(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var e struct {
		Error struct {
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("error body %s: %v", data, err)
	}
	return e.Error.Fields
}

func TestAPIV1_Tokens(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true})
	c := newAPIClient(t, app)
	read := c.token(apitoken.ScopeCompaniesRead)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"not ours", "pvt_notarealtoken000000000000000000000000000", 401},
		{"garbage", "hello", 401},
		{"wrong scope", read, 403},
	} {
		status, hdr, body := c.do("POST", "/companies", tc.token, validCompany("Nope"))
		if status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.want)
		}
		if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate", tc.name)
		}
	}
	// A revoked token is refused.
	revoked := c.token(apitoken.ScopeCompaniesRead, apitoken.ScopeCompaniesWrite)
	list, _ := app.tokens.List(context.Background())
	for _, tk := range list {
		if tk.Has(apitoken.ScopeCompaniesWrite) {
			if _, err := app.tokens.Revoke(context.Background(), tk.Name, audit.Actor{Email: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if status, _, _ := c.do("GET", "/companies/1", revoked, nil); status != 401 {
		t.Errorf("revoked token: %d", status)
	}
	// The document itself is public.
	status, _, body := c.do("GET", "/openapi.json", "", nil)
	if status != 200 || !bytes.Contains(body, []byte(`"openapi": "3.1.0"`)) {
		t.Errorf("openapi.json: %d", status)
	}
}

func TestAPIV1_RateLimit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true})
	c := newAPIClient(t, app)
	// A token with a tiny limit, served by a second Service on the same
	// table: the limit is on the row, whoever counts.
	small := apitoken.New(app.pool, 3)
	_, tok, err := small.Create(context.Background(), "small", []string{apitoken.ScopeCompaniesRead}, audit.Actor{Email: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := small.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	// The app's own limit is 1000/min: raise the row's count past it.
	if _, err := app.pool.Exec(context.Background(), `UPDATE api_tokens SET rate_count = 1000 WHERE name = 'small'`); err != nil {
		t.Fatal(err)
	}
	status, hdr, _ := c.do("GET", "/companies/1", tok, nil)
	if status != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("over the limit: %d, Retry-After %q", status, hdr.Get("Retry-After"))
	}
}

func TestAPIV1_Companies(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true})
	c := newAPIClient(t, app)
	w := c.token(apitoken.ScopeCompaniesWrite, apitoken.ScopeCompaniesRead)

	body := validCompany("Api Co")
	body["external_id"] = "host-42"
	status, _, data := c.do("POST", "/companies", w, body)
	if status != 201 {
		t.Fatalf("create: %d %s", status, data)
	}
	var co struct {
		ID         int64   `json:"id"`
		ExternalID *string `json:"external_id"`
		ProjectID  *string `json:"project_id"`
		Status     string  `json:"status"`
		Ready      bool    `json:"ready"`
		KeyStatus  string  `json:"key_status"`
	}
	if err := json.Unmarshal(data, &co); err != nil {
		t.Fatal(err)
	}
	if co.ID == 0 || co.ExternalID == nil || *co.ExternalID != "host-42" || co.ProjectID == nil || co.Status != "provisioned" || co.Ready || co.KeyStatus != "pending" {
		t.Errorf("created %s", data)
	}
	status, _, got := c.do("GET", "/companies/"+itoa(co.ID), w, nil)
	if status != 200 || !bytes.Contains(got, []byte(`"host-42"`)) {
		t.Errorf("get: %d %s", status, got)
	}
	status, _, got = c.do("GET", "/companies?external_id=host-42", w, nil)
	if status != 200 || !bytes.Contains(got, []byte(`"id":`+itoa(co.ID))) {
		t.Errorf("find: %d %s", status, got)
	}
	for _, p := range []string{"/companies/999999", "/companies/abc", "/companies?external_id=nope"} {
		if status, _, _ := c.do("GET", p, w, nil); status != 404 {
			t.Errorf("GET %s: %d, want 404", p, status)
		}
	}
	if status, _, _ := c.do("GET", "/companies", w, nil); status != 422 {
		t.Errorf("find without external_id: %d", status)
	}

	// Bad input: the signup form's errors, by field name.
	bad := map[string]any{"company_name": "", "industry": "Mining", "contact_name": "A", "contact_email": "not-an-email", "website": "ftp://x"}
	status, _, data = c.do("POST", "/companies", w, bad)
	fields := errorFields(t, data)
	if status != 422 || fields["company_name"] == "" || fields["industry"] == "" || fields["contact_email"] == "" || fields["website"] == "" {
		t.Errorf("bad fields: %d %s", status, data)
	}
	dup := validCompany("api co") // the name, in another letter case
	status, _, data = c.do("POST", "/companies", w, dup)
	if status != 422 || errorFields(t, data)["company_name"] == "" {
		t.Errorf("taken name: %d %s", status, data)
	}
	dupExt := validCompany("Other Co")
	dupExt["external_id"] = "host-42"
	status, _, data = c.do("POST", "/companies", w, dupExt)
	if status != 422 || errorFields(t, data)["external_id"] == "" {
		t.Errorf("taken external_id: %d %s", status, data)
	}
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"bad JSON", `{"company_name": `, 400},
		{"unknown field", `{"company_name":"X","industry":"Software","contact_name":"A","contact_email":"a@example.com","description":"d"}`, 400},
		{"wrong type", `{"company_name": 5}`, 400},
		{"empty", ``, 400},
	} {
		status, _, data := c.do("POST", "/companies", w, tc.body)
		if status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, status, data, tc.want)
		}
	}
	req, _ := http.NewRequest("POST", app.srv.URL+"/api/v1/companies", strings.NewReader(url.Values{"company_name": {"F"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+w)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	c.check(req, resp, data)
	if resp.StatusCode != 415 {
		t.Errorf("form body: %d", resp.StatusCode)
	}
	var n int
	_ = app.pool.QueryRow(context.Background(), `SELECT count(*) FROM companies`).Scan(&n)
	if n != 1 {
		t.Errorf("%d companies after bad requests, want 1 (nothing half-saved)", n)
	}
}

func TestAPIV1_Idempotency(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true})
	c := newAPIClient(t, app)
	w := c.token(apitoken.ScopeCompaniesWrite)
	body := validCompany("Once Inc")
	s1, _, d1 := c.do("POST", "/companies", w, body, "Idempotency-Key", "k-1")
	s2, h2, d2 := c.do("POST", "/companies", w, body, "Idempotency-Key", "k-1")
	if s1 != 201 || s2 != 201 || !bytes.Equal(d1, d2) || h2.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %d %s", s1, d1, s2, d2)
	}
	other := validCompany("Twice Inc")
	if s, _, d := c.do("POST", "/companies", w, other, "Idempotency-Key", "k-1"); s != 422 {
		t.Errorf("same key, another body: %d %s", s, d)
	}
	// Concurrent requests with one key make one company.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.do("POST", "/companies", w, validCompany("Racy Inc"), "Idempotency-Key", "k-2")
		}()
	}
	wg.Wait()
	var n int
	_ = app.pool.QueryRow(context.Background(), `SELECT count(*) FROM companies`).Scan(&n)
	if n != 2 {
		t.Errorf("%d companies, want 2", n)
	}
	// Another token's key space is its own.
	w2 := c.token(apitoken.ScopeCompaniesWrite)
	if s, _, _ := c.do("POST", "/companies", w2, validCompany("Else Inc"), "Idempotency-Key", "k-1"); s != 201 {
		t.Errorf("another token, same key: %d", s)
	}
}

// TestAPIV1_Key: a company registered through the API gets its key from
// the background job; the host app reads it (audited with the token's
// name), rotates it and revokes it; the value shows nowhere else.
func TestAPIV1_Key(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true, work: true})
	c := newAPIClient(t, app)
	w := c.token(apitoken.ScopeCompaniesWrite, apitoken.ScopeCompaniesRead)
	kr := c.token(apitoken.ScopeKeysRead)
	kw := c.token(apitoken.ScopeKeysWrite, apitoken.ScopeKeysRead)
	status, _, data := c.do("POST", "/companies", w, validCompany("Keyed"))
	if status != 201 {
		t.Fatalf("create: %d %s", status, data)
	}
	var co struct {
		ID        int64  `json:"id"`
		ProjectID string `json:"project_id"`
	}
	_ = json.Unmarshal(data, &co)
	id := itoa(co.ID)
	waitUntil(t, "the key is issued", func() bool {
		_, _, d := c.do("GET", "/companies/"+id, w, nil)
		return bytes.Contains(d, []byte(`"key":{`))
	})
	if s, _, _ := c.do("GET", "/companies/"+id+"/openai-key", w, nil); s != 403 {
		t.Errorf("companies scope reading the key: %d", s)
	}
	status, _, data = c.do("GET", "/companies/"+id+"/openai-key", kr, nil)
	var k struct {
		KeyID string `json:"key_id"`
		Value string `json:"value"`
	}
	_ = json.Unmarshal(data, &k)
	sas := app.fake.ServiceAccounts(co.ProjectID)
	if status != 200 || len(sas) != 1 || k.Value != sas[0].KeyValue || k.KeyID != sas[0].KeyID {
		t.Fatalf("key: %d, %d service accounts", status, len(sas))
	}
	var audited int
	_ = app.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'key.read' AND actor_email LIKE 'token:%' AND company_id = $1`, co.ID).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d key.read audit entries with the token's name", audited)
	}
	first := k.Value

	if s, _, _ := c.do("POST", "/companies/"+id+"/openai-key/rotate", kr, nil); s != 403 {
		t.Errorf("keys:read rotating: %d", s)
	}
	if s, _, d := c.do("POST", "/companies/"+id+"/openai-key/rotate", kw, nil); s != 202 {
		t.Fatalf("rotate: %d %s", s, d)
	}
	waitUntil(t, "the rotation", func() bool { return len(app.fake.ServiceAccounts(co.ProjectID)) == 2 })
	waitUntil(t, "the new key is current", func() bool {
		_, _, d := c.do("GET", "/companies/"+id+"/openai-key", kw, nil)
		var nk struct{ Value string }
		_ = json.Unmarshal(d, &nk)
		return nk.Value != "" && nk.Value != first
	})
	second := ""
	for _, sa := range app.fake.ServiceAccounts(co.ProjectID) {
		if sa.KeyValue != first {
			second = sa.KeyValue
		}
	}
	if s, _, d := c.do("DELETE", "/companies/"+id+"/openai-key", kw, nil); s != 200 || !bytes.Contains(d, []byte(`"revoked":2`)) {
		t.Fatalf("revoke: %d %s", s, d)
	}
	if n := len(app.fake.ServiceAccounts(co.ProjectID)); n != 0 {
		t.Errorf("%d service accounts left after revoke", n)
	}
	if s, _, _ := c.do("GET", "/companies/"+id+"/openai-key", kr, nil); s != 404 {
		t.Errorf("key after revoke: %d", s)
	}
	if s, _, _ := c.do("DELETE", "/companies/"+id+"/openai-key", kw, nil); s != 404 {
		t.Errorf("second revoke: %d", s)
	}
	if s, _, _ := c.do("GET", "/companies/999999/openai-key", kr, nil); s != 404 {
		t.Errorf("key of no company: %d", s)
	}
	// No leaks: logs, audit entries, job arguments.
	for _, v := range []string{first, second} {
		if strings.Contains(app.logs.String(), v) {
			t.Error("a key value is in the logs")
		}
		var n int
		_ = app.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM audit_log WHERE concat_ws(' ', actor_email, before, after, detail) LIKE '%'||$1||'%')
			+ (SELECT count(*) FROM river_job WHERE args::text LIKE '%'||$1||'%' OR coalesce(errors::text,'') LIKE '%'||$1||'%')`, v).Scan(&n)
		if n != 0 {
			t.Error("a key value is in the audit log or a job")
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(n int64) string { return jsonNumber(n) }

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestAPIV1_CompaniesBudgetNotPerAddress: companies registered through the
// API count against the project-creation budget (over it they are created
// and wait, as signups do) but not against the per-address signup limit:
// the host app is one address, and its token has a rate limit of its own.
func TestAPIV1_CompaniesBudgetNotPerAddress(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{keys: true, signupRate: 1,
		settings: gateSettings(func(s *provision.Settings) { s.SignupBudget = 2 })})
	c := newAPIClient(t, app)
	w := c.token(apitoken.ScopeCompaniesWrite, apitoken.ScopeCompaniesRead)
	for i, name := range []string{"Budget Api One", "Budget Api Two", "Budget Api Three"} {
		status, _, data := c.do("POST", "/companies", w, validCompany(name))
		if status != 201 {
			t.Fatalf("company %d: %d %s (the per-address signup limit of 1 must not apply)", i+1, status, data)
		}
	}
	for _, name := range []string{"Budget Api One", "Budget Api Two"} {
		if co, _ := app.company(name); co.ProjectID == nil {
			t.Errorf("%s: no project, want one (within the budget of 2)", name)
		}
	}
	co, _ := app.company("Budget Api Three")
	if co.Status != "waiting" || co.ProjectID != nil {
		t.Errorf("third company: status %q, project %v; want waiting without a project (over the budget)", co.Status, co.ProjectID)
	}
	if n := app.fake.Count(openaitest.EndpointCreate); n != 2 {
		t.Errorf("%d projects created on OpenAI, want 2", n)
	}
	// The form, from the same address, is still held to its own limit.
	app.signup(validSignup("Budget Form One"))
	if resp, _ := app.signup(validSignup("Budget Form Two")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second form signup from one address: %d, want 429", resp.StatusCode)
	}
}
