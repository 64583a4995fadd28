/*
 * orders.c: the row trigger on the application's order tables, and refund().
 *
 * The trigger maps a row's status to paid / completed / refunded /
 * cancelled (or nothing), then moves the order's loyalty state
 * (loyalty.order_state) from what was recorded to that target, in the
 * order's own transaction (SPEC section 8):
 *   paid       price with the rules and tier in force; points pending
 *   completed  points available after pending_days; qualifying; tier
 *   refunded / cancelled / DELETE   earn reversed, the order's spends returned
 * Decisions are taken against the recorded state with the member row locked,
 * so a repeated or concurrent transition acts once.  A row without a member
 * (guest checkout) or with an unmapped status is ignored; a row the trigger
 * must act on but cannot (NULL or negative amount) is refused.  An order
 * with a coupon (coupon_column) redeems it when paid and releases it when
 * refunded, cancelled or deleted.
 */
#include "definitions.h"
#include "wallets.h"
#include "direct.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(ly_order_trigger);
PG_FUNCTION_INFO_V1(ly_refund);

typedef enum OrderState
{
	OS_NONE,					/* not seen, or an unmapped status */
	OS_PAID,
	OS_COMPLETED,
	OS_REFUNDED,
	OS_CANCELLED,
	OS_DELETED
} OrderState;

static const char *const state_names[] = {"none", "paid", "completed", "refunded", "cancelled", "deleted"};

static OrderState
state_from_name(const char *name)
{
	for (int i = OS_PAID; i <= OS_DELETED; i++)
		if (strcmp(state_names[i], name) == 0)
			return (OrderState) i;
	return OS_NONE;
}

/* ---------------------------------------------------------------------
 * Tracking configuration, cached per order table
 * ------------------------------------------------------------------- */

typedef struct TrackedColumn
{
	AttrNumber	attnum;			/* 0: not configured */
	Oid			type;
	FmgrInfo	out;			/* text form */
} TrackedColumn;

typedef struct Tracked
{
	Oid			relid;			/* hash key */
	bool		valid;
	int64		tracked_id;
	int64		program_id;
	char	   *program_code;
	bool		application_ids;
	TrackedColumn member;
	TrackedColumn amount;
	TrackedColumn status;
	TrackedColumn id;
	TrackedColumn lines;
	TrackedColumn coupon;
	TrackedColumn time;
	int			nstatuses;
	char	  **status_names;
	OrderState *status_states;
	MemoryContext cxt;
} Tracked;

static HTAB *tracked_cache = NULL;

static void
tracked_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	Tracked    *t;

	if (tracked_cache == NULL)
		return;
	hash_seq_init(&status, tracked_cache);
	while ((t = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || t->relid == relid)
			t->valid = false;
}

static LyPlan plan_tracked = {
	"SELECT t.tracked_id, t.program_id, p.code, p.settings->>'member_ids' = 'application',"
	" t.member_column::text, t.amount_column::text, t.status_column::text, t.id_column::text,"
	" t.lines_column::text, t.coupon_column::text, t.time_column::text, t.statuses"
	" FROM loyalty.tracked_table t JOIN loyalty.program p USING (program_id)"
	" WHERE t.orders = $1 AND t.active",
	1, {OIDOID}
};

static void
column_setup(Tracked *t, TrackedColumn *col, TupleDesc desc, char *name)
{
	Oid			out;
	bool		varlena;

	memset(col, 0, sizeof(*col));
	if (name == NULL)
		return;
	col->attnum = SPI_fnumber(desc, name);
	if (col->attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_TRACKING),
				 errmsg("tracked column \"%s\" no longer exists", name),
				 errhint("Untrack the table and track it again with its current columns.")));
	col->type = TupleDescAttr(desc, col->attnum - 1)->atttypid;
	getTypeOutputInfo(col->type, &out, &varlena);
	fmgr_info_cxt(out, &col->out, t->cxt);
}

/* The configuration of `rel`, inside ly_enter (loads it if needed). */
static Tracked *
tracked_config(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	Tracked    *t;
	bool		found;
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	MemoryContext old;
	Jsonb	   *statuses;
	bool		isnull;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	OrderState	current = OS_NONE;
	int			cap = 8;

	if (tracked_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(Tracked);
		ctl.hcxt = CacheMemoryContext;
		tracked_cache = hash_create("loyalty tracked order tables", 8, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(tracked_invalidate, (Datum) 0);
	}
	t = hash_search(tracked_cache, &relid, HASH_ENTER, &found);
	if (found && t->valid)
		return t;
	if (found && t->cxt)
		MemoryContextDelete(t->cxt);
	t->valid = false;
	t->cxt = NULL;

	if (ly_exec(&plan_tracked, values, NULL, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_LY_TRACKING),
				 errmsg("table \"%s\" has the loyalty trigger but is not tracked",
						RelationGetRelationName(rel)),
				 errhint("Drop trigger loyalty_track_orders, or track the table with loyalty.track_orders().")));
	t->cxt = AllocSetContextCreate(CacheMemoryContext, "loyalty tracked table", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(t->cxt);
	t->tracked_id = ly_col_int64(0, 1, 0);
	t->program_id = ly_col_int64(0, 2, 0);
	t->program_code = ly_col_text(0, 3);
	t->application_ids = ly_col_bool(0, 4, false);
	column_setup(t, &t->member, rel->rd_att, ly_col_text(0, 5));
	column_setup(t, &t->amount, rel->rd_att, ly_col_text(0, 6));
	column_setup(t, &t->status, rel->rd_att, ly_col_text(0, 7));
	column_setup(t, &t->id, rel->rd_att, ly_col_text(0, 8));
	column_setup(t, &t->lines, rel->rd_att, ly_col_text(0, 9));
	column_setup(t, &t->coupon, rel->rd_att, ly_col_text(0, 10));
	column_setup(t, &t->time, rel->rd_att, ly_col_text(0, 11));

	/* {"paid": ["paid", ...], ...} as a flat list */
	statuses = DatumGetJsonbP(ly_col_datum(0, 12, &isnull));
	t->status_names = palloc(sizeof(char *) * cap);
	t->status_states = palloc(sizeof(OrderState) * cap);
	t->nstatuses = 0;
	it = JsonbIteratorInit(&statuses->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			current = state_from_name(pnstrdup(v.val.string.val, v.val.string.len));
		else if (tok == WJB_ELEM && v.type == jbvString)
		{
			if (t->nstatuses == cap)
			{
				cap *= 2;
				t->status_names = repalloc(t->status_names, sizeof(char *) * cap);
				t->status_states = repalloc(t->status_states, sizeof(OrderState) * cap);
			}
			t->status_names[t->nstatuses] = pnstrdup(v.val.string.val, v.val.string.len);
			t->status_states[t->nstatuses] = current;
			t->nstatuses++;
		}
	}
	MemoryContextSwitchTo(old);
	t->relid = relid;
	t->valid = true;
	return t;
}

/* ---------------------------------------------------------------------
 * Reading a row
 * ------------------------------------------------------------------- */

typedef struct OrderRow
{
	char	   *member_key;		/* NULL: guest */
	bool		has_amount;
	int64		amount;
	OrderState	target;
	char	   *order_id;
	Jsonb	   *lines;
	char	   *coupon;
	bool		has_time;
	TimestampTz time;
	bool		amount_changed;	/* an UPDATE changed the amount column */
} OrderRow;

static char *
column_text(TrackedColumn *col, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d;

	if (col->attnum == 0)
		return NULL;
	d = heap_getattr(tup, col->attnum, desc, &isnull);
	if (isnull)
		return NULL;
	return OutputFunctionCall(&col->out, d);
}

static void
read_row(Tracked *t, HeapTuple tup, TupleDesc desc, OrderRow *row)
{
	bool		isnull;
	Datum		d;
	char	   *status;

	memset(row, 0, sizeof(*row));
	row->member_key = column_text(&t->member, tup, desc);
	d = heap_getattr(tup, t->amount.attnum, desc, &isnull);
	row->has_amount = !isnull;
	if (!isnull)
		row->amount = t->amount.type == INT8OID ? DatumGetInt64(d) :
			t->amount.type == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d);
	status = column_text(&t->status, tup, desc);
	row->target = OS_NONE;
	for (int i = 0; status && i < t->nstatuses; i++)
		if (strcmp(t->status_names[i], status) == 0)
			row->target = t->status_states[i];
	row->order_id = column_text(&t->id, tup, desc);
	if (t->lines.attnum)
	{
		d = heap_getattr(tup, t->lines.attnum, desc, &isnull);
		row->lines = isnull ? NULL : DatumGetJsonbP(d);
	}
	row->coupon = column_text(&t->coupon, tup, desc);
	if (t->time.attnum)
	{
		d = heap_getattr(tup, t->time.attnum, desc, &isnull);
		row->has_time = !isnull;
		row->time = isnull ? 0 : DatumGetTimestampTz(d);
	}
}

