-- tests/demo/demo.sql: a small shop's year with loyalty points, told through
-- the points API.  `make demo` runs it in a throw-away database `shop`.
-- Every call passes an explicit time (`at => ...`), so the story is simulated
-- in 2026 whatever today's date is; times are the shop's (Asia/Shanghai).
-- Part 2 (scenes 18-40) is a second shop whose order table is tracked by the
-- extension (earning rules, tiers, the order trigger, the member views).  The
-- views use now(), so that story is set in the 240 days before today: every
-- time is days_ago(N, time) and the output counts days back from today.
-- Part 3 (scenes 41-50) runs coupon campaigns in that store over its last two
-- weeks: claims, validation, best_coupons, orders with a coupon column, expiry.
-- Part 4 (scenes 51-63) adds wallets and the points mall to that store over
-- the same two weeks: a funded budget wallet, 2% cashback, paying at checkout
-- from the wallet, refunds (wallet money returned, cashback reversed, debt),
-- rewards with stock, and the wallet and rewards views.
-- Scene 64 keeps the store's own application role to its programme
-- (grant_program): the shop next door is not its business.
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

\echo ''
\echo '#############################################################################'
\echo '# Part 2: an online store tracks its own order table                        #'
\echo '#############################################################################'
\echo 'The second shop lets the extension watch its order table: a trigger prices'
\echo 'each order with earning rules and tiers. The views of this part use the real'
\echo 'clock (now()), so this story is set in the last 8 months: every time is'
\echo 'days_ago(N, time), N days before today, and days_ago columns count back from'
\echo 'today. Only the calendar dates in the output depend on when you run it.'
CREATE FUNCTION days_ago(n int, t time DEFAULT '12:00') RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT ((current_date - n) + t)::timestamptz $$;
-- A birthday in year y on the month and day n days before today (1992 and
-- 1988 are leap years, so 29 February works too).
CREATE FUNCTION birthday_ago(y int, n int) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT make_date(y, extract(month FROM current_date - n)::int,
                                              extract(day FROM current_date - n)::int) $$;
