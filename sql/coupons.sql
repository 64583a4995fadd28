-- coupons: campaigns, claims, issued codes, validation, redemption, release,
-- void, member_coupons, share-to-unlock, best_coupons, expire_coupons,
-- coupon_performance and the order trigger's coupon_column (SPEC sections
-- 6, 8, 9, 10).  Programmes: cpn_shop, cpn_other.  Table: cpn_orders.
-- Codes and member ids are random or generated: codes are kept in the
-- temporary table cpn_c under a name and only names are printed.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY sqlstate

-- The codes of this suite, by name.
CREATE TEMP TABLE cpn_c (name text PRIMARY KEY, code loyalty.coupon_code UNIQUE);
CREATE FUNCTION pg_temp.c(n text) RETURNS loyalty.coupon_code LANGUAGE sql AS $$
    SELECT code FROM cpn_c WHERE name = n
$$;
CREATE FUNCTION pg_temp.n(c loyalty.coupon_code) RETURNS text LANGUAGE sql AS $$
    SELECT COALESCE((SELECT name FROM cpn_c WHERE code OPERATOR(loyalty.=) c), CASE WHEN c IS NOT NULL THEN '<unnamed>' END)
$$;
-- Members of this suite by external id.
CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member('cpn_shop', ext)
$$;

-- Messages name member ids and codes: show <external id> and <code name>.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT m.member_id, m.external_id FROM loyalty.member m
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'cpn\_%' LOOP
        msg := regexp_replace(msg, '(member )' || r.member_id || '(?![0-9])', '\1<' || r.external_id || '>', 'g');
    END LOOP;
    FOR r IN SELECT name, code::text AS code FROM cpn_c LOOP
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

-- Claim a coupon of a template for a member and keep its code under a name.
CREATE FUNCTION pg_temp.claim(n text, ext text, tmpl text, at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cpn_c VALUES (n, loyalty.claim_coupon(pg_temp.m(ext), tmpl, at));
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM);
END
$$;

-- A coupon's row, by name.
CREATE FUNCTION pg_temp.cp(n text)
RETURNS TABLE(name text, template text, owner text, state text, valid_from timestamptz, valid_until timestamptz,
              order_ref text, used_at timestamptz, discount bigint, order_value bigint, closed_at timestamptz)
LANGUAGE sql AS $$
    SELECT n, t.code, m.external_id, c.state, c.valid_from, c.valid_until, c.order_ref, c.used_at, c.discount,
           c.order_value, c.closed_at
    FROM loyalty.coupon c JOIN loyalty.coupon_template t USING (template_id)
    LEFT JOIN loyalty.member m ON m.member_id = c.member_id
    WHERE c.code OPERATOR(loyalty.=) pg_temp.c(n)
$$;

-- A template's claimed counter.
CREATE FUNCTION pg_temp.claimed(tmpl text) RETURNS bigint LANGUAGE sql AS $$
    SELECT t.claimed FROM loyalty.coupon_template t JOIN loyalty.program p USING (program_id)
    WHERE p.code = 'cpn_shop' AND t.code = tmpl
$$;

SELECT loyalty.create_program('cpn_shop', 'Coupons: a shoe shop', 'CNY') > 0 AS created,
       loyalty.create_program('cpn_other', 'Coupons: another brand', 'CNY') > 0 AS created_other;
SELECT loyalty.define_tier('cpn_shop', 'cpn_gold', 1, 1000) > 0 AS gold_tier;
-- alice and dave joined long ago; bob is new (2026-04-28); carol is tagged
-- vip; erin is gold (1500 points); gina collects coupons for best_coupons;
-- hank orders; ivan has no coupon.
SELECT loyalty.enroll('cpn_shop', 'alice', '2025-01-01') > 0 AS alice,
       loyalty.enroll('cpn_shop', 'bob', '2026-04-28') > 0 AS bob,
       loyalty.enroll('cpn_shop', 'carol', '2025-06-01') > 0 AS carol,
       loyalty.enroll('cpn_shop', 'dave', '2025-06-01') > 0 AS dave,
       loyalty.enroll('cpn_shop', 'erin', '2025-06-01') > 0 AS erin,
       loyalty.enroll('cpn_shop', 'gina', '2025-06-01') > 0 AS gina,
       loyalty.enroll('cpn_shop', 'hank', '2025-06-01') > 0 AS hank,
       loyalty.enroll('cpn_shop', 'ivan', '2025-06-01') > 0 AS ivan,
       loyalty.enroll('cpn_other', 'olga', '2025-06-01') > 0 AS olga;
SELECT loyalty.tag_member(pg_temp.m('carol'), 'vip');
SELECT loyalty.earn(pg_temp.m('erin'), 1500, 'shop', 'cpn-e1', at => '2026-01-10') > 0 AS erin_earned;
SELECT loyalty.tier(pg_temp.m('erin'), '2026-05-01') AS erin_tier, loyalty.tier(pg_temp.m('alice'), '2026-05-01') AS alice_tier;

