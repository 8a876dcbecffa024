package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

var projectIDPattern = regexp.MustCompile(`^proj_[A-Za-z0-9]+$`)

// The seed's first test: with a key, the project is created and its ID stored.
func TestSignup_WithKey(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})

	resp, _ := app.signup(validSignup("Acme Corp"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /signup status = %d, want 303", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/signup/done?token=") {
		t.Fatalf("redirect to %q, want /signup/done?token=…", loc)
	}
	c, ok := app.company("Acme Corp")
	if !ok {
		t.Fatal("company not stored")
	}
	if c.ProjectID == nil || !projectIDPattern.MatchString(*c.ProjectID) {
		t.Fatalf("openai_project_id = %v, want proj_…", c.ProjectID)
	}
	if c.Status != "provisioned" {
		t.Errorf("status = %q, want provisioned", c.Status)
	}
	if want := "Project for Acme Corp - Software"; c.Description != want {
		t.Errorf("description = %q, want %q", c.Description, want)
	}
	want := "✅ [Company Signup] OpenAI project created: " + *c.ProjectID + " for Acme Corp"
	if !app.logs.Contains(want) {
		t.Errorf("logs lack %q", want)
	}
	// The project is named after the company; exactly one was created, and
	// the request carried only what OpenAI's spec allows.
	projects := app.fake.Projects()
	if len(projects) != 1 || projects[0].Name != "Acme Corp" || projects[0].ID != *c.ProjectID {
		t.Fatalf("fake projects = %+v, want one named Acme Corp with id %s", projects, *c.ProjectID)
	}
	for _, r := range app.fake.Requests() {
		if r.Endpoint != openaitest.EndpointCreate {
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if len(body) != 1 || body["name"] != "Acme Corp" {
			t.Errorf("create body = %s, want only the name", r.Body)
		}
		if r.Header.Get("OpenAI-Beta") != "" {
			t.Errorf("create sent OpenAI-Beta: %q", r.Header.Get("OpenAI-Beta"))
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testAdminKey {
			t.Errorf("Authorization = %q", got)
		}
	}

	// The confirmation page shows the company and its project ID.
	_, doc := app.get(loc)
	if got := strings.TrimSpace(doc.Find("#done-company").Text()); got != "Acme Corp" {
		t.Errorf("confirmation company = %q", got)
	}
	if got := strings.TrimSpace(doc.Find("#done-project-id").Text()); got != *c.ProjectID {
		t.Errorf("confirmation project id = %q, want %q", got, *c.ProjectID)
	}
	if strings.Contains(app.logs.String(), testAdminKey) {
		t.Error("the admin key appears in the logs")
	}
}

// The seed's second test: without a key, the company is created with a NULL
// project ID and a warning.
func TestSignup_WithoutKey(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})

	resp, _ := app.signup(validSignup("Test Company"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /signup status = %d, want 303", resp.StatusCode)
	}
	c, ok := app.company("Test Company")
	if !ok {
		t.Fatal("company not stored")
	}
	if c.ProjectID != nil {
		t.Errorf("openai_project_id = %q, want NULL", *c.ProjectID)
	}
	if c.Status != "skipped" {
		t.Errorf("status = %q, want skipped", c.Status)
	}
	if want := "⚠️ [Company Signup] OpenAI project creation skipped for Test Company"; !app.logs.Contains(want) {
		t.Errorf("logs lack %q", want)
	}
	if n := len(app.fake.Requests()); n != 0 {
		t.Errorf("fake OpenAI got %d requests, want 0", n)
	}
	_, doc := app.get(resp.Header.Get("Location"))
	if got := doc.Find(`[data-testid="badge"]`).AttrOr("data-status", ""); got != "skipped" {
		t.Errorf("confirmation badge = %q, want skipped", got)
	}
}

// Every OpenAI failure leaves the company created with a NULL ID, a ❌ line
// and the status and error recorded.
func TestSignup_OpenAIFailures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		fault      openaitest.Fault
		wantStatus string
		// wantCreated: OpenAI created the project although we got no answer.
		wantCreated int
	}{
		{"ServerError", openaitest.Fault{Endpoint: "create", Status: 500}, "pending", 0},
		{"RateLimited", openaitest.Fault{Endpoint: "create", Status: 429, RetryAfter: "30"}, "pending", 0},
		{"Unauthorized", openaitest.Fault{Endpoint: "create", Status: 401}, "failed", 0},
		{"Forbidden", openaitest.Fault{Endpoint: "create", Status: 403}, "failed", 0},
		// The organization's limit makes the company wait, not fail (issue 12).
		{"ProjectLimit", openaitest.Fault{Endpoint: "create", Status: 400, Code: "project_limit_reached", Message: "You have reached the maximum number of projects for this organization."}, "waiting", 0},
		{"MalformedJSON", openaitest.Fault{Endpoint: "create", Malformed: true}, "pending", 1},
		{"ConnectionReset", openaitest.Fault{Endpoint: "create", Reset: true}, "pending", 0},
		{"ResponseLost", openaitest.Fault{Endpoint: "create", CreateThenDrop: true}, "pending", 1},
		{"Timeout", openaitest.Fault{Endpoint: "create", Latency: 1500 * time.Millisecond}, "pending", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t, appOptions{signupTimeout: 500 * time.Millisecond})
			app.fake.Inject(tt.fault)
			name := "Globex " + tt.name

			start := time.Now()
			resp, _ := app.signup(validSignup(name))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST /signup status = %d, want 303", resp.StatusCode)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("signup took %v with a 500ms signup timeout", elapsed)
			}
			c, ok := app.company(name)
			if !ok {
				t.Fatal("company not stored")
			}
			if c.ProjectID != nil {
				t.Errorf("openai_project_id = %q, want NULL", *c.ProjectID)
			}
			if c.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", c.Status, tt.wantStatus)
			}
			if c.LastError == "" {
				t.Error("last error not recorded")
			}
			if want := "❌ [Company Signup] Failed to create OpenAI project for " + name + ": "; !app.logs.Contains(want) {
				t.Errorf("logs lack %q", want)
			}
			if tt.fault.Latency > 0 {
				time.Sleep(tt.fault.Latency) // let the fake finish the create it is still doing
			}
			if got := app.fake.CountByName(name); got != tt.wantCreated {
				t.Errorf("fake holds %d projects named %q, want %d", got, name, tt.wantCreated)
			}
			if strings.Contains(app.logs.String(), testAdminKey) || strings.Contains(c.LastError, testAdminKey) {
				t.Error("the admin key leaked into logs or the stored error")
			}
			// The signup's attempt is in the history.
			var attempts int
			if err := app.pool.QueryRow(context.Background(), `SELECT count(*) FROM provision_attempts WHERE company_id = $1 AND trigger = 'signup' AND finished_at IS NOT NULL`, c.ID).Scan(&attempts); err != nil {
				t.Fatal(err)
			}
			if attempts != 1 {
				t.Errorf("finished signup attempts = %d, want 1", attempts)
			}
		})
	}
}

