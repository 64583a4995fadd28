-- rules: earning rules (SPEC section 4): define_earn_rule's validation and
-- versioning, quote_points' one formula (exact, rounded down once), the
-- conditions of `when`, validity, caps (recorded through a tracked order
-- table), and record_event.
--
-- Programmes of this suite are named rules_*; their members use application
-- ids 77001.. so that they can be named by number.  Rule ids, entry ids and
-- audit ids come from sequences and are never shown.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Run one statement; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- What define_earn_rule writes for programme `prog`: rule versions, audit
-- rows and the definitions counter, as one string.
CREATE FUNCTION pg_temp.defs(prog text) RETURNS text LANGUAGE sql AS $$
    SELECT format('rules=%s audit=%s version=%s',
        (SELECT count(*) FROM loyalty.earn_rule e WHERE e.program_id = p.program_id),
        (SELECT count(*) FROM loyalty.audit_log a WHERE a.program_id = p.program_id),
        p.definitions_version)
    FROM loyalty.program p WHERE p.code = prog
$$;

-- A rule definition that fails: 'ok' would be a bug.
CREATE FUNCTION pg_temp.bad(rule text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.try(format('SELECT loyalty.define_earn_rule(%L, %L, %L::jsonb)', 'rules_def', 'r1', rule))
$$;

SELECT loyalty.create_program('rules_def', 'Rules: definitions', 'CNY', '{"member_ids": "application"}') > 0 AS created;
-- cashback rules name a programme wallet that exists
SELECT loyalty.open_wallet('rules_def', 'cash', 'CNY') > 0 AS cash_wallet;

-- 1. define_earn_rule: bad input ---------------------------------------------
SELECT pg_temp.defs('rules_def') AS before \gset
SELECT :'before' AS before;

SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'program NULL',     $q$SELECT loyalty.define_earn_rule(NULL, 'r1', '{"on":"order","per_amount":100,"points":1}')$q$),
  (2, 'code NULL',        $q$SELECT loyalty.define_earn_rule('rules_def', NULL, '{"on":"order","per_amount":100,"points":1}')$q$),
  (3, 'rule NULL',        $q$SELECT loyalty.define_earn_rule('rules_def', 'r1', NULL)$q$),
  (4, 'unknown program',  $q$SELECT loyalty.define_earn_rule('rules_nope', 'r1', '{"on":"order","per_amount":100,"points":1}')$q$),
  (5, 'code empty',       $q$SELECT loyalty.define_earn_rule('rules_def', '', '{"on":"order","per_amount":100,"points":1}')$q$),
  (6, 'code with space',  $q$SELECT loyalty.define_earn_rule('rules_def', 'double points', '{"on":"order","per_amount":100,"points":1}')$q$),
  (7, 'code leading -',   $q$SELECT loyalty.define_earn_rule('rules_def', '-r1', '{"on":"order","per_amount":100,"points":1}')$q$),
  (8, 'code 64 chars',    $q$SELECT loyalty.define_earn_rule('rules_def', repeat('r', 64), '{"on":"order","per_amount":100,"points":1}')$q$)
) AS t(test, name, sql) ORDER BY t.test;

