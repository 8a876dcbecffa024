package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

const concurrency = 16

// signupScenario: 16 clients post the real signup form over HTTP with the
// fake OpenAI at zero latency; the limit is the rate of bare single-row
// inserts of the same row through pgx at the same concurrency.
func (b *bench) signupScenario(ctx context.Context) error {
	dbURL, drop, err := b.scratchDB(ctx, "signup")
	if err != nil {
		return err
	}
	defer drop()
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey})
	defer fake.Close()
	if err := seedGovernorRow(ctx, dbURL, signupGovernorRate); err != nil {
		return err
	}
	srv, err := b.startServer(ctx, dbURL, fake, projectsOnly...)
	if err != nil {
		return err
	}
	defer srv.stop()

	n := b.sizes.Signups
	b.logf("signup: %d signups from %d clients", n, concurrency)
	// Warm up connections and caches.
	if _, _, err := b.postSignups(ctx, srv.URL, "Warmup", 64); err != nil {
		return err
	}
	lat, elapsed, err := b.postSignups(ctx, srv.URL, "Bench", n)
	if err != nil {
		return err
	}
	signupRate := float64(n) / elapsed.Seconds()
	slices.Sort(lat)
	b.logf("signup: %.0f signups/s, p50 %.1f ms, p99 %.1f ms", signupRate, percentile(lat, .5), percentile(lat, .99))

	insertRate, err := b.bareInserts(ctx, dbURL, n)
	if err != nil {
		return err
	}
	b.logf("signup: bare inserts %.0f rows/s", insertRate)
	if got := fake.CreateCount(); got < n {
		return fmt.Errorf("the fake received %d creates for %d signups", got, n)
	}
	b.report.add(section{
		title: "1. Signup throughput and latency",
		rows: []row{
			{What: "Signup rate", Value: signupRate, Unit: "/s", Limit: 0.5 * insertRate, Better: "higher", Note: fmt.Sprintf("limit: 0.5 × bare insert rate of %.0f/s", insertRate)},
			{What: "Signup p50", Value: percentile(lat, .5), Unit: "ms", Limit: 50, Better: "lower", Note: "informational; the limit is on p99"},
			{What: "Signup p95", Value: percentile(lat, .95), Unit: "ms", Limit: 50, Better: "lower", Note: "informational; the limit is on p99"},
			{What: "Signup p99", Value: percentile(lat, .99), Unit: "ms", Limit: 50, Better: "lower"},
		},
		notes: []string{
			fmt.Sprintf("%d signups posted by %d concurrent clients over HTTP (GET /signup for the CSRF token once per client, then POST /signup; each answer is the 303 to the confirmation). The fake OpenAI answers at zero latency, so each signup includes its OpenAI project creation.", n, concurrency),
			"Bare inserts: the same company row inserted with single-row INSERTs through pgx by 16 goroutines, each statement its own transaction.",
		},
	})
	return nil
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// postSignups posts n signups from `concurrency` clients and returns each
// POST's latency and the wall time of the whole run.
func (b *bench) postSignups(ctx context.Context, base, prefix string, n int) ([]time.Duration, time.Duration, error) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				Transport:     &http.Transport{MaxIdleConnsPerHost: 4}}
			resp, err := client.Get(base + "/signup")
			if err != nil {
				errs <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := csrfRe.FindSubmatch(body)
			if m == nil {
				errs <- fmt.Errorf("no csrf token on /signup")
				return
			}
			token := string(m[1])
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				form := url.Values{"csrf": {token}, "company_name": {fmt.Sprintf("%s Company %07d", prefix, i)},
					"industry": {"Software"}, "contact_name": {"Bench Contact"}, "contact_email": {"bench@example.com"}}
				t0 := time.Now()
				resp, err := client.PostForm(base+"/signup", form)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusSeeOther {
					errs <- fmt.Errorf("signup answered %d", resp.StatusCode)
					return
				}
				if i > 0 && i%(max(n/10, 1)) == 0 {
					b.logf("signup: %d/%d", i, n)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	return lat, elapsed, ctx.Err()
}

// bareInserts measures single-row INSERTs of the same row at the same concurrency.
func (b *bench) bareInserts(ctx context.Context, dbURL string, n int) (float64, error) {
	pool, err := openPool(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := fmt.Sprintf("Bare Company %07d", i)
				_, err := pool.Exec(ctx, `INSERT INTO companies (name, industry, contact_name, contact_email, website, company_size, country, signup_token, project_description, provisioning_status)
					VALUES ($1, 'Software', 'Bench Contact', 'bench@example.com', '', '', '', $2, $3, 'pending')`,
					name, fmt.Sprintf("bare-token-%07d", i), "Project for "+name+" - Software")
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// signupGovernorRate is the rate the signup scenario's governor starts
// from: far above the signups' pace, as for an organization whose limit
// was learnt on an earlier day to be high. From a fresh row the governor
// starts at 50 calls/s and climbs 30 % a second while callers keep it
// busy (scenario 3), and this scenario would measure that climb rather
// than the signup path.
const signupGovernorRate = 5000

// seedGovernorRow writes the organization's governor row at rate, as an
// earlier run would have left it (no limit learnt).
func seedGovernorRow(ctx context.Context, dbURL string, rate float64) error {
	pool, err := openPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, `INSERT INTO openai_governors (org_key, rate) VALUES ($1, $2)`, governor.OrgKey(benchKey, ""), rate)
	return err
}
