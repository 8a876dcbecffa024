package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/validation"
)

func TestParseForm(t *testing.T) {
	t.Parallel()
	f := Form{SpendLimitCents: "50,000", Alerts: "40000 ops@example.com, fin@example.com\n45000 ops@example.com",
		RateLimits: "gpt-4o-mini max_requests_per_1_minute=500 max_tokens_per_1_minute=200000", AllowedModels: "gpt-4o-mini, gpt-4.1"}
	d, err := ParseForm(f)
	if err != nil {
		t.Fatal(err)
	}
	if *d.SpendLimitCents != 50000 || len(d.Alerts) != 2 || len(d.Alerts[0].Recipients) != 2 || *d.RateLimits["gpt-4o-mini"].MaxTokensPer1Minute != 200000 || len(d.AllowedModels) != 2 {
		t.Errorf("parsed %s", d.Pretty())
	}
	// The form shows a document the way it reads it back.
	again, err := ParseForm(FormOf(d))
	if err != nil || again.Pretty() != d.Pretty() {
		t.Errorf("round trip: %v\n%s\n%s", err, d.Pretty(), again.Pretty())
	}
	none, err := ParseForm(Form{Alerts: "none"})
	if err != nil || !none.HasAlerts() || len(none.Alerts) != 0 || FormOf(none).Alerts != "none" {
		t.Errorf(`"none" = %+v, %v`, none, err)
	}
	if empty, err := ParseForm(Form{}); err != nil || !empty.Empty() {
		t.Errorf("empty form = %+v, %v", empty, err)
	}

	_, err = ParseForm(Form{SpendLimitCents: "-3", Alerts: "100 ops@example.com\nabc x", RateLimits: "gpt-4o rpm=5", AllowedModels: "gpt-x"})
	var v validation.Errors
	if !errors.As(err, &v) {
		t.Fatalf("bad form: %v", err)
	}
	for field, want := range map[string]string{
		FormSpendLimit: "negative", FormAlerts: "Line 2 (abc x)", FormRateLimits: "gpt-4o.rpm", FormModels: `"gpt-x"`,
	} {
		if !strings.Contains(v[field], want) {
			t.Errorf("%s: %q, want %q", field, v[field], want)
		}
	}
}
