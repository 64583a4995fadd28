-- orders: the order trigger and refund() of SPEC section 8 (transitions,
-- generations, partial refunds, bulk writes), shown through order_state, the
-- ledger and points()/balance() at chosen instants.
-- Programmes: ord_main, ord_app.  Tables: ord_*.  Ids are never shown.
SET timezone = 'Asia/Shanghai';
SET datestyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Run one statement; 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- A customer's member id in ord_main (NULL if not enrolled).
CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member('ord_main', ext)
$$;

-- What loyalty recorded for an order of a table.
CREATE FUNCTION pg_temp.st(tbl regclass, oid text)
RETURNS TABLE(state text, generation int, amount bigint, refunded bigint, earned bigint, earn_ref text)
LANGUAGE sql AS $$
    SELECT s.state, s.generation, s.amount, s.refunded, s.earned, s.earn_ref
    FROM loyalty.order_state s JOIN loyalty.tracked_table t USING (tracked_id)
    WHERE t.orders = tbl AND s.order_id = oid
$$;

-- A member's ledger, oldest first.
CREATE FUNCTION pg_temp.ledger(member bigint)
RETURNS TABLE(operation text, points bigint, source text, ref text, at timestamptz, debt_delta bigint)
LANGUAGE sql AS $$
    SELECT e.operation, e.points, e.source, e.ref, e.at, e.debt_delta
    FROM loyalty.points_entry e WHERE e.member_id = member ORDER BY e.entry_id
$$;

-- A member's lots, oldest first.
CREATE FUNCTION pg_temp.lots(member bigint)
RETURNS TABLE(points bigint, remaining bigint, available_at timestamptz, expires_at timestamptz,
              qualifying_from timestamptz)
LANGUAGE sql AS $$
    SELECT l.points, l.remaining, l.available_at, l.expires_at, l.qualifying_from
    FROM loyalty.points_lot l WHERE l.member_id = member ORDER BY l.lot_id
$$;

-- points() and balance() at an instant.
CREATE FUNCTION pg_temp.bal(member bigint, at timestamptz)
RETURNS TABLE(at timestamptz, points bigint, available bigint, pending bigint, lifetime_earned bigint,
              tier_points bigint, debt bigint)
LANGUAGE sql AS $$
    SELECT at, loyalty.points(member, at), b.available, b.pending, b.lifetime_earned, b.tier_points, b.debt
    FROM loyalty.balance(member, at) b
$$;

-- Number of rows loyalty holds, to show that something wrote nothing.
CREATE FUNCTION pg_temp.counts()
RETURNS TABLE(members bigint, entries bigint, lots bigint, orders bigint, refunds bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM loyalty.member), (SELECT count(*) FROM loyalty.points_entry),
           (SELECT count(*) FROM loyalty.points_lot), (SELECT count(*) FROM loyalty.order_state),
           (SELECT count(*) FROM loyalty.order_refund)
$$;

SELECT loyalty.create_program('ord_main', 'Orders: Shanghai shop', 'CNY',
    '{"timezone": "Asia/Shanghai", "pending_days": 7, "points_expire_months": 12}') > 0 AS created;
-- 10 points per 100.00 (amounts in fen)
SELECT loyalty.define_earn_rule('ord_main', 'ord_base', '{"on": "order", "per_amount": 10000, "points": 10}') > 0 AS rule;

-- The application's table; event_at is the time column.  "completed" also
-- covers "delivered", "cancelled" also covers "void".
CREATE TABLE ord_orders (
    id       text PRIMARY KEY,
    customer text,
    amount   bigint,
    status   text NOT NULL,
    event_at timestamptz,
    note     text
);
SELECT loyalty.track_orders('ord_orders', 'ord_main', 'customer', 'amount', 'status',
    statuses => '{"paid": "paid", "completed": ["completed", "delivered"], "refunded": "refunded",
                  "cancelled": ["cancelled", "void"]}',
    time_column => 'event_at') > 0 AS tracked;
SELECT member_column, amount_column, status_column, id_column, time_column, statuses, active
FROM loyalty.tracked_table WHERE orders = 'ord_orders'::regclass;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'ord_orders'::regclass;