/* Did the columns the trigger reads change between two images of a row? */
static bool
column_changed(TrackedColumn *col, HeapTuple a, HeapTuple b, TupleDesc desc)
{
	bool		anull,
				bnull;
	Datum		ad,
				bd;
	Form_pg_attribute att;

	if (col->attnum == 0)
		return false;
	att = TupleDescAttr(desc, col->attnum - 1);
	ad = heap_getattr(a, col->attnum, desc, &anull);
	bd = heap_getattr(b, col->attnum, desc, &bnull);
	if (anull || bnull)
		return anull != bnull;
	return !datumIsEqual(ad, bd, att->attbyval, att->attlen);
}

/* ---------------------------------------------------------------------
 * Members
 * ------------------------------------------------------------------- */

/*
 * The member an order belongs to, locked (by direct table access, as every
 * ledger write does), with what pricing needs: the ledger state, birthday
 * and tier.
 */
typedef struct OrderMember
{
	int64		member_id;
	LyMember	m;
	bool		fresh;			/* m still describes the member row */
	bool		has_birthday;
	DateADT		birthday;
	char	   *tier;
	bool		has_since;
	TimestampTz tier_since;
} OrderMember;

static LyPlan plan_enroll = {
	"SELECT loyalty._enroll($1, $2, $3, $4, NULL, '{}')",
	4, {OIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}
};

/* In a member_ids = 'application' programme, the customer key is the member id. */
static int64
application_member_id(const char *key)
{
	char	   *end;
	long long	id;

	errno = 0;
	id = strtoll(key, &end, 10);
	if (errno != 0 || end == key || *end != '\0' || id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_ORDER_REFUSED),
				 errmsg("customer key \"%s\" is not a member id", key),
				 errdetail("The programme uses the application's own member ids (member_ids = 'application')."),
				 errhint("Write the customer's positive numeric id in the member column.")));
	return (int64) id;
}

static const char *const customer_key_columns[] = {"external_id", "program_id", "member_id"};
static Oid	customer_key_relid = InvalidOid;
static AttrNumber customer_key_attnums[3];
static LyRowHint customer_key_hint;	/* the customer key row last read */

/* The member id of customer `key` without locking anything; 0 if unknown. */
static int64
member_id_of(Tracked *t, const char *key)
{
	LyTable		table;
	Datum		keys[2] = {CStringGetTextDatum(key), Int64GetDatum(t->program_id)};
	int64		member_id = 0;

	if (t->application_ids)
		return application_member_id(key);
	ly_table_open(&table, "customer_key", AccessShareLock);
	ly_table_columns(&table, customer_key_columns, 3, customer_key_attnums, &customer_key_relid);
	if (ly_table_fetch_hinted(&table, "customer_key_pkey", 2, keys, customer_key_attnums,
							  &customer_key_hint))
	{
		bool		isnull;

		member_id = DatumGetInt64(ly_table_get(&table, customer_key_attnums[2], &isnull));
	}
	ly_table_close(&table);
	return member_id;
}

/* Lock the member of customer `key`; false if the programme has no such member. */
static bool
lock_member(Tracked *t, const char *key, OrderMember *om)
{
	int64		member_id = member_id_of(t, key);
	LyMemberRowFacts facts;

	memset(om, 0, sizeof(*om));
	if (member_id == 0 || !ly_member_lock(member_id, &om->m, &facts) ||
		om->m.program_id != t->program_id)
		return false;
	om->member_id = member_id;
	om->fresh = true;
	om->has_birthday = facts.has_birthday;
	om->birthday = facts.birthday;
	om->tier = facts.tier;
	om->has_since = facts.has_since;
	om->tier_since = facts.tier_since;
	return true;
}

/*
 * Lock the member of customer `key`, enrolling an unknown customer first
 * when `enroll`; false if unknown and not enrolled.
 */
static bool
resolve_member(Tracked *t, const char *key, bool enroll, Oid caller, TimestampTz at,
			   OrderMember *om)
{
	Datum		values[4];

	if (lock_member(t, key, om))
		return true;
	if (!enroll)
		return false;
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(t->program_code);
	values[2] = CStringGetTextDatum(key);
	values[3] = TimestampTzGetDatum(at);
	ly_exec(&plan_enroll, values, NULL, 1);
	if (!lock_member(t, key, om))
		elog(ERROR, "customer \"%s\" enrolled but not found", key);
	return true;
}

/* ---------------------------------------------------------------------
 * Order state
 * ------------------------------------------------------------------- */

