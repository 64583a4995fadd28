-- points.sql: the points API of SPEC section 3 (earn, spend, adjust,
-- transfer_points, points, balance, history).
--
-- Members are enrolled in member_ids = 'application' programmes, so that their
-- ids (81001...) are chosen here and error messages naming them are stable.
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

SELECT loyalty.create_program('prg_points_sh', 'Points: Shanghai, 12 months', 'CNY',
    '{"timezone": "Asia/Shanghai", "points_expire_months": 12, "member_ids": "application"}') > 0 AS created;
SELECT loyalty.create_program('prg_points_utc', 'Points: UTC, never expire', 'CNY',
    '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.create_program('prg_points_r12', 'Points: rolling 12 months', 'EUR',
    '{"tier_basis": "rolling_12m_points", "member_ids": "application"}') > 0 AS created;
SELECT loyalty.create_program('prg_points_other', 'Points: another programme', 'CNY',
    '{"timezone": "Asia/Shanghai", "member_ids": "application"}') > 0 AS created;

SELECT loyalty.enroll('prg_points_sh', '81001', '2025-12-01') AS alice \gset
SELECT loyalty.enroll('prg_points_sh', '81002', '2025-12-01') AS carol \gset
SELECT loyalty.enroll('prg_points_sh', '81003', '2025-12-01') AS dave \gset
SELECT loyalty.enroll('prg_points_utc', '81101', '2025-12-01') AS bob \gset
SELECT loyalty.enroll('prg_points_utc', '81102', '2025-12-01') AS erin \gset
SELECT loyalty.enroll('prg_points_r12', '81201', '2024-12-01') AS gina \gset
SELECT loyalty.enroll('prg_points_r12', '81202', '2024-12-01') AS hank \gset
SELECT loyalty.enroll('prg_points_other', '81301', '2025-12-01') AS olga \gset
SELECT :alice AS alice, :carol AS carol, :dave AS dave, :bob AS bob, :erin AS erin,
       :gina AS gina, :hank AS hank, :olga AS olga;

-- A member with no entry has nothing.
SELECT loyalty.points(:alice, '2026-01-01') AS points;
SELECT * FROM loyalty.balance(:alice, '2026-01-01');

--------------------------------------------------------------------------
-- 1. earn: lots and their expiry
--------------------------------------------------------------------------
-- Policy: a lot expires at the end of the month points_expire_months (12)
-- after it becomes available, in the programme's time zone (Asia/Shanghai,
-- UTC+8).  2026-01-31 20:00 UTC is 2026-02-01 04:00 in Shanghai: the lot
-- expires at the end of February 2027 Shanghai time = 2027-02-28 16:00 UTC.
SELECT loyalty.earn(:alice, 100, 'order', 'sh-1', at => '2026-01-31 20:00+00') AS e_sh1 \gset
-- One second before Shanghai midnight: still January there, so end of January 2027.
SELECT loyalty.earn(:alice, 50, 'order', 'sh-2', at => '2026-01-31 15:59:59+00') AS e_sh2 \gset
-- An explicit expires_at wins over the policy.
SELECT loyalty.earn(:alice, 30, 'order', 'sh-3', expires_at => '2026-06-30 16:00+00',
                    at => '2026-02-02 00:00+00') AS e_sh3 \gset
-- 'infinity' means never, whatever the policy.
SELECT loyalty.earn(:alice, 20, 'order', 'sh-4', expires_at => 'infinity',
                    at => '2026-02-03 00:00+00') AS e_sh4 \gset
-- Pending until 2026-04-01 00:00 Shanghai: the policy counts from availability
-- (April 2026), not from the earn (February): end of April 2027.
SELECT loyalty.earn(:alice, 40, 'order', 'sh-5', available_at => '2026-03-31 16:00+00',
                    at => '2026-02-04 00:00+00') AS e_sh5 \gset
