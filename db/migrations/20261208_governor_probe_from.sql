-- +goose Up
-- The governor probes above the limit it learnt (to find a limit that was
-- raised) only after a calm spell: not before probe_from, which a refusal
-- and a resumption after idle time move on (internal/governor/state.go).
ALTER TABLE openai_governors ADD COLUMN probe_from TIMESTAMPTZ NOT NULL DEFAULT 'epoch';

-- +goose Down
ALTER TABLE openai_governors DROP COLUMN probe_from;
