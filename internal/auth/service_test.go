package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/testclock"
)

const testPassword = "correct horse battery staple"

type testBundle struct {
	pool  *pgxpool.Pool
	svc   *auth.Service
	clock *testclock.Clock
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.NewPool(t)
	c := testclock.New(time.Now().UTC().Truncate(time.Microsecond))
	svc, err := auth.NewService(pool, auth.Options{
		Secret: strings.Repeat("s", auth.MinSecretLen),
		Hash:   auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1},
		Now:    c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{pool: pool, svc: svc, clock: c}
}

func (b *testBundle) addUser(t *testing.T, email string, role auth.Role) auth.Account {
	t.Helper()
	a, err := b.svc.CreateUser(context.Background(), audit.Actor{Email: "test"}, auth.NewAccount{Email: email, Role: role, Password: testPassword})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return a
}

func TestNewService_ShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewService(nil, auth.Options{Secret: "short"}); err == nil {
		t.Fatal("NewService accepted a short secret")
	}
}

func TestService_CreateUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a, err := b.svc.CreateUser(ctx, audit.Actor{ID: 7, Email: "boss@example.com"},
			auth.NewAccount{Email: "  Ops@Example.com ", Role: auth.RoleSupport, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != "Ops@Example.com" || a.Role != auth.RoleSupport || a.Disabled || a.LastLoginAt != nil {
			t.Errorf("account = %+v", a)
		}
		var hash, actor, detail string
		if err := b.pool.QueryRow(ctx, `SELECT password_hash FROM staff_users WHERE id = $1`, a.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, testPassword) {
			t.Errorf("stored hash = %q, want argon2id without the password", hash)
		}
		if err := b.pool.QueryRow(ctx, `SELECT actor_email, detail FROM audit_log WHERE action = $1`, audit.ActionStaffAdd).Scan(&actor, &detail); err != nil {
			t.Fatalf("audit entry: %v", err)
		}
		if actor != "boss@example.com" || detail != "Ops@Example.com" {
			t.Errorf("audit actor, detail = %q, %q", actor, detail)
		}
	})

	t.Run("ErrEmailTaken", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addUser(t, "ops@example.com", auth.RoleSupport)
		_, err := b.svc.CreateUser(ctx, audit.Actor{}, auth.NewAccount{Email: "OPS@example.com", Role: auth.RoleAdmin, Password: testPassword})
		if !errors.Is(err, auth.ErrEmailTaken) {
			t.Fatalf("err = %v, want ErrEmailTaken", err)
		}
	})

	t.Run("Validation", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.svc.CreateUser(ctx, audit.Actor{}, auth.NewAccount{Email: "not-an-email", Role: "root", Password: "short"})
		var v auth.ValidationError
		if !errors.As(err, &v) {
			t.Fatalf("err = %v, want ValidationError", err)
		}
		for _, f := range []string{auth.FieldEmail, auth.FieldRole, auth.FieldPassword} {
			if v[f] == "" {
				t.Errorf("no error for %s in %v", f, v)
			}
		}
		var n int
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM staff_users`).Scan(&n); err != nil || n != 0 {
			t.Errorf("staff users = %d, %v; want 0", n, err)
		}
	})
}

func TestService_CreateFirstAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	created, err := b.svc.CreateFirstAdmin(ctx, audit.Actor{Email: "test"}, "first@example.com", testPassword)
	if err != nil || !created {
		t.Fatalf("CreateFirstAdmin = %v, %v; want true", created, err)
	}
	a, err := b.svc.GetUserByEmail(ctx, "FIRST@example.com")
	if err != nil || a.Role != auth.RoleAdmin {
		t.Fatalf("GetUserByEmail = %+v, %v; want an admin", a, err)
	}
	// With a user present, nothing more is created.
	created, err = b.svc.CreateFirstAdmin(ctx, audit.Actor{Email: "test"}, "second@example.com", testPassword)
	if err != nil || created {
		t.Fatalf("second CreateFirstAdmin = %v, %v; want false", created, err)
	}
	if _, err := b.svc.GetUserByEmail(ctx, "second@example.com"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("second admin: err = %v, want ErrNotFound", err)
	}
}

// Racing first-admin creations (replicas starting at once with
// ADMIN_EMAIL, a setup page submitted twice) create exactly one admin.
func TestService_CreateFirstAdminRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.svc.CreateFirstAdmin(ctx, audit.Actor{Email: "test"}, fmt.Sprintf("racer%d@example.com", i), testPassword); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM staff_users`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("staff users = %d, %v; want exactly 1", n, err)
	}
}

