-- wallets: the marketing wallets of SPEC section 7 (double entry, pending
-- holds, timeouts, balances at an instant, history, debt, escrow parts,
-- rules, grants) and the cashback of sections 4 and 8 paid and reversed by
-- the order trigger.  Every call takes an explicit `at`; ids are never
-- shown (wallets by name, members by external id, transfers by ref).
-- Programmes: wal, wal_dry.  Tables: wal_orders, wal_dry_orders.
-- Roles: wal_app_granted, wal_app_plain.
SET timezone = 'Asia/Shanghai';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

-- A member of this suite by external id.
CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(loyalty.member('wal', ext), loyalty.member('wal_dry', ext))
$$;

-- A wallet of programme wal (or wal_dry) by name.
CREATE FUNCTION pg_temp.w(wname text, prog text DEFAULT 'wal') RETURNS bigint LANGUAGE sql AS $$
    SELECT w.wallet_id FROM loyalty.wallet w JOIN loyalty.program p USING (program_id)
    WHERE p.code = prog AND w.name = wname
$$;

-- A wallet's name for display: wallets the extension opened for a member
-- ("member:<id>:CNY") show the member's external id instead of the id.
CREATE FUNCTION pg_temp.wn(id bigint) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN w.name ~ '^member:[0-9]+:' THEN 'member:' || m.external_id || ':' || w.currency
                ELSE w.name END
    FROM loyalty.wallet w LEFT JOIN loyalty.member m ON m.member_id = w.owner_member
    WHERE w.wallet_id = id
$$;

-- A transfer ref for display: the refs the extension makes ("loyalty:...") name ids.
CREATE FUNCTION pg_temp.ref(r text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE
        WHEN r ~ '^loyalty:cashback:[0-9]+:' THEN regexp_replace(r, '^loyalty:cashback:[0-9]+:', 'loyalty:cashback:<table>:')
        WHEN r ~ '^loyalty:return:[0-9]+$' THEN
            'loyalty:return:<' || (SELECT t.ref FROM loyalty.wallet_transfer t WHERE t.transfer_id = split_part(r, ':', 3)::bigint) || '>'
        WHEN r ~ '^loyalty:debt:[0-9]+:[0-9]+$' THEN
            'loyalty:debt:<' || pg_temp.ref((SELECT t.ref FROM loyalty.wallet_transfer t
                                             WHERE t.transfer_id = split_part(r, ':', 3)::bigint))
            || '>:<' || pg_temp.wn(split_part(r, ':', 4)::bigint) || '>'
        ELSE r END
$$;

-- Messages name wallet and transfer ids: show wallet names and transfer refs.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT w.wallet_id, pg_temp.wn(w.wallet_id) AS name FROM loyalty.wallet w
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'wal%' LOOP
        msg := regexp_replace(msg, '(wallets? |and )' || r.wallet_id || '(?![0-9])', '\1<' || r.name || '>', 'g');
    END LOOP;
    FOR r IN SELECT t.transfer_id, t.ref FROM loyalty.wallet_transfer t
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'wal%' LOOP
        msg := regexp_replace(msg, '(transfer |Transfer )' || r.transfer_id || '(?![0-9])', '\1<' || r.ref || '>', 'g');
    END LOOP;
    RETURN msg;
END
$$;

-- Run one statement; say 'ok' or 'SQLSTATE: message' (and the detail, if any).
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM)
        || CASE WHEN detail <> '' THEN ' (' || pg_temp.mask(detail) || ')' ELSE '' END;
END
$$;

-- The same for roles that cannot read loyalty's tables: ids shown as #.
CREATE FUNCTION pg_temp.try_raw(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(wallet |transfer )[0-9]+', '\1#', 'g');
END
$$;

-- wallet_balance() of a wallet by name at an instant.
CREATE FUNCTION pg_temp.bal(wname text, at timestamptz, prog text DEFAULT 'wal')
RETURNS TABLE(wallet text, at timestamptz, posted bigint, pending_debits bigint, pending_credits bigint,
              available bigint)
LANGUAGE sql AS $$
    SELECT wname, at, b.* FROM loyalty.wallet_balance(pg_temp.w(wname, prog), at) b
$$;

-- wallet_history() of a wallet by name, counterparties by name, refs masked.
CREATE FUNCTION pg_temp.hist(wname text, since timestamptz DEFAULT NULL, max_rows int DEFAULT 100)
RETURNS TABLE(at timestamptz, kind text, amount bigint, counterparty text, state text, ref text)
LANGUAGE sql AS $$
    SELECT h.at, h.kind, h.amount, pg_temp.wn(h.counterparty), h.state, pg_temp.ref(h.ref)
    FROM loyalty.wallet_history(pg_temp.w(wname), since, max_rows) h
$$;

-- A transfer by ref: what the table says about it.
CREATE FUNCTION pg_temp.tr(r text)
RETURNS TABLE(ref text, kind text, debit text, credit text, amount bigint, state text, was_pending boolean,
              pending_until timestamptz, posted_amount bigint, at timestamptz, closed_at timestamptz)
LANGUAGE sql AS $$
    SELECT t.ref, t.kind, pg_temp.wn(t.debit_wallet), pg_temp.wn(t.credit_wallet), t.amount, t.state,
           t.was_pending, t.pending_until, t.posted_amount, t.at, t.closed_at
    FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
    WHERE p.code = 'wal' AND t.ref = r
$$;

-- The booked rows of a wallet's balance (wallet_part); the escrow parts of
-- the promo wallet are labelled by the member whose transfers use them
-- (part 1 + member id mod escrow_parts: consecutive members, distinct parts).
CREATE FUNCTION pg_temp.parts(wname text)
RETURNS TABLE(part text, posted bigint, pending_debits bigint, pending_credits bigint, debt bigint)
LANGUAGE sql AS $$
    SELECT CASE WHEN p.part = 0 AND w.escrow_parts > 0 THEN 'reserve'
                WHEN p.part = 0 THEN 'part 0'
                ELSE COALESCE((SELECT 'part of ' || m.external_id FROM loyalty.member m
                               WHERE m.member_id = ANY (ARRAY[pg_temp.m('alice'), pg_temp.m('bob'),
                                                              pg_temp.m('carol'), pg_temp.m('dave')])
                                 AND 1 + m.member_id % w.escrow_parts = p.part), 'part ' || p.part) END,
           p.posted, p.pending_debits, p.pending_credits, p.debt
    FROM loyalty.wallet_part p JOIN loyalty.wallet w USING (wallet_id)
    WHERE w.wallet_id = pg_temp.w(wname)
    ORDER BY p.part = 0 DESC, (p.part - 1 - pg_temp.m('alice') % GREATEST(w.escrow_parts, 1) + w.escrow_parts) % GREATEST(w.escrow_parts, 1)
$$;

-- How many transfers and entries programme wal holds.
CREATE FUNCTION pg_temp.counts()
RETURNS TABLE(transfers bigint, entries bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id) WHERE p.code = 'wal'),
           (SELECT count(*) FROM loyalty.wallet_entry e JOIN loyalty.wallet w USING (wallet_id)
            JOIN loyalty.program p USING (program_id) WHERE p.code = 'wal')
