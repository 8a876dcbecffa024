package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// listLimit is the goal for each p95 at the larger size, and listGrowth the
// most it may grow from the smaller size.
const (
	listLimit  = 25.0 // ms
	listGrowth = 2.0
)

// listWarmup requests of each kind are made before the timed ones.
const listWarmup = 10

// listScenario seeds the smaller company list, times the dashboard's list
// requests, grows the list to the larger size, times them again, and
// explains the statements behind them.
func (b *bench) listScenario(ctx context.Context) error {
	small, large := b.sizes.ListSmall, b.sizes.ListLarge
	dbURL, pool, closeDB, err := b.scratchPool(ctx, "list")
	if err != nil {
		return err
	}
	defer closeDB()
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey})
	defer fake.Close()

	seedSmall, err := b.seedList(ctx, pool, 0, small)
	if err != nil {
		return err
	}
	srv, err := b.startServer(ctx, dbURL, fake)
	if err != nil {
		return err
	}
	defer srv.stop()
	staff, err := b.signInAdmin(ctx, dbURL, srv.URL)
	if err != nil {
		return err
	}
	if err := checkCursorFormat(ctx, pool, staff); err != nil {
		return err
	}
	frags := searchFragments(small, 20)
	atSmall, err := b.timeList(ctx, pool, staff, small, frags)
	if err != nil {
		return err
	}
	seedLarge, err := b.seedList(ctx, pool, small, large)
	if err != nil {
		return err
	}
	atLarge, err := b.timeList(ctx, pool, staff, large, frags)
	if err != nil {
		return err
	}
	plans, err := b.explainList(ctx, pool, frags)
	if err != nil {
		return err
	}
	totalsSQL, err := timeTotalsSQL(ctx, pool, b.sizes.ListQueries)
	if err != nil {
		return err
	}
	b.peakRSS["list"] = srv.peakRSSMB()
	b.logf("list: server peak RSS %.1f MB", b.peakRSS["list"])

	sec := section{title: fmt.Sprintf("2. Company list at %s companies", groupThousands(large))}
	for _, k := range listKinds {
		sec.rows = append(sec.rows, row{What: k.label + " p95 at " + groupThousands(large), Value: atLarge[k.name], Unit: "ms", Limit: listLimit, Better: "lower",
			Note: fmt.Sprintf("%.1f ms at %s", atSmall[k.name], groupThousands(small))})
	}
	for _, k := range listKinds {
		sec.rows = append(sec.rows, row{What: k.label + " p95 growth, " + groupThousands(small) + " → " + groupThousands(large),
			Value: atLarge[k.name] / atSmall[k.name], Unit: "×", Limit: listGrowth, Better: "lower"})
	}
	seqScans := 0
	for _, p := range plans {
		if p.seqScan() {
			seqScans++
		}
	}
	sec.rows = append(sec.rows, row{What: fmt.Sprintf("Plans reading the whole companies table (Seq Scan), of %d explained", len(plans)),
		Value: float64(seqScans), Unit: "", Limit: 0, Better: "lower"})
	sec.notes = []string{
		fmt.Sprintf("Companies bulk-loaded with COPY (pgx CopyFrom) into a scratch database migrated by the binary: %s (%v), timed, then %s more to %s (%v), each load followed by VACUUM ANALYZE, included in those times (the state autovacuum keeps a live table in; without it no index-only scan is possible). Status mix: ~70%% with a project ID, ~20%% skipped (missing), ~10%% failed; names are three words out of 120 × 100 × 100 (\"Amber Harbor Analytics\"), signup dates spread over two years. The linked companies' guard-rail policies are then marked applied (an install whose policies are in place): left pending, the server would apply 700,000 policies in the background for the whole scenario.",
			groupThousands(small), seedSmall.Round(time.Millisecond), groupThousands(large-small), groupThousands(large), seedLarge.Round(time.Second)),
		fmt.Sprintf("Each figure: %d requests (after %d warm-up requests) made one after another, the kinds taking turns, by one signed-in admin over loopback HTTP to the running `provisioner serve`; the latency is measured in this process from sending the request to reading the whole answer, so it includes the HTTP round trip, the session check, the query and the rendering.", b.sizes.ListQueries, listWarmup),
		"First page, search, missing and deep page are the htmx requests the dashboard makes (`HX-Request: true`, results only): `/admin/companies`, `?q=<fragment>`, `?filter=missing`, `?after=<cursor>`. The totals are only rendered on the full page, so their figure is the full `GET /admin/companies` page: the totals and the first page together.",
		fmt.Sprintf("Search fragments: %d pieces of seeded names as staff type them (4–10 characters from the start of a word), used in turn: %s.", len(frags), quoteList(frags)),
		"Deep page: 10 cursors at 25 %–95 % of the list (newest first), built from the rows at those positions in the format company.List encodes (checked against the first page's own Next link), used in turn.",
		fmt.Sprintf("The totals statement alone (dbgen CompanyTotals through pgx, not HTTP) has p95 %.1f ms at %s.", totalsSQL, groupThousands(large)),
	}
	sec.notes = append(sec.notes, fmt.Sprintf("EXPLAIN (ANALYZE, BUFFERS) at %s of every statement above (each fragment and cursor), read from %s and planned for its parameters as company.List has them planned (custom plans). Excerpts follow; the full plans are below.", groupThousands(large), dashboardSQL))
	for _, p := range representativePlans(plans) {
		sec.notes = append(sec.notes, fmt.Sprintf("Plan of %s: `%s`", p.What, p.excerpt()))
		sec.appendix = append(sec.appendix, p.What+"\n"+p.Text)
	}
	if search := atLarge["search"]; search > listLimit || search > listGrowth*atSmall["search"] {
		lo, hi, err := fragmentMatches(ctx, pool, frags)
		if err != nil {
			return err
		}
		sec.notes = append(sec.notes, fmt.Sprintf("What limits the search: a page of any other kind reads about 51 rows through an index at any size, but a search reads what its fragment matches, and at %s companies the fragments above match from %s to %s companies each. The planner then either reads every candidate the trigram index gives (a fragment whose trigrams are common, like a word and the first letter of the next, has many more candidates than matches) and sorts the matches, or walks the signup-date index past the rows that do not match until it has a page. The slowest search plan above shows which, and its cost follows the matches and candidates, not the page: no index keeps a search at %s companies as cheap as at %s.",
			groupThousands(large), groupThousands(lo), groupThousands(hi), groupThousands(large), groupThousands(small)))
	}
	b.report.add(sec)
	return nil
}

