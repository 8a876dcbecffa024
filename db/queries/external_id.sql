-- name: InsertExternalID :exec
INSERT INTO company_external_ids (company_id, external_id) VALUES (@company_id, @external_id);

-- name: GetCompanyByExternalID :one
SELECT c.* FROM companies c JOIN company_external_ids e ON e.company_id = c.id WHERE e.external_id = @external_id;

-- name: GetExternalID :one
SELECT external_id FROM company_external_ids WHERE company_id = @company_id;
