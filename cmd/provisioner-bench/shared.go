package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// Scenario 5: the shared rate governor. Two `serve` processes on one
// database, a backfill on them while signups arrive at a steady pace,
// against the same slow, rate-limited fake as scenario 3.
const (
	sharedSignupRate = 5 // signups a second, alternating between the servers
	// sharedWarmup is the first run's size: it meets the fake's limit for
	// the first time (no governor state yet) and leaves what it learnt in
	// the database, as any earlier day of the app would. Against the
	// fake's fixed windows the first estimate of the limit is too high
	// (a sliding second spans two windows); 800 companies give the
	// governor the 8 s or so it needs to settle.
	sharedWarmup = 800
	// sharedConcurrency is BACKFILL_CONCURRENCY here: twice scenario 3's,
	// so that on this shared 2-core machine, where each company's own
	// database work slows down with two servers and the signups beside
	// it, the workers can still keep the governor's schedule full.
	sharedConcurrency = 32
)

// sharedRun is one backfill run of the scenario.
type sharedRun struct {
	companies  int
	runTime    time.Duration
	start, end time.Time // this process's view of the run
	requests   int       // every request the fake received meanwhile
	limited    int
	maxPerSec  int     // most requests the fake accepted in any one second
	signupP95  float64 // ms, signups that started during the run
	signups    int
	timeline   string
	accepted   int // requests the fake accepted meanwhile, every caller's
	created    int // projects the fake created meanwhile, the backfill's and the signups'
}

// sharedScenario runs a warm-up backfill, then the measured one.
func (b *bench) sharedScenario(ctx context.Context) error {
	n := b.sizes.Backfill
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey, Latency: backfillLatency, RateLimit: backfillRateLimit})
	defer fake.Close()
	dbURL, pool, closeDB, err := b.scratchPool(ctx, "shared")
	if err != nil {
		return err
	}
	defer closeDB()
	token := rand.Text() + rand.Text()
	env := append([]string{fmt.Sprintf("BACKFILL_CONCURRENCY=%d", sharedConcurrency), "ADMIN_API_TOKEN=" + token}, projectsOnly...)
	var servers []*server
	for range 2 {
		srv, err := b.startServer(ctx, dbURL, fake, env...)
		if err != nil {
			return err
		}
		defer srv.stop()
		servers = append(servers, srv)
	}

	// The signup stream runs through both runs.
	stream := &signupStream{}
	sctx, stopSignups := context.WithCancel(ctx)
	defer stopSignups()
	streamDone := make(chan error, 1)
	go func() { streamDone <- stream.run(sctx, servers) }()

	api := &apiClient{base: servers[0].URL, token: token, client: &http.Client{Timeout: 30 * time.Second}}
	if err := b.seedCompanies(ctx, pool, mixMissing, 0, sharedWarmup); err != nil {
		return err
	}
	warm, err := b.sharedBackfill(ctx, "shared warm-up", api, fake, stream, sharedWarmup)
	if err != nil {
		return err
	}
	if err := b.seedCompanies(ctx, pool, mixMissing, sharedWarmup, sharedWarmup+n); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) companies"); err != nil {
		return err
	}
	trace := traceGovernor(ctx, pool, 250*time.Millisecond)
	run, err := b.sharedBackfill(ctx, "shared", api, fake, stream, n)
	b.logf("shared: governor rate/limit every 250 ms: %s", trace)
	if err != nil {
		return err
	}
	stopSignups()
	if err := <-streamDone; err != nil {
		return err
	}
	// Signups whose own attempt was refused finish in their job: give
	// them the time their backoff asks.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var pending int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM companies WHERE openai_project_id IS NULL`).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	res := backfillResult{}
	if err := checkProjects(ctx, pool, fake, &res); err != nil {
		return err
	}
	var rate, limit float64
	if err := pool.QueryRow(ctx, `SELECT rate, learned_limit FROM openai_governors`).Scan(&rate, &limit); err != nil {
		return err
	}

	bfRate := float64(run.companies) / run.runTime.Seconds()
	share := 100 * float64(run.limited) / float64(max(run.requests, 1))
	b.logf("shared: %.1f projects/s, %.2f%% 429, highest %d/s, signup p95 %.0f ms, %d duplicates", bfRate, share, run.maxPerSec, run.signupP95, res.duplicates)
	sec := section{
		title: "5. Shared rate governor: two servers, a backfill and signups",
		rows: []row{
			{What: "Backfill rate", Value: bfRate, Unit: "projects/s", Limit: 0.9 * backfillRateLimit, Better: "higher",
				Note: "the backfill's projects alone: the signups' calls take their share of the limit and are not counted here"},
			{What: "Projects OpenAI created during the run, the backfill's and the signups'", Value: float64(run.created) / run.end.Sub(run.start).Seconds(), Unit: "projects/s", Limit: 0.9 * backfillRateLimit, Better: "higher",
				Note: fmt.Sprintf("the goal's reading: ≥ 0.9 × the allowed %d requests/s, counting the signups' calls; the project listing is not counted", backfillRateLimit)},
			{What: "Calls OpenAI accepted during the run, every caller's", Value: float64(run.accepted) / run.end.Sub(run.start).Seconds(), Unit: "calls/s", Limit: 0.9 * backfillRateLimit, Better: "higher",
				Note: fmt.Sprintf("the backfill's creates, the signups' creates and the project listing: 0.9 × the allowed %d requests/s, the signups' calls counted", backfillRateLimit)},
			{What: "Requests answered 429", Value: share, Unit: "%", Limit: 1, Better: "lower", Note: fmt.Sprintf("%d of %d", run.limited, run.requests)},
			{What: "Most requests accepted in any one second", Value: float64(run.maxPerSec), Limit: 1.05 * backfillRateLimit, Better: "lower", Note: "a sliding one-second window over the fake's accepted requests"},
			{What: "Signup p95 during the backfill", Value: run.signupP95, Unit: "ms", Limit: 1000, Better: "lower", Note: fmt.Sprintf("%d signups", run.signups)},
			{What: "Duplicate projects", Value: float64(res.duplicates), Limit: 0, Better: "lower"},
			{What: "Companies left without a project", Value: float64(res.missing), Limit: 0, Better: "lower", Note: "backfilled and signed up, once the signups' jobs had time to finish"},
		},
		notes: []string{
			fmt.Sprintf("Two `provisioner serve` processes on one fresh database (BACKFILL_CONCURRENCY=%d each), the fake OpenAI of scenario 3 (%v per answer, %d requests a second in a fixed one-second window, 429 with `Retry-After: 1` beyond). A steady %d signups a second are posted over HTTP, alternating between the two servers, from before the first run to after the last; the backfill is started through the first server's API and worked by whichever process River hands it to. Both processes' calls go through one rate governor each, sharing the organization's row in `openai_governors`.",
				sharedConcurrency, backfillLatency, backfillRateLimit, sharedSignupRate),
			fmt.Sprintf("First a warm-up run of %d companies: the governor meets the limit for the first time (no state yet: slow start from 50 calls/s, 30 %% a second) and keeps what it learnt in the database, as it would from any earlier day. Warm-up: %.1f projects/s, %d of %d requests answered 429, at most %d accepted in one second, signup p95 %.0f ms; calls accepted second by second: %s.",
				sharedWarmup, float64(warm.companies)/warm.runTime.Seconds(), warm.limited, warm.requests, warm.maxPerSec, warm.signupP95, warm.timeline),
			fmt.Sprintf("Then the measured run of %s companies, from the rate the warm-up left. Rate: companies ÷ the run's time as the server recorded it (%v). Calls accepted second by second: %s. After it the shared state says %.1f calls/s with a learned limit of %.1f/s.",
				groupThousands(run.companies), run.runTime.Round(time.Millisecond), run.timeline, rate, limit),
			"Both servers run with keys, policies and the usage sync off, as in scenario 3: the figures are the project step's and the signups'.",
			"Signup latency: each POST /signup's round trip (its own OpenAI create included, at the head of the governor's queue), for the signups started between the run's start and finish as this process saw them.",
			"Duplicates: for each company, the projects the fake holds under its name, less one.",
		},
	}
	b.report.add(sec)
	return nil
}

