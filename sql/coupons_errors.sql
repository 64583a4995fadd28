-- coupons_errors: every coupon function of SPEC section 6 (and the
-- expire_coupons job, section 8) against every class of bad input that
-- applies.  Each case prints its SQLSTATE and message; after each group
-- everything the extension stores is shown unchanged.
-- Programmes of this suite: cpnerr, cpnerr_other.  Role: cpnerr_app.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

-- The codes of this suite, by name.
CREATE TEMP TABLE cpnerr_c (name text PRIMARY KEY, code loyalty.coupon_code);
CREATE FUNCTION pg_temp.c(n text) RETURNS loyalty.coupon_code LANGUAGE sql AS $$
    SELECT code FROM cpnerr_c WHERE name = n
$$;
CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(loyalty.member('cpnerr', ext), loyalty.member('cpnerr_other', ext))
$$;

-- Messages name member ids and codes: show <external id> and <code name>.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT m.member_id, m.external_id FROM loyalty.member m
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'cpnerr%' LOOP
        msg := regexp_replace(msg, '(member )' || r.member_id || '(?![0-9])', '\1<' || r.external_id || '>', 'g');
    END LOOP;
    FOR r IN SELECT name, code::text AS code FROM cpnerr_c LOOP
        msg := replace(msg, r.code, '<' || r.name || '>');
    END LOOP;
    RETURN regexp_replace(msg, '[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}', '<code>', 'g');
END
$$;

-- Run one statement; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM);
END
$$;

-- The same without masking (for roles that cannot read loyalty.member).
CREATE FUNCTION pg_temp.try_raw(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}', '<code>', 'g');
END
$$;

-- Everything the coupon part stores, as one string: equal before and after
-- means nothing was written.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', program_id, code, spec, claimed, total_quantity),
                                                  ',' ORDER BY program_id, code))
         FROM loyalty.coupon_template),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', code, template_id, member_id, state, valid_from,
                    valid_until, order_ref, used_at, discount, order_value, void_reason, closed_at), ',' ORDER BY code::text))
         FROM loyalty.coupon),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', token, unlocked_at), ',' ORDER BY token))
         FROM loyalty.coupon_share),
        (SELECT count(*) FROM loyalty.coupon_share_friend),
        (SELECT count(*) FROM loyalty.member),
        (SELECT string_agg(code || ':' || definitions_version, ',' ORDER BY code) FROM loyalty.program
         WHERE code LIKE 'cpnerr%'),
        (SELECT count(*) FROM loyalty.audit_log),
        (SELECT count(*) FROM loyalty.job_runs))
$$;

SELECT loyalty.create_program('cpnerr', 'Coupon errors', 'CNY') > 0 AS created,
       loyalty.create_program('cpnerr_other', 'Coupon errors, other programme', 'CNY') > 0 AS created_other;
SELECT loyalty.enroll('cpnerr', 'alice', '2026-01-01') > 0 AS alice,
       loyalty.enroll('cpnerr', 'bob', '2026-01-01') > 0 AS bob,
       loyalty.enroll('cpnerr_other', 'carol', '2026-01-01') > 0 AS carol;
SELECT loyalty.define_coupon('cpnerr', 'cpnerr_ok', '{"kind": "fixed", "value": 500}') > 0 AS ok_defined,
       loyalty.define_coupon('cpnerr', 'cpnerr_qty', '{"kind": "fixed", "value": 100, "total_quantity": 3}') > 0 AS qty_defined,
       loyalty.define_coupon('cpnerr_other', 'cpnerr_gift', '{"kind": "fixed", "value": 100}') > 0 AS other_defined;
INSERT INTO cpnerr_c VALUES
    ('a_ok', loyalty.claim_coupon(pg_temp.m('alice'), 'cpnerr_ok', '2026-02-01')),
    ('a_qty', loyalty.claim_coupon(pg_temp.m('alice'), 'cpnerr_qty', '2026-02-01')),
    ('b_qty', loyalty.claim_coupon(pg_temp.m('bob'), 'cpnerr_qty', '2026-02-01')),
    ('c_gift', loyalty.claim_coupon(pg_temp.m('carol'), 'cpnerr_gift', '2026-02-01'));
