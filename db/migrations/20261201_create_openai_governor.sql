-- +goose Up
-- One row per OpenAI organization (per admin key): the rate governor's
-- shared state. Every process that calls OpenAI reserves its calls' time
-- slots here (internal/governor), so that together they stay within what
-- OpenAI allows, and the rate learnt survives restarts.
CREATE TABLE openai_governors (
    -- A SHA-256 digest of the admin key and organization ID: never the key.
    org_key       TEXT PRIMARY KEY,
    -- Calls per second the governor allows now.
    rate          DOUBLE PRECISION NOT NULL CHECK (rate > 0),
    -- The rate OpenAI was seen to accept when it last refused a call
    -- (0 until it has), and the limit its x-ratelimit headers announced.
    learned_limit DOUBLE PRECISION NOT NULL DEFAULT 0,
    header_limit  DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- The next free time slot: slots up to here are reserved.
    next_slot_at  TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    grown_at      TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    cut_at        TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    -- Calls OpenAI accepted and refused, counted per second: the current
    -- second's counts started at bucket_at, and the previous second's.
    bucket_at      TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    bucket_ok      INTEGER NOT NULL DEFAULT 0,
    bucket_refused INTEGER NOT NULL DEFAULT 0,
    prev_ok        INTEGER NOT NULL DEFAULT 0,
    prev_refused   INTEGER NOT NULL DEFAULT 0,
    refused       BIGINT NOT NULL DEFAULT 0,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE openai_governors;