SELECT t.test, t.name, pg_temp.bad(t.rule) AS result FROM (VALUES
  -- the shape
  (10, 'rule an array',            '[{"on":"order"}]'),
  (11, 'rule a string',            '"order"'),
  (12, 'rule JSON null',           'null'),
  (13, 'unknown key',              '{"on":"order","per_amount":100,"points":1,"bonus":5}'),
  (14, 'no on',                    '{"per_amount":100,"points":1}'),
  (15, 'on empty',                 '{"on":"","points":1}'),
  (16, 'on a number',              '{"on":1,"points":1}'),
  (17, 'order rule of no kind',    '{"on":"order","max_times":1}'),
  -- keys that do not apply to the kind
  (20, 'max_per_day on base',      '{"on":"order","per_amount":100,"points":1,"max_per_day":1}'),
  (21, 'skus on event',            '{"on":"review","points":5,"skus":["A1"]}'),
  (22, 'when on event',            '{"on":"review","points":5,"when":{"birthday":true}}'),
  (23, 'when.skus on base',        '{"on":"order","per_amount":100,"points":1,"when":{"skus":["A1"]}}'),
  (24, 'when.categories on base',  '{"on":"order","per_amount":100,"points":1,"when":{"categories":["toys"]}}'),
  (25, 'per_amount on multiplier', '{"on":"order","multiplier":2,"per_amount":100}'),
  (26, 'skus on multiplier',       '{"on":"order","multiplier":2,"skus":["A1"]}'),
  (27, 'day cap on multiplier',    '{"on":"order","multiplier":2,"max_points_per_day":10}'),
  (28, 'order cap on event',       '{"on":"checkin","points":5,"max_points_per_order":10}'),
  (29, 'points on cashback',       '{"on":"order","cashback_percent":2,"from_wallet":"cash","points":1}'),
  -- base rate
  (30, 'base without per_amount',  '{"on":"order","points":1}'),
  (31, 'base without points',      '{"on":"order","per_amount":100}'),
  (32, 'per_amount 1.5',           '{"on":"order","per_amount":1.5,"points":1}'),
  (33, 'per_amount 0',             '{"on":"order","per_amount":0,"points":1}'),
  (34, 'per_amount -100',          '{"on":"order","per_amount":-100,"points":1}'),
  (35, 'per_amount a string',      '{"on":"order","per_amount":"100","points":1}'),
  (36, 'points 2.5',               '{"on":"order","per_amount":100,"points":2.5}'),
  (37, 'points 0',                 '{"on":"order","per_amount":100,"points":0}'),
  (38, 'points -1',                '{"on":"order","per_amount":100,"points":-1}'),
  (39, 'points beyond bigint',     '{"on":"order","per_amount":100,"points":9223372036854775808}'),
  (40, 'event without points',     '{"on":"signup","max_times":1}'),
  (41, 'event points 0',           '{"on":"signup","points":0}'),
  -- multiplier
  (45, 'multiplier 0.5',           '{"on":"order","multiplier":0.5}'),
  (46, 'multiplier 0',             '{"on":"order","multiplier":0}'),
  (47, 'multiplier "2"',           '{"on":"order","multiplier":"2"}'),
  (48, 'multiplier "abc"',         '{"on":"order","multiplier":"abc"}'),
  (49, 'multiplier null',          '{"on":"order","multiplier":null}'),
  -- cashback
  (50, 'cashback_percent 0',       '{"on":"order","cashback_percent":0,"from_wallet":"cash"}'),
  (51, 'cashback_percent 100.5',   '{"on":"order","cashback_percent":100.5,"from_wallet":"cash"}'),
  (52, 'cashback_percent "2"',     '{"on":"order","cashback_percent":"2","from_wallet":"cash"}'),
  (53, 'cashback no from_wallet',  '{"on":"order","cashback_percent":2}'),
  (54, 'cashback from_wallet ""',  '{"on":"order","cashback_percent":2,"from_wallet":""}'),
  (55, 'cashback from_wallet 7',   '{"on":"order","cashback_percent":2,"from_wallet":7}'),
  (56, 'cashback unknown wallet',  '{"on":"order","cashback_percent":2,"from_wallet":"nope"}'),
  (57, 'cashback max_times',       '{"on":"order","cashback_percent":2,"from_wallet":"cash","max_times":1}'),
  -- lines named
  (58, 'skus empty',               '{"on":"order","per_amount":100,"points":1,"skus":[]}'),
  (59, 'skus a string',            '{"on":"order","per_amount":100,"points":1,"skus":"A1"}'),
  (60, 'categories [""]',          '{"on":"order","per_amount":100,"points":1,"categories":[""]}'),
  -- when
  (61, 'when an array',            '{"on":"order","multiplier":2,"when":[1]}'),
  (62, 'when a string',            '{"on":"order","multiplier":2,"when":"birthday"}'),
  (63, 'unknown when key',         '{"on":"order","multiplier":2,"when":{"hour":12}}'),
  (64, 'birthday "yes"',           '{"on":"order","multiplier":2,"when":{"birthday":"yes"}}'),
  (65, 'weekdays [0]',             '{"on":"order","multiplier":2,"when":{"weekdays":[0]}}'),
  (66, 'weekdays [8]',             '{"on":"order","multiplier":2,"when":{"weekdays":[1,8]}}'),
  (67, 'weekdays []',              '{"on":"order","multiplier":2,"when":{"weekdays":[]}}'),
  (68, 'weekdays [1.5]',           '{"on":"order","multiplier":2,"when":{"weekdays":[1.5]}}'),
  (69, 'weekdays 6',               '{"on":"order","multiplier":2,"when":{"weekdays":6}}'),
  (70, 'weekdays ["6"]',           '{"on":"order","multiplier":2,"when":{"weekdays":["6"]}}'),
  (71, 'dates 2026-02-30',         '{"on":"order","multiplier":2,"when":{"dates":["2026-11-11","2026-02-30"]}}'),
  (72, 'dates tomorrow',           '{"on":"order","multiplier":2,"when":{"dates":["tomorrow"]}}'),
  (73, 'dates []',                 '{"on":"order","multiplier":2,"when":{"dates":[]}}'),
  (74, 'dates a string',           '{"on":"order","multiplier":2,"when":{"dates":"2026-11-11"}}'),
  (75, 'dates 2026-11-11T00:00',   '{"on":"order","multiplier":2,"when":{"dates":["2026-11-11T00:00"]}}'),
  (76, 'dates 2026-13-01',         '{"on":"order","multiplier":2,"when":{"dates":["2026-13-01"]}}'),
  (77, 'month_day 0',              '{"on":"order","multiplier":2,"when":{"month_day":0}}'),
  (78, 'month_day 32',             '{"on":"order","multiplier":2,"when":{"month_day":32}}'),
  (79, 'month_day 1.5',            '{"on":"order","multiplier":2,"when":{"month_day":1.5}}'),
  (80, 'month_day "1"',            '{"on":"order","multiplier":2,"when":{"month_day":"1"}}'),
  (81, 'tiers []',                 '{"on":"order","multiplier":2,"when":{"tiers":[]}}'),
  (82, 'tiers "gold"',             '{"on":"order","multiplier":2,"when":{"tiers":"gold"}}'),
  (83, 'when.skus [1]',            '{"on":"order","multiplier":2,"when":{"skus":[1]}}'),
  -- caps
  (85, 'max_points_per_order 0',   '{"on":"order","per_amount":100,"points":1,"max_points_per_order":0}'),
  (86, 'max_points_per_day -5',    '{"on":"order","per_amount":100,"points":1,"max_points_per_day":-5}'),
  (87, 'max_times 1.5',            '{"on":"signup","points":100,"max_times":1.5}'),
  (88, 'max_per_day "1"',          '{"on":"checkin","points":5,"max_per_day":"1"}'),
  -- validity
  (90, 'valid_until before from',  '{"on":"order","per_amount":100,"points":1,"valid_from":"2026-06-01T00:00:00Z","valid_until":"2026-05-31T00:00:00Z"}'),
  (91, 'valid_until equal to from','{"on":"order","per_amount":100,"points":1,"valid_from":"2026-06-01T00:00:00Z","valid_until":"2026-06-01T08:00:00+08"}'),
  (92, 'valid_from "soon"',        '{"on":"order","per_amount":100,"points":1,"valid_from":"soon"}'),
  (93, 'valid_until 2026-13-01',   '{"on":"order","per_amount":100,"points":1,"valid_until":"2026-13-01"}'),
  (94, 'valid_until 2026-02-30',   '{"on":"order","per_amount":100,"points":1,"valid_until":"2026-02-30T00:00:00Z"}'),
  (95, 'valid_from a number',      '{"on":"order","per_amount":100,"points":1,"valid_from":20260601}'),
  (96, 'active "no"',              '{"on":"order","per_amount":100,"points":1,"active":"no"}'),
  (97, 'active 0',                 '{"on":"order","per_amount":100,"points":1,"active":0}'),
  (98, 'description a number',     '{"on":"order","per_amount":100,"points":1,"description":5}')
) AS t(test, name, rule) ORDER BY t.test;

-- Nothing was written: no rule version, no audit row, the counter unmoved.
SELECT pg_temp.defs('rules_def') = :'before' AS nothing_written, pg_temp.defs('rules_def') AS after;

