-- +goose Up
-- The creations let through since the organization's projects were last
-- counted, kept as a number beside the count. The gate used to count the
-- reservation rows since counted_at on every admission, under its one
-- lock: a cost that grew with every creation since the last count (a
-- 100,000-company backfill fell from 490 to 115 projects a second). Every
-- change to it is made under the gate's lock (internal/provision/gate.go).
ALTER TABLE org_capacity ADD COLUMN admitted INTEGER NOT NULL DEFAULT 0;
UPDATE org_capacity SET admitted = (
    SELECT count(*) FROM project_reservations WHERE reserved_at >= org_capacity.counted_at);

-- +goose Down
ALTER TABLE org_capacity DROP COLUMN admitted;
