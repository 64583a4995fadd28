/*
 * rules.c: earning-rule evaluation.  Owns the one formula of SPEC section 4
 * (computed exactly in numeric, rounded down once), the per-rule caps and
 * the awards that count against them, and the SQL functions quote_points
 * and record_event.  Rules come from the per-backend cache (definitions.c).
 *
 * For an order of `amount` with cart lines (list totals price x qty, sum L):
 *   points = floor( sum over base rules b of  x_b )
 *   x_b    = points_b / per_amount_b x T x (amount / L) x sum over lines
 *            covered by b of (line total x M_line), capped per rule
 * where M_line is the highest promotional multiplier that applies to the
 * line (at least 1) and T the tier's earn multiplier.  Without lines, a
 * whole-order rule covers `amount` at the order's multiplier and line-scoped
 * rules cover nothing.  With every multiplier equal this is exactly
 * floor(sum(covered x points / per_amount) x M x T); docs/earning.md works
 * through examples.
 */
#include "definitions.h"

#include "common/int.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(ly_quote_points);
PG_FUNCTION_INFO_V1(ly_record_event);

/* ---------------------------------------------------------------------
 * Exact arithmetic on numeric
 * ------------------------------------------------------------------- */

static Datum
num_int(int64 v)
{
	return DirectFunctionCall1(int8_numeric, Int64GetDatum(v));
}

static Datum
num_mul(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_mul, a, b);
}

static Datum
num_add(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_add, a, b);
}

static int
num_cmp(Datum a, Datum b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b));
}

static char *
num_text(Datum n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, n));
}

/* floor(n / d) for n >= 0, d > 0; an order worth more than bigint points is refused */
static int64
num_floor_div(Datum n, Datum d)
{
	Datum		q = DirectFunctionCall2(numeric_div_trunc, n, d);

	if (num_cmp(q, num_int(PG_INT64_MAX)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the points earned (%s) would overflow bigint", num_text(q)),
				 errhint("Check the order's amount and the earning rules' rates.")));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, q));
}

/* ---------------------------------------------------------------------
 * Time in the programme's zone
 * ------------------------------------------------------------------- */

typedef struct LocalDay
{
	DateADT		date;
	int			year;
	int			month;
	int			mday;
	int			isodow;			/* 1 Monday .. 7 Sunday */
} LocalDay;

static void
local_day(const char *timezone, TimestampTz at, LocalDay *day)
{
	Timestamp	local;
	struct pg_tm tm;
	fsec_t		fsec;
	int			dow;

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("at must be a finite timestamp")));
	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
												  CStringGetTextDatum(timezone),
												  TimestampTzGetDatum(at)));
	if (timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	day->year = tm.tm_year;
	day->month = tm.tm_mon;
	day->mday = tm.tm_mday;
	day->date = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
	dow = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
	day->isodow = dow == 0 ? 7 : dow;
}

DateADT
ly_local_date(const char *timezone, TimestampTz at)
{
	LocalDay	day;

	local_day(timezone, at, &day);
	return day.date;
}

/* ---------------------------------------------------------------------
 * The member as rules see it
 * ------------------------------------------------------------------- */

static LyPlan plan_member_facts = {
	"SELECT birthday, tier, tier_since, program_id FROM loyalty.member WHERE member_id = $1",
	1, {INT8OID}
};

void
ly_member_facts(int64 member_id, TimestampTz at, LyMemberFacts *facts)
{
	Datum		values[1] = {Int64GetDatum(member_id)};
	bool		isnull;
	Datum		birthday;

	if (ly_exec(&plan_member_facts, values, NULL, 1) != 1)
		ly_unknown_member(member_id);
	ly_require_program(ly_col_int64(0, 4, 0));
	birthday = ly_col_datum(0, 1, &isnull);
	ly_member_facts_from(facts, member_id, at, !isnull, isnull ? 0 : DatumGetDateADT(birthday),
						 ly_col_text(0, 2), !ly_col_is_null(0, 3),
						 ly_col_timestamptz(0, 3, DT_NOBEGIN));
}

/*
 * The facts from the member row's birthday, tier and tier_since; the tier at
 * `at` is the current one from tier_since on, else read from the history.
 */
