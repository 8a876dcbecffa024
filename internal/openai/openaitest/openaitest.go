// Package openaitest is an in-memory fake of the OpenAI Admin API project
// endpoints, for tests, benchmarks and the demo sandbox. It never talks to
// OpenAI.
//
// It serves, under the /v1 prefix, exactly the JSON shapes of OpenAI's
// published OpenAPI document (components Project, ProjectListResponse and
// ErrorResponse):
//
//	POST /v1/organization/projects                     create
//	GET  /v1/organization/projects                     list (limit, after, include_archived)
//	GET  /v1/organization/projects/{project_id}        get
//	POST /v1/organization/projects/{project_id}        modify
//	POST /v1/organization/projects/{project_id}/archive archive
//	GET  /v1/organization/costs                        costs (costs.go)
//	GET  /v1/organization/usage/completions            completions usage (costs.go)
//
// The service-account and project-API-key endpoints are in serviceaccounts.go.
//
// Every answer carries an X-Request-Id header. Failures can be injected one
// request at a time with [Server.Inject]. A Server is safe for concurrent use.
//
// The package does not import "testing": it may be linked into the demo mode.
package openaitest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint names, as used by [Fault.Endpoint] and [Request.Endpoint].
const (
	EndpointCreate  = "create"
	EndpointList    = "list"
	EndpointGet     = "get"
	EndpointModify  = "modify"
	EndpointArchive = "archive"
)

// Prefix is the path under which the fake serves the API, as OpenAI does.
const Prefix = "/v1"

// Project is a project held by the fake.
type Project struct {
	ID            string
	Name          string
	Status        string // "active" or "archived"
	CreatedAt     time.Time
	ArchivedAt    *time.Time
	ExternalKeyID string // "" when none
	Residency     string // "" when none was asked for
}

// Request is one request the fake received, recorded before any fault,
// rate limit or authentication check.
type Request struct {
	Method   string
	Path     string
	Query    url.Values
	Header   http.Header
	Body     []byte
	Endpoint string    // EndpointCreate, …; "" for a path the fake does not serve
	At       time.Time // when it arrived
}

// Fault is a one-shot failure. Injected faults are kept in order; each
// request takes (and removes) the first fault whose Endpoint matches it.
//
// Effects apply in this order: Latency, then exactly one of Reset, Status,
// CreateThenDrop, Malformed (the first one set, in that order). A fault with
// only Latency delays a request that is then handled normally.
type Fault struct {
	// Endpoint is EndpointCreate, EndpointList, EndpointGet, EndpointModify,
	// EndpointArchive, or "" for any request.
	Endpoint string
	// Status, if non-zero, is answered with an OpenAI error body; nothing is
	// created or changed. Type and default message follow the status (429 is
	// rate_limit_exceeded, 5xx server_error, …).
	Status int
	// RetryAfter, if set, is sent as the Retry-After header (use it with 429).
	RetryAfter string
	// Code and Message override the error body's code and message, e.g. for
	// the organization's project limit.
	Code, Message string
	// Latency is slept before the request is handled. The request is carried
	// out even if the client gave up meanwhile, as a real server would.
	Latency time.Duration
	// Malformed carries out the request (for a create: the project IS
	// created), then answers its status (200 normally) with the JSON body cut
	// in half.
	Malformed bool
	// Reset closes the TCP connection without answering (with an RST where
	// the connection allows SO_LINGER 0); nothing is created or changed.
	Reset bool
	// CreateThenDrop carries out the request (for a create: creates the
	// project), then closes the connection without answering: the "response
	// lost" case.
	CreateThenDrop bool
}

