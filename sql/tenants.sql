-- tenants: grant_program limits a role to some programmes (SPEC section 10).
-- Programme codes of this suite: ten_a, ten_b.  Every API function a
-- limited role calls on the other programme's member, coupon, wallet,
-- transfer, redemption, share or tracked table is refused with 42501 (a
-- programme code it may not use does not exist for it: LY003) and writes
-- nothing; the views show it only its programmes' rows.
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

CREATE ROLE regress_ten_app IN ROLE loyalty_app;        -- limited to ten_a below
CREATE ROLE regress_ten_clerk IN ROLE regress_ten_app;  -- inherits the limit
CREATE ROLE regress_ten_reader IN ROLE loyalty_reader;  -- limited to ten_a below
CREATE ROLE regress_ten_free IN ROLE loyalty_app;       -- never limited
CREATE ROLE regress_ten_admin IN ROLE loyalty_admin;
CREATE ROLE regress_ten_noinherit NOINHERIT IN ROLE loyalty_admin;  -- could SET ROLE loyalty_admin
CREATE ROLE regress_ten_creator CREATEROLE IN ROLE loyalty_app;       -- could grant itself roles
CREATE ROLE regress_ten_peeker IN ROLE loyalty_app, pg_read_all_data;  -- reads every table
CREATE ROLE regress_ten_super SUPERUSER;
CREATE ROLE regress_ten_su_member IN ROLE loyalty_app, regress_ten_super;  -- could SET ROLE to it

-- Two programmes, each with members, points, a tier, coupons, wallets, a
-- pending transfer, a reward redemption, a share and a tracked order table.
SELECT loyalty.create_program(c, 'Tenant ' || c, 'CNY') > 0 AS created FROM unnest(ARRAY['ten_a', 'ten_b']) c;
SELECT loyalty.define_tier(c, 'silver', 1, 100) IS NOT NULL AS tier FROM unnest(ARRAY['ten_a', 'ten_b']) c;
SELECT loyalty.enroll('ten_a', 'a1', '2004-01-01') AS a1, loyalty.enroll('ten_a', 'a2', '2004-01-01') AS a2,
       loyalty.enroll('ten_b', 'b1', '2004-01-01') AS b1, loyalty.enroll('ten_b', 'b2', '2004-01-01') AS b2 \gset
SELECT loyalty.earn(m, 500, 'shop', 'seed', at => '2004-01-02') > 0 AS earned FROM unnest(ARRAY[:a1, :a2, :b1, :b2]) m;
SELECT loyalty.define_coupon(c, c || '_gift', '{"kind": "fixed", "value": 100}') > 0 AS coupon,
       loyalty.define_coupon(c, c || '_friend', '{"kind": "fixed", "value": 50}') > 0 AS friend,
       loyalty.define_coupon(c, c || '_share', jsonb_build_object('kind', 'fixed', 'value', 300,
           'share', jsonb_build_object('required_friends', 1, 'friend_coupon', c || '_friend'))) > 0 AS share
FROM unnest(ARRAY['ten_a', 'ten_b']) c;
SELECT (SELECT c FROM loyalty.issue_codes('ten_a', 'ten_a_gift', 1) c) AS a_code,
       (SELECT c FROM loyalty.issue_codes('ten_b', 'ten_b_gift', 1) c) AS b_code,
       loyalty.claim_coupon(:a1, 'ten_a_gift', '2004-01-03') AS a_claimed,
       loyalty.claim_coupon(:b1, 'ten_b_gift', '2004-01-03') AS b_claimed,
       loyalty.start_share(:a1, 'ten_a_share', '2004-01-03') AS a_share,
       loyalty.start_share(:b1, 'ten_b_share', '2004-01-03') AS b_share \gset
SELECT loyalty.open_wallet('ten_a', 'budget', 'CNY') AS wa_budget, loyalty.open_wallet('ten_a', 'a1', 'CNY', :a1) AS wa,
       loyalty.open_wallet('ten_a', 'a2', 'CNY', :a2) AS wa2,
       loyalty.open_wallet('ten_b', 'budget', 'CNY') AS wb_budget, loyalty.open_wallet('ten_b', 'b1', 'CNY', :b1) AS wb,
       loyalty.open_wallet('ten_b', 'b2', 'CNY', :b2) AS wb2 \gset
