package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/provisioner/provisioner/internal/governor"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// Goals of the costs scenario (issue 15).
const (
	costListLimit     = 25.0 // ms, p95 of the list sorted by cost at the larger size
	costStatementGoal = 5.0  // s, a month's statement
)

// costSizes of the costs scenario at each scale.
var costSizes = map[string]struct{ SyncProjects, SyncDays, Statement int }{
	"small": {SyncProjects: 200, SyncDays: 90, Statement: 10_000},
	"full":  {SyncProjects: 2_000, SyncDays: 90, Statement: 100_000},
}

// costsScenario measures the usage sync against the fake, the company
// list sorted by month-to-date cost, and a month's statement.
func (b *bench) costsScenario(ctx context.Context) error {
	sz := costSizes[b.scale]
	sec := section{title: "6. Costs: usage sync, list by cost, statements"}
	if err := b.costSync(ctx, sz.SyncProjects, sz.SyncDays, &sec); err != nil {
		return err
	}
	if err := b.costList(ctx, &sec); err != nil {
		return err
	}
	if err := b.costStatement(ctx, sz.Statement, &sec); err != nil {
		return err
	}
	b.report.add(sec)
	return nil
}

// costListScenario is the list step of costsScenario alone.
func (b *bench) costListScenario(ctx context.Context) error {
	sec := section{title: "6. Costs: list by cost"}
	if err := b.costList(ctx, &sec); err != nil {
		return err
	}
	b.report.add(sec)
	return nil
}

// costSync syncs projects × days from the fake into a scratch database,
// in this process (cost.Service over the real client), then again.
func (b *bench) costSync(ctx context.Context, projects, days int, sec *section) error {
	_, pool, closeDB, err := b.scratchPool(ctx, "costsync")
	if err != nil {
		return err
	}
	defer closeDB()
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey})
	defer fake.Close()
	rows := make([][]any, projects)
	for i := range projects {
		pid := fmt.Sprintf("proj_bench%06d", i)
		fake.AddProjectWithID(pid, companyName(i))
		rows[i] = []any{companyName(i), "Software", "Ann", fmt.Sprintf("ann%d@example.com", i), pid, "provisioned"}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"companies"},
		[]string{"name", "industry", "contact_name", "contact_email", "openai_project_id", "provisioning_status"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("seed companies: %w", err)
	}
	// The sync's calls go through a rate governor, as in the app.
	gov := governor.NewLocal(governor.Options{})
	defer gov.Close()
	client, err := openai.New(openai.Options{AdminKey: benchKey, BaseURL: fake.URL, Governor: gov})
	if err != nil {
		return err
	}
	svc := cost.New(pool, client, cost.Settings{HistoryDays: days - 1, ResyncDays: 3}, slog.New(slog.DiscardHandler))
	start := time.Now()
	first, err := svc.Sync(ctx, cost.SyncOptions{Trigger: cost.TriggerCLI})
	if err != nil {
		return err
	}
	took := time.Since(start)
	costPages, usagePages := fake.Count(openaitest.EndpointCosts), fake.Count(openaitest.EndpointUsageCompletions)
	b.logf("costs: first sync of %d projects × %d days: %d pages, %d requests, %d rows in %v",
		projects, days, first.Pages, first.Requests, first.RowsWritten, took.Round(time.Millisecond))
	start = time.Now()
	again, err := svc.Sync(ctx, cost.SyncOptions{Trigger: cost.TriggerCLI, Since: &first.From})
	if err != nil {
		return err
	}
	tookAgain := time.Since(start)
	b.logf("costs: no-change re-run: %d pages, %d rows written in %v", again.Pages, again.RowsWritten, tookAgain.Round(time.Millisecond))
	results := len(fake.CostItems(first.From, first.To)) + len(fake.UsageItems(first.From, first.To))
	sec.rows = append(sec.rows,
		row{What: fmt.Sprintf("First sync, %s projects × %d days", groupThousands(projects), days), Value: took.Seconds(), Unit: "s", Limit: 600, Better: "lower",
			Note: fmt.Sprintf("%d pages (%d costs, %d usage), %d requests, %.0f requests/s, %s rows", first.Pages, costPages, usagePages, first.Requests,
				float64(first.Requests)/took.Seconds(), groupThousands(int(first.RowsWritten)))},
		row{What: "Rows written by a no-change re-run of the same days", Value: float64(again.RowsWritten), Unit: "", Limit: 0, Better: "lower",
			Note: fmt.Sprintf("%d pages read again in %v", again.Pages, tookAgain.Round(time.Millisecond))},
	)
	sec.notes = append(sec.notes, fmt.Sprintf("Sync: the fake serves %s results (%d buckets of 1 day; at most %d results a page, so one day of %s projects spans several pages); the client follows next_page to the end. The page count is bounded by results/%d + buckets/31 per endpoint. The re-run reads the same %d days again (--since the first day): every upsert finds its value unchanged, so nothing is written.",
		groupThousands(results), days, openaitest.DefaultResultsPerPage, groupThousands(projects), openaitest.DefaultResultsPerPage, days))
	return nil
}