INSERT INTO cpnerr_c SELECT 'o_issued', c FROM loyalty.issue_codes('cpnerr_other', 'cpnerr_gift', 1) c;
INSERT INTO cpnerr_c SELECT 'i_ok', c FROM loyalty.issue_codes('cpnerr', 'cpnerr_ok', 1) c;
SELECT pg_temp.fingerprint() AS fp \gset

-- define_coupon --------------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(format('SELECT loyalty.define_coupon(%L, %L, %L)', t.program, t.code, t.spec)) AS result
FROM (VALUES
  (1,  'unknown key',                   'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "colour": "red"}'),
  (2,  'scope unknown',                 'cpnerr', 'cpnerr_x', '{"scope": "basket", "kind": "fixed", "value": 100}'),
  (3,  'scope not a string',            'cpnerr', 'cpnerr_x', '{"scope": 1, "kind": "fixed", "value": 100}'),
  (4,  'items without skus/categories', 'cpnerr', 'cpnerr_x', '{"scope": "items", "kind": "fixed", "value": 100}'),
  (5,  'skus on store scope',           'cpnerr', 'cpnerr_x', '{"skus": ["A1"], "kind": "fixed", "value": 100}'),
  (6,  'categories on store scope',     'cpnerr', 'cpnerr_x', '{"scope": "store", "categories": ["shoes"], "kind": "fixed", "value": 100}'),
  (7,  'skus empty',                    'cpnerr', 'cpnerr_x', '{"scope": "items", "skus": [], "kind": "fixed", "value": 100}'),
  (8,  'skus not strings',              'cpnerr', 'cpnerr_x', '{"scope": "items", "skus": [1], "kind": "fixed", "value": 100}'),
  (9,  'kind missing',                  'cpnerr', 'cpnerr_x', '{"value": 100}'),
  (10, 'kind unknown',                  'cpnerr', 'cpnerr_x', '{"kind": "bogo", "value": 100}'),
  (11, 'value missing',                 'cpnerr', 'cpnerr_x', '{"kind": "fixed"}'),
  (12, 'value a string',                'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": "100"}'),
  (13, 'fixed value 0',                 'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 0}'),
  (14, 'fixed value negative',          'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": -100}'),
  (15, 'fixed value fractional',        'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 10.5}'),
  (16, 'percent 0',                     'cpnerr', 'cpnerr_x', '{"kind": "percent", "value": 0}'),
  (17, 'percent 101',                   'cpnerr', 'cpnerr_x', '{"kind": "percent", "value": 101}'),
  (18, 'percent negative',              'cpnerr', 'cpnerr_x', '{"kind": "percent", "value": -5}'),
  (19, 'max_discount on fixed',         'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "max_discount": 50}'),
  (20, 'max_discount 0',                'cpnerr', 'cpnerr_x', '{"kind": "percent", "value": 10, "max_discount": 0}'),
  (21, 'min_spend negative',            'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "min_spend": -1}'),
  (22, 'min_spend fractional',          'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "min_spend": 1.5}'),
  (23, 'valid_until before valid_from', 'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "valid_from": "2026-05-01", "valid_until": "2026-04-01"}'),
  (24, 'valid_until = valid_from',      'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "valid_from": "2026-05-01", "valid_until": "2026-05-01"}'),
  (25, 'valid_from not a timestamp',    'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "valid_from": "2026-13-01"}'),
  (26, 'valid_until a number',          'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "valid_until": 20260501}'),
  (27, 'valid_days 0',                  'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "valid_days": 0}'),
  (28, 'total_quantity 0',              'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "total_quantity": 0}'),
  (29, 'per_member_limit "2"',          'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "per_member_limit": "2"}'),
  (30, 'audience not an object',        'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": ["vip"]}'),
  (31, 'audience unknown key',          'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": {"age": 30}}'),
  (32, 'audience.members_only "yes"',   'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": {"members_only": "yes"}}'),
  (33, 'audience.new_member_days 0',    'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": {"new_member_days": 0}}'),
  (34, 'audience.new_member_days "7"',  'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": {"new_member_days": "7"}}'),
  (35, 'audience.tiers a string',       'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": {"tiers": "gold"}}'),
  (36, 'audience.tags empty',           'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "audience": {"tags": []}}'),
  (37, 'share without friend_coupon',   'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "share": {"required_friends": 2}}'),
  (38, 'share: unknown friend template', 'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "share": {"required_friends": 2, "friend_coupon": "cpnerr_nope"}}'),
  (39, 'share: another programme''s',   'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "share": {"required_friends": 2, "friend_coupon": "cpnerr_gift"}}'),
  (40, 'share: unknown key',            'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "share": {"required_friends": 2, "friend_coupon": "cpnerr_ok", "bonus": 1}}'),
  (41, 'share: required_friends missing', 'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "share": {"friend_coupon": "cpnerr_ok"}}'),
  (42, 'share not an object',           'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "share": true}'),
  (43, 'stacking unknown',              'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "stacking": "always"}'),
  (44, 'hidden not boolean',            'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "hidden": "yes"}'),
  (45, 'counts_toward_lowest_price 1',  'cpnerr', 'cpnerr_x', '{"kind": "fixed", "value": 100, "counts_toward_lowest_price": 1}'),
  (46, 'spec not an object',            'cpnerr', 'cpnerr_x', '[]'),
  (47, 'program NULL',                  NULL,     'cpnerr_x', '{"kind": "fixed", "value": 100}'),
  (48, 'code NULL',                     'cpnerr', NULL,       '{"kind": "fixed", "value": 100}'),
  (49, 'spec NULL',                     'cpnerr', 'cpnerr_x', NULL),
  (50, 'unknown programme',             'cpnerr_nope', 'cpnerr_x', '{"kind": "fixed", "value": 100}'),
  (51, 'code empty',                    'cpnerr', '',         '{"kind": "fixed", "value": 100}'),
  (52, 'code with a space',             'cpnerr', 'bad code', '{"kind": "fixed", "value": 100}'),
  (53, 'total_quantity below claimed',  'cpnerr', 'cpnerr_qty', '{"kind": "fixed", "value": 100, "total_quantity": 1}')
) t(n, test, program, code, spec) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- the limits themselves are fine: percent 100, total_quantity at what is claimed
SELECT loyalty.define_coupon('cpnerr', 'cpnerr_full', '{"kind": "percent", "value": 100}') > 0 AS percent_100,
       loyalty.define_coupon('cpnerr', 'cpnerr_qty', '{"kind": "fixed", "value": 100, "total_quantity": 2}') > 0 AS qty_2;
