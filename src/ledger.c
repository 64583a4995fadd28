/*
 * ledger.c: the points ledger engine.  Owns members' booked state, lots,
 * lot consumption order, debt settlement, entry posting, the balance read
 * cache, and the computation of a balance at any instant.
 *
 * Invariants (verify() checks them):
 *   member.booked = sum(points_entry.points)
 *                 = sum(points_lot.remaining) - member.debt
 *   points_lot.remaining = sum of the lot's moves in points_entry.lot_points
 *   member.debt = sum(points_entry.debt_delta)
 *
 * The effective balance at an instant X counts the remainders of lots that
 * are available (available_at <= X) and not expired (expires_at > X), after
 * paying the debt out of lots in the order they became available.  The
 * member row caches that figure for [last_entry_at, cache_until): nothing
 * can change inside that window without a new entry.
 */
#include "ledger.h"
#include "direct.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#define MONTHS_12 "12 months"

/* ---------------------------------------------------------------------
 * Members
 * ------------------------------------------------------------------- */

#define MEMBER_COLUMNS \
	"SELECT m.program_id, m.booked, m.debt, m.lifetime_earned, m.last_entry_at," \
	" m.cache_until, m.cache_available FROM loyalty.member m WHERE m.member_id = $1"

static LyPlan plan_member_read = {MEMBER_COLUMNS, 1, {INT8OID}};

/* Raise LY004 for a member id that does not exist. */
void
ly_unknown_member(int64 member_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_UNKNOWN_MEMBER),
			 errmsg("member " INT64_FORMAT " does not exist", member_id),
			 errhint("Enrol the customer with loyalty.enroll() first.")));
}

/*
 * Locking a member is the first step of every write, so it goes to the
 * table directly rather than through a statement: an index lookup on
 * member_pkey and a tuple lock that follows the row to its latest version,
 * as SELECT ... FOR UPDATE does in READ COMMITTED, without an executor.
 * The statements that follow take fresh snapshots and see everything that
 * was committed before the lock was granted.
 */
static const char *const member_lock_columns[] = {
	"program_id", "booked", "debt", "lifetime_earned", "last_entry_at",
	"cache_until", "cache_available", "birthday", "tier", "tier_since"
};
#define MEMBER_LOCK_NCOLS lengthof(member_lock_columns)

static Oid	member_attnums_relid = InvalidOid;
static AttrNumber member_attnums[MEMBER_LOCK_NCOLS];

static bool member_read(int64 member_id, bool lock, LyMember *m, LyMemberRowFacts *facts);

/* Where the member row last read or written is, and its key column. */
static LyRowHint member_hint;
static const char *const member_key_column[] = {"member_id"};
static Oid	member_key_relid = InvalidOid;
static AttrNumber member_key_attnum;

/*
 * Lock the member row and fill m (and *facts, if given: what pricing reads
 * besides); false if there is no such member.
 */
bool
ly_member_lock(int64 member_id, LyMember *m, LyMemberRowFacts *facts)
{
	return member_read(member_id, true, m, facts);
}

/* The member row as last committed, without a lock; false if there is no such member. */
bool
ly_member_read(int64 member_id, LyMember *m, LyMemberRowFacts *facts)
{
	return member_read(member_id, false, m, facts);
}

static bool
member_read(int64 member_id, bool lock, LyMember *m, LyMemberRowFacts *facts)
{
	LyTable		t;
	Datum		key = Int64GetDatum(member_id);
	bool		found;
	Datum		d[MEMBER_LOCK_NCOLS];
	bool		isnull[MEMBER_LOCK_NCOLS];
	const LySettings *settings;

	/* a row locked here is written next: lock the table once, for that */
	ly_table_open(&t, "member", lock ? RowExclusiveLock : AccessShareLock);
	ly_table_columns(&t, member_lock_columns, MEMBER_LOCK_NCOLS, member_attnums, &member_attnums_relid);
	ly_table_columns(&t, member_key_column, 1, &member_key_attnum, &member_key_relid);
	found = ly_table_fetch_hinted(&t, "member_pkey", 1, &key, &member_key_attnum, &member_hint) &&
		(!lock || ly_table_lock(&t, LockTupleExclusive));
	if (found)
	{
		ly_table_hint(&t, &member_hint);
		for (int i = 0; i < (int) MEMBER_LOCK_NCOLS; i++)
			d[i] = ly_table_get(&t, member_attnums[i], &isnull[i]);
	}
	else
	{
		ly_table_close(&t);
		return false;
	}

	memset(m, 0, sizeof(*m));
	m->member_id = member_id;
	m->program_id = DatumGetInt64(d[0]);
	ly_require_program(m->program_id);
	m->booked = DatumGetInt64(d[1]);
	m->debt = DatumGetInt64(d[2]);
	m->lifetime_earned = DatumGetInt64(d[3]);
	m->has_entries = !isnull[4];
	m->last_entry_at = isnull[4] ? DT_NOBEGIN : DatumGetTimestampTz(d[4]);
	m->cache_until = isnull[5] ? DT_NOEND : DatumGetTimestampTz(d[5]);
	m->cache_available = DatumGetInt64(d[6]);
	if (facts)
	{
		facts->has_birthday = !isnull[7];
		facts->birthday = isnull[7] ? 0 : DatumGetInt32(d[7]);
		facts->tier = isnull[8] ? NULL : TextDatumGetCString(d[8]);
		facts->has_since = !isnull[9];
		facts->tier_since = isnull[9] ? DT_NOBEGIN : DatumGetTimestampTz(d[9]);
	}
	ly_table_close(&t);			/* the row lock is held to the end of the transaction */
	settings = ly_settings(m->program_id);
	m->timezone = pstrdup(settings->timezone);
	m->has_expire_policy = settings->has_expire_policy;
	m->expire_months = settings->expire_months;
	m->allow_negative = settings->allow_negative;
	return true;
}

/*
 * Write the member row's ledger state by direct table access, the row being
 * locked by this transaction already (ly_member_lock): found again by its
 * key on the latest snapshot (this transaction's statements may have
 * written it since), updated in place of an UPDATE statement (no executor;
 * the key does not change, so no foreign-key check is due), and made
 * visible to the statements that follow.  With `relative`, booked and
 * cache_available are added to the row's values; else they replace them.
 */
typedef struct MemberRowWrite
{
	bool		relative;
	int64		booked;
	int64		cache_available;
	bool		set_lifetime;
	int64		lifetime_earned;
	TimestampTz last_entry_at;
	bool		set_until;
	bool		until_least;	/* cache_until only comes sooner */
	TimestampTz cache_until;
} MemberRowWrite;

static const char *const member_write_columns[] = {
	"booked", "cache_available", "lifetime_earned", "last_entry_at", "cache_until"
};
#define MEMBER_WRITE_NCOLS lengthof(member_write_columns)

static Oid	member_write_relid = InvalidOid;
static AttrNumber member_write_attnums[MEMBER_WRITE_NCOLS];

static void
member_write_direct(int64 member_id, const MemberRowWrite *w)
{
	LyTable		t;
	Datum		key = Int64GetDatum(member_id);
	bool		found;

	ly_table_open(&t, "member", RowExclusiveLock);
	ly_table_columns(&t, member_write_columns, MEMBER_WRITE_NCOLS, member_write_attnums,
					 &member_write_relid);
	ly_table_columns(&t, member_key_column, 1, &member_key_attnum, &member_key_relid);
	found = ly_table_fetch_hinted(&t, "member_pkey", 1, &key, &member_key_attnum, &member_hint);
	if (found)
	{
		bool		isnull;
		Datum		values[MEMBER_WRITE_NCOLS];
		int			n = 0;
		AttrNumber	attnums[MEMBER_WRITE_NCOLS];
		int64		booked = w->booked;
		int64		available = w->cache_available;

		if (w->relative)
		{
			booked = ly_add_points(DatumGetInt64(ly_table_get(&t, member_write_attnums[0], &isnull)),
								   w->booked, member_id, "points balance");
			available = DatumGetInt64(ly_table_get(&t, member_write_attnums[1], &isnull)) + w->cache_available;
		}
		attnums[n] = member_write_attnums[0];
		values[n++] = Int64GetDatum(booked);
		attnums[n] = member_write_attnums[1];
		values[n++] = Int64GetDatum(available);
		if (w->set_lifetime)
		{
			attnums[n] = member_write_attnums[2];
			values[n++] = Int64GetDatum(w->lifetime_earned);
		}
		attnums[n] = member_write_attnums[3];
		values[n++] = TimestampTzGetDatum(w->last_entry_at);
		if (w->set_until)
		{
			TimestampTz until = w->cache_until;

			if (w->until_least)
			{
				Datum		current = ly_table_get(&t, member_write_attnums[4], &isnull);

				if (!isnull && DatumGetTimestampTz(current) < until)
					until = DatumGetTimestampTz(current);
			}
			attnums[n] = member_write_attnums[4];
			values[n++] = TimestampTzGetDatum(until);
		}
		ly_table_update(&t, n, attnums, values, NULL);
		ly_table_hint(&t, &member_hint);
	}
	ly_table_close(&t);
	if (!found)
		ly_unknown_member(member_id);
}

