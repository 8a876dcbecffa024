package openai_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// countingGovernor lets every request go and counts what passes through it.
type countingGovernor struct {
	mu       sync.Mutex
	acquired int
	statuses []int
	callers  []string
	block    chan struct{} // if set, Acquire waits on it (or ctx)
}

func (g *countingGovernor) Acquire(ctx context.Context) (func(int, http.Header), error) {
	if g.block != nil {
		select {
		case <-g.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	caller, _ := governor.CallOf(ctx)
	g.mu.Lock()
	g.acquired++
	g.callers = append(g.callers, caller)
	g.mu.Unlock()
	return func(status int, _ http.Header) {
		g.mu.Lock()
		g.statuses = append(g.statuses, status)
		g.mu.Unlock()
	}, nil
}

// TestEveryRequestIsGoverned calls every method of openai.Projects, with
// answers that make the SDK page and retry, and checks that each request
// the fake received went through the governor, and that the governor heard
// every answer.
func TestEveryRequestIsGoverned(t *testing.T) {
	t.Parallel()
	ctx := governor.WithCall(context.Background(), governor.CallerJob, governor.Background)
	g := &countingGovernor{}
	fake := openaitest.New(openaitest.Options{AdminKey: adminKey})
	t.Cleanup(fake.Close)
	c, err := openai.New(openai.Options{AdminKey: adminKey, BaseURL: fake.URL, Timeout: 5 * time.Second, Governor: g})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 { // two pages of 100
		fake.AddProject(fmt.Sprintf("seeded %d", i), false)
	}
	calls := map[string]func(){
		"CreateProject": func() {
			if _, err := c.CreateProject(ctx, "governed"); err != nil {
				t.Error(err)
			}
			fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusTooManyRequests, RetryAfter: "1"})
			if _, err := c.CreateProject(ctx, "refused"); err == nil {
				t.Error("create answered 429 did not fail")
			}
		},
		"GetProject": func() {
			p := fake.AddProject("get me", false)
			// The SDK retries a GET answered 429 on its own: each try is governed.
			fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointGet, Status: http.StatusTooManyRequests, RetryAfter: "0.01"})
			if _, err := c.GetProject(ctx, p.ID); err != nil {
				t.Error(err)
			}
			if _, err := c.GetProject(ctx, "proj_missing"); err == nil {
				t.Error("get of a missing project did not fail")
			}
		},
		"ListProjects": func() {
			n := 0
			if err := c.ListProjects(ctx, true, func(openai.Project) error { n++; return nil }); err != nil {
				t.Error(err)
			}
			if n < 150 {
				t.Errorf("listed %d projects, want at least 150", n)
			}
		},
		"ArchiveProject": func() {
			p := fake.AddProject("archive me", false)
			if _, err := c.ArchiveProject(ctx, p.ID); err != nil {
				t.Error(err)
			}
		},
	}
	// A method added to the interface must be added here too.
	typ := reflect.TypeFor[openai.Projects]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		call, ok := calls[name]
		if !ok {
			t.Errorf("openai.Projects.%s is not exercised by this test", name)
			continue
		}
		call()
	}
	sent := len(fake.Requests())
	g.mu.Lock()
	defer g.mu.Unlock()
	if sent < 7 {
		t.Fatalf("only %d requests reached the fake", sent)
	}
	if g.acquired != sent {
		t.Errorf("%d requests reached the fake, %d went through the governor", sent, g.acquired)
	}
	if len(g.statuses) != sent {
		t.Errorf("the governor heard %d answers for %d requests", len(g.statuses), sent)
	}
	refused := 0
	for _, s := range g.statuses {
		if s == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("the governor heard %d refusals, want 2", refused)
	}
	for _, caller := range g.callers {
		if caller != governor.CallerJob {
			t.Errorf("the governor saw caller %q, want the context's %q", caller, governor.CallerJob)
			break
		}
	}
}

// TestCreateNotSentIsNotUncertain: a create whose time ran out while it
// waited for its slot never left, so it cannot have created a project.
func TestCreateNotSentIsNotUncertain(t *testing.T) {
	t.Parallel()
	g := &countingGovernor{block: make(chan struct{})}
	fake := openaitest.New(openaitest.Options{AdminKey: adminKey})
	t.Cleanup(fake.Close)
	c, err := openai.New(openai.Options{AdminKey: adminKey, BaseURL: fake.URL, Timeout: 5 * time.Second, Governor: g})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.CreateProject(ctx, "never sent")
	e := asError(t, err)
	if e.Uncertain || e.Kind != openai.Transient {
		t.Errorf("create that waited out its time: kind %v, uncertain %v; want transient, certain", e.Kind, e.Uncertain)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if n := fake.CreateCount(); n != 0 {
		t.Errorf("the fake received %d creates, want 0", n)
	}
}