// costList times GET /admin/companies?sort=cost (first page and deep
// pages) at the list scenario's two sizes, with a third of the companies
// spending this month.
func (b *bench) costList(ctx context.Context, sec *section) error {
	small, large := b.sizes.ListSmall, b.sizes.ListLarge
	dbURL, pool, closeDB, err := b.scratchPool(ctx, "costlist")
	if err != nil {
		return err
	}
	defer closeDB()
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey})
	defer fake.Close()
	srv, err := b.startServer(ctx, dbURL, fake, "USAGE_SYNC_INTERVAL=off")
	if err != nil {
		return err
	}
	defer srv.stop()
	staff, err := b.signInAdmin(ctx, dbURL, srv.URL)
	if err != nil {
		return err
	}
	p95 := map[int]float64{}
	for _, n := range []int{small, large} {
		from := 0
		if n == large {
			from = small
		}
		if _, err := b.seedList(ctx, pool, from, n); err != nil {
			return err
		}
		// What the sync would keep: a third of the companies spend.
		if _, err := pool.Exec(ctx, `UPDATE company_costs SET month = date_trunc('month', now())::date,
			mtd = round((random() * 5000)::numeric, 6) WHERE company_id % 3 = 0 AND mtd = 0`); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) company_costs"); err != nil {
			return err
		}
		// Write out what the load and the update dirtied now, so that the
		// timed requests do not share the disk with the checkpoints a
		// million-row load sets off every few seconds.
		if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
			return err
		}
		cursors, err := costCursors(ctx, pool, n)
		if err != nil {
			return err
		}
		var lat []time.Duration
		for i := range listWarmup + costListQueries*b.sizes.ListQueries {
			path := "/admin/companies?sort=cost"
			if i%2 == 1 {
				path += "&after=" + cursors[i%len(cursors)]
			}
			code, body, d, err := staff.get(ctx, path, true)
			if err != nil || code != http.StatusOK || !strings.Contains(body, `data-testid="company-mtd"`) {
				return fmt.Errorf("GET %s: %d %v", path, code, err)
			}
			if i >= listWarmup {
				lat = append(lat, d)
			}
		}
		slices.Sort(lat)
		p95[n] = percentile(lat, .95)
		b.logf("costs: list by cost at %d companies: p50 %.1f ms, p95 %.1f ms", n, percentile(lat, .5), p95[n])
	}
	sec.rows = append(sec.rows,
		row{What: "List sorted by cost this month p95 at " + groupThousands(large), Value: p95[large], Unit: "ms", Limit: costListLimit, Better: "lower",
			Note: fmt.Sprintf("%.1f ms at %s", p95[small], groupThousands(small))},
		row{What: "List sorted by cost p95 growth, " + groupThousands(small) + " → " + groupThousands(large), Value: p95[large] / p95[small], Unit: "×", Limit: listGrowth, Better: "lower"},
	)
	sec.notes = append(sec.notes, fmt.Sprintf("List by cost: htmx requests to /admin/companies?sort=cost, first page and deep pages (cursors at 10 %%–90 %% of the order) taking turns, %d timed after %d warm-ups (three times the other lists' count: a p95 of 200 requests on two cores moved by half between runs), after a CHECKPOINT; company_costs.mtd set for a third of the companies (what the sync keeps), keyset over its (mtd, company_id) index; every row shows its month-to-date cost.", costListQueries*b.sizes.ListQueries, listWarmup))
	return nil
}