// Options configures a Server.
type Options struct {
	// AdminKey, if set, must come as "Authorization: Bearer <AdminKey>";
	// anything else is answered 401 invalid_api_key (without echoing the key).
	AdminKey string
	// Latency is slept before handling every request (see SetLatency).
	Latency time.Duration
	// Jitter, if set, adds a random extra delay in [0, Jitter) to every
	// request, so that the demo sandbox feels like a remote API.
	Jitter time.Duration
	// RateLimit is the number of requests accepted per second (a fixed
	// one-second window); beyond it the fake answers 429 with Retry-After: 1.
	// Zero means no limit.
	RateLimit int
	// RateLimitHeaders sends OpenAI's x-ratelimit-limit-requests (the
	// limit as requests a minute), x-ratelimit-remaining-requests and
	// x-ratelimit-reset-requests with every answer while RateLimit is set.
	RateLimitHeaders bool
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	// URL is the API base URL, including the /v1 prefix: give it to the
	// client as its BaseURL.
	URL string

	srv       *httptest.Server
	handler   http.Handler
	key       string
	jitter    time.Duration
	closeOnce sync.Once

	mu          sync.Mutex
	latency     time.Duration
	rateLimit   int
	window      time.Time // start of the current rate-limit window
	inWindow    int
	rateLimited int
	rateHeaders bool
	acceptedAt  []time.Time // requests let through the rate limit
	refusedAt   []time.Time // requests refused by it
	projects    []*Project  // in creation order
	byID        map[string]*Project
	faults      []Fault
	requests    []Request
	counts      map[string]int
	guard       guardState   // policy.go
	accounts    accountStore // serviceaccounts.go
	us          usageState   // costs.go
}

// New starts a fake on 127.0.0.1 and returns it.
func New(opts Options) *Server {
	s := &Server{
		key:         opts.AdminKey,
		latency:     opts.Latency,
		jitter:      opts.Jitter,
		rateLimit:   opts.RateLimit,
		byID:        map[string]*Project{},
		rateHeaders: opts.RateLimitHeaders,
		counts:      map[string]int{},
	}
	s.handler = http.HandlerFunc(s.serve)
	s.srv = httptest.NewServer(s.handler)
	s.URL = s.srv.URL + Prefix
	return s
}

// Close shuts the listener down; it waits for requests in progress (those
// sleeping a latency included).
func (s *Server) Close() { s.closeOnce.Do(s.srv.Close) }

// Handler returns the fake's handler, to serve it in-process (it expects the
// /v1 prefix). Faults that drop the connection need an HTTP/1 server.
func (s *Server) Handler() http.Handler { return s.handler }

// Inject queues one-shot faults.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// PendingFaults returns the number of injected faults not yet consumed.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// SetLatency changes the latency applied to every request.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetRateLimit changes the requests accepted per second (0 = no limit).
func (s *Server) SetRateLimit(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit, s.inWindow = perSecond, 0
}

// RateLimited returns how many requests were answered 429 because of
// Options.RateLimit (injected 429 faults are not counted).
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// Projects returns a snapshot of all projects, in creation order.
func (s *Server) Projects() []Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Project, len(s.projects))
	for i, p := range s.projects {
		out[i] = p.snapshot()
	}
	return out
}

// Project returns a snapshot of one project.
func (s *Server) Project(id string) (Project, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if !ok {
		return Project{}, false
	}
	return p.snapshot(), true
}

// CountByName returns how many projects (archived ones included) are named
// name.
func (s *Server) CountByName(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.projects {
		if p.Name == name {
			n++
		}
	}
	return n
}

// AddProject seeds a project, as if it had been created before.
func (s *Server) AddProject(name string, archived bool) Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.create(name, "", "")
	if archived {
		s.archive(p)
	}
	return p.snapshot()
}

// AddProjectWithID seeds an active project with a given ID, as if it had
// been created before: the demo sandbox, which forgets its projects when the
// process stops, reloads the projects the database links. An ID already
// held is left as it is.
func (s *Server) AddProjectWithID(id, name string) Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.byID[id]; ok {
		return p.snapshot()
	}
	p := s.create(name, "", "")
	delete(s.byID, p.ID)
	p.ID = id
	s.byID[id] = p
	return p.snapshot()
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Query = cloneValues(r.Query)
		r.Header = r.Header.Clone()
		r.Body = slices.Clone(r.Body)
		out[i] = r
	}
	return out
}

