package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The fake's guard-rail endpoints, in the spec's shapes (ProjectSpendLimitResource,
// ProjectSpendAlert, ProjectRateLimit, ProjectModelPermissions and their
// list and delete answers):
//
//	GET/POST/DELETE /v1/organization/projects/{id}/spend_limit
//	GET/POST        /v1/organization/projects/{id}/spend_alerts
//	POST/DELETE     /v1/organization/projects/{id}/spend_alerts/{alert_id}
//	GET             /v1/organization/projects/{id}/rate_limits
//	POST            /v1/organization/projects/{id}/rate_limits/{rate_limit_id}
//	GET/POST/DELETE /v1/organization/projects/{id}/model_permissions
//
// Every project gets one rate-limit row per model of [Server.Models] when
// first looked at; rows can only be updated, as on OpenAI. Archived
// projects refuse every write. [Server.SetAlertTrap] reproduces a trap
// reported against the real API: creating a spend alert overwrites the
// project's spend limit with the alert's threshold and turns its
// enforcement off. [Server.Tamper] changes a project behind the client's
// back, to simulate drift.

// Endpoint names of the guard-rail calls, for [Fault.Endpoint] and [Server.Count].
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

// DefaultModels are the models whose rate-limit rows every project has,
// unless [Server.SetModels] says otherwise.
var DefaultModels = []string{
	"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini",
	"text-embedding-3-small", "text-embedding-3-large", "dall-e-3", "whisper-1",
}

// SpendLimit is a project's hard spend limit in the fake.
type SpendLimit struct {
	ThresholdCents int64
	Enforcement    string // "enforcing" or "inactive"
}

// SpendAlert is a spend alert in the fake.
type SpendAlert struct {
	ID             string
	ThresholdCents int64
	Recipients     []string
	SubjectPrefix  *string
}

// RateLimit is one rate-limit row in the fake. Pointer fields are absent
// from the answer when nil, as OpenAI leaves out what does not apply.
type RateLimit struct {
	ID                          string
	Model                       string
	MaxRequestsPer1Minute       int64
	MaxTokensPer1Minute         int64
	MaxImagesPer1Minute         *int64
	MaxAudioMegabytesPer1Minute *int64
	MaxRequestsPer1Day          *int64
	Batch1DayMaxInputTokens     *int64
}

// ModelPermissions is a project's model allow or deny list in the fake.
type ModelPermissions struct {
	Mode     string
	ModelIDs []string
}

// Guardrails is everything the fake holds about one project's limits.
type Guardrails struct {
	SpendLimit       *SpendLimit // nil: none
	Alerts           []SpendAlert
	RateLimits       []RateLimit
	ModelPermissions *ModelPermissions // nil: none
}

func (g Guardrails) clone() Guardrails {
	out := Guardrails{Alerts: make([]SpendAlert, len(g.Alerts)), RateLimits: slices.Clone(g.RateLimits)}
	if g.SpendLimit != nil {
		l := *g.SpendLimit
		out.SpendLimit = &l
	}
	for i, a := range g.Alerts {
		a.Recipients = slices.Clone(a.Recipients)
		out.Alerts[i] = a
	}
	if g.ModelPermissions != nil {
		mp := ModelPermissions{Mode: g.ModelPermissions.Mode, ModelIDs: slices.Clone(g.ModelPermissions.ModelIDs)}
		out.ModelPermissions = &mp
	}
	return out
}

// guardState is the fake's guard-rail bookkeeping; s.mu guards it.
type guardState struct {
	byProject map[string]*Guardrails
	models    []string // nil: DefaultModels
	trap      bool
}

// SetModels replaces the models whose rate-limit rows projects get when
// first looked at (projects already seen keep theirs).
func (s *Server) SetModels(models []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guard.models = slices.Clone(models)
}

// Models returns the models the fake knows.
func (s *Server) Models() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.models())
}

func (s *Server) models() []string {
	if s.guard.models != nil {
		return s.guard.models
	}
	return DefaultModels
}

// SetAlertTrap turns on (or off) the trap: creating a spend alert then
// overwrites the spend limit with the alert's threshold and sets its
// enforcement to inactive.
func (s *Server) SetAlertTrap(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guard.trap = on
}

// GuardrailsOf returns a snapshot of a project's limits; ok is false for
// an unknown project.
func (s *Server) GuardrailsOf(projectID string) (Guardrails, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[projectID]; !ok {
		return Guardrails{}, false
	}
	return s.guardrails(projectID).clone(), true
}