/* Load a member's booked state and programme settings, locking the row. */
void
ly_member_load(int64 member_id, bool for_update, LyMember *m)
{
	Datum		values[1] = {Int64GetDatum(member_id)};

	if (for_update)
	{
		if (!ly_member_lock(member_id, m, NULL))
			ly_unknown_member(member_id);
		return;
	}
	if (ly_exec(&plan_member_read, values, NULL, 1) != 1)
		ly_unknown_member(member_id);
	ly_member_from_row(m, member_id, 0);
}

/*
 * Fill m from row `row` of SPI_tuptable whose first seven columns are those
 * of MEMBER_COLUMNS (callers may select the member with more columns).
 */
void
ly_member_from_row(LyMember *m, int64 member_id, uint64 row)
{
	const LySettings *settings;
	SPITupleTable *row_source = SPI_tuptable;

	memset(m, 0, sizeof(*m));
	m->member_id = member_id;
	m->program_id = ly_col_int64(row, 1, 0);
	ly_require_program(m->program_id);
	m->booked = ly_col_int64(row, 2, 0);
	m->debt = ly_col_int64(row, 3, 0);
	m->lifetime_earned = ly_col_int64(row, 4, 0);
	m->has_entries = !ly_col_is_null(row, 5);
	m->last_entry_at = ly_col_timestamptz(row, 5, DT_NOBEGIN);
	m->cache_until = ly_col_timestamptz(row, 6, DT_NOEND);
	m->cache_available = ly_col_int64(row, 7, 0);
	settings = ly_settings(m->program_id);	/* may run a query: keep the caller's row */
	SPI_tuptable = row_source;
	m->timezone = pstrdup(settings->timezone);
	m->has_expire_policy = settings->has_expire_policy;
	m->expire_months = settings->expire_months;
	m->allow_negative = settings->allow_negative;
}

/* ---------------------------------------------------------------------
 * Lots
 * ------------------------------------------------------------------- */

#define LOT_COLUMNS \
	"SELECT lot_id, points, remaining, created_at, available_at, expires_at, qualifying_from," \
	" late_returned, late_returned_at FROM loyalty.points_lot"

static LyPlan plan_lots_open = {
	LOT_COLUMNS " WHERE member_id = $1 AND remaining > 0", 1, {INT8OID}
};
static LyPlan plan_lot_one = {
	LOT_COLUMNS " WHERE member_id = $1 AND lot_id = $2", 2, {INT8OID, INT8OID}
};
static LyPlan plan_lots_all = {
	LOT_COLUMNS " WHERE member_id = $1", 1, {INT8OID}
};

static LyLot *
lot_append(LyMember *m)
{
	if (m->nlots == m->maxlots)
	{
		m->maxlots = m->maxlots ? m->maxlots * 2 : 8;
		m->lots = m->lots ? repalloc(m->lots, sizeof(LyLot) * m->maxlots)
			: palloc(sizeof(LyLot) * m->maxlots);
	}
	memset(&m->lots[m->nlots], 0, sizeof(LyLot));
	return &m->lots[m->nlots++];
}

/* Fill a lot from row `row` of SPI_tuptable (LOT_COLUMNS order). */
static void
lot_from_row(LyLot *lot, uint64 row)
{
	lot->lot_id = ly_col_int64(row, 1, 0);
	lot->points = ly_col_int64(row, 2, 0);
	lot->remaining = ly_col_int64(row, 3, 0);
	lot->created_at = ly_col_timestamptz(row, 4, 0);
	lot->available_at = ly_col_timestamptz(row, 5, 0);
	lot->has_expiry = !ly_col_is_null(row, 6);
	lot->expires_at = ly_col_timestamptz(row, 6, DT_NOEND);
	lot->qualifying = !ly_col_is_null(row, 7);
	lot->qualifying_from = ly_col_timestamptz(row, 7, DT_NOEND);
	lot->late_returned = ly_col_int64(row, 8, 0);
	lot->late_returned_at = ly_col_timestamptz(row, 9, DT_NOBEGIN);
}

void
ly_lots_load_open(LyMember *m)
{
	Datum		values[1] = {Int64GetDatum(m->member_id)};
	uint64		n = ly_exec(&plan_lots_open, values, NULL, 0);
	SPITupleTable *tuptable = SPI_tuptable;

	for (uint64 i = 0; i < n; i++)
	{
		SPI_tuptable = tuptable;
		lot_from_row(lot_append(m), i);
	}
	m->lots_loaded = true;
}

LyLot *
ly_lot_find(LyMember *m, int64 lot_id)
{
	for (int i = 0; i < m->nlots; i++)
		if (m->lots[i].lot_id == lot_id)
			return &m->lots[i];
	return NULL;
}

/* A lot of the member, loaded even if it is spent; NULL if it never existed. */
LyLot *
ly_lot_fetch(LyMember *m, int64 lot_id)
{
	LyLot	   *lot = ly_lot_find(m, lot_id);
	Datum		values[2] = {Int64GetDatum(m->member_id), Int64GetDatum(lot_id)};

	if (lot)
		return lot;
	if (ly_exec(&plan_lot_one, values, NULL, 1) != 1)
		return NULL;
	lot = lot_append(m);
	lot_from_row(lot, 0);
	return lot;
}

/* A new lot holding `points`, created by the entry about to be posted. */
LyLot *
ly_lot_add(LyMember *m, int64 points, TimestampTz created_at,
		   TimestampTz available_at, bool has_expiry, TimestampTz expires_at,
		   bool qualifying)
{
	LyLot	   *lot = lot_append(m);

	lot->lot_id = nextval_internal(ly_relid("entry_id_seq"), false);
	lot->points = points;
	lot->remaining = points;
	lot->move = points;
	lot->move_order = ++m->moves;
	lot->late_returned_at = DT_NOBEGIN;
	lot->created_at = created_at;
	lot->available_at = available_at;
	lot->has_expiry = has_expiry;
	lot->expires_at = has_expiry ? expires_at : DT_NOEND;
	lot->qualifying = qualifying;
	lot->qualifying_from = qualifying ? created_at : DT_NOEND;
	lot->is_new = true;
	return lot;
}

bool
ly_lot_expired(const LyLot *lot, TimestampTz at)
{
	return lot->has_expiry && lot->expires_at <= at;
}

/* Available and not expired at `at` (both instants inclusive). */
bool
ly_lot_usable(const LyLot *lot, TimestampTz at)
{
	return lot->available_at <= at && !ly_lot_expired(lot, at);
}

/* Spend order: soonest expiry first, never-expiring last, then oldest. */
static int
lot_spend_order(const LyLot *a, const LyLot *b)
{
	if (a->has_expiry != b->has_expiry)
		return a->has_expiry ? -1 : 1;
	if (a->has_expiry && a->expires_at != b->expires_at)
		return a->expires_at < b->expires_at ? -1 : 1;
	if (a->created_at != b->created_at)
		return a->created_at < b->created_at ? -1 : 1;
	return a->lot_id < b->lot_id ? -1 : (a->lot_id > b->lot_id);
}

static int
lot_ptr_spend_cmp(const void *pa, const void *pb)
{
	return lot_spend_order(*(LyLot *const *) pa, *(LyLot *const *) pb);
}

/* Lots in spend order, as pointers into m->lots. */
static LyLot **
lots_in_spend_order(LyMember *m)
{
	LyLot	  **order = palloc(sizeof(LyLot *) * Max(m->nlots, 1));

	for (int i = 0; i < m->nlots; i++)
		order[i] = &m->lots[i];
	qsort(order, m->nlots, sizeof(LyLot *), lot_ptr_spend_cmp);
	return order;
}

