-- orders_errors: what track_orders, untrack_orders, the order trigger and
-- refund() refuse (SPEC sections 1, 8, 10), each with its SQLSTATE, and
-- proof that a refused call wrote nothing.  What the application role may do.
-- Programmes: orderr_main, orderr_app.  Tables and roles: orderr_*.
SET timezone = 'Asia/Shanghai';
SET datestyle = 'ISO, YMD';
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

-- Everything loyalty stores about orders and points, and the triggers on this
-- suite's tables, as one string: equal before and after means nothing was written.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', tracked_id, orders::text, active), ',' ORDER BY tracked_id))
         FROM loyalty.tracked_table),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', member_id, order_id, state, generation, amount, refunded,
                    earned, updated_at), ',' ORDER BY member_id, tracked_id, order_id))
         FROM loyalty.order_state),
        (SELECT count(*) FROM loyalty.order_refund),
        (SELECT count(*) FROM loyalty.member),
        (SELECT count(*) FROM loyalty.points_entry),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', member_id, lot_id, remaining, available_at), ',' ORDER BY member_id, lot_id))
         FROM loyalty.points_lot),
        (SELECT count(*) FROM loyalty.audit_log),
        (SELECT count(*) FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'orderr%'))
$$;

-- A customer's ledger in orderr_main.
CREATE FUNCTION pg_temp.ledger(ext text)
RETURNS TABLE(operation text, points bigint, source text, ref text, at timestamptz)
LANGUAGE sql AS $$
    SELECT e.operation, e.points, e.source, e.ref, e.at FROM loyalty.points_entry e
    WHERE e.member_id = loyalty.member('orderr_main', ext) ORDER BY e.entry_id
$$;

SELECT loyalty.create_program('orderr_main', 'Order errors', 'CNY',
    '{"timezone": "Asia/Shanghai", "pending_days": 7}') > 0 AS created;
SELECT loyalty.define_earn_rule('orderr_main', 'orderr_base', '{"on": "order", "per_amount": 10000, "points": 10}') > 0 AS rule;
SELECT loyalty.create_program('orderr_app', 'Order errors, application ids', 'CNY',
    '{"member_ids": "application"}') > 0 AS created;

CREATE TABLE orderr_orders (
    id        text PRIMARY KEY,
    customer  text,
    amount    bigint,
    status    text,
    cart      jsonb,
    voucher   text,
    event_at  timestamptz
);
-- columns of every wrong type
CREATE TABLE orderr_bad_types (
    id        text,
    customer  text,
    amount    bigint,
    status    text,
    event_at  timestamptz,
    price     numeric(12,2),
    local_at  timestamp,
    cart_json json,
    cust_num  numeric,
    status_n  integer,
    id_ts     timestamptz,
    voucher_n integer
);
CREATE VIEW orderr_view AS SELECT * FROM orderr_orders;
CREATE MATERIALIZED VIEW orderr_matview AS SELECT * FROM orderr_orders;
CREATE TABLE orderr_untracked (id text, customer text, amount bigint, status text);

SELECT loyalty.track_orders('orderr_orders', 'orderr_main', 'customer', 'amount', 'status',
                            lines_column => 'cart', coupon_column => 'voucher', time_column => 'event_at') > 0 AS tracked;
INSERT INTO orderr_orders VALUES ('p-1', 'orderr-c1', 50000, 'paid', NULL, NULL, '2026-03-10 10:00+08'),
                                 ('k-1', 'orderr-c2', 30000, 'completed', NULL, NULL, '2026-03-10 10:00+08');
SELECT * FROM pg_temp.ledger('orderr-c1');
SELECT pg_temp.fingerprint() AS fp \gset