// RequestCount returns how many requests were received so far, to every
// endpoint, whatever was answered.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Count returns the number of requests received for endpoint (EndpointCreate,
// …), whatever was answered.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

// CreateCount returns the number of create requests received, whatever was
// answered.
func (s *Server) CreateCount() int { return s.Count(EndpointCreate) }

func (p *Project) snapshot() Project {
	c := *p
	if p.ArchivedAt != nil {
		t := *p.ArchivedAt
		c.ArchivedAt = &t
	}
	return c
}

// create adds a project; s.mu must be held.
func (s *Server) create(name, residency, externalKeyID string) *Project {
	p := &Project{
		ID:            "proj_" + randomAlnum(24),
		Name:          name,
		Status:        "active",
		CreatedAt:     time.Now().UTC().Truncate(time.Second),
		ExternalKeyID: externalKeyID,
		Residency:     residency,
	}
	s.projects = append(s.projects, p)
	s.byID[p.ID] = p
	return p
}

// archive archives p (a no-op if it already is); s.mu must be held.
func (s *Server) archive(p *Project) {
	if p.ArchivedAt != nil {
		return
	}
	t := time.Now().UTC().Truncate(time.Second)
	p.Status, p.ArchivedAt = "archived", &t
}

// ---- HTTP ----

// route names the endpoint of a request and extracts the project ID.
func route(method, path string) (endpoint, id string) {
	if e := usageRoute(method, path); e != "" {
		return e, ""
	}
	rest, ok := strings.CutPrefix(path, Prefix+"/organization/projects")
	if !ok {
		return "", ""
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if ep := accountRoute(method, parts); ep != "" {
		return ep, parts[0]
	}
	switch {
	case rest == "" && method == http.MethodPost:
		return EndpointCreate, ""
	case rest == "" && method == http.MethodGet:
		return EndpointList, ""
	case len(parts) == 1 && parts[0] != "" && rest[0] == '/':
		switch method {
		case http.MethodGet:
			return EndpointGet, parts[0]
		case http.MethodPost:
			return EndpointModify, parts[0]
		}
	case len(parts) == 2 && parts[0] != "" && parts[1] == "archive" && method == http.MethodPost:
		return EndpointArchive, parts[0]
	}
	if ep := policyRoute(method, parts); ep != "" {
		return ep, parts[0]
	}
	return "", ""
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", "req_"+randomHex(16))
	// The body is read at once, so that a request whose client goes away
	// during a latency can still be carried out.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", "Could not read the request body.")
		return
	}
	endpoint, id := route(r.Method, r.URL.Path)

	s.mu.Lock()
	now := time.Now()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Query: cloneValues(r.URL.Query()),
		Header: r.Header.Clone(), Body: body, Endpoint: endpoint, At: now,
	})
	s.counts[endpoint]++
	latency := s.latency
	limited := s.overRateLimit(now)
	if s.rateHeaders && s.rateLimit > 0 {
		h := w.Header()
		h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(s.rateLimit*60))
		h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(max(s.rateLimit-s.inWindow, 0)))
		h.Set("X-Ratelimit-Reset-Requests", fmt.Sprintf("%dms", max(s.window.Add(time.Second).Sub(now).Milliseconds(), 0)))
	}
	var fault *Fault
	if !limited {
		for i, f := range s.faults {
			if f.Endpoint == "" || f.Endpoint == endpoint {
				fault = &f
				s.faults = slices.Delete(s.faults, i, i+1)
				break
			}
		}
	}
	s.mu.Unlock()

	if s.jitter > 0 {
		latency += mrand.N(s.jitter)
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	if limited {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "",
			"Rate limit reached for requests to the fake Admin API. Please try again in 1s.")
		return
	}
	if fault != nil {
		if fault.Latency > 0 {
			time.Sleep(fault.Latency)
		}
		switch {
		case fault.Reset:
			hangUp(w, true)
			return
		case fault.Status != 0:
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			typ, code, msg := errorFor(fault.Status)
			if fault.Code != "" {
				code = fault.Code
			}
			if fault.Message != "" {
				msg = fault.Message
			}
			writeError(w, fault.Status, typ, code, "", msg)
			return
		case fault.CreateThenDrop:
			s.handle(discard{}, r, endpoint, id, body)
			hangUp(w, false)
			return
		case fault.Malformed:
			var rec bytes.Buffer
			status := s.handle(&bufferWriter{h: http.Header{}, buf: &rec}, r, endpoint, id, body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			b := rec.Bytes()
			_, _ = w.Write(b[:len(b)/2]) // cut mid-object: not JSON
			return
		}
	}
	s.handle(w, r, endpoint, id, body)
}