// listKind is one kind of list request.
type listKind struct{ name, label string }

var listKinds = []listKind{
	{"first", "First page"},
	{"search", "Search by name fragment"},
	{"missing", "Filter \"missing\""},
	{"deep", "Deep page (keyset)"},
	{"totals", "Totals (full page)"},
}

// seedList loads companies from..to-1 and brings the statistics and the
// visibility map up to date; it returns how long that took.
func (b *bench) seedList(ctx context.Context, pool *pgxpool.Pool, from, to int) (time.Duration, error) {
	b.logf("list: seeding companies %d to %d", from, to)
	start := time.Now()
	if err := b.seedCompanies(ctx, pool, mixRealistic, from, to); err != nil {
		return 0, err
	}
	vacuum := time.Now()
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) companies"); err != nil {
		return 0, fmt.Errorf("vacuum companies: %w", err)
	}
	// An install whose guard rails are in place: left pending, the
	// server would spend the scenario applying the seeded companies'
	// policies in the background, and the list would be timed beside it.
	if _, err := pool.Exec(ctx, "UPDATE company_policies SET state = 'applied', applied_at = now() WHERE state = 'pending'"); err != nil {
		return 0, fmt.Errorf("mark policies applied: %w", err)
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) company_policies"); err != nil {
		return 0, fmt.Errorf("vacuum company_policies: %w", err)
	}
	b.logf("list: VACUUM ANALYZE took %v", time.Since(vacuum).Round(time.Millisecond))
	return time.Since(start), nil
}