$$;

-- 1. open_wallet ---------------------------------------------------------------------------
SELECT loyalty.create_program('wal', 'Wallets: Shanghai shop', 'CNY', '{"timezone": "Asia/Shanghai"}') > 0 AS created;
-- consecutive member ids (the promo wallet's parts are labelled by them)
SELECT loyalty.enroll('wal', 'alice', '2026-01-01') > 0 AS alice;
SELECT loyalty.enroll('wal', 'bob', '2026-01-01') > 0 AS bob;
SELECT loyalty.enroll('wal', 'carol', '2026-01-01') > 0 AS carol;
SELECT loyalty.enroll('wal', 'dave', '2026-01-01') > 0 AS dave;
SELECT pg_temp.m('bob') - pg_temp.m('alice') AS bob_after_alice, pg_temp.m('dave') - pg_temp.m('alice') AS dave_after_alice;
-- a programme wallet (a budget: split into 16 escrow parts by default) and members' wallets
SELECT loyalty.open_wallet('wal', 'budget', 'CNY') = pg_temp.w('budget') AS budget;
SELECT loyalty.open_wallet('wal', 'alice', 'CNY', pg_temp.m('alice')) = pg_temp.w('alice') AS alice,
       loyalty.open_wallet('wal', 'bob', 'CNY', pg_temp.m('bob')) = pg_temp.w('bob') AS bob,
       loyalty.open_wallet('wal', 'carol', 'CNY', pg_temp.m('carol')) = pg_temp.w('carol') AS carol,
       loyalty.open_wallet('wal', 'dave', 'CNY', pg_temp.m('dave')) = pg_temp.w('dave') AS dave;
-- the programme's external account and revenue wallet of the currency appeared with the first wallet
SELECT pg_temp.wn(w.wallet_id) AS wallet, w.currency, w.role, m.external_id AS owner, w.rules, w.allow_overdraft,
       w.escrow_parts, (SELECT count(*) FROM loyalty.wallet_part p WHERE p.wallet_id = w.wallet_id) AS balance_rows
FROM loyalty.wallet w JOIN loyalty.program p USING (program_id) LEFT JOIN loyalty.member m ON m.member_id = w.owner_member
WHERE p.code = 'wal' ORDER BY w.wallet_id;
-- a wallet in another currency brings that currency's external and revenue wallets
SELECT loyalty.open_wallet('wal', 'alice-usd', 'USD', pg_temp.m('alice')) = pg_temp.w('alice-usd') AS alice_usd;
SELECT pg_temp.wn(w.wallet_id) AS wallet, w.currency, w.role, w.escrow_parts
FROM loyalty.wallet w JOIN loyalty.program p USING (program_id)
WHERE p.code = 'wal' AND w.currency = 'USD' ORDER BY w.wallet_id;
-- opening a programme wallet is audited (a member's wallet is not an administrative change)
SELECT a.role_name, a.action, a.object, a.detail - 'wallet' AS detail
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'wal' AND a.action LIKE '%wallet%' ORDER BY a.audit_id;
-- every new wallet is empty
SELECT b.* FROM unnest(ARRAY['external:CNY', 'revenue:CNY', 'budget', 'alice']) n, pg_temp.bal(n, '2026-12-31') b;

-- 2. fund_wallet: from the external account, idempotent on ref -------------------------------
SELECT loyalty.fund_wallet(pg_temp.w('budget'), 100000, 'wal-fund-1', '2026-02-01 09:00') AS fund_1 \gset
SELECT loyalty.fund_wallet(pg_temp.w('alice'), 5000, 'wal-fund-2', '2026-02-01 09:00') AS fund_2 \gset
SELECT * FROM pg_temp.counts();
-- a retry returns the first transfer and moves nothing
SELECT loyalty.fund_wallet(pg_temp.w('budget'), 100000, 'wal-fund-1', '2026-02-01 09:00') = :fund_1 AS retry_1,
       loyalty.fund_wallet(pg_temp.w('alice'), 5000, 'wal-fund-2', '2026-02-05 09:00') = :fund_2 AS retry_2_later;
SELECT * FROM pg_temp.counts();
SELECT * FROM pg_temp.tr('wal-fund-1');
-- funding fills the budget's reserve (part 0); the external account runs negative
SELECT b.* FROM unnest(ARRAY['external:CNY', 'budget', 'alice']) n, pg_temp.bal(n, '2026-02-01 09:00') b;
SELECT part = 0 AS reserve, count(*) AS balance_rows, sum(posted) AS posted
FROM loyalty.wallet_part WHERE wallet_id = pg_temp.w('budget') GROUP BY 1 ORDER BY 1 DESC;
-- an instant earlier, nothing had been funded
SELECT b.* FROM unnest(ARRAY['external:CNY', 'budget', 'alice']) n, pg_temp.bal(n, '2026-02-01 08:59:59') b;

-- 3. transfer, posted -----------------------------------------------------------------------
SELECT loyalty.transfer(pg_temp.w('budget'), pg_temp.w('alice'), 3000, 'wal-t-1', 'gift',
                        at => '2026-02-02 10:00') AS t_1 \gset
SELECT loyalty.transfer(pg_temp.w('budget'), pg_temp.w('alice'), 3000, 'wal-t-1', 'gift',
                        at => '2026-02-02 10:00') = :t_1 AS retry_same_transfer;
SELECT * FROM pg_temp.tr('wal-t-1');
SELECT * FROM pg_temp.counts();
-- an entry made at t counts from t
SELECT b.* FROM unnest(ARRAY['2026-02-02 09:59:59', '2026-02-02 10:00']::timestamptz[]) t,
     unnest(ARRAY['budget', 'alice']) n, pg_temp.bal(n, t) b;

-- 4. pending transfers: post all, post part, void -----------------------------------------------
-- a hold: alice's available drops, bob's pending credit cannot be spent yet
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 1000, 'wal-hold-1', 'checkout', true,
                        at => '2026-02-03 10:00') AS hold_1 \gset
SELECT * FROM pg_temp.tr('wal-hold-1');
SELECT b.* FROM unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, '2026-02-03 10:00') b;
SELECT * FROM pg_temp.parts('alice');
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('bob'), pg_temp.w('carol'), 1, 'wal-bob-early', at => '2026-02-03 10:30')$q$) AS bob_spends_pending_credit;
-- posted in full: the hold becomes the money moved
SELECT loyalty.post_transfer(:hold_1, at => '2026-02-03 11:00') AS posted_1;
SELECT * FROM pg_temp.tr('wal-hold-1');
SELECT b.* FROM unnest(ARRAY['2026-02-03 10:59:59', '2026-02-03 11:00']::timestamptz[]) t,
     unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, t) b;
