package governor_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

const testKey = "sk-admin-govtest-0123456789"

// process is what one app process holds: its own pool, governor and client.
type process struct {
	pool   *pgxpool.Pool
	gov    *governor.Governor
	client *openai.Client
}

func startProcess(t *testing.T, url string, fake *openaitest.Server, p governor.Params, onAnswer func(string, int)) *process {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := governor.NewPostgresStore(pool, governor.OrgKey(testKey, ""), p)
	gov := governor.New(store, governor.Options{Params: p, OnAnswer: onAnswer})
	t.Cleanup(gov.Close)
	client, err := openai.New(openai.Options{AdminKey: testKey, BaseURL: fake.URL, Timeout: 10 * time.Second, Governor: gov})
	if err != nil {
		t.Fatal(err)
	}
	return &process{pool: pool, gov: gov, client: client}
}

// hammer makes calls from n goroutines per process until ctx ends:
// creates, which the SDK does not retry, so every request is the caller's.
func hammer(ctx context.Context, procs []*process, n int) {
	var wg sync.WaitGroup
	for _, pr := range procs {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx := governor.WithCall(ctx, governor.CallerBackfill, governor.Background)
				for ctx.Err() == nil {
					_, _ = pr.client.CreateProject(cctx, "load")
				}
			}()
		}
	}
	wg.Wait()
}