// Tamper changes a project behind the client's back: fn may edit the
// project (rename, archive) and its limits in place. Returns false for an
// unknown project.
func (s *Server) Tamper(projectID string, fn func(p *Project, g *Guardrails)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[projectID]
	if !ok {
		return false
	}
	fn(p, s.guardrails(projectID))
	return true
}

// RemoveProject makes a project vanish, as if it had never existed: for
// tests of a company whose project ID no longer exists.
func (s *Server) RemoveProject(projectID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, projectID)
	delete(s.guard.byProject, projectID)
	s.projects = slices.DeleteFunc(s.projects, func(p *Project) bool { return p.ID == projectID })
}

// guardrails returns the project's limits, seeding its rate-limit rows on
// first use; s.mu must be held.
func (s *Server) guardrails(projectID string) *Guardrails {
	if s.guard.byProject == nil {
		s.guard.byProject = map[string]*Guardrails{}
	}
	g, ok := s.guard.byProject[projectID]
	if !ok {
		g = &Guardrails{}
		for _, m := range s.models() {
			g.RateLimits = append(g.RateLimits, defaultRateLimit(m))
		}
		s.guard.byProject[projectID] = g
	}
	return g
}

// defaultRateLimit is a row like OpenAI's defaults: image and audio models
// carry their own extra fields.
func defaultRateLimit(model string) RateLimit {
	n := func(v int64) *int64 { return &v }
	r := RateLimit{ID: "rl-" + model, Model: model, MaxRequestsPer1Minute: 10000, MaxTokensPer1Minute: 30000000,
		MaxRequestsPer1Day: n(0), Batch1DayMaxInputTokens: n(5000000000)}
	switch {
	case strings.HasPrefix(model, "dall-e"):
		r.MaxRequestsPer1Minute, r.MaxTokensPer1Minute = 500, 0
		r.MaxImagesPer1Minute, r.MaxRequestsPer1Day, r.Batch1DayMaxInputTokens = n(50), nil, nil
	case strings.HasPrefix(model, "whisper"):
		r.MaxRequestsPer1Minute, r.MaxTokensPer1Minute = 500, 0
		r.MaxAudioMegabytesPer1Minute, r.MaxRequestsPer1Day, r.Batch1DayMaxInputTokens = n(100), nil, nil
	}
	return r
}