// timeList times each kind of list request on a list of n companies and
// returns each kind's p95 in milliseconds.
func (b *bench) timeList(ctx context.Context, pool *pgxpool.Pool, staff *staffClient, n int, frags []string) (map[string]float64, error) {
	cursors, err := deepCursors(ctx, pool, n)
	if err != nil {
		return nil, err
	}
	paths := map[string]func(i int) string{
		"first":   func(int) string { return "/admin/companies" },
		"search":  func(i int) string { return "/admin/companies?q=" + url.QueryEscape(frags[i%len(frags)]) },
		"missing": func(int) string { return "/admin/companies?filter=missing" },
		"deep":    func(i int) string { return "/admin/companies?after=" + cursors[i%len(cursors)] },
		"totals":  func(int) string { return "/admin/companies" },
	}
	// The kinds take turns, so that whatever else the machine does at a
	// moment slows them all alike.
	lat := map[string][]time.Duration{}
	for i := range listWarmup + b.sizes.ListQueries {
		for _, k := range listKinds {
			path, htmx := paths[k.name](i), k.name != "totals"
			code, body, d, err := staff.get(ctx, path, htmx)
			switch {
			case err != nil:
				return nil, err
			case code != http.StatusOK:
				return nil, fmt.Errorf("%s: GET %s answered %d", k.label, path, code)
			case !htmx && !strings.Contains(body, `data-testid="total-companies"`):
				return nil, fmt.Errorf("%s: the page shows no totals", k.label)
			case htmx && !strings.Contains(body, `data-testid="company-row"`):
				return nil, fmt.Errorf("%s: GET %s shows no company", k.label, path)
			}
			if i >= listWarmup {
				lat[k.name] = append(lat[k.name], d)
			}
		}
	}
	out := map[string]float64{}
	for _, k := range listKinds {
		slices.Sort(lat[k.name])
		out[k.name] = percentile(lat[k.name], .95)
		b.logf("list: %s at %d companies: p50 %.1f ms, p95 %.1f ms", k.label, n, percentile(lat[k.name], .5), out[k.name])
	}
	return out, nil
}

// searchFragments are n fragments of the first companies' names, which
// every size of the list holds, as staff type them: from the start of a
// word, 4 to 10 characters, possibly into the next word ("Harbor Ana").
// They have no space at either end, so the list searches any part of the
// name for them.
func searchFragments(companies, n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []string
	for len(out) < n {
		name := companyName(rng.IntN(companies))
		starts := []int{0}
		for i, r := range name {
			if r == ' ' {
				starts = append(starts, i+1)
			}
		}
		start := starts[rng.IntN(len(starts))]
		l := 4 + rng.IntN(7)
		if start+l > len(name) {
			continue
		}
		if f := name[start : start+l]; strings.TrimSpace(f) == f {
			out = append(out, f)
		}
	}
	return out
}

// listCursor mirrors company.List's page cursor for the newest-first
// order: base64url JSON of the sort, created_at in microseconds and the
// id. checkCursorFormat makes sure it still does.
type listCursor struct {
	Sort string `json:"s"`
	At   int64  `json:"t,omitempty"`
	Name string `json:"n,omitempty"`
	ID   int64  `json:"id"`
}