void
ly_member_facts_from(LyMemberFacts *facts, int64 member_id, TimestampTz at,
					 bool has_birthday, DateADT birthday, char *tier,
					 bool has_since, TimestampTz tier_since)
{
	memset(facts, 0, sizeof(*facts));
	facts->member_id = member_id;
	facts->has_birthday = has_birthday;
	facts->birthday = birthday;
	if (tier != NULL && at >= tier_since)
		facts->tier = tier;
	else if (has_since)
		facts->tier = ly_member_tier_at(member_id, at);
}

/* ---------------------------------------------------------------------
 * Cart lines
 * ------------------------------------------------------------------- */

static void
bad_lines(int index, const char *problem)
{
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed cart lines: %s", problem),
				 errhint("Pass [{\"sku\": \"A1\", \"category\": \"shoes\", \"price\": 19900, \"qty\": 2}, ...] or {\"lines\": [...]}.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed cart line %d: %s", index + 1, problem),
			 errhint("A line is {\"sku\": \"A1\", \"category\": \"shoes\", \"price\": 19900, \"qty\": 2}: price per unit in minor units, qty at least 1.")));
}

static char *
line_text(JsonbContainer *line, const char *key, int index)
{
	JsonbValue	v;

	if (!getKeyJsonValueFromContainer(line, key, strlen(key), &v) || v.type == jbvNull)
		return NULL;
	if (v.type != jbvString)
		bad_lines(index, psprintf("\"%s\" must be a string", key));
	return pnstrdup(v.val.string.val, v.val.string.len);
}

static int64
line_integer(JsonbContainer *line, const char *key, int index, bool required, int64 dflt, int64 min)
{
	JsonbValue	v;
	Datum		n;
	int64		value;

	if (!getKeyJsonValueFromContainer(line, key, strlen(key), &v) || v.type == jbvNull)
	{
		if (required)
			bad_lines(index, psprintf("\"%s\" is missing", key));
		return dflt;
	}
	if (v.type != jbvNumeric)
		bad_lines(index, psprintf("\"%s\" must be a number", key));
	n = NumericGetDatum(v.val.numeric);
	if (num_cmp(n, DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0))) != 0)
		bad_lines(index, psprintf("\"%s\" must be a whole number, got %s", key, num_text(n)));
	if (num_cmp(n, num_int(min)) < 0)
		bad_lines(index, psprintf("\"%s\" must be at least " INT64_FORMAT ", got %s", key, min, num_text(n)));
	if (num_cmp(n, num_int(PG_INT64_MAX)) > 0)
		bad_lines(index, psprintf("\"%s\" is out of range: %s", key, num_text(n)));
	value = DatumGetInt64(DirectFunctionCall1(numeric_int8, n));
	return value;
}

/*
 * Parse `lines` (an array, or an object with "lines"); returns how many.
 * Shared with coupons.c (definitions.h), which first insists on the object.
 */
int
ly_parse_cart_lines(Jsonb *lines, LyCartLine **out, int64 *sum)
{
	JsonbContainer *array;
	int			n;

	*out = NULL;
	*sum = 0;
	if (lines == NULL)
		return 0;
	array = &lines->root;
	if (JB_ROOT_IS_OBJECT(lines))
	{
		JsonbValue *v = getKeyJsonValueFromContainer(&lines->root, "lines", 5, NULL);

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			bad_lines(-1, "an object must carry a \"lines\" array");
		array = v->val.binary.data;
	}
	else if (!JB_ROOT_IS_ARRAY(lines) || JB_ROOT_IS_SCALAR(lines))
		bad_lines(-1, "expected a JSON array of lines");
	n = JsonContainerSize(array);
	*out = palloc0(sizeof(LyCartLine) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(array, i);
		JsonbContainer *line;
		int64		price;
		int64		qty;

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			bad_lines(i, "must be a JSON object");
		line = v->val.binary.data;
		(*out)[i].sku = line_text(line, "sku", i);
		(*out)[i].category = line_text(line, "category", i);
		price = line_integer(line, "price", i, true, 0, 0);
		qty = line_integer(line, "qty", i, false, 1, 1);
		if (pg_mul_s64_overflow(price, qty, &(*out)[i].total) ||
			pg_add_s64_overflow(*sum, (*out)[i].total, sum))
			bad_lines(i, "price x qty overflows bigint");
	}
	return n;
}