typedef struct Order
{
	bool		exists;
	ItemPointerData tid;		/* where its order_state row is, if it exists */
	int64		member_id;
	int64		tracked_id;
	char	   *order_id;
	int64		program_id;
	OrderState	state;
	int32		generation;
	int64		amount;
	int64		refunded;
	int64		earned;
	char	   *earn_ref;
	int64		lot_id;
	char	   *coupon;
	int64		cashback;		/* priced for this generation (order_cashback) */
	Datum		priced;			/* jsonb when (re)priced now, else 0 */
	TimestampTz first_paid_at;
	TimestampTz paid_at;
	bool		has_completed;
	TimestampTz completed_at;
	bool		has_closed;
	TimestampTz closed_at;
} Order;

/*
 * order_state is read and written by direct table access (direct.h), the
 * member row being locked: nobody else writes the member's orders.
 */
typedef enum OrderColumn
{
	OC_MEMBER, OC_TRACKED, OC_ORDER, OC_PROGRAM, OC_STATE, OC_GENERATION, OC_AMOUNT,
	OC_REFUNDED, OC_EARNED, OC_EARN_REF, OC_LOT, OC_COUPON, OC_CASHBACK, OC_PRICED,
	OC_FIRST_PAID, OC_PAID, OC_COMPLETED, OC_CLOSED, OC_UPDATED, OC_COUNT
} OrderColumn;

static const char *const order_columns[OC_COUNT] = {
	"member_id", "tracked_id", "order_id", "program_id", "state", "generation", "amount",
	"refunded", "earned", "earn_ref", "lot_id", "coupon", "cashback", "priced",
	"first_paid_at", "paid_at", "completed_at", "closed_at", "updated_at"
};
static Oid	order_relid = InvalidOid;
static AttrNumber order_attnums[OC_COUNT];
static LyRowHint order_hint;	/* the order_state row last read or written */

static void
order_table_open(LyTable *table, LOCKMODE mode)
{
	ly_table_open(table, "order_state", mode);
	ly_table_columns(table, order_columns, OC_COUNT, order_attnums, &order_relid);
}

static Datum
order_get(LyTable *table, OrderColumn col, bool *isnull)
{
	return ly_table_get(table, order_attnums[col], isnull);
}