-- Pending with no date ('infinity'): no expiry until it becomes available.
SELECT loyalty.earn(:alice, 10, 'order', 'sh-6', available_at => 'infinity',
                    at => '2026-02-05 00:00+00') AS e_sh6 \gset
-- available_at before the earn: the entry counts from its instant.
SELECT loyalty.earn(:alice, 5, 'order', 'sh-7', available_at => '2026-01-01 00:00+00',
                    at => '2026-02-06 00:00+00') AS e_sh7 \gset

SELECT ref, points, remaining, available_at, expires_at,
       expires_at AT TIME ZONE 'Asia/Shanghai' AS expires_shanghai
FROM pg_temp.lots(:alice);

-- The entry ids returned are the earn entries of the ledger.
SELECT ref, entry_id = CASE ref WHEN 'sh-1' THEN :e_sh1 WHEN 'sh-2' THEN :e_sh2 WHEN 'sh-3' THEN :e_sh3
                                WHEN 'sh-4' THEN :e_sh4 WHEN 'sh-5' THEN :e_sh5 WHEN 'sh-6' THEN :e_sh6
                                WHEN 'sh-7' THEN :e_sh7 END AS returned_id,
       operation, points, at, qualifying
FROM loyalty.points_entry WHERE member_id = :alice ORDER BY at;

-- expires_at must be later than availability (LY009).
SELECT * FROM pg_temp.try($$SELECT loyalty.earn(81001, 10, 'order', 'sh-bad', expires_at => '2026-03-01 00:00+00',
                                                 available_at => '2026-03-01 00:00+00', at => '2026-02-07 00:00+00')$$);
SELECT * FROM pg_temp.try($$SELECT loyalty.earn(81001, 10, 'order', 'sh-bad', expires_at => '2026-02-06 23:00+00',
                                                 at => '2026-02-07 00:00+00')$$);
-- nothing was written by the failed calls
SELECT count(*) AS alice_entries FROM loyalty.points_entry WHERE member_id = :alice;

-- Balance right after the last earn: 100+50+30+20+5 available, 40+10 pending,
-- lifetime_earned counts pending points too.
SELECT * FROM loyalty.balance(:alice, '2026-02-06 00:00+00');