CREATE FUNCTION cny(fen bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(fen / 100.0, 'FM999,999,990.00') $$;

\echo ''
\echo '=== 18. demo_store opens its programme ===================================='
\echo 'A 7-day return window (pending_days 7): a completed order''s points become'
\echo 'usable 7 days later. A tier is kept at least 3 months (retain_months 3);'
\echo 'members without a completed order for 6 months are dormant.'
SELECT loyalty.create_program('demo_store', 'Demo Furniture Store', 'CNY',
         '{"timezone": "Asia/Shanghai", "points_expire_months": 12, "point_value": 1,
           "pending_days": 7, "retain_months": 3, "dormant_months": 6}') AS store_id \gset
SELECT code, settings->'pending_days' AS pending_days, settings->'retain_months' AS retain_months,
       settings->'dormant_months' AS dormant_months, settings->>'tier_basis' AS tier_basis
FROM loyalty.program WHERE code = 'demo_store';

\echo '=== 19. Three tiers (SPEC section 5), on lifetime qualifying points ========='
SELECT loyalty.define_tier('demo_store', 'junior',       1,  5000, 10, 1, '{}') AS junior,
       loyalty.define_tier('demo_store', 'intermediate', 2, 10000, 20, 2, '{"priority_service": true}') AS intermediate,
       loyalty.define_tier('demo_store', 'senior',       3, 20000, 30, 2, '{"birthday_gift": true}') AS senior;
SELECT t.code AS tier, t.rank, t.threshold, t.discount_pct AS "% off",
       t.earn_multiplier AS "points x", t.benefits
FROM loyalty.tier t WHERE t.program_id = :store_id ORDER BY t.rank;
SELECT loyalty.tier_for('demo_store', 4999) AS "4,999 points",
       loyalty.tier_for('demo_store', 5000) AS "5,000",
       loyalty.tier_for('demo_store', 19999) AS "19,999",
       loyalty.tier_for('demo_store', 20000) AS "20,000";

\echo '=== 20. Earning rules ======================================================='
\echo 'base: 10 points per 100.00 CNY (10000 fen) of the order;'
\echo 'birthday: double points on the member''s birthday (the highest promotional'
\echo 'multiplier applies once; the tier''s own multiplier multiplies with it);'
\echo 'signup: 100 points once, for joining.'
SELECT loyalty.define_earn_rule('demo_store', 'base',     '{"on": "order", "per_amount": 10000, "points": 10}') AS base,
       loyalty.define_earn_rule('demo_store', 'birthday', '{"on": "order", "multiplier": 2, "when": {"birthday": true}}') AS birthday,
       loyalty.define_earn_rule('demo_store', 'signup',   '{"on": "signup", "points": 100, "max_times": 1}') AS signup;

\echo '=== 21. Five customers join 240 days ago, with their birthdays =============='
\echo 'Liu Yang''s birthday falls 90 days before today; the others'' birthdays fall'
\echo 'on days nobody orders, so the story is the same whatever today is. Each gets'
\echo 'the signup bonus through record_event; recording it again returns the same'
\echo 'entry and pays nothing more.'
CREATE TEMP TABLE store_customer (name text, external_id text, member bigint);
INSERT INTO store_customer
SELECT name, ext, loyalty.enroll('demo_store', ext, joined_at => days_ago(240, '10:00'), birthday => bday)
FROM (VALUES ('Chen Jing', 'C2001', birthday_ago(1988, 45)),
             ('Liu Yang',  'C2002', birthday_ago(1992, 90)),
             ('Sun Mei',   'C2003', birthday_ago(1976, 75)),
             ('Zhao Lei',  'C2004', birthday_ago(1996, 300)),
             ('Wu Hao',    'C2005', NULL)) AS v(name, ext, bday)
ORDER BY ext;
SELECT max(member) FILTER (WHERE name = 'Chen Jing') AS chen,
       max(member) FILTER (WHERE name = 'Liu Yang') AS liu,
       max(member) FILTER (WHERE name = 'Sun Mei') AS sun,
       max(member) FILTER (WHERE name = 'Zhao Lei') AS zhao,
       max(member) FILTER (WHERE name = 'Wu Hao') AS wu
FROM store_customer \gset
SELECT c.name, c.external_id, m.birthday,
       to_char(m.birthday, 'MM-DD') = to_char(current_date - 90, 'MM-DD') AS "birthday 90 days ago",
       loyalty.record_event(c.member, 'signup', 'welcome', at => days_ago(240, '10:00'))
         = loyalty.record_event(c.member, 'signup', 'welcome', at => days_ago(240, '10:00')) AS "same entry again"
FROM store_customer c JOIN loyalty.member m ON m.member_id = c.member ORDER BY c.external_id;
SELECT c.name, b.available, b.pending, b.tier_points
FROM store_customer c, loyalty.balance(c.member, at => days_ago(240, '10:00')) b ORDER BY c.external_id;
\echo 'What an order would earn (quote_points writes nothing): 123.45 CNY earns 12'
\echo '(computed exactly, rounded once); 3,999.00 earns 399.'
SELECT loyalty.quote_points(:chen, 12345, at => days_ago(240)) AS "123.45",
       loyalty.quote_points(:chen, 399900, at => days_ago(240)) AS "3,999.00";

\echo '=== 22. The store''s order table, tracked by loyalty ========================='
\echo 'total is in fen; status_at is when the status last changed: it is the'
\echo 'time_column, the instant the trigger books each change at.'
CREATE TABLE store_orders (
    id         text PRIMARY KEY,
    customer   text,                       -- external_id; NULL for a guest checkout
    total      bigint NOT NULL,
    status     text NOT NULL,
    lines      jsonb,
    created_at timestamptz NOT NULL,
    status_at  timestamptz NOT NULL
);
SELECT loyalty.track_orders('store_orders', 'demo_store',
         member_column => 'customer', amount_column => 'total', status_column => 'status',
         lines_column => 'lines', time_column => 'status_at') > 0 AS tracked;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'store_orders'::regclass;

\echo '=== 23. Paid is pending: Chen Jing buys a sofa set 200 days ago ============='
\echo 'Zhao Lei''s 1,280.00 order (230 days ago) went paid -> completed two days'
\echo 'later. Chen Jing''s 52,000.00 order is paid: its 5,200 points are recorded'
\echo 'but pending until the order completes, and do not count towards tiers.'
INSERT INTO store_orders VALUES
  ('SO-2000', 'C2004', 128000, 'paid', '[{"sku": "LAMP-01", "category": "lighting", "price": 64000, "qty": 2}]',
   days_ago(230, '19:00'), days_ago(230, '19:00'));
UPDATE store_orders SET status = 'completed', status_at = days_ago(228, '15:00') WHERE id = 'SO-2000';
INSERT INTO store_orders VALUES
  ('SO-2001', 'C2001', 5200000, 'paid',
   '[{"sku": "SOFA-3S", "category": "sofas", "price": 4500000}, {"sku": "TABLE-C", "category": "tables", "price": 700000}]',
   days_ago(200, '11:00'), days_ago(200, '11:00'));
SELECT o.id, c.name, o.status, s.earned, s.state
FROM store_orders o JOIN store_customer c ON c.external_id = o.customer
JOIN loyalty.order_state s ON s.order_id = o.id AND s.member_id = c.member ORDER BY o.id;
SELECT available, pending, tier_points, loyalty.tier(:chen, days_ago(200, '11:00')) AS tier
FROM loyalty.balance(:chen, at => days_ago(200, '11:00'));

\echo '=== 24. Delivered: the points wait out the 7-day return window =============='
\echo 'SO-2001 completes 196 days ago: it counts towards tiers at once (100 + 5,200'
\echo '= 5,300: Chen Jing is junior), but its points are usable 7 days later.'
UPDATE store_orders SET status = 'completed', status_at = days_ago(196, '16:00') WHERE id = 'SO-2001';
SELECT 'completed, 196 days ago' AS "when", available, pending, tier_points,
       loyalty.tier(:chen, days_ago(196, '16:00')) AS tier
FROM loyalty.balance(:chen, at => days_ago(196, '16:00'))
UNION ALL
SELECT 'one second before the window ends', available, pending, tier_points,
       loyalty.tier(:chen, days_ago(189, '16:00') - interval '1 second')
FROM loyalty.balance(:chen, at => days_ago(189, '16:00') - interval '1 second')
UNION ALL
SELECT 'return window over, 189 days ago', available, pending, tier_points,
       loyalty.tier(:chen, days_ago(189, '16:00'))
FROM loyalty.balance(:chen, at => days_ago(189, '16:00'));
SELECT current_date - at::date AS days_ago, from_tier, to_tier, qualifying, reason
FROM loyalty.tier_history(:chen);

\echo '=== 25. More orders, 180 to 158 days ago ==================================='
\echo 'Liu Yang 3,999.00 (399 points); Sun Mei 49,900.00 (4,990: with her 100 signup'
\echo 'points, junior on completion) and 8,000.00 (800). A multi-row UPDATE completes'
\echo 'each order at its own status_at.'
INSERT INTO store_orders VALUES
  ('SO-2002', 'C2002', 399900, 'paid', '[{"sku": "CHAIR-E", "category": "chairs", "price": 133300, "qty": 3}]',
   days_ago(180, '20:00'), days_ago(180, '20:00')),
  ('SO-2003', 'C2003', 4990000, 'paid', '[{"sku": "BED-K", "category": "beds", "price": 4990000}]',
   days_ago(170, '10:00'), days_ago(170, '10:00'));
UPDATE store_orders SET status = 'completed', status_at = v.at
FROM (VALUES ('SO-2002', days_ago(178, '12:00')), ('SO-2003', days_ago(168, '12:00'))) AS v(id, at)
WHERE store_orders.id = v.id;
INSERT INTO store_orders VALUES
  ('SO-2004', 'C2003', 800000, 'paid', '[{"sku": "RUG-L", "category": "rugs", "price": 200000, "qty": 4}]',
   days_ago(160, '10:00'), days_ago(160, '10:00'));
UPDATE store_orders SET status = 'completed', status_at = days_ago(158, '12:00') WHERE id = 'SO-2004';
SELECT o.id, c.name, cny(o.total) AS "total CNY", s.state, s.earned,
       current_date - s.completed_at::date AS "completed days_ago"
FROM store_orders o JOIN store_customer c ON c.external_id = o.customer
JOIN loyalty.order_state s ON s.order_id = o.id AND s.member_id = c.member
WHERE o.id IN ('SO-2002', 'SO-2003', 'SO-2004') ORDER BY o.id;
SELECT c.name, loyalty.tier(c.member, days_ago(158, '12:00')) AS tier, b.tier_points
FROM store_customer c, loyalty.balance(c.member, at => days_ago(158, '12:00')) b
WHERE c.member IN (:liu, :sun) ORDER BY c.external_id;

\echo '=== 26. Sun Mei returns some rugs: partial refunds through loyalty.refund ==='
\echo 'SO-2004 (8,000.00) earned 800. Refund 2,000.00 (150 days ago), then 1,000.00'
\echo '(140 days ago): the reversed total is E - floor(E x (A - R) / A), 200 then 300.'
\echo 'Each refund is keyed by the shop''s refund ref: a retry returns its result.'
SELECT loyalty.refund('store_orders', 'SO-2004', 200000, 'RF-2004-1', at => days_ago(150)) AS "refund 2,000.00",
       loyalty.refund('store_orders', 'SO-2004', 100000, 'RF-2004-2', at => days_ago(140)) AS "refund 1,000.00",
       loyalty.refund('store_orders', 'SO-2004', 200000, 'RF-2004-1', at => days_ago(140)) AS "retry RF-2004-1";
SELECT s.amount, s.refunded, s.earned, s.state
FROM loyalty.order_state s WHERE s.member_id = :sun AND s.order_id = 'SO-2004';
SELECT available, tier_points FROM loyalty.balance(:sun, at => days_ago(140));

\echo '=== 27. Chen Jing reaches intermediate: her next order earns double ========='
\echo 'SO-2006 (48,000.00, paid 120 days ago) is priced at junior rate: 4,800. On'
\echo 'completion (117 days ago) she has 100 + 5,200 + 4,800 = 10,100: intermediate,'
\echo 'with 2x points from the next order priced.'
INSERT INTO store_orders VALUES
  ('SO-2006', 'C2001', 4800000, 'paid', '[{"sku": "WARD-4D", "category": "wardrobes", "price": 4800000}]',
   days_ago(120, '14:00'), days_ago(120, '14:00'));
UPDATE store_orders SET status = 'completed', status_at = days_ago(117, '14:00') WHERE id = 'SO-2006';
SELECT current_date - at::date AS days_ago, from_tier, to_tier, qualifying, reason
FROM loyalty.tier_history(:chen);
SELECT tier, discount_pct, earn_multiplier, benefits FROM loyalty.tier_benefits(:chen, days_ago(117, '14:00'));
\echo 'SO-2009 (12,345.67, 110 days ago): 1,234.567 x 2 = 2,469.134, rounded once: 2,469.'
SELECT loyalty.quote_points(:chen, 1234567, at => days_ago(117, '13:00')) AS "quote before the upgrade",
       loyalty.quote_points(:chen, 1234567, at => days_ago(110, '10:00')) AS "quote after";
INSERT INTO store_orders VALUES
  ('SO-2009', 'C2001', 1234567, 'paid', '[{"sku": "DESK-S", "category": "desks", "price": 1234567}]',
   days_ago(110, '10:00'), days_ago(110, '10:00'));
UPDATE store_orders SET status = 'completed', status_at = days_ago(106, '10:00') WHERE id = 'SO-2009';
SELECT o.id, s.earned, s.priced - 'amount' AS priced
FROM store_orders o JOIN loyalty.order_state s ON s.order_id = o.id AND s.member_id = :chen
WHERE o.id IN ('SO-2006', 'SO-2009') ORDER BY o.id;

\echo '=== 28. Sun Mei returns the bed (SO-2003), 100 days ago ====================='
\echo 'Its 4,990 points are taken back and she falls to 600 qualifying points, but'
\echo 'tiers never drop at once: she stays junior until a review. The review of 95'
\echo 'days ago keeps her junior anyway: reached 168 days ago, retained 3 months.'
UPDATE store_orders SET status = 'refunded', status_at = days_ago(100, '09:00') WHERE id = 'SO-2003';
SELECT available, tier_points, loyalty.tier(:sun, days_ago(100, '09:00')) AS tier
FROM loyalty.balance(:sun, at => days_ago(100, '09:00'));
CALL loyalty.run_tier_review(as_of => days_ago(95, '02:00'));
SELECT job, state, items AS "tier changes", amount AS "members reviewed"
FROM loyalty.job_runs WHERE job = 'run_tier_review' ORDER BY run_id DESC LIMIT 1;
SELECT loyalty.tier(:sun, days_ago(95, '02:00')) AS "Sun Mei after the review";

\echo '=== 29. Liu Yang''s birthday order, 90 days ago: double points ==============='
\echo '2,500.00 earns 250 on any other day, 500 on her birthday.'
SELECT loyalty.quote_points(:liu, 250000, at => days_ago(91)) AS "day before",
       loyalty.quote_points(:liu, 250000, at => days_ago(90)) AS "birthday",
       loyalty.quote_points(:liu, 250000, at => days_ago(89)) AS "day after";
INSERT INTO store_orders VALUES
  ('SO-2007', 'C2002', 250000, 'paid', '[{"sku": "SHELF-5", "category": "shelves", "price": 125000, "qty": 2}]',
   days_ago(90, '15:00'), days_ago(90, '15:00'));
UPDATE store_orders SET status = 'completed', status_at = days_ago(88, '15:00') WHERE id = 'SO-2007';
SELECT s.order_id, s.earned, s.state, s.priced - 'amount' AS priced
FROM loyalty.order_state s WHERE s.member_id = :liu ORDER BY s.order_id;

\echo '=== 30. Liu Yang cancels an order paid partly with points, 80 days ago ====='
\echo 'SO-2008 (1,500.00) is paid with 300 points off: it earns 150 pending points.'
\echo 'Cancelled the next day: the earn is reversed and the 300 points come back.'
SELECT loyalty.spend(:liu, 300, 'checkout', 'SO-2008', at => days_ago(80, '21:00')) > 0 AS spent;
INSERT INTO store_orders VALUES
  ('SO-2008', 'C2002', 150000, 'paid', '[{"sku": "STOOL-B", "category": "chairs", "price": 50000, "qty": 3}]',
   days_ago(80, '21:00'), days_ago(80, '21:00'));
SELECT 'paid with 300 points' AS "when", available, pending, lifetime_earned
FROM loyalty.balance(:liu, at => days_ago(80, '21:00'));
UPDATE store_orders SET status = 'cancelled', status_at = days_ago(79, '09:00') WHERE id = 'SO-2008';
SELECT 'cancelled' AS "when", available, pending, lifetime_earned
FROM loyalty.balance(:liu, at => days_ago(79, '09:00'));
SELECT current_date - at::date AS days_ago, operation, points, source, ref
FROM loyalty.history(:liu, since => days_ago(80)) ORDER BY entry;

\echo '=== 31. The last weeks: a pending order, a new customer, a guest ============'
\echo 'Liu Yang pays SO-2010 (680.00) 20 days ago, not delivered yet. Guo Qiang'
\echo '(C2006) was never enrolled: his first order enrolls him. A guest checkout'
\echo '(no customer) is ignored.'
INSERT INTO store_orders VALUES
  ('SO-2010', 'C2002', 68000, 'paid', '[{"sku": "VASE-M", "category": "decor", "price": 34000, "qty": 2}]',
   days_ago(20, '18:00'), days_ago(20, '18:00')),
  ('SO-2011', 'C2006', 89900, 'paid', '[{"sku": "MIRROR-R", "category": "decor", "price": 89900}]',
   days_ago(10, '13:00'), days_ago(10, '13:00')),
  ('SO-2012', NULL, 45000, 'paid', '[{"sku": "VASE-M", "category": "decor", "price": 45000}]',
   days_ago(10, '14:00'), days_ago(10, '14:00'));
UPDATE store_orders SET status = 'completed', status_at = days_ago(5, '10:00') WHERE id IN ('SO-2011', 'SO-2012');
INSERT INTO store_customer SELECT 'Guo Qiang', 'C2006', loyalty.member('demo_store', 'C2006');
SELECT m.external_id, current_date - m.joined_at::date AS "joined days_ago", m.birthday
FROM loyalty.member m WHERE m.member_id = loyalty.member('demo_store', 'C2006');
SELECT o.id, o.customer, o.status, s.state, s.earned
FROM store_orders o LEFT JOIN loyalty.order_state s ON s.order_id = o.id
WHERE o.id IN ('SO-2010', 'SO-2011', 'SO-2012') ORDER BY o.id;

\echo '=== 32. Today''s tier review: Sun Mei goes down ============================='
\echo 'Her 3 months are over and 600 qualifying points reach no tier. Chen Jing'
\echo 'keeps intermediate. A second run changes nothing.'
CALL loyalty.run_tier_review();
CALL loyalty.run_tier_review();
SET client_min_messages = notice;
SELECT * FROM (
  SELECT job, state, items AS "tier changes", amount AS "members reviewed"
  FROM loyalty.job_runs WHERE job = 'run_tier_review' ORDER BY run_id DESC LIMIT 2) last_two
ORDER BY "tier changes" DESC;
SELECT c.name, current_date - h.at::date AS days_ago, h.from_tier, h.to_tier, h.qualifying, h.reason
FROM store_customer c, loyalty.tier_history(c.member) h ORDER BY c.external_id, h.at;

\echo '=== 33. member_overview (today) ============================================'
\echo 'pending: Liu Yang''s undelivered SO-2010, Guo Qiang''s order still in its'
\echo 'return window. spend counts paid and completed orders less refunds;'
\echo 'cancelled and refunded orders do not count.'
SELECT c.name, v.tier, v.available, v.pending, v.lifetime, v.debt, v.orders, cny(v.spend) AS "spend CNY",
       current_date - v.first_order::date AS "first days_ago",
       current_date - v.last_order::date AS "last days_ago"
FROM loyalty.member_overview v JOIN store_customer c ON c.member = v.member
WHERE v.program = 'demo_store' ORDER BY v.member;

\echo '=== 34. tier_distribution (tier "-": below junior) ========================='
SELECT tier, rank, members, share_pct FROM loyalty.tier_distribution
WHERE program = 'demo_store' ORDER BY rank NULLS FIRST;

\echo '=== 35. dormant_members: no completed order in 6 months ===================='
\echo 'Zhao Lei''s last order completed 228 days ago; Wu Hao never ordered (counted'
\echo 'from joining, 240 days ago).'
SELECT c.name, d.tier, current_date - d.last_order::date AS "last order days_ago",
       d.available, d.dormant_months
FROM loyalty.dormant_members d JOIN store_customer c ON c.member = d.member
WHERE d.program = 'demo_store' ORDER BY d.member;

\echo '=== 36. spend_distribution (CNY) ==========================================='
SELECT bucket, members, share_pct FROM loyalty.spend_distribution
WHERE program = 'demo_store' ORDER BY bucket_order;

\echo '=== 37. purchase_frequency (paid or completed orders) ======================'
SELECT bucket, members, share_pct FROM loyalty.purchase_frequency
WHERE program = 'demo_store' ORDER BY bucket_order;

\echo '=== 38. rfm: recency, frequency, monetary quintiles (5 best) ==============='
SELECT c.name, r.recency_days, r.frequency, cny(r.monetary) AS "monetary CNY", r.r_score, r.f_score, r.m_score
FROM loyalty.rfm r JOIN store_customer c ON c.member = r.member
WHERE r.program = 'demo_store' ORDER BY r.member;

\echo '=== 39. points_daily for demo_store ========================================'
\echo 'Completions book a "release" entry that moves no points: they add no row.'
\echo 'reversed on day 79: +150 taken back from the cancelled order, -300 given back.'
SELECT current_date - day AS days_ago, earned, spent, expired, reversed, adjusted, transferred
FROM loyalty.points_daily WHERE program = 'demo_store' ORDER BY day;

\echo '=== 40. verify() over both programmes ======================================'
SELECT check_name, ok FROM loyalty.verify();

\echo ''
\echo '#############################################################################'
\echo '# Part 3: coupons in demo_store                                             #'
\echo '#############################################################################'
\echo 'The same store runs coupon campaigns over the last two weeks. Times are'
\echo 'still days_ago(N, time); "in N days" counts forward from today. Coupon codes'
\echo 'are random, so the output names each coupon by its campaign.'
-- try_claim: claim by campaign (code NULL) or by an issued code; a refusal
-- (LY002) is caught and its reason word, from the error detail, returned.
CREATE FUNCTION try_claim(m bigint, campaign text, code loyalty.coupon_code, at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE detail text;
BEGIN
  IF code IS NULL THEN PERFORM loyalty.claim_coupon(m, campaign, at);
  ELSE PERFORM loyalty.claim_code(m, code, at);
  END IF;
  RETURN 'claimed';
EXCEPTION WHEN SQLSTATE 'LY002' THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN 'refused: ' || replace(detail, 'reason: ', '');
END $$;
-- best_offer: best_coupons in the order of application, named by campaign,
-- and a total row.
CREATE FUNCTION best_offer(m bigint, cart jsonb, at timestamptz)
RETURNS TABLE(step bigint, campaign text, discount bigint)
LANGUAGE sql STABLE AS $$
  WITH b AS (
    SELECT b.n, t.code AS campaign, b.discount
    FROM loyalty.best_coupons(m, cart, at) WITH ORDINALITY AS b(code, discount, n)
    JOIN loyalty.coupon c ON c.code OPERATOR(loyalty.=) b.code
    JOIN loyalty.coupon_template t ON t.template_id = c.template_id)
  SELECT n, campaign, discount FROM b
  UNION ALL
  SELECT NULL, 'total', sum(discount)::bigint FROM b
$$;
-- campaign_of: the campaign of a coupon code.
CREATE FUNCTION campaign_of(code loyalty.coupon_code) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT t.code FROM loyalty.coupon c JOIN loyalty.coupon_template t USING (template_id)
  WHERE c.code OPERATOR(loyalty.=) campaign_of.code $$;

\echo ''
\echo '=== 41. Four campaigns, opened 14 days ago ================================='
\echo 'save20:    spend 200.00, save 20.00 (store coupon, min_spend on the list total);'
\echo '           one per customer, usable 14 days from the claim.'
\echo 'decor15:   15% off decor lines, at most 100.00 off (max_discount 10000).'
\echo 'vip8:      8% off the whole order, for intermediate and senior members, and'
\echo '           exclusive: nothing else on the same order. No end date.'
\echo 'winback50: 50.00 off 300.00, hidden (no claiming by campaign): the store'
\echo '           texts issued codes to dormant customers; only 2 coupons in all.'
\echo 'save20, decor15 and winback50 end in 16 days.'
SELECT loyalty.define_coupon('demo_store', 'save20', jsonb_build_object(
         'kind', 'fixed', 'value', 2000, 'min_spend', 20000, 'valid_days', 14,
         'per_member_limit', 1, 'total_quantity', 500,
         'valid_from', days_ago(14, '00:00'), 'valid_until', days_ago(-16, '00:00'),
         'description', 'spend 200.00, save 20.00')) AS save20,
       loyalty.define_coupon('demo_store', 'decor15', jsonb_build_object(
         'scope', 'items', 'categories', jsonb_build_array('decor'),
         'kind', 'percent', 'value', 15, 'max_discount', 10000, 'per_member_limit', 1,
         'valid_from', days_ago(14, '00:00'), 'valid_until', days_ago(-16, '00:00'),
         'description', '15% off decor, at most 100.00')) AS decor15,
       loyalty.define_coupon('demo_store', 'vip8', jsonb_build_object(
         'kind', 'percent', 'value', 8, 'stacking', 'exclusive', 'per_member_limit', 1,
         'audience', jsonb_build_object('tiers', jsonb_build_array('intermediate', 'senior')),
         'valid_from', days_ago(14, '00:00'),
         'description', '8% off, members intermediate and up')) AS vip8,
       loyalty.define_coupon('demo_store', 'winback50', jsonb_build_object(
         'kind', 'fixed', 'value', 5000, 'min_spend', 30000, 'hidden', true,
         'total_quantity', 2,
         'valid_from', days_ago(14, '00:00'), 'valid_until', days_ago(-16, '00:00'),
         'description', 'we miss you: 50.00 off 300.00')) AS winback50 \gset
SELECT code AS campaign, scope, kind, value, max_discount, min_spend, stacking,
       hidden, total_quantity AS total, per_member_limit AS per_member, valid_days,
       valid_until::date - current_date AS "ends in days", audience_tiers
FROM loyalty.coupon_template WHERE program_id = :store_id ORDER BY template_id;

\echo '=== 42. Customers claim coupons, 6 days ago ================================='
\echo 'winback50''s 3 codes are texted to Zhao Lei and Wu Hao (dormant, scene 35);'
\echo 'Zhao Lei forwards the third to Sun Mei. Refused claims return a reason word:'
\echo 'Liu Yang already has her save20 (limit_reached) and has no tier for vip8'
\echo '(not_eligible); winback50 is hidden; 2 codes claimed use up its 2 coupons.'
CREATE TEMP TABLE sms AS
SELECT row_number() OVER () AS n, code FROM loyalty.issue_codes('demo_store', 'winback50', 3) AS code;
SELECT code AS sms1 FROM sms WHERE n = 1 \gset
SELECT code AS sms2 FROM sms WHERE n = 2 \gset
SELECT code AS sms3 FROM sms WHERE n = 3 \gset
SELECT c.name, v.what, try_claim(c.member, v.campaign, v.code, v.at) AS result
FROM (VALUES ( 1, 'C2001', 'save20',           'save20',    NULL::loyalty.coupon_code, days_ago(6, '09:00')),
             ( 2, 'C2001', 'decor15',          'decor15',   NULL,        days_ago(6, '09:01')),
             ( 3, 'C2001', 'vip8',             'vip8',      NULL,        days_ago(6, '09:02')),
             ( 4, 'C2002', 'save20',           'save20',    NULL,        days_ago(6, '10:00')),
             ( 5, 'C2002', 'decor15',          'decor15',   NULL,        days_ago(6, '10:01')),
             ( 6, 'C2002', 'save20 again',     'save20',    NULL,        days_ago(6, '10:02')),
             ( 7, 'C2002', 'vip8',             'vip8',      NULL,        days_ago(6, '10:03')),
             ( 8, 'C2006', 'save20',           'save20',    NULL,        days_ago(6, '11:00')),
             ( 9, 'C2003', 'winback50',        'winback50', NULL,        days_ago(6, '12:00')),
             (10, 'C2004', 'SMS code 1',       NULL,        :'sms1',     days_ago(6, '12:05')),
             (11, 'C2005', 'SMS code 2',       NULL,        :'sms2',     days_ago(6, '12:10')),
             (12, 'C2003', 'SMS code 3',       NULL,        :'sms3',     days_ago(6, '12:15')))
     AS v(n, customer, what, campaign, code, at)
JOIN store_customer c ON c.external_id = v.customer ORDER BY v.n;
SELECT max(m.code::text) FILTER (WHERE c.name = 'Chen Jing' AND m.template = 'save20') AS chen_save20,
       max(m.code::text) FILTER (WHERE c.name = 'Chen Jing' AND m.template = 'decor15') AS chen_decor15,
       max(m.code::text) FILTER (WHERE c.name = 'Chen Jing' AND m.template = 'vip8') AS chen_vip8,
       max(m.code::text) FILTER (WHERE c.name = 'Liu Yang' AND m.template = 'save20') AS liu_save20,
       max(m.code::text) FILTER (WHERE c.name = 'Liu Yang' AND m.template = 'decor15') AS liu_decor15
FROM store_customer c, loyalty.member_coupons(c.member) m \gset
\echo 'Wallets today: save20 ends 14 days after its claim (in 8 days), the others'
\echo 'with their campaign; vip8 has no end.'
SELECT c.name, m.template AS campaign, m.state, m.valid_until::date - current_date AS "ends in days"
FROM store_customer c, loyalty.member_coupons(c.member) m ORDER BY c.external_id, m.template;
SELECT (SELECT count(*) FROM loyalty.coupon WHERE template_id = :winback50 AND member_id IS NULL)
         AS "winback50 codes nobody claimed",
       (SELECT claimed FROM loyalty.coupon_template WHERE template_id = :winback50) AS "claimed",
       (SELECT total_quantity FROM loyalty.coupon_template WHERE template_id = :winback50) AS "total_quantity";

\echo '=== 43. validate_coupon: may Liu Yang use this code on this cart? ========='
\echo 'Her cart, 3 days ago: a vase 340.00 and 3 cushions at 60.00, all decor:'
\echo 'list total 520.00. decor15 takes 15% of the decor lines (78.00, under the'
\echo '100.00 cap); save20 20.00. A 150.00 cart is below save20''s 200.00; decor15'
\echo 'covers no line of a stool; Chen Jing''s vip8 is not hers; her save20 ends in'
\echo '8 days. validate_coupon never raises for these: it returns the reason.'
\set liu_cart '{"lines": [{"sku": "VASE-M", "category": "decor", "price": 34000}, {"sku": "CUSHION-S", "category": "decor", "price": 6000, "qty": 3}]}'
SELECT v.n, v.what, r.ok, r.discount, r.reason
FROM (VALUES (1, 'decor15 on the 520.00 cart', :'liu_decor15'::loyalty.coupon_code, :'liu_cart'::jsonb, days_ago(3, '20:00')),
             (2, 'save20 on the 520.00 cart', :'liu_save20', :'liu_cart', days_ago(3, '20:00')),
             (3, 'save20 on a 150.00 candle set', :'liu_save20',
                 '{"lines": [{"sku": "CANDLE-3", "category": "decor", "price": 15000}]}', days_ago(3, '20:00')),
             (4, 'decor15 on a 500.00 stool', :'liu_decor15',
                 '{"lines": [{"sku": "STOOL-B", "category": "chairs", "price": 50000}]}', days_ago(3, '20:00')),
             (5, 'Chen Jing''s vip8', :'chen_vip8', :'liu_cart', days_ago(3, '20:00')),
             (6, 'save20, in 10 days', :'liu_save20', :'liu_cart', days_ago(-10, '20:00')))
     AS v(n, what, code, cart, at),
     LATERAL loyalty.validate_coupon(v.code, :liu, v.cart, v.at) r
ORDER BY v.n;

\echo '=== 44. best_coupons: the best allowed combination for Chen Jing ==========='
\echo 'Her cart, 3 days ago: 2 vases at 340.00 (decor) and a 640.00 lamp: 1,320.00.'
\echo 'Alone: decor15 15% of 680.00 = 102.00, capped at 100.00; save20 20.00; vip8'
\echo '8% of 1,320.00 = 105.60. vip8 is exclusive, decor15 (an item coupon) and'
\echo 'save20 (the one store coupon) combine: 100.00 + 20.00 = 120.00 beats 105.60.'
\set chen_cart '{"lines": [{"sku": "VASE-M", "category": "decor", "price": 34000, "qty": 2}, {"sku": "LAMP-01", "category": "lighting", "price": 64000}]}'
SELECT m.template AS campaign, v.ok, v.discount AS "discount alone", v.reason
FROM loyalty.member_coupons(:chen, days_ago(3, '15:00')) m,
     LATERAL loyalty.validate_coupon(m.code, :chen, :'chen_cart', days_ago(3, '15:00')) v
ORDER BY m.template;
SELECT step, campaign, discount FROM best_offer(:chen, :'chen_cart', days_ago(3, '15:00'))
ORDER BY step NULLS LAST;
\echo 'On a 45,000.00 sofa decor15 covers nothing and vip8 alone (3,600.00) beats'
\echo 'save20 (20.00):'
SELECT step, campaign, discount
FROM best_offer(:chen, '{"lines": [{"sku": "SOFA-3S", "category": "sofas", "price": 4500000}]}', days_ago(3, '15:00'))
ORDER BY step NULLS LAST;

\echo '=== 45. The order table gets a coupon column ================================'
\echo 'store_orders is re-tracked with coupon_column: untrack_orders, then'
\echo 'track_orders again. The tracking keeps its id, and orders recorded before'
\echo 'carry on: Liu Yang''s SO-2010, paid 20 days ago, is delivered 2 days ago'
\echo 'and completes with its 68 points.'
SELECT tracked_id AS tracked_before FROM loyalty.tracked_table WHERE orders = 'store_orders'::regclass \gset
ALTER TABLE store_orders ADD COLUMN coupon loyalty.coupon_code;
SELECT loyalty.untrack_orders('store_orders') AS untracked \gset
SELECT :tracked_before AS "tracking id before",
       loyalty.track_orders('store_orders', 'demo_store',
         member_column => 'customer', amount_column => 'total', status_column => 'status',
         lines_column => 'lines', time_column => 'status_at', coupon_column => 'coupon') AS "after";
UPDATE store_orders SET status = 'completed', status_at = days_ago(2, '10:00') WHERE id = 'SO-2010';
SELECT s.order_id, s.state, s.earned, current_date - s.completed_at::date AS "completed days_ago"
FROM loyalty.order_state s WHERE s.order_id = 'SO-2010';

\echo '=== 46. Chen Jing orders with two coupons, 3 days ago ======================'
\echo 'SO-2013 carries decor15 in its coupon column: the trigger redeems it when the'
\echo 'order is written paid. The column holds one code, so the application redeems'
\echo 'the second coupon of best_coupons'' combination, save20, on the same order.'
\echo 'total is what she paid: 1,320.00 - 120.00 = 1,200.00, which earns 120 x 2'
\echo '(intermediate) = 240 pending points.'
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at, coupon)
VALUES ('SO-2013', 'C2001', 120000, 'paid', :'chen_cart'::jsonb -> 'lines',
        days_ago(3, '15:00'), days_ago(3, '15:00'), :'chen_decor15');
SELECT loyalty.redeem_coupon(:'chen_save20', :chen, 'SO-2013', :'chen_cart', days_ago(3, '15:00')) AS "save20 redeemed";
SELECT campaign_of(c.code) AS campaign, c.state, c.order_ref, c.discount, c.order_value
FROM loyalty.coupon c WHERE c.order_ref = 'SO-2013' ORDER BY c.discount DESC;
SELECT s.order_id, s.state, s.amount, s.earned FROM loyalty.order_state s WHERE s.order_id = 'SO-2013';

\echo '=== 47. Liu Yang cancels an order: its coupon comes back ==================='
\echo 'SO-2014 (her 520.00 decor cart, 78.00 off with decor15: she pays 442.00) is'
\echo 'paid 3 days ago and cancelled the next morning: the trigger releases the'
\echo 'coupon, available again until the campaign ends. She orders the same cart'
\echo 'again yesterday (SO-2015) and the coupon is used by the new order.'
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at, coupon)
VALUES ('SO-2014', 'C2002', 44200, 'paid', :'liu_cart'::jsonb -> 'lines',
        days_ago(3, '20:00'), days_ago(3, '20:00'), :'liu_decor15');
