package company

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// The company list by month-to-date cost ("top spenders"), highest first.
// The cost is company_costs.mtd, which the usage sync (internal/cost)
// keeps for every company, so pages walk the index (mtd, company_id) by
// keyset at a million companies like the other sorts. Ties (most
// companies cost nothing) are broken by id, highest first.

// costCursor is a position in the cost order.
type costCursor struct {
	Sort ListSort `json:"s"`
	MTD  string   `json:"c"` // the exact decimal text
	ID   int64    `json:"id"`
}

func (c costCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCostCursor(s string) (*costCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrInvalidCursor
	}
	var c costCursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort != SortCost || c.ID <= 0 {
		return nil, ErrInvalidCursor
	}
	if _, err := decimal.NewFromString(c.MTD); err != nil {
		return nil, ErrInvalidCursor
	}
	return &c, nil
}

type costRow struct {
	c   dbgen.Company
	mtd decimal.Decimal
}

func (s *Service) listByCost(ctx context.Context, p ListParams) (Page, error) {
	var after, before *costCursor
	var err error
	if p.Before != "" {
		if before, err = decodeCostCursor(p.Before); err != nil {
			return Page{}, err
		}
	} else if p.After != "" {
		if after, err = decodeCostCursor(p.After); err != nil {
			return Page{}, err
		}
	}
	f := listFilter{
		OnlyMissing: p.Filter == FilterMissing, OnlyFailed: p.Filter == FilterFailed,
		Search: p.Query, NamePattern: namePattern(p.Query),
	}
	fetch := func(q *dbgen.Queries, backwards bool, cur *costCursor, limit int) ([]costRow, error) {
		arg := dbgen.ListCompaniesByCostParams{
			OnlyMissing: f.OnlyMissing, OnlyFailed: f.OnlyFailed, Search: f.Search, NamePattern: f.NamePattern,
			MaxRows: int32(limit),
		}
		if cur != nil {
			arg.HasCursor, arg.CursorMtd, arg.CursorID = true, decimal.RequireFromString(cur.MTD), cur.ID
		}
		var out []costRow
		if backwards {
			rows, err := q.ListCompaniesByCostAsc(ctx, dbgen.ListCompaniesByCostAscParams(arg))
			for _, r := range rows {
				out = append(out, costRow{r.Company, r.Mtd})
			}
			return out, err
		}
		rows, err := q.ListCompaniesByCost(ctx, arg)
		for _, r := range rows {
			out = append(out, costRow{r.Company, r.Mtd})
		}
		return out, err
	}
	rows, hasNext, hasPrev, err := readKeyset(ctx, s, p.Limit, after, before, fetch)
	if err != nil {
		return Page{}, fmt.Errorf("list companies by cost: %w", err)
	}
	return pageOf(rows, hasNext, hasPrev, func(r costRow) dbgen.Company { return r.c },
		func(r costRow) string { return costCursor{Sort: SortCost, MTD: r.mtd.String(), ID: r.c.ID}.encode() }), nil
}
