-- wallets_errors: every wallet function of SPEC section 7 against every
-- class of bad input that applies.  Each case prints its SQLSTATE and
-- message (ids masked: wallets by name, transfers by ref, members by
-- external id); after each group everything the wallets store is shown
-- unchanged.
-- Programmes: walerr, walerr_other.  Roles: walerr_app, walerr_nobody.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(loyalty.member('walerr', ext), loyalty.member('walerr_other', ext))
$$;

-- A wallet of this suite by name (names are unique across its two programmes).
CREATE FUNCTION pg_temp.w(wname text) RETURNS bigint LANGUAGE sql AS $$
    SELECT w.wallet_id FROM loyalty.wallet w JOIN loyalty.program p USING (program_id)
    WHERE p.code = (CASE WHEN wname LIKE 'other:%' THEN 'walerr_other' ELSE 'walerr' END)
      AND w.name = regexp_replace(wname, '^other:', '')
$$;

-- A transfer of this suite by ref.
CREATE FUNCTION pg_temp.t(r text) RETURNS bigint LANGUAGE sql AS $$
    SELECT t.transfer_id FROM loyalty.wallet_transfer t JOIN loyalty.program p USING (program_id)
    WHERE p.code = 'walerr' AND t.ref = r
$$;

-- Messages name ids: wallets as <name>, transfers as <ref>, members as <external id>.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT w.wallet_id, CASE p.code WHEN 'walerr_other' THEN 'other:' ELSE '' END || w.name AS name
             FROM loyalty.wallet w JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'walerr%' LOOP
        msg := regexp_replace(msg, '(wallets? |and |Transfer \S+ has \S+ wallet |this call has )' || r.wallet_id || '(?![0-9])',
                              '\1<' || r.name || '>', 'g');
    END LOOP;
    FOR r IN SELECT t.transfer_id, t.ref FROM loyalty.wallet_transfer t
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'walerr%' LOOP
        msg := regexp_replace(msg, '([Tt]ransfer )' || r.transfer_id || '(?![0-9])', '\1<' || r.ref || '>', 'g');
    END LOOP;
    FOR r IN SELECT m.member_id, m.external_id FROM loyalty.member m
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'walerr%' LOOP
        msg := regexp_replace(msg, '(member )' || r.member_id || '(?![0-9])', '\1<' || r.external_id || '>', 'g');
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

-- Everything the wallets store, as one string: equal before and after
-- means nothing was written.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', wallet_id, program_id, name, currency, owner_member,
                    role, rules, allow_overdraft, max_transfer, daily_debit_limit, frozen, escrow_parts),
                    ',' ORDER BY wallet_id)) FROM loyalty.wallet),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', wallet_id, part, posted, pending_debits, pending_credits,
                    debt, day, day_debited), ',' ORDER BY wallet_id, part)) FROM loyalty.wallet_part),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', transfer_id, program_id, ref, kind, debit_wallet,
                    credit_wallet, debit_part, credit_part, amount, state, was_pending, pending_until, posted_amount,
                    at, closed_at), ',' ORDER BY transfer_id)) FROM loyalty.wallet_transfer),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', wallet_id, at, transfer_id, part, amount),
                    ',' ORDER BY wallet_id, at, transfer_id)) FROM loyalty.wallet_entry),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', wallet_id, creditor, amount), ',' ORDER BY wallet_id, creditor))
         FROM loyalty.wallet_debt),
        (SELECT count(*) FROM loyalty.wallet_grant),
        (SELECT string_agg(code || ':' || definitions_version, ',' ORDER BY code) FROM loyalty.program
         WHERE code LIKE 'walerr%'),
        (SELECT count(*) FROM loyalty.member),
        (SELECT count(*) FROM loyalty.audit_log))
$$;

-- Balances of this suite's wallets, for the record.
CREATE FUNCTION pg_temp.balances()
RETURNS TABLE(wallet text, posted bigint, pending_debits bigint, pending_credits bigint, available bigint)
LANGUAGE sql AS $$
    SELECT CASE p.code WHEN 'walerr_other' THEN 'other:' ELSE '' END || w.name, b.*
    FROM loyalty.wallet w JOIN loyalty.program p USING (program_id),
         loyalty.wallet_balance(w.wallet_id, '2026-12-31') b
    WHERE p.code LIKE 'walerr%' AND w.role <> 'revenue' ORDER BY p.code, w.wallet_id
$$;

SELECT loyalty.create_program('walerr', 'Wallet errors', 'CNY') > 0 AS created,
       loyalty.create_program('walerr_other', 'Wallet errors, other programme', 'CNY') > 0 AS created_other;
SELECT loyalty.enroll('walerr', 'alice', '2026-01-01') > 0 AS alice,
       loyalty.enroll('walerr', 'bob', '2026-01-01') > 0 AS bob,
       loyalty.enroll('walerr_other', 'carol', '2026-01-01') > 0 AS carol;
