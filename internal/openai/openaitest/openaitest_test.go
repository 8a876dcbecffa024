package openaitest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

const testKey = "sk-admin-fake-openaitest"

// call sends a raw request to the fake and decodes the JSON answer.
func call(t *testing.T, client *http.Client, method, url, key string, body any) (int, http.Header, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m, raw
}

var (
	projectIDRe = regexp.MustCompile(`^proj_[A-Za-z0-9]{24}$`)
	requestIDRe = regexp.MustCompile(`^req_[0-9a-f]+$`)
)

func checkError(t *testing.T, m map[string]any, wantType, wantCode string) {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", m)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Errorf("error body lacks %q: %v", k, e)
		}
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("empty error message: %v", e)
	}
	if e["type"] != wantType {
		t.Errorf("error type = %v, want %s", e["type"], wantType)
	}
	if wantCode != "" && e["code"] != wantCode {
		t.Errorf("error code = %v, want %s", e["code"], wantCode)
	}
}

func TestCreateGetModifyArchive(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()

	before := time.Now().Unix()
	status, h, p, raw := call(t, nil, "POST", s.URL+"/organization/projects", testKey, map[string]any{"name": "alpha"})
	if status != 200 {
		t.Fatalf("create: %d %s", status, raw)
	}
	if !requestIDRe.MatchString(h.Get("X-Request-Id")) {
		t.Errorf("X-Request-Id = %q", h.Get("X-Request-Id"))
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	id, _ := p["id"].(string)
	if !projectIDRe.MatchString(id) {
		t.Errorf("id = %q", id)
	}
	if p["object"] != "organization.project" || p["name"] != "alpha" || p["status"] != "active" {
		t.Errorf("project = %s", raw)
	}
	if v, present := p["archived_at"]; !present || v != nil {
		t.Errorf("archived_at must be present and null: %s", raw)
	}
	if v, present := p["external_key_id"]; !present || v != nil {
		t.Errorf("external_key_id must be present and null: %s", raw)
	}
	if _, present := p["residency"]; present {
		t.Errorf("residency (a non-nullable enum) must be omitted when unset: %s", raw)
	}
	if c, _ := p["created_at"].(float64); int64(c) < before-1 || int64(c) > time.Now().Unix() {
		t.Errorf("created_at = %v", p["created_at"])
	}

	status, _, g, raw := call(t, nil, "GET", s.URL+"/organization/projects/"+id, testKey, nil)
	if status != 200 || g["id"] != id || g["name"] != "alpha" {
		t.Fatalf("get: %d %s", status, raw)
	}

	status, _, g, raw = call(t, nil, "POST", s.URL+"/organization/projects/"+id, testKey, map[string]any{"name": "beta"})
	if status != 200 || g["name"] != "beta" {
		t.Fatalf("modify: %d %s", status, raw)
	}

	status, _, g, raw = call(t, nil, "POST", s.URL+"/organization/projects/"+id+"/archive", testKey, nil)
	if status != 200 || g["status"] != "archived" || g["archived_at"] == nil {
		t.Fatalf("archive: %d %s", status, raw)
	}
	// Archiving again is harmless; modifying an archived project is not.
	if status, _, _, raw = call(t, nil, "POST", s.URL+"/organization/projects/"+id+"/archive", testKey, nil); status != 200 {
		t.Errorf("archive again: %d %s", status, raw)
	}
	status, _, m, _ := call(t, nil, "POST", s.URL+"/organization/projects/"+id, testKey, map[string]any{"name": "gamma"})
	if status != 400 {
		t.Errorf("modify archived: %d", status)
	}
	checkError(t, m, "invalid_request_error", "")

	ps := s.Projects()
	if len(ps) != 1 || ps[0].ID != id || ps[0].Name != "beta" || ps[0].Status != "archived" || ps[0].ArchivedAt == nil {
		t.Errorf("Projects() = %+v", ps)
	}
	if s.CountByName("beta") != 1 || s.CountByName("alpha") != 0 {
		t.Error("CountByName")
	}
	if s.CreateCount() != 1 || s.Count(openaitest.EndpointArchive) != 2 {
		t.Errorf("counts: create %d archive %d", s.CreateCount(), s.Count(openaitest.EndpointArchive))
	}

	// Residency and external key are kept and returned.
	status, _, p, raw = call(t, nil, "POST", s.URL+"/organization/projects", testKey,
		map[string]any{"name": "eu", "residency": "EU_STORAGE_PROCESSING", "external_key_id": "ek_1"})
	if status != 200 || p["residency"] != "EU_STORAGE_PROCESSING" || p["external_key_id"] != "ek_1" {
		t.Errorf("create with residency: %d %s", status, raw)
	}
}

func TestCreateRejectsBadBodies(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	for _, body := range []any{
		map[string]any{"name": "x", "description": "not in the spec"},
		map[string]any{},
		map[string]any{"name": ""},
		map[string]any{"name": "   "},
		map[string]any{"name": 3},
		map[string]any{"name": "x", "residency": "MARS"},
		map[string]any{"name": "x", "geography": "US"},
		"not json",
		"[]",
		"null",
	} {
		status, h, m, raw := call(t, nil, "POST", s.URL+"/organization/projects", "", body)
		if status != 400 {
			t.Errorf("%v: status %d %s", body, status, raw)
			continue
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%v: no X-Request-Id", body)
		}
		checkError(t, m, "invalid_request_error", "")
	}
	if n := len(s.Projects()); n != 0 {
		t.Errorf("%d projects created from bad bodies", n)
	}
	_, _, m, _ := call(t, nil, "POST", s.URL+"/organization/projects", "", map[string]any{"name": "x", "description": "d"})
	if e := m["error"].(map[string]any); e["param"] != "description" || !strings.Contains(e["message"].(string), "description") {
		t.Errorf("unknown field error = %v", e)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()
	for _, key := range []string{"", "sk-admin-wrong", testKey + "x"} {
		status, h, m, raw := call(t, nil, "GET", s.URL+"/organization/projects", key, nil)
		if status != 401 {
			t.Fatalf("key %q: status %d", key, status)
		}
		checkError(t, m, "invalid_request_error", "invalid_api_key")
		if h.Get("X-Request-Id") == "" {
			t.Error("401 without X-Request-Id")
		}
		if strings.Contains(string(raw), "sk-") {
			t.Errorf("401 body echoes a key: %s", raw)
		}
	}
	if status, _, _, _ := call(t, nil, "GET", s.URL+"/organization/projects", testKey, nil); status != 200 {
		t.Errorf("right key: %d", status)
	}
	// Without a configured key anything goes.
	open := openaitest.New(openaitest.Options{})
	defer open.Close()
	if status, _, _, _ := call(t, nil, "GET", open.URL+"/organization/projects", "", nil); status != 200 {
		t.Errorf("no key configured: %d", status)
	}
}

func TestNotFoundAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	for _, c := range []struct{ method, path string }{
		{"GET", "/organization/projects/proj_missing"},
		{"POST", "/organization/projects/proj_missing/archive"},
		{"POST", "/organization/projects/proj_missing"},
		{"GET", "/projects"},
		{"DELETE", "/organization/projects/proj_x"},
	} {
		var body any
		if c.method == "POST" {
			body = map[string]any{"name": "n"}
		}
		status, h, m, _ := call(t, nil, c.method, s.URL+c.path, "", body)
		if status != 404 {
			t.Errorf("%s %s: %d", c.method, c.path, status)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", c.method, c.path)
		}
		checkError(t, m, "invalid_request_error", "")
	}
	// The /v1 prefix is required.
	base := strings.TrimSuffix(s.URL, "/v1")
	if status, _, _, _ := call(t, nil, "GET", base+"/organization/projects", "", nil); status != 404 {
		t.Errorf("without /v1: %d", status)
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	var want []string // active ones, creation order
	var all []string
	for i := range 45 {
		p := s.AddProject(fmt.Sprintf("p%02d", i), i%5 == 0)
		all = append(all, p.ID)
		if i%5 != 0 {
			want = append(want, p.ID)
		}
	}

	page := func(q string) (ids []string, first, last any, more bool) {
		t.Helper()
		status, _, m, raw := call(t, nil, "GET", s.URL+"/organization/projects"+q, "", nil)
		if status != 200 {
			t.Fatalf("list %s: %d %s", q, status, raw)
		}
		if m["object"] != "list" {
			t.Fatalf("object = %v", m["object"])
		}
		for _, k := range []string{"first_id", "last_id", "has_more", "data"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("list lacks %s: %s", k, raw)
			}
		}
		for _, d := range m["data"].([]any) {
			ids = append(ids, d.(map[string]any)["id"].(string))
		}
		return ids, m["first_id"], m["last_id"], m["has_more"].(bool)
	}

	// Default limit is 20; archived projects are left out by default.
	ids, first, last, more := page("")
	if len(ids) != 20 || !more || first != ids[0] || last != ids[19] || strings.Join(ids, ",") != strings.Join(want[:20], ",") {
		t.Fatalf("first page: %d ids, more %v, first %v last %v", len(ids), more, first, last)
	}
	var got []string
	after := ""
	for n := 0; ; n++ {
		q := "?limit=7"
		if after != "" {
			q += "&after=" + after
		}
		ids, _, last, more := page(q)
		got = append(got, ids...)
		if !more {
			break
		}
		after = last.(string)
		if n > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("paged through %d ids, want %d in creation order", len(got), len(want))
	}

	ids, _, _, more = page("?limit=100&include_archived=true")
	if len(ids) != 45 || more || strings.Join(ids, ",") != strings.Join(all, ",") {
		t.Errorf("include_archived: %d ids, more %v", len(ids), more)
	}
	// The cursor may be an archived project even when those are left out.
	ids, _, _, _ = page("?limit=1&after=" + all[0])
	if len(ids) != 1 || ids[0] != all[1] {
		t.Errorf("after an archived project: %v", ids)
	}
	// Exactly one page: has_more false.
	ids, _, _, more = page(fmt.Sprintf("?limit=%d", len(want)))
	if len(ids) != len(want) || more {
		t.Errorf("exact page: %d, more %v", len(ids), more)
	}
	// Past the end: empty list with null ids.
	ids, first, last, more = page("?after=" + all[len(all)-1])
	if len(ids) != 0 || more || first != nil || last != nil {
		t.Errorf("past the end: %v %v %v %v", ids, first, last, more)
	}

	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?include_archived=maybe", "?after=proj_nope"} {
		status, _, m, _ := call(t, nil, "GET", s.URL+"/organization/projects"+q, "", nil)
		if status != 400 {
			t.Errorf("%s: %d", q, status)
		}
		checkError(t, m, "invalid_request_error", "")
	}
}

