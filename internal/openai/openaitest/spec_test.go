package openaitest_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// specChecker loads the spec named by $OPENAI_SPEC. The tests that need it
// skip when the variable is unset, and fail when it names no usable spec.
func specChecker(t *testing.T) *openaitest.SpecChecker {
	t.Helper()
	path := os.Getenv("OPENAI_SPEC")
	if path == "" {
		t.Skip("OPENAI_SPEC is not set; set it to OpenAI's Admin API spec " +
			"(e.g. OPENAI_SPEC=/work/shared/openai/openapi-admin-projects.yaml) to run the spec conformance tests")
	}
	c, err := openaitest.NewSpecChecker(path)
	if err != nil {
		t.Fatalf("OPENAI_SPEC=%s: %v", path, err)
	}
	return c
}

func TestNewSpecCheckerErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := openaitest.NewSpecChecker(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("openapi: 3.1.0\ninfo: [not, a, map]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openaitest.NewSpecChecker(bad); err == nil {
		t.Error("invalid spec: no error")
	}
	noServer := filepath.Join(dir, "noserver.yaml")
	if err := os.WriteFile(noServer, []byte("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openaitest.NewSpecChecker(noServer); err == nil {
		t.Error("spec without servers: no error")
	}
}

// rawDo sends a hand-built request through the checker's transport.
func rawDo(t *testing.T, c *openaitest.SpecChecker, method, url, key, body string, hdr ...string) int {
	t.Helper()
	var req *http.Request
	var err error
	if body == "" {
		req, err = http.NewRequest(method, url, nil)
	} else {
		req, err = http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Transport: c.Transport(&http.Transport{DisableKeepAlives: true})}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFakeConformsToSpec sends every kind of request the fake serves, and
// its error and fault answers, through the checker: the fake must speak the
// spec.
func TestFakeConformsToSpec(t *testing.T) {
	t.Parallel()
	c := specChecker(t)
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()
	p := s.AddProject("seed", false)
	s.AddProject("old", true)

	steps := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/organization/projects", `{"name":"a"}`, 200},
		{"POST", "/organization/projects", `{"name":"b","residency":"EU_STORAGE_PROCESSING","external_key_id":"ek_1"}`, 200},
		{"POST", "/organization/projects", `{"name":"c","residency":null,"external_key_id":null}`, 200},
		{"GET", "/organization/projects", "", 200},
		{"GET", "/organization/projects?limit=1&include_archived=true", "", 200},
		{"GET", "/organization/projects?limit=2&after=" + p.ID, "", 200},
		{"GET", "/organization/projects?after=" + p.ID + "&limit=100&include_archived=false", "", 200},
		{"GET", "/organization/projects/" + p.ID, "", 200},
		{"POST", "/organization/projects/" + p.ID, `{"name":"renamed"}`, 200},
		{"POST", "/organization/projects/" + p.ID, `{"external_key_id":"ek_2"}`, 200},
		{"POST", "/organization/projects/" + p.ID + "/archive", "", 200},
		{"POST", "/organization/projects/" + p.ID, `{"name":"too late"}`, 400}, // documented 400
		{"GET", "/organization/projects/proj_missing", "", 404},
		{"POST", "/organization/projects/proj_missing/archive", "", 404},
		{"GET", "/organization/projects?limit=500", "", 400},
	}
	for _, st := range steps {
		if got := rawDo(t, c, st.method, s.URL+st.path, testKey, st.body); got != st.status {
			t.Errorf("%s %s: status %d, want %d", st.method, st.path, got, st.status)
		}
	}
	// Wrong key: a 401 with an ErrorResponse body.
	if got := rawDo(t, c, "GET", s.URL+"/organization/projects", "sk-admin-wrong-key-123", ""); got != 401 {
		t.Errorf("wrong key: %d", got)
	}
	// Faults: error answers must be ErrorResponses; broken and missing
	// answers are skipped, not flagged.
	s.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 429, RetryAfter: "2"},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 500},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 403},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 400, Message: "You have reached the maximum number of projects"},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Malformed: true},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Reset: true},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, CreateThenDrop: true},
	)
	for range 7 {
		rawDo(t, c, "POST", s.URL+"/organization/projects", testKey, `{"name":"faulty"}`)
	}

	if v := c.Violations(); len(v) != 0 {
		t.Errorf("the fake strays from the spec:\n%s", strings.Join(v, "\n"))
	}
	reqs, resps := c.Checked()
	if want := len(steps) + 1 + 7; reqs != want {
		t.Errorf("checked %d requests, want %d", reqs, want)
	}
	// Every answer but the malformed one and the two dropped ones.
	if want := len(steps) + 1 + 4; resps != want {
		t.Errorf("checked %d responses, want %d", resps, want)
	}
	if c.Skipped() != 3 {
		t.Errorf("skipped %d, want 3", c.Skipped())
	}
}

