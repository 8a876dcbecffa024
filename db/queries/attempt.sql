-- name: CreateAttempt :one
INSERT INTO provision_attempts (company_id, trigger, actor, job_id)
VALUES (@company_id, @trigger, @actor, sqlc.narg('job_id'))
RETURNING *;

-- name: CreateFinishedAttempt :one
INSERT INTO provision_attempts (company_id, trigger, actor, job_id, finished_at, outcome, project_id, error)
VALUES (@company_id, @trigger, @actor, sqlc.narg('job_id'), now(), @outcome, sqlc.narg('project_id'), @error)
RETURNING *;

-- name: FinishAttempt :exec
UPDATE provision_attempts
SET finished_at = now(), outcome = @outcome, project_id = sqlc.narg('project_id'),
    error = @error, http_status = sqlc.narg('http_status'), openai_request_id = @openai_request_id
WHERE id = @id;

-- name: ListCompanyAttempts :many
SELECT * FROM provision_attempts
WHERE company_id = @company_id
ORDER BY started_at DESC, id DESC
LIMIT @max_rows;

-- name: OldestUncertainAttemptStart :one
-- An attempt that never finished (the process died) or ended without knowing
-- whether OpenAI created the project. Since its start, a project with the
-- company's name may exist on OpenAI that we have not linked.
SELECT started_at FROM provision_attempts
WHERE company_id = @company_id AND outcome IN ('started', 'uncertain') AND NOT resolved
ORDER BY started_at
LIMIT 1;

-- name: LastFinishedAttempt :one
SELECT * FROM provision_attempts
WHERE company_id = @company_id AND finished_at IS NOT NULL
ORDER BY finished_at DESC, id DESC
LIMIT 1;

-- name: CountRetryableAttempts :one
-- How many tries one provisioning run (a job) has spent on a company's
-- passing errors.
SELECT count(*) FROM provision_attempts
WHERE company_id = @company_id AND job_id = @job_id AND outcome IN ('retryable', 'uncertain', 'started');

-- name: LastUncertainAttempt :one
-- The latest try whose outcome is unknown; the next try waits for it to settle.
SELECT * FROM provision_attempts
WHERE company_id = @company_id AND outcome IN ('started', 'uncertain') AND NOT resolved
ORDER BY started_at DESC
LIMIT 1;

-- name: ResolveUncertainAttempts :exec
-- Once the company is linked, earlier uncertain tries are settled; a try
-- that never finished was cut off by a crash.
UPDATE provision_attempts
SET resolved = true,
    outcome = CASE WHEN outcome = 'started' THEN 'uncertain' ELSE outcome END,
    finished_at = coalesce(finished_at, now()),
    error = CASE WHEN outcome = 'started' THEN 'interrupted before OpenAI answered (process stopped)' ELSE error END
WHERE company_id = @company_id AND outcome IN ('started', 'uncertain') AND NOT resolved AND id <> @keep_id;
