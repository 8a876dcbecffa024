package cost

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/audit"
)

// TestStatement_CSVEqualsOpenAIToTheCent: the month's CSV statement sums
// to OpenAI's amounts exactly; markup (default and a company's override)
// is applied, billable rounded half to even; unattributed rows are there.
func TestStatement_CSVEqualsOpenAIToTheCent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Settings{HistoryDays: 60, MarkupPercent: "10"})
	b.svc.statementBatch = 4 // several batches, companies cut across them
	var ids []int64
	for i := range 5 {
		ids = append(ids, b.addCompany(t, fmt.Sprintf("Co %d", i), fmt.Sprintf("proj_s%d", i)))
	}
	evil := b.addCompany(t, "=HYPERLINK(evil)", "proj_evil")
	b.fake.AddSpendProject("proj_orphan")
	b.fake.SetCost("proj_s0", mustDay("2026-11-03"), "odd item", "usd", "0.005") // half a cent
	admin := audit.Actor{ID: 1, Email: "admin@example.com"}
	if err := b.svc.SetMarkup(ctx, admin, ids[1], "12.5"); err != nil {
		t.Fatal(err)
	}
	var me *MarkupError
	if err := b.svc.SetMarkup(ctx, admin, ids[2], "-3"); !errors.As(err, &me) {
		t.Errorf("negative markup: %v", err)
	}
	if err := b.svc.SetMarkup(ctx, admin, 999999, "5"); !errors.Is(err, ErrCompanyNotFound) {
		t.Errorf("unknown company: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND company_id = $2 AND after = '12.5%'`, ActionMarkupSet, ids[1]); n != 1 {
		t.Errorf("%d audit entries for the override, want 1", n)
	}
	b.sync(t)

	month, err := b.svc.ParseMonth(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.svc.WriteStatementCSV(ctx, &buf, month); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	col := func(name string) int {
		for i, h := range head {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %q in %v", name, head)
		return -1
	}
	total, billable, company, cid := col("total"), col("billable"), col("company"), col("company_id")
	var sum, billSum decimal.Decimal
	rows, unattributed := 0, 0
	for _, r := range recs[1:] {
		if r[company] == "TOTAL" {
			if got := decimal.RequireFromString(r[total]); !got.Equal(sum) {
				t.Errorf("TOTAL row %s, rows sum to %s", got, sum)
			}
			if got := decimal.RequireFromString(r[billable]); !got.Equal(billSum) {
				t.Errorf("TOTAL billable %s, rows sum to %s", got, billSum)
			}
			continue
		}
		rows++
		tot := decimal.RequireFromString(r[total])
		sum = sum.Add(tot)
		if r[company] == "(unattributed)" {
			unattributed++
			if r[billable] != "" {
				t.Errorf("unattributed row billed: %v", r)
			}
			continue
		}
		pct := decimal.NewFromInt(10)
		if r[cid] == fmt.Sprint(ids[1]) {
			pct = decimal.RequireFromString("12.5")
		}
		want := tot.Add(tot.Mul(pct).Div(decimal.NewFromInt(100))).RoundBank(2)
		if got := decimal.RequireFromString(r[billable]); !got.Equal(want) || len(strings.Split(r[billable], ".")[1]) != 2 {
			t.Errorf("company %s: billable %s, want %s", r[cid], r[billable], want)
		}
		billSum = billSum.Add(want)
		if r[cid] == fmt.Sprint(evil) && !strings.HasPrefix(r[company], "'=") {
			t.Errorf("a formula-like name went out as is: %q", r[company])
		}
	}
	want := b.fake.CostTotal(month, mustDay("2026-12-01"))["usd"]
	if !sum.Equal(want) || want.IsZero() {
		t.Errorf("statement sums to %s, OpenAI's amounts to %s", sum, want)
	}
	if rows != 7 || unattributed != 1 {
		t.Errorf("%d rows (%d unattributed), want 7 (1)", rows, unattributed)
	}
	// Half-even at the cent: 0.005 → 0.00, 0.015 → 0.02.
	if got := decimal.RequireFromString("0.005").RoundBank(2).String(); got != "0" {
		t.Errorf("RoundBank(0.005) = %s", got)
	}
}

// TestParseMonth_BadMonths: every kind of bad month is refused with a
// message; a good one passes.
func TestParseMonth_BadMonths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Settings{HistoryDays: 60})
	var me *MonthError
	if _, err := b.svc.ParseMonth(ctx, "2026-11"); !errors.As(err, &me) || !strings.Contains(me.Msg, "synced") {
		t.Errorf("before any sync: %v", err)
	}
	b.addCompany(t, "Acme", "proj_acme")
	b.sync(t) // from 2026-09-21
	for _, tt := range []struct{ in, want string }{
		{"", "YYYY-MM"},
		{"2026-13", "not a month"},
		{"2026-1", "not a month"},
		{"nov", "not a month"},
		{"2026-11-01", "not a month"},
		{"2026-12", "future"},
		{"2031-01", "future"},
		{"2026-08", "before the synced history"},
		{"1999-01", "before the synced history"},
	} {
		_, err := b.svc.ParseMonth(ctx, tt.in)
		if !errors.As(err, &me) || !strings.Contains(me.Msg, tt.want) {
			t.Errorf("ParseMonth(%q) = %v, want a MonthError about %q", tt.in, err, tt.want)
		}
	}
	for _, ok := range []string{"2026-09", "2026-10", "2026-11"} {
		if _, err := b.svc.ParseMonth(ctx, ok); err != nil {
			t.Errorf("ParseMonth(%q): %v", ok, err)
		}
	}
}
