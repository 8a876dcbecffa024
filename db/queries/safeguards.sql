-- Queries of the safeguards around project creation: the signup budget, the
-- organization's capacity, approval mode and released project IDs.

-- name: LockProjectGate :exec
-- Serializes every process's admission of project creations (transaction
-- scoped): the budget and capacity counts below are then exact.
SELECT pg_advisory_xact_lock(@key::bigint);

-- name: GetProjectReservation :one
SELECT * FROM project_reservations WHERE company_id = @company_id;

-- name: CountBudgetedReservations :one
-- The budgeted creations let through since @since, and the oldest of them.
SELECT count(*)::int AS n, coalesce(min(reserved_at), now())::timestamptz AS oldest
FROM project_reservations
WHERE budgeted AND reserved_at > @since AND company_id <> @company_id;


-- name: UpsertProjectReservation :exec
INSERT INTO project_reservations (company_id, reserved_at, budgeted)
VALUES (@company_id, @reserved_at, @budgeted)
ON CONFLICT (company_id) DO UPDATE SET reserved_at = EXCLUDED.reserved_at, budgeted = EXCLUDED.budgeted;

-- name: DeleteProjectReservation :exec
-- The creation did not happen (a definite failure): it frees its place,
-- in the count of creations since the last count too. Under the gate's
-- lock (LockProjectGate), as every change to org_capacity.admitted.
WITH gone AS (
    DELETE FROM project_reservations WHERE company_id = @company_id RETURNING reserved_at
)
UPDATE org_capacity SET admitted = admitted - (SELECT count(*) FROM gone WHERE gone.reserved_at >= org_capacity.counted_at)
WHERE id;

-- name: AddCapacityAdmitted :exec
-- A creation let through since the last count (delta 1), or one counted
-- there already that was let through again (0). Under the gate's lock.
UPDATE org_capacity SET admitted = admitted + @delta::int WHERE id;

-- name: PruneProjectReservations :exec
DELETE FROM project_reservations WHERE reserved_at < @before;

-- name: GetOrgCapacity :one
SELECT * FROM org_capacity WHERE id;

-- name: SetOrgCapacity :exec
-- A new count, with the creations let through since it was made (one
-- count of the reservations per count of projects, not per admission).
-- Under the gate's lock.
INSERT INTO org_capacity (id, active_projects, counted_at, admitted)
VALUES (true, @active_projects, @counted_at,
        (SELECT count(*) FROM project_reservations WHERE reserved_at >= @counted_at))
ON CONFLICT (id) DO UPDATE SET active_projects = EXCLUDED.active_projects, counted_at = EXCLUDED.counted_at,
    admitted = EXCLUDED.admitted
WHERE org_capacity.counted_at <= EXCLUDED.counted_at;

-- name: CountWaitingCompanies :many
-- The waiting companies by reason, for the dashboard's banner.
SELECT provisioning_error AS reason, count(*)::bigint AS n
FROM companies WHERE provisioning_status = 'waiting'
GROUP BY 1;

-- name: SetCompanySignupGate :exec
-- How a company just created by the public form is to be provisioned.
UPDATE companies
SET approval = @approval, budgeted = @budgeted, provisioning_status = @status,
    provisioning_error = @error, updated_at = now()
WHERE id = @id;

-- name: SetCompanyApproval :execrows
-- A staff member's decision on a company waiting for approval (or one
-- rejected before); staff actions never count against the signup budget.
UPDATE companies
SET approval = @approval, budgeted = false, provisioning_status = @status,
    provisioning_error = @error, next_attempt_at = NULL, updated_at = now()
WHERE id = @id AND openai_project_id IS NULL;

-- name: ClearCompanyBudgeted :exec
-- A staff member asked for the project: it no longer counts against the
-- signup budget.
UPDATE companies SET budgeted = false WHERE id = @id;

-- name: FirstProvisionAttemptStart :one
-- When the company's first attempt that may have called OpenAI began:
-- only projects created since then can be ours.
SELECT started_at FROM provision_attempts
WHERE company_id = @company_id AND outcome <> 'skipped'
ORDER BY started_at
LIMIT 1;

-- name: ReleaseProject :exec
INSERT INTO released_projects (project_id, company_id, released_by)
VALUES (@project_id, sqlc.narg('company_id'), @released_by)
ON CONFLICT (project_id) DO UPDATE
SET company_id = EXCLUDED.company_id, released_at = now(), released_by = EXCLUDED.released_by;

-- name: ListReleasedProjects :many
SELECT * FROM released_projects WHERE project_id = ANY(@project_ids::text[]);

-- name: ListUnprovisionedByNames :many
-- The companies without a project whose lowered name is one of @names
-- (served by companies_name_lower_key).
SELECT id, name, approval FROM companies
WHERE lower(name) = ANY(@names::text[]) AND openai_project_id IS NULL
ORDER BY id;