-- The campaigns --------------------------------------------------------------------------
SELECT t.code, loyalty.define_coupon('cpn_shop', t.code, t.spec::jsonb) > 0 AS defined FROM (VALUES
  (1,  'cpn_welcome',   '{"kind": "fixed", "value": 1000, "audience": {"members_only": true, "new_member_days": 7},
                          "description": "10.00 off for new members"}'),
  (2,  'cpn_save20',    '{"kind": "fixed", "value": 2000, "min_spend": 20000, "per_member_limit": 2}'),
  (3,  'cpn_pct10',     '{"kind": "percent", "value": 10, "max_discount": 1500}'),
  (4,  'cpn_pct15',     '{"kind": "percent", "value": 15}'),
  (5,  'cpn_shoes20',   '{"scope": "items", "categories": ["shoes"], "kind": "percent", "value": 20, "min_spend": 10000}'),
  (6,  'cpn_shoes50',   '{"scope": "items", "categories": ["shoes"], "kind": "fixed", "value": 5000}'),
  (7,  'cpn_shoestack', '{"scope": "items", "categories": ["shoes"], "kind": "fixed", "value": 1000, "stacking": "stackable"}'),
  (8,  'cpn_socks',     '{"scope": "items", "skus": ["S1"], "kind": "fixed", "value": 500}'),
  (9,  'cpn_stack',     '{"kind": "fixed", "value": 200, "stacking": "stackable"}'),
  (10, 'cpn_excl',      '{"kind": "percent", "value": 30, "max_discount": 5000, "stacking": "exclusive"}'),
  (11, 'cpn_flash',     '{"kind": "fixed", "value": 300, "total_quantity": 2}'),
  (12, 'cpn_vip',       '{"kind": "fixed", "value": 800, "audience": {"tags": ["vip"]}, "valid_until": "2026-12-31"}'),
  (13, 'cpn_goldonly',  '{"kind": "fixed", "value": 1200, "audience": {"tiers": ["cpn_gold"]}}'),
  (14, 'cpn_spring',    '{"kind": "fixed", "value": 500, "min_spend": 10000,
                          "valid_from": "2026-03-01", "valid_until": "2026-04-01"}'),
  (15, 'cpn_secret',    '{"kind": "fixed", "value": 700, "hidden": true}'),
  (16, 'cpn_week',      '{"kind": "fixed", "value": 400, "valid_days": 7}'),
  (17, 'cpn_friend',    '{"kind": "fixed", "value": 500}'),
  (18, 'cpn_share',     '{"kind": "fixed", "value": 3000, "share": {"required_friends": 2, "friend_coupon": "cpn_friend"},
                          "valid_until": "2026-09-01"}')
) t(n, code, spec) ORDER BY t.n;
SELECT loyalty.define_coupon('cpn_other', 'cpn_o_gift', '{"kind": "fixed", "value": 100}') > 0 AS other_defined;
-- what was stored: typed columns and defaults
SELECT t.code, scope, skus, categories, kind, value, max_discount, min_spend, valid_from, valid_until, valid_days,
       total_quantity, per_member_limit, members_only, new_member_days, audience_tiers, audience_tags, hidden,
       share_required, share_friend_template, stacking, counts_toward_lowest_price, claimed
FROM loyalty.coupon_template t JOIN loyalty.program p USING (program_id)
WHERE p.code = 'cpn_shop' ORDER BY t.code;
SELECT action, object FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'cpn_shop' AND action = 'define_coupon' ORDER BY a.object LIMIT 3;

-- Claims and their refusals (LY002 and the reason word) ----------------------------------
SELECT t.n, t.test, pg_temp.claim(t.name, t.ext, t.tmpl, t.at::timestamptz) AS result FROM (VALUES
  (1,  'welcome: bob is new (joined 3 days ago)',   'b_welcome',  'bob',   'cpn_welcome',  '2026-05-01'),
  (2,  'welcome again: only once',                 'b_welcome2', 'bob',   'cpn_welcome',  '2026-05-01'),
  (3,  'welcome: alice joined long ago',            'a_welcome',  'alice', 'cpn_welcome',  '2026-05-01'),
  (4,  'save20 #1',                                 'a_save20',   'alice', 'cpn_save20',   '2026-05-01'),
  (5,  'save20 #2',                                 'a_save20b',  'alice', 'cpn_save20',   '2026-05-01'),
  (6,  'save20 #3: per_member_limit 2',             'a_save20c',  'alice', 'cpn_save20',   '2026-05-01'),
  (7,  'flash #1',                                  'a_flash',    'alice', 'cpn_flash',    '2026-05-01'),
  (8,  'flash #2',                                  'c_flash',    'carol', 'cpn_flash',    '2026-05-01'),
  (9,  'flash #3: total_quantity 2',                'd_flash',    'dave',  'cpn_flash',    '2026-05-01'),
  (10, 'vip: carol is tagged',                      'c_vip',      'carol', 'cpn_vip',      '2026-05-01'),
  (11, 'vip: alice is not',                         'a_vip',      'alice', 'cpn_vip',      '2026-05-01'),
  (12, 'gold: erin is gold',                        'e_gold',     'erin',  'cpn_goldonly', '2026-05-01'),
  (13, 'gold: alice has no tier',                   'a_gold',     'alice', 'cpn_goldonly', '2026-05-01'),
  (14, 'spring: before valid_from',                 'a_spring0',  'alice', 'cpn_spring',   '2026-02-28 23:59:59'),
  (15, 'spring: at valid_from',                     'a_spring',   'alice', 'cpn_spring',   '2026-03-01'),
  (16, 'spring: at valid_until (exclusive)',        'a_spring2',  'alice', 'cpn_spring',   '2026-04-01'),
  (17, 'secret: hidden',                            'a_secret',   'alice', 'cpn_secret',   '2026-05-01'),
  (18, 'share: only through start_share',           'a_share',    'alice', 'cpn_share',    '2026-05-01'),
  (19, 'week: valid 7 days after the claim',        'a_week',     'alice', 'cpn_week',     '2026-05-01 12:00'),
  (20, 'pct15 for hank (orders below)',             'h_pct15',    'hank',  'cpn_pct15',    '2026-05-01'),
  (21, 'unknown template',                          'a_nope',     'alice', 'cpn_nope',     '2026-05-01'),
  (22, 'a template of another programme',           'a_other',    'alice', 'cpn_o_gift',   '2026-05-01')
) t(n, test, name, ext, tmpl, at) ORDER BY t.n;
SELECT x.name, template, owner, state, valid_from, valid_until FROM cpn_c c, pg_temp.cp(c.name) x ORDER BY x.name;
SELECT t.code, t.claimed, (SELECT count(*) FROM loyalty.coupon c WHERE c.template_id = t.template_id) AS coupons
FROM loyalty.coupon_template t JOIN loyalty.program p USING (program_id)
WHERE p.code = 'cpn_shop' AND t.claimed > 0 ORDER BY t.code;
-- a refusal says its word in the detail too
\set VERBOSITY default
DO $$
BEGIN
    PERFORM loyalty.claim_coupon(loyalty.member('cpn_shop', 'dave'), 'cpn_flash', '2026-05-01');