SELECT loyalty.open_wallet('walerr', 'budget', 'CNY', NULL, '{"escrow_parts": 2}') > 0 AS budget,
       loyalty.open_wallet('walerr', 'alice', 'CNY', pg_temp.m('alice')) > 0 AS alice,
       loyalty.open_wallet('walerr', 'bob', 'CNY', pg_temp.m('bob')) > 0 AS bob,
       loyalty.open_wallet('walerr', 'alice-usd', 'USD', pg_temp.m('alice')) > 0 AS alice_usd,
       loyalty.open_wallet('walerr', 'iced', 'CNY', pg_temp.m('bob'), '{"frozen": true}') > 0 AS iced,
       loyalty.open_wallet('walerr', 'capped', 'CNY', pg_temp.m('alice'), '{"max_transfer": 500}') > 0 AS capped,
       loyalty.open_wallet('walerr', 'daily', 'CNY', pg_temp.m('bob'), '{"daily_debit_limit": 100}') > 0 AS daily,
       loyalty.open_wallet('walerr_other', 'carol', 'CNY', pg_temp.m('carol')) > 0 AS carol;
SELECT loyalty.fund_wallet(pg_temp.w('budget'), 100000, 'we-fund-budget', '2026-02-01') > 0 AS funded,
       loyalty.fund_wallet(pg_temp.w('alice'), 10000, 'we-fund-alice', '2026-02-01') > 0 AS funded,
       loyalty.fund_wallet(pg_temp.w('alice-usd'), 1000, 'we-fund-usd', '2026-02-01') > 0 AS funded,
       loyalty.fund_wallet(pg_temp.w('capped'), 1000, 'we-fund-capped', '2026-02-01') > 0 AS funded,
       loyalty.fund_wallet(pg_temp.w('daily'), 1000, 'we-fund-daily', '2026-02-01') > 0 AS funded,
       loyalty.fund_wallet(pg_temp.w('other:carol'), 1000, 'we-fund-carol', '2026-02-01') > 0 AS funded;
-- a posted transfer, and holds: one open, one posted, one voided, one with a timeout
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-t1', 'gift', at => '2026-02-02') > 0 AS t1,
       loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 300, 'we-h-open', 'checkout', true, at => '2026-02-02') > 0 AS h_open,
       loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 200, 'we-h-posted', 'checkout', true, at => '2026-02-02') > 0 AS h_posted,
       loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 200, 'we-h-voided', 'checkout', true, at => '2026-02-02') > 0 AS h_voided,
       loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 400, 'we-h-timeout', 'checkout', true, '1 hour', '2026-02-02 10:00') > 0 AS h_timeout,
       loyalty.transfer(pg_temp.w('budget'), pg_temp.w('bob'), 50, 'we-h-budget', 'reward', true, at => '2026-02-02') > 0 AS h_budget;
SELECT loyalty.post_transfer(pg_temp.t('we-h-posted'), at => '2026-02-02 01:00') AS posted;
SELECT loyalty.void_transfer(pg_temp.t('we-h-voided'), '2026-02-02 01:00');
SELECT * FROM pg_temp.balances();
SELECT pg_temp.fingerprint() AS fp \gset

-- open_wallet ------------------------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(format('SELECT loyalty.open_wallet(%L, %L, %L, %s, %L)', t.program, t.name, t.currency,
                                       COALESCE(t.owner, 'NULL'), t.rules)) AS result
