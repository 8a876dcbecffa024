-- Queries of the staff dashboard: the company list and the audit log.
--
-- The list queries take every filter as a parameter that switches a
-- condition off ("NOT @only_missing OR …"). Run them with custom plans only
-- (UseCustomPlans): with the parameters' values known, PostgreSQL folds the
-- switched-off conditions away and picks the index for the shape at hand; a
-- generic plan would scan one index for every shape.

-- name: UseCustomPlans :exec
-- Plans the following statements of the transaction for their parameters.
SELECT set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: ListCompaniesNewest :many
SELECT sqlc.embed(companies), lower(companies.name)::text AS name_key
FROM companies
WHERE (NOT @only_missing::boolean OR openai_project_id IS NULL)
  AND (NOT @only_failed::boolean OR provisioning_status = 'failed')
  AND (NOT @only_no_key::boolean OR (openai_project_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM company_keys k WHERE k.company_id = companies.id AND k.state = 'current')))
  AND (NOT @only_waiting::boolean OR provisioning_status = 'waiting')
  AND (@search::text = ''
       OR lower(name) LIKE lower(@name_pattern::text)
       OR lower(contact_email) = lower(@search::text)
       OR openai_project_id = @search::text)
  AND (NOT @has_cursor::boolean OR (created_at, id) < (@cursor_created_at::timestamptz, @cursor_id::bigint))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: ListCompaniesOldest :many
SELECT sqlc.embed(companies), lower(companies.name)::text AS name_key
FROM companies
WHERE (NOT @only_missing::boolean OR openai_project_id IS NULL)
  AND (NOT @only_failed::boolean OR provisioning_status = 'failed')
  AND (NOT @only_no_key::boolean OR (openai_project_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM company_keys k WHERE k.company_id = companies.id AND k.state = 'current')))
  AND (NOT @only_waiting::boolean OR provisioning_status = 'waiting')
  AND (@search::text = ''
       OR lower(name) LIKE lower(@name_pattern::text)
       OR lower(contact_email) = lower(@search::text)
       OR openai_project_id = @search::text)
  AND (NOT @has_cursor::boolean OR (created_at, id) > (@cursor_created_at::timestamptz, @cursor_id::bigint))
ORDER BY created_at, id
LIMIT @max_rows;

-- name: ListCompaniesByName :many
SELECT sqlc.embed(companies), lower(companies.name)::text AS name_key
FROM companies
WHERE (NOT @only_missing::boolean OR openai_project_id IS NULL)
  AND (NOT @only_failed::boolean OR provisioning_status = 'failed')
  AND (NOT @only_no_key::boolean OR (openai_project_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM company_keys k WHERE k.company_id = companies.id AND k.state = 'current')))
  AND (NOT @only_waiting::boolean OR provisioning_status = 'waiting')
  AND (@search::text = ''
       OR lower(name) LIKE lower(@name_pattern::text)
       OR lower(contact_email) = lower(@search::text)
       OR openai_project_id = @search::text)
  AND (NOT @has_cursor::boolean OR (lower(name), id) > (@cursor_name::text, @cursor_id::bigint))
ORDER BY lower(name), id
LIMIT @max_rows;

-- name: ListCompaniesByNameDesc :many
-- ListCompaniesByName backwards, for the "Previous" page.
SELECT sqlc.embed(companies), lower(companies.name)::text AS name_key
FROM companies
WHERE (NOT @only_missing::boolean OR openai_project_id IS NULL)
  AND (NOT @only_failed::boolean OR provisioning_status = 'failed')
  AND (NOT @only_no_key::boolean OR (openai_project_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM company_keys k WHERE k.company_id = companies.id AND k.state = 'current')))
  AND (NOT @only_waiting::boolean OR provisioning_status = 'waiting')
  AND (@search::text = ''
       OR lower(name) LIKE lower(@name_pattern::text)
       OR lower(contact_email) = lower(@search::text)
       OR openai_project_id = @search::text)
  AND (NOT @has_cursor::boolean OR (lower(name), id) < (@cursor_name::text, @cursor_id::bigint))
ORDER BY lower(name) DESC, id DESC
LIMIT @max_rows;

-- name: CompanyTotals :one
-- The counters kept by the company_counts triggers: 16 small rows, however
-- many companies there are.
SELECT sum(total)::bigint AS total, sum(missing)::bigint AS missing, sum(failed)::bigint AS failed,
       sum(waiting)::bigint AS waiting
FROM company_counts;

-- name: ResetCompanyForRetry :execrows
-- Makes a company without a project due for an attempt right away.
UPDATE companies
SET provisioning_status = 'pending', provisioning_error = '', next_attempt_at = NULL, updated_at = now()
WHERE id = @id AND openai_project_id IS NULL;

-- name: ListAuditEntries :many
-- The audit log, newest first, a keyset page at a time.
SELECT * FROM audit_log
WHERE (@action::text = '' OR action = @action::text)
  AND (@actor_pattern::text = '' OR lower(actor_email) LIKE lower(@actor_pattern::text))
  AND (@company_pattern::text = '' OR lower(company_name) LIKE lower(@company_pattern::text))
  AND (NOT @has_cursor::boolean OR (at, id) < (@cursor_at::timestamptz, @cursor_id::bigint))
ORDER BY at DESC, id DESC
LIMIT @max_rows;
