package cost

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Monthly statements: one row per company and currency with its cost by
// line item, its total, the markup and the billable amount.
//
// Money rules: Total is the exact sum of OpenAI's amounts (no rounding).
// Markup is Total × percent / 100, exact. Billable is Total + Markup
// rounded to the cent, half to even (banker's rounding), and it is the
// only rounded figure; the statement's grand total is the exact sum of
// every row's Total, unattributed rows included, and so equals the sum of
// OpenAI's amounts for the month. Unattributed rows (projects no company
// held) have no markup and no billable amount.

// ActionMarkupSet is the audit action of a markup override change.
const ActionMarkupSet = audit.ActionMarkupSet

// MonthError is a month that cannot have a statement; Error is the
// message for the user.
type MonthError struct{ Msg string }

func (e *MonthError) Error() string { return e.Msg }

var monthPattern = regexp.MustCompile(`^\d{4}-\d{2}$`)

// ParseMonth checks a statement month ("YYYY-MM"): it must not be in the
// future and must overlap the synced history. Returns a *MonthError.
func (s *Service) ParseMonth(ctx context.Context, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, &MonthError{"Give the month as month=YYYY-MM, for example month=" + monthOf(s.settings.Now()).Format("2006-01") + "."}
	}
	m, err := time.Parse("2006-01", v)
	if err != nil || !monthPattern.MatchString(v) {
		return time.Time{}, &MonthError{fmt.Sprintf("%q is not a month; write it as YYYY-MM, for example %s.", v, monthOf(s.settings.Now()).Format("2006-01"))}
	}
	cur := monthOf(s.settings.Now())
	if m.After(cur) {
		return time.Time{}, &MonthError{fmt.Sprintf("%s is in the future; the latest statement is for %s (month to date).", v, cur.Format("2006-01"))}
	}
	first, err := s.q.FirstSyncedDay(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("first synced day: %w", err)
	}
	if first.Runs == 0 {
		return time.Time{}, &MonthError{"No costs have been synced from OpenAI yet; run a sync first (provisioner sync usage, or Sync now on the costs page)."}
	}
	if !m.AddDate(0, 1, 0).After(first.FirstDay) {
		return time.Time{}, &MonthError{fmt.Sprintf("%s is before the synced history, which starts on %s; the earliest statement is for %s.",
			v, first.FirstDay.Format(time.DateOnly), monthOf(first.FirstDay).Format("2006-01"))}
	}
	return m, nil
}

// StatementRow is one company's (or one unattributed project's) costs of
// the month in one currency.
type StatementRow struct {
	CompanyID   int64 // 0: unattributed
	CompanyName string
	ProjectIDs  []string
	Currency    string
	ByLineItem  map[string]decimal.Decimal
	Total       decimal.Decimal
	// MarkupPercent is the company's override, or the default.
	MarkupPercent  decimal.Decimal
	MarkupOverride bool
	Markup         decimal.Decimal
	Billable       decimal.Decimal // rounded to the cent, half to even
}

// Unattributed reports whether no company held the row's project.
func (r StatementRow) Unattributed() bool { return r.CompanyID == 0 }

// StatementTotals are a statement's sums in one currency.
type StatementTotals struct {
	Currency     string
	Total        decimal.Decimal // exact: equals OpenAI's amounts
	Unattributed decimal.Decimal
	Markup       decimal.Decimal
	Billable     decimal.Decimal // sum of the rows' billable amounts
	Companies    int
}

// StatementInfo describes a statement before its rows.
type StatementInfo struct {
	Month         time.Time
	LineItems     []string
	DefaultMarkup decimal.Decimal
	// Partial is true when the synced history starts inside the month, or
	// the month is the current one.
	Partial bool
	AsOf    *Run // the last finished sync
}

// defaultStatementBatch is how many rollup rows a statement reads at a
// time: memory stays flat whatever the number of companies.
const defaultStatementBatch = 5000

