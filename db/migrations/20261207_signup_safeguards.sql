-- +goose Up
-- Safeguards around the creation of OpenAI projects (issue 12, findings 1
-- and 2). A project, once created, can never be deleted, and an
-- organization holds a fixed number of them, so:

-- 'waiting': no project yet, and none is created until something outside
-- the company changes (the signup budget frees, the organization has room,
-- a staff member approves it); provisioning_error says which.
ALTER TABLE companies DROP CONSTRAINT companies_provisioning_status_check;
ALTER TABLE companies ADD CONSTRAINT companies_provisioning_status_check
    CHECK (provisioning_status IN ('pending', 'waiting', 'provisioned', 'skipped', 'failed'));

-- An attempt that OpenAI answered with its project limit ends 'waiting'.
ALTER TABLE provision_attempts DROP CONSTRAINT provision_attempts_outcome_check;
ALTER TABLE provision_attempts ADD CONSTRAINT provision_attempts_outcome_check
    CHECK (outcome IN ('started', 'created', 'linked', 'skipped', 'retryable', 'uncertain', 'failed', 'waiting'));

-- approval: 'none' (auto mode, or staff created it), 'pending' (approval
-- mode: waits for staff), 'approved', 'rejected'.
ALTER TABLE companies ADD COLUMN approval TEXT NOT NULL DEFAULT 'none'
    CHECK (approval IN ('none', 'pending', 'approved', 'rejected'));
CREATE INDEX companies_approval_pending_idx ON companies (created_at, id) WHERE approval = 'pending';
-- budgeted: the company came from the public signup form and no staff
-- member has acted on it since, so creating its project counts against
-- PROJECT_CREATE_BUDGET.
ALTER TABLE companies ADD COLUMN budgeted BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX companies_waiting_idx ON companies (created_at, id) WHERE provisioning_status = 'waiting';

-- One row per company whose project creation was let through: the signup
-- budget counts the budgeted rows of the last window, the organization's
-- capacity the rows since its projects were last counted. Written under
-- one advisory lock, so that every process shares the same count.
CREATE TABLE project_reservations (
    company_id  BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    reserved_at TIMESTAMPTZ NOT NULL,
    budgeted    BOOLEAN NOT NULL
);
CREATE INDEX project_reservations_at_idx ON project_reservations (reserved_at);

-- The organization's active projects as last counted from OpenAI's list
-- (one row), shared by every process.
CREATE TABLE org_capacity (
    id              BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    active_projects INTEGER NOT NULL,
    counted_at      TIMESTAMPTZ NOT NULL
);

-- Project IDs an admin unlinked from a company (cleared or replaced): they
-- are never adopted again automatically, only linked by hand.
CREATE TABLE released_projects (
    project_id  TEXT PRIMARY KEY,
    company_id  BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    released_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_by TEXT NOT NULL DEFAULT ''
);

-- The dashboard's totals learn the waiting companies.
ALTER TABLE company_counts ADD COLUMN waiting BIGINT NOT NULL DEFAULT 0;
UPDATE company_counts c SET waiting = s.waiting
FROM (SELECT id % 16 AS shard, count(*) FILTER (WHERE provisioning_status = 'waiting') AS waiting
      FROM companies GROUP BY 1) s
WHERE c.shard = s.shard;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION company_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET total = c.total + d.total, missing = c.missing + d.missing, failed = c.failed + d.failed,
        waiting = c.waiting + d.waiting
    FROM (SELECT id % 16 AS shard, count(*) AS total,
                 count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
                 count(*) FILTER (WHERE provisioning_status = 'failed') AS failed,
                 count(*) FILTER (WHERE provisioning_status = 'waiting') AS waiting
          FROM new_rows GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION company_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET total = c.total - d.total, missing = c.missing - d.missing, failed = c.failed - d.failed,
        waiting = c.waiting - d.waiting
    FROM (SELECT id % 16 AS shard, count(*) AS total,
                 count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
                 count(*) FILTER (WHERE provisioning_status = 'failed') AS failed,
                 count(*) FILTER (WHERE provisioning_status = 'waiting') AS waiting
          FROM old_rows GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION company_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET missing = c.missing + d.missing, failed = c.failed + d.failed, waiting = c.waiting + d.waiting
    FROM (SELECT n.id % 16 AS shard,
                 sum((n.openai_project_id IS NULL)::int - (o.openai_project_id IS NULL)::int) AS missing,
                 sum((n.provisioning_status = 'failed')::int - (o.provisioning_status = 'failed')::int) AS failed,
                 sum((n.provisioning_status = 'waiting')::int - (o.provisioning_status = 'waiting')::int) AS waiting
          FROM new_rows n JOIN old_rows o USING (id)
          WHERE (n.openai_project_id IS NULL) <> (o.openai_project_id IS NULL)
             OR (n.provisioning_status = 'failed') <> (o.provisioning_status = 'failed')
             OR (n.provisioning_status = 'waiting') <> (o.provisioning_status = 'waiting')
          GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION company_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET missing = c.missing + d.missing, failed = c.failed + d.failed
    FROM (SELECT n.id % 16 AS shard,
                 sum((n.openai_project_id IS NULL)::int - (o.openai_project_id IS NULL)::int) AS missing,
                 sum((n.provisioning_status = 'failed')::int - (o.provisioning_status = 'failed')::int) AS failed
          FROM new_rows n JOIN old_rows o USING (id)
          WHERE (n.openai_project_id IS NULL) <> (o.openai_project_id IS NULL)
             OR (n.provisioning_status = 'failed') <> (o.provisioning_status = 'failed')
          GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION company_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET total = c.total - d.total, missing = c.missing - d.missing, failed = c.failed - d.failed
    FROM (SELECT id % 16 AS shard, count(*) AS total,
                 count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
                 count(*) FILTER (WHERE provisioning_status = 'failed') AS failed
          FROM old_rows GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION company_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET total = c.total + d.total, missing = c.missing + d.missing, failed = c.failed + d.failed
    FROM (SELECT id % 16 AS shard, count(*) AS total,
                 count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
                 count(*) FILTER (WHERE provisioning_status = 'failed') AS failed
          FROM new_rows GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd
ALTER TABLE company_counts DROP COLUMN waiting;
DROP TABLE released_projects;
DROP TABLE org_capacity;
DROP TABLE project_reservations;
DROP INDEX companies_waiting_idx;
ALTER TABLE companies DROP COLUMN budgeted;
DROP INDEX companies_approval_pending_idx;
ALTER TABLE companies DROP COLUMN approval;
UPDATE companies SET provisioning_status = 'pending' WHERE provisioning_status = 'waiting';
UPDATE provision_attempts SET outcome = 'retryable' WHERE outcome = 'waiting';
ALTER TABLE provision_attempts DROP CONSTRAINT provision_attempts_outcome_check;
ALTER TABLE provision_attempts ADD CONSTRAINT provision_attempts_outcome_check
    CHECK (outcome IN ('started', 'created', 'linked', 'skipped', 'retryable', 'uncertain', 'failed'));
ALTER TABLE companies DROP CONSTRAINT companies_provisioning_status_check;
ALTER TABLE companies ADD CONSTRAINT companies_provisioning_status_check
    CHECK (provisioning_status IN ('pending', 'provisioned', 'skipped', 'failed'));