-- held 3000, posted 1200: the other 1800 is released
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 3000, 'wal-hold-2', 'checkout', true,
                        at => '2026-02-03 12:00') AS hold_2 \gset
SELECT b.* FROM unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, '2026-02-03 12:00') b;
SELECT loyalty.post_transfer(:hold_2, 1200, '2026-02-03 13:00') AS posted_2;
SELECT * FROM pg_temp.tr('wal-hold-2');
SELECT b.* FROM unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, '2026-02-03 13:00') b;
-- voided: the hold is released, nothing moves
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 500, 'wal-hold-3', 'checkout', true,
                        at => '2026-02-03 14:00') AS hold_3 \gset
SELECT b.* FROM unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, '2026-02-03 14:30') b;
SELECT loyalty.void_transfer(:hold_3, '2026-02-03 15:00');
SELECT * FROM pg_temp.tr('wal-hold-3');
SELECT b.* FROM unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, '2026-02-03 15:00') b;
SELECT * FROM pg_temp.parts('alice');
SELECT * FROM pg_temp.parts('bob');
-- a closed transfer is closed once (more in wallets_errors)
SELECT pg_temp.try(format('SELECT loyalty.post_transfer(%s, at => %L)', :hold_1, '2026-02-03 16:00')) AS post_again,
       pg_temp.try(format('SELECT loyalty.void_transfer(%s, %L)', :hold_3, '2026-02-03 16:00')) AS void_again;

-- 5. a hold with pending_timeout ---------------------------------------------------------------
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 2000, 'wal-hold-4', 'checkout', true,
                        '30 minutes', '2026-02-04 10:00') AS hold_4 \gset
SELECT * FROM pg_temp.tr('wal-hold-4');
-- it holds until 10:30 and no longer from 10:30, though nothing has booked it yet
SELECT b.* FROM unnest(ARRAY['2026-02-04 10:29:59', '2026-02-04 10:30']::timestamptz[]) t,
     unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, t) b;
SELECT * FROM pg_temp.parts('alice');
-- a debit that fits beside the stale hold leaves it as it is
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('revenue:CNY'), 800, 'wal-shop-1', 'checkout',
                        at => '2026-02-04 11:00') IS NOT NULL AS paid_800;
SELECT state, closed_at FROM pg_temp.tr('wal-hold-4');
SELECT * FROM pg_temp.parts('alice');
-- a debit that needs the money books the timed-out hold as voided at its timeout
SELECT b.* FROM pg_temp.bal('alice', '2026-02-04 12:00') b;
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 4000, 'wal-t-2', at => '2026-02-04 12:00') IS NOT NULL AS paid_4000;
SELECT * FROM pg_temp.tr('wal-hold-4');
SELECT * FROM pg_temp.parts('alice');
SELECT * FROM pg_temp.parts('bob');
SELECT b.* FROM unnest(ARRAY['alice', 'bob']) n, pg_temp.bal(n, '2026-02-04 12:00') b;
-- a timed-out hold cannot be posted any more
SELECT pg_temp.try(format('SELECT loyalty.post_transfer(%s, at => %L)', :hold_4, '2026-02-04 12:30')) AS post_timed_out;
-- holds left open: one without timeout (pending), one timed out and not booked yet (expired)
SELECT loyalty.transfer(pg_temp.w('bob'), pg_temp.w('carol'), 100, 'wal-hold-5', 'checkout', true,
                        at => '2026-02-05 10:00') IS NOT NULL AS hold_5,
       loyalty.transfer(pg_temp.w('bob'), pg_temp.w('carol'), 200, 'wal-hold-6', 'checkout', true,
                        '1 hour', '2026-02-05 10:00') AS hold_6 \gset
SELECT b.* FROM unnest(ARRAY['2026-02-05 10:00', '2026-02-05 10:59:59', '2026-02-05 11:00']::timestamptz[]) t,
     unnest(ARRAY['bob', 'carol']) n, pg_temp.bal(n, t) b;
-- posting before the timeout would be fine; at the timeout it is too late
SELECT pg_temp.try(format('SELECT loyalty.post_transfer(%s, at => %L)', :hold_6, '2026-02-05 11:00')) AS post_at_timeout;
SELECT state, closed_at FROM pg_temp.tr('wal-hold-6');

-- 6. wallet_balance at past instants -------------------------------------------------------------
SELECT b.* FROM unnest(ARRAY['2026-02-01 08:59:59', '2026-02-01 09:00', '2026-02-02 10:00', '2026-02-03 10:00',
                             '2026-02-03 11:00', '2026-02-03 12:00', '2026-02-03 13:00', '2026-02-03 14:00',
                             '2026-02-03 15:00', '2026-02-04 10:00', '2026-02-04 10:30', '2026-02-04 11:00',
                             '2026-02-04 12:00']::timestamptz[]) t,
     pg_temp.bal('alice', t) b;

-- 7. wallet_history: newest first; posted amounts signed from the wallet's side --------------------
SELECT * FROM pg_temp.hist('alice');
SELECT * FROM pg_temp.hist('bob');
SELECT * FROM pg_temp.hist('alice', since => '2026-02-04 00:00');
SELECT * FROM pg_temp.hist('alice', max_rows => 2);

