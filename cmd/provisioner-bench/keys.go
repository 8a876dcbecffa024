package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// keysScenario measures the keys backfill against the rate-limited fake
// (100 requests/s, 100 ms an answer) and then the host-app API's
// GET /api/v1/companies/:id/openai-key over every company.
func (b *bench) keysScenario(ctx context.Context) error {
	n := b.sizes.Keys
	dbURL, pool, closeDB, err := b.scratchPool(ctx, "keys")
	if err != nil {
		return err
	}
	defer closeDB()
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey, Latency: backfillLatency, RateLimit: backfillRateLimit})
	defer fake.Close()
	// The warm-up's companies first: the measured run's are loaded after it.
	if err := seedKeyed(ctx, pool, fake, "Warm", keysWarmup); err != nil {
		return err
	}
	ks, err := keystore.Generate()
	if err != nil {
		return err
	}
	adminToken := rand.Text() + rand.Text()
	srv, err := b.startServer(ctx, dbURL, fake, "ADMIN_API_TOKEN="+adminToken, "KEY_ENCRYPTION_KEYSET="+string(ks),
		fmt.Sprintf("PROVISION_WORKERS=%d", keysWorkers), "API_TOKEN_RATE_LIMIT=1000000", "POLICY_ENABLED=false",
		// The usage sync too (see projectsOnly): it would share the limit.
		"USAGE_SYNC_INTERVAL=off")
	if err != nil {
		return err
	}
	defer srv.stop()

	// 1. The keys backfill, through the admin API: a warm-up run, in which
	// the governor of this fresh database meets the limit for the first
	// time and keeps what it learnt (as it would from any earlier day),
	// then the measured run from there.
	api := &apiClient{base: srv.URL, token: adminToken, client: &http.Client{Timeout: 30 * time.Second}}
	warm, err := b.keysBackfill(ctx, api, pool, fake, keysWarmup, keysWarmup)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	b.logf("keys: warm-up %.1f keys/s; governor rate/limit by second: %s", warm.rate, warm.governor)
	if err := seedKeyed(ctx, pool, fake, "Keyed", n); err != nil {
		return err
	}
	run, err := b.keysBackfill(ctx, api, pool, fake, n, keysWarmup+n)
	if err != nil {
		return err
	}
	extra := 0
	for _, p := range fake.Projects() {
		if k := len(fake.ServiceAccounts(p.ID)); k > 1 {
			extra += k - 1
		}
	}
	b.logf("keys: backfill %.1f keys/s (%d requests, %d answered 429, %d extra service accounts); governor rate/limit by second: %s", run.rate, run.requests, run.limited, extra, run.governor)

	// 2. GET …/openai-key over the measured run's companies: first one
	// client (the latency a host app sees), then 16 at once (throughput,
	// and the latency under that load). The server time is what the
	// answer's Server-Timing header says: the handler's time to its first
	// byte, without the loopback round trip or this process's scheduling.
	cmd := exec.CommandContext(ctx, b.bin, "token", "create", "--name", "bench", "--scopes", "keys:read")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "APP_ENV=test")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("token create: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := lines[len(lines)-1]
	rs, err := pool.Query(ctx, "SELECT id FROM companies WHERE name LIKE 'Keyed %' ORDER BY id")
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rs, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	one := getKeys(ctx, srv.URL, token, ids, 1, 1)
	many := getKeys(ctx, srv.URL, token, ids, keysGetWorkers, 3)
	b.logf("keys: GET openai-key, 1 client: server p95 %.2f ms (round trip p95 %.2f ms); %d clients: server p95 %.2f ms, round trip p95 %.2f ms, %.0f req/s; %d not 200",
		one.server.p95, one.trip.p95, keysGetWorkers, many.server.p95, many.trip.p95, many.throughput, one.bad+many.bad)

	b.report.add(section{
		title: "7. Per-company keys: keys backfill and GET …/openai-key",
		rows: []row{
			{What: "Keys backfill rate", Value: run.rate, Unit: "keys/s", Limit: 0.9 * backfillRateLimit, Better: "higher", Note: fmt.Sprintf("limit: 0.9 × the allowed %d requests/s", backfillRateLimit)},
			{What: "Requests answered 429", Value: 100 * float64(run.limited) / float64(max(run.requests, 1)), Unit: "%", Limit: 5, Better: "lower", Note: fmt.Sprintf("%d of %d", run.limited, run.requests)},
			{What: "Extra service accounts", Value: float64(extra), Limit: 0, Better: "lower"},
			{What: "GET openai-key p95, server time, one client", Value: one.server.p95, Unit: "ms", Limit: 5, Better: "lower", Note: fmt.Sprintf("p50 %.2f ms; round trip p95 %.2f ms", one.server.p50, one.trip.p95)},
			{What: "GET openai-key throughput", Value: many.throughput, Unit: "req/s", Limit: 0, Better: "higher",
				Note: fmt.Sprintf("%d clients at once; server time at that load p50 %.2f ms, p95 %.2f ms; round trip p95 %.2f ms", keysGetWorkers, many.server.p50, many.server.p95, many.trip.p95)},
			{What: "GET openai-key answers not 200", Value: float64(one.bad + many.bad), Limit: 0, Better: "lower"},
		},
		notes: []string{
			fmt.Sprintf("Provisioned companies without a key (loaded with COPY); the fake OpenAI answers after %v and accepts %d requests/s in a fixed one-second window, answering 429 with Retry-After: 1 beyond.", backfillLatency, backfillRateLimit),
			fmt.Sprintf("The keys backfill is started with `POST /api/admin/keys/backfill` and worked by the server's River workers (PROVISION_WORKERS=%d on the keys queue), every create through the shared rate governor. The server runs with POLICY_ENABLED=false and USAGE_SYNC_INTERVAL=off: with policies on, each company loaded without one also gets its policy applied (a background job sharing the same governor and the same %d requests/s), and this figure would measure both steps; the usage sync, which runs when the server starts, would read pages of costs within the same limit.", keysWorkers, backfillRateLimit),
			fmt.Sprintf("First a warm-up backfill of %d companies: the governor of this fresh database meets the limit for the first time (slow start from 50 calls/s, 30 %% a second) and keeps what it learnt in the database. Warm-up: %.1f keys/s; the governor's rate/learnt limit second by second: %s.", keysWarmup, warm.rate, warm.governor),
			fmt.Sprintf("Then %s more companies are loaded and backfilled: the rate is companies ÷ the time from the request until every key is stored (%v, read every 100 ms). %d requests reached the fake, %d were answered 429. Calls accepted second by second: %s; the governor's rate/learnt limit: %s.", groupThousands(n), run.took.Round(time.Millisecond), run.requests, run.limited, run.timeline, run.governor),
			fmt.Sprintf("GET /api/v1/companies/:id/openai-key over those %s companies, one request after another by one client (%d requests), then by %d concurrent clients (%d requests); each authenticates the token (one UPDATE for its rate limit), reads and decrypts the key and writes an audit entry. The server time is the answer's `Server-Timing: app;dur=…` (stamped by the server when it writes the answer's first byte); the round trip is measured in this process on loopback, on the same two cores as the server and PostgreSQL.", groupThousands(len(ids)), one.n, keysGetWorkers, many.n),
			"The goal on the server time is met by a request on its own. With 16 clients the two cores are saturated (this process, the server and PostgreSQL share them): the requests queue for the CPU, and the server time then grows with the queue (about 16 in flight ÷ the throughput), not with the work of a request.",
		},
	})
	return nil
}

