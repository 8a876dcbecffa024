-- name: InsertCompanyKey :one
INSERT INTO company_keys (company_id, project_id, service_account_id, openai_key_id, redacted_value, ciphertext, created_at, expires_at)
VALUES (@company_id, @project_id, @service_account_id, @openai_key_id, @redacted_value, @ciphertext, @created_at, @expires_at)
RETURNING *;

-- name: GetCurrentCompanyKey :one
SELECT * FROM company_keys WHERE company_id = @company_id AND state = 'current';

-- name: GetCompanyKey :one
SELECT * FROM company_keys WHERE id = @id;

-- name: ListCompanyKeys :many
SELECT * FROM company_keys WHERE company_id = @company_id ORDER BY created_at DESC, id DESC;

-- name: ListLiveCompanyKeys :many
-- Keys whose service account still exists on OpenAI.
SELECT * FROM company_keys WHERE company_id = @company_id AND state <> 'deleted' ORDER BY id;

-- name: IsServiceAccountHeld :one
SELECT EXISTS (SELECT 1 FROM company_keys WHERE service_account_id = @service_account_id);

-- name: RetireCompanyKey :execrows
UPDATE company_keys SET state = 'retiring', retire_at = @retire_at
WHERE id = @id AND state = 'current';

-- name: MarkCompanyKeyDeleted :exec
UPDATE company_keys SET state = 'deleted', deleted_at = @deleted_at, revoked = @revoked, retire_at = NULL
WHERE id = @id;

-- name: ListKeysDueForRotation :many
SELECT * FROM company_keys WHERE state = 'current' AND expires_at <= @now ORDER BY expires_at, id LIMIT @max_rows;

-- name: ListKeysToRetire :many
SELECT * FROM company_keys WHERE state = 'retiring' AND retire_at <= @now ORDER BY retire_at, id LIMIT @max_rows;

-- name: UpdateCompanyKeyUsage :exec
UPDATE company_keys SET redacted_value = @redacted_value, last_used_at = sqlc.narg('last_used_at') WHERE id = @id;

-- name: ListKeyCiphertexts :many
-- Every stored value, in id order, a page at a time (for reencrypt).
SELECT id, company_id, openai_key_id, ciphertext FROM company_keys
WHERE id > @after_id AND state <> 'deleted' ORDER BY id LIMIT @max_rows;

-- name: UpdateKeyCiphertext :exec
UPDATE company_keys SET ciphertext = @ciphertext WHERE id = @id;

-- name: CreateKeyAttempt :one
INSERT INTO key_attempts (company_id, project_id, trigger, actor, job_id)
VALUES (@company_id, @project_id, @trigger, @actor, sqlc.narg('job_id'))
RETURNING *;

-- name: FinishKeyAttempt :exec
UPDATE key_attempts
SET finished_at = now(), outcome = @outcome, service_account_id = sqlc.narg('service_account_id'),
    orphans_deleted = @orphans_deleted, error = @error, http_status = sqlc.narg('http_status'),
    openai_request_id = @openai_request_id
WHERE id = @id;

-- name: OldestUncertainKeyAttemptStart :one
-- Since the start of an attempt that never learnt its outcome, a service
-- account of ours may exist whose key we never received.
SELECT started_at FROM key_attempts
WHERE company_id = @company_id AND outcome IN ('started', 'uncertain') AND NOT resolved
ORDER BY started_at LIMIT 1;

-- name: LastUncertainKeyAttempt :one
SELECT * FROM key_attempts
WHERE company_id = @company_id AND outcome IN ('started', 'uncertain') AND NOT resolved
ORDER BY started_at DESC LIMIT 1;

-- name: CountRetryableKeyAttempts :one
SELECT count(*) FROM key_attempts
WHERE company_id = @company_id AND job_id = @job_id AND outcome IN ('retryable', 'uncertain', 'started');

-- name: ResolveUncertainKeyAttempts :exec
-- Once the orphans are deleted and a key is held, earlier uncertain tries
-- are settled.
UPDATE key_attempts
SET resolved = true,
    outcome = CASE WHEN outcome = 'started' THEN 'uncertain' ELSE outcome END,
    finished_at = coalesce(finished_at, now()),
    error = CASE WHEN outcome = 'started' THEN 'interrupted before OpenAI answered (process stopped)' ELSE error END
WHERE company_id = @company_id AND outcome IN ('started', 'uncertain') AND NOT resolved AND id <> @keep_id;

-- name: ListCompanyKeyAttempts :many
SELECT * FROM key_attempts WHERE company_id = @company_id ORDER BY started_at DESC, id DESC LIMIT @max_rows;

-- name: UpsertKeyStatus :exec
INSERT INTO company_key_status (company_id, status, error, next_attempt_at, updated_at)
VALUES (@company_id, @status, @error, sqlc.narg('next_attempt_at'), now())
ON CONFLICT (company_id) DO UPDATE
SET status = excluded.status, error = excluded.error, next_attempt_at = excluded.next_attempt_at, updated_at = now();

-- name: GetKeyStatus :one
SELECT * FROM company_key_status WHERE company_id = @company_id;

-- name: ListCompaniesWithoutKey :many
-- Provisioned companies with no current key, not revoked on purpose.
SELECT c.id, c.name, c.openai_project_id FROM companies c
WHERE c.openai_project_id IS NOT NULL AND c.id > @after_id
  AND NOT EXISTS (SELECT 1 FROM company_keys k WHERE k.company_id = c.id AND k.state = 'current')
  AND NOT EXISTS (SELECT 1 FROM company_key_status s WHERE s.company_id = c.id AND s.status = 'revoked')
ORDER BY c.id LIMIT @max_rows;

-- name: CountCompaniesWithoutKey :one
SELECT count(*) FROM companies c
WHERE c.openai_project_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM company_keys k WHERE k.company_id = c.id AND k.state = 'current')
  AND NOT EXISTS (SELECT 1 FROM company_key_status s WHERE s.company_id = c.id AND s.status = 'revoked');