func TestService_Login(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.addUser(t, "ops@example.com", auth.RoleSupport)
		u, token, err := b.svc.Login(ctx, "OPS@example.com ", testPassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != a.ID || u.Role != auth.RoleSupport || len(token) < 43 {
			t.Errorf("Login = %+v, %q", u, token)
		}
		got, err := b.svc.Authenticate(ctx, token)
		if err != nil || got != u {
			t.Errorf("Authenticate = %+v, %v; want %+v", got, err, u)
		}
		// Only the token's hash is stored.
		var stored []byte
		if err := b.pool.QueryRow(ctx, `SELECT token_hash FROM staff_sessions`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored), token) || len(stored) != 32 {
			t.Errorf("stored token hash has %d bytes", len(stored))
		}
		acc, _ := b.svc.GetUserByEmail(ctx, "ops@example.com")
		if acc.LastLoginAt == nil || !acc.LastLoginAt.Equal(b.clock.Now()) {
			t.Errorf("last login = %v, want %v", acc.LastLoginAt, b.clock.Now())
		}
		// A second login is a new session; both live until logged out.
		_, token2, err := b.svc.Login(ctx, "ops@example.com", testPassword, "192.0.2.1")
		if err != nil || token2 == token {
			t.Fatalf("second login: token reused or %v", err)
		}
		if err := b.svc.Logout(ctx, token); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.Authenticate(ctx, token); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("after logout: err = %v, want ErrNoSession", err)
		}
		if _, err := b.svc.Authenticate(ctx, token2); err != nil {
			t.Errorf("other session after logout: %v", err)
		}
	})

	t.Run("ErrBadCredentials", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addUser(t, "ops@example.com", auth.RoleSupport)
		disabled := b.addUser(t, "gone@example.com", auth.RoleSupport)
		if _, err := b.svc.DisableUser(ctx, audit.Actor{Email: "test"}, disabled.ID); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ name, email, password string }{
			{"WrongPassword", "ops@example.com", "wrong password!!"},
			{"UnknownEmail", "nobody@example.com", testPassword},
			{"Disabled", "gone@example.com", testPassword},
		} {
			if _, _, err := b.svc.Login(ctx, tt.email, tt.password, "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
				t.Errorf("%s: err = %v, want ErrBadCredentials", tt.name, err)
			}
		}
	})

	// Issue 12, finding 5: wrong passwords for an email from one address
	// slow that address down, with growing waits, and never the account:
	// the right password from an address that has not failed still works.
	t.Run("ThrottlePerEmailAndAddr", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addUser(t, "ops@example.com", auth.RoleSupport)
		const attacker, owner = "203.0.113.66", "198.51.100.1"
		th := auth.DefaultThrottle
		for i := range th.FreePerPair + 1 {
			if _, _, err := b.svc.Login(ctx, "Ops@example.com", "wrong password!!", attacker); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("attempt %d: err = %v, want ErrBadCredentials", i+1, err)
			}
		}
		var te *auth.ThrottledError
		_, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, attacker)
		if !errors.As(err, &te) || te.Wait != th.BaseDelay {
			t.Fatalf("from the failing address: err = %v, want ThrottledError with wait %v", err, th.BaseDelay)
		}
		// The owner, elsewhere, signs in at once.
		if _, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, owner); err != nil {
			t.Fatalf("right password from another address: %v, want success", err)
		}
		// The owner's success does not reset the attacker's backoff, which
		// doubles with each further failure.
		if _, _, err := b.svc.Login(ctx, "ops@example.com", "wrong password!!", attacker); !errors.As(err, &te) {
			t.Fatalf("attacker after the owner's login: err = %v, want ThrottledError", err)
		}
		b.clock.Add(th.BaseDelay)
		if _, _, err := b.svc.Login(ctx, "ops@example.com", "wrong password!!", attacker); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("after the wait: err = %v, want ErrBadCredentials", err)
		}
		if _, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, attacker); !errors.As(err, &te) || te.Wait != 2*th.BaseDelay {
			t.Fatalf("next wait: err = %v, want ThrottledError with wait %v", err, 2*th.BaseDelay)
		}
		// Other accounts from the failing address are not slowed.
		b.addUser(t, "other@example.com", auth.RoleSupport)
		if _, _, err := b.svc.Login(ctx, "other@example.com", testPassword, attacker); err != nil {
			t.Errorf("other account from the same address: %v", err)
		}
		// After the wait the right password works there too, and clears
		// that address's failures.
		b.clock.Add(2 * th.BaseDelay)
		if _, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, attacker); err != nil {
			t.Fatalf("after the wait: %v", err)
		}
		if _, _, err := b.svc.Login(ctx, "ops@example.com", "wrong password!!", attacker); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
		if _, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, attacker); err != nil {
			t.Errorf("one failure after a success throttles: %v", err)
		}
	})

	t.Run("ThrottlePerAddr", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addUser(t, "ops@example.com", auth.RoleSupport)
		for i := range auth.DefaultThrottle.MaxPerAddr {
			email := "guess" + string(rune('a'+i)) + "@example.com"
			if _, _, err := b.svc.Login(ctx, email, "wrong password!!", "203.0.113.9"); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("attempt %d: err = %v, want ErrBadCredentials", i+1, err)
			}
		}
		var te *auth.ThrottledError
		if _, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, "203.0.113.9"); !errors.As(err, &te) {
			t.Fatalf("from the throttled address: err = %v, want ThrottledError", err)
		}
		if _, _, err := b.svc.Login(ctx, "ops@example.com", testPassword, "203.0.113.10"); err != nil {
			t.Errorf("from another address: %v", err)
		}
	})
}

