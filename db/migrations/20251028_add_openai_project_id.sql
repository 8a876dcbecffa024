-- +goose Up
-- The seed's column, plus what we keep locally about the project: OpenAI's
-- create call takes no description, so ours lives here.
ALTER TABLE companies ADD COLUMN IF NOT EXISTS openai_project_id TEXT;
ALTER TABLE companies ADD COLUMN project_description TEXT NOT NULL DEFAULT '';
-- pending: a provisioning job will (re)try; provisioned: the ID is set;
-- skipped: no admin key was configured; failed: OpenAI refused for good.
ALTER TABLE companies ADD COLUMN provisioning_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (provisioning_status IN ('pending', 'provisioned', 'skipped', 'failed'));
ALTER TABLE companies ADD COLUMN provisioning_error TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX companies_openai_project_id_key ON companies (openai_project_id)
    WHERE openai_project_id IS NOT NULL;

-- +goose Down
DROP INDEX companies_openai_project_id_key;
ALTER TABLE companies DROP COLUMN provisioning_error;
ALTER TABLE companies DROP COLUMN provisioning_status;
ALTER TABLE companies DROP COLUMN project_description;
ALTER TABLE companies DROP COLUMN openai_project_id;
