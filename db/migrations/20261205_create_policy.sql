-- +goose Up
-- Guard rails per project (issue 16): the policy template and its history,
-- per-company overrides, each company's policy state and apply attempts,
-- the differences reconcile finds, orphan projects, and offboarding.
-- Nothing here adds a column to companies: its rows stay as they are.

-- Every version of the policy template; the newest is in force. A document
-- is the JSON of `provisioner policy set`, absent keys meaning "leave
-- OpenAI's default".
CREATE TABLE policy_versions (
    version     BIGSERIAL PRIMARY KEY,
    document    JSONB NOT NULL,
    actor_email TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An admin's per-company override: its keys replace the template's.
CREATE TABLE policy_overrides (
    company_id  BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    document    JSONB NOT NULL,
    actor_email TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Where each linked company's policy stands on OpenAI.
--   pending: to be applied (new project, changed policy, re-apply asked);
--   applied: written and read back identical; drifted: reconcile found
--   differences; failed: apply gave up (see error).
CREATE TABLE company_policies (
    company_id      BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'applied', 'drifted', 'failed')),
    error           TEXT NOT NULL DEFAULT '',
    -- The project's name when the policy was first applied: reconcile flags
    -- a rename against it.
    project_name    TEXT NOT NULL DEFAULT '',
    applied_version BIGINT,
    applied_at      TIMESTAMPTZ,
    checked_at      TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX company_policies_state_idx ON company_policies (state, company_id);

-- Whatever path links a project (signup, job, backfill, manual assignment,
-- link), its policy becomes pending in the same transaction: nothing has to
-- remember to ask for it.
-- +goose StatementBegin
CREATE FUNCTION company_policy_on_link() RETURNS trigger AS $$
BEGIN
    IF NEW.openai_project_id IS NULL THEN
        DELETE FROM company_policies WHERE company_id = NEW.id;
    ELSE
        INSERT INTO company_policies (company_id, project_id, state)
        VALUES (NEW.id, NEW.openai_project_id, 'pending')
        ON CONFLICT (company_id) DO UPDATE
        SET project_id = EXCLUDED.project_id, state = 'pending', error = '', project_name = '',
            applied_version = NULL, applied_at = NULL, next_attempt_at = NULL, updated_at = now();
        DELETE FROM policy_differences WHERE company_id = NEW.id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- One row per try at applying the policy to a company's project.
CREATE TABLE policy_attempts (
    id          BIGSERIAL PRIMARY KEY,
    company_id  BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    job_id      BIGINT,
    version     BIGINT,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    outcome     TEXT NOT NULL DEFAULT 'started'
        CHECK (outcome IN ('started', 'applied', 'repaired', 'retryable', 'failed', 'skipped')),
    error       TEXT NOT NULL DEFAULT '',
    calls       INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX policy_attempts_company_idx ON policy_attempts (company_id, started_at DESC);

-- What reconcile (or an apply's read-back) found different from the
-- company's effective policy; since is when it was first seen.
CREATE TABLE policy_differences (
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    field      TEXT NOT NULL,
    expected   TEXT NOT NULL,
    found      TEXT NOT NULL,
    since      TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, field)
);

-- WHEN clauses keep the common case (a signup without a project yet, an
-- update of something else) free of any work.
CREATE TRIGGER companies_policy_on_insert
    AFTER INSERT ON companies
    FOR EACH ROW WHEN (NEW.openai_project_id IS NOT NULL) EXECUTE FUNCTION company_policy_on_link();
CREATE TRIGGER companies_policy_on_link
    AFTER UPDATE OF openai_project_id ON companies
    FOR EACH ROW WHEN (OLD.openai_project_id IS DISTINCT FROM NEW.openai_project_id)
    EXECUTE FUNCTION company_policy_on_link();

-- Projects of the organization that no company holds, as the last
-- reconcile saw them.
CREATE TABLE orphan_projects (
    project_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    first_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Offboarding: one row per company being (or having been) offboarded. Its
-- steps run in order, each as its own job; step is the one to run next.
CREATE TABLE company_offboardings (
    company_id  BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL,
    step        TEXT NOT NULL
        CHECK (step IN ('revoke_keys', 'remove_alerts', 'archive_project', 'done')),
    state       TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'failed', 'done')),
    error       TEXT NOT NULL DEFAULT '',
    actor_email TEXT NOT NULL,
    keys_revoked   INTEGER NOT NULL DEFAULT 0,
    alerts_removed INTEGER NOT NULL DEFAULT 0,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Companies linked before this migration get a state too.
INSERT INTO company_policies (company_id, project_id)
SELECT id, openai_project_id FROM companies WHERE openai_project_id IS NOT NULL;

-- +goose Down
DROP TABLE company_offboardings;
DROP TABLE orphan_projects;
DROP TRIGGER companies_policy_on_link ON companies;
DROP TRIGGER companies_policy_on_insert ON companies;
DROP TABLE policy_differences;
DROP TABLE policy_attempts;
DROP FUNCTION company_policy_on_link();
DROP TABLE company_policies;
DROP TABLE policy_overrides;
DROP TABLE policy_versions;