func TestService_Authenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addUser(t, "ops@example.com", auth.RoleSupport)
		_, token, err := b.svc.Login(ctx, "ops@example.com", testPassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		b.clock.Add(auth.DefaultSessionTTL - time.Second)
		if _, err := b.svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("just before expiry: %v", err)
		}
		b.clock.Add(time.Second)
		if _, err := b.svc.Authenticate(ctx, token); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("at expiry: err = %v, want ErrNoSession", err)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, token := range []string{"", "not-a-token"} {
			if _, err := b.svc.Authenticate(ctx, token); !errors.Is(err, auth.ErrNoSession) {
				t.Errorf("Authenticate(%q) = %v, want ErrNoSession", token, err)
			}
		}
	})

	// last_seen_at is written at most once a minute.
	t.Run("Touch", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addUser(t, "ops@example.com", auth.RoleSupport)
		_, token, err := b.svc.Login(ctx, "ops@example.com", testPassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		start := b.clock.Now()
		lastSeen := func() time.Time {
			var at time.Time
			if err := b.pool.QueryRow(ctx, `SELECT last_seen_at FROM staff_sessions`).Scan(&at); err != nil {
				t.Fatal(err)
			}
			return at
		}
		b.clock.Add(30 * time.Second)
		if _, err := b.svc.Authenticate(ctx, token); err != nil {
			t.Fatal(err)
		}
		if got := lastSeen(); !got.Equal(start) {
			t.Errorf("after 30s: last seen = %v, want unchanged %v", got, start)
		}
		b.clock.Add(30 * time.Second)
		if _, err := b.svc.Authenticate(ctx, token); err != nil {
			t.Fatal(err)
		}
		if got := lastSeen(); !got.Equal(b.clock.Now()) {
			t.Errorf("after 60s: last seen = %v, want %v", got, b.clock.Now())
		}
	})
}

func TestService_DisableUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		admin := b.addUser(t, "boss@example.com", auth.RoleAdmin)
		ops := b.addUser(t, "ops@example.com", auth.RoleSupport)
		_, token, err := b.svc.Login(ctx, "ops@example.com", testPassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		a, err := b.svc.DisableUser(ctx, audit.Actor{ID: admin.ID, Email: admin.Email}, ops.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Disabled {
			t.Error("account not disabled")
		}
		if _, err := b.svc.Authenticate(ctx, token); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("session after disable: err = %v, want ErrNoSession", err)
		}
		var revoked int
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM staff_sessions WHERE revoked_at IS NOT NULL`).Scan(&revoked); err != nil || revoked != 1 {
			t.Errorf("revoked sessions = %d, %v; want 1", revoked, err)
		}
		var actor, detail string
		if err := b.pool.QueryRow(ctx, `SELECT actor_email, detail FROM audit_log WHERE action = $1`, audit.ActionStaffDisable).Scan(&actor, &detail); err != nil {
			t.Fatalf("audit entry: %v", err)
		}
		if actor != admin.Email || !strings.Contains(detail, "ops@example.com") {
			t.Errorf("audit actor, detail = %q, %q", actor, detail)
		}
		if _, err := b.svc.DisableUser(ctx, audit.Actor{ID: admin.ID}, ops.ID); !errors.Is(err, auth.ErrAlreadyDisabled) {
			t.Errorf("again: err = %v, want ErrAlreadyDisabled", err)
		}
	})

	t.Run("ErrDisableSelf", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		admin := b.addUser(t, "boss@example.com", auth.RoleAdmin)
		if _, err := b.svc.DisableUser(ctx, audit.Actor{ID: admin.ID}, admin.ID); !errors.Is(err, auth.ErrDisableSelf) {
			t.Fatalf("err = %v, want ErrDisableSelf", err)
		}
		if a, _ := b.svc.GetUserByEmail(ctx, admin.Email); a.Disabled {
			t.Error("admin disabled themselves")
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.svc.DisableUser(ctx, audit.Actor{ID: 1}, 999); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}
