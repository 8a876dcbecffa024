-- name: PauseBackfillRun :one
-- Pauses a running run that is not paused; no row when there is none.
UPDATE backfill_runs SET paused_at = now(), paused_by = @paused_by
WHERE id = @id AND status = 'running' AND paused_at IS NULL
RETURNING *;

-- name: ResumeBackfillRun :one
-- Resumes a paused run; the stall clock restarts.
UPDATE backfill_runs SET paused_at = NULL, paused_by = '', progress_at = now(), last_error = ''
WHERE id = @id AND status = 'running' AND paused_at IS NOT NULL
RETURNING *;

-- name: CancelBackfillRun :one
-- Ends a running (or paused) run as cancelled; no row when it is over.
UPDATE backfill_runs
SET status = 'cancelled', finished_at = now(), paused_at = NULL,
    last_error = @last_error
WHERE id = @id AND status = 'running'
RETURNING *;

-- name: SetBackfillRunProblem :exec
-- Notes the last passing OpenAI problem of a running run, for "stalled".
UPDATE backfill_runs SET last_error = @last_error WHERE id = @id AND status = 'running';