SELECT loyalty.fund_wallet(w, 10000, 'seed', '2004-01-02') > 0 AS funded FROM unnest(ARRAY[:wa_budget, :wb_budget]) w;
SELECT loyalty.transfer(:wa_budget, :wa, 1000, 'gift-a', at => '2004-01-03') > 0 AS a_paid,
       loyalty.transfer(:wb_budget, :wb, 1000, 'gift-b', at => '2004-01-03') > 0 AS b_paid;
SELECT loyalty.transfer(:wa, :wa2, 100, 'hold-a', pending => true, at => '2004-01-04') AS ta,
       loyalty.transfer(:wb, :wb2, 100, 'hold-b', pending => true, at => '2004-01-04') AS tb,
       loyalty.transfer(:wa, :wa2, 100, 'hold-a2', pending => true, at => '2004-01-04') AS ta2,
       loyalty.transfer(:wb, :wb2, 100, 'hold-b2', pending => true, at => '2004-01-04') AS tb2 \gset
SELECT loyalty.add_reward(c, 'mug', 'Mug', 100) > 0 AS reward FROM unnest(ARRAY['ten_a', 'ten_b']) c;
SELECT loyalty.redeem_reward(:a1, 'mug', 1, 'mug-a', '2004-01-05') AS ra,
       loyalty.redeem_reward(:b1, 'mug', 1, 'mug-b', '2004-01-05') AS rb \gset
CREATE TABLE ten_a_orders (id text PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
CREATE TABLE ten_b_orders (LIKE ten_a_orders INCLUDING ALL);
SELECT loyalty.track_orders('ten_a_orders', 'ten_a', 'customer', 'amount', 'status', time_column => 'at') > 0 AS tracked_a,
       loyalty.track_orders('ten_b_orders', 'ten_b', 'customer', 'amount', 'status', time_column => 'at') > 0 AS tracked_b;
GRANT INSERT, UPDATE, SELECT ON ten_a_orders, ten_b_orders TO loyalty_app;
INSERT INTO ten_a_orders VALUES ('a-o1', 'a1', 10000, 'completed', '2004-01-06');
INSERT INTO ten_b_orders VALUES ('b-o1', 'b1', 10000, 'completed', '2004-01-06');

-- For a role that is not limited, program_visible keeps every row, and the
-- planner knows it (its support function): the views' estimates are not cut.
CREATE FUNCTION pg_temp.estimate(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END
$$;
ANALYZE loyalty.member;
SELECT pg_temp.estimate('SELECT 1 FROM loyalty.member m WHERE loyalty.program_visible(m.program_id)')
     = pg_temp.estimate('SELECT 1 FROM loyalty.member m') AS unlimited_estimate_kept;

-- grant_program: its bad inputs --------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'NULL role',           $q$SELECT loyalty.grant_program(NULL, 'ten_a')$q$),
  (2, 'NULL program',        $q$SELECT loyalty.grant_program('regress_ten_app', NULL)$q$),
  (3, 'unknown role',        $q$SELECT loyalty.grant_program('regress_ten_nobody', 'ten_a')$q$),
  (4, 'unknown program',     $q$SELECT loyalty.grant_program('regress_ten_app', 'ten_nowhere')$q$),
  (5, 'a superuser',         format($q$SELECT loyalty.grant_program(%L, 'ten_a')$q$, current_user)),
  (6, 'an administrator',    $q$SELECT loyalty.grant_program('regress_ten_admin', 'ten_a')$q$),
  (6, 'a NOINHERIT member of loyalty_admin', $q$SELECT loyalty.grant_program('regress_ten_noinherit', 'ten_a')$q$),
  (6, 'a role with CREATEROLE', $q$SELECT loyalty.grant_program('regress_ten_creator', 'ten_a')$q$),
  (6, 'a member of pg_read_all_data', $q$SELECT loyalty.grant_program('regress_ten_peeker', 'ten_a')$q$),
  (6, 'a member of a superuser role', $q$SELECT loyalty.grant_program('regress_ten_su_member', 'ten_a')$q$),
  (7, 'revoke: NULL role',   $q$SELECT loyalty.revoke_program(NULL, 'ten_a')$q$),
  (8, 'revoke: unknown program', $q$SELECT loyalty.revoke_program('regress_ten_app', 'ten_nowhere')$q$),
  (9, 'revoke: unknown role', $q$SELECT loyalty.revoke_program('regress_ten_nobody')$q$),
  (10, 'program_visible of NULL', $q$DO $d$ BEGIN IF loyalty.program_visible(NULL) THEN RAISE EXCEPTION 'visible'; END IF; END $d$$q$)
) AS t(n, test, sql) ORDER BY t.n;
-- none of them wrote anything
SELECT count(*) AS limits FROM loyalty.program_limit WHERE role::text LIKE 'regress_ten%';
-- only administrators grant
SET ROLE regress_ten_free;
SELECT pg_temp.try($q$SELECT loyalty.grant_program('regress_ten_free', 'ten_a')$q$) AS app_grants,
       pg_temp.try($q$SELECT loyalty.revoke_program('regress_ten_app')$q$) AS app_revokes;
