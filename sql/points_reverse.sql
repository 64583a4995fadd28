-- points_reverse.sql: loyalty.reverse() and debt (SPEC section 3).
--
-- Members are enrolled in member_ids = 'application' programmes, so that their
-- ids (82001...) are chosen here and error messages naming them are stable.
-- Entry ids come from a sequence: they are captured with \gset, never shown.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- pg_temp.try(statement, entries): run a statement, and if it fails show its
-- SQLSTATE, message, detail and hint; entry ids named in the message are
-- replaced by labels (entries: {"<entry id>": "<label>"}).
CREATE FUNCTION pg_temp.try(stmt text, entries jsonb DEFAULT '{}')
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text; k text; v text;
BEGIN
    EXECUTE stmt;
    RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    FOR k, v IN SELECT key, value FROM jsonb_each_text(entries) LOOP
        msg := regexp_replace(msg, '([Ee]ntry )' || k || '\M', '\1<' || v || '>', 'g');
        det := regexp_replace(det, '([Ee]ntry )' || k || '\M', '\1<' || v || '>', 'g');
    END LOOP;
    RETURN NEXT format('ERROR %s: %s', st, msg);
    IF det <> '' THEN RETURN NEXT 'DETAIL: ' || det; END IF;
    IF hnt <> '' THEN RETURN NEXT 'HINT: ' || hnt; END IF;
END
$$;

-- A member's lots, named by the ref of the entry that created them.
CREATE FUNCTION pg_temp.lots(member bigint)
RETURNS TABLE(ref text, points bigint, remaining bigint, available_at timestamptz,
              expires_at timestamptz)
LANGUAGE sql AS $$
    SELECT e.ref, l.points, l.remaining, l.available_at, l.expires_at
    FROM loyalty.points_lot l
    JOIN loyalty.points_entry e ON e.member_id = l.member_id AND l.lot_id = e.lots[1]
         AND e.operation IN ('earn', 'adjust') AND e.points > 0
    WHERE l.member_id = member
    ORDER BY l.created_at, e.ref
$$;

-- A member's history, oldest first, with the lots each entry moved named by
-- the ref of the entry that created them, and the entry a reversal undoes
-- named by its operation and ref.
CREATE FUNCTION pg_temp.hist(member bigint)
RETURNS TABLE(at timestamptz, operation text, points bigint, source text, ref text,
              reverses text, lots jsonb, detail jsonb)
LANGUAGE sql AS $$
    SELECT h.at, h.operation, h.points, h.source, h.ref,
           (SELECT o.operation || ' ' || o.ref FROM loyalty.points_entry o
            WHERE o.member_id = member AND o.entry_id = (h.detail->>'reverses')::bigint),
           (SELECT jsonb_object_agg(e.ref, j.value)
            FROM jsonb_each(h.detail->'lots') AS j
            JOIN loyalty.points_entry e ON e.member_id = member AND e.lots[1] = j.key::bigint
                 AND e.operation IN ('earn', 'adjust') AND e.points > 0),
           h.detail - 'lots' - 'reverses'
    FROM loyalty.history(member, max_rows => 1000) AS h
    ORDER BY h.at, h.entry
$$;

SELECT loyalty.create_program('prg_reverse_1', 'Reverse: debt', 'CNY',
    '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.create_program('prg_reverse_neg', 'Reverse: negative balances', 'CNY',
    '{"member_ids": "application", "allow_negative": true}') > 0 AS created;