SELECT claimed, total_quantity FROM loyalty.coupon_template WHERE code = 'cpnerr_qty';
SELECT pg_temp.fingerprint() AS fp \gset

-- Malformed carts ------------------------------------------------------------------------
CREATE TEMP TABLE cpnerr_carts (n int, test text, cart text);
INSERT INTO cpnerr_carts VALUES
  (1,  'a bare array',               '[{"price": 100}]'),
  (2,  'a string',                   '"cart"'),
  (3,  'lines missing',              '{}'),
  (4,  'lines not an array',         '{"lines": {"price": 100}}'),
  (5,  'a line not an object',       '{"lines": [1]}'),
  (6,  'price missing',              '{"lines": [{"sku": "A1"}]}'),
  (7,  'price negative',             '{"lines": [{"price": -1}]}'),
  (8,  'price a string',             '{"lines": [{"price": "100"}]}'),
  (9,  'price fractional',           '{"lines": [{"price": 1.5}]}'),
  (10, 'qty 0',                      '{"lines": [{"price": 100, "qty": 0}]}'),
  (11, 'qty negative',               '{"lines": [{"price": 100, "qty": -2}]}'),
  (12, 'the second line bad',        '{"lines": [{"price": 100}, {"price": 100, "qty": 0}]}');
SELECT n, test,
       pg_temp.try(format($q$SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), %L, '2026-03-01')$q$, cart)) AS validate_coupon
FROM cpnerr_carts ORDER BY n;
SELECT n, test,
       pg_temp.try(format($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), 'cpnerr-o1', %L, '2026-03-01')$q$, cart)) AS redeem_coupon
FROM cpnerr_carts ORDER BY n;
SELECT n, test,
       pg_temp.try(format($q$SELECT * FROM loyalty.best_coupons(pg_temp.m('alice'), %L, '2026-03-01')$q$, cart)) AS best_coupons
