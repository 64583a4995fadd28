/*
 * coupons.c: coupon evaluation.  Owns what one coupon is worth on a cart
 * (the reasons of validate_coupon, in their order, and the discount of a
 * coupon alone), the order in which coupons apply together, the search for
 * the best allowed combination, and the SQL functions validate_coupon and
 * best_coupons.  Templates come from the per-backend cache (definitions.c);
 * coupons.h exports the evaluation to the C code that redeems.
 *
 * Money: a fixed coupon takes min(value, B); a percent coupon takes
 * B x value / 100 rounded half up to the minor unit (once), then at most
 * max_discount and at most B, where B is what it applies to: an item coupon
 * its covered lines, a store coupon what remains of the cart.
 *
 * Several coupons on one order (best_coupons): item coupons first, each on
 * what remains of its covered lines, percent before fixed, then by code;
 * then store coupons on what remains of the whole cart, percent before
 * fixed, then by code.  An item coupon's discount is taken from its lines in
 * proportion to what remains of each (rounded down, the leftover minor units
 * from the lines in cart order), so a later item coupon sharing a line sees
 * what the earlier one left.  min_spend is measured on list prices.
 *
 * The search is described above best_search().
 */
#include "coupons.h"
#include "coupon_code.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#if PG_VERSION_NUM < 160000
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif

PG_FUNCTION_INFO_V1(ly_validate_coupon);
PG_FUNCTION_INFO_V1(ly_best_coupons);
PG_FUNCTION_INFO_V1(ly_coupon_order_shares);

/* ---------------------------------------------------------------------
 * Carts
 * ------------------------------------------------------------------- */

static void
bad_cart(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed cart: %s", problem),
			 errhint("A cart is {\"lines\": [{\"sku\": \"A1\", \"category\": \"shoes\", \"price\": 19900, \"qty\": 2}, ...]}.")));
}

/* Parse a cart: an object with a "lines" array (SPEC 6; a bare array is malformed). */
LyCouponCart *
ly_coupon_cart(Jsonb *cart)
{
	LyCouponCart *out = palloc0(sizeof(LyCouponCart));
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(cart))
		bad_cart("expected a JSON object with a \"lines\" array");
	v = getKeyJsonValueFromContainer(&cart->root, "lines", 5, NULL);
	if (v == NULL)
		bad_cart("\"lines\" is missing");
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_cart("\"lines\" must be an array");
	out->nlines = ly_parse_cart_lines(cart, &out->lines, &out->total);
	return out;
}

/*
 * The parsed cart of argument `argno`, kept in fn_extra for as long as the
 * same cart (same bytes) comes back: one statement validating many coupons
 * against one cart parses it once.
 */
typedef struct CartCache
{
	Size		len;
	char	   *bytes;			/* the jsonb's data, untoasted */
	LyCouponCart *cart;
} CartCache;

static const LyCouponCart *
cart_arg(FunctionCallInfo fcinfo, int argno)
{
	Datum		raw = PG_GETARG_DATUM(argno);
	struct varlena *v = (struct varlena *) DatumGetPointer(raw);
	CartCache  *cache = (CartCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	Jsonb	   *jb;

	if (VARATT_IS_EXTENDED(v) && (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v)))
		v = pg_detoast_datum(v);
	if (cache != NULL && cache->len == VARSIZE_ANY_EXHDR(v) &&
		memcmp(cache->bytes, VARDATA_ANY(v), cache->len) == 0)
		return cache->cart;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cache == NULL)
		cache = palloc0(sizeof(CartCache));
	else
	{
		/* the previous cart is dropped; parsing the new one may raise */
		fcinfo->flinfo->fn_extra = NULL;
		pfree(cache->bytes);
	}
	jb = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(v));
	cache->cart = ly_coupon_cart(jb);
	cache->len = VARSIZE_ANY_EXHDR(v);
	cache->bytes = palloc(Max(cache->len, 1));
	memcpy(cache->bytes, VARDATA_ANY(v), cache->len);
	fcinfo->flinfo->fn_extra = cache;
	MemoryContextSwitchTo(old);
	return cache->cart;
}

/* An item coupon covers a line whose sku or category it names; a store coupon every line. */
static bool
covers_line(const LyCouponTemplate *t, const LyCartLine *line)
{
	if (t->scope == LY_COUPON_STORE)
		return true;
	return ly_in_list(t->skus, t->nskus, line->sku) ||
		ly_in_list(t->categories, t->ncategories, line->category);
}

/* ---------------------------------------------------------------------
 * Discounts
 * ------------------------------------------------------------------- */