/* Change a lot's remainder as part of the entry being built. */
void
ly_lot_move(LyMember *m, LyLot *lot, int64 delta)
{
	if (lot->move == 0 && delta != 0)
		lot->move_order = ++m->moves;
	lot->remaining += delta;
	lot->move += delta;
	if (!lot->is_new)
		lot->dirty = true;
	Assert(lot->remaining >= 0);
}

int64
ly_lots_usable_total(LyMember *m, TimestampTz at)
{
	int64		total = 0;

	for (int i = 0; i < m->nlots; i++)
		if (m->lots[i].remaining > 0 && ly_lot_usable(&m->lots[i], at))
			total += m->lots[i].remaining;
	return total;
}

/*
 * Take up to `amount` from the lots usable at `at`, in spend order, skipping
 * lot `skip_lot_id` (0: none).  Returns what was taken.
 */
int64
ly_lots_consume(LyMember *m, TimestampTz at, int64 amount, int64 skip_lot_id)
{
	LyLot	  **order = lots_in_spend_order(m);
	int64		taken = 0;

	for (int i = 0; i < m->nlots && taken < amount; i++)
	{
		LyLot	   *lot = order[i];
		int64		take;

		if (lot->lot_id == skip_lot_id || lot->remaining <= 0 || !ly_lot_usable(lot, at))
			continue;
		take = Min(lot->remaining, amount - taken);
		ly_lot_move(m, lot, -take);
		taken += take;
	}
	pfree(order);
	return taken;
}

/* ---------------------------------------------------------------------
 * Debt: paid out of lots as they become available
 * ------------------------------------------------------------------- */

typedef struct PayOrder
{
	LyLot	   *lot;
	TimestampTz pay_at;
} PayOrder;

static int
pay_order_cmp(const void *pa, const void *pb)
{
	const PayOrder *a = pa;
	const PayOrder *b = pb;

	if (a->pay_at != b->pay_at)
		return a->pay_at < b->pay_at ? -1 : 1;
	return lot_spend_order(a->lot, b->lot);
}

/*
 * The order in which lots pay a debt that stood at `from`: a lot pays when
 * it becomes available (or at `from` if it already was), unless it has
 * expired by then; only instants up to `until` count.  Returns the count.
 */
static int
debt_pay_order(LyLot *lots, int nlots, TimestampTz from, TimestampTz until,
			   PayOrder *order)
{
	int			n = 0;

	for (int i = 0; i < nlots; i++)
	{
		TimestampTz pay_at = Max(lots[i].available_at, from);

		if (lots[i].remaining <= 0 || pay_at > until || ly_lot_expired(&lots[i], pay_at))
			continue;
		order[n].lot = &lots[i];
		order[n].pay_at = pay_at;
		n++;
	}
	qsort(order, n, sizeof(PayOrder), pay_order_cmp);
	return n;
}

/*
 * Book the payment of the member's debt out of lots that became available
 * in [from, at], as a 'settle' entry (points 0: remainders and debt fall
 * together).  Nothing happens without debt.
 */
void
ly_settle_debt(LyMember *m, TimestampTz from, TimestampTz at)
{
	PayOrder   *order;
	int			n;
	int64		paid = 0;
	TimestampTz last_pay = from;
	LyEntry		entry;

	if (m->debt <= 0 || m->nlots == 0)
		return;
	order = palloc(sizeof(PayOrder) * m->nlots);
	n = debt_pay_order(m->lots, m->nlots, from, at, order);
	for (int i = 0; i < n && paid < m->debt; i++)
	{
		int64		pay = Min(order[i].lot->remaining, m->debt - paid);

		ly_lot_move(m, order[i].lot, -pay);
		paid += pay;
		last_pay = order[i].pay_at;
	}
	pfree(order);
	if (paid == 0)
		return;
	ly_entry_init(&entry, "settle", "debt", "settle", last_pay);
	entry.debt_delta = -paid;
	ly_entry_post(m, &entry);
}

/*
 * Start a write on a locked member: load its open lots and book the payment
 * of any debt out of lots that became available since its last entry.
 */
void
ly_begin_write(LyMember *m, TimestampTz at)
{
	ly_lots_load_open(m);
	ly_settle_debt(m, m->has_entries ? Min(m->last_entry_at, at) : at, at);
}

/*
 * The effective balance at `at` of lots whose remainders stood at `from`
 * with `debt` owed, paying the debt first (without changing the lots).
 * rem_out, if given, receives each lot's remainder after paying.
 */
static int64
simulate_available(LyLot *lots, int nlots, int64 debt, bool allow_negative,
				   TimestampTz from, TimestampTz at, int64 *debt_left_out,
				   int64 *rem_out)
{
	int64	   *rem = rem_out ? rem_out : palloc(sizeof(int64) * Max(nlots, 1));
	int64		available = 0;

	for (int i = 0; i < nlots; i++)
		rem[i] = lots[i].remaining;
	if (debt > 0 && nlots > 0)
	{
		PayOrder   *order = palloc(sizeof(PayOrder) * nlots);
		int			n = debt_pay_order(lots, nlots, from, at, order);

		for (int i = 0; i < n && debt > 0; i++)
		{
			int			idx = order[i].lot - lots;
			int64		pay = Min(rem[idx], debt);

			rem[idx] -= pay;
			debt -= pay;
		}
		pfree(order);
	}
	for (int i = 0; i < nlots; i++)
		if (rem[i] > 0 && ly_lot_usable(&lots[i], at))
			available += rem[i];
	if (debt_left_out)
		*debt_left_out = debt;
	if (rem_out == NULL)
		pfree(rem);
	return allow_negative ? available - debt : available;
}

/* ---------------------------------------------------------------------
 * Entries
 * ------------------------------------------------------------------- */

void
ly_entry_init(LyEntry *entry, const char *operation, const char *source,
			  const char *ref, TimestampTz at)
{
	memset(entry, 0, sizeof(*entry));
	entry->operation = operation;
	entry->source = source;
	entry->ref = ref;
	entry->at = at;
}

/* a + b for point totals, raising a clear error instead of overflowing. */
int64
ly_add_points(int64 a, int64 b, int64 member_id, const char *what)
{
	int64		result;

	if (pg_add_s64_overflow(a, b, &result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s of member " INT64_FORMAT " would overflow bigint",
						what, member_id)));
	return result;
}

static LyPlan plan_lot_insert = {
	"INSERT INTO loyalty.points_lot (member_id, lot_id, points, remaining, created_at,"
	" available_at, expires_at, qualifying_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	8, {INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static LyPlan plan_lots_update = {
	"UPDATE loyalty.points_lot l SET remaining = u.remaining, late_returned = u.late,"
	" late_returned_at = u.late_at"
	" FROM unnest($2::int8[], $3::int8[], $4::int8[], $5::timestamptz[])"
	"  AS u(lot_id, remaining, late, late_at)"
	" WHERE l.member_id = $1 AND l.lot_id = u.lot_id",
	5, {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID}
};

#define ENTRY_INSERT \
	"INSERT INTO loyalty.points_entry (member_id, entry_id, at, operation, points, source, ref," \
	" reverses, covers, debt_delta, counterparty, qualifying, lots, lot_points, detail)" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb)"
#define ENTRY_INSERT_TYPES \
	{INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, \
	INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID, INT8ARRAYOID, INT8ARRAYOID, TEXTOID}

static LyPlan plan_entry_insert = {ENTRY_INSERT, 15, ENTRY_INSERT_TYPES};

/* A keyed entry whose key is taken inserts nothing (the replay of a call). */
static LyPlan plan_entry_insert_keyed = {
	ENTRY_INSERT " ON CONFLICT (member_id, operation, source, ref)"
	" WHERE operation = ANY (ARRAY['earn','spend','adjust','transfer']) DO NOTHING",
	15, ENTRY_INSERT_TYPES
};

/* The values of an int8[] (or timestamptz[], same layout) as a palloc'd array. */
int64 *
ly_int8_array_values(Datum d, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int64	   *out;

	deconstruct_array(DatumGetArrayTypeP(d), INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, n);
	out = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = DatumGetInt64(elems[i]);
	return out;
}

