-- coupon_code: the loyalty.coupon_code type (SPEC section 6, first part):
-- text input and canonical output, errors, NULLs, comparisons and order,
-- btree and hash indexes, casts, binary send/recv, is_coupon_code, random
-- generation; an exhaustive proof of the check (every single substitution
-- and every adjacent transposition, from every state, at every position);
-- and a fuzz of 100,000 random and mutated strings through the input
-- function.  Random parts print only counts and booleans.
SET timezone = 'UTC';
\set VERBOSITY sqlstate

-- Run one statement; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Input and canonical output ------------------------------------------------
-- Case, hyphens and white space anywhere, O read as 0, I and L as 1.
SELECT t.input, t.input::loyalty.coupon_code AS code FROM (VALUES
  ('7K3M-QX2P-W9DA'),
  ('7k3m-qx2p-w9da'),
  ('7K3MQX2PW9DA'),
  ('  7K3M QX2P W9DA  '),
  ('7-K-3-M-Q-X-2-P-W-9-D-A'),
  ('7K3M--QX2P--W9DA'),
  (E'7K3M\tQX2P\nW9DA'),
  ('-7K3M-QX2P-W9DA-'),
  ('0000-0000-0000'),
  ('OOOO-oooo-OoOo'),
  ('0000-0000-0012'),
  ('OOOO-OOOO-OOi2'),
  ('0000-0000-00L2'),
  ('1000-0000-0007'),
  ('I000-0000-0007'),
  ('ZZZZ-ZZZZ-ZZZK'),
  ('zzzz zzzz zzzk')
) AS t(input);

-- Errors: each a clean invalid_text_representation (22P02).
SELECT t.test, pg_temp.try(format('SELECT %L::loyalty.coupon_code', t.input)) AS result FROM (VALUES
  (1,  'wrong check character',      '7K3M-QX2P-W9DB'),
  (2,  'one symbol substituted',      '7K3M-QX2P-W8DA'),
  (3,  'adjacent symbols swapped',    '7K3M-QX2P-9WDA'),
  (4,  'swap across a hyphen',        '7K3Q-MX2P-W9DA'),
  (5,  'check swapped with last',     '7K3M-QX2P-W9AD'),
  (6,  'too short',                   '7K3M-QX2P-W9D'),
  (7,  'too long',                    '7K3M-QX2P-W9DA0'),
  (8,  'empty',                       ''),
  (9,  'only hyphens and spaces',     ' - - '),
  (10, 'U is not a symbol',           '7K3M-QX2P-W9DU'),
  (11, 'lower-case u',                'u7K3M-QX2P-W9D'),
  (12, 'punctuation',                 '7K3M.QX2P.W9DA'),
  (13, 'underscore',                  '7K3M_QX2P_W9DA'),
  (14, 'a multibyte character',       '7K3M-QX2P-W9Dé'),
  (15, 'a full-width digit',          '７K3M-QX2P-W9DA'),
  (16, 'an en dash',                  '7K3M–QX2P–W9DA'),
  (17, 'much too long',               repeat('7K3M-QX2P-W9DA', 3))
) AS t(test, what, input)
ORDER BY t.test;

-- The whole message of a mistyped code, a wrong length and a bad symbol.
\set VERBOSITY default
SELECT '7K3M-QX2P-W9DB'::loyalty.coupon_code;
SELECT 'k3m-qx2p-w9da'::loyalty.coupon_code;
SELECT '7K3M-QX2P-W9DU'::loyalty.coupon_code;
\set VERBOSITY sqlstate

-- The operators live in schema loyalty: name it, or put it on search_path.
SELECT '7k3m-qx2p-w9da'::loyalty.coupon_code OPERATOR(loyalty.=) '7K3M-QX2P-W9DA' AS qualified;
SELECT pg_temp.try($q$SELECT '7k3m-qx2p-w9da'::loyalty.coupon_code = '7K3M-QX2P-W9DA'$q$) AS unqualified;
SET search_path = public, loyalty;
SELECT '7k3m-qx2p-w9da'::loyalty.coupon_code = '7K3M-QX2P-W9DA' AS on_search_path;