// costListQueries times this many times the other lists' requests.
const costListQueries = 3

// costCursors are cursors of the cost order at 10 %–90 % of n, in the
// format company.List encodes.
func costCursors(ctx context.Context, pool *pgxpool.Pool, n int) ([]string, error) {
	var out []string
	for p := 1; p <= 9; p++ {
		var mtd string
		var id int64
		err := pool.QueryRow(ctx, `SELECT mtd::text, company_id FROM company_costs ORDER BY mtd DESC, company_id DESC OFFSET $1 LIMIT 1`, n*p/10).Scan(&mtd, &id)
		if err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(map[string]any{"s": "cost", "c": mtd, "id": id})
		out = append(out, base64.RawURLEncoding.EncodeToString(raw))
	}
	return out, nil
}

// countingWriter counts bytes and discards them.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// costStatement builds last month's statement for n companies (three line
// items each, plus unattributed projects) as CSV, in this process, and
// samples the heap while it runs.
func (b *bench) costStatement(ctx context.Context, n int, sec *section) error {
	_, pool, closeDB, err := b.scratchPool(ctx, "coststatement")
	if err != nil {
		return err
	}
	defer closeDB()
	if err := b.seedCompanies(ctx, pool, mixRealistic, 0, n); err != nil {
		return err
	}
	month := time.Now().UTC().AddDate(0, -1, 0)
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	seed := time.Now()
	if _, err := pool.Exec(ctx, `
		INSERT INTO cost_monthly (month, company_id, project_id, line_item, currency, amount)
		SELECT $1, c.id, 'proj_s' || c.id, li, 'usd', round((random() * 40)::numeric, 6)
		FROM companies c, unnest(ARRAY['gpt-4o-mini-2024-07-18, input', 'gpt-4o-mini-2024-07-18, output', 'web search tool calls']) li`, month); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO cost_monthly (month, company_id, project_id, line_item, currency, amount)
		SELECT $1, NULL, 'proj_orphan' || g, 'gpt-4o-mini-2024-07-18, input', 'usd', 1.5 FROM generate_series(1, 20) g`, month); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO usage_sync_runs (trigger, status, from_day, to_day, phase, finished_at)
		VALUES ('cli', 'finished', $1, $2, 'done', now())`, month.AddDate(0, -2, 0), time.Now().UTC()); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) cost_monthly"); err != nil {
		return err
	}
	b.logf("costs: seeded %d statement rows in %v", 3*n+20, time.Since(seed).Round(time.Millisecond))
	svc := cost.New(pool, nil, cost.Settings{MarkupPercent: "12.5"}, slog.New(slog.DiscardHandler))
	if _, err := svc.ParseMonth(ctx, month.Format("2006-01")); err != nil {
		return err
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	}()
	w := &countingWriter{}
	start := time.Now()
	err = svc.WriteStatementCSV(ctx, io.Writer(w), month)
	took := time.Since(start)
	close(done)
	if err != nil {
		return err
	}
	peakMB := float64(peak.Load()-min(base, peak.Load())) / (1 << 20)
	b.logf("costs: statement of %d companies: %v, %.1f MB CSV, heap peak +%.1f MB", n, took.Round(time.Millisecond), float64(w.n.Load())/(1<<20), peakMB)
	sec.rows = append(sec.rows,
		row{What: fmt.Sprintf("Statement of a month, %s companies (CSV)", groupThousands(n)), Value: took.Seconds(), Unit: "s", Limit: costStatementGoal, Better: "lower",
			Note: fmt.Sprintf("%.1f MB of CSV; heap grew at most %.1f MB above its start", float64(w.n.Load())/(1<<20), peakMB)},
	)
	sec.notes = append(sec.notes, fmt.Sprintf("Statement: cost_monthly seeded with 3 line items for each of %s companies and 20 unattributed projects; the CSV is written to a discarding writer by cost.Service.WriteStatementCSV, which reads the rollup in keyset batches of 5,000 rows, so memory stays flat whatever the number of companies (the heap is sampled every 20 ms).", groupThousands(n)))
	return nil
}
