package openai

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Monitor is a Projects that remembers how OpenAI answered: the last call
// and the first failure since the process started, which the dashboard's
// home page shows (a key refused with 401 or 403 shows there, not only in
// a company's history). It also tells whether the key looks like an admin
// key at all.
type Monitor struct {
	inner      Projects
	keyWarning string

	mu    sync.Mutex
	last  *Call
	first *Call // first failure
}

// Call is the outcome of one call to OpenAI.
type Call struct {
	Endpoint string
	At       time.Time
	OK       bool
	// StatusCode is OpenAI's HTTP status, 0 when no answer came.
	StatusCode int
	// Reason is the short explanation of a failure (Error.Reason).
	Reason string
}

var _ Projects = (*Monitor)(nil)

// NewMonitor wraps p; key is the configured admin key, only looked at for
// KeyWarning.
func NewMonitor(p Projects, key string) *Monitor {
	return &Monitor{inner: p, keyWarning: KeyWarning(key)}
}

// KeyWarning says what is wrong with the shape of an admin key, or "" when
// it looks like one. Only organization admin keys (sk-admin-…) may use the
// Admin API; a project key (sk-proj-…) or a user key is refused with 401 or
// 403 on the first call.
func KeyWarning(key string) string {
	switch {
	case key == "":
		return ""
	case strings.HasPrefix(key, "sk-admin-"):
		return ""
	case strings.HasPrefix(key, "sk-proj-"):
		return "OPENAI_ADMIN_KEY is a project key (sk-proj-…), which cannot use the Admin API: create an admin key (sk-admin-…) in the organization's settings"
	case strings.HasPrefix(key, "sk-svcacct-"):
		return "OPENAI_ADMIN_KEY is a service account key (sk-svcacct-…), which cannot use the Admin API: create an admin key (sk-admin-…) in the organization's settings"
	}
	return "OPENAI_ADMIN_KEY does not look like an admin key (sk-admin-…): OpenAI will likely refuse it"
}

// KeyWarning is KeyWarning of the configured key.
func (m *Monitor) KeyWarning() string { return m.keyWarning }

// Last returns the last call and the first failure since start; each is
// nil when there was none.
func (m *Monitor) Last() (last, firstFailure *Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.first
}

// Ping makes one cheap read call (Client.Ping) and records it like any other.
func (m *Monitor) Ping(ctx context.Context) error {
	var err error
	if p, ok := m.inner.(interface{ Ping(context.Context) error }); ok {
		err = p.Ping(ctx)
	} else {
		stop := errors.New("stop")
		err = m.inner.ListProjects(ctx, false, func(Project) error { return stop })
		if errors.Is(err, stop) {
			err = nil
		}
	}
	m.record(EndpointList, err)
	return err
}

// record notes a call's outcome. A 404 is an answer, not a failure of the
// connection; a caller's own cancellation says nothing about OpenAI.
func (m *Monitor) record(endpoint string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	c := &Call{Endpoint: endpoint, At: time.Now(), OK: true}
	if err != nil {
		if oe, ok := AsError(err); ok {
			c.StatusCode = oe.StatusCode
			if !oe.NotFound() {
				c.OK, c.Reason = false, oe.Reason()
			}
		} else {
			c.OK, c.Reason = false, redact(err.Error())
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = c
	if !c.OK && m.first == nil {
		m.first = c
	}
}

// CreateProject implements Projects.
func (m *Monitor) CreateProject(ctx context.Context, name string) (Project, error) {
	p, err := m.inner.CreateProject(ctx, name)
	m.record(EndpointCreate, err)
	return p, err
}

// GetProject implements Projects.
func (m *Monitor) GetProject(ctx context.Context, id string) (Project, error) {
	p, err := m.inner.GetProject(ctx, id)
	m.record(EndpointGet, err)
	return p, err
}

// ListProjects implements Projects. An error of fn is the caller's, not
// OpenAI's.
func (m *Monitor) ListProjects(ctx context.Context, includeArchived bool, fn func(Project) error) error {
	var fnErr error
	err := m.inner.ListProjects(ctx, includeArchived, func(p Project) error {
		fnErr = fn(p)
		return fnErr
	})
	if fnErr == nil || !errors.Is(err, fnErr) {
		m.record(EndpointList, err)
	}
	return err
}

// ArchiveProject implements Projects.
func (m *Monitor) ArchiveProject(ctx context.Context, id string) (Project, error) {
	p, err := m.inner.ArchiveProject(ctx, id)
	m.record(EndpointArchive, err)
	return p, err
}
