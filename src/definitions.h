/*
 * definitions.h: a programme's earning rules and tiers as C structures
 * (definitions.c caches them per backend), the rule evaluation of rules.c
 * and the tier computation of tiers.c, shared with the order trigger.
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
	/* settings, from the settings cache at every lookup */
	char		timezone[64];
	LyTierBasis basis;
	int32		retain_months;
	int32		pending_days;
} LyDefinitions;

/* definitions.c */
extern LyDefinitions *ly_definitions(int64 program_id);
extern LyDefinitions *ly_definitions_version(int64 program_id, int64 version);
extern int64 ly_program_id(const char *code);

/* rules.c: what an order or an event earns */
typedef struct LyQuote
{
	int64		points;
	int			nawards;		/* capped rules that gave something */
	char	  **award_codes;
	int64	   *award_points;
	Datum		detail;			/* jsonb text: how it was computed */
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
						   Jsonb *lines, TimestampTz at, LyQuote *quote);
extern void ly_awards_record(int64 member_id, LyDefinitions *defs, TimestampTz at,
							 const LyQuote *quote);
extern DateADT ly_local_date(const char *timezone, TimestampTz at);

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
	int64		lot_id;			/* out: the lot created */
	bool		replayed;		/* out: the key was taken */
} LyEarnArgs;

extern int64 ly_points_earn(LyEarnArgs *args);
extern int64 ly_points_reverse(int64 member_id, const char *source, const char *ref,
							   const char *only_operation, bool all, int64 total,
							   TimestampTz at);

#endif							/* LOYALTY_DEFINITIONS_H */
