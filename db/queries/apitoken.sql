-- name: CreateAPIToken :one
INSERT INTO api_tokens (name, token_hash, scopes, created_by)
VALUES (@name, @token_hash, @scopes, @created_by)
RETURNING *;

-- name: ListAPITokens :many
SELECT * FROM api_tokens ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC;

-- name: GetLiveAPITokenByName :one
SELECT * FROM api_tokens WHERE lower(name) = lower(@name) AND revoked_at IS NULL;

-- name: RevokeAPIToken :one
UPDATE api_tokens SET revoked_at = now() WHERE id = @id AND revoked_at IS NULL RETURNING *;

-- name: UseAPIToken :one
-- Authenticates a token and counts the request in its rate-limit window
-- (one per minute, shared by every process) in one statement.
UPDATE api_tokens
SET rate_count = CASE WHEN rate_window = @current_window THEN rate_count + 1 ELSE 1 END,
    rate_window = @current_window,
    last_used_at = now()
WHERE token_hash = @token_hash AND revoked_at IS NULL
RETURNING *;

-- name: GetIdempotentResponse :one
SELECT * FROM api_idempotency WHERE token_id = @token_id AND key = @key;

-- name: SaveIdempotentResponse :execrows
INSERT INTO api_idempotency (token_id, key, request_hash, status, response)
VALUES (@token_id, @key, @request_hash, @status, @response)
ON CONFLICT (token_id, key) DO NOTHING;