EXCEPTION WHEN SQLSTATE 'LY002' THEN
    DECLARE d text; h text;
    BEGIN
        GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        RAISE NOTICE 'LY002 caught: detail "%", hint "%"', d, h;
    END;
END
$$;
\set VERBOSITY sqlstate

-- Issued codes: issue_codes, claim_code, and a code presented at checkout -------------------
INSERT INTO cpn_c SELECT 'i_secret' || row_number() OVER (), c FROM loyalty.issue_codes('cpn_shop', 'cpn_secret', 3) c;
INSERT INTO cpn_c SELECT 'i_spring', c FROM loyalty.issue_codes('cpn_shop', 'cpn_spring', 1) c;
INSERT INTO cpn_c SELECT 'i_vip', c FROM loyalty.issue_codes('cpn_shop', 'cpn_vip', 1) c;
INSERT INTO cpn_c SELECT 'i_welcome', c FROM loyalty.issue_codes('cpn_shop', 'cpn_welcome', 1) c;
INSERT INTO cpn_c SELECT 'o_gift', c FROM loyalty.issue_codes('cpn_other', 'cpn_o_gift', 1) c;
SELECT x.name, template, owner, state, valid_from, valid_until FROM cpn_c c, pg_temp.cp(c.name) x
WHERE x.name LIKE 'i\_%' ORDER BY x.name;
SELECT pg_temp.claimed('cpn_secret') AS secret_claimed_before;
SELECT t.n, t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'alice claims a hidden code',        $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'alice'), pg_temp.c('i_secret1'), '2026-05-01')$q$),
  (2, 'again, by alice',                   $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'alice'), pg_temp.c('i_secret1'), '2026-05-01')$q$),
  (3, 'by bob',                            $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'bob'), pg_temp.c('i_secret1'), '2026-05-01')$q$),
  (4, 'a code that does not exist',        $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'bob'), '0000-0000-0000', '2026-05-01')$q$),
  (5, 'a code of another programme',       $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'bob'), pg_temp.c('o_gift'), '2026-05-01')$q$),
  (6, 'spring code after its end',         $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'bob'), pg_temp.c('i_spring'), '2026-04-01')$q$),
  (7, 'spring code before its start',      $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'bob'), pg_temp.c('i_spring'), '2026-02-01')$q$),
  (8, 'vip code, alice not vip',           $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'alice'), pg_temp.c('i_vip'), '2026-05-01')$q$),
  (9, 'welcome code, bob has one already', $q$SELECT loyalty.claim_code(loyalty.member('cpn_shop', 'bob'), pg_temp.c('i_welcome'), '2026-05-01')$q$)
) t(n, test, sql) ORDER BY t.n;
SELECT x.name, template, owner, state, valid_until FROM cpn_c c, pg_temp.cp(c.name) x WHERE x.name LIKE 'i\_%' ORDER BY x.name;
SELECT pg_temp.claimed('cpn_secret') AS secret_claimed_after;
-- an issued code presented at checkout: validated for bob, then claimed and used in one step
SELECT * FROM loyalty.validate_coupon(pg_temp.c('i_secret2'), pg_temp.m('bob'), '{"lines": [{"sku": "T1", "price": 5000}]}', '2026-05-02');
SELECT loyalty.redeem_coupon(pg_temp.c('i_secret2'), pg_temp.m('bob'), 'cpn-web-1', '{"lines": [{"sku": "T1", "price": 5000}]}',
                             '2026-05-02') AS discount;