func newestCursor(createdAt time.Time, id int64) string {
	b, _ := json.Marshal(listCursor{Sort: "newest", At: createdAt.UnixMicro(), ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

// cursorAt is the cursor of the company at offset in the newest-first list.
func cursorAt(ctx context.Context, pool *pgxpool.Pool, offset int) (string, error) {
	var at time.Time
	var id int64
	err := pool.QueryRow(ctx, `SELECT created_at, id FROM companies ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`, offset).Scan(&at, &id)
	if err != nil {
		return "", fmt.Errorf("cursor at %d: %w", offset, err)
	}
	return newestCursor(at, id), nil
}

// deepCursors are 10 cursors from 25 % to 95 % down the list of n.
func deepCursors(ctx context.Context, pool *pgxpool.Pool, n int) ([]string, error) {
	var out []string
	for k := range 10 {
		c, err := cursorAt(ctx, pool, n*(25+7*k)/100)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

var nextRe = regexp.MustCompile(`[?&;]after=([A-Za-z0-9_-]+)`)

// checkCursorFormat compares the cursor the bench builds for the 50th
// company with the first page's Next link, so that deep pages are asked for
// the way the dashboard's own links ask.
func checkCursorFormat(ctx context.Context, pool *pgxpool.Pool, staff *staffClient) error {
	_, body, _, err := staff.get(ctx, "/admin/companies", true)
	if err != nil {
		return err
	}
	m := nextRe.FindStringSubmatch(body)
	if m == nil {
		return fmt.Errorf("the first page of companies has no Next link")
	}
	built, err := cursorAt(ctx, pool, 49)
	if err != nil {
		return err
	}
	if built != m[1] {
		return fmt.Errorf("the page cursor format changed: the first page links to %q, the bench builds %q (update listCursor)", m[1], built)
	}
	return nil
}

// explainList explains the statement of every kind of list request (each
// search fragment and deep cursor) on the list as it is.
func (b *bench) explainList(ctx context.Context, pool *pgxpool.Pool, frags []string) ([]plan, error) {
	b.logf("list: explaining the list statements")
	sqls, err := sqlConstants(dashboardSQL)
	if err != nil {
		return nil, err
	}
	newest, totals := sqls["listCompaniesNewest"], sqls["companyTotals"]
	if newest == "" || totals == "" {
		return nil, fmt.Errorf("%s no longer defines listCompaniesNewest and companyTotals", dashboardSQL)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM companies").Scan(&n); err != nil {
		return nil, err
	}
	cursors, err := deepCursors(ctx, pool, n)
	if err != nil {
		return nil, err
	}
	// Parameters: only_missing, only_failed, only_no_key, only_waiting, search,
	// name_pattern, has_cursor, cursor_created_at, cursor_id, max_rows (a
	// page and one).
	type params struct {
		what string
		args []any
	}
	ps := []params{
		{"first page", []any{false, false, false, false, "", "", false, time.Time{}, int64(0), 51}},
		{"filter missing", []any{true, false, false, false, "", "", false, time.Time{}, int64(0), 51}},
	}
	for _, f := range frags {
		ps = append(ps, params{fmt.Sprintf("search %q", f), []any{false, false, false, false, f, "%" + f + "%", false, time.Time{}, int64(0), 51}})
	}
	for i, c := range cursors {
		raw, _ := base64.RawURLEncoding.DecodeString(c)
		var lc listCursor
		if err := json.Unmarshal(raw, &lc); err != nil {
			return nil, err
		}
		ps = append(ps, params{fmt.Sprintf("deep page at %d %%", 25+7*i), []any{false, false, false, false, "", "", true, time.UnixMicro(lc.At), lc.ID, 51}})
	}
	var plans []plan
	for _, p := range ps {
		pl, err := explain(ctx, pool, p.what, newest, p.args...)
		if err != nil {
			return nil, err
		}
		plans = append(plans, pl)
	}
	pl, err := explain(ctx, pool, "totals", totals)
	if err != nil {
		return nil, err
	}
	return append(plans, pl), nil
}

var execTimeRe = regexp.MustCompile(`Execution Time: ([0-9.]+) ms`)

func (p plan) execMS() float64 {
	var ms float64
	if m := execTimeRe.FindStringSubmatch(p.Text); m != nil {
		fmt.Sscan(m[1], &ms)
	}
	return ms
}

// representativePlans are the first page, missing and totals plans, and
// the slowest search and deep-page plans.
func representativePlans(plans []plan) []plan {
	var out []plan
	var search, deep *plan
	for i := range plans {
		p := &plans[i]
		switch {
		case strings.HasPrefix(p.What, "search"):
			if search == nil || p.execMS() > search.execMS() {
				search = p
			}
		case strings.HasPrefix(p.What, "deep"):
			if deep == nil || p.execMS() > deep.execMS() {
				deep = p
			}
		default:
			out = append(out, *p)
		}
	}
	if search != nil {
		s := *search
		s.What = "slowest " + s.What
		out = append(out, s)
	}
	if deep != nil {
		d := *deep
		d.What = "slowest " + d.What
		out = append(out, d)
	}
	return out
}

// fragmentMatches returns the fewest and the most companies a fragment
// matches.
func fragmentMatches(ctx context.Context, pool *pgxpool.Pool, frags []string) (lo, hi int, err error) {
	lo = -1
	for _, f := range frags {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM companies WHERE lower(name) LIKE lower($1)`, "%"+f+"%").Scan(&n); err != nil {
			return 0, 0, fmt.Errorf("count matches of %q: %w", f, err)
		}
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return lo, hi, nil
}

// timeTotalsSQL is the p95, in milliseconds, of the totals statement alone.
func timeTotalsSQL(ctx context.Context, pool *pgxpool.Pool, n int) (float64, error) {
	q := dbgen.New(pool)
	var lat []time.Duration
	for range n {
		t0 := time.Now()
		if _, err := q.CompanyTotals(ctx); err != nil {
			return 0, fmt.Errorf("totals: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return percentile(lat, .95), nil
}

// groupThousands formats n as 1,000,000.
func groupThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