func TestSignup_Validation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	long := strings.Repeat("x", 201)
	for _, tt := range []struct {
		name      string
		change    url.Values
		wantField string
	}{
		{"MissingName", url.Values{"company_name": {""}}, "company_name"},
		{"WhitespaceName", url.Values{"company_name": {"   \t "}}, "company_name"},
		{"LongName", url.Values{"company_name": {long}}, "company_name"},
		{"MissingIndustry", url.Values{"industry": {""}}, "industry"},
		{"UnknownIndustry", url.Values{"industry": {"Piracy"}}, "industry"},
		{"MissingContact", url.Values{"contact_name": {""}}, "contact_name"},
		{"MissingEmail", url.Values{"contact_email": {""}}, "contact_email"},
		{"BadEmail", url.Values{"contact_email": {"not-an-email"}}, "contact_email"},
		{"EmailWithName", url.Values{"contact_email": {"Ada <ada@example.com>"}}, "contact_email"},
		{"BadWebsite", url.Values{"website": {"javascript:alert(1)"}}, "website"},
		{"UnknownSize", url.Values{"company_size": {"huge"}}, "company_size"},
		{"LongCountry", url.Values{"country": {strings.Repeat("y", 101)}}, "country"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := validSignup("Valid " + tt.name)
			for k, v := range tt.change {
				form[k] = v
			}
			before := app.countCompanies()
			requests := len(app.fake.Requests())
			resp, doc := app.signup(form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", resp.StatusCode)
			}
			if msg := strings.TrimSpace(doc.Find(`[data-testid="error-` + tt.wantField + `"]`).Text()); msg == "" {
				t.Errorf("no error shown beside %s", tt.wantField)
			}
			// The user's values are kept.
			if got := doc.Find(`#contact_name`).AttrOr("value", ""); got != form.Get("contact_name") {
				t.Errorf("contact_name re-rendered as %q, want %q", got, form.Get("contact_name"))
			}
			if got := app.countCompanies(); got != before {
				t.Errorf("companies = %d after a rejected signup, want %d", got, before)
			}
			if got := len(app.fake.Requests()); got != requests {
				t.Errorf("a rejected signup sent %d requests to OpenAI", got-requests)
			}
		})
	}
}

func TestSignup_DuplicateNameAnyCase(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	if resp, _ := app.signup(validSignup("Initech")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first signup status = %d", resp.StatusCode)
	}
	resp, doc := app.signup(validSignup("iNITECH"))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate signup status = %d, want 422", resp.StatusCode)
	}
	if msg := doc.Find(`[data-testid="error-company_name"]`).Text(); !strings.Contains(msg, "already registered") {
		t.Errorf("company_name error = %q", msg)
	}
	if got := doc.Find(`#company_name`).AttrOr("value", ""); got != "iNITECH" {
		t.Errorf("name re-rendered as %q", got)
	}
	if n := app.countCompanies(); n != 1 {
		t.Errorf("companies = %d, want 1", n)
	}
	if n := app.fake.CreateCount(); n != 1 {
		t.Errorf("creates sent = %d, want 1", n)
	}
}

