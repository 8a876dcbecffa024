package openai

import (
	"context"
	"net/http"
	"slices"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
)

// Guard-rail endpoints of a project: its hard spend limit, spend alerts,
// per-model rate limits and model permissions, plus renaming it. Writes
// are whole-object replacements on OpenAI's side (POST replaces), so every
// one of them is safe to repeat, except creating a spend alert: a repeated
// create makes a second alert, so its SDK retries are off and callers list
// the alerts before creating.

// Endpoint names of the guard-rail calls, used for metrics and in errors.
const (
	EndpointGetSpendLimit          = "get_spend_limit"
	EndpointSetSpendLimit          = "set_spend_limit"
	EndpointDeleteSpendLimit       = "delete_spend_limit"
	EndpointListSpendAlerts        = "list_spend_alerts"
	EndpointCreateSpendAlert       = "create_spend_alert"
	EndpointUpdateSpendAlert       = "update_spend_alert"
	EndpointDeleteSpendAlert       = "delete_spend_alert"
	EndpointListRateLimits         = "list_rate_limits"
	EndpointUpdateRateLimit        = "update_rate_limit"
	EndpointGetModelPermissions    = "get_model_permissions"
	EndpointSetModelPermissions    = "set_model_permissions"
	EndpointDeleteModelPermissions = "delete_model_permissions"
)

// Spend-limit enforcement states OpenAI reports.
const (
	EnforcementEnforcing = "enforcing"
	EnforcementInactive  = "inactive"
)

// Model-permission modes.
const (
	ModeAllowList = "allow_list"
	ModeDenyList  = "deny_list"
)

// SpendLimit is a project's hard monthly spend limit, in USD cents.
type SpendLimit struct {
	ThresholdCents int64
	Currency       string // "USD"
	Interval       string // "month"
	// Enforcement is EnforcementEnforcing or EnforcementInactive: a limit
	// can exist and not be enforced.
	Enforcement string
}

// SpendAlert is a project's spend alert: an email when the month's spend
// reaches ThresholdCents.
type SpendAlert struct {
	ID             string
	ThresholdCents int64
	Recipients     []string
}

// RateLimit is one row of a project's rate limits: one per model, created
// by OpenAI; they can only be updated. Fields OpenAI omits are zero.
type RateLimit struct {
	ID                          string
	Model                       string
	MaxRequestsPer1Minute       int64
	MaxTokensPer1Minute         int64
	MaxImagesPer1Minute         int64
	MaxAudioMegabytesPer1Minute int64
	MaxRequestsPer1Day          int64
	Batch1DayMaxInputTokens     int64
}

// RateLimitUpdate holds the fields to change; nil ones are left alone.
type RateLimitUpdate struct {
	MaxRequestsPer1Minute       *int64
	MaxTokensPer1Minute         *int64
	MaxImagesPer1Minute         *int64
	MaxAudioMegabytesPer1Minute *int64
	MaxRequestsPer1Day          *int64
	Batch1DayMaxInputTokens     *int64
}

// ModelPermissions is a project's model allow list or deny list.
type ModelPermissions struct {
	Mode     string // ModeAllowList or ModeDenyList
	ModelIDs []string
}

// Guardrails is the part of the Admin API that sets a project's limits.
type Guardrails interface {
	// GetSpendLimit returns the project's spend limit; ok is false when it
	// has none.
	GetSpendLimit(ctx context.Context, projectID string) (limit SpendLimit, ok bool, err error)
	// SetSpendLimit creates or replaces the monthly limit, in USD cents.
	SetSpendLimit(ctx context.Context, projectID string, cents int64) (SpendLimit, error)
	// DeleteSpendLimit removes the limit; none to remove is not an error.
	DeleteSpendLimit(ctx context.Context, projectID string) error
	// ListSpendAlerts returns every spend alert of the project.
	ListSpendAlerts(ctx context.Context, projectID string) ([]SpendAlert, error)
	// CreateSpendAlert creates an alert. It never retries on its own.
	CreateSpendAlert(ctx context.Context, projectID string, cents int64, recipients []string) (SpendAlert, error)
	// UpdateSpendAlert replaces an alert's threshold and recipients.
	UpdateSpendAlert(ctx context.Context, projectID, alertID string, cents int64, recipients []string) (SpendAlert, error)
	// DeleteSpendAlert deletes an alert; a missing one is not an error.
	DeleteSpendAlert(ctx context.Context, projectID, alertID string) error
	// ListRateLimits returns the project's rate-limit rows, one per model.
	ListRateLimits(ctx context.Context, projectID string) ([]RateLimit, error)
	// UpdateRateLimit changes one row, named by its ID (match rows by Model).
	UpdateRateLimit(ctx context.Context, projectID, rateLimitID string, u RateLimitUpdate) (RateLimit, error)
	// GetModelPermissions returns the project's model permissions; ok is
	// false when none are set (every model is allowed).
	GetModelPermissions(ctx context.Context, projectID string) (p ModelPermissions, ok bool, err error)
	// SetModelPermissions replaces the project's model permissions.
	SetModelPermissions(ctx context.Context, projectID string, p ModelPermissions) (ModelPermissions, error)
	// DeleteModelPermissions removes them; none to remove is not an error.
	DeleteModelPermissions(ctx context.Context, projectID string) error
	// RenameProject sets the project's name. Archived projects refuse it.
	RenameProject(ctx context.Context, projectID, name string) (Project, error)
}

