package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/keys"
)

func (s *Server) apiV1CompanyRoutes(v1 *echo.Group) {
	v1.POST("/companies", s.handleAPICompanyCreate, s.requireScope(apitoken.ScopeCompaniesWrite))
	v1.GET("/companies", s.handleAPICompanyFind, s.requireScope(apitoken.ScopeCompaniesRead))
	v1.GET("/companies/:id", s.handleAPICompanyGet, s.requireScope(apitoken.ScopeCompaniesRead))
}

// apiCompanyRequest is POST /api/v1/companies's body: the signup form's
// fields, by the same names, and the host app's own ID.
type apiCompanyRequest struct {
	CompanyName  string `json:"company_name"`
	Industry     string `json:"industry"`
	ContactName  string `json:"contact_name"`
	ContactEmail string `json:"contact_email"`
	Website      string `json:"website"`
	CompanySize  string `json:"company_size"`
	Country      string `json:"country"`
	ExternalID   string `json:"external_id"`
}

// apiCompany is a company as the API shows it.
type apiCompany struct {
	ID           int64           `json:"id"`
	Name         string          `json:"name"`
	ExternalID   *string         `json:"external_id"`
	Status       string          `json:"status"`
	Ready        bool            `json:"ready"`
	ProjectID    *string         `json:"project_id"`
	Provisioning apiProvisioning `json:"provisioning"`
	Key          *apiKeyMetadata `json:"key"`
	KeyStatus    string          `json:"key_status"`
	CreatedAt    time.Time       `json:"created_at"`
	// Policy is the guard rails' state (api_policy.go); absent when
	// policies are disabled.
	Policy *apiPolicy `json:"policy,omitempty"`
}

type apiProvisioning struct {
	Status        string     `json:"status"`
	LastError     string     `json:"last_error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

type apiKeyMetadata struct {
	ID            string     `json:"id"`
	RedactedValue string     `json:"redacted_value"`
	CreatedAt     time.Time  `json:"created_at"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
}

// idempotencyHeader makes a POST safe to repeat.
const idempotencyHeader = "Idempotency-Key"

// handleAPICompanyCreate handles "POST /api/v1/companies": the signup,
// for the host app. With an Idempotency-Key, the same key with the same
// body answers what the first request answered; with another body, 422.
func (s *Server) handleAPICompanyCreate(c echo.Context) error {
	ctx := c.Request().Context()
	tok, _ := apiTokenOf(c)
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The body could not be read.")
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	idemKey := strings.TrimSpace(c.Request().Header.Get(idempotencyHeader))
	if len(idemKey) > 200 {
		return echo.NewHTTPError(http.StatusBadRequest, "Idempotency-Key must be at most 200 characters.")
	}
	reqHash := sha256.Sum256(append([]byte(c.Request().Method+" "+c.Request().URL.Path+"\n"), body...))
	if idemKey != "" {
		prev, found, err := s.tokens.IdempotentResponse(ctx, tok.ID, idemKey)
		if err != nil {
			return err
		}
		if found {
			if !bytes.Equal(prev.RequestHash, reqHash[:]) {
				return echo.NewHTTPError(http.StatusUnprocessableEntity, "This Idempotency-Key was used with another request body.")
			}
			c.Response().Header().Set("Idempotent-Replayed", "true")
			return c.JSONBlob(prev.Status, prev.Body)
		}
	}

	var req apiCompanyRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	params := company.SignupParams{
		Name: req.CompanyName, Industry: req.Industry, ContactName: req.ContactName, ContactEmail: req.ContactEmail,
		Website: req.Website, Size: req.CompanySize, Country: req.Country, ExternalID: req.ExternalID,
	}
	if idemKey != "" {
		// The signup token makes two concurrent requests with one key
		// create one company.
		params.Token = fmt.Sprintf("api:%d:%x", tok.ID, sha256.Sum256([]byte(idemKey)))
	}
	res, err := s.companies.CreateCompanyFromSignup(ctx, params)
	var problems company.ValidationError
	switch {
	case errors.As(err, &problems):
		return apiFieldErrors(c, problems)
	case errors.Is(err, company.ErrNameTaken):
		return apiFieldErrors(c, map[string]string{company.FieldName: "A company with this name is already registered."})
	case errors.Is(err, company.ErrExternalIDTaken):
		return apiFieldErrors(c, map[string]string{company.FieldExternalID: "Another company has this external_id."})
	case err != nil:
		return err
	}
	view, err := s.apiCompanyView(ctx, res.Company)
	if err != nil {
		return err
	}
	out, err := json.Marshal(view)
	if err != nil {
		return err
	}
	if idemKey != "" {
		if err := s.tokens.SaveIdempotentResponse(ctx, tok.ID, idemKey, reqHash[:], http.StatusCreated, out); err != nil {
			return err
		}
	}
	s.logger.Info("company registered through the API", slog.Int64("company_id", view.ID), slog.String("token", tok.Name))
	return c.JSONBlob(http.StatusCreated, out)
}