func TestSignup_EscapesHTML(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	name := `<script>alert("x")</script> & Co`

	// Re-rendered with an error: the name stays text.
	form := validSignup(name)
	form.Set("contact_email", "bad")
	resp, doc := app.signup(form)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if doc.Find("script:not([src])").Length() != 0 {
		t.Error("an inline script made it into the page")
	}
	if got := doc.Find("#company_name").AttrOr("value", ""); got != name {
		t.Errorf("value = %q, want the name as typed", got)
	}

	resp, _ = app.signup(validSignup(name))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	raw, err := app.client.Get(app.srv.URL + resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, raw)
	if strings.Contains(body, "<script>alert") {
		t.Error("the company name was rendered as HTML")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co") {
		t.Error("the escaped name is missing from the confirmation page")
	}
}

func TestSignup_RequiresCSRF(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	app.csrf("/signup") // the cookie is set, but the form does not carry the token
	resp, _ := app.post("/signup", validSignup("Hooli"))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d, want 403", resp.StatusCode)
	}
	form := validSignup("Hooli")
	form.Set("csrf", "forged")
	if resp, _ := app.post("/signup", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged token status = %d, want 403", resp.StatusCode)
	}
	if n := app.countCompanies(); n != 0 {
		t.Errorf("companies = %d, want 0", n)
	}
}

// Submitting the same form twice (a double click) creates one company and
// one project, and both answers lead to the same confirmation.
func TestSignup_DoubleSubmit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	token, doc := app.csrf("/signup")
	form := validSignup("Umbrella")
	form.Set("csrf", token)
	form.Set("signup_token", doc.Find(`input[name="signup_token"]`).AttrOr("value", ""))

	locs := make(chan string, 2)
	for range 2 {
		go func() {
			resp, err := app.client.PostForm(app.srv.URL+"/signup", form)
			if err != nil {
				locs <- "error: " + err.Error()
				return
			}
			resp.Body.Close()
			locs <- resp.Header.Get("Location")
		}()
	}
	a, b := <-locs, <-locs
	if a != b || !strings.HasPrefix(a, "/signup/done") {
		t.Fatalf("redirects = %q and %q, want the same confirmation", a, b)
	}
	if n := app.countCompanies(); n != 1 {
		t.Errorf("companies = %d, want 1", n)
	}
	if n := app.fake.CountByName("Umbrella"); n != 1 {
		t.Errorf("projects named Umbrella = %d, want 1", n)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A pending confirmation refreshes itself (htmx polling) until the
// background job has created the project, then shows it and stops.
func TestSignupDone_PollsWhilePending(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{signupTimeout: 300 * time.Millisecond, work: true})
	app.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 503})
	resp, _ := app.signup(validSignup("Slowpoke Ltd"))
	loc := resp.Header.Get("Location")
	_, doc := app.get(loc)
	card := doc.Find("#signup-done")
	if card.AttrOr("data-polling", "") != "true" || card.AttrOr("hx-get", "") != loc {
		t.Fatalf("pending confirmation does not poll: data-polling=%q hx-get=%q", card.AttrOr("data-polling", ""), card.AttrOr("hx-get", ""))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, app.srv.URL+loc, nil)
		req.Header.Set("HX-Request", "true")
		r, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		frag := parse(t, r)
		if frag.Find("html").Length() > 0 && frag.Find("nav").Length() > 0 {
			t.Fatal("htmx poll got a whole page, want the card")
		}
		if id := strings.TrimSpace(frag.Find("#done-project-id").Text()); id != "" {
			if frag.Find(`[data-polling]`).Length() != 0 {
				t.Error("still polling once provisioned")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the project never appeared on the confirmation")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The confirmation page is public: when OpenAI refuses the project, it
// says the workspace is still being set up, and neither OpenAI's message
// nor our error text (both on the staff's company page) reaches it.
func TestSignupDone_FailedShowsNoInternalError(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	openAIMessage := "This admin key may not create projects in this organization."
	app.fake.Inject(openaitest.Fault{Endpoint: "create", Status: 403, Message: openAIMessage})
	const name = "Initech Failed"
	resp, _ := app.signup(validSignup(name))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /signup status = %d, want 303", resp.StatusCode)
	}
	c, ok := app.company(name)
	if !ok || c.Status != "failed" || c.LastError == "" {
		t.Fatalf("company = %+v (stored %v), want failed with an error recorded", c, ok)
	}
	loc := resp.Header.Get("Location")
	for _, htmx := range []bool{false, true} { // the page, and the fragment it polls
		req, err := http.NewRequest(http.MethodGet, app.srv.URL+loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s (htmx %v) = %d, want 200", loc, htmx, resp.StatusCode)
		}
		doc := parse(t, resp)
		if got, want := doc.Find(`[data-testid="done-message"]`).Text(), "We are still setting up your workspace."; !strings.Contains(got, want) {
			t.Errorf("htmx %v: message = %q, want it to contain %q", htmx, got, want)
		}
		page, _ := doc.Html()
		for _, internal := range []string{c.LastError, openAIMessage, "project_limit_reached"} {
			if strings.Contains(page, internal) {
				t.Errorf("htmx %v: the public confirmation shows %q", htmx, internal)
			}
		}
	}
}