/* An int8[] (or, with `type` TIMESTAMPTZOID, a timestamptz[]) of n values. */
static Datum
int8_array_of(int64 *values, int n, Oid type)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, type, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
int8_array(int64 *values, int n)
{
	return int8_array_of(values, n, INT8OID);
}

static int
lot_ptr_move_cmp(const void *pa, const void *pb)
{
	const LyLot *a = *(LyLot *const *) pa;
	const LyLot *b = *(LyLot *const *) pb;

	return a->move_order - b->move_order;
}

/* Write a new lot row. */
static void
lot_insert(LyMember *m, LyLot *lot)
{
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(m->member_id);
	values[1] = Int64GetDatum(lot->lot_id);
	values[2] = Int64GetDatum(lot->points);
	values[3] = Int64GetDatum(lot->remaining);
	values[4] = TimestampTzGetDatum(lot->created_at);
	values[5] = TimestampTzGetDatum(lot->available_at);
	values[6] = TimestampTzGetDatum(lot->expires_at);
	nulls[6] = lot->has_expiry ? ' ' : 'n';
	values[7] = TimestampTzGetDatum(lot->qualifying_from);
	nulls[7] = lot->qualifying ? ' ' : 'n';
	ly_exec(&plan_lot_insert, values, nulls, 0);
}

/*
 * The lots whose remainder changed since they were loaded or written, as the
 * four arrays plan_lots_update and plan_post_and_save take (ids, remaining,
 * late_returned, late_returned_at); they count as written from now on.
 * Returns how many.
 */
static int
dirty_lot_arrays(LyMember *m, Datum *arrays)
{
	int			cap = Max(m->nlots, 1);
	int64	   *ids = palloc(sizeof(int64) * cap);
	int64	   *remaining = palloc(sizeof(int64) * cap);
	int64	   *late = palloc(sizeof(int64) * cap);
	int64	   *late_at = palloc(sizeof(int64) * cap);
	int			n = 0;

	for (int i = 0; i < m->nlots; i++)
	{
		LyLot	   *lot = &m->lots[i];

		if (!lot->dirty)
			continue;
		ids[n] = lot->lot_id;
		remaining[n] = lot->remaining;
		late[n] = lot->late_returned;
		late_at[n] = lot->late_returned_at;
		n++;
		lot->dirty = false;
	}
	arrays[0] = int8_array(ids, n);
	arrays[1] = int8_array(remaining, n);
	arrays[2] = int8_array(late, n);
	arrays[3] = int8_array_of(late_at, n, TIMESTAMPTZOID);
	return n;
}

/* Write every lot whose remainder changed since it was loaded or written. */
static void
lots_flush(LyMember *m)
{
	Datum		values[5];

	values[0] = Int64GetDatum(m->member_id);
	if (dirty_lot_arrays(m, &values[1]) > 0)
		ly_exec(&plan_lots_update, values, NULL, 0);
}

/*
 * Post an entry: write the entry, the lots it moved (unless the member
 * defers lot writes to its save), and fold it into the member's booked
 * state.  Returns the entry id; for a keyed entry whose key is already taken,
 * returns 0 having written and changed nothing (the caller must not save).
 */
/* The 15 parameters of ENTRY_INSERT for entry `e`, numbered `entry_id`. */
static void
entry_values(LyMember *m, LyEntry *e, int64 entry_id, Datum *values, char *nulls)
{
	int			cap = Max(m->nlots, 1);
	LyLot	  **moved = palloc(sizeof(LyLot *) * cap);
	int64	   *move_lots = palloc(sizeof(int64) * cap);
	int64	   *move_points = palloc(sizeof(int64) * cap);
	int			nmoves = 0;

	/* the entry lists its lots in the order it moved them */
	for (int i = 0; i < m->nlots; i++)
		if (m->lots[i].move != 0)
			moved[nmoves++] = &m->lots[i];
	qsort(moved, nmoves, sizeof(LyLot *), lot_ptr_move_cmp);
	for (int i = 0; i < nmoves; i++)
	{
		move_lots[i] = moved[i]->lot_id;
		move_points[i] = moved[i]->move;
	}

	memset(nulls, ' ', 15);
	values[0] = Int64GetDatum(m->member_id);
	values[1] = Int64GetDatum(entry_id);
	values[2] = TimestampTzGetDatum(e->at);
	values[3] = CStringGetTextDatum(e->operation);
	values[4] = Int64GetDatum(e->points);
	values[5] = CStringGetTextDatum(e->source);
	values[6] = CStringGetTextDatum(e->ref);
	values[7] = Int64GetDatum(e->reverses);
	nulls[7] = e->has_reverses ? ' ' : 'n';
	values[8] = Int64GetDatum(e->covers);
	nulls[8] = e->has_reverses ? ' ' : 'n';
	values[9] = Int64GetDatum(e->debt_delta);
	values[10] = Int64GetDatum(e->counterparty);
	nulls[10] = e->has_counterparty ? ' ' : 'n';
	values[11] = BoolGetDatum(e->qualifying);
	values[12] = int8_array(move_lots, nmoves);
	values[13] = int8_array(move_points, nmoves);
	values[14] = e->detail;
	nulls[14] = e->detail ? ' ' : 'n';
}

/* After an entry is written: its moves are done, the member's state moves on. */
static void
entry_applied(LyMember *m, LyEntry *e)
{
	for (int i = 0; i < m->nlots; i++)
	{
		m->lots[i].move = 0;
		m->lots[i].is_new = false;
	}
	m->moves = 0;
	m->debt += e->debt_delta;
	if (!m->has_entries || e->at > m->last_entry_at)
		m->last_entry_at = e->at;
	m->has_entries = true;
}

int64
ly_entry_post(LyMember *m, LyEntry *e)
{
	int64		entry_id = nextval_internal(ly_relid("entry_id_seq"), false);
	Datum		values[15];
	char		nulls[15];

	entry_values(m, e, entry_id, values, nulls);
	if (ly_exec(e->keyed ? &plan_entry_insert_keyed : &plan_entry_insert, values, nulls, 0) != 1)
		return 0;
	/* after the insert, so a repeated call is answered even near overflow */
	m->booked = ly_add_points(m->booked, e->points, m->member_id, "points balance");

	for (int i = 0; i < m->nlots; i++)
		if (m->lots[i].is_new)
			lot_insert(m, &m->lots[i]);
	entry_applied(m, e);
	if (!m->defer_lot_writes)
		lots_flush(m);
	return entry_id;
}

static LyPlan plan_find_keyed = {
	"SELECT entry_id, points, counterparty FROM loyalty.points_entry"
	" WHERE member_id = $1 AND operation = $2 AND source = $3 AND ref = $4"
	" AND operation = ANY (ARRAY['earn','spend','adjust','transfer'])",
	4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}
};

/* The entry holding an idempotency key, if any. */
bool
ly_find_keyed(int64 member_id, const char *operation, const char *source,
			  const char *ref, LyKeyedEntry *found)
{
	Datum		values[4] = {Int64GetDatum(member_id), CStringGetTextDatum(operation),
	CStringGetTextDatum(source), CStringGetTextDatum(ref)};

	if (ly_exec(&plan_find_keyed, values, NULL, 1) != 1)
		return false;
	found->entry_id = ly_col_int64(0, 1, 0);
	found->points = ly_col_int64(0, 2, 0);
	found->has_counterparty = !ly_col_is_null(0, 3);
	found->counterparty = ly_col_int64(0, 3, 0);
	return true;
}

static LyPlan plan_policy_expiry = {
	"SELECT (pg_catalog.date_trunc('month', $1 AT TIME ZONE $2)"
	" + pg_catalog.make_interval(months => $3 + 1)) AT TIME ZONE $2",
	3, {TIMESTAMPTZOID, TEXTOID, INT4OID}
};

/*
 * The programme's expiry for a lot available from `available_at`: the end of
 * the month (programme time zone) points_expire_months after it.  A pending
 * lot (available_at infinite) has no expiry until it becomes available.
 */
TimestampTz
ly_policy_expiry(LyMember *m, TimestampTz available_at, bool *has_expiry)
{
	Datum		values[3];

	*has_expiry = false;
	if (!m->has_expire_policy || TIMESTAMP_NOT_FINITE(available_at))
		return DT_NOEND;
	values[0] = TimestampTzGetDatum(available_at);
	values[1] = CStringGetTextDatum(m->timezone);
	values[2] = Int32GetDatum(m->expire_months);
	ly_exec(&plan_policy_expiry, values, NULL, 1);
	*has_expiry = true;
	return ly_col_timestamptz(0, 1, DT_NOEND);
}