/* round half up (base x value / 100) in numeric, for percents with a long fraction */
static int64
percent_numeric(const LyCouponTemplate *t, int64 base)
{
	Datum		x = DirectFunctionCall2(numeric_mul,
										DirectFunctionCall1(int8_numeric, Int64GetDatum(base)),
										t->percent_value);
	Datum		num = DirectFunctionCall2(numeric_add,
										  DirectFunctionCall2(numeric_mul, x,
															  DirectFunctionCall1(int8_numeric, Int64GetDatum(2))),
										  DirectFunctionCall1(int8_numeric, Int64GetDatum(100)));
	Datum		q = DirectFunctionCall2(numeric_div_trunc, num,
										DirectFunctionCall1(int8_numeric, Int64GetDatum(200)));

	return DatumGetInt64(DirectFunctionCall1(numeric_int8, q));
}

int64
ly_coupon_discount(const LyCouponTemplate *t, int64 base)
{
	int64		d;

	if (base <= 0)
		return 0;
	if (!t->percent)
		d = t->fixed_value;
	else if (t->percent_fast)
	{
#ifdef PG_INT128_TYPE
		/* base x num / den, half up: floor((2 x base x num + den) / (2 x den)) */
		int128		n = (int128) base * t->percent_num * 2 + t->percent_den;

		d = (int64) (n / ((int128) t->percent_den * 2));
#else
		d = percent_numeric(t, base);
#endif
	}
	else
		d = percent_numeric(t, base);
	if (t->has_max_discount && d > t->max_discount)
		d = t->max_discount;
	return Min(Max(d, 0), base);
}

/* ---------------------------------------------------------------------
 * Rows: direct index lookups on the primary keys (the hot path of
 * validate_coupon), with the statement's snapshot
 * ------------------------------------------------------------------- */

/* Column numbers of loyalty.coupon and loyalty.member (coupons.sql, schema.sql). */
#define COUPON_ATT_CODE			1
#define COUPON_ATT_TEMPLATE		2
#define COUPON_ATT_PROGRAM		3
#define COUPON_ATT_MEMBER		4
#define COUPON_ATT_STATE		5
#define COUPON_ATT_FROM			8
#define COUPON_ATT_UNTIL		9
#define COUPON_NATTS			9
#define MEMBER_ATT_ID			1
#define MEMBER_ATT_PROGRAM		2
#define MEMBER_NATTS			2

/* Check once per relation that the columns are where this file reads them. */
static void
check_columns(Relation rel, Oid *checked, const char *const *names, int n)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (*checked == RelationGetRelid(rel))
		return;
	for (int i = 0; i < n; i++)
		if (names[i] != NULL &&
			(desc->natts <= i || strcmp(NameStr(TupleDescAttr(desc, i)->attname), names[i]) != 0))
			elog(ERROR, "loyalty.%s: column %d is not \"%s\"", RelationGetRelationName(rel),
				 i + 1, names[i]);
	*checked = RelationGetRelid(rel);
}

/*
 * Fetch the row of `relname` whose int8-like first column (the primary key,
 * index `indexname`) is `key`: values/isnull receive its first `natts`
 * columns (by-value ones only are read).  False if there is none.
 */
static bool
fetch_by_key(const char *relname, const char *indexname, int64 key, int natts,
			 const char *const *names, Oid *checked, Datum *values, bool *isnull)
{
	Relation	rel = table_open(ly_relid(relname), AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found;

	check_columns(rel, checked, names, natts);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(key));
	scan = systable_beginscan(rel, ly_relid(indexname), true, GetActiveSnapshot(), 1, &skey);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found)
		for (int i = 0; i < natts; i++)
			values[i] = heap_getattr(tup, i + 1, RelationGetDescr(rel), &isnull[i]);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

static LyCouponState
state_from_text(text *t)
{
	static const char *const states[] = {"issued", "available", "locked", "used", "expired", "void"};
	int			len = VARSIZE_ANY_EXHDR(t);

	for (int i = 0; i < (int) lengthof(states); i++)
		if ((int) strlen(states[i]) == len && memcmp(VARDATA_ANY(t), states[i], len) == 0)
			return (LyCouponState) i;
	elog(ERROR, "unknown coupon state \"%s\"", text_to_cstring(t));
	return LY_COUPON_VOID;		/* keep the compiler quiet */
}

