/*
 * tiers.c: tier computation.  Owns the qualifying total of each tier basis,
 * which tier a total reaches, members' upgrades (as soon as the total
 * crosses a threshold) and review decisions (downgrades, never before
 * retain_months), the tier history, and the SQL functions tier, tier_for
 * and tier_benefits.  run_tier_review's batching lives in jobs.c.
 */
#include "definitions.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#if PG_VERSION_NUM < 160000
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif

PG_FUNCTION_INFO_V1(ly_tier);
PG_FUNCTION_INFO_V1(ly_tier_for);
PG_FUNCTION_INFO_V1(ly_tier_benefits);

const LyTier *
ly_tier_find(LyDefinitions *defs, const char *code)
{
	if (code == NULL)
		return NULL;
	for (int i = 0; i < defs->ntiers; i++)
		if (strcmp(defs->tiers[i].code, code) == 0)
			return &defs->tiers[i];
	return NULL;
}

/* The highest tier whose threshold `qualifying` reaches; NULL below them all. */
const LyTier *
ly_tier_reached(LyDefinitions *defs, int64 qualifying)
{
	const LyTier *reached = NULL;

	for (int i = 0; i < defs->ntiers; i++)	/* rank ascending, thresholds too */
		if (qualifying >= defs->tiers[i].threshold)
			reached = &defs->tiers[i];
	return reached;
}

static LyPlan plan_tier_at = {
	"SELECT to_tier FROM loyalty.tier_history WHERE member_id = $1 AND at <= $2"
	" ORDER BY at DESC, change_id DESC LIMIT 1",
	2, {INT8OID, TIMESTAMPTZOID}
};

/* The member's tier at `at`, from its history (palloc'd; NULL: none). */
char *
ly_member_tier_at(int64 member_id, TimestampTz at)
{
	Datum		values[2] = {Int64GetDatum(member_id), TimestampTzGetDatum(at)};

	if (ly_exec(&plan_tier_at, values, NULL, 1) != 1)
		return NULL;
	return ly_col_text(0, 1);
}

/*
 * The qualifying total at `at` (SPEC section 3): earnings whose lots qualify
 * (order earnings from completion, record_event, earn but manual:; an earn's
 * lot holds exactly its points), less their reversals booked by then; over the last 12 months (programme time
 * zone) for the rolling bases.  rolling_12m_spend counts completed orders'
 * amounts less their refunds instead.
 */
static LyPlan plan_qualifying_points = {
	"WITH q AS (SELECT lot_id, points FROM loyalty.points_lot"
	"  WHERE member_id = $1 AND qualifying_from <= $2"
	"  AND qualifying_from > CASE WHEN $3 THEN ($2 AT TIME ZONE $4 - interval '12 months') AT TIME ZONE $4"
	"   ELSE '-infinity' END)"
	" SELECT (COALESCE((SELECT sum(points) FROM q), 0)"
	"  - COALESCE((SELECT sum(r.covers) FROM loyalty.points_entry r"
	"    JOIN loyalty.points_entry e ON e.member_id = r.member_id AND e.entry_id = r.reverses"
	"    JOIN q ON q.lot_id = e.lots[1]"
	"    WHERE r.member_id = $1 AND r.reverses IS NOT NULL AND r.at <= $2 AND e.operation = 'earn'), 0))::int8",
	4, {INT8OID, TIMESTAMPTZOID, BOOLOID, TEXTOID}
};

static LyPlan plan_qualifying_spend = {
	"SELECT COALESCE(sum(o.amount - COALESCE((SELECT sum(r.amount) FROM loyalty.order_refund r"
	"  WHERE r.member_id = o.member_id AND r.tracked_id = o.tracked_id AND r.order_id = o.order_id"
	"  AND r.generation = o.generation AND r.at <= $2), 0)), 0)::int8"
	" FROM loyalty.order_state o"
	" WHERE o.member_id = $1 AND o.completed_at <= $2"
	" AND o.completed_at > ($2 AT TIME ZONE $3 - interval '12 months') AT TIME ZONE $3"
	" AND (o.state = 'completed' OR o.closed_at > $2)",
	3, {INT8OID, TIMESTAMPTZOID, TEXTOID}
};