var _ Guardrails = (*Client)(nil)

// GetSpendLimit implements Guardrails. OpenAI answers 404 for a project
// without a limit (and for a project that does not exist: callers that
// need to tell them apart get the project first).
func (c *Client) GetSpendLimit(ctx context.Context, projectID string) (SpendLimit, bool, error) {
	var resp *http.Response
	l, err := c.projects.SpendLimit.Get(ctx, projectID, option.WithResponseInto(&resp))
	if err != nil {
		werr := c.wrap(EndpointGetSpendLimit, resp, err)
		if e, ok := AsError(werr); ok && e.NotFound() {
			return SpendLimit{}, false, nil
		}
		return SpendLimit{}, false, werr
	}
	if l == nil || l.ThresholdAmount == 0 {
		return SpendLimit{}, false, nil
	}
	return spendLimitFromSDK(l), true, nil
}

// SetSpendLimit implements Guardrails.
func (c *Client) SetSpendLimit(ctx context.Context, projectID string, cents int64) (SpendLimit, error) {
	var resp *http.Response
	l, err := c.projects.SpendLimit.Update(ctx, projectID, sdk.AdminOrganizationProjectSpendLimitUpdateParams{
		ThresholdAmount: cents,
		Currency:        sdk.AdminOrganizationProjectSpendLimitUpdateParamsCurrencyUsd,
		Interval:        sdk.AdminOrganizationProjectSpendLimitUpdateParamsIntervalMonth,
	}, option.WithResponseInto(&resp))
	if err != nil {
		return SpendLimit{}, c.wrap(EndpointSetSpendLimit, resp, err)
	}
	if l == nil {
		return SpendLimit{}, c.wrap(EndpointSetSpendLimit, resp, errMalformedPolicy)
	}
	return spendLimitFromSDK(l), nil
}

// DeleteSpendLimit implements Guardrails.
func (c *Client) DeleteSpendLimit(ctx context.Context, projectID string) error {
	var resp *http.Response
	_, err := c.projects.SpendLimit.Delete(ctx, projectID, option.WithResponseInto(&resp))
	return c.ignoreNotFound(EndpointDeleteSpendLimit, resp, err)
}

func spendLimitFromSDK(l *sdk.ProjectSpendLimit) SpendLimit {
	return SpendLimit{
		ThresholdCents: l.ThresholdAmount, Currency: string(l.Currency), Interval: string(l.Interval),
		Enforcement: l.Enforcement.Status,
	}
}

// ListSpendAlerts implements Guardrails.
func (c *Client) ListSpendAlerts(ctx context.Context, projectID string) ([]SpendAlert, error) {
	pager := c.projects.SpendAlerts.ListAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectSpendAlertListParams{Limit: sdk.Int(100)})
	var out []SpendAlert
	for pager.Next() {
		a := pager.Current()
		out = append(out, spendAlertFromSDK(&a))
	}
	if err := pager.Err(); err != nil {
		return nil, c.wrap(EndpointListSpendAlerts, nil, err)
	}
	return out, nil
}

// CreateSpendAlert implements Guardrails.
func (c *Client) CreateSpendAlert(ctx context.Context, projectID string, cents int64, recipients []string) (SpendAlert, error) {
	var resp *http.Response
	a, err := c.projects.SpendAlerts.New(ctx, projectID, sdk.AdminOrganizationProjectSpendAlertNewParams{
		ThresholdAmount:     cents,
		Currency:            sdk.AdminOrganizationProjectSpendAlertNewParamsCurrencyUsd,
		Interval:            sdk.AdminOrganizationProjectSpendAlertNewParamsIntervalMonth,
		NotificationChannel: sdk.AdminOrganizationProjectSpendAlertNewParamsNotificationChannel{Recipients: slices.Clone(recipients)},
	}, option.WithMaxRetries(0), option.WithResponseInto(&resp))
	if err != nil {
		return SpendAlert{}, c.wrap(EndpointCreateSpendAlert, resp, err)
	}
	if a == nil || a.ID == "" {
		return SpendAlert{}, c.wrap(EndpointCreateSpendAlert, resp, errMalformedPolicy)
	}
	return spendAlertFromSDK(a), nil
}

