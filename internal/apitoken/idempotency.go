package apitoken

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Idempotency-Key replays: the first answer to a (token, key) pair is
// kept with a hash of its request, so that the same request again gets the
// same answer and another request under the same key can be refused.

// StoredResponse is a kept answer.
type StoredResponse struct {
	RequestHash []byte
	Status      int
	Body        []byte
}

// IdempotentResponse returns the answer kept for the token's key, if any.
func (s *Service) IdempotentResponse(ctx context.Context, tokenID int64, key string) (StoredResponse, bool, error) {
	r, err := s.q.GetIdempotentResponse(ctx, dbgen.GetIdempotentResponseParams{TokenID: tokenID, Key: key})
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredResponse{}, false, nil
	}
	if err != nil {
		return StoredResponse{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	return StoredResponse{RequestHash: r.RequestHash, Status: int(r.Status), Body: r.Response}, true, nil
}

// SaveIdempotentResponse keeps the answer to the token's key; the first
// one saved wins.
func (s *Service) SaveIdempotentResponse(ctx context.Context, tokenID int64, key string, requestHash []byte, status int, body []byte) error {
	_, err := s.q.SaveIdempotentResponse(ctx, dbgen.SaveIdempotentResponseParams{
		TokenID: tokenID, Key: key, RequestHash: requestHash, Status: int32(status), Response: body,
	})
	if err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	return nil
}
