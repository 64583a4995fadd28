-- tests/demo/demo.sql: a small shop's year with loyalty points, told through
-- the points API.  `make demo` runs it in a throw-away database `shop`.
-- Every call passes an explicit time (`at => ...`), so the story is simulated
-- in 2026 whatever today's date is; times are the shop's (Asia/Shanghai).
\set QUIET on
\set ON_ERROR_STOP on
\pset footer off
\pset null '-'
SET TimeZone = 'Asia/Shanghai';
SET client_min_messages = notice;

\echo ''
\echo '=== 1. The shop opens a loyalty programme ================================'
\echo 'demo_shop counts money in CNY fen. 1 point is worth 0.01 CNY (point_value 1),'
\echo 'points are usable at once (pending_days 0) and expire at the end of the month'
\echo '12 months after they become available (end of month in Asia/Shanghai time).'
SELECT loyalty.create_program('demo_shop', 'Demo Shop', 'CNY',
         '{"timezone": "Asia/Shanghai", "points_expire_months": 12,
           "point_value": 1, "pending_days": 0}') AS program_id \gset
SELECT code, currency, settings->>'timezone' AS timezone,
       settings->'points_expire_months' AS expire_months,
       settings->'point_value' AS point_value, settings->'pending_days' AS pending_days
FROM loyalty.program WHERE code = 'demo_shop';

\echo '=== 2. Four customers join (enroll is idempotent: same customer, same id) ==='
CREATE TEMP TABLE customer (name text, external_id text, member bigint);
INSERT INTO customer
SELECT name, ext, loyalty.enroll('demo_shop', ext, joined_at => '2026-01-05 10:00')
FROM (VALUES ('Li Wei', 'C1001'), ('Wang Fang', 'C1002'),
             ('Zhang Min', 'C1003'), ('Zhang Lei', 'C1004')) AS v(name, ext);
SELECT max(member) FILTER (WHERE name = 'Li Wei') AS li,
       max(member) FILTER (WHERE name = 'Wang Fang') AS wang,
       max(member) FILTER (WHERE name = 'Zhang Min') AS min,
       max(member) FILTER (WHERE name = 'Zhang Lei') AS lei
FROM customer \gset
SELECT name, external_id, member,
       loyalty.enroll('demo_shop', external_id) = member AS enroll_again_same_id
FROM customer ORDER BY member;

\echo '=== 3. Orders earn 1 point per 1.00 CNY (amount in fen / 100) ============='
\echo 'Each call returns its ledger entry id. An earn is keyed by (member, earn,'
\echo 'source, ref): a retry returns the first entry id and changes nothing.'
SELECT loyalty.earn(:li,   25600 / 100, 'order', 'SO-1001', at => '2026-01-20 14:30') AS "Li Wei SO-1001 256.00",
       loyalty.earn(:lei,   18000 / 100, 'order', 'SO-1000', at => '2026-01-25 20:00') AS "Zhang Lei SO-1000 180.00",
       loyalty.earn(:wang, 52000 / 100, 'order', 'SO-1002', at => '2026-02-10 11:00') AS "Wang Fang SO-1002 520.00",
       loyalty.earn(:li,   25600 / 100, 'order', 'SO-1001', at => '2026-01-20 14:30') AS "retry of SO-1001";
\echo 'The same key with another amount is refused, naming the field that differs:'
\set ON_ERROR_STOP off
SELECT loyalty.earn(:li, 300, 'order', 'SO-1001', at => '2026-01-20 14:30');
\set ON_ERROR_STOP on

\echo ''
\echo '=== 4. A Valentine''s bonus: 500 points that expire at the end of March ====='
\echo 'An explicit expires_at wins over the programme policy. The source starts'
\echo 'with "manual:", so the bonus does not count towards tiers (tier_points).'
SELECT loyalty.earn(:li, 500, 'manual:promo', 'valentine-2026',
                    expires_at => '2026-04-01 00:00', at => '2026-02-14 09:00') AS entry \gset
SELECT available, expiring_30d, lifetime_earned, tier_points
FROM loyalty.balance(:li, at => '2026-02-14 09:00');