// UpdateSpendAlert implements Guardrails.
func (c *Client) UpdateSpendAlert(ctx context.Context, projectID, alertID string, cents int64, recipients []string) (SpendAlert, error) {
	var resp *http.Response
	a, err := c.projects.SpendAlerts.Update(ctx, projectID, alertID, sdk.AdminOrganizationProjectSpendAlertUpdateParams{
		ThresholdAmount:     cents,
		Currency:            sdk.AdminOrganizationProjectSpendAlertUpdateParamsCurrencyUsd,
		Interval:            sdk.AdminOrganizationProjectSpendAlertUpdateParamsIntervalMonth,
		NotificationChannel: sdk.AdminOrganizationProjectSpendAlertUpdateParamsNotificationChannel{Recipients: slices.Clone(recipients)},
	}, option.WithResponseInto(&resp))
	if err != nil {
		return SpendAlert{}, c.wrap(EndpointUpdateSpendAlert, resp, err)
	}
	if a == nil || a.ID == "" {
		return SpendAlert{}, c.wrap(EndpointUpdateSpendAlert, resp, errMalformedPolicy)
	}
	return spendAlertFromSDK(a), nil
}

// DeleteSpendAlert implements Guardrails.
func (c *Client) DeleteSpendAlert(ctx context.Context, projectID, alertID string) error {
	var resp *http.Response
	_, err := c.projects.SpendAlerts.Delete(ctx, projectID, alertID, option.WithResponseInto(&resp))
	return c.ignoreNotFound(EndpointDeleteSpendAlert, resp, err)
}

func spendAlertFromSDK(a *sdk.ProjectSpendAlert) SpendAlert {
	return SpendAlert{ID: a.ID, ThresholdCents: a.ThresholdAmount, Recipients: slices.Clone(a.NotificationChannel.Recipients)}
}

// ListRateLimits implements Guardrails.
func (c *Client) ListRateLimits(ctx context.Context, projectID string) ([]RateLimit, error) {
	pager := c.projects.RateLimits.ListRateLimitsAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectRateLimitListRateLimitsParams{Limit: sdk.Int(100)})
	var out []RateLimit
	for pager.Next() {
		r := pager.Current()
		out = append(out, rateLimitFromSDK(&r))
	}
	if err := pager.Err(); err != nil {
		return nil, c.wrap(EndpointListRateLimits, nil, err)
	}
	return out, nil
}

// UpdateRateLimit implements Guardrails.
func (c *Client) UpdateRateLimit(ctx context.Context, projectID, rateLimitID string, u RateLimitUpdate) (RateLimit, error) {
	var p sdk.AdminOrganizationProjectRateLimitUpdateRateLimitParams
	set := func(dst *param.Opt[int64], v *int64) {
		if v != nil {
			*dst = sdk.Int(*v)
		}
	}
	set(&p.MaxRequestsPer1Minute, u.MaxRequestsPer1Minute)
	set(&p.MaxTokensPer1Minute, u.MaxTokensPer1Minute)
	set(&p.MaxImagesPer1Minute, u.MaxImagesPer1Minute)
	set(&p.MaxAudioMegabytesPer1Minute, u.MaxAudioMegabytesPer1Minute)
	set(&p.MaxRequestsPer1Day, u.MaxRequestsPer1Day)
	set(&p.Batch1DayMaxInputTokens, u.Batch1DayMaxInputTokens)
	var resp *http.Response
	r, err := c.projects.RateLimits.UpdateRateLimit(ctx, projectID, rateLimitID, p, option.WithResponseInto(&resp))
	if err != nil {
		return RateLimit{}, c.wrap(EndpointUpdateRateLimit, resp, err)
	}
	if r == nil || r.ID == "" {
		return RateLimit{}, c.wrap(EndpointUpdateRateLimit, resp, errMalformedPolicy)
	}
	return rateLimitFromSDK(r), nil
}

func rateLimitFromSDK(r *sdk.ProjectRateLimit) RateLimit {
	return RateLimit{
		ID: r.ID, Model: r.Model,
		MaxRequestsPer1Minute: r.MaxRequestsPer1Minute, MaxTokensPer1Minute: r.MaxTokensPer1Minute,
		MaxImagesPer1Minute: r.MaxImagesPer1Minute, MaxAudioMegabytesPer1Minute: r.MaxAudioMegabytesPer1Minute,
		MaxRequestsPer1Day: r.MaxRequestsPer1Day, Batch1DayMaxInputTokens: r.Batch1DayMaxInputTokens,
	}
}

