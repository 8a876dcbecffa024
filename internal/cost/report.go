package cost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// DailyCost is one day of a company's costs.
type DailyCost struct {
	Day        time.Time
	ByLineItem map[string]decimal.Decimal
	Total      decimal.Decimal
}

// ModelUsage is a company's completions usage of one model over a window.
type ModelUsage struct {
	Model                                   string
	InputTokens, OutputTokens, CachedTokens int64
	Requests                                int64
}

// Holding is one period during which a company held a project.
type Holding struct {
	ProjectID string
	From      time.Time
	To        *time.Time // nil while held
}

// CompanyReport is what a company cost, for its page.
type CompanyReport struct {
	From, To time.Time // the window, [From, To)
	// Days has every day of the window, in order, days without cost too.
	Days []DailyCost
	// LineItems are the window's line items, biggest first. An amount in a
	// currency other than usd is its own line item, "<item> [EUR]".
	LineItems []string
	Total     decimal.Decimal
	// MonthToDate and LastMonth are in usd, live from the daily rows.
	MonthToDate, LastMonth decimal.Decimal
	Models                 []ModelUsage
	Holdings               []Holding
	// LastSync is the last finished sync, nil if none.
	LastSync *Run
}

// lineItemKey names a line item in a report; "" is OpenAI's null.
func lineItemKey(item, currency string) string {
	if item == "" {
		item = "(not itemized)"
	}
	if currency != BillingCurrency {
		return item + " [" + strings.ToUpper(currency) + "]"
	}
	return item
}

// Company reports what the company cost over the last days days (today
// included), with its month-to-date and last month's costs.
func (s *Service) Company(ctx context.Context, companyID int64, days int) (CompanyReport, error) {
	if days <= 0 {
		days = 30
	}
	now := s.settings.Now()
	today := day(now)
	rep := CompanyReport{From: today.AddDate(0, 0, -(days - 1)), To: today.AddDate(0, 0, 1)}
	lastMonth := monthOf(now).AddDate(0, -1, 0)
	from := rep.From
	if lastMonth.Before(from) {
		from = lastMonth
	}
	rows, err := s.q.CompanyDailyCosts(ctx, dbgen.CompanyDailyCostsParams{CompanyID: companyID, FromDay: from, ToDay: rep.To})
	if err != nil {
		return rep, fmt.Errorf("costs of company %d: %w", companyID, err)
	}
	byDay := map[time.Time]*DailyCost{}
	for d := rep.From; d.Before(rep.To); d = d.AddDate(0, 0, 1) {
		rep.Days = append(rep.Days, DailyCost{Day: d, ByLineItem: map[string]decimal.Decimal{}})
	}
	for i := range rep.Days {
		byDay[rep.Days[i].Day] = &rep.Days[i]
	}
	itemTotals := map[string]decimal.Decimal{}
	for _, r := range rows {
		d := day(r.Day)
		if r.Currency == BillingCurrency {
			switch {
			case !d.Before(monthOf(now)):
				rep.MonthToDate = rep.MonthToDate.Add(r.Amount)
			case !d.Before(lastMonth):
				rep.LastMonth = rep.LastMonth.Add(r.Amount)
			}
		}
		dc, ok := byDay[d]
		if !ok {
			continue // before the window: last month's figure only
		}
		k := lineItemKey(r.LineItem, r.Currency)
		dc.ByLineItem[k] = dc.ByLineItem[k].Add(r.Amount)
		dc.Total = dc.Total.Add(r.Amount)
		itemTotals[k] = itemTotals[k].Add(r.Amount)
		rep.Total = rep.Total.Add(r.Amount)
	}
	for k := range itemTotals {
		rep.LineItems = append(rep.LineItems, k)
	}
	slices.SortFunc(rep.LineItems, func(a, b string) int {
		if c := itemTotals[b].Cmp(itemTotals[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})

	usage, err := s.q.CompanyDailyUsage(ctx, dbgen.CompanyDailyUsageParams{CompanyID: companyID, FromDay: rep.From, ToDay: rep.To})
	if err != nil {
		return rep, fmt.Errorf("usage of company %d: %w", companyID, err)
	}
	models := map[string]*ModelUsage{}
	for _, u := range usage {
		m := models[u.Model]
		if m == nil {
			m = &ModelUsage{Model: u.Model}
			models[u.Model] = m
		}
		m.InputTokens += u.InputTokens
		m.OutputTokens += u.OutputTokens
		m.CachedTokens += u.InputCachedTokens
		m.Requests += u.Requests
	}
	for _, m := range models {
		rep.Models = append(rep.Models, *m)
	}
	slices.SortFunc(rep.Models, func(a, b ModelUsage) int {
		if c := (b.InputTokens + b.OutputTokens) - (a.InputTokens + a.OutputTokens); c != 0 {
			if c > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Model, b.Model)
	})

	holdings, err := s.q.ListCompanyAssignments(ctx, companyID)
	if err != nil {
		return rep, err
	}
	for _, h := range holdings {
		rep.Holdings = append(rep.Holdings, Holding{ProjectID: h.ProjectID, From: h.ValidFrom, To: h.ValidTo})
	}
	if last, err := s.q.LastFinishedSyncRun(ctx); err == nil {
		r := runFromRow(last)
		rep.LastSync = &r
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return rep, err
	}
	return rep, nil
}

// MonthToDate returns the stored month-to-date usd cost of the given
// companies (as of the last sync); companies without one are absent.
func (s *Service) MonthToDate(ctx context.Context, ids []int64) (map[int64]decimal.Decimal, error) {
	rows, err := s.q.CompanyCostsByIDs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("month-to-date costs: %w", err)
	}
	cur := monthOf(s.settings.Now())
	out := make(map[int64]decimal.Decimal, len(rows))
	for _, r := range rows {
		if r.Month != nil && r.Month.Equal(cur) {
			out[r.CompanyID] = r.Mtd
		} else {
			out[r.CompanyID] = decimal.Zero // not synced this month yet
		}
	}
	return out, nil
}

// CurrencyTotal is a month's total in one currency.
type CurrencyTotal struct {
	Currency     string
	Total        decimal.Decimal
	Unattributed decimal.Decimal
}

// Overview is the organization's cost this month, for the home page.
type Overview struct {
	Month    time.Time
	Totals   []CurrencyTotal // usd first
	LastSync *Run            // the latest run, whatever its outcome
	LastOK   *Run            // the latest finished run
}

// Overview returns this month's organization totals (as of the last
// sync) and the state of the sync.
func (s *Service) Overview(ctx context.Context) (Overview, error) {
	o := Overview{Month: monthOf(s.settings.Now())}
	rows, err := s.q.OrgMonthTotals(ctx, o.Month)
	if err != nil {
		return o, fmt.Errorf("organization totals: %w", err)
	}
	for _, r := range rows {
		o.Totals = append(o.Totals, CurrencyTotal{Currency: r.Currency, Total: r.Total, Unattributed: r.Unattributed})
	}
	slices.SortStableFunc(o.Totals, func(a, b CurrencyTotal) int {
		switch {
		case a.Currency == BillingCurrency:
			return -1
		case b.Currency == BillingCurrency:
			return 1
		}
		return 0
	})
	runs, err := s.Runs(ctx, 1)
	if err != nil {
		return o, err
	}
	if len(runs) > 0 {
		o.LastSync = &runs[0]
	}
	if last, err := s.q.LastFinishedSyncRun(ctx); err == nil {
		r := runFromRow(last)
		o.LastOK = &r
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return o, err
	}
	return o, nil
}
