-- coupon_code.sql: the loyalty.coupon_code type (C, src/coupon_code.c):
-- I/O, comparison operators, btree and hash operator classes, casts to and
-- from text, is_coupon_code() and the random generator _new_coupon_code().
-- The check algorithm is documented in docs/coupons.md.

CREATE TYPE @extschema@.coupon_code;

CREATE FUNCTION @extschema@.coupon_code_in(cstring) RETURNS @extschema@.coupon_code
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_coupon_code_in';
COMMENT ON FUNCTION @extschema@.coupon_code_in(cstring) IS
    'Input of coupon_code: 12 Crockford base32 symbols, case-insensitive, hyphens and spaces anywhere, O read as 0 and I/L as 1; a wrong check character is an error.';

CREATE FUNCTION @extschema@.coupon_code_out(@extschema@.coupon_code) RETURNS cstring
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_coupon_code_out';
COMMENT ON FUNCTION @extschema@.coupon_code_out(@extschema@.coupon_code) IS
    'Output of coupon_code: the canonical form XXXX-XXXX-XXXC.';

CREATE FUNCTION @extschema@.coupon_code_recv(internal) RETURNS @extschema@.coupon_code
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_coupon_code_recv';
COMMENT ON FUNCTION @extschema@.coupon_code_recv(internal) IS
    'Binary input of coupon_code: a version byte (1), then the 55-bit value as int8; checked like text input.';

CREATE FUNCTION @extschema@.coupon_code_send(@extschema@.coupon_code) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_coupon_code_send';
COMMENT ON FUNCTION @extschema@.coupon_code_send(@extschema@.coupon_code) IS
    'Binary output of coupon_code: a version byte (1), then the 55-bit value as int8.';

-- 8 bytes, aligned and passed like int8 (by value on 64-bit builds).
CREATE TYPE @extschema@.coupon_code (
    INPUT = @extschema@.coupon_code_in,
    OUTPUT = @extschema@.coupon_code_out,
    RECEIVE = @extschema@.coupon_code_recv,
    SEND = @extschema@.coupon_code_send,
    LIKE = pg_catalog.int8
);
COMMENT ON TYPE @extschema@.coupon_code IS
    'A typo-proof coupon code: 11 random Crockford base32 symbols and a Damm check symbol, shown XXXX-XXXX-XXXC.';

-- Comparisons: the order of the canonical text ------------------------------

