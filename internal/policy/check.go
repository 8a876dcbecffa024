package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/provisioner/provisioner/internal/openai"
)

// Fields of a Difference. Rate limits are "rate_limits.<model>.<limit>".
const (
	FieldProject     = "project"
	FieldStatus      = "status"
	FieldName        = "name"
	FieldSpendLimit  = "spend_limit"
	FieldEnforcement = "spend_limit.enforcement"
	FieldAlerts      = "alerts"
	FieldModels      = "allowed_models"
)

// observed is what one read of a project found.
type observed struct {
	project openai.Project
	missing bool // the project ID no longer exists
	diffs   []Difference
}

// read reads the project and every guard rail the policy sets, and lists
// how they differ from it. Keys the policy does not set are not read.
// wantName is the name the project should have ("" to not check it).
func read(ctx context.Context, c Client, projectID, wantName string, d Document) (observed, error) {
	var o observed
	p, err := c.GetProject(ctx, projectID)
	if e, ok := openai.AsError(err); ok && e.NotFound() {
		o.missing = true
		o.diffs = append(o.diffs, Difference{Field: FieldProject, Expected: projectID + " exists", Found: "no such project on OpenAI"})
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.project = p
	if !p.Active() {
		o.diffs = append(o.diffs, Difference{Field: FieldStatus, Expected: "active", Found: "archived"})
		// An archived project cannot be used or changed: nothing else matters.
		return o, nil
	}
	if wantName != "" && p.Name != wantName {
		o.diffs = append(o.diffs, Difference{Field: FieldName, Expected: wantName, Found: p.Name})
	}
	if d.HasAllowedModels() {
		mp, ok, err := c.GetModelPermissions(ctx, projectID)
		if err != nil {
			return o, err
		}
		want := allowList(d.AllowedModels)
		if got := describeModels(mp, ok); got != want {
			o.diffs = append(o.diffs, Difference{Field: FieldModels, Expected: want, Found: got})
		}
	}
	if d.RateLimits != nil {
		rows, err := c.ListRateLimits(ctx, projectID)
		if err != nil {
			return o, err
		}
		for _, model := range slices.Sorted(maps.Keys(d.RateLimits)) {
			i := slices.IndexFunc(rows, func(r openai.RateLimit) bool { return r.Model == model })
			want := d.RateLimits[model].Fields()
			for _, f := range rateLimitFields {
				w, set := want[f]
				if !set {
					continue
				}
				field := "rate_limits." + model + "." + f
				if i < 0 {
					o.diffs = append(o.diffs, Difference{Field: field, Expected: fmt.Sprint(w), Found: "no rate-limit row for this model"})
					continue
				}
				if got := rowField(rows[i], f); got != w {
					o.diffs = append(o.diffs, Difference{Field: field, Expected: fmt.Sprint(w), Found: fmt.Sprint(got)})
				}
			}
		}
	}
	if d.HasAlerts() {
		alerts, err := c.ListSpendAlerts(ctx, projectID)
		if err != nil {
			return o, err
		}
		if want, got := describeAlerts(d.Alerts), describeFound(alerts); want != got {
			o.diffs = append(o.diffs, Difference{Field: FieldAlerts, Expected: want, Found: got})
		}
	}
	if d.SpendLimitCents != nil {
		l, ok, err := c.GetSpendLimit(ctx, projectID)
		if err != nil {
			return o, err
		}
		want := dollars(*d.SpendLimitCents)
		switch {
		case !ok:
			o.diffs = append(o.diffs, Difference{Field: FieldSpendLimit, Expected: want, Found: "none"})
		case l.ThresholdCents != *d.SpendLimitCents:
			o.diffs = append(o.diffs, Difference{Field: FieldSpendLimit, Expected: want, Found: dollars(l.ThresholdCents)})
		}
		if ok && l.Enforcement != openai.EnforcementEnforcing {
			o.diffs = append(o.diffs, Difference{Field: FieldEnforcement, Expected: openai.EnforcementEnforcing, Found: l.Enforcement})
		}
	}
	return o, nil
}

func rowField(r openai.RateLimit, f string) int64 {
	switch f {
	case "max_requests_per_1_minute":
		return r.MaxRequestsPer1Minute
	case "max_tokens_per_1_minute":
		return r.MaxTokensPer1Minute
	case "max_images_per_1_minute":
		return r.MaxImagesPer1Minute
	case "max_audio_megabytes_per_1_minute":
		return r.MaxAudioMegabytesPer1Minute
	case "max_requests_per_1_day":
		return r.MaxRequestsPer1Day
	case "batch_1_day_max_input_tokens":
		return r.Batch1DayMaxInputTokens
	}
	return 0
}

// dollars formats cents exactly, with integer arithmetic: 50000 → "$500.00".
func dollars(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := groupThousands(cents / 100)
	return fmt.Sprintf("%s$%s.%02d", sign, whole, cents%100)
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func allowList(models []string) string {
	if len(models) == 0 {
		return "allow only: (nothing)"
	}
	m := slices.Clone(models)
	slices.Sort(m)
	return "allow only: " + strings.Join(m, ", ")
}

func describeModels(mp openai.ModelPermissions, ok bool) string {
	if !ok {
		return "every model (no permissions set)"
	}
	m := slices.Clone(mp.ModelIDs)
	slices.Sort(m)
	if mp.Mode == openai.ModeAllowList {
		return allowList(m)
	}
	return "deny: " + strings.Join(m, ", ")
}

func describeAlerts(as []Alert) string {
	if len(as) == 0 {
		return "none"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = dollars(a.ThresholdCents) + " → " + strings.Join(a.Recipients, ", ")
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func describeFound(as []openai.SpendAlert) string {
	conv := make([]Alert, len(as))
	for i, a := range as {
		conv[i] = Alert{ThresholdCents: a.ThresholdCents, Recipients: NormalizeRecipients(a.Recipients)}
	}
	slices.SortFunc(conv, func(a, b Alert) int { return compareInt(a.ThresholdCents, b.ThresholdCents) })
	return describeAlerts(conv)
}

// counting counts the calls made through a Client, for the history and
// the benchmark's calls per project.
type counting struct {
	Client
	n *atomic.Int64
}

func (c counting) GetProject(ctx context.Context, id string) (openai.Project, error) {
	c.n.Add(1)
	return c.Client.GetProject(ctx, id)
}
func (c counting) RenameProject(ctx context.Context, id, name string) (openai.Project, error) {
	c.n.Add(1)
	return c.Client.RenameProject(ctx, id, name)
}
func (c counting) GetSpendLimit(ctx context.Context, id string) (openai.SpendLimit, bool, error) {
	c.n.Add(1)
	return c.Client.GetSpendLimit(ctx, id)
}
func (c counting) SetSpendLimit(ctx context.Context, id string, cents int64) (openai.SpendLimit, error) {
	c.n.Add(1)
	return c.Client.SetSpendLimit(ctx, id, cents)
}
func (c counting) ListSpendAlerts(ctx context.Context, id string) ([]openai.SpendAlert, error) {
	c.n.Add(1)
	return c.Client.ListSpendAlerts(ctx, id)
}
func (c counting) CreateSpendAlert(ctx context.Context, id string, cents int64, r []string) (openai.SpendAlert, error) {
	c.n.Add(1)
	return c.Client.CreateSpendAlert(ctx, id, cents, r)
}
func (c counting) UpdateSpendAlert(ctx context.Context, id, aid string, cents int64, r []string) (openai.SpendAlert, error) {
	c.n.Add(1)
	return c.Client.UpdateSpendAlert(ctx, id, aid, cents, r)
}
func (c counting) DeleteSpendAlert(ctx context.Context, id, aid string) error {
	c.n.Add(1)
	return c.Client.DeleteSpendAlert(ctx, id, aid)
}
func (c counting) ListRateLimits(ctx context.Context, id string) ([]openai.RateLimit, error) {
	c.n.Add(1)
	return c.Client.ListRateLimits(ctx, id)
}
func (c counting) UpdateRateLimit(ctx context.Context, id, rid string, u openai.RateLimitUpdate) (openai.RateLimit, error) {
	c.n.Add(1)
	return c.Client.UpdateRateLimit(ctx, id, rid, u)
}
func (c counting) GetModelPermissions(ctx context.Context, id string) (openai.ModelPermissions, bool, error) {
	c.n.Add(1)
	return c.Client.GetModelPermissions(ctx, id)
}
func (c counting) SetModelPermissions(ctx context.Context, id string, mp openai.ModelPermissions) (openai.ModelPermissions, error) {
	c.n.Add(1)
	return c.Client.SetModelPermissions(ctx, id, mp)
}