SELECT name, template, owner, state, order_ref, used_at, discount, order_value FROM pg_temp.cp('i_secret2');
SELECT pg_temp.claimed('cpn_secret') AS secret_claimed_after_checkout;
-- the vip code at checkout: not for alice, fine for carol
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('i_vip'), loyalty.member('cpn_shop', 'alice'), 'cpn-web-2',
                         '{"lines": [{"price": 5000}]}', '2026-05-02')$q$) AS alice_vip;
SELECT name, owner, state FROM pg_temp.cp('i_vip');

-- validate_coupon: every reason, in the documented order ------------------------------------
-- Set up: a void coupon (alice's second save20), alice's locked share coupon,
-- a used coupon (alice's week coupon), an expired-by-date coupon.
SELECT loyalty.void_coupon(pg_temp.c('a_save20b'), 'issued by mistake', '2026-05-01');
SELECT loyalty.start_share(pg_temp.m('alice'), 'cpn_share', '2026-05-01') AS token \gset
INSERT INTO cpn_c SELECT 'a_share', code FROM loyalty.share_status(:'token');
SELECT template, state, valid_until FROM loyalty.member_coupons(pg_temp.m('alice'), '2026-05-01') WHERE template = 'cpn_share';
SELECT loyalty.redeem_coupon(pg_temp.c('a_week'), pg_temp.m('alice'), 'cpn-web-3', '{"lines": [{"price": 5000}]}', '2026-05-02') AS week_used;
\set cart '{"lines": [{"sku": "SH1", "category": "shoes", "price": 8000}, {"sku": "S1", "category": "socks", "price": 1000, "qty": 2}]}'
SELECT t.n, t.case_, v.* FROM (VALUES
  (1,  'unknown_code: no such code',                      '0000-0000-0000'::loyalty.coupon_code, 'alice', '2026-05-02'::timestamptz),
  (2,  'unknown_code: a code of another programme',       pg_temp.c('o_gift'),    'alice', '2026-05-02'),
  (3,  'void (before not_owner)',                         pg_temp.c('a_save20b'), 'bob',   '2026-05-02'),
  (4,  'not_owner (before locked)',                       pg_temp.c('a_share'),   'bob',   '2026-05-02'),
  (5,  'locked (before expired)',                         pg_temp.c('a_share'),   'alice', '2026-10-01'),
  (6,  'already_used (before expired)',                   pg_temp.c('a_week'),    'alice', '2026-06-01'),
  (7,  'not_started: an issued code, the template window', pg_temp.c('i_spring'),  'alice', '2026-02-01'),
  (8,  'expired (before not_eligible)',                   pg_temp.c('i_vip'),     'alice', '2026-12-31'),
  (9,  'expired: a claimed coupon at its valid_until',    pg_temp.c('a_spring'),  'alice', '2026-04-01'),
  (10, 'not_eligible: vip code, alice is not tagged',     pg_temp.c('i_vip'),     'alice', '2026-05-02'),
  (11, 'not_eligible: new-member code, alice is old',     pg_temp.c('i_welcome'), 'alice', '2026-05-02'),
  (12, 'not_eligible: new-member code, bob has one',      pg_temp.c('i_welcome'), 'bob',   '2026-05-02'),
  (13, 'ok: the vip code for carol',                      pg_temp.c('i_vip'),     'carol', '2026-05-02'),
  (14, 'ok: spring in its window, cart 10000 = min_spend', pg_temp.c('a_spring'), 'alice', '2026-03-15'),
  (15, 'ok: the void one for alice is still void',        pg_temp.c('a_save20b'), 'alice', '2026-05-02')
) t(n, case_, code, ext, at), LATERAL loyalty.validate_coupon(t.code, pg_temp.m(t.ext), :'cart', t.at) v
ORDER BY t.n;
-- below_min_spend: one less than spring's min_spend; outside the window,
-- not_started and expired come first
SELECT at, v.* FROM unnest(ARRAY['2026-02-28 23:59:59', '2026-03-01', '2026-03-31 23:59:59', '2026-04-01']::timestamptz[]) at,
    loyalty.validate_coupon(pg_temp.c('a_spring'), pg_temp.m('alice'), '{"lines": [{"price": 9999}]}', at) v;
-- not_eligible before below_min_spend (and whatever the cart)
SELECT * FROM loyalty.validate_coupon(pg_temp.c('i_vip'), pg_temp.m('alice'), '{"lines": []}', '2026-05-02');
-- not_applicable before below_min_spend: an item coupon and no covered line
INSERT INTO cpn_c VALUES ('a_shoes20', loyalty.claim_coupon(pg_temp.m('alice'), 'cpn_shoes20', '2026-05-01')),
                         ('a_socks', loyalty.claim_coupon(pg_temp.m('alice'), 'cpn_socks', '2026-05-01')),
                         ('a_pct10', loyalty.claim_coupon(pg_temp.m('alice'), 'cpn_pct10', '2026-05-01')),
                         ('a_pct15', loyalty.claim_coupon(pg_temp.m('alice'), 'cpn_pct15', '2026-05-01'));

-- Discounts of one coupon ----------------------------------------------------------------
SELECT t.n, t.case_, v.* FROM (VALUES
  (1,  'fixed 2000, min_spend 20000: 19999',      'a_save20',  '{"lines": [{"price": 19999}]}'),
  (2,  'fixed 2000, min_spend 20000: 20000 is ok', 'a_save20',  '{"lines": [{"price": 10000, "qty": 2}]}'),
  (3,  'fixed 500 on S1 lines: 2 x 1000',         'a_socks',   :'cart'),
  (4,  'fixed 500 on S1 lines: only 300 covered', 'a_socks',   '{"lines": [{"sku": "S1", "price": 300}, {"sku": "T1", "price": 9000}]}'),
  (5,  'fixed 500: no S1 line',                   'a_socks',   '{"lines": [{"sku": "T1", "price": 9000}]}'),
  (6,  'shoes 20%, min 10000: shoes 8000 only',   'a_shoes20', :'cart'),
  (7,  'shoes 20%: shoes 10000 (covered) ok',     'a_shoes20', '{"lines": [{"category": "shoes", "price": 5000, "qty": 2}, {"category": "socks", "price": 1000}]}'),
  (8,  'shoes 20%: no shoes, min_spend unmet',    'a_shoes20', '{"lines": [{"category": "socks", "price": 99999}]}'),
  (9,  'shoes 20%: empty cart',                   'a_shoes20', '{"lines": []}'),
  (10, '10% max 1500: 14999 -> 1499.9 -> 1500',   'a_pct10',   '{"lines": [{"price": 14999}]}'),
  (11, '10% max 1500: 20000 -> 2000 capped',      'a_pct10',   '{"lines": [{"price": 20000}]}'),
  (12, '10% of 15 = 1.5 -> 2 (half up)',          'a_pct10',   '{"lines": [{"price": 15}]}'),
  (13, '10% of 14 = 1.4 -> 1',                    'a_pct10',   '{"lines": [{"price": 14}]}'),
  (14, '15% of 1010 = 151.5 -> 152',              'a_pct15',   '{"lines": [{"price": 1010}]}'),
  (15, '15% of 1 = 0.15 -> 0',                    'a_pct15',   '{"lines": [{"price": 1}]}'),
  (16, 'store 15% of the whole cart 10000',       'a_pct15',   :'cart'),
  (17, 'store coupon on an empty cart',           'a_pct15',   '{"lines": []}'),
  (18, 'a free line: price 0',                    'a_pct15',   '{"lines": [{"price": 0}]}')
) t(n, case_, name, cart), LATERAL loyalty.validate_coupon(pg_temp.c(t.name), pg_temp.m('alice'), t.cart::jsonb, '2026-05-02') v
ORDER BY t.n;

-- redeem_coupon: idempotent per order_ref --------------------------------------------------
SELECT loyalty.redeem_coupon(pg_temp.c('a_save20'), pg_temp.m('alice'), 'cpn-o-1',
                             '{"lines": [{"price": 25000}]}', '2026-05-03 10:00') AS discount;
SELECT loyalty.redeem_coupon(pg_temp.c('a_save20'), pg_temp.m('alice'), 'cpn-o-1',
                             '{"lines": [{"price": 25000}]}', '2026-05-03 10:05') AS same_order_again;
SELECT name, state, order_ref, used_at, discount, order_value FROM pg_temp.cp('a_save20');
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_save20'), loyalty.member('cpn_shop', 'alice'), 'cpn-o-2',
                         '{"lines": [{"price": 25000}]}', '2026-05-03 11:00')$q$) AS another_order;
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_save20'), loyalty.member('cpn_shop', 'bob'), 'cpn-o-1',
                         '{"lines": [{"price": 25000}]}', '2026-05-03 11:00')$q$) AS same_order_other_member;
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_pct10'), loyalty.member('cpn_shop', 'alice'), 'cpn-o-4',
                         '{"lines": [{"price": 25000}]}', '2026-05-04')$q$) AS pct10_ok;