-- 8. escrow parts: a budget spread over several balance rows -----------------------------------
SELECT loyalty.open_wallet('wal', 'promo', 'CNY', NULL, '{"escrow_parts": 4}') = pg_temp.w('promo') AS promo;
SELECT loyalty.fund_wallet(pg_temp.w('promo'), 10000, 'wal-fund-promo-1', '2026-02-06 09:00') IS NOT NULL AS funded;
SELECT * FROM pg_temp.parts('promo');
-- each member's transfers use one part; a short part takes the reserve's fair share
-- (reserve / 5), at least what it misses
-- (one statement each: a transaction keeps using the part it touched first)
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 1000, 'wal-promo-1', 'reward', at => '2026-02-06 10:00') IS NOT NULL AS to_alice;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('bob'), 1000, 'wal-promo-2', 'reward', at => '2026-02-06 10:00') IS NOT NULL AS to_bob;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('carol'), 1000, 'wal-promo-3', 'reward', at => '2026-02-06 10:00') IS NOT NULL AS to_carol;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('dave'), 1000, 'wal-promo-4', 'reward', at => '2026-02-06 10:00') IS NOT NULL AS to_dave;
SELECT * FROM pg_temp.parts('promo');
SELECT b.* FROM pg_temp.bal('promo', '2026-02-06 10:00') b;
-- a debit larger than its part holds (and than the reserve's fair share) refills from the reserve
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 5000, 'wal-promo-5', 'reward', at => '2026-02-06 11:00') IS NOT NULL AS to_alice_5000;
SELECT * FROM pg_temp.parts('promo');
-- the reserve nearly empty: the rest comes from sibling parts, in order after alice's
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 900, 'wal-promo-6', 'reward', at => '2026-02-06 12:00') IS NOT NULL AS to_alice_900;
SELECT * FROM pg_temp.parts('promo');
-- never below zero: 100 is left in all, 101 is refused and changes nothing, 100 empties it
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 101, 'wal-promo-7', 'reward', at => '2026-02-06 13:00')$q$) AS to_alice_101;
SELECT * FROM pg_temp.parts('promo');
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 100, 'wal-promo-7', 'reward', at => '2026-02-06 13:00') IS NOT NULL AS to_alice_100;
SELECT * FROM pg_temp.parts('promo');
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('dave'), 1, 'wal-promo-8', 'reward', at => '2026-02-06 13:00')$q$) AS to_dave_1;
SELECT b.* FROM pg_temp.bal('promo', '2026-02-06 13:00') b;
-- resizing keeps the balance: down to 2 parts, up to 8, down to none
SELECT loyalty.fund_wallet(pg_temp.w('promo'), 2000, 'wal-fund-promo-2', '2026-02-07 09:00') IS NOT NULL AS funded;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('bob'), 100, 'wal-promo-9', 'reward', at => '2026-02-07 10:00') IS NOT NULL AS to_bob;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('dave'), 100, 'wal-promo-10', 'reward', at => '2026-02-07 10:00') IS NOT NULL AS to_dave;
SELECT * FROM pg_temp.parts('promo');
SELECT loyalty.set_wallet_rules(pg_temp.w('promo'), '{"escrow_parts": 2}');
SELECT w.escrow_parts, count(*) AS balance_rows, sum(p.posted) AS posted, min(p.posted) AS lowest_part
FROM loyalty.wallet w JOIN loyalty.wallet_part p USING (wallet_id) WHERE w.wallet_id = pg_temp.w('promo') GROUP BY 1;
SELECT b.* FROM pg_temp.bal('promo', '2026-02-07 10:00') b;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('carol'), 1000, 'wal-promo-11', 'reward', at => '2026-02-07 11:00') IS NOT NULL AS to_carol_1000;
SELECT loyalty.set_wallet_rules(pg_temp.w('promo'), '{"escrow_parts": 8}');
SELECT w.escrow_parts, count(*) AS balance_rows, sum(p.posted) AS posted, min(p.posted) AS lowest_part
FROM loyalty.wallet w JOIN loyalty.wallet_part p USING (wallet_id) WHERE w.wallet_id = pg_temp.w('promo') GROUP BY 1;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('dave'), 300, 'wal-promo-12', 'reward', at => '2026-02-07 12:00') IS NOT NULL AS to_dave_300;
SELECT loyalty.set_wallet_rules(pg_temp.w('promo'), '{"escrow_parts": 0}');
SELECT * FROM pg_temp.parts('promo');
SELECT b.* FROM pg_temp.bal('promo', '2026-02-07 12:00') b;
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 501, 'wal-promo-13', 'reward', at => '2026-02-07 13:00')$q$) AS to_alice_501;
SELECT loyalty.transfer(pg_temp.w('promo'), pg_temp.w('alice'), 500, 'wal-promo-13', 'reward', at => '2026-02-07 13:00') IS NOT NULL AS to_alice_500;
SELECT * FROM pg_temp.parts('promo');
-- the rules changes are audited
SELECT a.action, a.object, a.detail - 'wallet' AS detail
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'wal' AND a.action = 'set_wallet_rules' ORDER BY a.audit_id;

-- 9. daily_debit_limit: days of the programme's time zone (Asia/Shanghai) -------------------------
SELECT loyalty.fund_wallet(pg_temp.w('dave'), 5000, 'wal-fund-dave', '2026-02-09 09:00') IS NOT NULL AS funded;
SELECT loyalty.set_wallet_rules(pg_temp.w('dave'), '{"daily_debit_limit": 1000}');
SELECT b.* FROM pg_temp.bal('dave', '2026-02-10 12:00') b;
-- more than the limit at once, on a day without debits yet
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 1001, 'wal-day-1', 'checkout', at => '2026-02-10 12:00')$q$) AS above_limit;
-- a hold counts while it holds; voided, it gives the day's limit back
SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 700, 'wal-day-hold', 'checkout', true, at => '2026-02-10 13:00') AS day_hold \gset
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 301, 'wal-day-1', 'checkout', at => '2026-02-10 13:01')$q$) AS beside_the_hold;
SELECT loyalty.void_transfer(:day_hold, '2026-02-10 13:05');
SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 600, 'wal-day-1', 'checkout', at => '2026-02-10 23:30') IS NOT NULL AS day_1,
       loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 400, 'wal-day-2', 'checkout', at => '2026-02-10 23:59:59') IS NOT NULL AS day_2;
SELECT * FROM pg_temp.counts() \gset before_
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 1, 'wal-day-3', 'checkout', at => '2026-02-10 23:59:59')$q$) AS over_limit;
SELECT transfers - :before_transfers AS new_transfers, entries - :before_entries AS new_entries FROM pg_temp.counts();
-- 00:00 in Shanghai is 16:00 UTC of the same UTC day: a new day for the limit
SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 1000, 'wal-day-3', 'checkout', at => '2026-02-11 00:00') IS NOT NULL AS next_day;
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 1, 'wal-day-4', 'checkout', at => '2026-02-11 07:59:59')$q$) AS still_that_day;
-- a debit dated back to the day before cannot slip past the limit either
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 1, 'wal-day-4', 'checkout', at => '2026-02-10 22:00')$q$) AS back_dated;
-- without the limit the same transfer goes through (a failed call left its ref free)
SELECT loyalty.set_wallet_rules(pg_temp.w('dave'), '{"daily_debit_limit": null}');
SELECT loyalty.transfer(pg_temp.w('dave'), pg_temp.w('revenue:CNY'), 1, 'wal-day-4', 'checkout', at => '2026-02-11 07:59:59') IS NOT NULL AS no_limit;
SELECT b.* FROM pg_temp.bal('dave', '2026-02-11 08:00') b;
SELECT rules FROM loyalty.wallet WHERE wallet_id = pg_temp.w('dave');

