/*
 * coupon_code.c: the loyalty.coupon_code type: text and binary I/O, the
 * comparison and hash support of its btree and hash operator classes,
 * is_coupon_code(), random generation (loyalty._new_coupon_code() and the
 * C helpers declared in coupon_code.h).
 *
 * Text form: 12 symbols of the Crockford base32 alphabet
 * 0123456789ABCDEFGHJKMNPQRSTVWXYZ, shown in three groups of four (such as
 * 7K3M-QX2P-W9DA, the last symbol the check).  The first 11
 * carry 55 bits (most significant first); the 12th is a Damm check symbol
 * over the quasigroup of order 32
 *
 *     x * y = (2 . x) + y        in GF(32) = GF(2)[t] / (t^5 + t^2 + 1),
 *
 * "2" being the field element t, "+" XOR.  Reading the symbols left to
 * right, state = state * symbol, from 0; a code is valid when the final
 * state is 0, so the check symbol of data ending in state s is 2 . s.
 * Every row and column of the table is a permutation (a quasigroup), and
 * (s * x) * y = (s * y) * x implies x = y because 2 + 1 = 3 is non-zero
 * (totally anti-symmetric): so every substitution of one symbol and every
 * adjacent transposition changes the final state and is rejected.
 * docs/coupons.md has the proof and sql/coupon_code.sql checks it
 * exhaustively.
 *
 * Storage: the 55-bit data value in an int64 (LIKE int8: 8 bytes, passed
 * by value on 64-bit builds); the check symbol is recomputed on output.
 * Its order is the order of the canonical text.
 */
#include "loyalty.h"
#include "coupon_code.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/sortsupport.h"

/* Soft input errors (pg_input_is_valid) exist from PostgreSQL 16. */
#if PG_VERSION_NUM < 160000
#define ereturn(context, dummy_value, ...) \
	do { \
		ereport(ERROR, __VA_ARGS__); \
		return dummy_value; \
	} while (0)
#endif

PG_FUNCTION_INFO_V1(ly_coupon_code_in);
PG_FUNCTION_INFO_V1(ly_coupon_code_out);
PG_FUNCTION_INFO_V1(ly_coupon_code_recv);
PG_FUNCTION_INFO_V1(ly_coupon_code_send);
PG_FUNCTION_INFO_V1(ly_coupon_code_eq);
PG_FUNCTION_INFO_V1(ly_coupon_code_ne);
PG_FUNCTION_INFO_V1(ly_coupon_code_lt);
PG_FUNCTION_INFO_V1(ly_coupon_code_le);
PG_FUNCTION_INFO_V1(ly_coupon_code_gt);
PG_FUNCTION_INFO_V1(ly_coupon_code_ge);
PG_FUNCTION_INFO_V1(ly_coupon_code_cmp);
PG_FUNCTION_INFO_V1(ly_coupon_code_sortsupport);
PG_FUNCTION_INFO_V1(ly_coupon_code_hash);
PG_FUNCTION_INFO_V1(ly_coupon_code_hash_extended);
PG_FUNCTION_INFO_V1(ly_is_coupon_code);
PG_FUNCTION_INFO_V1(ly_new_coupon_code);

/* Version byte that starts the binary form (send/recv). */
#define CC_BINARY_VERSION 1

/* ---------------------------------------------------------------------
 * The alphabet and the check
 * ------------------------------------------------------------------- */

static const char cc_alphabet[33] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/*
 * Byte -> symbol value, or -1.  Case-insensitive; O reads as 0, I and L as
 * 1; U and everything else is not a symbol.  Built from the alphabet on
 * first use.
 */
static int8 cc_decode[256];
static bool cc_decode_ready = false;

/* Fill cc_decode. */
static void
cc_init_decode(void)
{
	int			i;

	memset(cc_decode, -1, sizeof(cc_decode));
	for (i = 0; i < 32; i++)
	{
		unsigned char c = (unsigned char) cc_alphabet[i];

		cc_decode[c] = (int8) i;
		if (c >= 'A' && c <= 'Z')
			cc_decode[c - 'A' + 'a'] = (int8) i;
	}
	cc_decode['O'] = cc_decode['o'] = 0;
	cc_decode['I'] = cc_decode['i'] = 1;
	cc_decode['L'] = cc_decode['l'] = 1;
	cc_decode_ready = true;
}

