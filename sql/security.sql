-- security: the three roles, the trampoline's caller, search_path attacks
-- (SPEC section 10).  Programme codes of this suite: sec, sec-admin.
-- Its instants are in 2003 so that its run_expiry finds no other suite's lots.
SET timezone = 'UTC';
\set VERBOSITY sqlstate

-- Run one statement as the current role; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

CREATE ROLE regress_ly_app IN ROLE loyalty_app;
CREATE ROLE regress_ly_admin IN ROLE loyalty_admin;
CREATE ROLE regress_ly_reader IN ROLE loyalty_reader;
CREATE ROLE regress_ly_nobody;

SELECT loyalty.create_program('sec', 'Security', 'CNY') IS NOT NULL AS created;
SELECT loyalty.enroll('sec', 'm1', '2003-01-01') AS m1 \gset
SELECT loyalty.enroll('sec', 'm2', '2003-01-01') AS m2 \gset
SELECT loyalty.earn(:m1, 100, 'shop', 'o1', expires_at => '2003-03-01', at => '2003-01-10') IS NOT NULL AS earned;

-- loyalty_app -------------------------------------------------------------------
SET ROLE regress_ly_app;
-- what application code calls
SELECT loyalty.enroll('sec', 'm3', '2003-01-02') IS NOT NULL AS enrolled;
SELECT loyalty.member('sec', 'm3') = loyalty.enroll('sec', 'm3', '2003-01-02') AS same_member;
SELECT loyalty.earn(:m1, 50, 'shop', 'o2', at => '2003-01-11') IS NOT NULL AS earned;
SELECT loyalty.spend(:m1, 30, 'shop', 'o3', at => '2003-01-12') IS NOT NULL AS spent;
SELECT loyalty.points(:m1, '2003-01-12') AS points;
SELECT available, pending, expiring_30d, lifetime_earned, debt FROM loyalty.balance(:m1, '2003-01-12');
SELECT operation, points, source, ref FROM loyalty.history(:m1) ORDER BY entry;
SELECT loyalty.reverse(:m1, 'shop', 'o3', at => '2003-01-13') IS NOT NULL AS reversed;
SELECT loyalty.transfer_points(:m1, :m2, 10, 'gift', at => '2003-01-13') IS NOT NULL AS transferred;
SELECT loyalty.points(:m1, '2003-01-13') AS m1_points, loyalty.points(:m2, '2003-01-13') AS m2_points;
SELECT pg_temp.try(format('SELECT loyalty.tag_member(%s, %L)', :m1, 'vip')) AS tag,
       pg_temp.try(format('SELECT loyalty.untag_member(%s, %L)', :m1, 'vip')) AS untag;