func maxPerSecond(at []time.Time) int {
	best := 0
	for i, j := 0, 0; j < len(at); j++ {
		for at[j].Sub(at[i]) >= time.Second {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// TestTwoProcessesShareTheLimit runs two processes, each with its own pool
// and governor on one database, against one fake OpenAI that accepts N
// requests a second; each process alone could send several times that.
// First they meet the limit with no state at all and learn it. Then both
// processes restart: they begin near the rate that worked, and the
// requests the fake accepts never exceed N in any one-second window by
// more than 5 %, from the first second.
func TestTwoProcessesShareTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 100
	fake := openaitest.New(openaitest.Options{AdminKey: testKey, Latency: 20 * time.Millisecond, RateLimit: limit})
	t.Cleanup(fake.Close)
	url := dbtest.URL(t)
	// Starting below the limit, the governors find it by slow start.
	p := governor.Params{StartRate: 70}
	var firstRefusal atomic.Int64
	onAnswer := func(_ string, status int) {
		if status == http.StatusTooManyRequests {
			firstRefusal.CompareAndSwap(0, time.Now().UnixNano())
		}
	}

	run := func(procs []*process, d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		hammer(ctx, procs, 8)
	}
	a := startProcess(t, url, fake, p, onAnswer)
	b := startProcess(t, url, fake, p, onAnswer)
	run([]*process{a, b}, 7*time.Second)
	a.gov.Close()
	b.gov.Close()

	phase1 := fake.Accepted()
	refusedCold := fake.RateLimited()
	if firstRefusal.Load() == 0 {
		t.Fatalf("the fake never refused a call in phase 1 (%d accepted): the test did not reach the limit", len(phase1))
	}
	// The first meeting with the limit (slow start into a fixed-window
	// limiter, on a machine shared with other work) is not bounded; what
	// it leaves behind is.
	t.Logf("phase 1 (cold): %d accepted, %d refused; most in one second: %d", len(phase1), refusedCold, maxPerSecond(phase1))
	bound := limit + limit/20

	// Restart: the rate learnt is in the database.
	var rate, learned float64
	if err := a.pool.QueryRow(context.Background(), "SELECT rate, learned_limit FROM openai_governors").Scan(&rate, &learned); err != nil {
		t.Fatal(err)
	}
	if rate < 0.8*limit || rate > 1.1*limit || learned < 0.85*limit || learned > 1.15*limit {
		t.Errorf("stored rate %.1f and learned limit %.1f, want both near the limit of %d", rate, learned, limit)
	}
	restart := time.Now()
	c := startProcess(t, url, fake, p, nil)
	d := startProcess(t, url, fake, p, nil)
	run([]*process{c, d}, 4*time.Second)
	var phase2 []time.Time
	for _, at := range fake.Accepted() {
		if at.After(restart) {
			phase2 = append(phase2, at)
		}
	}
	t.Logf("phase 2 (restarted): %d accepted, %d refused; most in one second: %d; governor rate %.1f",
		len(phase2), fake.RateLimited()-refusedCold, maxPerSecond(phase2), c.gov.Status().Rate)
	if got := maxPerSecond(phase2); got > bound {
		t.Errorf("after a restart, the fake accepted %d requests in one second, want at most %d", got, bound)
	}
	if st := c.gov.Status(); st.Rate < 0.8*limit {
		t.Errorf("restarted governor runs at %.1f/s, want near the %d it had learnt", st.Rate, limit)
	}
}

// TestPostgresStore_Update checks the store's round trip: a state saved is
// the state loaded, and the organizations are apart.
func TestPostgresStore_Update(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	p := governor.Params{StartRate: 33}
	one := governor.NewPostgresStore(pool, governor.OrgKey("sk-admin-one-xxxxxxxx", ""), p)
	two := governor.NewPostgresStore(pool, governor.OrgKey("sk-admin-two-xxxxxxxx", ""), p)
	var dbNow time.Time
	if err := one.Update(ctx, func(s *governor.State, now time.Time) {
		if s.Rate != 33 {
			t.Errorf("a new organization starts at %v, want 33", s.Rate)
		}
		dbNow = now
		s.Reserve(now, 5, true, p)
		s.Accepted(now, 3)
		s.Refused(now, p)
	}); err != nil {
		t.Fatal(err)
	}
	if err := one.Update(ctx, func(s *governor.State, now time.Time) {
		if !now.After(dbNow) {
			t.Errorf("database clock went from %v to %v", dbNow, now)
		}
		if s.Refusals != 1 || s.BucketOK != 3 || !s.CutAt.Equal(dbNow) || s.Rate >= 33 {
			t.Errorf("state read back = %+v, want the refusal, 3 accepted and a cut at %v", *s, dbNow)
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Every field survives the round trip (a column missed in the queries
	// would come back zero).
	at := dbNow.Add(time.Second).Truncate(time.Microsecond)
	want := governor.State{
		Rate: 71.5, Limit: 80.25, HeaderLimit: 90.5, UpperLimit: 85.75,
		NextSlot: at.Add(1 * time.Millisecond), GrownAt: at.Add(2 * time.Millisecond),
		CutAt: at.Add(3 * time.Millisecond), ProbeFrom: at.Add(4 * time.Millisecond),
		BucketAt: at.Add(5 * time.Millisecond), BucketOK: 6, BucketRefused: 7,
		PrevOK: 8, PrevRefused: 9, Refusals: 10,
	}
	if err := one.Update(ctx, func(s *governor.State, _ time.Time) { *s = want }); err != nil {
		t.Fatal(err)
	}
	if err := one.Update(ctx, func(s *governor.State, _ time.Time) {
		got := *s
		for _, f := range []*time.Time{&got.NextSlot, &got.GrownAt, &got.CutAt, &got.ProbeFrom, &got.BucketAt} {
			*f = f.UTC()
		}
		w := want
		for _, f := range []*time.Time{&w.NextSlot, &w.GrownAt, &w.CutAt, &w.ProbeFrom, &w.BucketAt} {
			*f = f.UTC()
		}
		if got != w {
			t.Errorf("state read back = %+v,\nwant %+v", got, w)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := two.Update(ctx, func(s *governor.State, _ time.Time) {
		if s.Rate != 33 || s.Refusals != 0 {
			t.Errorf("another organization's state = %+v, want a fresh one", *s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	rows, err := pool.Query(ctx, "SELECT org_key FROM openai_governors ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if len(keys) != 2 {
		t.Fatalf("rows = %v, want 2", keys)
	}
	for _, k := range keys {
		if len(k) != 32 || fmt.Sprint(k) == "sk-admin-one-xxxxxxxx" {
			t.Errorf("org key %q is not a 32-hex digest", k)
		}
	}
}
