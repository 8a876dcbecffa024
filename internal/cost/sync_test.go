package cost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

func startTimes(fake *openaitest.Server, endpoint string) []string {
	var out []string
	for _, r := range fake.Requests() {
		if r.Endpoint == endpoint {
			out = append(out, r.Query.Get("start_time"))
		}
	}
	return out
}

func unix(d time.Time) string { return strconv.FormatInt(d.Unix(), 10) }

// TestSync_FirstThenIncremental: the first sync reads COST_HISTORY_DAYS up
// to today, every page of it; the next starts at the last synced day minus
// COST_RESYNC_DAYS. What is stored equals the fake's figures exactly.
func TestSync_FirstThenIncremental(t *testing.T) {
	t.Parallel()
	b := setup(t, Settings{HistoryDays: 40, ResyncDays: 3, CostPageBuckets: 7, UsagePageBuckets: 5})
	for i := range 4 {
		b.addCompany(t, fmt.Sprint("Co ", i), fmt.Sprintf("proj_co%d", i))
	}
	b.fake.SetResultsPerPage(25) // 4 projects × ≤3 items a day: buckets split across pages
	today := mustDay("2026-11-20")
	r := b.sync(t)
	if !r.From.Equal(today.AddDate(0, 0, -40)) || !r.To.Equal(today.AddDate(0, 0, 1)) || r.Status != "finished" {
		t.Fatalf("first run = %+v", r)
	}
	want := b.fake.CostTotal(r.From, r.To)["usd"]
	if got := b.storedTotal(t, r.From, r.To); !got.Equal(want) || want.IsZero() {
		t.Errorf("stored %s, the fake's total is %s", got, want)
	}
	if n, want := b.count(t, `SELECT count(*) FROM cost_daily`), len(b.fake.CostItems(r.From, r.To)); n != int64(want) {
		t.Errorf("%d cost rows, want %d", n, want)
	}
	if n, want := b.count(t, `SELECT count(*) FROM usage_daily`), len(b.fake.UsageItems(r.From, r.To)); n != int64(want) || want == 0 {
		t.Errorf("%d usage rows, want %d", n, want)
	}
	costPages := b.fake.Count(openaitest.EndpointCosts)
	if costPages < 6 || r.Pages < costPages {
		t.Errorf("%d costs pages read, run counted %d pages", costPages, r.Pages)
	}
	// Its calls say who makes them (the governor's refusals by caller).
	for _, c := range b.gov.Calls() {
		if c != "usage/background" {
			t.Fatalf("the sync made a call as %s, want usage/background", c)
		}
	}

	// Two days later: from the day after the last synced one (Nov 21),
	// minus the 3 trailing days.
	b.clock.Add(48 * time.Hour)
	before := len(startTimes(b.fake, openaitest.EndpointCosts))
	r2 := b.sync(t)
	if want := mustDay("2026-11-18"); !r2.From.Equal(want) {
		t.Errorf("incremental run from %s, want %s", r2.From.Format(time.DateOnly), want.Format(time.DateOnly))
	}
	starts := startTimes(b.fake, openaitest.EndpointCosts)[before:]
	for _, s := range starts {
		if s != unix(mustDay("2026-11-18")) {
			t.Errorf("incremental costs request from %s", s)
		}
	}
	all := b.fake.CostTotal(r.From, r2.To)["usd"]
	if got := b.storedTotal(t, r.From, r2.To); !got.Equal(all) {
		t.Errorf("after the incremental sync: stored %s, want %s", got, all)
	}
}

