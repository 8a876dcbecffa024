package company

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The host app's own ID for a company (the API's external_id): optional,
// unique, set when the company is registered through the API.

// ErrExternalIDTaken is returned when another company has the external ID.
var ErrExternalIDTaken = errors.New("company: another company has this external_id")

// FieldExternalID is the ValidationError key of the external ID.
const FieldExternalID = "external_id"

// MaxExternalIDLen bounds an external ID.
const MaxExternalIDLen = 200

// ValidateExternalID returns what is wrong with an external ID, "" if
// nothing ("" itself is fine: none).
func ValidateExternalID(v string) string {
	switch {
	case v != strings.TrimSpace(v):
		return "external_id must not start or end with white space."
	case len(v) > MaxExternalIDLen:
		return fmt.Sprintf("external_id must be at most %d characters.", MaxExternalIDLen)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "external_id contains characters that are not allowed."
	}
	return ""
}

// GetByExternalID returns the company with this external ID. Returns
// ErrNotFound.
func (s *Service) GetByExternalID(ctx context.Context, externalID string) (Company, error) {
	r, err := s.q.GetCompanyByExternalID(ctx, externalID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Company{}, ErrNotFound
	}
	if err != nil {
		return Company{}, fmt.Errorf("get company by external id: %w", err)
	}
	return fromRow(r), nil
}

// ExternalID returns the company's external ID, "" when it has none.
func (s *Service) ExternalID(ctx context.Context, companyID int64) (string, error) {
	v, err := s.q.GetExternalID(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("external id of company %d: %w", companyID, err)
	}
	return v, nil
}