-- 1. new -> paid -> completed; an unknown customer is enrolled on its first order
SELECT pg_temp.m('ord-c1') AS c1_before;
INSERT INTO ord_orders VALUES ('o-1', 'ord-c1', 12345, 'paid', '2026-03-10 10:00+08');
SELECT external_id, joined_at FROM loyalty.member WHERE member_id = pg_temp.m('ord-c1');
SELECT * FROM pg_temp.st('ord_orders', 'o-1');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c1'));
SELECT * FROM pg_temp.lots(pg_temp.m('ord-c1'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c1'), '2026-03-10 10:00+08');
UPDATE ord_orders SET status = 'completed', event_at = '2026-03-12 10:00+08' WHERE id = 'o-1';
SELECT * FROM pg_temp.st('ord_orders', 'o-1');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c1'));
-- available 7 days after completion; expires at the end of the month 12 months after that
SELECT * FROM pg_temp.lots(pg_temp.m('ord-c1'));
SELECT b.* FROM unnest(ARRAY['2026-03-12 09:59:59+08', '2026-03-12 10:00+08', '2026-03-19 09:59:59+08',
                             '2026-03-19 10:00+08', '2027-03-31 23:59:59+08', '2027-04-01 00:00+08']::timestamptz[]) t,
     pg_temp.bal(pg_temp.m('ord-c1'), t) b;

-- 2. completed -> completed ("delivered" maps to completed): points once
UPDATE ord_orders SET status = 'delivered', event_at = '2026-03-20 10:00+08' WHERE id = 'o-1';
SELECT * FROM pg_temp.st('ord_orders', 'o-1');
SELECT count(*) AS c1_entries FROM pg_temp.ledger(pg_temp.m('ord-c1'));

-- 3. an UPDATE of an unrelated column writes nothing
SELECT entries AS entries_before FROM pg_temp.counts() \gset
UPDATE ord_orders SET note = 'gift wrap' WHERE id = 'o-1';
SELECT entries - :entries_before AS new_entries FROM pg_temp.counts();

-- 4. completed -> paid: a hold, the lot is pending again and stops qualifying
UPDATE ord_orders SET status = 'paid', event_at = '2026-03-25 10:00+08' WHERE id = 'o-1';
SELECT * FROM pg_temp.st('ord_orders', 'o-1');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c1'));
SELECT * FROM pg_temp.lots(pg_temp.m('ord-c1'));
SELECT b.* FROM unnest(ARRAY['2026-03-20 10:00+08', '2026-03-25 09:59:59+08', '2026-03-25 10:00+08',
                             '2026-04-30 10:00+08']::timestamptz[]) t,
     pg_temp.bal(pg_temp.m('ord-c1'), t) b;
-- completed again: released once more, available 7 days after the new completion
UPDATE ord_orders SET status = 'completed', event_at = '2026-04-01 10:00+08' WHERE id = 'o-1';
SELECT * FROM pg_temp.st('ord_orders', 'o-1');
SELECT operation, points, ref, at FROM pg_temp.ledger(pg_temp.m('ord-c1'));
SELECT * FROM pg_temp.lots(pg_temp.m('ord-c1'));
SELECT b.* FROM unnest(ARRAY['2026-04-08 09:59:59+08', '2026-04-08 10:00+08']::timestamptz[]) t,
     pg_temp.bal(pg_temp.m('ord-c1'), t) b;

-- 5. new -> completed in one INSERT (a known customer: not enrolled again)
SELECT loyalty.enroll('ord_main', 'ord-c2', '2026-01-01') > 0 AS enrolled;
INSERT INTO ord_orders VALUES ('o-2', 'ord-c2', 50000, 'completed', '2026-03-10 12:00+08');
SELECT joined_at FROM loyalty.member WHERE member_id = pg_temp.m('ord-c2');
SELECT * FROM pg_temp.st('ord_orders', 'o-2');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c2'));
SELECT * FROM pg_temp.lots(pg_temp.m('ord-c2'));
SELECT b.* FROM unnest(ARRAY['2026-03-10 12:00+08', '2026-03-17 12:00+08']::timestamptz[]) t,
     pg_temp.bal(pg_temp.m('ord-c2'), t) b;
-- an amount change after completion is ignored (partial refunds go through refund())
UPDATE ord_orders SET amount = 80000, event_at = '2026-03-18 12:00+08' WHERE id = 'o-2';
UPDATE ord_orders SET status = 'completed', amount = 90000, event_at = '2026-03-19 12:00+08' WHERE id = 'o-2';
SELECT * FROM pg_temp.st('ord_orders', 'o-2');
SELECT count(*) AS c2_entries FROM pg_temp.ledger(pg_temp.m('ord-c2'));
-- nor does it count when the order later goes back to paid and completes
-- again: that is a hold and a release of the same 50 points
UPDATE ord_orders SET status = 'paid', event_at = '2026-03-20 12:00+08' WHERE id = 'o-2';
UPDATE ord_orders SET status = 'completed', event_at = '2026-03-21 12:00+08' WHERE id = 'o-2';
SELECT * FROM pg_temp.st('ord_orders', 'o-2');
SELECT operation, points, ref, at FROM pg_temp.ledger(pg_temp.m('ord-c2'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c2'), '2026-03-28 12:00+08');

-- 6. paid -> refunded, then refunded -> paid: generation 2, ref o-3#2
INSERT INTO ord_orders VALUES ('o-3', 'ord-c3', 20000, 'paid', '2026-03-10 10:00+08');
UPDATE ord_orders SET status = 'refunded', event_at = '2026-03-11 10:00+08' WHERE id = 'o-3';
SELECT * FROM pg_temp.st('ord_orders', 'o-3');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c3'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c3'), '2026-03-11 10:00+08');
-- refunded again: nothing
UPDATE ord_orders SET status = 'refunded', event_at = '2026-03-11 11:00+08', note = 'again' WHERE id = 'o-3';
UPDATE ord_orders SET status = 'paid', amount = 30000, event_at = '2026-03-12 10:00+08' WHERE id = 'o-3';
SELECT * FROM pg_temp.st('ord_orders', 'o-3');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c3'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c3'), '2026-03-12 10:00+08');

