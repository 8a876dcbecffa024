package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

func TestServiceAccountCreateListDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	p := e.fake.AddProject("acme", false)

	sa, err := e.client.CreateServiceAccount(ctx, p.ID, "provisioner")
	if err != nil {
		t.Fatal(err)
	}
	held := e.fake.ServiceAccounts(p.ID)
	if len(held) != 1 || held[0].ID != sa.ID || held[0].KeyID != sa.KeyID || held[0].KeyValue != sa.KeyValue.Reveal() {
		t.Fatalf("fake holds %+v; client got %+v", held, sa)
	}
	if sa.Name != "provisioner" || sa.Role != "member" || sa.RequestID == "" || sa.CreatedAt.IsZero() {
		t.Errorf("created %+v", sa)
	}
	// The value never shows when printed, encoded or logged.
	value := sa.KeyValue.Reveal()
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", slog.Any("sa", sa), slog.Any("v", sa.KeyValue))
	b, _ := json.Marshal(sa)
	for _, s := range []string{fmt.Sprint(sa), fmt.Sprintf("%+v %#v %s", sa, sa, sa.KeyValue), string(b), logged.String()} {
		if strings.Contains(s, value) {
			t.Errorf("the key value shows in %q", s)
		}
	}

	e.fake.TouchAPIKey(sa.KeyID, time.Unix(1_800_000_000, 0))
	var keys []openai.APIKey
	if err := e.client.ListAPIKeys(ctx, p.ID, func(k openai.APIKey) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != sa.KeyID || keys[0].ServiceAccountID != sa.ID || keys[0].OwnerType != "service_account" ||
		keys[0].RedactedValue == "" || strings.Contains(value, keys[0].RedactedValue) && len(keys[0].RedactedValue) == len(value) ||
		keys[0].LastUsedAt == nil || keys[0].LastUsedAt.Unix() != 1_800_000_000 {
		t.Errorf("keys %+v", keys)
	}

	for range 120 { // more than a page
		e.fake.AddServiceAccount(p.ID, "other")
	}
	n := 0
	if err := e.client.ListServiceAccounts(ctx, p.ID, func(openai.ServiceAccount) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 121 || e.fake.Count(openaitest.EndpointListServiceAccounts) != 2 {
		t.Errorf("listed %d in %d pages", n, e.fake.Count(openaitest.EndpointListServiceAccounts))
	}

	if err := e.client.DeleteServiceAccount(ctx, p.ID, sa.ID); err != nil {
		t.Fatal(err)
	}
	if got := len(e.fake.ServiceAccounts(p.ID)); got != 120 {
		t.Errorf("%d left after delete", got)
	}
	err = e.client.DeleteServiceAccount(ctx, p.ID, sa.ID)
	if oe := asError(t, err); !oe.NotFound() || oe.Kind != openai.Permanent {
		t.Errorf("second delete: %v", err)
	}
}

func TestServiceAccountErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     openaitest.Fault
		kind      openai.Kind
		uncertain bool
		created   int // service accounts the fake holds afterwards
	}{
		{"429", openaitest.Fault{Status: 429, RetryAfter: "2"}, openai.Transient, false, 0},
		{"500", openaitest.Fault{Status: 500}, openai.Transient, true, 0},
		{"403", openaitest.Fault{Status: 403}, openai.Permanent, false, 0},
		{"400 limit is not the project limit", openaitest.Fault{Status: 400, Message: "project service account limit"}, openai.Permanent, false, 0},
		{"malformed", openaitest.Fault{Malformed: true}, openai.Transient, true, 1},
		{"reset", openaitest.Fault{Reset: true}, openai.Transient, true, 0},
		{"created, then the answer lost", openaitest.Fault{CreateThenDrop: true}, openai.Transient, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			p := e.fake.AddProject("acme", false)
			f := tc.fault
			f.Endpoint = openaitest.EndpointCreateServiceAccount
			e.fake.Inject(f)
			_, err := e.client.CreateServiceAccount(context.Background(), p.ID, "provisioner")
			got := asError(t, err)
			if got.Kind != tc.kind || got.Uncertain != tc.uncertain || got.ProjectLimit {
				t.Errorf("kind %v uncertain %v limit %v; want %v %v (%v)", got.Kind, got.Uncertain, got.ProjectLimit, tc.kind, tc.uncertain, err)
			}
			if got.Op != openai.EndpointCreateServiceAccount {
				t.Errorf("Op = %q", got.Op)
			}
			if n := len(e.fake.ServiceAccounts(p.ID)); n != tc.created {
				t.Errorf("fake holds %d service accounts, want %d", n, tc.created)
			}
			if n := e.fake.Count(openaitest.EndpointCreateServiceAccount); n != 1 {
				t.Errorf("%d create requests: the SDK retried a create", n)
			}
			if held := e.fake.ServiceAccounts(p.ID); len(held) == 1 && strings.Contains(err.Error(), held[0].KeyValue) {
				t.Error("the error text carries the key value")
			}
		})
	}
	t.Run("list failures are never uncertain", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		p := e.fake.AddProject("acme", false)
		f := openaitest.Fault{Endpoint: openaitest.EndpointListServiceAccounts, Status: 500}
		e.fake.Inject(f, f, f) // the SDK retries a list twice
		err := e.client.ListServiceAccounts(context.Background(), p.ID, func(openai.ServiceAccount) error { return nil })
		if got := asError(t, err); got.Uncertain || got.Kind != openai.Transient {
			t.Errorf("%+v", got)
		}
	})
	t.Run("archived project", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		p := e.fake.AddProject("old", true)
		_, err := e.client.CreateServiceAccount(context.Background(), p.ID, "provisioner")
		if got := asError(t, err); got.Kind != openai.Permanent || got.StatusCode != 400 {
			t.Errorf("%+v", got)
		}
	})
}