--------------------------------------------------------------------------
-- 1. points is the cumulative total to stand reversed
--------------------------------------------------------------------------
SELECT loyalty.enroll('prg_reverse_1', '82001', '2026-01-01') AS m1 \gset
SELECT loyalty.earn(:m1, 100, 'order', 'A1', at => '2026-01-10 00:00+00') AS a1 \gset
SELECT loyalty.reverse(:m1, 'order', 'A1', 30, at => '2026-01-20 00:00+00') AS r1 \gset
SELECT * FROM loyalty.balance(:m1, '2026-01-20 00:00+00');
-- a total of 50 reverses 20 more
SELECT loyalty.reverse(:m1, 'order', 'A1', 50, at => '2026-01-21 00:00+00') AS r2 \gset
SELECT :r2 <> :r1 AS new_entry;
SELECT * FROM loyalty.balance(:m1, '2026-01-21 00:00+00');
-- the same total again changes nothing and returns the same entry
SELECT loyalty.reverse(:m1, 'order', 'A1', 50, at => '2026-01-22 00:00+00') = :r2 AS same_entry;
SELECT count(*) AS entries FROM loyalty.points_entry WHERE member_id = :m1;
SELECT * FROM loyalty.balance(:m1, '2026-01-22 00:00+00');
-- a total below what stands reversed, or above the entry, is an error (LY008)
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82001, 'order', 'A1', 40, at => '2026-01-22 00:00+00')$$,
                          jsonb_build_object(:'a1', 'A1'));
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82001, 'order', 'A1', 101, at => '2026-01-22 00:00+00')$$,
                          jsonb_build_object(:'a1', 'A1'));
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82001, 'order', 'A1', -1, at => '2026-01-22 00:00+00')$$);
SELECT count(*) AS entries FROM loyalty.points_entry WHERE member_id = :m1;
SELECT * FROM pg_temp.hist(:m1);
SELECT reverses = :a1 AS reverses_a1, covers FROM loyalty.points_entry
WHERE member_id = :m1 AND operation = 'reverse' ORDER BY entry_id;
-- NULL: all of it (the 50 left)
SELECT loyalty.reverse(:m1, 'order', 'A1', at => '2026-01-23 00:00+00') AS r3 \gset
SELECT loyalty.reverse(:m1, 'order', 'A1', at => '2026-01-24 00:00+00') = :r3 AS same_entry;
SELECT loyalty.reverse(:m1, 'order', 'A1', 100, at => '2026-01-24 00:00+00') = :r3 AS same_entry;
SELECT * FROM loyalty.balance(:m1, '2026-01-24 00:00+00');
-- a total of 0 on an entry never reversed: nothing to do
SELECT loyalty.earn(:m1, 10, 'order', 'A2', at => '2026-01-25 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m1, 'order', 'A2', 0, at => '2026-01-25 00:00+00') AS nothing;
-- reversing a pending earn (an order refunded before completion) takes its lot
SELECT loyalty.earn(:m1, 60, 'order', 'A3', available_at => 'infinity', at => '2026-01-26 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:m1, '2026-01-26 00:00+00');
SELECT loyalty.reverse(:m1, 'order', 'A3', at => '2026-01-27 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:m1, '2026-01-27 00:00+00');
SELECT * FROM pg_temp.lots(:m1);
SELECT * FROM pg_temp.hist(:m1) WHERE ref = 'A3';

--------------------------------------------------------------------------
-- 2. an order's earn and spend (same source, ref) are reversed together
--------------------------------------------------------------------------
SELECT loyalty.enroll('prg_reverse_1', '82002', '2026-01-01') AS m2 \gset
SELECT loyalty.earn(:m2, 200, 'seed', 'B0', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
-- the order spent 80 points and earned 50
SELECT loyalty.spend(:m2, 80, 'order', 'B1', at => '2026-01-10 00:00+00') AS b1_spend \gset
SELECT loyalty.earn(:m2, 50, 'order', 'B1', at => '2026-01-10 00:00+00') AS b1_earn \gset
SELECT * FROM loyalty.balance(:m2, '2026-01-10 00:00+00');
-- a number where both exist is an error (LY008)
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82002, 'order', 'B1', 30, at => '2026-01-15 00:00+00')$$);
-- NULL undoes both
SELECT loyalty.reverse(:m2, 'order', 'B1', at => '2026-01-15 00:00+00') AS rb \gset
SELECT * FROM loyalty.balance(:m2, '2026-01-15 00:00+00');
SELECT * FROM pg_temp.hist(:m2);
SELECT :rb IN (SELECT entry_id FROM loyalty.points_entry WHERE member_id = :m2 AND operation = 'reverse')
       AS returns_a_reversal;
SELECT loyalty.reverse(:m2, 'order', 'B1', at => '2026-01-16 00:00+00') = :rb AS same_entry;
SELECT count(*) AS entries FROM loyalty.points_entry WHERE member_id = :m2;
-- nothing to reverse (LY007): an unknown key; an adjustment is not reversible
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82002, 'order', 'B-unknown', at => '2026-01-16 00:00+00')$$);
SELECT loyalty.adjust(:m2, 5, 'goodwill', 'B2', at => '2026-01-16 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82002, 'goodwill', 'B2', at => '2026-01-16 00:00+00')$$);
SELECT * FROM pg_temp.try($$SELECT loyalty.reverse(82999, 'order', 'B1', at => '2026-01-16 00:00+00')$$);

--------------------------------------------------------------------------
-- 3. reversing a spend gives the points back to the lots they came from,
--    last taken first, with their original expiry
--------------------------------------------------------------------------
SELECT loyalty.enroll('prg_reverse_1', '82003', '2026-01-01') AS m3 \gset
SELECT loyalty.earn(:m3, 100, 'promo', 'late', expires_at => '2026-12-31 00:00+00', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m3, 100, 'promo', 'soon', expires_at => '2026-06-30 00:00+00', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m3, 100, 'promo', 'never', at => '2026-01-03 00:00+00') IS NOT NULL AS ok;
-- 150: 100 from 'soon' first, then 50 from 'late'
SELECT loyalty.spend(:m3, 150, 'shop', 'C1', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:m3);
-- 60 back: 'late' was taken last, so it gets its 50 back first, then 10 to 'soon'
SELECT loyalty.reverse(:m3, 'shop', 'C1', 60, at => '2026-02-02 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:m3);
-- the rest (a total of 150)
SELECT loyalty.reverse(:m3, 'shop', 'C1', 150, at => '2026-02-03 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:m3);
SELECT * FROM pg_temp.hist(:m3) WHERE operation <> 'earn';
-- the points given back keep their lots' expiry
SELECT t, loyalty.points(:m3, t) AS points, b.expiring_30d
FROM unnest(ARRAY['2026-02-03 00:00+00', '2026-06-30 00:00+00', '2026-12-31 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m3, t) AS b;

-- Points returned to a lot that has already expired are expired again at
-- once; the next run_expiry books them.
SELECT loyalty.enroll('prg_reverse_1', '82004', '2026-01-01') AS m4 \gset
SELECT loyalty.earn(:m4, 100, 'promo', 'x', expires_at => '2026-03-01 00:00+00', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m4, 50, 'promo', 'y', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
-- 120: 100 from 'x', 20 from 'y'
SELECT loyalty.spend(:m4, 120, 'shop', 'D1', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m4, 'shop', 'D1', at => '2026-03-05 00:00+00') IS NOT NULL AS ok;
-- 'x' holds its 100 again but they are expired: only 'y' counts
SELECT * FROM pg_temp.lots(:m4);
SELECT t, loyalty.points(:m4, t) AS points, b.*
FROM unnest(ARRAY['2026-02-01 00:00+00', '2026-03-04 00:00+00', '2026-03-05 00:00+00', '2026-04-01 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m4, t) AS b;
SELECT count(*) AS expire_entries FROM loyalty.points_entry WHERE member_id = :m4 AND operation = 'expire';
SET client_min_messages = warning;   -- run_expiry's NOTICEs count every programme's lots
CALL loyalty.run_expiry('2026-03-06 00:00+00');
RESET client_min_messages;
SELECT * FROM pg_temp.lots(:m4);
SELECT operation, points, source, ref = (SELECT l.lot_id::text FROM loyalty.points_lot l
                                         JOIN loyalty.points_entry e ON e.member_id = l.member_id AND e.lots[1] = l.lot_id
                                         WHERE l.member_id = :m4 AND e.ref = 'x') AS ref_is_lot_x,
       lot_points
FROM loyalty.points_entry WHERE member_id = :m4 AND operation = 'expire';
-- Nothing of 'x' was left to expire on 2026-03-01 (it was all spent); the
-- 100 points expired when they were given back on 2026-03-05.  So the
-- booked balance (the sum of the entries up to an instant) never goes
-- below zero for this member, who has no debt.
SELECT min(booked) >= 0 AS booked_never_negative
FROM (SELECT sum(points) OVER (ORDER BY at, entry_id) AS booked
      FROM loyalty.points_entry WHERE member_id = :m4) AS s;
SELECT at, points FROM loyalty.points_entry WHERE member_id = :m4 AND operation = 'expire' ORDER BY at;
SELECT t, loyalty.points(:m4, t) AS points, (loyalty.balance(:m4, t)).available
FROM unnest(ARRAY['2026-03-05 00:00+00', '2026-03-06 00:00+00']::timestamptz[]) AS t;
-- a second run books nothing more
SET client_min_messages = warning;
CALL loyalty.run_expiry('2026-03-07 00:00+00');
RESET client_min_messages;
SELECT count(*) AS expire_entries FROM loyalty.points_entry WHERE member_id = :m4 AND operation = 'expire';

--------------------------------------------------------------------------
-- 4. reversing an earn: its lot's remainder, then other available lots
--    (soonest expiry first), the rest is debt; debt is paid first out of
--    points as they become available
--------------------------------------------------------------------------
SELECT loyalty.enroll('prg_reverse_1', '82005', '2026-01-01') AS m5 \gset
SELECT loyalty.earn(:m5, 100, 'order', 'big', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:m5, 90, 'shop', 'E0', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m5, 20, 'promo', 'n2', at => '2026-01-20 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m5, 40, 'promo', 'e-sep', expires_at => '2026-09-30 00:00+00', at => '2026-01-21 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m5, 30, 'promo', 'e-jun', expires_at => '2026-06-30 00:00+00', at => '2026-01-22 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m5, 50, 'promo', 'pend', available_at => '2026-04-01 00:00+00', at => '2026-01-23 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:m5);
SELECT * FROM loyalty.balance(:m5, '2026-02-01 00:00+00');
-- 50 of 'big': the 10 left of its lot, then 30 of 'e-jun' (expires first),
-- then 10 of 'e-sep'
SELECT loyalty.reverse(:m5, 'order', 'big', 50, at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:m5);
-- the member spends 40 more ('e-sep' 30, 'n2' 10)
SELECT loyalty.spend(:m5, 40, 'shop', 'E1', at => '2026-02-02 00:00+00') IS NOT NULL AS ok;
-- the other 50 of 'big': 10 of 'n2'; 'pend' is not available yet; 40 is debt
SELECT loyalty.reverse(:m5, 'order', 'big', at => '2026-02-03 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:m5);
SELECT * FROM pg_temp.hist(:m5) WHERE operation = 'reverse';
SELECT * FROM loyalty.balance(:m5, '2026-02-03 00:00+00');
SELECT booked, debt FROM loyalty.member WHERE member_id = :m5;
-- 'pend' becomes available on 2026-04-01 and pays the debt first: no job,
-- no write needed
SELECT t, loyalty.points(:m5, t) AS points, b.*
FROM unnest(ARRAY['2026-03-31 23:59:59.999999+00', '2026-04-01 00:00+00', '2026-04-15 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m5, t) AS b;
-- the next write books the payment at the instant it happened
SELECT loyalty.earn(:m5, 25, 'promo', 'later', at => '2026-05-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.hist(:m5) WHERE at >= '2026-02-03 00:00+00';
SELECT booked, debt FROM loyalty.member WHERE member_id = :m5;
SELECT * FROM pg_temp.lots(:m5);
-- the same figures at every instant, replayed before the last entry
SELECT t, loyalty.points(:m5, t) AS points, b.*
FROM unnest(ARRAY['2026-02-01 00:00+00', '2026-02-02 00:00+00', '2026-02-03 00:00+00', '2026-03-15 00:00+00',
                  '2026-04-01 00:00+00', '2026-04-15 00:00+00', '2026-05-01 00:00+00', '2026-07-01 00:00+00',
                  '2026-10-01 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m5, t) AS b;

-- A debt is paid by the next earning.
SELECT loyalty.enroll('prg_reverse_1', '82006', '2026-01-01') AS m6 \gset
SELECT loyalty.earn(:m6, 50, 'order', 'F1', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:m6, 50, 'shop', 'F0', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m6, 'order', 'F1', at => '2026-01-03 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:m6, '2026-01-03 00:00+00');
-- no points to spend while in debt
SELECT * FROM pg_temp.try($$SELECT loyalty.spend(82006, 1, 'shop', 'F2', at => '2026-01-04 00:00+00')$$);
SELECT loyalty.earn(:m6, 80, 'promo', 'F3', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:m6, '2026-01-10 00:00+00');
SELECT * FROM pg_temp.hist(:m6);
SELECT * FROM pg_temp.lots(:m6);
SELECT t, loyalty.points(:m6, t) AS points, b.available, b.debt
FROM unnest(ARRAY['2026-01-02 00:00+00', '2026-01-03 00:00+00', '2026-01-09 00:00+00', '2026-01-10 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m6, t) AS b;

-- Points given back by a spend reversal pay the debt first: an order earned
-- 100 and 60 of them were spent on another order; both are refunded.
SELECT loyalty.enroll('prg_reverse_1', '82009', '2026-01-01') AS m9 \gset
SELECT loyalty.earn(:m9, 100, 'order', 'J1', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:m9, 60, 'order', 'J2', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m9, 'order', 'J1', at => '2026-01-03 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m9, 'order', 'J2', 20, at => '2026-01-04 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m9, 'order', 'J2', at => '2026-01-05 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.hist(:m9);
SELECT t, loyalty.points(:m9, t) AS points, b.available, b.lifetime_earned, b.debt
FROM unnest(ARRAY['2026-01-02 00:00+00', '2026-01-03 00:00+00', '2026-01-04 00:00+00', '2026-01-05 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m9, t) AS b;
SELECT * FROM pg_temp.lots(:m9);

--------------------------------------------------------------------------
-- 5. expired points of a reversed earn are never clawed back
--------------------------------------------------------------------------
-- not yet booked by run_expiry
SELECT loyalty.enroll('prg_reverse_1', '82007', '2026-01-01') AS m7 \gset
SELECT loyalty.earn(:m7, 100, 'order', 'G1', expires_at => '2026-03-31 00:00+00', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m7, 100, 'promo', 'G0', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
-- 30 spent out of 'G1' (it expires first); its other 70 expire on 2026-03-31
SELECT loyalty.spend(:m7, 30, 'shop', 'G9', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:m7, '2026-04-15 00:00+00');
-- reversing all of 'G1': 70 forgiven, the 30 spent taken from 'G0'
SELECT loyalty.reverse(:m7, 'order', 'G1', at => '2026-04-15 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.hist(:m7) WHERE operation = 'reverse';
SELECT * FROM pg_temp.lots(:m7);
SELECT * FROM loyalty.balance(:m7, '2026-04-15 00:00+00');

-- already booked by run_expiry; reversed in two steps
SELECT loyalty.enroll('prg_reverse_1', '82008', '2026-01-01') AS m8 \gset
SELECT loyalty.earn(:m8, 100, 'order', 'H1', expires_at => '2026-03-31 00:00+00', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:m8, 30, 'shop', 'H9', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SET client_min_messages = warning;
CALL loyalty.run_expiry('2026-04-01 00:00+00');
RESET client_min_messages;
SELECT operation, points FROM loyalty.points_entry WHERE member_id = :m8 AND operation = 'expire';
-- a total of 50: all of it out of the 70 that expired
SELECT loyalty.reverse(:m8, 'order', 'H1', 50, at => '2026-04-10 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:m8, '2026-04-10 00:00+00');
-- the other 50: 20 more expired points forgiven, the 30 spent become debt
SELECT loyalty.reverse(:m8, 'order', 'H1', at => '2026-04-15 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.hist(:m8) WHERE operation = 'reverse';
SELECT * FROM loyalty.balance(:m8, '2026-04-15 00:00+00');

--------------------------------------------------------------------------
-- 6. allow_negative: the shortfall is a negative balance, not debt
--------------------------------------------------------------------------
SELECT loyalty.enroll('prg_reverse_neg', '82101', '2026-01-01') AS n1 \gset
SELECT loyalty.earn(:n1, 100, 'order', 'N1', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:n1, 80, 'shop', 'N0', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:n1, 'order', 'N1', at => '2026-01-03 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.hist(:n1) WHERE operation = 'reverse';
SELECT loyalty.points(:n1, '2026-01-03 00:00+00') AS points;
SELECT * FROM loyalty.balance(:n1, '2026-01-03 00:00+00');
SELECT * FROM pg_temp.try($$SELECT loyalty.spend(82101, 1, 'shop', 'N9', at => '2026-01-04 00:00+00')$$);
-- later points make up the shortfall first, pending ones when they become available
SELECT loyalty.earn(:n1, 50, 'promo', 'N2', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:n1, 100, 'promo', 'N3', available_at => '2026-02-01 00:00+00', at => '2026-01-15 00:00+00') IS NOT NULL AS ok;
SELECT t, loyalty.points(:n1, t) AS points, b.*
FROM unnest(ARRAY['2026-01-02 00:00+00', '2026-01-03 00:00+00', '2026-01-10 00:00+00', '2026-01-31 23:59:59+00',
                  '2026-02-01 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:n1, t) AS b;
SELECT * FROM pg_temp.lots(:n1);

--------------------------------------------------------------------------
-- 7. an order that earned and spent is undone spend first
--------------------------------------------------------------------------
-- The spend took the promo (expiring 03-01) and the order's own points; undoing
-- the spend first gives each lot its points back, then the earn takes back its
-- own lot: the promo keeps its expiry.
SELECT loyalty.enroll('prg_reverse_1', '82020', '2026-01-01') AS m20 \gset
SELECT loyalty.earn(:m20, 50, 'promo', 'X', expires_at => '2026-03-01 00:00+00', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:m20, 100, 'order', 'O1', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:m20, 150, 'order', 'O1', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:m20, 'order', 'O1', at => '2026-01-11 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.hist(:m20) WHERE operation <> 'earn';
SELECT * FROM pg_temp.lots(:m20);
SELECT t, loyalty.points(:m20, t) AS points, b.debt
FROM unnest(ARRAY['2026-01-11 00:00+00', '2026-03-01 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:m20, t) AS b;

--------------------------------------------------------------------------
-- 8. the order of two refunds does not change the outcome
--------------------------------------------------------------------------
-- A promo of 100 expiring 05-01; 40 of it spent on order SO-20; after 05-01
-- both are refunded, in one order for one member and the other for another.
SELECT loyalty.enroll('prg_reverse_1', '82021', '2026-01-01') AS r1 \gset
SELECT loyalty.enroll('prg_reverse_1', '82022', '2026-01-01') AS r2 \gset
SELECT loyalty.earn(m, 100, 'promo', 'P', expires_at => '2026-05-01 00:00+00', at => '2026-04-01 00:00+00') IS NOT NULL AS ok
FROM unnest(ARRAY[:r1, :r2]::bigint[]) AS m;
SELECT loyalty.spend(m, 40, 'order', 'SO-20', at => '2026-04-02 00:00+00') IS NOT NULL AS ok
FROM unnest(ARRAY[:r1, :r2]::bigint[]) AS m;
-- member 82021: the promo first, then the order
SELECT loyalty.reverse(:r1, 'promo', 'P', at => '2026-05-10 00:00+00') IS NOT NULL AS ok;
SELECT (loyalty.balance(:r1, '2026-05-10 00:00+00')).debt AS debt_between;
SELECT loyalty.reverse(:r1, 'order', 'SO-20', at => '2026-05-11 00:00+00') IS NOT NULL AS ok;
-- member 82022: the order first, then the promo
SELECT loyalty.reverse(:r2, 'order', 'SO-20', at => '2026-05-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:r2, 'promo', 'P', at => '2026-05-11 00:00+00') IS NOT NULL AS ok;
SELECT m - 82000 AS member, b.*
FROM unnest(ARRAY[:r1, :r2]::bigint[]) AS m, LATERAL loyalty.balance(m, '2026-05-12 00:00+00') AS b;
SELECT * FROM pg_temp.hist(:r1) WHERE at >= '2026-05-10';
SELECT * FROM pg_temp.hist(:r2) WHERE at >= '2026-05-10';

--------------------------------------------------------------------------
-- 9. switching allow_negative shows the debt the other way at once
--------------------------------------------------------------------------
SELECT loyalty.create_program('prg_reverse_switch', 'Reverse: switch', 'CNY',
                              '{"member_ids": "application"}') IS NOT NULL AS created;
SELECT loyalty.enroll('prg_reverse_switch', '82201', '2026-01-01') AS w1 \gset
SELECT loyalty.earn(:w1, 100, 'order', 'W1', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.spend(:w1, 100, 'shop', 'W0', at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.reverse(:w1, 'order', 'W1', at => '2026-01-03 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.points(:w1, '2026-01-04 00:00+00') AS points, (loyalty.balance(:w1, '2026-01-04 00:00+00')).debt;
SELECT loyalty.update_program('prg_reverse_switch', '{"allow_negative": true}');
SELECT loyalty.points(:w1, '2026-01-04 00:00+00') AS points, (loyalty.balance(:w1, '2026-01-04 00:00+00')).debt;
SELECT loyalty.update_program('prg_reverse_switch', '{"allow_negative": false}');
SELECT loyalty.points(:w1, '2026-01-04 00:00+00') AS points, (loyalty.balance(:w1, '2026-01-04 00:00+00')).debt;

--------------------------------------------------------------------------
-- every booked figure agrees with the ledger
--------------------------------------------------------------------------
SELECT * FROM loyalty.verify('prg_reverse_1');
SELECT * FROM loyalty.verify('prg_reverse_neg');
SELECT * FROM loyalty.verify('prg_reverse_switch');
