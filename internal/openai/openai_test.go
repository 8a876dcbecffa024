package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// newGovernor is a governor of this process alone, fast enough not to
// slow the tests down.
func newGovernor(t *testing.T) *governor.Governor {
	t.Helper()
	g := governor.NewLocal(governor.Options{Params: governor.Params{StartRate: 5000}})
	t.Cleanup(g.Close)
	return g
}

const adminKey = "sk-admin-TESTKEY1234567890abcdef"

// idTransport remembers the X-Request-Id of every answer.
type idTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	ids  []string
}

func (t *idTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if resp != nil {
		t.mu.Lock()
		t.ids = append(t.ids, resp.Header.Get("X-Request-Id"))
		t.mu.Unlock()
	}
	return resp, err
}

func (t *idTransport) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ids) == 0 {
		return ""
	}
	return t.ids[len(t.ids)-1]
}

type env struct {
	fake   *openaitest.Server
	client *openai.Client
	ids    *idTransport
}

// newEnv starts a fake and a client on it; tweak adjusts the client options.
func newEnv(t *testing.T, tweak func(*openai.Options)) env {
	t.Helper()
	fake := openaitest.New(openaitest.Options{AdminKey: adminKey})
	t.Cleanup(fake.Close)
	ids := &idTransport{base: http.DefaultTransport}
	opts := openai.Options{
		AdminKey:   adminKey,
		BaseURL:    fake.URL,
		Timeout:    5 * time.Second,
		HTTPClient: &http.Client{Transport: ids},
		Governor:   newGovernor(t),
	}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := openai.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return env{fake: fake, client: c, ids: ids}
}

func asError(t *testing.T, err error) *openai.Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	e, ok := openai.AsError(err)
	if !ok {
		t.Fatalf("%T is not an *openai.Error: %v", err, err)
	}
	return e
}

func TestNewNeedsKey(t *testing.T) {
	t.Parallel()
	if _, err := openai.New(openai.Options{}); !errors.Is(err, openai.ErrNotConfigured) {
		t.Errorf("err = %v", err)
	}
}

func TestNewNeedsGovernor(t *testing.T) {
	t.Parallel()
	if _, err := openai.New(openai.Options{AdminKey: adminKey}); !errors.Is(err, openai.ErrNoGovernor) {
		t.Errorf("New without a governor: err = %v, want ErrNoGovernor", err)
	}
}

func TestCreateGetListArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)

	before := time.Now().Add(-time.Second)
	p, err := e.client.CreateProject(ctx, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, "proj_") || p.Name != "team-a" || p.Status != "active" || !p.Active() ||
		p.ArchivedAt != nil || p.CreatedAt.Before(before.Truncate(time.Second)) || p.CreatedAt.After(time.Now()) {
		t.Errorf("created %+v", p)
	}
	if p.RequestID == "" || p.RequestID != e.ids.last() {
		t.Errorf("RequestID = %q, answer had %q", p.RequestID, e.ids.last())
	}
	if got := e.fake.Projects(); len(got) != 1 || got[0].ID != p.ID || got[0].Name != "team-a" {
		t.Errorf("fake holds %+v", got)
	}

	g, err := e.client.GetProject(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != p.ID || g.Name != p.Name || !g.CreatedAt.Equal(p.CreatedAt) || g.RequestID != e.ids.last() || g.RequestID == p.RequestID {
		t.Errorf("got %+v, created %+v", g, p)
	}

	other := e.fake.AddProject("team-b", false)
	old := e.fake.AddProject("team-old", true)
	var names []string
	if err := e.client.ListProjects(ctx, false, func(p openai.Project) error {
		names = append(names, p.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "team-a,team-b" {
		t.Errorf("active projects: %v", names)
	}
	var archived []openai.Project
	if err := e.client.ListProjects(ctx, true, func(p openai.Project) error {
		if !p.Active() {
			archived = append(archived, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(archived) != 1 || archived[0].ID != old.ID || archived[0].ArchivedAt == nil || archived[0].Status != "archived" {
		t.Errorf("archived projects: %+v", archived)
	}

	a, err := e.client.ArchiveProject(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != other.ID || a.Active() || a.Status != "archived" || a.ArchivedAt == nil || a.RequestID != e.ids.last() {
		t.Errorf("archived %+v", a)
	}
	if f, _ := e.fake.Project(other.ID); f.Status != "archived" {
		t.Errorf("fake says %q", f.Status)
	}
}

func TestRequestsAreWhatTheSpecSays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, org := range []string{"", "org-TEST123"} {
		e := newEnv(t, func(o *openai.Options) { o.OrgID = org })
		p, err := e.client.CreateProject(ctx, "n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.GetProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.client.ListProjects(ctx, false, func(openai.Project) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.ArchiveProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		reqs := e.fake.Requests()
		want := []struct{ method, path string }{
			{"POST", "/v1/organization/projects"},
			{"GET", "/v1/organization/projects/" + p.ID},
			{"GET", "/v1/organization/projects"},
			{"POST", "/v1/organization/projects/" + p.ID + "/archive"},
		}
		if len(reqs) != len(want) {
			t.Fatalf("%d requests, want %d", len(reqs), len(want))
		}
		for i, r := range reqs {
			if r.Method != want[i].method || r.Path != want[i].path {
				t.Errorf("request %d: %s %s, want %s %s", i, r.Method, r.Path, want[i].method, want[i].path)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+adminKey {
				t.Errorf("request %d: Authorization %q", i, got)
			}
			if got, ok := r.Header["Openai-Organization"]; org == "" && ok {
				t.Errorf("request %d: OpenAI-Organization sent without an OrgID: %q", i, got)
			} else if org != "" && r.Header.Get("OpenAI-Organization") != org {
				t.Errorf("request %d: OpenAI-Organization %q, want %q", i, r.Header.Get("OpenAI-Organization"), org)
			}
			if v, ok := r.Header["Openai-Beta"]; ok {
				t.Errorf("request %d: OpenAI-Beta %q sent", i, v)
			}
		}
		var body map[string]any
		if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
			t.Fatalf("create body %q: %v", reqs[0].Body, err)
		}
		if len(body) != 1 || body["name"] != "n" {
			t.Errorf("create body = %s, want only the name", reqs[0].Body)
		}
		if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("create Content-Type %q", ct)
		}
		if q := reqs[2].Query; q.Get("limit") != "100" || q.Get("include_archived") != "false" {
			t.Errorf("list query %v", q)
		}
	}
}

func TestBaseURLWithAndWithoutSlash(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"", "/"} {
		e := newEnv(t, nil)
		c, err := openai.New(openai.Options{AdminKey: adminKey, BaseURL: e.fake.URL + suffix, Governor: newGovernor(t)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.CreateProject(context.Background(), "slash")
		if err != nil {
			t.Fatalf("BaseURL %q: %v", e.fake.URL+suffix, err)
		}
		if _, err := c.GetProject(context.Background(), p.ID); err != nil {
			t.Fatalf("BaseURL %q: %v", e.fake.URL+suffix, err)
		}
		for _, r := range e.fake.Requests() {
			if strings.Contains(r.Path, "//") || !strings.HasPrefix(r.Path, "/v1/organization/projects") {
				t.Errorf("BaseURL %q: path %q", e.fake.URL+suffix, r.Path)
			}
		}
	}
}

func TestListPaginatesAndStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	var active, all []string
	for i := range 250 {
		p := e.fake.AddProject(fmt.Sprintf("p%03d", i), i%10 == 9)
		all = append(all, p.ID)
		if i%10 != 9 {
			active = append(active, p.ID)
		}
	}
	collect := func(includeArchived bool) []string {
		var ids []string
		if err := e.client.ListProjects(ctx, includeArchived, func(p openai.Project) error {
			ids = append(ids, p.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := collect(false); !slices.Equal(got, active) {
		t.Errorf("active: %d projects, want %d in order", len(got), len(active))
	}
	pages := e.fake.Count(openaitest.EndpointList)
	if pages != 3 { // 225 active: 100 + 100 + 25
		t.Errorf("%d list requests, want 3", pages)
	}
	if got := collect(true); !slices.Equal(got, all) {
		t.Errorf("all: %d projects, want %d in order", len(got), len(all))
	}
	var afters []string
	for _, r := range e.fake.Requests() {
		if r.Endpoint == openaitest.EndpointList {
			afters = append(afters, r.Query.Get("after"))
		}
	}
	if len(afters) < 2 || afters[0] != "" || afters[1] != active[99] {
		t.Errorf("cursors %v", afters)
	}

	// fn's error stops the walk and comes back unchanged.
	stop := errors.New("enough")
	n := 0
	before := e.fake.Count(openaitest.EndpointList)
	err := e.client.ListProjects(ctx, true, func(openai.Project) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 5 {
		t.Errorf("err %v after %d", err, n)
	}
	if got := e.fake.Count(openaitest.EndpointList) - before; got != 1 {
		t.Errorf("stopping early still fetched %d pages", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	type want struct {
		kind         openai.Kind
		uncertain    bool
		status       int
		retryAfter   time.Duration
		projectLimit bool
		notFound     bool
		requestID    bool // the answer's X-Request-Id is in the error
		created      int  // projects named "x" the fake holds afterwards
	}
	cases := []struct {
		name  string
		fault openaitest.Fault
		op    string // "create" (default), "get", "archive"
		want  want
	}{
		{"429 with Retry-After", openaitest.Fault{Status: 429, RetryAfter: "3"}, "",
			want{kind: openai.Transient, status: 429, retryAfter: 3 * time.Second, requestID: true}},
		{"429 without Retry-After", openaitest.Fault{Status: 429}, "",
			want{kind: openai.Transient, status: 429, requestID: true}},
		{"500", openaitest.Fault{Status: 500}, "",
			want{kind: openai.Transient, uncertain: true, status: 500, requestID: true}},
		{"503", openaitest.Fault{Status: 503}, "",
			want{kind: openai.Transient, uncertain: true, status: 503, requestID: true}},
		{"401", openaitest.Fault{Status: 401}, "",
			want{kind: openai.Permanent, status: 401, requestID: true}},
		{"403", openaitest.Fault{Status: 403}, "",
			want{kind: openai.Permanent, status: 403, requestID: true}},
		{"400", openaitest.Fault{Status: 400, Message: "Invalid 'name'."}, "",
			want{kind: openai.Permanent, status: 400, requestID: true}},
		{"project limit", openaitest.Fault{Status: 400, Message: "You have reached the maximum number of projects for this organization (2000)."}, "",
			want{kind: openai.Permanent, status: 400, projectLimit: true, requestID: true}},
		{"project limit by code", openaitest.Fault{Status: 403, Code: "project_limit_reached", Message: "Limit reached."}, "",
			want{kind: openai.Permanent, status: 403, projectLimit: true, requestID: true}},
		{"malformed create", openaitest.Fault{Malformed: true}, "",
			want{kind: openai.Transient, uncertain: true, status: 200, requestID: true, created: 1}},
		{"reset on create", openaitest.Fault{Reset: true}, "",
			want{kind: openai.Transient, uncertain: true}},
		{"response lost", openaitest.Fault{CreateThenDrop: true}, "",
			want{kind: openai.Transient, uncertain: true, created: 1}},
		{"404 on get", openaitest.Fault{}, "get",
			want{kind: openai.Permanent, status: 404, notFound: true, requestID: true}},
		{"reset on archive", openaitest.Fault{Reset: true}, "archive",
			want{kind: openai.Transient}},
		{"500 on archive", openaitest.Fault{Status: 500}, "archive",
			want{kind: openai.Transient, status: 500, requestID: true}},
		{"404 on archive", openaitest.Fault{}, "archive-missing",
			want{kind: openai.Permanent, status: 404, notFound: true, requestID: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			ctx := context.Background()
			seed := e.fake.AddProject("seed", false)
			f := tc.fault
			var err error
			switch tc.op {
			case "", "create":
				f.Endpoint = openaitest.EndpointCreate
				e.fake.Inject(f)
				_, err = e.client.CreateProject(ctx, "x")
			case "get":
				_, err = e.client.GetProject(ctx, "proj_doesnotexist")
			case "archive":
				f.Endpoint = openaitest.EndpointArchive
				e.fake.Inject(f)
				_, err = e.client.ArchiveProject(ctx, seed.ID)
				if p, _ := e.fake.Project(seed.ID); (f.Reset || f.Status != 0) && p.Status != "active" {
					t.Errorf("a failed archive archived the project")
				}
			case "archive-missing":
				_, err = e.client.ArchiveProject(ctx, "proj_doesnotexist")
			}
			got := asError(t, err)
			w := tc.want
			if got.Kind != w.kind || got.Uncertain != w.uncertain || got.StatusCode != w.status ||
				got.RetryAfter != w.retryAfter || got.ProjectLimit != w.projectLimit || got.NotFound() != w.notFound {
				t.Errorf("got kind %v uncertain %v status %d retryAfter %v projectLimit %v notFound %v; want %+v (err: %v)",
					got.Kind, got.Uncertain, got.StatusCode, got.RetryAfter, got.ProjectLimit, got.NotFound(), w, err)
			}
			if openai.IsTransient(err) != (w.kind == openai.Transient) {
				t.Errorf("IsTransient = %v", openai.IsTransient(err))
			}
			if w.requestID && (got.RequestID == "" || got.RequestID != e.ids.last()) {
				t.Errorf("RequestID %q, answer had %q", got.RequestID, e.ids.last())
			}
			if !w.requestID && got.RequestID != "" {
				t.Errorf("RequestID %q without an answer", got.RequestID)
			}
			if w.status >= 400 && got.Message == "" {
				t.Errorf("no message from the error body")
			}
			if got.Reason() == "" || !strings.Contains(err.Error(), "openai ") {
				t.Errorf("Error() %q Reason() %q", err.Error(), got.Reason())
			}
			if n := e.fake.CountByName("x"); n != w.created {
				t.Errorf("fake holds %d projects named x, want %d", n, w.created)
			}
			// Creates are never retried by the SDK.
			if tc.op == "" && e.fake.CreateCount() != 1 {
				t.Errorf("%d create requests, want exactly 1", e.fake.CreateCount())
			}
		})
	}
}

func TestTimeoutIsUncertainAndTheCreateStillHappens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *openai.Options) { o.Timeout = 150 * time.Millisecond })
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Latency: 600 * time.Millisecond})
	start := time.Now()
	_, err := e.client.CreateProject(context.Background(), "slow")
	got := asError(t, err)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("gave up after %v, Timeout is 150ms", d)
	}
	if got.Kind != openai.Transient || !got.Uncertain || got.StatusCode != 0 {
		t.Errorf("timeout: %+v", got)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err does not wrap the deadline: %v", err)
	}
	if e.fake.CreateCount() != 1 {
		t.Errorf("%d create requests", e.fake.CreateCount())
	}
	// The server carried on: the project exists although the call failed.
	waitFor(t, "the slow create", func() bool { return e.fake.CountByName("slow") == 1 })
}

func TestCallerCancelIsUncertain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Latency: 400 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := e.client.CreateProject(ctx, "cancelled")
	got := asError(t, err)
	if got.Kind != openai.Transient || !got.Uncertain {
		t.Errorf("cancel: %+v", got)
	}
	waitFor(t, "the cancelled create", func() bool { return e.fake.CountByName("cancelled") == 1 })
}

func TestConnectionRefusedIsCertain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.fake.Close()
	_, err := e.client.CreateProject(context.Background(), "nowhere")
	got := asError(t, err)
	if got.Kind != openai.Transient || got.Uncertain || got.StatusCode != 0 {
		t.Errorf("refused: %+v (%v)", got, err)
	}
	_, err = e.client.ArchiveProject(context.Background(), "proj_x")
	if got := asError(t, err); got.Kind != openai.Transient || got.Uncertain {
		t.Errorf("refused archive: %+v", got)
	}
}

func TestEmptyNameIsRefusedLocally(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, err := e.client.CreateProject(context.Background(), "  ")
	if got := asError(t, err); got.Kind != openai.Permanent || got.Uncertain {
		t.Errorf("%+v", got)
	}
	if e.fake.CreateCount() != 0 {
		t.Error("an empty name was sent")
	}
}

func TestGetRetriesButCreateDoesNot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	p := e.fake.AddProject("p", false)
	// Reads may be retried by the SDK: a single 500 on get is absorbed.
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointGet, Status: 500})
	if _, err := e.client.GetProject(ctx, p.ID); err != nil {
		t.Errorf("get after one 500: %v", err)
	}
	if n := e.fake.Count(openaitest.EndpointGet); n != 2 {
		t.Errorf("%d get requests, want 2", n)
	}
	// Creates are not: one 500, one request, an uncertain error.
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 500})
	_, err := e.client.CreateProject(ctx, "once")
	if got := asError(t, err); !got.Uncertain {
		t.Errorf("%+v", got)
	}
	if e.fake.CreateCount() != 1 || e.fake.CountByName("once") != 0 {
		t.Errorf("%d create requests, %d projects", e.fake.CreateCount(), e.fake.CountByName("once"))
	}
	// Nor archives.
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointArchive, Status: 500})
	if _, err := e.client.ArchiveProject(ctx, p.ID); err == nil {
		t.Error("archive after a 500: no error")
	}
	if n := e.fake.Count(openaitest.EndpointArchive); n != 1 {
		t.Errorf("%d archive requests, want 1", n)
	}
}

func TestErrorsNeverShowTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	var errs []error
	for _, f := range []openaitest.Fault{
		{Status: 401, Message: "Incorrect API key provided: " + adminKey},
		{Status: 500, Message: "boom " + adminKey},
		{Status: 429, RetryAfter: "1", Message: "slow down, Bearer " + adminKey},
		{Malformed: true},
		{Reset: true},
		{CreateThenDrop: true},
	} {
		f.Endpoint = openaitest.EndpointCreate
		e.fake.Inject(f)
		_, err := e.client.CreateProject(ctx, "k")
		errs = append(errs, err)
	}
	_, err := e.client.GetProject(ctx, "proj_missing")
	errs = append(errs, err)

	// A wrong key, and network errors that carry the URL.
	bad := newEnv(t, func(o *openai.Options) { o.AdminKey = "sk-admin-WRONGKEY0987654321zyxw" })
	_, err = bad.client.CreateProject(ctx, "k")
	errs = append(errs, err)
	closed := newEnv(t, func(o *openai.Options) { o.Timeout = 100 * time.Millisecond })
	closed.fake.Inject(openaitest.Fault{Latency: 300 * time.Millisecond})
	_, err = closed.client.CreateProject(ctx, "k")
	errs = append(errs, err)
	closed.fake.Close()
	_, err = closed.client.CreateProject(ctx, "k")
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		e, _ := openai.AsError(err)
		text := fmt.Sprintf("%s | %v | %+v | %#v | %v | %+v | %#v | %s",
			err.Error(), err, err, err, e.Err, e.Err, e.Err, e.Reason())
		for _, key := range []string{adminKey, "sk-admin-WRONGKEY0987654321zyxw"} {
			if strings.Contains(text, key) {
				t.Errorf("case %d shows a key: %s", i, text)
			}
		}
	}
	for _, c := range []*openai.Client{e.client, bad.client} {
		if s := fmt.Sprintf("%v %+v %#v %s", c, c, c, c); strings.Contains(s, "sk-admin") {
			t.Errorf("client formatting shows the key: %s", s)
		}
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type obs struct {
		endpoint string
		status   int
	}
	var mu sync.Mutex
	var seen []obs
	e := newEnv(t, func(o *openai.Options) {
		o.Observe = func(endpoint string, status int, d time.Duration) {
			if d <= 0 {
				t.Errorf("%s: duration %v", endpoint, d)
			}
			mu.Lock()
			seen = append(seen, obs{endpoint, status})
			mu.Unlock()
		}
	})
	p, err := e.client.CreateProject(ctx, "o")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.client.GetProject(ctx, p.ID)
	_, _ = e.client.GetProject(ctx, "proj_missing")
	_ = e.client.ListProjects(ctx, false, func(openai.Project) error { return nil })
	_, _ = e.client.ArchiveProject(ctx, p.ID)
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 429})
	_, _ = e.client.CreateProject(ctx, "o")
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Reset: true})
	_, _ = e.client.CreateProject(ctx, "o")

	want := []obs{
		{openai.EndpointCreate, 200},
		{openai.EndpointGet, 200},
		{openai.EndpointGet, 404},
		{openai.EndpointList, 200},
		{openai.EndpointArchive, 200},
		{openai.EndpointCreate, 429},
		{openai.EndpointCreate, 0},
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, want) {
		t.Errorf("observed %v\nwant     %v", seen, want)
	}
}