bool
ly_coupon_read(int64 code, LyCouponRow *row)
{
	static const char *const names[COUPON_NATTS] = {
		"code", "template_id", "program_id", "member_id", "state", NULL, NULL,
		"valid_from", "valid_until"
	};
	static Oid	checked = InvalidOid;
	Datum		values[COUPON_NATTS];
	bool		isnull[COUPON_NATTS];
	Relation	rel;

	/* the state is text: read it while the tuple is pinned, so fetch by hand */
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found;

	rel = table_open(ly_relid("coupon"), AccessShareLock);
	check_columns(rel, &checked, names, COUPON_NATTS);
	ScanKeyInit(&skey, COUPON_ATT_CODE, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(code));
	scan = systable_beginscan(rel, ly_relid("coupon_pkey"), true, GetActiveSnapshot(), 1, &skey);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found)
	{
		for (int i = 0; i < COUPON_NATTS; i++)
			values[i] = heap_getattr(tup, i + 1, RelationGetDescr(rel), &isnull[i]);
		memset(row, 0, sizeof(*row));
		row->code = code;
		row->template_id = DatumGetInt64(values[COUPON_ATT_TEMPLATE - 1]);
		row->program_id = DatumGetInt64(values[COUPON_ATT_PROGRAM - 1]);
		ly_require_program(row->program_id);
		row->has_member = !isnull[COUPON_ATT_MEMBER - 1];
		row->member_id = row->has_member ? DatumGetInt64(values[COUPON_ATT_MEMBER - 1]) : 0;
		row->state = state_from_text(DatumGetTextPP(values[COUPON_ATT_STATE - 1]));
		row->has_from = !isnull[COUPON_ATT_FROM - 1];
		row->valid_from = row->has_from ? DatumGetTimestampTz(values[COUPON_ATT_FROM - 1]) : DT_NOBEGIN;
		row->has_until = !isnull[COUPON_ATT_UNTIL - 1];
		row->valid_until = row->has_until ? DatumGetTimestampTz(values[COUPON_ATT_UNTIL - 1]) : DT_NOEND;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

void
ly_coupon_member(int64 member_id, LyCouponMember *member)
{
	static const char *const names[MEMBER_NATTS] = {"member_id", "program_id"};
	static Oid	checked = InvalidOid;
	Datum		values[MEMBER_NATTS];
	bool		isnull[MEMBER_NATTS];

	if (!fetch_by_key("member", "member_pkey", member_id, MEMBER_NATTS, names, &checked,
					  values, isnull))
		ly_unknown_member(member_id);
	member->member_id = member_id;
	member->program_id = DatumGetInt64(values[MEMBER_ATT_PROGRAM - 1]);
	ly_require_program(member->program_id);
}

/* ---------------------------------------------------------------------
 * One coupon alone
 * ------------------------------------------------------------------- */

/*
 * The member's coupons of this template, whether it has one of the tags,
 * and the template's claimed count: what eligibility of an unclaimed code
 * needs, in one statement.
 */
static LyPlan plan_eligibility = {
	"SELECT (SELECT count(*) FROM loyalty.coupon c WHERE c.member_id = $1 AND c.template_id = $2)::int8,"
	" EXISTS (SELECT 1 FROM loyalty.member_tag g WHERE g.member_id = $1 AND g.tag = ANY ($3)),"
	" (SELECT t.claimed FROM loyalty.coupon_template t WHERE t.template_id = $2),"
	" (SELECT m.joined_at >= ($4 AT TIME ZONE $5 - pg_catalog.make_interval(days => $6)) AT TIME ZONE $5"
	"  FROM loyalty.member m WHERE m.member_id = $1)",
	6, {INT8OID, INT8OID, TEXTARRAYOID, TIMESTAMPTZOID, TEXTOID, INT4OID}
};

static Datum
text_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* Whether the member may take an unclaimed code of this template at `at` (SPEC 6 audience). */
static bool
eligible(const LyCouponTemplate *t, const LyCouponMember *member, LyDefinitions *defs,
		 TimestampTz at)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int64		mine;
	bool		tagged;
	bool		recent;

	if (t->ntiers > 0)
	{
		char	   *tier = ly_member_tier_at(member->member_id, at);

		if (!ly_in_list(t->tiers, t->ntiers, tier))
			return false;
	}
	if (t->new_member_days == 0 && t->ntags == 0 && t->per_member_limit == 0 &&
		!t->has_total_quantity)
		return true;			/* members_only: every enrolled member */
	values[0] = Int64GetDatum(member->member_id);
	values[1] = Int64GetDatum(t->template_id);
	values[2] = t->ntags > 0 ? text_array(t->tags, t->ntags) : (Datum) 0;
	nulls[2] = t->ntags > 0 ? ' ' : 'n';
	values[3] = TimestampTzGetDatum(at);
	values[4] = CStringGetTextDatum(defs->timezone);
	values[5] = Int32GetDatum(t->new_member_days);
	if (ly_exec(&plan_eligibility, values, nulls, 1) != 1)
		elog(ERROR, "eligibility of member " INT64_FORMAT " not found", member->member_id);
	mine = ly_col_int64(0, 1, 0);
	tagged = ly_col_bool(0, 2, false);
	recent = ly_col_bool(0, 4, false);
	if (t->new_member_days > 0 && (!recent || mine > 0))
		return false;
	if (t->ntags > 0 && !tagged)
		return false;
	if (t->per_member_limit > 0 && mine >= t->per_member_limit)
		return false;
	if (t->has_total_quantity && ly_col_int64(0, 3, 0) >= t->total_quantity)
		return false;
	return true;
}