\echo '=== 5. Li Wei pays 300 points (3.00 CNY off) at checkout =================='
\echo 'Spending takes the lots that expire soonest first: the bonus, not the order.'
SELECT loyalty.spend(:li, 300, 'order', 'SO-1003', at => '2026-03-08 16:00') AS entry \gset
SELECT available, expiring_30d AS "expiring_30d (of the bonus)"
FROM loyalty.balance(:li, at => '2026-03-08 16:00');

\echo '=== 6. What expires next month? ==========================================='
\echo 'balance().expiring_30d on 10 March; points() just before and at the bonus'
\echo 'expiry (instants are inclusive: a lot is expired when expires_at <= at).'
\echo 'No job has run: balances are right at every instant.'
SELECT (SELECT expiring_30d FROM loyalty.balance(:li, at => '2026-03-10 00:00')) AS "expiring_30d on 10 Mar",
       loyalty.points(:li, at => '2026-03-31 23:59:59') AS "points 31 Mar 23:59:59",
       loyalty.points(:li, at => '2026-04-01 00:00') AS "points 1 Apr 00:00";

\echo '=== 7. Li Wei returns SO-1003 on 10 April, after the bonus expired ========'
\echo 'The 300 points SO-1003 spent go back to the lot they came from: the bonus,'
\echo 'which expired on 1 April. They expire again at once (a refund does not'
\echo 'revive expired points); run_expiry will book them as of 10 April.'
SELECT loyalty.reverse(:li, 'order', 'SO-1003', at => '2026-04-10 15:00') AS entry \gset
SELECT loyalty.points(:li, at => '2026-04-10 14:59') AS "points before",
       loyalty.points(:li, at => '2026-04-10 15:00') AS "points after",
       (SELECT late_returned FROM loyalty.points_lot
        WHERE member_id = :li AND expires_at = '2026-04-01 00:00') AS "returned to the expired bonus";

\echo '=== 8. Wang Fang returns items of SO-1002: partial refunds ================'
\echo 'reverse() takes the CUMULATIVE total that should stand reversed: 120, then'
\echo '220 for both refunds; a retry with 220 changes nothing (same entry id).'
SELECT loyalty.reverse(:wang, 'order', 'SO-1002', 120, at => '2026-02-20 10:00') AS "refund 120.00: total 120",
       loyalty.reverse(:wang, 'order', 'SO-1002', 220, at => '2026-02-25 10:00') AS "refund 100.00: total 220",
       loyalty.reverse(:wang, 'order', 'SO-1002', 220, at => '2026-02-25 10:00') AS "retry: total 220";
SELECT available, lifetime_earned FROM loyalty.balance(:wang, at => '2026-03-01');

\echo '=== 9. Wang Fang cancels an order that both earned and spent points ======='
\echo 'SO-1007 (150.00 CNY) earns 150 points, and she pays 400 points with it: her'
\echo '300 older points (soonest expiry first), then 100 of the 150 just earned.'
\echo 'Cancelled: reverse() with points => NULL undoes the spend FIRST (every point'
\echo 'back to its own lot, with its own expiry), then the earn takes back its 150.'
SELECT loyalty.earn(:wang, 15000 / 100, 'order', 'SO-1007', at => '2026-03-15 11:00') AS earn_so1007,
       loyalty.spend(:wang, 400, 'order', 'SO-1007', at => '2026-03-15 11:00') AS spend_so1007;
SELECT loyalty.reverse(:wang, 'order', 'SO-1007', at => '2026-03-18 10:00') AS entry \gset
SELECT entry, at::date AS day, operation, points, ref,
       detail - 'reverses' - 'from_other_lots' - 'forgiven_expired' AS detail
FROM loyalty.history(:wang, since => '2026-03-15');
SELECT available, debt, lifetime_earned FROM loyalty.balance(:wang, at => '2026-03-18 10:00');

