package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
)

// serviceToken creates a host-app service token with scopes and returns
// its value.
func (a *testApp) serviceToken(scopes ...string) string {
	a.t.Helper()
	_, v, err := a.tokens.Create(context.Background(), "costs-"+strings.Join(scopes, "-"), scopes, audit.Actor{Email: "test"})
	if err != nil {
		a.t.Fatal(err)
	}
	return v
}

func (a *testApp) apiGet(path, token string) (*http.Response, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestAPICosts_JSONAndCSVEqualOpenAI: GET /api/v1/costs (JSON) and
// /api/v1/costs.csv answer the month's statement; totals equal OpenAI's
// amounts to the cent; markup default and override; amounts are strings.
func TestAPICosts_JSONAndCSVEqualOpenAI(t *testing.T) {
	t.Parallel()
	a, ids := newCostApp(t, 3, "7.5")
	costAPIToken := a.serviceToken(apitoken.ScopeCostsRead)
	if resp, _ := a.apiGet("/api/v1/costs?month=2026-11", a.serviceToken(apitoken.ScopeKeysRead)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token without costs:read: %d, want 403", resp.StatusCode)
	}
	if err := a.costs.SetMarkup(context.Background(), audit.Actor{Email: "admin@example.com"}, ids[2], "0"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := a.apiGet("/api/v1/costs?month=2026-11", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, _ := a.apiGet("/api/v1/costs?month=2026-11", "wrong-token-wrong-token-wrong-token-x"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	resp, body := a.apiGet("/api/v1/costs?month=2026-11", costAPIToken)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JSON: %d %s", resp.StatusCode, body)
	}
	var got struct {
		Month string `json:"month"`
		Rows  []struct {
			CompanyID     *int64            `json:"company_id"`
			LineItems     map[string]string `json:"line_items"`
			Total         string            `json:"total"`
			MarkupPercent *string           `json:"markup_percent"`
			Billable      *string           `json:"billable"`
			Unattributed  bool              `json:"unattributed"`
		} `json:"rows"`
		Totals []struct {
			Currency, Total, Billable string
		} `json:"totals"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("JSON: %v\n%s", err, body)
	}
	var sum, bill decimal.Decimal
	unattributed := 0
	for _, r := range got.Rows {
		tot := decimal.RequireFromString(r.Total)
		sum = sum.Add(tot)
		var items decimal.Decimal
		for _, v := range r.LineItems {
			items = items.Add(decimal.RequireFromString(v))
		}
		if !items.Equal(tot) {
			t.Errorf("row line items sum to %s, total %s", items, tot)
		}
		if r.Unattributed {
			unattributed++
			if r.CompanyID != nil || r.Billable != nil {
				t.Errorf("unattributed row with a company or billable: %+v", r)
			}
			continue
		}
		pct := "7.5"
		if *r.CompanyID == ids[2] {
			pct = "0"
		}
		want := tot.Add(tot.Mul(decimal.RequireFromString(pct)).Div(decimal.NewFromInt(100))).RoundBank(2)
		if *r.MarkupPercent != pct || *r.Billable != want.StringFixed(2) {
			t.Errorf("company %d: %s%% billable %s, want %s%% %s", *r.CompanyID, *r.MarkupPercent, *r.Billable, pct, want.StringFixed(2))
		}
		bill = bill.Add(want)
	}
	want := a.fakeUSD(day("2026-11-01"), day("2026-12-01"))
	if !sum.Equal(want) || len(got.Totals) != 1 || got.Totals[0].Total != want.String() || got.Totals[0].Billable != bill.StringFixed(2) {
		t.Errorf("JSON sums to %s, totals %+v; OpenAI's amounts %s, billable %s", sum, got.Totals, want, bill.StringFixed(2))
	}
	if len(got.Rows) != 4 || unattributed != 1 {
		t.Errorf("%d rows (%d unattributed), want 4 (1)", len(got.Rows), unattributed)
	}

	resp, body = a.apiGet("/api/v1/costs.csv?month=2026-11", costAPIToken)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: %d %s", resp.StatusCode, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checkStatement(t, a, recs, ids, map[int64]string{ids[2]: "0"}, "7.5")
}

// TestAPICosts_BadMonths: the API answers 400 JSON naming the month field.
func TestAPICosts_BadMonths(t *testing.T) {
	t.Parallel()
	a, _ := newCostApp(t, 1, "0")
	costAPIToken := a.serviceToken(apitoken.ScopeCostsRead)
	for _, tt := range []struct{ month, want string }{
		{"", "YYYY-MM"}, {"2026-13", "not a month"}, {"2026/11", "not a month"},
		{"2026-12", "future"}, {"2026-07", "before the synced history"},
	} {
		for _, path := range []string{"/api/v1/costs", "/api/v1/costs.csv"} {
			resp, body := a.apiGet(path+"?month="+url.QueryEscape(tt.month), costAPIToken)
			var e struct {
				Error struct {
					Status int               `json:"status"`
					Fields map[string]string `json:"fields"`
				} `json:"error"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil ||
				e.Error.Status != 400 || !strings.Contains(e.Error.Fields["month"], tt.want) {
				t.Errorf("%s month=%q: %d %s, want 400 naming month (%q)", path, tt.month, resp.StatusCode, body, tt.want)
			}
		}
	}
}
