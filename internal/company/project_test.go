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
	// The project ID each company holds, by company: one has none.
	want := map[int64]string{
		seedCompany(t, b.pool, "Acme", "proj_acme1", company.StatusProvisioned): "proj_acme1",
		seedCompany(t, b.pool, "Globex", "", company.StatusPending):             "",
	}
	for id, wantID := range want {
		if got, err := b.svc.GetCompanyOpenAIProject(t.Context(), id); err != nil || got != wantID {
			t.Errorf("GetCompanyOpenAIProject(%d) = %q, %v; want %q", id, got, err, wantID)
		}
	}
	if _, err := b.svc.GetCompanyOpenAIProject(t.Context(), 424242); !errors.Is(err, company.ErrNotFound) {
		t.Errorf("GetCompanyOpenAIProject(unknown) err = %v, want ErrNotFound", err)
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

	// A case is a change aimed at a new company holding the project ID has.
	type projectCase struct {
		name   string
		has    string
		change company.ProjectChange
	}
	// prepare seeds case i's company and aims the change at it, unless the
	// change names a company of its own.
	prepare := func(t *testing.T, b *dashBundle, i int, c projectCase) (id int64, name string, ch company.ProjectChange) {
		t.Helper()
		name, status := fmt.Sprintf("Acme %d", i), company.StatusFailed
		if c.has != "" {
			status = company.StatusProvisioned
		}
		id, ch = seedCompany(t, b.pool, name, c.has, status), c.change
		if ch.CompanyID == 0 {
			ch.CompanyID = id
		}
		return id, name, ch
	}

	// Each write comes with its audit entry, and only with it.
	t.Run("WritesWithAuditEntry", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		for i, tt := range []struct {
			projectCase
			wantStatus, wantAction string
		}{
			{projectCase{"Assign", "", company.ProjectChange{ProjectID: "proj_new1", Actor: support, Detail: "linked by the import script"}},
				"provisioned", audit.ActionAssignProjectID},
			{projectCase{"ChangeWithReplace", "proj_old1", company.ProjectChange{ProjectID: "proj_new2", Actor: admin, Replace: true, Detail: "moved"}},
				"provisioned", audit.ActionChangeProjectID},
			{projectCase{"ClearWithReplace", "proj_old2", company.ProjectChange{Actor: admin, Replace: true, Detail: "why"}},
				"pending", audit.ActionClearProjectID},
		} {
			id, name, ch := prepare(t, b, i, tt.projectCase)
			before, err := b.svc.UpdateCompanyOpenAIProject(ctx, ch)
			if err != nil || before != tt.has {
				t.Fatalf("%s: UpdateCompanyOpenAIProject = %q, %v; want %q", tt.name, before, err, tt.has)
			}
			if got := stored(t, b.pool, id); got.ProjectID != ch.ProjectID || got.Status != tt.wantStatus || got.Error != "" {
				t.Errorf("%s: stored = %+v, want %q %s without error", tt.name, got, ch.ProjectID, tt.wantStatus)
			}
			if got, err := b.svc.GetCompanyOpenAIProject(ctx, id); err != nil || got != ch.ProjectID {
				t.Errorf("%s: GetCompanyOpenAIProject = %q, %v; want %q", tt.name, got, err, ch.ProjectID)
			}
			rows := auditRows(t, b.pool)
			if len(rows) != i+1 {
				t.Fatalf("%s: audit rows = %+v, want %d", tt.name, rows, i+1)
			}
			if a := rows[i]; a.Action != tt.wantAction || a.ActorEmail != ch.Actor.Email || a.Before != tt.has || a.After != ch.ProjectID ||
				a.CompanyName != name || a.CompanyID == nil || *a.CompanyID != id || a.Detail != ch.Detail {
				t.Errorf("%s: audit row = %+v", tt.name, a)
			}
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

	// Each refusal (and the no-op of setting the same ID) writes nothing.
	t.Run("NothingWritten", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		for i, tt := range []struct {
			projectCase
			wantErr    error
			wantBefore string
		}{
			{projectCase{"ErrHasProjectOnSet", "proj_old1", company.ProjectChange{ProjectID: "proj_new1"}}, company.ErrHasProject, ""},
			{projectCase{"ErrHasProjectOnClear", "proj_old2", company.ProjectChange{}}, company.ErrHasProject, ""},
			{projectCase{"ErrNoProject", "", company.ProjectChange{Replace: true}}, company.ErrNoProject, ""},
			{projectCase{"ErrInvalidProjectID", "", company.ProjectChange{ProjectID: "proj-abc"}}, company.ErrInvalidProjectID, ""},
			{projectCase{"ErrInvalidProjectIDUntrimmed", "", company.ProjectChange{ProjectID: " proj_abc"}}, company.ErrInvalidProjectID, ""},
			{projectCase{"ErrInvalidProjectIDEmptySuffix", "", company.ProjectChange{ProjectID: "proj_"}}, company.ErrInvalidProjectID, ""},
			{projectCase{"ErrNotFound", "", company.ProjectChange{CompanyID: 424242, ProjectID: "proj_abc"}}, company.ErrNotFound, ""},
			{projectCase{"Unchanged", "proj_same1", company.ProjectChange{ProjectID: "proj_same1"}}, nil, "proj_same1"},
		} {
			id, _, ch := prepare(t, b, i, tt.projectCase)
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
