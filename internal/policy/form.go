package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/provisioner/provisioner/internal/validation"
)

// Form is the dashboard's policy form, one text value per key of the
// document; an empty value means the key is absent.
//
//	spend_limit_cents  50000
//	alerts             one per line: 40000 ops@example.com, fin@example.com ("none": no alerts)
//	rate_limits        one per line: gpt-4o-mini max_requests_per_1_minute=500 max_tokens_per_1_minute=200000
//	allowed_models     gpt-4o-mini, gpt-4.1
type Form struct {
	SpendLimitCents string
	Alerts          string
	RateLimits      string
	AllowedModels   string
}

// Form field names, also the keys of ParseForm's errors.
const (
	FormSpendLimit = "spend_limit_cents"
	FormAlerts     = "alerts"
	FormRateLimits = "rate_limits"
	FormModels     = "allowed_models"
)

var numberLike = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// jsonValue turns what was typed into a JSON number when it looks like one
// (so that 12.5 and -3 get Parse's messages) and a string otherwise.
func jsonValue(s string) json.RawMessage {
	if numberLike.MatchString(s) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// ParseForm validates the form through Parse, so that the dashboard and
// the command line refuse the same things; errors are keyed by form field,
// with the line they are about.
func ParseForm(f Form) (Document, error) {
	doc := map[string]json.RawMessage{}
	if v := strings.TrimSpace(f.SpendLimitCents); v != "" {
		doc["spend_limit_cents"] = jsonValue(strings.ReplaceAll(v, ",", ""))
	}
	var alertLines []string
	if strings.EqualFold(strings.TrimSpace(f.Alerts), "none") {
		doc["alerts"] = json.RawMessage("[]") // no alerts at all: ours remove any
	} else if lines := nonEmptyLines(f.Alerts); len(lines) > 0 {
		alertLines = lines
		items := make([]map[string]any, len(lines))
		for i, l := range lines {
			parts := strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '\t' })
			items[i] = map[string]any{"threshold_cents": jsonValue(parts[0]), "recipients": append([]string{}, parts[1:]...)}
		}
		doc["alerts"], _ = json.Marshal(items)
	}
	if lines := nonEmptyLines(f.RateLimits); len(lines) > 0 {
		m := map[string]map[string]json.RawMessage{}
		for _, l := range lines {
			parts := strings.Fields(l)
			fields := m[parts[0]]
			if fields == nil {
				fields = map[string]json.RawMessage{}
			}
			for _, kv := range parts[1:] {
				k, v, _ := strings.Cut(kv, "=")
				fields[k] = jsonValue(v)
			}
			m[parts[0]] = fields
		}
		doc["rate_limits"], _ = json.Marshal(m)
	}
	if v := strings.TrimSpace(f.AllowedModels); v != "" {
		ms := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
		doc["allowed_models"], _ = json.Marshal(ms)
	}
	raw, _ := json.Marshal(doc)
	d, err := Parse(raw)
	v, ok := err.(validation.Errors)
	if !ok {
		return d, err
	}
	out := validation.Errors{}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		msg := v[k]
		switch {
		case strings.HasPrefix(k, "alerts."):
			n, _ := strconv.Atoi(strings.Split(k, ".")[1])
			if n < len(alertLines) {
				msg = fmt.Sprintf("Line %d (%s): %s", n+1, alertLines[n], msg)
			}
			k = FormAlerts
		case strings.HasPrefix(k, "rate_limits."):
			rest := strings.TrimPrefix(k, "rate_limits.")
			msg = rest + ": " + msg
			k = FormRateLimits
		}
		if prev, dup := out[k]; dup {
			msg = prev + " " + msg
		}
		out[k] = msg
	}
	return Document{}, out
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// FormOf is a document as the form shows it.
func FormOf(d Document) Form {
	var f Form
	if d.SpendLimitCents != nil {
		f.SpendLimitCents = strconv.FormatInt(*d.SpendLimitCents, 10)
	}
	var lines []string
	for _, a := range d.Alerts {
		lines = append(lines, strconv.FormatInt(a.ThresholdCents, 10)+" "+strings.Join(a.Recipients, ", "))
	}
	f.Alerts = strings.Join(lines, "\n")
	if d.HasAlerts() && len(d.Alerts) == 0 {
		f.Alerts = "none"
	}
	lines = nil
	for _, model := range slices.Sorted(maps.Keys(d.RateLimits)) {
		fields := d.RateLimits[model].Fields()
		parts := []string{model}
		for _, name := range rateLimitFields {
			if v, ok := fields[name]; ok {
				parts = append(parts, name+"="+strconv.FormatInt(v, 10))
			}
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	f.RateLimits = strings.Join(lines, "\n")
	f.AllowedModels = strings.Join(d.AllowedModels, ", ")
	return f
}

// Summary is a one-line description of a document for lists.
func Summary(d Document) []string {
	var out []string
	if d.SpendLimitCents != nil {
		out = append(out, "Spend limit "+dollars(*d.SpendLimitCents)+" a month")
	}
	if d.HasAlerts() {
		out = append(out, "Alerts: "+describeAlerts(d.Alerts))
	}
	for _, model := range slices.Sorted(maps.Keys(d.RateLimits)) {
		var parts []string
		fields := d.RateLimits[model].Fields()
		for _, name := range rateLimitFields {
			if v, ok := fields[name]; ok {
				parts = append(parts, fmt.Sprintf("%s %d", name, v))
			}
		}
		out = append(out, "Rate limits "+model+": "+strings.Join(parts, ", "))
	}
	if d.HasAllowedModels() {
		out = append(out, "Models: "+allowList(d.AllowedModels))
	}
	return out
}
