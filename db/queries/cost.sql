-- Costs and usage (internal/cost). Amounts go in and out as NUMERIC
-- (shopspring/decimal in Go); arrays of amounts travel as text so that no
-- value is ever a float on the way.

-- name: UpsertCostDaily :execrows
-- Writes a page of costs. A row whose amount did not change is not
-- touched, so that a re-run over unchanged data writes nothing.
INSERT INTO cost_daily AS c (day, project_id, line_item, currency, amount)
SELECT unnest(@days::date[]), unnest(@project_ids::text[]), unnest(@line_items::text[]),
       unnest(@currencies::text[]), unnest(@amounts::text[])::numeric
ON CONFLICT (day, project_id, line_item, currency) DO UPDATE
SET amount = EXCLUDED.amount, synced_at = now()
WHERE c.amount IS DISTINCT FROM EXCLUDED.amount;

-- name: DeleteCostDayExcept :execrows
-- Removes the results of a day that OpenAI no longer reports.
DELETE FROM cost_daily
WHERE cost_daily.day = @on_day::date
  AND (cost_daily.project_id, cost_daily.line_item, cost_daily.currency) NOT IN (
      SELECT unnest(@project_ids::text[]), unnest(@line_items::text[]), unnest(@currencies::text[]));

-- name: UpsertUsageDaily :execrows
INSERT INTO usage_daily AS u (day, project_id, model, input_tokens, output_tokens, input_cached_tokens, requests)
SELECT unnest(@days::date[]), unnest(@project_ids::text[]), unnest(@models::text[]), unnest(@input_tokens::bigint[]),
       unnest(@output_tokens::bigint[]), unnest(@input_cached_tokens::bigint[]), unnest(@requests::bigint[])
ON CONFLICT (day, project_id, model) DO UPDATE
SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
    input_cached_tokens = EXCLUDED.input_cached_tokens, requests = EXCLUDED.requests, synced_at = now()
WHERE (u.input_tokens, u.output_tokens, u.input_cached_tokens, u.requests)
      IS DISTINCT FROM (EXCLUDED.input_tokens, EXCLUDED.output_tokens, EXCLUDED.input_cached_tokens, EXCLUDED.requests);

-- name: DeleteUsageDayExcept :execrows
DELETE FROM usage_daily
WHERE usage_daily.day = @on_day::date
  AND (usage_daily.project_id, usage_daily.model) NOT IN (SELECT unnest(@project_ids::text[]), unnest(@models::text[]));

-- name: CreateSyncRun :one
INSERT INTO usage_sync_runs (trigger, from_day, to_day) VALUES (@trigger, @from_day, @to_day)
RETURNING *;

-- name: GetUnfinishedSyncRun :one
-- The newest run that did not finish (its process died, or it failed):
-- the next run takes it over from its cursor.
SELECT * FROM usage_sync_runs WHERE status <> 'finished' AND phase <> 'done'
ORDER BY id DESC LIMIT 1;

-- name: TakeOverSyncRun :exec
UPDATE usage_sync_runs
SET status = 'running', trigger = @trigger, error = '', resumed = resumed + 1, updated_at = now()
WHERE id = @id;

-- name: SaveSyncProgress :exec
UPDATE usage_sync_runs
SET phase = @phase, cursor = @cursor, pages = pages + @pages, requests = requests + @requests,
    rows_written = rows_written + @rows_written, updated_at = now()
WHERE id = @id;

-- name: FinishSyncRun :exec
UPDATE usage_sync_runs SET status = 'finished', phase = 'done', cursor = '', updated_at = now(), finished_at = now()
WHERE id = @id;

-- name: FailSyncRun :exec
UPDATE usage_sync_runs SET status = 'failed', error = @error, requests = requests + @requests, updated_at = now()
WHERE id = @id;

-- name: AbandonSyncRuns :exec
-- Runs older than the one just finished will never be resumed.
UPDATE usage_sync_runs SET status = 'failed', phase = 'done', error = 'superseded by a later run'
WHERE id < @id AND phase <> 'done';

-- name: GetSyncRun :one
SELECT * FROM usage_sync_runs WHERE id = @id;

-- name: ListSyncRuns :many
SELECT * FROM usage_sync_runs ORDER BY id DESC LIMIT @max_rows;

-- name: LastFinishedSyncRun :one
SELECT * FROM usage_sync_runs WHERE status = 'finished' ORDER BY to_day DESC, id DESC LIMIT 1;

-- name: FirstSyncedDay :one
SELECT count(*)::bigint AS runs, coalesce(min(from_day), '1970-01-01')::date AS first_day
FROM usage_sync_runs WHERE status = 'finished';

-- name: LastRollupAt :one
SELECT coalesce(max(finished_at), '1970-01-01T00:00:00Z')::timestamptz FROM usage_sync_runs WHERE status = 'finished';