-- NULLs ---------------------------------------------------------------------
SELECT NULL::loyalty.coupon_code IS NULL AS null_in,
       (NULL::text)::loyalty.coupon_code IS NULL AS null_text_cast,
       (NULL::loyalty.coupon_code)::text IS NULL AS null_out,
       loyalty.is_coupon_code(NULL) IS NULL AS is_coupon_code_null,
       ('0000-0000-0000'::loyalty.coupon_code = NULL) IS NULL AS eq_null,
       ('0000-0000-0000'::loyalty.coupon_code < NULL) IS NULL AS lt_null;

-- Comparisons and order -----------------------------------------------------
-- The order is the order of the canonical text.
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le, a > b AS gt, a >= b AS ge
FROM (VALUES
  ('0000-0000-0000'::loyalty.coupon_code, '0000-0000-0012'::loyalty.coupon_code),
  ('0000-0000-0012', '0000-0000-0000'),
  ('7K3M-QX2P-W9DA', '7k3mqx2pw9da'),
  ('1000-0000-0007', 'ZZZZ-ZZZZ-ZZZK'),
  ('ZZZZ-ZZZZ-ZZZK', '7K3M-QX2P-W9DA')
) AS t(a, b);

CREATE TEMP TABLE cc_order (code loyalty.coupon_code);
INSERT INTO cc_order VALUES ('ZZZZ-ZZZZ-ZZZK'), ('7K3M-QX2P-W9DA'), ('0000-0000-0012'),
  ('S1P4-8VDC-5D97'), ('0000-0000-0000'), ('2JN5-43AK-2Q3J'), ('1000-0000-0007'),
  ('M1TT-FR97-NN43'), ('X4NB-AWDB-2VA6'), ('9N29-45QK-SHC7'), (NULL);
SELECT code FROM cc_order ORDER BY code;
SELECT code FROM cc_order ORDER BY code DESC NULLS LAST LIMIT 3;
SELECT count(code) AS codes, count(DISTINCT code) AS distinct_codes FROM cc_order;
SELECT count(*) FILTER (WHERE code = '7k3m qx2p w9da') AS found,
       count(*) FILTER (WHERE code BETWEEN '1000-0000-0007' AND 'S1P4-8VDC-5D97') AS between_
FROM cc_order;

-- Casts ---------------------------------------------------------------------
SELECT 'o000-0000-00l2'::text::loyalty.coupon_code AS from_text,
       '7K3M-QX2P-W9DA'::loyalty.coupon_code::text AS to_text,
       pg_typeof('7K3M-QX2P-W9DA'::loyalty.coupon_code::text) AS to_type,
       CAST(CAST('zzzzzzzzzzzk' AS text) AS loyalty.coupon_code) AS cast_syntax;
SELECT pg_temp.try($q$SELECT 'nope'::text::loyalty.coupon_code$q$) AS bad_text_cast;
-- Assignment casts both ways: a text column takes a code, a code column text.
CREATE TEMP TABLE cc_cast (t text, c loyalty.coupon_code);
INSERT INTO cc_cast (t, c) VALUES ('7K3M-QX2P-W9DA'::loyalty.coupon_code, 'zzzz-zzzz-zzzk'::text);
SELECT t, c FROM cc_cast;
SELECT castsource::regtype, casttarget::regtype, castcontext, castmethod
FROM pg_cast WHERE castsource = 'loyalty.coupon_code'::regtype OR casttarget = 'loyalty.coupon_code'::regtype
ORDER BY castsource::regtype::text, casttarget::regtype::text;

-- The type: 8 bytes, by value, like int8.
SELECT typlen, typbyval = (SELECT typbyval FROM pg_type WHERE oid = 'int8'::regtype) AS byval_like_int8,
       typalign, typstorage
FROM pg_type WHERE oid = 'loyalty.coupon_code'::regtype;
SELECT pg_column_size('7K3M-QX2P-W9DA'::loyalty.coupon_code) AS bytes;

-- Binary send/recv ----------------------------------------------------------
-- send: a version byte, then the 55-bit value as int8.
SELECT loyalty.coupon_code_send('0000-0000-0000') AS zero,
       loyalty.coupon_code_send('1000-0000-0007') AS one_high,
       loyalty.coupon_code_send('ZZZZ-ZZZZ-ZZZK') AS max;
