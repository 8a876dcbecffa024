package openaitest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The fake's costs and completions usage (GET /v1/organization/costs and
// GET /v1/organization/usage/completions), in the spec's UsageResponse
// shape with CostsResult and UsageCompletionsResult results.
//
// Spend is synthetic and deterministic: every project the fake holds (and
// every ID given to AddSpendProject) spends, on most days, on a few line
// items, amounts with six decimals derived from a hash of (project, day,
// line item). Tests learn the exact figures from CostItems and UsageItems,
// and change a day after the fact with SetCost, the way OpenAI's recent
// days still move. Days after the fake's clock (SetNow) have no bucket.
//
// Pages hold at most `limit` buckets and at most ResultsPerPage results, so
// a big bucket is split across pages (both parts carry its start_time);
// next_page is an opaque cursor that only fits the query it came from.
// Grouping costs by api_key_id answers 400, as OpenAI does live.

// Endpoint names of the usage reads, as used by Fault.Endpoint.
const (
	EndpointCosts            = "costs"
	EndpointUsageCompletions = "usage_completions"
)

// DefaultResultsPerPage bounds the results of one page.
const DefaultResultsPerPage = 1000

// LineItems are the line items of the synthetic spend.
var LineItems = []string{"gpt-4o-mini-2024-07-18, input", "gpt-4o-mini-2024-07-18, output", "web search tool calls"}

// Models are the models of the synthetic completions usage.
var Models = []string{"gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14"}

// CostItem is one costs result the fake serves.
type CostItem struct {
	Day       time.Time
	ProjectID string // "" for a result with a null project_id
	LineItem  string
	Value     string // the JSON number text
	Currency  string
}

// UsageItem is one completions usage result the fake serves.
type UsageItem struct {
	Day                                              time.Time
	ProjectID, Model                                 string
	InputTokens, OutputTokens, InputCached, Requests int64
}

type costKey struct {
	day       int64
	projectID string
	lineItem  string
}

// usageState is the Server's cost and usage state (s.mu guards it).
type usageState struct {
	now            func() time.Time
	extraProjects  []string
	overrides      map[costKey]CostItem
	resultsPerPage int
	noSpend        map[string]bool
}

// SetNow sets the fake's clock for costs and usage (time.Now by default).
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.us.now = now
}

// SetResultsPerPage bounds the results of one page (DefaultResultsPerPage
// when n <= 0).
func (s *Server) SetResultsPerPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.us.resultsPerPage = n
}

// AddSpendProject makes id spend although the fake holds no such project
// (the organization's default project, a project of another tool).
func (s *Server) AddSpendProject(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.us.extraProjects, id) {
		s.us.extraProjects = append(s.us.extraProjects, id)
	}
}

// SetNoSpend stops (or restarts) a project's synthetic spend.
func (s *Server) SetNoSpend(projectID string, none bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.us.noSpend == nil {
		s.us.noSpend = map[string]bool{}
	}
	s.us.noSpend[projectID] = none
}

// SetCost sets (or adds) the cost of a project's line item on a day: a
// late change to a recent day, or an unknown line item or currency. An
// empty value removes the result.
func (s *Server) SetCost(projectID string, day time.Time, lineItem, currency, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.us.overrides == nil {
		s.us.overrides = map[costKey]CostItem{}
	}
	d := dayOf(day)
	s.us.overrides[costKey{d.Unix(), projectID, lineItem}] = CostItem{
		Day: d, ProjectID: projectID, LineItem: lineItem, Value: value, Currency: currency,
	}
}

// CostItems returns every costs result the fake serves for the days in
// [from, to), in the order it serves them.
func (s *Server) CostItems(from, to time.Time) []CostItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CostItem
	for d := dayOf(from); d.Before(to) && !d.After(s.today()); d = d.AddDate(0, 0, 1) {
		out = append(out, s.costsOn(d)...)
	}
	return out
}

