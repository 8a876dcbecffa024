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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

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
	// n provisioned companies, their projects on the fake.
	rows := make([][]any, n)
	for i := range n {
		p := fake.AddProject(fmt.Sprintf("Keyed %06d", i), false)
		rows[i] = []any{p.Name, "Software", "Bench", "bench@example.com", "d", p.ID, "provisioned"}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"companies"},
		[]string{"name", "industry", "contact_name", "contact_email", "project_description", "openai_project_id", "provisioning_status"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("seed companies: %w", err)
	}
	ks, err := keystore.Generate()
	if err != nil {
		return err
	}
	adminToken := rand.Text() + rand.Text()
	srv, err := b.startServer(ctx, dbURL, fake, "ADMIN_API_TOKEN="+adminToken, "KEY_ENCRYPTION_KEYSET="+string(ks),
		"PROVISION_WORKERS=16", "API_TOKEN_RATE_LIMIT=1000000")
	if err != nil {
		return err
	}
	defer srv.stop()

	// 1. The keys backfill, through the admin API.
	api := &apiClient{base: srv.URL, token: adminToken, client: &http.Client{Timeout: 30 * time.Second}}
	var enq struct {
		Enqueued int `json:"enqueued"`
	}
	start := time.Now()
	if err := api.do(ctx, http.MethodPost, "/api/admin/keys/backfill", `{"dry_run": false}`, http.StatusAccepted, &enq); err != nil {
		return err
	}
	if enq.Enqueued != n {
		return fmt.Errorf("the keys backfill enqueued %d companies, want %d", enq.Enqueued, n)
	}
	var issued int
	deadline := time.Now().Add(time.Duration(n/10+60) * time.Second)
	for issued < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("keys backfill: %d of %d keys after %v", issued, n, time.Since(start))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM company_keys WHERE state = 'current'").Scan(&issued); err != nil {
			return err
		}
	}
	took := time.Since(start)
	rate := float64(n) / took.Seconds()
	creates := fake.Count(openaitest.EndpointCreateServiceAccount)
	extra := 0
	for _, p := range fake.Projects() {
		if k := len(fake.ServiceAccounts(p.ID)); k > 1 {
			extra += k - 1
		}
	}
	b.logf("keys: backfill %.1f keys/s (%d creates, %d answered 429, %d extra service accounts)", rate, creates, fake.RateLimited(), extra)

	// 2. GET …/openai-key over every company, 16 clients at once.
	cmd := exec.CommandContext(ctx, b.bin, "token", "create", "--name", "bench", "--scopes", "keys:read")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "APP_ENV=test")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("token create: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := lines[len(lines)-1]
	var ids []int64
	rs, err := pool.Query(ctx, "SELECT id FROM companies ORDER BY id")
	if err != nil {
		return err
	}
	if ids, err = pgx.CollectRows(rs, pgx.RowTo[int64]); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	const workers, rounds = 16, 3
	var (
		mu   sync.Mutex
		lats []time.Duration
		bad  atomic.Int64
		next atomic.Int64
	)
	total := int64(len(ids) * rounds)
	getStart := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/companies/%d/openai-key", srv.URL, ids[i%int64(len(ids))]), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	getTook := time.Since(getStart)
	slices.Sort(lats)
	p95, p50 := time.Duration(0), time.Duration(0)
	if len(lats) > 0 {
		p95, p50 = lats[len(lats)*95/100], lats[len(lats)/2]
	}
	throughput := float64(len(lats)) / getTook.Seconds()
	b.logf("keys: GET openai-key p50 %v p95 %v, %.0f req/s, %d not 200", p50, p95, throughput, bad.Load())

	b.report.add(section{
		title: "5. Per-company keys: keys backfill and GET …/openai-key",
		rows: []row{
			{What: "Keys backfill rate", Value: rate, Unit: "keys/s", Limit: 0.9 * backfillRateLimit, Better: "higher", Note: fmt.Sprintf("limit: 0.9 × the allowed %d requests/s", backfillRateLimit)},
			{What: "Extra service accounts", Value: float64(extra), Limit: 0, Better: "lower"},
			{What: "GET openai-key p95 (round trip on loopback)", Value: float64(p95.Microseconds()) / 1000, Unit: "ms", Limit: 5, Better: "lower", Note: fmt.Sprintf("p50 %.2f ms", float64(p50.Microseconds())/1000)},
			{What: "GET openai-key throughput", Value: throughput, Unit: "req/s", Limit: 0, Better: "higher", Note: fmt.Sprintf("%d workers", workers)},
			{What: "GET openai-key answers not 200", Value: float64(bad.Load()), Limit: 0, Better: "lower"},
		},
		notes: []string{
			fmt.Sprintf("%s provisioned companies without a key (loaded with COPY); the fake OpenAI answers after %v and accepts %d requests/s, answering 429 with Retry-After: 1 beyond.", groupThousands(n), backfillLatency, backfillRateLimit),
			fmt.Sprintf("The keys backfill is started with `POST /api/admin/keys/backfill` and worked by the server's River workers (PROVISION_WORKERS=16 on the keys queue); the rate is companies ÷ the time until every key is stored (%v). %d service-account creates reached the fake, %d requests were answered 429.", took.Round(time.Millisecond), creates, fake.RateLimited()),
			"The key step has no pacer of its own: a 429 snoozes the job for the Retry-After. The shared OpenAI rate governor (another issue) is what keeps it under the limit once merged.",
			fmt.Sprintf("GET /api/v1/companies/:id/openai-key: %d requests over the %d companies by %d concurrent clients; each authenticates the token (one UPDATE for the shared rate limit), decrypts the key and writes an audit entry. The latency is the client's round trip on loopback, an upper bound of the server time.", len(lats), len(ids), workers),
		},
	})
	return nil
}
