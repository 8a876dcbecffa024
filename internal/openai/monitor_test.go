package openai_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// Only sk-admin-… keys may use the Admin API; others are warned about.
func TestKeyWarning(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"sk-admin-abc123":       "",
		"":                      "",
		"sk-proj-abc123":        "project key (sk-proj-…)",
		"sk-svcacct-abc123":     "service account key",
		"sk-abc123":             "does not look like an admin key (sk-admin-…)",
		"not-even-an-openaikey": "does not look like an admin key",
	} {
		got := openai.KeyWarning(key)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("KeyWarning(%q) = %q, want it to say %q", key, got, want)
		}
		if key != "" && strings.Contains(got, key) {
			t.Errorf("KeyWarning(%q) repeats the key", key)
		}
	}
}

// The monitor keeps the last call and the first failure; a 404 is an
// answer, not a failure.
func TestMonitor(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: "sk-admin-monitor-test"})
	t.Cleanup(fake.Close)
	c, err := openai.New(openai.Options{AdminKey: "sk-admin-monitor-test", BaseURL: fake.URL, Governor: openaitest.NewGovernor(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := openai.NewMonitor(c, "sk-admin-monitor-test")
	ctx := context.Background()
	if last, first := m.Last(); last != nil || first != nil {
		t.Fatal("calls recorded before any call")
	}
	if err := m.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if last, _ := m.Last(); last == nil || !last.OK {
		t.Fatalf("after a good ping: last = %+v", last)
	}
	if _, err := m.GetProject(ctx, "proj_nope"); err == nil {
		t.Fatal("got a project that does not exist")
	}
	if last, first := m.Last(); !last.OK || first != nil {
		t.Errorf("a 404 counted as a failure: last %+v, first %+v", last, first)
	}
	fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointList, Status: http.StatusForbidden})
	if err := m.Ping(ctx); err == nil {
		t.Fatal("ping passed a 403")
	}
	if _, err := m.CreateProject(ctx, "Later"); err != nil {
		t.Fatal(err)
	}
	last, first := m.Last()
	if !last.OK || first == nil || first.StatusCode != http.StatusForbidden || !strings.Contains(first.Reason, "403") {
		t.Errorf("last %+v, first failure %+v; want the 403 kept as the first failure", last, first)
	}
}
