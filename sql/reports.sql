-- reports: the points_daily and points_liability views (SPEC sections 1, 9).
-- Programme codes of this suite: rep-sh, rep-utc, rep-live.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

CREATE FUNCTION pg_temp.m(program text, ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member(program, ext)
$$;
CREATE VIEW pg_temp.daily AS
SELECT program, to_char(day, 'YYYY-MM-DD') AS day, earned, spent, expired, reversed, adjusted, transferred
FROM loyalty.points_daily WHERE program LIKE 'rep-%' ORDER BY program, day;

-- points_daily ----------------------------------------------------------------
-- The same entries in a programme on Shanghai time (UTC+8) and one on UTC:
-- a day is the programme's local day.
SELECT loyalty.create_program('rep-sh', 'Shanghai', 'CNY', '{"timezone": "Asia/Shanghai"}') IS NOT NULL AS created,
       loyalty.create_program('rep-utc', 'UTC', 'EUR') IS NOT NULL AS created_utc;
SELECT loyalty.enroll(p, x, '2026-01-01') IS NOT NULL AS enrolled
FROM (VALUES ('rep-sh'), ('rep-utc')) AS a(p), (VALUES ('x'), ('y'), ('z')) AS b(x);

-- 2026-03-01 15:59:59 UTC is 23:59:59 in Shanghai (day 03-01); 16:00 and
-- 17:00 UTC are already 03-02 there.
SELECT p AS program,
       loyalty.earn(pg_temp.m(p, 'x'), 100, 'shop', 'o1', at => '2026-03-01 15:59:59+00') IS NOT NULL AS o1,
       loyalty.earn(pg_temp.m(p, 'x'), 10, 'shop', 'o2', at => '2026-03-01 16:00:00+00') IS NOT NULL AS o2,
       loyalty.earn(pg_temp.m(p, 'x'), 7, 'shop', 'o3', at => '2026-03-01 17:00:00+00') IS NOT NULL AS o3
FROM (VALUES ('rep-sh'), ('rep-utc')) AS a(p);
SELECT * FROM pg_temp.daily;

-- Every kind of entry on its own day (UTC instants at 20:00, i.e. 04:00 the
-- next day in Shanghai).  A lot of 40 expires 2026-03-09 20:00 UTC.
SELECT p AS program,
       loyalty.earn(pg_temp.m(p, 'y'), 40, 'shop', 'o4', expires_at => '2026-03-09 20:00+00',
                    at => '2026-03-02 20:00+00') IS NOT NULL AS earned,
       loyalty.spend(pg_temp.m(p, 'x'), 30, 'shop', 's1', at => '2026-03-03 20:00+00') IS NOT NULL AS spent,
       loyalty.reverse(pg_temp.m(p, 'x'), 'shop', 'o2', at => '2026-03-04 20:00+00') IS NOT NULL AS earn_reversed,
       loyalty.reverse(pg_temp.m(p, 'x'), 'shop', 's1', 12, at => '2026-03-05 20:00+00') IS NOT NULL AS spend_reversed,
       loyalty.adjust(pg_temp.m(p, 'x'), 9, 'goodwill', 'a1', at => '2026-03-06 20:00+00') IS NOT NULL AS adjusted_up,
       loyalty.adjust(pg_temp.m(p, 'x'), -4, 'correction', 'a2', at => '2026-03-06 21:00+00') IS NOT NULL AS adjusted_down,
       loyalty.transfer_points(pg_temp.m(p, 'x'), pg_temp.m(p, 'z'), 5, 't1', at => '2026-03-07 20:00+00') IS NOT NULL AS transferred
FROM (VALUES ('rep-sh'), ('rep-utc')) AS a(p);
-- Not booked yet, so not in the report (the balance already excludes it).
SELECT * FROM pg_temp.daily;
SELECT loyalty.points(pg_temp.m('rep-sh', 'y'), '2026-03-10') AS y_points_after_expiry;

-- run_expiry books the expiry; the report shows it on the lot's local day.
SET client_min_messages = warning;
CALL loyalty.run_expiry('2026-03-10 00:00+00', 10000);
RESET client_min_messages;
SELECT * FROM pg_temp.daily;
SELECT program, to_char(day, 'YYYY-MM-DD') AS day, expired FROM loyalty.points_daily
WHERE program LIKE 'rep-%' AND expired <> 0 ORDER BY program, day;

-- Debt settlement moves no points and has no column.  z spends what it has,
-- earns 8 and spends them; reversing that earning makes a debt of 8, paid
-- out of the next earning (a 'settle' entry of 0 points).
SELECT p AS program,
       loyalty.spend(pg_temp.m(p, 'z'), 5, 'shop', 's2', at => '2026-03-08 01:00+00') IS NOT NULL AS spent,
       loyalty.earn(pg_temp.m(p, 'z'), 8, 'shop', 'o5', at => '2026-03-08 02:00+00') IS NOT NULL AS earned,
       loyalty.spend(pg_temp.m(p, 'z'), 8, 'shop', 's3', at => '2026-03-08 03:00+00') IS NOT NULL AS spent_again,
       loyalty.reverse(pg_temp.m(p, 'z'), 'shop', 'o5', at => '2026-03-08 04:00+00') IS NOT NULL AS reversed_to_debt,
       loyalty.earn(pg_temp.m(p, 'z'), 20, 'shop', 'o6', at => '2026-03-08 05:00+00') IS NOT NULL AS earned_pays_debt
FROM (VALUES ('rep-utc')) AS a(p);
SELECT available, debt FROM loyalty.balance(pg_temp.m('rep-utc', 'z'), '2026-03-08 06:00+00');
SELECT operation, points FROM loyalty.history(pg_temp.m('rep-utc', 'z')) ORDER BY entry;
SELECT * FROM pg_temp.daily WHERE program = 'rep-utc' AND day >= '2026-03-08';
SELECT check_name, ok FROM loyalty.verify('rep-utc') ORDER BY check_name;

-- points_liability --------------------------------------------------------------
-- It is "now": lots are made relative to now() and only figures that do not
-- depend on the clock are shown.  point_value 0.5: 207 points are worth
-- 103.5, rounded half-up to 104.
SELECT loyalty.create_program('rep-live', 'Live', 'CNY', '{"point_value": 0.5}') IS NOT NULL AS created;
SELECT loyalty.enroll('rep-live', x, now() - interval '30 days') IS NOT NULL AS enrolled
FROM (VALUES ('p'), ('q'), ('r'), ('s'), ('t')) AS v(x);
-- p: 102 points that never expire.
SELECT loyalty.earn(pg_temp.m('rep-live', 'p'), 102, 'shop', 'p1', at => now() - interval '1 day') IS NOT NULL AS p1;
-- q: 40 expiring in 10 days, 25 in 45 days, 7 in 80 days, 3 in 200 days;
-- 13 pending for ever, 9 available in 5 days; 30 already expired (not booked).
SELECT loyalty.earn(pg_temp.m('rep-live', 'q'), 40, 'shop', 'q1', expires_at => now() + interval '10 days', at => now() - interval '1 day') IS NOT NULL AS q1,
       loyalty.earn(pg_temp.m('rep-live', 'q'), 25, 'shop', 'q2', expires_at => now() + interval '45 days', at => now() - interval '1 day') IS NOT NULL AS q2,
       loyalty.earn(pg_temp.m('rep-live', 'q'), 7, 'shop', 'q3', expires_at => now() + interval '80 days', at => now() - interval '1 day') IS NOT NULL AS q3,
       loyalty.earn(pg_temp.m('rep-live', 'q'), 3, 'shop', 'q4', expires_at => now() + interval '200 days', at => now() - interval '1 day') IS NOT NULL AS q4,
       loyalty.earn(pg_temp.m('rep-live', 'q'), 13, 'shop', 'q5', available_at => 'infinity', at => now() - interval '1 day') IS NOT NULL AS q5,
       loyalty.earn(pg_temp.m('rep-live', 'q'), 9, 'shop', 'q6', available_at => now() + interval '5 days', at => now() - interval '1 day') IS NOT NULL AS q6,
       loyalty.earn(pg_temp.m('rep-live', 'q'), 30, 'shop', 'q7', expires_at => now() - interval '1 hour', at => now() - interval '2 days') IS NOT NULL AS q7;
-- r: owes 15 (a reversed earning it had spent; 5 paid since).
SELECT loyalty.earn(pg_temp.m('rep-live', 'r'), 20, 'shop', 'r1', at => now() - interval '3 days') IS NOT NULL AS r1;
SELECT loyalty.spend(pg_temp.m('rep-live', 'r'), 20, 'shop', 'r2', at => now() - interval '3 days' + interval '1 hour') IS NOT NULL AS r2;
SELECT loyalty.reverse(pg_temp.m('rep-live', 'r'), 'shop', 'r1', at => now() - interval '2 days') IS NOT NULL AS r1_reversed;
SELECT loyalty.earn(pg_temp.m('rep-live', 'r'), 5, 'shop', 'r3', at => now() - interval '12 hours') IS NOT NULL AS r3;
-- s: came to owe 20 two days ago; 50 points that became available an hour
-- ago have paid it since (no write since: the payment is not booked yet).
SELECT loyalty.earn(pg_temp.m('rep-live', 's'), 20, 'shop', 's1', at => now() - interval '3 days') IS NOT NULL AS s1;
SELECT loyalty.spend(pg_temp.m('rep-live', 's'), 20, 'shop', 's2', at => now() - interval '3 days' + interval '1 hour') IS NOT NULL AS s2;
SELECT loyalty.earn(pg_temp.m('rep-live', 's'), 50, 'shop', 's3', available_at => now() - interval '1 hour',
                    at => now() - interval '2 days') IS NOT NULL AS s3;
SELECT loyalty.reverse(pg_temp.m('rep-live', 's'), 'shop', 's1', at => now() - interval '2 days' + interval '1 hour') IS NOT NULL AS s1_reversed;
-- t: enrolled, nothing else.
SELECT x AS member, b.available, b.pending, b.debt
FROM (VALUES ('p'), ('q'), ('r'), ('s'), ('t')) AS v(x), loyalty.balance(pg_temp.m('rep-live', x)) b
ORDER BY x;

SELECT program, currency, members_with_points, outstanding_points, outstanding_value, pending_points,
       expiring_30d, expiring_60d, expiring_90d, debt_points
FROM loyalty.points_liability WHERE program = 'rep-live';
-- The same figures as the members' balances now.
SELECT l.outstanding_points = sum(b.available) AS outstanding_is_sum_of_available,
       l.pending_points = sum(b.pending) AS pending_is_sum_of_pending,
       l.debt_points = sum(b.debt) AS debt_is_sum_of_debt
FROM loyalty.points_liability l, loyalty.member m, loyalty.balance(m.member_id) b
WHERE l.program = 'rep-live' AND m.program_id = (SELECT program_id FROM loyalty.program WHERE code = 'rep-live')
GROUP BY l.outstanding_points, l.pending_points, l.debt_points;
-- No point_value: no money value.
SELECT program, outstanding_value FROM loyalty.points_liability WHERE program IN ('rep-sh', 'rep-utc') ORDER BY program;
