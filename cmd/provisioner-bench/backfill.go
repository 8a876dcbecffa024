package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// Scenario 3's OpenAI: each answer takes backfillLatency, and beyond
// backfillRateLimit requests a second the fake answers 429 with
// Retry-After.
const (
	backfillLatency   = 100 * time.Millisecond
	backfillRateLimit = 100
	// backfillConcurrency is BACKFILL_CONCURRENCY. Reaching the limit
	// takes rate × latency = 10 calls in flight; 16 can make 160 calls a
	// second, so only the rate governor keeps it under the limit.
	backfillConcurrency = 16
)

// backfillScenario backfills companies that have no project against a
// slow, rate-limited fake, in a running server started through its API.
func (b *bench) backfillScenario(ctx context.Context) error {
	n := b.sizes.Backfill
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey, Latency: backfillLatency, RateLimit: backfillRateLimit})
	defer fake.Close()
	res, err := b.backfillRun(ctx, "backfill", n, fake, govState{})
	if err != nil {
		return err
	}
	// The same backfill again, on a fresh database and fake but with the
	// governor's state the first run left: any later day of the app.
	fake2 := openaitest.New(openaitest.Options{AdminKey: benchKey, Latency: backfillLatency, RateLimit: backfillRateLimit})
	defer fake2.Close()
	again, err := b.backfillRun(ctx, "backfill again", n, fake2, res.learnt)
	if err != nil {
		return err
	}
	againRate := float64(n) / again.runTime.Seconds()
	b.peakRSS["backfill"] = res.peakRSS
	rate := float64(n) / res.runTime.Seconds()
	share := 100 * float64(res.rateLimited) / float64(res.requests)
	b.logf("backfill: %.1f projects/s, %d duplicates, %d left failed, %.1f%% of requests answered 429", rate, res.duplicates, res.failed, share)
	sec := section{
		title: "3. Backfill against a rate-limited OpenAI",
		rows: []row{
			{What: "Effective rate", Value: rate, Unit: "projects/s", Limit: 0.9 * backfillRateLimit, Better: "higher", Note: fmt.Sprintf("limit: 0.9 × the allowed %d requests/s", backfillRateLimit)},
			{What: "Duplicate projects", Value: float64(res.duplicates), Limit: 0, Better: "lower"},
			{What: "Companies left failed", Value: float64(res.failed), Limit: 0, Better: "lower"},
			{What: "Companies left without a project", Value: float64(res.missing), Limit: 0, Better: "lower"},
			{What: "Requests answered 429", Value: share, Unit: "%", Limit: 5, Better: "lower", Note: fmt.Sprintf("%d of %d", res.rateLimited, res.requests)},
			{What: "Most requests accepted in any one second", Value: float64(fake.MaxPerSecond()), Limit: 1.05 * backfillRateLimit, Better: "lower", Note: "a sliding one-second window over the fake's accepted requests"},
			{What: "Effective rate of a second run, from the state the first left", Value: againRate, Unit: "projects/s", Limit: 0.9 * backfillRateLimit, Better: "higher",
				Note: fmt.Sprintf("%.1f calls/s, learnt limit %.1f/s at its start", res.learnt.rate, res.learnt.limit)},
			{What: "Requests answered 429 in the second run", Value: 100 * float64(again.rateLimited) / float64(max(again.requests, 1)), Unit: "%", Limit: 1, Better: "lower", Note: fmt.Sprintf("%d of %d", again.rateLimited, again.requests)},
			{What: "Most requests accepted in any one second of the second run", Value: float64(fake2.MaxPerSecond()), Limit: 1.05 * backfillRateLimit, Better: "lower"},
			{What: "Duplicate projects in the second run", Value: float64(again.duplicates), Limit: 0, Better: "lower"},
		},
		notes: []string{
			fmt.Sprintf("%s companies without a project (status skipped, loaded with COPY). The fake OpenAI (in this process) answers every request after %v and accepts %d requests per second (a fixed one-second window), answering 429 with `Retry-After: 1` beyond.", groupThousands(n), backfillLatency, backfillRateLimit),
			fmt.Sprintf("The backfill runs in a running `provisioner serve` (BACKFILL_CONCURRENCY=%d), started through its JSON API (`POST /api/admin/openai/projects/backfill` with ADMIN_API_TOKEN) and followed with `GET …/backfill/:id`, so the server's peak RSS covers the run. %d in flight could make %d calls a second: reaching the limit takes %d (rate × latency), so only the rate governor keeps it under the limit.",
				backfillConcurrency, backfillConcurrency, backfillConcurrency*int(time.Second/backfillLatency), backfillRateLimit*int(backfillLatency/time.Millisecond)/1000),
			fmt.Sprintf("Effective rate: companies ÷ the run's time from its start to its finish as the server recorded them (%v; %v from this process's request to its seeing the run finished).", res.runTime.Round(time.Millisecond), res.wallTime.Round(time.Millisecond)),
			"Duplicates: for each company, the projects the fake holds under its name, less one; every company's stored project ID was also checked to be a project of that name on the fake.",
			"Calls accepted by the fake, second by second: " + res.timeline + ".",
			fmt.Sprintf("The second run: the same %s companies on a fresh database and a fresh fake, the server started with the governor's row as the first run left it (the state outlives the processes; `provisioner serve` on any later day starts from it). Calls accepted second by second: %s.", groupThousands(n), again.timeline),
		},
	}
	sec.notes = append(sec.notes, "Pacing: the OpenAI rate governor (internal/governor), which every call to OpenAI waits on. This database is fresh, so the governor knows nothing of the limit: it starts at 50 calls/s and grows 30 % a second while callers keep it busy, is cut on the first 429s to just under what OpenAI accepted in the last second, then recovers to 98 % of that learnt limit; after a cut on several refusals it climbs back at 5 % a second towards the lower of the limit known before and the rate refused; it holds 5 s after a cut and then probes above the limit by 1 % a second. Against the fake's fixed windows the first estimates of the limit are off (a sliding second spans two windows, so the first is often too high, and a second that follows a faster one holds its refusals, which makes the next too low); the climb from 50 calls/s, the overshoot and those corrections cost most of what separates the rate from the limit. A later run starts from the rate kept in the database (scenario 5).")
	sec.notes = append(sec.notes, "The server runs with keys, policies and the usage sync off (KEYS_ENABLED=false, POLICY_ENABLED=false, USAGE_SYNC_INTERVAL=off), so that the run measures the project step alone: each of the others has its own scenario and, on, would share the same governor and the same limit. The usage sync matters most: it runs when the server starts, and the fake gives every project spend on each of the 90 days it reads (even days before the project existed), so with it on the backfill would share the limit with page after page of costs.")
	if most := float64(fake.MaxPerSecond()); most > 1.05*backfillRateLimit {
		sec.notes = append(sec.notes, fmt.Sprintf("Most accepted in one second, %.0f: a governor that has never met the limit finds it only by going over it, and a sliding second that spans two of the fake's fixed windows holds the end of one and the start of the next (each window accepted at most %d). From the limit learnt, the second run and scenario 5 stay within %.0f.", most, backfillRateLimit, 1.05*backfillRateLimit))
	}
	if rate < 0.9*backfillRateLimit {
		sec.notes = append(sec.notes, "Below the goal: see the timeline above for the seconds under the limit: the first climb from 50 calls/s, any second after a cut, the seconds at a learnt limit that is still too low, and the tail.")
	}
	b.report.add(sec)
	return nil
}

