-- name: CreateOpenAIGovernor :exec
INSERT INTO openai_governors (org_key, rate) VALUES (@org_key, @rate)
ON CONFLICT (org_key) DO NOTHING;

-- name: LockOpenAIGovernor :one
-- The state and the database's clock, which every process shares, locked
-- until the transaction ends.
SELECT org_key, rate, learned_limit, header_limit, upper_limit, next_slot_at, grown_at, cut_at, probe_from,
       bucket_at, bucket_ok, bucket_refused, prev_ok, prev_refused, refused, clock_timestamp()::timestamptz AS now
FROM openai_governors WHERE org_key = @org_key
FOR UPDATE;

-- name: SaveOpenAIGovernor :exec
UPDATE openai_governors SET
    rate = @rate, learned_limit = @learned_limit, header_limit = @header_limit, upper_limit = @upper_limit,
    next_slot_at = @next_slot_at, grown_at = @grown_at, cut_at = @cut_at, probe_from = @probe_from,
    bucket_at = @bucket_at, bucket_ok = @bucket_ok, bucket_refused = @bucket_refused,
    prev_ok = @prev_ok, prev_refused = @prev_refused,
    refused = @refused, updated_at = now()
WHERE org_key = @org_key;