// overRateLimit counts a request in the current window; s.mu must be held.
func (s *Server) overRateLimit(now time.Time) bool {
	if s.rateLimit <= 0 {
		return false
	}
	if now.Sub(s.window) >= time.Second {
		s.window, s.inWindow = now, 0
	}
	if s.inWindow >= s.rateLimit {
		s.rateLimited++
		s.refusedAt = append(s.refusedAt, now)
		return true
	}
	s.inWindow++
	s.acceptedAt = append(s.acceptedAt, now)
	return false
}

// Accepted returns when each request let through Options.RateLimit
// arrived, in arrival order (nothing while there is no limit).
func (s *Server) Accepted() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acceptedAt)
}

// Refused returns when each request refused by Options.RateLimit arrived.
func (s *Server) Refused() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refusedAt)
}

// MaxPerSecond returns the most requests the fake let through its rate
// limit in any one second (a sliding window over Accepted).
func (s *Server) MaxPerSecond() int {
	at := s.Accepted()
	best := 0
	for i, j := 0, 0; j < len(at); j++ {
		for at[j].Sub(at[i]) >= time.Second {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// handle authenticates and serves a request normally; returns the status.
func (s *Server) handle(w responseWriter, r *http.Request, endpoint, id string, body []byte) int {
	if s.key != "" {
		want := "Bearer " + s.key
		got := r.Header.Get("Authorization")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
				"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")
		}
	}
	switch endpoint {
	case EndpointCreate:
		return s.handleCreate(w, body)
	case EndpointList:
		return s.handleList(w, r.URL.Query())
	case EndpointGet:
		return s.handleGet(w, id)
	case EndpointModify:
		return s.handleModify(w, id, body)
	case EndpointArchive:
		return s.handleArchive(w, id)
	case EndpointCosts:
		return s.handleCosts(w, r.URL.Query())
	case EndpointUsageCompletions:
		return s.handleCompletionsUsage(w, r.URL.Query())
	}
	if status, ok := s.handlePolicy(w, r, endpoint, id, body); ok {
		return status
	}
	if accountEndpoints[endpoint] {
		return s.handleAccounts(w, r, endpoint, id, body)
	}
	return writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "",
		fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
}

// residencies are the spec's PublicProjectResidency values.
var residencies = []string{
	"GLOBAL", "US_STORAGE_PROCESSING", "EU_STORAGE_PROCESSING", "JP_STORAGE", "KR_STORAGE",
	"CA_STORAGE", "SG_STORAGE", "IN_STORAGE", "AU_STORAGE", "GB_STORAGE", "AE_STORAGE",
	"AE_STORAGE_PROCESSING",
}

// decodeBody parses a JSON object whose keys must all be in allowed, the way
// OpenAI rejects unrecognized arguments. Returns a non-zero status on error.
func decodeBody(w responseWriter, body []byte, allowed ...string) (map[string]json.RawMessage, int) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, writeError(w, http.StatusBadRequest, "invalid_request_error", "", "",
			"We could not parse the JSON body of your request. The body must be a JSON object.")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return nil, writeError(w, http.StatusBadRequest, "invalid_request_error", "unknown_parameter", k,
				fmt.Sprintf("Unrecognized request argument supplied: %s", k))
		}
	}
	return m, 0
}

