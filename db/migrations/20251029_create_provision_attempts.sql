-- +goose Up
-- One row per try at giving a company an OpenAI project. A row is written
-- (outcome 'started') before OpenAI is called, so a crash between OpenAI's
-- answer and our update leaves a trace that the next try must resolve first.
CREATE TABLE provision_attempts (
    id                BIGSERIAL PRIMARY KEY,
    company_id        BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    trigger           TEXT NOT NULL,
    actor             TEXT NOT NULL DEFAULT '',
    job_id            BIGINT,
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ,
    outcome           TEXT NOT NULL DEFAULT 'started'
        CHECK (outcome IN ('started', 'created', 'linked', 'skipped', 'retryable', 'uncertain', 'failed')),
    project_id        TEXT,
    error             TEXT NOT NULL DEFAULT '',
    http_status       INTEGER,
    openai_request_id TEXT NOT NULL DEFAULT '',
    -- resolved marks an uncertain try as settled: the company was linked
    -- after it, so it no longer calls for a search on OpenAI.
    resolved          BOOLEAN NOT NULL DEFAULT false
);

CREATE INDEX provision_attempts_company_idx ON provision_attempts (company_id, started_at DESC);
CREATE INDEX provision_attempts_job_idx ON provision_attempts (job_id) WHERE job_id IS NOT NULL;

-- After a passing failure, no try may start before this time: it carries a
-- 429's Retry-After, the backoff, and the settling wait after an uncertain
-- outcome, whichever process makes the next try.
ALTER TABLE companies ADD COLUMN next_attempt_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE companies DROP COLUMN next_attempt_at;
DROP TABLE provision_attempts;