// TestServiceAccountClientConformsToSpec checks every service-account and
// key exchange the client makes against the spec.
func TestServiceAccountClientConformsToSpec(t *testing.T) {
	t.Parallel()
	checker := specChecker(t)
	ctx := context.Background()
	e := newEnv(t, func(o *openai.Options) {
		o.HTTPClient = &http.Client{Transport: checker.Transport(http.DefaultTransport)}
	})
	p := e.fake.AddProject("acme", false)
	for range 105 {
		e.fake.AddServiceAccount(p.ID, "seed")
	}
	sa, err := e.client.CreateServiceAccount(ctx, p.ID, "provisioner")
	if err != nil {
		t.Fatal(err)
	}
	e.fake.TouchAPIKey(sa.KeyID, time.Now())
	if err := e.client.ListServiceAccounts(ctx, p.ID, func(openai.ServiceAccount) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.client.ListAPIKeys(ctx, p.ID, func(openai.APIKey) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.client.DeleteServiceAccount(ctx, p.ID, sa.ID); err != nil {
		t.Fatal(err)
	}
	_ = e.client.DeleteServiceAccount(ctx, p.ID, sa.ID) // 404
	for _, f := range []openaitest.Fault{{Status: 429, RetryAfter: "1"}, {Status: 500}, {Malformed: true}, {CreateThenDrop: true}} {
		f.Endpoint = openaitest.EndpointCreateServiceAccount
		e.fake.Inject(f)
		if _, err := e.client.CreateServiceAccount(ctx, p.ID, "provisioner"); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
	if v := checker.Violations(); len(v) != 0 {
		t.Errorf("%d spec violations:\n%s", len(v), strings.Join(v, "\n"))
	}
	reqs, resps := checker.Checked()
	if reqs < 11 || resps < 8 {
		t.Errorf("checked %d requests, %d responses", reqs, resps)
	}
	for _, r := range e.fake.Requests() {
		if strings.Contains(string(r.Body), "expires_in_seconds") {
			t.Errorf("%s %s sent expires_in_seconds", r.Method, r.Path)
		}
	}
}

func TestObserveNamesServiceAccountEndpoints(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	var mu = make(chan struct{}, 1)
	e := newEnv(t, func(o *openai.Options) {
		o.Observe = func(ep string, _ int, _ time.Duration) { mu <- struct{}{}; seen[ep]++; <-mu }
	})
	ctx := context.Background()
	p := e.fake.AddProject("acme", false)
	sa, err := e.client.CreateServiceAccount(ctx, p.ID, "provisioner")
	if err != nil {
		t.Fatal(err)
	}
	_ = e.client.ListServiceAccounts(ctx, p.ID, func(openai.ServiceAccount) error { return nil })
	_ = e.client.ListAPIKeys(ctx, p.ID, func(openai.APIKey) error { return nil })
	_ = e.client.DeleteServiceAccount(ctx, p.ID, sa.ID)
	for _, ep := range []string{openai.EndpointCreateServiceAccount, openai.EndpointListServiceAccounts, openai.EndpointListAPIKeys, openai.EndpointDeleteServiceAccount} {
		if seen[ep] != 1 {
			t.Errorf("%s observed %d times (%v)", ep, seen[ep], seen)
		}
	}
}
