/*
 * definitions.c: the per-backend cache of every programme's earning rules,
 * tiers and coupon templates, as C structures parsed once from their typed
 * columns.
 *
 * Catalog invalidation callbacks do not fire for rows of ordinary tables, so
 * each lookup reads the programme's definitions_version (one index lookup,
 * or joined by the caller to a row it reads anyway); define_earn_rule,
 * define_tier and define_coupon bump it in their transaction, and a cache entry whose version differs is
 * rebuilt.  The version is read with the statement's snapshot, so a change
 * applies to every operation that starts after it commits.
 */
#include "definitions.h"

#include "access/xact.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

static HTAB *definitions_cache = NULL;

static LyPlan plan_rules = {
	"SELECT code, kind, event, active, per_amount, points, multiplier, skus, categories,"
	" when_birthday, when_weekdays, when_dates, when_month_day, when_tiers,"
	" max_points_per_order, max_points_per_day, max_times, max_per_day, valid_from, valid_until,"
	" cashback_percent, from_wallet"
	" FROM loyalty.earn_rule WHERE program_id = $1 AND superseded_at IS NULL AND active"
	" ORDER BY code",
	1, {INT8OID}
};

static LyPlan plan_tiers = {
	"SELECT code, rank, threshold, discount_pct, earn_multiplier, benefits"
	" FROM loyalty.tier WHERE program_id = $1 ORDER BY rank",
	1, {INT8OID}
};

static LyPlan plan_templates = {
	"SELECT template_id, code, scope, skus, categories, kind, value, max_discount, min_spend,"
	" valid_from, valid_until, valid_days, total_quantity, per_member_limit, members_only,"
	" new_member_days, audience_tiers, audience_tags, hidden, stacking"
	" FROM loyalty.coupon_template WHERE program_id = $1 ORDER BY template_id",
	1, {INT8OID}
};

static LyPlan plan_program_id = {
	"SELECT program_id FROM loyalty.program WHERE code = $1",
	1, {TEXTOID}
};

/* The id of the programme with this code; raises LY003 if none. */
int64
ly_program_id(const char *code)
{
	Datum		values[1] = {CStringGetTextDatum(code)};

	/* one the calling role may not use (grant_program) does not exist for it */
	if (ly_exec(&plan_program_id, values, NULL, 1) != 1 || !ly_program_allowed(ly_col_int64(0, 1, 0)))
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN_PROGRAM),
				 errmsg("program \"%s\" does not exist", code),
				 errhint("Create it with loyalty.create_program().")));
	return ly_col_int64(0, 1, 0);
}

/* text[] column as C strings in the current context (none when NULL). */
static char **
text_array_col(uint64 row, int col, int *n)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = TextDatumGetCString(elems[i]);
	return out;
}

static Datum
numeric_col(uint64 row, int col)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);

	if (isnull)
		return (Datum) 0;
	return PointerGetDatum(DatumGetNumericCopy(d));
}

static void
rule_from_row(LyRule *r, uint64 row)
{
	char	   *kind = ly_col_text(row, 2);
	bool		isnull;
	Datum		d;

	memset(r, 0, sizeof(*r));
	r->code = ly_col_text(row, 1);
	r->kind = strcmp(kind, "base") == 0 ? LY_RULE_BASE :
		strcmp(kind, "multiplier") == 0 ? LY_RULE_MULTIPLIER :
		strcmp(kind, "event") == 0 ? LY_RULE_EVENT : LY_RULE_CASHBACK;
	r->event = ly_col_text(row, 3);
	r->active = ly_col_bool(row, 4, true);
	r->per_amount = ly_col_int64(row, 5, 0);
	r->points = ly_col_int64(row, 6, 0);
	r->multiplier = numeric_col(row, 7);
	r->skus = text_array_col(row, 8, &r->nskus);
	r->categories = text_array_col(row, 9, &r->ncategories);
	r->when_birthday = ly_col_bool(row, 10, false);
	d = ly_col_datum(row, 11, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(d), INT4OID, 4, true, TYPALIGN_INT,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			r->weekdays_mask |= 1 << DatumGetInt32(elems[i]);
	}
	d = ly_col_datum(row, 12, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(DatumGetArrayTypeP(d), DATEOID, 4, true, TYPALIGN_INT,
						  &elems, &nulls, &r->ndates);
		r->dates = palloc(sizeof(DateADT) * Max(r->ndates, 1));
		for (int i = 0; i < r->ndates; i++)
			r->dates[i] = DatumGetDateADT(elems[i]);
	}
	r->month_day = ly_col_int32(row, 13, 0);
	r->tiers = text_array_col(row, 14, &r->ntiers);
	r->max_points_per_order = ly_col_int64(row, 15, 0);
	r->max_points_per_day = ly_col_int64(row, 16, 0);
	r->max_times = ly_col_int64(row, 17, 0);
	r->max_per_day = ly_col_int64(row, 18, 0);
	r->has_from = !ly_col_is_null(row, 19);
	r->valid_from = ly_col_timestamptz(row, 19, DT_NOBEGIN);
	r->has_until = !ly_col_is_null(row, 20);
	r->valid_until = ly_col_timestamptz(row, 20, DT_NOEND);
	r->cashback_percent = numeric_col(row, 21);
	r->from_wallet = ly_col_is_null(row, 22) ? NULL : ly_col_text(row, 22);
}

