package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/testclock"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// newCostApp is the web app with costs, on a fake whose clock is the
// test's; companies hold projects proj_web0… and an orphan project spends.
func newCostApp(t *testing.T, companies int, markup string) (*testApp, []int64) {
	t.Helper()
	// The cost tests' fixed "now": 2026-11-20 12:00 UTC.
	clock := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	a := newTestApp(t, appOptions{costs: &cost.Settings{HistoryDays: 60, ResyncDays: 3, MarkupPercent: markup, Now: clock.Now}})
	a.fake.SetNow(clock.Now)
	var ids []int64
	for i := range companies {
		pid := fmt.Sprintf("proj_web%d", i)
		a.fake.AddProjectWithID(pid, fmt.Sprint("Web ", i))
		var id int64
		err := a.pool.QueryRow(context.Background(), `
			INSERT INTO companies (name, industry, contact_name, contact_email, openai_project_id, provisioning_status)
			VALUES ($1, 'Software', 'Ann', 'ann@example.com', $2, 'provisioned') RETURNING id`, fmt.Sprint("Web ", i), pid).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.pool.Exec(context.Background(), `UPDATE project_assignments SET valid_from = '2020-01-01' WHERE company_id = $1`, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	a.fake.AddSpendProject("proj_orphan")
	if _, err := a.costs.Sync(context.Background(), cost.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	return a, ids
}

func (a *testApp) fakeUSD(from, to time.Time, projects ...string) decimal.Decimal {
	return a.fake.CostTotal(from, to, projects...)["usd"]
}

func usd(d decimal.Decimal) string {
	s := d.StringFixedBank(2)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return "$" + b.String() + "." + frac
}

// TestCosts_CompanyPageChart: the company page carries the cost chart as
// SVG with its table (30 or 90 days), tokens by model, month to date and
// last month, from the synced figures.
func TestCosts_CompanyPageChart(t *testing.T) {
	t.Parallel()
	a, ids := newCostApp(t, 2, "0")
	// A line item and a currency never seen before are shown as given.
	a.fake.SetCost("proj_web0", day("2026-11-19"), "quantum widgets", "xts", "1.25")
	if _, err := a.costs.Sync(context.Background(), cost.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	a.loginAs(auth.RoleSupport)
	resp, doc := a.get(fmt.Sprintf("/admin/companies/%d", ids[0]))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	svg := doc.Find(`[data-testid="cost-chart-svg"]`)
	if svg.Length() != 1 || svg.Find("rect").Length() < 30 || svg.Find("title").Length() == 0 {
		t.Fatalf("no cost chart SVG with bars: %d svg, %d rects", svg.Length(), svg.Find("rect").Length())
	}
	if n := doc.Find(`[data-testid="cost-chart-table"] tbody tr`).Length(); n != 30 {
		t.Errorf("chart table has %d days, want 30", n)
	}
	if doc.Find(`[data-testid="token-chart-svg"] rect`).Length() == 0 || doc.Find(`[data-testid="model-usage"] tbody tr`).Length() == 0 {
		t.Error("no tokens by model")
	}
	mtd := a.fakeUSD(day("2026-11-01"), day("2026-11-21"), "proj_web0")
	if got := strings.TrimSpace(doc.Find(`[data-testid="cost-mtd"]`).Text()); got != usd(mtd) {
		t.Errorf("month to date %q, want %q", got, usd(mtd))
	}
	last := a.fakeUSD(day("2026-10-01"), day("2026-11-01"), "proj_web0")
	if got := strings.TrimSpace(doc.Find(`[data-testid="cost-last-month"]`).Text()); got != usd(last) {
		t.Errorf("last month %q, want %q", got, usd(last))
	}
	if !strings.Contains(doc.Find(`[data-testid="cost-chart-legend"]`).Text(), "quantum widgets [XTS]") {
		t.Error("the unknown line item and currency are not shown")
	}
	// Support staff see the markup but may not change it.
	if _, ok := doc.Find("#markup").Attr("disabled"); !ok {
		t.Error("support staff may edit the markup")
	}
	_, doc = a.get(fmt.Sprintf("/admin/companies/%d?days=90", ids[0]))
	if n := doc.Find(`[data-testid="cost-chart-table"] tbody tr`).Length(); n != 90 {
		t.Errorf("90-day chart table has %d days", n)
	}
}

// TestCosts_ListColumnSortAndTotals: the list shows each company's month
// to date, sorts by it (highest first, keyset pages), and the summary
// shows the organization's month total and its unattributed part.
func TestCosts_ListColumnSortAndTotals(t *testing.T) {
	t.Parallel()
	a, ids := newCostApp(t, 4, "0")
	a.loginAs(auth.RoleSupport)
	from, to := day("2026-11-01"), day("2026-11-21")
	_, doc := a.get("/admin/companies?sort=cost")
	var got []string
	rows := doc.Find(`[data-testid="company-row"]`)
	prev := decimal.NewFromInt(1 << 40)
	for i := range rows.Length() {
		r := rows.Eq(i)
		id, _ := r.Attr("data-id")
		got = append(got, id)
		var pid string
		for j, cid := range ids {
			if fmt.Sprint(cid) == id {
				pid = fmt.Sprintf("proj_web%d", j)
			}
		}
		want := a.fakeUSD(from, to, pid)
		if txt := strings.TrimSpace(r.Find(`[data-testid="company-mtd"]`).Text()); txt != usd(want) {
			t.Errorf("company %s: column %q, want %q", id, txt, usd(want))
		}
		if want.GreaterThan(prev) {
			t.Errorf("not sorted by cost: %v", got)
		}
		prev = want
	}
	if len(got) != 4 {
		t.Fatalf("%d rows, want 4", len(got))
	}
	total := a.fakeUSD(from, to)
	if txt := strings.TrimSpace(doc.Find(`[data-testid="org-total"]`).Text()); txt != usd(total) {
		t.Errorf("org total %q, want %q", txt, usd(total))
	}
	unattr := a.fakeUSD(from, to, "proj_orphan")
	if txt := strings.TrimSpace(doc.Find(`[data-testid="org-unattributed"]`).Text()); txt != usd(unattr) || unattr.IsZero() {
		t.Errorf("unattributed %q, want %q", txt, usd(unattr))
	}
	if href, _ := doc.Find(`[data-testid="top-spenders"]`).Attr("href"); href != "/admin/companies?sort=cost" {
		t.Errorf("top spenders link %q", href)
	}
	// The home page shows the same month total and unattributed part.
	_, home := a.get("/admin")
	if txt := strings.TrimSpace(home.Find(`[data-testid="org-total"]`).Text()); txt != usd(total) {
		t.Errorf("home page org total %q, want %q", txt, usd(total))
	}
	if txt := strings.TrimSpace(home.Find(`[data-testid="org-unattributed"]`).Text()); txt != usd(unattr) {
		t.Errorf("home page unattributed %q, want %q", txt, usd(unattr))
	}
	// Pages of 2 by keyset: /admin/companies?sort=cost pages through the
	// service's List; check the cursor round trip through the handler.
	if resp, _ := a.get("/admin/companies?sort=cost&after=garbage"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("damaged cursor: %d", resp.StatusCode)
	}
}

// statementCSV fetches and parses a statement CSV.
func statementCSV(t *testing.T, a *testApp, path string) (int, [][]string, string) {
	t.Helper()
	resp, err := a.client.Get(a.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	return resp.StatusCode, recs, string(body)
}

// TestCosts_StatementWithMarkupOverride: the month's CSV (dashboard)
// equals OpenAI's amounts to the cent, with the default markup and an
// admin's audited override; support staff cannot set a markup; a bad
// value re-renders with its error.
func TestCosts_StatementWithMarkupOverride(t *testing.T) {
	t.Parallel()
	a, ids := newCostApp(t, 3, "10")
	a.loginAs(auth.RoleAdmin)
	page := fmt.Sprintf("/admin/companies/%d", ids[1])
	token, _ := a.csrf(page)
	resp, doc := a.post(page+"/markup", url.Values{"csrf": {token}, "markup": {"abc"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="markup-error"]`).Text(), "not a percentage") {
		t.Fatalf("bad markup: %d %q", resp.StatusCode, doc.Find(`[data-testid="markup-error"]`).Text())
	}
	if v, _ := doc.Find("#markup").Attr("value"); v != "abc" {
		t.Errorf("the form lost the typed value: %q", v)
	}
	token, _ = a.csrf(page)
	if resp, _ := a.post(page+"/markup", url.Values{"csrf": {token}, "markup": {"25"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set markup: %d", resp.StatusCode)
	}
	var audits int
	a.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1 AND company_id = $2`, cost.ActionMarkupSet, ids[1]).Scan(&audits)
	if audits != 1 {
		t.Errorf("%d audit entries", audits)
	}
	support := a.newClient()
	support.loginAs(auth.RoleSupport)
	token, _ = support.csrf(page)
	if resp, _ := support.post(page+"/markup", url.Values{"csrf": {token}, "markup": {"0"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support set a markup: %d", resp.StatusCode)
	}

	code, recs, body := statementCSV(t, a, "/admin/costs/statement.csv?month=2026-11")
	if code != http.StatusOK {
		t.Fatalf("CSV: %d %s", code, body)
	}
	checkStatement(t, a, recs, ids, map[int64]string{ids[1]: "25"}, "10")

	// The page shows the same grand total.
	_, doc = a.get("/admin/costs?month=2026-11")
	want := a.fakeUSD(day("2026-11-01"), day("2026-12-01"))
	if got := strings.TrimSpace(doc.Find(`[data-testid="statement-grand-total"]`).Text()); got != want.String() {
		t.Errorf("page grand total %q, want %s", got, want)
	}
	if doc.Find(`[data-testid="sync-run"]`).Length() != 1 {
		t.Error("the sync run is not listed")
	}
}

// checkStatement checks CSV rows against the fake: totals sum exactly to
// OpenAI's amounts, billable = total × (1 + markup) rounded half to even.
func checkStatement(t *testing.T, a *testApp, recs [][]string, ids []int64, override map[int64]string, def string) {
	t.Helper()
	head := recs[0]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	var sum decimal.Decimal
	seen := 0
	for _, r := range recs[1:] {
		if r[col["company"]] == "TOTAL" {
			if got := decimal.RequireFromString(r[col["total"]]); !got.Equal(sum) {
				t.Errorf("TOTAL %s, rows sum to %s", got, sum)
			}
			continue
		}
		tot := decimal.RequireFromString(r[col["total"]])
		sum = sum.Add(tot)
		if r[col["company"]] == "(unattributed)" {
			continue
		}
		seen++
		pct := def
		for id, p := range override {
			if r[col["company_id"]] == fmt.Sprint(id) {
				pct = p
			}
		}
		want := tot.Add(tot.Mul(decimal.RequireFromString(pct)).Div(decimal.NewFromInt(100))).RoundBank(2).StringFixed(2)
		if r[col["billable"]] != want || r[col["markup_percent"]] != pct {
			t.Errorf("company %s: billable %s at %s%%, want %s at %s%%", r[col["company_id"]], r[col["billable"]], r[col["markup_percent"]], want, pct)
		}
	}
	if want := a.fakeUSD(day("2026-11-01"), day("2026-12-01")); !sum.Equal(want) || want.IsZero() {
		t.Errorf("statement sums to %s, OpenAI's amounts to %s", sum, want)
	}
	if seen != len(ids) {
		t.Errorf("%d company rows, want %d", seen, len(ids))
	}
}

// TestCosts_BadMonths: every bad month answers 400 with its reason, on
// the page and for the CSV.
func TestCosts_BadMonths(t *testing.T) {
	t.Parallel()
	a, _ := newCostApp(t, 1, "0")
	a.loginAs(auth.RoleSupport)
	for _, tt := range []struct{ month, want string }{
		{"", "YYYY-MM"},
		{"2026-13", "not a month"},
		{"11-2026", "not a month"},
		{"2026-12", "future"},
		{"2026-08", "before the synced history"},
	} {
		code, _, body := statementCSV(t, a, "/admin/costs/statement.csv?month="+url.QueryEscape(tt.month))
		if code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("CSV month=%q: %d %q, want 400 about %q", tt.month, code, body, tt.want)
		}
		if tt.month == "" {
			continue // the page shows the latest month when none is given
		}
		resp, doc := a.get("/admin/costs?month=" + url.QueryEscape(tt.month))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find(`[data-testid="month-error"]`).Text(), tt.want) {
			t.Errorf("page month=%q: %d %q", tt.month, resp.StatusCode, doc.Find(`[data-testid="month-error"]`).Text())
		}
	}
	if resp, _ := a.get("/admin/costs"); resp.StatusCode != http.StatusOK {
		t.Errorf("costs page without a month: %d", resp.StatusCode)
	}
}

// TestCosts_SyncStatusAndErrors: /admin/costs lists the runs with their
// duration and errors; a failed sync's reason shows above the list too;
// admins get "Sync now", support staff do not.
func TestCosts_SyncStatusAndErrors(t *testing.T) {
	t.Parallel()
	a, _ := newCostApp(t, 1, "0")
	a.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCosts, Status: 500})
	if _, err := a.costs.Sync(context.Background(), cost.SyncOptions{Since: func() *time.Time { d := day("2026-11-01"); return &d }()}); err == nil {
		t.Fatal("the failing sync did not fail")
	}
	a.loginAs(auth.RoleSupport)
	_, doc := a.get("/admin/costs")
	if n := doc.Find(`[data-testid="sync-run"]`).Length(); n != 2 {
		t.Errorf("%d runs listed, want 2", n)
	}
	if txt := doc.Find(`[data-testid="sync-error"]`).First().Text(); !strings.Contains(txt, "server error (500)") {
		t.Errorf("newest run's error %q", txt)
	}
	if !strings.Contains(doc.Find(`[data-testid="cost-summary"]`).Text(), "Last sync failed") {
		t.Error("the summary does not say the last sync failed")
	}
	if doc.Find("#sync-now").Length() != 0 {
		t.Error("support staff see Sync now")
	}
	admin := a.newClient()
	admin.loginAs(auth.RoleAdmin)
	if _, adoc := admin.get("/admin/costs"); adoc.Find("#sync-now").Length() != 1 {
		t.Error("admins do not see Sync now")
	}
	_, doc = a.get("/admin/companies")
	if !strings.Contains(doc.Find(`[data-testid="cost-summary"]`).Text(), "Last sync failed") {
		t.Error("the company list does not say the last sync failed")
	}
}

// TestCosts_SyncNowButton: an admin's "Sync now" queues one sync (the job's
// insert itself is internal/cost's test) and says so; support staff and a
// form without its CSRF token are refused and queue nothing.
func TestCosts_SyncNowButton(t *testing.T) {
	t.Parallel()
	a, _ := newCostApp(t, 1, "0")
	var queued []cost.SyncArgs
	a.costs.SetEnqueue(func(_ context.Context, args cost.SyncArgs) error {
		queued = append(queued, args)
		return nil
	})

	support := a.newClient()
	support.loginAs(auth.RoleSupport)
	token, _ := support.csrf("/admin/costs")
	if resp, _ := support.post("/admin/costs/sync", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support's Sync now: %d, want 403", resp.StatusCode)
	}

	a.loginAs(auth.RoleAdmin)
	if resp, _ := a.post("/admin/costs/sync", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("Sync now without its CSRF token: %d, want 403", resp.StatusCode)
	}
	if len(queued) != 0 {
		t.Fatalf("%d syncs queued by refused requests, want 0", len(queued))
	}
	token, _ = a.csrf("/admin/costs")
	resp, _ := a.post("/admin/costs/sync", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/costs" {
		t.Fatalf("admin's Sync now: %d to %q, want 303 to /admin/costs", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(queued) != 1 || queued[0].Trigger != cost.TriggerDashboard {
		t.Errorf("queued %+v, want one sync triggered from the dashboard", queued)
	}
	_, doc := a.get("/admin/costs")
	if msg := doc.Find(`[role="status"], .flash, [data-testid="flash"]`).Text(); !strings.Contains(msg, "Sync queued") {
		t.Errorf("after Sync now the page says %q, want the queued notice", strings.TrimSpace(msg))
	}
}