\echo '=== 10. Zhang Min spends her points, then refunds the order that earned them'
\echo 'The points are gone, so the reversal records a debt instead of a negative'
\echo 'balance; her next order pays the debt first.'
SELECT loyalty.earn(:min, 30000 / 100, 'order', 'SO-1004', at => '2026-04-02 12:00') AS earn_so1004,
       loyalty.spend(:min, 300, 'order', 'SO-1005', at => '2026-04-05 18:00') AS spend_so1005,
       loyalty.reverse(:min, 'order', 'SO-1004', at => '2026-04-12 10:00') AS refund_so1004;
SELECT loyalty.earn(:min, 45000 / 100, 'order', 'SO-1006', at => '2026-05-01 15:00') AS entry \gset
SELECT 'after the refund, 12 Apr' AS "when", available, debt, lifetime_earned
FROM loyalty.balance(:min, at => '2026-04-12 10:00')
UNION ALL
SELECT 'after SO-1006 (450.00), 1 May', available, debt, lifetime_earned
FROM loyalty.balance(:min, at => '2026-05-01 15:00');

\echo '=== 11. Family pooling: Zhang Lei gives his mother 100 points ============='
SELECT loyalty.transfer_points(:lei, :min, 100, 'gift-2026-05', at => '2026-05-20 09:00') AS entry \gset
\echo 'A peek at their lots: the 100 points Zhang Min received keep the expiry of'
\echo 'Zhang Lei''s January order (end of January 2027), not a new one.'
SELECT c.name, l.points, l.remaining, l.available_at::date AS available, l.expires_at
FROM loyalty.points_lot l JOIN customer c ON c.member = l.member_id
WHERE l.member_id IN (:lei, :min) AND l.remaining > 0 ORDER BY c.name DESC, l.lot_id;

\echo '=== 12. Everyone''s balance on 1 June ======================================'
\echo 'tier_points leaves out "manual:" earnings and transfers; lifetime_earned'
\echo 'is every point earned less reversals of earnings.'
SELECT c.name, b.*
FROM customer c, loyalty.balance(c.member, at => '2026-06-01') AS b ORDER BY c.member;

\echo '=== 13. Zhang Min''s history (newest first) ================================='
SELECT entry, at::date AS day, operation, points, source, ref,
       detail - 'lots' - 'from_lot' - 'from_other_lots' - 'forgiven_expired' AS detail
FROM loyalty.history(:min);

\echo '=== 14. The nightly job books what has expired ============================'
\echo 'Balances already ignore the expired bonus; run_expiry books "expire" entries'
\echo 'so the daily report can show them: the 200 left of the bonus as of its expiry'
\echo '(1 April), the 300 returned to it by the refund of SO-1003 as of 10 April.'
CALL loyalty.run_expiry(as_of => '2026-06-01 00:05');
SELECT job, as_of, state, batches, items AS lots, amount AS points
FROM loyalty.job_runs ORDER BY run_id DESC LIMIT 1;
SELECT entry, at, operation, points, ref FROM loyalty.history(:li, since => '2026-04-01');

\echo '=== 15. points_daily: booked entries per day (shop time zone) ============='
\echo 'reversed is net: reversing an earn takes points back (+), reversing a spend'
\echo 'gives them back (-), as on 18 March and 10 April.'
SELECT day, earned, spent, expired, reversed, adjusted, transferred
FROM loyalty.points_daily WHERE program = 'demo_shop' ORDER BY day;

\echo '=== 16. points_liability: what the programme owes TODAY ================='
\echo 'This view uses now(), the real clock, not the simulated dates: the story''s'
\echo '2026 points are counted as they stand today. Lots earned in January 2026'
\echo 'expire at the end of January 2027, so from early November 2026 they show in'
\echo 'expiring_90d; on a later date more (eventually all) of them have expired.'
SELECT now()::date AS today, outstanding_points, outstanding_value AS "value (fen)",
       pending_points, expiring_30d, expiring_60d, expiring_90d, debt_points
FROM loyalty.points_liability WHERE program = 'demo_shop';

\echo '=== 17. verify(): every booked figure recomputed from the ledger ========='
SELECT check_name, ok FROM loyalty.verify('demo_shop');
