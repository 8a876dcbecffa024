// Package openai is Provisioner's client for OpenAI's Admin API project
// endpoints. It wraps the official SDK (github.com/openai/openai-go/v3) behind
// a small interface of our own and turns the SDK's errors into ours, which
// say whether a failure is worth retrying and whether a create may have
// happened despite the error. It knows nothing of the database or HTTP serving.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Project is an OpenAI project as Provisioner sees it.
type Project struct {
	ID         string
	Name       string
	Status     string // "active" or "archived"
	CreatedAt  time.Time
	ArchivedAt *time.Time
	// RequestID is OpenAI's x-request-id of the call that returned the
	// project, kept for the provisioning history.
	RequestID string
}

// Active reports whether the project can be used (it is not archived).
func (p Project) Active() bool { return p.Status != "archived" && p.ArchivedAt == nil }

// Projects is the part of the Admin API that Provisioner uses.
type Projects interface {
	// CreateProject creates a project named name. It never retries on its
	// own: a retried create can make a second project.
	CreateProject(ctx context.Context, name string) (Project, error)
	// GetProject retrieves one project. Returns an *Error with NotFound()
	// true if it does not exist.
	GetProject(ctx context.Context, id string) (Project, error)
	// ListProjects calls fn for every project of the organization, page after
	// page, stopping early if fn returns an error.
	ListProjects(ctx context.Context, includeArchived bool, fn func(Project) error) error
	// ArchiveProject archives a project (projects cannot be deleted).
	ArchiveProject(ctx context.Context, id string) (Project, error)
}

// Endpoint names used for metrics.
const (
	EndpointCreate   = "create_project"
	EndpointGet      = "get_project"
	EndpointList     = "list_projects"
	EndpointArchive  = "archive_project"
	EndpointModify   = "modify_project"
	endpointUnknown  = "other"
	requestIDHeader  = "X-Request-Id"
	retryAfterHeader = "Retry-After"
)

// Options configures a Client.
type Options struct {
	// AdminKey is the admin API key (sk-admin-…). Required.
	AdminKey string
	// OrgID, when set, is sent as OpenAI-Organization.
	OrgID string
	// BaseURL is the API root, https://api.openai.com/v1 by default; the
	// spec's paths are appended to it.
	BaseURL string
	// Timeout bounds each request. Default 30 s.
	Timeout time.Duration
	// HTTPClient carries the requests; if nil, a client of its own whose
	// transport keeps enough idle connections (see newTransport).
	HTTPClient *http.Client
	// Observe, if set, is called after every HTTP exchange with the endpoint
	// name, the status code (0 when no answer came) and the time it took.
	Observe func(endpoint string, status int, d time.Duration)
	// Governor paces every request the client sends (internal/governor).
	// Required: no request to OpenAI goes out without it.
	Governor Governor
}

// Governor paces requests to OpenAI across every caller and process
// (internal/governor implements it).
type Governor interface {
	// Acquire blocks until a request may go, with the caller and priority
	// ctx carries, and returns done, to be called with the answer's status
	// (0 when none came) and headers.
	Acquire(ctx context.Context) (done func(status int, h http.Header), err error)
}

// idleConnsPerHost is how many idle connections to OpenAI a client keeps.
// The default transport keeps 2: with the dozens of calls a backfill has in
// flight, every other answer would close its connection and the next call
// dial (and, on the real API, shake hands over TLS) again. The redials
// also bunched calls the governor had spaced: a call that waits for a new
// connection goes out late, together with the ones after it.
const idleConnsPerHost = 128

// newTransport is http.DefaultTransport with idleConnsPerHost.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, idleConnsPerHost)
	t.MaxIdleConnsPerHost = idleConnsPerHost
	return t
}

// Client implements Projects on the official SDK.
type Client struct {
	projects sdk.AdminOrganizationProjectService
	usage    sdk.AdminOrganizationUsageService // costs.go
	key      string
}

var _ Projects = (*Client)(nil)

// ErrNotConfigured is returned by New when no admin key is given.
var ErrNotConfigured = errors.New("openai: no admin key configured")

// ErrNoGovernor is returned by New without Options.Governor.
var ErrNoGovernor = errors.New("openai: a client needs a rate governor")

// New returns a Client. Returns ErrNotConfigured if opts.AdminKey is empty
// and ErrNoGovernor without opts.Governor.
func New(opts Options) (*Client, error) {
	if opts.AdminKey == "" {
		return nil, ErrNotConfigured
	}
	if opts.Governor == nil {
		return nil, ErrNoGovernor
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "https://api.openai.com/v1"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Transport: newTransport()}
	}
	// The service is built from explicit options only: sdk.NewClient would
	// also read OPENAI_* variables from the environment behind our back.
	reqOpts := []option.RequestOption{
		option.WithHTTPClient(httpClient),
		option.WithBaseURL(opts.BaseURL),
		option.WithAdminAPIKey(opts.AdminKey),
		option.WithRequestTimeout(opts.Timeout),
		// The governor is outermost, so that every attempt the SDK makes
		// (its own retries included) waits for a slot, and the latency
		// observed is OpenAI's alone.
		option.WithMiddleware(govern(opts.Governor), observe(opts.Observe)),
	}
	if opts.OrgID != "" {
		reqOpts = append(reqOpts, option.WithOrganization(opts.OrgID))
	}
	return &Client{
		projects: sdk.NewAdminOrganizationProjectService(reqOpts...),
		usage:    sdk.NewAdminOrganizationUsageService(reqOpts...),
		key:      opts.AdminKey,
	}, nil
}