// sharedBackfill starts a backfill of n companies through api and follows
// it to its end, with what the fake and the signups saw meanwhile.
func (b *bench) sharedBackfill(ctx context.Context, name string, api *apiClient, fake *openaitest.Server, stream *signupStream, n int) (sharedRun, error) {
	res := sharedRun{companies: n}
	reqBefore, limBefore, projectsBefore := requestCount(fake), fake.RateLimited(), len(fake.Projects())
	res.start = time.Now()
	var run runJSON
	if err := api.do(ctx, http.MethodPost, "/api/admin/openai/projects/backfill", `{"dry_run": false}`, http.StatusAccepted, &run); err != nil {
		return res, err
	}
	// A signup whose own attempt is still waiting to be retried is
	// without a project too, and the run covers it.
	if run.Total < n || run.Total > n+50 {
		return res, fmt.Errorf("%s: the run covers %d companies, want %d (and a few signups)", name, run.Total, n)
	}
	res.companies = run.Total
	lastLog := time.Now()
	for run.Status == "running" {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := api.do(ctx, http.MethodGet, run.URL, "", http.StatusOK, &run); err != nil {
			return res, err
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			b.logf("%s: %d/%d done, %.1f/s; %d calls to OpenAI, %d answered 429", name, run.Done, run.Total, run.RatePerSecond, requestCount(fake)-reqBefore, fake.RateLimited()-limBefore)
		}
	}
	res.end = time.Now()
	res.created = len(fake.Projects()) - projectsBefore
	if run.Status != "finished" || run.FinishedAt == nil {
		return res, fmt.Errorf("%s: run %d ended %s: %s", name, run.ID, run.Status, run.LastError)
	}
	res.runTime = run.FinishedAt.Sub(run.StartedAt)
	res.requests, res.limited = requestCount(fake)-reqBefore, fake.RateLimited()-limBefore
	var accepted []time.Time
	for _, at := range fake.Accepted() {
		if !at.Before(res.start) && !at.After(res.end) {
			accepted = append(accepted, at)
		}
	}
	res.maxPerSec = slidingMax(accepted)
	res.accepted = len(accepted)
	res.timeline = compactTimeline(perSecond(accepted, res.start, res.end))
	b.logRefusals(name, res.start, accepted, fake.Refused(), fake.Requests())
	lat := stream.between(res.start, res.end)
	res.signups = len(lat)
	res.signupP95 = percentile(lat, .95)
	b.logf("%s: %d companies in %v; %d of %d requests answered 429; highest %d accepted in one second; %d signups, p95 %.0f ms",
		name, n, res.runTime.Round(time.Millisecond), res.limited, res.requests, res.maxPerSec, res.signups, res.signupP95)
	return res, nil
}

