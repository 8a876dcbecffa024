package company_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/provision"
)

// The seed's two helpers. They reuse manage_test.go's bundle and fixtures.

func TestService_GetCompanyOpenAIProject(t *testing.T) {
	t.Parallel()
	b := newDashBundle(t, dashOpts{})
	linked := seedCompany(t, b.pool, "Acme", "proj_acme1", company.StatusProvisioned)
	none := seedCompany(t, b.pool, "Globex", "", company.StatusPending)
	for _, tt := range []struct {
		name      string
		companyID int64
		want      string
		wantErr   error
	}{
		{"OK", linked, "proj_acme1", nil},
		{"None", none, "", nil},
		{"ErrNotFound", 424242, "", company.ErrNotFound},
	} {
		got, err := b.svc.GetCompanyOpenAIProject(t.Context(), tt.companyID)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: GetCompanyOpenAIProject = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestService_UpdateCompanyOpenAIProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// A primitive: verifying on OpenAI is the caller's business.
	noOpenAI := func(t *testing.T, b *dashBundle) {
		t.Helper()
		if n := len(b.fake.Requests()); n != 0 {
			t.Errorf("OpenAI requests = %d, want 0", n)
		}
	}
	// noChange checks that an update left the company (unless id is 0) and
	// the audit log as they were.
	noChange := func(t *testing.T, b *dashBundle, id int64, wantProjectID string) {
		t.Helper()
		if id != 0 {
			if got := stored(t, b.pool, id).ProjectID; got != wantProjectID {
				t.Errorf("project ID = %q, want %q", got, wantProjectID)
			}
		}
		if rows := auditRows(t, b.pool); len(rows) != 0 {
			t.Errorf("audit rows = %+v, want none", rows)
		}
		noOpenAI(t, b)
	}

	t.Run("OKAudited", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusFailed)

		before, err := b.svc.UpdateCompanyOpenAIProject(ctx, company.ProjectChange{
			CompanyID: id, ProjectID: "proj_acme1", Actor: support, Detail: "linked by the import script",
		})
		if err != nil {
			t.Fatal(err)
		}
		if before != "" {
			t.Errorf("before = %q, want none", before)
		}
		if got := stored(t, b.pool, id); got.ProjectID != "proj_acme1" || got.Status != "provisioned" || got.Error != "" {
			t.Errorf("stored = %+v, want proj_acme1 provisioned without error", got)
		}
		if got, err := b.svc.GetCompanyOpenAIProject(ctx, id); err != nil || got != "proj_acme1" {
			t.Errorf("GetCompanyOpenAIProject = %q, %v; want proj_acme1", got, err)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 {
			t.Fatalf("audit rows = %+v, want 1", rows)
		}
		a := rows[0]
		if a.Action != audit.ActionAssignProjectID || a.ActorEmail != support.Email || a.Before != "" || a.After != "proj_acme1" ||
			a.CompanyName != "Acme" || a.CompanyID == nil || *a.CompanyID != id || a.Detail != "linked by the import script" {
			t.Errorf("audit row = %+v", a)
		}
		noOpenAI(t, b)
	})

	t.Run("ErrProjectLinked", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		holder := seedCompany(t, b.pool, "Globex", "proj_globex1", company.StatusProvisioned)
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)

		_, err := b.svc.UpdateCompanyOpenAIProject(ctx, company.ProjectChange{
			CompanyID: id, ProjectID: "proj_globex1", Actor: admin, Replace: true,
		})
		var linked *company.ErrProjectLinked
		if !errors.As(err, &linked) {
			t.Fatalf("err = %v, want *ErrProjectLinked", err)
		}
		if linked.ProjectID != "proj_globex1" || linked.Company.ID != holder || linked.Company.Name != "Globex" {
			t.Errorf("linked = %+v, want proj_globex1 held by %d Globex", linked, holder)
		}
		noChange(t, b, id, "")
		if got := stored(t, b.pool, holder).ProjectID; got != "proj_globex1" {
			t.Errorf("holder's project ID = %q, want it kept", got)
		}
	})

	t.Run("ChangeWithReplace", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_old1", company.StatusProvisioned)
		before, err := b.svc.UpdateCompanyOpenAIProject(ctx, company.ProjectChange{
			CompanyID: id, ProjectID: "proj_new1", Actor: admin, Replace: true, Detail: "moved",
		})
		if err != nil || before != "proj_old1" {
			t.Fatalf("before, err = %q, %v; want proj_old1", before, err)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 || rows[0].Action != audit.ActionChangeProjectID || rows[0].Before != "proj_old1" ||
			rows[0].After != "proj_new1" || rows[0].ActorEmail != admin.Email {
			t.Errorf("audit rows = %+v, want one change proj_old1 → proj_new1 by %s", rows, admin.Email)
		}
	})

	t.Run("ClearAudited", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_clear1", company.StatusProvisioned)
		before, err := b.svc.UpdateCompanyOpenAIProject(ctx, company.ProjectChange{CompanyID: id, Actor: admin, Replace: true, Detail: "why"})
		if err != nil || before != "proj_clear1" {
			t.Fatalf("before, err = %q, %v; want proj_clear1", before, err)
		}
		if got := stored(t, b.pool, id); got.ProjectID != "" || got.Status != "pending" {
			t.Errorf("stored = %+v, want no ID, pending", got)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 || rows[0].Action != audit.ActionClearProjectID || rows[0].Before != "proj_clear1" ||
			rows[0].After != "" || rows[0].Detail != "why" {
			t.Errorf("audit rows = %+v, want one clear of proj_clear1", rows)
		}
	})

	// Each refusal (and the no-op of setting the same ID) writes nothing.
	t.Run("NothingWritten", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		for i, tt := range []struct {
			name       string
			has        string // the company's project ID
			change     company.ProjectChange
			wantErr    error
			wantBefore string
		}{
			{"ErrHasProjectOnSet", "proj_old1", company.ProjectChange{ProjectID: "proj_new1"}, company.ErrHasProject, ""},
			{"ErrHasProjectOnClear", "proj_old2", company.ProjectChange{}, company.ErrHasProject, ""},
			{"ErrNoProject", "", company.ProjectChange{Replace: true}, company.ErrNoProject, ""},
			{"ErrInvalidProjectID", "", company.ProjectChange{ProjectID: "proj-abc"}, company.ErrInvalidProjectID, ""},
			{"ErrInvalidProjectIDUntrimmed", "", company.ProjectChange{ProjectID: " proj_abc"}, company.ErrInvalidProjectID, ""},
			{"ErrInvalidProjectIDEmptySuffix", "", company.ProjectChange{ProjectID: "proj_"}, company.ErrInvalidProjectID, ""},
			{"ErrNotFound", "", company.ProjectChange{CompanyID: 424242, ProjectID: "proj_abc"}, company.ErrNotFound, ""},
			{"Unchanged", "proj_same1", company.ProjectChange{ProjectID: "proj_same1"}, nil, "proj_same1"},
		} {
			status := company.StatusPending
			if tt.has != "" {
				status = company.StatusProvisioned
			}
			id := seedCompany(t, b.pool, fmt.Sprintf("Acme %d", i), tt.has, status)
			ch := tt.change
			if ch.CompanyID == 0 {
				ch.CompanyID = id
			}
			ch.Actor = support
			before, err := b.svc.UpdateCompanyOpenAIProject(ctx, ch)
			if before != tt.wantBefore || !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: UpdateCompanyOpenAIProject = %q, %v; want %q, %v", tt.name, before, err, tt.wantBefore, tt.wantErr)
			}
			if got := stored(t, b.pool, id).ProjectID; got != tt.has {
				t.Errorf("%s: project ID = %q, want %q", tt.name, got, tt.has)
			}
		}
		noChange(t, b, 0, "")
	})

	t.Run("ErrBusy", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		var err error
		// A provisioning attempt holds the company's lock meanwhile.
		if lerr := b.prov.WithCompanyLock(ctx, id, func() error {
			_, err = b.svc.UpdateCompanyOpenAIProject(ctx, company.ProjectChange{CompanyID: id, ProjectID: "proj_acme1", Actor: admin})
			return nil
		}); lerr != nil {
			t.Fatal(lerr)
		}
		// company's own error, still recognisable as provision's.
		if !errors.Is(err, company.ErrBusy) || !errors.Is(err, provision.ErrCompanyBusy) {
			t.Fatalf("err = %v, want company.ErrBusy wrapping provision.ErrCompanyBusy", err)
		}
		noChange(t, b, id, "")
	})
}