/* ---------------------------------------------------------------------
 * Saving the member, with its read cache
 * ------------------------------------------------------------------- */

static LyPlan plan_member_save = {
	"UPDATE loyalty.member SET booked = $2, debt = $3, lifetime_earned = $4,"
	" last_entry_at = $5, cache_until = $6, cache_available = $7 WHERE member_id = $1",
	7, {INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID}
};

/* The next instant after `at` at which a lot becomes available or expires. */
static TimestampTz
lot_next_change(const LyLot *lot, TimestampTz at, TimestampTz until)
{
	if (lot->remaining <= 0)
		return until;
	if (lot->available_at > at && lot->available_at < until)
		until = lot->available_at;
	if (lot->has_expiry && lot->expires_at > at && lot->expires_at < until)
		until = lot->expires_at;
	return until;
}

/*
 * The read cache at last_entry_at: the effective balance, valid until the
 * next instant at which an open lot becomes available or expires.  With the
 * member's lots loaded it is computed from them; otherwise the write only
 * added lots under ly_cache_holds_at(), and the cache loaded with the member
 * is carried forward with them.
 */
static void
cache_compute(LyMember *m, int64 *available, TimestampTz *until)
{
	TimestampTz at = m->last_entry_at;

	if (m->lots_loaded)
	{
		*available = simulate_available(m->lots, m->nlots, m->debt, m->allow_negative,
										at, at, NULL, NULL);
		*until = DT_NOEND;
	}
	else
	{
		*available = m->cache_available;
		*until = m->cache_until;
	}
	for (int i = 0; i < m->nlots; i++)
	{
		if (!m->lots_loaded && ly_lot_usable(&m->lots[i], at))
			*available += m->lots[i].remaining;
		*until = lot_next_change(&m->lots[i], at, *until);
	}
}

/* Write the member's booked state and read cache (and lots left to write). */
void
ly_member_save(LyMember *m)
{
	int64		available;
	TimestampTz until;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	cache_compute(m, &available, &until);
	lots_flush(m);
	values[0] = Int64GetDatum(m->member_id);
	values[1] = Int64GetDatum(m->booked);
	values[2] = Int64GetDatum(m->debt);
	values[3] = Int64GetDatum(m->lifetime_earned);
	values[4] = TimestampTzGetDatum(m->last_entry_at);
	nulls[4] = m->has_entries ? ' ' : 'n';
	values[5] = TimestampTzGetDatum(until);
	values[6] = Int64GetDatum(available);
	ly_exec(&plan_member_save, values, nulls, 0);
}

/*
 * Does the cached balance describe the member at `at` exactly, so that a
 * write at `at` that only adds a lot can update it without loading lots?
 * True without debt and inside [last_entry_at, cache_until).
 */
bool
ly_cache_holds_at(const LyMember *m, TimestampTz at)
{
	if (m->debt != 0)
		return false;
	if (!m->has_entries)
		return true;			/* no entry, no lot */
	return at >= m->last_entry_at && at < m->cache_until;
}

/*
 * Post the last entry of a write that only takes from existing lots (a
 * spend) and save the member, in one statement: the entry, the lots it
 * changed and the member row.  Only when nothing can follow the entry (no
 * debt to settle).  Returns 0, having written nothing, when the entry's key
 * is taken.
 */
static LyPlan plan_post_and_save = {
	"WITH e AS (" ENTRY_INSERT " ON CONFLICT (member_id, operation, source, ref)"
	"  WHERE operation = ANY (ARRAY['earn','spend','adjust','transfer']) DO NOTHING"
	"  RETURNING entry_id),"
	" d AS (UPDATE loyalty.points_lot l SET remaining = u.remaining, late_returned = u.late,"
	"  late_returned_at = u.late_at"
	"  FROM unnest($16::int8[], $17::int8[], $18::int8[], $19::timestamptz[])"
	"   AS u(lot_id, remaining, late, late_at)"
	"  WHERE l.member_id = $1 AND l.lot_id = u.lot_id AND EXISTS (SELECT 1 FROM e)),"
	" m AS (UPDATE loyalty.member SET booked = $20, debt = $21, lifetime_earned = $22,"
	"  last_entry_at = $23, cache_until = $24, cache_available = $25"
	"  WHERE member_id = $1 AND EXISTS (SELECT 1 FROM e))"
	" SELECT entry_id FROM e",
	25, {INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
		INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID, INT8ARRAYOID, INT8ARRAYOID, TEXTOID,
		INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID,
		INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID}
};

int64
ly_entry_post_final(LyMember *m, LyEntry *e)
{
	int64		entry_id;
	int64		booked;
	int64		available;
	TimestampTz until;
	Datum		values[25];
	char		nulls[25];

	Assert(e->keyed && m->debt == 0 && e->debt_delta == 0 && m->lots_loaded);
	if (pg_add_s64_overflow(m->booked, e->points, &booked))
		return ly_entry_post(m, e);	/* writes, then raises the overflow */

	entry_id = nextval_internal(ly_relid("entry_id_seq"), false);
	memset(nulls, ' ', sizeof(nulls));
	entry_values(m, e, entry_id, values, nulls);
	for (int i = 0; i < m->nlots; i++)
		if (m->lots[i].is_new)
			elog(ERROR, "ly_entry_post_final cannot write new lots");
	(void) dirty_lot_arrays(m, &values[15]);
	m->booked = booked;
	entry_applied(m, e);
	cache_compute(m, &available, &until);

	values[19] = Int64GetDatum(m->booked);
	values[20] = Int64GetDatum(m->debt);
	values[21] = Int64GetDatum(m->lifetime_earned);
	values[22] = TimestampTzGetDatum(m->last_entry_at);
	values[23] = TimestampTzGetDatum(until);
	values[24] = Int64GetDatum(available);
	if (ly_exec(&plan_post_and_save, values, nulls, 1) != 1)
		return 0;
	return entry_id;
}

/* ---------------------------------------------------------------------
 * One-statement writes inside the cached window
 *
 * When ly_cache_holds_at() (no debt, `at` inside [last_entry_at,
 * cache_until)), the cached balance is exact at `at` and no lot changes state
 * before cache_until.  An earn then only adds a lot, and a spend covered by
 * the first lot in spend order only takes from it: the entry, the lot and the
 * member row are written by one statement, run after the member row is
 * locked (so it sees every committed write of that member), without loading
 * the member's lots.  The cache moves with the write: cache_until can only
 * stay or come sooner, which is always safe.
 * ------------------------------------------------------------------- */

/*
 * These writes go to points_entry and points_lot by direct table access
 * (direct.h): the member row is locked, so nobody else writes the member's
 * entries and lots meanwhile, and an entry's idempotency key is looked up
 * in points_entry_key before the entry is inserted (the unique index would
 * refuse a duplicate all the same).
 */
typedef enum EntryColumn
{
	EC_MEMBER, EC_ENTRY, EC_AT, EC_OPERATION, EC_POINTS, EC_SOURCE, EC_REF, EC_DEBT_DELTA,
	EC_QUALIFYING, EC_LOTS, EC_LOT_POINTS, EC_DETAIL, EC_BOOKED_AT, EC_COUNT
} EntryColumn;

static const char *const entry_columns[EC_COUNT] = {
	"member_id", "entry_id", "at", "operation", "points", "source", "ref", "debt_delta",
	"qualifying", "lots", "lot_points", "detail", "booked_at"
};
static Oid	entry_relid = InvalidOid;
static AttrNumber entry_attnums[EC_COUNT];

typedef enum LotColumn
{
	LC_MEMBER, LC_LOT, LC_POINTS, LC_REMAINING, LC_CREATED, LC_AVAILABLE, LC_EXPIRES,
	LC_QUALIFYING_FROM, LC_LATE_RETURNED, LC_LATE_RETURNED_AT, LC_COUNT
} LotColumn;

static const char *const lot_columns[LC_COUNT] = {
	"member_id", "lot_id", "points", "remaining", "created_at", "available_at", "expires_at",
	"qualifying_from", "late_returned", "late_returned_at"
};
static Oid	lot_relid = InvalidOid;
static AttrNumber lot_attnums[LC_COUNT];
static LyRowHint lot_hint;		/* the lot last earned or released directly */

