// Package policy puts guard rails on every company's OpenAI project: a
// template policy (monthly spend limit, spend alerts, rate limits per model,
// allowed models) with per-company overrides, applied after the project is
// linked, verified by reading it back, checked for drift by a reconcile job,
// and taken down again when a company is offboarded.
//
// Rules it keeps:
//   - A key absent from the policy means "leave OpenAI's setting alone":
//     nothing is written for it and nothing about it is drift.
//   - Everything written is read back and compared. A spend alert may
//     overwrite the spend limit and switch its enforcement off (a trap
//     reported against the real API), so the limit is written after the
//     alerts, and re-written if the read-back shows it clobbered.
//   - Applying is its own provisioning step: a River job per company with
//     attempts, retries with backoff, and a history row per try. Whatever
//     path links a project (signup, backfill, manual assignment), a database
//     trigger marks its policy pending in the same transaction, and a
//     periodic sweep enqueues the jobs: no caller has to remember it.
//   - Offboarded companies are never re-applied nor reconciled.
//   - Every change of the template or an override is audited, in the same
//     transaction as the change.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"

	"github.com/provisioner/provisioner/internal/validation"
)

// Limits on a policy, so that one typo cannot ask OpenAI for nonsense.
const (
	// MaxAlerts is the most spend alerts a policy may set.
	MaxAlerts = 10
	// MaxRecipients is the most email recipients of one alert.
	MaxRecipients = 10
	// MaxCents bounds money amounts: 100 million dollars a month.
	MaxCents = 100_000_000_00
)

// KnownModels are the model IDs a policy may name. OpenAI's rate-limit rows
// (one per model the organization can use) are the authority at apply time:
// a model in this list that a project has no row for fails the apply with a
// message naming it.
var KnownModels = []string{
	"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo",
	"o1", "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
	"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
	"dall-e-2", "dall-e-3", "gpt-image-1", "whisper-1", "tts-1", "tts-1-hd", "omni-moderation-latest",
}

// Document is a policy as JSON: the template, an override, or the
// effective policy of a company. Nil fields are absent.
type Document struct {
	SpendLimitCents *int64               `json:"spend_limit_cents,omitempty"`
	Alerts          []Alert              `json:"alerts,omitempty"`
	RateLimits      map[string]RateLimit `json:"rate_limits,omitempty"`
	AllowedModels   []string             `json:"allowed_models,omitempty"`
	// hasAlerts and hasModels tell an empty list ("no alerts") from an
	// absent one; JSON keeps the difference through MarshalJSON.
	hasAlerts, hasModels bool
}

// Alert is one spend alert: an email to Recipients when the month's spend
// reaches ThresholdCents.
type Alert struct {
	ThresholdCents int64    `json:"threshold_cents"`
	Recipients     []string `json:"recipients"`
}

// RateLimit is what a policy sets for one model; nil fields are left alone.
type RateLimit struct {
	MaxRequestsPer1Minute       *int64 `json:"max_requests_per_1_minute,omitempty"`
	MaxTokensPer1Minute         *int64 `json:"max_tokens_per_1_minute,omitempty"`
	MaxImagesPer1Minute         *int64 `json:"max_images_per_1_minute,omitempty"`
	MaxAudioMegabytesPer1Minute *int64 `json:"max_audio_megabytes_per_1_minute,omitempty"`
	MaxRequestsPer1Day          *int64 `json:"max_requests_per_1_day,omitempty"`
	Batch1DayMaxInputTokens     *int64 `json:"batch_1_day_max_input_tokens,omitempty"`
}

// rateLimitFields are a RateLimit's JSON names, in display order.
var rateLimitFields = []string{
	"max_requests_per_1_minute", "max_tokens_per_1_minute", "max_images_per_1_minute",
	"max_audio_megabytes_per_1_minute", "max_requests_per_1_day", "batch_1_day_max_input_tokens",
}

// Fields returns the rate limit's set fields by JSON name.
func (r RateLimit) Fields() map[string]int64 {
	out := map[string]int64{}
	for i, p := range []*int64{r.MaxRequestsPer1Minute, r.MaxTokensPer1Minute, r.MaxImagesPer1Minute,
		r.MaxAudioMegabytesPer1Minute, r.MaxRequestsPer1Day, r.Batch1DayMaxInputTokens} {
		if p != nil {
			out[rateLimitFields[i]] = *p
		}
	}
	return out
}

func (r *RateLimit) set(field string, v int64) {
	switch field {
	case "max_requests_per_1_minute":
		r.MaxRequestsPer1Minute = &v
	case "max_tokens_per_1_minute":
		r.MaxTokensPer1Minute = &v
	case "max_images_per_1_minute":
		r.MaxImagesPer1Minute = &v
	case "max_audio_megabytes_per_1_minute":
		r.MaxAudioMegabytesPer1Minute = &v
	case "max_requests_per_1_day":
		r.MaxRequestsPer1Day = &v
	case "batch_1_day_max_input_tokens":
		r.Batch1DayMaxInputTokens = &v
	}
}