// TestSync_TrailingReReadPicksUpChange: a recent day that changed after it
// was synced is corrected; an old day outside the trailing window is not
// read again.
func TestSync_TrailingReReadPicksUpChange(t *testing.T) {
	t.Parallel()
	b := setup(t, Settings{HistoryDays: 30, ResyncDays: 3})
	b.addCompany(t, "Acme", "proj_acme")
	b.sync(t)
	yesterday, old := mustDay("2026-11-19"), mustDay("2026-11-01")
	b.fake.SetCost("proj_acme", yesterday, openaitest.LineItems[0], "usd", "123.456789")
	b.fake.SetCost("proj_acme", old, openaitest.LineItems[0], "usd", "999")
	// A result OpenAI withdrew, and one with a line item and currency we
	// have never seen.
	b.fake.SetCost("proj_acme", yesterday, openaitest.LineItems[1], "usd", "")
	b.fake.SetCost("proj_acme", yesterday, "quantum widgets", "xts", "0.000001")
	b.clock.Add(time.Hour)
	r := b.sync(t)
	if r.RowsWritten == 0 {
		t.Error("the re-read wrote nothing")
	}
	var got string
	err := b.pool.QueryRow(context.Background(),
		`SELECT amount::text FROM cost_daily WHERE day = $1 AND project_id = 'proj_acme' AND line_item = $2`,
		yesterday, openaitest.LineItems[0]).Scan(&got)
	if err != nil || got != "123.456789" {
		t.Errorf("yesterday = %q (%v), want 123.456789", got, err)
	}
	if n := b.count(t, `SELECT count(*) FROM cost_daily WHERE day = $1 AND line_item = $2`, yesterday, openaitest.LineItems[1]); n != 0 {
		t.Error("the withdrawn result is still stored")
	}
	if n := b.count(t, `SELECT count(*) FROM cost_daily WHERE line_item = 'quantum widgets' AND currency = 'xts' AND amount = 0.000001`); n != 1 {
		t.Error("the unknown line item and currency were not stored as given")
	}
	if n := b.count(t, `SELECT count(*) FROM cost_daily WHERE day = $1 AND amount = 999`, old); n != 0 {
		t.Error("a day outside the trailing window was read again")
	}
}

// TestSync_RerunChangesNothing: a second sync over unchanged data writes
// no row (daily tables, rollup, month-to-date).
func TestSync_RerunChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, Settings{HistoryDays: 45, ResyncDays: 3})
	for i := range 3 {
		b.addCompany(t, fmt.Sprint("Co ", i), fmt.Sprintf("proj_re%d", i))
	}
	b.fake.AddSpendProject("proj_orphan")
	first := b.sync(t)
	if first.RowsWritten == 0 {
		t.Fatal("the first sync wrote nothing")
	}
	var before int64
	b.pool.QueryRow(context.Background(), `SELECT coalesce(sum(xmin::text::bigint), 0) FROM cost_daily`).Scan(&before)
	r := b.sync(t)
	if r.RowsWritten != 0 {
		t.Errorf("re-run wrote %d rows, want 0", r.RowsWritten)
	}
	var after int64
	b.pool.QueryRow(context.Background(), `SELECT coalesce(sum(xmin::text::bigint), 0) FROM cost_daily`).Scan(&after)
	if before != after {
		t.Error("re-run rewrote cost rows (their xmin changed)")
	}
}

// TestSync_CrashThenResume: a run that stops mid-way (here OpenAI fails
// on the third page) keeps the rows and cursor of the pages it read; the
// next run resumes from that cursor without reading them again.
func TestSync_CrashThenResume(t *testing.T) {
	t.Parallel()
	b := setup(t, Settings{HistoryDays: 20, ResyncDays: 3, CostPageBuckets: 3})
	b.addCompany(t, "Acme", "proj_acme")
	b.addCompany(t, "Beta", "proj_beta")
	b.fake.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCosts},              // page 1 (latency-only faults pass)
		openaitest.Fault{Endpoint: openaitest.EndpointCosts},              // page 2
		openaitest.Fault{Endpoint: openaitest.EndpointCosts, Status: 500}, // page 3 fails
	)
	_, err := b.svc.Sync(context.Background(), SyncOptions{Trigger: TriggerPeriodic})
	if err == nil {
		t.Fatal("no error from the failing run")
	}
	runs, _ := b.svc.Runs(context.Background(), 5)
	if len(runs) != 1 || runs[0].Status != "failed" || runs[0].Phase != PhaseCosts || runs[0].Pages != 2 || runs[0].Error == "" {
		t.Fatalf("after the failure: %+v", runs)
	}
	var cursor string
	b.pool.QueryRow(context.Background(), `SELECT cursor FROM usage_sync_runs WHERE id = $1`, runs[0].ID).Scan(&cursor)
	if cursor == "" {
		t.Fatal("no cursor saved")
	}
	stored := b.count(t, `SELECT count(*) FROM cost_daily`)
	if stored == 0 {
		t.Fatal("the pages read before the failure were not kept")
	}
	before := len(b.fake.Requests())

	r := b.sync(t)
	if r.ID != runs[0].ID || r.Resumed != 1 || r.Status != "finished" {
		t.Errorf("resumed run = %+v", r)
	}
	reqs := b.fake.Requests()[before:]
	if reqs[0].Endpoint != openaitest.EndpointCosts || reqs[0].Query.Get("page") != cursor {
		t.Errorf("the resumed run's first request = %s page=%q, want costs page=%q", reqs[0].Endpoint, reqs[0].Query.Get("page"), cursor)
	}
	want := b.fake.CostTotal(r.From, r.To)["usd"]
	if got := b.storedTotal(t, r.From, r.To); !got.Equal(want) {
		t.Errorf("stored %s, want %s", got, want)
	}
	// 21 days at 3 buckets a page: 7 pages in all, 2 before the failure.
	if n := b.fake.Count(openaitest.EndpointCosts); n != 8 {
		t.Errorf("%d costs requests, want 8 (2 + the failed one + 5 resumed)", n)
	}
}