SELECT pg_temp.try($q$SELECT loyalty.redeem_coupon(pg_temp.c('a_socks'), loyalty.member('cpn_shop', 'alice'), 'cpn-o-5',
                         '{"lines": [{"sku": "T1", "price": 25000}]}', '2026-06-01')$q$) AS socks_not_applicable;
SELECT name, state, order_ref FROM pg_temp.cp('a_socks');

-- release_coupon ---------------------------------------------------------------------------
SELECT loyalty.release_coupon(pg_temp.c('a_save20'), 'cpn-o-2', '2026-05-04') AS other_order;
SELECT loyalty.release_coupon(pg_temp.c('a_save20'), 'cpn-o-1', '2026-05-04') AS released;
SELECT name, state, order_ref, used_at, discount, order_value, closed_at FROM pg_temp.cp('a_save20');
SELECT loyalty.release_coupon(pg_temp.c('a_save20'), 'cpn-o-1', '2026-05-04') AS released_twice;
SELECT loyalty.redeem_coupon(pg_temp.c('a_save20'), pg_temp.m('alice'), 'cpn-o-2',
                             '{"lines": [{"price": 30000}]}', '2026-05-05') AS used_again;
SELECT name, state, order_ref, discount, order_value FROM pg_temp.cp('a_save20');
-- the week coupon (valid until 2026-05-08 12:00) released after its end: expired
SELECT name, state, valid_until FROM pg_temp.cp('a_week');
SELECT loyalty.release_coupon(pg_temp.c('a_week'), 'cpn-web-3', '2026-05-10') AS released_late;
SELECT name, state, order_ref, discount, closed_at FROM pg_temp.cp('a_week');
SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_week'), pg_temp.m('alice'), '{"lines": [{"price": 5000}]}', '2026-05-05');