-- 7. amount changed while paid: old earn reversed, re-priced as the next generation
INSERT INTO ord_orders VALUES ('o-4', 'ord-c4', 40000, 'paid', '2026-03-10 10:00+08');
UPDATE ord_orders SET amount = 25000, event_at = '2026-03-10 11:00+08' WHERE id = 'o-4';
SELECT * FROM pg_temp.st('ord_orders', 'o-4');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c4'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c4'), '2026-03-10 11:00+08');
-- paid -> completed with another amount: re-priced, then completed
UPDATE ord_orders SET status = 'completed', amount = 26000, event_at = '2026-03-11 10:00+08' WHERE id = 'o-4';
SELECT * FROM pg_temp.st('ord_orders', 'o-4');
SELECT operation, points, ref, at FROM pg_temp.ledger(pg_temp.m('ord-c4'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c4'), '2026-03-18 10:00+08');

-- 8. completed -> cancelled after its points were partly spent elsewhere: debt
INSERT INTO ord_orders VALUES ('o-5', 'ord-c5', 30000, 'completed', '2026-03-01 10:00+08');
SELECT loyalty.spend(pg_temp.m('ord-c5'), 20, 'mall', 'mug', '2026-03-09 10:00+08') > 0 AS spent;
UPDATE ord_orders SET status = 'void', event_at = '2026-03-10 10:00+08' WHERE id = 'o-5';
SELECT * FROM pg_temp.st('ord_orders', 'o-5');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c5'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c5'), '2026-03-10 10:00+08');
-- the debt is paid first out of the next order's points
INSERT INTO ord_orders VALUES ('o-5b', 'ord-c5', 50000, 'completed', '2026-03-11 10:00+08');
SELECT b.* FROM unnest(ARRAY['2026-03-11 10:00+08', '2026-03-18 10:00+08']::timestamptz[]) t,
     pg_temp.bal(pg_temp.m('ord-c5'), t) b;

