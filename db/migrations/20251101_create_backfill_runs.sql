-- +goose Up
-- A backfill run gives every company without a project its project, in the
-- background. At most one run is 'running' at any time, across every
-- process sharing the database (backfill_runs_one_running): a second start
-- finds the running one instead of starting another.
CREATE TABLE backfill_runs (
    id              BIGSERIAL PRIMARY KEY,
    status          TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'finished', 'cancelled', 'failed')),
    -- Who started it: a staff email, 'cli' or 'api'; the ID of a staff user.
    started_by      TEXT NOT NULL,
    started_by_id   BIGINT,
    -- A "retry failed" run only retries the failures of this run.
    retry_of        BIGINT REFERENCES backfill_runs (id) ON DELETE SET NULL,
    -- Companies that sign up after the start have their own jobs: a run
    -- covers companies up to this ID, so its total stays meaningful.
    upto_company_id BIGINT NOT NULL,
    concurrency     INTEGER NOT NULL CHECK (concurrency > 0),
    job_id          BIGINT,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    total           INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL DEFAULT 0,
    linked          INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    -- The process working the run holds a lease on it, so that a job
    -- rescued from a process that is slow rather than dead is not worked
    -- twice at once.
    lease_token     TEXT,
    lease_until     TIMESTAMPTZ
);

CREATE UNIQUE INDEX backfill_runs_one_running ON backfill_runs (status) WHERE status = 'running';
CREATE INDEX backfill_runs_started_idx ON backfill_runs (started_at DESC, id DESC);

-- What a run did to each company, written once the company's outcome is
-- final. A run resumed after a crash skips the companies recorded here; the
-- failures feed the run's failure list and its "retry failed".
CREATE TABLE backfill_items (
    run_id     BIGINT NOT NULL REFERENCES backfill_runs (id) ON DELETE CASCADE,
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    outcome    TEXT NOT NULL CHECK (outcome IN ('created', 'linked', 'failed', 'skipped')),
    project_id TEXT,
    error      TEXT NOT NULL DEFAULT '',
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, company_id)
);

CREATE INDEX backfill_items_failed_idx ON backfill_items (run_id, at, company_id) WHERE outcome = 'failed';
CREATE INDEX backfill_items_company_idx ON backfill_items (company_id);

-- A run walks the companies without a project in ID order.
CREATE INDEX companies_without_project_id_idx ON companies (id) WHERE openai_project_id IS NULL;

-- +goose Down
DROP INDEX companies_without_project_id_idx;
DROP TABLE backfill_items;
DROP TABLE backfill_runs;
