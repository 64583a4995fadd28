-- member_views: the reporting views about members and their orders (SPEC
-- section 9): member_overview, tier_distribution, dormant_members,
-- spend_distribution, purchase_frequency, rfm; and who may read them.
-- Programme code of this suite: mv_shop; table mv_orders; role mv_analyst.
-- The views use now(): every timestamp here is relative to now(), and dates
-- are shown as whole days before now.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member('mv_shop', ext)
$$;
CREATE FUNCTION pg_temp.ago(days int) RETURNS timestamptz LANGUAGE sql AS $$
    SELECT now() - make_interval(days => days)
$$;
CREATE FUNCTION pg_temp.days(t timestamptz) RETURNS int LANGUAGE sql AS $$
    SELECT now()::date - t::date
$$;
-- Run one statement; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- The shop: one point per 1.00 (100 minor units); bronze from 1000 points,
-- silver from 5000, gold from 20000 (nobody reaches gold).
SELECT loyalty.create_program('mv_shop', 'Member views', 'CNY') IS NOT NULL AS created;
SELECT loyalty.define_earn_rule('mv_shop', 'base', '{"on":"order","per_amount":100,"points":1}') IS NOT NULL AS base_rule;
SELECT loyalty.define_tier('mv_shop', 'bronze', 1, 1000, 5) AS bronze,
       loyalty.define_tier('mv_shop', 'silver', 2, 5000, 10) AS silver,
       loyalty.define_tier('mv_shop', 'gold', 3, 20000, 20, 2) AS gold;