static char *
order_get_text(LyTable *table, OrderColumn col)
{
	bool		isnull;
	Datum		d = order_get(table, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int64
order_get_int64(LyTable *table, OrderColumn col)
{
	bool		isnull;
	Datum		d = order_get(table, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static TimestampTz
order_get_time(LyTable *table, OrderColumn col, bool *has)
{
	bool		isnull;
	Datum		d = order_get(table, col, &isnull);

	if (has)
		*has = !isnull;
	return isnull ? 0 : DatumGetTimestampTz(d);
}

static void
order_load(int64 member_id, int64 tracked_id, const char *order_id, Order *o)
{
	LyTable		table;
	Datum		keys[3] = {Int64GetDatum(member_id), Int64GetDatum(tracked_id),
	CStringGetTextDatum(order_id)};
	AttrNumber	key_attnums[3];
	bool		isnull;

	memset(o, 0, sizeof(*o));
	o->member_id = member_id;
	o->tracked_id = tracked_id;
	o->order_id = pstrdup(order_id);
	o->generation = 1;
	/* its callers (the trigger, refund) are writers of it: one table lock, in their mode */
	order_table_open(&table, RowExclusiveLock);
	key_attnums[0] = order_attnums[OC_MEMBER];
	key_attnums[1] = order_attnums[OC_TRACKED];
	key_attnums[2] = order_attnums[OC_ORDER];
	if (ly_table_fetch_hinted(&table, "order_state_pkey", 3, keys, key_attnums, &order_hint))
	{
		o->exists = true;
		o->tid = ly_table_tid(&table);
		o->state = state_from_name(order_get_text(&table, OC_STATE));
		o->generation = DatumGetInt32(order_get(&table, OC_GENERATION, &isnull));
		o->amount = order_get_int64(&table, OC_AMOUNT);
		o->refunded = order_get_int64(&table, OC_REFUNDED);
		o->earned = order_get_int64(&table, OC_EARNED);
		o->earn_ref = order_get_text(&table, OC_EARN_REF);
		o->lot_id = order_get_int64(&table, OC_LOT);
		o->coupon = order_get_text(&table, OC_COUPON);
		/* priced stays 0: the stored one is kept unless the order is priced again */
		o->first_paid_at = order_get_time(&table, OC_FIRST_PAID, NULL);
		o->paid_at = order_get_time(&table, OC_PAID, NULL);
		o->completed_at = order_get_time(&table, OC_COMPLETED, &o->has_completed);
		o->closed_at = order_get_time(&table, OC_CLOSED, &o->has_closed);
		o->program_id = order_get_int64(&table, OC_PROGRAM);
		o->cashback = order_get_int64(&table, OC_CASHBACK);
	}
	ly_table_close(&table);
}

/*
 * Write the order's state: a new row (the primary key refuses a second
 * one), or the changed columns of the row order_load found, which is still
 * its latest version: the member's lock keeps other writers away.
 */
static void
order_save(Order *o, TimestampTz at)
{
	LyTable		table;
	Datum		values[OC_COUNT];
	bool		isnull[OC_COUNT];
	AttrNumber	attnums[OC_COUNT];
	int			n = 0;

	order_table_open(&table, RowExclusiveLock);
	if (o->exists && !ly_table_fetch_tid(&table, &o->tid))
		elog(ERROR, "order \"%s\" of member " INT64_FORMAT " changed under its member's lock",
			 o->order_id, o->member_id);
	memset(isnull, false, sizeof(isnull));
#define ORDER_SET(col, value, null) \
	(attnums[n] = order_attnums[col], values[n] = (value), isnull[n] = (null), n++)
	if (!o->exists)
	{
		ORDER_SET(OC_MEMBER, Int64GetDatum(o->member_id), false);
		ORDER_SET(OC_TRACKED, Int64GetDatum(o->tracked_id), false);
		ORDER_SET(OC_ORDER, CStringGetTextDatum(o->order_id), false);
		ORDER_SET(OC_PROGRAM, Int64GetDatum(o->program_id), false);
		ORDER_SET(OC_FIRST_PAID, TimestampTzGetDatum(o->first_paid_at), false);
	}
	ORDER_SET(OC_STATE, CStringGetTextDatum(state_names[o->state]), false);
	ORDER_SET(OC_GENERATION, Int32GetDatum(o->generation), false);
	ORDER_SET(OC_AMOUNT, Int64GetDatum(o->amount), false);
	ORDER_SET(OC_REFUNDED, Int64GetDatum(o->refunded), false);
	ORDER_SET(OC_EARNED, Int64GetDatum(o->earned), false);
	ORDER_SET(OC_EARN_REF, o->earn_ref ? CStringGetTextDatum(o->earn_ref) : (Datum) 0, o->earn_ref == NULL);
	ORDER_SET(OC_LOT, Int64GetDatum(o->lot_id), o->lot_id == 0);
	ORDER_SET(OC_COUPON, o->coupon ? CStringGetTextDatum(o->coupon) : (Datum) 0, o->coupon == NULL);
	ORDER_SET(OC_CASHBACK, Int64GetDatum(o->cashback), false);
	if (o->priced || !o->exists)
		ORDER_SET(OC_PRICED, o->priced, o->priced == 0);
	ORDER_SET(OC_PAID, TimestampTzGetDatum(o->paid_at), false);
	ORDER_SET(OC_COMPLETED, TimestampTzGetDatum(o->completed_at), !o->has_completed);
	ORDER_SET(OC_CLOSED, TimestampTzGetDatum(o->closed_at), !o->has_closed);
	ORDER_SET(OC_UPDATED, TimestampTzGetDatum(at), false);
#undef ORDER_SET
	if (o->exists)
		ly_table_update(&table, n, attnums, values, isnull);
	else
		ly_table_insert(&table, n, attnums, values, isnull);
	o->tid = ly_table_tid(&table);
	ly_table_hint(&table, &order_hint);	/* a completion in the same transaction reads it there */
	ly_table_close(&table);
	o->exists = true;
}

/* ---------------------------------------------------------------------
 * Transitions
 * ------------------------------------------------------------------- */

static char *
generation_ref(const Order *o)
{
	return o->generation == 1 ? pstrdup(o->order_id) : psprintf("%s#%d", o->order_id, o->generation);
}

static void cashback_price(Order *o, LyDefinitions *defs, const LyMemberFacts *facts,
						   const OrderRow *row, TimestampTz at);
static void cashback_sync(Order *o, TimestampTz at);

/*
 * The order's earn key (per customer: source "order", ref its id and
 * generation) is taken although order_state records no earn for it: another
 * table tracked into the programme gave this customer an order with the same
 * id, or points were earned by hand with that key.  Refused, rather than
 * sharing the other earn.
 */
static void
order_earn_key_taken(const LyEarnArgs *earn)
{
	const Order *o = earn->key_taken_arg;

	ereport(ERROR,
			(errcode(ERRCODE_LY_ORDER_REFUSED),
			 errmsg("order \"%s\" cannot earn its points: its ledger key (earn with source \"order\" and ref \"%s\") is already taken for this customer",
					o->order_id, earn->ref),
			 errdetail("Another table tracked into the same programme has an order with this id for this customer, or points were earned by hand with that source and ref."),
			 errhint("Order ids must be unique across the tables a programme tracks: give each table its own range or prefix of ids.")));
}

/* Price the order at `at` and record its points pending (new or next generation). */
static void
price(Order *o, OrderMember *om, const OrderRow *row, TimestampTz at)
{
	LyDefinitions *defs = ly_definitions(o->program_id);
	LyMemberFacts facts;
	LyQuote		quote;

	Assert(row->has_amount && row->amount >= 0);	/* checked by transition() */
	ly_member_facts_from(&facts, o->member_id, at, om->has_birthday, om->birthday, om->tier,
						 om->has_since, om->tier_since);
	ly_quote_order(defs, &facts, row->amount, row->lines, at, true, &quote);
	o->amount = row->amount;
	o->refunded = 0;
	o->earned = quote.points;
	o->earn_ref = NULL;
	o->lot_id = 0;
	o->priced = quote.detail;
	o->paid_at = at;
	o->has_completed = false;
	o->has_closed = false;
	if (!o->exists)
		o->first_paid_at = at;
	if (quote.points > 0)
	{
		LyEarnArgs	earn;

		memset(&earn, 0, sizeof(earn));
		earn.member_id = o->member_id;
		earn.points = quote.points;
		earn.source = "order";
		earn.ref = generation_ref(o);
		earn.at = at;
		earn.available_at = DT_NOEND;	/* pending until completed */
		earn.qualifying_entry = true;
		earn.qualifying_lot = false;	/* qualifies when completed */
		earn.member = om->fresh ? &om->m : NULL;
		earn.key_taken = order_earn_key_taken;	/* order_state has no earn for this generation */
		earn.key_taken_arg = o;
		ly_points_earn(&earn);
		om->fresh = false;
		o->earn_ref = (char *) earn.ref;
		o->lot_id = earn.lot_id;
	}
	ly_awards_record(o->member_id, defs, at, &quote);
	cashback_price(o, defs, &facts, row, at);
}

/* Take back the order's earn: all of it. */
static void
unearn(Order *o, OrderMember *om, TimestampTz at)
{
	if (o->earn_ref)
		ly_points_reverse(o->member_id, "order", o->earn_ref, "earn", true, 0, at);
	om->fresh = false;
}

static LyPlan plan_order_spends = {
	"SELECT DISTINCT source, ref FROM loyalty.points_entry"
	" WHERE member_id = $1 AND operation = 'spend' AND (ref = $2 OR starts_with(ref, $2 || '#'))",
	2, {INT8OID, TEXTOID}
};

/*
 * Give back what the order spent: points spent with the order's id as ref,
 * or "id#" and anything for a later payment ("id#2"); each spend reversed in
 * full once, so what an earlier cancel gave back is not given twice.
 */
static void
return_spends(Order *o, OrderMember *om, TimestampTz at)
{
	Datum		values[2] = {Int64GetDatum(o->member_id), CStringGetTextDatum(o->order_id)};
	uint64		n = ly_exec(&plan_order_spends, values, NULL, 0);
	char	  **sources = palloc(sizeof(char *) * Max(n, 1));
	char	  **refs = palloc(sizeof(char *) * Max(n, 1));

	for (uint64 i = 0; i < n; i++)
	{
		sources[i] = ly_col_text(i, 1);
		refs[i] = ly_col_text(i, 2);
	}
	for (uint64 i = 0; i < n; i++)
		ly_points_reverse(o->member_id, sources[i], refs[i], "spend", true, 0, at);
	if (n > 0)
		om->fresh = false;
}

static void
complete(Order *o, OrderMember *om, TimestampTz at)
{
	const LySettings *settings = ly_settings(o->program_id);

	o->state = OS_COMPLETED;
	o->has_completed = true;
	o->completed_at = at;
	if (o->lot_id)
	{
		TimestampTz available_at;

		if (pg_add_s64_overflow(at, (int64) settings->pending_days * USECS_PER_DAY, &available_at) ||
			!IS_VALID_TIMESTAMP(available_at))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("order \"%s\" completed at %s: its points would become available after the last valid timestamp",
							o->order_id, timestamptz_to_str(at))));
		ly_lot_set_state(om->fresh ? &om->m : NULL, o->member_id, o->lot_id, available_at,
						 true, "release", "order", o->earn_ref, at);
		om->fresh = false;
	}
	cashback_sync(o, at);
	/* the tier is re-evaluated once order_state says completed (spend basis) */
}

static void
new_generation(Order *o)
{
	if (o->exists && (o->state == OS_REFUNDED || o->state == OS_CANCELLED || o->state == OS_DELETED))
		o->generation++;
}

/*
 * The order's coupon (coupon_column): redeemed when the order is paid, on
 * its cart (the lines column, else one line of the amount), keyed by the
 * order id; released when the order is refunded, cancelled or deleted.
 */
static LyPlan plan_coupon_redeem = {
	"SELECT loyalty._redeem_coupon($1, $2::loyalty.coupon_code, $3, $4,"
	" CASE WHEN $5::jsonb IS NULL"
	"  THEN jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('price', $6::int8)))"
	"  WHEN jsonb_typeof($5::jsonb) = 'array' THEN jsonb_build_object('lines', $5::jsonb)"
	"  ELSE $5::jsonb END, $7)",
	7, {OIDOID, TEXTOID, INT8OID, TEXTOID, JSONBOID, INT8OID, TIMESTAMPTZOID}
};

static LyPlan plan_coupon_release = {
	"SELECT loyalty._release_coupon($1, $2::loyalty.coupon_code, $3, $4)",
	4, {OIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}
};

static void
coupon_redeem(Order *o, OrderMember *om, const OrderRow *row, Oid caller, TimestampTz at)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (o->coupon == NULL)
		return;
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(o->coupon);
	values[2] = Int64GetDatum(o->member_id);
	values[3] = CStringGetTextDatum(o->order_id);
	values[4] = row->lines ? JsonbPGetDatum(row->lines) : (Datum) 0;
	nulls[4] = row->lines ? ' ' : 'n';
	values[5] = Int64GetDatum(row->amount);
	values[6] = TimestampTzGetDatum(at);
	ly_exec(&plan_coupon_redeem, values, nulls, 1);
	om->fresh = false;
}

static void
coupon_release(Order *o, Oid caller, TimestampTz at)
{
	Datum		values[4];

	if (o->coupon == NULL)
		return;
	values[0] = ObjectIdGetDatum(caller);
	values[1] = CStringGetTextDatum(o->coupon);
	values[2] = CStringGetTextDatum(o->order_id);
	values[3] = TimestampTzGetDatum(at);
	ly_exec(&plan_coupon_release, values, NULL, 1);
}

/* ---------------------------------------------------------------------
 * Cashback (SPEC sections 4 and 7) and wallet money the order spent
 *
 * Priced when the order is paid (one order_cashback row per cashback rule),
 * paid from the rule's budget wallet to the member's wallet when it
 * completes, and brought back to what the order still deserves on every
 * later transition: nothing once it is no longer completed, and
 * C - floor(C x (A - R) / A) reversed after refunds R, as for points.
 * ------------------------------------------------------------------- */

static LyPlan plan_cashback_insert = {
	"INSERT INTO loyalty.order_cashback (member_id, tracked_id, order_id, generation, rule_code,"
	" from_wallet, amount) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	7, {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID}
};

static void
cashback_price(Order *o, LyDefinitions *defs, const LyMemberFacts *facts, const OrderRow *row,
			   TimestampTz at)
{
	LyCashback *cashbacks;
	int			n = ly_quote_cashback(defs, facts, row->amount, row->lines, at, &cashbacks);

	o->cashback = 0;
	for (int i = 0; i < n; i++)
	{
		Datum		values[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int64		wallet = ly_wallet_by_name(o->program_id, cashbacks[i].from_wallet);

		values[0] = Int64GetDatum(o->member_id);
		values[1] = Int64GetDatum(o->tracked_id);
		values[2] = CStringGetTextDatum(o->order_id);
		values[3] = Int32GetDatum(o->generation);
		values[4] = CStringGetTextDatum(cashbacks[i].rule_code);
		values[5] = Int64GetDatum(wallet);
		nulls[5] = wallet ? ' ' : 'n';
		values[6] = Int64GetDatum(cashbacks[i].amount);
		ly_exec(&plan_cashback_insert, values, nulls, 0);
		o->cashback += cashbacks[i].amount;
	}
}

static LyPlan plan_cashback_rows = {
	"SELECT rule_code, from_wallet, to_wallet, amount, paid, reversed, transfers, shortfall"
	" FROM loyalty.order_cashback"
	" WHERE member_id = $1 AND tracked_id = $2 AND order_id = $3 AND generation = $4 ORDER BY rule_code",
	4, {INT8OID, INT8OID, TEXTOID, INT4OID}
};

static LyPlan plan_cashback_update = {
	"UPDATE loyalty.order_cashback SET to_wallet = $6, paid = paid + $7, reversed = reversed + $8,"
	" debt = debt + $9, transfers = transfers + 1"
	" WHERE member_id = $1 AND tracked_id = $2 AND order_id = $3 AND generation = $4 AND rule_code = $5",
	9, {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID}
};

static LyPlan plan_shortfall = {
	"WITH s AS (INSERT INTO loyalty.cashback_shortfalls (program_id, member_id, tracked_id, order_id, generation,"
	"  rule_code, from_wallet, amount, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	"  ON CONFLICT (member_id, tracked_id, order_id, generation, rule_code)"
	"  DO UPDATE SET amount = EXCLUDED.amount, reason = EXCLUDED.reason, at = EXCLUDED.at,"
	"  from_wallet = EXCLUDED.from_wallet, resolved_at = NULL, resolution = NULL)"
	" UPDATE loyalty.order_cashback SET shortfall = $8"
	" WHERE member_id = $2 AND tracked_id = $3 AND order_id = $4 AND generation = $5 AND rule_code = $6",
	10, {INT8OID, INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
};

/* A shortfall no longer owed: paid after all, or the order no longer deserves it. */
static LyPlan plan_shortfall_resolved = {
	"WITH s AS (UPDATE loyalty.cashback_shortfalls SET resolved_at = $6, resolution = $7"
	"  WHERE member_id = $1 AND tracked_id = $2 AND order_id = $3 AND generation = $4 AND rule_code = $5)"
	" UPDATE loyalty.order_cashback SET shortfall = 0"
	" WHERE member_id = $1 AND tracked_id = $2 AND order_id = $3 AND generation = $4 AND rule_code = $5",
	7, {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID}
};

typedef struct CashbackRow
{
	char	   *rule_code;
	int64		from_wallet;	/* 0: the rule names no wallet */
	int64		to_wallet;		/* 0: not paid yet */
	int64		amount;
	int64		outstanding;	/* paid - reversed */
	int32		transfers;
	int64		shortfall;		/* recorded as unpaid */
} CashbackRow;

static void
cashback_resolved(Order *o, const CashbackRow *c, const char *resolution, TimestampTz at)
{
	Datum		values[7];

	if (c->shortfall == 0)
		return;
	values[0] = Int64GetDatum(o->member_id);
	values[1] = Int64GetDatum(o->tracked_id);
	values[2] = CStringGetTextDatum(o->order_id);
	values[3] = Int32GetDatum(o->generation);
	values[4] = CStringGetTextDatum(c->rule_code);
	values[5] = TimestampTzGetDatum(at);
	values[6] = CStringGetTextDatum(resolution);
	ly_exec(&plan_shortfall_resolved, values, NULL, 0);
}

static void
cashback_shortfall(Order *o, const CashbackRow *c, int64 amount, const char *reason, TimestampTz at)
{
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(o->program_id);
	values[1] = Int64GetDatum(o->member_id);
	values[2] = Int64GetDatum(o->tracked_id);
	values[3] = CStringGetTextDatum(o->order_id);
	values[4] = Int32GetDatum(o->generation);
	values[5] = CStringGetTextDatum(c->rule_code);
	values[6] = Int64GetDatum(c->from_wallet);
	nulls[6] = c->from_wallet ? ' ' : 'n';
	values[7] = Int64GetDatum(amount);
	values[8] = CStringGetTextDatum(reason);
	values[9] = TimestampTzGetDatum(at);
	ly_exec(&plan_shortfall, values, nulls, 0);
}

/* Bring the order's cashback to what it deserves now (see above). */
static void
cashback_sync(Order *o, TimestampTz at)
{
	Datum		values[9];
	uint64		n;
	CashbackRow *rows;

	if (o->cashback == 0)
		return;
	values[0] = Int64GetDatum(o->member_id);
	values[1] = Int64GetDatum(o->tracked_id);
	values[2] = CStringGetTextDatum(o->order_id);
	values[3] = Int32GetDatum(o->generation);
	n = ly_exec(&plan_cashback_rows, values, NULL, 0);
	rows = palloc(sizeof(CashbackRow) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		rows[i].rule_code = ly_col_text(i, 1);
		rows[i].from_wallet = ly_col_int64(i, 2, 0);
		rows[i].to_wallet = ly_col_int64(i, 3, 0);
		rows[i].amount = ly_col_int64(i, 4, 0);
		rows[i].outstanding = ly_col_int64(i, 5, 0) - ly_col_int64(i, 6, 0);
		rows[i].transfers = ly_col_int32(i, 7, 0);
		rows[i].shortfall = ly_col_int64(i, 8, 0);
	}
	for (uint64 i = 0; i < n; i++)
	{
		CashbackRow *c = &rows[i];
		int64		deserved = 0;
		int64		delta;
		int64		paid = 0;
		int64		reversed = 0;
		int64		debt = 0;
		LyWallet	budget;
		LyWallet	mine;
		LyDebitResult result;
		char	   *ref;

		if (o->state == OS_COMPLETED && o->amount > 0)
			deserved = ly_scale_floor(c->amount, o->amount - o->refunded, o->amount);
		delta = deserved - c->outstanding;
		if (deserved == 0)
			cashback_resolved(o, c, "order_reversed", at);
		if (delta == 0)
			continue;
		if (c->from_wallet == 0)
		{
			if (delta > 0)
				cashback_shortfall(o, c, delta, "no_wallet", at);
			continue;
		}
		budget = *ly_wallet_get(c->from_wallet);
		if (c->to_wallet == 0)
			c->to_wallet = ly_member_wallet(o->program_id, o->member_id, budget.currency);
		mine = *ly_wallet_get(c->to_wallet);
		ref = psprintf(LY_INTERNAL_REF "cashback:" INT64_FORMAT ":%s:%s:%d", o->tracked_id,
					   generation_ref(o), c->rule_code, c->transfers + 1);
		if (delta > 0)
		{
			if (ly_wallet_move(&budget, &mine, delta, ref, "cashback", o->member_id, at, &result) == 0)
			{
				cashback_shortfall(o, c, delta,
								   result == LY_DEBIT_DAILY_LIMIT ? "daily_limit" :
								   result == LY_DEBIT_BUSY ? "budget_busy" : "insufficient_funds", at);
				continue;
			}
			cashback_resolved(o, c, "paid", at);
			paid = delta;
		}
		else
		{
			/* take back what the member's wallet has; owe the rest */
			int64		have = ly_wallet_lock_available(&mine, at);
			int64		take;

			reversed = -delta;
			take = Min(Max(have, 0), reversed);
			if (take > 0 &&
				ly_wallet_move(&mine, &budget, take, ref, "cashback_reversal", o->member_id, at, &result) == 0)
				take = 0;
			debt = reversed - take;
			if (debt > 0)
				ly_wallet_add_debt(&mine, &budget, debt, at);
		}
		values[4] = CStringGetTextDatum(c->rule_code);
		values[5] = Int64GetDatum(c->to_wallet);
		values[6] = Int64GetDatum(paid);
		values[7] = Int64GetDatum(reversed);
		values[8] = Int64GetDatum(debt);
		ly_exec(&plan_cashback_update, values, NULL, 0);
	}
}

/* The member's posted wallet payments keyed by the order (the member's few entries, not the programme's). */
static LyPlan plan_order_wallet_spends = {
	"SELECT t.transfer_id, t.debit_wallet, t.credit_wallet, t.posted_amount"
	" FROM loyalty.wallet w"
	" JOIN loyalty.wallet_entry e ON e.wallet_id = w.wallet_id AND e.amount < 0"
	" JOIN loyalty.wallet_transfer t ON t.transfer_id = e.transfer_id AND t.debit_wallet = w.wallet_id"
	" WHERE w.owner_member = $3 AND t.program_id = $1 AND t.state = 'posted'"
	" AND (t.ref = $2 OR starts_with(t.ref, $2 || '#'))"
	" AND NOT EXISTS (SELECT 1 FROM loyalty.wallet_transfer r"
	"  WHERE r.program_id = $1 AND r.ref = '" LY_INTERNAL_REF "return:' || t.transfer_id)"
	" ORDER BY t.transfer_id",
	3, {INT8OID, TEXTOID, INT8OID}
};

/*
 * Give back wallet money the order paid: transfers from the member's wallet
 * with the order's id as ref, or "id#" and anything for a later payment
 * ("id#2"), each returned once.
 */
static void
return_wallet_spends(Order *o, TimestampTz at)
{
	Datum		values[3] = {Int64GetDatum(o->program_id), CStringGetTextDatum(o->order_id),
	Int64GetDatum(o->member_id)};
	uint64		n = ly_exec(&plan_order_wallet_spends, values, NULL, 0);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1) * 4);

	/* every column before ly_wallet_get, which may run queries of its own */
	for (uint64 i = 0; i < n; i++)
		for (int c = 0; c < 4; c++)
			ids[i * 4 + c] = ly_col_int64(i, c + 1, 0);
	for (uint64 i = 0; i < n; i++)
	{
		int64		transfer_id = ids[i * 4];
		LyWallet	payer = *ly_wallet_get(ids[i * 4 + 1]);
		LyWallet	payee = *ly_wallet_get(ids[i * 4 + 2]);
		int64		amount = ids[i * 4 + 3];
		LyDebitResult result;

		if (amount > 0 &&
			ly_wallet_move(&payee, &payer, amount, psprintf(LY_INTERNAL_REF "return:" INT64_FORMAT, transfer_id),
						   "checkout_return", o->member_id, at, &result) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_INSUFFICIENT_FUNDS),
					 errmsg("order \"%s\": wallet " INT64_FORMAT " (\"%s\") cannot return the " INT64_FORMAT
							" (minor units of %s) the member paid from its wallet", o->order_id, payee.wallet_id,
							payee.name, amount, payee.currency),
					 result == LY_DEBIT_BUSY ?
					 errdetail("Its money is held by transactions in progress.") : 0,
					 errhint("Fund that wallet, or allow it to overdraw.")));
	}
}