// backfillResult is what a backfill run did, as the server, the database
// and the fake tell.
type backfillResult struct {
	runTime, wallTime     time.Duration
	requests, rateLimited int
	// peakHeap is the most Go heap in use (MB) the server's /metrics
	// showed, sampled each second; peakLive the most heap that survived a
	// garbage collection (go_memstats_next_gc_bytes is twice that, with
	// GOGC=100), which is what the backfill keeps rather than its garbage.
	peakHeap, peakLive float64
	duplicates         int // projects beyond the first with a company's name
	wrongIDs           int // companies whose project ID is not a project of their name
	failed, missing    int // companies failed, or without a project, afterwards
	peakRSS            float64
	// rssAt is the server's peak RSS when the run had done each quarter,
	// liveAt its live heap then (MB, see peakLive).
	rssAt, liveAt []float64
	// timeline is the calls the fake accepted in each second of the run.
	timeline string
	// learnt is the governor's state after the run.
	learnt govState
}

// govState is a governor's rate and learnt limit (calls/s); zero when it
// knows nothing yet.
type govState struct{ rate, limit float64 }

// backfillRun seeds n companies without a project into a scratch database,
// starts a server on the fake and runs the backfill through the server's
// API until it ends.
func (b *bench) backfillRun(ctx context.Context, name string, n int, fake *openaitest.Server, warm govState) (backfillResult, error) {
	dbURL, pool, closeDB, err := b.scratchPool(ctx, name)
	if err != nil {
		return backfillResult{}, err
	}
	defer closeDB()
	if err := b.seedCompanies(ctx, pool, mixMissing, 0, n); err != nil {
		return backfillResult{}, err
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) companies"); err != nil {
		return backfillResult{}, err
	}
	if warm.rate > 0 {
		// What an earlier run left in the database (the row is the
		// organization's: its key is the admin key's digest).
		if _, err := pool.Exec(ctx, `INSERT INTO openai_governors (org_key, rate, learned_limit) VALUES ($1, $2, $3)`,
			governor.OrgKey(benchKey, ""), warm.rate, warm.limit); err != nil {
			return backfillResult{}, err
		}
	}
	token := rand.Text() + rand.Text()
	srv, err := b.startServer(ctx, dbURL, fake, append([]string{
		fmt.Sprintf("BACKFILL_CONCURRENCY=%d", backfillConcurrency), "ADMIN_API_TOKEN=" + token}, projectsOnly...)...)
	if err != nil {
		return backfillResult{}, err
	}
	defer srv.stop()
	b.logf("%s: server idle peak RSS %.1f MB", name, srv.peakRSSMB())

	api := &apiClient{base: srv.URL, token: token, client: &http.Client{Timeout: 30 * time.Second}}
	res := backfillResult{}
	trace := traceGovernor(ctx, pool, 500*time.Millisecond)
	start := time.Now()
	var run runJSON
	if err := api.do(ctx, http.MethodPost, "/api/admin/openai/projects/backfill", `{"dry_run": false}`, http.StatusAccepted, &run); err != nil {
		return res, err
	}
	b.logf("%s: run %d started for %d companies (concurrency %d)", name, run.ID, run.Total, run.Concurrency)
	if run.Total != n {
		return res, fmt.Errorf("the run covers %d companies, want %d", run.Total, n)
	}
	var perSecond []string
	lastAccepted, nextQuarter := 0, 1
	lastSample, lastLog := start, start
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for run.Status == "running" {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-poll.C:
		}
		if err := api.do(ctx, http.MethodGet, run.URL, "", http.StatusOK, &run); err != nil {
			return res, err
		}
		for nextQuarter <= 4 && run.Done*4 >= n*nextQuarter {
			res.rssAt = append(res.rssAt, srv.peakRSSMB())
			if m, err := readGoMemory(ctx, api.client, srv.URL); err == nil {
				res.liveAt = append(res.liveAt, m.nextGC/2)
			}
			nextQuarter++
		}
		if time.Since(lastSample) >= time.Second || run.Status != "running" {
			lastSample = time.Now()
			if m, err := readGoMemory(ctx, api.client, srv.URL); err == nil {
				res.peakHeap = max(res.peakHeap, m.heapInUse)
				res.peakLive = max(res.peakLive, m.nextGC/2)
			}
			accepted := requestCount(fake) - fake.RateLimited()
			perSecond = append(perSecond, fmt.Sprint(accepted-lastAccepted))
			lastAccepted = accepted
		}
		if time.Since(lastLog) >= 5*time.Second || run.Status != "running" {
			lastLog = time.Now()
			b.logf("%s: %d/%d done, %d failed, %.1f/s; %d calls to OpenAI, %d answered 429; server peak RSS %.1f MB",
				name, run.Done, run.Total, run.Failed, run.RatePerSecond, requestCount(fake), fake.RateLimited(), srv.peakRSSMB())
		}
	}
	res.wallTime = time.Since(start)
	res.peakRSS = srv.peakRSSMB()
	if run.Status != "finished" || run.FinishedAt == nil {
		return res, fmt.Errorf("backfill run %d ended %s: %s", run.ID, run.Status, run.LastError)
	}
	res.runTime = run.FinishedAt.Sub(run.StartedAt)
	res.requests, res.rateLimited = requestCount(fake), fake.RateLimited()
	res.timeline = compactTimeline(perSecond)
	b.logf("%s: governor rate/limit every 500 ms: %s", name, trace)
	if err := checkProjects(ctx, pool, fake, &res); err != nil {
		return res, err
	}
	if err := pool.QueryRow(ctx, `SELECT rate, learned_limit FROM openai_governors`).Scan(&res.learnt.rate, &res.learnt.limit); err != nil {
		return res, fmt.Errorf("governor state: %w", err)
	}
	return res, nil
}