RESET ROLE;

-- The grants: by an administrator, idempotent, audited once -----------------------
SET ROLE regress_ten_admin;
SELECT loyalty.grant_program('regress_ten_app', 'ten_a');
SELECT loyalty.grant_program('regress_ten_app', 'ten_a');
SELECT loyalty.grant_program('regress_ten_reader', 'ten_a');
RESET ROLE;
SELECT a.role_name, p.code AS program, a.action, a.object
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE a.action LIKE '%_program' AND a.object LIKE 'regress_ten%' ORDER BY a.audit_id;

-- What the limited application role may and may not do ----------------------------
-- Each call is made on programme ten_a (allowed) and on ten_b (refused:
-- 42501, or LY003 where the call names the programme by its code).
CREATE TEMP TABLE ten_calls (n int, call text, on_a text, on_b text);
GRANT SELECT ON ten_calls TO PUBLIC;
INSERT INTO ten_calls VALUES
  (1,  'enroll',           $q$SELECT loyalty.enroll('ten_a', 'new', '2004-02-01')$q$, $q$SELECT loyalty.enroll('ten_b', 'new', '2004-02-01')$q$),
  (2,  'member',           $q$SELECT loyalty.member('ten_a', 'a1')$q$, $q$SELECT loyalty.member('ten_b', 'b1')$q$),
  (3,  'tag_member',       format($q$SELECT loyalty.tag_member(%s, 'vip')$q$, :a1), format($q$SELECT loyalty.tag_member(%s, 'vip')$q$, :b1)),
  (4,  'untag_member',     format($q$SELECT loyalty.untag_member(%s, 'vip')$q$, :a1), format($q$SELECT loyalty.untag_member(%s, 'vip')$q$, :b1)),
  (5,  'earn',             format($q$SELECT loyalty.earn(%s, 10, 'app', 'e1', at => '2004-02-01')$q$, :a1), format($q$SELECT loyalty.earn(%s, 10, 'app', 'e1', at => '2004-02-01')$q$, :b1)),
  (6,  'spend',            format($q$SELECT loyalty.spend(%s, 5, 'app', 's1', at => '2004-02-01')$q$, :a1), format($q$SELECT loyalty.spend(%s, 5, 'app', 's1', at => '2004-02-01')$q$, :b1)),
  (7,  'reverse',          format($q$SELECT loyalty.reverse(%s, 'app', 's1', at => '2004-02-01')$q$, :a1), format($q$SELECT loyalty.reverse(%s, 'shop', 'seed', at => '2004-02-01')$q$, :b1)),
  (8,  'transfer_points',  format($q$SELECT loyalty.transfer_points(%s, %s, 5, 'tp', at => '2004-02-01')$q$, :a1, :a2), format($q$SELECT loyalty.transfer_points(%s, %s, 5, 'tp', at => '2004-02-01')$q$, :b1, :b2)),
  (9,  'transfer_points across', format($q$SELECT loyalty.transfer_points(%s, %s, 5, 'tp2', at => '2004-02-01')$q$, :a1, :a2), format($q$SELECT loyalty.transfer_points(%s, %s, 5, 'tp2', at => '2004-02-01')$q$, :a1, :b1)),
  (10, 'points',           format($q$SELECT loyalty.points(%s)$q$, :a1), format($q$SELECT loyalty.points(%s)$q$, :b1)),
  (11, 'balance',          format($q$SELECT * FROM loyalty.balance(%s)$q$, :a1), format($q$SELECT * FROM loyalty.balance(%s)$q$, :b1)),
  (12, 'history',          format($q$SELECT * FROM loyalty.history(%s)$q$, :a1), format($q$SELECT * FROM loyalty.history(%s)$q$, :b1)),
  (13, 'quote_points',     format($q$SELECT loyalty.quote_points(%s, 1000, NULL, '2004-02-01')$q$, :a1), format($q$SELECT loyalty.quote_points(%s, 1000, NULL, '2004-02-01')$q$, :b1)),
  (14, 'record_event',     format($q$SELECT loyalty.record_event(%s, 'checkin', 'c1', '2004-02-01')$q$, :a1), format($q$SELECT loyalty.record_event(%s, 'checkin', 'c1', '2004-02-01')$q$, :b1)),
  (15, 'tier',             format($q$SELECT loyalty.tier(%s)$q$, :a1), format($q$SELECT loyalty.tier(%s)$q$, :b1)),
  (16, 'tier_for',         $q$SELECT loyalty.tier_for('ten_a', 200)$q$, $q$SELECT loyalty.tier_for('ten_b', 200)$q$),
  (17, 'tier_benefits',    format($q$SELECT loyalty.tier_benefits(%s)$q$, :a1), format($q$SELECT loyalty.tier_benefits(%s)$q$, :b1)),
  (18, 'tier_history',     format($q$SELECT * FROM loyalty.tier_history(%s)$q$, :a1), format($q$SELECT * FROM loyalty.tier_history(%s)$q$, :b1)),
  (19, 'claim_coupon',     format($q$SELECT loyalty.claim_coupon(%s, 'ten_a_gift', '2004-02-01')$q$, :a2), format($q$SELECT loyalty.claim_coupon(%s, 'ten_b_gift', '2004-02-01')$q$, :b2)),
  (20, 'claim_code',       format($q$SELECT loyalty.claim_code(%s, %L, '2004-02-01')$q$, :a2, :'a_code'), format($q$SELECT loyalty.claim_code(%s, %L, '2004-02-01')$q$, :b2, :'b_code')),
  (21, 'validate_coupon',  format($q$SELECT * FROM loyalty.validate_coupon(%L, %s, '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :'a_claimed', :a1), format($q$SELECT * FROM loyalty.validate_coupon(%L, %s, '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :'b_claimed', :b1)),
  (22, 'validate_coupon: the other''s code', format($q$SELECT * FROM loyalty.validate_coupon(%L, %s, '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :'a_claimed', :a1), format($q$SELECT * FROM loyalty.validate_coupon(%L, %s, '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :'b_claimed', :a1)),
  (23, 'best_coupons',     format($q$SELECT * FROM loyalty.best_coupons(%s, '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :a1), format($q$SELECT * FROM loyalty.best_coupons(%s, '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :b1)),
  (24, 'member_coupons',   format($q$SELECT * FROM loyalty.member_coupons(%s, '2004-02-01')$q$, :a1), format($q$SELECT * FROM loyalty.member_coupons(%s, '2004-02-01')$q$, :b1)),
  (25, 'redeem_coupon',    format($q$SELECT loyalty.redeem_coupon(%L, %s, 'order-1', '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :'a_claimed', :a1), format($q$SELECT loyalty.redeem_coupon(%L, %s, 'order-1', '{"lines": [{"price": 1000}]}', '2004-02-01')$q$, :'b_claimed', :b1)),
  (26, 'release_coupon',   format($q$SELECT loyalty.release_coupon(%L, 'order-1', '2004-02-02')$q$, :'a_claimed'), format($q$SELECT loyalty.release_coupon(%L, 'order-1', '2004-02-02')$q$, :'b_claimed')),
  (27, 'join_share',       format($q$SELECT loyalty.join_share(%L, %s, '2004-02-01')$q$, :'a_share', :a2), format($q$SELECT loyalty.join_share(%L, %s, '2004-02-01')$q$, :'b_share', :b2)),
  (28, 'share_status',     format($q$SELECT * FROM loyalty.share_status(%L)$q$, :'a_share'), format($q$SELECT * FROM loyalty.share_status(%L)$q$, :'b_share')),
  (29, 'start_share',      format($q$SELECT loyalty.start_share(%s, 'ten_a_share', '2004-02-01')$q$, :a2), format($q$SELECT loyalty.start_share(%s, 'ten_b_share', '2004-02-01')$q$, :b2)),
  (30, 'open_wallet',      format($q$SELECT loyalty.open_wallet('ten_a', 'a2-eur', 'EUR', %s)$q$, :a2), format($q$SELECT loyalty.open_wallet('ten_b', 'b2-eur', 'EUR', %s)$q$, :b2)),
  (31, 'find_wallet',      $q$SELECT loyalty.find_wallet('ten_a', 'a1')$q$, $q$SELECT loyalty.find_wallet('ten_b', 'b1')$q$),
  (32, 'member_wallets',   format($q$SELECT * FROM loyalty.member_wallets(%s)$q$, :a1), format($q$SELECT * FROM loyalty.member_wallets(%s)$q$, :b1)),
  (33, 'wallet_balance',   format($q$SELECT * FROM loyalty.wallet_balance(%s)$q$, :wa), format($q$SELECT * FROM loyalty.wallet_balance(%s)$q$, :wb)),
  (34, 'wallet_history',   format($q$SELECT * FROM loyalty.wallet_history(%s)$q$, :wa), format($q$SELECT * FROM loyalty.wallet_history(%s)$q$, :wb)),
  (35, 'transfer',         format($q$SELECT loyalty.transfer(%s, %s, 10, 'pay-1', at => '2004-02-01')$q$, :wa, :wa2), format($q$SELECT loyalty.transfer(%s, %s, 10, 'pay-1', at => '2004-02-01')$q$, :wb, :wb2)),
  (36, 'post_transfer',    format($q$SELECT loyalty.post_transfer(%s, at => '2004-02-01')$q$, :ta), format($q$SELECT loyalty.post_transfer(%s, at => '2004-02-01')$q$, :tb)),
  (37, 'void_transfer',    format($q$SELECT loyalty.void_transfer(%s, '2004-02-01')$q$, :ta2), format($q$SELECT loyalty.void_transfer(%s, '2004-02-01')$q$, :tb2)),
  (38, 'redeem_reward',    format($q$SELECT loyalty.redeem_reward(%s, 'mug', 1, 'mug-2', '2004-02-01')$q$, :a2), format($q$SELECT loyalty.redeem_reward(%s, 'mug', 1, 'mug-2', '2004-02-01')$q$, :b2)),
  (39, 'cancel_redemption', format($q$SELECT loyalty.cancel_redemption(%s, '2004-02-01')$q$, :ra), format($q$SELECT loyalty.cancel_redemption(%s, '2004-02-01')$q$, :rb)),
  (40, 'refund',           $q$SELECT loyalty.refund('ten_a_orders', 'a-o1', 1000, 'r1', '2004-02-01')$q$, $q$SELECT loyalty.refund('ten_b_orders', 'b-o1', 1000, 'r1', '2004-02-01')$q$),
  (41, 'an order written',  $q$INSERT INTO ten_a_orders VALUES ('a-o2', 'a1', 5000, 'paid', '2004-02-01')$q$, $q$INSERT INTO ten_b_orders VALUES ('b-o2', 'b1', 5000, 'paid', '2004-02-01')$q$),
  (42, 'an order of a new customer', $q$INSERT INTO ten_a_orders VALUES ('a-o3', 'a9', 5000, 'paid', '2004-02-01')$q$, $q$INSERT INTO ten_b_orders VALUES ('b-o3', 'b9', 5000, 'paid', '2004-02-01')$q$),
  (43, 'an order completed', $q$UPDATE ten_a_orders SET status = 'completed' WHERE id = 'a-o2'$q$, $q$UPDATE ten_b_orders SET status = 'completed', amount = 4000 WHERE id = 'b-o1'$q$),
  (44, 'refund of an unknown order', $q$SELECT loyalty.refund('ten_a_orders', 'nope', 1000, 'r2', '2004-02-01')$q$, $q$SELECT loyalty.refund('ten_b_orders', 'nope', 1000, 'r2', '2004-02-01')$q$);

-- ten_b as it stands before the limited roles try it
CREATE TEMP VIEW ten_b_state AS
SELECT (SELECT count(*) FROM loyalty.member WHERE program_id = p.program_id) AS members,
       (SELECT count(*) FROM loyalty.points_entry e JOIN loyalty.member m USING (member_id) WHERE m.program_id = p.program_id) AS entries,
       (SELECT count(*) FROM loyalty.coupon WHERE program_id = p.program_id AND state <> 'issued') AS coupons_out,
       (SELECT count(*) FROM loyalty.wallet WHERE program_id = p.program_id) AS wallets,
       (SELECT count(*) FROM loyalty.wallet_transfer WHERE program_id = p.program_id) AS transfers,
       (SELECT count(*) FROM loyalty.reward_redemption WHERE program_id = p.program_id) AS redemptions,
       (SELECT count(*) FROM loyalty.order_state WHERE program_id = p.program_id) AS orders,
       (SELECT count(*) FROM ten_b_orders) AS order_rows
FROM loyalty.program p WHERE p.code = 'ten_b';
CREATE TEMP TABLE ten_b_before AS SELECT * FROM ten_b_state;

SET ROLE regress_ten_app;
SELECT n, call, pg_temp.try(on_a) AS on_a, pg_temp.try(on_b) AS on_b FROM ten_calls ORDER BY n;
RESET ROLE;
-- nothing of ten_b was written
SELECT * FROM ten_b_state EXCEPT SELECT * FROM ten_b_before;
SELECT * FROM ten_b_before;

-- A member of the limited role (INHERIT) is limited the same way; a role
-- that is not limited is not.
SET ROLE regress_ten_clerk;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :a1)) AS clerk_on_a,
       pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS clerk_on_b;
SET ROLE regress_ten_free;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :a1)) AS free_on_a,
       pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS free_on_b;
RESET ROLE;

-- A session whose user is limited stays limited after SET ROLE to a group
-- role that is not (loyalty_app), or back to itself.
SET SESSION AUTHORIZATION regress_ten_app;
SET ROLE loyalty_app;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :a1)) AS as_app_on_a,
       pg_temp.try(format('SELECT loyalty.earn(%s, 1, %L, %L)', :b1, 'app', 'set-role')) AS as_app_on_b;
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- A renamed role stays limited (limits are kept by role), and so is a new
-- role given the name it was limited under: never neither.
ALTER ROLE regress_ten_app RENAME TO regress_ten_app_renamed;
CREATE ROLE regress_ten_app IN ROLE loyalty_app;
SET ROLE regress_ten_app_renamed;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS renamed_on_b;
SET ROLE regress_ten_app;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS new_under_old_name_on_b;
RESET ROLE;
DROP ROLE regress_ten_app;
ALTER ROLE regress_ten_app_renamed RENAME TO regress_ten_app;

