-- +goose Up
-- Every company gets an OpenAI API key of its own: the key of a service
-- account created in its project. Its value is stored only encrypted (Tink
-- AEAD, with the company and key IDs as associated data).
CREATE TABLE company_keys (
    id                 BIGSERIAL PRIMARY KEY,
    company_id         BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    project_id         TEXT NOT NULL,
    service_account_id TEXT NOT NULL UNIQUE,
    openai_key_id      TEXT NOT NULL UNIQUE,
    redacted_value     TEXT NOT NULL DEFAULT '',
    ciphertext         BYTEA NOT NULL,
    -- current: the one handed out; retiring: replaced by a rotation, still
    -- valid until retire_at; deleted: its service account is gone from
    -- OpenAI (after rotation or revocation).
    state              TEXT NOT NULL DEFAULT 'current'
        CHECK (state IN ('current', 'retiring', 'deleted')),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- expires_at is when the scheduled rotation replaces the key.
    expires_at         TIMESTAMPTZ NOT NULL,
    retire_at          TIMESTAMPTZ,
    deleted_at         TIMESTAMPTZ,
    revoked            BOOLEAN NOT NULL DEFAULT false,
    last_used_at       TIMESTAMPTZ
);

CREATE UNIQUE INDEX company_keys_one_current ON company_keys (company_id) WHERE state = 'current';
CREATE INDEX company_keys_company_idx ON company_keys (company_id, created_at DESC);
CREATE INDEX company_keys_expires_idx ON company_keys (expires_at) WHERE state = 'current';
CREATE INDEX company_keys_retire_idx ON company_keys (retire_at) WHERE state = 'retiring';

-- The key step's own state per company (the project step's is on
-- companies): none yet, pending (an attempt will follow), issued, failed.
CREATE TABLE company_key_status (
    company_id      BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'issued', 'failed', 'revoked')),
    error           TEXT NOT NULL DEFAULT '',
    next_attempt_at TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per try at creating a company's service account, written before
-- OpenAI is called, like provision_attempts.
CREATE TABLE key_attempts (
    id                 BIGSERIAL PRIMARY KEY,
    company_id         BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    project_id         TEXT NOT NULL,
    trigger            TEXT NOT NULL,
    actor              TEXT NOT NULL DEFAULT '',
    job_id             BIGINT,
    started_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at        TIMESTAMPTZ,
    outcome            TEXT NOT NULL DEFAULT 'started'
        CHECK (outcome IN ('started', 'created', 'retryable', 'uncertain', 'failed', 'skipped')),
    service_account_id TEXT,
    -- how many orphaned service accounts of ours (created by an uncertain
    -- try, their key lost) this try deleted before creating
    orphans_deleted    INTEGER NOT NULL DEFAULT 0,
    error              TEXT NOT NULL DEFAULT '',
    http_status        INTEGER,
    openai_request_id  TEXT NOT NULL DEFAULT '',
    resolved           BOOLEAN NOT NULL DEFAULT false
);

CREATE INDEX key_attempts_company_idx ON key_attempts (company_id, started_at DESC);

-- The host app's own ID for a company, unique.
CREATE TABLE company_external_ids (
    company_id  BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL UNIQUE CHECK (btrim(external_id) <> '')
);

-- Service tokens of the host-app API. Only a SHA-256 of the token is kept.
-- The rate-limit window lives on the row, so every process shares it.
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL CHECK (btrim(name) <> ''),
    token_hash   BYTEA NOT NULL UNIQUE,
    scopes       TEXT[] NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by   TEXT NOT NULL DEFAULT '',
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    rate_window  TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    rate_count   INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (lower(name)) WHERE revoked_at IS NULL;

-- Idempotency-Key replays of the host-app API: the first answer is kept.
CREATE TABLE api_idempotency (
    token_id     BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status       INTEGER NOT NULL,
    response     BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);

-- Webhook events and their delivery attempts (River does the retries).
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    company_id      BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    payload         BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TIMESTAMPTZ,
    last_status     INTEGER,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    TIMESTAMPTZ
);

CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC, id DESC);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE api_idempotency;
DROP TABLE api_tokens;
DROP TABLE company_external_ids;
DROP TABLE key_attempts;
DROP TABLE company_key_status;
DROP TABLE company_keys;
