-- jobs: CALL loyalty.run_expiry(as_of, batch_size) (SPEC sections 3, 8).
-- Programme code of this suite: job.  Its lots expire in 2001, a window no
-- other suite uses, so that the (database-wide) job books only them.
-- run_expiry's NOTICEs carry a rate and a run id: they are silenced with
-- client_min_messages and job_runs is checked instead.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member('job', ext)
$$;
-- This suite's ledger entries, readable.
CREATE FUNCTION pg_temp.entries(op text)
RETURNS TABLE(member text, at timestamptz, operation text, points bigint, lot_expires timestamptz)
LANGUAGE sql AS $$
    SELECT m.external_id, e.at, e.operation, e.points, l.expires_at
    FROM loyalty.points_entry e
    JOIN loyalty.member m ON m.member_id = e.member_id
    JOIN loyalty.program p ON p.program_id = m.program_id AND p.code = 'job'
    LEFT JOIN loyalty.points_lot l ON l.member_id = e.member_id AND l.lot_id = e.lots[1]
    WHERE op IS NULL OR e.operation = op
    ORDER BY m.external_id, e.at, e.entry_id
$$;
-- The latest run, without its ids and clock times.
CREATE VIEW pg_temp.last_run AS
SELECT job, as_of, batch_size, state, single_transaction, batches, items, amount,
       finished_at IS NOT NULL AND finished_at >= started_at AS finished,
       run_by = current_user AS run_by_caller
FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1;

-- Nothing runs: the progress view is empty.
SELECT count(*) AS running FROM loyalty.job_progress;

-- Book whatever another suite left expired before this suite's window.
SET client_min_messages = warning;
CALL loyalty.run_expiry('2001-01-01', 10000);
RESET client_min_messages;

SELECT loyalty.create_program('job', 'Jobs', 'CNY') IS NOT NULL AS created;
SELECT loyalty.enroll('job', x, '2001-01-01') IS NOT NULL AS enrolled
FROM (VALUES ('a'), ('b'), ('c'), ('d')) AS v(x);
-- a: three lots; b, c: one expiring lot each (and one that expires later);
-- d: a lot fully spent before it expires (nothing left to expire).
SELECT loyalty.earn(pg_temp.m('a'), 100, 'shop', 'a1', expires_at => '2001-03-01', at => '2001-01-10') IS NOT NULL AS a1,
       loyalty.earn(pg_temp.m('a'), 50, 'shop', 'a2', expires_at => '2001-04-01', at => '2001-01-10') IS NOT NULL AS a2,
       loyalty.earn(pg_temp.m('a'), 30, 'shop', 'a3', at => '2001-01-10') IS NOT NULL AS a3,
       loyalty.earn(pg_temp.m('b'), 70, 'shop', 'b1', expires_at => '2001-03-15', at => '2001-01-10') IS NOT NULL AS b1,
       loyalty.earn(pg_temp.m('b'), 15, 'shop', 'b2', expires_at => '2001-06-10', at => '2001-01-10') IS NOT NULL AS b2,
       loyalty.earn(pg_temp.m('c'), 30, 'shop', 'c1', expires_at => '2001-03-20', at => '2001-01-10') IS NOT NULL AS c1,
       loyalty.earn(pg_temp.m('c'), 20, 'shop', 'c2', expires_at => '2001-06-01', at => '2001-01-10') IS NOT NULL AS c2,
       loyalty.earn(pg_temp.m('d'), 40, 'shop', 'd1', expires_at => '2001-02-01', at => '2001-01-10') IS NOT NULL AS d1;
-- a spends 120: 100 from a1 (expires first), 20 from a2.
SELECT loyalty.spend(pg_temp.m('a'), 120, 'shop', 's1', at => '2001-02-01') IS NOT NULL AS a_spent,
       loyalty.spend(pg_temp.m('d'), 40, 'shop', 's1', at => '2001-01-15') IS NOT NULL AS d_spent;

-- Balances are right at every instant before any job ran.
SELECT x AS member, loyalty.points(pg_temp.m(x), '2001-04-30') AS points_apr30
FROM (VALUES ('a'), ('b'), ('c'), ('d')) AS v(x) ORDER BY x;