// HasAlerts reports whether the document sets the alerts (perhaps to none).
func (d Document) HasAlerts() bool { return d.hasAlerts || d.Alerts != nil }

// HasAllowedModels reports whether the document sets the allowed models.
func (d Document) HasAllowedModels() bool { return d.hasModels || d.AllowedModels != nil }

// Empty reports whether the document sets nothing at all.
func (d Document) Empty() bool {
	return d.SpendLimitCents == nil && !d.HasAlerts() && d.RateLimits == nil && !d.HasAllowedModels()
}

// WithAlerts returns d setting exactly these alerts (none if empty).
func (d Document) WithAlerts(a []Alert) Document {
	d.Alerts, d.hasAlerts = slices.Clone(a), true
	return d
}

// WithAllowedModels returns d allowing exactly these models.
func (d Document) WithAllowedModels(m []string) Document {
	d.AllowedModels, d.hasModels = slices.Clone(m), true
	return d
}

// MarshalJSON writes set keys only, keeping an empty alert or model list.
func (d Document) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if d.SpendLimitCents != nil {
		m["spend_limit_cents"] = *d.SpendLimitCents
	}
	if d.HasAlerts() {
		a := d.Alerts
		if a == nil {
			a = []Alert{}
		}
		m["alerts"] = a
	}
	if d.RateLimits != nil {
		m["rate_limits"] = d.RateLimits
	}
	if d.HasAllowedModels() {
		am := d.AllowedModels
		if am == nil {
			am = []string{}
		}
		m["allowed_models"] = am
	}
	return json.Marshal(m)
}

// Pretty is the document as indented JSON, as `provisioner policy show`
// prints it.
func (d Document) Pretty() string {
	b, _ := json.MarshalIndent(d, "", "  ")
	var out bytes.Buffer
	_ = json.Indent(&out, b, "", "  ")
	return out.String()
}

// Merge returns the effective policy: the template with the override's set
// keys in place of its own. Rate limits merge per model.
func Merge(template, override Document) Document {
	out := template
	if override.SpendLimitCents != nil {
		out.SpendLimitCents = override.SpendLimitCents
	}
	if override.HasAlerts() {
		out = out.WithAlerts(override.Alerts)
	}
	if override.RateLimits != nil {
		rl := maps.Clone(template.RateLimits)
		if rl == nil {
			rl = map[string]RateLimit{}
		}
		maps.Copy(rl, override.RateLimits)
		out.RateLimits = rl
	}
	if override.HasAllowedModels() {
		out = out.WithAllowedModels(override.AllowedModels)
	}
	return out
}

// Parse reads a policy document and validates it. Every problem is a
// validation.Errors entry keyed by the field's path (spend_limit_cents,
// alerts.0.threshold_cents, rate_limits.gpt-4o-mini.max_requests_per_1_minute,
// allowed_models), so that a form or the CLI can say exactly what is wrong.
func Parse(data []byte) (Document, error) {
	v := validation.Errors{}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		v["document"] = "The policy must be a JSON object, like {\"spend_limit_cents\": 50000}."
		return Document{}, v
	}
	var d Document
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		val := raw[k]
		switch k {
		case "spend_limit_cents":
			if n, ok := cents(v, k, val, 1); ok {
				d.SpendLimitCents = &n
			}
		case "alerts":
			d = d.WithAlerts(parseAlerts(v, val))
		case "rate_limits":
			d.RateLimits = parseRateLimits(v, val)
		case "allowed_models":
			d = d.WithAllowedModels(parseModels(v, k, val))
		default:
			v[k] = fmt.Sprintf("Unknown key %q; the keys are spend_limit_cents, alerts, rate_limits and allowed_models.", k)
		}
	}
	if len(v) > 0 {
		return Document{}, v
	}
	return d, nil
}

// cents reads a whole, non-negative number of cents of at least minimum.
func cents(v validation.Errors, field string, raw json.RawMessage, minimum int64) (int64, bool) {
	n, problem := integer(raw, minimum, MaxCents)
	if problem != "" {
		v[field] = "Enter an amount in whole US cents (" + problem + "), e.g. 50000 for $500.00."
		return 0, false
	}
	return n, true
}

// integer parses a JSON whole number in [minimum, maximum].
func integer(raw json.RawMessage, minimum, maximum int64) (int64, string) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] == '"' {
		return 0, "not a number"
	}
	var num json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&num); err != nil {
		return 0, "not a number"
	}
	n, err := num.Int64()
	switch {
	case err != nil && strings.ContainsAny(num.String(), ".eE"):
		return 0, "no fractions"
	case err != nil:
		return 0, "too large"
	case n < 0:
		return 0, "no negative amounts"
	case n < minimum:
		return 0, fmt.Sprintf("at least %d", minimum)
	case n > maximum:
		return 0, fmt.Sprintf("at most %d", maximum)
	}
	return n, ""
}

