-- rewards: the points mall of SPEC section 8 (add_reward, redeem_reward,
-- cancel_redemption), its tiers (section 5), its bad inputs, the
-- reward_redemptions_daily view (section 9) and verify()'s stock check
-- (section 10).  Every call takes an explicit `at`; ids are never shown.
-- Programmes: rwd, rwd_other.  Role: rwd_app.
SET timezone = 'Asia/Shanghai';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(loyalty.member('rwd', ext), loyalty.member('rwd_other', ext))
$$;

-- A redemption of this suite by member and ref.
CREATE FUNCTION pg_temp.r(ext text, r text) RETURNS bigint LANGUAGE sql AS $$
    SELECT d.redemption_id FROM loyalty.reward_redemption d WHERE d.member_id = pg_temp.m(ext) AND d.ref = r
$$;

-- Messages name ids: members as <external id>, redemptions as <external id>/<ref>.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT m.member_id, m.external_id FROM loyalty.member m
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'rwd%' LOOP
        msg := regexp_replace(msg, '(member )' || r.member_id || '(?![0-9])', '\1<' || r.external_id || '>', 'g');
    END LOOP;
    FOR r IN SELECT d.redemption_id, m.external_id, d.ref FROM loyalty.reward_redemption d
             JOIN loyalty.member m USING (member_id) JOIN loyalty.program p ON p.program_id = m.program_id
             WHERE p.code LIKE 'rwd%' LOOP
        msg := regexp_replace(msg, '([Rr]edemption )' || r.redemption_id || '(?![0-9])',
                              '\1<' || r.external_id || '/' || r.ref || '>', 'g');
    END LOOP;
    RETURN msg;
END
$$;

-- Run one statement; say 'ok' or 'SQLSTATE: message' (and the detail, if any).
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM)
        || CASE WHEN detail <> '' THEN ' (' || pg_temp.mask(detail) || ')' ELSE '' END;
END
$$;

-- The same for roles that cannot read loyalty's tables (nothing masked).
CREATE FUNCTION pg_temp.try_raw(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- The mall of programme rwd.
CREATE FUNCTION pg_temp.mall()
RETURNS TABLE(sku text, name text, points_cost bigint, stock bigint, redeemed bigint, left_to_sell bigint, min_tier text)
LANGUAGE sql AS $$
    SELECT x.sku, x.name, x.points_cost, x.stock, x.redeemed, x.stock - x.redeemed, x.min_tier
    FROM loyalty.reward x JOIN loyalty.program p USING (program_id) WHERE p.code = 'rwd' ORDER BY x.sku
$$;

-- The redemptions of programme rwd, oldest first.
CREATE FUNCTION pg_temp.redemptions()
RETURNS TABLE(member text, sku text, qty int, points bigint, ref text, state text, at timestamptz,
              cancelled_at timestamptz)
LANGUAGE sql AS $$
    SELECT m.external_id, x.sku, d.qty, d.points, d.ref, d.state, d.at, d.cancelled_at
    FROM loyalty.reward_redemption d JOIN loyalty.reward x USING (reward_id) JOIN loyalty.member m USING (member_id)
    JOIN loyalty.program p ON p.program_id = d.program_id WHERE p.code = 'rwd' ORDER BY d.redemption_id
$$;

-- A member's points, tier and debt at an instant.
CREATE FUNCTION pg_temp.pts(ext text, at timestamptz)
RETURNS TABLE(member text, at timestamptz, points bigint, tier text, lifetime_earned bigint, debt bigint)
LANGUAGE sql AS $$
    SELECT ext, at, loyalty.points(pg_temp.m(ext), at), loyalty.tier(pg_temp.m(ext), at), b.lifetime_earned, b.debt
    FROM loyalty.balance(pg_temp.m(ext), at) b
$$;

-- Everything the mall and the points ledger store, as one string: equal
-- before and after means nothing was written.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', reward_id, program_id, sku, name, points_cost, stock,
                    redeemed, min_tier, defined_at), ',' ORDER BY reward_id)) FROM loyalty.reward),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', member_id, redemption_id, reward_id, qty, points, ref,
                    state, at, cancelled_at), ',' ORDER BY redemption_id)) FROM loyalty.reward_redemption),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', member_id, booked, debt, lifetime_earned),
                    ',' ORDER BY member_id)) FROM loyalty.member),
        (SELECT count(*) FROM loyalty.points_entry),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', lot_id, remaining), ',' ORDER BY lot_id)) FROM loyalty.points_lot),
        (SELECT count(*) FROM loyalty.audit_log))
