-- name: CountCompaniesWithoutProjectByStatus :many
-- The companies without a project, by provisioning status, for the home
-- page's totals. Reads the partial index of companies without a project.
SELECT provisioning_status, count(*)::bigint AS n
FROM companies
WHERE openai_project_id IS NULL
GROUP BY provisioning_status;
