-- name: GetCurrentPolicy :one
SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1;

-- name: CreatePolicyVersion :one
INSERT INTO policy_versions (document, actor_email) VALUES (@document, @actor_email)
RETURNING *;

-- name: ListPolicyVersions :many
SELECT * FROM policy_versions ORDER BY version DESC LIMIT @max_rows;

-- name: GetPolicyOverride :one
SELECT * FROM policy_overrides WHERE company_id = @company_id;

-- name: UpsertPolicyOverride :one
INSERT INTO policy_overrides (company_id, document, actor_email) VALUES (@company_id, @document, @actor_email)
ON CONFLICT (company_id) DO UPDATE SET document = EXCLUDED.document, actor_email = EXCLUDED.actor_email, updated_at = now()
RETURNING *;

-- name: DeletePolicyOverride :execrows
DELETE FROM policy_overrides WHERE company_id = @company_id;

-- name: GetCompanyPolicy :one
SELECT * FROM company_policies WHERE company_id = @company_id;

-- name: GetCompanyPolicyForUpdate :one
SELECT * FROM company_policies WHERE company_id = @company_id FOR UPDATE;

-- name: ListPendingPolicies :many
-- Companies whose policy waits to be applied, and may be tried now; not
-- offboarded ones.
SELECT cp.company_id FROM company_policies cp
WHERE cp.state = 'pending' AND (cp.next_attempt_at IS NULL OR cp.next_attempt_at <= now())
  AND NOT EXISTS (SELECT 1 FROM company_offboardings o WHERE o.company_id = cp.company_id)
ORDER BY cp.company_id
LIMIT @max_rows;

-- name: ListPoliciesInState :many
SELECT cp.company_id FROM company_policies cp
WHERE cp.state = @state AND cp.company_id > @after_id
  AND NOT EXISTS (SELECT 1 FROM company_offboardings o WHERE o.company_id = cp.company_id)
ORDER BY cp.company_id
LIMIT @max_rows;

-- name: ListLinkedForReconcile :many
-- Every linked company to check, in pages by id; offboarded ones are
-- left alone (their projects are archived on purpose).
SELECT c.id, c.name, c.openai_project_id::text AS project_id,
       coalesce(cp.project_name, '')::text AS project_name, coalesce(cp.state, 'pending')::text AS state
FROM companies c
LEFT JOIN company_policies cp ON cp.company_id = c.id
WHERE c.openai_project_id IS NOT NULL AND c.id > @after_id
  AND NOT EXISTS (SELECT 1 FROM company_offboardings o WHERE o.company_id = c.id)
ORDER BY c.id
LIMIT @max_rows;

-- name: ListLinkedProjectIDs :many
SELECT openai_project_id::text FROM companies WHERE openai_project_id IS NOT NULL;

-- name: SetPolicyState :execrows
-- Guarded by the project: a state learnt about a project the company no
-- longer holds is dropped.
UPDATE company_policies
SET state = @state, error = @error, next_attempt_at = sqlc.narg('next_attempt_at'), updated_at = now(),
    applied_version = coalesce(sqlc.narg('applied_version'), applied_version),
    applied_at = CASE WHEN @state = 'applied' THEN now() ELSE applied_at END,
    project_name = CASE WHEN project_name = '' THEN @project_name ELSE project_name END,
    checked_at = CASE WHEN @checked::boolean THEN now() ELSE checked_at END
WHERE company_id = @company_id AND project_id = @project_id;

-- name: MarkPoliciesPending :execrows
-- A policy change makes every applied, drifted or failed company pending.
UPDATE company_policies SET state = 'pending', error = '', next_attempt_at = NULL, updated_at = now()
WHERE state <> 'pending';

-- name: MarkPolicyPending :execrows
UPDATE company_policies SET state = 'pending', error = '', next_attempt_at = NULL, updated_at = now()
WHERE company_id = @company_id;

-- name: CreatePolicyAttempt :one
INSERT INTO policy_attempts (company_id, project_id, trigger, actor, job_id, version)
VALUES (@company_id, @project_id, @trigger, @actor, sqlc.narg('job_id'), sqlc.narg('version'))
RETURNING *;

-- name: FinishPolicyAttempt :exec
UPDATE policy_attempts
SET finished_at = now(), outcome = @outcome, error = @error, calls = @calls, detail = @detail
WHERE id = @id;