-- 9. spends whose ref is the order id are returned when it is cancelled
SELECT loyalty.enroll('ord_main', 'ord-c6', '2026-01-01') > 0 AS enrolled;
SELECT loyalty.earn(pg_temp.m('ord-c6'), 100, 'welcome', 'w1', at => '2026-02-01 10:00+08') > 0 AS earned;
SELECT loyalty.spend(pg_temp.m('ord-c6'), 40, 'checkout', 'o-6', '2026-03-10 09:59+08') > 0 AS spent;
SELECT loyalty.spend(pg_temp.m('ord-c6'), 5, 'voucher', 'o-6', '2026-03-10 09:59+08') > 0 AS spent;
SELECT loyalty.spend(pg_temp.m('ord-c6'), 10, 'checkout', 'o-other', '2026-03-10 09:59+08') > 0 AS spent;
INSERT INTO ord_orders VALUES ('o-6', 'ord-c6', 15000, 'paid', '2026-03-10 10:00+08');
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c6'), '2026-03-10 10:00+08');
UPDATE ord_orders SET status = 'cancelled', event_at = '2026-03-10 11:00+08' WHERE id = 'o-6';
SELECT * FROM pg_temp.st('ord_orders', 'o-6');
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c6'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c6'), '2026-03-10 11:00+08');

-- 10. DELETE of a completed order (statement time), and of a never-paid one
INSERT INTO ord_orders VALUES ('o-7', 'ord-c7', 70000, 'completed', '2026-03-01 10:00+08');
SELECT entries AS entries_before, clock_timestamp() AS t0 FROM pg_temp.counts() \gset
DELETE FROM ord_orders WHERE id = 'o-7';
SELECT state, generation, earned FROM pg_temp.st('ord_orders', 'o-7');
SELECT operation, points, source, ref, debt_delta FROM pg_temp.ledger(pg_temp.m('ord-c7'));
SELECT at BETWEEN :'t0' AND clock_timestamp() AS reversed_at_statement_time,
       at > '2026-03-02' AS not_the_order_time
FROM loyalty.points_entry WHERE member_id = pg_temp.m('ord-c7') AND operation = 'reverse';
SELECT b.available, b.pending, b.lifetime_earned, b.tier_points, b.debt FROM loyalty.balance(pg_temp.m('ord-c7')) b;
INSERT INTO ord_orders VALUES ('o-7b', 'ord-c7', 70000, 'new', '2026-03-01 10:00+08');
SELECT entries AS entries_before FROM pg_temp.counts() \gset
DELETE FROM ord_orders WHERE id = 'o-7b';
SELECT entries - :entries_before AS new_entries, (SELECT count(*) FROM pg_temp.st('ord_orders', 'o-7b')) AS states
FROM pg_temp.counts();

-- 11. unmapped statuses are ignored; unmapped -> paid prices the order
SELECT * FROM pg_temp.counts() \gset before_
INSERT INTO ord_orders VALUES ('o-8', 'ord-c8', 10000, 'awaiting_payment', '2026-03-10 10:00+08');
UPDATE ord_orders SET status = 'shipped', amount = 11000 WHERE id = 'o-8';
SELECT members - :before_members AS members, entries - :before_entries AS entries,
       orders - :before_orders AS orders FROM pg_temp.counts();
SELECT pg_temp.m('ord-c8') IS NULL AS c8_not_enrolled;
UPDATE ord_orders SET status = 'paid', event_at = '2026-03-10 11:00+08' WHERE id = 'o-8';
SELECT * FROM pg_temp.st('ord_orders', 'o-8');
SELECT operation, points, ref, at FROM pg_temp.ledger(pg_temp.m('ord-c8'));
-- and a mapped order moved to an unmapped status stays where it was
UPDATE ord_orders SET status = 'on_hold', event_at = '2026-03-10 12:00+08' WHERE id = 'o-8';
SELECT state, generation, earned FROM pg_temp.st('ord_orders', 'o-8');

-- 12. guest checkout (NULL customer): nothing written, at any stage
SELECT * FROM pg_temp.counts() \gset before_
INSERT INTO ord_orders VALUES ('o-guest', NULL, 50000, 'paid', '2026-03-10 10:00+08');
UPDATE ord_orders SET status = 'completed' WHERE id = 'o-guest';
UPDATE ord_orders SET status = 'refunded' WHERE id = 'o-guest';
DELETE FROM ord_orders WHERE id = 'o-guest';
SELECT members - :before_members AS members, entries - :before_entries AS entries,
       orders - :before_orders AS orders FROM pg_temp.counts();
