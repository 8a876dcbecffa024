package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/cost"
)

// The host-app API for monthly statements:
//
//	GET /api/v1/costs?month=YYYY-MM      JSON
//	GET /api/v1/costs.csv?month=YYYY-MM  CSV (the dashboard's download)
//
// Both need the scope costs:read. Amounts are JSON strings holding exact
// decimals ("12.345678"), never JSON numbers, so that no client reads
// money into a float; billable is rounded to the cent, half to even.
//
// They are mounted in apiV1Routes behind requireScope(costs:read).

// apiV1CostRoutes registers the cost routes on v1 behind guard.
func (s *Server) apiV1CostRoutes(v1 *echo.Group, guard echo.MiddlewareFunc) {
	if s.costs == nil {
		return
	}
	v1.GET("/costs", s.handleAPICosts, guard)
	v1.GET("/costs.csv", s.handleAPICostsCSV, guard)
}

// apiMonth checks ?month= and answers 400 naming the field.
func (s *Server) apiMonth(c echo.Context) (time.Time, bool, error) {
	m, err := s.costs.ParseMonth(c.Request().Context(), c.QueryParam("month"))
	var me *cost.MonthError
	if errors.As(err, &me) {
		return m, false, c.JSON(http.StatusBadRequest, map[string]any{"error": map[string]any{
			"status": http.StatusBadRequest, "message": me.Msg, "fields": map[string]string{"month": me.Msg},
		}})
	}
	return m, err == nil, err
}

// apiStatementRow is one row of the JSON statement.
type apiStatementRow struct {
	CompanyID     *int64            `json:"company_id"` // null: unattributed
	Company       string            `json:"company"`
	Projects      []string          `json:"projects"`
	Currency      string            `json:"currency"`
	LineItems     map[string]string `json:"line_items"`
	Total         string            `json:"total"`
	MarkupPercent *string           `json:"markup_percent"`
	Markup        *string           `json:"markup"`
	Billable      *string           `json:"billable"`
	Unattributed  bool              `json:"unattributed"`
}

type apiStatementTotals struct {
	Currency     string `json:"currency"`
	Total        string `json:"total"`
	Unattributed string `json:"unattributed"`
	Markup       string `json:"markup"`
	Billable     string `json:"billable"`
	Companies    int    `json:"companies"`
}

func strPtr(s string) *string { return &s }

// handleAPICosts handles "GET /api/v1/costs?month=YYYY-MM". The answer is
// streamed row by row: memory stays flat at any number of companies.
func (s *Server) handleAPICosts(c echo.Context) error {
	month, ok, err := s.apiMonth(c)
	if !ok {
		return err
	}
	w := c.Response()
	started := false
	enc := json.NewEncoder(w)
	first := true
	totals, err := s.costs.Statement(c.Request().Context(), month, func(si cost.StatementInfo) error {
		w.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		w.WriteHeader(http.StatusOK)
		started = true
		head := map[string]any{
			"month": month.Format("2006-01"), "partial": si.Partial, "line_items": si.LineItems,
			"default_markup_percent": si.DefaultMarkup.String(), "rounding": "billable = total + markup, rounded to the cent, half to even; nothing else is rounded",
		}
		if si.AsOf != nil {
			head["as_of"] = si.AsOf.StartedAt.UTC().Format(time.RFC3339)
		}
		b, err := json.Marshal(head)
		if err != nil {
			return err
		}
		// {"month":…, …, "rows":[ … ], "totals":[…]}
		if _, err := w.Write(append(b[:len(b)-1], []byte(`,"rows":[`)...)); err != nil {
			return err
		}
		return nil
	}, func(r cost.StatementRow) error {
		row := apiStatementRow{
			Company: r.CompanyName, Projects: r.ProjectIDs, Currency: r.Currency,
			LineItems: make(map[string]string, len(r.ByLineItem)), Total: r.Total.String(), Unattributed: r.Unattributed(),
		}
		for k, v := range r.ByLineItem {
			row.LineItems[k] = v.String()
		}
		if !r.Unattributed() {
			id := r.CompanyID
			row.CompanyID = &id
			row.MarkupPercent, row.Markup = strPtr(r.MarkupPercent.String()), strPtr(r.Markup.String())
			row.Billable = strPtr(r.Billable.StringFixedBank(2))
		}
		if !first {
			if _, err := w.Write([]byte(",")); err != nil {
				return err
			}
		}
		first = false
		return enc.Encode(row)
	})
	if err != nil {
		if started {
			s.logger.Error("costs API: statement cut short", "error", err)
			return nil // the status is sent: the client sees invalid JSON
		}
		return err
	}
	out := make([]apiStatementTotals, len(totals))
	for i, t := range totals {
		out[i] = apiStatementTotals{
			Currency: t.Currency, Total: t.Total.String(), Unattributed: t.Unattributed.String(),
			Markup: t.Markup.String(), Billable: t.Billable.StringFixedBank(2), Companies: t.Companies,
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(append([]byte(`],"totals":`), b...), '}', '\n'))
	return err
}

// handleAPICostsCSV handles "GET /api/v1/costs.csv?month=YYYY-MM".
func (s *Server) handleAPICostsCSV(c echo.Context) error {
	month, ok, err := s.apiMonth(c)
	if !ok {
		return err
	}
	return s.writeStatementCSV(c, month)
}