-- track_orders: configuration errors ----------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'a view',                 $q$SELECT loyalty.track_orders('orderr_view', 'orderr_main', 'customer', 'amount', 'status')$q$),
  (2,  'a materialized view',    $q$SELECT loyalty.track_orders('orderr_matview', 'orderr_main', 'customer', 'amount', 'status')$q$),
  (3,  'tracked twice',          $q$SELECT loyalty.track_orders('orderr_orders', 'orderr_main', 'customer', 'amount', 'status')$q$),
  (4,  'no member column',       $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'client', 'amount', 'status')$q$),
  (5,  'no amount column',       $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'total', 'status')$q$),
  (6,  'no status column',       $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'state')$q$),
  (7,  'no id column',           $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'status', 'order_no')$q$),
  (8,  'no lines column',        $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'status', lines_column => 'cart')$q$),
  (9,  'no coupon column',       $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'status', coupon_column => 'voucher')$q$),
  (10, 'no time column',         $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'status', time_column => 'event_at')$q$),
  (11, 'amount numeric',         $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'customer', 'price', 'status')$q$),
  (12, 'time without time zone', $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'customer', 'amount', 'status', time_column => 'local_at')$q$),
  (13, 'lines json',             $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'customer', 'amount', 'status', lines_column => 'cart_json')$q$),
  (14, 'member numeric',         $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'cust_num', 'amount', 'status')$q$),
  (15, 'status integer',         $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'customer', 'amount', 'status_n')$q$),
  (16, 'id timestamptz',         $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'customer', 'amount', 'status', 'id_ts')$q$),
  (17, 'coupon integer',         $q$SELECT loyalty.track_orders('orderr_bad_types', 'orderr_main', 'customer', 'amount', 'status', coupon_column => 'voucher_n')$q$),
  (18, 'application ids, text member', $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_app', 'customer', 'amount', 'status')$q$),
  (19, 'unknown programme',      $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_nope', 'customer', 'amount', 'status')$q$),
  (20, 'unknown table',          $q$SELECT loyalty.track_orders('orderr_nope', 'orderr_main', 'customer', 'amount', 'status')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- statuses
SELECT t.test, pg_temp.try(format($f$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount',
                                      'status', statuses => %L)$f$, t.statuses)) AS result
FROM (VALUES
  (1, 'an array',          '["paid", "completed"]'),
  (2, 'a string',          '"paid"'),
  (3, 'unknown key',       '{"paid": "paid", "shipped": "shipped"}'),
  (4, 'empty array',       '{"paid": []}'),
  (5, 'a number',          '{"paid": 1}'),
  (6, 'array of numbers',  '{"paid": ["paid", 2]}'),
  (7, 'mapped twice',      '{"paid": "done", "completed": ["done", "delivered"]}'),
  (8, 'twice in one key',  '{"cancelled": ["void", "void"]}'),
  (9, 'JSON null',         'null')
) t(n, test, statuses) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- NULL arguments
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'orders NULL',        $q$SELECT loyalty.track_orders(NULL, 'orderr_main', 'customer', 'amount', 'status')$q$),
  (2, 'program NULL',       $q$SELECT loyalty.track_orders('orderr_untracked', NULL, 'customer', 'amount', 'status')$q$),
  (3, 'member_column NULL', $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', NULL, 'amount', 'status')$q$),
  (4, 'amount_column NULL', $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', NULL, 'status')$q$),
  (5, 'status_column NULL', $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', NULL)$q$),
  (6, 'id_column NULL',     $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'status', NULL)$q$),
  (7, 'statuses NULL',      $q$SELECT loyalty.track_orders('orderr_untracked', 'orderr_main', 'customer', 'amount', 'status', statuses => NULL)$q$),
  (8, 'untrack NULL',       $q$SELECT loyalty.untrack_orders(NULL)$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- untrack_orders of a table that is not tracked
SELECT pg_temp.try($q$SELECT loyalty.untrack_orders('orderr_untracked')$q$) AS untrack_untracked;
SELECT pg_temp.try($q$SELECT loyalty.untrack_orders('orderr_view')$q$) AS untrack_view;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- ownership ---------------------------------------------------------------------
CREATE ROLE orderr_owner IN ROLE loyalty_admin;
CREATE ROLE orderr_other IN ROLE loyalty_admin;
CREATE ROLE orderr_nobody;
CREATE TABLE orderr_owned (id text, customer text, amount bigint, status text);
ALTER TABLE orderr_owned OWNER TO orderr_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON orderr_owned TO orderr_other;
SET ROLE orderr_other;
-- an administrator who does not own the table (even with rights on it)
SELECT pg_temp.try($q$SELECT loyalty.track_orders('orderr_owned', 'orderr_main', 'customer', 'amount', 'status')$q$) AS other_admin;
SET ROLE orderr_nobody;
SELECT pg_temp.try($q$SELECT loyalty.track_orders('orderr_owned', 'orderr_main', 'customer', 'amount', 'status')$q$) AS not_admin;
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the owner may
SET ROLE orderr_owner;
SELECT loyalty.track_orders('orderr_owned', 'orderr_main', 'customer', 'amount', 'status') > 0 AS owner_tracks;
SET ROLE orderr_other;
SELECT pg_temp.try($q$SELECT loyalty.untrack_orders('orderr_owned')$q$) AS other_untracks;
SET ROLE orderr_owner;
SELECT loyalty.untrack_orders('orderr_owned');
RESET ROLE;
SELECT role_name, action, object FROM loyalty.audit_log WHERE object LIKE '%orderr_owned' ORDER BY audit_id;
-- an order in an unmapped status may have no amount
INSERT INTO orderr_orders VALUES ('x-5', 'orderr-c9', NULL, 'new', NULL, NULL, '2026-03-10 10:00+08');
SELECT pg_temp.fingerprint() AS fp \gset

-- the trigger refuses what it must act on but cannot -------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'paid, NULL amount',           $q$INSERT INTO orderr_orders VALUES ('x-1', 'orderr-c9', NULL, 'paid', NULL, NULL, '2026-03-10 10:00+08')$q$),
  (2,  'paid, negative amount',       $q$INSERT INTO orderr_orders VALUES ('x-2', 'orderr-c9', -100, 'paid', NULL, NULL, '2026-03-10 10:00+08')$q$),
  (3,  'completed, NULL amount',      $q$INSERT INTO orderr_orders VALUES ('x-3', 'orderr-c9', NULL, 'completed', NULL, NULL, '2026-03-10 10:00+08')$q$),
  (4,  'completed, negative amount',  $q$INSERT INTO orderr_orders VALUES ('x-4', 'orderr-c9', -1, 'completed', NULL, NULL, '2026-03-10 10:00+08')$q$),
  (5,  'new -> paid, NULL amount',    $q$UPDATE orderr_orders SET status = 'paid' WHERE id = 'x-5'$q$),
  (6,  'paid order, amount negative', $q$UPDATE orderr_orders SET amount = -5 WHERE id = 'p-1'$q$),
  (7,  'paid order, amount NULL',     $q$UPDATE orderr_orders SET amount = NULL WHERE id = 'p-1'$q$),
  (8,  'paid order, other customer',  $q$UPDATE orderr_orders SET customer = 'orderr-c2' WHERE id = 'p-1'$q$),
  (9,  'paid order, customer NULL',   $q$UPDATE orderr_orders SET customer = NULL WHERE id = 'p-1'$q$),
  (10, 'completed order, other id',   $q$UPDATE orderr_orders SET id = 'k-2' WHERE id = 'k-1'$q$),
  (11, 'bulk insert, one bad row',    $q$INSERT INTO orderr_orders VALUES ('x-6', 'orderr-c9', 100, 'paid', NULL, NULL, '2026-03-10 10:00+08'),
                                                                     ('x-7', 'orderr-c9', -100, 'paid', NULL, NULL, '2026-03-10 10:00+08')$q$),
  (12, 'paid, malformed cart line',   $q$INSERT INTO orderr_orders VALUES ('x-8', 'orderr-c9', 100, 'paid', '[{"sku": "a", "qty": 1}]', NULL, '2026-03-10 10:00+08')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT id, customer, amount, status FROM orderr_orders ORDER BY id;
-- the application sees the error itself (with its hint)
\set VERBOSITY default
INSERT INTO orderr_orders VALUES ('x-8', 'orderr-c9', NULL, 'paid', NULL, NULL, '2026-03-10 10:00+08');
UPDATE orderr_orders SET customer = 'orderr-c2' WHERE id = 'p-1';
\set VERBOSITY sqlstate
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- an order that does not count may change customer; a NULL amount on an unmapped status is fine
INSERT INTO orderr_orders VALUES ('n-1', 'orderr-c3', NULL, 'new', NULL, NULL, '2026-03-10 10:00+08');
UPDATE orderr_orders SET customer = 'orderr-c4' WHERE id = 'n-1';
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
DELETE FROM orderr_orders WHERE id = 'n-1';

-- refund -------------------------------------------------------------------------
INSERT INTO orderr_orders VALUES ('c-1', 'orderr-c5', 20000, 'paid', NULL, NULL, '2026-03-10 10:00+08');
UPDATE orderr_orders SET status = 'cancelled', event_at = '2026-03-11 10:00+08' WHERE id = 'c-1';
INSERT INTO orderr_orders VALUES ('n-2', 'orderr-c5', 20000, 'new', NULL, NULL, '2026-03-10 10:00+08');
SELECT loyalty.refund('orderr_orders', 'p-1', 10000, 'r-1', '2026-03-12 10:00+08') AS reversed_total;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'table never tracked',     $q$SELECT loyalty.refund('orderr_untracked', 'p-1', 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (2,  'a view',                  $q$SELECT loyalty.refund('orderr_view', 'p-1', 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (3,  'unknown order',           $q$SELECT loyalty.refund('orderr_orders', 'nope', 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (4,  'order never paid',        $q$SELECT loyalty.refund('orderr_orders', 'n-2', 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (5,  'amount 0',                $q$SELECT loyalty.refund('orderr_orders', 'p-1', 0, 'r-9', '2026-03-12 10:00+08')$q$),
  (6,  'amount negative',         $q$SELECT loyalty.refund('orderr_orders', 'p-1', -100, 'r-9', '2026-03-12 10:00+08')$q$),
  (7,  'amount NULL',             $q$SELECT loyalty.refund('orderr_orders', 'p-1', NULL, 'r-9', '2026-03-12 10:00+08')$q$),
  (8,  'orders NULL',             $q$SELECT loyalty.refund(NULL, 'p-1', 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (9,  'order_id NULL',           $q$SELECT loyalty.refund('orderr_orders', NULL, 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (10, 'ref NULL',                $q$SELECT loyalty.refund('orderr_orders', 'p-1', 100, NULL, '2026-03-12 10:00+08')$q$),
  (11, 'at NULL',                 $q$SELECT loyalty.refund('orderr_orders', 'p-1', 100, 'r-9', NULL)$q$),
  (12, 'ref empty',               $q$SELECT loyalty.refund('orderr_orders', 'p-1', 100, '', '2026-03-12 10:00+08')$q$),
  (13, 'exceeds what is left',    $q$SELECT loyalty.refund('orderr_orders', 'p-1', 40001, 'r-9', '2026-03-12 10:00+08')$q$),
  (14, 'exceeds the amount',      $q$SELECT loyalty.refund('orderr_orders', 'p-1', 50001, 'r-9', '2026-03-12 10:00+08')$q$),
  (15, 'cancelled order',         $q$SELECT loyalty.refund('orderr_orders', 'c-1', 100, 'r-9', '2026-03-12 10:00+08')$q$),
  (16, 'same ref, other amount',  $q$SELECT loyalty.refund('orderr_orders', 'p-1', 10001, 'r-1', '2026-03-12 10:00+08')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the same ref with the same amount answers the first result
SELECT loyalty.refund('orderr_orders', 'p-1', 10000, 'r-1', '2026-03-13 10:00+08') AS replay;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT ref, amount, reversed_total FROM loyalty.order_refund WHERE order_id = 'p-1' ORDER BY ref;
-- a table that was tracked and is no longer: refund() refuses it
CREATE TABLE orderr_was_tracked (id text, customer text, amount bigint, status text);
SELECT loyalty.track_orders('orderr_was_tracked', 'orderr_main', 'customer', 'amount', 'status') > 0 AS tracked;
INSERT INTO orderr_was_tracked VALUES ('w-1', 'orderr-c6', 30000, 'paid');
SELECT loyalty.untrack_orders('orderr_was_tracked');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.refund('orderr_was_tracked', 'w-1', 100, 'r-1')$q$) AS refund_untracked;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- the application role ----------------------------------------------------------------
CREATE ROLE orderr_app IN ROLE loyalty_app;
CREATE TABLE orderr_app_orders (id bigint PRIMARY KEY, customer text, amount integer, status text, event_at timestamptz);
ALTER TABLE orderr_app_orders OWNER TO orderr_app;
SELECT loyalty.track_orders('orderr_app_orders', 'orderr_main', 'customer', 'amount', 'status',
                            time_column => 'event_at') > 0 AS tracked;
SET ROLE orderr_app;
-- it writes its own table; the trigger earns with the extension's rights
INSERT INTO orderr_app_orders VALUES (1, 'orderr-a1', 25000, 'paid', '2026-03-10 10:00+08');
UPDATE orderr_app_orders SET status = 'completed', event_at = '2026-03-11 10:00+08' WHERE id = 1;
INSERT INTO orderr_app_orders VALUES (2, 'orderr-a1', 10000, 'paid', '2026-03-12 10:00+08');
SELECT loyalty.refund('orderr_app_orders', '2', 5000, 'app-r1', '2026-03-12 11:00+08') AS reversed_total;
SELECT loyalty.points(loyalty.member('orderr_main', 'orderr-a1'), '2026-03-18 10:00+08') AS points;
SELECT operation, points, source, ref, at FROM loyalty.history(loyalty.member('orderr_main', 'orderr-a1')) ORDER BY entry;
RESET ROLE;
SELECT pg_temp.fingerprint() AS fp \gset
SET ROLE orderr_app;
-- ...but cannot write loyalty's tables, nor configure tracking
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'insert a ledger entry',  $q$INSERT INTO loyalty.points_entry (member_id, entry_id, at, operation, points, source, ref)
                                   VALUES (1, 1, now(), 'earn', 1000, 'order', 'forged')$q$),
  (2, 'insert an order state',  $q$INSERT INTO loyalty.order_state (member_id, tracked_id, order_id, program_id, state, amount,
                                   first_paid_at, paid_at, updated_at) VALUES (1, 1, 'forged', 1, 'paid', 1, now(), now(), now())$q$),
  (3, 'update order states',    $q$UPDATE loyalty.order_state SET earned = 1000000$q$),
  (4, 'update lots',            $q$UPDATE loyalty.points_lot SET remaining = 1000000$q$),
  (5, 'delete refunds',         $q$DELETE FROM loyalty.order_refund$q$),
  (6, 'untrack its table',      $q$SELECT loyalty.untrack_orders('orderr_app_orders')$q$),
  (7, 'track another table',    $q$SELECT loyalty.track_orders('orderr_orders', 'orderr_main', 'customer', 'amount', 'status')$q$),
  (8, 'call the trigger',       $q$SELECT loyalty._order_trigger()$q$)
) t(n, test, sql) ORDER BY t.n;
-- its own refused write: the INSERT fails and writes nothing
SELECT pg_temp.try($q$INSERT INTO orderr_app_orders VALUES (3, 'orderr-a1', -1, 'paid', '2026-03-12 10:00+08')$q$) AS negative_amount;
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS app_orders FROM orderr_app_orders;

SELECT bool_and(ok) AS all_ok FROM loyalty.verify('orderr_main');

-- An infinite time in the time column is refused (LY015), nothing written.
CREATE TABLE orderr_timed (id int PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('orderr_timed', 'orderr_main', 'customer', 'amount', 'status',
                            time_column => 'at') > 0 AS tracked;
SELECT pg_temp.try($q$INSERT INTO orderr_timed VALUES (1, 'orderr-inf', 1000, 'paid', 'infinity')$q$) AS infinite_time;
SELECT pg_temp.try($q$INSERT INTO orderr_timed VALUES (2, 'orderr-inf', 1000, 'paid', '-infinity')$q$) AS minus_infinite_time;
SELECT count(*) AS recorded FROM loyalty.order_state o JOIN loyalty.tracked_table t USING (tracked_id)
WHERE t.orders = 'orderr_timed'::regclass;
SELECT loyalty.untrack_orders('orderr_timed');
DROP TABLE orderr_timed;

-- Two tables tracked into one programme, one order id used in both for the
-- same customer: the second order's earn key (source 'order', ref = the id)
-- is taken, so its write is refused (LY015) rather than sharing the first
-- order's points, whatever its amount; nothing written.  The same id for
-- another customer is another key: that order earns.
CREATE TABLE orderr_web (id int PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
CREATE TABLE orderr_pos (id int PRIMARY KEY, customer text, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('orderr_web', 'orderr_main', 'customer', 'amount', 'status',
                            time_column => 'at') > 0 AS web_tracked;
SELECT loyalty.track_orders('orderr_pos', 'orderr_main', 'customer', 'amount', 'status',
                            time_column => 'at') > 0 AS pos_tracked;
INSERT INTO orderr_web VALUES (500, 'orderr-two', 50000, 'paid', '2026-03-11 10:00+08');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$INSERT INTO orderr_pos VALUES (500, 'orderr-two', 50000, 'paid', '2026-03-11 11:00+08')$q$) AS same_points;
SELECT pg_temp.try($q$INSERT INTO orderr_pos VALUES (500, 'orderr-two', 70000, 'paid', '2026-03-11 11:00+08')$q$) AS other_points;
\set VERBOSITY default
INSERT INTO orderr_pos VALUES (500, 'orderr-two', 70000, 'paid', '2026-03-11 11:00+08');
\set VERBOSITY sqlstate
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
INSERT INTO orderr_pos VALUES (500, 'orderr-other', 50000, 'paid', '2026-03-11 12:00+08');
SELECT t.orders, m.external_id AS customer, o.order_id, o.earned, o.earn_ref, o.lot_id IS NOT NULL AS has_lot
FROM loyalty.order_state o JOIN loyalty.tracked_table t USING (tracked_id) JOIN loyalty.member m USING (member_id)
WHERE t.orders IN ('orderr_web'::regclass, 'orderr_pos'::regclass) ORDER BY 1, 2;
-- an earn made by hand with an order's key takes it too: refused the same
-- way, whether the order is written inside the member's cached balance
-- window (direct path, 2026-03-12) or back-dated before its last entry
-- (statement path, 2026-03-01)
SELECT loyalty.earn(loyalty.member('orderr_main', 'orderr-two'), 5, 'order', '501',
                    at => '2026-03-11 13:00+08') > 0 AS earned_by_hand;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$INSERT INTO orderr_web VALUES (501, 'orderr-two', 30000, 'paid', '2026-03-12 10:00+08')$q$) AS in_window;
SELECT pg_temp.try($q$INSERT INTO orderr_web VALUES (501, 'orderr-two', 30000, 'paid', '2026-03-01 10:00+08')$q$) AS back_dated;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM pg_temp.ledger('orderr-two');
SELECT loyalty.untrack_orders('orderr_web');
SELECT loyalty.untrack_orders('orderr_pos');
DROP TABLE orderr_web, orderr_pos;

DROP TABLE orderr_owned;
DROP TABLE orderr_app_orders;
DROP ROLE orderr_owner, orderr_other, orderr_nobody, orderr_app;