// CostTotal sums CostItems exactly, by currency.
func (s *Server) CostTotal(from, to time.Time, projectIDs ...string) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, it := range s.CostItems(from, to) {
		if len(projectIDs) > 0 && !slices.Contains(projectIDs, it.ProjectID) {
			continue
		}
		out[it.Currency] = out[it.Currency].Add(decimal.RequireFromString(it.Value))
	}
	return out
}

// UsageItems returns every completions usage result for [from, to).
func (s *Server) UsageItems(from, to time.Time) []UsageItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []UsageItem
	for d := dayOf(from); d.Before(to) && !d.After(s.today()); d = d.AddDate(0, 0, 1) {
		out = append(out, s.usageOn(d)...)
	}
	return out
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// today is the fake clock's day; s.mu must be held.
func (s *Server) today() time.Time {
	now := time.Now
	if s.us.now != nil {
		now = s.us.now
	}
	return dayOf(now())
}

// spenders are the project IDs that spend; s.mu must be held.
func (s *Server) spenders() []string {
	out := make([]string, 0, len(s.projects)+len(s.us.extraProjects))
	for _, p := range s.projects {
		if !s.us.noSpend[p.ID] {
			out = append(out, p.ID)
		}
	}
	for _, id := range s.us.extraProjects {
		if !s.us.noSpend[id] && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func hashOf(parts ...string) uint64 {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return binary.BigEndian.Uint64(h[:8])
}

// costsOn lists a day's costs results; s.mu must be held.
func (s *Server) costsOn(d time.Time) []CostItem {
	ds := d.Format(time.DateOnly)
	var out []CostItem
	seen := map[costKey]bool{}
	for _, id := range s.spenders() {
		for _, li := range LineItems {
			k := costKey{d.Unix(), id, li}
			if o, ok := s.us.overrides[k]; ok {
				seen[k] = true
				if o.Value != "" {
					out = append(out, o)
				}
				continue
			}
			h := hashOf(id, ds, li)
			if h%7 == 0 {
				continue // no spend on that line item that day
			}
			// Micro-dollars up to $2.50: six decimals, like OpenAI's.
			v := decimal.New(int64(h%2_500_000), -6)
			out = append(out, CostItem{Day: d, ProjectID: id, LineItem: li, Value: v.String(), Currency: "usd"})
		}
	}
	// Overrides that add a result (unknown line item, null project).
	keys := make([]costKey, 0)
	for k := range s.us.overrides {
		if k.day == d.Unix() && !seen[k] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b costKey) int {
		return strings.Compare(a.projectID+"\x00"+a.lineItem, b.projectID+"\x00"+b.lineItem)
	})
	for _, k := range keys {
		if o := s.us.overrides[k]; o.Value != "" {
			out = append(out, o)
		}
	}
	return out
}

// usageOn lists a day's completions usage results; s.mu must be held.
func (s *Server) usageOn(d time.Time) []UsageItem {
	ds := d.Format(time.DateOnly)
	var out []UsageItem
	for _, id := range s.spenders() {
		for _, m := range Models {
			h := hashOf(id, ds, m)
			if h%5 == 0 {
				continue
			}
			in := int64(h % 1_000_000)
			out = append(out, UsageItem{
				Day: d, ProjectID: id, Model: m, InputTokens: in, OutputTokens: in / 3,
				InputCached: in / 10, Requests: int64(h%500) + 1,
			})
		}
	}
	return out
}

// ---- HTTP ----

// usageRoute names the usage endpoints.
func usageRoute(method, path string) string {
	if method != "GET" {
		return ""
	}
	switch path {
	case Prefix + "/organization/costs":
		return EndpointCosts
	case Prefix + "/organization/usage/completions":
		return EndpointUsageCompletions
	}
	return ""
}

// usageCursor is what next_page encodes: where the next page starts, and
// the query it belongs to.
type usageCursor struct {
	Query  string `json:"q"`
	Bucket int    `json:"b"`
	Offset int    `json:"o"`
}

// groupBy reads group_by in the spec's form (group_by=a&group_by=b) or the
// bracket form (group_by[]=a), which OpenAI also accepts.
func groupBy(q url.Values) []string {
	return append(slices.Clone(q["group_by"]), q["group_by[]"]...)
}

// queryKey identifies a query apart from its cursor.
func queryKey(endpoint string, q url.Values) string {
	c := cloneValues(q)
	c.Del("page")
	return endpoint + "?" + c.Encode()
}

// parseUsageQuery checks the parameters common to both endpoints; it
// returns the days asked for, the buckets per page and the cursor.
func (s *Server) parseUsageQuery(w responseWriter, endpoint string, q url.Values) (days []time.Time, limit int, cur usageCursor, status int) {
	start, err := strconv.ParseInt(q.Get("start_time"), 10, 64)
	if err != nil {
		return nil, 0, cur, badParam(w, "start_time", "Missing or invalid 'start_time': expected Unix seconds.")
	}
	end := int64(0)
	if v := q.Get("end_time"); v != "" {
		if end, err = strconv.ParseInt(v, 10, 64); err != nil || end <= start {
			return nil, 0, cur, badParam(w, "end_time", "Invalid 'end_time': expected Unix seconds after 'start_time'.")
		}
	}
	bw := q.Get("bucket_width")
	maxLimit := 31
	if endpoint == EndpointCosts {
		maxLimit = 180
		if bw != "" && bw != "1d" {
			return nil, 0, cur, badParam(w, "bucket_width", "Invalid 'bucket_width': only '1d' is supported.")
		}
	} else if bw != "" && bw != "1d" {
		// The fake serves daily buckets only.
		return nil, 0, cur, badParam(w, "bucket_width", "The fake serves 'bucket_width=1d' only.")
	}
	limit = 7
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return nil, 0, cur, badParam(w, "limit", fmt.Sprintf("Invalid 'limit': expected an integer between 1 and %d.", maxLimit))
		}
		limit = n
	}
	allowed := []string{"project_id", "line_item"}
	if endpoint == EndpointUsageCompletions {
		allowed = []string{"project_id", "model"}
	}
	for _, g := range groupBy(q) {
		if g == "api_key_id" && endpoint == EndpointCosts {
			return nil, 0, cur, badParam(w, "group_by", "Grouping costs by 'api_key_id' is not supported for this organization.")
		}
		if !slices.Contains(allowed, g) {
			return nil, 0, cur, badParam(w, "group_by", fmt.Sprintf("The fake does not group by '%s'.", g))
		}
	}
	if len(groupBy(q)) != len(allowed) {
		return nil, 0, cur, badParam(w, "group_by", "The fake serves results grouped by "+strings.Join(allowed, " and ")+" only.")
	}
	if v := q.Get("page"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v, "page_"))
		if err != nil || json.Unmarshal(b, &cur) != nil || cur.Query != queryKey(endpoint, q) {
			return nil, 0, cur, badParam(w, "page", "Invalid 'page': this cursor does not belong to this query.")
		}
	}
	s.mu.Lock()
	today := s.today()
	s.mu.Unlock()
	first := dayOf(time.Unix(start, 0))
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		if end != 0 && d.Unix() >= end {
			break
		}
		days = append(days, d)
	}
	return days, limit, cur, 0
}