--------------------------------------------------------------------------
-- 2. pending and expiry instants are inclusive
--------------------------------------------------------------------------
-- sh-5 becomes available at 2026-03-31 16:00 UTC exactly.
SELECT t, loyalty.points(:alice, t) AS points, b.available, b.pending
FROM unnest(ARRAY['2026-03-31 15:59:59.999999+00', '2026-03-31 16:00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:alice, t) AS b;
-- sh-3 expires at 2026-06-30 16:00 UTC exactly.
SELECT t, loyalty.points(:alice, t) AS points, b.available, b.expiring_30d
FROM unnest(ARRAY['2026-06-30 15:59:59.999999+00', '2026-06-30 16:00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:alice, t) AS b;
-- expiring_30d counts lots expiring in (at, at + 30 days]: sh-3 (30 points,
-- 2026-06-30 16:00) is in it from 2026-05-31 16:00 on, and not at its expiry.
SELECT t, b.expiring_30d
FROM unnest(ARRAY['2026-05-31 15:59:59.999999+00', '2026-05-31 16:00:00+00',
                  '2026-06-15 00:00:00+00', '2026-06-30 16:00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:alice, t) AS b;
-- The policy expiries in Shanghai: sh-2 (50) at the end of January 2027,
-- sh-1 (100) and sh-7 (5) at the end of February 2027, sh-5 (40) at the end
-- of April 2027; sh-4 (20) never; sh-6 (10) stays pending.
SELECT t, loyalty.points(:alice, t) AS points, b.available, b.pending, b.expiring_30d
FROM unnest(ARRAY['2027-01-31 15:59:59.999999+00', '2027-01-31 16:00:00+00',
                  '2027-02-28 15:59:59.999999+00', '2027-02-28 16:00:00+00',
                  '2027-04-30 16:00:00+00', '2030-01-01 00:00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:alice, t) AS b;

--------------------------------------------------------------------------
-- 3. spend order: soonest expiry first, never-expiring last, then oldest
--------------------------------------------------------------------------
SELECT loyalty.earn(:bob, 100, 'order', 'n-old', at => '2026-01-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:bob, 100, 'order', 'x-dec', expires_at => '2026-12-31 00:00+00',
                    at => '2026-01-02 00:00+00') IS NOT NULL AS ok;
-- two lots with the same expiry: x-jun-b is older (created first) but
-- recorded after x-jun-a
SELECT loyalty.earn(:bob, 100, 'order', 'x-jun-a', expires_at => '2026-06-30 00:00+00',
                    at => '2026-01-04 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:bob, 100, 'order', 'x-jun-b', expires_at => '2026-06-30 00:00+00',
                    at => '2026-01-03 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:bob, 100, 'order', 'n-new', at => '2026-01-05 00:00+00') IS NOT NULL AS ok;
-- expires soonest of all, but pending until March: not spendable before
SELECT loyalty.earn(:bob, 100, 'order', 'pend', expires_at => '2026-04-30 00:00+00',
                    available_at => '2026-03-01 00:00+00', at => '2026-01-06 00:00+00') IS NOT NULL AS ok;
SELECT * FROM loyalty.balance(:bob, '2026-02-01 00:00+00');

SELECT loyalty.spend(:bob, 150, 'shop', 's1', at => '2026-02-01 00:00+00') AS s1 \gset
SELECT * FROM pg_temp.lots(:bob);
SELECT loyalty.spend(:bob, 100, 'shop', 's2', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:bob);
SELECT loyalty.spend(:bob, 100, 'shop', 's3', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:bob);
SELECT loyalty.spend(:bob, 100, 'shop', 's4', at => '2026-02-01 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:bob);
SELECT * FROM loyalty.balance(:bob, '2026-02-01 00:00+00');

-- Insufficient points (LY001): the message has both numbers; pending points
-- do not count.
SELECT * FROM pg_temp.try($$SELECT loyalty.spend(81101, 120, 'shop', 's5', at => '2026-02-01 00:00+00')$$);
SELECT count(*) AS bob_entries FROM loyalty.points_entry WHERE member_id = :bob;
-- The failed call left its key free: the same key works once 'pend' is
-- available (2026-03-01 00:00 exactly), which it spends first.
SELECT loyalty.spend(:bob, 120, 'shop', 's5', at => '2026-03-01 00:00+00') AS s5 \gset
SELECT * FROM pg_temp.lots(:bob);
SELECT loyalty.points(:bob, '2026-03-01 00:00+00') AS points;

--------------------------------------------------------------------------
-- 4. idempotency: replays return the first entry and change nothing
--------------------------------------------------------------------------
SELECT loyalty.earn(:alice, 100, 'order', 'sh-1', at => '2026-05-01 00:00+00') = :e_sh1 AS same_entry;
SELECT loyalty.spend(:bob, 150, 'shop', 's1', at => '2026-05-01 00:00+00') = :s1 AS same_entry;
SELECT loyalty.spend(:bob, 120, 'shop', 's5', at => '2026-05-01 00:00+00') = :s5 AS same_entry;
SELECT count(*) AS alice_entries FROM loyalty.points_entry WHERE member_id = :alice;
SELECT count(*) AS bob_entries FROM loyalty.points_entry WHERE member_id = :bob;
SELECT loyalty.points(:bob, '2026-05-01 00:00+00') AS bob_points;
-- The same key with another amount is an error naming the field (LY005).
SELECT * FROM pg_temp.try($$SELECT loyalty.earn(81001, 101, 'order', 'sh-1', at => '2026-05-01 00:00+00')$$,
                          jsonb_build_object(:'e_sh1', 'sh-1'));
SELECT * FROM pg_temp.try($$SELECT loyalty.spend(81101, 151, 'shop', 's1', at => '2026-05-01 00:00+00')$$,
                          jsonb_build_object(:'s1', 's1'));
-- The key is (member, operation, source, ref): an earn and a spend may share
-- a source and ref, and another source is another key.
SELECT loyalty.earn(:bob, 7, 'shop', 's1', at => '2026-05-01 00:00+00') <> :s1 AS new_entry;
SELECT loyalty.earn(:bob, 8, 'shop2', 's1', at => '2026-05-01 00:00+00') <> :s1 AS new_entry;
SELECT loyalty.points(:bob, '2026-05-01 00:00+00') AS bob_points;

--------------------------------------------------------------------------
-- 5. adjust (a superuser runs this suite)
--------------------------------------------------------------------------
SELECT loyalty.earn(:erin, 80, 'order', 'e-1', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:erin, 20, 'manual:bonus', 'e-2', at => '2026-01-11 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.adjust(:erin, 70, 'goodwill', 'ticket-1', at => '2026-01-12 00:00+00') AS adj1 \gset
SELECT loyalty.adjust(:erin, -50, 'correction', 'ticket-2', at => '2026-01-13 00:00+00') AS adj2 \gset
-- -50 took the oldest never-expiring lot first (e-1)
SELECT * FROM pg_temp.lots(:erin);
-- adjust and 'manual:' earnings do not count towards tiers; lifetime_earned
-- counts earnings only
SELECT * FROM loyalty.balance(:erin, '2026-01-13 00:00+00');
SELECT loyalty.adjust(:erin, 70, 'goodwill', 'ticket-1', at => '2026-02-01 00:00+00') = :adj1 AS same_entry;
SELECT loyalty.adjust(:erin, -50, 'correction', 'ticket-2', at => '2026-02-01 00:00+00') = :adj2 AS same_entry;
SELECT * FROM pg_temp.try($$SELECT loyalty.adjust(81102, 75, 'goodwill', 'ticket-1', at => '2026-02-01 00:00+00')$$,
                          jsonb_build_object(:'adj1', 'ticket-1'));
SELECT * FROM pg_temp.try($$SELECT loyalty.adjust(81102, -121, 'correction', 'ticket-3', at => '2026-02-01 00:00+00')$$);
SELECT * FROM pg_temp.try($$SELECT loyalty.adjust(81102, 0, 'correction', 'ticket-4', at => '2026-02-01 00:00+00')$$);
SELECT loyalty.points(:erin, '2026-02-01 00:00+00') AS erin_points;
-- adjustments are audited, with the calling role
SELECT action, object, role_name = current_user AS by_me, detail - 'entry' AS detail,
       (detail->>'entry')::bigint = CASE detail->>'ref' WHEN 'ticket-1' THEN :adj1 ELSE :adj2 END AS entry_ok
FROM loyalty.audit_log WHERE action = 'adjust' AND object = 'member ' || :erin ORDER BY audit_id;

--------------------------------------------------------------------------
-- 6. transfer_points
--------------------------------------------------------------------------
SELECT loyalty.earn(:carol, 100, 'order', 'c-1', at => '2026-01-10 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:carol, 50, 'order', 'c-2', expires_at => '2026-05-31 16:00+00',
                    at => '2026-01-11 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:carol, 30, 'order', 'c-3', expires_at => 'infinity',
                    at => '2026-01-12 00:00+00') IS NOT NULL AS ok;
-- in a programme with an expiry policy, a positive adjustment expires like an
-- earning: 2026-02-10 08:00 Shanghai, so at the end of February 2027
SELECT loyalty.adjust(:carol, 60, 'goodwill', 'ticket-5', at => '2026-02-10 00:00+00') IS NOT NULL AS ok;
SELECT * FROM pg_temp.lots(:carol);
-- 120 points: 50 from c-2 (expires first), then 70 from c-1 (January 2027)
SELECT loyalty.transfer_points(:carol, :dave, 120, 'gift-1', at => '2026-03-01 00:00+00') AS t1 \gset
SELECT * FROM pg_temp.lots(:carol);
-- the receiver's lots keep the sender's expiries and are available at once
SELECT l.points, l.remaining, l.available_at, l.expires_at
FROM loyalty.points_lot l WHERE l.member_id = :dave ORDER BY l.expires_at;
SELECT operation, points, source, ref, detail - 'lots' AS detail
FROM loyalty.history(:carol) WHERE operation = 'transfer';
SELECT operation, points, source, ref, detail - 'lots' AS detail
FROM loyalty.history(:dave);
SELECT t, loyalty.points(:dave, t) AS dave, loyalty.points(:carol, t) AS carol
FROM unnest(ARRAY['2026-02-28 23:59:59+00', '2026-03-01 00:00+00', '2026-05-31 16:00+00',
                  '2027-01-31 16:00+00', '2027-02-28 16:00+00']::timestamptz[]) AS t;
-- transfers count neither as earnings nor towards tiers, on either side
SELECT 'carol' AS who, * FROM loyalty.balance(:carol, '2026-03-01 00:00+00')
UNION ALL
SELECT 'dave', * FROM loyalty.balance(:dave, '2026-03-01 00:00+00');
-- idempotent on (from_member, ref)
SELECT loyalty.transfer_points(:carol, :dave, 120, 'gift-1', at => '2026-03-02 00:00+00') = :t1 AS same_entry;
SELECT count(*) AS dave_lots FROM loyalty.points_lot WHERE member_id = :dave;
SELECT * FROM pg_temp.try($$SELECT loyalty.transfer_points(81002, 81001, 120, 'gift-1', at => '2026-03-02 00:00+00')$$,
                          jsonb_build_object(:'t1', 'gift-1'));
SELECT * FROM pg_temp.try($$SELECT loyalty.transfer_points(81002, 81003, 100, 'gift-1', at => '2026-03-02 00:00+00')$$,
                          jsonb_build_object(:'t1', 'gift-1'));
-- another programme (LY011), oneself, more than available (LY001)
SELECT * FROM pg_temp.try($$SELECT loyalty.transfer_points(81002, 81301, 10, 'gift-2', at => '2026-03-02 00:00+00')$$);
SELECT * FROM pg_temp.try($$SELECT loyalty.transfer_points(81002, 81002, 10, 'gift-3', at => '2026-03-02 00:00+00')$$);
SELECT * FROM pg_temp.try($$SELECT loyalty.transfer_points(81002, 81003, 121, 'gift-4', at => '2026-03-02 00:00+00')$$);
SELECT loyalty.points(:carol, '2026-03-02 00:00+00') AS carol, loyalty.points(:dave, '2026-03-02 00:00+00') AS dave;

--------------------------------------------------------------------------
-- 7. points() at any instant agrees with balance().available, before the
--    last entry (replayed from the ledger) and after it (read cache)
--------------------------------------------------------------------------
SELECT m.who, t, loyalty.points(m.id, t) AS points, b.available,
       loyalty.points(m.id, t) = b.available AS same
FROM (VALUES ('alice', :alice), ('bob', :bob), ('carol', :carol), ('dave', :dave), ('erin', :erin)) AS m(who, id),
     unnest(ARRAY['2025-12-31 00:00+00', '2026-01-01 00:00+00', '2026-01-03 12:00+00', '2026-01-12 00:00+00',
                  '2026-01-31 20:00+00', '2026-02-01 00:00+00', '2026-02-06 00:00+00', '2026-02-15 00:00+00',
                  '2026-03-01 00:00+00', '2026-04-01 00:00+00', '2026-05-01 00:00+00', '2026-06-01 00:00+00',
                  '2026-07-01 00:00+00', '2027-02-01 00:00+00', '2027-06-01 00:00+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(m.id, t) AS b
ORDER BY m.who, t;

--------------------------------------------------------------------------
-- 8. history: newest first (then the later entry first), since, max_rows
--------------------------------------------------------------------------
-- lots moved are shown by the ref of the entry that created them
CREATE FUNCTION pg_temp.named_lots(member bigint, lots jsonb)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_object_agg(e.ref, j.value)
    FROM jsonb_each(lots) AS j
    JOIN loyalty.points_entry e ON e.member_id = member AND e.lots[1] = j.key::bigint
         AND e.operation IN ('earn', 'adjust') AND e.points > 0
$$;
SELECT h.n, h.at, h.operation, h.points, h.source, h.ref, pg_temp.named_lots(:bob, h.detail->'lots') AS lots
FROM loyalty.history(:bob) WITH ORDINALITY AS h(entry, at, operation, points, source, ref, detail, n)
ORDER BY h.n;
SELECT bool_and(h.entry < h.prev) AS entries_descending
FROM (SELECT entry, lag(entry) OVER (ORDER BY n) AS prev
      FROM loyalty.history(:bob) WITH ORDINALITY AS h(entry, at, operation, points, source, ref, detail, n)
      WHERE at = '2026-02-01 00:00+00') AS h;
SELECT h.n, h.at, h.operation, h.ref
FROM loyalty.history(:bob, since => '2026-02-01 00:00+00') WITH ORDINALITY AS h(entry, at, operation, points, source, ref, detail, n)
ORDER BY h.n;
SELECT h.n, h.at, h.operation, h.ref
FROM loyalty.history(:bob, since => '2026-02-01 00:00+00', max_rows => 2) WITH ORDINALITY AS h(entry, at, operation, points, source, ref, detail, n)
ORDER BY h.n;
SELECT h.n, h.at, h.operation, h.ref
FROM loyalty.history(:bob, max_rows => 1) WITH ORDINALITY AS h(entry, at, operation, points, source, ref, detail, n)
ORDER BY h.n;
SELECT count(*) AS after_everything FROM loyalty.history(:bob, since => '2027-01-01 00:00+00');
SELECT * FROM pg_temp.try($$SELECT * FROM loyalty.history(81101, max_rows => 0)$$);

--------------------------------------------------------------------------
-- 9. balance(): lifetime_earned and tier_points, rolling 12 months
--------------------------------------------------------------------------
SELECT loyalty.earn(:gina, 100, 'order', 'g-1', at => '2025-01-15 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:gina, 200, 'order', 'g-2', at => '2025-09-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:gina, 50, 'manual:gift', 'g-3', at => '2025-10-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.adjust(:gina, 40, 'goodwill', 'g-4', at => '2025-11-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.earn(:hank, 30, 'order', 'h-1', at => '2025-11-01 00:00+00') IS NOT NULL AS ok;
SELECT loyalty.transfer_points(:hank, :gina, 30, 'h-gift', at => '2025-11-02 00:00+00') IS NOT NULL AS ok;
-- tier_points: 'order' earnings within the last 12 months; not 'manual:',
-- adjust or transfer.  lifetime_earned: every earning.
SELECT t, b.*
FROM unnest(ARRAY['2025-08-31 00:00+00', '2025-11-02 00:00+00', '2026-01-14 23:59:59+00',
                  '2026-01-15 00:00:01+00', '2026-08-31 23:59:59+00', '2026-09-01 00:00:01+00']::timestamptz[]) AS t,
     LATERAL loyalty.balance(:gina, t) AS b;
SELECT * FROM loyalty.balance(:hank, '2025-11-02 00:00+00');

--------------------------------------------------------------------------
-- every booked figure agrees with the ledger
--------------------------------------------------------------------------
SELECT * FROM loyalty.verify('prg_points_sh');
SELECT * FROM loyalty.verify('prg_points_utc');
SELECT * FROM loyalty.verify('prg_points_r12');
SELECT * FROM loyalty.verify('prg_points_other');