// handleAPICompanyGet handles "GET /api/v1/companies/:id".
func (s *Server) handleAPICompanyGet(c echo.Context) error {
	co, err := s.apiCompanyParam(c)
	if err != nil {
		return err
	}
	view, err := s.apiCompanyView(c.Request().Context(), co)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// handleAPICompanyFind handles "GET /api/v1/companies?external_id=…".
func (s *Server) handleAPICompanyFind(c echo.Context) error {
	ext := c.QueryParam("external_id")
	if ext == "" {
		return apiFieldErrors(c, map[string]string{company.FieldExternalID: "Give the external_id to look up."})
	}
	co, err := s.companies.GetByExternalID(c.Request().Context(), ext)
	if err != nil {
		return err
	}
	view, err := s.apiCompanyView(c.Request().Context(), co)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// apiCompanyParam loads the company named by :id. Returns
// company.ErrNotFound (404) for an ID that is not a number too.
func (s *Server) apiCompanyParam(c echo.Context) (company.Company, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return company.Company{}, company.ErrNotFound
	}
	return s.companies.Get(c.Request().Context(), id)
}

func (s *Server) apiCompanyView(ctx context.Context, co company.Company) (apiCompany, error) {
	v := apiCompany{
		ID: co.ID, Name: co.Name, Status: string(co.Status), CreatedAt: co.CreatedAt.UTC(),
		Provisioning: apiProvisioning{Status: string(co.Status), LastError: co.LastError, NextAttemptAt: co.NextAttemptAt},
		KeyStatus:    "none",
	}
	if co.OpenAIProjectID != "" {
		pid := co.OpenAIProjectID
		v.ProjectID = &pid
	}
	ext, err := s.companies.ExternalID(ctx, co.ID)
	if err != nil {
		return v, err
	}
	if ext != "" {
		v.ExternalID = &ext
	}
	if s.policy != nil && s.policy.Enabled() {
		pol, err := s.apiPolicyOf(ctx, co.ID)
		if err != nil {
			return v, err
		}
		v.Policy = &pol
	}
	if s.keys != nil {
		st, err := s.keys.StatusOf(ctx, co.ID)
		if err != nil {
			return v, err
		}
		if st.State != "" {
			v.KeyStatus = st.State
		}
		k, err := s.keys.Current(ctx, co.ID)
		switch {
		case errors.Is(err, keys.ErrNoKey):
		case err != nil:
			return v, err
		default:
			v.Key = keyMetadata(k)
		}
	}
	v.Ready = v.ProjectID != nil && v.Key != nil
	return v, nil
}

func keyMetadata(k keys.Key) *apiKeyMetadata {
	return &apiKeyMetadata{ID: k.ID, RedactedValue: k.RedactedValue, CreatedAt: k.CreatedAt.UTC(), LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt.UTC()}
}