static void
refuse(LyCouponResult *result, const char *reason)
{
	result->ok = false;
	result->discount = 0;
	result->reason = reason;
}

void
ly_coupon_check(const LyCouponRow *row, const LyCouponMember *member,
				const LyCouponCart *cart, TimestampTz at, LyCouponResult *result)
{
	LyDefinitions *defs;
	const LyCouponTemplate *t;
	bool		issued;
	bool		any = false;
	int64		covered = 0;

	memset(result, 0, sizeof(*result));
	if (row == NULL || row->program_id != member->program_id)
		return refuse(result, "unknown_code");
	defs = ly_definitions(row->program_id);
	t = ly_coupon_template(defs, row->template_id);
	if (t == NULL)
		elog(ERROR, "coupon template " INT64_FORMAT " not found", row->template_id);
	result->tmpl = t;
	issued = row->state == LY_COUPON_ISSUED && !row->has_member;
	if (row->state == LY_COUPON_VOID)
		return refuse(result, "void");
	if (row->has_member && row->member_id != member->member_id)
		return refuse(result, "not_owner");
	if (row->state == LY_COUPON_LOCKED)
		return refuse(result, "locked");
	if (row->state == LY_COUPON_USED)
		return refuse(result, "already_used");
	if (issued ? (t->has_from && at < t->valid_from) : (row->has_from && at < row->valid_from))
		return refuse(result, "not_started");
	if (row->state == LY_COUPON_EXPIRED ||
		(issued ? (t->has_until && at >= t->valid_until) : (row->has_until && at >= row->valid_until)))
		return refuse(result, "expired");
	if (issued && !eligible(t, member, defs, at))
		return refuse(result, "not_eligible");
	for (int i = 0; i < cart->nlines; i++)
		if (covers_line(t, &cart->lines[i]))
		{
			any = true;
			covered += cart->lines[i].total;	/* cannot overflow: the cart total did not */
		}
	result->covered = covered;
	if (t->scope == LY_COUPON_ITEMS && !any)
		return refuse(result, "not_applicable");
	if (covered < t->min_spend)
		return refuse(result, "below_min_spend");
	result->ok = true;
	result->discount = ly_coupon_discount(t, covered);
}

void
ly_coupon_evaluate(int64 code, const LyCouponMember *member, const LyCouponCart *cart,
				   TimestampTz at, LyCouponResult *result)
{
	LyCouponRow row;

	if (!ly_coupon_read(code, &row))
		ly_coupon_check(NULL, member, cart, at, result);
	else
		ly_coupon_check(&row, member, cart, at, result);
}

/* ---------------------------------------------------------------------
 * validate_coupon(code, member, cart, at)
 * ------------------------------------------------------------------- */