// TestSync_TwoProcessesOneSync: two processes (pools) start a sync at the
// same moment; one syncs, the other answers ErrSyncRunning.
func TestSync_TwoProcessesOneSync(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	b := setup(t, Settings{HistoryDays: 10})
	var pools [2]*pgxpool.Pool
	for i := range pools {
		pool, err := db.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		pools[i] = pool
	}
	b.pool = pools[0] // both processes share this database
	b.addCompany(t, "Acme", "proj_acme")
	b.fake.SetLatency(100 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pool := range pools {
		svc := New(pool, b.client, Settings{HistoryDays: 10, Now: b.clock.Now}, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.Sync(context.Background(), SyncOptions{Trigger: TriggerPeriodic})
		}()
	}
	wg.Wait()
	running, ok := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrSyncRunning):
			running++
		case err == nil:
			ok++
		default:
			t.Errorf("sync: %v", err)
		}
	}
	if ok != 1 || running != 1 {
		t.Errorf("%d syncs ran, %d refused; want 1 and 1", ok, running)
	}
	if n := b.count(t, `SELECT count(*) FROM usage_sync_runs`); n != 1 {
		t.Errorf("%d runs recorded, want 1", n)
	}
	// 11 days fit in one page of each: exactly one sync's requests.
	if c, u := b.fake.Count(openaitest.EndpointCosts), b.fake.Count(openaitest.EndpointUsageCompletions); c != 1 || u != 1 {
		t.Errorf("%d costs and %d usage requests, want 1 and 1", c, u)
	}
}

// TestSync_WaitsOut429: a 429 is waited out (Retry-After) and the page is
// asked again; the run finishes.
func TestSync_WaitsOut429(t *testing.T) {
	t.Parallel()
	b := setup(t, Settings{HistoryDays: 10})
	b.addCompany(t, "Acme", "proj_acme")
	var waited []time.Duration
	b.svc.sleep = func(d time.Duration, _ <-chan struct{}) bool { waited = append(waited, d); return true }
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCosts, Status: 429, RetryAfter: "3"},
		openaitest.Fault{Endpoint: openaitest.EndpointUsageCompletions, Status: 429, RetryAfter: "2"})
	r := b.sync(t)
	if len(waited) != 2 || waited[0] != 3*time.Second || waited[1] != 2*time.Second {
		t.Errorf("waited %v, want [3s 2s]", waited)
	}
	if r.Status != "finished" || r.Requests != 4 {
		t.Errorf("run = %+v, want finished after 4 requests", r)
	}
}

// TestSync_NotConfigured: without an admin key there is nothing to sync.
func TestSync_NotConfigured(t *testing.T) {
	t.Parallel()
	svc := New(dbtest.NewPool(t), nil, Settings{}, nil)
	if _, err := svc.Sync(context.Background(), SyncOptions{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("err = %v", err)
	}
	var _ openai.Usage = (*openai.Client)(nil)
}

// TestSync_TakesOverARunLeftRunning: a process that died mid-run leaves
// its run "running" (no failure recorded); the next sync takes it over at
// its saved phase and cursor instead of starting again.
func TestSync_TakesOverARunLeftRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, Settings{HistoryDays: 10})
	b.addCompany(t, "Acme", "proj_acme")
	b.exec(t, `INSERT INTO usage_sync_runs (trigger, status, from_day, to_day, phase, pages)
		VALUES ('periodic', 'running', '2026-11-10', '2026-11-21', 'usage', 3)`)
	r := b.sync(t)
	if r.Resumed != 1 || r.Status != "finished" || r.Pages != 4 || !r.From.Equal(mustDay("2026-11-10")) {
		t.Errorf("run = %+v, want the dead run resumed and finished", r)
	}
	if n := b.fake.Count(openaitest.EndpointCosts); n != 0 {
		t.Errorf("%d costs requests: the costs phase was done already", n)
	}
	if n := b.count(t, `SELECT count(*) FROM usage_daily`); n == 0 {
		t.Error("the usage phase did not run")
	}
}