// GetModelPermissions implements Guardrails. A deny list with no models
// is the same as none.
func (c *Client) GetModelPermissions(ctx context.Context, projectID string) (ModelPermissions, bool, error) {
	var resp *http.Response
	p, err := c.projects.ModelPermissions.Get(ctx, projectID, option.WithResponseInto(&resp))
	if err != nil {
		werr := c.wrap(EndpointGetModelPermissions, resp, err)
		if e, ok := AsError(werr); ok && e.NotFound() {
			return ModelPermissions{}, false, nil
		}
		return ModelPermissions{}, false, werr
	}
	if p == nil || p.Mode == "" || p.Mode == ModeDenyList && len(p.ModelIDs) == 0 {
		return ModelPermissions{}, false, nil
	}
	return ModelPermissions{Mode: string(p.Mode), ModelIDs: slices.Clone(p.ModelIDs)}, true, nil
}

// SetModelPermissions implements Guardrails.
func (c *Client) SetModelPermissions(ctx context.Context, projectID string, mp ModelPermissions) (ModelPermissions, error) {
	var resp *http.Response
	ids := slices.Clone(mp.ModelIDs)
	if ids == nil {
		ids = []string{}
	}
	p, err := c.projects.ModelPermissions.Update(ctx, projectID, sdk.AdminOrganizationProjectModelPermissionUpdateParams{
		Mode: sdk.AdminOrganizationProjectModelPermissionUpdateParamsMode(mp.Mode), ModelIDs: ids,
	}, option.WithResponseInto(&resp))
	if err != nil {
		return ModelPermissions{}, c.wrap(EndpointSetModelPermissions, resp, err)
	}
	if p == nil || p.Mode == "" {
		return ModelPermissions{}, c.wrap(EndpointSetModelPermissions, resp, errMalformedPolicy)
	}
	return ModelPermissions{Mode: string(p.Mode), ModelIDs: slices.Clone(p.ModelIDs)}, nil
}

// DeleteModelPermissions implements Guardrails.
func (c *Client) DeleteModelPermissions(ctx context.Context, projectID string) error {
	var resp *http.Response
	_, err := c.projects.ModelPermissions.Delete(ctx, projectID, option.WithResponseInto(&resp))
	return c.ignoreNotFound(EndpointDeleteModelPermissions, resp, err)
}

// RenameProject implements Guardrails.
func (c *Client) RenameProject(ctx context.Context, projectID, name string) (Project, error) {
	if strings.TrimSpace(name) == "" {
		return Project{}, &Error{Op: EndpointModify, Kind: Permanent, Message: "project name is empty"}
	}
	var resp *http.Response
	p, err := c.projects.Update(ctx, projectID, sdk.AdminOrganizationProjectUpdateParams{Name: sdk.String(name)},
		option.WithResponseInto(&resp))
	if err != nil {
		return Project{}, c.wrap(EndpointModify, resp, err)
	}
	if p == nil || p.ID == "" {
		return Project{}, c.wrap(EndpointModify, resp, errMalformed)
	}
	return fromSDK(p, resp), nil
}

// ignoreNotFound makes a delete of something already gone a success, so
// that a repeated delete (a retried job) does not fail.
func (c *Client) ignoreNotFound(op string, resp *http.Response, err error) error {
	if err == nil {
		return nil
	}
	werr := c.wrap(op, resp, err)
	if e, ok := AsError(werr); ok && e.NotFound() {
		return nil
	}
	return werr
}

// policyEndpoint names a guard-rail request for metrics; parts are the
// path segments after the projects collection ({id}, then the rest).
func policyEndpoint(method string, parts []string) string {
	if len(parts) < 2 {
		return ""
	}
	get, post, del := method == http.MethodGet, method == http.MethodPost, method == http.MethodDelete
	switch n := len(parts); parts[1] {
	case "spend_limit":
		switch {
		case n == 2 && get:
			return EndpointGetSpendLimit
		case n == 2 && post:
			return EndpointSetSpendLimit
		case n == 2 && del:
			return EndpointDeleteSpendLimit
		}
	case "spend_alerts":
		switch {
		case n == 2 && get:
			return EndpointListSpendAlerts
		case n == 2 && post:
			return EndpointCreateSpendAlert
		case n == 3 && post:
			return EndpointUpdateSpendAlert
		case n == 3 && del:
			return EndpointDeleteSpendAlert
		}
	case "rate_limits":
		switch {
		case n == 2 && get:
			return EndpointListRateLimits
		case n == 3 && post:
			return EndpointUpdateRateLimit
		}
	case "model_permissions":
		switch {
		case n == 2 && get:
			return EndpointGetModelPermissions
		case n == 2 && post:
			return EndpointSetModelPermissions
		case n == 2 && del:
			return EndpointDeleteModelPermissions
		}
	}
	return ""
}

var errMalformedPolicy = errMalformedPolicyAnswer{}

type errMalformedPolicyAnswer struct{}

func (errMalformedPolicyAnswer) Error() string { return "malformed response: no object in the answer" }
