package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/validation"
)

// apiPolicyRoutes registers the host-app API's company and policy calls.
//
// Until the service tokens of the keys work (internal/apitoken, scope
// companies:write) are merged, they sit behind requireAPIAdmin, like the
// backfill: ADMIN_API_TOKEN or an admin's session. When they are: use
// requireScope(companies:write) for the two POSTs, drop the GET here and
// add `Policy apiPolicy json:"policy"` to the keys work's company view,
// filled by apiPolicyOf.
func (s *Server) apiPolicyRoutes(api *echo.Group) {
	if s.policy == nil {
		return
	}
	g := api.Group("/v1/companies", s.requireAPIAdmin)
	g.GET("/:id", s.handleAPIPolicyCompanyGet)
	g.POST("/:id/policy/apply", s.handleAPIPolicyApply)
	g.POST("/:id/offboard", s.handleAPIOffboard)
}

// apiPolicy is the "policy" member of a company in the API.
type apiPolicy struct {
	State       string              `json:"state"` // applied, pending, drifted, failed ("" without a project)
	Error       string              `json:"error,omitempty"`
	AppliedAt   *time.Time          `json:"applied_at"`
	CheckedAt   *time.Time          `json:"checked_at"`
	Differences []policy.Difference `json:"differences"`
}

type apiOffboarding struct {
	Step  string `json:"step"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

type policyAPICompany struct {
	ID              int64           `json:"id"`
	Name            string          `json:"name"`
	OpenAIProjectID *string         `json:"openai_project_id"`
	Status          string          `json:"status"` // provisioning status, or "offboarded"
	Policy          apiPolicy       `json:"policy"`
	Offboarding     *apiOffboarding `json:"offboarding,omitempty"`
}

func (s *Server) policyAPICompanyOf(c echo.Context, id int64) (policyAPICompany, error) {
	ctx := c.Request().Context()
	co, err := s.companies.Get(ctx, id)
	if err != nil {
		return policyAPICompany{}, err
	}
	pol, err := s.apiPolicyOf(ctx, id)
	if err != nil {
		return policyAPICompany{}, err
	}
	out := policyAPICompany{ID: co.ID, Name: co.Name, Status: string(co.Status), Policy: pol}
	if co.OpenAIProjectID != "" {
		pid := co.OpenAIProjectID
		out.OpenAIProjectID = &pid
	}
	off, ok, err := s.policy.GetOffboarding(ctx, id)
	if err != nil {
		return policyAPICompany{}, err
	}
	if ok {
		out.Status = "offboarded"
		out.Offboarding = &apiOffboarding{Step: off.Step, State: off.State, Error: off.Error}
	}
	return out, nil
}

// apiPolicyOf is the "policy" member of company id's API view.
func (s *Server) apiPolicyOf(ctx context.Context, id int64) (apiPolicy, error) {
	st, err := s.policy.Status(ctx, id)
	if err != nil {
		return apiPolicy{}, err
	}
	out := apiPolicy{State: st.State, Error: st.Error, AppliedAt: st.AppliedAt, CheckedAt: st.CheckedAt, Differences: st.Differences}
	if out.Differences == nil {
		out.Differences = []policy.Difference{}
	}
	return out, nil
}

// handleAPIPolicyCompanyGet handles "GET /api/v1/companies/:id".
func (s *Server) handleAPIPolicyCompanyGet(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	out, err := s.policyAPICompanyOf(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleAPIPolicyApply handles "POST /api/v1/companies/:id/policy/apply":
// 202, with the company as it stands (state pending).
func (s *Server) handleAPIPolicyApply(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	if err := s.policy.Reapply(c.Request().Context(), id, apiActor(c)); err != nil {
		return err
	}
	out, err := s.policyAPICompanyOf(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, out)
}

// handleAPIOffboard handles "POST /api/v1/companies/:id/offboard" with
// {"confirm": "<the company's name>"}: 202, the steps run as jobs.
func (s *Server) handleAPIOffboard(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	var body struct {
		Confirm string `json:"confirm"`
	}
	if err := c.Bind(&body); err != nil {
		return apiFieldError(policy.FieldConfirm, "Send {\"confirm\": \"<the company's name>\"} as JSON.")
	}
	_, err = s.policy.Offboard(c.Request().Context(), id, body.Confirm, apiActor(c))
	var v validation.Errors
	if errors.As(err, &v) {
		return apiFieldError(policy.FieldConfirm, v[policy.FieldConfirm])
	}
	if err != nil {
		return err
	}
	out, err := s.policyAPICompanyOf(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, out)
}

// apiFieldError is a 422 naming the field, in the API's error shape.
func apiFieldError(field, msg string) error {
	return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Message: field + ": " + msg}
}