-- Versioning ------------------------------------------------------------------
SELECT loyalty.define_earn_rule('rules_def', 'r1', '{"on":"order","per_amount":100,"points":1}') AS r1_v1 \gset
SELECT pg_temp.defs('rules_def') AS after_v1;
SELECT loyalty.define_earn_rule('rules_def', 'r1', '{"on":"order","per_amount":100,"points":2,"description":"double"}') AS r1_v2 \gset
SELECT :r1_v2 > :r1_v1 AS new_rule_id, pg_temp.defs('rules_def') AS after_v2;
SELECT e.code, version, superseded_at IS NULL AS current, kind, event, per_amount, points, rule_id = :r1_v2 AS is_v2
FROM loyalty.earn_rule e JOIN loyalty.program p USING (program_id)
WHERE p.code = 'rules_def' ORDER BY version;
SELECT action, object, detail -> 'version' AS version, detail -> 'rule' AS rule, detail -> 'previous' AS previous
FROM loyalty.audit_log a JOIN loyalty.program p USING (program_id)
WHERE p.code = 'rules_def' ORDER BY audit_id;
-- A failed re-definition keeps version 2 current.
SELECT pg_temp.bad('{"on":"order","per_amount":100}') AS failed_redefine;
SELECT pg_temp.defs('rules_def') AS unchanged;
-- Every kind is stored with its typed columns.
SELECT loyalty.define_earn_rule('rules_def', 'm1', '{"on":"order","multiplier":1.5,"when":{"weekdays":[7,6,6],"dates":["2026-12-12","2026-11-11"],"month_day":31,"tiers":["gold","silver"],"skus":["B","A"],"birthday":false},"valid_from":"2026-01-01T00:00:00+08","active":false}') > 0 AS m1;
SELECT loyalty.define_earn_rule('rules_def', 'cb', '{"on":"order","cashback_percent":2.5,"from_wallet":"cash","categories":["toys"]}') > 0 AS cb;
SELECT loyalty.define_earn_rule('rules_def', 'ck', '{"on":"checkin","points":5,"max_per_day":1,"max_times":100,"max_points_per_day":5}') > 0 AS ck;
SELECT e.code, version, kind, event, active, multiplier, cashback_percent, from_wallet, skus, categories,
       when_birthday, when_weekdays, when_dates, when_month_day, when_tiers, max_per_day, max_times,
       max_points_per_day, valid_from
FROM loyalty.earn_rule e JOIN loyalty.program p USING (program_id)
WHERE p.code = 'rules_def' AND e.code <> 'r1' ORDER BY e.code;