-- 10. grant_wallet and two application roles ---------------------------------------------------
CREATE ROLE wal_app_granted IN ROLE loyalty_app;
CREATE ROLE wal_app_plain IN ROLE loyalty_app;
SELECT loyalty.fund_wallet(pg_temp.w('promo'), 1000, 'wal-fund-promo-3', '2026-02-12 09:00') IS NOT NULL AS funded;
SELECT loyalty.grant_wallet(pg_temp.w('promo'), 'wal_app_granted', 'debit');
SELECT a.action, a.object, a.detail - 'wallet' AS detail
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'wal' AND a.action = 'grant_wallet' ORDER BY a.audit_id;
SELECT pg_temp.w('promo') AS promo, pg_temp.w('budget') AS budget, pg_temp.w('revenue:CNY') AS revenue,
       pg_temp.w('alice') AS alice, pg_temp.w('bob') AS bob \gset
SELECT * FROM pg_temp.counts() \gset before_
SET ROLE wal_app_granted;
-- granted debit on promo; as loyalty_app it debits members' wallets and credits revenue
SELECT loyalty.transfer(:promo, :alice, 100, 'wal-app-1', 'reward', at => '2026-02-12 10:00') IS NOT NULL AS promo_to_alice;
SELECT loyalty.transfer(:alice, :revenue, 50, 'wal-app-2', 'checkout', at => '2026-02-12 10:00') IS NOT NULL AS alice_to_revenue;
SELECT loyalty.transfer(:alice, :bob, 10, 'wal-app-3', 'gift', at => '2026-02-12 10:00') IS NOT NULL AS alice_to_bob;
SELECT posted, available FROM loyalty.wallet_balance(:alice, '2026-02-12 10:00');
-- but debit is all it was granted
SELECT pg_temp.try_raw(format('SELECT * FROM loyalty.wallet_balance(%s, %L)', :promo, '2026-02-12 10:00')) AS view_promo,
       pg_temp.try_raw(format('SELECT loyalty.transfer(%s, %s, 10, %L, at => %L)', :alice, :promo, 'wal-app-x1', '2026-02-12 10:00')) AS credit_promo,
       pg_temp.try_raw(format('SELECT loyalty.transfer(%s, %s, 10, %L, at => %L)', :budget, :alice, 'wal-app-x2', '2026-02-12 10:00')) AS debit_budget;
SET ROLE wal_app_plain;
-- not granted: the same debit of promo is refused; members' wallets and revenue as before
SELECT pg_temp.try_raw(format('SELECT loyalty.transfer(%s, %s, 100, %L, at => %L)', :promo, :alice, 'wal-app-4', '2026-02-12 11:00')) AS promo_to_alice,
       pg_temp.try_raw(format('SELECT loyalty.transfer(%s, %s, 10, %L, at => %L)', :revenue, :bob, 'wal-app-x3', '2026-02-12 11:00')) AS debit_revenue;
SELECT loyalty.transfer(:bob, :revenue, 50, 'wal-app-5', 'checkout', at => '2026-02-12 11:00') IS NOT NULL AS bob_to_revenue;
RESET ROLE;
SELECT transfers - :before_transfers AS new_transfers, entries - :before_entries AS new_entries FROM pg_temp.counts();
SELECT ref, kind, debit, credit, amount, state FROM pg_temp.tr('wal-app-1') UNION ALL
SELECT ref, kind, debit, credit, amount, state FROM pg_temp.tr('wal-app-2') UNION ALL
SELECT ref, kind, debit, credit, amount, state FROM pg_temp.tr('wal-app-3') UNION ALL
SELECT ref, kind, debit, credit, amount, state FROM pg_temp.tr('wal-app-5') ORDER BY ref;
-- the refused ref is still free
SELECT count(*) AS refused_ref_used FROM pg_temp.tr('wal-app-4');
SELECT b.* FROM unnest(ARRAY['promo', 'alice', 'bob']) n, pg_temp.bal(n, '2026-02-12 12:00') b;

-- 11. cashback through the order trigger -----------------------------------------------------
SELECT loyalty.define_earn_rule('wal', 'wal_cashback', '{"on": "order", "cashback_percent": 2, "from_wallet": "budget"}') > 0 AS rule;
CREATE TABLE wal_orders (
    id       text PRIMARY KEY,
    customer text,
    amount   bigint,
    status   text NOT NULL,
    event_at timestamptz
);
SELECT loyalty.track_orders('wal_orders', 'wal', 'customer', 'amount', 'status', time_column => 'event_at') > 0 AS tracked;

-- What loyalty.order_cashback says about an order of wal_orders.
CREATE FUNCTION pg_temp.cb(oid text)
RETURNS TABLE(generation int, rule_code text, from_wallet text, to_wallet text, amount bigint, paid bigint,
              reversed bigint, debt bigint)
LANGUAGE sql AS $$
    SELECT c.generation, c.rule_code, pg_temp.wn(c.from_wallet), pg_temp.wn(c.to_wallet), c.amount, c.paid,
           c.reversed, c.debt
    FROM loyalty.order_cashback c JOIN loyalty.tracked_table t USING (tracked_id)
    WHERE t.orders = 'wal_orders'::regclass AND c.order_id = oid ORDER BY c.generation, c.rule_code
$$;
-- The cashback transfers of an order, oldest first.
CREATE FUNCTION pg_temp.cbt(oid text)
RETURNS TABLE(ref text, kind text, debit text, credit text, amount bigint, at timestamptz)
LANGUAGE sql AS $$
    SELECT pg_temp.ref(t.ref), t.kind, pg_temp.wn(t.debit_wallet), pg_temp.wn(t.credit_wallet), t.amount, t.at
    FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
    WHERE p.code = 'wal' AND t.ref LIKE 'loyalty:cashback:%:' || oid || ':%' ORDER BY t.transfer_id
$$;