-- The views show a limited reader its programmes only -----------------------------
CREATE TEMP VIEW ten_view_programs AS
SELECT v.name, array_agg(DISTINCT v.program ORDER BY v.program) FILTER (WHERE v.program LIKE 'ten\_%') AS ten_programs,
       count(DISTINCT v.program) AS all_programs
FROM (SELECT 'points_daily' AS name, program FROM loyalty.points_daily
      UNION ALL SELECT 'points_liability', program FROM loyalty.points_liability
      UNION ALL SELECT 'member_overview', program FROM loyalty.member_overview
      UNION ALL SELECT 'tier_distribution', program FROM loyalty.tier_distribution
      UNION ALL SELECT 'dormant_members', program FROM loyalty.dormant_members
      UNION ALL SELECT 'spend_distribution', program FROM loyalty.spend_distribution
      UNION ALL SELECT 'purchase_frequency', program FROM loyalty.purchase_frequency
      UNION ALL SELECT 'rfm', program FROM loyalty.rfm
      UNION ALL SELECT 'coupon_performance', program FROM loyalty.coupon_performance
      UNION ALL SELECT 'wallet_activity_daily', program FROM loyalty.wallet_activity_daily
      UNION ALL SELECT 'reward_redemptions_daily', program FROM loyalty.reward_redemptions_daily) v
