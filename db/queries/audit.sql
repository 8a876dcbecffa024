-- name: CreateAuditEntry :one
INSERT INTO audit_log (actor_id, actor_email, action, company_id, company_name, before, after, detail, actor_addr)
VALUES (sqlc.narg('actor_id'), @actor_email, @action, sqlc.narg('company_id'), @company_name, @before, @after, @detail, @actor_addr)
RETURNING *;