Datum
ly_validate_coupon(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		code;
	int64		member_id;
	const LyCouponCart *cart;
	TimestampTz at;
	LyCall		call;
	LyCouponMember member;
	LyCouponResult result;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	ly_require_not_null(fcinfo, 0, "code");
	ly_require_not_null(fcinfo, 1, "member");
	ly_require_not_null(fcinfo, 2, "cart");
	at = ly_arg_instant(fcinfo, 3, "at");
	code = PG_GETARG_COUPON_CODE(0);
	member_id = PG_GETARG_INT64(1);
	cart = cart_arg(fcinfo, 2);
	InitMaterializedSRF(fcinfo, 0);

	ly_enter_read(&call);
	ly_coupon_member(member_id, &member);
	ly_coupon_evaluate(code, &member, cart, at, &result);
	ly_leave(&call);

	values[0] = BoolGetDatum(result.ok);
	values[1] = Int64GetDatum(result.discount);
	if (result.reason)
		values[2] = CStringGetTextDatum(result.reason);
	else
		nulls[2] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Combinations
 * ------------------------------------------------------------------- */

typedef struct Candidate
{
	int64		code;
	const LyCouponTemplate *tmpl;
	int64		alone;			/* discount alone on the cart (> 0) */
	bool		item;
	int			nlines;
	int		   *lines;			/* item coupons: covered line numbers */
	bool	   *covers;			/* item coupons: covers[line] */
} Candidate;

static void
candidate_init(Candidate *c, int64 code, const LyCouponTemplate *tmpl, int64 alone,
			   const LyCouponCart *cart)
{
	memset(c, 0, sizeof(*c));
	c->code = code;
	c->tmpl = tmpl;
	c->alone = alone;
	c->item = tmpl->scope == LY_COUPON_ITEMS;
	if (c->item)
	{
		c->lines = palloc(sizeof(int) * Max(cart->nlines, 1));
		c->covers = palloc0(sizeof(bool) * Max(cart->nlines, 1));
		for (int l = 0; l < cart->nlines; l++)
			if (covers_line(tmpl, &cart->lines[l]))
			{
				c->lines[c->nlines++] = l;
				c->covers[l] = true;
			}
	}
}

/* Application order: item coupons, then store; percent before fixed; then by code. */
static int
application_cmp(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->item != y->item)
		return x->item ? -1 : 1;
	if (x->tmpl->percent != y->tmpl->percent)
		return x->tmpl->percent ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code ? 1 : 0;
}

typedef struct Search
{
	const LyCouponCart *cart;
	int			n;				/* candidates, in application order */
	Candidate  *cand;
	bool	  **conflict;		/* conflict[i][j]: i and j may not be on one order */
	int64	   *remaining;		/* scratch: per line */
	int64	   *contrib;		/* scratch: per candidate */
	/* the search over the conflicting candidates */
	int			nc;
	int		   *order;			/* conflicting candidates, by discount alone descending */
	bool	   *in;				/* the set being evaluated */
	int			nin;			/* its size */
	/* the best so far */
	int64		best_total;
	int			best_count;
	bool	   *best_in;
	int64	   *best_contrib;
	bool	   *reduced;		/* scratch: a set being reduced */
	int64	   *codes_a;		/* scratch for ties */
	int64	   *codes_b;
	uint64		nodes;			/* sets evaluated */
} Search;

/* Take an item coupon's discount d from its lines, in proportion to what remains. */
static void
take_from_lines(Search *s, const Candidate *c, int64 base, int64 d)
{
	int64		left = d;

	if (d == base)
	{
		for (int k = 0; k < c->nlines; k++)
			s->remaining[c->lines[k]] = 0;
		return;
	}
	for (int k = 0; k < c->nlines && d > 0; k++)
	{
		int			l = c->lines[k];
		int64		share;

		share = ly_scale_floor(d, s->remaining[l], base);	/* remaining[l] <= base */
		s->remaining[l] -= share;
		left -= share;
	}
	for (int k = 0; k < c->nlines && left > 0; k++)
	{
		int			l = c->lines[k];
		int64		take = Min(left, s->remaining[l]);

		s->remaining[l] -= take;
		left -= take;
	}
}

/* The total discount of the set s->in, applied in order; s->contrib receives each share. */
static int64
combo_total(Search *s)
{
	int64		items = 0;
	int64		stores = 0;

	for (int l = 0; l < s->cart->nlines; l++)
		s->remaining[l] = s->cart->lines[l].total;
	for (int i = 0; i < s->n; i++)
	{
		const Candidate *c = &s->cand[i];
		int64		base = 0;
		int64		d;

		s->contrib[i] = 0;
		if (!s->in[i])
			continue;
		if (c->item)
		{
			for (int k = 0; k < c->nlines; k++)
				base += s->remaining[c->lines[k]];
			d = ly_coupon_discount(c->tmpl, base);
			take_from_lines(s, c, base, d);
			items += d;
		}
		else
		{
			d = ly_coupon_discount(c->tmpl, s->cart->total - items - stores);
			stores += d;
		}
		s->contrib[i] = d;
	}
	return items + stores;
}

static int
code_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The codes of the coupons of a set that contribute, ascending, into out; returns how many. */
static int
set_codes(Search *s, const bool *in, const int64 *contrib, int64 *out)
{
	int			n = 0;

	for (int i = 0; i < s->n; i++)
		if (in[i] && contrib[i] > 0)
			out[n++] = s->cand[i].code;
	qsort(out, n, sizeof(int64), code_cmp);
	return n;
}