// specChecker loads $OPENAI_SPEC: skip when unset, fail when unusable.
func specChecker(t *testing.T) *openaitest.SpecChecker {
	t.Helper()
	path := os.Getenv("OPENAI_SPEC")
	if path == "" {
		t.Skip("OPENAI_SPEC is not set; set it to OpenAI's Admin API spec " +
			"(e.g. OPENAI_SPEC=/work/shared/openai/openapi-admin-projects.yaml) to check the client against it")
	}
	c, err := openaitest.NewSpecChecker(path)
	if err != nil {
		t.Fatalf("OPENAI_SPEC=%s: %v", path, err)
	}
	return c
}

// TestClientConformsToSpec runs every client operation, and failures, through
// a transport that checks each exchange against OpenAI's published spec.
func TestClientConformsToSpec(t *testing.T) {
	t.Parallel()
	checker := specChecker(t)
	ctx := context.Background()
	e := newEnv(t, func(o *openai.Options) {
		o.OrgID = "org-TEST123"
		o.Timeout = 2 * time.Second
		o.HTTPClient = &http.Client{Transport: checker.Transport(http.DefaultTransport)}
	})
	const seeds = 150 // more than a page (100) of active projects too
	archived := 0
	for i := range seeds {
		e.fake.AddProject(fmt.Sprint("seed-", i), i%4 == 0)
		if i%4 == 0 {
			archived++
		}
	}

	p, err := e.client.CreateProject(ctx, "conform")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	for _, all := range []bool{false, true} {
		n := 0
		if err := e.client.ListProjects(ctx, all, func(openai.Project) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: seeds - archived + 1, true: seeds + 1}[all]; n != want {
			t.Errorf("includeArchived %v: %d projects, want %d", all, n, want)
		}
	}
	if _, err := e.client.ArchiveProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetProject(ctx, "proj_missing"); err == nil {
		t.Error("get missing: no error")
	}
	for _, f := range []openaitest.Fault{
		{Status: 429, RetryAfter: "1"},
		{Status: 500},
		{Status: 401},
		{Status: 400, Message: "You have reached the maximum number of projects"},
		{Malformed: true},
		{CreateThenDrop: true},
		{Reset: true},
	} {
		f.Endpoint = openaitest.EndpointCreate
		e.fake.Inject(f)
		if _, err := e.client.CreateProject(ctx, "faulty"); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}

	if v := checker.Violations(); len(v) != 0 {
		t.Errorf("%d spec violations:\n%s", len(v), strings.Join(v, "\n"))
	}
	reqs, resps := checker.Checked()
	// create, get, 2+2 list pages, archive, get missing, 7 faulty creates.
	if sent := len(e.fake.Requests()); reqs != sent || reqs != 15 {
		t.Errorf("checker saw %d requests, the fake %d, want 15", reqs, sent)
	}
	if n := e.fake.Count(openaitest.EndpointList); n != 4 {
		t.Errorf("%d list pages, want 4", n)
	}
	if resps < 10 {
		t.Errorf("only %d responses checked", resps)
	}
	t.Logf("checked %d requests and %d responses against the spec (%d skipped)", reqs, resps, checker.Skipped())
}

// TestSpecCheckFlagsAMisconfiguredClient makes sure the conformance wiring
// can fail: a BaseURL without /v1 sends paths the spec does not have.
func TestSpecCheckFlagsAMisconfiguredClient(t *testing.T) {
	t.Parallel()
	checker := specChecker(t)
	e := newEnv(t, nil)
	c, err := openai.New(openai.Options{
		AdminKey:   adminKey,
		BaseURL:    strings.TrimSuffix(e.fake.URL, "/v1"),
		HTTPClient: &http.Client{Transport: checker.Transport(nil)},
		Governor:   newGovernor(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.CreateProject(context.Background(), "lost")
	v := checker.Violations()
	if len(v) == 0 {
		t.Fatal("a request to /organization/projects (no /v1) was not flagged")
	}
	if s := strings.Join(v, "\n"); strings.Contains(s, adminKey) {
		t.Errorf("violations show the key: %s", s)
	}
}
