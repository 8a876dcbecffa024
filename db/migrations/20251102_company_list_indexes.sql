-- +goose Up
-- Indexes for the dashboard's company list, so that every page of it, its
-- searches, filters and totals read an index rather than the whole table
-- (the list has to stay fast at a million companies).
--
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may
-- create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Search by any fragment of the name: lower(name) LIKE '%fragment%'.
CREATE INDEX companies_name_trgm_idx ON companies USING gin (lower(name) gin_trgm_ops);
-- Search by the contact's email address, whatever its letter case.
CREATE INDEX companies_contact_email_lower_idx ON companies (lower(contact_email));

-- Keyset pages by signup date, newest or oldest first (id breaks ties).
-- Sorting by name uses companies_name_lower_key.
CREATE INDEX companies_created_idx ON companies (created_at, id);

-- The "missing" and "failed" filters and their totals. Partial indexes stay
-- small as long as few companies lack a project, which is the normal case.
CREATE INDEX companies_missing_created_idx ON companies (created_at, id) WHERE openai_project_id IS NULL;
CREATE INDEX companies_missing_name_idx ON companies (lower(name)) WHERE openai_project_id IS NULL;
CREATE INDEX companies_failed_created_idx ON companies (created_at, id) WHERE provisioning_status = 'failed';
CREATE INDEX companies_failed_name_idx ON companies (lower(name)) WHERE provisioning_status = 'failed';

-- +goose Down
-- pg_trgm stays: other objects may have come to rely on it.
DROP INDEX companies_failed_name_idx;
DROP INDEX companies_failed_created_idx;
DROP INDEX companies_missing_name_idx;
DROP INDEX companies_missing_created_idx;
DROP INDEX companies_created_idx;
DROP INDEX companies_contact_email_lower_idx;
DROP INDEX companies_name_trgm_idx;