// policyRoute names a guard-rail request; parts are the path segments
// after the projects collection.
func policyRoute(method string, parts []string) string {
	if len(parts) < 2 || parts[0] == "" || slices.Contains(parts[1:], "") {
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

// handlePolicy serves a guard-rail endpoint; ok is false for any other.
func (s *Server) handlePolicy(w responseWriter, r *http.Request, endpoint, projectID string, body []byte) (status int, ok bool) {
	rest, _ := strings.CutPrefix(r.URL.Path, Prefix+"/organization/projects/")
	parts := strings.Split(rest, "/")
	sub := ""
	if len(parts) == 3 {
		sub = parts[2]
	}
	write := endpoint != EndpointGetSpendLimit && endpoint != EndpointListSpendAlerts &&
		endpoint != EndpointListRateLimits && endpoint != EndpointGetModelPermissions
	switch endpoint {
	case EndpointGetSpendLimit, EndpointSetSpendLimit, EndpointDeleteSpendLimit,
		EndpointListSpendAlerts, EndpointCreateSpendAlert, EndpointUpdateSpendAlert, EndpointDeleteSpendAlert,
		EndpointListRateLimits, EndpointUpdateRateLimit,
		EndpointGetModelPermissions, EndpointSetModelPermissions, EndpointDeleteModelPermissions:
	default:
		return 0, false
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p, found := s.byID[projectID]
	if !found {
		return notFound(w, projectID), true
	}
	if write && p.ArchivedAt != nil {
		return badParam(w, "", "Archived projects cannot be used or updated."), true
	}
	g := s.guardrails(projectID)
	switch endpoint {
	case EndpointGetSpendLimit:
		if g.SpendLimit == nil {
			return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
				fmt.Sprintf("Project '%s' has no hard spend limit.", projectID)), true
		}
		return writeJSON(w, http.StatusOK, spendLimitJSON(*g.SpendLimit)), true
	case EndpointSetSpendLimit:
		return s.setSpendLimit(w, g, body), true
	case EndpointDeleteSpendLimit:
		g.SpendLimit = nil
		return writeJSON(w, http.StatusOK, map[string]any{"object": "project.spend_limit.deleted", "deleted": true}), true
	case EndpointListSpendAlerts:
		return listAlerts(w, g, r.URL.Query()), true
	case EndpointCreateSpendAlert:
		return s.putAlert(w, g, "", body), true
	case EndpointUpdateSpendAlert:
		return s.putAlert(w, g, sub, body), true
	case EndpointDeleteSpendAlert:
		i := slices.IndexFunc(g.Alerts, func(a SpendAlert) bool { return a.ID == sub })
		if i < 0 {
			return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
				fmt.Sprintf("No spend alert found with id '%s'.", sub)), true
		}
		g.Alerts = slices.Delete(g.Alerts, i, i+1)
		return writeJSON(w, http.StatusOK, map[string]any{"id": sub, "object": "project.spend_alert.deleted", "deleted": true}), true
	case EndpointListRateLimits:
		return listRateLimits(w, g, r.URL.Query()), true
	case EndpointUpdateRateLimit:
		return updateRateLimit(w, g, sub, body), true
	case EndpointGetModelPermissions:
		mp := ModelPermissions{Mode: "deny_list"}
		if g.ModelPermissions != nil {
			mp = *g.ModelPermissions
		}
		return writeJSON(w, http.StatusOK, modelPermissionsJSON(mp)), true
	case EndpointSetModelPermissions:
		return s.setModelPermissions(w, g, body), true
	case EndpointDeleteModelPermissions:
		g.ModelPermissions = nil
		return writeJSON(w, http.StatusOK, map[string]any{"object": "project.model_permissions.deleted", "deleted": true}), true
	}
	return 0, false
}

// intMember reads a required or optional integer member; a float, string
// or out-of-range value is an error message.
func intMember(m map[string]json.RawMessage, key string, required bool, minimum int64) (v int64, present bool, problem string) {
	raw, present := m[key]
	if !present {
		if required {
			return 0, false, fmt.Sprintf("Missing required parameter: '%s'.", key)
		}
		return 0, false, ""
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, true, fmt.Sprintf("Invalid type for '%s': expected an integer.", key)
	}
	if v < minimum {
		return 0, true, fmt.Sprintf("Invalid '%s': must be at least %d.", key, minimum)
	}
	return v, true, ""
}

func enumMember(m map[string]json.RawMessage, key, want string) string {
	var v string
	if raw, ok := m[key]; !ok || json.Unmarshal(raw, &v) != nil || v != want {
		return fmt.Sprintf("Invalid value for '%s': expected '%s'.", key, want)
	}
	return ""
}

func (s *Server) setSpendLimit(w responseWriter, g *Guardrails, body []byte) int {
	m, status := decodeBody(w, body, "threshold_amount", "currency", "interval")
	if status != 0 {
		return status
	}
	cents, _, problem := intMember(m, "threshold_amount", true, 1)
	if problem != "" {
		return badParam(w, "threshold_amount", problem)
	}
	if problem := enumMember(m, "currency", "USD"); problem != "" {
		return badParam(w, "currency", problem)
	}
	if problem := enumMember(m, "interval", "month"); problem != "" {
		return badParam(w, "interval", problem)
	}
	g.SpendLimit = &SpendLimit{ThresholdCents: cents, Enforcement: "enforcing"}
	return writeJSON(w, http.StatusOK, spendLimitJSON(*g.SpendLimit))
}

// putAlert creates (id "") or replaces an alert.
func (s *Server) putAlert(w responseWriter, g *Guardrails, id string, body []byte) int {
	i := -1
	if id != "" {
		if i = slices.IndexFunc(g.Alerts, func(a SpendAlert) bool { return a.ID == id }); i < 0 {
			return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
				fmt.Sprintf("No spend alert found with id '%s'.", id))
		}
	}
	m, status := decodeBody(w, body, "threshold_amount", "currency", "interval", "notification_channel")
	if status != 0 {
		return status
	}
	cents, _, problem := intMember(m, "threshold_amount", true, 0)
	if problem != "" {
		return badParam(w, "threshold_amount", problem)
	}
	if problem := enumMember(m, "currency", "USD"); problem != "" {
		return badParam(w, "currency", problem)
	}
	if problem := enumMember(m, "interval", "month"); problem != "" {
		return badParam(w, "interval", problem)
	}
	var ch struct {
		Type          string    `json:"type"`
		Recipients    *[]string `json:"recipients"`
		SubjectPrefix *string   `json:"subject_prefix"`
	}
	raw, ok := m["notification_channel"]
	if !ok || json.Unmarshal(raw, &ch) != nil || ch.Type != "email" || ch.Recipients == nil {
		return badParam(w, "notification_channel", "Invalid 'notification_channel': expected {\"type\": \"email\", \"recipients\": [...]}.")
	}
	for _, r := range *ch.Recipients {
		if !strings.Contains(r, "@") {
			return badParam(w, "notification_channel.recipients", fmt.Sprintf("Invalid email address: '%s'.", r))
		}
	}
	a := SpendAlert{ID: id, ThresholdCents: cents, Recipients: slices.Clone(*ch.Recipients), SubjectPrefix: ch.SubjectPrefix}
	if i < 0 {
		a.ID = "alert_" + randomAlnum(20)
		g.Alerts = append(g.Alerts, a)
		if s.guard.trap {
			// The reported trap: the new alert takes the limit's place
			// and nothing is enforced any more.
			g.SpendLimit = &SpendLimit{ThresholdCents: max(cents, 1), Enforcement: "inactive"}
		}
	} else {
		g.Alerts[i] = a
	}
	return writeJSON(w, http.StatusOK, alertJSON(a))
}

