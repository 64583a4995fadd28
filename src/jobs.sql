-- jobs.sql: batch jobs (C, src/jobs.c) and their live progress view.

CREATE PROCEDURE @extschema@.run_expiry(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_run_expiry';
COMMENT ON PROCEDURE @extschema@.run_expiry(timestamptz, int) IS
    'Book an expire entry for every lot remainder expired at as_of; commits per batch; resumable.';

-- Runs in progress, readable from any session while the job commits batch by
-- batch.  A run whose backend is gone shows as interrupted.
CREATE VIEW @extschema@.job_progress AS
SELECT r.run_id, r.job, r.as_of, r.batch_size, r.started_at, r.updated_at,
       r.batches, r.items, r.amount,
       round(r.items / GREATEST(extract(epoch FROM r.updated_at - r.started_at), 0.001))::bigint
           AS items_per_second,
       r.single_transaction, r.pid, r.run_by,
       CASE WHEN a.pid IS NULL THEN 'interrupted' ELSE 'running' END AS state
FROM @extschema@.job_runs r
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = r.pid AND a.backend_start = r.backend_start
WHERE r.state = 'running';
COMMENT ON VIEW @extschema@.job_progress IS 'Batch jobs running now, updated after every committed batch.';
