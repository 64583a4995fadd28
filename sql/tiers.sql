-- tiers: define_tier, tier, tier_for, tier_benefits, tier_history,
-- balance().tier_points and CALL loyalty.run_tier_review (SPEC sections 3, 5,
-- 8).  Programme codes of this suite: tiers_main, tiers_r12p, tiers_r12s,
-- tiers_late; tables tiers_orders, tiers_spend_orders; role tiers_clerk.
-- Everything happens in 2011-2012, a window no other suite uses.
-- run_tier_review reviews every tiered member of the database (other suites'
-- too), so its NOTICEs and job_runs counts are checked against what this
-- database holds, and this suite's members are shown by name.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

-- Messages name generated member ids: show this suite's members as <name>.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT m.member_id, m.external_id FROM loyalty.member m
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'tiers%' LOOP
        msg := regexp_replace(msg, 'member ' || r.member_id || '(?![0-9])', 'member <' || r.external_id || '>', 'g');
    END LOOP;
    RETURN msg;
END
$$;
-- Run one statement; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM);
END
$$;
-- Members of this suite: programme and external id.
CREATE FUNCTION pg_temp.m(prog text, ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member(prog, ext)
$$;
-- Tiers, tier history and audit rows, as one string: equal before and after
-- means nothing was written.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', program_id, code, rank, threshold, discount_pct,
                                                         earn_multiplier, benefits, defined_at), ',' ORDER BY program_id, code))
         FROM loyalty.tier),
        (SELECT count(*) FROM loyalty.tier_history),
        (SELECT count(*) FROM loyalty.audit_log),
        (SELECT sum(definitions_version) FROM loyalty.program))
$$;
-- A member's tier history, readable.
CREATE FUNCTION pg_temp.hist(prog text, ext text)
RETURNS TABLE(at timestamptz, from_tier text, to_tier text, qualifying bigint, reason text)
LANGUAGE sql AS $$
    SELECT * FROM loyalty.tier_history(pg_temp.m(prog, ext))
$$;
-- This suite's members: current tier (member row) and tier_points now.
CREATE VIEW pg_temp.members AS
SELECT p.code AS program, m.external_id AS member, m.tier, m.tier_since,
       (SELECT b.tier_points FROM loyalty.balance(m.member_id, '2013-01-01') b) AS tier_points_2013
FROM loyalty.member m JOIN loyalty.program p USING (program_id)
WHERE p.code LIKE 'tiers%';
-- The latest run, without its ids and clock times.
CREATE VIEW pg_temp.last_run AS
SELECT job, as_of, batch_size, state, single_transaction,
       finished_at IS NOT NULL AND finished_at >= started_at AS finished,
       run_by = current_user AS run_by_caller
FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1;
-- What a review must find in this database: members holding a tier or in a
-- programme with tiers (database-wide: other suites' members too).
CREATE VIEW pg_temp.reviewable AS
SELECT count(*) AS n FROM loyalty.member m
WHERE m.tier IS NOT NULL OR EXISTS (SELECT 1 FROM loyalty.tier t WHERE t.program_id = m.program_id);

SELECT loyalty.create_program('tiers_main', 'Tiers', 'CNY') IS NOT NULL AS created;
-- one point per 1.00 (100 minor units) of an order; a review earns 500
SELECT loyalty.define_earn_rule('tiers_main', 'base', '{"on":"order","per_amount":100,"points":1}') IS NOT NULL AS base_rule,
       loyalty.define_earn_rule('tiers_main', 'review', '{"on":"review","points":500}') IS NOT NULL AS review_rule;

-- The SPEC's example tiers --------------------------------------------------
SELECT loyalty.define_tier('tiers_main', 'junior', 1, 5000, 10) AS junior,
       loyalty.define_tier('tiers_main', 'intermediate', 2, 10000, 20, 2, '{"priority_service": true}') AS intermediate,
       loyalty.define_tier('tiers_main', 'senior', 3, 20000, 30, 2, '{"priority_service": true, "birthday_gift": true}') AS senior;
SELECT t.code, t.rank, t.threshold, t.discount_pct, t.earn_multiplier, t.benefits
FROM loyalty.tier t JOIN loyalty.program p USING (program_id)
WHERE p.code = 'tiers_main' ORDER BY t.rank;

-- define_tier: bad input.  Each an error with its SQLSTATE; nothing written.
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  ( 1, 'program NULL',          $q$SELECT loyalty.define_tier(NULL, 'gold', 4, 30000)$q$),
  ( 2, 'code NULL',             $q$SELECT loyalty.define_tier('tiers_main', NULL, 4, 30000)$q$),
  ( 3, 'rank NULL',             $q$SELECT loyalty.define_tier('tiers_main', 'gold', NULL, 30000)$q$),
  ( 4, 'threshold NULL',        $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, NULL)$q$),
  ( 5, 'discount_pct NULL',     $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, NULL)$q$),
  ( 6, 'earn_multiplier NULL',  $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 0, NULL)$q$),
  ( 7, 'benefits NULL',         $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 0, 1, NULL)$q$),
  ( 8, 'threshold -1',          $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, -1)$q$),
  ( 9, 'discount_pct 101',      $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 101)$q$),
  (10, 'discount_pct -1',       $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, -1)$q$),
  (11, 'discount_pct 100.01',   $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 100.01)$q$),
  (12, 'earn_multiplier 0',     $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 0, 0)$q$),
  (13, 'earn_multiplier -2',    $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 0, -2)$q$),
  (14, 'benefits an array',     $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 0, 1, '["gift"]')$q$),
  (15, 'benefits a string',     $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 30000, 0, 1, '"gift"')$q$),
  (16, 'rank taken',            $q$SELECT loyalty.define_tier('tiers_main', 'gold', 2, 15000)$q$),
  (17, 'threshold = lower',     $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 20000)$q$),
  (18, 'threshold < lower',     $q$SELECT loyalty.define_tier('tiers_main', 'gold', 4, 100)$q$),
  (19, 'threshold > higher',    $q$SELECT loyalty.define_tier('tiers_main', 'gold', 0, 6000)$q$),
  (20, 'redefine past next',    $q$SELECT loyalty.define_tier('tiers_main', 'junior', 1, 10000)$q$),
  (21, 'redefine onto a rank',  $q$SELECT loyalty.define_tier('tiers_main', 'junior', 3, 30000)$q$),
  (22, 'code empty',            $q$SELECT loyalty.define_tier('tiers_main', '', 4, 30000)$q$),
  (23, 'code with a space',     $q$SELECT loyalty.define_tier('tiers_main', 'gold tier', 4, 30000)$q$),
  (24, 'code starting with -',  $q$SELECT loyalty.define_tier('tiers_main', '-gold', 4, 30000)$q$),
  (25, 'unknown programme',     $q$SELECT loyalty.define_tier('tiers_nope', 'gold', 4, 30000)$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- tier_for: pure computation, thresholds inclusive; NULL below the lowest.
SELECT q AS qualifying, loyalty.tier_for('tiers_main', q) AS tier
FROM unnest(ARRAY[-1, 0, 4999, 5000, 9999, 10000, 19999, 20000, 1000000]::bigint[]) AS q;
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'program NULL',       $q$SELECT loyalty.tier_for(NULL, 5000)$q$),
  (2, 'qualifying NULL',    $q$SELECT loyalty.tier_for('tiers_main', NULL)$q$),
  (3, 'unknown programme',  $q$SELECT loyalty.tier_for('tiers_nope', 5000)$q$)
) AS t(n, test, sql) ORDER BY t.n;

-- Re-defining a tier updates it in place (same rank) and is audited with
-- the previous definition.
SELECT loyalty.define_tier('tiers_main', 'junior', 1, 5000, 10, 1, '{"free_shipping": true}') AS junior;
SELECT t.code, t.rank, t.threshold, t.discount_pct, t.earn_multiplier, t.benefits
FROM loyalty.tier t JOIN loyalty.program p USING (program_id)
WHERE p.code = 'tiers_main' ORDER BY t.rank;
SELECT a.action, a.object, a.role_name = current_user AS by_caller,
       a.detail->'benefits' AS benefits, a.detail->'previous'->>'code' AS previous_code,
       a.detail->'previous'->>'benefits' AS previous_benefits
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'tiers_main' AND a.action = 'define_tier' ORDER BY a.audit_id;