-- void_coupon ------------------------------------------------------------------------------
SELECT name, state FROM pg_temp.cp('a_save20b');
SELECT loyalty.void_coupon(pg_temp.c('a_save20b'), 'again', '2026-05-02') AS voided_twice;
SELECT pg_temp.try($q$SELECT loyalty.void_coupon(pg_temp.c('a_save20'), 'fraud', '2026-05-06')$q$) AS void_used;
SELECT name, state FROM pg_temp.cp('a_save20');
SELECT (SELECT void_reason FROM loyalty.coupon WHERE code OPERATOR(loyalty.=) pg_temp.c('a_save20b')) AS void_reason,
       (SELECT closed_at FROM loyalty.coupon WHERE code OPERATOR(loyalty.=) pg_temp.c('a_save20b')) AS closed_at;
SELECT action, detail ->> 'reason' AS reason, detail ->> 'state_before' AS state_before
FROM loyalty.audit_log WHERE action = 'void_coupon' AND object = pg_temp.c('a_save20b')::text;

-- Share to unlock --------------------------------------------------------------------------
SELECT pg_temp.n(code) AS code, joined, required, unlocked FROM loyalty.share_status(:'token');
SELECT pg_temp.try(format('SELECT loyalty.join_share(%L, loyalty.member(''cpn_shop'', ''alice''), ''2026-05-02'')', :'token'))
    AS sharer_joins_own;
INSERT INTO cpn_c VALUES ('b_friend', loyalty.join_share(:'token', pg_temp.m('bob'), '2026-05-02'));
SELECT pg_temp.n(loyalty.join_share(:'token', pg_temp.m('bob'), '2026-05-02 01:00')) AS bob_joins_again;
SELECT pg_temp.n(code) AS code, joined, required, unlocked FROM loyalty.share_status(:'token');
SELECT name, state FROM pg_temp.cp('a_share');
INSERT INTO cpn_c VALUES ('c_friend', loyalty.join_share(:'token', pg_temp.m('carol'), '2026-05-03'));
SELECT pg_temp.n(code) AS code, joined, required, unlocked FROM loyalty.share_status(:'token');
SELECT x.name, template, owner, state, valid_until FROM cpn_c c, pg_temp.cp(c.name) x
WHERE x.name IN ('a_share', 'b_friend', 'c_friend') ORDER BY x.name;
SELECT * FROM loyalty.validate_coupon(pg_temp.c('a_share'), pg_temp.m('alice'), '{"lines": [{"price": 5000}]}', '2026-05-04');
-- a third friend after the unlock still gets a friend coupon
INSERT INTO cpn_c VALUES ('d_friend', loyalty.join_share(:'token', pg_temp.m('dave'), '2026-05-04'));
SELECT pg_temp.n(code) AS code, joined, required, unlocked FROM loyalty.share_status(:'token');
SELECT pg_temp.claimed('cpn_share') AS share_claimed, pg_temp.claimed('cpn_friend') AS friend_claimed;

-- member_coupons at instants ---------------------------------------------------------------
SELECT at, template, state, valid_until
FROM unnest(ARRAY['2026-05-20', '2026-09-01']::timestamptz[]) at, loyalty.member_coupons(pg_temp.m('alice'), at) mc
ORDER BY at, template, state, valid_until;
SELECT template, state, valid_until FROM loyalty.member_coupons(pg_temp.m('bob'), '2026-05-06') ORDER BY template, state;

-- best_coupons -----------------------------------------------------------------------------
-- gina holds: pct10 (store, 10% max 1500), save20 (store, 2000 from 20000),
-- shoes20 (shoes 20% from 10000), shoes50 (shoes 5000), shoestack (shoes
-- 1000, stackable), socks (S1 500), stack (store 200, stackable), excl
-- (30% max 5000, exclusive).
SELECT t.tmpl, pg_temp.claim('g_' || substr(t.tmpl, 5), 'gina', t.tmpl, '2026-05-01') AS claimed
FROM unnest(ARRAY['cpn_pct10', 'cpn_save20', 'cpn_shoes20', 'cpn_shoes50', 'cpn_shoestack', 'cpn_socks',
                  'cpn_stack', 'cpn_excl']) t(tmpl) ORDER BY 1;
