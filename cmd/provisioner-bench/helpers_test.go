package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestSQLConstants(t *testing.T) {
	t.Parallel()
	// The list scenario explains these statements: a rename in sqlc's
	// output must fail here rather than halfway through a benchmark.
	got, err := sqlConstants("../../" + dashboardSQL)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"listCompaniesNewest", "companyTotals"} {
		if !strings.Contains(got[name], "SELECT") {
			t.Errorf("%s = %q, want a SELECT statement", name, got[name])
		}
	}
	params := map[string]bool{}
	for _, p := range regexp.MustCompile(`\$\d+`).FindAllString(got["listCompaniesNewest"], -1) {
		params[p] = true
	}
	if len(params) != 9 {
		t.Errorf("listCompaniesNewest has %d parameters, the bench passes 9", len(params))
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	walk := plan{Text: `Limit  (cost=0.42..721.11 rows=51 width=297) (actual time=12.179..74.124 rows=51 loops=1)
  Buffers: shared hit=5023 read=2892
  ->  Index Scan Backward using companies_created_idx on companies  (cost=0.42..142766.46 rows=10103 width=297) (actual time=12.178..74.114 rows=51 loops=1)
        Filter: (lower(name) ~~ '%le plasti%'::text)
        Rows Removed by Filter: 107631
Planning Time: 0.107 ms
Execution Time: 74.146 ms`}
	want := "Limit  (actual time=12.179..74.124 rows=51 loops=1) → Index Scan Backward using companies_created_idx on companies  (actual time=12.178..74.114 rows=51 loops=1) → Rows Removed by Filter: 107631 → Execution Time: 74.146 ms"
	if got := walk.excerpt(); got != want {
		t.Errorf("excerpt() = %q, want %q", got, want)
	}
	if walk.seqScan() {
		t.Error("seqScan() = true for an index scan")
	}
	if got := walk.execMS(); got != 74.146 {
		t.Errorf("execMS() = %v, want 74.146", got)
	}
	for text, want := range map[string]bool{
		"->  Seq Scan on companies  (cost=0.00..1.16 rows=16 width=24)": true,
		"->  Parallel Seq Scan on companies c  (cost=0.00..1.16)":       true,
		"->  Seq Scan on company_counts  (cost=0.00..1.16 rows=16)":     false,
	} {
		if got := (plan{Text: text}).seqScan(); got != want {
			t.Errorf("seqScan(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestSearchFragments(t *testing.T) {
	t.Parallel()
	names := make([]string, 2000)
	for i := range names {
		names[i] = companyName(i)
	}
	all := strings.Join(names, "\n")
	for _, f := range searchFragments(len(names), 50) {
		if len(f) < 4 || strings.TrimSpace(f) != f {
			t.Errorf("fragment %q: want 4 characters or more, no space at either end", f)
		}
		if !strings.Contains("\n"+all, "\n"+f) && !strings.Contains(all, " "+f) {
			t.Errorf("fragment %q does not start a word of any name", f)
		}
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 10_000: "10,000", 1_000_000: "1,000,000"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got, want := compactTimeline([]string{"50", "100", "100", "100", "18", "55"}), "50, 100 ×3, 18, 55"; got != want {
		t.Errorf("compactTimeline = %q, want %q", got, want)
	}
}
