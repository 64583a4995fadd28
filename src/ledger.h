/*
 * ledger.h: the points ledger engine (ledger.c) shared by the API
 * (points.c) and the batch jobs (jobs.c).
 *
 * A member's points live in lots.  A write locks the member row, loads the
 * member's open lots (remaining > 0) into memory, changes them, then posts
 * one append-only entry whose lots[] / lot_points[] record every lot it moved,
 * and saves the member's booked state and read cache.
 */
#ifndef LOYALTY_LEDGER_H
#define LOYALTY_LEDGER_H

#include "loyalty.h"

typedef struct LyLot
{
	int64		lot_id;
	int64		points;			/* original amount */
	int64		remaining;
	int64		move;			/* change made by the entry being built */
	int			move_order;		/* when this entry first moved it (1, 2, ...) */
	int64		late_returned;	/* given back after it expired, not yet booked */
	TimestampTz late_returned_at;
	TimestampTz created_at;
	TimestampTz available_at;	/* DT_NOEND: pending */
	TimestampTz expires_at;		/* meaningful only if has_expiry */
	bool		has_expiry;
	bool		qualifying;
	TimestampTz qualifying_from;
	bool		is_new;			/* to INSERT rather than UPDATE */
	bool		dirty;			/* remaining changed since load */
} LyLot;

typedef struct LyMember
{
	int64		member_id;
	int64		program_id;
	int64		booked;
	int64		debt;
	int64		lifetime_earned;
	bool		has_entries;
	TimestampTz last_entry_at;
	TimestampTz cache_until;	/* the read cache as loaded */
	int64		cache_available;
	/* programme settings the ledger needs */
	char	   *timezone;
	bool		has_expire_policy;
	int32		expire_months;
	bool		allow_negative;
	/* open lots, once loaded */
	LyLot	   *lots;
	int			nlots;
	int			maxlots;
	bool		lots_loaded;
	int			moves;			/* lots moved by the entry being built */
	bool		defer_lot_writes;	/* write changed lots once, when saved */
} LyMember;

/* Programme settings the ledger reads (settings.c caches them per backend). */
typedef struct LySettings
{
	int64		program_id;		/* hash key */
	char		timezone[64];
	bool		has_expire_policy;
	int32		expire_months;
	bool		allow_negative;
	bool		has_tiers;		/* tier evaluation is needed */
	int32		pending_days;
	char		tier_basis[32];
	int32		retain_months;
	int64		definitions_version;	/* rules and tiers (definitions.c) */
} LySettings;

extern void ly_settings_init(void);
extern const LySettings *ly_settings(int64 program_id);

/* The entry being built; lot moves are read from the lots' move fields. */
typedef struct LyEntry
{
	const char *operation;
	int64		points;
	const char *source;
	const char *ref;
	TimestampTz at;
	int64		debt_delta;
	bool		has_reverses;
	int64		reverses;
	int64		covers;
	bool		has_counterparty;
	int64		counterparty;
	bool		qualifying;
	Datum		detail;			/* jsonb as text, or 0 */
	bool		keyed;			/* carries an idempotency key: post returns 0 if taken */
	bool		key_is_new;		/* keyed, and known new: the direct insert does not look
								 * it up first; if taken it returns 0 having written
								 * the row, and the caller must raise an error */
} LyEntry;

/* A previous entry found by its idempotency key. */
typedef struct LyKeyedEntry
{
	int64		entry_id;
	int64		points;
	bool		has_counterparty;
	int64		counterparty;
} LyKeyedEntry;

/* What the member row holds besides the ledger state (the order trigger prices with it). */
typedef struct LyMemberRowFacts
{
	bool		has_birthday;
	int32		birthday;		/* DateADT */
	char	   *tier;			/* NULL: none */
	bool		has_since;
	TimestampTz tier_since;
} LyMemberRowFacts;

pg_noreturn extern void ly_unknown_member(int64 member_id);
extern void ly_member_load(int64 member_id, bool for_update, LyMember *m);
extern bool ly_member_lock(int64 member_id, LyMember *m, LyMemberRowFacts *facts);
extern bool ly_member_read(int64 member_id, LyMember *m, LyMemberRowFacts *facts);
extern void ly_member_from_row(LyMember *m, int64 member_id, uint64 row);
extern void ly_member_save(LyMember *m);
extern bool ly_cache_holds_at(const LyMember *m, TimestampTz at);
extern int64 ly_entry_post_final(LyMember *m, LyEntry *e);
extern int64 ly_earn_in_window(LyMember *m, LyEntry *e, LyLot *lot);
extern int64 ly_spend_in_window(LyMember *m, LyEntry *e, bool *key_taken);
extern void ly_lots_load_open(LyMember *m);
extern LyLot *ly_lot_find(LyMember *m, int64 lot_id);
extern LyLot *ly_lot_fetch(LyMember *m, int64 lot_id);
extern LyLot *ly_lot_add(LyMember *m, int64 points, TimestampTz created_at,
						 TimestampTz available_at, bool has_expiry,
						 TimestampTz expires_at, bool qualifying);
extern void ly_lot_move(LyMember *m, LyLot *lot, int64 delta);
extern bool ly_lot_usable(const LyLot *lot, TimestampTz at);
extern bool ly_lot_expired(const LyLot *lot, TimestampTz at);
extern int64 ly_lots_usable_total(LyMember *m, TimestampTz at);
extern int64 ly_lots_consume(LyMember *m, TimestampTz at, int64 amount, int64 skip_lot_id);
extern void ly_settle_debt(LyMember *m, TimestampTz from, TimestampTz at);
extern void ly_begin_write(LyMember *m, TimestampTz at);
extern int64 ly_entry_post(LyMember *m, LyEntry *entry);
extern void ly_entry_init(LyEntry *entry, const char *operation, const char *source,
						  const char *ref, TimestampTz at);
extern bool ly_find_keyed(int64 member_id, const char *operation, const char *source,
						  const char *ref, LyKeyedEntry *found);
extern TimestampTz ly_policy_expiry(LyMember *m, TimestampTz available_at, bool *has_expiry);
extern void ly_lot_set_state(LyMember *locked, int64 member_id, int64 lot_id, TimestampTz available_at,
							 bool qualifying, const char *operation, const char *source,
							 const char *ref, TimestampTz at);
extern int64 *ly_int8_array_values(Datum d, int *n);
extern int64 ly_add_points(int64 a, int64 b, int64 member_id, const char *what);

/* Effective balance and the other balance figures at an instant. */
typedef struct LyBalance
{
	int64		available;
	int64		pending;
	int64		expiring_30d;
	int64		lifetime_earned;
	int64		tier_points;
	int64		debt;
} LyBalance;

extern int64 ly_effective_points(int64 member_id, TimestampTz at);
extern void ly_balance_at(int64 member_id, TimestampTz at, LyBalance *out);

#endif							/* LOYALTY_LEDGER_H */