func slidingMax(at []time.Time) int {
	best := 0
	for i, j := 0, 0; j < len(at); j++ {
		for at[j].Sub(at[i]) >= time.Second {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// perSecond counts the times in each second from start to end.
func perSecond(at []time.Time, start, end time.Time) []string {
	n := int(end.Sub(start)/time.Second) + 1
	counts := make([]int, n)
	for _, t := range at {
		if i := int(t.Sub(start) / time.Second); i >= 0 && i < n {
			counts[i]++
		}
	}
	out := make([]string, n)
	for i, c := range counts {
		out[i] = fmt.Sprint(c)
	}
	return out
}

// signupStream posts signups at sharedSignupRate, alternating between
// servers, and keeps each one's start and latency.
type signupStream struct {
	mu    sync.Mutex
	start []time.Time
	lat   []time.Duration
}

func (s *signupStream) run(ctx context.Context, servers []*server) error {
	type client struct {
		http  *http.Client
		base  string
		token string
	}
	var clients []client
	for _, srv := range servers {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(srv.URL + "/signup")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfRe.FindSubmatch(body)
		if m == nil {
			return fmt.Errorf("no csrf token on /signup")
		}
		clients = append(clients, client{http: c, base: srv.URL, token: string(m[1])})
	}
	tick := time.NewTicker(time.Second / sharedSignupRate)
	defer tick.Stop()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			select {
			case err := <-errc:
				return err
			default:
				return nil
			}
		case <-tick.C:
		}
		c := clients[i%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"csrf": {c.token}, "company_name": {fmt.Sprintf("Stream Company %07d", i)},
				"industry": {"Software"}, "contact_name": {"Bench Contact"}, "contact_email": {"bench@example.com"}}
			t0 := time.Now()
			resp, err := c.http.PostForm(c.base+"/signup", form)
			if err != nil {
				select {
				case errc <- err:
				default:
				}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d := time.Since(t0)
			if resp.StatusCode != http.StatusSeeOther {
				select {
				case errc <- fmt.Errorf("signup answered %d", resp.StatusCode):
				default:
				}
				return
			}
			s.mu.Lock()
			s.start, s.lat = append(s.start, t0), append(s.lat, d)
			s.mu.Unlock()
		}()
	}
}

// between returns the sorted latencies of the signups started in [from, to].
func (s *signupStream) between(from, to time.Time) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i, t := range s.start {
		if !t.Before(from) && !t.After(to) {
			out = append(out, s.lat[i])
		}
	}
	slices.Sort(out)
	return out
}

// logRefusals logs when the run's first refusals came and how the accepted
// calls were spread in the second before the first one, in 100 ms bins:
// what a fixed-window limiter saw that a count per second hides.
func (b *bench) logRefusals(name string, start time.Time, accepted, refused []time.Time, reqs []openaitest.Request) {
	var first []string
	var at0 time.Time
	for _, at := range refused {
		if at.Before(start) {
			continue
		}
		if at0.IsZero() {
			at0 = at
		}
		if len(first) < 12 {
			first = append(first, fmt.Sprintf("%.3fs", at.Sub(start).Seconds()))
		}
	}
	if at0.IsZero() {
		return
	}
	bins := make([]int, 10)
	for _, at := range accepted {
		if d := at0.Sub(at); d >= 0 && d < time.Second {
			bins[9-int(d/(100*time.Millisecond))]++
		}
	}
	byEndpoint := map[string]int{}
	for _, r := range reqs {
		if d := at0.Sub(r.At); d >= 0 && d < time.Second {
			byEndpoint[r.Endpoint+" "+r.Header.Get("User-Agent")[:min(len(r.Header.Get("User-Agent")), 0)]]++
		}
	}
	b.logf("%s: first refusals at %s after the start; accepted in the second before the first, by 100 ms: %v; requests by endpoint: %v", name, strings.Join(first, ", "), bins, byEndpoint)
}
