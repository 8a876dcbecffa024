package openai

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/shopspring/decimal"
)

// Cost and usage reads (GET /organization/costs, GET
// /organization/usage/completions). Both answer daily buckets, one page at a
// time: the caller holds the page cursor, so that a sync can persist it and
// resume after a crash. Rules kept here:
//
//   - Money is never a float. The SDK decodes amount.value into a float64;
//     we read the number's JSON text as OpenAI sent it (the SDK keeps it in
//     the field's raw JSON) and parse that into a decimal.
//   - Costs are grouped by project_id and line_item only: grouping by
//     api_key_id is documented but answers 400 live.
//   - group_by is sent the way the spec declares it (form style, exploded:
//     group_by=project_id&group_by=line_item), not in the SDK's bracket
//     style (group_by[]=…), which the spec does not name.
//   - The SDK's own retries are off: a 429 comes back to the sync at once
//     with its Retry-After, so that the sync (and the rate governor every
//     request passes through) decides when to ask again, and a page's
//     progress is saved before waiting.

// Endpoint names of the usage reads, used for metrics and errors.
const (
	EndpointCosts            = "costs"
	EndpointUsageCompletions = "usage_completions"
)

// Day is one UTC day, as OpenAI's 1d buckets are.
func Day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// CostLine is one result of a costs bucket: what one project spent on one
// line item on one day. ProjectID and LineItem are "" when OpenAI gives
// null (costs outside any project, or not itemized).
type CostLine struct {
	Day       time.Time
	ProjectID string
	LineItem  string
	Amount    decimal.Decimal
	Currency  string // as OpenAI sent it, lower case ISO-4217 normally ("usd")
}

// UsageLine is one result of a completions usage bucket: one project's use
// of one model on one day.
type UsageLine struct {
	Day               time.Time
	ProjectID         string
	Model             string
	InputTokens       int64
	OutputTokens      int64
	InputCachedTokens int64
	Requests          int64
}

// PageQuery selects one page of daily buckets in [Start, End).
type PageQuery struct {
	Start, End time.Time
	// Page is the cursor of the page to read ("" for the first).
	Page string
	// Limit is the number of buckets per page; 0 lets OpenAI choose.
	Limit int
}

// optionals are q's optional query fields in the SDK's types; a zero
// field of q stays unset.
func (q PageQuery) optionals() (end, limit param.Opt[int64], page param.Opt[string]) {
	if !q.End.IsZero() {
		end = sdk.Int(q.End.Unix())
	}
	if q.Limit > 0 {
		limit = sdk.Int(int64(q.Limit))
	}
	if q.Page != "" {
		page = sdk.String(q.Page)
	}
	return end, limit, page
}

// CostPage is one page of costs.
type CostPage struct {
	Lines []CostLine
	// Days are the buckets the page covered, results or not.
	Days []time.Time
	// NextPage is the cursor of the following page; "" when HasMore is false.
	NextPage string
	HasMore  bool
}

// UsagePage is one page of completions usage.
type UsagePage struct {
	Lines    []UsageLine
	Days     []time.Time
	NextPage string
	HasMore  bool
}

// Usage is the part of the Admin API that the cost sync reads.
type Usage interface {
	// Costs reads one page of daily costs by project and line item.
	Costs(ctx context.Context, q PageQuery) (CostPage, error)
	// CompletionsUsage reads one page of daily completions usage by
	// project and model.
	CompletionsUsage(ctx context.Context, q PageQuery) (UsagePage, error)
}

var _ Usage = (*Client)(nil)

// Costs implements Usage.
func (c *Client) Costs(ctx context.Context, q PageQuery) (CostPage, error) {
	params := sdk.AdminOrganizationUsageCostsParams{
		StartTime:   q.Start.Unix(),
		BucketWidth: sdk.AdminOrganizationUsageCostsParamsBucketWidth1d,
	}
	params.EndTime, params.Limit, params.Page = q.optionals()
	var resp *http.Response
	res, err := c.usage.Costs(ctx, params,
		option.WithQueryAdd("group_by", "project_id"), option.WithQueryAdd("group_by", "line_item"),
		option.WithMaxRetries(0), option.WithResponseInto(&resp))
	if err != nil {
		return CostPage{}, c.wrap(EndpointCosts, resp, err)
	}
	page := CostPage{HasMore: res.HasMore, NextPage: res.NextPage}
	for _, b := range res.Data {
		day := time.Unix(b.StartTime, 0).UTC()
		page.Days = append(page.Days, day)
		for _, u := range b.Results {
			r := u.AsOrganizationCostsResult()
			raw := strings.TrimSpace(r.Amount.JSON.Value.Raw())
			if raw == "" || raw == "null" {
				raw = "0"
			}
			amount, err := decimal.NewFromString(raw)
			if err != nil {
				return CostPage{}, c.wrap(EndpointCosts, resp, fmt.Errorf("%w: amount.value %q is not a number", errMalformedUsage, raw))
			}
			page.Lines = append(page.Lines, CostLine{
				Day: day, ProjectID: r.ProjectID, LineItem: r.LineItem,
				Amount: amount, Currency: r.Amount.Currency,
			})
		}
	}
	if page.HasMore && page.NextPage == "" {
		return CostPage{}, c.wrap(EndpointCosts, resp, fmt.Errorf("%w: has_more without next_page", errMalformedUsage))
	}
	return page, nil
}

// CompletionsUsage implements Usage.
func (c *Client) CompletionsUsage(ctx context.Context, q PageQuery) (UsagePage, error) {
	params := sdk.AdminOrganizationUsageCompletionsParams{
		StartTime:   q.Start.Unix(),
		BucketWidth: sdk.AdminOrganizationUsageCompletionsParamsBucketWidth1d,
	}
	params.EndTime, params.Limit, params.Page = q.optionals()
	var resp *http.Response
	res, err := c.usage.Completions(ctx, params,
		option.WithQueryAdd("group_by", "project_id"), option.WithQueryAdd("group_by", "model"),
		option.WithMaxRetries(0), option.WithResponseInto(&resp))
	if err != nil {
		return UsagePage{}, c.wrap(EndpointUsageCompletions, resp, err)
	}
	page := UsagePage{HasMore: res.HasMore, NextPage: res.NextPage}
	for _, b := range res.Data {
		day := time.Unix(b.StartTime, 0).UTC()
		page.Days = append(page.Days, day)
		for _, u := range b.Results {
			r := u.AsOrganizationUsageCompletionsResult()
			page.Lines = append(page.Lines, UsageLine{
				Day: day, ProjectID: r.ProjectID, Model: r.Model,
				InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
				InputCachedTokens: r.InputCachedTokens, Requests: r.NumModelRequests,
			})
		}
	}
	if page.HasMore && page.NextPage == "" {
		return UsagePage{}, c.wrap(EndpointUsageCompletions, resp, fmt.Errorf("%w: has_more without next_page", errMalformedUsage))
	}
	return page, nil
}

var errMalformedUsage = fmt.Errorf("malformed response")

// usageEndpointOf names the usage endpoints for metrics.
func usageEndpointOf(path string) (string, bool) {
	switch {
	case strings.HasSuffix(path, "/organization/costs"):
		return EndpointCosts, true
	case strings.HasSuffix(path, "/organization/usage/completions"):
		return EndpointUsageCompletions, true
	}
	return "", false
}
