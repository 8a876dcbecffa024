-- +goose Up
-- What each company costs (internal/cost). OpenAI reports costs and usage
-- per project and day; Provisioner knows which company held which project
-- when, so it can say what a company cost.

-- Daily costs as OpenAI reports them, by project and line item. Money is
-- NUMERIC, exactly the decimal text OpenAI sent. project_id and line_item
-- are '' where OpenAI gave null; an unknown line item or currency is kept
-- as given.
CREATE TABLE cost_daily (
    day        DATE NOT NULL,
    project_id TEXT NOT NULL,
    line_item  TEXT NOT NULL,
    currency   TEXT NOT NULL,
    amount     NUMERIC NOT NULL,
    synced_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (day, project_id, line_item, currency)
);
-- A company's page reads its projects' days.
CREATE INDEX cost_daily_project_day_idx ON cost_daily (project_id, day);

-- Daily completions usage by project and model.
CREATE TABLE usage_daily (
    day                 DATE NOT NULL,
    project_id          TEXT NOT NULL,
    model               TEXT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    input_cached_tokens BIGINT NOT NULL,
    requests            BIGINT NOT NULL,
    synced_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (day, project_id, model)
);
CREATE INDEX usage_daily_project_day_idx ON usage_daily (project_id, day);

-- Which company held which project when. Filled by triggers on companies
-- (below), so every path that sets, changes or clears openai_project_id
-- (signup, provisioning, backfill, manual assignment, SQL by hand) leaves
-- its trace without those paths knowing. company_id has no foreign key:
-- the history outlives a deleted company.
CREATE TABLE project_assignments (
    id         BIGSERIAL PRIMARY KEY,
    project_id TEXT NOT NULL,
    company_id BIGINT NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to   TIMESTAMPTZ, -- NULL while the company holds the project
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX project_assignments_project_idx ON project_assignments (project_id, valid_from);
CREATE INDEX project_assignments_company_idx ON project_assignments (company_id);
CREATE INDEX project_assignments_changed_idx ON project_assignments (changed_at);

-- Monthly costs by company (NULL: unattributed), project and line item,
-- rebuilt by the sync from cost_daily and project_assignments for the
-- months it touched: statements and totals read it instead of millions of
-- daily rows.
CREATE TABLE cost_monthly (
    month      DATE NOT NULL, -- first day of the month
    company_id BIGINT,
    project_id TEXT NOT NULL,
    line_item  TEXT NOT NULL,
    currency   TEXT NOT NULL,
    amount     NUMERIC NOT NULL
);
CREATE UNIQUE INDEX cost_monthly_key ON cost_monthly (month, coalesce(company_id, 0), project_id, line_item, currency);
CREATE INDEX cost_monthly_company_idx ON cost_monthly (company_id, month);

-- One row per company: its month-to-date and last month's cost (in
-- usd, OpenAI's billing currency), kept by the sync, so that the company
-- list sorts by cost with an index at a million companies.
CREATE TABLE company_costs (
    company_id BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    month      DATE,            -- the month mtd is for; NULL before any sync
    mtd        NUMERIC NOT NULL DEFAULT 0,
    last_month NUMERIC NOT NULL DEFAULT 0
);
CREATE INDEX company_costs_mtd_idx ON company_costs (mtd, company_id);

-- The sync's progress. A run reads costs then usage for [from_day,
-- to_day); after each page it saves the next page's cursor in the same
-- transaction as the page's rows, so a run cut short resumes where it
-- stopped.
CREATE TABLE usage_sync_runs (
    id           BIGSERIAL PRIMARY KEY,
    trigger      TEXT NOT NULL, -- 'periodic', 'cli', 'dashboard'
    status       TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
    from_day     DATE NOT NULL,
    to_day       DATE NOT NULL, -- exclusive
    phase        TEXT NOT NULL DEFAULT 'costs' CHECK (phase IN ('costs', 'usage', 'rollup', 'done')),
    cursor       TEXT NOT NULL DEFAULT '',
    pages        INT NOT NULL DEFAULT 0,
    requests     INT NOT NULL DEFAULT 0,
    rows_written BIGINT NOT NULL DEFAULT 0,
    resumed      INT NOT NULL DEFAULT 0, -- times a later run took it over
    error        TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ
);
CREATE INDEX usage_sync_runs_started_idx ON usage_sync_runs (started_at DESC);

-- Markup per company over MARKUP_PERCENT, set by admins (audited).
CREATE TABLE company_markups (
    company_id BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    percent    NUMERIC NOT NULL CHECK (percent >= 0 AND percent <= 1000),
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Existing companies: their projects count as held since signup.
INSERT INTO project_assignments (project_id, company_id, valid_from)
SELECT openai_project_id, id, created_at FROM companies WHERE openai_project_id IS NOT NULL;
INSERT INTO company_costs (company_id) SELECT id FROM companies;

-- Statement triggers with transition tables, so that a bulk COPY of
-- companies costs one statement, not one per row.
-- +goose StatementBegin
CREATE FUNCTION project_assignments_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO project_assignments (project_id, company_id, valid_from)
    SELECT openai_project_id, id, now() FROM new_rows WHERE openai_project_id IS NOT NULL;
    INSERT INTO company_costs (company_id) SELECT id FROM new_rows ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION project_assignments_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Close the old holdings first: the same statement may hand a project
    -- from one company to another.
    UPDATE project_assignments a SET valid_to = now(), changed_at = now()
    FROM old_rows o JOIN new_rows n USING (id)
    WHERE o.openai_project_id IS DISTINCT FROM n.openai_project_id
      AND a.company_id = o.id AND a.project_id = o.openai_project_id AND a.valid_to IS NULL;
    INSERT INTO project_assignments (project_id, company_id, valid_from)
    SELECT n.openai_project_id, n.id, now()
    FROM old_rows o JOIN new_rows n USING (id)
    WHERE o.openai_project_id IS DISTINCT FROM n.openai_project_id AND n.openai_project_id IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION project_assignments_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE project_assignments a SET valid_to = now(), changed_at = now()
    FROM old_rows o
    WHERE a.company_id = o.id AND a.project_id = o.openai_project_id AND a.valid_to IS NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER project_assignments_insert AFTER INSERT ON companies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION project_assignments_insert();
CREATE TRIGGER project_assignments_update AFTER UPDATE ON companies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION project_assignments_update();
CREATE TRIGGER project_assignments_delete AFTER DELETE ON companies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION project_assignments_delete();

-- +goose Down
DROP TRIGGER project_assignments_delete ON companies;
DROP TRIGGER project_assignments_update ON companies;
DROP TRIGGER project_assignments_insert ON companies;
DROP FUNCTION project_assignments_delete();
DROP FUNCTION project_assignments_update();
DROP FUNCTION project_assignments_insert();
DROP TABLE company_markups;
DROP TABLE usage_sync_runs;
DROP TABLE company_costs;
DROP TABLE cost_monthly;
DROP TABLE project_assignments;
DROP TABLE usage_daily;
DROP TABLE cost_daily;