FROM (VALUES
  (1,  'program NULL',                    NULL,           'x1', 'CNY', NULL, '{}'),
  (2,  'name NULL',                       'walerr',       NULL, 'CNY', NULL, '{}'),
  (3,  'currency NULL',                   'walerr',       'x1', NULL,  NULL, '{}'),
  (4,  'rules NULL',                      'walerr',       'x1', 'CNY', NULL, NULL),
  (5,  'unknown programme',               'walerr_nope',  'x1', 'CNY', NULL, '{}'),
  (6,  'name empty',                      'walerr',       '',   'CNY', NULL, '{}'),
  (7,  'name with a space',               'walerr',       'x 1', 'CNY', NULL, '{}'),
  (8,  'name with ":" (kept for the programme''s own)', 'walerr', 'revenue:EUR', 'EUR', NULL, '{}'),
  (9,  'name starting with "-"',          'walerr',       '-x1', 'CNY', NULL, '{}'),
  (10, 'name of 64 characters',           'walerr',       repeat('x', 64), 'CNY', NULL, '{}'),
  (11, 'name taken',                      'walerr',       'alice', 'CNY', NULL, '{}'),
  (12, 'name of a system wallet',         'walerr',       'external:CNY', 'CNY', NULL, '{}'),
  (13, 'currency lower case',             'walerr',       'x1', 'cny', NULL, '{}'),
  (14, 'currency of 4 letters',           'walerr',       'x1', 'EURO', NULL, '{}'),
  (15, 'currency empty',                  'walerr',       'x1', '',    NULL, '{}'),
  (16, 'unknown member',                  'walerr',       'x1', 'CNY', '-1', '{}'),
  (17, 'member of another programme',     'walerr',       'x1', 'CNY', pg_temp.m('carol')::text, '{}'),
  (18, 'rules an array',                  'walerr',       'x1', 'CNY', NULL, '[]'),
  (19, 'rules a string',                  'walerr',       'x1', 'CNY', NULL, '"frozen"'),
  (20, 'unknown rule',                    'walerr',       'x1', 'CNY', NULL, '{"colour": "red"}'),
  (21, 'allow_overdraft "yes"',           'walerr',       'x1', 'CNY', NULL, '{"allow_overdraft": "yes"}'),
  (22, 'frozen 1',                        'walerr',       'x1', 'CNY', NULL, '{"frozen": 1}'),
  (23, 'max_transfer 0',                  'walerr',       'x1', 'CNY', NULL, '{"max_transfer": 0}'),
  (24, 'max_transfer negative',           'walerr',       'x1', 'CNY', NULL, '{"max_transfer": -5}'),
  (25, 'max_transfer "100"',              'walerr',       'x1', 'CNY', NULL, '{"max_transfer": "100"}'),
  (26, 'max_transfer fractional',         'walerr',       'x1', 'CNY', NULL, '{"max_transfer": 1.5}'),
  (27, 'max_transfer above bigint',       'walerr',       'x1', 'CNY', NULL, '{"max_transfer": 9223372036854775808}'),
  (28, 'daily_debit_limit 0',             'walerr',       'x1', 'CNY', NULL, '{"daily_debit_limit": 0, "escrow_parts": 0}'),
  (29, 'daily_debit_limit true',          'walerr',       'x1', 'CNY', NULL, '{"daily_debit_limit": true, "escrow_parts": 0}'),
  (30, 'escrow_parts 257',                'walerr',       'x1', 'CNY', NULL, '{"escrow_parts": 257}'),
  (31, 'escrow_parts negative',           'walerr',       'x1', 'CNY', NULL, '{"escrow_parts": -1}'),
  (32, 'escrow_parts "4"',                'walerr',       'x1', 'CNY', NULL, '{"escrow_parts": "4"}'),
  (33, 'escrow_parts on a member''s',     'walerr',       'x1', 'CNY', pg_temp.m('alice')::text, '{"escrow_parts": 2}'),
  (34, 'escrow_parts and daily_debit_limit', 'walerr',    'x1', 'CNY', NULL, '{"escrow_parts": 4, "daily_debit_limit": 100}'),
  (35, 'daily_debit_limit, default parts', 'walerr',      'x1', 'CNY', NULL, '{"daily_debit_limit": 100}')
) t(n, test, program, name, currency, owner, rules) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the bounds themselves are fine: a 63-character name, 256 escrow parts, the largest daily limit,
-- escrow_parts 0 on a member's, a programme wallet unsplit with a daily limit
SELECT loyalty.open_wallet('walerr', repeat('y', 63), 'CNY', NULL, '{"escrow_parts": 256}') > 0 AS name_63_parts_256,
       loyalty.open_wallet('walerr', 'bob-2', 'CNY', pg_temp.m('bob'), '{"daily_debit_limit": 9223372036854775807, "escrow_parts": 0}') > 0 AS bob_2,
       loyalty.open_wallet('walerr', 'pdaily', 'CNY', NULL, '{"daily_debit_limit": 100, "escrow_parts": 0}') > 0 AS programme_wallet_with_a_limit;
SELECT name, escrow_parts, daily_debit_limit, (SELECT count(*) FROM loyalty.wallet_part p WHERE p.wallet_id = w.wallet_id) AS balance_rows
FROM loyalty.wallet w WHERE w.wallet_id IN (pg_temp.w(repeat('y', 63)), pg_temp.w('bob-2'), pg_temp.w('pdaily')) ORDER BY w.wallet_id;
SELECT pg_temp.fingerprint() AS fp \gset

