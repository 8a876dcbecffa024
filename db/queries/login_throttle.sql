-- name: ListLoginFailuresByEmailAndIP :many
-- The failures for an email from one address since a time, newest first.
SELECT at FROM login_failures
WHERE email = @email AND ip = @addr AND at > @since
ORDER BY at DESC
LIMIT @max_rows;

-- name: DeleteLoginFailuresByEmailAndIP :exec
-- A success from an address clears that address's failures for the email
-- only: failures from elsewhere (an attacker's) keep counting.
DELETE FROM login_failures WHERE email = @email AND ip = @addr;