func (s *Server) handleCosts(w responseWriter, q url.Values) int {
	return servePage(s, w, EndpointCosts, q, s.costsOn, func(it CostItem) any { return costResultJSON(it) })
}

func (s *Server) handleCompletionsUsage(w responseWriter, q url.Values) int {
	return servePage(s, w, EndpointUsageCompletions, q, s.usageOn, func(it UsageItem) any { return usageResultJSON(it) })
}

// servePage answers one page of endpoint's daily buckets, each holding the
// results itemsOn (called with s.mu held) gives for its day, at most
// resultsPerPage results a page.
func servePage[T any](s *Server, w responseWriter, endpoint string, q url.Values, itemsOn func(time.Time) []T, resultJSON func(T) any) int {
	days, limit, cur, status := s.parseUsageQuery(w, endpoint, q)
	if status != 0 {
		return status
	}
	s.mu.Lock()
	perPage := s.us.resultsPerPage
	if perPage <= 0 {
		perPage = DefaultResultsPerPage
	}
	out := usageBody{Object: "page", Data: []bucketBody{}}
	n := 0
	b, off := cur.Bucket, cur.Offset
	for ; b < len(days) && len(out.Data) < limit && n < perPage; b++ {
		items := itemsOn(days[b])
		bucket := bucketBody{Object: "bucket", StartTime: days[b].Unix(), EndTime: days[b].AddDate(0, 0, 1).Unix(), Results: []any{}}
		for ; off < len(items) && n < perPage; off++ {
			bucket.Results = append(bucket.Results, resultJSON(items[off]))
			n++
		}
		out.Data = append(out.Data, bucket)
		if off < len(items) {
			break // the page is full mid-bucket: the next one resumes here
		}
		off = 0
	}
	s.mu.Unlock()
	s.finishPage(&out, endpoint, q, b, off, len(days))
	return writeJSON(w, 200, out)
}

