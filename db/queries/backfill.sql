-- name: CreateBackfillRun :one
-- Inserts a running run unless one is running already (then no row comes
-- back): the partial unique index makes this safe across processes.
INSERT INTO backfill_runs (started_by, started_by_id, retry_of, upto_company_id, concurrency, total)
VALUES (@started_by, sqlc.narg('started_by_id'), sqlc.narg('retry_of'), @upto_company_id, @concurrency, @total)
ON CONFLICT (status) WHERE status = 'running' DO NOTHING
RETURNING *;

-- name: SetBackfillRunJob :exec
UPDATE backfill_runs SET job_id = @job_id WHERE id = @id;

-- name: GetBackfillRun :one
SELECT * FROM backfill_runs WHERE id = @id;

-- name: GetRunningBackfillRun :one
SELECT * FROM backfill_runs WHERE status = 'running';

-- name: GetCurrentBackfillRun :one
-- The running run, else the latest one.
SELECT * FROM backfill_runs
ORDER BY (status = 'running') DESC, started_at DESC, id DESC
LIMIT 1;

-- name: ListBackfillRuns :many
SELECT * FROM backfill_runs
ORDER BY started_at DESC, id DESC
LIMIT @max_rows;

-- name: CountCompaniesWithoutProject :one
SELECT count(*)::int AS total, coalesce(max(id), 0)::bigint AS upto_id
FROM companies
WHERE openai_project_id IS NULL;

-- name: ListCompanyNamesWithoutProject :many
SELECT name FROM companies
WHERE openai_project_id IS NULL
ORDER BY id
LIMIT @max_rows;

-- name: CountBackfillRetry :one
-- The failures of a run that still have no project.
SELECT count(*)::int AS total, coalesce(max(c.id), 0)::bigint AS upto_id
FROM backfill_items f
JOIN companies c ON c.id = f.company_id
WHERE f.run_id = @retry_of AND f.outcome = 'failed' AND c.openai_project_id IS NULL;

-- name: ListBackfillCompanies :many
-- The next batch of companies without a project that the run has not
-- finished with, in ID order (keyset: memory stays flat at any size).
SELECT c.id, c.name FROM companies c
WHERE c.openai_project_id IS NULL AND c.id > @after_id AND c.id <= @upto_id
  AND NOT EXISTS (SELECT 1 FROM backfill_items i WHERE i.run_id = @run_id AND i.company_id = c.id)
ORDER BY c.id
LIMIT @max_rows;

-- name: ListBackfillRetryCompanies :many
-- Like ListBackfillCompanies, limited to the failures of run retry_of.
SELECT c.id, c.name FROM backfill_items f
JOIN companies c ON c.id = f.company_id
WHERE f.run_id = @retry_of AND f.outcome = 'failed' AND c.openai_project_id IS NULL AND c.id > @after_id
  AND NOT EXISTS (SELECT 1 FROM backfill_items i WHERE i.run_id = @run_id AND i.company_id = c.id)
ORDER BY c.id
LIMIT @max_rows;

-- name: RecordBackfillItem :execrows
-- Records a company's final outcome in the run and counts it, once: a
-- company recorded before (by an earlier, interrupted execution) is left
-- alone and 0 is returned.
WITH item AS (
    INSERT INTO backfill_items (run_id, company_id, outcome, project_id, error)
    VALUES (@run_id, @company_id, @outcome, sqlc.narg('project_id'), @error)
    ON CONFLICT (run_id, company_id) DO NOTHING
    RETURNING outcome
)
UPDATE backfill_runs r
SET progress_at = now(),
    created = r.created + (item.outcome = 'created')::int,
    linked  = r.linked  + (item.outcome = 'linked')::int,
    failed  = r.failed  + (item.outcome = 'failed')::int,
    skipped = r.skipped + (item.outcome = 'skipped')::int
FROM item
WHERE r.id = @run_id;

-- name: ListBackfillFailures :many
SELECT f.company_id, c.name AS company_name, f.error, f.at
FROM backfill_items f
JOIN companies c ON c.id = f.company_id
WHERE f.run_id = @run_id AND f.outcome = 'failed'
ORDER BY f.at, f.company_id
LIMIT @max_rows;

-- name: ClaimBackfillRun :one
-- Takes (or renews) the lease on a running run; no row comes back when the
-- run is over or another execution holds an unexpired lease.
UPDATE backfill_runs
SET lease_token = @token::text, lease_until = now() + make_interval(secs => @lease_seconds::float8)
WHERE id = @id AND status = 'running'
  AND (lease_until IS NULL OR lease_until < now() OR lease_token = @token)
RETURNING *;

-- name: ReleaseBackfillRun :exec
UPDATE backfill_runs SET lease_token = NULL, lease_until = NULL
WHERE id = @id AND lease_token = @token::text;

-- name: SetBackfillRunError :exec
-- Notes a passing problem (e.g. OpenAI's project list failed; River retries).
UPDATE backfill_runs SET last_error = @last_error WHERE id = @id;

-- name: FinishBackfillRun :one
-- Ends a run whose companies are all done. Companies that got their project
-- elsewhere during the run drop out of its total, so the counts add up.
UPDATE backfill_runs
SET status = 'finished', finished_at = now(), total = created + linked + failed + skipped,
    last_error = '', lease_token = NULL, lease_until = NULL
WHERE id = @id AND status = 'running'
RETURNING *;

-- name: EndBackfillRun :execrows
-- Ends a run that cannot go on ('failed' or 'cancelled').
UPDATE backfill_runs
SET status = @status, finished_at = now(), last_error = @last_error, lease_token = NULL, lease_until = NULL
WHERE id = @id AND status = 'running';