// page cuts a list at the "after" cursor and "limit"; a non-integer limit
// is a 400 (returned as status).
func guardPage[T any](w responseWriter, items []T, idOf func(T) string, q map[string][]string, def, maxLimit int) (out []T, hasMore bool, status int) {
	limit := def
	if v := first(q["limit"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxLimit {
			return nil, false, badParam(w, "limit", fmt.Sprintf("Invalid 'limit': expected an integer between 0 and %d.", maxLimit))
		}
		limit = n
	}
	start := 0
	if after := first(q["after"]); after != "" {
		i := slices.IndexFunc(items, func(it T) bool { return idOf(it) == after })
		if i < 0 {
			return nil, false, badParam(w, "after", fmt.Sprintf("Invalid 'after': no object with id '%s'.", after))
		}
		start = i + 1
	}
	items = items[start:]
	if limit == 0 || limit >= len(items) {
		return items, false, 0
	}
	return items[:limit], true, 0
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func listAlerts(w responseWriter, g *Guardrails, q map[string][]string) int {
	items, more, status := guardPage(w, g.Alerts, func(a SpendAlert) string { return a.ID }, q, 20, 100)
	if status != 0 {
		return status
	}
	data := make([]alertBody, len(items))
	for i, a := range items {
		data[i] = alertJSON(a)
	}
	out := map[string]any{"object": "list", "data": data, "first_id": nil, "last_id": nil, "has_more": more}
	if len(data) > 0 {
		out["first_id"], out["last_id"] = data[0].ID, data[len(data)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

func listRateLimits(w responseWriter, g *Guardrails, q map[string][]string) int {
	items, more, status := guardPage(w, g.RateLimits, func(r RateLimit) string { return r.ID }, q, 100, 1000)
	if status != 0 {
		return status
	}
	data := make([]rateLimitBody, len(items))
	for i, r := range items {
		data[i] = rateLimitJSON(r)
	}
	out := map[string]any{"object": "list", "data": data, "first_id": nil, "last_id": nil, "has_more": more}
	if len(data) > 0 {
		out["first_id"], out["last_id"] = data[0].ID, data[len(data)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

func updateRateLimit(w responseWriter, g *Guardrails, id string, body []byte) int {
	i := slices.IndexFunc(g.RateLimits, func(r RateLimit) bool { return r.ID == id })
	if i < 0 {
		return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
			fmt.Sprintf("No rate limit found with id '%s'.", id))
	}
	fields := []string{"max_requests_per_1_minute", "max_tokens_per_1_minute", "max_images_per_1_minute",
		"max_audio_megabytes_per_1_minute", "max_requests_per_1_day", "batch_1_day_max_input_tokens"}
	m, status := decodeBody(w, body, fields...)
	if status != 0 {
		return status
	}
	r := g.RateLimits[i]
	for _, f := range fields {
		v, present, problem := intMember(m, f, false, 0)
		if problem != "" {
			return badParam(w, f, problem)
		}
		if !present {
			continue
		}
		switch f {
		case "max_requests_per_1_minute":
			r.MaxRequestsPer1Minute = v
		case "max_tokens_per_1_minute":
			r.MaxTokensPer1Minute = v
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
	g.RateLimits[i] = r
	return writeJSON(w, http.StatusOK, rateLimitJSON(r))
}

func (s *Server) setModelPermissions(w responseWriter, g *Guardrails, body []byte) int {
	m, status := decodeBody(w, body, "mode", "model_ids")
	if status != 0 {
		return status
	}
	var mode string
	if raw, ok := m["mode"]; !ok || json.Unmarshal(raw, &mode) != nil || mode != "allow_list" && mode != "deny_list" {
		return badParam(w, "mode", "Invalid value for 'mode': expected 'allow_list' or 'deny_list'.")
	}
	var ids []string
	if raw, ok := m["model_ids"]; !ok || json.Unmarshal(raw, &ids) != nil || ids == nil {
		return badParam(w, "model_ids", "Invalid 'model_ids': expected an array of model IDs.")
	}
	for _, id := range ids {
		if !slices.Contains(s.models(), id) {
			return badParam(w, "model_ids", fmt.Sprintf("Invalid model ID: '%s'.", id))
		}
	}
	g.ModelPermissions = &ModelPermissions{Mode: mode, ModelIDs: slices.Clone(ids)}
	return writeJSON(w, http.StatusOK, modelPermissionsJSON(*g.ModelPermissions))
}

// ---- JSON shapes (spec components) ----

type spendLimitBody struct {
	Object          string `json:"object"`
	ThresholdAmount int64  `json:"threshold_amount"`
	Currency        string `json:"currency"`
	Interval        string `json:"interval"`
	Enforcement     struct {
		Status string `json:"status"`
	} `json:"enforcement"`
}

func spendLimitJSON(l SpendLimit) spendLimitBody {
	b := spendLimitBody{Object: "project.spend_limit", ThresholdAmount: l.ThresholdCents, Currency: "USD", Interval: "month"}
	b.Enforcement.Status = l.Enforcement
	return b
}

type channelBody struct {
	Type          string   `json:"type"`
	Recipients    []string `json:"recipients"`
	SubjectPrefix *string  `json:"subject_prefix"`
}

type alertBody struct {
	ID                  string      `json:"id"`
	Object              string      `json:"object"`
	ThresholdAmount     int64       `json:"threshold_amount"`
	Currency            string      `json:"currency"`
	Interval            string      `json:"interval"`
	NotificationChannel channelBody `json:"notification_channel"`
}

func alertJSON(a SpendAlert) alertBody {
	rec := slices.Clone(a.Recipients)
	if rec == nil {
		rec = []string{}
	}
	return alertBody{
		ID: a.ID, Object: "project.spend_alert", ThresholdAmount: a.ThresholdCents, Currency: "USD", Interval: "month",
		NotificationChannel: channelBody{Type: "email", Recipients: rec, SubjectPrefix: a.SubjectPrefix},
	}
}

type rateLimitBody struct {
	Object                      string `json:"object"`
	ID                          string `json:"id"`
	Model                       string `json:"model"`
	MaxRequestsPer1Minute       int64  `json:"max_requests_per_1_minute"`
	MaxTokensPer1Minute         int64  `json:"max_tokens_per_1_minute"`
	MaxImagesPer1Minute         *int64 `json:"max_images_per_1_minute,omitempty"`
	MaxAudioMegabytesPer1Minute *int64 `json:"max_audio_megabytes_per_1_minute,omitempty"`
	MaxRequestsPer1Day          *int64 `json:"max_requests_per_1_day,omitempty"`
	Batch1DayMaxInputTokens     *int64 `json:"batch_1_day_max_input_tokens,omitempty"`
}

func rateLimitJSON(r RateLimit) rateLimitBody {
	return rateLimitBody{
		Object: "project.rate_limit", ID: r.ID, Model: r.Model,
		MaxRequestsPer1Minute: r.MaxRequestsPer1Minute, MaxTokensPer1Minute: r.MaxTokensPer1Minute,
		MaxImagesPer1Minute: r.MaxImagesPer1Minute, MaxAudioMegabytesPer1Minute: r.MaxAudioMegabytesPer1Minute,
		MaxRequestsPer1Day: r.MaxRequestsPer1Day, Batch1DayMaxInputTokens: r.Batch1DayMaxInputTokens,
	}
}

func modelPermissionsJSON(mp ModelPermissions) map[string]any {
	ids := slices.Clone(mp.ModelIDs)
	if ids == nil {
		ids = []string{}
	}
	return map[string]any{"object": "project.model_permissions", "mode": mp.Mode, "model_ids": ids}
}