-- paid: priced (2% of 123.45 = 2.469, half-up 2.47), nothing paid yet
SELECT b.posted AS budget_before FROM pg_temp.bal('budget', '2026-03-01 00:00') b \gset
INSERT INTO wal_orders VALUES ('wal-o1', 'alice', 12345, 'paid', '2026-03-01 10:00');
SELECT * FROM pg_temp.cb('wal-o1');
SELECT * FROM pg_temp.cbt('wal-o1');
SELECT b.* FROM pg_temp.bal('alice', '2026-03-01 10:00') b;
-- completed: paid from the budget to the member's wallet
UPDATE wal_orders SET status = 'completed', event_at = '2026-03-02 10:00' WHERE id = 'wal-o1';
SELECT * FROM pg_temp.cb('wal-o1');
SELECT * FROM pg_temp.cbt('wal-o1');
SELECT b.* FROM pg_temp.bal('alice', '2026-03-02 10:00') b;
SELECT :budget_before - b.posted AS budget_paid FROM pg_temp.bal('budget', '2026-03-02 10:00') b;
-- completed -> paid: reversed; completed again: paid again
UPDATE wal_orders SET status = 'paid', event_at = '2026-03-03 10:00' WHERE id = 'wal-o1';
SELECT * FROM pg_temp.cb('wal-o1');
UPDATE wal_orders SET status = 'completed', event_at = '2026-03-04 10:00' WHERE id = 'wal-o1';
SELECT * FROM pg_temp.cb('wal-o1');
-- partial refunds: reversed in total C - floor(C x (A - R) / A)
-- R = 40.00: 247 - floor(247 x 8345 / 12345) = 247 - 166 = 81
SELECT loyalty.refund('wal_orders', 'wal-o1', 4000, 'wal-o1-r1', '2026-03-05 10:00') AS points_reversed;
SELECT * FROM pg_temp.cb('wal-o1');
-- R = 90.00: 247 - floor(247 x 3345 / 12345) = 247 - 66 = 181, so 100 more
SELECT loyalty.refund('wal_orders', 'wal-o1', 5000, 'wal-o1-r2', '2026-03-06 10:00') AS points_reversed;
SELECT * FROM pg_temp.cb('wal-o1');
-- a refund retried changes nothing
SELECT loyalty.refund('wal_orders', 'wal-o1', 5000, 'wal-o1-r2', '2026-03-06 10:00') AS points_reversed;
SELECT * FROM pg_temp.cb('wal-o1');
-- cancelled: the remaining 66
UPDATE wal_orders SET status = 'cancelled', event_at = '2026-03-07 10:00' WHERE id = 'wal-o1';
SELECT * FROM pg_temp.cb('wal-o1');
SELECT * FROM pg_temp.cbt('wal-o1');
SELECT :budget_before - b.posted AS budget_paid FROM pg_temp.bal('budget', '2026-03-07 10:00') b;
SELECT b.* FROM unnest(ARRAY['2026-03-01 10:00', '2026-03-02 10:00', '2026-03-03 10:00', '2026-03-04 10:00',
                             '2026-03-05 10:00', '2026-03-06 10:00', '2026-03-07 10:00']::timestamptz[]) t,
     pg_temp.bal('alice', t) b;

-- DELETE of a completed order reverses its cashback (at the statement's time: amounts only)
INSERT INTO wal_orders VALUES ('wal-o2', 'bob', 5000, 'completed', '2026-03-08 10:00');
SELECT * FROM pg_temp.cb('wal-o2');
DELETE FROM wal_orders WHERE id = 'wal-o2';
SELECT * FROM pg_temp.cb('wal-o2');
SELECT ref, kind, debit, credit, amount FROM pg_temp.cbt('wal-o2');

-- debt: the cashback was spent before the order was refunded
INSERT INTO wal_orders VALUES ('wal-o3', 'carol', 10000, 'completed', '2026-03-10 10:00');
SELECT * FROM pg_temp.cb('wal-o3');
SELECT b.available AS carol_has FROM pg_temp.bal('carol', '2026-03-10 10:00') b \gset
-- carol pays all but 50 at checkout
SELECT loyalty.transfer(pg_temp.w('carol'), pg_temp.w('revenue:CNY'), :carol_has - 50, 'wal-shop-carol', 'checkout',
                        at => '2026-03-11 10:00') IS NOT NULL AS carol_paid;
SELECT b.* FROM pg_temp.bal('carol', '2026-03-11 10:00') b;
UPDATE wal_orders SET status = 'refunded', event_at = '2026-03-12 10:00' WHERE id = 'wal-o3';
-- 50 taken back, 150 owed to the budget; the wallet is not overdrawn
SELECT * FROM pg_temp.cb('wal-o3');
SELECT ref, kind, debit, credit, amount, at FROM pg_temp.cbt('wal-o3');
SELECT b.* FROM pg_temp.bal('carol', '2026-03-12 10:00') b;
SELECT pg_temp.wn(d.wallet_id) AS wallet, pg_temp.wn(d.creditor) AS creditor, d.amount, d.since
FROM loyalty.wallet_debt d WHERE d.wallet_id = pg_temp.w('carol');
SELECT * FROM pg_temp.parts('carol');
-- the next credits pay the debt first: 100 funded all go to the budget, then 50 of 500
SELECT loyalty.fund_wallet(pg_temp.w('carol'), 100, 'wal-fund-carol-1', '2026-03-13 10:00') IS NOT NULL AS funded_100;
SELECT pg_temp.wn(d.wallet_id) AS wallet, pg_temp.wn(d.creditor) AS creditor, d.amount FROM loyalty.wallet_debt d
WHERE d.wallet_id = pg_temp.w('carol');
SELECT b.* FROM pg_temp.bal('carol', '2026-03-13 10:00') b;
SELECT loyalty.fund_wallet(pg_temp.w('carol'), 500, 'wal-fund-carol-2', '2026-03-14 10:00') IS NOT NULL AS funded_500;
SELECT pg_temp.wn(d.wallet_id) AS wallet, pg_temp.wn(d.creditor) AS creditor, d.amount FROM loyalty.wallet_debt d
WHERE d.wallet_id = pg_temp.w('carol');
SELECT * FROM pg_temp.parts('carol');
SELECT * FROM pg_temp.hist('carol', since => '2026-03-10 00:00');

-- wallet money paid for an order (transfer ref = order id) comes back when it is cancelled
SELECT b.posted AS alice_before FROM pg_temp.bal('alice', '2026-03-14 09:00') b \gset
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('revenue:CNY'), 300, 'wal-o4', 'checkout', at => '2026-03-14 10:00') IS NOT NULL AS alice_paid;
INSERT INTO wal_orders VALUES ('wal-o4', 'alice', 8000, 'paid', '2026-03-14 10:00');
UPDATE wal_orders SET status = 'completed', event_at = '2026-03-14 11:00' WHERE id = 'wal-o4';
SELECT * FROM pg_temp.cb('wal-o4');
SELECT b.posted - :alice_before AS alice_change FROM pg_temp.bal('alice', '2026-03-14 11:00') b;
UPDATE wal_orders SET status = 'cancelled', event_at = '2026-03-15 10:00' WHERE id = 'wal-o4';
SELECT * FROM pg_temp.cb('wal-o4');
SELECT * FROM pg_temp.hist('alice', since => '2026-03-14 00:00');
SELECT b.posted - :alice_before AS alice_change FROM pg_temp.bal('alice', '2026-03-15 10:00') b;
-- a member without a wallet gets one, opened by the extension, on its first cashback
INSERT INTO wal_orders VALUES ('wal-o5', 'erin', 2000, 'completed', '2026-03-16 10:00');
SELECT pg_temp.wn(w.wallet_id) AS wallet, w.currency, w.role, w.rules FROM loyalty.wallet w WHERE w.owner_member = pg_temp.m('erin');
SELECT * FROM pg_temp.cb('wal-o5');
SELECT b.* FROM loyalty.wallet_balance((SELECT wallet_id FROM loyalty.wallet WHERE owner_member = pg_temp.m('erin')),
                                       '2026-03-16 10:00') b;

