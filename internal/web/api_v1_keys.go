package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/keys"
)

func (s *Server) apiV1KeyRoutes(v1 *echo.Group) {
	v1.GET("/companies/:id/openai-key", s.handleAPIKeyGet, s.requireScope(apitoken.ScopeKeysRead))
	v1.POST("/companies/:id/openai-key/rotate", s.handleAPIKeyRotate, s.requireScope(apitoken.ScopeKeysWrite))
	v1.DELETE("/companies/:id/openai-key", s.handleAPIKeyRevoke, s.requireScope(apitoken.ScopeKeysWrite))
}

// apiKeyTarget is the company a key request names and the token making
// it; off is the error to answer when keys are not configured (checked
// after the company, so an unknown company is a 404 either way).
func (s *Server) apiKeyTarget(c echo.Context, off error) (company.Company, apitoken.Token, error) {
	co, err := s.apiCompanyParam(c)
	if err != nil {
		return company.Company{}, apitoken.Token{}, err
	}
	tok, _ := apiTokenOf(c)
	if s.keys == nil {
		return company.Company{}, apitoken.Token{}, off
	}
	return co, tok, nil
}

// apiKeyValue is GET …/openai-key's answer: the one place a value leaves.
type apiKeyValue struct {
	CompanyID int64     `json:"company_id"`
	KeyID     string    `json:"key_id"`
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// handleAPIKeyGet handles "GET /api/v1/companies/:id/openai-key": the
// current key's value, audited with the token's name.
func (s *Server) handleAPIKeyGet(c echo.Context) error {
	co, tok, err := s.apiKeyTarget(c, keys.ErrNoKey)
	if err != nil {
		return err
	}
	k, value, err := s.keys.Reveal(c.Request().Context(), co.ID, tok.Actor())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiKeyValue{CompanyID: co.ID, KeyID: k.ID, Value: value.Reveal(), CreatedAt: k.CreatedAt.UTC(), ExpiresAt: k.ExpiresAt.UTC()})
}

// handleAPIKeyRotate handles "POST /api/v1/companies/:id/openai-key/rotate":
// it enqueues the rotation and answers 202; the key.rotated webhook (or
// polling the company) tells when the new key is current.
func (s *Server) handleAPIKeyRotate(c echo.Context) error {
	co, tok, err := s.apiKeyTarget(c, keys.ErrDisabled)
	if err != nil {
		return err
	}
	if err := s.keys.EnqueueRotate(c.Request().Context(), co.ID, tok.Actor(), keys.TriggerAPI); err != nil {
		return err
	}
	s.logger.Info("key rotation requested through the API", slog.Int64("company_id", co.ID), slog.String("token", tok.Name))
	return c.JSON(http.StatusAccepted, map[string]any{"company_id": co.ID, "status": "rotation_pending"})
}

// handleAPIKeyRevoke handles "DELETE /api/v1/companies/:id/openai-key":
// every live key of the company is deleted on OpenAI at once.
func (s *Server) handleAPIKeyRevoke(c echo.Context) error {
	co, tok, err := s.apiKeyTarget(c, keys.ErrDisabled)
	if err != nil {
		return err
	}
	// The host app waits for the answer: ahead of the background calls.
	ctx := governor.WithCall(c.Request().Context(), governor.CallerKeys, governor.Interactive)
	n, err := s.keys.Revoke(ctx, co.ID, tok.Actor())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"company_id": co.ID, "revoked": n})
}