-- what it may not do
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'INSERT points_entry', format($q$INSERT INTO loyalty.points_entry (member_id, entry_id, at, operation, points, source, ref) VALUES (%s, -1, '2003-01-13', 'earn', 1000, 'x', 'y')$q$, :m1)),
  (2, 'UPDATE member',       $q$UPDATE loyalty.member SET booked = booked + 1000$q$),
  (3, 'DELETE points_lot',   $q$DELETE FROM loyalty.points_lot$q$),
  (4, 'UPDATE points_lot',   $q$UPDATE loyalty.points_lot SET remaining = points$q$),
  (5, 'DELETE member',       $q$DELETE FROM loyalty.member$q$),
  (6, 'INSERT program',      $q$INSERT INTO loyalty.program (code, name, currency, settings) VALUES ('x', 'x', 'CNY', '{}')$q$),
  (7, 'TRUNCATE points_entry', $q$TRUNCATE loyalty.points_entry$q$),
  (8, 'SELECT member',       $q$SELECT * FROM loyalty.member$q$),
  (9, 'SELECT audit_log',    $q$SELECT * FROM loyalty.audit_log$q$),
  (10, 'nextval entry ids',  $q$SELECT nextval('loyalty.entry_id_seq')$q$),
  (11, 'adjust',             format($q$SELECT loyalty.adjust(%s, 1000, 'gift', 'app', at => '2003-01-13')$q$, :m1)),
  (12, 'create_program',     $q$SELECT loyalty.create_program('sec-app', 'x')$q$),
  (13, 'update_program',     $q$SELECT loyalty.update_program('sec', '{"pending_days": 1}')$q$),
  (14, 'verify',             $q$SELECT * FROM loyalty.verify('sec')$q$),
  (15, 'run_expiry',         $q$CALL loyalty.run_expiry('2003-04-01', 10)$q$),
  (16, 'points_daily',       $q$SELECT * FROM loyalty.points_daily$q$),
  (17, 'points_liability',   $q$SELECT * FROM loyalty.points_liability$q$),
  (18, 'job_runs',           $q$SELECT * FROM loyalty.job_runs$q$),
  (19, '_create_program with a forged caller', $q$SELECT loyalty._create_program(10, 'sec-forged', 'x', 'CNY', '{}')$q$),
  (20, '_update_program',    $q$SELECT loyalty._update_program(10, 'sec', '{"pending_days": 1}')$q$),
  (21, '_audit',             $q$SELECT loyalty._audit(10, NULL, 'forged', NULL, '{}')$q$),
  (22, '_program_row',       $q$SELECT loyalty._program_row('sec'::text)$q$),
  (23, '_history',           format($q$SELECT * FROM loyalty._history(10, %s, NULL, 10)$q$, :m1)),
  (24, '_verify',            $q$SELECT * FROM loyalty._verify(10, NULL)$q$),
  (25, '_settings_merge',    $q$SELECT loyalty._settings_merge('{}', '{}')$q$),
  (26, 'a C function on the trampoline', $q$CREATE FUNCTION pg_temp.create_program(code text, name text, currency text, settings jsonb) RETURNS bigint LANGUAGE C AS '$libdir/loyalty', 'ly_call_internal'$q$)
) AS t(n, test, sql) ORDER BY t.n;
RESET ROLE;

-- loyalty_admin -----------------------------------------------------------------
SET ROLE regress_ly_admin;
SELECT loyalty.create_program('sec-admin', 'Admin''s', 'EUR', '{"timezone": "Europe/Paris"}') IS NOT NULL AS created;
SELECT loyalty.update_program('sec-admin', '{"pending_days": 7}');
SELECT loyalty.adjust(:m1, 25, 'goodwill', 'ticket-1', at => '2003-01-14') IS NOT NULL AS adjusted;
SELECT loyalty.adjust(:m1, -5, 'goodwill', 'ticket-2', at => '2003-01-14') IS NOT NULL AS adjusted;
SELECT loyalty.points(:m1, '2003-01-14') AS m1_points;
SELECT check_name, ok FROM loyalty.verify('sec') ORDER BY check_name;
SET client_min_messages = warning;   -- run_expiry's NOTICEs carry a rate
CALL loyalty.run_expiry('2003-04-01', 10);
RESET client_min_messages;
SELECT count(*) AS running_jobs FROM loyalty.job_progress;
SELECT count(*) > 0 AS reads_audit_log FROM loyalty.audit_log;
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'INSERT points_entry', format($q$INSERT INTO loyalty.points_entry (member_id, entry_id, at, operation, points, source, ref) VALUES (%s, -1, '2003-01-13', 'earn', 1000, 'x', 'y')$q$, :m1)),
  (2, 'UPDATE program',      $q$UPDATE loyalty.program SET settings = '{}'$q$),
  (3, 'DELETE audit_log',    $q$DELETE FROM loyalty.audit_log$q$),
  (4, 'UPDATE job_run',      $q$UPDATE loyalty.job_run SET state = 'failed'$q$),
  (5, 'SELECT member',       $q$SELECT * FROM loyalty.member$q$),
  (6, '_create_program',     $q$SELECT loyalty._create_program(10, 'sec-forged', 'x', 'CNY', '{}')$q$)
) AS t(n, test, sql) ORDER BY t.n;
RESET ROLE;

-- The audit log and job_runs name the calling role (the trampoline of
-- src/api.c and the C bracket pass it), never the extension's owner.
SELECT CASE WHEN a.role_name = current_user THEN '(superuser)' ELSE a.role_name END AS role_name,
       a.action, CASE WHEN a.object = 'member ' || :m1 THEN 'member m1' ELSE a.object END AS object, a.detail -> 'after' -> 'pending_days' AS pending_days_after,
       a.detail -> 'delta' AS delta