-- Cart 1: shoes 30000, socks S1 2 x 1000, shirt 8000 = 40000.
--   items first: shoes20 6000 on the shoes line (not shoes50: one default
--   item coupon per line), shoestack (stackable) 1000 on what remains of it
--   (24000), socks 500; then one default store coupon on what remains
--   (40000 - 7500 = 32500): save20 2000 beats pct10 (3250 capped at 1500);
--   stack 200 besides.  9700 in all; excl alone would be 5000.
\set cart1 '{"lines": [{"sku": "SH1", "category": "shoes", "price": 30000}, {"sku": "S1", "category": "socks", "price": 1000, "qty": 2}, {"sku": "T1", "category": "shirts", "price": 8000}]}'
SELECT pg_temp.n(code) AS coupon, discount FROM loyalty.best_coupons(pg_temp.m('gina'), :'cart1', '2026-05-02') ORDER BY 1;
SELECT sum(discount) AS total FROM loyalty.best_coupons(pg_temp.m('gina'), :'cart1', '2026-05-02');
-- each alone, for comparison
SELECT c.name, v.* FROM cpn_c c, LATERAL loyalty.validate_coupon(c.code, pg_temp.m('gina'), :'cart1', '2026-05-02') v
WHERE c.name LIKE 'g\_%' ORDER BY c.name;
-- Cart 2: one shirt of 20000: save20 2000 (min_spend met exactly) + stack 200
-- = 2200, pct10 1500 instead of save20 is worse; excl alone 5000 wins.
SELECT pg_temp.n(code) AS coupon, discount FROM loyalty.best_coupons(pg_temp.m('gina'),
    '{"lines": [{"sku": "T1", "category": "shirts", "price": 20000}]}', '2026-05-02') ORDER BY 1;
-- Cart 3: shoes 12000, shirt 3000 = 15000 (save20 below its min_spend):
--   shoes50 5000 and shoestack 1000 on the shoes line (shoes20 would give
--   2400), then pct10 on what remains, 15000 - 6000 = 9000: 900 (not 1500,
--   what it gives alone), then stack 200.  7100; excl alone 4500.
SELECT pg_temp.n(code) AS coupon, discount FROM loyalty.best_coupons(pg_temp.m('gina'),
    '{"lines": [{"sku": "SH2", "category": "shoes", "price": 12000}, {"sku": "T1", "category": "shirts", "price": 3000}]}',
    '2026-05-02') ORDER BY 1;
-- Cart 4: shoes 16000, shirt 4000 = 20000: save20's min_spend is measured on
-- list prices (20000), so it applies after the item coupons took 6000.
--   shoes50 5000 + shoestack 1000, save20 2000 (pct10 on 14000: 1400), stack 200 = 8200.
SELECT pg_temp.n(code) AS coupon, discount FROM loyalty.best_coupons(pg_temp.m('gina'),
    '{"lines": [{"sku": "SH2", "category": "shoes", "price": 16000}, {"sku": "T1", "category": "shirts", "price": 4000}]}',
    '2026-05-02') ORDER BY 1;
-- Cart 5: a small cart, 1000 of socks S1: socks 500, then pct10 on 500 = 50, stack 200: 750
-- (excl: 300).
SELECT pg_temp.n(code) AS coupon, discount FROM loyalty.best_coupons(pg_temp.m('gina'),
    '{"lines": [{"sku": "S1", "category": "socks", "price": 1000}]}', '2026-05-02') ORDER BY 1;
-- nothing to apply: an empty cart; a member without coupons
SELECT count(*) AS empty_cart FROM loyalty.best_coupons(pg_temp.m('gina'), '{"lines": []}', '2026-05-02');
SELECT count(*) AS no_coupons FROM loyalty.best_coupons(pg_temp.m('ivan'), :'cart1', '2026-05-02');
-- used and void coupons are not offered: after gina uses excl, cart 2 falls back to save20 + stack
SELECT loyalty.redeem_coupon(pg_temp.c('g_excl'), pg_temp.m('gina'), 'cpn-g-1',
    '{"lines": [{"sku": "T1", "category": "shirts", "price": 20000}]}', '2026-05-02') AS excl_used;
SELECT pg_temp.n(code) AS coupon, discount FROM loyalty.best_coupons(pg_temp.m('gina'),
    '{"lines": [{"sku": "T1", "category": "shirts", "price": 20000}]}', '2026-05-02') ORDER BY 1;

-- The order trigger with coupon_column -----------------------------------------------------
CREATE TABLE cpn_orders (
    id       text PRIMARY KEY,
    customer text,
    amount   bigint,
    status   text NOT NULL,
    coupon   text,
    event_at timestamptz
);
SELECT loyalty.track_orders('cpn_orders', 'cpn_shop', 'customer', 'amount', 'status',
                            coupon_column => 'coupon', time_column => 'event_at') > 0 AS tracked;
-- paid: hank's 15% coupon is redeemed on the order (one line of the amount): 151.5 -> 152
INSERT INTO cpn_orders SELECT 'cpn-h-1', 'hank', 1010, 'paid', pg_temp.c('h_pct15')::text, '2026-05-10 10:00';
SELECT name, owner, state, order_ref, used_at, discount, order_value FROM pg_temp.cp('h_pct15');
-- completed: nothing changes for the coupon
UPDATE cpn_orders SET status = 'completed', event_at = '2026-05-11 10:00' WHERE id = 'cpn-h-1';
SELECT name, state, order_ref, discount FROM pg_temp.cp('h_pct15');
-- cancelled: released, usable again
UPDATE cpn_orders SET status = 'cancelled', event_at = '2026-05-12 10:00' WHERE id = 'cpn-h-1';
SELECT name, state, order_ref, used_at, discount, order_value FROM pg_temp.cp('h_pct15');
-- paid again (a new payment): redeemed again, on the new amount
UPDATE cpn_orders SET status = 'paid', amount = 2000, event_at = '2026-05-13 10:00' WHERE id = 'cpn-h-1';
SELECT name, state, order_ref, used_at, discount, order_value FROM pg_temp.cp('h_pct15');
-- another paid order with the same (used) coupon: the write is refused
SELECT pg_temp.try(format($q$INSERT INTO cpn_orders VALUES ('cpn-h-2', 'hank', 5000, 'paid', %L, '2026-05-14 10:00')$q$,
                          pg_temp.c('h_pct15'))) AS reused_coupon;