FROM cpnerr_carts ORDER BY n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- NULL arguments, unknown members and templates --------------------------------------------
\set cart '{"lines": [{"price": 1000}]}'
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  'validate: code NULL',        $q$SELECT * FROM loyalty.validate_coupon(NULL, pg_temp.m('alice'), '{"lines": []}', '2026-03-01')$q$),
  (2,  'validate: member NULL',      $q$SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_ok'), NULL, '{"lines": []}', '2026-03-01')$q$),
  (3,  'validate: cart NULL',        $q$SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), NULL, '2026-03-01')$q$),
  (4,  'validate: at NULL',          $q$SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), '{"lines": []}', NULL)$q$),
  (5,  'validate: unknown member',   $q$SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_ok'), -1, '{"lines": []}', '2026-03-01')$q$),
  (6,  'redeem: code NULL',          $q$SELECT loyalty.redeem_coupon(NULL, pg_temp.m('alice'), 'cpnerr-o1', '{"lines": []}', '2026-03-01')$q$),
  (7,  'redeem: member NULL',        $q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), NULL, 'cpnerr-o1', '{"lines": []}', '2026-03-01')$q$),
  (8,  'redeem: order_ref NULL',     $q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), NULL, '{"lines": []}', '2026-03-01')$q$),
  (9,  'redeem: order_ref empty',    $q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), '', '{"lines": []}', '2026-03-01')$q$),
  (10, 'redeem: cart NULL',          $q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), 'cpnerr-o1', NULL, '2026-03-01')$q$),
  (11, 'redeem: at NULL',            $q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), 'cpnerr-o1', '{"lines": []}', NULL)$q$),
  (12, 'redeem: unknown member',     $q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), -1, 'cpnerr-o1', '{"lines": []}', '2026-03-01')$q$),
  (13, 'best: member NULL',          $q$SELECT * FROM loyalty.best_coupons(NULL, '{"lines": []}', '2026-03-01')$q$),
  (14, 'best: cart NULL',            $q$SELECT * FROM loyalty.best_coupons(pg_temp.m('alice'), NULL, '2026-03-01')$q$),
  (15, 'best: at NULL',              $q$SELECT * FROM loyalty.best_coupons(pg_temp.m('alice'), '{"lines": []}', NULL)$q$),
  (16, 'best: unknown member',       $q$SELECT * FROM loyalty.best_coupons(-1, '{"lines": []}', '2026-03-01')$q$),
  (17, 'claim: member NULL',         $q$SELECT loyalty.claim_coupon(NULL, 'cpnerr_ok', '2026-03-01')$q$),
  (18, 'claim: template NULL',       $q$SELECT loyalty.claim_coupon(pg_temp.m('alice'), NULL, '2026-03-01')$q$),
  (19, 'claim: at NULL',             $q$SELECT loyalty.claim_coupon(pg_temp.m('alice'), 'cpnerr_ok', NULL)$q$),
  (20, 'claim: unknown member',      $q$SELECT loyalty.claim_coupon(-1, 'cpnerr_ok', '2026-03-01')$q$),
  (21, 'claim: unknown template',    $q$SELECT loyalty.claim_coupon(pg_temp.m('alice'), 'cpnerr_nope', '2026-03-01')$q$),
  (22, 'claim: other programme''s',  $q$SELECT loyalty.claim_coupon(pg_temp.m('alice'), 'cpnerr_gift', '2026-03-01')$q$),
  (23, 'claim_code: member NULL',    $q$SELECT loyalty.claim_code(NULL, pg_temp.c('i_ok'), '2026-03-01')$q$),
  (24, 'claim_code: code NULL',      $q$SELECT loyalty.claim_code(pg_temp.m('alice'), NULL, '2026-03-01')$q$),
  (25, 'claim_code: unknown member', $q$SELECT loyalty.claim_code(-1, pg_temp.c('i_ok'), '2026-03-01')$q$),
  (26, 'release: code NULL',         $q$SELECT loyalty.release_coupon(NULL, 'cpnerr-o1', '2026-03-01')$q$),
  (27, 'release: order_ref NULL',    $q$SELECT loyalty.release_coupon(pg_temp.c('a_ok'), NULL, '2026-03-01')$q$),
  (28, 'release: unknown code',      $q$SELECT loyalty.release_coupon('0000-0000-0000', 'cpnerr-o1', '2026-03-01')$q$),
  (29, 'void: code NULL',            $q$SELECT loyalty.void_coupon(NULL, 'why', '2026-03-01')$q$),
  (30, 'void: reason NULL',          $q$SELECT loyalty.void_coupon(pg_temp.c('a_ok'), NULL, '2026-03-01')$q$),
  (31, 'void: unknown code',         $q$SELECT loyalty.void_coupon('0000-0000-0000', 'why', '2026-03-01')$q$),
  (32, 'member_coupons: NULL',       $q$SELECT * FROM loyalty.member_coupons(NULL, '2026-03-01')$q$),
  (33, 'member_coupons: unknown',    $q$SELECT * FROM loyalty.member_coupons(-1, '2026-03-01')$q$),
  (34, 'start_share: member NULL',   $q$SELECT loyalty.start_share(NULL, 'cpnerr_ok', '2026-03-01')$q$),
  (35, 'start_share: no share terms', $q$SELECT loyalty.start_share(pg_temp.m('alice'), 'cpnerr_ok', '2026-03-01')$q$),
  (36, 'start_share: unknown template', $q$SELECT loyalty.start_share(pg_temp.m('alice'), 'cpnerr_nope', '2026-03-01')$q$),
  (37, 'join_share: token NULL',     $q$SELECT loyalty.join_share(NULL, pg_temp.m('bob'), '2026-03-01')$q$),
  (38, 'join_share: friend NULL',    $q$SELECT loyalty.join_share('nosuchtoken', NULL, '2026-03-01')$q$),
  (39, 'join_share: unknown token',  $q$SELECT loyalty.join_share('nosuchtoken', pg_temp.m('bob'), '2026-03-01')$q$),
  (40, 'share_status: NULL',         $q$SELECT * FROM loyalty.share_status(NULL)$q$),
  (41, 'share_status: unknown',      $q$SELECT * FROM loyalty.share_status('nosuchtoken')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- A code of another programme: unknown_code everywhere -----------------------------------------
SELECT * FROM loyalty.validate_coupon(pg_temp.c('o_issued'), pg_temp.m('alice'), :'cart', '2026-03-01');
SELECT * FROM loyalty.validate_coupon(pg_temp.c('c_gift'), pg_temp.m('alice'), :'cart', '2026-03-01');
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'claim_code of an issued code', $q$SELECT loyalty.claim_code(pg_temp.m('alice'), pg_temp.c('o_issued'), '2026-03-01')$q$),
  (2, 'claim_code of a claimed one',  $q$SELECT loyalty.claim_code(pg_temp.m('alice'), pg_temp.c('c_gift'), '2026-03-01')$q$),
  (3, 'redeem the issued code',       $q$SELECT loyalty.redeem_coupon(pg_temp.c('o_issued'), pg_temp.m('alice'), 'cpnerr-o2', '{"lines": [{"price": 1000}]}', '2026-03-01')$q$),
  (4, 'redeem carol''s coupon',       $q$SELECT loyalty.redeem_coupon(pg_temp.c('c_gift'), pg_temp.m('alice'), 'cpnerr-o2', '{"lines": [{"price": 1000}]}', '2026-03-01')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- issue_codes ----------------------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'n 0',                 $q$SELECT loyalty.issue_codes('cpnerr', 'cpnerr_ok', 0)$q$),
  (2, 'n negative',          $q$SELECT loyalty.issue_codes('cpnerr', 'cpnerr_ok', -3)$q$),
  (3, 'n NULL',              $q$SELECT loyalty.issue_codes('cpnerr', 'cpnerr_ok', NULL)$q$),
  (4, 'template NULL',       $q$SELECT loyalty.issue_codes('cpnerr', NULL, 1)$q$),
  (5, 'program NULL',        $q$SELECT loyalty.issue_codes(NULL, 'cpnerr_ok', 1)$q$),
  (6, 'unknown template',    $q$SELECT loyalty.issue_codes('cpnerr', 'cpnerr_nope', 1)$q$),
  (7, 'another programme''s', $q$SELECT loyalty.issue_codes('cpnerr', 'cpnerr_gift', 1)$q$),
  (8, 'unknown programme',   $q$SELECT loyalty.issue_codes('cpnerr_nope', 'cpnerr_ok', 1)$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- A replayed redemption still checks its cart ------------------------------------------------
SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), 'cpnerr-o3', :'cart', '2026-03-01') AS discount;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), 'cpnerr-o3', '{"lines": [{"price": -5}]}', '2026-03-01')$q$) AS replay_malformed;
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_ok'), pg_temp.m('alice'), 'cpnerr-o3', '{}', '2026-03-01')$q$) AS replay_no_lines;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- Privileges ---------------------------------------------------------------------------------
CREATE ROLE cpnerr_app IN ROLE loyalty_app;
-- (the role cannot read this session's temporary table: codes and ids go through psql variables)
SELECT pg_temp.c('i_ok') AS i_ok, pg_temp.c('b_qty') AS b_qty, pg_temp.m('bob') AS bob \gset
SET ROLE cpnerr_app;
-- the application may validate...
SELECT * FROM loyalty.validate_coupon(:'i_ok', :bob, :'cart', '2026-03-01');
RESET ROLE;
SELECT pg_temp.fingerprint() AS fp \gset
SET ROLE cpnerr_app;
-- ...but not define, issue, void, run the job or write the tables
SELECT t.n, t.test, pg_temp.try_raw(f.sql) AS result FROM (VALUES
  (1,  'define_coupon',              $q$SELECT loyalty.define_coupon('cpnerr', 'cpnerr_app', '{"kind": "fixed", "value": 100}')$q$),
  (2,  'issue_codes',                $q$SELECT loyalty.issue_codes('cpnerr', 'cpnerr_ok', 1)$q$),
  (3,  'void_coupon',                $q$SELECT loyalty.void_coupon(%L, 'app', '2026-03-01')$q$),
  (4,  'expire_coupons',             $q$CALL loyalty.expire_coupons('2026-03-01', 10)$q$),
  (5,  'insert a coupon',            $q$INSERT INTO loyalty.coupon (code, template_id, program_id, member_id, state, issued_at)
                                        SELECT '0000-0000-0000', template_id, program_id, NULL, 'issued', now()
                                        FROM loyalty.coupon_template LIMIT 1$q$),
  (6,  'update coupons',             $q$UPDATE loyalty.coupon SET state = 'available'$q$),
  (7,  'raise a total_quantity',     $q$UPDATE loyalty.coupon_template SET total_quantity = 1000000$q$),
  (8,  'delete shares',              $q$DELETE FROM loyalty.coupon_share$q$),
  (9,  'insert a share friend',      $q$INSERT INTO loyalty.coupon_share_friend VALUES ('t', 1, '0000-0000-0000', now())$q$),
  (10, 'read the coupon table',      $q$SELECT count(*) FROM loyalty.coupon$q$),
  (11, 'call an internal function',  $q$SELECT loyalty._void_coupon(0, %L, 'app', now())$q$)
) t(n, test, sql0), LATERAL (SELECT format(t.sql0, :'b_qty') AS sql) f ORDER BY t.n;
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- expire_coupons: bad arguments ---------------------------------------------------------------
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'batch_size 0',        $q$CALL loyalty.expire_coupons('2026-03-01', 0)$q$),
  (2, 'batch_size negative', $q$CALL loyalty.expire_coupons('2026-03-01', -1)$q$),
  (3, 'batch_size NULL',     $q$CALL loyalty.expire_coupons('2026-03-01', NULL)$q$),
  (4, 'as_of NULL',          $q$CALL loyalty.expire_coupons(NULL, 10)$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- Bounds that would otherwise break every later claim, and a temporary
-- order table (it would outlive its session in tracked_table).
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'valid_days 100000',          $q$SELECT loyalty.define_coupon('cpnerr', 'cpnerr_b1', '{"kind": "fixed", "value": 100, "valid_days": 100000}')$q$),
  (2, 'per_member_limit 3e9',       $q$SELECT loyalty.define_coupon('cpnerr', 'cpnerr_b2', '{"kind": "fixed", "value": 100, "per_member_limit": 3000000000}')$q$),
  (3, 'new_member_days 100000',     $q$SELECT loyalty.define_coupon('cpnerr', 'cpnerr_b3', '{"kind": "fixed", "value": 100, "audience": {"new_member_days": 100000}}')$q$)
) t(n, test, sql) ORDER BY t.n;
CREATE TEMPORARY TABLE cpnerr_temp_orders (id int PRIMARY KEY, customer text, amount bigint, status text);
SELECT pg_temp.try($q$SELECT loyalty.track_orders('cpnerr_temp_orders', 'cpnerr', 'customer', 'amount', 'status')$q$) AS temp_table;
DROP TABLE cpnerr_temp_orders;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

SELECT check_name, ok FROM loyalty.verify('cpnerr') WHERE check_name LIKE 'coupons%';
DROP ROLE cpnerr_app;