CREATE TEMP TABLE liu_decor15_log AS
SELECT 1 AS n, 'SO-2014 paid' AS step, state, order_ref, discount, order_value
FROM loyalty.coupon WHERE code OPERATOR(loyalty.=) :'liu_decor15';
UPDATE store_orders SET status = 'cancelled', status_at = days_ago(2, '09:00') WHERE id = 'SO-2014';
INSERT INTO liu_decor15_log
SELECT 2, 'SO-2014 cancelled', state, order_ref, discount, order_value
FROM loyalty.coupon WHERE code OPERATOR(loyalty.=) :'liu_decor15';
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at, coupon)
VALUES ('SO-2015', 'C2002', 44200, 'paid', :'liu_cart'::jsonb -> 'lines',
        days_ago(1, '19:00'), days_ago(1, '19:00'), :'liu_decor15');
INSERT INTO liu_decor15_log
SELECT 3, 'SO-2015 paid', state, order_ref, discount, order_value
FROM loyalty.coupon WHERE code OPERATOR(loyalty.=) :'liu_decor15';
SELECT step, state AS "decor15 state", order_ref, discount, order_value FROM liu_decor15_log ORDER BY n;
\echo 'Her ledger: the cancel took back SO-2014''s 44 pending points.'
SELECT current_date - at::date AS days_ago, operation, points, ref
FROM loyalty.history(:liu, since => days_ago(3)) WHERE ref IN ('SO-2014', 'SO-2015') ORDER BY entry;

