package openai_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// readAllCosts follows every page of costs in [from, to).
func readAllCosts(t *testing.T, c *openai.Client, from, to time.Time, limit int) ([]openai.CostLine, int) {
	t.Helper()
	var lines []openai.CostLine
	q := openai.PageQuery{Start: from, End: to, Limit: limit}
	pages := 0
	for {
		p, err := c.Costs(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		lines = append(lines, p.Lines...)
		if !p.HasMore {
			return lines, pages
		}
		q.Page = p.NextPage
	}
}

// TestCostsAndUsageConformToSpec reads costs and completions usage over
// several pages (buckets split across pages included), through the spec
// checker, and checks every amount is OpenAI's exact decimal text.
func TestCostsAndUsageConformToSpec(t *testing.T) {
	t.Parallel()
	checker := specChecker(t)
	e := newEnv(t, func(o *openai.Options) {
		o.HTTPClient = &http.Client{Transport: checker.Transport(http.DefaultTransport)}
	})
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	e.fake.SetNow(func() time.Time { return now })
	for i := range 30 {
		e.fake.AddProject("p"+string(rune('a'+i%26))+string(rune('a'+i/26)), false)
	}
	e.fake.SetResultsPerPage(70) // 30 projects × ≤3 items: most buckets split
	from, to := now.AddDate(0, 0, -10), now.AddDate(0, 0, 1)
	// An amount a float64 cannot hold, an unknown currency and line item,
	// and a result outside any project.
	e.fake.SetCost("", now.AddDate(0, 0, -2), "", "usd", "0.10000000000000000001")
	e.fake.SetCost(e.fake.Projects()[0].ID, now.AddDate(0, 0, -3), "brand new thing", "eur", "12.345678901234")

	lines, pages := readAllCosts(t, e.client, openai.Day(from), openai.Day(to), 4)
	if pages < 3 {
		t.Errorf("%d pages, want several", pages)
	}
	items := e.fake.CostItems(openai.Day(from), openai.Day(to))
	if len(lines) != len(items) {
		t.Fatalf("read %d lines, the fake serves %d", len(lines), len(items))
	}
	got, want := decimal.Zero, decimal.Zero
	for i, it := range items {
		l := lines[i]
		if !l.Day.Equal(it.Day) || l.ProjectID != it.ProjectID || l.LineItem != it.LineItem || l.Currency != it.Currency ||
			l.Amount.String() != decimal.RequireFromString(it.Value).String() {
			t.Fatalf("line %d = %+v, want %+v", i, l, it)
		}
		got, want = got.Add(l.Amount), want.Add(decimal.RequireFromString(it.Value))
	}
	if !got.Equal(want) {
		t.Errorf("sum %s, want %s", got, want)
	}
	found := false
	for _, l := range lines {
		if l.ProjectID == "" && l.Amount.String() == "0.10000000000000000001" {
			found = true
		}
	}
	if !found {
		t.Error("the exact amount 0.10000000000000000001 was not read exactly")
	}

	// Completions usage, 1d buckets by project and model.
	q := openai.PageQuery{Start: openai.Day(from), End: openai.Day(to), Limit: 3}
	var usage []openai.UsageLine
	for {
		p, err := e.client.CompletionsUsage(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		usage = append(usage, p.Lines...)
		if !p.HasMore {
			break
		}
		q.Page = p.NextPage
	}
	uitems := e.fake.UsageItems(openai.Day(from), openai.Day(to))
	if len(usage) != len(uitems) || len(usage) == 0 {
		t.Fatalf("read %d usage lines, want %d", len(usage), len(uitems))
	}
	for i, u := range uitems {
		l := usage[i]
		if l.ProjectID != u.ProjectID || l.Model != u.Model || l.InputTokens != u.InputTokens ||
			l.OutputTokens != u.OutputTokens || l.InputCachedTokens != u.InputCached || l.Requests != u.Requests {
			t.Fatalf("usage %d = %+v, want %+v", i, l, u)
		}
	}

	// A 429 comes back as a transient *Error with its Retry-After.
	e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCosts, Status: 429, RetryAfter: "7"})
	_, err := e.client.Costs(context.Background(), openai.PageQuery{Start: openai.Day(from)})
	oe := asError(t, err)
	if oe.StatusCode != 429 || oe.Kind != openai.Transient || oe.RetryAfter != 7*time.Second {
		t.Errorf("429: %+v", oe)
	}
	// The costs requests group by project and line item, never by key.
	for _, r := range e.fake.Requests() {
		if r.Endpoint == openaitest.EndpointCosts {
			if g := strings.Join(r.Query["group_by"], ","); g != "project_id,line_item" {
				t.Errorf("costs group_by = %q", g)
			}
		}
	}
	if v := checker.Violations(); len(v) != 0 {
		t.Errorf("%d spec violations:\n%s", len(v), strings.Join(v, "\n"))
	}
	reqs, resps := checker.Checked()
	if reqs < 5 || resps < 5 {
		t.Errorf("checked only %d requests, %d responses", reqs, resps)
	}
}

// TestFakeRefusesKeyGroupingAndForeignCursor: the fake answers 400 to
// group_by=api_key_id (as OpenAI does live) and to a cursor of another
// query.
func TestFakeRefusesKeyGroupingAndForeignCursor(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{})
	t.Cleanup(fake.Close)
	get := func(q string) int {
		resp, err := http.Get(fake.URL + "/organization/costs?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("start_time=1730419200&group_by=api_key_id"); s != 400 {
		t.Errorf("group_by=api_key_id: %d, want 400", s)
	}
	if s := get("start_time=1730419200&group_by=project_id&group_by=line_item&page=page_garbage"); s != 400 {
		t.Errorf("bad cursor: %d, want 400", s)
	}
	if s := get("group_by=project_id&group_by=line_item"); s != 400 {
		t.Errorf("no start_time: %d, want 400", s)
	}
}
