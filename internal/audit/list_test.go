package audit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/db/dbtest"
)

func TestList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)

	companyID := dbtest.InsertCompany(t, pool, dbtest.CompanyOpts{Name: "Acme_Labs", ContactName: "Ada", ContactEmail: "ada@example.com"})
	// Entries written the way the changes write them, in a transaction.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		if err := audit.Record(ctx, q, audit.Entry{
			Actor: audit.Actor{ID: 7, Email: "Sam@Support.test"}, Action: audit.ActionAssignProjectID,
			CompanyID: companyID, CompanyName: "Acme_Labs", After: "proj_a1", Detail: "verified",
		}); err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: audit.Actor{Email: "cli"}, Action: audit.ActionBackfillStart, Detail: "200 companies",
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// 45 older entries, three at each instant, so that the id breaks ties.
	_, err = pool.Exec(ctx, `
		INSERT INTO audit_log (at, actor_email, action, company_name, before, after, detail)
		SELECT timestamptz '2025-01-01 00:00:00+00' + (i / 3) * interval '1 second', 'ada@admin.test',
		       'project_id.change', 'Globex', 'proj_old' || i, 'proj_new' || i, 'entry ' || i
		FROM generate_series(1, 45) AS i`)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("NewestFirstEveryPage", func(t *testing.T) {
		t.Parallel()
		var details []string
		p := audit.ListParams{Limit: 10}
		for pages := 0; ; pages++ {
			page, err := audit.List(ctx, pool, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entries {
				details = append(details, e.Detail)
			}
			if page.Next == "" {
				break
			}
			if len(page.Entries) != 10 || pages > 10 {
				t.Fatalf("page %d has %d entries", pages, len(page.Entries))
			}
			p.After = page.Next
		}
		want := []string{"200 companies", "verified"}
		for i := 45; i >= 1; i-- {
			want = append(want, fmt.Sprintf("entry %d", i))
		}
		if !slices.Equal(details, want) {
			t.Errorf("entries = %v\nwant %v", details, want)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			p    audit.ListParams
			want int
		}{
			{audit.ListParams{Action: audit.ActionAssignProjectID}, 1},
			{audit.ListParams{Action: "project_id.change"}, 45},
			{audit.ListParams{Actor: "SUPPORT"}, 1},
			{audit.ListParams{Actor: "%"}, 0}, // LIKE wildcards are literal
			{audit.ListParams{Company: "acme_"}, 1},
			{audit.ListParams{Company: "e_L"}, 1},
			{audit.ListParams{Company: "globex", Action: audit.ActionAssignProjectID}, 0},
		} {
			page, err := audit.List(ctx, pool, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(page.Entries); got != tt.want {
				t.Errorf("List(%+v) = %d entries, want %d", tt.p, got, tt.want)
			}
		}
		page, err := audit.List(ctx, pool, audit.ListParams{Action: audit.ActionAssignProjectID})
		if err != nil {
			t.Fatal(err)
		}
		e := page.Entries[0]
		if e.Actor.ID != 7 || e.Actor.Email != "Sam@Support.test" || e.CompanyID != companyID || e.Before != "" || e.After != "proj_a1" {
			t.Errorf("entry = %+v", e)
		}
	})

	t.Run("ErrInvalidCursor", func(t *testing.T) {
		t.Parallel()
		for _, c := range []string{"garbage!", "e30"} { // "e30" is {} in base64
			if _, err := audit.List(ctx, pool, audit.ListParams{After: c}); !errors.Is(err, audit.ErrInvalidCursor) {
				t.Errorf("List(After: %q) err = %v, want ErrInvalidCursor", c, err)
			}
		}
	})
}

func TestActionLabel(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, a := range audit.Actions {
		label := audit.ActionLabel(a)
		if label == a || label == "" || seen[label] {
			t.Errorf("ActionLabel(%q) = %q, want a distinct human label", a, label)
		}
		seen[label] = true
	}
	if got := audit.ActionLabel("something.new"); got != "something.new" {
		t.Errorf("unknown action label = %q, want the action itself", got)
	}
}