-- 2. quote_points -------------------------------------------------------------
-- Base rate: 10 points per 100.00, exact, rounded down once.
SELECT loyalty.create_program('rules_base', 'Rules: base rate', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('rules_base', '77001', '2026-01-01') AS m77001;
SELECT loyalty.open_wallet('rules_base', 'cash', 'CNY') > 0 AS cash_wallet;
SELECT loyalty.define_earn_rule('rules_base', 'b10', '{"on":"order","per_amount":10000,"points":10}') > 0 AS b10;
SELECT a.amount, loyalty.quote_points(77001, a.amount, NULL, '2026-03-01') AS points
FROM (VALUES (12345), (0), (999), (1000), (9999), (10000), (9223372036854775807)) AS a(amount);
SELECT loyalty.define_earn_rule('rules_base', 'cash2', '{"on":"order","cashback_percent":2,"from_wallet":"cash"}') > 0 AS cashback_rule;
SELECT loyalty.quote_points(77001, 12345, NULL, '2026-03-01') AS cashback_earns_no_points;
-- With lines: the whole-order rule covers every line, scaled to the amount paid.
SELECT t.case, loyalty.quote_points(77001, t.amount, t.lines::jsonb, '2026-03-01') AS points FROM (VALUES
  ('123.45 in two lines',                 12345, '[{"sku":"A","price":5000,"qty":2},{"sku":"B","price":2345}]'),
  ('as {"lines": [...]}',                 12345, '{"lines":[{"sku":"A","price":5000,"qty":2},{"sku":"B","price":2345}]}'),
  ('lines list 123.45, paid 100.00',      10000, '[{"sku":"A","price":5000,"qty":2},{"sku":"B","price":2345}]'),
  ('lines list 123.45, paid 99.99',        9999, '[{"sku":"A","price":5000,"qty":2},{"sku":"B","price":2345}]'),
  ('3 x 19.99: 5 (per line: 1+1+1)',       5997, '[{"price":1999},{"price":1999},{"price":1999}]'),
  ('qty 3 x 19.99',                        5997, '[{"price":1999,"qty":3}]'),
  ('no lines: []',                        12345, '[]'),
  ('lines all free: the amount counts',   12345, '[{"sku":"A","price":0}]')
) AS t("case", amount, lines);

-- Bad input: nothing is quoted.
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1,  $q$SELECT loyalty.quote_points(NULL, 1000)$q$),
  (2,  $q$SELECT loyalty.quote_points(77001, NULL)$q$),
  (3,  $q$SELECT loyalty.quote_points(77001, -1)$q$),
  (4,  $q$SELECT loyalty.quote_points(77999, 1000)$q$),
  (5,  $q$SELECT loyalty.quote_points(77001, 1000, NULL, NULL)$q$),
  (6,  $q$SELECT loyalty.quote_points(77001, 1000, NULL, 'infinity')$q$),
  (10, $q$SELECT loyalty.quote_points(77001, 1000, '"A1"')$q$),
  (11, $q$SELECT loyalty.quote_points(77001, 1000, '5')$q$),
  (12, $q$SELECT loyalty.quote_points(77001, 1000, 'null')$q$),
  (13, $q$SELECT loyalty.quote_points(77001, 1000, '{"sku":"A","price":1000}')$q$),
  (14, $q$SELECT loyalty.quote_points(77001, 1000, '[1]')$q$),
  (15, $q$SELECT loyalty.quote_points(77001, 1000, '[{"price":500},[{"price":500}]]')$q$),
  (16, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A"}]')$q$),
  (17, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":null}]')$q$),
  (18, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":-1}]')$q$),
  (19, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":100,"qty":0}]')$q$),
  (20, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":100,"qty":-2}]')$q$),
  (21, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":1.5}]')$q$),
  (22, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":100,"qty":1.5}]')$q$),
  (23, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":"100"}]')$q$),
  (24, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":7,"price":100}]')$q$),
  (25, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","category":["x"],"price":100}]')$q$),
  (26, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":9223372036854775808}]')$q$),
  (27, $q$SELECT loyalty.quote_points(77001, 1000, '[{"sku":"A","price":4611686018427387904,"qty":2}]')$q$),
  (28, $q$SELECT loyalty.quote_points(77001, 1000, '[{"price":9223372036854775807},{"price":1}]')$q$)
) AS t(test, sql) ORDER BY t.test;

-- Line-scoped base rates: 1 point per 1.00 on sku A, 2 per 1.00 on shoes.
SELECT loyalty.create_program('rules_lines', 'Rules: lines', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('rules_lines', '77011', '2026-01-01') AS m77011;
SELECT loyalty.define_earn_rule('rules_lines', 'on_a', '{"on":"order","per_amount":100,"points":1,"skus":["A"]}') > 0 AS on_a,
       loyalty.define_earn_rule('rules_lines', 'shoes', '{"on":"order","per_amount":100,"points":2,"categories":["shoes"]}') > 0 AS shoes;
SELECT t.case, loyalty.quote_points(77011, t.amount, t.lines::jsonb, '2026-03-01') AS points FROM (VALUES
  ('no lines: line rules cover nothing',     8000, NULL),
  ('A 30.00 + shoes 2 x 20.00 + C 10.00',    8000, '[{"sku":"A","price":3000},{"sku":"B","category":"shoes","price":2000,"qty":2},{"sku":"C","price":1000}]'),
  ('same, paid 60.00 (25% off)',             6000, '[{"sku":"A","price":3000},{"sku":"B","category":"shoes","price":2000,"qty":2},{"sku":"C","price":1000}]'),
  ('paid 60.50: 83 (per rule: 22+60 = 82)',  6050, '[{"sku":"A","price":3000},{"sku":"B","category":"shoes","price":2000,"qty":2},{"sku":"C","price":1000}]'),
  ('A that is also shoes: both rules',       3000, '[{"sku":"A","category":"shoes","price":3000}]'),
  ('only C',                                 1000, '[{"sku":"C","price":1000}]'),
  ('line without sku or category',           1000, '[{"price":1000}]')
) AS t("case", amount, lines);

-- Multipliers: the highest wins, times the tier's earn_multiplier.
SELECT loyalty.create_program('rules_mult', 'Rules: multipliers', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.define_tier('rules_mult', 'silver', 1, 100, 10, 1.5) AS silver,
       loyalty.define_tier('rules_mult', 'gold', 2, 1000, 20, 2) AS gold;
SELECT loyalty.enroll('rules_mult', '77021', '2026-01-01') AS m77021,
       loyalty.enroll('rules_mult', '77022', '2026-01-01') AS m77022,
       loyalty.enroll('rules_mult', '77023', '2026-01-01') AS m77023;
SELECT loyalty.earn(77022, 100, 'shop', 'rules-tier', at => '2026-03-01') > 0 AS silver_earned,
       loyalty.earn(77023, 1000, 'shop', 'rules-tier', at => '2026-03-01') > 0 AS gold_earned;
SELECT m, loyalty.tier(m, '2026-02-28') AS tier_feb, loyalty.tier(m, '2026-03-02') AS tier_mar
FROM unnest(ARRAY[77021, 77022, 77023]::bigint[]) AS m;
SELECT loyalty.define_earn_rule('rules_mult', 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base;
SELECT loyalty.quote_points(77021, 1000, NULL, '2026-03-02') AS base_only;
SELECT loyalty.define_earn_rule('rules_mult', 'x2', '{"on":"order","multiplier":2}') > 0 AS x2,
       loyalty.define_earn_rule('rules_mult', 'x3', '{"on":"order","multiplier":3}') > 0 AS x3,
       loyalty.define_earn_rule('rules_mult', 'gold_x4', '{"on":"order","multiplier":4,"when":{"tiers":["gold"]}}') > 0 AS gold_x4;
SELECT t.m, t.at, t.amount, loyalty.quote_points(t.m, t.amount, NULL, t.at::timestamptz) AS points FROM (VALUES
  (77021, '2026-03-02', 1000),  -- max(2, 3) = 3, no tier: 30 (not 60)
  (77022, '2026-02-28', 1000),  -- before silver: 30
  (77022, '2026-03-02', 1000),  -- 3 x silver 1.5 = 45
  (77022, '2026-03-02', 1001),  -- 10.01 x 4.5 = 45.045: 45
  (77022, '2026-03-02', 1234),  -- 12.34 x 4.5 = 55.53: 55
  (77023, '2026-02-28', 1000),  -- before gold: 30
  (77023, '2026-03-02', 1000)   -- gold: max(2, 3, 4) x 2 = 80
) AS t(m, at, amount);
-- Re-defining takes effect at once (the cache follows the counter).
SELECT loyalty.define_earn_rule('rules_mult', 'x3', '{"on":"order","multiplier":3,"active":false}') > 0 AS x3_off;
SELECT loyalty.quote_points(77021, 1000, NULL, '2026-03-02') AS x2_wins,
       loyalty.quote_points(77022, 1000, NULL, '2026-03-02') AS x2_silver;
SELECT loyalty.define_earn_rule('rules_mult', 'x2', '{"on":"order","multiplier":1.25}') > 0 AS x1_25;
SELECT loyalty.quote_points(77021, 1000, NULL, '2026-03-02') AS x1_25,          -- 12.5: 12
       loyalty.quote_points(77022, 1000, NULL, '2026-03-02') AS x1_25_silver,   -- 18.75: 18
       loyalty.quote_points(77023, 1000, NULL, '2026-03-02') AS gold_x4;        -- 80

-- A tier reached by completing an order applies to orders priced after it.
SELECT loyalty.create_program('rules_tier', 'Rules: tier from an order', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.define_tier('rules_tier', 'gold', 1, 20, 0, 2) AS gold;
SELECT loyalty.define_earn_rule('rules_tier', 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base;
CREATE TABLE rules_tier_orders (id text PRIMARY KEY, customer bigint, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('rules_tier_orders', 'rules_tier', 'customer', 'amount', 'status', time_column => 'at') > 0 AS tracked;
INSERT INTO rules_tier_orders VALUES ('g1', '77111', 2000, 'paid', '2026-03-01 10:00+00');
SELECT loyalty.tier(77111, '2026-03-02') AS tier_while_paid, loyalty.quote_points(77111, 1000, NULL, '2026-03-02') AS quote_while_paid;
UPDATE rules_tier_orders SET status = 'completed', at = '2026-03-03 10:00+00' WHERE id = 'g1';
SELECT loyalty.tier(77111, '2026-03-04') AS tier_after,
       loyalty.quote_points(77111, 1000, NULL, '2026-03-03 09:59:59+00') AS quote_before_completion,
       loyalty.quote_points(77111, 1000, NULL, '2026-03-04') AS quote_gold;
SELECT order_id, state, earned FROM loyalty.order_state WHERE member_id = 77111 ORDER BY order_id;

-- Multipliers on lines: a sku- or category-scoped multiplier boosts only its
-- lines; a whole-order one (Mondays) boosts every line; per line the highest wins.
SELECT loyalty.create_program('rules_skum', 'Rules: line multipliers', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('rules_skum', '77031', '2026-01-01') AS m77031;
SELECT loyalty.define_earn_rule('rules_skum', 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base,
       loyalty.define_earn_rule('rules_skum', 'x_x5', '{"on":"order","multiplier":5,"when":{"skus":["X"]}}') > 0 AS x_x5,
       loyalty.define_earn_rule('rules_skum', 'toys_x2', '{"on":"order","multiplier":2,"when":{"categories":["toys"]}}') > 0 AS toys_x2,
       loyalty.define_earn_rule('rules_skum', 'monday_x3', '{"on":"order","multiplier":3,"when":{"weekdays":[1]}}') > 0 AS monday_x3;
SELECT t.case, loyalty.quote_points(77031, t.amount, t.lines::jsonb, t.at::timestamptz) AS points FROM (VALUES
  ('Tue, X + toy + Z: 50+20+10',        '2026-03-10 12:00+00', 3000, '[{"sku":"X","price":1000},{"sku":"Y","category":"toys","price":1000},{"sku":"Z","price":1000}]'),
  ('Tue, same paid 24.00: 64',          '2026-03-10 12:00+00', 2400, '[{"sku":"X","price":1000},{"sku":"Y","category":"toys","price":1000},{"sku":"Z","price":1000}]'),
  ('Tue, no lines: 30',                 '2026-03-10 12:00+00', 3000, NULL),
  ('Tue, X that is a toy: 5 not 10',    '2026-03-10 12:00+00', 1000, '[{"sku":"X","category":"toys","price":1000}]'),
  ('Mon, X + toy + Z: 50+30+30',        '2026-03-09 12:00+00', 3000, '[{"sku":"X","price":1000},{"sku":"Y","category":"toys","price":1000},{"sku":"Z","price":1000}]'),
  ('Mon, no lines: 90',                 '2026-03-09 12:00+00', 3000, NULL)
) AS t("case", at, amount, lines);

-- Birthdays, in the programme's time zone.
SELECT loyalty.create_program('rules_bday', 'Rules: birthdays, Shanghai', 'CNY', '{"member_ids": "application", "timezone": "Asia/Shanghai"}') > 0 AS created;
SELECT loyalty.create_program('rules_bday_utc', 'Rules: birthdays, UTC', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('rules_bday', '77041', '2026-01-01', '1990-05-10') AS m77041,
       loyalty.enroll('rules_bday', '77042', '2026-01-01', '2000-02-29') AS m77042,
       loyalty.enroll('rules_bday', '77043', '2026-01-01') AS m77043,
       loyalty.enroll('rules_bday_utc', '77044', '2026-01-01', '1990-05-10') AS m77044;
SELECT loyalty.define_earn_rule(p, 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base,
       loyalty.define_earn_rule(p, 'bday', '{"on":"order","multiplier":2,"when":{"birthday":true}}') > 0 AS bday
FROM unnest(ARRAY['rules_bday', 'rules_bday_utc']) AS p;
SELECT t.m, t.at, loyalty.quote_points(t.m, 1000, NULL, t.at::timestamptz) AS points FROM (VALUES
  (77041, '2026-05-10 00:30+08'),  -- 9 May 16:30 UTC, the 10th in Shanghai: 20
  (77041, '2026-05-10 23:30+08'),  -- 20
  (77041, '2026-05-09 23:30+08'),  -- 10
  (77041, '2026-05-10 20:00+00'),  -- the 10th in UTC, the 11th in Shanghai: 10
  (77044, '2026-05-09 16:30+00'),  -- the same instant as the first, UTC programme: 10
  (77044, '2026-05-10 20:00+00'),  -- UTC programme: 20
  (77042, '2027-02-28 12:00+08'),  -- 29 February on 28 February in 2027: 20
  (77042, '2027-03-01 12:00+08'),  -- 10
  (77042, '2028-02-28 12:00+08'),  -- a leap year: not yet, 10
  (77042, '2028-02-29 12:00+08'),  -- 20
  (77043, '2026-05-10 12:00+08')   -- no birthday known: 10
) AS t(m, at);

-- Weekdays, dates and the monthly member day, in Shanghai.
SELECT loyalty.create_program('rules_cal', 'Rules: calendar', 'CNY', '{"member_ids": "application", "timezone": "Asia/Shanghai"}') > 0 AS created;
SELECT loyalty.enroll('rules_cal', '77051', '2026-01-01') AS m77051;
SELECT loyalty.define_earn_rule('rules_cal', 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base,
       loyalty.define_earn_rule('rules_cal', 'sunday_x2', '{"on":"order","multiplier":2,"when":{"weekdays":[7]}}') > 0 AS sunday_x2,
       loyalty.define_earn_rule('rules_cal', 'sales_x3', '{"on":"order","multiplier":3,"when":{"dates":["2026-11-11","2026-12-12"]}}') > 0 AS sales_x3,
       loyalty.define_earn_rule('rules_cal', 'day31_x4', '{"on":"order","multiplier":4,"when":{"month_day":31}}') > 0 AS day31_x4;
SELECT t.at, to_char(t.at::timestamptz AT TIME ZONE 'Asia/Shanghai', 'Dy DD Mon YYYY') AS shanghai_day,
       loyalty.quote_points(77051, 1000, NULL, t.at::timestamptz) AS points FROM (VALUES
  ('2026-03-08 12:00+08'),   -- Sunday: 20
  ('2026-03-09 12:00+08'),   -- Monday: 10
  ('2026-03-08 00:30+08'),   -- Saturday in UTC, Sunday in Shanghai: 20
  ('2026-03-09 00:30+08'),   -- Sunday in UTC, Monday in Shanghai: 10
  ('2026-11-11 12:00+08'),   -- 30
  ('2026-12-12 12:00+08'),   -- 30
  ('2026-11-12 12:00+08'),   -- 10
  ('2026-01-31 12:00+08'),   -- 40
  ('2026-02-28 12:00+08'),   -- the 31st falls on the last day of February: 40
  ('2026-02-27 12:00+08'),   -- 10
  ('2026-03-31 12:00+08'),   -- 40
  ('2026-03-30 12:00+08'),   -- 10
  ('2026-04-30 12:00+08'),   -- 40
  ('2026-04-29 12:00+08'),   -- 10
  ('2028-02-29 12:00+08'),   -- 40
  ('2028-02-28 12:00+08'),   -- 10
  ('2026-05-31 12:00+08')    -- Sunday the 31st: max(2, 4) = 40
) AS t(at);

-- Validity: valid_from inclusive, valid_until exclusive; active false ignored.
SELECT loyalty.create_program('rules_valid', 'Rules: validity', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('rules_valid', '77061', '2026-01-01') AS m77061;
SELECT loyalty.define_earn_rule('rules_valid', 'june', '{"on":"order","per_amount":100,"points":1,"valid_from":"2026-06-01T00:00:00+08","valid_until":"2026-07-01T00:00:00+08"}') > 0 AS june,
       loyalty.define_earn_rule('rules_valid', 'off', '{"on":"order","per_amount":100,"points":5,"active":false}') > 0 AS off,
       loyalty.define_earn_rule('rules_valid', 'late_june_x2', '{"on":"order","multiplier":2,"valid_from":"2026-06-15T00:00:00Z"}') > 0 AS late_june_x2;
SELECT t.at, loyalty.quote_points(77061, 1000, NULL, t.at::timestamptz) AS points FROM (VALUES
  ('2026-05-31 15:59:59.999999+00'),  -- 0
  ('2026-05-31 16:00:00+00'),         -- 10
  ('2026-06-14 23:59:59.999999+00'),  -- 10
  ('2026-06-15 00:00:00+00'),         -- 20
  ('2026-06-30 15:59:59.999999+00'),  -- 20
  ('2026-06-30 16:00:00+00')          -- 0
) AS t(at);
SELECT loyalty.define_earn_rule('rules_valid', 'off', '{"on":"order","per_amount":100,"points":5,"active":true}') > 0 AS off_on;
SELECT loyalty.quote_points(77061, 1000, NULL, '2026-06-10') AS june_plus_off,    -- 10 + 50
       loyalty.quote_points(77061, 1000, NULL, '2026-08-01') AS off_x2;           -- 50 x 2

-- Caps per order: the capped rule's share is capped after its multiplier.
SELECT loyalty.create_program('rules_cap_order', 'Rules: order cap', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('rules_cap_order', '77081', '2026-01-01') AS m77081;
SELECT loyalty.define_earn_rule('rules_cap_order', 'capped', '{"on":"order","per_amount":100,"points":1,"max_points_per_order":50}') > 0 AS capped,
       loyalty.define_earn_rule('rules_cap_order', 'plain', '{"on":"order","per_amount":1000,"points":1}') > 0 AS plain,
       loyalty.define_earn_rule('rules_cap_order', 'sunday_x2', '{"on":"order","multiplier":2,"when":{"weekdays":[7]}}') > 0 AS sunday_x2;
SELECT t.at, t.amount, loyalty.quote_points(77081, t.amount, NULL, t.at::timestamptz) AS points FROM (VALUES
  ('2026-03-09', 10000),  -- 50 + 10
  ('2026-03-09',  3000),  -- 30 + 3
  ('2026-03-09',  5050),  -- 50 + 5.05: 55
  ('2026-03-08',  3000),  -- Sunday: min(60, 50) + 6 = 56
  ('2026-03-08',  2000)   -- Sunday: 40 + 4 = 44
) AS t(at, amount);

-- Caps per programme day, counted from the orders priced (Shanghai days).
SELECT loyalty.create_program('rules_cap_day', 'Rules: daily cap', 'CNY', '{"member_ids": "application", "timezone": "Asia/Shanghai"}') > 0 AS created;
SELECT loyalty.define_earn_rule('rules_cap_day', 'daily', '{"on":"order","per_amount":100,"points":1,"max_points_per_day":30}') > 0 AS daily,
       loyalty.define_earn_rule('rules_cap_day', 'plain', '{"on":"order","per_amount":1000,"points":1}') > 0 AS plain;
CREATE TABLE rules_cap_orders (id text PRIMARY KEY, customer bigint, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('rules_cap_orders', 'rules_cap_day', 'customer', 'amount', 'status', time_column => 'at') > 0 AS tracked;
SELECT loyalty.enroll('rules_cap_day', '77091', '2026-01-01') AS m77091;
SELECT loyalty.quote_points(77091, 2000, NULL, '2026-04-01 10:00+08') AS first_quote;   -- 20 + 2
INSERT INTO rules_cap_orders VALUES ('d1', '77091', 2000, 'paid', '2026-04-01 10:00+08');
SELECT loyalty.quote_points(77091, 2000, NULL, '2026-04-01 12:00+08') AS second_quote;  -- 10 + 2
INSERT INTO rules_cap_orders VALUES ('d2', '77091', 2000, 'paid', '2026-04-01 12:00+08');
SELECT loyalty.quote_points(77091, 2000, NULL, '2026-04-01 23:59:59+08') AS capped_out,   -- 0 + 2
       loyalty.quote_points(77091, 2000, NULL, '2026-04-02 00:00+08') AS next_day;        -- 22
-- A refunded order still counts towards the cap.
UPDATE rules_cap_orders SET status = 'refunded', at = '2026-04-01 13:00+08' WHERE id = 'd1';
SELECT loyalty.quote_points(77091, 2000, NULL, '2026-04-01 14:00+08') AS after_refund;    -- 2
INSERT INTO rules_cap_orders VALUES ('d3', '77091', 5050, 'paid', '2026-04-02 00:30+08');  -- 30 + 5.05
SELECT order_id, state, amount, earned FROM loyalty.order_state WHERE member_id = 77091 ORDER BY order_id;
SELECT code, day, times, points FROM loyalty.rule_award WHERE member_id = 77091 ORDER BY day, code;

-- max_times: a first-order bonus, and a multiplier good for two orders.
SELECT loyalty.create_program('rules_cap_times', 'Rules: max_times', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.define_earn_rule('rules_cap_times', 'first', '{"on":"order","per_amount":100,"points":1,"max_times":1}') > 0 AS first,
       loyalty.define_earn_rule('rules_cap_times', 'plain', '{"on":"order","per_amount":100,"points":1}') > 0 AS plain,
       loyalty.define_earn_rule('rules_cap_times', 'twice_x2', '{"on":"order","multiplier":2,"max_times":2}') > 0 AS twice_x2;
CREATE TABLE rules_times_orders (id text PRIMARY KEY, customer bigint, amount bigint, status text, at timestamptz);
SELECT loyalty.track_orders('rules_times_orders', 'rules_cap_times', 'customer', 'amount', 'status', time_column => 'at') > 0 AS tracked;
SELECT loyalty.enroll('rules_cap_times', '77101', '2026-01-01') AS m77101;
SELECT loyalty.quote_points(77101, 1000, NULL, '2026-03-01') AS quote_1;      -- (10 + 10) x 2
INSERT INTO rules_times_orders VALUES ('t1', '77101', 1000, 'paid', '2026-03-01');
SELECT loyalty.quote_points(77101, 1000, NULL, '2026-03-02') AS quote_2;      -- 10 x 2
INSERT INTO rules_times_orders VALUES ('t2', '77101', 1000, 'paid', '2026-03-02');
SELECT loyalty.quote_points(77101, 1000, NULL, '2026-03-03') AS quote_3;      -- 10
INSERT INTO rules_times_orders VALUES ('t3', '77101', 1000, 'paid', '2026-03-03');
SELECT order_id, earned FROM loyalty.order_state WHERE member_id = 77101 ORDER BY order_id;
SELECT code, sum(times) AS times, sum(points) AS points FROM loyalty.rule_award WHERE member_id = 77101 GROUP BY code ORDER BY code;
-- Quotes wrote nothing; another member is not affected by 77101's awards.
SELECT loyalty.enroll('rules_cap_times', '77102', '2026-01-01') AS m77102;
SELECT loyalty.quote_points(77102, 1000, NULL, '2026-03-03') AS other_member;  -- 40

-- A capped multiplier counts a use only for an order it boosted: on an order
-- of sku X only, x_x5 wins every line and once_x2 boosts nothing.
SELECT loyalty.create_program('rules_cap_mx', 'Rules: multiplier uses', 'CNY', '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.define_earn_rule('rules_cap_mx', 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base,
       loyalty.define_earn_rule('rules_cap_mx', 'once_x2', '{"on":"order","multiplier":2,"max_times":1}') > 0 AS once_x2,
       loyalty.define_earn_rule('rules_cap_mx', 'x_x5', '{"on":"order","multiplier":5,"when":{"skus":["X"]}}') > 0 AS x_x5;
CREATE TABLE rules_mx_orders (id text PRIMARY KEY, customer bigint, amount bigint, status text, lines jsonb, at timestamptz);
SELECT loyalty.track_orders('rules_mx_orders', 'rules_cap_mx', 'customer', 'amount', 'status', lines_column => 'lines', time_column => 'at') > 0 AS tracked;
INSERT INTO rules_mx_orders VALUES ('x1', 77131, 1000, 'paid', '[{"sku":"X","price":1000}]', '2026-03-01');   -- 50
SELECT code, times, points FROM loyalty.rule_award WHERE member_id = 77131 ORDER BY code;           -- none
SELECT loyalty.quote_points(77131, 1000, '[{"sku":"Z","price":1000}]', '2026-03-02') AS z_still_x2;  -- 20
INSERT INTO rules_mx_orders VALUES ('x2', 77131, 1000, 'paid', '[{"sku":"Z","price":1000}]', '2026-03-02');   -- 20
SELECT loyalty.quote_points(77131, 1000, '[{"sku":"Z","price":1000}]', '2026-03-03') AS z_used_up;   -- 10
SELECT order_id, earned FROM loyalty.order_state WHERE member_id = 77131 ORDER BY order_id;
SELECT code, times, points FROM loyalty.rule_award WHERE member_id = 77131 ORDER BY code;

-- 3. record_event -------------------------------------------------------------
SELECT loyalty.create_program('rules_ev', 'Rules: events', 'CNY', '{"member_ids": "application", "timezone": "Asia/Shanghai"}') > 0 AS created;
SELECT loyalty.define_tier('rules_ev', 'vip', 1, 100, 0, 3) AS vip;
SELECT loyalty.enroll('rules_ev', '77121', '2026-01-01') AS m77121,
       loyalty.enroll('rules_ev', '77122', '2026-01-01') AS m77122;
SELECT loyalty.define_earn_rule('rules_ev', 'signup', '{"on":"signup","points":100,"max_times":1}') > 0 AS signup,
       loyalty.define_earn_rule('rules_ev', 'checkin', '{"on":"checkin","points":5,"max_per_day":1}') > 0 AS checkin,
       loyalty.define_earn_rule('rules_ev', 'review_a', '{"on":"review","points":10}') > 0 AS review_a,
       loyalty.define_earn_rule('rules_ev', 'review_b', '{"on":"review","points":5,"max_points_per_day":12}') > 0 AS review_b,
       loyalty.define_earn_rule('rules_ev', 'share', '{"on":"share","points":3,"active":false}') > 0 AS share,
       loyalty.define_earn_rule('rules_ev', 'promo', '{"on":"promo","points":7,"valid_until":"2026-04-01T00:00:00+08"}') > 0 AS promo,
       loyalty.define_earn_rule('rules_ev', 'base', '{"on":"order","per_amount":100,"points":1}') > 0 AS base;

-- signup: once per member; the same ref again answers the first entry.
SELECT loyalty.record_event(77121, 'signup', 's1', '2026-03-31 09:00+08') AS signup_s1 \gset
SELECT :signup_s1 IS NOT NULL AS earned,
       loyalty.record_event(77121, 'signup', 's1', '2026-03-31 09:05+08') = :signup_s1 AS same_ref_same_entry,
       loyalty.record_event(77121, 'signup', 's2', '2026-03-31 09:10+08') IS NULL AS second_signup_null;
SELECT loyalty.tier(77121, '2026-03-31 09:00+08') AS tier_after_signup;   -- vip, reached through an event
-- checkin: once per Shanghai day (event points are not multiplied by the tier).
SELECT t.ref, t.at, loyalty.record_event(77121, 'checkin', t.ref, t.at::timestamptz) IS NOT NULL AS earned FROM (VALUES
  ('c1', '2026-03-31 10:00+08'),   -- earned
  ('c2', '2026-03-31 23:59+08'),   -- same day: NULL
  ('c3', '2026-04-01 00:01+08'),   -- next Shanghai day (still 31 March in UTC): earned
  ('c4', '2026-04-01 20:00+08'),   -- NULL
  ('c2', '2026-04-02 08:00+08')    -- c2 earned nothing, its key is free: earned
) AS t(ref, at) ORDER BY t.at;
SELECT loyalty.record_event(77122, 'checkin', 'c1', '2026-03-31 10:00+08') IS NOT NULL AS other_member_checkin;
-- review: two rules sum; review_b is capped at 12 points a day (partial grant).
CREATE TEMP TABLE rules_reviews AS
SELECT t.ref, t.at, loyalty.record_event(77121, 'review', t.ref, t.at::timestamptz) AS entry FROM (VALUES
  ('r1', '2026-04-01 09:00+08'),   -- 10 + 5
  ('r2', '2026-04-01 10:00+08'),   -- 10 + 5
  ('r3', '2026-04-01 11:00+08'),   -- 10 + 2
  ('r4', '2026-04-01 12:00+08'),   -- 10
  ('r5', '2026-04-02 09:00+08')    -- 10 + 5
) AS t(ref, at) ORDER BY t.at;
SELECT r.ref, r.at, e.points, e.detail -> 'rules' AS rules
FROM rules_reviews r LEFT JOIN loyalty.points_entry e ON e.member_id = 77121 AND e.entry_id = r.entry
ORDER BY r.at;
-- No rule pays: unknown event, inactive rule, expired rule, order rules.
SELECT loyalty.record_event(77121, 'promo', 'p1', '2026-03-31 23:59:59+08') IS NOT NULL AS promo_last_second,
       loyalty.record_event(77121, 'promo', 'p2', '2026-04-01 00:00+08') IS NULL AS promo_over,
       loyalty.record_event(77121, 'survey', 'v1', '2026-04-01 09:00+08') IS NULL AS unknown_event,
       loyalty.record_event(77121, 'share', 'h1', '2026-04-01 09:00+08') IS NULL AS inactive,
       loyalty.record_event(77121, 'order', 'o1', '2026-04-01 09:00+08') IS NULL AS order_is_no_event;
SELECT at, operation, points, source, ref, qualifying
FROM loyalty.points_entry WHERE member_id = 77121 ORDER BY entry_id;
SELECT source, ref, count(*) AS entries FROM loyalty.points_entry
WHERE member_id = 77121 AND ref IN ('s1', 's2') GROUP BY source, ref ORDER BY ref;
SELECT code, day, times, points FROM loyalty.rule_award WHERE member_id = 77121 ORDER BY day, code;
SELECT loyalty.points(77121, '2026-04-03') AS points_77121;

-- Bad input: nothing written.
SELECT count(*) AS entries_before FROM loyalty.points_entry WHERE member_id = 77121 \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, $q$SELECT loyalty.record_event(NULL, 'checkin', 'x1')$q$),
  (2, $q$SELECT loyalty.record_event(77121, NULL, 'x1')$q$),
  (3, $q$SELECT loyalty.record_event(77121, 'checkin', NULL)$q$),
  (4, $q$SELECT loyalty.record_event(77121, '', 'x1')$q$),
  (5, $q$SELECT loyalty.record_event(77121, 'checkin', '')$q$),
  (6, $q$SELECT loyalty.record_event(77121, 'checkin', 'x1', NULL)$q$),
  (7, $q$SELECT loyalty.record_event(77121, 'checkin', 'x1', 'infinity')$q$),
  (8, $q$SELECT loyalty.record_event(77999, 'checkin', 'x1')$q$)
) AS t(test, sql) ORDER BY t.test;
SELECT count(*) = :entries_before AS nothing_written FROM loyalty.points_entry WHERE member_id = 77121;

-- A definition rolled back leaves nothing behind in this session's cache,
-- even when a later change takes the same version number.
SELECT loyalty.create_program('rules_rb', 'Rolled back') IS NOT NULL AS created;
SELECT loyalty.enroll('rules_rb', 'rb1', '2026-01-01') AS rb_member \gset
SELECT loyalty.define_earn_rule('rules_rb', 'base', '{"on":"order","per_amount":100,"points":1}') IS NOT NULL AS defined;
SELECT loyalty.quote_points(:rb_member, 10000, NULL, '2026-02-01') AS before;
BEGIN;
SELECT loyalty.define_earn_rule('rules_rb', 'bonus', '{"on":"order","per_amount":100,"points":50}') IS NOT NULL AS defined;
SELECT loyalty.quote_points(:rb_member, 10000, NULL, '2026-02-01') AS inside;
ROLLBACK;
SELECT loyalty.define_earn_rule('rules_rb', 'tiny', '{"on":"signup","points":1}') IS NOT NULL AS defined;
SELECT loyalty.quote_points(:rb_member, 10000, NULL, '2026-02-01') AS after_rollback;