var memstatRe = regexp.MustCompile(`(?m)^go_memstats_(heap_inuse|next_gc)_bytes ([0-9.e+]+)$`)

// goMemory is the server's Go memory, in MB, as its /metrics shows it.
type goMemory struct{ heapInUse, nextGC float64 }

func readGoMemory(ctx context.Context, client *http.Client, base string) (goMemory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return goMemory{}, err
	}
	req.Header.Set("Authorization", "Bearer "+benchMetricsToken)
	resp, err := client.Do(req)
	if err != nil {
		return goMemory{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return goMemory{}, err
	}
	var m goMemory
	found := 0
	for _, sm := range memstatRe.FindAllSubmatch(body, -1) {
		v, err := strconv.ParseFloat(string(sm[2]), 64)
		if err != nil {
			return goMemory{}, err
		}
		if string(sm[1]) == "heap_inuse" {
			m.heapInUse = v / (1 << 20)
		} else {
			m.nextGC = v / (1 << 20)
		}
		found++
	}
	if found != 2 {
		return goMemory{}, fmt.Errorf("/metrics shows no go_memstats_heap_inuse_bytes or go_memstats_next_gc_bytes")
	}
	return m, nil
}

// requestCount is every request the fake received, whatever it answered.
func requestCount(fake *openaitest.Server) int { return fake.RequestCount() }