GROUP BY v.name;
GRANT SELECT ON ten_view_programs TO PUBLIC;
SET ROLE regress_ten_reader;
SELECT name, ten_programs, all_programs FROM ten_view_programs ORDER BY name;
-- a view scanned by parallel workers: each worker loads the limits itself
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON, COSTS OFF) ' || q INTO plan;
    RETURN plan::text;
END
$$;
SELECT pg_temp.plan_of('SELECT program, count(*) FROM loyalty.points_daily GROUP BY program') LIKE '%"Gather%' AS parallel_plan;
SELECT program, count(*) AS days FROM loyalty.points_daily GROUP BY program ORDER BY program;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP FUNCTION pg_temp.plan_of(text);
-- the views are security barriers: a function of the reader's in the query
-- sees only the rows the view lets through (NOTICEs: ten_a's only)
CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'peek: %', $1;
    RETURN true;
END
$$;
\set VERBOSITY default
SELECT count(*) AS rows FROM loyalty.member_overview WHERE external_id LIKE '_1' AND pg_temp.peek(program || ' ' || external_id);
\set VERBOSITY sqlstate
DROP FUNCTION pg_temp.peek(text);
RESET ROLE;
-- and SET ROLE loyalty_reader does not lift the reader's limit
SET SESSION AUTHORIZATION regress_ten_reader;
SET ROLE loyalty_reader;
SELECT name, ten_programs, all_programs FROM ten_view_programs WHERE name = 'member_overview';
RESET ROLE;
RESET SESSION AUTHORIZATION;
-- an unlimited reader sees both (and the other suites' programmes)
GRANT loyalty_reader TO regress_ten_free;
SET ROLE regress_ten_free;
SELECT name, ten_programs, all_programs > 2 AS others_too FROM ten_view_programs ORDER BY name;
RESET ROLE;

-- A limited role made an administrator afterwards: what spans programmes is
-- refused (grant_program would not have limited it; docs/operations.md).
GRANT loyalty_admin TO regress_ten_app;
SET ROLE regress_ten_app;
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'create_program',       $q$SELECT loyalty.create_program('ten_c', 'x', 'CNY')$q$),
  (2, 'verify of all',        $q$SELECT * FROM loyalty.verify()$q$),
  (3, 'verify of ten_a',      $q$SELECT * FROM loyalty.verify('ten_a')$q$),
  (4, 'verify of ten_b',      $q$SELECT * FROM loyalty.verify('ten_b')$q$),
  (5, 'run_expiry',           $q$CALL loyalty.run_expiry('2004-03-01', 10)$q$),
  (6, 'run_tier_review',      $q$CALL loyalty.run_tier_review('2004-03-01', 10)$q$),
  (7, 'expire_coupons',       $q$CALL loyalty.expire_coupons('2004-03-01', 10)$q$),
  (8, 'expire_holds',         $q$CALL loyalty.expire_holds('2004-03-01', 10)$q$),
  (9, 'update_program ten_a', $q$SELECT loyalty.update_program('ten_a', '{"pending_days": 1}')$q$),
  (10, 'update_program ten_b', $q$SELECT loyalty.update_program('ten_b', '{"pending_days": 1}')$q$),
  (11, 'define_earn_rule ten_b', $q$SELECT loyalty.define_earn_rule('ten_b', 'r', '{"rate": 1, "per": 100}')$q$),
  (12, 'define_tier ten_b',   $q$SELECT loyalty.define_tier('ten_b', 'gold', 2, 1000)$q$),
  (13, 'define_coupon ten_b', $q$SELECT loyalty.define_coupon('ten_b', 'x', '{"kind": "fixed", "value": 1}')$q$),
  (14, 'issue_codes ten_b',   $q$SELECT loyalty.issue_codes('ten_b', 'ten_b_gift', 1)$q$),
  (15, 'void_coupon ten_b',   format($q$SELECT loyalty.void_coupon(%L, 'x', '2004-02-01')$q$, :'b_code')),
  (16, 'adjust ten_b',        format($q$SELECT loyalty.adjust(%s, 1, 'x', 'x', '2004-02-01')$q$, :b1)),
  (17, 'fund_wallet ten_b',   format($q$SELECT loyalty.fund_wallet(%s, 1, 'x', '2004-02-01')$q$, :wb_budget)),
  (18, 'set_wallet_rules ten_b', format($q$SELECT loyalty.set_wallet_rules(%s, '{"frozen": true}')$q$, :wb)),
  (19, 'grant_wallet ten_b',  format($q$SELECT loyalty.grant_wallet(%s, 'regress_ten_free', 'view')$q$, :wb_budget)),
  (20, 'add_reward ten_b',    $q$SELECT loyalty.add_reward('ten_b', 'cap', 'Cap', 10)$q$),
  (21, 'track_orders ten_b',  $q$SELECT loyalty.track_orders('ten_a_orders', 'ten_b', 'customer', 'amount', 'status')$q$),
  (22, 'untrack_orders ten_b', $q$SELECT loyalty.untrack_orders('ten_b_orders')$q$)
) AS t(n, test, sql) ORDER BY t.n;
RESET ROLE;
REVOKE loyalty_admin FROM regress_ten_app;

