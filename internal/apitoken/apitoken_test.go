package apitoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/validation"
)

var cli = audit.Actor{Email: "cli"}

func TestCreateAuthenticateRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	s := apitoken.New(pool, 100)
	tok, value, err := s.Create(ctx, "host-app", []string{"companies:write", "keys:read", "keys:read"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(value, apitoken.Prefix) || len(value) < 40 || !tok.Has("keys:read") || tok.Has("keys:write") || len(tok.Scopes) != 2 {
		t.Fatalf("token %+v value %q", tok, value)
	}
	// Only a hash is stored; the audit entry has no value either.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE position(convert_to($1, 'UTF8') in token_hash) > 0 OR name LIKE '%'||$1||'%'`, value).Scan(&n); err != nil || n != 0 {
		t.Errorf("the token value is stored: %d %v", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE concat_ws(' ', before, after, detail) LIKE '%'||$1||'%'`, value).Scan(&n); err != nil || n != 0 {
		t.Errorf("the token value is audited: %d %v", n, err)
	}
	got, err := s.Authenticate(ctx, value)
	if err != nil || got.ID != tok.ID || got.LastUsedAt == nil {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "pvt_", value + "x", strings.TrimPrefix(value, apitoken.Prefix), strings.Repeat("pvt_", 100)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, apitoken.ErrInvalid) {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	if _, _, err := s.Create(ctx, "HOST-APP", []string{"keys:read"}, cli); !errors.Is(err, apitoken.ErrNameTaken) {
		t.Errorf("duplicate name: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "host-app" {
		t.Errorf("List = %+v %v", list, err)
	}
	if _, err := s.Revoke(ctx, "host-app", cli); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, value); !errors.Is(err, apitoken.ErrInvalid) {
		t.Errorf("revoked token: %v", err)
	}
	if _, err := s.Revoke(ctx, "host-app", cli); !errors.Is(err, apitoken.ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
	// The name is free again once revoked.
	if _, _, err := s.Create(ctx, "host-app", []string{"keys:read"}, cli); err != nil {
		t.Errorf("re-create after revoke: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('api_token.create','api_token.revoke')`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d audit entries, want 3", n)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	s := apitoken.New(dbtest.NewPool(t), 10)
	for _, tc := range []struct {
		name   string
		scopes []string
		field  string
	}{
		{"", []string{"keys:read"}, "name"},
		{"x", nil, "scopes"},
		{"x", []string{"keys:admin"}, "scopes"},
		{strings.Repeat("n", 101), []string{"keys:read"}, "name"},
	} {
		_, _, err := s.Create(context.Background(), tc.name, tc.scopes, cli)
		var v validation.Errors
		if !errors.As(err, &v) || v[tc.field] == "" {
			t.Errorf("Create(%q, %v) = %v; want a problem with %s", tc.name, tc.scopes, err, tc.field)
		}
	}
}

// The limit is shared by every process: two services on two pools (two
// processes) draw from one window.
func TestRateLimitAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	p1, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	now := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	a, b := apitoken.New(p1, 5), apitoken.New(p2, 5)
	a.Now, b.Now = func() time.Time { return now }, func() time.Time { return now }
	_, value, err := a.Create(ctx, "t", []string{"keys:read"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if _, err := s.Authenticate(ctx, value); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err = b.Authenticate(ctx, value)
	var rl *apitoken.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Fatalf("6th request: %v", err)
	}
	// The next minute opens a new window.
	now = now.Add(30 * time.Second)
	if _, err := a.Authenticate(ctx, value); err != nil {
		t.Errorf("next minute: %v", err)
	}
}