-- Bad arguments: an error, and no run recorded.
SELECT count(*) AS runs FROM loyalty.job_runs \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'as_of NULL',       $q$CALL loyalty.run_expiry(NULL, 10)$q$),
  (2, 'batch_size NULL',  $q$CALL loyalty.run_expiry('2001-04-30', NULL)$q$),
  (3, 'batch_size 0',     $q$CALL loyalty.run_expiry('2001-04-30', 0)$q$),
  (4, 'batch_size -5',    $q$CALL loyalty.run_expiry('2001-04-30', -5)$q$),
  (5, 'as_of infinity',   $q$CALL loyalty.run_expiry('infinity', 10)$q$),
  (6, 'as_of -infinity',  $q$CALL loyalty.run_expiry('-infinity', 10)$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT count(*) = :runs AS no_run_recorded FROM loyalty.job_runs;
SELECT count(*) AS expire_entries FROM pg_temp.entries('expire');

-- One lot per batch across three members: three committed batches, one
-- expire entry per expired lot remainder, dated at the lot's expiry.
SET client_min_messages = warning;
CALL loyalty.run_expiry('2001-04-30', 1);
RESET client_min_messages;
SELECT * FROM pg_temp.last_run;
SELECT * FROM pg_temp.entries('expire');
SELECT count(*) AS running FROM loyalty.job_progress;
-- The daily report shows what the job booked, on the days the lots expired.
SELECT to_char(day, 'YYYY-MM-DD') AS day, earned, spent, expired, reversed
FROM loyalty.points_daily WHERE program = 'job' ORDER BY day;

-- Booking changes no balance: the effective balance already excluded it.
SELECT x AS member, loyalty.points(pg_temp.m(x), '2001-04-30') AS points_apr30
FROM (VALUES ('a'), ('b'), ('c'), ('d')) AS v(x) ORDER BY x;

-- Idempotent: running again books nothing.
SET client_min_messages = warning;
CALL loyalty.run_expiry('2001-04-30', 1);
CALL loyalty.run_expiry('2001-04-30', 10000);
RESET client_min_messages;
SELECT * FROM pg_temp.last_run;
SELECT count(*) AS expire_entries FROM pg_temp.entries('expire');

-- A lot the spend came from has expired; reversing the spend returns 100
-- points to a1 and 20 to a2, both expired: they are expired again at once
-- (not usable) and the next run books them.
SELECT loyalty.reverse(pg_temp.m('a'), 'shop', 's1', at => '2001-05-01') IS NOT NULL AS reversed;
SELECT available, pending, expiring_30d FROM loyalty.balance(pg_temp.m('a'), '2001-05-01');
SELECT check_name, ok FROM loyalty.verify('job') ORDER BY check_name;
SET client_min_messages = warning;
CALL loyalty.run_expiry('2001-05-02', 1000);
RESET client_min_messages;
SELECT * FROM pg_temp.last_run;
SELECT member, operation, points, lot_expires FROM pg_temp.entries('expire') ORDER BY member, lot_expires, points;
SELECT loyalty.points(pg_temp.m('a'), '2001-05-02') AS a_points;
SELECT check_name, ok FROM loyalty.verify('job') ORDER BY check_name;

-- Inside a transaction block the job cannot commit: it says so and does
-- everything in that one transaction.  (Nothing to book here, so the only
-- numbers in its NOTICEs are zeros and the run id, pinned for the output.)
SELECT setval('loyalty.job_run_id_seq', 900000) AS pinned_run_id;
\set VERBOSITY default
BEGIN;
CALL loyalty.run_expiry('2001-05-02', 10);
COMMIT;
\set VERBOSITY sqlstate
SELECT * FROM pg_temp.last_run;
-- Again with lots to book (c2 on 2001-06-01, b2 on 2001-06-10), one per
-- batch: two batches, one transaction.
BEGIN;
SET LOCAL client_min_messages = warning;
CALL loyalty.run_expiry('2001-06-30', 1);
SELECT member, at, points FROM pg_temp.entries('expire') WHERE at > '2001-05-02';
COMMIT;
SELECT * FROM pg_temp.last_run;
SELECT count(*) AS running FROM loyalty.job_progress;

-- Everything booked in the end: every expired point exactly once.
SELECT sum(expired) AS expired_total FROM loyalty.points_daily WHERE program = 'job';
SELECT check_name, ok FROM loyalty.verify('job') ORDER BY check_name;

-- A run that fails half-way (a fault injected into the second batch): the
-- first batch stays committed, the run is recorded as failed, not left
-- 'running' in job_runs and job_progress; the next run books the rest.
SELECT loyalty.enroll('job', 'e', '2001-01-01') IS NOT NULL AS e,
       loyalty.enroll('job', 'f', '2001-01-01') IS NOT NULL AS f;
SELECT loyalty.earn(pg_temp.m('e'), 11, 'shop', 'e1', expires_at => '2001-07-01', at => '2001-01-10') IS NOT NULL AS e1,
       loyalty.earn(pg_temp.m('f'), 12, 'shop', 'f1', expires_at => '2001-07-02', at => '2001-01-10') IS NOT NULL AS f1;
CREATE FUNCTION public.regress_ly_job_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.operation = 'expire' AND NEW.member_id = (SELECT member_id FROM loyalty.member
                                                      WHERE external_id = 'f' AND program_id =
                                                        (SELECT program_id FROM loyalty.program WHERE code = 'job')) THEN
        RAISE EXCEPTION 'injected failure';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER regress_ly_job_fault BEFORE INSERT ON loyalty.points_entry
    FOR EACH ROW EXECUTE FUNCTION public.regress_ly_job_fault();
SET client_min_messages = warning;
\set VERBOSITY terse
CALL loyalty.run_expiry('2001-07-31', 1);
\set VERBOSITY sqlstate
RESET client_min_messages;
DROP TRIGGER regress_ly_job_fault ON loyalty.points_entry;
DROP FUNCTION public.regress_ly_job_fault();
SELECT job, as_of, state, batches, items, amount FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS running FROM loyalty.job_progress;
SELECT member, at, points FROM pg_temp.entries('expire') WHERE at > '2001-06-30';
SET client_min_messages = warning;
CALL loyalty.run_expiry('2001-07-31', 1);
RESET client_min_messages;
SELECT * FROM pg_temp.last_run;
SELECT member, at, points FROM pg_temp.entries('expire') WHERE at > '2001-06-30';
SELECT count(*) AS running FROM loyalty.job_progress;
SELECT check_name, ok FROM loyalty.verify('job') ORDER BY check_name;
