/*
 * coupons.h: coupon evaluation (coupons.c) for other C code: the cart as
 * coupons read it, one coupon's row, and the evaluation validate_coupon and
 * best_coupons make, so that redeem_coupon prices a coupon exactly as
 * validate_coupon answered.
 *
 * Everything here runs inside ly_enter / ly_enter_read (loyalty.h).
 */
#ifndef LOYALTY_COUPONS_H
#define LOYALTY_COUPONS_H

#include "definitions.h"

/* A parsed cart: {"lines": [...]}, an empty array allowed. */
typedef struct LyCouponCart
{
	int			nlines;
	LyCartLine *lines;
	int64		total;			/* list price of the whole cart: sum of price x qty */
} LyCouponCart;

/* loyalty.coupon.state */
typedef enum LyCouponState
{
	LY_COUPON_ISSUED,
	LY_COUPON_AVAILABLE,
	LY_COUPON_LOCKED,
	LY_COUPON_USED,
	LY_COUPON_EXPIRED,
	LY_COUPON_VOID
} LyCouponState;

/* The columns of one loyalty.coupon row that evaluation reads. */
typedef struct LyCouponRow
{
	int64		code;
	int64		template_id;
	int64		program_id;
	bool		has_member;
	int64		member_id;
	LyCouponState state;
	bool		has_from;
	TimestampTz valid_from;		/* the coupon's own window (claimed coupons) */
	bool		has_until;
	TimestampTz valid_until;	/* exclusive */
} LyCouponRow;

/* The member facts evaluation needs (read once per call). */
typedef struct LyCouponMember
{
	int64		member_id;
	int64		program_id;
} LyCouponMember;

/* What one coupon is worth on a cart, alone. */
typedef struct LyCouponResult
{
	bool		ok;
	int64		discount;		/* 0 unless ok */
	const char *reason;			/* NULL when ok; else a stable word (SPEC 6) */
	int64		covered;		/* list amount the coupon applies to (store: whole cart) */
	const LyCouponTemplate *tmpl;	/* NULL for unknown_code */
} LyCouponResult;

/* Parse a cart; raises 22023 "malformed cart ..." (the result lives in the current context). */
extern LyCouponCart *ly_coupon_cart(Jsonb *cart);

/* Read a member; raises LY004 if there is none. */
extern void ly_coupon_member(int64 member_id, LyCouponMember *member);

/* Read a coupon row with the active snapshot; false if there is none. */
extern bool ly_coupon_read(int64 code, LyCouponRow *row);

/*
 * Evaluate a coupon row (NULL: no such code) for a member and cart at `at`:
 * the reasons of validate_coupon in their order, then the discount alone.
 * A caller that locked the row itself (redeem) passes what it locked.
 */
extern void ly_coupon_check(const LyCouponRow *row, const LyCouponMember *member,
							const LyCouponCart *cart, TimestampTz at, LyCouponResult *result);

/* ly_coupon_read + ly_coupon_check: exactly what validate_coupon answers. */
extern void ly_coupon_evaluate(int64 code, const LyCouponMember *member,
							   const LyCouponCart *cart, TimestampTz at, LyCouponResult *result);

/* A template's discount on an amount `base` >= 0 (fixed / percent, capped, never above base). */
extern int64 ly_coupon_discount(const LyCouponTemplate *tmpl, int64 base);

#endif							/* LOYALTY_COUPONS_H */