-- Upgrades through a tracked order table ------------------------------------
CREATE TABLE tiers_orders (id text PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('tiers_orders', 'tiers_main', 'customer', 'amount', 'status',
                            time_column => 'at') IS NOT NULL AS tracked;
SELECT loyalty.enroll('tiers_main', 'ann', '2011-01-01') IS NOT NULL AS ann;
-- o1 4000.00 paid: 4000 points pending, not qualifying: no tier.
INSERT INTO tiers_orders VALUES ('o1', 'ann', 400000, 'paid', '2011-01-10');
SELECT pending, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'ann'), '2011-01-11');
SELECT loyalty.tier(pg_temp.m('tiers_main', 'ann'), '2011-01-11') AS tier_jan11;
-- o1 completes: 4000 qualifying, still below junior.
UPDATE tiers_orders SET status = 'completed', at = '2011-01-12' WHERE id = 'o1';
SELECT pending, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'ann'), '2011-01-12');
SELECT loyalty.tier(pg_temp.m('tiers_main', 'ann'), '2011-01-12') AS tier_jan12;
-- o2 2000.00 paid and completed at once: 6000, junior at once.
INSERT INTO tiers_orders VALUES ('o2', 'ann', 200000, 'completed', '2011-01-15');
-- o3 5000.00 and o4 1000.00 paid while junior (x1): priced 5000 and 1000.
INSERT INTO tiers_orders VALUES ('o3', 'ann', 500000, 'paid', '2011-02-01'),
                                ('o4', 'ann', 100000, 'paid', '2011-02-02');
-- o3 completes: 11000, intermediate (x2) from now; o3 keeps its x1 price.
UPDATE tiers_orders SET status = 'completed', at = '2011-02-05' WHERE id = 'o3';
-- o5 1000.00 priced after the upgrade: x2 = 2000.
INSERT INTO tiers_orders VALUES ('o5', 'ann', 100000, 'completed', '2011-02-10');
-- o4 completes: its price (x1, 1000) holds.  Qualifying 4000+2000+5000+2000+1000.
UPDATE tiers_orders SET status = 'completed', at = '2011-02-12' WHERE id = 'o4';
SELECT o.order_id, o.state, o.amount, o.earned
FROM loyalty.order_state o WHERE o.member_id = pg_temp.m('tiers_main', 'ann') ORDER BY o.order_id;
SELECT available, pending, lifetime_earned, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'ann'), '2011-02-12');
-- tier(member, at) reads the history: before and after each change.
SELECT at, loyalty.tier(pg_temp.m('tiers_main', 'ann'), at) AS tier
FROM unnest(ARRAY['2011-01-01', '2011-01-14 23:59:59', '2011-01-15', '2011-02-04 23:59:59',
                  '2011-02-05', '2011-03-01']::timestamptz[]) AS at;
SELECT loyalty.tier(pg_temp.m('tiers_main', 'ann')) AS tier_now;
SELECT * FROM pg_temp.hist('tiers_main', 'ann');
-- tier_benefits: the tier at that instant and what it gives; none below.
SELECT * FROM loyalty.tier_benefits(pg_temp.m('tiers_main', 'ann'), '2011-01-14');
SELECT * FROM loyalty.tier_benefits(pg_temp.m('tiers_main', 'ann'), '2011-01-20');
SELECT * FROM loyalty.tier_benefits(pg_temp.m('tiers_main', 'ann'));

-- Upgrades through earn() and record_event() ---------------------------------
SELECT loyalty.enroll('tiers_main', 'bob', '2011-01-01') IS NOT NULL AS bob,
       loyalty.enroll('tiers_main', 'cat', '2011-01-01') IS NOT NULL AS cat;