// finishPage sets has_more and next_page: b and off are where the loop
// stopped (off > 0 when it stopped inside bucket b).
func (s *Server) finishPage(out *usageBody, endpoint string, q url.Values, b, off, nDays int) {
	if off == 0 && b >= nDays {
		return // every bucket served
	}
	raw, _ := json.Marshal(usageCursor{Query: queryKey(endpoint, q), Bucket: b, Offset: off})
	next := "page_" + base64.RawURLEncoding.EncodeToString(raw)
	out.HasMore, out.NextPage = true, &next
}

// usageBody is the spec's UsageResponse.
type usageBody struct {
	Object   string       `json:"object"`
	Data     []bucketBody `json:"data"`
	HasMore  bool         `json:"has_more"`
	NextPage *string      `json:"next_page"`
}

// bucketBody is the spec's UsageTimeBucket.
type bucketBody struct {
	Object    string `json:"object"`
	StartTime int64  `json:"start_time"`
	EndTime   int64  `json:"end_time"`
	Results   []any  `json:"results"`
}

type amountBody struct {
	Value    json.Number `json:"value"` // the exact text, never a float
	Currency string      `json:"currency"`
}

// costResultBody is the spec's CostsResult.
type costResultBody struct {
	Object    string     `json:"object"`
	Amount    amountBody `json:"amount"`
	LineItem  *string    `json:"line_item"`
	ProjectID *string    `json:"project_id"`
	APIKeyID  *string    `json:"api_key_id"`
}

// usageResultBody is the spec's UsageCompletionsResult.
type usageResultBody struct {
	Object            string  `json:"object"`
	InputTokens       int64   `json:"input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	InputCachedTokens int64   `json:"input_cached_tokens"`
	NumModelRequests  int64   `json:"num_model_requests"`
	ProjectID         *string `json:"project_id"`
	UserID            *string `json:"user_id"`
	APIKeyID          *string `json:"api_key_id"`
	Model             *string `json:"model"`
	Batch             *bool   `json:"batch"`
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func costResultJSON(it CostItem) costResultBody {
	return costResultBody{
		Object:   "organization.costs.result",
		Amount:   amountBody{Value: json.Number(it.Value), Currency: it.Currency},
		LineItem: optStr(it.LineItem), ProjectID: optStr(it.ProjectID),
	}
}

func usageResultJSON(it UsageItem) usageResultBody {
	return usageResultBody{
		Object: "organization.usage.completions.result", InputTokens: it.InputTokens, OutputTokens: it.OutputTokens,
		InputCachedTokens: it.InputCached, NumModelRequests: it.Requests,
		ProjectID: optStr(it.ProjectID), Model: optStr(it.Model),
	}
}
