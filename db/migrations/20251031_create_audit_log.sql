-- +goose Up
-- Every manual change (project ID assigned, changed or cleared, retries
-- asked for by staff) and every backfill run: who, when, before and after.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id    BIGINT,
    actor_email TEXT NOT NULL,
    action      TEXT NOT NULL,
    company_id  BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    company_name TEXT NOT NULL DEFAULT '',
    before      TEXT NOT NULL DEFAULT '',
    after       TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_company_idx ON audit_log (company_id, at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC);

-- +goose Down
DROP TABLE audit_log;