static void
lot_table_open(LyTable *t)
{
	ly_table_open(t, "points_lot", RowExclusiveLock);
	ly_table_columns(t, lot_columns, LC_COUNT, lot_attnums, &lot_relid);
}

static Datum
lot_get(LyTable *t, LotColumn col, bool *isnull)
{
	return ly_table_get(t, lot_attnums[col], isnull);
}

/*
 * Insert entry `e` of the member, numbered `entry_id`, moving `lot_points`
 * of lot `lot_id` (0: none) and with jsonb `detail` (0: none), unless it is
 * keyed and its key is taken: then nothing is written and false returned.
 */
static bool
entry_insert_direct(int64 member_id, int64 entry_id, const LyEntry *e, int64 lot_id,
					int64 lot_points, Datum detail)
{
	LyTable		t;
	Datum		values[EC_COUNT];
	bool		isnull[EC_COUNT];

	ly_table_open(&t, "points_entry", RowExclusiveLock);
	ly_table_columns(&t, entry_columns, EC_COUNT, entry_attnums, &entry_relid);
	if (e->keyed && !e->key_is_new)
	{
		Datum		key[4] = {Int64GetDatum(member_id), CStringGetTextDatum(e->operation),
		CStringGetTextDatum(e->source), CStringGetTextDatum(e->ref)};

		if (ly_table_fetch(&t, "points_entry_key", 4, key))
		{
			ly_table_close(&t);
			return false;
		}
	}
	memset(isnull, false, sizeof(isnull));
	values[EC_MEMBER] = Int64GetDatum(member_id);
	values[EC_ENTRY] = Int64GetDatum(entry_id);
	values[EC_AT] = TimestampTzGetDatum(e->at);
	values[EC_OPERATION] = CStringGetTextDatum(e->operation);
	values[EC_POINTS] = Int64GetDatum(e->points);
	values[EC_SOURCE] = CStringGetTextDatum(e->source);
	values[EC_REF] = CStringGetTextDatum(e->ref);
	values[EC_DEBT_DELTA] = Int64GetDatum(e->debt_delta);
	values[EC_QUALIFYING] = BoolGetDatum(e->qualifying);
	values[EC_LOTS] = int8_array(&lot_id, lot_id ? 1 : 0);
	values[EC_LOT_POINTS] = int8_array(&lot_points, lot_id ? 1 : 0);
	values[EC_DETAIL] = detail;
	isnull[EC_DETAIL] = detail == (Datum) 0;
	values[EC_BOOKED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (e->keyed && e->key_is_new)
	{
		/* the member's lock keeps other writers of its keys out: no lookup first */
		bool		is_new = ly_table_insert_new_key(&t, EC_COUNT, entry_attnums, values, isnull,
													 "points_entry_key");

		ly_table_close(&t);
		return is_new;			/* false: written all the same, the caller raises */
	}
	ly_table_insert(&t, EC_COUNT, entry_attnums, values, isnull);
	ly_table_close(&t);
	return true;
}

/*
 * Earn `lot` (just added, the member's lots not loaded) by direct writes.
 * Returns the entry id, or 0 if the key is taken (nothing written).
 */
int64
ly_earn_in_window(LyMember *m, LyEntry *e, LyLot *lot)
{
	int64		entry_id = nextval_internal(ly_relid("entry_id_seq"), false);
	int64		booked = ly_add_points(m->booked, e->points, m->member_id, "points balance");
	int64		lifetime = ly_add_points(m->lifetime_earned, e->points, m->member_id, "lifetime points");
	int64		available = m->cache_available + (ly_lot_usable(lot, e->at) ? lot->points : 0);
	LyTable		t;
	Datum		values[LC_COUNT];
	bool		isnull[LC_COUNT];
	MemberRowWrite w;

	Assert(!m->lots_loaded && ly_cache_holds_at(m, e->at) && e->keyed);
	if (!entry_insert_direct(m->member_id, entry_id, e, lot->lot_id, e->points, (Datum) 0))
		return 0;
	lot_table_open(&t);
	memset(isnull, false, sizeof(isnull));
	values[LC_MEMBER] = Int64GetDatum(m->member_id);
	values[LC_LOT] = Int64GetDatum(lot->lot_id);
	values[LC_POINTS] = Int64GetDatum(e->points);
	values[LC_REMAINING] = Int64GetDatum(e->points);
	values[LC_CREATED] = TimestampTzGetDatum(e->at);
	values[LC_AVAILABLE] = TimestampTzGetDatum(lot->available_at);
	values[LC_EXPIRES] = TimestampTzGetDatum(lot->expires_at);
	isnull[LC_EXPIRES] = !lot->has_expiry;
	values[LC_QUALIFYING_FROM] = TimestampTzGetDatum(e->at);
	isnull[LC_QUALIFYING_FROM] = !lot->qualifying;
	values[LC_LATE_RETURNED] = Int64GetDatum(0);
	values[LC_LATE_RETURNED_AT] = TimestampTzGetDatum(DT_NOBEGIN);
	ly_table_insert(&t, LC_COUNT, lot_attnums, values, isnull);
	ly_table_hint(&t, &lot_hint);	/* an order's completion releases it */
	ly_table_close(&t);

	memset(&w, 0, sizeof(w));
	w.booked = booked;
	w.cache_available = available;
	w.set_lifetime = true;
	w.lifetime_earned = lifetime;
	w.last_entry_at = e->at;
	w.set_until = true;
	w.cache_until = lot_next_change(lot, e->at, m->cache_until);
	member_write_direct(m->member_id, &w);
	return entry_id;
}

/* Does lot row `a` come before `b` in spend order (expiring first, soonest, oldest)? */
static bool
spends_before(bool a_expires, TimestampTz a_expiry, TimestampTz a_created, int64 a_lot,
			  bool b_expires, TimestampTz b_expiry, TimestampTz b_created, int64 b_lot)
{
	if (a_expires != b_expires)
		return a_expires;
	if (a_expires && a_expiry != b_expiry)
		return a_expiry < b_expiry;
	if (a_created != b_created)
		return a_created < b_created;
	return a_lot < b_lot;
}

/*
 * Spend from the first lot in spend order, if it covers the amount, by
 * direct writes.  Returns the entry id; 0 with *key_taken set if the key is
 * taken (nothing written); 0 otherwise when that lot does not cover it
 * (nothing written: the caller takes the general path).
 */
int64
ly_spend_in_window(LyMember *m, LyEntry *e, bool *key_taken)
{
	int64		amount = -e->points;
	LyTable		t;
	LyTableScan scan;
	Datum		member_key = Int64GetDatum(m->member_id);
	bool		have = false;
	int64		best_lot = 0;
	int64		best_remaining = 0;
	bool		best_expires = false;
	TimestampTz best_expiry = 0;
	TimestampTz best_created = 0;
	ItemPointerData best_tid;
	int64		entry_id;

	Assert(!m->lots_loaded && ly_cache_holds_at(m, e->at) && e->points < 0 && e->keyed);
	*key_taken = false;
	lot_table_open(&t);
	ly_table_scan_begin(&scan, &t, "points_lot_open", 1, &member_key);
	while (ly_table_scan_next(&scan))
	{
		bool		isnull,
					no_expiry;
		int64		remaining = DatumGetInt64(lot_get(&t, LC_REMAINING, &isnull));
		TimestampTz available = DatumGetTimestampTz(lot_get(&t, LC_AVAILABLE, &isnull));
		TimestampTz expiry = DatumGetTimestampTz(lot_get(&t, LC_EXPIRES, &no_expiry));
		TimestampTz created = DatumGetTimestampTz(lot_get(&t, LC_CREATED, &isnull));
		int64		lot_id = DatumGetInt64(lot_get(&t, LC_LOT, &isnull));
		bool		expires = !no_expiry;

		if (remaining <= 0 || available > e->at || (expires && expiry <= e->at))
			continue;
		if (!have || spends_before(expires, expiry, created, lot_id,
								   best_expires, best_expiry, best_created, best_lot))
		{
			have = true;
			best_lot = lot_id;
			best_remaining = remaining;
			best_expires = expires;
			best_expiry = expiry;
			best_created = created;
			best_tid = ly_table_tid(&t);
		}
	}
	ly_table_scan_end(&scan);
	if (!have || best_remaining < amount)
	{
		ly_table_close(&t);
		return 0;
	}
	entry_id = nextval_internal(ly_relid("entry_id_seq"), false);
	if (!entry_insert_direct(m->member_id, entry_id, e, best_lot, e->points, (Datum) 0))
	{
		ly_table_close(&t);
		*key_taken = true;
		return 0;
	}
	{
		Datum		remaining = Int64GetDatum(best_remaining - amount);
		MemberRowWrite w;

		/* where the scan saw it: the member's lock keeps it the latest version */
		if (!ly_table_fetch_tid(&t, &best_tid))
			elog(ERROR, "lot " INT64_FORMAT " of member " INT64_FORMAT " vanished", best_lot, m->member_id);
		ly_table_update(&t, 1, &lot_attnums[LC_REMAINING], &remaining, NULL);
		ly_table_close(&t);

		memset(&w, 0, sizeof(w));
		w.relative = true;
		w.booked = e->points;
		w.cache_available = e->points;
		w.last_entry_at = e->at;
		member_write_direct(m->member_id, &w);
	}
	return entry_id;
}

/* ---------------------------------------------------------------------
 * Changing when a lot becomes available (orders: release and hold)
 * ------------------------------------------------------------------- */

static LyPlan plan_lot_state = {
	"UPDATE loyalty.points_lot SET available_at = $3, expires_at = $4, qualifying_from = $5"
	" WHERE member_id = $1 AND lot_id = $2",
	5, {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

/* The jsonb detail of a release or hold entry. */
static Datum
lot_state_detail(int64 lot_id, int64 points, TimestampTz available_at, bool has_expiry,
				 TimestampTz expires_at, bool qualifying)
{
	LyJsonb		detail = {NULL};

	ly_jsonb_begin(&detail, false);
	ly_jsonb_key(&detail, "lot");
	ly_jsonb_int(&detail, lot_id);
	ly_jsonb_key(&detail, "points");
	ly_jsonb_int(&detail, points);
	ly_jsonb_key(&detail, "available_at");
	ly_jsonb_text(&detail, timestamptz_to_str(available_at));
	ly_jsonb_key(&detail, "expires_at");
	ly_jsonb_text(&detail, has_expiry ? timestamptz_to_str(expires_at) : NULL);
	ly_jsonb_key(&detail, "qualifying");
	ly_jsonb_bool(&detail, qualifying);
	return ly_jsonb_end(&detail, false);
}

/*
 * Make the open lot `lot_id` available from `available_at` ('infinity':
 * pending again), with the programme's expiry counted from then, and
 * qualifying for tiers from `at` or not at all.  An `operation` entry of 0
 * points records it (release or hold).  Nothing happens to a lot that holds
 * nothing any more.  `locked`: the member, already loaded and locked by the
 * caller (its in-memory state is stale afterwards), or NULL.
 */
void
ly_lot_set_state(LyMember *locked, int64 member_id, int64 lot_id, TimestampTz available_at,
				 bool qualifying, const char *operation, const char *source,
				 const char *ref, TimestampTz at)
{
	LyMember	m;
	LyLot	   *lot;
	LyEntry		entry;
	Datum		detail;
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		has_expiry;
	TimestampTz expires_at;

	if (locked)
		m = *locked;
	else
		ly_member_load(member_id, true, &m);
	expires_at = ly_policy_expiry(&m, available_at, &has_expiry);

	/*
	 * A release inside the cached window: the lot's times, the entry and the
	 * member's cache move together without loading the member's lots (the
	 * released lot only adds to the balance from available_at, and nothing
	 * else changes before cache_until).
	 */
	if (qualifying && !TIMESTAMP_NOT_FINITE(available_at) && ly_cache_holds_at(&m, at) &&
		!m.lots_loaded)
	{
		LyTable		t;
		Datum		key[2] = {Int64GetDatum(member_id), Int64GetDatum(lot_id)};
		AttrNumber	key_attnums[2];
		bool		isnull;
		int64		remaining = 0;

		lot_table_open(&t);
		key_attnums[0] = lot_attnums[LC_MEMBER];
		key_attnums[1] = lot_attnums[LC_LOT];
		if (ly_table_fetch_hinted(&t, "points_lot_pkey", 2, key, key_attnums, &lot_hint))
			remaining = DatumGetInt64(lot_get(&t, LC_REMAINING, &isnull));
		if (remaining > 0)
		{
			AttrNumber	attnums[3] = {lot_attnums[LC_AVAILABLE], lot_attnums[LC_EXPIRES],
			lot_attnums[LC_QUALIFYING_FROM]};
			Datum		times[3] = {TimestampTzGetDatum(available_at), TimestampTzGetDatum(expires_at),
			TimestampTzGetDatum(at)};
			bool		nulls[3] = {false, !has_expiry, false};
			Datum		state_detail = lot_state_detail(lot_id, remaining, available_at,
														has_expiry, expires_at, qualifying);
			MemberRowWrite w;

			ly_table_update(&t, 3, attnums, times, nulls);
			ly_table_hint(&t, &lot_hint);
			ly_table_close(&t);
			ly_entry_init(&entry, operation, source, ref, at);
			(void) entry_insert_direct(member_id, nextval_internal(ly_relid("entry_id_seq"), false),
									   &entry, 0, 0, state_detail);
			/* the member's cache moves with the lot */
			memset(&w, 0, sizeof(w));
			w.relative = true;
			w.cache_available = available_at <= at ? remaining : 0;
			w.last_entry_at = at;
			w.set_until = true;
			w.until_least = true;
			w.cache_until = available_at > at ? available_at : has_expiry ? expires_at : DT_NOEND;
			member_write_direct(member_id, &w);
		}
		else
			ly_table_close(&t);
		return;
	}

	ly_begin_write(&m, at);
	lot = ly_lot_find(&m, lot_id);
	if (lot == NULL || lot->remaining <= 0)
		return;
	lot->available_at = available_at;
	lot->has_expiry = has_expiry;
	lot->expires_at = expires_at;
	lot->qualifying = qualifying;
	lot->qualifying_from = qualifying ? at : DT_NOEND;
	values[0] = Int64GetDatum(member_id);
	values[1] = Int64GetDatum(lot_id);
	values[2] = TimestampTzGetDatum(available_at);
	values[3] = TimestampTzGetDatum(lot->expires_at);
	nulls[3] = lot->has_expiry ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(at);
	nulls[4] = qualifying ? ' ' : 'n';
	ly_exec(&plan_lot_state, values, nulls, 0);

	ly_entry_init(&entry, operation, source, ref, at);
	detail = lot_state_detail(lot_id, lot->remaining, available_at, has_expiry, expires_at, qualifying);
	/* the general path's statement takes the detail as text */
	entry.detail = CStringGetTextDatum(DatumGetCString(DirectFunctionCall1(jsonb_out, detail)));
	ly_entry_post(&m, &entry);
	ly_settle_debt(&m, at, at);
	ly_member_save(&m);
}

/* ---------------------------------------------------------------------
 * Reading balances at any instant
 * ------------------------------------------------------------------- */

static LyPlan plan_read_cache = {
	"SELECT last_entry_at, cache_until, cache_available, program_id FROM loyalty.member WHERE member_id = $1",
	1, {INT8OID}
};

static LyPlan plan_entries_until = {
	"SELECT entry_id, operation, points, at, lots, lot_points, debt_delta, reverses, covers,"
	" qualifying FROM loyalty.points_entry WHERE member_id = $1 AND at <= $2",
	2, {INT8OID, TIMESTAMPTZOID}
};

/* Release and hold entries: how order lots became available, or pending again. */
static LyPlan plan_lot_state_changes = {
	"SELECT (detail->>'lot')::int8, at, (detail->>'available_at')::timestamptz,"
	" (detail->>'expires_at')::timestamptz, (detail->>'qualifying')::boolean"
	" FROM loyalty.points_entry WHERE member_id = $1 AND operation = ANY (ARRAY['release','hold'])"
	" ORDER BY at, entry_id",
	1, {INT8OID}
};

/*
 * Put every lot that a release or hold entry changed back into the state it
 * had at `at`: created pending, then each such change booked by `at`.
 */
static void
lots_state_at(LyMember *m, TimestampTz at)
{
	Datum		values[1] = {Int64GetDatum(m->member_id)};
	uint64		n = ly_exec(&plan_lot_state_changes, values, NULL, 0);

	for (uint64 i = 0; i < n; i++)
	{
		LyLot	   *lot = ly_lot_find(m, ly_col_int64(i, 1, 0));

		if (lot == NULL || lot->move_order == -1)
			continue;
		lot->move_order = -1;	/* marks "reset" during this replay */
		lot->available_at = DT_NOEND;
		lot->has_expiry = false;
		lot->expires_at = DT_NOEND;
		lot->qualifying = false;
		lot->qualifying_from = DT_NOEND;
	}
	for (uint64 i = 0; i < n; i++)
	{
		LyLot	   *lot = ly_lot_find(m, ly_col_int64(i, 1, 0));
		TimestampTz changed_at = ly_col_timestamptz(i, 2, DT_NOEND);

		if (lot == NULL || changed_at > at)
			continue;
		lot->available_at = ly_col_timestamptz(i, 3, DT_NOEND);
		lot->has_expiry = !ly_col_is_null(i, 4);
		lot->expires_at = ly_col_timestamptz(i, 4, DT_NOEND);
		lot->qualifying = ly_col_bool(i, 5, false);
		lot->qualifying_from = lot->qualifying ? changed_at : DT_NOEND;
	}
	for (int i = 0; i < m->nlots; i++)
		m->lots[i].move_order = 0;
}

static LyPlan plan_tier_settings = {
	"SELECT COALESCE(p.settings->>'tier_basis', 'lifetime_points'),"
	" ($2 AT TIME ZONE (p.settings->>'timezone') - interval '" MONTHS_12 "')"
	" AT TIME ZONE (p.settings->>'timezone')"
	" FROM loyalty.program p WHERE p.program_id = $1",
	2, {INT8OID, TIMESTAMPTZOID}
};

/*
 * The effective balance at `at`.  Inside the cached window this is one
 * index lookup; after it, the open lots are simulated forward; before the
 * member's last entry, the ledger is replayed up to `at`.
 */
int64
ly_effective_points(int64 member_id, TimestampTz at)
{
	Datum		values[1] = {Int64GetDatum(member_id)};
	TimestampTz last_entry_at;
	LyMember	m;

	if (ly_exec(&plan_read_cache, values, NULL, 1) != 1)
		ly_unknown_member(member_id);
	ly_require_program(ly_col_int64(0, 4, 0));
	if (ly_col_is_null(0, 1))
		return 0;				/* no entry yet */
	last_entry_at = ly_col_timestamptz(0, 1, 0);
	if (at >= last_entry_at && at < ly_col_timestamptz(0, 2, DT_NOEND))
		return ly_col_int64(0, 3, 0);
	if (at >= last_entry_at)
	{
		ly_member_load(member_id, false, &m);
		ly_lots_load_open(&m);
		return simulate_available(m.lots, m.nlots, m.debt, m.allow_negative,
								  m.last_entry_at, at, NULL, NULL);
	}
	{
		LyBalance	b;

		ly_balance_at(member_id, at, &b);
		return b.available;
	}
}


typedef struct ReplayEntry
{
	int64		entry_id;
	bool		is_earn;
	int64		points;
	int64		reverses;		/* 0: not a reversal */
	int64		covers;
	int64		first_lot;
} ReplayEntry;

/*
 * Every balance figure at `at`, replayed from the ledger: lots as they stood
 * at `at` (the sum of their moves up to then), the debt then, paid forward
 * from the last entry to `at`.
 */
void
ly_balance_at(int64 member_id, TimestampTz at, LyBalance *out)
{
	LyMember	m;
	Datum		values[2] = {Int64GetDatum(member_id), TimestampTzGetDatum(at)};
	uint64		nentries;
	uint64		nlots;
	SPITupleTable *entries;
	ReplayEntry *replay;
	ReplayEntry **reversals;
	int			nreversals;
	int64		debt = 0;
	int64		debt_left;
	int64	   *rem;
	TimestampTz last = DT_NOBEGIN;
	TimestampTz horizon;
	TimestampTz window_start = DT_NOBEGIN;
	char	   *basis;

	memset(out, 0, sizeof(*out));
	/* 30 days ahead; near the end of time, the end of time */
	if (pg_add_s64_overflow(at, (int64) 30 * USECS_PER_DAY, &horizon) || !IS_VALID_TIMESTAMP(horizon))
		horizon = DT_NOEND;
	ly_member_load(member_id, false, &m);

	/* all lots, with remainders rebuilt from the moves up to `at` */
	nlots = ly_exec(&plan_lots_all, values, NULL, 0);
	{
		SPITupleTable *lots = SPI_tuptable;

		for (uint64 i = 0; i < nlots; i++)
		{
			LyLot	   *lot = lot_append(&m);

			SPI_tuptable = lots;
			lot_from_row(lot, i);
			lot->remaining = 0;
		}
	}

	nentries = ly_exec(&plan_entries_until, values, NULL, 0);
	entries = SPI_tuptable;
	replay = palloc0(sizeof(ReplayEntry) * Max(nentries, 1));
	reversals = palloc(sizeof(ReplayEntry *) * Max(nentries, 1));
	for (uint64 i = 0; i < nentries; i++)
	{
		int			nmoves;
		int64	   *move_lots;
		int64	   *move_points;
		char	   *operation;
		bool		isnull;

		SPI_tuptable = entries;
		replay[i].entry_id = ly_col_int64(i, 1, 0);
		operation = ly_col_text(i, 2);
		replay[i].is_earn = strcmp(operation, "earn") == 0;
		replay[i].points = ly_col_int64(i, 3, 0);
		if (ly_col_timestamptz(i, 4, 0) > last)
			last = ly_col_timestamptz(i, 4, 0);
		move_lots = ly_int8_array_values(ly_col_datum(i, 5, &isnull), &nmoves);
		move_points = ly_int8_array_values(ly_col_datum(i, 6, &isnull), &nmoves);
		debt += ly_col_int64(i, 7, 0);
		replay[i].reverses = ly_col_int64(i, 8, 0);
		replay[i].covers = ly_col_int64(i, 9, 0);
		replay[i].first_lot = nmoves > 0 ? move_lots[0] : 0;
		for (int j = 0; j < nmoves; j++)
		{
			LyLot	   *lot = ly_lot_find(&m, move_lots[j]);

			if (lot)
				lot->remaining += move_points[j];
		}
	}

	SPI_tuptable = entries;
	lots_state_at(&m, at);
	rem = palloc(sizeof(int64) * Max(m.nlots, 1));
	out->available = simulate_available(m.lots, m.nlots, debt, m.allow_negative,
										last, at, &debt_left, rem);
	out->debt = m.allow_negative ? 0 : debt_left;
	for (int i = 0; i < m.nlots; i++)
	{
		LyLot	   *lot = &m.lots[i];

		if (rem[i] <= 0 || ly_lot_expired(lot, at))
			continue;
		if (lot->available_at > at)
			out->pending += rem[i];
		else if (lot->has_expiry && lot->expires_at <= horizon)
			out->expiring_30d += rem[i];
	}

	/* lifetime earned and the tier basis, from earn entries and their reversals */
	values[0] = Int64GetDatum(m.program_id);
	ly_exec(&plan_tier_settings, values, NULL, 1);
	basis = ly_col_text(0, 1);
	if (strcmp(basis, "rolling_12m_points") == 0)
		window_start = ly_col_timestamptz(0, 2, DT_NOBEGIN);
	/* the reversals (few) once, rather than every entry for every earn */
	nreversals = 0;
	for (uint64 i = 0; i < nentries; i++)
		if (replay[i].reverses != 0)
			reversals[nreversals++] = &replay[i];
	for (uint64 i = 0; i < nentries; i++)
	{
		ReplayEntry *e = &replay[i];
		LyLot	   *lot;
		int64		covered = 0;

		if (!e->is_earn)
			continue;
		for (int j = 0; j < nreversals; j++)
			if (reversals[j]->reverses == e->entry_id)
				covered += reversals[j]->covers;
		out->lifetime_earned += e->points - covered;
		lot = ly_lot_find(&m, e->first_lot);
		if (strcmp(basis, "rolling_12m_spend") == 0 || lot == NULL || !lot->qualifying)
			continue;
		if (lot->qualifying_from <= at && lot->qualifying_from > window_start)
			out->tier_points += e->points - covered;
	}
}