-- a refund or cancel of an order loyalty never saw: nothing
INSERT INTO ord_orders VALUES ('o-never', 'ord-c9', 50000, 'cancelled', '2026-03-10 10:00+08');
SELECT members - :before_members AS members, entries - :before_entries AS entries,
       orders - :before_orders AS orders FROM pg_temp.counts();

-- 13. partial refunds: E - floor(E * (A - R) / A); they sum to the amount
INSERT INTO ord_orders VALUES ('o-10', 'ord-c10', 33300, 'completed', '2026-03-01 10:00+08');
SELECT * FROM pg_temp.st('ord_orders', 'o-10');
SELECT loyalty.refund('ord_orders', 'o-10', 10000, 'rf-1', '2026-03-02 10:00+08') AS reversed_total;  -- 33 - floor(33*23300/33300) = 10
SELECT loyalty.refund('ord_orders', 'o-10', 10000, 'rf-1', '2026-03-02 11:00+08') AS replay;          -- same ref, same amount
SELECT * FROM pg_temp.st('ord_orders', 'o-10');
SELECT loyalty.refund('ord_orders', 'o-10', 13300, 'rf-2', '2026-03-03 10:00+08') AS reversed_total;  -- 33 - floor(33*10000/33300) = 24
SELECT loyalty.refund('ord_orders', 'o-10', 1, 'rf-3', '2026-03-04 10:00+08') AS reversed_total;      -- 33 - floor(33*9999/33300) = 24
SELECT loyalty.refund('ord_orders', 'o-10', 9999, 'rf-4', '2026-03-05 10:00+08') AS reversed_total;   -- R = A: 33
SELECT loyalty.refund('ord_orders', 'o-10', 13300, 'rf-2', '2026-03-06 10:00+08') AS replay;          -- replays answer their first result
SELECT * FROM pg_temp.st('ord_orders', 'o-10');
SELECT ref, generation, amount, reversed_total, at FROM loyalty.order_refund
WHERE order_id = 'o-10' ORDER BY at;
SELECT * FROM pg_temp.ledger(pg_temp.m('ord-c10'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c10'), '2026-03-10 10:00+08');
-- a partial refund of a paid order reverses from its pending lot
INSERT INTO ord_orders VALUES ('o-11', 'ord-c11', 99900, 'paid', '2026-03-01 10:00+08');
SELECT loyalty.refund('ord_orders', 'o-11', 50000, 'rf-1', '2026-03-02 10:00+08') AS reversed_total;  -- 99 - floor(99*49900/99900) = 50
SELECT * FROM pg_temp.st('ord_orders', 'o-11');
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c11'), '2026-03-02 10:00+08');
-- then completed: what is left is released
UPDATE ord_orders SET status = 'completed', event_at = '2026-03-03 10:00+08' WHERE id = 'o-11';
SELECT * FROM pg_temp.lots(pg_temp.m('ord-c11'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c11'), '2026-03-10 10:00+08');
-- then cancelled: the rest is reversed
UPDATE ord_orders SET status = 'cancelled', event_at = '2026-03-11 10:00+08' WHERE id = 'o-11';
SELECT operation, points, ref, at FROM pg_temp.ledger(pg_temp.m('ord-c11'));
SELECT * FROM pg_temp.bal(pg_temp.m('ord-c11'), '2026-03-11 10:00+08');

-- 14. a rolled-back transaction leaves nothing of loyalty
SELECT * FROM pg_temp.counts() \gset before_
BEGIN;
INSERT INTO ord_orders VALUES ('o-12', 'ord-c12', 80000, 'paid', '2026-03-10 10:00+08');
UPDATE ord_orders SET status = 'completed', event_at = '2026-03-11 10:00+08' WHERE id = 'o-12';
SELECT state, earned FROM pg_temp.st('ord_orders', 'o-12');
ROLLBACK;
SELECT members - :before_members AS members, entries - :before_entries AS entries,
       lots - :before_lots AS lots, orders - :before_orders AS orders FROM pg_temp.counts();
SELECT pg_temp.m('ord-c12') IS NULL AS c12_not_enrolled;

-- 15. bulk: 1,000 paid orders in one INSERT, completed in one UPDATE; COPY
SELECT * FROM pg_temp.counts() \gset before_
INSERT INTO ord_orders (id, customer, amount, status, event_at)
SELECT 'b-' || i, 'ord-bulk-' || (i % 100), 10000 + i, 'paid', '2026-05-01 10:00+08'::timestamptz + i * interval '1 second'
FROM generate_series(1, 1000) i;
SELECT state, count(*), sum(earned) AS earned FROM loyalty.order_state WHERE order_id LIKE 'b-%' GROUP BY state;
SELECT members - :before_members AS members, entries - :before_entries AS entries,
       lots - :before_lots AS lots, orders - :before_orders AS orders FROM pg_temp.counts();
UPDATE ord_orders SET status = 'completed', event_at = '2026-05-02 10:00+08' WHERE id LIKE 'b-%';
SELECT state, count(*), sum(earned) AS earned FROM loyalty.order_state WHERE order_id LIKE 'b-%' GROUP BY state;
SELECT e.operation, count(*), sum(e.points) AS points
FROM loyalty.points_entry e JOIN loyalty.member m USING (member_id)
WHERE m.external_id LIKE 'ord-bulk-%' GROUP BY e.operation ORDER BY 1;
SELECT sum(b.available) AS available, sum(b.pending) AS pending, sum(b.tier_points) AS tier_points
FROM loyalty.member m, loyalty.balance(m.member_id, '2026-05-09 10:00+08') b
WHERE m.external_id LIKE 'ord-bulk-%';
SELECT b.* FROM pg_temp.bal(pg_temp.m('ord-bulk-7'), '2026-05-09 10:00+08') b;
COPY ord_orders (id, customer, amount, status, event_at) FROM STDIN;
c-1	ord-copy-1	10000	paid	2026-05-03 10:00:00+08
c-2	ord-copy-1	25000	completed	2026-05-03 10:00:00+08
c-3	ord-copy-2	5000	new	2026-05-03 10:00:00+08
c-4	\N	30000	completed	2026-05-03 10:00:00+08
c-5	ord-copy-2	99	completed	2026-05-03 10:00:00+08
\.
SELECT order_id, state, generation, amount, earned, earn_ref FROM loyalty.order_state
WHERE order_id LIKE 'c-%' ORDER BY order_id;
SELECT * FROM pg_temp.bal(pg_temp.m('ord-copy-1'), '2026-05-10 10:00+08');
SELECT operation, points, ref FROM pg_temp.ledger(pg_temp.m('ord-copy-2'));

-- 16. a uuid id column
CREATE TABLE ord_uuid_orders (
    id       uuid PRIMARY KEY,
    customer varchar(20),
    amount   integer,
    status   text,
    event_at timestamptz
);
SELECT loyalty.track_orders('ord_uuid_orders', 'ord_main', 'customer', 'amount', 'status', time_column => 'event_at') > 0 AS tracked;
INSERT INTO ord_uuid_orders VALUES ('6f1c2a52-6bd3-4d2e-9a53-1f1f0c0f2a01', 'ord-u1', 45600, 'paid', '2026-03-10 10:00+08');
UPDATE ord_uuid_orders SET status = 'refunded', event_at = '2026-03-11 10:00+08';
UPDATE ord_uuid_orders SET status = 'paid', event_at = '2026-03-12 10:00+08';
SELECT * FROM pg_temp.st('ord_uuid_orders', '6f1c2a52-6bd3-4d2e-9a53-1f1f0c0f2a01');
SELECT operation, points, source, ref FROM pg_temp.ledger(pg_temp.m('ord-u1'));
SELECT loyalty.refund('ord_uuid_orders', '6f1c2a52-6bd3-4d2e-9a53-1f1f0c0f2a01', 45600, 'r1', '2026-03-13 10:00+08') AS reversed_total;

-- 17. member_ids = 'application': a bigint customer column is the member id
SELECT loyalty.create_program('ord_app', 'Orders: application ids', 'CNY',
    '{"member_ids": "application", "timezone": "Asia/Shanghai"}') > 0 AS created;
SELECT loyalty.define_earn_rule('ord_app', 'ord_app_base', '{"on": "order", "per_amount": 100, "points": 1}') > 0 AS rule;
CREATE TABLE ord_app_orders (
    order_no    bigint PRIMARY KEY,
    customer_id bigint,
    total       bigint,
    state       text,
    placed_at   timestamptz
);
SELECT loyalty.track_orders('ord_app_orders', 'ord_app', 'customer_id', 'total', 'state', 'order_no',
                            time_column => 'placed_at') > 0 AS tracked;
INSERT INTO ord_app_orders VALUES (1, 9170001, 1999, 'completed', '2026-03-10 10:00+08'),
                                  (2, 9170001, 500, 'paid', '2026-03-10 10:00+08'),
                                  (3, 9170002, 250, 'paid', '2026-03-10 10:00+08');
SELECT member_id, external_id, joined_at FROM loyalty.member WHERE member_id IN (9170001, 9170002) ORDER BY 1;
SELECT order_id, member_id, state, earned, earn_ref FROM loyalty.order_state s
JOIN loyalty.tracked_table t USING (tracked_id) WHERE t.orders = 'ord_app_orders'::regclass ORDER BY order_id;
SELECT * FROM pg_temp.bal(9170001, '2026-03-10 10:00+08');

-- 18. a status column of an enum type
CREATE TYPE ord_status AS ENUM ('cart', 'paid', 'done', 'returned', 'cancelled');
CREATE TABLE ord_enum_orders (
    id       bigint PRIMARY KEY,
    customer text,
    amount   smallint,
    status   ord_status,
    event_at timestamptz
);
SELECT loyalty.track_orders('ord_enum_orders', 'ord_main', 'customer', 'amount', 'status',
    statuses => '{"paid": "paid", "completed": "done", "refunded": "returned", "cancelled": "cancelled"}',
    time_column => 'event_at') > 0 AS tracked;
INSERT INTO ord_enum_orders VALUES (1, 'ord-e1', 30000, 'cart', '2026-03-10 10:00+08');
UPDATE ord_enum_orders SET status = 'paid', event_at = '2026-03-10 11:00+08';
UPDATE ord_enum_orders SET status = 'done', event_at = '2026-03-11 11:00+08';
SELECT * FROM pg_temp.st('ord_enum_orders', '1');
SELECT operation, points, ref, at FROM pg_temp.ledger(pg_temp.m('ord-e1'));
UPDATE ord_enum_orders SET status = 'returned', event_at = '2026-03-12 11:00+08';
SELECT * FROM pg_temp.st('ord_enum_orders', '1');
SELECT * FROM pg_temp.bal(pg_temp.m('ord-e1'), '2026-03-20 10:00+08');

-- 19. the same order id in two tables: two orders
SELECT order_id, state, earned FROM loyalty.order_state s JOIN loyalty.tracked_table t USING (tracked_id)
WHERE s.order_id = '1' ORDER BY t.orders::text;

-- 20. untrack_orders: the trigger is gone, writes are ignored, history stays
SELECT loyalty.untrack_orders('ord_enum_orders');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ord_enum_orders'::regclass;
SELECT active, untracked_at IS NOT NULL AS untracked FROM loyalty.tracked_table WHERE orders = 'ord_enum_orders'::regclass;
SELECT * FROM pg_temp.counts() \gset before_
INSERT INTO ord_enum_orders VALUES (2, 'ord-e2', 30000, 'done', '2026-03-10 10:00+08');
UPDATE ord_enum_orders SET status = 'paid', event_at = '2026-03-13 10:00+08' WHERE id = 1;
DELETE FROM ord_enum_orders;
SELECT members - :before_members AS members, entries - :before_entries AS entries,
       orders - :before_orders AS orders FROM pg_temp.counts();
SELECT state, earned FROM pg_temp.st('ord_enum_orders', '1');
-- tracked again: the same tracking row, with the new configuration
SELECT loyalty.track_orders('ord_enum_orders', 'ord_main', 'customer', 'amount', 'status',
    statuses => '{"paid": "paid", "completed": "done"}') > 0 AS tracked_again;
SELECT count(*) AS configurations, count(*) FILTER (WHERE active) AS active
FROM loyalty.tracked_table WHERE orders = 'ord_enum_orders'::regclass;
SELECT action, object FROM loyalty.audit_log WHERE object LIKE '%ord_enum_orders' ORDER BY audit_id;

-- 21. everything adds up
SELECT check_name, ok FROM loyalty.verify('ord_main');
SELECT check_name, ok FROM loyalty.verify('ord_app');
SELECT bool_and(ok) AS all_ok FROM loyalty.verify();