-- A round trip through COPY BINARY (a server file in the data directory).
CREATE TEMP TABLE cc_bin (code loyalty.coupon_code);
CREATE TEMP TABLE cc_bin_back (code loyalty.coupon_code);
INSERT INTO cc_bin SELECT code FROM cc_order;
SELECT current_setting('data_directory') || '/loyalty_coupon_code_regress.bin' AS binfile \gset
COPY cc_bin TO :'binfile' (FORMAT binary);
COPY cc_bin_back FROM :'binfile' (FORMAT binary);
SELECT count(*) AS rows_back,
       count(*) FILTER (WHERE b.code IS NOT DISTINCT FROM a.code) AS equal
FROM (SELECT code, row_number() OVER () AS n FROM cc_bin) a
JOIN (SELECT code, row_number() OVER () AS n FROM cc_bin_back) b USING (n);
-- recv checks as strictly as input: a bytea written in binary COPY is read
-- back as coupon_code, so each case below is one crafted binary value.
CREATE FUNCTION pg_temp.recv(bytes bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    f text := current_setting('data_directory') || '/loyalty_coupon_code_regress.bin';
    r text;
BEGIN
    EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', bytes, f);
    CREATE TEMP TABLE cc_recv (code loyalty.coupon_code);
    BEGIN
        EXECUTE format('COPY cc_recv FROM %L (FORMAT binary)', f);
        SELECT code::text INTO r FROM cc_recv;
    EXCEPTION WHEN OTHERS THEN
        r := SQLSTATE || ': ' || regexp_replace(SQLERRM, E'\n.*', '');
    END;
    DROP TABLE cc_recv;
    RETURN r;
END
$$;
SELECT t.test, pg_temp.recv(t.bytes) AS result FROM (VALUES
  (1, 'valid',                 '\x01000000000000002a'::bytea),
  (2, 'valid maximum',         '\x01007fffffffffffff'),
  (3, 'value 2^55',            '\x010080000000000000'),
  (4, 'negative value',        '\x01ffffffffffffffff'),
  (5, 'unknown version 2',     '\x02000000000000002a'),
  (6, 'version 0',             '\x00000000000000002a'),
  (7, 'too short',             '\x010000000000002a'),
  (8, 'too long',              '\x01000000000000002a00'),
  (9, 'empty',                 '\x')
) AS t(test, what, bytes)
ORDER BY t.test;
SELECT 'rm -f ' || quote_literal(:'binfile') AS rmcmd \gset
COPY (SELECT 1 WHERE false) TO PROGRAM :'rmcmd';

-- is_coupon_code ------------------------------------------------------------
SELECT t.input, loyalty.is_coupon_code(t.input) AS valid FROM (VALUES
  ('7K3M-QX2P-W9DA'), ('7k3mqx2pw9da'), ('OOOO-OOOO-OOi2'), ('7K3M-QX2P-W9DB'),
  ('7K3M-QX2P-W9D'), ('7K3M-QX2P-W9DU'), (''), ('hello world'), ('7K3M-QX2P-W9Dé')
) AS t(input);

-- Generated codes -----------------------------------------------------------
-- 10,000 codes from pg_strong_random: all canonical, valid, distinct; every
-- symbol of the alphabet occurs at each of the 11 data positions.
CREATE TEMP TABLE cc_gen AS
SELECT loyalty._new_coupon_code() AS code FROM generate_series(1, 10000);
SELECT count(*) AS generated,
       count(DISTINCT code) AS distinct_codes,
       count(*) FILTER (WHERE code::text ~ '^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$') AS canonical,
       count(*) FILTER (WHERE loyalty.is_coupon_code(code::text)) AS valid,
       count(*) FILTER (WHERE code::text::loyalty.coupon_code = code) AS round_trip
FROM cc_gen;
SELECT count(*) AS positions_with_all_32_symbols FROM (
    SELECT pos FROM cc_gen, generate_series(1, 11) AS pos
    GROUP BY pos
    HAVING count(DISTINCT substr(replace(code::text, '-', ''), pos, 1)) = 32) s;
-- Uniqueness is the table's job: a unique index refuses a repeat.
CREATE TEMP TABLE cc_unique (code loyalty.coupon_code PRIMARY KEY);
INSERT INTO cc_unique SELECT code FROM cc_gen;
SELECT pg_temp.try($q$INSERT INTO cc_unique VALUES ('7k3m-qx2p-w9da'), ('7K3M-QX2P-W9DA')$q$) AS repeat;

-- Indexes -------------------------------------------------------------------
INSERT INTO cc_unique VALUES ('7K3M-QX2P-W9DA') ON CONFLICT DO NOTHING;
ANALYZE cc_unique;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT code FROM cc_unique WHERE code = '7K3M-QX2P-W9DA';
SELECT code FROM cc_unique WHERE code = '7k3m qx2p w9da';
EXPLAIN (COSTS OFF) SELECT count(*) FROM cc_unique WHERE code < '1000-0000-0007';
SELECT count(*) = (SELECT count(*) FROM cc_unique WHERE code::text < '1000-0000-0007') AS range_agrees
FROM cc_unique WHERE code < '1000-0000-0007';
-- A hash index answers equality (the btree dropped so the plan is stable).
BEGIN;
CREATE INDEX cc_unique_hash ON cc_unique USING hash (code);
ALTER TABLE cc_unique DROP CONSTRAINT cc_unique_pkey;
EXPLAIN (COSTS OFF) SELECT code FROM cc_unique WHERE code = '7K3M-QX2P-W9DA';
SELECT code FROM cc_unique WHERE code = '7K3M-QX2P-W9DA';
ROLLBACK;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexscan;
-- Hash joins, hash aggregates, merge joins and sorts all agree.
SET enable_mergejoin = off;
SELECT count(*) AS hash_join FROM cc_gen a JOIN cc_unique b USING (code);
RESET enable_mergejoin;
SET enable_hashjoin = off;
SET enable_nestloop = off;
SELECT count(*) AS merge_join FROM cc_gen a JOIN cc_unique b USING (code);
RESET enable_hashjoin;
RESET enable_nestloop;
SELECT (SELECT count(*) FROM (SELECT code FROM cc_gen GROUP BY code) g) AS grouped,
       (SELECT bool_and(code::text < next::text)
        FROM (SELECT code, lead(code) OVER (ORDER BY code) AS next FROM cc_gen) s
        WHERE next IS NOT NULL) AS sort_is_text_order;

-- The check, proven exhaustively --------------------------------------------
-- The check is the Damm scheme over the quasigroup x * y = 2x + y in
-- GF(32) = GF(2)[t]/(t^5 + t^2 + 1) (docs/coupons.md): the state starts at
-- 0, each symbol d makes it state * d, a code is valid when it ends at 0.
-- op() below is that operation, written from the documentation.
CREATE FUNCTION pg_temp.op(s int, d int) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT (((s << 1) & 31) # (CASE WHEN s & 16 <> 0 THEN 5 ELSE 0 END)) # d $$;
CREATE FUNCTION pg_temp.sym(i int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', i + 1, 1) $$;

-- 1. The table: every row and every column is a permutation (a quasigroup),
-- and (s * x) * y = (s * y) * x only when x = y (totally anti-symmetric),
-- checked for every s and every pair x <> y.  A single substitution changes
-- the state at its position (rows are permutations) and every later step
-- keeps states apart (columns are permutations), so the code ends off 0;
-- likewise an adjacent transposition.
SELECT count(*) AS triples,
       count(*) FILTER (WHERE pg_temp.op(s, x) = pg_temp.op(s, y)) AS row_collisions,
       count(*) FILTER (WHERE pg_temp.op(x, s) = pg_temp.op(y, s)) AS column_collisions,
       count(*) FILTER (WHERE pg_temp.op(pg_temp.op(s, x), y) = pg_temp.op(pg_temp.op(s, y), x)) AS swaps_undetected
FROM generate_series(0, 31) s, generate_series(0, 31) x, generate_series(0, 31) y
WHERE x <> y;

-- 2. Through the input function, from every state at every position.  Code
-- = P(k, p) || x || [y] || zeros || check: the prefix P(k, p) is k - 1
-- zeros and the symbol p, which puts the state before position k through
-- all 32 values (one, 0, at position 0); the check comes from op().  Every
-- such base code must be accepted, and each mutant rejected: x replaced by
-- every other symbol (positions 0..11, the check included), x and the next
-- symbol swapped (positions 0..10, the check included).
CREATE TEMP TABLE cc_zeros AS            -- state after n zeros from s
WITH RECURSIVE z(n, s, st) AS (
    SELECT 0, s, s FROM generate_series(0, 31) s
    UNION ALL SELECT n + 1, s, pg_temp.op(st, 0) FROM z WHERE n < 11)
SELECT n, s, st FROM z;
CREATE TEMP TABLE cc_prefix AS           -- prefix text and the state it leaves
SELECT 0 AS k, 0 AS p, '' AS prefix, 0 AS st
UNION ALL
SELECT k, p, repeat('0', k - 1) || pg_temp.sym(p), pg_temp.op(z.st, p)
FROM generate_series(1, 11) k, generate_series(0, 31) p, cc_zeros z
WHERE z.n = k - 1 AND z.s = 0;
-- substitutions at data positions k = 0..10: base P || x || 0^(10-k) || c
CREATE TEMP TABLE cc_subst AS
SELECT b.prefix || pg_temp.sym(b.x) || repeat('0', 10 - b.k) || pg_temp.sym(pg_temp.op(z.st, 0)) AS base,
       b.prefix || pg_temp.sym(y) || repeat('0', 10 - b.k) || pg_temp.sym(pg_temp.op(z.st, 0)) AS mutant
FROM (SELECT c.*, x FROM cc_prefix c, generate_series(0, 31) x WHERE c.k <= 10) b
JOIN cc_zeros z ON z.n = 10 - b.k AND z.s = pg_temp.op(b.st, b.x)
CROSS JOIN generate_series(0, 31) y
WHERE y <> b.x
UNION ALL                                -- the check symbol itself (k = 11)
SELECT prefix || pg_temp.sym(pg_temp.op(st, 0)), prefix || pg_temp.sym(y)
FROM cc_prefix, generate_series(0, 31) y
WHERE k = 11 AND y <> pg_temp.op(st, 0);
-- transpositions at k, k+1 = 0..9: base P || x || y || 0^(9-k) || c
CREATE TEMP TABLE cc_swap AS
SELECT b.prefix || pg_temp.sym(b.x) || pg_temp.sym(b.y) || repeat('0', 9 - b.k) || pg_temp.sym(pg_temp.op(z.st, 0)) AS base,
       b.prefix || pg_temp.sym(b.y) || pg_temp.sym(b.x) || repeat('0', 9 - b.k) || pg_temp.sym(pg_temp.op(z.st, 0)) AS mutant
FROM (SELECT c.*, x, y FROM cc_prefix c, generate_series(0, 31) x, generate_series(0, 31) y
      WHERE c.k <= 9 AND x <> y) b
JOIN cc_zeros z ON z.n = 9 - b.k AND z.s = pg_temp.op(pg_temp.op(b.st, b.x), b.y)
UNION ALL                                -- the last data symbol and the check (k = 10)
SELECT c.prefix || pg_temp.sym(x) || pg_temp.sym(pg_temp.op(pg_temp.op(c.st, x), 0)),
       c.prefix || pg_temp.sym(pg_temp.op(pg_temp.op(c.st, x), 0)) || pg_temp.sym(x)
FROM cc_prefix c, generate_series(0, 31) x
WHERE c.k = 10 AND x <> pg_temp.op(pg_temp.op(c.st, x), 0);
SELECT 'substitution' AS error, count(*) AS mutants,
       count(*) FILTER (WHERE length(base) <> 12 OR length(mutant) <> 12) AS malformed,
       count(*) FILTER (WHERE NOT loyalty.is_coupon_code(base)) AS bases_refused,
       count(*) FILTER (WHERE loyalty.is_coupon_code(mutant)) AS mutants_accepted
FROM cc_subst
UNION ALL
SELECT 'transposition', count(*),
       count(*) FILTER (WHERE length(base) <> 12 OR length(mutant) <> 12),
       count(*) FILTER (WHERE NOT loyalty.is_coupon_code(base)),
       count(*) FILTER (WHERE loyalty.is_coupon_code(mutant))
FROM cc_swap;
-- The C code and op() agree on the 10,000 generated codes too.
SELECT count(*) FILTER (WHERE st <> 0) AS generated_codes_off_zero
FROM (SELECT g.code, (WITH RECURSIVE f(i, st) AS (
                        SELECT 0, 0
                        UNION ALL
                        SELECT i + 1, pg_temp.op(st, strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ',
                                                  substr(replace(g.code::text, '-', ''), i + 1, 1)) - 1)
                        FROM f WHERE i < 12)
                      SELECT st FROM f WHERE i = 12) AS st
      FROM cc_gen g) s;

-- 3. Every single substitution and every adjacent transposition of 2,000
-- random valid codes, in canonical and in compact lower-case form.
CREATE TEMP TABLE cc_sample AS
SELECT replace(code::text, '-', '') AS s FROM cc_gen LIMIT 2000;
-- (Transpositions of two equal symbols are no error: their number varies.)
SELECT kind, CASE WHEN kind = 'substitution' THEN count(*)::text
                  ELSE (count(*) BETWEEN 20000 AND 22000)::text END AS mutants,
       count(*) FILTER (WHERE loyalty.is_coupon_code(m)) AS accepted,
       count(*) FILTER (WHERE loyalty.is_coupon_code(lower(m))) AS accepted_lower
FROM (
    SELECT 'substitution' AS kind, overlay(s PLACING pg_temp.sym(y) FROM pos FOR 1) AS m
    FROM cc_sample, generate_series(1, 12) pos, generate_series(0, 31) y
    WHERE pg_temp.sym(y) <> substr(s, pos, 1)
    UNION ALL
    SELECT 'transposition', overlay(s PLACING substr(s, pos + 1, 1) || substr(s, pos, 1) FROM pos FOR 2)
    FROM cc_sample, generate_series(1, 11) pos
    WHERE substr(s, pos, 1) <> substr(s, pos + 1, 1)
) t
GROUP BY kind ORDER BY kind;

-- Fuzz ----------------------------------------------------------------------
-- 100,000 strings through the input function, each in its own exception
-- block: random garbage, random edits of valid codes (substitute, insert,
-- delete, swap, any character of a pool with look-alikes and multibyte
-- characters), single substitutions and adjacent transpositions.  Every
-- rejection must be 22P02 and agree with is_coupon_code; every accepted
-- string must print canonically and read back equal; every single
-- substitution and adjacent transposition must be rejected.
\set VERBOSITY default
DO $fuzz$
DECLARE
    pool text[] := regexp_split_to_array(
        '0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyzOoIiLlUu- -_.:/#+é€０Ω', '')
        || ARRAY[E'\t', E'\n', ' ', '-', '-', '--', ''''];
    alpha text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    codes text[];
    n_total int := 0; n_ok int := 0; n_rejected int := 0; n_other int := 0;
    n_disagree int := 0; n_roundtrip_bad int := 0;
    n_single int := 0; n_single_accepted int := 0;
    i int; j int; e int; pos int; kind int;
    str text; c loyalty.coupon_code; accepted boolean; single boolean;
BEGIN
    SELECT array_agg(substr(cs.s, 1, 4) || '-' || substr(cs.s, 5, 4) || '-' || substr(cs.s, 9)) INTO codes FROM cc_sample cs;
    FOR i IN 1 .. 100000 LOOP
        kind := i % 4;
        single := false;
        IF kind = 0 THEN                    -- random garbage of 0..20 characters
            str := '';
            FOR j IN 1 .. floor(random() * 21)::int LOOP
                str := str || pool[1 + floor(random() * array_length(pool, 1))::int];
            END LOOP;
        ELSIF kind = 1 THEN                 -- 1..3 random edits of a valid code
            str := codes[1 + floor(random() * array_length(codes, 1))::int];
            IF random() < 0.5 THEN str := lower(str); END IF;
            FOR e IN 1 .. 1 + floor(random() * 3)::int LOOP
                pos := 1 + floor(random() * greatest(length(str), 1))::int;
                CASE floor(random() * 4)::int
                    WHEN 0 THEN str := overlay(str PLACING pool[1 + floor(random() * array_length(pool, 1))::int] FROM pos FOR 1);
                    WHEN 1 THEN str := overlay(str PLACING pool[1 + floor(random() * array_length(pool, 1))::int] FROM pos FOR 0);
                    WHEN 2 THEN str := overlay(str PLACING '' FROM pos FOR 1);
                    ELSE str := overlay(str PLACING substr(str, pos + 1, 1) || substr(str, pos, 1) FROM pos FOR 2);
                END CASE;
            END LOOP;
        ELSE                                -- one substitution or one adjacent swap of symbols
            str := replace(codes[1 + floor(random() * array_length(codes, 1))::int], '-', '');
            IF kind = 2 THEN
                pos := 1 + floor(random() * 12)::int;
                str := overlay(str PLACING substr(alpha, 1 + ((strpos(alpha, substr(str, pos, 1)) + floor(random() * 31)::int) % 32), 1)
                             FROM pos FOR 1);
                single := true;
            ELSE
                pos := 1 + floor(random() * 11)::int;
                IF substr(str, pos, 1) <> substr(str, pos + 1, 1) THEN
                    str := overlay(str PLACING substr(str, pos + 1, 1) || substr(str, pos, 1) FROM pos FOR 2);
                    single := true;
                END IF;
            END IF;
            str := substr(str, 1, 4) || '-' || substr(str, 5, 4) || '-' || substr(str, 9);
        END IF;

        n_total := n_total + 1;
        IF single THEN n_single := n_single + 1; END IF;
        BEGIN
            c := str::loyalty.coupon_code;
            accepted := true;
        EXCEPTION WHEN OTHERS THEN
            accepted := false;
            IF SQLSTATE = '22P02' THEN n_rejected := n_rejected + 1; ELSE n_other := n_other + 1; END IF;
        END;
        IF accepted THEN
            n_ok := n_ok + 1;
            IF single THEN n_single_accepted := n_single_accepted + 1; END IF;
            IF c::text !~ '^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$'
               OR c::text::loyalty.coupon_code <> c THEN
                n_roundtrip_bad := n_roundtrip_bad + 1;
            END IF;
        END IF;
        IF accepted IS DISTINCT FROM loyalty.is_coupon_code(str) THEN
            n_disagree := n_disagree + 1;
        END IF;
    END LOOP;
    RAISE NOTICE 'fuzz: % strings, all rejections 22P02: %, is_coupon_code agrees: %, accepted ones canonical: %',
        n_total, n_other = 0 AND n_rejected > 0, n_disagree = 0, n_ok > 0 AND n_roundtrip_bad = 0;
    RAISE NOTICE 'fuzz: single substitutions and adjacent transpositions among them: more than 40000: %, accepted: %',
        n_single > 40000, n_single_accepted;
END
$fuzz$;
\set VERBOSITY sqlstate

-- Privileges ----------------------------------------------------------------
-- The three roles compare codes and call is_coupon_code; nobody but the
-- owner calls _new_coupon_code.
SELECT r.rolname,
       has_function_privilege(r.rolname, 'loyalty.coupon_code_eq(loyalty.coupon_code, loyalty.coupon_code)', 'EXECUTE') AS eq,
       has_function_privilege(r.rolname, 'loyalty.coupon_code_lt(loyalty.coupon_code, loyalty.coupon_code)', 'EXECUTE') AS lt,
       has_function_privilege(r.rolname, 'loyalty.is_coupon_code(text)', 'EXECUTE') AS is_coupon_code,
       has_function_privilege(r.rolname, 'loyalty._new_coupon_code()', 'EXECUTE') AS new_code
FROM (VALUES ('loyalty_app'), ('loyalty_admin'), ('loyalty_reader')) AS r(rolname)
ORDER BY 1;
SET ROLE loyalty_reader;
SELECT '7k3m-qx2p-w9da'::loyalty.coupon_code = '7K3M-QX2P-W9DA' AS reader_compares,
       loyalty.is_coupon_code('7K3M-QX2P-W9DA') AS reader_checks;
SELECT pg_temp.try('SELECT loyalty._new_coupon_code()') AS reader_generates;
RESET ROLE;