func TestRequestsRecorded(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()
	call(t, nil, "POST", s.URL+"/organization/projects", testKey, map[string]any{"name": "r"})
	call(t, nil, "GET", s.URL+"/organization/projects?limit=5&include_archived=true", testKey, nil)
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/organization/projects" || r.Endpoint != openaitest.EndpointCreate ||
		string(r.Body) != `{"name":"r"}` || r.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("create recorded as %+v", r)
	}
	r = reqs[1]
	if r.Endpoint != openaitest.EndpointList || r.Query.Get("limit") != "5" || r.Query.Get("include_archived") != "true" {
		t.Errorf("list recorded as %+v", r)
	}
	// Snapshots are copies.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("Authorization", "changed")
	if s.Requests()[0].Body[0] != '{' || s.Requests()[0].Header.Get("Authorization") == "changed" {
		t.Error("Requests() shares memory with the fake")
	}
}

func TestStatusFaultsInOrder(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	s.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 429, RetryAfter: "7"},
		openaitest.Fault{Endpoint: openaitest.EndpointGet, Status: 500},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 400, Code: "project_limit", Message: "Too many projects"},
	)
	// A list request matches none of them.
	if status, _, _, _ := call(t, nil, "GET", s.URL+"/organization/projects", "", nil); status != 200 {
		t.Errorf("list: %d", status)
	}
	status, h, m, _ := call(t, nil, "POST", s.URL+"/organization/projects", "", map[string]any{"name": "a"})
	if status != 429 || h.Get("Retry-After") != "7" || h.Get("X-Request-Id") == "" {
		t.Errorf("first create: %d Retry-After %q", status, h.Get("Retry-After"))
	}
	checkError(t, m, "requests", "rate_limit_exceeded")
	status, _, m, _ = call(t, nil, "POST", s.URL+"/organization/projects", "", map[string]any{"name": "a"})
	if status != 400 {
		t.Errorf("second create: %d", status)
	}
	checkError(t, m, "invalid_request_error", "project_limit")
	if e := m["error"].(map[string]any); e["message"] != "Too many projects" {
		t.Errorf("message = %v", e["message"])
	}
	if s.CountByName("a") != 0 {
		t.Error("a faulted create created a project")
	}
	if s.PendingFaults() != 1 {
		t.Errorf("pending = %d", s.PendingFaults())
	}
	status, _, m, _ = call(t, nil, "GET", s.URL+"/organization/projects/proj_x", "", nil)
	if status != 500 {
		t.Errorf("get: %d", status)
	}
	checkError(t, m, "server_error", "")
	if status, _, _, _ = call(t, nil, "POST", s.URL+"/organization/projects", "", map[string]any{"name": "a"}); status != 200 {
		t.Errorf("third create: %d", status)
	}
	if s.CreateCount() != 3 || s.CountByName("a") != 1 || s.PendingFaults() != 0 {
		t.Errorf("CreateCount %d, projects %d", s.CreateCount(), s.CountByName("a"))
	}
}