-- bob: 6000 under a manual: source does not qualify; adjust does not either.
SELECT loyalty.earn(pg_temp.m('tiers_main', 'bob'), 6000, 'manual:goodwill', 'g1', at => '2011-03-01') IS NOT NULL AS earned_manual;
SELECT loyalty.adjust(pg_temp.m('tiers_main', 'bob'), 6000, 'correction', 'a1', at => '2011-03-01') IS NOT NULL AS adjusted;
SELECT available, lifetime_earned, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'bob'), '2011-03-01');
SELECT loyalty.tier(pg_temp.m('tiers_main', 'bob'), '2011-03-01') AS bob_tier;
-- bob: 5000 from the shop qualifies: junior at once.
SELECT loyalty.earn(pg_temp.m('tiers_main', 'bob'), 5000, 'shop', 's1', at => '2011-03-02') IS NOT NULL AS earned_shop;
SELECT available, lifetime_earned, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'bob'), '2011-03-02');
SELECT * FROM pg_temp.hist('tiers_main', 'bob');
-- cat: 4800 from the shop, then a review event (500): 5300, junior.
SELECT loyalty.earn(pg_temp.m('tiers_main', 'cat'), 4800, 'shop', 's1', at => '2011-03-01') IS NOT NULL AS earned;
SELECT loyalty.tier(pg_temp.m('tiers_main', 'cat'), '2011-03-01') AS cat_tier;
SELECT loyalty.record_event(pg_temp.m('tiers_main', 'cat'), 'review', 'r1', '2011-03-03') IS NOT NULL AS event_earned;
SELECT tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'cat'), '2011-03-03');
SELECT * FROM pg_temp.hist('tiers_main', 'cat');

-- tier, tier_benefits, tier_history: unknown member LY004, NULL 22004 --------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'tier unknown member',          $q$SELECT loyalty.tier(-1)$q$),
  (2, 'tier_benefits unknown member', $q$SELECT * FROM loyalty.tier_benefits(-1)$q$),
  (3, 'tier_history unknown member',  $q$SELECT * FROM loyalty.tier_history(-1)$q$),
  (4, 'tier member NULL',             $q$SELECT loyalty.tier(NULL)$q$),
  (5, 'tier_benefits member NULL',    $q$SELECT * FROM loyalty.tier_benefits(NULL)$q$),
  (6, 'tier_history member NULL',     $q$SELECT * FROM loyalty.tier_history(NULL)$q$),
  (7, 'tier at NULL',                 $q$SELECT loyalty.tier((SELECT loyalty.member('tiers_main', 'ann')), NULL)$q$)
) AS t(n, test, sql) ORDER BY t.n;

-- A refund lowers the total but never downgrades by itself ------------------
-- o3 (5000 points) refunded: ann's lifetime total 9000, below intermediate;
-- she stays intermediate until a review.
UPDATE tiers_orders SET status = 'refunded', at = '2011-04-01' WHERE id = 'o3';
SELECT lifetime_earned, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'ann'), '2011-04-01');
SELECT loyalty.tier(pg_temp.m('tiers_main', 'ann'), '2011-04-01') AS ann_tier;
-- ... and another qualifying order that leaves her below intermediate does
-- not downgrade her either (only run_tier_review downgrades).
INSERT INTO tiers_orders VALUES ('o6', 'ann', 10000, 'completed', '2011-04-02');
SELECT o.order_id, o.earned FROM loyalty.order_state o
WHERE o.member_id = pg_temp.m('tiers_main', 'ann') AND o.order_id = 'o6';
SELECT tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'ann'), '2011-04-02');
SELECT * FROM pg_temp.hist('tiers_main', 'ann');

-- tier_points under rolling_12m_points ---------------------------------------
SELECT loyalty.create_program('tiers_r12p', 'Tiers, rolling points', 'CNY',
                              '{"tier_basis": "rolling_12m_points"}') IS NOT NULL AS created;
SELECT loyalty.define_tier('tiers_r12p', 'junior', 1, 5000, 10) AS junior;
SELECT loyalty.enroll('tiers_r12p', 'dan', '2011-01-01') IS NOT NULL AS dan;
SELECT loyalty.earn(pg_temp.m('tiers_r12p', 'dan'), 3000, 'shop', 's1', at => '2011-03-01') IS NOT NULL AS s1,
       loyalty.earn(pg_temp.m('tiers_r12p', 'dan'), 4000, 'shop', 's2', at => '2011-05-01') IS NOT NULL AS s2;
