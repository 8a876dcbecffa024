-- +goose Up
-- A run can be paused and resumed by an admin, and the dashboard tells a
-- run that is stuck (OpenAI not answering) from one that is slow:
--   paused_at/paused_by: set while an admin has paused the run; it stays
--     'running' (so no second run starts) but its worker takes no company.
--   progress_at: the last time the run recorded a company's outcome, or
--     was started or resumed; "stalled" is measured from it.
ALTER TABLE backfill_runs
    ADD COLUMN paused_at   TIMESTAMPTZ,
    ADD COLUMN paused_by   TEXT NOT NULL DEFAULT '',
    ADD COLUMN progress_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE backfill_runs
    DROP COLUMN progress_at,
    DROP COLUMN paused_by,
    DROP COLUMN paused_at;