/*
 * Evaluate s->in and keep it if it beats the best: larger total, then fewer
 * coupons, then the lower codes (the sets compared in ascending code order).
 * A set that reaches the best total is first reduced: coupons are dropped,
 * highest code first, while the total stays the same (a coupon that adds
 * nothing, or whose share another one takes over when it is gone, as when
 * the cart or a line is used up).  Returns the set's total.
 */
static int64
consider(Search *s)
{
	int64		total = combo_total(s);
	bool	   *in = s->in;
	int			count = 0;
	bool		better;

	s->nodes++;
	if (total < s->best_total)
		return total;
	/* reduce a copy of the set */
	memcpy(s->reduced, s->in, sizeof(bool) * s->n);
	s->in = s->reduced;
	for (;;)
	{
		int			drop = -1;

		for (int i = 0; i < s->n; i++)
			if (s->in[i] && (drop < 0 || s->cand[i].code > s->cand[drop].code))
			{
				s->in[i] = false;
				if (combo_total(s) == total)
					drop = i;
				s->in[i] = true;
			}
		if (drop < 0)
			break;
		s->in[drop] = false;
	}
	(void) combo_total(s);		/* the shares of the reduced set */
	for (int i = 0; i < s->n; i++)
		if (s->in[i] && s->contrib[i] > 0)
			count++;
	if (total != s->best_total)
		better = total > s->best_total;
	else if (count != s->best_count)
		better = count < s->best_count;
	else
	{
		int			a = set_codes(s, s->in, s->contrib, s->codes_a);

		(void) set_codes(s, s->best_in, s->best_contrib, s->codes_b);
		better = false;
		for (int k = 0; k < a; k++)
			if (s->codes_a[k] != s->codes_b[k])
			{
				better = s->codes_a[k] < s->codes_b[k];
				break;
			}
	}
	if (better)
	{
		s->best_total = total;
		s->best_count = count;
		for (int i = 0; i < s->n; i++)
		{
			s->best_in[i] = s->in[i] && s->contrib[i] > 0;
			s->best_contrib[i] = s->best_in[i] ? s->contrib[i] : 0;
		}
	}
	s->in = in;
	return total;
}

static bool
fits(Search *s, int j)
{
	for (int i = 0; i < s->n; i++)
		if (s->in[i] && s->conflict[i][j])
			return false;
	return true;
}

/*
 * Do two non-exclusive coupons conflict (may not be on one order)?  Both
 * default store coupons (one store coupon per order), or both default item
 * coupons covering a common line of the cart (one item coupon per line);
 * stackable ones conflict with nothing.
 */
static bool
default_conflict(const Candidate *a, const Candidate *b)
{
	bool		c = false;

	if (a->tmpl->stacking != LY_STACK_DEFAULT || b->tmpl->stacking != LY_STACK_DEFAULT)
		return false;
	if (!a->item && !b->item)
		return true;
	if (a->item && b->item)
		for (int k = 0; k < a->nlines && !c; k++)
			c = b->covers[a->lines[k]];
	return c;
}

/*
 * Depth-first branch and bound over the conflicting candidates (the others
 * are always on the order: adding a coupon never lowers the total, because
 * each coupon only lowers what later ones apply to and a discount grows at
 * most as fast as its base).  At each node the set is evaluated; a branch
 * adding candidate order[j] is cut when the total so far plus the discounts
 * alone of every candidate from j on that fits the set cannot reach the
 * best: a coupon's share in a combination is never above its discount alone.
 */
static void
branch(Search *s, int from, int64 current)
{
	CHECK_FOR_INTERRUPTS();
	for (int j = from; j < s->nc; j++)
	{
		int			cj = s->order[j];
		int64		bound = current;

		if (!fits(s, cj))
			continue;
		for (int k = j; k < s->nc; k++)
			if (fits(s, s->order[k]))
				bound += s->cand[s->order[k]].alone;
		bound = Min(bound, s->cart->total);
		if (bound < s->best_total ||
			(bound == s->best_total && s->nin + 1 > s->best_count))
			return;				/* later j only see fewer candidates */
		s->in[cj] = true;
		s->nin++;
		branch(s, j + 1, consider(s));
		s->in[cj] = false;
		s->nin--;
	}
}

/*
 * The best allowed combination of the candidates (SPEC 6, stacking):
 *
 * - an exclusive coupon is alone on the order: each is a combination of one;
 * - among the others, two conflict when both are default store coupons
 *   (one store coupon per order) or both default item coupons covering a
 *   common line of this cart (one item coupon per line); stackable ones
 *   conflict with nothing;
 * - a coupon that conflicts with no other is always taken (see branch());
 *   the conflicting ones are searched by branch and bound, sorted by
 *   discount alone, largest first.
 *
 * Exact, with one proviso: the bound and the "always taken" rule rest on
 * shares never growing when coupons are added, which holds exactly except
 * when stackable item coupons share lines and the proportional split of an
 * earlier one rounds a minor unit differently.  The search is exponential
 * in the worst case (many default coupons all in conflict with similar
 * discounts); typical carts evaluate a few hundred sets.
 */
