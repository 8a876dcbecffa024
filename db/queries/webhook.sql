-- name: InsertWebhookDelivery :one
INSERT INTO webhook_deliveries (event_id, event_type, company_id, payload)
VALUES (@event_id, @event_type, sqlc.narg('company_id'), @payload)
RETURNING *;

-- name: GetWebhookDelivery :one
SELECT * FROM webhook_deliveries WHERE id = @id;

-- name: RecordWebhookAttempt :exec
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_attempt_at = now(), last_status = sqlc.narg('last_status'), last_error = @last_error,
    delivered_at = CASE WHEN @delivered::boolean THEN now() ELSE delivered_at END
WHERE id = @id;

-- name: ListWebhookDeliveries :many
SELECT * FROM webhook_deliveries ORDER BY created_at DESC, id DESC LIMIT @max_rows;