func post(url, body string) (*http.Response, error) {
	// A fresh transport per call: a dropped connection must not be retried
	// on another one behind our back.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return c.Post(url, "application/json", strings.NewReader(body))
}

func TestConnectionFaults(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()

	s.Inject(openaitest.Fault{Reset: true})
	if _, err := post(s.URL+"/organization/projects", `{"name":"reset"}`); err == nil {
		t.Error("Reset: no error")
	}
	if s.CountByName("reset") != 0 {
		t.Error("Reset created a project")
	}

	s.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, CreateThenDrop: true})
	if _, err := post(s.URL+"/organization/projects", `{"name":"dropped"}`); err == nil {
		t.Error("CreateThenDrop: no error")
	}
	if s.CountByName("dropped") != 1 {
		t.Error("CreateThenDrop did not create the project")
	}

	s.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Malformed: true})
	resp, err := post(s.URL+"/organization/projects", `{"name":"malformed"}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || json.Valid(raw) || len(raw) == 0 || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("Malformed: %d %q", resp.StatusCode, raw)
	}
	if s.CountByName("malformed") != 1 {
		t.Error("Malformed did not create the project")
	}

	// Archive with CreateThenDrop: archived, no answer.
	p := s.AddProject("to-archive", false)
	s.Inject(openaitest.Fault{Endpoint: openaitest.EndpointArchive, CreateThenDrop: true})
	if _, err := post(s.URL+"/organization/projects/"+p.ID+"/archive", ``); err == nil {
		t.Error("archive drop: no error")
	}
	if got, _ := s.Project(p.ID); got.Status != "archived" {
		t.Errorf("archive drop: status %q", got.Status)
	}
}

func TestLatencyCreateSurvivesClientGivingUp(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	s.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/organization/projects", strings.NewReader(`{"name":"slow"}`))
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if time.Since(start) > 250*time.Millisecond {
		t.Error("the client waited for the latency")
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.CountByName("slow") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.CountByName("slow") != 1 {
		t.Error("the create was not carried out after the client gave up")
	}

	s.SetLatency(100 * time.Millisecond)
	start = time.Now()
	call(t, nil, "GET", s.URL+"/organization/projects", "", nil)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("SetLatency: answered in %v", d)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{RateLimit: 3})
	defer s.Close()
	var ok, limited int
	for range 5 {
		status, h, m, _ := call(t, nil, "GET", s.URL+"/organization/projects", "", nil)
		switch status {
		case 200:
			ok++
		case 429:
			limited++
			if h.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q", h.Get("Retry-After"))
			}
			checkError(t, m, "requests", "rate_limit_exceeded")
		default:
			t.Errorf("status %d", status)
		}
	}
	// Five quick requests may straddle a window boundary: at least 3 pass,
	// at most 5-3 are limited, and every 429 is counted.
	if ok < 3 || limited != s.RateLimited() || ok+limited != 5 {
		t.Errorf("ok %d limited %d RateLimited %d", ok, limited, s.RateLimited())
	}
	if limited == 0 {
		// Very slow machine: make sure the limit bites at all.
		s.SetRateLimit(1)
		call(t, nil, "GET", s.URL+"/organization/projects", "", nil)
		if status, _, _, _ := call(t, nil, "GET", s.URL+"/organization/projects", "", nil); status != 429 {
			t.Errorf("limit 1: second request got %d", status)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	if status, _, _, _ := call(t, nil, "GET", s.URL+"/organization/projects", "", nil); status != 200 {
		t.Errorf("after a second: %d", status)
	}
}

func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()
	s.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 500},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 500})
	const n = 60
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			// No t.Fatal off the test goroutine: plain requests.
			req, _ := http.NewRequest("POST", s.URL+"/organization/projects", strings.NewReader(fmt.Sprintf(`{"name":"c%d"}`, i)))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
			req, _ = http.NewRequest("GET", s.URL+"/organization/projects?limit=100", nil)
			req.Header.Set("Authorization", "Bearer "+testKey)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				t.Errorf("list: %v", err)
			} else {
				resp.Body.Close()
			}
			_ = s.Projects()
			_ = s.Requests()
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != n-2 || count[500] != 2 {
		t.Errorf("statuses %v", count)
	}
	ids := map[string]bool{}
	for _, p := range s.Projects() {
		if ids[p.ID] {
			t.Errorf("duplicate id %s", p.ID)
		}
		ids[p.ID] = true
	}
	if len(ids) != n-2 || s.CreateCount() != n {
		t.Errorf("%d projects, %d creates", len(ids), s.CreateCount())
	}
}

func TestHandlerInProcess(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{})
	defer s.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/organization/projects", strings.NewReader(`{"name":"inproc"}`))
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 || s.CountByName("inproc") != 1 || rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("in-process create: %d %s", rec.Code, rec.Body.String())
	}
}