-- set_wallet_rules -------------------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(format('SELECT loyalty.set_wallet_rules(%s, %L)', COALESCE(t.wallet::text, 'NULL'), t.rules)) AS result
FROM (VALUES
  (1,  'wallet NULL',                      NULL::bigint,           '{"frozen": true}'),
  (2,  'rules NULL',                       pg_temp.w('alice'),     NULL),
  (3,  'unknown wallet',                   -1,                     '{"frozen": true}'),
  (4,  'rules an array',                   pg_temp.w('alice'),     '[{"frozen": true}]'),
  (5,  'unknown rule',                     pg_temp.w('alice'),     '{"frozen": true, "overdraft": true}'),
  (6,  'frozen "true"',                    pg_temp.w('alice'),     '{"frozen": "true"}'),
  (7,  'max_transfer 0',                   pg_temp.w('alice'),     '{"max_transfer": 0}'),
  (8,  'daily_debit_limit -1',             pg_temp.w('alice'),     '{"daily_debit_limit": -1}'),
  (9,  'escrow_parts on a member''s',      pg_temp.w('alice'),     '{"escrow_parts": 1}'),
  (10, 'escrow_parts 300',                 pg_temp.w('budget'),    '{"escrow_parts": 300}'),
  (11, 'daily limit on a split wallet',    pg_temp.w('budget'),    '{"daily_debit_limit": 1000}'),
  (12, 'parts on a wallet with a limit',   pg_temp.w('pdaily'),    '{"escrow_parts": 2}'),
  (13, 'a bad key after a good one',       pg_temp.w('budget'),    '{"allow_overdraft": true, "max_transfer": "lots"}')
) t(n, test, wallet, rules) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- lowering escrow_parts while a part it would drop holds a pending transfer: 55000
SELECT loyalty.open_wallet('walerr', 'split2', 'CNY', NULL, '{"escrow_parts": 2}') > 0 AS split2;
SELECT loyalty.fund_wallet(pg_temp.w('split2'), 1000, 'we-split2-f', '2026-02-02') > 0 AS funded,
       loyalty.transfer(pg_temp.w('split2'), pg_temp.w('bob'), 100, 'we-split2-h', 'gift', true, at => '2026-02-02') > 0 AS held;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try(format('SELECT loyalty.set_wallet_rules(%s, %L)', pg_temp.w('split2'), '{"escrow_parts": 0}')) AS lower_parts_under_a_hold;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- fund_wallet ------------------------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'wallet NULL',              $q$SELECT loyalty.fund_wallet(NULL, 100, 'we-f-x', '2026-02-03')$q$),
  (2,  'amount NULL',              $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), NULL, 'we-f-x', '2026-02-03')$q$),
  (3,  'ref NULL',                 $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 100, NULL, '2026-02-03')$q$),
  (4,  'at NULL',                  $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 100, 'we-f-x', NULL)$q$),
  (5,  'amount 0',                 $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 0, 'we-f-x', '2026-02-03')$q$),
  (6,  'amount negative',          $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), -100, 'we-f-x', '2026-02-03')$q$),
  (7,  'ref empty',                $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 100, '', '2026-02-03')$q$),
  (8,  'at infinity',              $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 100, 'we-f-x', 'infinity')$q$),
  (9,  'unknown wallet',           $q$SELECT loyalty.fund_wallet(-1, 100, 'we-f-x', '2026-02-03')$q$),
  (10, 'the external account',     $q$SELECT loyalty.fund_wallet(pg_temp.w('external:CNY'), 100, 'we-f-x', '2026-02-03')$q$),
  (11, 'a frozen wallet',          $q$SELECT loyalty.fund_wallet(pg_temp.w('iced'), 100, 'we-f-x', '2026-02-03')$q$),
  (12, 'ref again, other amount',  $q$SELECT loyalty.fund_wallet(pg_temp.w('alice'), 10001, 'we-fund-alice', '2026-02-01')$q$),
  (13, 'ref again, other wallet',  $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 10000, 'we-fund-alice', '2026-02-01')$q$),
  (14, 'ref of a transfer',        $q$SELECT loyalty.fund_wallet(pg_temp.w('bob'), 100, 'we-t1', '2026-02-03')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- transfer ---------------------------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'debit_wallet NULL',        $q$SELECT loyalty.transfer(NULL, pg_temp.w('bob'), 100, 'we-x', at => '2026-02-03')$q$),
  (2,  'credit_wallet NULL',       $q$SELECT loyalty.transfer(pg_temp.w('alice'), NULL, 100, 'we-x', at => '2026-02-03')$q$),
  (3,  'amount NULL',              $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), NULL, 'we-x', at => '2026-02-03')$q$),
  (4,  'ref NULL',                 $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, NULL, at => '2026-02-03')$q$),
  (5,  'kind NULL',                $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', NULL, at => '2026-02-03')$q$),
  (6,  'pending NULL',             $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', 'gift', NULL, at => '2026-02-03')$q$),
  (7,  'at NULL',                  $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', at => NULL)$q$),
  (8,  'amount 0',                 $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 0, 'we-x', at => '2026-02-03')$q$),
  (9,  'amount negative',          $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), -100, 'we-x', at => '2026-02-03')$q$),
  (10, 'amount -2^63',             $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), -9223372036854775808, 'we-x', at => '2026-02-03')$q$),
  (11, 'ref empty',                $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, '', at => '2026-02-03')$q$),
  (12, 'kind empty',               $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', '', at => '2026-02-03')$q$),
  (13, 'at infinity',              $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', at => '-infinity')$q$),
  (14, 'unknown debit wallet',     $q$SELECT loyalty.transfer(-1, pg_temp.w('bob'), 100, 'we-x', at => '2026-02-03')$q$),
  (15, 'unknown credit wallet',    $q$SELECT loyalty.transfer(pg_temp.w('alice'), -2, 100, 'we-x', at => '2026-02-03')$q$),
  (16, 'currency mismatch',        $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('alice-usd'), 100, 'we-x', at => '2026-02-03')$q$),
  (17, 'currency mismatch, USD to CNY', $q$SELECT loyalty.transfer(pg_temp.w('alice-usd'), pg_temp.w('bob'), 100, 'we-x', at => '2026-02-03')$q$),
  (18, 'different programmes',     $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('other:carol'), 100, 'we-x', at => '2026-02-03')$q$),
  (19, 'different programmes, back', $q$SELECT loyalty.transfer(pg_temp.w('other:carol'), pg_temp.w('alice'), 100, 'we-x', at => '2026-02-03')$q$),
  (20, 'same wallet twice',        $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('alice'), 100, 'we-x', at => '2026-02-03')$q$),
  (21, 'debit wallet frozen',      $q$SELECT loyalty.transfer(pg_temp.w('iced'), pg_temp.w('alice'), 100, 'we-x', at => '2026-02-03')$q$),
  (22, 'credit wallet frozen',     $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('iced'), 100, 'we-x', at => '2026-02-03')$q$),
  (23, 'frozen, pending',          $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('iced'), 100, 'we-x', 'gift', true, at => '2026-02-03')$q$),
  (24, 'above max_transfer',       $q$SELECT loyalty.transfer(pg_temp.w('capped'), pg_temp.w('bob'), 501, 'we-x', at => '2026-02-03')$q$),
  (25, 'above max_transfer, pending', $q$SELECT loyalty.transfer(pg_temp.w('capped'), pg_temp.w('bob'), 501, 'we-x', 'gift', true, at => '2026-02-03')$q$),
  (26, 'insufficient funds',       $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 9401, 'we-x', at => '2026-02-03')$q$),
  (27, 'insufficient funds, pending', $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 9401, 'we-x', 'gift', true, at => '2026-02-03')$q$),
  (28, 'insufficient: a split wallet', $q$SELECT loyalty.transfer(pg_temp.w('budget'), pg_temp.w('bob'), 99951, 'we-x', at => '2026-02-03')$q$),
  (29, 'a pending credit is not spendable', $q$SELECT loyalty.transfer(pg_temp.w('bob'), pg_temp.w('alice'), 301, 'we-x', at => '2026-02-03')$q$),
  (30, 'above the daily limit, first debit of the day', $q$SELECT loyalty.transfer(pg_temp.w('daily'), pg_temp.w('bob'), 101, 'we-x', at => '2026-02-03')$q$),
  (31, 'pending_timeout, not pending', $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', 'gift', false, '1 hour', '2026-02-03')$q$),
  (32, 'pending_timeout 0',        $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', 'gift', true, '0 seconds', '2026-02-03')$q$),
  (33, 'pending_timeout negative', $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', 'gift', true, '-1 hour', '2026-02-03')$q$),
  (34, 'pending_timeout 1 day - 25 hours', $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', 'gift', true, '1 day -25 hours', '2026-02-03')$q$),
  (35, 'ref again: other amount',  $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 101, 'we-t1', 'gift', at => '2026-02-02')$q$),
  (36, 'ref again: other debit wallet', $q$SELECT loyalty.transfer(pg_temp.w('budget'), pg_temp.w('bob'), 100, 'we-t1', 'gift', at => '2026-02-02')$q$),
  (37, 'ref again: other credit wallet', $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('capped'), 100, 'we-t1', 'gift', at => '2026-02-02')$q$),
  (38, 'ref again: other kind',    $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-t1', 'checkout', at => '2026-02-02')$q$),
  (39, 'ref again: pending',       $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-t1', 'gift', true, at => '2026-02-02')$q$),
  (40, 'ref of a fund_wallet',     $q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 10000, 'we-fund-alice', 'fund', at => '2026-02-02')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM pg_temp.balances();
-- the same ref, amount, wallets and kind is a retry: the first transfer, nothing moved
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-t1', 'gift', at => '2026-02-05') = pg_temp.t('we-t1') AS retry;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- frozen since: a new transfer or funding is refused, a retry of one made before still returns it
SELECT loyalty.set_wallet_rules(pg_temp.w('alice'), '{"frozen": true}');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-t2', 'gift', at => '2026-02-05')$q$) AS new_transfer,
       pg_temp.try($q$SELECT loyalty.fund_wallet(pg_temp.w('alice'), 100, 'we-f2', '2026-02-05')$q$) AS new_funding;
-- (posting a hold made before the freeze: see findings 10)
SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-t1', 'gift', at => '2026-02-05') = pg_temp.t('we-t1') AS retry_transfer,
       loyalty.fund_wallet(pg_temp.w('alice'), 10000, 'we-fund-alice', '2026-02-01') = pg_temp.t('we-fund-alice') AS retry_funding;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT loyalty.set_wallet_rules(pg_temp.w('alice'), '{"frozen": null}');
SELECT frozen, rules FROM loyalty.wallet WHERE wallet_id = pg_temp.w('alice');
-- a failed call leaves its ref free; the limits themselves pass
SELECT loyalty.transfer(pg_temp.w('capped'), pg_temp.w('bob'), 500, 'we-x', at => '2026-02-03') > 0 AS at_max_transfer,
       loyalty.transfer(pg_temp.w('daily'), pg_temp.w('bob'), 100, 'we-x2', at => '2026-02-03') > 0 AS at_daily_limit;
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('daily'), pg_temp.w('bob'), 1, 'we-x3', at => '2026-02-03 23:59:59')$q$) AS one_more_that_day;
SELECT * FROM pg_temp.balances();
SELECT pg_temp.fingerprint() AS fp \gset

-- overflow: a balance that would leave the bigint range.  The credit side: bob holds money
SELECT loyalty.open_wallet('walerr', 'overdraft', 'CNY', NULL, '{"allow_overdraft": true, "escrow_parts": 0}') > 0 AS overdraft;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('overdraft'), pg_temp.w('bob'), 9223372036854775000, 'we-ovf-1', at => '2026-02-03')$q$) AS credit_overflow;
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('overdraft'), pg_temp.w('bob'), 9223372036854775000, 'we-ovf-h', 'gift', true, at => '2026-02-03')$q$) AS hold_overflow;
SELECT pg_temp.try($q$SELECT loyalty.transfer(pg_temp.w('alice'), pg_temp.w('bob'), 100, 'we-x', 'gift', true, '300000 years', '2026-02-03')$q$) AS timeout_past_the_end;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the debit side: an overdraft wallet or the external account already below zero
SELECT loyalty.transfer(pg_temp.w('overdraft'), pg_temp.w('capped'), 1000, 'we-od-1', at => '2026-02-03') > 0 AS overdrawn;
SELECT * FROM pg_temp.balances() WHERE wallet IN ('external:CNY', 'bob', 'capped', 'bob-2', 'overdraft');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'fund_wallet: the external account', $q$SELECT loyalty.fund_wallet(pg_temp.w('bob-2'), 9223372036854775000, 'we-ovf-2', '2026-02-03')$q$),
  (2,  'an overdraft wallet',               $q$SELECT loyalty.transfer(pg_temp.w('overdraft'), pg_temp.w('bob-2'), 9223372036854775807, 'we-ovf-3', at => '2026-02-03')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- post_transfer and void_transfer -------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'post: transfer_id NULL',   $q$SELECT loyalty.post_transfer(NULL, NULL, '2026-02-03')$q$),
  (2,  'post: at NULL',            $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), NULL, NULL)$q$),
  (3,  'post: at infinity',        $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), NULL, 'infinity')$q$),
  (4,  'post: amount 0',           $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), 0, '2026-02-03')$q$),
  (5,  'post: amount negative',    $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), -1, '2026-02-03')$q$),
  (6,  'post: more than held',     $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), 301, '2026-02-03')$q$),
  (7,  'post: unknown transfer',   $q$SELECT loyalty.post_transfer(-1, NULL, '2026-02-03')$q$),
  (8,  'post: already posted',     $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-posted'), NULL, '2026-02-03')$q$),
  (9,  'post: voided',             $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-voided'), NULL, '2026-02-03')$q$),
  (10, 'post: a posted transfer',  $q$SELECT loyalty.post_transfer(pg_temp.t('we-t1'), NULL, '2026-02-03')$q$),
  (11, 'post: at its timeout',     $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-timeout'), NULL, '2026-02-02 11:00')$q$),
  (12, 'post: after its timeout',  $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-timeout'), 100, '2026-02-03')$q$),
  (13, 'void: transfer_id NULL',   $q$SELECT loyalty.void_transfer(NULL, '2026-02-03')$q$),
  (14, 'void: at NULL',            $q$SELECT loyalty.void_transfer(pg_temp.t('we-h-open'), NULL)$q$),
  (15, 'void: at infinity',        $q$SELECT loyalty.void_transfer(pg_temp.t('we-h-open'), '-infinity')$q$),
  (16, 'void: unknown transfer',   $q$SELECT loyalty.void_transfer(-1, '2026-02-03')$q$),
  (17, 'void: posted',             $q$SELECT loyalty.void_transfer(pg_temp.t('we-h-posted'), '2026-02-03')$q$),
  (18, 'void: already voided',     $q$SELECT loyalty.void_transfer(pg_temp.t('we-h-voided'), '2026-02-03')$q$),
  (19, 'void: a posted transfer',  $q$SELECT loyalty.void_transfer(pg_temp.t('we-t1'), '2026-02-03')$q$),
  (20, 'post: before it was made', $q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), NULL, '2026-01-01')$q$),
  (21, 'void: before it was made', $q$SELECT loyalty.void_transfer(pg_temp.t('we-h-open'), '2026-01-01')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- a hold made before its wallet was frozen is not paid out (LY020), only voided
SELECT loyalty.open_wallet('walerr', 'bob-frz', 'CNY', pg_temp.m('bob')) > 0 AS bob_frz;
SELECT loyalty.fund_wallet(pg_temp.w('bob-frz'), 500, 'we-frz-f', '2026-02-02') > 0 AS funded,
       loyalty.transfer(pg_temp.w('bob-frz'), pg_temp.w('alice'), 200, 'we-frz-h', 'checkout', true, at => '2026-02-02') > 0 AS held;
SELECT loyalty.set_wallet_rules(pg_temp.w('bob-frz'), '{"frozen": true}');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.post_transfer(pg_temp.t('we-frz-h'), 50, '2026-02-03')$q$) AS post_from_a_frozen_wallet;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT loyalty.void_transfer(pg_temp.t('we-frz-h'), '2026-02-03');
SELECT * FROM loyalty.wallet_balance(pg_temp.w('bob-frz'), '2026-02-03');
-- closed once: a post, then a second post or a void
SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), 120, '2026-02-03') AS posted_part;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.post_transfer(pg_temp.t('we-h-open'), 180, '2026-02-03')$q$) AS post_the_rest,
       pg_temp.try($q$SELECT loyalty.void_transfer(pg_temp.t('we-h-open'), '2026-02-03')$q$) AS void_after_post;
