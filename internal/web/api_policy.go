package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/validation"
)

// apiPolicyRoutes registers the host-app API's policy calls under /api/v1;
// GET /api/v1/companies/{id} carries the "policy" member (api_v1_companies.go).
func (s *Server) apiPolicyRoutes(v1 *echo.Group) {
	if s.policy == nil {
		return
	}
	v1.POST("/companies/:id/policy/apply", s.handleAPIPolicyApply, s.requireScope(apitoken.ScopeCompaniesWrite))
	v1.POST("/companies/:id/offboard", s.handleAPIOffboard, s.requireScope(apitoken.ScopeCompaniesWrite))
}

// apiPolicy is the "policy" member of a company in the API.
type apiPolicy struct {
	State       string              `json:"state"` // applied, pending, drifted, failed ("" without a project)
	Error       string              `json:"error"`
	AppliedAt   *time.Time          `json:"applied_at"`
	CheckedAt   *time.Time          `json:"checked_at"`
	Differences []policy.Difference `json:"differences"`
	Offboarding *apiOffboarding     `json:"offboarding"`
}

type apiOffboarding struct {
	Step  string `json:"step"`
	State string `json:"state"`
	Error string `json:"error"`
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
	off, ok, err := s.policy.GetOffboarding(ctx, id)
	if err != nil {
		return apiPolicy{}, err
	}
	if ok {
		out.Offboarding = &apiOffboarding{Step: off.Step, State: off.State, Error: off.Error}
	}
	return out, nil
}

func (s *Server) apiCompanyAnswer(c echo.Context, code int) error {
	co, err := s.apiCompanyParam(c)
	if err != nil {
		return err
	}
	view, err := s.apiCompanyView(c.Request().Context(), co)
	if err != nil {
		return err
	}
	return c.JSON(code, view)
}

// handleAPIPolicyApply handles "POST /api/v1/companies/:id/policy/apply":
// 202, with the company as it stands (policy pending).
func (s *Server) handleAPIPolicyApply(c echo.Context) error {
	co, err := s.apiCompanyParam(c)
	if err != nil {
		return err
	}
	tok, _ := apiTokenOf(c)
	if err := s.policy.Reapply(c.Request().Context(), co.ID, tok.Actor()); err != nil {
		return err
	}
	return s.apiCompanyAnswer(c, http.StatusAccepted)
}

// handleAPIOffboard handles "POST /api/v1/companies/:id/offboard" with
// {"confirm": "<the company's name>"}: 202, the steps run as jobs.
func (s *Server) handleAPIOffboard(c echo.Context) error {
	co, err := s.apiCompanyParam(c)
	if err != nil {
		return err
	}
	var body struct {
		Confirm string `json:"confirm"`
	}
	if err := bindJSON(c, &body); err != nil {
		return apiFieldErrors(c, map[string]string{policy.FieldConfirm: "Send {\"confirm\": \"<the company's name>\"} as JSON."})
	}
	tok, _ := apiTokenOf(c)
	_, err = s.policy.Offboard(c.Request().Context(), co.ID, body.Confirm, tok.Actor())
	var v validation.Errors
	if errors.As(err, &v) {
		return apiFieldErrors(c, v)
	}
	if err != nil {
		return err
	}
	return s.apiCompanyAnswer(c, http.StatusAccepted)
}