// optString reads an optional string-or-null member; ok is false if it has
// another type.
func optString(m map[string]json.RawMessage, key string) (v string, present, ok bool) {
	raw, present := m[key]
	if !present || string(raw) == "null" {
		return "", present, true
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, false
	}
	return v, true, true
}

func badParam(w responseWriter, param, msg string) int {
	return writeError(w, http.StatusBadRequest, "invalid_request_error", "", param, msg)
}

func (s *Server) handleCreate(w responseWriter, body []byte) int {
	m, status := decodeBody(w, body, "name", "residency", "external_key_id")
	if status != 0 {
		return status
	}
	raw, present := m["name"]
	var name string
	if !present || json.Unmarshal(raw, &name) != nil {
		return badParam(w, "name", "Missing required parameter: 'name' (a string).")
	}
	if strings.TrimSpace(name) == "" {
		return badParam(w, "name", "Invalid 'name': empty string.")
	}
	residency, _, ok := optString(m, "residency")
	if !ok || residency != "" && !slices.Contains(residencies, residency) {
		return badParam(w, "residency", "Invalid value for 'residency'.")
	}
	extKey, _, ok := optString(m, "external_key_id")
	if !ok {
		return badParam(w, "external_key_id", "Invalid type for 'external_key_id': expected a string.")
	}
	s.mu.Lock()
	p := s.create(name, residency, extKey).snapshot()
	s.mu.Unlock()
	return writeJSON(w, http.StatusOK, projectJSON(p))
}

func (s *Server) handleGet(w responseWriter, id string) int {
	p, ok := s.Project(id)
	if !ok {
		return notFound(w, id)
	}
	return writeJSON(w, http.StatusOK, projectJSON(p))
}

func (s *Server) handleModify(w responseWriter, id string, body []byte) int {
	m, status := decodeBody(w, body, "name", "external_key_id")
	if status != 0 {
		return status
	}
	name, hasName, ok := optString(m, "name")
	if !ok || hasName && string(m["name"]) != "null" && strings.TrimSpace(name) == "" {
		return badParam(w, "name", "Invalid 'name': expected a non-empty string.")
	}
	extKey, hasKey, ok := optString(m, "external_key_id")
	if !ok {
		return badParam(w, "external_key_id", "Invalid type for 'external_key_id': expected a string.")
	}
	s.mu.Lock()
	p, found := s.byID[id]
	if !found {
		s.mu.Unlock()
		return notFound(w, id)
	}
	if p.ArchivedAt != nil {
		s.mu.Unlock()
		return badParam(w, "", "Archived projects cannot be updated.")
	}
	if name != "" {
		p.Name = name
	}
	if hasKey {
		p.ExternalKeyID = extKey
	}
	snap := p.snapshot()
	s.mu.Unlock()
	return writeJSON(w, http.StatusOK, projectJSON(snap))
}

func (s *Server) handleArchive(w responseWriter, id string) int {
	s.mu.Lock()
	p, found := s.byID[id]
	if !found {
		s.mu.Unlock()
		return notFound(w, id)
	}
	s.archive(p)
	snap := p.snapshot()
	s.mu.Unlock()
	return writeJSON(w, http.StatusOK, projectJSON(snap))
}