FROM loyalty.audit_log a
WHERE a.program_id IN (SELECT program_id FROM loyalty.program WHERE code IN ('sec', 'sec-admin'))
ORDER BY a.audit_id;
SELECT run_by, state, single_transaction, items, amount
FROM loyalty.job_runs WHERE as_of = '2003-04-01' ORDER BY run_id;

-- loyalty_reader ----------------------------------------------------------------
SET ROLE regress_ly_reader;
SELECT to_char(day, 'YYYY-MM-DD') AS day, earned, spent, expired, reversed, adjusted FROM loyalty.points_daily
WHERE program = 'sec' ORDER BY day;
SELECT program, outstanding_points FROM loyalty.points_liability WHERE program = 'sec';
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'earn',            format($q$SELECT loyalty.earn(%s, 10, 'shop', 'r1', at => '2003-01-15')$q$, :m1)),
  (2, 'points',          format($q$SELECT loyalty.points(%s, '2003-01-15')$q$, :m1)),
  (3, 'enroll',          $q$SELECT loyalty.enroll('sec', 'r1', '2003-01-15')$q$),
  (4, 'member',          $q$SELECT loyalty.member('sec', 'm1')$q$),
  (5, 'SELECT member',   $q$SELECT * FROM loyalty.member$q$),
  (6, 'SELECT points_entry', $q$SELECT * FROM loyalty.points_entry$q$),
  (7, 'job_runs',        $q$SELECT * FROM loyalty.job_runs$q$),
  (8, 'job_progress',    $q$SELECT * FROM loyalty.job_progress$q$),
  (9, 'INSERT points_entry', format($q$INSERT INTO loyalty.points_entry (member_id, entry_id, at, operation, points, source, ref) VALUES (%s, -1, '2003-01-13', 'earn', 1000, 'x', 'y')$q$, :m1))
) AS t(n, test, sql) ORDER BY t.n;
RESET ROLE;

-- no grant at all -----------------------------------------------------------------
SET ROLE regress_ly_nobody;
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'points_daily',    $q$SELECT * FROM loyalty.points_daily$q$),
  (2, 'points_liability', $q$SELECT * FROM loyalty.points_liability$q$),
  (3, 'earn',            format($q$SELECT loyalty.earn(%s, 10, 'shop', 'n1', at => '2003-01-15')$q$, :m1)),
  (4, 'points',          format($q$SELECT loyalty.points(%s, '2003-01-15')$q$, :m1)),
  (5, 'enroll',          $q$SELECT loyalty.enroll('sec', 'n1', '2003-01-15')$q$),
  (6, 'create_program',  $q$SELECT loyalty.create_program('sec-nobody', 'x')$q$),
  (7, 'default_settings', $q$SELECT loyalty.default_settings()$q$),
  (8, 'SELECT program',  $q$SELECT * FROM loyalty.program$q$)
) AS t(n, test, sql) ORDER BY t.n;
RESET ROLE;

-- search_path attack: the application role puts its own schema first, with
-- an "=" that is always true, a "+" that returns 0, a now() from 2000 and
-- empty tables named like the extension's.  The API must not use any of it.
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_ly_app', current_database()); END $$;
SET ROLE regress_ly_app;
CREATE SCHEMA regress_ly_evil;
CREATE FUNCTION regress_ly_evil.always(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_ly_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_ly_evil.always);
CREATE FUNCTION regress_ly_evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_ly_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_ly_evil.always);
CREATE FUNCTION regress_ly_evil.zero(bigint, bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE OPERATOR regress_ly_evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_ly_evil.zero);
CREATE FUNCTION regress_ly_evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01 00:00+00'::timestamptz$$;
CREATE FUNCTION regress_ly_evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $$SELECT 'object'$$;
CREATE FUNCTION regress_ly_evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE TABLE regress_ly_evil.program (program_id bigint, code text, settings jsonb);
CREATE TABLE regress_ly_evil.member (member_id bigint, program_id bigint, booked bigint);
CREATE TABLE regress_ly_evil.points_entry (member_id bigint, entry_id bigint, points bigint);
CREATE TABLE regress_ly_evil.points_lot (member_id bigint, lot_id bigint, remaining bigint);
CREATE TABLE regress_ly_evil.loyalty_fake (x int);
CREATE TEMP TABLE pg_timezone_names (name text);
CREATE TEMP TABLE customer_key (external_id text, program_id bigint, member_id bigint);
SET search_path = regress_ly_evil, pg_catalog, pg_temp;
SELECT now() = '2000-01-01 00:00+00' AS own_queries_see_the_shadow;
SELECT loyalty.enroll('sec', 'm4', '2003-01-02') IS NOT NULL AS enrolled;
SELECT loyalty.member('sec', 'm4') = loyalty.enroll('sec', 'm4', '2003-01-02') AS found,
       loyalty.member('sec', 'nobody') IS NULL AS unknown_is_null;