-- an empty budget: the order completes, the shortfall is recorded -------------------------------
SELECT loyalty.create_program('wal_dry', 'Wallets: a dry budget', 'CNY') > 0 AS created;
SELECT loyalty.open_wallet('wal_dry', 'dry', 'CNY') > 0 AS dry;
SELECT loyalty.fund_wallet(pg_temp.w('dry', 'wal_dry'), 50, 'wal-dry-fund-1', '2026-03-01 00:00') IS NOT NULL AS funded;
-- a cashback rule must name a programme wallet that exists
SELECT pg_temp.try($q$SELECT loyalty.define_earn_rule('wal_dry', 'wal_ghost_cashback', '{"on": "order", "cashback_percent": 1, "from_wallet": "ghost"}')$q$) AS rule_no_wallet;
SELECT loyalty.define_earn_rule('wal_dry', 'wal_dry_cashback', '{"on": "order", "cashback_percent": 2, "from_wallet": "dry"}') > 0 AS rule;
CREATE TABLE wal_dry_orders (id text PRIMARY KEY, customer text, amount bigint, status text NOT NULL, event_at timestamptz);
SELECT loyalty.track_orders('wal_dry_orders', 'wal_dry', 'customer', 'amount', 'status', time_column => 'event_at') > 0 AS tracked;

-- The shortfalls of programme wal_dry.
CREATE FUNCTION pg_temp.shortfalls()
RETURNS TABLE(member text, order_id text, generation int, rule_code text, from_wallet text, amount bigint, reason text,
              at timestamptz, resolved_at timestamptz, resolution text)
LANGUAGE sql AS $$
    SELECT m.external_id, f.order_id, f.generation, f.rule_code, pg_temp.wn(f.from_wallet), f.amount, f.reason,
           f.at, f.resolved_at, f.resolution
    FROM loyalty.cashback_shortfalls f JOIN loyalty.program p USING (program_id) JOIN loyalty.member m USING (member_id)
    WHERE p.code = 'wal_dry' ORDER BY f.order_id, f.rule_code
$$;

-- 2% of 100.00 = 2.00, the budget holds 0.50: nothing is paid, the order completes
INSERT INTO wal_dry_orders VALUES ('wal-dry-o1', 'frank', 10000, 'completed', '2026-03-20 10:00');
SELECT s.state, s.amount FROM loyalty.order_state s JOIN loyalty.tracked_table t USING (tracked_id)
WHERE t.orders = 'wal_dry_orders'::regclass AND s.order_id = 'wal-dry-o1';
SELECT * FROM pg_temp.shortfalls();
SELECT b.* FROM pg_temp.bal('dry', '2026-03-20 10:00', 'wal_dry') b;
SELECT count(*) AS cashback_transfers FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
WHERE p.code = 'wal_dry' AND t.kind = 'cashback';
-- an order whose cashback fits is paid (2% of 20.00 = 0.40)
INSERT INTO wal_dry_orders VALUES ('wal-dry-o2', 'frank', 2000, 'completed', '2026-03-21 10:00');
SELECT * FROM pg_temp.shortfalls();
SELECT b.* FROM pg_temp.bal('dry', '2026-03-21 10:00', 'wal_dry') b;
-- the budget funded again, a partial refund of the first order pays what it still deserves (floor(200 x 5000 / 10000) = 100)
SELECT loyalty.fund_wallet(pg_temp.w('dry', 'wal_dry'), 1000, 'wal-dry-fund-2', '2026-03-22 00:00') IS NOT NULL AS funded;
SELECT loyalty.refund('wal_dry_orders', 'wal-dry-o1', 5000, 'wal-dry-o1-r1', '2026-03-23 10:00') AS points_reversed;
SELECT * FROM pg_temp.shortfalls();
SELECT b.* FROM pg_temp.bal('dry', '2026-03-23 10:00', 'wal_dry') b;
-- a shortfall of an order cancelled later is no longer owed
INSERT INTO wal_dry_orders VALUES ('wal-dry-o3', 'frank', 100000, 'completed', '2026-03-24 10:00');
UPDATE wal_dry_orders SET status = 'cancelled', event_at = '2026-03-25 10:00' WHERE id = 'wal-dry-o3';
SELECT * FROM pg_temp.shortfalls();
SELECT pg_temp.wn(w.wallet_id) AS wallet, b.posted
FROM loyalty.wallet w, loyalty.wallet_balance(w.wallet_id, '2026-03-25 10:00') b
WHERE w.owner_member = pg_temp.m('frank');

-- 12. the reporting view ---------------------------------------------------------------------
-- posted transfers per local day (programme time zone), debit and credit role, kind
SELECT * FROM loyalty.wallet_activity_daily
WHERE program IN ('wal', 'wal_dry') AND day < '2026-04-01' ORDER BY program, day, from_role, to_role, kind;
-- the same figures from the transfers themselves, every day included
SELECT count(*) AS view_rows_not_in_transfers FROM (
    SELECT program, day, currency, from_role, to_role, kind, transfers, amount
    FROM loyalty.wallet_activity_daily WHERE program LIKE 'wal%'
    EXCEPT
    SELECT p.code, (COALESCE(t.closed_at, t.at) AT TIME ZONE (p.settings ->> 'timezone'))::date, d.currency, d.role,
           c.role, t.kind, count(*), sum(t.posted_amount)
    FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
    JOIN loyalty.wallet d ON d.wallet_id = t.debit_wallet JOIN loyalty.wallet c ON c.wallet_id = t.credit_wallet
    WHERE p.code LIKE 'wal%' AND t.state = 'posted' GROUP BY 1, 2, 3, 4, 5, 6) x;
