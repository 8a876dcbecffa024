-- name: CreateStaffUser :one
INSERT INTO staff_users (email, password_hash, role)
VALUES (@email, @password_hash, @role)
RETURNING *;

-- name: CreateFirstStaffUser :execrows
-- Inserts the user only while the table is empty: the first admin that
-- start-up creates from ADMIN_EMAIL / ADMIN_PASSWORD.
INSERT INTO staff_users (email, password_hash, role)
SELECT @email, @password_hash, @role
WHERE NOT EXISTS (SELECT 1 FROM staff_users);

-- name: GetStaffUser :one
SELECT * FROM staff_users WHERE id = @id;

-- name: GetStaffUserByEmail :one
SELECT * FROM staff_users WHERE lower(email) = lower(@email);

-- name: ListStaffUsers :many
SELECT * FROM staff_users ORDER BY lower(email);

-- name: CountStaffUsers :one
SELECT count(*) FROM staff_users;

-- name: DisableStaffUser :execrows
UPDATE staff_users SET disabled = true WHERE id = @id AND NOT disabled;

-- name: SetStaffLastLogin :exec
UPDATE staff_users SET last_login_at = @at::timestamptz WHERE id = @id;

-- name: CreateStaffSession :exec
INSERT INTO staff_sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
VALUES (@token_hash, @user_id, @now, @now, @expires_at);

-- name: GetLiveStaffSession :one
-- The session's user, if the session is neither revoked nor expired and
-- the user is not disabled: the one query behind every dashboard request.
SELECT u.id, u.email, u.role, s.last_seen_at
FROM staff_sessions s
JOIN staff_users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash
  AND s.revoked_at IS NULL
  AND s.expires_at > @now
  AND NOT u.disabled;

-- name: TouchStaffSession :exec
UPDATE staff_sessions SET last_seen_at = @now WHERE token_hash = @token_hash;

-- name: RevokeStaffSession :exec
UPDATE staff_sessions SET revoked_at = @now::timestamptz
WHERE token_hash = @token_hash AND revoked_at IS NULL;

-- name: RevokeStaffSessionsOfUser :execrows
UPDATE staff_sessions SET revoked_at = @now::timestamptz
WHERE user_id = @user_id AND revoked_at IS NULL;

-- name: DeleteEndedStaffSessions :exec
-- Prunes a user's sessions that can no longer be used.
DELETE FROM staff_sessions
WHERE user_id = @user_id AND (revoked_at IS NOT NULL OR expires_at <= @now);

-- name: CreateLoginFailure :exec
INSERT INTO login_failures (email, ip, at) VALUES (@email, @addr, @at);

-- name: ListLoginFailuresByEmail :many
-- The newest failures for an email since a time, newest first.
SELECT at FROM login_failures
WHERE email = @email AND at > @since
ORDER BY at DESC
LIMIT @max_rows;

-- name: ListLoginFailuresByIP :many
-- The newest failures from an IP since a time, newest first.
SELECT at FROM login_failures
WHERE ip = @addr AND at > @since
ORDER BY at DESC
LIMIT @max_rows;

-- name: DeleteLoginFailuresByEmail :exec
DELETE FROM login_failures WHERE email = @email;

-- name: DeleteLoginFailuresBefore :exec
DELETE FROM login_failures WHERE at < @before;

-- name: LockStaffAdmins :exec
-- Serialises changes that could leave no active admin (two admins
-- disabling each other at once).
SELECT pg_advisory_xact_lock(7283003);

-- name: CountOtherActiveAdmins :one
SELECT count(*) FROM staff_users WHERE role = 'admin' AND NOT disabled AND id <> @id;
