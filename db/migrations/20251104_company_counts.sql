-- +goose Up
-- The dashboard's totals, kept up to date by triggers so that showing them
-- costs the same at a million companies as at ten (counting a million rows
-- takes ~70 ms). The counts are spread over 16 rows, by company id, so that
-- concurrent signups seldom wait for each other's counter row. Statement
-- triggers with transition tables make a bulk COPY update them once.
CREATE TABLE company_counts (
    shard   SMALLINT PRIMARY KEY,
    total   BIGINT NOT NULL DEFAULT 0,
    missing BIGINT NOT NULL DEFAULT 0, -- no project ID
    failed  BIGINT NOT NULL DEFAULT 0  -- provisioning_status = 'failed'
);
INSERT INTO company_counts (shard) SELECT generate_series(0, 15);
UPDATE company_counts c
SET total = s.total, missing = s.missing, failed = s.failed
FROM (SELECT id % 16 AS shard, count(*) AS total,
             count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
             count(*) FILTER (WHERE provisioning_status = 'failed') AS failed
      FROM companies GROUP BY 1) s
WHERE c.shard = s.shard;

-- +goose StatementBegin
CREATE FUNCTION company_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET total = c.total + d.total, missing = c.missing + d.missing, failed = c.failed + d.failed
    FROM (SELECT id % 16 AS shard, count(*) AS total,
                 count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
                 count(*) FILTER (WHERE provisioning_status = 'failed') AS failed
          FROM new_rows GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION company_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE company_counts c
    SET total = c.total - d.total, missing = c.missing - d.missing, failed = c.failed - d.failed
    FROM (SELECT id % 16 AS shard, count(*) AS total,
                 count(*) FILTER (WHERE openai_project_id IS NULL) AS missing,
                 count(*) FILTER (WHERE provisioning_status = 'failed') AS failed
          FROM old_rows GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION company_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only rows whose category changed touch a counter, so the many
    -- updates that change neither the ID nor the status lock nothing.
    UPDATE company_counts c
    SET missing = c.missing + d.missing, failed = c.failed + d.failed
    FROM (SELECT n.id % 16 AS shard,
                 sum((n.openai_project_id IS NULL)::int - (o.openai_project_id IS NULL)::int) AS missing,
                 sum((n.provisioning_status = 'failed')::int - (o.provisioning_status = 'failed')::int) AS failed
          FROM new_rows n JOIN old_rows o USING (id)
          WHERE (n.openai_project_id IS NULL) <> (o.openai_project_id IS NULL)
             OR (n.provisioning_status = 'failed') <> (o.provisioning_status = 'failed')
          GROUP BY 1) d
    WHERE c.shard = d.shard;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER company_counts_insert AFTER INSERT ON companies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION company_counts_insert();
CREATE TRIGGER company_counts_delete AFTER DELETE ON companies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION company_counts_delete();
CREATE TRIGGER company_counts_update AFTER UPDATE ON companies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION company_counts_update();

-- +goose Down
DROP TRIGGER company_counts_update ON companies;
DROP TRIGGER company_counts_delete ON companies;
DROP TRIGGER company_counts_insert ON companies;
DROP FUNCTION company_counts_update();
DROP FUNCTION company_counts_delete();
DROP FUNCTION company_counts_insert();
DROP TABLE company_counts;
