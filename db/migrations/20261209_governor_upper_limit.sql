-- +goose Up
-- After a cut whose two estimates of the limit disagreed, the governor
-- climbs back to the higher one faster than it probes
-- (internal/governor/state.go, State.UpperLimit); 0 when there is none.
ALTER TABLE openai_governors ADD COLUMN upper_limit DOUBLE PRECISION NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE openai_governors DROP COLUMN upper_limit;