\echo '=== 48. Wu Hao comes back with his SMS code, yesterday ======================'
\echo 'A 2,000.00 rug with winback50 (50.00 off 300.00): he pays 1,950.00, and the'
\echo 'order earns 195 pending points. The orders with a coupon so far (SO-2014''s'
\echo '44 points were taken back when it was cancelled):'
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at, coupon)
VALUES ('SO-2016', 'C2005', 195000, 'paid', '[{"sku": "RUG-L", "category": "rugs", "price": 200000}]',
        days_ago(1, '11:00'), days_ago(1, '11:00'), :'sms2');
SELECT o.id, c.name, o.status, campaign_of(o.coupon) AS coupon,
       cny((SELECT sum((l->>'price')::bigint * coalesce((l->>'qty')::int, 1))
            FROM jsonb_array_elements(o.lines) l)::bigint) AS "list CNY",
       cny(o.total) AS "paid CNY", s.state, s.earned
FROM store_orders o JOIN store_customer c ON c.external_id = o.customer
LEFT JOIN loyalty.order_state s ON s.order_id = o.id
WHERE o.coupon IS NOT NULL ORDER BY o.id;

\echo '=== 49. coupon_performance today ==========================================='
\echo 'save20: 3 claimed, Chen Jing''s used. decor15: both used, 100.00 + 78.00.'
\echo 'winback50: 2 claimed, Wu Hao''s used, the third code still unclaimed.'
\echo 'rate % is redeemed / claimed; order_value is the list total of the carts'
\echo 'the coupons were used on.'
SELECT template AS campaign, claimed, redeemed, expired, issued_unclaimed,
       redemption_rate_pct AS "rate %", discount_given, order_value