-- name: AssignmentChangesSince :one
-- The earliest moment whose attribution changed since @since: the months
-- from it on are rolled up again.
SELECT count(*)::bigint AS changes, coalesce(min(least(valid_from, coalesce(valid_to, valid_from))), now())::timestamptz AS earliest
FROM project_assignments WHERE changed_at > @since;

-- name: UpsertCostMonthly :execrows
-- Rolls a month's daily costs up by company. A day's cost belongs to the
-- company that held the project last during that day (the latest
-- assignment overlapping the day); none: unattributed (NULL).
INSERT INTO cost_monthly AS m (month, company_id, project_id, line_item, currency, amount)
SELECT date_trunc('month', c.day)::date, a.company_id, c.project_id, c.line_item, c.currency, sum(c.amount)
FROM cost_daily c
LEFT JOIN LATERAL (
    SELECT pa.company_id FROM project_assignments pa
    WHERE pa.project_id = c.project_id AND c.project_id <> ''
      AND pa.valid_from < ((c.day + 1)::timestamp AT TIME ZONE 'UTC')
      AND (pa.valid_to IS NULL OR pa.valid_to > (c.day::timestamp AT TIME ZONE 'UTC'))
    ORDER BY pa.valid_from DESC, pa.id DESC LIMIT 1
) a ON true
WHERE c.day >= @month::date AND c.day < @next_month::date
GROUP BY 1, a.company_id, c.project_id, c.line_item, c.currency
ON CONFLICT (month, coalesce(company_id, 0), project_id, line_item, currency) DO UPDATE
SET amount = EXCLUDED.amount
WHERE m.amount IS DISTINCT FROM EXCLUDED.amount;

-- name: DeleteStaleCostMonthly :execrows
-- Removes rollup rows that no longer have daily costs behind them (a
-- project that changed hands, a result OpenAI withdrew).
DELETE FROM cost_monthly m
WHERE m.month = @month::date
  AND NOT EXISTS (
    SELECT 1 FROM cost_daily c
    LEFT JOIN LATERAL (
        SELECT pa.company_id FROM project_assignments pa
        WHERE pa.project_id = c.project_id AND c.project_id <> ''
          AND pa.valid_from < ((c.day + 1)::timestamp AT TIME ZONE 'UTC')
          AND (pa.valid_to IS NULL OR pa.valid_to > (c.day::timestamp AT TIME ZONE 'UTC'))
        ORDER BY pa.valid_from DESC, pa.id DESC LIMIT 1
    ) a ON true
    WHERE c.day >= m.month AND c.day < @next_month::date
      AND c.project_id = m.project_id AND c.line_item = m.line_item AND c.currency = m.currency
      AND coalesce(a.company_id, 0) = coalesce(m.company_id, 0));

-- name: RefreshCompanyCosts :execrows
-- Sets every company's month-to-date and last month's usd cost from the
-- rollup; rows whose figures did not change are not touched.
UPDATE company_costs cc
SET month = @month::date, mtd = s.mtd, last_month = s.last_month
FROM (
    SELECT c.company_id, coalesce(t.mtd, 0) AS mtd, coalesce(t.last_month, 0) AS last_month
    FROM company_costs c
    LEFT JOIN (
        SELECT company_id,
               sum(amount) FILTER (WHERE month = @month::date) AS mtd,
               sum(amount) FILTER (WHERE month = @last_month::date) AS last_month
        FROM cost_monthly
        WHERE month IN (@month::date, @last_month::date) AND currency = 'usd' AND company_id IS NOT NULL
        GROUP BY company_id
    ) t ON t.company_id = c.company_id
) s
WHERE cc.company_id = s.company_id
  AND (cc.month IS DISTINCT FROM @month::date OR cc.mtd <> s.mtd OR cc.last_month <> s.last_month);

-- name: CompanyCostsByIDs :many
SELECT company_id, month, mtd, last_month FROM company_costs WHERE company_id = ANY(@ids::bigint[]);

-- name: OrgMonthTotals :many
-- The organization's total of a month, and its unattributed part, by currency.
SELECT currency, sum(amount)::numeric AS total,
       coalesce(sum(amount) FILTER (WHERE company_id IS NULL), 0)::numeric AS unattributed
FROM cost_monthly WHERE month = @month::date
GROUP BY currency ORDER BY currency;