/*
 * A percent value p as p = num / den exactly, den = 100 x 10^scale, when
 * both fit comfortably in int64 (scale <= 16), so that coupons.c can round
 * B x num / den in 128-bit integers; false: it computes in numeric.
 */
static bool
percent_fraction(Datum value, int64 *num, int64 *den)
{
	char	   *txt = DatumGetCString(DirectFunctionCall1(numeric_out, value));
	char	   *dot = strchr(txt, '.');
	int			scale = dot ? (int) strlen(dot + 1) : 0;
	Datum		scaled;
	int64		d = 100;

	if (scale > 16)
		return false;
	for (int i = 0; i < scale; i++)
		d *= 10;
	scaled = DirectFunctionCall2(numeric_mul, value,
								 DirectFunctionCall1(int8_numeric, Int64GetDatum(d / 100)));
	*num = DatumGetInt64(DirectFunctionCall1(numeric_int8, scaled));
	*den = d;
	return true;
}

static void
template_from_row(LyCouponTemplate *t, uint64 row)
{
	char	   *scope = ly_col_text(row, 3);
	char	   *kind = ly_col_text(row, 6);
	char	   *stacking = ly_col_text(row, 20);

	memset(t, 0, sizeof(*t));
	t->template_id = ly_col_int64(row, 1, 0);
	t->code = ly_col_text(row, 2);
	t->scope = strcmp(scope, "items") == 0 ? LY_COUPON_ITEMS : LY_COUPON_STORE;
	t->skus = text_array_col(row, 4, &t->nskus);
	t->categories = text_array_col(row, 5, &t->ncategories);
	t->percent = strcmp(kind, "percent") == 0;
	if (t->percent)
	{
		t->percent_value = numeric_col(row, 7);
		t->percent_fast = percent_fraction(t->percent_value, &t->percent_num, &t->percent_den);
	}
	else
		t->fixed_value = DatumGetInt64(DirectFunctionCall1(numeric_int8, numeric_col(row, 7)));
	t->has_max_discount = !ly_col_is_null(row, 8);
	t->max_discount = ly_col_int64(row, 8, 0);
	t->min_spend = ly_col_int64(row, 9, 0);
	t->has_from = !ly_col_is_null(row, 10);
	t->valid_from = ly_col_timestamptz(row, 10, DT_NOBEGIN);
	t->has_until = !ly_col_is_null(row, 11);
	t->valid_until = ly_col_timestamptz(row, 11, DT_NOEND);
	t->valid_days = ly_col_int32(row, 12, 0);
	t->has_total_quantity = !ly_col_is_null(row, 13);
	t->total_quantity = ly_col_int64(row, 13, 0);
	t->per_member_limit = ly_col_int32(row, 14, 0);
	t->members_only = ly_col_bool(row, 15, false);
	t->new_member_days = ly_col_int32(row, 16, 0);
	t->tiers = text_array_col(row, 17, &t->ntiers);
	t->tags = text_array_col(row, 18, &t->ntags);
	t->hidden = ly_col_bool(row, 19, false);
	t->stacking = strcmp(stacking, "exclusive") == 0 ? LY_STACK_EXCLUSIVE :
		strcmp(stacking, "stackable") == 0 ? LY_STACK_STACKABLE : LY_STACK_DEFAULT;
}