FROM loyalty.coupon_performance WHERE program = 'demo_store' ORDER BY template;

\echo '=== 50. The campaigns end: expire_coupons as of 30 days from now ==========='
\echo 'Coupons stop being usable at their valid_until without any job; the job'
\echo 'books it (nightly, as of now()). Run here as of a future instant, after the'
\echo 'campaigns end (in 16 days), it books 4 coupons: the unused save20 of Liu'
\echo 'Yang and Guo Qiang, Zhao Lei''s winback50 and the unclaimed third code,'
\echo 'each closed at its own valid_until. vip8 has no end: Chen Jing''s wallet'
\echo '30 days from now still has it available.'
\echo 'In coupon_performance, expired counts claimed coupons; the unclaimed code'
\echo 'moves from issued_unclaimed to issued_expired.'
SET client_min_messages = warning;
CALL loyalty.expire_coupons(days_ago(-30, '00:00'));
SET client_min_messages = notice;
SELECT job, state, batches, items AS "coupons expired", as_of::date - current_date AS "as_of in days"
FROM loyalty.job_runs WHERE job = 'expire_coupons' ORDER BY run_id DESC LIMIT 1;
SELECT template AS campaign, claimed, redeemed, expired, issued_unclaimed, issued_expired
FROM loyalty.coupon_performance WHERE program = 'demo_store' ORDER BY template;
SELECT m.template AS "Chen Jing's coupons", m.state FROM loyalty.member_coupons(:chen, days_ago(-30, '00:00')) m
ORDER BY m.template;
\echo 'verify() recounts each campaign''s claimed coupons, with the points checks:'
SELECT count(*) AS checks, bool_and(ok) AS "all ok" FROM loyalty.verify('demo_store');

