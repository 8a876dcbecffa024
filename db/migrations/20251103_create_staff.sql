-- +goose Up
-- Staff who sign in to the dashboard. Emails are unique whatever their case.
CREATE TABLE staff_users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL,
    -- PHC-style argon2id string: algorithm, parameters, salt and hash.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'support')),
    disabled      BOOLEAN NOT NULL DEFAULT false,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX staff_users_email_key ON staff_users (lower(email));

-- Server-side sessions, so that logging out or disabling a user ends a
-- session for good even if someone kept a copy of the cookie. The cookie
-- carries the token; only its SHA-256 is stored.
CREATE TABLE staff_sessions (
    token_hash   BYTEA PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX staff_sessions_user_idx ON staff_sessions (user_id);

-- Failed logins, kept in the database so that every replica throttles on
-- the same counts. Rows older than the throttle window are pruned.
CREATE TABLE login_failures (
    id    BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    ip    TEXT NOT NULL,
    at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX login_failures_email_idx ON login_failures (email, at DESC);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, at DESC);
CREATE INDEX login_failures_at_idx ON login_failures (at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE staff_sessions;
DROP TABLE staff_users;