/* A paid order whose amount an UPDATE changed: re-priced as the next generation. */
static bool
repriced(Order *o, OrderMember *om, const OrderRow *row, TimestampTz at)
{
	if (!row->amount_changed || row->amount == o->amount)
		return false;
	unearn(o, om, at);
	o->generation++;
	price(o, om, row, at);
	return true;
}

/* Move the order to `target` as SPEC section 8's table says. */
static void
transition(Order *o, OrderMember *om, const OrderRow *row, OrderState target, Oid caller,
		   TimestampTz at)
{
	OrderState	from = o->exists ? o->state : OS_NONE;

	/* a paid order needs an amount; after completion amount changes are ignored */
	if ((target == OS_PAID || target == OS_COMPLETED) && from != OS_COMPLETED &&
		(!row->has_amount || row->amount < 0))
		ereport(ERROR,
				(errcode(ERRCODE_LY_ORDER_REFUSED),
				 row->has_amount ?
				 errmsg("order \"%s\" has a negative amount (" INT64_FORMAT "): loyalty cannot price it",
						o->order_id, row->amount) :
				 errmsg("order \"%s\" has no amount: loyalty cannot price it", o->order_id),
				 errhint("A paid or completed order needs its amount, in minor units, zero or more.")));
	if (from == OS_NONE || from == OS_REFUNDED || from == OS_CANCELLED || from == OS_DELETED)
		o->coupon = row->coupon ? pstrdup(row->coupon) : NULL;	/* the coupon of this payment */
	switch (target)
	{
		case OS_PAID:
			if (from == OS_PAID)
			{
				if (!repriced(o, om, row, at))
					return;
			}
			else if (from == OS_COMPLETED)
			{
				/* undone back to pending: no longer qualifying */
				if (o->lot_id)
					ly_lot_set_state(om->fresh ? &om->m : NULL, o->member_id, o->lot_id, DT_NOEND,
									 false, "hold", "order", o->earn_ref, at);
				om->fresh = false;
				o->has_completed = false;
				o->state = OS_PAID;
				cashback_sync(o, at);
			}
			else
			{
				new_generation(o);
				price(o, om, row, at);
				coupon_redeem(o, om, row, caller, at);
			}
			o->state = OS_PAID;
			order_save(o, at);
			return;
		case OS_COMPLETED:
			if (from == OS_COMPLETED)
				return;			/* completed twice: points once */
			if (from == OS_PAID)
				(void) repriced(o, om, row, at);
			else
			{
				new_generation(o);
				price(o, om, row, at);
				coupon_redeem(o, om, row, caller, at);
			}
			complete(o, om, at);
			order_save(o, at);
			ly_tier_reevaluate(o->member_id, o->program_id, at, "upgrade", false);
			return;
		case OS_REFUNDED:
		case OS_CANCELLED:
		case OS_DELETED:
			if (from == OS_NONE)
				return;			/* never paid: nothing to undo */
			if (from == OS_PAID || from == OS_COMPLETED)
			{
				unearn(o, om, at);
				return_spends(o, om, at);
				coupon_release(o, caller, at);
				o->state = target;
				return_wallet_spends(o, at);
				cashback_sync(o, at);
				o->has_closed = true;
				o->closed_at = at;
			}
			else if (from == target)
				return;
			o->state = target;
			order_save(o, at);
			return;
		case OS_NONE:
			return;
	}
}