// TestSpecCheckerCatchesBadRequests proves the checker is not a no-op: each
// request strays from the spec in one way and must be flagged.
func TestSpecCheckerCatchesBadRequests(t *testing.T) {
	t.Parallel()
	specChecker(t) // skip early without a spec
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	p := s.AddProject("p", false)
	cases := []struct {
		name, method, path, key, body string
		hdr                           []string
		want                          string // in the violation
	}{
		{"description is not in the create body", "POST", "/organization/projects", testKey, `{"name":"x","description":"d"}`, nil, `"description"`},
		{"name is required", "POST", "/organization/projects", testKey, `{"residency":"GLOBAL"}`, nil, "name"},
		{"name is a string", "POST", "/organization/projects", testKey, `{"name":5}`, nil, "request body"},
		{"residency enum", "POST", "/organization/projects", testKey, `{"name":"x","residency":"MARS"}`, nil, "request body"},
		{"create needs a body", "POST", "/organization/projects", testKey, "", nil, "request body"},
		{"no key", "POST", "/organization/projects", "", `{"name":"x"}`, nil, "AdminApiKeyAuth"},
		{"Projects API v2 path", "POST", "/projects", testKey, `{"name":"x"}`, nil, "no operation"},
		{"no /v1", "POST", "/../organization/projects", testKey, `{"name":"x"}`, nil, "base path"},
		{"no DELETE", "DELETE", "/organization/projects/" + p.ID, testKey, "", nil, "no operation"},
		{"beta header", "POST", "/organization/projects", testKey, `{"name":"x"}`, []string{"OpenAI-Beta", "projects=v2"}, "OpenAI-Beta"},
		{"limit is an integer", "GET", "/organization/projects?limit=many", testKey, "", nil, "limit"},
		{"unknown query parameter", "GET", "/organization/projects?order=desc", testKey, "", nil, `"order"`},
		{"archive takes no body", "POST", "/organization/projects/" + p.ID + "/archive", testKey, `{"now":true}`, nil, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := specChecker(t)
			url := s.URL + tc.path
			if tc.path == "/../organization/projects" {
				url = strings.TrimSuffix(s.URL, "/v1") + "/organization/projects"
			}
			rawDo(t, c, tc.method, url, tc.key, tc.body, tc.hdr...)
			v := c.Violations()
			if len(v) == 0 {
				t.Fatal("no violation recorded")
			}
			joined := strings.Join(v, "\n")
			if !strings.Contains(joined, tc.want) {
				t.Errorf("violations do not mention %q:\n%s", tc.want, joined)
			}
			if strings.Contains(joined, testKey) {
				t.Errorf("a violation shows the key:\n%s", joined)
			}
		})
	}
}

// TestSpecCheckerCatchesBadResponses points the checker at a server that
// answers in shapes the spec does not allow.
func TestSpecCheckerCatchesBadResponses(t *testing.T) {
	t.Parallel()
	specChecker(t)
	cases := []struct {
		name   string
		status int
		body   string
		flag   bool
	}{
		{"project without id", 200, `{"object":"organization.project","name":"x","created_at":1}`, true},
		{"wrong object", 200, `{"id":"proj_1","object":"project","name":"x","created_at":1}`, true},
		{"created_at as a string", 200, `{"id":"proj_1","object":"organization.project","created_at":"yesterday"}`, true},
		{"null residency", 200, `{"id":"proj_1","object":"organization.project","created_at":1,"residency":null}`, true},
		{"undocumented 2xx", 201, `{"id":"proj_1","object":"organization.project","created_at":1}`, true},
		{"error without type", 404, `{"error":{"message":"m","param":null,"code":null}}`, true},
		{"not an error body", 500, `{"detail":"boom"}`, true},
		{"good project", 200, `{"id":"proj_1","object":"organization.project","name":"x","created_at":1,"archived_at":null,"status":"active","external_key_id":null}`, false},
		{"good error", 503, `{"error":{"message":"m","type":"server_error","param":null,"code":null}}`, false},
		{"malformed on purpose", 200, `{"id":"proj_1","obj`, false},
		{"empty error body", 502, ``, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := specChecker(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			rawDo(t, c, "GET", srv.URL+"/v1/organization/projects/proj_1", testKey, "")
			v := c.Violations()
			if tc.flag && len(v) == 0 {
				t.Error("not flagged")
			}
			if !tc.flag && len(v) != 0 {
				t.Errorf("flagged:\n%s", strings.Join(v, "\n"))
			}
		})
	}
}
