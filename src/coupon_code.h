/*
 * coupon_code.h: the loyalty.coupon_code type for other C files
 * (src/coupon_code.c owns it; the algorithm is in docs/coupons.md).
 *
 * A code is 11 data symbols (55 random bits) plus one Damm check symbol,
 * shown as XXXX-XXXX-XXXC.  The Datum is the 55-bit data value as an int64
 * (0 .. 2^55 - 1); the check symbol is recomputed on output.
 */
#ifndef LOYALTY_COUPON_CODE_H
#define LOYALTY_COUPON_CODE_H

#include "postgres.h"
#include "fmgr.h"

/* Symbols of a code: 11 data + 1 check; text form with two hyphens. */
#define LY_COUPON_CODE_DATA_SYMBOLS	11
#define LY_COUPON_CODE_SYMBOLS		12
#define LY_COUPON_CODE_MAX			((INT64CONST(1) << 55) - 1)
/* Buffer size for ly_coupon_code_format: "XXXX-XXXX-XXXC" and a NUL. */
#define LY_COUPON_CODE_BUFLEN		15

#define DatumGetCouponCode(X)		DatumGetInt64(X)
#define CouponCodeGetDatum(X)		Int64GetDatum(X)
#define PG_GETARG_COUPON_CODE(n)	DatumGetCouponCode(PG_GETARG_DATUM(n))
#define PG_RETURN_COUPON_CODE(x)	return CouponCodeGetDatum(x)

/* A new code from pg_strong_random(); raises if no strong source. */
extern int64 ly_coupon_code_random(void);

/* Write the canonical text form of a code into buf (LY_COUPON_CODE_BUFLEN). */
extern void ly_coupon_code_format(int64 code, char *buf);

/* Parse a code's text form; false (nothing raised) if it is not a valid code. */
extern bool ly_coupon_code_parse(const char *str, int64 *code);

#endif							/* LOYALTY_COUPON_CODE_H */