/* ---------------------------------------------------------------------
 * The trigger
 * ------------------------------------------------------------------- */

Datum
ly_order_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup = NULL;
	HeapTuple	oldtup = NULL;
	Tracked    *t;
	OrderRow	row;
	OrderState	target;
	TimestampTz at;
	LyCall		call;
	OrderMember om;
	Order		o;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "loyalty._order_trigger must run AFTER ... FOR EACH ROW");
	desc = RelationGetDescr(td->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		newtup = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		oldtup = td->tg_trigtuple;
	else
		return PointerGetDatum(NULL);

	/* An UPDATE that leaves every column it reads alone costs no query. */
	if (tracked_cache != NULL && oldtup && newtup)
	{
		Oid			relid = RelationGetRelid(td->tg_relation);

		t = hash_search(tracked_cache, &relid, HASH_FIND, NULL);
		if (t && t->valid &&
			!column_changed(&t->status, oldtup, newtup, desc) &&
			!column_changed(&t->amount, oldtup, newtup, desc) &&
			!column_changed(&t->member, oldtup, newtup, desc) &&
			!column_changed(&t->id, oldtup, newtup, desc))
			return PointerGetDatum(NULL);
	}

	ly_enter(&call);
	t = tracked_config(td->tg_relation);
	if (newtup)
		read_row(t, newtup, desc, &row);
	else
	{
		read_row(t, oldtup, desc, &row);
		row.target = OS_DELETED;
	}
	target = row.target;
	at = row.has_time && newtup ? row.time : GetCurrentStatementStartTimestamp();
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_LY_ORDER_REFUSED),
				 errmsg("order \"%s\" has an infinite time in its time column", row.order_id ? row.order_id : ""),
				 errhint("The time column says when the order's status changed: a finite timestamp.")));
	row.amount_changed = oldtup && newtup && column_changed(&t->amount, oldtup, newtup, desc);

	/* An order may not move to another customer or id while it counts. */
	if (oldtup && newtup)
	{
		OrderRow	old;

		read_row(t, oldtup, desc, &old);
		if (old.member_key && old.order_id &&
			(row.member_key == NULL || strcmp(old.member_key, row.member_key) != 0 ||
			 row.order_id == NULL || strcmp(old.order_id, row.order_id) != 0))
		{
			Order		prev;
			int64		old_id = member_id_of(t, old.member_key);
			int64		new_id = row.member_key ? member_id_of(t, row.member_key) : 0;

			/* both customers' rows are locked, in member id order (no deadlock) */
			if (old_id != 0 && new_id != 0 && new_id < old_id)
				(void) lock_member(t, row.member_key, &om);
			if (old_id != 0 && resolve_member(t, old.member_key, false, call.caller, at, &om))
			{
				order_load(om.member_id, t->tracked_id, old.order_id, &prev);
				if (prev.exists && (prev.state == OS_PAID || prev.state == OS_COMPLETED))
					ereport(ERROR,
							(errcode(ERRCODE_LY_ORDER_REFUSED),
							 errmsg("order \"%s\" cannot change its customer or id while it is %s",
									old.order_id, state_names[prev.state]),
							 errdetail("Its points belong to customer \"%s\".", old.member_key),
							 errhint("Cancel or refund the order first, then write a new one.")));
			}
		}
	}

	if (target == OS_NONE || row.member_key == NULL || row.order_id == NULL)
	{
		ly_leave(&call);		/* unmapped status or guest checkout: not ours */
		return PointerGetDatum(NULL);
	}
	/* every decision under the member's lock */
	if (resolve_member(t, row.member_key, target == OS_PAID || target == OS_COMPLETED,
					   call.caller, at, &om))
	{
		order_load(om.member_id, t->tracked_id, row.order_id, &o);
		o.program_id = t->program_id;
		transition(&o, &om, &row, target, call.caller, at);
	}
	ly_leave(&call);
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * refund(orders, order_id, amount, ref, at)
 * ------------------------------------------------------------------- */

