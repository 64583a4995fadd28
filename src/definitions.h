/*
 * definitions.h: a programme's earning rules, tiers and coupon templates as
 * C structures (definitions.c caches them per backend), the cart-line parser
 * and rule evaluation of rules.c and the tier computation of tiers.c, shared
 * with the order trigger and the coupons (coupons.c).
 */
#ifndef LOYALTY_DEFINITIONS_H
#define LOYALTY_DEFINITIONS_H

#include "ledger.h"

#include "utils/date.h"
#include "utils/jsonb.h"

typedef enum LyRuleKind
{
	LY_RULE_BASE,
	LY_RULE_MULTIPLIER,
	LY_RULE_EVENT,
	LY_RULE_CASHBACK
} LyRuleKind;

typedef struct LyRule
{
	char	   *code;
	LyRuleKind	kind;
	char	   *event;			/* "order" or the event name */
	bool		active;
	int64		per_amount;
	int64		points;
	Datum		multiplier;		/* numeric; multiplier rules */
	int			nskus;
	char	  **skus;			/* lines covered or boosted; none: all */
	int			ncategories;
	char	  **categories;
	bool		when_birthday;
	int			weekdays_mask;	/* bit d set: ISO weekday d; 0: any */
	int			ndates;
	DateADT    *dates;
	int			month_day;		/* 0: any */
	int			ntiers;
	char	  **tiers;
	int64		max_points_per_order;	/* 0: no cap */
	int64		max_points_per_day;
	int64		max_times;
	int64		max_per_day;
	bool		has_from;
	TimestampTz valid_from;
	bool		has_until;
	TimestampTz valid_until;
	Datum		cashback_percent;	/* numeric; cashback rules */
	char	   *from_wallet;	/* cashback: the programme wallet's name */
} LyRule;

typedef struct LyTier
{
	char	   *code;
	int32		rank;
	int64		threshold;
	Datum		discount_pct;	/* numeric */
	Datum		earn_multiplier;	/* numeric */
	Datum		benefits;		/* jsonb */
} LyTier;

/* A coupon template (campaign) as coupons.c evaluates it. */
typedef enum LyCouponScope
{
	LY_COUPON_STORE,
	LY_COUPON_ITEMS
} LyCouponScope;

typedef enum LyCouponStacking
{
	LY_STACK_DEFAULT,
	LY_STACK_EXCLUSIVE,
	LY_STACK_STACKABLE
} LyCouponStacking;

typedef struct LyCouponTemplate
{
	int64		template_id;
	char	   *code;
	LyCouponScope scope;
	int			nskus;
	char	  **skus;
	int			ncategories;
	char	  **categories;
	bool		percent;		/* else fixed */
	int64		fixed_value;	/* fixed: minor units */
	Datum		percent_value;	/* percent: numeric in (0, 100] */
	bool		percent_fast;	/* percent = percent_num / percent_den exactly in int64 */
	int64		percent_num;
	int64		percent_den;	/* 100 x 10^scale */
	bool		has_max_discount;
	int64		max_discount;
	int64		min_spend;
	bool		has_from;
	TimestampTz valid_from;
	bool		has_until;
	TimestampTz valid_until;	/* exclusive */
	int32		valid_days;		/* 0: none */
	bool		has_total_quantity;
	int64		total_quantity;
	int32		per_member_limit;	/* 0: none */
	bool		members_only;
	int32		new_member_days;	/* 0: none */
	int			ntiers;
	char	  **tiers;
	int			ntags;
	char	  **tags;
	bool		hidden;
	LyCouponStacking stacking;
} LyCouponTemplate;

typedef enum LyTierBasis
{
	LY_BASIS_LIFETIME_POINTS,
	LY_BASIS_ROLLING_12M_POINTS,
	LY_BASIS_ROLLING_12M_SPEND
} LyTierBasis;

typedef struct LyDefinitions
{
	int64		program_id;		/* hash key */
	int64		version;
	MemoryContext cxt;
	int			nrules;
	LyRule	   *rules;
	int			ntiers;
	LyTier	   *tiers;			/* rank ascending */
	int			ntemplates;
	LyCouponTemplate *templates;	/* coupon templates, template_id ascending */
	/* settings, from the settings cache at every lookup */
	char		timezone[64];
	LyTierBasis basis;
	int32		retain_months;
	int32		pending_days;
} LyDefinitions;