-- revoke_program: the last programme taken back leaves the role limited to
-- none; revoke_program(role) lifts the limit.
SET ROLE regress_ten_admin;
SELECT loyalty.revoke_program('regress_ten_app', 'ten_a');
SET ROLE regress_ten_app;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :a1)) AS on_a, pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS on_b;
SET ROLE regress_ten_admin;
SELECT loyalty.revoke_program('regress_ten_app');
SELECT loyalty.revoke_program('regress_ten_app');   -- nothing left: no-op
SET ROLE regress_ten_app;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :a1)) AS on_a, pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS on_b;
RESET ROLE;
SELECT a.role_name, p.code AS program, a.action, a.object, a.detail
FROM loyalty.audit_log a LEFT JOIN loyalty.program p USING (program_id)
WHERE a.action = 'revoke_program' AND a.object LIKE 'regress_ten%' ORDER BY a.audit_id;
SELECT count(*) AS grants_left FROM loyalty.program_grant WHERE role = 'regress_ten_app'::regrole;

-- A limited role dropped and re-created under its name is limited again
-- (not free); revoke_program by that name lifts the limit of both.
CREATE ROLE regress_ten_temp IN ROLE loyalty_app;
SELECT loyalty.grant_program('regress_ten_temp', 'ten_a');
DROP ROLE regress_ten_temp;
CREATE ROLE regress_ten_temp IN ROLE loyalty_app;
SET ROLE regress_ten_temp;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :a1)) AS on_a, pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS on_b;
RESET ROLE;
SELECT loyalty.revoke_program('regress_ten_temp');
SELECT count(*) AS limits_left FROM loyalty.program_limit WHERE role_name = 'regress_ten_temp';
SET ROLE regress_ten_temp;
SELECT pg_temp.try(format('SELECT loyalty.points(%s)', :b1)) AS on_b;
RESET ROLE;
DROP ROLE regress_ten_temp;

-- Clean up.
SELECT loyalty.revoke_program('regress_ten_reader');
DROP VIEW ten_view_programs, ten_b_state;
DROP TABLE ten_a_orders, ten_b_orders, ten_calls, ten_b_before;
DROP ROLE regress_ten_clerk, regress_ten_app, regress_ten_reader, regress_ten_free, regress_ten_admin, regress_ten_noinherit,
          regress_ten_creator, regress_ten_peeker, regress_ten_su_member, regress_ten_super;