func parseAlerts(v validation.Errors, raw json.RawMessage) []Alert {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		v["alerts"] = "Alerts must be a list of {\"threshold_cents\": …, \"recipients\": [...]}."
		return nil
	}
	if len(items) > MaxAlerts {
		v["alerts"] = fmt.Sprintf("At most %d alerts (there are %d).", MaxAlerts, len(items))
		return nil
	}
	out := make([]Alert, 0, len(items))
	seen := map[int64]bool{}
	for i, item := range items {
		prefix := fmt.Sprintf("alerts.%d.", i)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(item, &m); err != nil || m == nil {
			v[prefix+"threshold_cents"] = "Each alert must be an object with threshold_cents and recipients."
			continue
		}
		var a Alert
		for k := range m {
			if k != "threshold_cents" && k != "recipients" {
				v[prefix+k] = fmt.Sprintf("Unknown key %q in an alert.", k)
			}
		}
		if t, ok := m["threshold_cents"]; !ok {
			v[prefix+"threshold_cents"] = "Enter the alert's threshold in whole US cents."
		} else if n, ok := cents(v, prefix+"threshold_cents", t, 1); ok {
			if seen[n] {
				v[prefix+"threshold_cents"] = "Two alerts have this threshold; each threshold may appear once."
			}
			seen[n] = true
			a.ThresholdCents = n
		}
		a.Recipients = parseRecipients(v, prefix+"recipients", m["recipients"])
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Alert) int { return compareInt(a.ThresholdCents, b.ThresholdCents) })
	return out
}

func parseRecipients(v validation.Errors, field string, raw json.RawMessage) []string {
	var rs []string
	if raw == nil || json.Unmarshal(raw, &rs) != nil {
		v[field] = "Recipients must be a list of email addresses."
		return nil
	}
	rs = NormalizeRecipients(rs)
	switch {
	case len(rs) == 0:
		v[field] = "Give at least one email address."
	case len(rs) > MaxRecipients:
		v[field] = fmt.Sprintf("At most %d recipients (there are %d).", MaxRecipients, len(rs))
	}
	for _, r := range rs {
		if !ValidEmail(r) {
			v[field] = fmt.Sprintf("%q is not an email address like ops@example.com.", r)
			break
		}
	}
	return rs
}

// NormalizeRecipients trims, lower-cases, sorts and de-duplicates emails, so
// that the same recipients always compare equal.
func NormalizeRecipients(rs []string) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if r = strings.ToLower(strings.TrimSpace(r)); r != "" {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ValidEmail reports whether s is a bare address like ops@example.com.
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " <>")
}

func parseRateLimits(v validation.Errors, raw json.RawMessage) map[string]RateLimit {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		v["rate_limits"] = "Rate limits must be an object keyed by model, like {\"gpt-4o-mini\": {\"max_requests_per_1_minute\": 500}}."
		return nil
	}
	out := map[string]RateLimit{}
	for _, model := range slices.Sorted(maps.Keys(m)) {
		prefix := "rate_limits." + model
		if !slices.Contains(KnownModels, model) {
			v[prefix] = fmt.Sprintf("Unknown model %q.", model)
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(m[model], &fields); err != nil || fields == nil {
			v[prefix] = "Give the limits as an object, like {\"max_requests_per_1_minute\": 500}."
			continue
		}
		var rl RateLimit
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			if !slices.Contains(rateLimitFields, f) {
				v[prefix+"."+f] = fmt.Sprintf("Unknown limit %q; the limits are %s.", f, strings.Join(rateLimitFields, ", "))
				continue
			}
			n, problem := integer(fields[f], 1, 1<<53)
			if problem != "" {
				v[prefix+"."+f] = "Enter a whole number above 0 (" + problem + ")."
				continue
			}
			rl.set(f, n)
		}
		if len(rl.Fields()) == 0 {
			if _, bad := v[prefix]; !bad && len(fields) == 0 {
				v[prefix] = "Set at least one limit for this model, or remove it."
			}
			continue
		}
		out[model] = rl
	}
	return out
}

func parseModels(v validation.Errors, field string, raw json.RawMessage) []string {
	var ms []string
	if err := json.Unmarshal(raw, &ms); err != nil {
		v[field] = "Allowed models must be a list of model IDs."
		return nil
	}
	out := make([]string, 0, len(ms))
	var unknown []string
	for _, m := range ms {
		m = strings.TrimSpace(m)
		if !slices.Contains(KnownModels, m) {
			unknown = append(unknown, m)
		}
		out = append(out, m)
	}
	if len(unknown) > 0 {
		v[field] = fmt.Sprintf("Unknown model %s.", quoteList(unknown))
	}
	if len(out) == 0 && len(unknown) == 0 {
		v[field] = "Allow at least one model, or leave the list out to keep OpenAI's default (every model)."
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