$$;

-- 1. A programme with tiers, members, points ---------------------------------------------------
SELECT loyalty.create_program('rwd', 'Rewards: Shanghai mall', 'CNY', '{"timezone": "Asia/Shanghai"}') > 0 AS created,
       loyalty.create_program('rwd_other', 'Rewards: another programme', 'CNY') > 0 AS created_other;
SELECT loyalty.define_tier('rwd', 'silver', 1, 1000) > 0 AS silver,
       loyalty.define_tier('rwd', 'gold', 2, 5000) > 0 AS gold,
       loyalty.define_tier('rwd_other', 'platinum', 1, 100) > 0 AS other_platinum;
SELECT loyalty.enroll('rwd', 'alice', '2026-01-01') > 0 AS alice,
       loyalty.enroll('rwd', 'bob', '2026-01-01') > 0 AS bob,
       loyalty.enroll('rwd', 'carol', '2026-01-01') > 0 AS carol,
       loyalty.enroll('rwd_other', 'dora', '2026-01-01') > 0 AS dora;
SELECT loyalty.earn(pg_temp.m('alice'), 1500, 'shop', 'rwd-e1', at => '2026-02-01 10:00') > 0 AS alice_earned,
       loyalty.earn(pg_temp.m('bob'), 2000, 'shop', 'rwd-e2', at => '2026-02-01 10:00') > 0 AS bob_earned,
       loyalty.earn(pg_temp.m('carol'), 500, 'shop', 'rwd-e3', at => '2026-02-01 10:00') > 0 AS carol_earned,
       loyalty.earn(pg_temp.m('dora'), 5000, 'shop', 'rwd-e4', at => '2026-02-01 10:00') > 0 AS dora_earned;
SELECT p.* FROM unnest(ARRAY['alice', 'bob', 'carol']) n, pg_temp.pts(n, '2026-02-01 10:00') p;

-- 2. add_reward ---------------------------------------------------------------------------------
SELECT loyalty.add_reward('rwd', 'mug', 'Coffee mug', 300, 10) > 0 AS mug,
       loyalty.add_reward('rwd', 'tote', 'Tote bag', 1000) > 0 AS tote_unlimited,
       loyalty.add_reward('rwd', 'socks', 'Silver socks', 100, 2, 'silver') > 0 AS socks,
       loyalty.add_reward('rwd', 'lounge', 'Lounge pass', 1200, 5, 'gold') > 0 AS lounge,
       loyalty.add_reward('rwd', 'poster', 'Sold-out poster', 50, 0) > 0 AS poster,
       loyalty.add_reward('rwd', 'yacht', 'A yacht', 5000000000000000000) > 0 AS yacht,
       loyalty.add_reward('rwd_other', 'mug', 'Other programme''s mug', 10, 100) > 0 AS other_mug;
SELECT * FROM pg_temp.mall();
-- audited
SELECT a.action, a.object, a.detail - 'reward' AS detail
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'rwd' AND a.action = 'add_reward' ORDER BY a.audit_id;

-- 3. redeem_reward: spends points, takes stock ------------------------------------------------------
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 2, 'rwd-r1', '2026-02-10 10:00') = pg_temp.r('alice', 'rwd-r1') AS redeemed;
SELECT * FROM pg_temp.redemptions();
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku = 'mug';
SELECT p.* FROM unnest(ARRAY['2026-02-10 09:59:59', '2026-02-10 10:00']::timestamptz[]) t, pg_temp.pts('alice', t) p;
SELECT operation, points, source, ref FROM loyalty.history(pg_temp.m('alice')) ORDER BY entry;
-- a retry (same member, ref, sku, qty) returns the first redemption and changes nothing
SELECT pg_temp.fingerprint() AS fp \gset
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 2, 'rwd-r1', '2026-02-10 11:00') = pg_temp.r('alice', 'rwd-r1') AS retry_same;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the same ref with another qty or sku is an error naming the field
SELECT pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 3, 'rwd-r1', '2026-02-10 11:00')$q$) AS other_qty,
       pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'tote', 2, 'rwd-r1', '2026-02-10 11:00')$q$) AS other_sku;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the ref is the member's: bob may use the same one
SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'mug', 1, 'rwd-r1', '2026-02-10 12:00') = pg_temp.r('bob', 'rwd-r1') AS bob_same_ref;
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku = 'mug';
SELECT p.* FROM pg_temp.pts('bob', '2026-02-10 12:00') p;

-- 4. min_tier --------------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('carol'), 'socks', 1, 'rwd-r2', '2026-02-11 10:00')$q$) AS carol_no_tier,
       pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'lounge', 1, 'rwd-r3', '2026-02-11 10:00')$q$) AS bob_silver,
       pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'lounge', 1, 'rwd-r4', '2026-02-11 10:00')$q$) AS alice_silver;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- a tier at or above min_tier may
SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'socks', 1, 'rwd-r5', '2026-02-11 11:00') > 0 AS bob_socks;
-- alice reaches gold on 2026-03-01: from then on she may buy the lounge pass (and silver's socks)
SELECT loyalty.earn(pg_temp.m('alice'), 5000, 'shop', 'rwd-e5', at => '2026-03-01 10:00') > 0 AS alice_earned;
SELECT p.* FROM unnest(ARRAY['2026-03-01 09:59:59', '2026-03-01 10:00']::timestamptz[]) t, pg_temp.pts('alice', t) p;
SELECT pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'lounge', 1, 'rwd-r4', '2026-03-01 09:59:59')$q$) AS before_gold;
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'lounge', 1, 'rwd-r4', '2026-03-01 10:00') > 0 AS at_gold,
       loyalty.redeem_reward(pg_temp.m('alice'), 'socks', 1, 'rwd-r6', '2026-03-01 10:00') > 0 AS gold_buys_silver;

-- 5. stock ---------------------------------------------------------------------------------------
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku IN ('mug', 'socks', 'poster') ORDER BY sku;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'socks', 1, 'rwd-r7', '2026-03-02 10:00')$q$) AS socks_gone,
       pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 8, 'rwd-r7', '2026-03-02 10:00')$q$) AS mug_8_of_7,
       pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('carol'), 'poster', 1, 'rwd-r7', '2026-03-02 10:00')$q$) AS poster_stock_0;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the last 7 mugs in one redemption
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 7, 'rwd-r8', '2026-03-02 11:00') > 0 AS last_mugs;
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku = 'mug';
-- not enough points: the spend refuses, no stock is taken
SELECT p.points AS carol_points FROM pg_temp.pts('carol', '2026-03-02 12:00') p;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('carol'), 'tote', 1, 'rwd-r9', '2026-03-02 12:00')$q$) AS carol_tote;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- an unlimited reward: 1 tote for bob (1000 of his 1600)
SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', 1, 'rwd-r10', '2026-03-02 12:00') > 0 AS bob_tote;
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku = 'tote';
SELECT p.* FROM pg_temp.pts('bob', '2026-03-02 12:00') p;

-- 6. cancel_redemption: restocks and gives the points back (never cash) -----------------------
SELECT p.points AS alice_before FROM pg_temp.pts('alice', '2026-03-03 09:00') p \gset
SELECT loyalty.cancel_redemption(pg_temp.r('alice', 'rwd-r8'), '2026-03-03 10:00');
SELECT * FROM pg_temp.redemptions() WHERE ref = 'rwd-r8';
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku = 'mug';
SELECT p.points - :alice_before AS alice_points_back FROM pg_temp.pts('alice', '2026-03-03 10:00') p;
SELECT operation, points, source, ref FROM loyalty.history(pg_temp.m('alice'), '2026-03-02 00:00') ORDER BY entry;
-- no wallet money moved
SELECT count(*) AS wallet_transfers FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id) WHERE p.code = 'rwd';
-- twice: LY030; the stock is not given back twice
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try(format('SELECT loyalty.cancel_redemption(%s, %L)', pg_temp.r('alice', 'rwd-r8'), '2026-03-03 11:00')) AS cancel_twice;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- a retry of the cancelled redemption returns it; it takes nothing again
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 7, 'rwd-r8', '2026-03-03 12:00') = pg_temp.r('alice', 'rwd-r8') AS retry_cancelled;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- a new ref buys the restocked mugs again
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'mug', 3, 'rwd-r11', '2026-03-03 12:00') > 0 AS mugs_again;
SELECT sku, stock, redeemed, left_to_sell FROM pg_temp.mall() WHERE sku = 'mug';