static void
best_search(Search *s, Candidate *cand, int n, const LyCouponCart *cart)
{
	int			nfree = 0;

	memset(s, 0, sizeof(*s));
	qsort(cand, n, sizeof(Candidate), application_cmp);
	s->cart = cart;
	s->n = n;
	s->cand = cand;
	s->remaining = palloc(sizeof(int64) * Max(cart->nlines, 1));
	s->contrib = palloc0(sizeof(int64) * Max(n, 1));
	s->in = palloc0(sizeof(bool) * Max(n, 1));
	s->best_in = palloc0(sizeof(bool) * Max(n, 1));
	s->best_contrib = palloc0(sizeof(int64) * Max(n, 1));
	s->reduced = palloc0(sizeof(bool) * Max(n, 1));
	s->codes_a = palloc(sizeof(int64) * Max(n, 1));
	s->codes_b = palloc(sizeof(int64) * Max(n, 1));
	s->order = palloc(sizeof(int) * Max(n, 1));
	s->conflict = palloc(sizeof(bool *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		s->conflict[i] = palloc0(sizeof(bool) * n);

	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			s->conflict[i][j] = s->conflict[j][i] = default_conflict(&cand[i], &cand[j]);

	/* the non-exclusive coupons that conflict with none are always on the order */
	for (int i = 0; i < n; i++)
	{
		bool		any = false;

		if (cand[i].tmpl->stacking == LY_STACK_EXCLUSIVE)
			continue;
		for (int j = 0; j < n && !any; j++)
			any = s->conflict[i][j];
		if (any)
			s->order[s->nc++] = i;
		else
		{
			s->in[i] = true;
			nfree++;
		}
	}
	/* conflicting ones by discount alone, largest first, then by code */
	for (int a = 1; a < s->nc; a++)
		for (int b = a; b > 0; b--)
		{
			const Candidate *x = &cand[s->order[b - 1]];
			const Candidate *y = &cand[s->order[b]];
			int			t;

			if (x->alone > y->alone || (x->alone == y->alone && x->code < y->code))
				break;
			t = s->order[b - 1];
			s->order[b - 1] = s->order[b];
			s->order[b] = t;
		}

	s->best_total = -1;
	s->nin = nfree;
	branch(s, 0, consider(s));

	/* each exclusive coupon alone */
	for (int i = 0; i < n; i++)
	{
		if (cand[i].tmpl->stacking != LY_STACK_EXCLUSIVE)
			continue;
		memset(s->in, 0, sizeof(bool) * n);
		s->in[i] = true;
		(void) consider(s);
	}
}

/* The member's usable coupons (claimed, available); the window and the rest are checked in C. */
static LyPlan plan_member_coupons = {
	"SELECT code, template_id, program_id, valid_from, valid_until FROM loyalty.coupon"
	" WHERE member_id = $1 AND state = 'available'",
	1, {INT8OID}
};

/* ---------------------------------------------------------------------
 * best_coupons(member, cart, at)
 * ------------------------------------------------------------------- */
Datum
ly_best_coupons(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		member_id;
	const LyCouponCart *cart;
	TimestampTz at;
	LyCall		call;
	LyCouponMember member;
	LyCouponRow *rows;
	uint64		nrows;
	Candidate  *cand;
	int			n = 0;
	Search		s;

	ly_require_not_null(fcinfo, 0, "member");
	ly_require_not_null(fcinfo, 1, "cart");
	at = ly_arg_instant(fcinfo, 2, "at");
	member_id = PG_GETARG_INT64(0);
	cart = cart_arg(fcinfo, 1);
	InitMaterializedSRF(fcinfo, 0);

	ly_enter_read(&call);
	ly_coupon_member(member_id, &member);
	{
		Datum		values[1] = {Int64GetDatum(member_id)};

		nrows = ly_exec(&plan_member_coupons, values, NULL, 0);
	}
	rows = palloc0(sizeof(LyCouponRow) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		rows[r].code = DatumGetCouponCode(ly_col_int64(r, 1, 0));
		rows[r].template_id = ly_col_int64(r, 2, 0);
		rows[r].program_id = ly_col_int64(r, 3, 0);
		rows[r].has_member = true;
		rows[r].member_id = member_id;
		rows[r].state = LY_COUPON_AVAILABLE;
		rows[r].has_from = !ly_col_is_null(r, 4);
		rows[r].valid_from = ly_col_timestamptz(r, 4, DT_NOBEGIN);
		rows[r].has_until = !ly_col_is_null(r, 5);
		rows[r].valid_until = ly_col_timestamptz(r, 5, DT_NOEND);
	}

	cand = palloc0(sizeof(Candidate) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		LyCouponResult res;

		ly_coupon_check(&rows[r], &member, cart, at, &res);
		if (!res.ok || res.discount <= 0)
			continue;			/* nothing alone: nothing in any combination */
		candidate_init(&cand[n++], rows[r].code, res.tmpl, res.discount, cart);
	}

	if (n > 0)
	{
		best_search(&s, cand, n, cart);
		for (int i = 0; i < n; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			if (!s.best_in[i])
				continue;
			values[0] = CouponCodeGetDatum(cand[i].code);
			values[1] = Int64GetDatum(s.best_contrib[i]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	ly_leave(&call);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * _coupon_order_shares(member, cart, codes, at): the coupons of one order
 * ------------------------------------------------------------------- */

/*
 * The share of each of the coupons `codes` (the member's, all to be on one
 * order) of the discount of `cart`, applied together in the order of
 * application; LY002 not_stackable when the stacking rules forbid the set
 * (an exclusive coupon with another, two default store coupons, two default
 * item coupons on one line).  redeem_coupon calls it with the coupons the
 * order already uses and the new one: their discounts follow the order of
 * application whatever the order of redemption.  Used coupons count too
 * (only their templates are read).
 */
Datum
ly_coupon_order_shares(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		member_id;
	const LyCouponCart *cart;
	ArrayType  *codes;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	LyCall		call;
	LyCouponMember member;
	Candidate  *cand;
	Search		s;

	ly_require_not_null(fcinfo, 0, "member");
	ly_require_not_null(fcinfo, 1, "cart");
	ly_require_not_null(fcinfo, 2, "codes");
	member_id = PG_GETARG_INT64(0);
	cart = cart_arg(fcinfo, 1);
	codes = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(codes, ARR_ELEMTYPE(codes), 8, true, TYPALIGN_DOUBLE, &elems, &elem_nulls, &n);
	InitMaterializedSRF(fcinfo, 0);

	ly_enter_read(&call);
	ly_coupon_member(member_id, &member);
	cand = palloc0(sizeof(Candidate) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		LyCouponRow row;
		const LyCouponTemplate *t;

		if (elem_nulls[i] || !ly_coupon_read(DatumGetCouponCode(elems[i]), &row) ||
			row.member_id != member_id)
			elog(ERROR, "coupon %d of the order is not the member's", i + 1);
		t = ly_coupon_template(ly_definitions(row.program_id), row.template_id);
		if (t == NULL)
			elog(ERROR, "coupon template " INT64_FORMAT " not found", row.template_id);
		candidate_init(&cand[i], row.code, t, 0, cart);
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (cand[i].tmpl->stacking == LY_STACK_EXCLUSIVE ||
				cand[j].tmpl->stacking == LY_STACK_EXCLUSIVE ||
				default_conflict(&cand[i], &cand[j]))
			{
				char		a[LY_COUPON_CODE_BUFLEN];
				char		b[LY_COUPON_CODE_BUFLEN];

				ly_coupon_code_format(cand[i].code, a);
				ly_coupon_code_format(cand[j].code, b);
				ereport(ERROR,
						(errcode(ERRCODE_LY_COUPON_NOT_VALID),
						 errmsg("not_stackable: coupons %s and %s cannot be used on one order", a, b),
						 errdetail("reason: not_stackable"),
						 errhint("An exclusive coupon is used alone; an order takes one store coupon and one item coupon per line, unless they are stackable.")));
			}
	qsort(cand, n, sizeof(Candidate), application_cmp);
	memset(&s, 0, sizeof(s));
	s.cart = cart;
	s.n = n;
	s.cand = cand;
	s.remaining = palloc(sizeof(int64) * Max(cart->nlines, 1));
	s.contrib = palloc0(sizeof(int64) * Max(n, 1));
	s.in = palloc(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
		s.in[i] = true;
	(void) combo_total(&s);
	for (int i = 0; i < n; i++)
	{
		Datum		values[2] = {CouponCodeGetDatum(cand[i].code), Int64GetDatum(s.contrib[i])};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ly_leave(&call);
	return (Datum) 0;
}