/* The Damm quasigroup: state * symbol = 2.state + symbol in GF(32). */
static inline int
cc_step(int state, int symbol)
{
	int			doubled = (state << 1) & 0x1F;

	if (state & 0x10)
		doubled ^= 0x05;		/* t^5 = t^2 + 1 */
	return doubled ^ symbol;
}

/* The check symbol of 55 bits of data: the one that brings the state to 0. */
static int
cc_check_symbol(int64 data)
{
	int			state = 0;
	int			i;

	for (i = LY_COUPON_CODE_DATA_SYMBOLS - 1; i >= 0; i--)
		state = cc_step(state, (int) ((data >> (5 * i)) & 0x1F));
	/* state * c = 0  <=>  c = 2.state (XOR is its own inverse) */
	return cc_step(state, 0);
}

/* ---------------------------------------------------------------------
 * Parsing and formatting
 * ------------------------------------------------------------------- */

typedef enum CcParse
{
	CC_OK,
	CC_BAD_SYMBOL,				/* a character that is not a symbol */
	CC_BAD_LENGTH,				/* not 12 symbols */
	CC_BAD_CHECK				/* 12 symbols, wrong check: mistyped */
} CcParse;

/* Hyphens and white space may appear anywhere in the text form. */
static inline bool
cc_is_separator(unsigned char c)
{
	return c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/*
 * Read a code.  On CC_OK *code is its data value; on CC_BAD_SYMBOL *bad
 * points at the offending character; *nsymbols counts the symbols read
 * (all of them for CC_BAD_LENGTH).  Raises nothing.
 */
static CcParse
cc_parse(const char *str, int64 *code, const char **bad, int64 *nsymbols)
{
	const unsigned char *p;
	int64		n = 0;
	int64		data = 0;
	int			state = 0;

	if (!cc_decode_ready)
		cc_init_decode();

	for (p = (const unsigned char *) str; *p; p++)
	{
		int			v;

		if (cc_is_separator(*p))
			continue;
		v = cc_decode[*p];
		if (v < 0)
		{
			*bad = (const char *) p;
			*nsymbols = n;
			return CC_BAD_SYMBOL;
		}
		if (n < LY_COUPON_CODE_SYMBOLS)
		{
			state = cc_step(state, v);
			if (n < LY_COUPON_CODE_DATA_SYMBOLS)
				data = (data << 5) | v;
		}
		n++;
	}
	*nsymbols = n;
	if (n != LY_COUPON_CODE_SYMBOLS)
		return CC_BAD_LENGTH;
	if (state != 0)
		return CC_BAD_CHECK;
	*code = data;
	return CC_OK;
}

/* Byte length of the (possibly multibyte) character at p, within its string. */
static int
cc_char_len(const char *p)
{
	int			len = pg_mblen(p);
	int			i;

	for (i = 1; i < len; i++)
		if (p[i] == '\0')
			return i;
	return len;
}

void
ly_coupon_code_format(int64 code, char *buf)
{
	char	   *o = buf;
	int			i;

	Assert(code >= 0 && code <= LY_COUPON_CODE_MAX);
	for (i = LY_COUPON_CODE_DATA_SYMBOLS - 1; i >= 0; i--)
	{
		*o++ = cc_alphabet[(code >> (5 * i)) & 0x1F];
		if (i == 7 || i == 3)
			*o++ = '-';
	}
	*o++ = cc_alphabet[cc_check_symbol(code)];
	*o = '\0';
}

bool
ly_coupon_code_parse(const char *str, int64 *code)
{
	const char *bad;
	int64		n;

	return cc_parse(str, code, &bad, &n) == CC_OK;
}

int64
ly_coupon_code_random(void)
{
	uint64		bits;

	if (!pg_strong_random(&bits, sizeof(bits)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random coupon code"),
				 errdetail("The strong random source (pg_strong_random) failed.")));
	return (int64) (bits & (uint64) LY_COUPON_CODE_MAX);
}

/* ---------------------------------------------------------------------
 * I/O functions
 * ------------------------------------------------------------------- */

/* coupon_code_in(cstring): the text form, checked; soft errors on 16+. */
Datum
ly_coupon_code_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int64		code = 0;
	const char *bad = NULL;
	int64		n = 0;

	switch (cc_parse(str, &code, &bad, &n))
	{
		case CC_OK:
			PG_RETURN_COUPON_CODE(code);
		case CC_BAD_SYMBOL:
			ereturn(fcinfo->context, (Datum) 0,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type coupon_code: \"%s\"", str),
					 errdetail("\"%.*s\" is not a symbol of a coupon code.",
							   cc_char_len(bad), bad),
					 errhint("A coupon code has 12 symbols from 0-9 and A-Z except U, such as \"7K3M-QX2P-W9DA\".")));
		case CC_BAD_LENGTH:
			ereturn(fcinfo->context, (Datum) 0,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type coupon_code: \"%s\"", str),
					 errdetail("A coupon code has 12 symbols; this has " INT64_FORMAT ".", n)));
		case CC_BAD_CHECK:
			ereturn(fcinfo->context, (Datum) 0,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("coupon code \"%s\" is mistyped", str),
					 errdetail("Its check character does not match the other 11 symbols."),
					 errhint("Look for a wrong or swapped character.")));
	}
	pg_unreachable();
}

