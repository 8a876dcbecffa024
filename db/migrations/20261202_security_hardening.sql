-- +goose Up
-- Issue 12, security hardening.

-- Rate-limited events (public signups per client address, …), kept in the
-- database so that every process counts the same events. A limiter counts
-- a key's rows in its window; older rows are pruned as it goes.
CREATE TABLE rate_events (
    id     BIGSERIAL PRIMARY KEY,
    bucket TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_events_key_idx ON rate_events (bucket, key, at DESC);
CREATE INDEX rate_events_at_idx ON rate_events (bucket, at);

-- The login throttle counts failures per (email, address) pair.
CREATE INDEX login_failures_email_ip_idx ON login_failures (email, ip, at DESC);

-- Company names are unique by their look-alike key (internal/namekey:
-- NFKC, case folding, default-ignorables removed, UTS #39 skeleton). The
-- key is computed in Go, so this migration cannot fill it: db.Migrate keys
-- every row still without one right after the migrations, and marks the
-- later of two existing look-alikes so that both keep their rows (see
-- internal/db/namekeys.go). lower(name) stays unique as before.
ALTER TABLE companies ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX companies_name_key_key ON companies (name_key);

-- The client address of whoever made an audited change (the same address
-- the signup limit and the login throttle count); '' for the command line.
ALTER TABLE audit_log ADD COLUMN actor_addr TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_log DROP COLUMN actor_addr;
DROP INDEX companies_name_key_key;
ALTER TABLE companies DROP COLUMN name_key;
DROP INDEX login_failures_email_ip_idx;
DROP TABLE rate_events;
