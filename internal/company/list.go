package company

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// ListSort orders the company list.
type ListSort string

const (
	SortNewest ListSort = "newest" // signup date, newest first (the default)
	SortOldest ListSort = "oldest" // signup date, oldest first
	SortName   ListSort = "name"   // name, A to Z, ignoring letter case
	SortCost   ListSort = "cost"   // month-to-date cost, highest first (list_cost.go)
)

// ListFilter narrows the company list.
type ListFilter string

const (
	FilterAll     ListFilter = "all"
	FilterMissing ListFilter = "missing" // companies without a project ID
	FilterFailed  ListFilter = "failed"  // companies whose provisioning failed for good
	FilterNoKey   ListFilter = "no-key"  // companies with a project but no current OpenAI key
	FilterWaiting ListFilter = "waiting" // companies held back by a safeguard
)

// PageSize is the number of companies on a page of the list.
const PageSize = 50

// maxQueryLen bounds a search; no name, email or project ID is longer.
const maxQueryLen = MaxEmailLen

// ListParams select a page of the company list.
type ListParams struct {
	// Query matches any part of the name (ignoring letter case; a query of
	// one or two characters matches the start of the name), the contact's
	// whole email address (ignoring letter case) or the whole project ID.
	Query  string
	Filter ListFilter
	Sort   ListSort
	// After is a Page.Next cursor: the page that follows. Before is a
	// Page.Prev cursor: the page that precedes. With neither, the first page.
	After, Before string
	// Limit is the page size: PageSize when zero.
	Limit int
}

// Normalize trims the query and replaces an unknown sort, filter or limit
// by its default.
func (p ListParams) Normalize() ListParams {
	p.Query = strings.TrimSpace(p.Query)
	if utf8.RuneCountInString(p.Query) > maxQueryLen {
		p.Query = string([]rune(p.Query)[:maxQueryLen])
	}
	if !slices.Contains([]ListFilter{FilterAll, FilterMissing, FilterFailed, FilterNoKey, FilterWaiting}, p.Filter) {
		p.Filter = FilterAll
	}
	if !slices.Contains([]ListSort{SortNewest, SortOldest, SortName, SortCost}, p.Sort) {
		p.Sort = SortNewest
	}
	if p.Limit <= 0 || p.Limit > 500 {
		p.Limit = PageSize
	}
	return p
}

// Page is one page of the company list.
type Page struct {
	Companies []Company
	// Next is the cursor of the following page, "" on the last page.
	Next string
	// Prev is the cursor of the preceding page, "" on the first page.
	Prev string
	// HasPrev is true when pages precede this one, even if Prev cannot be
	// computed (an empty page reached through a stale cursor).
	HasPrev bool
}

// ErrInvalidCursor is returned by List for a cursor it did not make, or
// made for another sort order.
var ErrInvalidCursor = errors.New("company: invalid page cursor")

// List returns a page of companies. Pages are found by their position in the
// sort order (keyset pagination), never by an offset, so that any page costs
// the same at a million companies and no company is skipped or shown twice
// when companies sign up meanwhile. Returns ErrInvalidCursor.
func (s *Service) List(ctx context.Context, p ListParams) (Page, error) {
	p = p.Normalize()
	if p.Sort == SortCost {
		return s.listByCost(ctx, p)
	}
	var after, before *cursor
	var err error
	if p.Before != "" {
		if before, err = decodeCursor(p.Before, p.Sort); err != nil {
			return Page{}, err
		}
	} else if p.After != "" {
		if after, err = decodeCursor(p.After, p.Sort); err != nil {
			return Page{}, err
		}
	}
	f := listFilter{
		OnlyMissing: p.Filter == FilterMissing, OnlyFailed: p.Filter == FilterFailed, OnlyNoKey: p.Filter == FilterNoKey, OnlyWaiting: p.Filter == FilterWaiting,
		Search: p.Query, NamePattern: namePattern(p.Query),
	}

	rows, hasNext, hasPrev, err := readKeyset(ctx, s, p.Limit, after, before,
		func(q *dbgen.Queries, backwards bool, cur *cursor, n int) ([]listRow, error) {
			return fetchPage(ctx, q, p.Sort, backwards, f, cur, n)
		})
	if err != nil {
		return Page{}, fmt.Errorf("list companies: %w", err)
	}
	return pageOf(rows, hasNext, hasPrev, func(r listRow) dbgen.Company { return r.Company },
		func(r listRow) string { return cursorOf(p.Sort, r).encode() }), nil
}

// listRow is a row of any of the list queries, which share one shape.
type listRow = dbgen.ListCompaniesNewestRow

// listFilter is the part of the list queries' parameters that does not
// depend on the sort order.
type listFilter struct {
	OnlyMissing, OnlyFailed, OnlyNoKey, OnlyWaiting bool
	Search, NamePattern                             string
}