// CreateProject implements Projects.
func (c *Client) CreateProject(ctx context.Context, name string) (Project, error) {
	if strings.TrimSpace(name) == "" {
		return Project{}, &Error{Op: EndpointCreate, Kind: Permanent, Message: "project name is empty"}
	}
	var resp *http.Response
	ctx, sent := trackSent(ctx)
	p, err := c.projects.New(ctx, sdk.AdminOrganizationProjectNewParams{Name: name},
		option.WithMaxRetries(0), option.WithResponseInto(&resp))
	if err != nil {
		return Project{}, c.wrapSent(EndpointCreate, resp, err, sent)
	}
	if p == nil || p.ID == "" {
		// A 2xx without a project: OpenAI may have created it anyway.
		return Project{}, c.wrap(EndpointCreate, resp, errMalformed)
	}
	return fromSDK(p, resp), nil
}

// GetProject implements Projects.
func (c *Client) GetProject(ctx context.Context, id string) (Project, error) {
	var resp *http.Response
	p, err := c.projects.Get(ctx, id, option.WithResponseInto(&resp))
	if err != nil {
		return Project{}, c.wrap(EndpointGet, resp, err)
	}
	if p == nil || p.ID == "" {
		return Project{}, c.wrap(EndpointGet, resp, errMalformed)
	}
	return fromSDK(p, resp), nil
}

// ListProjects implements Projects.
func (c *Client) ListProjects(ctx context.Context, includeArchived bool, fn func(Project) error) error {
	pager := c.projects.ListAutoPaging(ctx, sdk.AdminOrganizationProjectListParams{
		Limit:           sdk.Int(100),
		IncludeArchived: sdk.Bool(includeArchived),
	})
	for pager.Next() {
		p := pager.Current()
		if err := fn(fromSDK(&p, nil)); err != nil {
			return err
		}
	}
	if err := pager.Err(); err != nil {
		return c.wrap(EndpointList, nil, err)
	}
	return nil
}

// ArchiveProject implements Projects.
func (c *Client) ArchiveProject(ctx context.Context, id string) (Project, error) {
	var resp *http.Response
	ctx, sent := trackSent(ctx)
	p, err := c.projects.Archive(ctx, id, option.WithMaxRetries(0), option.WithResponseInto(&resp))
	if err != nil {
		return Project{}, c.wrapSent(EndpointArchive, resp, err, sent)
	}
	if p == nil || p.ID == "" {
		return Project{}, c.wrap(EndpointArchive, resp, errMalformed)
	}
	return fromSDK(p, resp), nil
}

func fromSDK(p *sdk.Project, resp *http.Response) Project {
	out := Project{
		ID:        p.ID,
		Name:      p.Name,
		Status:    p.Status,
		CreatedAt: time.Unix(p.CreatedAt, 0).UTC(),
	}
	if p.ArchivedAt != 0 {
		t := time.Unix(p.ArchivedAt, 0).UTC()
		out.ArchivedAt = &t
	}
	if resp != nil {
		out.RequestID = requestID(resp.Header.Get(requestIDHeader))
	}
	return out
}

// govern is SDK middleware that waits for the governor's slot before each
// request goes out and tells it the answer.
func govern(g Governor) option.Middleware {
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		done, err := g.Acquire(req.Context())
		if err != nil {
			return nil, fmt.Errorf("waiting for the OpenAI rate governor: %w", err)
		}
		if f, ok := req.Context().Value(sentKey{}).(*atomic.Bool); ok {
			f.Store(true)
		}
		resp, err := next(req)
		if resp != nil {
			done(resp.StatusCode, resp.Header)
		} else {
			done(0, nil)
		}
		return resp, err
	}
}

type sentKey struct{}

// trackSent returns ctx marked so that govern records whether a request
// made with it left for OpenAI: a create still waiting for its slot when
// its time ran out cannot have created anything.
func trackSent(ctx context.Context) (context.Context, *atomic.Bool) {
	f := new(atomic.Bool)
	return context.WithValue(ctx, sentKey{}, f), f
}

// observe is SDK middleware that reports every exchange's latency.
func observe(fn func(string, int, time.Duration)) option.Middleware {
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if fn == nil {
			return next(req)
		}
		start := time.Now()
		resp, err := next(req)
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		fn(endpointOf(req), status, time.Since(start))
		return resp, err
	}
}

// endpointOf names the endpoint of a request for metrics, keeping project IDs
// out of the label values.
func endpointOf(req *http.Request) string {
	path := strings.TrimSuffix(req.URL.Path, "/")
	if e, ok := usageEndpointOf(path); ok {
		return e
	}
	i := strings.Index(path, "/organization/projects")
	if i < 0 {
		return endpointUnknown
	}
	rest := strings.Trim(path[i+len("/organization/projects"):], "/")
	parts := strings.Split(rest, "/")
	switch {
	case rest == "" && req.Method == http.MethodPost:
		return EndpointCreate
	case rest == "":
		return EndpointList
	case len(parts) == 1 && req.Method == http.MethodGet:
		return EndpointGet
	case len(parts) == 1 && req.Method == http.MethodPost:
		return EndpointModify
	case len(parts) == 2 && parts[1] == "archive":
		return EndpointArchive
	}
	if ep := policyEndpoint(req.Method, parts); ep != "" {
		return ep
	}
	if ep := serviceAccountEndpoint(req.Method, parts); ep != "" {
		return ep
	}
	return endpointUnknown
}

// String keeps the key out of %v and %+v of a Client.
func (c *Client) String() string { return "openai.Client{key: redacted}" }

// GoString keeps the key out of %#v of a Client.
func (c *Client) GoString() string { return c.String() }

var errMalformed = fmt.Errorf("malformed response: no project in the answer")