-- 7000 within 12 months: junior since 2011-05-01.  On 2012-03-02 the March
-- 2011 points have left the window: 4000 (the tier stays until a review).
SELECT d::date AS at, b.lifetime_earned, b.tier_points
FROM unnest(ARRAY['2011-04-01', '2011-05-01', '2012-02-29', '2012-03-02', '2012-05-02']::timestamptz[]) AS d,
     loyalty.balance(pg_temp.m('tiers_r12p', 'dan'), d) AS b;
SELECT * FROM pg_temp.hist('tiers_r12p', 'dan');

-- tier_points under rolling_12m_spend ----------------------------------------
-- completed orders' amounts less partial refunds, completed in the 12 months.
SELECT loyalty.create_program('tiers_r12s', 'Tiers, rolling spend', 'CNY',
                              '{"tier_basis": "rolling_12m_spend"}') IS NOT NULL AS created;
SELECT loyalty.define_earn_rule('tiers_r12s', 'base', '{"on":"order","per_amount":100,"points":1}') IS NOT NULL AS base_rule;
-- silver from 1000.00 of spend, gold from 5000.00
SELECT loyalty.define_tier('tiers_r12s', 'silver', 1, 100000, 5) AS silver,
       loyalty.define_tier('tiers_r12s', 'gold', 2, 500000, 15) AS gold;