\echo ''
\echo '#############################################################################'
\echo '# Part 4: wallets and the points mall in demo_store                         #'
\echo '#############################################################################'
\echo 'The store pays 2% cashback from a marketing budget into its members'''
\echo 'wallets (stored value in CNY fen, kept by double entry), lets them pay at'
\echo 'checkout from that wallet, and opens a points mall. Times are still'
\echo 'days_ago(N, time), over the last two weeks; amounts are shown in CNY.'
-- wname: a wallet's name, to read histories.
CREATE FUNCTION wname(w bigint) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT name FROM loyalty.wallet WHERE wallet_id = w $$;
-- try_redeem: redeem_reward, or the refusal (insufficient points, out of
-- stock, tier too low) as text.
CREATE FUNCTION try_redeem(m bigint, sku text, qty int, ref text, at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN 'redemption ' || loyalty.redeem_reward(m, sku, qty, ref, at);
EXCEPTION WHEN SQLSTATE 'LY001' OR SQLSTATE 'LY027' OR SQLSTATE 'LY029' THEN
  RETURN 'refused (' || SQLSTATE || '): ' || SQLERRM;
END $$;

\echo ''
\echo '=== 51. A marketing budget, funded from outside, 12 days ago ==============='
\echo 'open_wallet makes a programme wallet split into 16 escrow parts, so that'
\echo 'concurrent cashbacks do not queue on one row. The first wallet of a'
\echo 'currency also opens two system wallets: external:CNY, where funded money'
\echo 'comes from (it runs negative), and revenue:CNY, which receives what members'
\echo 'pay from their wallets. fund_wallet is idempotent on its ref: the retry'
\echo 'returns the same transfer. Every currency sums to zero.'
SELECT loyalty.open_wallet('demo_store', 'cashback-budget', 'CNY') AS budget \gset
SELECT wallet_id AS revenue FROM loyalty.wallet WHERE program_id = :store_id AND name = 'revenue:CNY' \gset
SELECT loyalty.fund_wallet(:budget, 500000, 'PO-MKT-01', at => days_ago(12, '09:00')) AS "fund 5,000.00",
       loyalty.fund_wallet(:budget, 500000, 'PO-MKT-01', at => days_ago(12, '09:00')) AS "retry";
SELECT w.name, w.role, w.escrow_parts, cny(b.posted) AS "posted CNY", cny(b.available) AS "available CNY"
FROM loyalty.wallet w, loyalty.wallet_balance(w.wallet_id, at => days_ago(12, '09:00')) b
WHERE w.program_id = :store_id ORDER BY w.wallet_id;

\echo '=== 52. A cashback rule: 2% of each completed order, from the budget ======='
\echo 'Cashback is priced when an order is paid and paid when it completes, in the'
\echo 'order''s own transaction; the points rules (base, birthday) earn as before.'
SELECT loyalty.define_earn_rule('demo_store', 'cashback2',
         '{"on": "order", "cashback_percent": 2, "from_wallet": "cashback-budget"}') AS cashback2;

\echo '=== 53. Liu Yang''s 3,000.00 sofa: cashback on delivery ====================='
\echo 'SO-2020 is paid 10 days ago: its 60.00 cashback is priced, not paid. It is'
\echo 'delivered the next day: the 60.00 moves from the budget to her wallet,'
\echo 'opened for her on this first cashback (member:<id>:CNY).'
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at)
VALUES ('SO-2020', 'C2002', 300000, 'paid', '[{"sku": "SOFA-2S", "category": "sofas", "price": 300000}]',
        days_ago(10, '19:00'), days_ago(10, '19:00'));