static LyPlan plan_tracked_id = {
	"SELECT tracked_id, program_id FROM loyalty.tracked_table WHERE orders = $1 AND active",
	1, {OIDOID}
};

static LyPlan plan_order_member = {
	"SELECT member_id FROM loyalty.order_state WHERE tracked_id = $1 AND order_id = $2"
	" ORDER BY updated_at DESC LIMIT 1",
	2, {INT8OID, TEXTOID}
};

static LyPlan plan_refund_find = {
	"SELECT amount, reversed_total FROM loyalty.order_refund"
	" WHERE member_id = $1 AND tracked_id = $2 AND order_id = $3 AND ref = $4",
	4, {INT8OID, INT8OID, TEXTOID, TEXTOID}
};

static LyPlan plan_refund_insert = {
	"WITH r AS (INSERT INTO loyalty.order_refund (member_id, tracked_id, order_id, ref, generation,"
	"  amount, reversed_total, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8))"
	" UPDATE loyalty.order_state SET refunded = refunded + $6, updated_at = $8"
	" WHERE member_id = $1 AND tracked_id = $2 AND order_id = $3",
	8, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID, INT8OID, INT8OID, TIMESTAMPTZOID}
};

Datum
ly_refund(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *order_id = text_to_cstring(ly_arg_text_nonempty(fcinfo, 1, "order_id"));
	int64		amount = ly_arg_positive(fcinfo, 2, "amount");
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 3, "ref"));
	TimestampTz at = ly_arg_instant(fcinfo, 4, "at");
	LyCall		call;
	int64		tracked_id;
	int64		member_id;
	LyMember	m;
	Order		o;
	Datum		values[8];
	int64		total;
	int64		target;
	int64		kept;

	ly_require_not_null(fcinfo, 0, "orders");
	relid = PG_GETARG_OID(0);
	ly_enter(&call);
	values[0] = ObjectIdGetDatum(relid);
	/* tracked into a programme the caller may not use (grant_program): not for it */
	if (ly_exec(&plan_tracked_id, values, NULL, 1) != 1 || !ly_program_allowed(ly_col_int64(0, 2, 0)))
		ereport(ERROR,
				(errcode(ERRCODE_LY_TRACKING),
				 errmsg("table \"%s\" is not tracked", get_rel_name(relid)),
				 errhint("Track it with loyalty.track_orders().")));
	tracked_id = ly_col_int64(0, 1, 0);
	values[0] = Int64GetDatum(tracked_id);
	values[1] = CStringGetTextDatum(order_id);
	if (ly_exec(&plan_order_member, values, NULL, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN_ORDER),
				 errmsg("order \"%s\" of table \"%s\" is unknown to loyalty", order_id, get_rel_name(relid)),
				 errhint("Only orders that were paid while the table was tracked can be refunded.")));
	member_id = ly_col_int64(0, 1, 0);
	ly_member_load(member_id, true, &m);
	order_load(member_id, tracked_id, order_id, &o);

	values[0] = Int64GetDatum(member_id);
	values[1] = Int64GetDatum(tracked_id);
	values[2] = CStringGetTextDatum(order_id);
	values[3] = CStringGetTextDatum(ref);
	if (ly_exec(&plan_refund_find, values, NULL, 1) == 1)
	{
		int64		first = ly_col_int64(0, 1, 0);

		total = ly_col_int64(0, 2, 0);
		if (first != amount)
			ereport(ERROR,
					(errcode(ERRCODE_LY_IDEMPOTENCY_CONFLICT),
					 errmsg("refund \"%s\" of order \"%s\" was already recorded with a different amount",
							ref, order_id),
					 errdetail("It has amount " INT64_FORMAT "; this call has " INT64_FORMAT ".", first, amount),
					 errhint("Use a new ref for a new refund.")));
		ly_leave(&call);
		PG_RETURN_INT64(total);
	}
	if (o.state != OS_PAID && o.state != OS_COMPLETED)
		ereport(ERROR,
				(errcode(ERRCODE_LY_INVALID_REFUND),
				 errmsg("order \"%s\" is %s: a partial refund needs a paid or completed order",
						order_id, state_names[o.state])));
	if (amount > o.amount - o.refunded)
		ereport(ERROR,
				(errcode(ERRCODE_LY_INVALID_REFUND),
				 errmsg("refund of " INT64_FORMAT " exceeds what is left of order \"%s\": " INT64_FORMAT
						" of " INT64_FORMAT,
						amount, order_id, o.amount - o.refunded, o.amount)));
	/* reversed total E - floor(E x (A - R) / A) */
	kept = o.amount > 0 ? ly_scale_floor(o.earned, o.amount - o.refunded - amount, o.amount) : 0;
	target = o.earned - kept;
	if (o.earn_ref && target > 0)
		ly_points_reverse(member_id, "order", o.earn_ref, "earn", false, target, at);
	values[4] = Int32GetDatum(o.generation);
	values[5] = Int64GetDatum(amount);
	values[6] = Int64GetDatum(target);
	values[7] = TimestampTzGetDatum(at);
	ly_exec(&plan_refund_insert, values, NULL, 0);
	o.refunded += amount;
	cashback_sync(&o, at);
	ly_leave(&call);
	PG_RETURN_INT64(target);
}