-- 7. redefining a sku: the same reward, new terms for later redemptions ------------------------------
-- stock is what is left to sell from now on: 20 more, whatever was taken before
SELECT loyalty.add_reward('rwd', 'mug', 'Coffee mug, large', 350, 20) = (SELECT reward_id FROM loyalty.reward x
       JOIN loyalty.program p USING (program_id) WHERE p.code = 'rwd' AND x.sku = 'mug') AS same_reward;
SELECT loyalty.add_reward('rwd', 'socks', 'Socks for all', 100, 5) > 0 AS socks_for_all;
SELECT * FROM pg_temp.mall() WHERE sku IN ('mug', 'socks') ORDER BY sku;
SELECT loyalty.redeem_reward(pg_temp.m('carol'), 'socks', 1, 'rwd-r12', '2026-03-04 10:00') > 0 AS carol_socks_now,
       loyalty.redeem_reward(pg_temp.m('bob'), 'mug', 1, 'rwd-r13', '2026-03-04 10:00') > 0 AS bob_large_mug;
-- what was priced keeps its terms; the new redemption costs 350
SELECT member, sku, qty, points, ref, state FROM pg_temp.redemptions() WHERE sku IN ('mug', 'socks');
SELECT a.action, a.object, a.detail - 'reward' AS detail
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'rwd' AND a.action = 'add_reward' AND a.object IN ('mug', 'socks') ORDER BY a.audit_id;