CREATE TEMP TABLE so2020_log AS
SELECT 1 AS n, 'paid' AS step, cny(amount) AS "cashback CNY", cny(paid) AS "paid CNY"
FROM loyalty.order_cashback WHERE order_id = 'SO-2020';
UPDATE store_orders SET status = 'completed', status_at = days_ago(9, '15:00') WHERE id = 'SO-2020';
INSERT INTO so2020_log
SELECT 2, 'completed', cny(amount), cny(paid) FROM loyalty.order_cashback WHERE order_id = 'SO-2020';
SELECT step AS "SO-2020", "cashback CNY", "paid CNY" FROM so2020_log ORDER BY n;
SELECT wallet_id AS liu_wallet FROM loyalty.wallet WHERE owner_member = :liu \gset
SELECT w.name AS wallet, w.role, cny(b.posted) AS "posted CNY", cny(b.available) AS "available CNY"
FROM loyalty.wallet w, loyalty.wallet_balance(w.wallet_id, at => days_ago(9, '15:00')) b
WHERE w.wallet_id = :liu_wallet;

\echo '=== 54. She pays 50.00 of her next order from the wallet, 7 days ago ======='
\echo 'The application pays at checkout in the order''s own transaction: a transfer'
\echo 'from her wallet into revenue:CNY with the order id as ref and kind checkout,'
\echo 'then the order row. SO-2021 (1,200.00) is delivered the next day and earns'
\echo '24.00 cashback: 60.00 - 50.00 + 24.00 = 34.00 in her wallet. Paying more'
\echo 'than she has is refused (LY019; error messages count fen) and writes nothing:'
BEGIN;
SELECT loyalty.transfer(:liu_wallet, :revenue, 5000, 'SO-2021', 'checkout', at => days_ago(7, '20:00')) AS checkout \gset
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at)
VALUES ('SO-2021', 'C2002', 120000, 'paid', '[{"sku": "LAMP-01", "category": "lighting", "price": 120000}]',
        days_ago(7, '20:00'), days_ago(7, '20:00'));
COMMIT;
\set ON_ERROR_STOP off
SELECT loyalty.transfer(:liu_wallet, :revenue, 100000, 'SO-2099', 'checkout', at => days_ago(7, '20:30'));
\set ON_ERROR_STOP on
UPDATE store_orders SET status = 'completed', status_at = days_ago(6, '11:00') WHERE id = 'SO-2021';
SELECT 'checkout again with the same ref' AS "call",
       loyalty.transfer(:liu_wallet, :revenue, 5000, 'SO-2021', 'checkout', at => days_ago(7, '20:00')) = :checkout
         AS "same transfer"
UNION ALL
SELECT 'SO-2099 refused: nothing written',
       NOT EXISTS (SELECT 1 FROM loyalty.wallet_transfer WHERE ref = 'SO-2099');
SELECT cny(posted) AS "posted CNY", cny(pending_debits) AS "held CNY", cny(available) AS "available CNY"
FROM loyalty.wallet_balance(:liu_wallet, at => days_ago(6, '11:00'));

\echo '=== 55. She returns SO-2021, 4 days ago ===================================='
\echo 'The refund gives back what the order paid from her wallet (50.00) and'
\echo 'takes back its cashback (24.00): 34.00 - 24.00 + 50.00 = 60.00. Her wallet,'
\echo 'newest first (amounts from her side):'
UPDATE store_orders SET status = 'refunded', status_at = days_ago(4, '10:00') WHERE id = 'SO-2021';
SELECT current_date - h.at::date AS days_ago, h.kind, cny(h.amount) AS "CNY", wname(h.counterparty) AS counterparty,
       h.state, h.ref
FROM loyalty.wallet_history(:liu_wallet) h;
SELECT cny(available) AS "available CNY" FROM loyalty.wallet_balance(:liu_wallet, at => days_ago(4, '10:00'));

\echo '=== 56. A partial refund of SO-2020: 1,000.00 of 3,000.00, 3 days ago ======'
\echo 'loyalty.refund reverses points and cashback by the same formula: after'
\echo 'refunds R of an order of amount A, C - floor(C x (A - R) / A) of a cashback'
\echo 'C stands reversed: 60.00 - floor(60.00 x 2,000 / 3,000) = 20.00. It'
\echo 'returns the points reversed: 300 - floor(300 x 2,000 / 3,000) = 100.'
SELECT loyalty.refund('store_orders', 'SO-2020', 100000, 'RF-2020-1', at => days_ago(3, '16:00')) AS "points reversed";
SELECT order_id, generation, rule_code, cny(amount) AS "cashback CNY", cny(paid) AS "paid CNY",
       cny(reversed) AS "reversed CNY", cny(debt) AS "as debt CNY"
FROM loyalty.order_cashback WHERE member_id = :liu ORDER BY order_id;
SELECT cny(available) AS "Liu Yang's wallet, CNY" FROM loyalty.wallet_balance(:liu_wallet, at => days_ago(3, '16:00'));

\echo '=== 57. Chen Jing spends her cashback, then returns the order that paid it =='
\echo 'SO-2022 (2,000.00, 8 days ago) earns 40.00; she spends all 40.00 on SO-2023'
\echo '(800.00, 6 days ago), which earns 16.00 when delivered. Two days ago she'
\echo 'returns SO-2022: its 40.00 cashback is reversed, but only 16.00 is left.'
\echo 'The reversal takes the 16.00 and records 24.00 of wallet debt: it never'
\echo 'overdraws her wallet.'
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at)
VALUES ('SO-2022', 'C2001', 200000, 'completed', '[{"sku": "DESK-S", "category": "desks", "price": 200000}]',
        days_ago(8, '10:00'), days_ago(8, '10:00'));
SELECT wallet_id AS chen_wallet FROM loyalty.wallet WHERE owner_member = :chen \gset
BEGIN;
SELECT loyalty.transfer(:chen_wallet, :revenue, 4000, 'SO-2023', 'checkout', at => days_ago(6, '14:00')) > 0 AS paid_from_wallet;
INSERT INTO store_orders (id, customer, total, status, lines, created_at, status_at)
VALUES ('SO-2023', 'C2001', 80000, 'paid', '[{"sku": "RUG-S", "category": "rugs", "price": 80000}]',
        days_ago(6, '14:00'), days_ago(6, '14:00'));
COMMIT;
UPDATE store_orders SET status = 'completed', status_at = days_ago(5, '14:00') WHERE id = 'SO-2023';
UPDATE store_orders SET status = 'refunded', status_at = days_ago(2, '09:00') WHERE id = 'SO-2022';
SELECT order_id, cny(amount) AS "cashback CNY", cny(paid) AS "paid CNY", cny(reversed) AS "reversed CNY",
       cny(debt) AS "as debt CNY"