// checkProjects compares the companies with the fake's projects: a second
// project with a company's name is a duplicate.
func checkProjects(ctx context.Context, pool *pgxpool.Pool, fake *openaitest.Server, res *backfillResult) error {
	byName := map[string]int{}
	nameOf := map[string]string{}
	for _, p := range fake.Projects() {
		byName[p.Name]++
		nameOf[p.ID] = p.Name
	}
	rows, err := pool.Query(ctx, `SELECT name, openai_project_id, provisioning_status FROM companies`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var name, status string
	var projectID *string
	_, err = pgx.ForEachRow(rows, []any{&name, &projectID, &status}, func() error {
		res.duplicates += max(byName[name]-1, 0)
		switch {
		case projectID == nil:
			res.missing++
		case nameOf[*projectID] != name:
			res.wrongIDs++
		}
		if status == "failed" {
			res.failed++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check projects: %w", err)
	}
	if res.wrongIDs > 0 {
		return fmt.Errorf("%d companies hold a project ID that is not a project of their name", res.wrongIDs)
	}
	return nil
}

// compactTimeline joins per-second counts, folding runs of equal ones
// ("100 ×12").
func compactTimeline(counts []string) string {
	var out []string
	for i := 0; i < len(counts); {
		j := i
		for j < len(counts) && counts[j] == counts[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", counts[i], j-i))
		} else {
			out = append(out, counts[i])
		}
		i = j
	}
	return strings.Join(out, ", ")
}

// apiClient calls the JSON API with the admin API token.
type apiClient struct {
	base, token string
	client      *http.Client
}

// runJSON is the part of the API's backfill run the bench reads.
type runJSON struct {
	ID            int64      `json:"id"`
	Status        string     `json:"status"`
	Concurrency   int        `json:"concurrency"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
	Total         int        `json:"total"`
	Done          int        `json:"done"`
	Failed        int        `json:"failed"`
	RatePerSecond float64    `json:"rate_per_second"`
	LastError     string     `json:"last_error"`
	URL           string     `json:"url"`
}

func (a *apiClient) do(ctx context.Context, method, path, body string, wantCode int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != wantCode {
		return fmt.Errorf("%s %s answered %d: %s", method, path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// projectsOnly keeps a backfill scenario to the project step: with keys and
// policies on, each linked project also gets a service account and its
// policy, through the same governor and within the same limit, so a
// figure in projects/s would measure three steps (the keys scenario
// measures the key step). The usage sync is off too: it runs when the
// server starts, and the fake gives every project spend on each of the 90
// days it reads (even days before the project existed), so during a cold
// backfill it read 85 pages of costs, about 4 % of the limit (the costs
// scenario measures it).
var projectsOnly = []string{"KEYS_ENABLED=false", "POLICY_ENABLED=false", "USAGE_SYNC_INTERVAL=off"}