-- name: CountPolicyAttemptsForJob :one
SELECT count(*) FROM policy_attempts
WHERE company_id = @company_id AND job_id = @job_id AND outcome IN ('retryable', 'started');

-- name: ListPolicyAttempts :many
SELECT * FROM policy_attempts WHERE company_id = @company_id
ORDER BY started_at DESC, id DESC LIMIT @max_rows;

-- name: ListPolicyDifferences :many
SELECT * FROM policy_differences WHERE company_id = @company_id ORDER BY field;

-- name: UpsertPolicyDifference :exec
-- since stays when the same field is still different.
INSERT INTO policy_differences (company_id, field, expected, found)
VALUES (@company_id, @field, @expected, @found)
ON CONFLICT (company_id, field) DO UPDATE
SET expected = EXCLUDED.expected, found = EXCLUDED.found, seen_at = now();

-- name: DeletePolicyDifferencesExcept :exec
DELETE FROM policy_differences WHERE company_id = @company_id AND NOT (field = ANY(@keep::text[]));

-- name: CountPolicyStates :many
SELECT cp.state, count(*) AS n FROM company_policies cp
WHERE NOT EXISTS (SELECT 1 FROM company_offboardings o WHERE o.company_id = cp.company_id)
GROUP BY cp.state;

-- name: ListCompaniesInPolicyState :many
SELECT c.id, c.name, cp.state, cp.error, cp.updated_at, cp.project_id FROM company_policies cp
JOIN companies c ON c.id = cp.company_id
WHERE cp.state = ANY(@states::text[])
  AND NOT EXISTS (SELECT 1 FROM company_offboardings o WHERE o.company_id = cp.company_id)
ORDER BY cp.updated_at DESC, c.id DESC
LIMIT @max_rows;

-- name: UpsertOrphan :exec
INSERT INTO orphan_projects (project_id, name, created_at) VALUES (@project_id, @name, @created_at)
ON CONFLICT (project_id) DO UPDATE SET name = EXCLUDED.name, last_seen = now();

-- name: DeleteOrphansNotSeenSince :exec
DELETE FROM orphan_projects WHERE last_seen < @since;

-- name: DeleteOrphan :exec
DELETE FROM orphan_projects WHERE project_id = @project_id;

-- name: ListOrphans :many
SELECT * FROM orphan_projects ORDER BY created_at DESC, project_id LIMIT @max_rows;

-- name: CreateOffboarding :one
INSERT INTO company_offboardings (company_id, project_id, step, actor_email)
VALUES (@company_id, @project_id, 'revoke_keys', @actor_email)
RETURNING *;

-- name: GetOffboarding :one
SELECT * FROM company_offboardings WHERE company_id = @company_id;

-- name: GetOffboardingForUpdate :one
SELECT * FROM company_offboardings WHERE company_id = @company_id FOR UPDATE;

-- name: AdvanceOffboarding :execrows
-- Moves to the next step only from the expected one, so a step that ran
-- twice (a rescued job) cannot skip another.
UPDATE company_offboardings
SET step = @next_step, state = CASE WHEN @next_step = 'done' THEN 'done' ELSE 'running' END, error = '',
    keys_revoked = keys_revoked + @keys_revoked, alerts_removed = alerts_removed + @alerts_removed,
    finished_at = CASE WHEN @next_step = 'done' THEN now() ELSE NULL END, updated_at = now()
WHERE company_id = @company_id AND step = @step;

-- name: FailOffboarding :exec
UPDATE company_offboardings SET state = 'failed', error = @error, updated_at = now()
WHERE company_id = @company_id AND step = @step;

-- name: ResumeOffboarding :execrows
UPDATE company_offboardings SET state = 'running', error = '', updated_at = now()
WHERE company_id = @company_id AND state = 'failed';

-- name: CountPolicyNotAppliedCapped :one
-- The linked companies whose policy is not in place (not offboarded), at
-- most @max_rows of them: the list's totals show "1,000+" beyond, so that a
-- full page never counts hundreds of thousands of rows (the state index
-- gives them in order; the count stops at the cap).
SELECT count(*)::bigint FROM (
    SELECT 1 FROM company_policies cp
    WHERE cp.state IN ('pending', 'drifted', 'failed')
      AND NOT EXISTS (SELECT 1 FROM company_offboardings o WHERE o.company_id = cp.company_id)
    LIMIT @max_rows::int
) capped;
