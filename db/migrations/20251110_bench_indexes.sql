-- +goose Up
-- Finer statistics for lower(name), which the company search filters on
-- with LIKE '%fragment%'. PostgreSQL estimates such a pattern by trying it
-- on the column's histogram, and with the default 100 entries a fragment
-- that one company in a hundred has is estimated at either 0.01 % or 1 %,
-- by the luck of the sample. Underestimated, the search reads every match
-- through the trigram index and sorts them (~100 ms for 10,000 matches at a
-- million companies); overestimated, it walks the signup-date index for a
-- page of matches that are not there. A thousand entries make the estimate
-- good to 0.1 %, and the planner picks the right one of the two (measured
-- by `make bench`, scenario 2). The planner reads these statistics from the
-- expression indexes on lower(name), so both get the finer target.
ALTER INDEX companies_name_lower_key ALTER COLUMN 1 SET STATISTICS 1000;
ALTER INDEX companies_name_trgm_idx ALTER COLUMN 1 SET STATISTICS 1000;

-- +goose Down
ALTER INDEX companies_name_trgm_idx ALTER COLUMN 1 SET STATISTICS -1;
ALTER INDEX companies_name_lower_key ALTER COLUMN 1 SET STATISTICS -1;
