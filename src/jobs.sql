-- jobs.sql: batch jobs (C, src/jobs.c) and their live progress view.

CREATE PROCEDURE @extschema@.run_expiry(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_run_expiry';
COMMENT ON PROCEDURE @extschema@.run_expiry(timestamptz, int) IS
    'Book an expire entry for every lot remainder expired at as_of; commits per batch; resumable.';

-- Is this run being executed right now?  Its backend must be alive, busy,
-- and still in the statement that started the run (a run that ended in an
-- error leaves its row 'running' but its backend moves on).  SECURITY
-- DEFINER so that any reader sees other roles' backends in pg_stat_activity.
CREATE FUNCTION @extschema@.job_is_running(run_id bigint)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM @extschema@.job_run r
        JOIN pg_stat_activity a ON a.pid = r.pid AND a.backend_start = r.backend_start
        WHERE r.run_id = job_is_running.run_id AND r.state = 'running'
          AND a.state = 'active' AND a.query_start <= r.started_at)
$$;
COMMENT ON FUNCTION @extschema@.job_is_running(bigint) IS
    'Whether a batch-job run is being executed now (its backend is still in the CALL that started it).';

-- Every run; a run marked running that no backend runs any more is failed.
CREATE VIEW @extschema@.job_runs AS
SELECT r.run_id, r.job, r.as_of, r.batch_size, r.started_at, r.updated_at,
       CASE WHEN f.failed THEN r.updated_at ELSE r.finished_at END AS finished_at,
       CASE WHEN f.failed THEN 'failed' ELSE r.state END AS state,
       r.single_transaction, r.batches, r.items, r.amount, r.pid, r.run_by
FROM @extschema@.job_run r
CROSS JOIN LATERAL (SELECT r.state = 'running' AND NOT @extschema@.job_is_running(r.run_id) AS failed) f;
COMMENT ON VIEW @extschema@.job_runs IS 'Batch-job runs: state running, done or failed; counts updated after every committed batch.';

-- Runs in progress, readable from any session while the job commits batch by batch.
CREATE VIEW @extschema@.job_progress AS
SELECT r.run_id, r.job, r.as_of, r.batch_size, r.started_at, r.updated_at,
       r.batches, r.items, r.amount,
       round(r.items / GREATEST(extract(epoch FROM r.updated_at - r.started_at), 0.001))::bigint
           AS items_per_second,
       r.single_transaction, r.pid, r.run_by
FROM @extschema@.job_runs r
WHERE r.state = 'running';
COMMENT ON VIEW @extschema@.job_progress IS 'Batch jobs running now, updated after every committed batch.';