CREATE TABLE mv_orders (id text PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('mv_orders', 'mv_shop', 'customer', 'amount', 'status',
                            time_column => 'at') IS NOT NULL AS tracked;
-- Seven members, enrolled in this order (ids ascending), joined N days ago.
SELECT x AS member, loyalty.enroll('mv_shop', x, pg_temp.ago(d)) IS NOT NULL AS enrolled
FROM (VALUES (1, 'amy', 400), (2, 'ben', 210), (3, 'cal', 45), (4, 'dee', 100),
             (5, 'eli', 60), (6, 'fox', 10), (7, 'gus', 300)) AS v(n, x, d) ORDER BY n;

-- amy: 3000.00 completed 300 days ago (bronze), 2000.00 completed 5 days ago
-- (5000 points: silver), 1000.00 paid 2 days ago (1000 points pending).
INSERT INTO mv_orders VALUES ('a1', 'amy', 300000, 'completed', pg_temp.ago(300));
INSERT INTO mv_orders VALUES ('a2', 'amy', 200000, 'completed', pg_temp.ago(5));
INSERT INTO mv_orders VALUES ('a3', 'amy', 100000, 'paid', pg_temp.ago(2));
-- ben: 500.00 completed 200 days ago, 800.00 completed 190 days ago (1300
-- points: bronze); 400.00 paid 100 days ago, cancelled the day after.
INSERT INTO mv_orders VALUES ('b1', 'ben', 50000, 'completed', pg_temp.ago(200));
INSERT INTO mv_orders VALUES ('b2', 'ben', 80000, 'completed', pg_temp.ago(190));
INSERT INTO mv_orders VALUES ('b3', 'ben', 40000, 'paid', pg_temp.ago(100));
UPDATE mv_orders SET status = 'cancelled', at = pg_temp.ago(99) WHERE id = 'b3';
-- cal and gus never order.
-- dee: 10000.00 completed 20 days ago (silver), 3000.00 of it refunded 15
-- days ago: 3000 of its 10000 points reversed, spend 7000.00.
INSERT INTO mv_orders VALUES ('d1', 'dee', 1000000, 'completed', pg_temp.ago(20));
SELECT loyalty.refund('mv_orders', 'd1', 300000, 'rf1', pg_temp.ago(15)) AS points_reversed;
-- eli: 200.00 completed 50 days ago; 700.00 completed 10 days ago and
-- refunded 8 days ago (it counts nowhere).
INSERT INTO mv_orders VALUES ('e1', 'eli', 20000, 'completed', pg_temp.ago(50));
INSERT INTO mv_orders VALUES ('e2', 'eli', 70000, 'completed', pg_temp.ago(10));
UPDATE mv_orders SET status = 'refunded', at = pg_temp.ago(8) WHERE id = 'e2';
-- fox: 50.00 paid yesterday, not completed.
INSERT INTO mv_orders VALUES ('f1', 'fox', 5000, 'paid', pg_temp.ago(1));

-- member_overview ---------------------------------------------------------------
-- available / pending / lifetime points, orders (paid or completed) and
-- spend (less partial refunds); first and last order as days ago.
SELECT external_id, tier, available, pending, lifetime, debt, orders, spend,
       pg_temp.days(first_order) AS first_order_days, pg_temp.days(last_order) AS last_order_days,
       pg_temp.days(joined_at) AS joined_days,
       member = pg_temp.m(external_id) AS member_id_ok
FROM loyalty.member_overview WHERE program = 'mv_shop' ORDER BY member;

-- tier_distribution -------------------------------------------------------------
-- 7 members: 4 below bronze (tier NULL), 1 bronze, 2 silver, gold none.
SELECT tier, rank, members, share_pct
FROM loyalty.tier_distribution WHERE program = 'mv_shop' ORDER BY rank NULLS FIRST;

-- dormant_members ----------------------------------------------------------------
-- No completed order in 6 months (default): ben (last 190 days ago) and gus
-- (never ordered, joined 300 days ago).  cal joined 45 days ago; fox's only
-- order is not completed but he joined 10 days ago.
SELECT external_id, tier, pg_temp.days(last_order) AS last_order_days, available, dormant_months
FROM loyalty.dormant_members WHERE program = 'mv_shop' ORDER BY member;
-- With dormant_months 1: also cal (joined 45 days ago) and eli (last
-- completed order 50 days ago: the one completed 10 days ago was refunded).
SELECT loyalty.update_program('mv_shop', '{"dormant_months": 1}');
SELECT external_id, tier, pg_temp.days(last_order) AS last_order_days, available, dormant_months
FROM loyalty.dormant_members WHERE program = 'mv_shop' ORDER BY member;

-- spend_distribution ---------------------------------------------------------------
-- amy 6000.00, dee 7000.00 (5000.01+); ben 1300.00; eli 200.00; fox 50.00;
-- cal, gus 0.
SELECT bucket, bucket_order, members, share_pct
FROM loyalty.spend_distribution WHERE program = 'mv_shop' ORDER BY bucket_order;

-- purchase_frequency -------------------------------------------------------------
-- amy 3 orders (one only paid); ben 2 (the cancelled one does not count);
-- dee, eli (the refunded one does not count), fox 1; cal, gus 0.
SELECT bucket, bucket_order, members, share_pct
FROM loyalty.purchase_frequency WHERE program = 'mv_shop' ORDER BY bucket_order;

-- rfm --------------------------------------------------------------------------------
-- Members with orders, five of them: one per quintile of each score.
-- recency (days since the last paid order): ben 190, eli 50, dee 20, amy 2, fox 1;
-- frequency: dee, eli, fox 1 (ties by member id), ben 2, amy 3;
-- monetary: fox 5000, eli 20000, ben 130000, amy 600000, dee 700000.
SELECT external_id, recency_days, frequency, monetary, r_score, f_score, m_score
FROM loyalty.rfm WHERE program = 'mv_shop' ORDER BY member;

-- Who may read them -----------------------------------------------------------------
CREATE ROLE mv_analyst;
GRANT loyalty_reader TO mv_analyst;
SET ROLE mv_analyst;
SELECT (SELECT count(*) FROM loyalty.member_overview WHERE program = 'mv_shop') AS member_overview,
       (SELECT sum(members) FROM loyalty.tier_distribution WHERE program = 'mv_shop') AS tier_distribution,
       (SELECT count(*) FROM loyalty.dormant_members WHERE program = 'mv_shop') AS dormant_members,
       (SELECT sum(members) FROM loyalty.spend_distribution WHERE program = 'mv_shop') AS spend_distribution,
       (SELECT sum(members) FROM loyalty.purchase_frequency WHERE program = 'mv_shop') AS purchase_frequency,
       (SELECT count(*) FROM loyalty.rfm WHERE program = 'mv_shop') AS rfm;
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'member',       $q$SELECT count(*) FROM loyalty.member$q$),
  (2, 'order_state',  $q$SELECT count(*) FROM loyalty.order_state$q$),
  (3, 'points_lot',   $q$SELECT count(*) FROM loyalty.points_lot$q$),
  (4, 'tier',         $q$SELECT count(*) FROM loyalty.tier$q$),
  (5, '_member_orders (internal view)', $q$SELECT count(*) FROM loyalty._member_orders$q$),
  (6, 'earn',         $q$SELECT loyalty.earn(1, 1, 'x', 'x')$q$)
) AS t(n, test, sql) ORDER BY t.n;
RESET ROLE;
DROP ROLE mv_analyst;
