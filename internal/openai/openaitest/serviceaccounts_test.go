package openaitest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// TestFakeServiceAccountsConformToSpec sends every service-account and key
// request the fake serves, with its errors and faults, through the checker.
func TestFakeServiceAccountsConformToSpec(t *testing.T) {
	t.Parallel()
	c := specChecker(t)
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()
	p := s.AddProject("acme", false)
	old := s.AddProject("old", true)
	seed := s.AddServiceAccount(p.ID, "seed")
	s.AddServiceAccount(p.ID, "seed2")
	base := "/organization/projects/" + p.ID

	steps := []struct {
		method, path, body string
		status             int
	}{
		{"POST", base + "/service_accounts", `{"name":"provisioner"}`, 200},
		{"POST", base + "/service_accounts", `{"name":"bare","create_service_account_only":true}`, 200},
		{"POST", base + "/service_accounts", `{"name":"n","create_service_account_only":null}`, 200},
		{"GET", base + "/service_accounts", "", 200},
		{"GET", base + "/service_accounts?limit=1", "", 200},
		{"GET", base + "/service_accounts?limit=2&after=" + seed.ID, "", 200},
		{"GET", base + "/service_accounts/" + seed.ID, "", 200},
		{"GET", base + "/api_keys", "", 200},
		{"GET", base + "/api_keys?limit=1&owner_project_access=any", "", 200},
		{"GET", base + "/api_keys?after=" + seed.KeyID, "", 200},
		{"GET", base + "/api_keys/" + seed.KeyID, "", 200},
		{"DELETE", base + "/api_keys/" + seed.KeyID, "", 400}, // a service account's key: refused
		{"DELETE", base + "/service_accounts/" + seed.ID, "", 200},
		{"DELETE", base + "/service_accounts/" + seed.ID, "", 404},
		{"GET", base + "/service_accounts/" + seed.ID, "", 404},
		{"GET", base + "/api_keys/" + seed.KeyID, "", 404},
		{"POST", "/organization/projects/" + old.ID + "/service_accounts", `{"name":"x"}`, 400},
		{"GET", "/organization/projects/" + old.ID + "/service_accounts", "", 400},
		{"POST", "/organization/projects/proj_missing/service_accounts", `{"name":"x"}`, 404},
		{"GET", base + "/service_accounts?limit=500", "", 400},
	}
	for _, st := range steps {
		if got := rawDo(t, c, st.method, s.URL+st.path, testKey, st.body); got != st.status {
			t.Errorf("%s %s: status %d, want %d", st.method, st.path, got, st.status)
		}
	}
	s.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 429, RetryAfter: "2"},
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 500},
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, Malformed: true},
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, Reset: true},
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true},
		openaitest.Fault{Endpoint: openaitest.EndpointListAPIKeys, Status: 503},
	)
	before := len(s.ServiceAccounts(p.ID))
	for range 5 {
		rawDo(t, c, "POST", s.URL+base+"/service_accounts", testKey, `{"name":"faulty"}`)
	}
	rawDo(t, c, "GET", s.URL+base+"/api_keys", testKey, "")
	// Malformed and CreateThenDrop carry the create out; the rest do not.
	if got := len(s.ServiceAccounts(p.ID)) - before; got != 2 {
		t.Errorf("faulty creates made %d service accounts, want 2", got)
	}
	if v := c.Violations(); len(v) != 0 {
		t.Errorf("the fake strays from the spec:\n%s", strings.Join(v, "\n"))
	}
	reqs, resps := c.Checked()
	if want := len(steps) + 6; reqs != want {
		t.Errorf("checked %d requests, want %d", reqs, want)
	}
	if want := len(steps) + 6 - 3; resps != want {
		t.Errorf("checked %d responses, want %d", resps, want)
	}
}

// TestSpecCheckerCatchesBadServiceAccountRequests: the checker flags what
// the spec does not allow on these endpoints, expires_in_seconds included.
func TestSpecCheckerCatchesBadServiceAccountRequests(t *testing.T) {
	t.Parallel()
	specChecker(t)
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	p := s.AddProject("p", false)
	base := "/organization/projects/" + p.ID
	cases := []struct{ name, method, path, body, want string }{
		{"expires_in_seconds is newer than the spec", "POST", base + "/service_accounts", `{"name":"x","expires_in_seconds":3600}`, "expires_in_seconds"},
		{"name is required", "POST", base + "/service_accounts", `{}`, "name"},
		{"no PATCH", "PATCH", base + "/service_accounts/svc_acct_1", `{"name":"x"}`, "no operation"},
		{"no key create on the project", "POST", base + "/api_keys", `{"name":"x"}`, "no operation"},
		{"bad owner_project_access", "GET", base + "/api_keys?owner_project_access=all", "", "owner_project_access"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := specChecker(t)
			rawDo(t, c, tc.method, s.URL+tc.path, testKey, tc.body)
			joined := strings.Join(c.Violations(), "\n")
			if !strings.Contains(joined, tc.want) {
				t.Errorf("violations do not mention %q:\n%s", tc.want, joined)
			}
		})
	}
}

// TestFakeServiceAccountKeyShownOnce: the value comes in the create answer
// and never in a list.
func TestFakeServiceAccountKeyShownOnce(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	p := s.AddProject("p", false)
	resp, err := http.Post(s.URL+"/organization/projects/"+p.ID+"/service_accounts", "application/json", strings.NewReader(`{"name":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		APIKey struct{ Value, ID string } `json:"api_key"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(created.APIKey.Value, "sk-") {
		t.Fatalf("value %q", created.APIKey.Value)
	}
	for _, path := range []string{"/service_accounts", "/api_keys", "/api_keys/" + created.APIKey.ID} {
		r, err := http.Get(s.URL + "/organization/projects/" + p.ID + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if strings.Contains(string(b), created.APIKey.Value) {
			t.Errorf("%s shows the value", path)
		}
	}
}
