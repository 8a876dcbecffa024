package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
)

// Issue 12, finding 7: the last active admin cannot be disabled, also
// when two admins disable each other at the same moment.
func TestService_DisableLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Sequential", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		admin := b.addUser(t, "admin@example.com", auth.RoleAdmin)
		b.addUser(t, "support@example.com", auth.RoleSupport)
		if _, err := b.svc.DisableUser(ctx, audit.Actor{Email: "cli"}, admin.ID); !errors.Is(err, auth.ErrLastAdmin) {
			t.Fatalf("disable the only admin: err = %v, want ErrLastAdmin", err)
		}
		if acc, _ := b.svc.GetUserByEmail(ctx, "admin@example.com"); acc.Disabled {
			t.Fatal("the last admin was disabled")
		}
	})

	t.Run("EachOtherAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.addUser(t, "a@example.com", auth.RoleAdmin)
		c := b.addUser(t, "b@example.com", auth.RoleAdmin)
		// A race: several rounds on one database, both admins active again
		// before each, so that an unserialised disable would be caught.
		for range 20 {
			if _, err := b.pool.Exec(ctx, `UPDATE staff_users SET disabled = false`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i, pair := range [][2]auth.Account{{a, c}, {c, a}} {
				wg.Go(func() {
					<-start
					_, errs[i] = b.svc.DisableUser(ctx, audit.Actor{ID: pair[0].ID, Email: pair[0].Email}, pair[1].ID)
				})
			}
			close(start)
			wg.Wait()
			ok, last := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, auth.ErrLastAdmin):
					last++
				default:
					t.Fatalf("disable: %v", err)
				}
			}
			if ok != 1 || last != 1 {
				t.Fatalf("mutual disable: %d succeeded, %d refused as last admin; want 1 and 1", ok, last)
			}
			var active int
			if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM staff_users WHERE role = 'admin' AND NOT disabled`).Scan(&active); err != nil {
				t.Fatal(err)
			}
			if active != 1 {
				t.Fatalf("%d active admins left, want 1", active)
			}
		}
	})
}
