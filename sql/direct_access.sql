-- direct_access: the rows loyalty writes by direct table access instead of
-- statements (wallet balance rows in transfer(); member rows, entries and
-- lots of earns, single-lot spends and releases inside the cached window;
-- the order trigger's order_state) keep every index of their table exact,
-- partial indexes included (a lot spent to 0 leaves points_lot_open).
-- Thousands of updates of the same few rows in one transaction fill their
-- pages, so that many updates cannot be HOT and need index entries; amcheck
-- then verifies each index against the table (heapallindexed).  A table of
-- the extension that gained a trigger or a CHECK constraint is not written
-- behind its back: the write is refused.
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT loyalty.create_program('dax', 'Direct access', 'CNY') > 0 AS created;
SELECT count(loyalty.enroll('dax', 'm' || g, '2026-01-01')) AS members FROM generate_series(1, 3) g;
SELECT count(loyalty.open_wallet('dax', 'w' || g, 'CNY', loyalty.member('dax', 'm' || g))) AS wallets
FROM generate_series(1, 3) g;
SELECT count(loyalty.fund_wallet(loyalty.find_wallet('dax', 'w' || g), 1000000, 'dax-fund-' || g, '2026-01-02')) AS funded
FROM generate_series(1, 3) g;

-- 3,000 transfers around the three wallets, one transaction: each balance row updated 2,000 times
DO $$
BEGIN
    FOR i IN 1..3000 LOOP
        PERFORM loyalty.transfer(loyalty.find_wallet('dax', 'w' || (1 + i % 3)),
                                 loyalty.find_wallet('dax', 'w' || (1 + (i + 1) % 3)),
                                 i % 7 + 1, 'dax-t' || i, at => '2026-01-03');
    END LOOP;
END
$$;
SELECT w.name, b.posted, b.available
FROM loyalty.wallet w JOIN loyalty.program p USING (program_id),
     loyalty.wallet_balance(w.wallet_id, '2026-01-04') b
WHERE p.code = 'dax' AND w.role = 'member' ORDER BY w.name;
SELECT count(*) AS entries, sum(e.amount) AS net FROM loyalty.wallet_entry e
JOIN loyalty.wallet w USING (wallet_id) JOIN loyalty.program p USING (program_id) WHERE p.code = 'dax';

-- 2,000 earns and 2,000 spends of one member inside its cached window, one transaction
DO $$
DECLARE
    m bigint := loyalty.member('dax', 'm1');
BEGIN
    FOR i IN 1..2000 LOOP
        PERFORM loyalty.earn(m, 10, 'shop', 'dax-e' || i, at => '2026-01-03');
        PERFORM loyalty.spend(m, 5, 'shop', 'dax-s' || i, at => '2026-01-03');
    END LOOP;
END
$$;
SELECT loyalty.points(loyalty.member('dax', 'm1'), '2026-01-04') AS points,
       (SELECT booked FROM loyalty.member WHERE member_id = loyalty.member('dax', 'm1')) AS booked;

-- lots spent to 0 are out of the partial index of open lots; the others in it
SELECT count(*) FILTER (WHERE remaining = 0) AS spent_lots, count(*) FILTER (WHERE remaining > 0) AS open_lots
FROM loyalty.points_lot WHERE member_id = loyalty.member('dax', 'm1');

-- 500 orders of the three members paid, then completed (pending earn, then
-- release), one transaction each statement: 1 point per 1.00
SELECT loyalty.define_earn_rule('dax', 'base', '{"on": "order", "per_amount": 100, "points": 1}') > 0 AS rule;
CREATE TABLE dax_orders (id bigint PRIMARY KEY, customer text, total bigint, status text);
SELECT loyalty.track_orders('dax_orders', 'dax', 'customer', 'total', 'status', 'id') > 0 AS tracked;
INSERT INTO dax_orders SELECT g, 'm' || (1 + g % 3), 1000 + g, 'paid' FROM generate_series(1, 500) g;
UPDATE dax_orders SET status = 'completed';
SELECT count(*) AS orders, count(*) FILTER (WHERE state = 'completed') AS completed, sum(earned) AS earned
FROM loyalty.order_state o JOIN loyalty.program p USING (program_id) WHERE p.code = 'dax';

-- An order paid and completed in one transaction: the completion finds the
-- order's row, its lot and its member's row where the payment left them (no
-- index lookup, no second lock of the member row).  Where another order's
-- payment came in between, or the first completion was rolled back to a
-- savepoint, those remembered places are stale and the rows are looked up:
-- each order's points are released once, into the lot its payment made.
BEGIN;
INSERT INTO dax_orders VALUES (501, 'm1', 5000, 'paid'), (502, 'm1', 7000, 'paid');
UPDATE dax_orders SET status = 'completed' WHERE id = 501;
UPDATE dax_orders SET status = 'completed' WHERE id = 502;
INSERT INTO dax_orders VALUES (503, 'm2', 9000, 'paid');
SAVEPOINT before_completion;
UPDATE dax_orders SET status = 'completed' WHERE id = 503;
ROLLBACK TO SAVEPOINT before_completion;
UPDATE dax_orders SET status = 'completed' WHERE id = 503;
INSERT INTO dax_orders VALUES (504, 'm3', 3000, 'paid');
UPDATE dax_orders SET status = 'completed' WHERE id = 504;
COMMIT;
SELECT o.order_id, o.state, o.earned, l.points AS lot_points, l.remaining,
       l.available_at = o.completed_at AS available_at_completion,
       (SELECT count(*) FROM loyalty.points_entry e
        WHERE e.member_id = o.member_id AND e.operation = 'release' AND e.ref = o.earn_ref) AS releases
FROM loyalty.order_state o JOIN loyalty.points_lot l ON l.member_id = o.member_id AND l.lot_id = o.lot_id
WHERE o.tracked_id = (SELECT tracked_id FROM loyalty.tracked_table WHERE orders = 'dax_orders'::regclass)
  AND o.order_id IN ('501', '502', '503', '504')
ORDER BY o.order_id;

-- 300 orders paid then completed one at a time in one transaction, as a
-- shop writes them: every completion's update of the order's state row and
-- of its lot stays in its page (HOT, no new index entry), because both
-- tables keep room for it (fill factors 70 and 85; with 100%, 12 of these
-- state rows and 8 of these lots moved pages, taking new index entries).
-- The difference of the counters before and after: the view also counts
-- earlier transactions' updates not yet reported.
BEGIN;
CREATE TEMP TABLE dax_updates_before AS
SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_all_tables
WHERE relid IN ('loyalty.order_state'::regclass, 'loyalty.points_lot'::regclass);
DO $$
BEGIN
    FOR i IN 601..900 LOOP
        INSERT INTO dax_orders VALUES (i, 'm' || (1 + i % 3), 1000 + i, 'paid');
        UPDATE dax_orders SET status = 'completed' WHERE id = i;
    END LOOP;
END
$$;
SELECT x.relname, x.n_tup_upd - b.n_tup_upd AS updates, x.n_tup_hot_upd - b.n_tup_hot_upd AS hot_updates
FROM pg_stat_xact_all_tables x JOIN dax_updates_before b USING (relname)
WHERE x.relid IN ('loyalty.order_state'::regclass, 'loyalty.points_lot'::regclass) ORDER BY 1;
COMMIT;

-- every index of the tables written directly holds exactly the rows of its table
SELECT c.relname AS index, bt_index_check(c.oid, true) IS NOT NULL AS checked
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ('loyalty.wallet_part'::regclass, 'loyalty.member'::regclass,
                     'loyalty.wallet_entry'::regclass, 'loyalty.wallet_transfer'::regclass,
                     'loyalty.points_entry'::regclass, 'loyalty.points_lot'::regclass,
                     'loyalty.order_state'::regclass)
ORDER BY 1;
-- and the ledgers agree with the balances
SELECT check_name, ok FROM loyalty.verify('dax') WHERE NOT ok OR check_name LIKE 'wallets: booked%'
   OR check_name LIKE 'points: booked balance equals the sum%';

-- a trigger added to a ledger table: the earn is refused (55000), nothing written
CREATE FUNCTION dax_try_earn() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    -- now: after the orders above, inside m2's cached window (the direct path)
    PERFORM loyalty.earn(loyalty.member('dax', 'm2'), 10, 'shop', 'dax-refused', at => now());
    RETURN 'earned';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE FUNCTION dax_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER dax_audit AFTER INSERT ON loyalty.points_entry FOR EACH ROW EXECUTE FUNCTION dax_audit();
SELECT dax_try_earn() AS with_trigger;
DROP TRIGGER dax_audit ON loyalty.points_entry;
-- a CHECK constraint added to the lots: refused likewise
ALTER TABLE loyalty.points_lot ADD CONSTRAINT dax_small CHECK (points < 1000000);
SELECT dax_try_earn() AS with_check;
ALTER TABLE loyalty.points_lot DROP CONSTRAINT dax_small;
SELECT count(*) AS refused_entries FROM loyalty.points_entry WHERE ref = 'dax-refused';
-- without them, the same earn goes through
SELECT dax_try_earn() AS without;

-- the tables direct writes keep open are let go before a utility
-- statement: dropping the extension in the transaction that wrote through
-- them works, after a caught error too (rolled back here)
CREATE FUNCTION dax_try_overspend() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM loyalty.spend(loyalty.member('dax', 'm2'), 1000000, 'shop', 'dax-over', at => '2026-01-03');
    RETURN 'spent';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
BEGIN;
SELECT loyalty.earn(loyalty.member('dax', 'm3'), 10, 'shop', 'dax-dropped', at => '2026-01-03') > 0 AS earned;
SELECT dax_try_overspend() AS overspend;
SET LOCAL client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
SELECT count(*) AS loyalty_tables FROM pg_catalog.pg_tables WHERE schemaname = 'loyalty';
ROLLBACK;
SELECT count(*) AS kept FROM loyalty.points_entry WHERE ref = 'dax-refused';

SELECT loyalty.untrack_orders('dax_orders');
DROP TABLE dax_orders;
DROP FUNCTION dax_audit();
DROP FUNCTION dax_try_earn();
DROP FUNCTION dax_try_overspend();
DROP EXTENSION amcheck;
