package cost

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// fakeTotal sums the fake's usd costs of one project over [from, to).
func (b *bundle) fakeTotal(projectID string, from, to time.Time) decimal.Decimal {
	return b.fake.CostTotal(from, to, projectID)["usd"]
}

func reportTotal(rep CompanyReport, from, to time.Time) decimal.Decimal {
	var s decimal.Decimal
	for _, d := range rep.Days {
		if !d.Day.Before(from) && d.Day.Before(to) {
			s = s.Add(d.Total)
		}
	}
	return s
}

// TestAttribution_ChangeClearAndUnattributed: a project handed from one
// company to another keeps its past costs with the first; a cleared
// project's later costs, and a project no company ever held, are
// unattributed; nothing is dropped.
func TestAttribution_ChangeClearAndUnattributed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Settings{HistoryDays: 60, ResyncDays: 3})
	acme := b.addCompany(t, "Acme", "proj_p")
	beta := b.addCompany(t, "Beta", "")
	gamma := b.addCompany(t, "Gamma", "proj_q")
	b.fake.AddSpendProject("proj_orphan")
	b.sync(t)

	nov1, nov10, nov16, end := mustDay("2026-11-01"), mustDay("2026-11-10"), mustDay("2026-11-16"), mustDay("2026-11-21")
	before, err := b.svc.Company(ctx, acme, 30)
	if err != nil {
		t.Fatal(err)
	}
	if want := b.fakeTotal("proj_p", before.From, end); !before.Total.Equal(want) || want.IsZero() {
		t.Fatalf("Acme before the change: %s, want %s", before.Total, want)
	}

	// On Nov 10 at noon the project moves from Acme to Beta (as the
	// dashboard's clear and assign do); Gamma's project is cleared on
	// Nov 15 at 09:00.
	b.exec(t, `UPDATE companies SET openai_project_id = NULL WHERE id = $1`, acme)
	b.exec(t, `UPDATE companies SET openai_project_id = 'proj_p' WHERE id = $1`, beta)
	b.exec(t, `UPDATE companies SET openai_project_id = NULL WHERE id = $1`, gamma)
	b.exec(t, `UPDATE project_assignments SET valid_to = '2026-11-10T12:00:00Z' WHERE company_id = $1`, acme)
	b.exec(t, `UPDATE project_assignments SET valid_from = '2026-11-10T12:00:00Z' WHERE company_id = $1`, beta)
	b.exec(t, `UPDATE project_assignments SET valid_to = '2026-11-15T09:00:00Z' WHERE company_id = $1`, gamma)
	if n := b.count(t, `SELECT count(*) FROM project_assignments`); n != 3 {
		t.Errorf("%d assignment rows, want 3 (Acme closed, Beta open, Gamma closed)", n)
	}
	b.clock.Add(time.Hour)
	b.sync(t)

	rep := func(id int64) CompanyReport {
		r, err := b.svc.Company(ctx, id, 30)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, be, g := rep(acme), rep(beta), rep(gamma)
	from := a.From
	if got, want := a.Total, b.fakeTotal("proj_p", from, nov10); !got.Equal(want) {
		t.Errorf("Acme keeps the days before Nov 10: %s, want %s", got, want)
	}
	if got, want := be.Total, b.fakeTotal("proj_p", nov10, end); !got.Equal(want) {
		t.Errorf("Beta gets Nov 10 on: %s, want %s", got, want)
	}
	if got, want := g.Total, b.fakeTotal("proj_q", from, nov16); !got.Equal(want) {
		t.Errorf("Gamma keeps up to Nov 15: %s, want %s", got, want)
	}
	if !reportTotal(a, nov10, end).IsZero() || !reportTotal(be, from, nov10).IsZero() {
		t.Error("a day counted for both companies")
	}
	if got, want := a.MonthToDate, b.fakeTotal("proj_p", nov1, nov10); !got.Equal(want) {
		t.Errorf("Acme month to date %s, want %s", got, want)
	}
	if len(a.Holdings) != 1 || a.Holdings[0].To == nil || len(be.Holdings) != 1 || be.Holdings[0].To != nil {
		t.Errorf("holdings: Acme %+v, Beta %+v", a.Holdings, be.Holdings)
	}

	// The month's rollup: unattributed = Gamma's project after the clear +
	// the orphan; all parts add up to OpenAI's total for the month.
	o, err := b.svc.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Totals) != 1 {
		t.Fatalf("totals %+v", o.Totals)
	}
	wantUnattr := b.fakeTotal("proj_q", nov16, end).Add(b.fakeTotal("proj_orphan", nov1, end))
	if !o.Totals[0].Unattributed.Equal(wantUnattr) || wantUnattr.IsZero() {
		t.Errorf("unattributed %s, want %s", o.Totals[0].Unattributed, wantUnattr)
	}
	if want := b.fake.CostTotal(nov1, end)["usd"]; !o.Totals[0].Total.Equal(want) {
		t.Errorf("month total %s, want %s", o.Totals[0].Total, want)
	}
	mtd, err := b.svc.MonthToDate(ctx, []int64{acme, beta, gamma})
	if err != nil {
		t.Fatal(err)
	}
	if !mtd[acme].Equal(b.fakeTotal("proj_p", nov1, nov10)) || !mtd[beta].Equal(b.fakeTotal("proj_p", nov10, end)) ||
		!mtd[gamma].Equal(b.fakeTotal("proj_q", nov1, nov16)) {
		t.Errorf("stored month to date %v", mtd)
	}
}