SELECT count(*) AS posted_transfers_not_in_view FROM (
    SELECT p.code, (COALESCE(t.closed_at, t.at) AT TIME ZONE (p.settings ->> 'timezone'))::date, d.currency, d.role,
           c.role, t.kind, count(*), sum(t.posted_amount)
    FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
    JOIN loyalty.wallet d ON d.wallet_id = t.debit_wallet JOIN loyalty.wallet c ON c.wallet_id = t.credit_wallet
    WHERE p.code LIKE 'wal%' AND t.state = 'posted' GROUP BY 1, 2, 3, 4, 5, 6
    EXCEPT
    SELECT program, day, currency, from_role, to_role, kind, transfers, amount
    FROM loyalty.wallet_activity_daily WHERE program LIKE 'wal%') x;
-- a reader may query it
SET ROLE loyalty_reader;
SELECT count(*) > 0 AS reader_sees_rows FROM loyalty.wallet_activity_daily WHERE program = 'wal';
RESET ROLE;
-- reward_redemptions_daily (the rewards suite has more): points, not wallet money, buy from the mall;
-- 23:30 and 00:10 in Shanghai are one UTC day, two local days
SELECT loyalty.earn(pg_temp.m('alice'), 1000, 'shop', 'wal-points', at => '2026-03-20 10:00') > 0 AS earned,
       loyalty.add_reward('wal', 'wal-mug', 'Mug', 300, 5) > 0 AS reward;
SELECT loyalty.redeem_reward(pg_temp.m('alice'), 'wal-mug', 2, 'wal-mug-1', '2026-03-20 23:30') AS mug_1 \gset
SELECT loyalty.cancel_redemption(:mug_1, '2026-03-21 00:10');
SELECT * FROM loyalty.reward_redemptions_daily WHERE program = 'wal' ORDER BY day, sku;
SELECT loyalty.points(pg_temp.m('alice'), '2026-03-21 00:10') AS alice_points,
       (SELECT count(*) FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
        WHERE p.code = 'wal' AND t.at BETWEEN '2026-03-20' AND '2026-03-22') AS wallet_transfers_those_days;

-- 12b. expire_holds: the batch job that books timed-out holds --------------------------------------
SELECT loyalty.enroll('wal', 'hank', '2026-01-01') > 0 AS hank;
SELECT loyalty.open_wallet('wal', 'hank', 'CNY', pg_temp.m('hank')) = pg_temp.w('hank') AS hank_wallet;
SELECT loyalty.fund_wallet(pg_temp.w('hank'), 1000, 'wal-hank-f', '2026-04-01 10:00') > 0 AS funded;
-- three holds timing out at 10:10, 10:20 and 10:40, one without a timeout
SELECT loyalty.transfer(pg_temp.w('hank'), pg_temp.w('bob'), 100, 'wal-hank-h1', 'checkout', true, '10 minutes', '2026-04-01 10:00') > 0 AS h1,
       loyalty.transfer(pg_temp.w('hank'), pg_temp.w('bob'), 200, 'wal-hank-h2', 'checkout', true, '20 minutes', '2026-04-01 10:00') > 0 AS h2,
       loyalty.transfer(pg_temp.w('hank'), pg_temp.w('bob'), 300, 'wal-hank-h3', 'checkout', true, '40 minutes', '2026-04-01 10:00') > 0 AS h3,
       loyalty.transfer(pg_temp.w('hank'), pg_temp.w('bob'), 50, 'wal-hank-h4', 'checkout', true, at => '2026-04-01 10:00') > 0 AS h4;
-- at 10:30 two holds no longer hold funds, whether or not the job ran
SELECT * FROM pg_temp.bal('hank', '2026-04-01 10:30');
SELECT count(*) AS runs_before FROM loyalty.job_runs WHERE job = 'expire_holds' \gset
SET client_min_messages = warning;
CALL loyalty.expire_holds('2026-04-01 10:30', 1);
RESET client_min_messages;
SELECT job, as_of, batch_size, state, single_transaction, batches, items, amount
FROM loyalty.job_runs WHERE job = 'expire_holds' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) - :runs_before AS new_runs FROM loyalty.job_runs WHERE job = 'expire_holds';
SELECT t.ref, t.state, t.pending_until, t.closed_at FROM loyalty.wallet_transfer t
WHERE t.ref LIKE 'wal-hank-h%' ORDER BY t.ref;
-- the balance rows released what the voided holds held; the balances did not change
SELECT * FROM pg_temp.bal('hank', '2026-04-01 10:30');
SELECT sum(p.pending_debits) AS hank_rows_hold FROM loyalty.wallet_part p WHERE p.wallet_id = pg_temp.w('hank');
-- run again: nothing to book; bad arguments
SET client_min_messages = warning;
CALL loyalty.expire_holds('2026-04-01 10:30', 10);
RESET client_min_messages;
SELECT items FROM loyalty.job_runs WHERE job = 'expire_holds' ORDER BY run_id DESC LIMIT 1;
SELECT pg_temp.try($q$CALL loyalty.expire_holds(NULL, 10)$q$) AS as_of_null,
       pg_temp.try($q$CALL loyalty.expire_holds('2026-04-01', 0)$q$) AS batch_size_0,
       pg_temp.try($q$CALL loyalty.expire_holds('infinity', 10)$q$) AS as_of_infinity;
-- hank's last hold is voided by hand, for the checks below
SELECT loyalty.void_transfer((SELECT transfer_id FROM loyalty.wallet_transfer WHERE ref = 'wal-hank-h3'), '2026-04-01 10:45');
SELECT loyalty.void_transfer((SELECT transfer_id FROM loyalty.wallet_transfer WHERE ref = 'wal-hank-h4'), '2026-04-01 10:45');

-- 13. conservation: every currency sums to zero; verify() finds nothing ------------------------
SELECT w.currency, sum(b.posted) AS total
FROM loyalty.wallet w JOIN loyalty.program p USING (program_id), loyalty.wallet_balance(w.wallet_id, '2100-01-01') b
WHERE p.code = 'wal' GROUP BY w.currency ORDER BY 1;
SELECT check_name, ok, detail FROM loyalty.verify('wal') WHERE check_name LIKE 'wallets%' OR NOT ok;
SELECT check_name, ok FROM loyalty.verify('wal_dry') WHERE check_name LIKE 'wallets%' OR NOT ok;
SELECT bool_and(ok) AS all_ok FROM loyalty.verify();

SELECT loyalty.untrack_orders('wal_orders');
SELECT loyalty.untrack_orders('wal_dry_orders');
DROP ROLE wal_app_granted;
DROP ROLE wal_app_plain;