CREATE FUNCTION @extschema@.coupon_code_eq(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_eq';
COMMENT ON FUNCTION @extschema@.coupon_code_eq(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'Implements = for coupon_code.';

CREATE FUNCTION @extschema@.coupon_code_ne(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_ne';
COMMENT ON FUNCTION @extschema@.coupon_code_ne(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'Implements <> for coupon_code.';

CREATE FUNCTION @extschema@.coupon_code_lt(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_lt';
COMMENT ON FUNCTION @extschema@.coupon_code_lt(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'Implements < for coupon_code (canonical text order).';

CREATE FUNCTION @extschema@.coupon_code_le(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_le';
COMMENT ON FUNCTION @extschema@.coupon_code_le(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'Implements <= for coupon_code (canonical text order).';

CREATE FUNCTION @extschema@.coupon_code_gt(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_gt';
COMMENT ON FUNCTION @extschema@.coupon_code_gt(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'Implements > for coupon_code (canonical text order).';

CREATE FUNCTION @extschema@.coupon_code_ge(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_ge';
COMMENT ON FUNCTION @extschema@.coupon_code_ge(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'Implements >= for coupon_code (canonical text order).';

CREATE FUNCTION @extschema@.coupon_code_cmp(@extschema@.coupon_code, @extschema@.coupon_code) RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_cmp';
COMMENT ON FUNCTION @extschema@.coupon_code_cmp(@extschema@.coupon_code, @extschema@.coupon_code) IS
    'btree support: -1, 0 or 1 in canonical text order.';

CREATE FUNCTION @extschema@.coupon_code_sortsupport(internal) RETURNS void
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_coupon_code_sortsupport';
COMMENT ON FUNCTION @extschema@.coupon_code_sortsupport(internal) IS
    'btree support: sort support for coupon_code.';

CREATE FUNCTION @extschema@.coupon_code_hash(@extschema@.coupon_code) RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_hash';
COMMENT ON FUNCTION @extschema@.coupon_code_hash(@extschema@.coupon_code) IS
    'hash support: 32-bit hash of a coupon code.';

CREATE FUNCTION @extschema@.coupon_code_hash_extended(@extschema@.coupon_code, bigint) RETURNS bigint
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'ly_coupon_code_hash_extended';
COMMENT ON FUNCTION @extschema@.coupon_code_hash_extended(@extschema@.coupon_code, bigint) IS
    'hash support: seeded 64-bit hash of a coupon code.';

CREATE OPERATOR @extschema@.= (
    LEFTARG = @extschema@.coupon_code, RIGHTARG = @extschema@.coupon_code,
    FUNCTION = @extschema@.coupon_code_eq,
    COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
    RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR @extschema@.<> (
    LEFTARG = @extschema@.coupon_code, RIGHTARG = @extschema@.coupon_code,
    FUNCTION = @extschema@.coupon_code_ne,
    COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
    RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
CREATE OPERATOR @extschema@.< (
    LEFTARG = @extschema@.coupon_code, RIGHTARG = @extschema@.coupon_code,
    FUNCTION = @extschema@.coupon_code_lt,
    COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
    RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
CREATE OPERATOR @extschema@.<= (
    LEFTARG = @extschema@.coupon_code, RIGHTARG = @extschema@.coupon_code,
    FUNCTION = @extschema@.coupon_code_le,
    COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
    RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
CREATE OPERATOR @extschema@.> (
    LEFTARG = @extschema@.coupon_code, RIGHTARG = @extschema@.coupon_code,
    FUNCTION = @extschema@.coupon_code_gt,
    COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
    RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
CREATE OPERATOR @extschema@.>= (
    LEFTARG = @extschema@.coupon_code, RIGHTARG = @extschema@.coupon_code,
    FUNCTION = @extschema@.coupon_code_ge,
    COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
    RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);

CREATE OPERATOR CLASS @extschema@.coupon_code_ops
DEFAULT FOR TYPE @extschema@.coupon_code USING btree AS
    OPERATOR 1 @extschema@.<,
    OPERATOR 2 @extschema@.<=,
    OPERATOR 3 @extschema@.=,
    OPERATOR 4 @extschema@.>=,
    OPERATOR 5 @extschema@.>,
    FUNCTION 1 @extschema@.coupon_code_cmp(@extschema@.coupon_code, @extschema@.coupon_code),
    FUNCTION 2 @extschema@.coupon_code_sortsupport(internal);

CREATE OPERATOR CLASS @extschema@.coupon_code_hash_ops
DEFAULT FOR TYPE @extschema@.coupon_code USING hash AS
    OPERATOR 1 @extschema@.=,
    FUNCTION 1 @extschema@.coupon_code_hash(@extschema@.coupon_code),
    FUNCTION 2 @extschema@.coupon_code_hash_extended(@extschema@.coupon_code, bigint);

-- Casts: through the I/O functions, so text input is checked the same way.
CREATE CAST (text AS @extschema@.coupon_code) WITH INOUT AS ASSIGNMENT;
CREATE CAST (@extschema@.coupon_code AS text) WITH INOUT AS ASSIGNMENT;

-- Helpers -------------------------------------------------------------------

CREATE FUNCTION @extschema@.is_coupon_code(code text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_is_coupon_code';
COMMENT ON FUNCTION @extschema@.is_coupon_code(text) IS
    'True when the text is a valid coupon code (what coupon_code input accepts), false otherwise; never raises.';

CREATE FUNCTION @extschema@._new_coupon_code() RETURNS @extschema@.coupon_code
LANGUAGE C VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ly_new_coupon_code';
COMMENT ON FUNCTION @extschema@._new_coupon_code() IS
    'Internal: a new coupon code from the strong random source (pg_strong_random); uniqueness is the table''s job.';

-- Who may use what (grants.sql then revokes everything from PUBLIC): the
-- comparison operators and their support, and is_coupon_code, for the three
-- roles; the I/O functions for everyone, as for built-in types (an I/O cast
-- such as $1::loyalty.coupon_code calls them with the caller's rights);
-- _new_coupon_code stays with the owner.
GRANT EXECUTE ON FUNCTION
    @extschema@.coupon_code_eq(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_ne(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_lt(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_le(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_gt(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_ge(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_cmp(@extschema@.coupon_code, @extschema@.coupon_code),
    @extschema@.coupon_code_hash(@extschema@.coupon_code),
    @extschema@.coupon_code_hash_extended(@extschema@.coupon_code, bigint),
    @extschema@.is_coupon_code(text)
TO loyalty_app, loyalty_admin, loyalty_reader;