// handleList pages through the projects in creation order. after is the ID
// of the last project of the previous page (archived or not); an unknown ID
// is a 400.
func (s *Server) handleList(w responseWriter, q url.Values) int {
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return badParam(w, "limit", "Invalid 'limit': expected an integer between 1 and 100.")
		}
		limit = n
	}
	includeArchived := false
	if v := q.Get("include_archived"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badParam(w, "include_archived", "Invalid 'include_archived': expected a boolean.")
		}
		includeArchived = b
	}
	after := q.Get("after")

	s.mu.Lock()
	start := 0
	if after != "" {
		i := slices.IndexFunc(s.projects, func(p *Project) bool { return p.ID == after })
		if i < 0 {
			s.mu.Unlock()
			return badParam(w, "after", fmt.Sprintf("Invalid 'after': no project with id '%s'.", after))
		}
		start = i + 1
	}
	data := []projectBody{}
	hasMore := false
	for _, p := range s.projects[start:] {
		if !includeArchived && p.ArchivedAt != nil {
			continue
		}
		if len(data) == limit {
			hasMore = true
			break
		}
		data = append(data, projectJSON(p.snapshot()))
	}
	s.mu.Unlock()

	out := listBody{Object: "list", Data: data, HasMore: hasMore}
	if len(data) > 0 {
		out.FirstID, out.LastID = &data[0].ID, &data[len(data)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

func notFound(w responseWriter, id string) int {
	return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
		fmt.Sprintf("No project found with id '%s'.", id))
}

// ---- JSON shapes (spec components) ----

// projectBody is the spec's Project.
type projectBody struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Name          string  `json:"name"`
	CreatedAt     int64   `json:"created_at"`
	ArchivedAt    *int64  `json:"archived_at"`
	Status        string  `json:"status"`
	ExternalKeyID *string `json:"external_key_id"`
	// The spec's residency is a non-nullable enum: omitted when unset.
	Residency string `json:"residency,omitempty"`
}

// listOf is the shape of the spec's cursor-paged list responses.
type listOf[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

// listBody is the spec's ProjectListResponse.
type listBody = listOf[projectBody]

// errorBody is the spec's ErrorResponse.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func projectJSON(p Project) projectBody {
	b := projectBody{
		ID: p.ID, Object: "organization.project", Name: p.Name,
		CreatedAt: p.CreatedAt.Unix(), Status: p.Status, Residency: p.Residency,
	}
	if p.ArchivedAt != nil {
		t := p.ArchivedAt.Unix()
		b.ArchivedAt = &t
	}
	if p.ExternalKeyID != "" {
		k := p.ExternalKeyID
		b.ExternalKeyID = &k
	}
	return b
}

// errorFor gives the type, code and message OpenAI uses for a status.
func errorFor(status int) (typ, code, msg string) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
	case status == http.StatusForbidden:
		return "invalid_request_error", "insufficient_permissions",
			"You have insufficient permissions for this operation."
	case status == http.StatusNotFound:
		return "invalid_request_error", "not_found", "Not found."
	case status == http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."
	case status >= 500:
		return "server_error", "",
			"The server had an error while processing your request. Sorry about that!"
	}
	return "invalid_request_error", "", http.StatusText(status)
}

// responseWriter is the part of http.ResponseWriter the handlers use.
type responseWriter interface {
	Header() http.Header
	WriteHeader(int)
	Write([]byte) (int, error)
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) WriteHeader(int)             {}
func (discard) Write(b []byte) (int, error) { return len(b), nil }

type bufferWriter struct {
	h   http.Header
	buf *bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) WriteHeader(int)             {}
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }

func writeJSON(w responseWriter, status int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always marshal
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}

func writeError(w responseWriter, status int, typ, code, param, msg string) int {
	var e errorBody
	e.Error.Message, e.Error.Type = msg, typ
	if code != "" {
		e.Error.Code = &code
	}
	if param != "" {
		e.Error.Param = &param
	}
	return writeJSON(w, status, e)
}

// hangUp hijacks the connection and closes it without answering; with rst
// it asks for a TCP RST instead of an orderly close.
func hangUp(w http.ResponseWriter, rst bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // not HTTP/1: the server aborts the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			// 248 = 4*62: dropping larger bytes keeps the draw uniform.
			if c < 248 && len(out) < n {
				out = append(out, alnum[int(c)%len(alnum)])
			}
		}
	}
	return string(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