CREATE TABLE tiers_spend_orders (id text PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('tiers_spend_orders', 'tiers_r12s', 'customer', 'amount', 'status',
                            time_column => 'at') IS NOT NULL AS tracked;
-- eve is enrolled by her first order.  s1 3000.00 completed; s2 4000.00 paid
-- (does not count), then completed: 7000.00, gold.
INSERT INTO tiers_spend_orders VALUES ('s1', 'eve', 300000, 'completed', '2011-04-01'),
                                      ('s2', 'eve', 400000, 'paid', '2011-05-01');
SELECT tier_points FROM loyalty.balance(pg_temp.m('tiers_r12s', 'eve'), '2011-05-01');
SELECT loyalty.tier(pg_temp.m('tiers_r12s', 'eve'), '2011-05-01') AS eve_tier;
UPDATE tiers_spend_orders SET status = 'completed', at = '2011-05-03' WHERE id = 's2';
SELECT tier_points FROM loyalty.balance(pg_temp.m('tiers_r12s', 'eve'), '2011-05-03');
-- A partial refund of 2500.00 of s2: 4500.00 qualifying; eve stays gold
-- until a review.  (s2 earned 4000 points: 4000 - floor(4000 x 1500 / 4000)
-- = 2500 of them are reversed.)
SELECT loyalty.refund('tiers_spend_orders', 's2', 250000, 'rf1', '2011-05-10') AS points_reversed;
SELECT d::date AS at, b.tier_points
FROM unnest(ARRAY['2011-05-09', '2011-05-10', '2012-03-31', '2012-04-02', '2012-05-04']::timestamptz[]) AS d,
     loyalty.balance(pg_temp.m('tiers_r12s', 'eve'), d) AS b;
SELECT loyalty.tier(pg_temp.m('tiers_r12s', 'eve'), '2011-05-10') AS eve_tier;
SELECT * FROM pg_temp.hist('tiers_r12s', 'eve');

-- A member whose points predate the tiers ------------------------------------
-- fay earned 8000 before tiers_late had any tier: no event has re-evaluated
-- her, so only a review gives her junior.
SELECT loyalty.create_program('tiers_late', 'Tiers, defined late', 'CNY') IS NOT NULL AS created;
SELECT loyalty.enroll('tiers_late', 'fay', '2011-01-01') IS NOT NULL AS fay;
SELECT loyalty.earn(pg_temp.m('tiers_late', 'fay'), 8000, 'shop', 's1', at => '2011-01-05') IS NOT NULL AS earned;
SELECT loyalty.define_tier('tiers_late', 'junior', 1, 5000) AS junior;
SELECT loyalty.tier(pg_temp.m('tiers_late', 'fay'), '2011-06-01') AS fay_tier,
       (SELECT tier_points FROM loyalty.balance(pg_temp.m('tiers_late', 'fay'), '2011-06-01')) AS tier_points;

-- run_tier_review ------------------------------------------------------------
-- tiers_main keeps a reached tier 12 months.
SELECT loyalty.update_program('tiers_main', '{"retain_months": 12}');
SELECT program, member, tier, tier_since FROM pg_temp.members ORDER BY program, member;

-- Bad arguments and a caller who is not an administrator: an error, no run.
CREATE ROLE tiers_clerk;
GRANT loyalty_app TO tiers_clerk;
SELECT count(*) AS runs FROM loyalty.job_runs \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'as_of NULL',       $q$CALL loyalty.run_tier_review(NULL, 10)$q$),
  (2, 'batch_size NULL',  $q$CALL loyalty.run_tier_review('2011-06-01', NULL)$q$),
  (3, 'batch_size 0',     $q$CALL loyalty.run_tier_review('2011-06-01', 0)$q$),
  (4, 'batch_size -1',    $q$CALL loyalty.run_tier_review('2011-06-01', -1)$q$)
) AS t(n, test, sql) ORDER BY t.n;
-- (try() masks member ids by reading loyalty.member, which the clerk may
-- not: a plain variant.)
CREATE FUNCTION pg_temp.try_plain(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SET ROLE tiers_clerk;
SELECT pg_temp.try_plain($q$CALL loyalty.run_tier_review('2011-06-01', 10)$q$) AS not_admin;
RESET ROLE;
SELECT count(*) = :runs AS no_run_recorded FROM loyalty.job_runs;
SELECT program, member, tier, tier_since FROM pg_temp.members ORDER BY program, member;

-- Review as of 2011-06-01:
--   ann (9000, intermediate since 2011-02-05): held by retain_months;
--   eve (4500.00 of spend, gold): down to silver (tiers_r12s retains nothing);
--   fay (8000, no tier): up to junior;
--   bob, cat (junior), dan (7000, junior): unchanged.
SELECT max(change_id) AS last_change FROM loyalty.tier_history \gset
SELECT n AS reviewable FROM pg_temp.reviewable \gset
SET client_min_messages = warning;
CALL loyalty.run_tier_review('2011-06-01', 10000);
RESET client_min_messages;
SELECT *, (SELECT amount = :reviewable FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1) AS reviewed_all,
       (SELECT items = (SELECT count(*) FROM loyalty.tier_history WHERE change_id > :last_change)
        FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1) AS items_are_changes,
       (SELECT batches FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1) AS batches
FROM pg_temp.last_run;
SELECT program, member, tier, tier_since FROM pg_temp.members ORDER BY program, member;
SELECT p.code AS program, m.external_id AS member, h.at, h.from_tier, h.to_tier, h.qualifying, h.reason
FROM loyalty.tier_history h JOIN loyalty.member m USING (member_id) JOIN loyalty.program p USING (program_id)
WHERE h.change_id > :last_change AND p.code LIKE 'tiers%' ORDER BY p.code, m.external_id;
SELECT loyalty.tier(pg_temp.m('tiers_r12s', 'eve'), '2011-05-31') AS eve_may31,
       loyalty.tier(pg_temp.m('tiers_r12s', 'eve'), '2011-06-01') AS eve_jun1,
       loyalty.tier(pg_temp.m('tiers_late', 'fay'), '2011-05-31') AS fay_may31,
       loyalty.tier(pg_temp.m('tiers_late', 'fay'), '2011-06-01') AS fay_jun1;

-- Idempotent: the same review again changes nothing, anywhere.
SELECT max(change_id) AS last_change FROM loyalty.tier_history \gset
SET client_min_messages = warning;
CALL loyalty.run_tier_review('2011-06-01', 10000);
RESET client_min_messages;
SELECT *, (SELECT items FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1) AS items,
       (SELECT count(*) FROM loyalty.tier_history WHERE change_id > :last_change) AS new_history_rows
FROM pg_temp.last_run;

-- Review as of 2012-03-15, one member per batch:
--   ann: retain_months are over (2012-02-05): down to junior (9000 + 100);
--   dan: the March 2011 points left the window: 4000, no tier;
--   eve: 4500.00 within 12 months still: silver.
SELECT max(change_id) AS last_change FROM loyalty.tier_history \gset
SELECT n AS reviewable FROM pg_temp.reviewable \gset
SET client_min_messages = warning;
CALL loyalty.run_tier_review('2012-03-15', 1);
RESET client_min_messages;
SELECT *, (SELECT amount = :reviewable AND batches = amount FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1) AS one_member_per_batch,
       (SELECT items = (SELECT count(*) FROM loyalty.tier_history WHERE change_id > :last_change)
        FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1) AS items_are_changes
FROM pg_temp.last_run;
SELECT p.code AS program, m.external_id AS member, h.at, h.from_tier, h.to_tier, h.qualifying, h.reason
FROM loyalty.tier_history h JOIN loyalty.member m USING (member_id) JOIN loyalty.program p USING (program_id)
WHERE h.change_id > :last_change AND p.code LIKE 'tiers%' ORDER BY p.code, m.external_id;
SELECT program, member, tier, tier_since FROM pg_temp.members ORDER BY program, member;
SELECT * FROM pg_temp.hist('tiers_main', 'ann');
SELECT loyalty.tier(pg_temp.m('tiers_main', 'ann'), '2012-03-14') AS ann_mar14,
       loyalty.tier(pg_temp.m('tiers_main', 'ann'), '2012-03-15') AS ann_mar15;

-- bob's shop points reversed: his total drops to 0, he stays junior.
SELECT loyalty.reverse(pg_temp.m('tiers_main', 'bob'), 'shop', 's1', at => '2012-04-01') IS NOT NULL AS reversed;
SELECT lifetime_earned, tier_points FROM loyalty.balance(pg_temp.m('tiers_main', 'bob'), '2012-04-01');
SELECT loyalty.tier(pg_temp.m('tiers_main', 'bob'), '2012-04-01') AS bob_tier;

-- Inside a transaction block the review cannot commit: it says so.  (The
-- run is stopped right after that NOTICE by a fault injected into its
-- job_runs insert: the NOTICEs that follow count the whole database's
-- members.)
CREATE FUNCTION public.tiers_stop_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tiers: stopped after the NOTICE';
END
$$;
CREATE TRIGGER tiers_stop_job BEFORE INSERT ON loyalty.job_run
    FOR EACH ROW EXECUTE FUNCTION public.tiers_stop_job();
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN;
CALL loyalty.run_tier_review('2012-06-01', 10);
ROLLBACK;
\set VERBOSITY sqlstate
\set SHOW_CONTEXT errors
DROP TRIGGER tiers_stop_job ON loyalty.job_run;
DROP FUNCTION public.tiers_stop_job();

-- All of it in the caller's transaction: rolled back, nothing stays.
SELECT count(*) AS runs FROM loyalty.job_runs \gset
BEGIN;
SET LOCAL client_min_messages = warning;
CALL loyalty.run_tier_review('2012-06-01', 1);
SELECT * FROM pg_temp.last_run;
SELECT loyalty.tier(pg_temp.m('tiers_main', 'bob'), '2012-06-01') AS bob_tier_in_transaction;
ROLLBACK;
SELECT count(*) = :runs AS no_run_kept FROM loyalty.job_runs;
SELECT loyalty.tier(pg_temp.m('tiers_main', 'bob'), '2012-06-01') AS bob_tier_after_rollback;
-- ... committed: bob is down to no tier.
BEGIN;
SET LOCAL client_min_messages = warning;
CALL loyalty.run_tier_review('2012-06-01', 1);
COMMIT;
SELECT * FROM pg_temp.last_run;
SELECT * FROM pg_temp.hist('tiers_main', 'bob');
SELECT * FROM loyalty.tier_benefits(pg_temp.m('tiers_main', 'bob'), '2012-06-01');
SELECT program, member, tier, tier_since, tier_points_2013 FROM pg_temp.members ORDER BY program, member;
SELECT check_name, ok FROM loyalty.verify('tiers_main') ORDER BY check_name;

DROP ROLE tiers_clerk;