int64
ly_tier_points(int64 member_id, LyDefinitions *defs, TimestampTz at)
{
	Datum		values[4];

	values[0] = Int64GetDatum(member_id);
	values[1] = TimestampTzGetDatum(at);
	if (defs->basis == LY_BASIS_ROLLING_12M_SPEND)
	{
		values[2] = CStringGetTextDatum(defs->timezone);
		ly_exec(&plan_qualifying_spend, values, NULL, 1);
	}
	else
	{
		values[2] = BoolGetDatum(defs->basis == LY_BASIS_ROLLING_12M_POINTS);
		values[3] = CStringGetTextDatum(defs->timezone);
		ly_exec(&plan_qualifying_points, values, NULL, 1);
	}
	return ly_col_int64(0, 1, 0);
}

/* `months` calendar months after `t`, as timestamptz + interval counts them. */
static TimestampTz
months_after(TimestampTz t, int32 months)
{
	Interval	span;

	memset(&span, 0, sizeof(span));
	span.month = months;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(t),
												   IntervalPGetDatum(&span)));
}

static LyPlan plan_completed_latest = {
	"SELECT max(completed_at) FROM loyalty.order_state WHERE member_id = $1 AND state = 'completed'",
	1, {INT8OID}
};

/* The member's latest order completion (spend basis). */
static TimestampTz
ly_completed_latest(int64 member_id)
{
	Datum		values[1] = {Int64GetDatum(member_id)};

	ly_exec(&plan_completed_latest, values, NULL, 1);
	return ly_col_timestamptz(0, 1, DT_NOBEGIN);
}

static LyPlan plan_qualified_latest = {
	"SELECT max(qualifying_from) FROM loyalty.points_lot WHERE member_id = $1",
	1, {INT8OID}
};

static LyPlan plan_tier_change = {
	"WITH h AS (INSERT INTO loyalty.tier_history (member_id, at, from_tier, to_tier, qualifying, reason)"
	"  VALUES ($1, $2, $3, $4, $5, $6))"
	" UPDATE loyalty.member SET tier = $4, tier_since = $2 WHERE member_id = $1",
	6, {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, TEXTOID}
};

/*
 * Re-evaluate a member's tier at `at`, the member row locked by the caller:
 * upgrade when the qualifying total reaches a higher tier; with `review`,
 * also downgrade to what the total reaches, once retain_months have passed
 * since the current tier was reached.
 *
 * An upgrade is evaluated at the later of `at` and the member's latest
 * qualification: when two completions commit out of time order (or one is
 * back-dated), the total crosses the threshold at the later one, and that
 * is when the upgrade happens.
 */