/* definitions.c */
extern LyDefinitions *ly_definitions(int64 program_id);
extern LyDefinitions *ly_definitions_version(int64 program_id, int64 version);
extern void ly_definitions_invalidate(void);
extern int64 ly_program_id(const char *code);
extern const LyCouponTemplate *ly_coupon_template(LyDefinitions *defs, int64 template_id);

/* rules.c: cart lines (also read by coupons.c) */
typedef struct LyCartLine
{
	char	   *sku;			/* NULL: none */
	char	   *category;
	int64		total;			/* price x qty */
} LyCartLine;

extern int	ly_parse_cart_lines(Jsonb *lines, LyCartLine **out, int64 *sum);

/* rules.c: what an order or an event earns */
typedef struct LyQuote
{
	int64		points;
	int			nawards;		/* capped rules that gave something */
	char	  **award_codes;
	int64	   *award_points;
	Datum		detail;			/* jsonb: how it was computed (if asked for) */
} LyQuote;

typedef struct LyMemberFacts
{
	int64		member_id;
	bool		has_birthday;
	DateADT		birthday;
	const char *tier;			/* at the instant priced; NULL: none */
} LyMemberFacts;

extern void ly_member_facts(int64 member_id, TimestampTz at, LyMemberFacts *facts);
extern void ly_member_facts_from(LyMemberFacts *facts, int64 member_id, TimestampTz at,
								 bool has_birthday, DateADT birthday, char *tier,
								 bool has_since, TimestampTz tier_since);
extern void ly_quote_order(LyDefinitions *defs, const LyMemberFacts *facts, int64 amount,
						   Jsonb *lines, TimestampTz at, bool with_detail, LyQuote *quote);
extern void ly_awards_record(int64 member_id, LyDefinitions *defs, TimestampTz at,
							 const LyQuote *quote);
/* Cashback an order earns, one per cashback rule that applies. */
typedef struct LyCashback
{
	const char *rule_code;
	const char *from_wallet;	/* wallet name */
	int64		amount;			/* minor units, rounded half-up */
} LyCashback;

extern int	ly_quote_cashback(LyDefinitions *defs, const LyMemberFacts *facts, int64 amount,
							  Jsonb *lines, TimestampTz at, LyCashback **out);
extern DateADT ly_local_date(const char *timezone, TimestampTz at);
extern bool ly_in_list(char **list, int n, const char *value);

/* tiers.c */
extern const LyTier *ly_tier_find(LyDefinitions *defs, const char *code);
extern const LyTier *ly_tier_reached(LyDefinitions *defs, int64 qualifying);
extern char *ly_member_tier_at(int64 member_id, TimestampTz at);
extern int64 ly_tier_points(int64 member_id, LyDefinitions *defs, TimestampTz at);
extern bool ly_tier_reevaluate(int64 member_id, int64 program_id, TimestampTz at,
							   const char *reason, bool review);

/* points.c: ledger operations the order trigger and events reuse */
typedef struct LyEarnArgs
{
	int64		member_id;
	int64		points;
	const char *source;
	const char *ref;
	TimestampTz at;
	TimestampTz available_at;
	bool		expiry_given;
	TimestampTz expires_at;
	bool		qualifying_entry;	/* the entry counts (once its lot qualifies) */
	bool		qualifying_lot;		/* the lot qualifies from `at` */
	Datum		detail;
	LyMember   *member;			/* already loaded and locked (stale after), or NULL */
	/*
	 * Set when the caller knows no earn with this key exists (an order's
	 * earn for a generation order_state has not earned): the key is not
	 * looked up before the insert, and if it is taken after all, this is
	 * called instead of a replay and must raise an error, which undoes what
	 * was written with its (sub)transaction.
	 */
	void		(*key_taken) (const struct LyEarnArgs *args);
	const void *key_taken_arg;
	int64		lot_id;			/* out: the lot created */
	bool		replayed;		/* out: the key was taken */
} LyEarnArgs;

extern int64 ly_points_earn(LyEarnArgs *args);
extern int64 ly_points_reverse(int64 member_id, const char *source, const char *ref,
							   const char *only_operation, bool all, int64 total,
							   TimestampTz at);

#endif							/* LOYALTY_DEFINITIONS_H */