/* The template with this id among the programme's (binary search); NULL if none. */
const LyCouponTemplate *
ly_coupon_template(LyDefinitions *defs, int64 template_id)
{
	int			lo = 0,
				hi = defs->ntemplates - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int64		id = defs->templates[mid].template_id;

		if (id == template_id)
			return &defs->templates[mid];
		if (id < template_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * Fill defs from the catalogue tables.  SPI returns to its own context after
 * every statement, so the copies are made after each query, in defs->cxt.
 */
static void
load_definitions(LyDefinitions *defs)
{
	Datum		values[1] = {Int64GetDatum(defs->program_id)};
	MemoryContext old;
	uint64		n;

	n = ly_exec(&plan_rules, values, NULL, 0);
	old = MemoryContextSwitchTo(defs->cxt);
	defs->nrules = (int) n;
	defs->rules = palloc0(sizeof(LyRule) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		rule_from_row(&defs->rules[i], i);
	MemoryContextSwitchTo(old);

	n = ly_exec(&plan_tiers, values, NULL, 0);
	old = MemoryContextSwitchTo(defs->cxt);
	defs->ntiers = (int) n;
	defs->tiers = palloc0(sizeof(LyTier) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		LyTier	   *t = &defs->tiers[i];
		bool		isnull;

		t->code = ly_col_text(i, 1);
		t->rank = ly_col_int32(i, 2, 0);
		t->threshold = ly_col_int64(i, 3, 0);
		t->discount_pct = numeric_col(i, 4);
		t->earn_multiplier = numeric_col(i, 5);
		t->benefits = PointerGetDatum(DatumGetJsonbPCopy(ly_col_datum(i, 6, &isnull)));
	}
	MemoryContextSwitchTo(old);

	n = ly_exec(&plan_templates, values, NULL, 0);
	old = MemoryContextSwitchTo(defs->cxt);
	defs->ntemplates = (int) n;
	defs->templates = palloc0(sizeof(LyCouponTemplate) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		template_from_row(&defs->templates[i], i);
	MemoryContextSwitchTo(old);
}

/*
 * Definitions replaced while a transaction may still hold pointers to them
 * (a caller keeps its LyDefinitions across queries): freed when the
 * transaction ends.
 */
static List *retired = NIL;
static bool xact_callback_registered = false;

static void
free_retired(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, retired)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired);
	retired = NIL;
}

/*
 * Forget every programme's cached definitions (they are reloaded at their
 * next use).  Called with the settings cache's invalidation: a definition
 * change, or a rolled-back one, whose version number the next committed
 * change may take again.
 */
void
ly_definitions_invalidate(void)
{
	HASH_SEQ_STATUS status;
	LyDefinitions *defs;

	if (definitions_cache == NULL)
		return;
	hash_seq_init(&status, definitions_cache);
	while ((defs = hash_seq_search(&status)) != NULL)
		defs->version = -1;
}

/*
 * The programme's definitions, current as of this statement's snapshot.
 * Call inside ly_enter / ly_enter_read.
 */
LyDefinitions *
ly_definitions(int64 program_id)
{
	return ly_definitions_version(program_id, ly_settings(program_id)->definitions_version);
}

/*
 * The programme's definitions at `version` (read by the caller with the
 * programme row, e.g. joined to the member it locks).  The settings come
 * from the settings cache (settings.c).
 */
LyDefinitions *
ly_definitions_version(int64 program_id, int64 version)
{
	LyDefinitions *defs;
	bool		found;
	const LySettings *settings = ly_settings(program_id);

	if (definitions_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(LyDefinitions);
		ctl.hcxt = CacheMemoryContext;
		definitions_cache = hash_create("loyalty definitions", 16, &ctl,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (!xact_callback_registered)
	{
		RegisterXactCallback(free_retired, NULL);
		xact_callback_registered = true;
	}
	defs = hash_search(definitions_cache, &program_id, HASH_ENTER, &found);
	if (!found)
	{
		defs->cxt = NULL;
		defs->version = -1;
	}
	strlcpy(defs->timezone, settings->timezone, sizeof(defs->timezone));
	defs->basis = strcmp(settings->tier_basis, "rolling_12m_points") == 0 ? LY_BASIS_ROLLING_12M_POINTS :
		strcmp(settings->tier_basis, "rolling_12m_spend") == 0 ? LY_BASIS_ROLLING_12M_SPEND :
		LY_BASIS_LIFETIME_POINTS;
	defs->retain_months = settings->retain_months;
	defs->pending_days = settings->pending_days;
	if (defs->cxt != NULL && defs->version == version)
		return defs;

	/* a caller of this transaction may still read the old ones: retire them */
	if (defs->cxt != NULL)
	{
		MemoryContext caller = MemoryContextSwitchTo(TopMemoryContext);

		retired = lappend(retired, defs->cxt);
		MemoryContextSwitchTo(caller);
	}
	defs->nrules = 0;
	defs->ntiers = 0;
	defs->ntemplates = 0;
	defs->cxt = AllocSetContextCreate(CacheMemoryContext, "loyalty programme definitions",
									  ALLOCSET_SMALL_SIZES);
	{
		MemoryContext caller = CurrentMemoryContext;

		PG_TRY();
		{
			load_definitions(defs);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(caller);	/* load_definitions may have left defs->cxt current */
			MemoryContextDelete(defs->cxt);
			defs->cxt = NULL;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	defs->version = version;
	return defs;
}