-- name: CompanyDailyCosts :many
-- A company's daily costs by line item in [@from_day, @to_day): the days on
-- which it held each of its projects last.
SELECT c.day, c.project_id, c.line_item, c.currency, c.amount
FROM cost_daily c
WHERE c.project_id IN (SELECT DISTINCT pa0.project_id FROM project_assignments pa0 WHERE pa0.company_id = @company_id::bigint)
  AND c.day >= @from_day::date AND c.day < @to_day::date
  AND (SELECT pa.company_id FROM project_assignments pa
       WHERE pa.project_id = c.project_id
         AND pa.valid_from < ((c.day + 1)::timestamp AT TIME ZONE 'UTC')
         AND (pa.valid_to IS NULL OR pa.valid_to > (c.day::timestamp AT TIME ZONE 'UTC'))
       ORDER BY pa.valid_from DESC, pa.id DESC LIMIT 1) = @company_id::bigint
ORDER BY c.day, c.line_item;

-- name: CompanyDailyUsage :many
SELECT u.day, u.model, u.input_tokens, u.output_tokens, u.input_cached_tokens, u.requests
FROM usage_daily u
WHERE u.project_id IN (SELECT DISTINCT pa0.project_id FROM project_assignments pa0 WHERE pa0.company_id = @company_id::bigint)
  AND u.day >= @from_day::date AND u.day < @to_day::date
  AND (SELECT pa.company_id FROM project_assignments pa
       WHERE pa.project_id = u.project_id
         AND pa.valid_from < ((u.day + 1)::timestamp AT TIME ZONE 'UTC')
         AND (pa.valid_to IS NULL OR pa.valid_to > (u.day::timestamp AT TIME ZONE 'UTC'))
       ORDER BY pa.valid_from DESC, pa.id DESC LIMIT 1) = @company_id::bigint
ORDER BY u.day, u.model;

-- name: ListCompanyAssignments :many
SELECT * FROM project_assignments WHERE company_id = @company_id ORDER BY valid_from DESC, id DESC;

-- name: StatementLines :many
-- A batch of a month's rollup with the company of each row, in the order
-- of cost_monthly_key, so that a statement streams company after company
-- (unattributed, company 0, first) with keyset batches.
SELECT coalesce(m.company_id, 0)::bigint AS company_key, coalesce(co.name, '')::text AS company_name,
       m.project_id, m.line_item, m.currency, m.amount, mk.percent AS markup_percent
FROM cost_monthly m
LEFT JOIN companies co ON co.id = m.company_id
LEFT JOIN company_markups mk ON mk.company_id = m.company_id
WHERE m.month = @month::date AND coalesce(m.company_id, 0) > @after_company::bigint
ORDER BY coalesce(m.company_id, 0), m.project_id, m.line_item, m.currency
LIMIT @max_rows;

-- name: StatementLineItems :many
SELECT DISTINCT line_item FROM cost_monthly WHERE month = @month::date ORDER BY line_item;

-- name: GetCompanyMarkup :one
SELECT * FROM company_markups WHERE company_id = @company_id;

-- name: SetCompanyMarkup :exec
INSERT INTO company_markups (company_id, percent, updated_by) VALUES (@company_id, @percent, @updated_by)
ON CONFLICT (company_id) DO UPDATE SET percent = EXCLUDED.percent, updated_by = EXCLUDED.updated_by, updated_at = now();

-- name: DeleteCompanyMarkup :execrows
DELETE FROM company_markups WHERE company_id = @company_id;

-- name: ListCompaniesByCost :many
-- The company list by month-to-date cost, highest first (keyset on
-- company_costs_mtd_idx). Same filters as the other list queries.
SELECT sqlc.embed(companies), lower(companies.name)::text AS name_key, cc.mtd
FROM company_costs cc JOIN companies ON companies.id = cc.company_id
WHERE (NOT @only_missing::boolean OR openai_project_id IS NULL)
  AND (NOT @only_failed::boolean OR provisioning_status = 'failed')
  AND (@search::text = ''
       OR lower(name) LIKE lower(@name_pattern::text)
       OR lower(contact_email) = lower(@search::text)
       OR openai_project_id = @search::text)
  AND (NOT @has_cursor::boolean OR (cc.mtd, cc.company_id) < (@cursor_mtd::numeric, @cursor_id::bigint))
ORDER BY cc.mtd DESC, cc.company_id DESC
LIMIT @max_rows;

-- name: ListCompaniesByCostAsc :many
SELECT sqlc.embed(companies), lower(companies.name)::text AS name_key, cc.mtd
FROM company_costs cc JOIN companies ON companies.id = cc.company_id
WHERE (NOT @only_missing::boolean OR openai_project_id IS NULL)
  AND (NOT @only_failed::boolean OR provisioning_status = 'failed')
  AND (@search::text = ''
       OR lower(name) LIKE lower(@name_pattern::text)
       OR lower(contact_email) = lower(@search::text)
       OR openai_project_id = @search::text)
  AND (NOT @has_cursor::boolean OR (cc.mtd, cc.company_id) > (@cursor_mtd::numeric, @cursor_id::bigint))
ORDER BY cc.mtd ASC, cc.company_id ASC
LIMIT @max_rows;
