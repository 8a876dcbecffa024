-- name: CreateCompany :one
INSERT INTO companies (
    name, industry, contact_name, contact_email, website, company_size, country,
    signup_token, project_description, provisioning_status, name_key
) VALUES (
    @name, @industry, @contact_name, @contact_email, @website, @company_size, @country,
    sqlc.narg('signup_token'), @project_description, @provisioning_status, @name_key
)
RETURNING *;

-- name: GetCompany :one
SELECT * FROM companies WHERE id = @id;

-- name: GetCompanyForUpdate :one
SELECT * FROM companies WHERE id = @id FOR UPDATE;

-- name: GetCompanyBySignupToken :one
SELECT * FROM companies WHERE signup_token = @signup_token;

-- name: GetCompanyByName :one
SELECT * FROM companies WHERE lower(name) = lower(@name);

-- name: GetCompanyByProjectID :one
SELECT * FROM companies WHERE openai_project_id = @project_id;

-- name: GetCompanyOpenAIProject :one
SELECT openai_project_id FROM companies WHERE id = @id;

-- name: LinkCompanyProject :execrows
-- Sets the project ID only if none is set yet: the guard that keeps a late
-- or duplicate provisioning run from overwriting a linked project.
UPDATE companies
SET openai_project_id = @project_id, provisioning_status = 'provisioned',
    provisioning_error = '', next_attempt_at = NULL, updated_at = now()
WHERE id = @id AND openai_project_id IS NULL;

-- name: UpdateCompanyOpenAIProject :execrows
-- Sets or clears the project ID unconditionally (manual assignment).
UPDATE companies
SET openai_project_id = sqlc.narg('project_id'),
    provisioning_status = CASE WHEN sqlc.narg('project_id')::text IS NULL THEN 'pending' ELSE 'provisioned' END,
    provisioning_error = '', updated_at = now()
WHERE id = @id;

-- name: SetCompanyProvisioningStatus :execrows
-- Records a provisioning state other than 'provisioned'; never touches a
-- company that already has its project.
UPDATE companies
SET provisioning_status = @status, provisioning_error = @error,
    next_attempt_at = sqlc.narg('next_attempt_at'), updated_at = now()
WHERE id = @id AND openai_project_id IS NULL;