/* ---------------------------------------------------------------------
 * Which rules apply
 * ------------------------------------------------------------------- */

/* Is `value` (NULL: never) one of the n strings of `list`? */
bool
ly_in_list(char **list, int n, const char *value)
{
	if (value == NULL)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], value) == 0)
			return true;
	return false;
}

/* The rule names lines (skus / categories): it covers only those. */
static bool
rule_is_line_scoped(const LyRule *r)
{
	return r->nskus > 0 || r->ncategories > 0;
}

static bool
rule_covers_line(const LyRule *r, const LyCartLine *line)
{
	if (!rule_is_line_scoped(r))
		return true;
	return ly_in_list(r->skus, r->nskus, line->sku) ||
		ly_in_list(r->categories, r->ncategories, line->category);
}

static bool
is_birthday(const LyMemberFacts *facts, const LocalDay *day)
{
	int			y,
				m,
				d;

	if (!facts->has_birthday)
		return false;
	j2date(facts->birthday + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (m == day->month && d == day->mday)
		return true;
	/* 29 February is celebrated on 28 February in other years */
	return m == 2 && d == 29 && day->month == 2 && day->mday == 28 && !isleap(day->year);
}

/* Validity window and the order-level conditions of `when`. */
static bool
rule_applies(const LyRule *r, const LyMemberFacts *facts, const LocalDay *day, TimestampTz at)
{
	if (!r->active)
		return false;
	if (r->has_from && at < r->valid_from)
		return false;
	if (r->has_until && at >= r->valid_until)
		return false;
	if (r->when_birthday && !is_birthday(facts, day))
		return false;
	if (r->weekdays_mask != 0 && (r->weekdays_mask & (1 << day->isodow)) == 0)
		return false;
	if (r->ndates > 0)
	{
		bool		found = false;

		for (int i = 0; i < r->ndates && !found; i++)
			found = r->dates[i] == day->date;
		if (!found)
			return false;
	}
	if (r->month_day != 0)
	{
		int			last = day_tab[isleap(day->year)][day->month - 1];

		if (day->mday != Min(r->month_day, last))
			return false;
	}
	if (r->ntiers > 0 && !ly_in_list(r->tiers, r->ntiers, facts->tier))
		return false;
	return true;
}

/* ---------------------------------------------------------------------
 * Caps: what capped rules gave the member so far
 * ------------------------------------------------------------------- */

typedef struct RuleUsage
{
	int64		times;			/* ever */
	int64		times_today;
	int64		points_today;
} RuleUsage;

static LyPlan plan_rule_usage = {
	"SELECT code, sum(times)::int8,"
	" COALESCE(sum(times) FILTER (WHERE day = $3), 0)::int8,"
	" COALESCE(sum(points) FILTER (WHERE day = $3), 0)::int8"
	" FROM loyalty.rule_award WHERE member_id = $1 AND code = ANY ($2) GROUP BY code",
	3, {INT8OID, TEXTARRAYOID, DATEOID}
};

static bool
rule_is_capped(const LyRule *r)
{
	return r->max_times > 0 || r->max_points_per_day > 0 || r->max_per_day > 0;
}

/* Fill usage[i] for every rule flagged in `wanted` (one statement). */
static void
load_usage(int64 member_id, LyDefinitions *defs, const bool *wanted, DateADT today,
		   RuleUsage *usage)
{
	Datum	   *codes = palloc(sizeof(Datum) * Max(defs->nrules, 1));
	int			n = 0;
	Datum		values[3];
	uint64		rows;

	memset(usage, 0, sizeof(RuleUsage) * Max(defs->nrules, 1));
	for (int i = 0; i < defs->nrules; i++)
		if (wanted[i])
			codes[n++] = CStringGetTextDatum(defs->rules[i].code);
	if (n == 0 || member_id == 0)
		return;
	values[0] = Int64GetDatum(member_id);
	values[1] = PointerGetDatum(construct_array(codes, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = DateADTGetDatum(today);
	rows = ly_exec(&plan_rule_usage, values, NULL, 0);
	for (uint64 row = 0; row < rows; row++)
	{
		char	   *code = ly_col_text(row, 1);

		for (int i = 0; i < defs->nrules; i++)
			if (wanted[i] && strcmp(defs->rules[i].code, code) == 0)
			{
				usage[i].times = ly_col_int64(row, 2, 0);
				usage[i].times_today = ly_col_int64(row, 3, 0);
				usage[i].points_today = ly_col_int64(row, 4, 0);
			}
	}
}

static void
quote_award(LyQuote *quote, int nrules, const char *code, int64 points)
{
	if (quote->award_codes == NULL)
	{
		quote->award_codes = palloc(sizeof(char *) * Max(nrules, 1));
		quote->award_points = palloc(sizeof(int64) * Max(nrules, 1));
	}
	quote->award_codes[quote->nawards] = pstrdup(code);
	quote->award_points[quote->nawards] = points;
	quote->nawards++;
}

static LyPlan plan_awards_record = {
	"INSERT INTO loyalty.rule_award AS a (member_id, code, day, times, points)"
	" SELECT $1, u.code, $2, 1, u.points FROM unnest($3::text[], $4::int8[]) AS u(code, points)"
	" ON CONFLICT (member_id, code, day) DO UPDATE"
	" SET times = a.times + 1, points = a.points + EXCLUDED.points",
	4, {INT8OID, DATEOID, TEXTARRAYOID, INT8ARRAYOID}
};

/* Count what the capped rules of `quote` gave, against their caps. */
void
ly_awards_record(int64 member_id, LyDefinitions *defs, TimestampTz at, const LyQuote *quote)
{
	Datum	   *codes;
	Datum	   *points;
	Datum		values[4];

	if (quote->nawards == 0)
		return;
	codes = palloc(sizeof(Datum) * quote->nawards);
	points = palloc(sizeof(Datum) * quote->nawards);
	for (int i = 0; i < quote->nawards; i++)
	{
		codes[i] = CStringGetTextDatum(quote->award_codes[i]);
		points[i] = Int64GetDatum(quote->award_points[i]);
	}
	values[0] = Int64GetDatum(member_id);
	values[1] = DateADTGetDatum(ly_local_date(defs->timezone, at));
	values[2] = PointerGetDatum(construct_array(codes, quote->nawards, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(points, quote->nawards, INT8OID, 8, true, TYPALIGN_DOUBLE));
	ly_exec(&plan_awards_record, values, NULL, 0);
}

/* ---------------------------------------------------------------------
 * Pricing an order
 * ------------------------------------------------------------------- */

/* The highest multiplier (at least 1) among `usable` ones that boost `line` (NULL: the order). */
static Datum
best_multiplier(LyDefinitions *defs, const bool *usable, const LyCartLine *line, int *winner)
{
	Datum		best = num_int(1);

	*winner = -1;
	for (int i = 0; i < defs->nrules; i++)
	{
		const LyRule *r = &defs->rules[i];

		if (!usable[i] || r->kind != LY_RULE_MULTIPLIER)
			continue;
		if (line ? !rule_covers_line(r, line) : rule_is_line_scoped(r))
			continue;
		if (num_cmp(r->multiplier, best) > 0)
		{
			best = r->multiplier;
			*winner = i;
		}
	}
	return best;
}

/*
 * Price an order: `quote` receives the points (rounded down once), the
 * capped rules' shares (to record with ly_awards_record when the order is
 * priced for real) and, `with_detail`, a jsonb detail of how.
 * facts->member_id 0: no member history (caps are not consulted).
 */
void
ly_quote_order(LyDefinitions *defs, const LyMemberFacts *facts, int64 amount,
			   Jsonb *lines_json, TimestampTz at, bool with_detail, LyQuote *quote)
{
	LocalDay	day;
	LyCartLine *lines;
	int64		lines_sum;
	int			nlines = ly_parse_cart_lines(lines_json, &lines, &lines_sum);
	bool		by_lines = nlines > 0 && lines_sum > 0;
	bool	   *usable = palloc0(sizeof(bool) * Max(defs->nrules, 1));
	bool	   *capped = palloc0(sizeof(bool) * Max(defs->nrules, 1));
	bool	   *boosted = palloc0(sizeof(bool) * Max(defs->nrules, 1));
	RuleUsage  *usage = palloc(sizeof(RuleUsage) * Max(defs->nrules, 1));
	Datum		tier_multiplier = num_int(1);
	Datum		total_num = num_int(0);
	Datum		total_den = num_int(1);
	Datum		order_multiplier;
	int			winner;
	LyJsonb		detail = {NULL};
	const LyTier *tier = facts->tier ? ly_tier_find(defs, facts->tier) : NULL;

	memset(quote, 0, sizeof(*quote));
	if (amount < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount must not be negative, got " INT64_FORMAT, amount)));
	local_day(defs->timezone, at, &day);
	if (tier)
		tier_multiplier = tier->earn_multiplier;

	for (int i = 0; i < defs->nrules; i++)
	{
		const LyRule *r = &defs->rules[i];

		usable[i] = strcmp(r->event, "order") == 0 &&
			(r->kind == LY_RULE_BASE || r->kind == LY_RULE_MULTIPLIER) &&
			rule_applies(r, facts, &day, at);
		capped[i] = usable[i] && rule_is_capped(r);
	}
	load_usage(facts->member_id, defs, capped, day.date, usage);
	for (int i = 0; i < defs->nrules; i++)
		if (capped[i] && defs->rules[i].max_times > 0 && usage[i].times >= defs->rules[i].max_times)
			usable[i] = false;	/* used up */

	order_multiplier = best_multiplier(defs, usable, NULL, &winner);
	if (winner >= 0 && !by_lines)
		boosted[winner] = true;	/* with lines, what boosts each line counts */

	if (with_detail)
	{
		ly_jsonb_begin(&detail, false);
		ly_jsonb_key(&detail, "amount");
		ly_jsonb_int(&detail, amount);
		ly_jsonb_key(&detail, "tier");
		ly_jsonb_text(&detail, tier ? tier->code : NULL);
		ly_jsonb_key(&detail, "tier_multiplier");
		ly_jsonb_numeric(&detail, tier_multiplier);
		ly_jsonb_key(&detail, "rules");
		ly_jsonb_begin(&detail, false);
	}

	for (int i = 0; i < defs->nrules; i++)
	{
		const LyRule *r = &defs->rules[i];
		Datum		covered;	/* sum of covered money x multiplier */
		Datum		num;
		Datum		den;
		int64		cap = -1;
		int64		share;

		if (!usable[i] || r->kind != LY_RULE_BASE)
			continue;
		if (by_lines)
		{
			covered = num_int(0);
			for (int j = 0; j < nlines; j++)
			{
				Datum		m;

				if (!rule_covers_line(r, &lines[j]))
					continue;
				m = best_multiplier(defs, usable, &lines[j], &winner);
				if (winner >= 0)
					boosted[winner] = true;
				covered = num_add(covered, num_mul(num_int(lines[j].total), m));
			}
			/* pay for what was paid: lines' list prices scaled to the amount */
			num = num_mul(num_mul(num_mul(num_int(r->points), tier_multiplier), num_int(amount)), covered);
			den = num_mul(num_int(r->per_amount), num_int(lines_sum));
		}
		else
		{
			if (rule_is_line_scoped(r))
				continue;
			covered = num_mul(num_int(amount), order_multiplier);
			num = num_mul(num_mul(num_int(r->points), tier_multiplier), covered);
			den = num_int(r->per_amount);
		}
		if (r->max_points_per_order > 0)
			cap = r->max_points_per_order;
		if (r->max_points_per_day > 0)
		{
			int64		left = Max(r->max_points_per_day - usage[i].points_today, 0);

			cap = cap < 0 ? left : Min(cap, left);
		}
		if (cap >= 0 && num_cmp(num, num_mul(num_int(cap), den)) > 0)
		{
			num = num_int(cap);
			den = num_int(1);
		}
		share = num_floor_div(num, den);
		if (share > 0 && capped[i])
			quote_award(quote, defs->nrules, r->code, share);
		total_num = num_add(num_mul(total_num, den), num_mul(num, total_den));
		total_den = num_mul(total_den, den);
		if (with_detail)
		{
			ly_jsonb_key(&detail, r->code);
			ly_jsonb_int(&detail, share);
		}
	}
	if (with_detail)
	{
		(void) ly_jsonb_end(&detail, false);
		ly_jsonb_key(&detail, "multipliers");
		ly_jsonb_begin(&detail, true);
	}
	for (int i = 0; i < defs->nrules; i++)
	{
		if (!boosted[i])
			continue;
		if (capped[i])
			quote_award(quote, defs->nrules, defs->rules[i].code, 0);
		if (with_detail)
			ly_jsonb_text(&detail, defs->rules[i].code);
	}
	quote->points = num_floor_div(total_num, total_den);
	if (with_detail)
	{
		(void) ly_jsonb_end(&detail, true);
		ly_jsonb_key(&detail, "points");
		ly_jsonb_int(&detail, quote->points);
		quote->detail = ly_jsonb_end(&detail, false);
	}
}

/*
 * The cashback an order earns: for each cashback rule that applies, its
 * percent of the amount (of the covered lines' share of it, for a rule
 * limited to skus or categories), rounded half-up to the minor unit once.
 */
int
ly_quote_cashback(LyDefinitions *defs, const LyMemberFacts *facts, int64 amount,
				  Jsonb *lines_json, TimestampTz at, LyCashback **out)
{
	LocalDay	day;
	LyCartLine *lines;
	int64		lines_sum;
	int			nlines = -1;
	int			n = 0;

	*out = palloc(sizeof(LyCashback) * Max(defs->nrules, 1));
	local_day(defs->timezone, at, &day);
	for (int i = 0; i < defs->nrules; i++)
	{
		const LyRule *r = &defs->rules[i];
		Datum		num;
		Datum		den = num_int(100);
		Datum		value;
		int64		cash;

		if (r->kind != LY_RULE_CASHBACK || strcmp(r->event, "order") != 0 ||
			!rule_applies(r, facts, &day, at))
			continue;
		num = num_mul(num_int(amount), r->cashback_percent);
		if (rule_is_line_scoped(r))
		{
			Datum		covered = num_int(0);

			if (nlines < 0)
				nlines = ly_parse_cart_lines(lines_json, &lines, &lines_sum);
			if (nlines == 0 || lines_sum <= 0)
				continue;		/* without lines nothing is covered */
			for (int j = 0; j < nlines; j++)
				if (rule_covers_line(r, &lines[j]))
					covered = num_add(covered, num_int(lines[j].total));
			num = num_mul(num, covered);
			den = num_mul(den, num_int(lines_sum));
		}
		/* half-up, exactly: floor((2 num + den) / (2 den)) */
		value = DirectFunctionCall2(numeric_div_trunc,
									num_add(num_mul(num, num_int(2)), den),
									num_mul(den, num_int(2)));
		if (num_cmp(value, num_int(PG_INT64_MAX)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the cashback of rule \"%s\" (%s) would overflow bigint", r->code, num_text(value))));
		cash = DatumGetInt64(DirectFunctionCall1(numeric_int8, value));
		if (cash <= 0)
			continue;
		(*out)[n].rule_code = r->code;
		(*out)[n].from_wallet = r->from_wallet;
		(*out)[n].amount = cash;
		n++;
	}
	return n;
}

/* ---------------------------------------------------------------------
 * quote_points(member, amount, lines, at)
 * ------------------------------------------------------------------- */
Datum
ly_quote_points(PG_FUNCTION_ARGS)
{
	int64		member_id;
	int64		amount;
	Jsonb	   *lines = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	TimestampTz at = ly_arg_instant(fcinfo, 3, "at");
	LyCall		call;
	LyMemberFacts facts;
	LyMember	m;
	LyQuote		quote;

	ly_require_not_null(fcinfo, 0, "member");
	ly_require_not_null(fcinfo, 1, "amount");
	member_id = PG_GETARG_INT64(0);
	amount = PG_GETARG_INT64(1);
	if (amount < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount must not be negative, got " INT64_FORMAT, amount)));
	ly_enter_read(&call);
	ly_member_load(member_id, false, &m);
	ly_member_facts(member_id, at, &facts);
	ly_quote_order(ly_definitions(m.program_id), &facts, amount, lines, at, false, &quote);
	ly_leave(&call);
	PG_RETURN_INT64(quote.points);
}

/* ---------------------------------------------------------------------
 * record_event(member, event, ref, at)
 * ------------------------------------------------------------------- */
Datum
ly_record_event(PG_FUNCTION_ARGS)
{
	int64		member_id;
	char	   *event = text_to_cstring(ly_arg_text_nonempty(fcinfo, 1, "event"));
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 2, "ref"));
	TimestampTz at = ly_arg_instant(fcinfo, 3, "at");
	char	   *source = psprintf("event:%s", event);
	LyCall		call;
	LyMember	m;
	LyMemberRowFacts row;
	LyMemberFacts facts;
	LyDefinitions *defs;
	LyKeyedEntry prev;
	LocalDay	day;
	bool	   *usable;
	RuleUsage  *usage;
	LyQuote		quote;
	int64		points = 0;
	LyEarnArgs	earn;
	int64		entry_id;
	StringInfoData detail;
	bool		first = true;

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);
	ly_enter(&call);
	if (!ly_member_lock(member_id, &m, &row))
		ly_unknown_member(member_id);
	if (ly_find_keyed(member_id, "earn", source, ref, &prev))
	{
		ly_leave(&call);
		PG_RETURN_INT64(prev.entry_id);	/* the first call's entry */
	}
	defs = ly_definitions(m.program_id);
	ly_member_facts_from(&facts, member_id, at, row.has_birthday, row.birthday, row.tier,
						 row.has_since, row.tier_since);
	local_day(defs->timezone, at, &day);
	usable = palloc0(sizeof(bool) * Max(defs->nrules, 1));
	usage = palloc(sizeof(RuleUsage) * Max(defs->nrules, 1));
	for (int i = 0; i < defs->nrules; i++)
		usable[i] = defs->rules[i].kind == LY_RULE_EVENT &&
			strcmp(defs->rules[i].event, event) == 0 &&
			rule_applies(&defs->rules[i], &facts, &day, at);
	load_usage(member_id, defs, usable, day.date, usage);

	memset(&quote, 0, sizeof(quote));
	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"event\": ");
	escape_json(&detail, event);
	appendStringInfoString(&detail, ", \"rules\": {");
	for (int i = 0; i < defs->nrules; i++)
	{
		const LyRule *r = &defs->rules[i];
		int64		give = r->points;

		if (!usable[i])
			continue;
		if (r->max_times > 0 && usage[i].times >= r->max_times)
			continue;
		if (r->max_per_day > 0 && usage[i].times_today >= r->max_per_day)
			continue;
		if (r->max_points_per_day > 0)
			give = Min(give, r->max_points_per_day - usage[i].points_today);
		if (give <= 0)
			continue;
		points = ly_add_points(points, give, member_id, "event points");
		if (rule_is_capped(r))
			quote_award(&quote, defs->nrules, r->code, give);
		appendStringInfoString(&detail, first ? "" : ", ");
		escape_json(&detail, r->code);
		appendStringInfo(&detail, ": " INT64_FORMAT, give);
		first = false;
	}
	appendStringInfoString(&detail, "}}");
	if (points == 0)
	{
		ly_leave(&call);
		PG_RETURN_NULL();		/* no rule pays for it (none, or capped) */
	}

	memset(&earn, 0, sizeof(earn));
	earn.member_id = member_id;
	earn.points = points;
	earn.source = source;
	earn.ref = ref;
	earn.at = at;
	earn.available_at = at;
	earn.qualifying_entry = true;
	earn.qualifying_lot = true;
	earn.detail = CStringGetTextDatum(detail.data);
	entry_id = ly_points_earn(&earn);	/* re-evaluates the tier: the lot qualifies */
	ly_awards_record(member_id, defs, at, &quote);
	ly_leave(&call);
	PG_RETURN_INT64(entry_id);
}