-- a timed-out hold may still be voided (booked at its timeout); once
SELECT loyalty.void_transfer(pg_temp.t('we-h-timeout'), '2026-02-04');
SELECT ref, state, posted_amount, closed_at FROM loyalty.wallet_transfer WHERE transfer_id = pg_temp.t('we-h-timeout');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.void_transfer(pg_temp.t('we-h-timeout'), '2026-02-04')$q$) AS void_twice;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- wallet_balance, wallet_history, grant_wallet --------------------------------------------------
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'balance: wallet NULL',     $q$SELECT * FROM loyalty.wallet_balance(NULL, '2026-02-03')$q$),
  (2,  'balance: at NULL',         $q$SELECT * FROM loyalty.wallet_balance(pg_temp.w('alice'), NULL)$q$),
  (3,  'balance: at infinity',     $q$SELECT * FROM loyalty.wallet_balance(pg_temp.w('alice'), 'infinity')$q$),
  (4,  'balance: unknown wallet',  $q$SELECT * FROM loyalty.wallet_balance(-1, '2026-02-03')$q$),
  (5,  'history: wallet NULL',     $q$SELECT * FROM loyalty.wallet_history(NULL)$q$),
  (6,  'history: unknown wallet',  $q$SELECT * FROM loyalty.wallet_history(-1)$q$),
  (7,  'history: max_rows NULL',   $q$SELECT * FROM loyalty.wallet_history(pg_temp.w('alice'), NULL, NULL)$q$),
  (8,  'history: max_rows 0',      $q$SELECT * FROM loyalty.wallet_history(pg_temp.w('alice'), NULL, 0)$q$),
  (9,  'history: max_rows negative', $q$SELECT * FROM loyalty.wallet_history(pg_temp.w('alice'), NULL, -5)$q$),
  (10, 'grant: wallet NULL',       $q$SELECT loyalty.grant_wallet(NULL, 'walerr_app', 'debit')$q$),
  (11, 'grant: role NULL',         $q$SELECT loyalty.grant_wallet(pg_temp.w('budget'), NULL, 'debit')$q$),
  (12, 'grant: privilege NULL',    $q$SELECT loyalty.grant_wallet(pg_temp.w('budget'), 'walerr_app', NULL)$q$),
  (13, 'grant: unknown wallet',    $q$SELECT loyalty.grant_wallet(-1, 'walerr_app', 'debit')$q$),
  (14, 'grant: unknown role',      $q$SELECT loyalty.grant_wallet(pg_temp.w('budget'), 'walerr_nosuchrole', 'debit')$q$),
  (15, 'grant: unknown privilege', $q$SELECT loyalty.grant_wallet(pg_temp.w('budget'), 'walerr_app', 'spend')$q$),
  (16, 'grant: privilege in capitals', $q$SELECT loyalty.grant_wallet(pg_temp.w('budget'), 'walerr_app', 'DEBIT')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- Privileges -----------------------------------------------------------------------------------
CREATE ROLE walerr_app IN ROLE loyalty_app;
CREATE ROLE walerr_nobody;
SELECT loyalty.transfer(pg_temp.w('budget'), pg_temp.w('alice'), 50, 'we-h-budget-2', 'reward', true, at => '2026-02-03') > 0 AS held;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.w('budget') AS budget, pg_temp.w('alice') AS alice, pg_temp.w('bob') AS bob,
       pg_temp.w('revenue:CNY') AS revenue, pg_temp.w('external:CNY') AS external, pg_temp.t('we-h-budget-2') AS h_budget,
       pg_temp.m('alice') AS m_alice \gset
SET ROLE walerr_app;
SELECT t.n, t.test, pg_temp.try_raw(f.sql) AS result FROM (VALUES
  (1,  'open a programme wallet',  $q$SELECT loyalty.open_wallet('walerr', 'app-budget', 'CNY')$q$),
  (2,  'set_wallet_rules',         $q$SELECT loyalty.set_wallet_rules(%1$s, '{"frozen": true}')$q$),
  (3,  'fund_wallet',              $q$SELECT loyalty.fund_wallet(%3$s, 100, 'we-app-1', '2026-02-03')$q$),
  (4,  'grant_wallet',             $q$SELECT loyalty.grant_wallet(%1$s, 'walerr_app', 'debit')$q$),
  (5,  'debit the budget',         $q$SELECT loyalty.transfer(%1$s, %3$s, 10, 'we-app-2', at => '2026-02-03')$q$),
  (6,  'credit the budget',        $q$SELECT loyalty.transfer(%2$s, %1$s, 10, 'we-app-3', at => '2026-02-03')$q$),
  (7,  'debit the revenue wallet', $q$SELECT loyalty.transfer(%4$s, %3$s, 10, 'we-app-4', at => '2026-02-03')$q$),
  (8,  'debit the external account', $q$SELECT loyalty.transfer(%5$s, %3$s, 10, 'we-app-5', at => '2026-02-03')$q$),
  (9,  'post a hold on the budget', $q$SELECT loyalty.post_transfer(%6$s, NULL, '2026-02-03')$q$),
  (10, 'void a hold on the budget', $q$SELECT loyalty.void_transfer(%6$s, '2026-02-03')$q$),
  (11, 'the budget''s balance',    $q$SELECT * FROM loyalty.wallet_balance(%1$s, '2026-02-03')$q$),
  (12, 'the budget''s history',    $q$SELECT * FROM loyalty.wallet_history(%1$s)$q$),
  (13, 'verify',                   $q$SELECT * FROM loyalty.verify('walerr')$q$),
  (14, 'write a balance',          $q$UPDATE loyalty.wallet_part SET posted = posted + 1000000$q$),
  (15, 'insert a transfer',        $q$INSERT INTO loyalty.wallet_transfer (program_id, ref, kind, debit_wallet, credit_wallet, debit_part,
                                        credit_part, amount, state, was_pending, at) VALUES (1, 'x', 'x', 1, 2, 0, 0, 1, 'posted', false, now())$q$),
  (16, 'grant itself',             $q$INSERT INTO loyalty.wallet_grant (wallet_id, role_name, privilege) VALUES (%1$s, 'walerr_app', 'debit')$q$),
  (17, 'read the transfers',       $q$SELECT count(*) FROM loyalty.wallet_transfer$q$),
  (18, 'call an internal function', $q$SELECT loyalty._wallet_rules_merge('{}', '{}', false)$q$),
  (19, 'open a member''s wallet with rules', $q$SELECT loyalty.open_wallet('walerr', 'app-capped', 'CNY', %7$s, '{"max_transfer": 10}')$q$)
) t(n, test, sql0), LATERAL (SELECT format(t.sql0, :budget, :alice, :bob, :revenue, :external, :h_budget, :m_alice) AS sql) f
ORDER BY t.n;
SET ROLE walerr_nobody;
SELECT t.n, t.test, pg_temp.try_raw(f.sql) AS result FROM (VALUES
  (1,  'open a member''s wallet',  $q$SELECT loyalty.open_wallet('walerr', 'nobody', 'CNY', %4$s)$q$),
  (2,  'transfer between members', $q$SELECT loyalty.transfer(%2$s, %3$s, 10, 'we-nobody-1', at => '2026-02-03')$q$),
  (3,  'a member''s balance',      $q$SELECT * FROM loyalty.wallet_balance(%2$s, '2026-02-03')$q$),
  (4,  'a member''s history',      $q$SELECT * FROM loyalty.wallet_history(%2$s)$q$)
) t(n, test, sql0), LATERAL (SELECT format(t.sql0, :budget, :alice, :bob, :m_alice) AS sql) f
ORDER BY t.n;
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- what loyalty_app may do with members' wallets, for contrast
SET ROLE walerr_app;
SELECT loyalty.transfer(:alice, :revenue, 10, 'we-app-ok', 'checkout', at => '2026-02-03') > 0 AS checkout;
SELECT loyalty.open_wallet('walerr', 'alice-app', 'CNY', :m_alice) > 0 AS opened_members_wallet;
SELECT posted, available FROM loyalty.wallet_balance(:alice, '2026-02-03');
RESET ROLE;

SELECT * FROM pg_temp.balances();
SELECT check_name, ok, detail FROM loyalty.verify('walerr') WHERE check_name LIKE 'wallets%' OR NOT ok;
SELECT check_name, ok FROM loyalty.verify('walerr_other') WHERE check_name LIKE 'wallets%' OR NOT ok;
DROP ROLE walerr_app;
DROP ROLE walerr_nobody;