/* coupon_code_out(coupon_code): the canonical text form. */
Datum
ly_coupon_code_out(PG_FUNCTION_ARGS)
{
	int64		code = PG_GETARG_COUPON_CODE(0);
	char	   *buf = palloc(LY_COUPON_CODE_BUFLEN);

	if (code < 0 || code > LY_COUPON_CODE_MAX)
		elog(ERROR, "coupon code value " INT64_FORMAT " out of range", code);
	ly_coupon_code_format(code, buf);
	PG_RETURN_CSTRING(buf);
}

/* coupon_code_recv(internal): version byte 1, then the data value as int8. */
Datum
ly_coupon_code_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version;
	int64		code;

	if (buf->len - buf->cursor != 9)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary coupon code: %d bytes, expected 9",
						buf->len - buf->cursor)));
	version = pq_getmsgbyte(buf);
	if (version != CC_BINARY_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary coupon code: unknown version %d", version)));
	code = pq_getmsgint64(buf);
	if (code < 0 || code > LY_COUPON_CODE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary coupon code: value " INT64_FORMAT " out of range", code)));
	PG_RETURN_COUPON_CODE(code);
}

/* coupon_code_send(coupon_code): version byte 1, then the data value. */
Datum
ly_coupon_code_send(PG_FUNCTION_ARGS)
{
	int64		code = PG_GETARG_COUPON_CODE(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, CC_BINARY_VERSION);
	pq_sendint64(&buf, code);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Comparison and hashing (the order of the canonical text)
 * ------------------------------------------------------------------- */

#define CC_ARGS int64 a = PG_GETARG_COUPON_CODE(0), b = PG_GETARG_COUPON_CODE(1)

/* = */
Datum
ly_coupon_code_eq(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_BOOL(a == b);
}

/* <> */
Datum
ly_coupon_code_ne(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_BOOL(a != b);
}

/* < */
Datum
ly_coupon_code_lt(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_BOOL(a < b);
}

/* <= */
Datum
ly_coupon_code_le(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_BOOL(a <= b);
}

/* > */
Datum
ly_coupon_code_gt(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_BOOL(a > b);
}

/* >= */
Datum
ly_coupon_code_ge(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_BOOL(a >= b);
}

/* btree support 1: -1, 0, 1. */
Datum
ly_coupon_code_cmp(PG_FUNCTION_ARGS)
{
	CC_ARGS;
	PG_RETURN_INT32(a < b ? -1 : (a > b ? 1 : 0));
}

/* The sort comparator behind btree support 2. */
static int
cc_fastcmp(Datum x, Datum y, SortSupport ssup)
{
	int64		a = DatumGetCouponCode(x);
	int64		b = DatumGetCouponCode(y);

	return a < b ? -1 : (a > b ? 1 : 0);
}

/* btree support 2: sort support. */
Datum
ly_coupon_code_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = cc_fastcmp;
	PG_RETURN_VOID();
}

/* hash support 1: the int8 hash of the data value. */
Datum
ly_coupon_code_hash(PG_FUNCTION_ARGS)
{
	return hashint8(fcinfo);
}

/* hash support 2: the seeded int8 hash of the data value. */
Datum
ly_coupon_code_hash_extended(PG_FUNCTION_ARGS)
{
	return hashint8extended(fcinfo);
}

/* ---------------------------------------------------------------------
 * SQL helpers
 * ------------------------------------------------------------------- */

/* is_coupon_code(text): would the input function accept it? */
Datum
ly_is_coupon_code(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		code;

	PG_RETURN_BOOL(ly_coupon_code_parse(str, &code));
}

/* _new_coupon_code(): a code from the strong random source. */
Datum
ly_new_coupon_code(PG_FUNCTION_ARGS)
{
	PG_RETURN_COUPON_CODE(ly_coupon_code_random());
}