-- 8. bad input --------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'add: program NULL',          $q$SELECT loyalty.add_reward(NULL, 'hat', 'Hat', 100)$q$),
  (2,  'add: unknown programme',     $q$SELECT loyalty.add_reward('rwd_nope', 'hat', 'Hat', 100)$q$),
  (3,  'add: sku NULL',              $q$SELECT loyalty.add_reward('rwd', NULL, 'Hat', 100)$q$),
  (4,  'add: name NULL',             $q$SELECT loyalty.add_reward('rwd', 'hat', NULL, 100)$q$),
  (5,  'add: points_cost NULL',      $q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', NULL)$q$),
  (6,  'add: sku empty',             $q$SELECT loyalty.add_reward('rwd', '', 'Hat', 100)$q$),
  (7,  'add: sku with a space',      $q$SELECT loyalty.add_reward('rwd', 'red hat', 'Hat', 100)$q$),
  (8,  'add: points_cost 0',         $q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', 0)$q$),
  (9,  'add: points_cost negative',  $q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', -100)$q$),
  (10, 'add: stock negative',        $q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', 100, -1)$q$),
  (11, 'add: unknown min_tier',      $q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', 100, 5, 'bronze')$q$),
  (12, 'add: another programme''s tier', $q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', 100, 5, 'platinum')$q$),
  (13, 'add: redefine, bad cost',    $q$SELECT loyalty.add_reward('rwd', 'mug', 'Mug', 0, 5)$q$),
  (14, 'redeem: member NULL',        $q$SELECT loyalty.redeem_reward(NULL, 'tote', 1, 'rwd-x', '2026-03-05')$q$),
  (15, 'redeem: sku NULL',           $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), NULL, 1, 'rwd-x', '2026-03-05')$q$),
  (16, 'redeem: qty NULL',           $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', NULL, 'rwd-x', '2026-03-05')$q$),
  (17, 'redeem: ref NULL',           $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', 1, NULL, '2026-03-05')$q$),
  (18, 'redeem: at NULL',            $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', 1, 'rwd-x', NULL)$q$),
  (19, 'redeem: ref empty',          $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', 1, '', '2026-03-05')$q$),
  (20, 'redeem: at infinity',        $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', 1, 'rwd-x', 'infinity')$q$),
  (21, 'redeem: qty 0',              $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', 0, 'rwd-x', '2026-03-05')$q$),
  (22, 'redeem: qty negative',       $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'tote', -1, 'rwd-x', '2026-03-05')$q$),
  (23, 'redeem: unknown sku',        $q$SELECT loyalty.redeem_reward(pg_temp.m('bob'), 'hat', 1, 'rwd-x', '2026-03-05')$q$),
  (24, 'redeem: another programme''s sku', $q$SELECT loyalty.redeem_reward(pg_temp.m('dora'), 'tote', 1, 'rwd-x', '2026-03-05')$q$),
  (25, 'redeem: unknown member',     $q$SELECT loyalty.redeem_reward(-1, 'tote', 1, 'rwd-x', '2026-03-05')$q$),
  (26, 'redeem: points_cost x qty overflows', $q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'yacht', 2, 'rwd-x', '2026-03-05')$q$),
  (27, 'redeem: more points than held', $q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'yacht', 1, 'rwd-x', '2026-03-05')$q$),
  (28, 'cancel: redemption NULL',    $q$SELECT loyalty.cancel_redemption(NULL, '2026-03-05')$q$),
  (29, 'cancel: at NULL',            $q$SELECT loyalty.cancel_redemption(pg_temp.r('bob', 'rwd-r10'), NULL)$q$),
  (30, 'cancel: at infinity',        $q$SELECT loyalty.cancel_redemption(pg_temp.r('bob', 'rwd-r10'), 'infinity')$q$),
  (31, 'cancel: unknown redemption', $q$SELECT loyalty.cancel_redemption(-1, '2026-03-05')$q$),
  (32, 'cancel: before it was made', $q$SELECT loyalty.cancel_redemption(pg_temp.r('bob', 'rwd-r10'), '2026-03-02 11:59:59')$q$),
  (33, 'spend: the mall''s source',   $q$SELECT loyalty.spend(pg_temp.m('bob'), 10, 'reward', 'rwd-r99', '2026-03-05')$q$),
  (34, 'reverse: a redemption''s spend', $q$SELECT loyalty.reverse(pg_temp.m('bob'), 'reward', 'rwd-r10', NULL, '2026-03-05')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- qty times points_cost exactly at the bigint limit is no overflow: it is a plain LY001
SELECT loyalty.add_reward('rwd', 'big', 'Big', 3074457345618258602) > 0 AS big;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'big', 3, 'rwd-x', '2026-03-05')$q$) AS three_bigs,
       pg_temp.try($q$SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'big', 4, 'rwd-x', '2026-03-05')$q$) AS four_bigs;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- Privileges: the application redeems and cancels, but does not stock the mall
CREATE ROLE rwd_app IN ROLE loyalty_app;
SELECT pg_temp.m('bob') AS bob \gset
SET ROLE rwd_app;
SELECT loyalty.redeem_reward(:bob, 'socks', 1, 'rwd-app-1', '2026-03-06 10:00') AS app_redemption \gset
SELECT loyalty.cancel_redemption(:app_redemption, '2026-03-06 11:00');
SELECT pg_temp.try_raw($q$SELECT loyalty.add_reward('rwd', 'hat', 'Hat', 100)$q$) AS app_adds_reward,
       pg_temp.try_raw($q$UPDATE loyalty.reward SET stock = stock + 100$q$) AS app_restocks;
RESET ROLE;
DROP ROLE rwd_app;
SELECT member, sku, qty, points, ref, state, at, cancelled_at FROM pg_temp.redemptions() WHERE ref = 'rwd-app-1';

-- 9. reward_redemptions_daily: per local day (Asia/Shanghai); a cancellation counts on its own day
SELECT loyalty.redeem_reward(pg_temp.m('carol'), 'socks', 2, 'rwd-r14', '2026-03-09 23:30') > 0 AS late_evening;
SELECT loyalty.cancel_redemption(pg_temp.r('carol', 'rwd-r14'), '2026-03-10 00:10');
SELECT * FROM loyalty.reward_redemptions_daily WHERE program LIKE 'rwd%' ORDER BY program, day, sku;
-- the view agrees with the redemptions
SELECT sum(redemptions) = (SELECT count(*) FROM pg_temp.redemptions()) AS redemptions_match,
       sum(units) - sum(units_returned) = (SELECT sum(redeemed) FROM pg_temp.mall()) AS units_match,
       sum(points) - sum(points_returned) = (SELECT sum(points) FROM pg_temp.redemptions() WHERE state = 'redeemed') AS points_match
FROM loyalty.reward_redemptions_daily WHERE program = 'rwd';

-- 10. verify(): stock and ledger consistent ---------------------------------------------------
SELECT * FROM pg_temp.mall();
SELECT p.* FROM unnest(ARRAY['alice', 'bob', 'carol']) n, pg_temp.pts(n, '2026-03-10 12:00') p;
SELECT check_name, ok, detail FROM loyalty.verify('rwd') WHERE check_name LIKE 'rewards%' OR NOT ok;
SELECT check_name, ok FROM loyalty.verify('rwd_other') WHERE NOT ok;