SELECT loyalty.earn(loyalty.member('sec', 'm4'), 70, 'shop', 'e1', at => '2003-01-15') IS NOT NULL AS earned;
SELECT pg_temp.try(format($q$SELECT loyalty.spend(%s, 71, 'shop', 's1', at => '2003-01-15')$q$,
                          loyalty.member('sec', 'm4'))) ~ '^LY001' AS overspend_refused;
SELECT loyalty.spend(loyalty.member('sec', 'm4'), 20, 'shop', 's1', at => '2003-01-15') IS NOT NULL AS spent;
SELECT loyalty.points(loyalty.member('sec', 'm4'), '2003-01-15') AS m4_points;
SELECT available, pending, lifetime_earned FROM loyalty.balance(loyalty.member('sec', 'm4'), '2003-01-15');
SELECT operation, points, source, ref FROM loyalty.history(loyalty.member('sec', 'm4')) ORDER BY entry;
SELECT pg_temp.try($q$SELECT loyalty.enroll('sec', 'm5', '2003-01-02', NULL, '[1]')$q$) AS attrs_still_checked;
RESET search_path;
SELECT count(*) AS shadow_rows
FROM (SELECT 1 FROM regress_ly_evil.program UNION ALL SELECT 1 FROM regress_ly_evil.member
      UNION ALL SELECT 1 FROM regress_ly_evil.points_entry UNION ALL SELECT 1 FROM regress_ly_evil.points_lot
      UNION ALL SELECT 1 FROM pg_temp.customer_key) s;
RESET ROLE;
SELECT check_name, ok FROM loyalty.verify('sec') ORDER BY check_name;

-- An administrator must not run code as the extension's owner: verify()
-- fills a temporary table; one the caller made beforehand, with a trigger,
-- must not be used (or its trigger would run with the owner's rights).
SET ROLE regress_ly_admin;
CREATE TEMP TABLE loyalty_verify_members (member_id bigint PRIMARY KEY);
CREATE TEMP TABLE seen (who name);
CREATE FUNCTION pg_temp.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pg_temp.seen VALUES (current_user);
    RETURN NEW;
END
$$;
CREATE TRIGGER spy BEFORE INSERT ON pg_temp.loyalty_verify_members
    FOR EACH ROW EXECUTE FUNCTION pg_temp.spy();
SET client_min_messages = warning;
DO $$ BEGIN PERFORM * FROM loyalty.verify('sec'); EXCEPTION WHEN OTHERS THEN NULL; END $$;
RESET client_min_messages;
SELECT count(*) FILTER (WHERE who <> 'regress_ly_admin') = 0 AS no_code_ran_as_another_role FROM pg_temp.seen;
DROP TABLE pg_temp.loyalty_verify_members, pg_temp.seen;
RESET ROLE;

-- clean up
DROP OWNED BY regress_ly_app, regress_ly_admin, regress_ly_reader, regress_ly_nobody;
DROP ROLE regress_ly_app, regress_ly_admin, regress_ly_reader, regress_ly_nobody;
SELECT count(*) AS regress_roles_left FROM pg_roles WHERE rolname LIKE 'regress\_ly\_%';
