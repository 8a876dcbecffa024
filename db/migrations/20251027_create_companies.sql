-- +goose Up
-- Companies that signed up. Names are unique whatever their letter case, so a
-- project named after a company identifies it without ambiguity on our side.
CREATE TABLE companies (
    id                  BIGSERIAL PRIMARY KEY,
    name                TEXT NOT NULL CHECK (btrim(name) <> ''),
    industry            TEXT NOT NULL,
    contact_name        TEXT NOT NULL,
    contact_email       TEXT NOT NULL,
    website             TEXT NOT NULL DEFAULT '',
    company_size        TEXT NOT NULL DEFAULT '',
    country             TEXT NOT NULL DEFAULT '',
    -- signup_token makes a double-submitted signup form idempotent: the
    -- second POST finds the company the first one created.
    signup_token        TEXT UNIQUE,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX companies_name_lower_key ON companies (lower(name));

-- +goose Down
DROP TABLE companies;