-- someone else's coupon: refused too
SELECT pg_temp.try(format($q$INSERT INTO cpn_orders VALUES ('cpn-h-3', 'hank', 5000, 'paid', %L, '2026-05-14 10:00')$q$,
                          pg_temp.c('a_pct15'))) AS not_his;
SELECT id, status, amount FROM cpn_orders ORDER BY id;
-- an order without a coupon, and one with a coupon that is not yet paid: nothing to redeem
INSERT INTO cpn_orders VALUES ('cpn-h-4', 'hank', 3000, 'paid', NULL, '2026-05-14 11:00');
INSERT INTO cpn_orders SELECT 'cpn-h-5', 'alice', 3000, 'pending', pg_temp.c('a_pct15')::text, '2026-05-14 11:00';
SELECT name, state, order_ref FROM pg_temp.cp('a_pct15');
-- paid: redeemed; then the order row is deleted: released
UPDATE cpn_orders SET status = 'paid', event_at = '2026-05-14 12:00' WHERE id = 'cpn-h-5';
SELECT name, state, order_ref, discount, order_value FROM pg_temp.cp('a_pct15');
DELETE FROM cpn_orders WHERE id = 'cpn-h-5';
SELECT name, state, order_ref, discount FROM pg_temp.cp('a_pct15');

-- expire_coupons ---------------------------------------------------------------------------
-- Due by 2026-09-01: every unused coupon whose window ended by then (spring
-- issued and claimed: 2026-04-01; nothing else of this suite ends before
-- 2026-09-01 but the share template, at exactly 2026-09-01).
SELECT x.name, state, valid_until FROM cpn_c c, pg_temp.cp(c.name) x
WHERE valid_until <= '2026-09-01' ORDER BY x.name;
SELECT count(*) AS runs_before FROM loyalty.job_runs WHERE job = 'expire_coupons' \gset
SET client_min_messages = warning;
CALL loyalty.expire_coupons('2026-09-01', 2);
RESET client_min_messages;
SELECT job, as_of, batch_size, state, single_transaction, batches, items
FROM loyalty.job_runs WHERE job = 'expire_coupons' ORDER BY run_id DESC LIMIT 1;
SELECT x.name, state, valid_until, closed_at FROM cpn_c c, pg_temp.cp(c.name) x
WHERE valid_until <= '2026-09-01' ORDER BY x.name;
-- a booked expiry is final for validate_coupon (design: state expired is
-- "expired" at any instant)...
SELECT * FROM loyalty.validate_coupon(pg_temp.c('i_spring'), pg_temp.m('alice'), :'cart', '2026-03-15');
-- ...but what member_coupons shows at an instant does not depend on when the
-- job ran: on 2026-05-20 the share coupon was available, as shown above
-- before the job (SPEC 1, "right at every instant")
SELECT template, state, valid_until FROM loyalty.member_coupons(pg_temp.m('alice'), '2026-05-20')
WHERE template IN ('cpn_share', 'cpn_spring') ORDER BY template;
-- a second run books nothing (run id pinned for the NOTICE)
SELECT setval('loyalty.job_run_id_seq', 910000) AS pinned_run_id;
\set VERBOSITY default
CALL loyalty.expire_coupons('2026-09-01', 2);
-- inside a transaction block: it says so, and does it all in that transaction
BEGIN;
CALL loyalty.expire_coupons('2026-09-01', 100);
COMMIT;
\set VERBOSITY sqlstate
SELECT run_id, job, state, single_transaction, batches, items
FROM loyalty.job_runs WHERE job = 'expire_coupons' ORDER BY run_id DESC LIMIT 2;
SELECT count(*) - :runs_before AS new_runs FROM loyalty.job_runs WHERE job = 'expire_coupons';

-- coupon_performance -----------------------------------------------------------------------
SELECT template, scope, kind, claimed, redeemed, expired, voided, issued_unclaimed, redemption_rate_pct,
       discount_given, order_value
FROM loyalty.coupon_performance WHERE program = 'cpn_shop' ORDER BY template;
SELECT template, claimed, issued_unclaimed FROM loyalty.coupon_performance WHERE program = 'cpn_other';

-- verify -----------------------------------------------------------------------------------
SELECT check_name, ok FROM loyalty.verify('cpn_shop') ORDER BY check_name;
SELECT detail FROM loyalty.verify('cpn_shop') WHERE check_name LIKE 'coupons%';
SELECT bool_and(ok) AS all_ok FROM loyalty.verify('cpn_other');

SELECT loyalty.untrack_orders('cpn_orders');
DROP TABLE cpn_orders;