FROM loyalty.order_cashback WHERE member_id = :chen ORDER BY order_id;
SELECT cny(b.posted) AS "wallet CNY", cny(d.amount) AS "debt CNY", wname(d.creditor) AS "owed to"
FROM loyalty.wallet_balance(:chen_wallet, at => days_ago(2, '09:00')) b, loyalty.wallet_debt d
WHERE d.wallet_id = :chen_wallet;
\echo 'Debt is paid first out of her next credit. Yesterday the store credits her'
\echo '30.00 of goodwill from the budget: 24.00 goes straight back to it.'
SELECT loyalty.transfer(:budget, :chen_wallet, 3000, 'GOODWILL-C2001', 'goodwill', at => days_ago(1, '10:00')) > 0 AS credited;
SELECT current_date - h.at::date AS days_ago, h.kind, cny(h.amount) AS "CNY", wname(h.counterparty) AS counterparty, h.ref
FROM loyalty.wallet_history(:chen_wallet) h;
SELECT cny(b.posted) AS "wallet CNY", cny(d.amount) AS "debt CNY"
FROM loyalty.wallet_balance(:chen_wallet, at => days_ago(1, '10:00')) b, loyalty.wallet_debt d
WHERE d.wallet_id = :chen_wallet;

\echo '=== 58. The points mall opens =============================================='
\echo 'Rewards are bought with points. The mini lamp has 2 units in stock; the'
\echo 'armchair 1, for intermediate members and up; the mug is unlimited.'
SELECT loyalty.add_reward('demo_store', 'MUG', 'Store mug', 300) AS mug,
       loyalty.add_reward('demo_store', 'LAMP-MINI', 'Mini desk lamp', 500, stock => 2) AS lamp,
       loyalty.add_reward('demo_store', 'CHAIR-VIP', 'Designer armchair', 8000, stock => 1,
                          min_tier => 'intermediate') AS chair;
SELECT r.sku, r.name, r.points_cost, COALESCE(r.stock::text, 'unlimited') AS stock, r.min_tier
FROM loyalty.reward r WHERE r.program_id = :store_id ORDER BY r.points_cost;

\echo '=== 59. Redemptions, 2 days ago ============================================'
\echo 'Chen Jing takes the armchair and a lamp; Liu Yang the second lamp. Liu Yang'
\echo 'is in no tier for the armchair, Sun Mei finds the lamps gone, Wu Hao has 100'
\echo 'points. Refusals write nothing. A retry of a ref returns its redemption.'
SELECT v.n, c.name, v.sku, v.qty, try_redeem(c.member, v.sku, v.qty, v.ref, v.at) AS result
FROM (VALUES (1, 'C2001', 'CHAIR-VIP', 1, 'MALL-1', days_ago(2, '12:00')),
             (2, 'C2001', 'LAMP-MINI', 1, 'MALL-2', days_ago(2, '12:01')),
             (3, 'C2002', 'LAMP-MINI', 1, 'MALL-3', days_ago(2, '13:00')),
             (4, 'C2002', 'CHAIR-VIP', 1, 'MALL-4', days_ago(2, '13:01')),
             (5, 'C2003', 'LAMP-MINI', 1, 'MALL-5', days_ago(2, '14:00')),
             (6, 'C2005', 'MUG',       1, 'MALL-6', days_ago(2, '15:00')),
             (7, 'C2001', 'CHAIR-VIP', 1, 'MALL-1', days_ago(2, '12:00')))
     AS v(n, customer, sku, qty, ref, at)
JOIN store_customer c ON c.external_id = v.customer ORDER BY v.n;
\echo 'Yesterday Liu Yang cancels her lamp: it is restocked and her 500 points'
\echo 'come back (never cash). Sun Mei gets the lamp after all.'
SELECT loyalty.cancel_redemption(redemption_id, at => days_ago(1, '09:00')) AS cancelled
FROM loyalty.reward_redemption WHERE member_id = :liu AND ref = 'MALL-3';
SELECT try_redeem(:sun, 'LAMP-MINI', 1, 'MALL-7', days_ago(1, '11:00')) AS "Sun Mei, again";
SELECT c.name, r.sku, d.qty, d.points, d.state, current_date - d.at::date AS days_ago
FROM loyalty.reward_redemption d JOIN loyalty.reward r USING (reward_id)
JOIN store_customer c ON c.member = d.member_id ORDER BY d.redemption_id;
SELECT r.sku, COALESCE(r.stock::text, 'unlimited') AS stock, r.redeemed,
       COALESCE((r.stock - r.redeemed)::text, 'unlimited') AS "left"
FROM loyalty.reward r WHERE r.program_id = :store_id ORDER BY r.points_cost;
SELECT loyalty.points(:liu, days_ago(1, '08:59')) AS "Liu Yang's points before the cancel",
       loyalty.points(:liu, days_ago(1, '09:00')) AS "after";

\echo '=== 60. The wallets today =================================================='
\echo 'posted is booked money, available subtracts pending holds. The budget paid'
\echo '140.00 of cashback and 30.00 of goodwill and got 84.00 back; revenue keeps'
\echo 'the 40.00 Chen Jing paid; external:CNY is minus what was funded.'
SELECT w.name, w.role, c.name AS owner, cny(b.posted) AS "posted CNY", cny(b.pending_debits) AS "held CNY",
       cny(b.available) AS "available CNY"
FROM loyalty.wallet w CROSS JOIN LATERAL loyalty.wallet_balance(w.wallet_id) b
LEFT JOIN store_customer c ON c.member = w.owner_member
WHERE w.program_id = :store_id ORDER BY w.wallet_id;
\echo 'wallet_balance at any instant: Liu Yang''s wallet through her story.'
SELECT v.what, cny(b.posted) AS "posted CNY"
FROM (VALUES (1, 'SO-2020 paid, 10 days ago', days_ago(10, '19:00')),
             (2, 'SO-2020 delivered',         days_ago(9, '15:00')),
             (3, 'SO-2021 paid',              days_ago(7, '20:00')),
             (4, 'SO-2021 delivered',         days_ago(6, '11:00')),
             (5, 'SO-2021 returned',          days_ago(4, '10:00')),
             (6, 'SO-2020 partly refunded',   days_ago(3, '16:00'))) AS v(n, what, at),
     LATERAL loyalty.wallet_balance(:liu_wallet, at => v.at) b
ORDER BY v.n;

\echo '=== 61. wallet_activity_daily: posted transfers per day and kind ==========='
\echo 'One row per day, direction (debit wallet role -> credit wallet role) and'
\echo 'kind. debt_repayment is the 24.00 Chen Jing owed, paid out of the goodwill.'
SELECT current_date - day AS days_ago, from_role, to_role, kind, transfers, cny(amount) AS "CNY"
FROM loyalty.wallet_activity_daily WHERE program = 'demo_store' ORDER BY day, from_role, to_role, kind;

\echo '=== 62. reward_redemptions_daily ==========================================='
SELECT current_date - day AS days_ago, sku, redemptions, units, points, cancellations,
       units_returned, points_returned
FROM loyalty.reward_redemptions_daily WHERE program = 'demo_store' ORDER BY day, sku;

\echo '=== 63. verify(): wallets and stock too ===================================='
\echo 'Each wallet''s booked balance equals its entries; each currency sums to'
\echo 'zero, external account included; no part overdrawn; holds and debts match;'
\echo 'reward stock matches its redemptions.'
SELECT check_name, ok, detail FROM loyalty.verify('demo_store')
WHERE check_name LIKE 'wallets:%' OR check_name LIKE 'rewards:%';
SELECT count(*) AS checks, bool_and(ok) AS "all ok" FROM loyalty.verify();

\echo ''
\echo '=== 64. Two brands, one database: grant_program ============================'
\echo 'The store''s backend gets a role of its own, limited to demo_store: it still'
\echo 'serves the store''s customers, but the shop''s members are refused (42501) and'
\echo 'the views show it the store''s rows only.'
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_store_backend') THEN
        CREATE ROLE demo_store_backend IN ROLE loyalty_app, loyalty_reader;
    END IF;
END $$;
SELECT loyalty.grant_program('demo_store_backend', 'demo_store');
SET ROLE demo_store_backend;
SELECT loyalty.points(:liu) AS "Liu Yang (store) points";
\set ON_ERROR_STOP off
SELECT loyalty.points(:li) AS "Li Wei (shop) points";
\set ON_ERROR_STOP on
SELECT program, tier, members FROM loyalty.tier_distribution ORDER BY program, rank NULLS FIRST;
RESET ROLE;
