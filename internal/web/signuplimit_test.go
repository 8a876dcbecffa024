package web_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// signupFrom loads the form and submits it with extra request headers
// (X-Forwarded-For) on both requests, as a client behind a proxy would.
func (a *testApp) signupFrom(xff string, values url.Values) (*http.Response, *goquery.Document) {
	a.t.Helper()
	do := func(req *http.Request) (*http.Response, *goquery.Document) {
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			a.t.Fatal(err)
		}
		return resp, parse(a.t, resp)
	}
	get, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/signup", nil)
	_, doc := do(get)
	form := url.Values{
		"csrf":         {doc.Find(`input[name="csrf"]`).AttrOr("value", "")},
		"signup_token": {doc.Find(`input[name="signup_token"]`).AttrOr("value", "")},
	}
	for k, v := range values {
		form[k] = v
	}
	post, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/signup", strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(post)
}

// Issue 12, finding 1: a script posting signups in a loop from one
// address gets at most SIGNUP_RATE_PER_IP companies an hour; the rest are
// answered 429 with the form and its values, and create nothing.
func TestSignup_FloodFromOneAddress(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{signupRate: 3})
	created, limited := 0, 0
	for i := range 8 {
		// Forged X-Forwarded-For headers are not believed: no proxy is trusted.
		resp, doc := app.signupFrom(fmt.Sprintf("203.0.113.%d", i+1), validSignup(fmt.Sprintf("Flood %d", i)))
		switch resp.StatusCode {
		case http.StatusSeeOther:
			created++
		case http.StatusTooManyRequests:
			limited++
			if msg := doc.Find(`[data-testid="form-error"]`).Text(); !strings.Contains(msg, "Too many signups") {
				t.Errorf("429 form error = %q", msg)
			}
			if got := doc.Find("#company_name").AttrOr("value", ""); got != fmt.Sprintf("Flood %d", i) {
				t.Errorf("429 kept company_name %q", got)
			}
			if got := doc.Find("#contact_email").AttrOr("value", ""); got != "ada@example.com" {
				t.Errorf("429 kept contact_email %q", got)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("signup %d: status %d", i, resp.StatusCode)
		}
	}
	if created != 3 || limited != 5 {
		t.Errorf("created %d, limited %d; want 3 and 5", created, limited)
	}
	if n := app.countCompanies(); n != 3 {
		t.Errorf("companies = %d, want 3", n)
	}
	if n := app.fake.CreateCount(); n != 3 {
		t.Errorf("projects created = %d, want 3", n)
	}
	// Refused forms (bad input) spend no slot: a fresh client address would
	// be needed otherwise, so check on another app with limit 1.
	app2 := newTestApp(t, appOptions{signupRate: 1})
	bad := validSignup("Bad Email Co")
	bad.Set("contact_email", "nope")
	if resp, _ := app2.signup(bad); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad signup status = %d", resp.StatusCode)
	}
	if resp, _ := app2.signup(validSignup("Good Co")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signup after a refused one: status %d, want 303", resp.StatusCode)
	}
}

// Behind a trusted proxy, each forwarded client is counted apart; what a
// client writes into X-Forwarded-For itself is not believed.
func TestSignup_LimitBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{signupRate: 2, trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for i, tt := range []struct {
		xff  string
		want int
	}{
		{"198.51.100.1", http.StatusSeeOther},
		{"198.51.100.1", http.StatusSeeOther},
		{"198.51.100.2", http.StatusSeeOther}, // another client: its own count
		{"198.51.100.1", http.StatusTooManyRequests},
		// The client wrote a fresh address in front; the proxy appended
		// the real one, which is what counts.
		{"192.0.2.77, 198.51.100.1", http.StatusTooManyRequests},
		{"198.51.100.2", http.StatusSeeOther},
		{"198.51.100.2", http.StatusTooManyRequests},
	} {
		if resp, _ := app.signupFrom(tt.xff, validSignup(fmt.Sprintf("Proxied %d", i))); resp.StatusCode != tt.want {
			t.Errorf("signup %d via %q: status %d, want %d", i, tt.xff, resp.StatusCode, tt.want)
		}
	}
	if n := app.countCompanies(); n != 4 {
		t.Errorf("companies = %d, want 4", n)
	}
}