// fetchPage runs the query of the sort order, or of its reverse when
// backwards, from the cursor (from the start when nil).
func fetchPage(ctx context.Context, q *dbgen.Queries, sort ListSort, backwards bool, f listFilter, cur *cursor, limit int) ([]listRow, error) {
	byDate := dbgen.ListCompaniesNewestParams{
		OnlyMissing: f.OnlyMissing, OnlyFailed: f.OnlyFailed, OnlyNoKey: f.OnlyNoKey, OnlyWaiting: f.OnlyWaiting, Search: f.Search, NamePattern: f.NamePattern,
		MaxRows: int32(limit),
	}
	byName := dbgen.ListCompaniesByNameParams{
		OnlyMissing: f.OnlyMissing, OnlyFailed: f.OnlyFailed, OnlyNoKey: f.OnlyNoKey, OnlyWaiting: f.OnlyWaiting, Search: f.Search, NamePattern: f.NamePattern,
		MaxRows: int32(limit),
	}
	if cur != nil {
		byDate.HasCursor, byDate.CursorCreatedAt, byDate.CursorID = true, time.UnixMicro(cur.At), cur.ID
		byName.HasCursor, byName.CursorName, byName.CursorID = true, cur.Name, cur.ID
	}
	newestFirst := sort == SortNewest
	switch {
	case sort == SortName && !backwards:
		rows, err := q.ListCompaniesByName(ctx, byName)
		return convertRows(rows), err
	case sort == SortName:
		rows, err := q.ListCompaniesByNameDesc(ctx, dbgen.ListCompaniesByNameDescParams(byName))
		return convertRows(rows), err
	case newestFirst != backwards:
		return q.ListCompaniesNewest(ctx, byDate)
	default:
		rows, err := q.ListCompaniesOldest(ctx, dbgen.ListCompaniesOldestParams(byDate))
		return convertRows(rows), err
	}
}

// convertRows turns the rows of another list query into listRows: sqlc
// gives each query its own row type, all of the same shape.
func convertRows[R dbgen.ListCompaniesOldestRow | dbgen.ListCompaniesByNameRow | dbgen.ListCompaniesByNameDescRow](rows []R) []listRow {
	out := make([]listRow, len(rows))
	for i, r := range rows {
		out[i] = listRow(r)
	}
	return out
}

// namePattern is the LIKE pattern of a search: any part of the name, or the
// start of the name for a query of one or two characters, which the trigram
// index can only serve as a prefix.
func namePattern(q string) string {
	if q == "" {
		return ""
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
	if utf8.RuneCountInString(q) < 3 {
		return esc + "%"
	}
	return "%" + esc + "%"
}

// cursor is a position in the list: the sort key and id of a company.
type cursor struct {
	Sort ListSort `json:"s"`
	At   int64    `json:"t,omitempty"` // created_at, in microseconds (PostgreSQL's precision)
	Name string   `json:"n,omitempty"` // lower(name), as PostgreSQL lowers it
	ID   int64    `json:"id"`
}

func cursorOf(sort ListSort, r listRow) cursor {
	c := cursor{Sort: sort, ID: r.Company.ID}
	if sort == SortName {
		c.Name = r.NameKey
	} else {
		c.At = r.Company.CreatedAt.UnixMicro()
	}
	return c
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // cannot fail for this struct
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, sort ListSort) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrInvalidCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort != sort || c.ID <= 0 {
		return nil, ErrInvalidCursor
	}
	return &c, nil
}

// Totals are the counts shown above the company list.
type Totals struct {
	Companies   int64
	WithProject int64
	Missing     int64 // without a project ID, whatever their status
	Failed      int64
	Waiting     int64 // held back by a safeguard (budget, capacity, approval)
}

// Totals counts the companies, in one statement that reads indexes only.
func (s *Service) Totals(ctx context.Context) (Totals, error) {
	r, err := s.q.CompanyTotals(ctx)
	if err != nil {
		return Totals{}, fmt.Errorf("count companies: %w", err)
	}
	return Totals{Companies: r.Total, WithProject: r.Total - r.Missing, Missing: r.Missing, Failed: r.Failed, Waiting: r.Waiting}, nil
}

// ProvisionAttempt is one try at giving a company its project, as shown in
// the company's history.
type ProvisionAttempt struct {
	ID      int64
	Trigger string // provision.TriggerSignup, TriggerRetry, …
	Actor   string // staff email for manual attempts
	// JobID is the River job the attempt ran in; zero when none.
	JobID      int64
	StartedAt  time.Time
	FinishedAt *time.Time
	// Outcome is "started" while the attempt runs (or if its process died),
	// then created, linked, skipped, retryable, uncertain or failed.
	Outcome         string
	ProjectID       string
	Error           string
	HTTPStatus      int // OpenAI's answer; zero when there was none
	OpenAIRequestID string
}

// Duration is how long a finished attempt took.
func (a ProvisionAttempt) Duration() (time.Duration, bool) {
	if a.FinishedAt == nil {
		return 0, false
	}
	return a.FinishedAt.Sub(a.StartedAt), true
}

// HistoryLimit is how many attempts History returns at most.
const HistoryLimit = 100

// History returns the company's latest provisioning attempts, newest first.
func (s *Service) History(ctx context.Context, companyID int64) ([]ProvisionAttempt, error) {
	rows, err := s.q.ListCompanyAttempts(ctx, dbgen.ListCompanyAttemptsParams{CompanyID: companyID, MaxRows: HistoryLimit})
	if err != nil {
		return nil, fmt.Errorf("history of company %d: %w", companyID, err)
	}
	out := make([]ProvisionAttempt, len(rows))
	for i, r := range rows {
		a := ProvisionAttempt{
			ID: r.ID, Trigger: r.Trigger, Actor: r.Actor, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
			Outcome: r.Outcome, Error: r.Error, OpenAIRequestID: r.OpenAIRequestID,
		}
		if r.JobID != nil {
			a.JobID = *r.JobID
		}
		if r.ProjectID != nil {
			a.ProjectID = *r.ProjectID
		}
		if r.HTTPStatus != nil {
			a.HTTPStatus = int(*r.HTTPStatus)
		}
		out[i] = a
	}
	return out, nil
}