bool
ly_tier_reevaluate(int64 member_id, int64 program_id, TimestampTz at,
				   const char *reason, bool review)
{
	LyDefinitions *defs;
	const LyTier *current;
	const LyTier *target;
	char	   *current_code;
	int64		qualifying;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		retained;
	int64		lifetime;
	const LySettings *settings = ly_settings(program_id);
	bool		spend_basis = strcmp(settings->tier_basis, "rolling_12m_spend") == 0;
	LyMember	member;
	LyMemberRowFacts row;

	if (!review && !settings->has_tiers)
		return false;			/* no tier to reach: no query at all */
	/*
	 * The member's tier, when a downgrade may happen, and its lifetime earned
	 * points: every qualifying total (any points basis, any window) is a part
	 * of them, so below the next threshold no upgrade is possible.
	 */
	if (!ly_member_read(member_id, &member, &row))
		return false;
	current_code = row.tier;
	retained = row.has_since && at < months_after(row.tier_since, settings->retain_months);
	lifetime = member.lifetime_earned;
	values[0] = Int64GetDatum(member_id);
	defs = ly_definitions(program_id);	/* may run queries: columns are read */
	if (!review)
	{
		TimestampTz latest;

		if (!spend_basis)
		{
			const LyTier *current_tier = ly_tier_find(defs, current_code);
			const LyTier *next = NULL;

			for (int i = 0; i < defs->ntiers && next == NULL; i++)
				if (current_tier == NULL || defs->tiers[i].rank > current_tier->rank)
					next = &defs->tiers[i];
			if (next == NULL || lifetime < next->threshold)
				return false;	/* cannot reach a higher tier: no total needed */
			ly_exec(&plan_qualified_latest, values, NULL, 1);
			latest = ly_col_timestamptz(0, 1, DT_NOBEGIN);
		}
		else
			latest = ly_completed_latest(member_id);
		if (latest > at && !TIMESTAMP_NOT_FINITE(latest))
			at = latest;
	}
	if (defs->ntiers == 0 && current_code == NULL)
		return false;
	current = ly_tier_find(defs, current_code);
	qualifying = ly_tier_points(member_id, defs, at);
	target = ly_tier_reached(defs, qualifying);
	if (target == current && (current != NULL || current_code == NULL))
		return false;
	if (target != NULL && (current == NULL ? current_code == NULL : target->rank > current->rank))
		;						/* an upgrade: at once */
	else if (!review || retained)
		return false;			/* a downgrade waits for the review and retain_months */
	values[1] = TimestampTzGetDatum(at);
	values[2] = current_code ? CStringGetTextDatum(current_code) : (Datum) 0;
	nulls[2] = current_code ? ' ' : 'n';
	values[3] = target ? CStringGetTextDatum(target->code) : (Datum) 0;
	nulls[3] = target ? ' ' : 'n';
	values[4] = Int64GetDatum(qualifying);
	values[5] = CStringGetTextDatum(reason);
	ly_exec(&plan_tier_change, values, nulls, 0);
	return true;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------- */

static LyPlan plan_member_exists = {
	"SELECT program_id FROM loyalty.member WHERE member_id = $1", 1, {INT8OID}
};

static int64
member_program(int64 member_id)
{
	Datum		values[1] = {Int64GetDatum(member_id)};

	if (ly_exec(&plan_member_exists, values, NULL, 1) != 1)
		ly_unknown_member(member_id);
	ly_require_program(ly_col_int64(0, 1, 0));
	return ly_col_int64(0, 1, 0);
}

/* `s` as text in `cxt`: a result must outlive the SPI context (ly_leave). */
static text *
text_in(MemoryContext cxt, const char *s)
{
	MemoryContext inner = MemoryContextSwitchTo(cxt);
	text	   *result = cstring_to_text(s);

	MemoryContextSwitchTo(inner);
	return result;
}

Datum
ly_tier(PG_FUNCTION_ARGS)
{
	int64		member_id;
	TimestampTz at = ly_arg_instant(fcinfo, 1, "at");
	LyCall		call;
	MemoryContext outer = CurrentMemoryContext;
	char	   *tier;
	text	   *result = NULL;

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);
	ly_enter_read(&call);
	member_program(member_id);
	tier = ly_member_tier_at(member_id, at);
	if (tier)
		result = text_in(outer, tier);
	ly_leave(&call);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

Datum
ly_tier_for(PG_FUNCTION_ARGS)
{
	char	   *program = text_to_cstring(ly_arg_text_nonempty(fcinfo, 0, "program"));
	int64		qualifying;
	LyCall		call;
	MemoryContext outer = CurrentMemoryContext;
	const LyTier *tier;
	text	   *result = NULL;

	ly_require_not_null(fcinfo, 1, "qualifying");
	qualifying = PG_GETARG_INT64(1);
	ly_enter_read(&call);
	tier = ly_tier_reached(ly_definitions(ly_program_id(program)), qualifying);
	if (tier)
		result = text_in(outer, tier->code);
	ly_leave(&call);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

Datum
ly_tier_benefits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		member_id;
	TimestampTz at = ly_arg_instant(fcinfo, 1, "at");
	LyCall		call;
	char	   *code;
	const LyTier *tier = NULL;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);
	InitMaterializedSRF(fcinfo, 0);
	ly_enter_read(&call);
	code = ly_member_tier_at(member_id, at);
	if (code)
		tier = ly_tier_find(ly_definitions(member_program(member_id)), code);
	else
		member_program(member_id);
	if (tier)
	{
		values[0] = CStringGetTextDatum(tier->code);
		values[1] = tier->discount_pct;
		values[2] = tier->earn_multiplier;
		values[3] = tier->benefits;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ly_leave(&call);
	return (Datum) 0;
}