// Statement streams the month's rows to fn (companies by id, unattributed
// projects last) and returns the totals. month must come from ParseMonth.
func (s *Service) Statement(ctx context.Context, month time.Time, info func(StatementInfo) error, fn func(StatementRow) error) ([]StatementTotals, error) {
	def, err := decimal.NewFromString(s.settings.MarkupPercent)
	if err != nil {
		return nil, fmt.Errorf("MARKUP_PERCENT %q: %w", s.settings.MarkupPercent, err)
	}
	items, err := s.q.StatementLineItems(ctx, month)
	if err != nil {
		return nil, fmt.Errorf("statement line items: %w", err)
	}
	si := StatementInfo{Month: month, DefaultMarkup: def}
	for _, it := range items {
		si.LineItems = append(si.LineItems, lineItemKey(it, BillingCurrency))
	}
	if first, err := s.q.FirstSyncedDay(ctx); err == nil && first.Runs > 0 && first.FirstDay.After(month) {
		si.Partial = true
	}
	if !monthOf(s.settings.Now()).After(month) {
		si.Partial = true
	}
	if last, err := s.q.LastFinishedSyncRun(ctx); err == nil {
		r := runFromRow(last)
		si.AsOf = &r
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	if info != nil {
		if err := info(si); err != nil {
			return nil, err
		}
	}

	totals := map[string]*StatementTotals{}
	add := func(r StatementRow) error {
		t := totals[r.Currency]
		if t == nil {
			t = &StatementTotals{Currency: r.Currency}
			totals[r.Currency] = t
		}
		t.Total = t.Total.Add(r.Total)
		if r.Unattributed() {
			t.Unattributed = t.Unattributed.Add(r.Total)
		} else {
			t.Markup = t.Markup.Add(r.Markup)
			t.Billable = t.Billable.Add(r.Billable)
			t.Companies++
		}
		return fn(r)
	}
	var unattributed []dbgen.StatementLinesRow
	after, batch := int64(-1), s.statementBatch
	for {
		rows, err := s.q.StatementLines(ctx, dbgen.StatementLinesParams{Month: month, AfterCompany: after, MaxRows: int32(batch)})
		if err != nil {
			return nil, fmt.Errorf("statement: %w", err)
		}
		full := len(rows) == batch
		if full {
			// The last company may go on in the next batch: leave it.
			last := rows[len(rows)-1].CompanyKey
			cut := len(rows)
			for cut > 0 && rows[cut-1].CompanyKey == last {
				cut--
			}
			if cut == 0 {
				batch *= 2 // one company fills the batch
				continue
			}
			rows = rows[:cut]
		}
		for len(rows) > 0 {
			key := rows[0].CompanyKey
			n := 1
			for n < len(rows) && rows[n].CompanyKey == key {
				n++
			}
			group := rows[:n]
			rows = rows[n:]
			after = key
			if key == 0 {
				unattributed = append(unattributed, group...)
				continue
			}
			for _, r := range companyRows(group, def) {
				if err := add(r); err != nil {
					return nil, err
				}
			}
		}
		if !full {
			break
		}
	}
	// Unattributed: one row per project and currency.
	slices.SortStableFunc(unattributed, func(a, b dbgen.StatementLinesRow) int {
		return strings.Compare(a.ProjectID+"\x00"+a.Currency, b.ProjectID+"\x00"+b.Currency)
	})
	for len(unattributed) > 0 {
		n := 1
		for n < len(unattributed) && unattributed[n].ProjectID == unattributed[0].ProjectID && unattributed[n].Currency == unattributed[0].Currency {
			n++
		}
		for _, r := range companyRows(unattributed[:n], decimal.Zero) {
			r.MarkupPercent, r.Markup, r.Billable = decimal.Zero, decimal.Zero, decimal.Zero
			if err := add(r); err != nil {
				return nil, err
			}
		}
		unattributed = unattributed[n:]
	}
	out := make([]StatementTotals, 0, len(totals))
	for _, t := range totals {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b StatementTotals) int {
		switch {
		case a.Currency == b.Currency:
			return 0
		case a.Currency == BillingCurrency:
			return -1
		case b.Currency == BillingCurrency:
			return 1
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return out, nil
}

// companyRows turns one company's rollup rows into a row per currency.
func companyRows(rows []dbgen.StatementLinesRow, def decimal.Decimal) []StatementRow {
	byCur := map[string]*StatementRow{}
	var order []string
	for _, r := range rows {
		sr := byCur[r.Currency]
		if sr == nil {
			sr = &StatementRow{CompanyID: r.CompanyKey, CompanyName: r.CompanyName, Currency: r.Currency,
				ByLineItem: map[string]decimal.Decimal{}, MarkupPercent: def}
			if r.MarkupPercent.Valid {
				sr.MarkupPercent, sr.MarkupOverride = r.MarkupPercent.Decimal, true
			}
			byCur[r.Currency] = sr
			order = append(order, r.Currency)
		}
		if !slices.Contains(sr.ProjectIDs, r.ProjectID) {
			sr.ProjectIDs = append(sr.ProjectIDs, r.ProjectID)
		}
		k := lineItemKey(r.LineItem, BillingCurrency)
		sr.ByLineItem[k] = sr.ByLineItem[k].Add(r.Amount)
		sr.Total = sr.Total.Add(r.Amount)
	}
	slices.Sort(order)
	out := make([]StatementRow, 0, len(order))
	for _, c := range order {
		sr := byCur[c]
		sr.Markup = sr.Total.Mul(sr.MarkupPercent).Div(decimal.NewFromInt(100))
		sr.Billable = sr.Total.Add(sr.Markup).RoundBank(2)
		out = append(out, *sr)
	}
	return out
}

// WriteStatementCSV writes the month's statement as CSV: a header, one
// row per company and currency, unattributed rows (company
// "(unattributed)", no markup or billable), then a TOTAL row per currency.
// Amounts are plain decimals at OpenAI's precision; billable to the cent.
func (s *Service) WriteStatementCSV(ctx context.Context, w io.Writer, month time.Time) error {
	cw := csv.NewWriter(w)
	var items []string
	totals, err := s.Statement(ctx, month, func(si StatementInfo) error {
		items = si.LineItems
		header := []string{"month", "company_id", "company", "projects", "currency"}
		for _, it := range items {
			header = append(header, csvSafe(it)) // line items come from OpenAI: text, never a formula
		}
		header = append(header, "total", "markup_percent", "markup", "billable")
		return cw.Write(header)
	}, func(r StatementRow) error {
		rec := []string{month.Format("2006-01"), "", "(unattributed)", csvSafe(strings.Join(r.ProjectIDs, " ")), csvSafe(r.Currency)}
		if !r.Unattributed() {
			rec[1], rec[2] = strconv.FormatInt(r.CompanyID, 10), csvSafe(r.CompanyName)
		}
		for _, it := range items {
			if v, ok := r.ByLineItem[it]; ok {
				rec = append(rec, v.String())
			} else {
				rec = append(rec, "0")
			}
		}
		if r.Unattributed() {
			rec = append(rec, r.Total.String(), "", "", "")
		} else {
			rec = append(rec, r.Total.String(), r.MarkupPercent.String(), r.Markup.String(), r.Billable.StringFixedBank(2))
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	for _, t := range totals {
		rec := []string{month.Format("2006-01"), "", "TOTAL", "", t.Currency}
		for range items {
			rec = append(rec, "")
		}
		rec = append(rec, t.Total.String(), "", t.Markup.String(), t.Billable.StringFixedBank(2))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a company name from being read as a formula by
// spreadsheets (CSV injection): names starting with = + - @ get a quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ErrCompanyNotFound is returned by SetMarkup for an unknown company.
var ErrCompanyNotFound = errors.New("cost: company not found")

// MarkupError is an invalid markup percentage; Error is for the user.
type MarkupError struct{ Msg string }

func (e *MarkupError) Error() string { return e.Msg }

// ParsePercent reads a markup percentage: a decimal from 0 to 1000.
func ParsePercent(v string) (decimal.Decimal, error) {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "%"))
	d, err := decimal.NewFromString(v)
	if err != nil || strings.ContainsAny(v, "eE") {
		return decimal.Zero, &MarkupError{fmt.Sprintf("%q is not a percentage; write a number such as 10 or 12.5.", v)}
	}
	if d.IsNegative() || d.GreaterThan(decimal.NewFromInt(1000)) {
		return decimal.Zero, &MarkupError{"The markup must be between 0 and 1000 percent."}
	}
	if d.Exponent() < -6 {
		return decimal.Zero, &MarkupError{"Give the markup with at most 6 decimals."}
	}
	return d, nil
}

// Markup returns a company's markup override, nil when it has none.
func (s *Service) Markup(ctx context.Context, companyID int64) (*decimal.Decimal, error) {
	m, err := s.q.GetCompanyMarkup(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &m.Percent, nil
}

// DefaultMarkup is MARKUP_PERCENT.
func (s *Service) DefaultMarkup() string { return s.settings.MarkupPercent }

// SetMarkup sets (percent != "") or removes (percent == "") a company's
// markup override, with an audit entry in the same transaction. Returns
// a *MarkupError or ErrCompanyNotFound.
func (s *Service) SetMarkup(ctx context.Context, actor audit.Actor, companyID int64, percent string) error {
	var p *decimal.Decimal
	if strings.TrimSpace(percent) != "" {
		d, err := ParsePercent(percent)
		if err != nil {
			return err
		}
		p = &d
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		co, err := q.GetCompanyForUpdate(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCompanyNotFound
		}
		if err != nil {
			return err
		}
		before := "default (" + s.settings.MarkupPercent + "%)"
		if m, err := q.GetCompanyMarkup(ctx, companyID); err == nil {
			before = m.Percent.String() + "%"
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		after := "default (" + s.settings.MarkupPercent + "%)"
		if p == nil {
			if _, err := q.DeleteCompanyMarkup(ctx, companyID); err != nil {
				return err
			}
		} else {
			after = p.String() + "%"
			if err := q.SetCompanyMarkup(ctx, dbgen.SetCompanyMarkupParams{CompanyID: companyID, Percent: *p, UpdatedBy: actor.Email}); err != nil {
				return err
			}
		}
		if before == after {
			return nil // nothing changed, nothing to audit
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: ActionMarkupSet, CompanyID: co.ID, CompanyName: co.Name,
			Before: before, After: after,
		})
	})
}