// Sizes of the keys scenario that do not change with the scale.
const (
	keysWarmup     = 500
	keysWorkers    = 32
	keysGetWorkers = 16
)

// seedKeyed loads n provisioned companies named prefix + a number, each
// with its project on the fake.
func seedKeyed(ctx context.Context, pool *pgxpool.Pool, fake *openaitest.Server, prefix string, n int) error {
	rows := make([][]any, n)
	for i := range n {
		p := fake.AddProject(fmt.Sprintf("%s %06d", prefix, i), false)
		rows[i] = []any{p.Name, "Software", "Bench", "bench@example.com", "d", p.ID, "provisioned"}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"companies"},
		[]string{"name", "industry", "contact_name", "contact_email", "project_description", "openai_project_id", "provisioning_status"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("seed companies: %w", err)
	}
	return nil
}

type keysRun struct {
	rate              float64
	took              time.Duration
	requests, limited int // requests the fake saw during the run, and 429s
	timeline          string
	governor          string
}

// keysBackfill starts a keys backfill that should enqueue n companies and
// waits until total keys are current.
func (b *bench) keysBackfill(ctx context.Context, api *apiClient, pool *pgxpool.Pool, fake *openaitest.Server, n, total int) (keysRun, error) {
	var enq struct {
		Enqueued int `json:"enqueued"`
	}
	reqs0, lim0, acc0 := len(fake.Requests()), fake.RateLimited(), len(fake.Accepted())
	trace := traceGovernor(ctx, pool, time.Second)
	start := time.Now()
	if err := api.do(ctx, http.MethodPost, "/api/admin/keys/backfill", `{"dry_run": false}`, http.StatusAccepted, &enq); err != nil {
		return keysRun{}, err
	}
	if enq.Enqueued != n {
		return keysRun{}, fmt.Errorf("the keys backfill enqueued %d companies, want %d", enq.Enqueued, n)
	}
	var issued int
	deadline := time.Now().Add(time.Duration(n/10+60) * time.Second)
	for issued < total {
		if time.Now().After(deadline) {
			return keysRun{}, fmt.Errorf("keys backfill: %d of %d keys after %v", issued, total, time.Since(start))
		}
		select {
		case <-ctx.Done():
			return keysRun{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM company_keys WHERE state = 'current'").Scan(&issued); err != nil {
			return keysRun{}, err
		}
	}
	took := time.Since(start)
	return keysRun{
		rate: float64(n) / took.Seconds(), took: took,
		requests: len(fake.Requests()) - reqs0, limited: fake.RateLimited() - lim0,
		timeline: strings.Join(perSecond(fake.Accepted()[acc0:], start, start.Add(took)), ", "),
		governor: trace.String(),
	}, nil
}

type percentiles struct{ p50, p95 float64 } // ms

func percentilesOf(ms []float64) percentiles {
	if len(ms) == 0 {
		return percentiles{}
	}
	slices.Sort(ms)
	return percentiles{p50: ms[len(ms)/2], p95: ms[len(ms)*95/100]}
}

type getRun struct {
	n, bad       int
	server, trip percentiles
	throughput   float64
}

// getKeys reads every company's key rounds times with workers clients.
func getKeys(ctx context.Context, base, token string, ids []int64, workers, rounds int) getRun {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}}
	var (
		mu           sync.Mutex
		server, trip []float64
		bad          atomic.Int64
		next         atomic.Int64
	)
	total := int64(len(ids) * rounds)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var srv, rt []float64
			for {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/companies/%d/openai-key", base, ids[i%int64(len(ids))]), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				rt = append(rt, float64(time.Since(t0).Microseconds())/1000)
				d, ok := serverTiming(resp.Header.Get("Server-Timing"))
				if resp.StatusCode != http.StatusOK || !ok {
					bad.Add(1)
					continue
				}
				srv = append(srv, d)
			}
			mu.Lock()
			server, trip = append(server, srv...), append(trip, rt...)
			mu.Unlock()
		})
	}
	wg.Wait()
	took := time.Since(start)
	return getRun{n: len(trip), bad: int(bad.Load()), server: percentilesOf(server), trip: percentilesOf(trip),
		throughput: float64(len(trip)) / took.Seconds()}
}

// serverTiming reads the duration of "app;dur=1.234" in milliseconds.
func serverTiming(h string) (float64, bool) {
	v, ok := strings.CutPrefix(h, "app;dur=")
	if !ok {
		return 0, false
	}
	d, err := strconv.ParseFloat(v, 64)
	return d, err == nil
}
