-- name: LockRateKey :exec
-- Serialises the check-and-insert of one limiter key across processes.
SELECT pg_advisory_xact_lock(hashtextextended(@bucket::text || ':' || @key::text, 0));

-- name: ListRateEvents :many
-- A key's events in the window, oldest first.
SELECT at FROM rate_events
WHERE bucket = @bucket AND key = @key AND at > @since
ORDER BY at;

-- name: CreateRateEvent :one
INSERT INTO rate_events (bucket, key, at) VALUES (@bucket, @key, @at)
RETURNING id;

-- name: DeleteRateEvent :exec
DELETE FROM rate_events WHERE id = @id;

-- name: DeleteRateEventsBefore :exec
DELETE FROM rate_events WHERE bucket = @bucket AND at <= @before;
