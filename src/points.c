/*
 * points.c: the SQL-callable points API: earn, spend, reverse, adjust,
 * transfer_points, points, balance.  Each write locks its member row(s),
 * checks the idempotency key under that lock, then works through the
 * ledger engine (ledger.c).
 */
#include "definitions.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/json.h"

#if PG_VERSION_NUM < 160000
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif

PG_FUNCTION_INFO_V1(ly_earn);
PG_FUNCTION_INFO_V1(ly_spend);
PG_FUNCTION_INFO_V1(ly_reverse);
PG_FUNCTION_INFO_V1(ly_adjust);
PG_FUNCTION_INFO_V1(ly_transfer_points);
PG_FUNCTION_INFO_V1(ly_points);
PG_FUNCTION_INFO_V1(ly_balance);

/* ---------------------------------------------------------------------
 * Shared steps of every write
 * ------------------------------------------------------------------- */

/* Pay debt out of what the write made usable, then save the member. */
static void
end_write(LyMember *m, TimestampTz at)
{
	ly_settle_debt(m, at, at);
	ly_member_save(m);
}

/*
 * The same key with another amount: say which field differs.  `key` names
 * the key as the caller knows it, e.g. 'earn with source "order" and ref "42"'.
 */
static void
key_conflict(const char *key, const LyKeyedEntry *prev, const char *field,
			 int64 first, int64 now)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_IDEMPOTENCY_CONFLICT),
			 errmsg("%s was already recorded with a different %s", key, field),
			 errdetail("Entry " INT64_FORMAT " has %s " INT64_FORMAT "; this call has " INT64_FORMAT ".",
					   prev->entry_id, field, first, now),
			 errhint("Use a new ref for a new operation.")));
}

/*
 * The entry a repeated call finds under its key: its id, if it moved the
 * same points (`sign` * amount), else an error naming the field.
 */
static int64
keyed_replay(int64 member_id, const char *operation, const char *source, const char *ref,
			 const char *key, const char *field, int sign, int64 amount)
{
	LyKeyedEntry prev;

	if (!ly_find_keyed(member_id, operation, source, ref, &prev))
		elog(ERROR, "entry with key (%s, \"%s\", \"%s\") of member " INT64_FORMAT " not found",
			 operation, source, ref, member_id);
	if (prev.points != sign * amount)
		key_conflict(key, &prev, field, sign * prev.points, amount);
	return prev.entry_id;
}

static void
insufficient(int64 member_id, int64 available, int64 requested)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_INSUFFICIENT_POINTS),
			 errmsg("insufficient points: member " INT64_FORMAT " has " INT64_FORMAT
					" available, " INT64_FORMAT " requested",
					member_id, available, requested)));
}

/* Optional timestamptz argument: NULL stays "not given". */
static bool
opt_instant(FunctionCallInfo fcinfo, int argno, TimestampTz *value)
{
	if (PG_ARGISNULL(argno))
		return false;
	*value = PG_GETARG_TIMESTAMPTZ(argno);
	return true;
}

/* ---------------------------------------------------------------------
 * earn(member, points, source, ref, expires_at, available_at, at)
 * ------------------------------------------------------------------- */

/* An earn whose caller knew its key to be new found it taken: the caller's error. */
static void
refuse_taken_key(LyEarnArgs *args)
{
	args->key_taken(args);
	elog(ERROR, "earn with source \"%s\" and ref \"%s\": the key was taken and the caller did not refuse it",
		 args->source, args->ref);
}

/*
 * Earn as args say, inside ly_enter: used by earn(), record_event() and the
 * order trigger.  Returns the entry id (the first call's on a replay, with
 * args->replayed set) and the new lot in args->lot_id.  With args->key_taken
 * set, a taken key is the caller's error (raised through it), not a replay.
 */
int64
ly_points_earn(LyEarnArgs *args)
{
	int64		member_id = args->member_id;
	int64		points = args->points;
	TimestampTz at = args->at;
	TimestampTz available_at = args->available_at;
	TimestampTz expires_at = args->expires_at;
	bool		has_expiry = args->expiry_given && expires_at != DT_NOEND;
	LyMember	m;
	LyKeyedEntry prev;
	LyEntry		entry;
	LyLot	   *lot;
	int64		entry_id;
	char	   *key = psprintf("earn with source \"%s\" and ref \"%s\"", args->source, args->ref);

	args->replayed = false;
	args->lot_id = 0;
	if (args->member)
		m = *args->member;		/* loaded and locked by the caller */
	else
		ly_member_load(member_id, true, &m);
	/* a member who owes may have debt settled before the entry: check the key first */
	if (m.debt > 0 && ly_find_keyed(member_id, "earn", args->source, args->ref, &prev))
	{
		args->replayed = true;
		if (args->key_taken)
			refuse_taken_key(args);
		return keyed_replay(member_id, "earn", args->source, args->ref, key, "points", 1, points);
	}
	if (!args->expiry_given)
		expires_at = ly_policy_expiry(&m, available_at, &has_expiry);
	else if (has_expiry && expires_at <= available_at)
		ereport(ERROR,
				(errcode(ERRCODE_LY_INVALID_LOT_TIMES),
				 errmsg("expires_at (%s) must be later than the instant the points become available (%s)",
						pstrdup(timestamptz_to_str(expires_at)),
						pstrdup(timestamptz_to_str(available_at)))));

	ly_entry_init(&entry, "earn", args->source, args->ref, at);
	entry.points = points;
	entry.qualifying = args->qualifying_entry;
	entry.keyed = true;
	entry.key_is_new = args->key_taken != NULL;
	entry.detail = args->detail;
	/*
	 * Without debt, and inside the window where the cached balance holds, a
	 * new lot changes nothing else: the member's lots need not be loaded.
	 */
	if (ly_cache_holds_at(&m, at) && args->detail == (Datum) 0)
	{
		lot = ly_lot_add(&m, points, at, available_at, has_expiry, expires_at, args->qualifying_lot);
		entry_id = ly_earn_in_window(&m, &entry, lot);
	}
	else
	{
		ly_begin_write(&m, at);
		lot = ly_lot_add(&m, points, at, available_at, has_expiry, expires_at, args->qualifying_lot);
		entry_id = ly_entry_post(&m, &entry);
		if (entry_id != 0)
		{
			m.lifetime_earned = ly_add_points(m.lifetime_earned, points, member_id, "lifetime points");
			end_write(&m, at);
		}
	}
	if (entry_id == 0)			/* a repeated call: nothing was written */
	{
		args->replayed = true;
		if (args->key_taken)
			refuse_taken_key(args);	/* the entry may have been written: never returns */
		return keyed_replay(member_id, "earn", args->source, args->ref, key, "points", 1, points);
	}
	args->lot_id = lot->lot_id;
	if (args->qualifying_lot)
		ly_tier_reevaluate(member_id, m.program_id, at, "upgrade", false);
	return entry_id;
}

Datum
ly_earn(PG_FUNCTION_ARGS)
{
	LyEarnArgs	args;
	LyCall		call;
	int64		entry_id;

	memset(&args, 0, sizeof(args));
	args.points = ly_arg_positive(fcinfo, 1, "points");
	args.source = text_to_cstring(ly_arg_text_nonempty(fcinfo, 2, "source"));
	args.ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 3, "ref"));
	args.at = ly_arg_instant(fcinfo, 6, "at");
	args.available_at = args.at;
	args.expires_at = DT_NOEND;
	args.qualifying_entry = strncmp(args.source, "manual:", 7) != 0;
	args.qualifying_lot = args.qualifying_entry;
	ly_require_not_null(fcinfo, 0, "member");
	args.member_id = PG_GETARG_INT64(0);
	args.expiry_given = opt_instant(fcinfo, 4, &args.expires_at);
	if (opt_instant(fcinfo, 5, &args.available_at))
	{
		if (args.available_at == DT_NOBEGIN)
			ereport(ERROR,
					(errcode(ERRCODE_LY_INVALID_LOT_TIMES),
					 errmsg("available_at must not be -infinity")));
		args.available_at = Max(args.available_at, args.at);	/* an entry counts from its instant */
	}

	ly_enter(&call);
	entry_id = ly_points_earn(&args);
	ly_leave(&call);
	PG_RETURN_INT64(entry_id);
}

/* ---------------------------------------------------------------------
 * spend(member, points, source, ref, at)
 * ------------------------------------------------------------------- */
/*
 * A spend's or reversal's source.  "reward" belongs to the points mall
 * (rewards.sql), which calls these functions through its internal twins
 * (loyalty._reward_spend, loyalty._reward_reverse): through the public API
 * it could give back a redemption's points while the redemption stands.
 */
static char *
source_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *source = text_to_cstring(ly_arg_text_nonempty(fcinfo, argno, "source"));

	if (strcmp(source, "reward") == 0)
	{
		char	   *name = get_func_name(fcinfo->flinfo->fn_oid);

		if (name == NULL || name[0] != '_')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"reward\" is reserved for the points mall"),
					 errhint("Use loyalty.redeem_reward() and loyalty.cancel_redemption().")));
	}
	return source;
}

Datum
ly_spend(PG_FUNCTION_ARGS)
{
	int64		member_id;
	int64		points = ly_arg_positive(fcinfo, 1, "points");
	char	   *source = source_arg(fcinfo, 2);
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 3, "ref"));
	TimestampTz at = ly_arg_instant(fcinfo, 4, "at");
	LyCall		call;
	LyMember	m;
	LyKeyedEntry prev;
	LyEntry		entry;
	int64		available;
	int64		entry_id;
	char	   *key;

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);

	key = psprintf("spend with source \"%s\" and ref \"%s\"", source, ref);
	ly_enter(&call);
	ly_member_load(member_id, true, &m);
	/* a member who owes may have debt settled before the entry: check the key first */
	if (m.debt > 0 && ly_find_keyed(member_id, "spend", source, ref, &prev))
	{
		entry_id = keyed_replay(member_id, "spend", source, ref, key, "points", -1, points);
		ly_leave(&call);
		PG_RETURN_INT64(entry_id);
	}
	ly_entry_init(&entry, "spend", source, ref, at);
	entry.points = -points;
	entry.keyed = true;
	if (ly_cache_holds_at(&m, at) && m.cache_available >= points)
	{
		bool		key_taken;

		entry_id = ly_spend_in_window(&m, &entry, &key_taken);
		if (entry_id != 0 || key_taken)
		{
			if (key_taken)
				entry_id = keyed_replay(member_id, "spend", source, ref, key, "points", -1, points);
			ly_leave(&call);
			PG_RETURN_INT64(entry_id);
		}
		/* the first lot does not cover it: take from several lots */
	}
	ly_begin_write(&m, at);
	available = ly_lots_usable_total(&m, at);
	if (available < points)
	{
		/* a repeated call succeeds even if the points have gone since */
		if (ly_find_keyed(member_id, "spend", source, ref, &prev))
		{
			entry_id = keyed_replay(member_id, "spend", source, ref, key, "points", -1, points);
			ly_leave(&call);
			PG_RETURN_INT64(entry_id);
		}
		insufficient(member_id, available, points);
	}
	ly_lots_consume(&m, at, points, 0);
	if (m.debt == 0)
		entry_id = ly_entry_post_final(&m, &entry);	/* nothing to settle after it */
	else if ((entry_id = ly_entry_post(&m, &entry)) != 0)
		end_write(&m, at);
	if (entry_id == 0)			/* a repeated call: nothing was written */
		entry_id = keyed_replay(member_id, "spend", source, ref, key, "points", -1, points);
	ly_leave(&call);
	PG_RETURN_INT64(entry_id);
}

/* ---------------------------------------------------------------------
 * reverse(member, source, ref, points, at)
 * ------------------------------------------------------------------- */

typedef struct Original
{
	int64		entry_id;
	bool		is_earn;
	int64		amount;			/* points it moved, positive */
	bool		qualifying;
	int			nmoves;
	int64	   *lots;
	int64	   *lot_points;
} Original;

static LyPlan plan_originals = {
	"SELECT entry_id, operation, points, lots, lot_points, qualifying, at FROM loyalty.points_entry"
	" WHERE member_id = $1 AND source = $2 AND ref = $3"
	" AND operation = ANY (ARRAY['earn','spend'])"
	" AND operation = ANY (ARRAY['earn','spend','adjust','transfer'])"
	" AND ($4::text IS NULL OR operation = $4)"
	" ORDER BY operation DESC",		/* the spend first: see ly_points_reverse */
	4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}
};

static LyPlan plan_reversals_of = {
	"SELECT entry_id, points, covers, lots, lot_points FROM loyalty.points_entry"
	" WHERE member_id = $1 AND reverses = $2 AND reverses IS NOT NULL ORDER BY entry_id",
	2, {INT8OID, INT8OID}
};

static LyPlan plan_lot_expired_total = {
	"SELECT COALESCE(sum(-u.moved), 0)::int8 FROM loyalty.points_entry e,"
	" unnest(e.lots, e.lot_points) AS u(lot_id, moved)"
	" WHERE e.member_id = $1 AND e.operation = 'expire' AND u.lot_id = $2",
	2, {INT8OID, INT8OID}
};


/* What earlier reversals of an entry did. */
typedef struct PriorReversals
{
	int64		covered;		/* sum of covers */
	int64		forgiven;		/* earn: sum of (covers + points) */
	int64		last_entry_id;
	int			nreturns;		/* spend: points given back, per lot */
	int64	   *return_lots;
	int64	   *return_points;
} PriorReversals;

static void
load_prior_reversals(int64 member_id, int64 entry_id, PriorReversals *prior)
{
	Datum		values[2] = {Int64GetDatum(member_id), Int64GetDatum(entry_id)};
	uint64		n = ly_exec(&plan_reversals_of, values, NULL, 0);
	int			cap = 8;

	memset(prior, 0, sizeof(*prior));
	prior->return_lots = palloc(sizeof(int64) * cap);
	prior->return_points = palloc(sizeof(int64) * cap);
	for (uint64 i = 0; i < n; i++)
	{
		int64		points = ly_col_int64(i, 2, 0);
		int64		covers = ly_col_int64(i, 3, 0);
		bool		isnull;
		int			nmoves;
		int64	   *lots = ly_int8_array_values(ly_col_datum(i, 4, &isnull), &nmoves);
		int64	   *moved = ly_int8_array_values(ly_col_datum(i, 5, &isnull), &nmoves);

		prior->last_entry_id = ly_col_int64(i, 1, 0);
		prior->covered += covers;
		prior->forgiven += covers + points;
		for (int j = 0; j < nmoves; j++)
		{
			if (prior->nreturns == cap)
			{
				cap *= 2;
				prior->return_lots = repalloc(prior->return_lots, sizeof(int64) * cap);
				prior->return_points = repalloc(prior->return_points, sizeof(int64) * cap);
			}
			prior->return_lots[prior->nreturns] = lots[j];
			prior->return_points[prior->nreturns] = moved[j];
			prior->nreturns++;
		}
	}
}

/*
 * Undo `amount` more of an earn: take what is left of its lot, forgive what
 * of it has expired (expired points are never clawed back), then take from
 * the member's other usable lots, soonest expiry first; the rest is debt.
 */
static int64
reverse_earn(LyMember *m, const Original *orig, const PriorReversals *prior,
			 int64 amount, const char *source, const char *ref, TimestampTz at)
{
	int64		lot_id = orig->nmoves > 0 ? orig->lots[0] : 0;
	LyLot	   *lot = lot_id ? ly_lot_fetch(m, lot_id) : NULL;
	int64		from_lot = 0;
	int64		expired = 0;
	int64		forgiven;
	int64		from_others;
	int64		to_debt;
	Datum		values[2] = {Int64GetDatum(m->member_id), Int64GetDatum(lot_id)};
	LyEntry		entry;
	StringInfoData detail;

	if (lot && lot->remaining > 0)
	{
		if (ly_lot_expired(lot, at))
			expired = lot->remaining;	/* expired, not yet booked */
		else
		{
			from_lot = Min(lot->remaining, amount);
			ly_lot_move(m, lot, -from_lot);
		}
	}
	ly_exec(&plan_lot_expired_total, values, NULL, 1);
	expired += ly_col_int64(0, 1, 0);
	forgiven = Min(amount - from_lot, Max(expired - prior->forgiven, 0));
	from_others = ly_lots_consume(m, at, amount - from_lot - forgiven, lot_id);
	to_debt = amount - from_lot - forgiven - from_others;

	ly_entry_init(&entry, "reverse", source, ref, at);
	entry.points = -(amount - forgiven);
	entry.has_reverses = true;
	entry.reverses = orig->entry_id;
	entry.covers = amount;
	entry.debt_delta = to_debt;
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"from_lot\": " INT64_FORMAT ", \"from_other_lots\": " INT64_FORMAT
					 ", \"forgiven_expired\": " INT64_FORMAT ", \"to_debt\": " INT64_FORMAT "}",
					 from_lot, from_others, forgiven, to_debt);
	entry.detail = CStringGetTextDatum(detail.data);
	m->lifetime_earned -= amount;
	return ly_entry_post(m, &entry);
}

/*
 * Undo `amount` more of a spend: give points back to the lots they came
 * from, last taken first, with their own expiry.  Points given back to a lot
 * that has expired first pay what the member owes (in a 'settle' entry: they
 * are points the member held when a clawback made the debt, so the order of
 * two refunds does not change the outcome); the rest expire again at once and
 * the next run_expiry books them as of now.
 */
static int64
reverse_spend(LyMember *m, const Original *orig, const PriorReversals *prior,
			  int64 amount, const char *source, const char *ref, TimestampTz at)
{
	int64		left = amount;
	int64		repaid = 0;
	LyLot	  **paying = palloc(sizeof(LyLot *) * Max(orig->nmoves, 1));
	int64	   *paid = palloc(sizeof(int64) * Max(orig->nmoves, 1));
	int			npaying = 0;
	int64		entry_id;
	LyEntry		entry;

	for (int i = orig->nmoves - 1; i >= 0 && left > 0; i--)
	{
		int64		taken = -orig->lot_points[i];
		int64		returned = 0;
		int64		give;
		LyLot	   *lot;

		for (int j = 0; j < prior->nreturns; j++)
			if (prior->return_lots[j] == orig->lots[i])
				returned += prior->return_points[j];
		give = Min(taken - returned, left);
		if (give <= 0)
			continue;
		lot = ly_lot_fetch(m, orig->lots[i]);
		if (lot == NULL)
			elog(ERROR, "lot " INT64_FORMAT " of entry " INT64_FORMAT " is missing",
				 orig->lots[i], orig->entry_id);
		ly_lot_move(m, lot, give);
		left -= give;
		if (ly_lot_expired(lot, at))
		{
			int64		to_debt = Min(give, m->debt - repaid);

			if (to_debt > 0)
			{
				paying[npaying] = lot;
				paid[npaying++] = to_debt;
				repaid += to_debt;
			}
			if (give > to_debt)
			{
				lot->late_returned += give - to_debt;
				lot->late_returned_at = Max(lot->late_returned_at, at);
			}
		}
	}
	if (left != 0)
		elog(ERROR, "spend " INT64_FORMAT " cannot give back " INT64_FORMAT " points",
			 orig->entry_id, amount);
	ly_entry_init(&entry, "reverse", source, ref, at);
	entry.points = amount;
	entry.has_reverses = true;
	entry.reverses = orig->entry_id;
	entry.covers = amount;
	entry_id = ly_entry_post(m, &entry);

	if (repaid > 0)
	{
		for (int i = 0; i < npaying; i++)
			ly_lot_move(m, paying[i], -paid[i]);
		ly_entry_init(&entry, "settle", "debt", "settle", at);
		entry.debt_delta = -repaid;
		ly_entry_post(m, &entry);
	}
	return entry_id;
}

/*
 * Reverse, inside ly_enter, the earn and/or spend of `member_id` keyed
 * (source, ref) (only the `only_operation` one when given) to a cumulative
 * total (`all`: everything).  Returns the last reversal entry, 0 if nothing
 * more needed reversing.
 */
int64
ly_points_reverse(int64 member_id, const char *source, const char *ref,
				  const char *only_operation, bool all, int64 total, TimestampTz at)
{
	LyMember	m;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	uint64		n;
	Original	originals[2];
	int64		result = 0;

	ly_member_load(member_id, true, &m);

	values[0] = Int64GetDatum(member_id);
	values[1] = CStringGetTextDatum(source);
	values[2] = CStringGetTextDatum(ref);
	values[3] = only_operation ? CStringGetTextDatum(only_operation) : (Datum) 0;
	nulls[3] = only_operation ? ' ' : 'n';
	n = ly_exec(&plan_originals, values, nulls, 0);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_NOTHING_TO_REVERSE),
				 errmsg("nothing to reverse: member " INT64_FORMAT " has no earn or spend with source \"%s\" and ref \"%s\"",
						member_id, source, ref)));
	if (!all && n > 1)
		ereport(ERROR,
				(errcode(ERRCODE_LY_INVALID_REVERSAL),
				 errmsg("source \"%s\" and ref \"%s\" name both an earn and a spend of member " INT64_FORMAT,
						source, ref, member_id),
				 errhint("Pass points => NULL to reverse both together.")));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		char	   *operation = ly_col_text(i, 2);

		originals[i].entry_id = ly_col_int64(i, 1, 0);
		originals[i].is_earn = strcmp(operation, "earn") == 0;
		originals[i].amount = ly_col_int64(i, 3, 0);
		if (originals[i].amount < 0)
			originals[i].amount = -originals[i].amount;
		originals[i].lots = ly_int8_array_values(ly_col_datum(i, 4, &isnull), &originals[i].nmoves);
		originals[i].lot_points = ly_int8_array_values(ly_col_datum(i, 5, &isnull), &originals[i].nmoves);
		originals[i].qualifying = ly_col_bool(i, 6, false);
		/*
		 * A reversal cannot happen before what it reverses: a refund whose
		 * transaction began (at => now()) before the order committed is
		 * dated at the order's entry, as earn dates availability.
		 */
		at = Max(at, ly_col_timestamptz(i, 7, at));
	}
	ly_begin_write(&m, at);

	/*
	 * An order that earned and spent is undone spend first: the points it
	 * spent go back to their lots before the earn's lot is taken back, so the
	 * earn finds its own points rather than turning them into debt.
	 */
	for (uint64 i = 0; i < n; i++)
	{
		Original   *orig = &originals[i];
		PriorReversals prior;
		int64		target = all ? orig->amount : total;

		load_prior_reversals(member_id, orig->entry_id, &prior);
		if (target > orig->amount)
			ereport(ERROR,
					(errcode(ERRCODE_LY_INVALID_REVERSAL),
					 errmsg("cannot reverse " INT64_FORMAT " points of entry " INT64_FORMAT ": it moved only " INT64_FORMAT,
							target, orig->entry_id, orig->amount)));
		if (target < prior.covered)
			ereport(ERROR,
					(errcode(ERRCODE_LY_INVALID_REVERSAL),
					 errmsg("entry " INT64_FORMAT " already has " INT64_FORMAT " points reversed, more than the " INT64_FORMAT " asked",
							orig->entry_id, prior.covered, target),
					 errhint("points is the cumulative total to stand reversed, not an increment.")));
		if (target == prior.covered)
		{
			result = Max(result, prior.last_entry_id);
			continue;
		}
		if (orig->is_earn)
			result = reverse_earn(&m, orig, &prior, target - prior.covered, source, ref, at);
		else
			result = reverse_spend(&m, orig, &prior, target - prior.covered, source, ref, at);
	}
	end_write(&m, at);
	return result;
}

Datum
ly_reverse(PG_FUNCTION_ARGS)
{
	int64		member_id;
	char	   *source = source_arg(fcinfo, 1);
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 2, "ref"));
	bool		all = PG_ARGISNULL(3);
	int64		total = all ? 0 : PG_GETARG_INT64(3);
	TimestampTz at = ly_arg_instant(fcinfo, 4, "at");
	LyCall		call;
	int64		result;

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);
	if (!all && total < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("points must not be negative, got " INT64_FORMAT, total),
				 errhint("points is the total that should stand reversed after the call.")));

	ly_enter(&call);
	result = ly_points_reverse(member_id, source, ref, NULL, all, total, at);
	ly_leave(&call);
	if (result == 0)
		PG_RETURN_NULL();		/* a total of 0 on an entry never reversed */
	PG_RETURN_INT64(result);
}

/* ---------------------------------------------------------------------
 * adjust(member, delta, reason, ref, at): an administrator's correction
 * ------------------------------------------------------------------- */
Datum
ly_adjust(PG_FUNCTION_ARGS)
{
	int64		member_id;
	int64		delta;
	char	   *reason = text_to_cstring(ly_arg_text_nonempty(fcinfo, 2, "reason"));
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 3, "ref"));
	TimestampTz at = ly_arg_instant(fcinfo, 4, "at");
	LyCall		call;
	LyMember	m;
	LyKeyedEntry prev;
	LyEntry		entry;
	int64		entry_id;
	StringInfoData detail;

	ly_require_not_null(fcinfo, 0, "member");
	ly_require_not_null(fcinfo, 1, "delta");
	member_id = PG_GETARG_INT64(0);
	delta = PG_GETARG_INT64(1);
	if (delta == 0 || delta == PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta must be a non-zero number of points, got " INT64_FORMAT, delta)));

	ly_enter(&call);
	ly_require_admin(call.caller, "loyalty.adjust");
	ly_member_load(member_id, true, &m);
	if (ly_find_keyed(member_id, "adjust", reason, ref, &prev))
	{
		entry_id = keyed_replay(member_id, "adjust", reason, ref,
								psprintf("adjust with reason \"%s\" and ref \"%s\"", reason, ref),
								"delta", 1, delta);
		ly_leave(&call);
		PG_RETURN_INT64(entry_id);
	}
	ly_begin_write(&m, at);
	if (delta > 0)
	{
		bool		has_expiry;
		TimestampTz expires_at = ly_policy_expiry(&m, at, &has_expiry);

		ly_lot_add(&m, delta, at, at, has_expiry, expires_at, false);
	}
	else
	{
		int64		available = ly_lots_usable_total(&m, at);

		if (available < -delta)
			insufficient(member_id, available, -delta);
		ly_lots_consume(&m, at, -delta, 0);
	}
	ly_entry_init(&entry, "adjust", reason, ref, at);
	entry.points = delta;
	entry_id = ly_entry_post(&m, &entry);
	end_write(&m, at);

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"member\": " INT64_FORMAT ", \"delta\": " INT64_FORMAT
					 ", \"entry\": " INT64_FORMAT ", \"reason\": ",
					 member_id, delta, entry_id);
	escape_json(&detail, reason);
	appendStringInfoString(&detail, ", \"ref\": ");
	escape_json(&detail, ref);
	appendStringInfoChar(&detail, '}');
	ly_audit(call.caller, m.program_id, "adjust", psprintf("member " INT64_FORMAT, member_id),
			 detail.data);
	ly_leave(&call);
	PG_RETURN_INT64(entry_id);
}

/* ---------------------------------------------------------------------
 * transfer_points(from_member, to_member, points, ref, at)
 * ------------------------------------------------------------------- */
Datum
ly_transfer_points(PG_FUNCTION_ARGS)
{
	int64		from_id;
	int64		to_id;
	int64		points = ly_arg_positive(fcinfo, 2, "points");
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, 3, "ref"));
	TimestampTz at = ly_arg_instant(fcinfo, 4, "at");
	LyCall		call;
	LyMember	from;
	LyMember	to;
	LyKeyedEntry prev;
	LyEntry		entry;
	int64		entry_id;
	int64		available;
	char	   *credit_source;

	ly_require_not_null(fcinfo, 0, "from_member");
	ly_require_not_null(fcinfo, 1, "to_member");
	from_id = PG_GETARG_INT64(0);
	to_id = PG_GETARG_INT64(1);
	if (from_id == to_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer points from member " INT64_FORMAT " to itself", from_id)));

	ly_enter(&call);
	/* one lock order for every session: the lower member id first */
	if (from_id < to_id)
	{
		ly_member_load(from_id, true, &from);
		ly_member_load(to_id, true, &to);
	}
	else
	{
		ly_member_load(to_id, true, &to);
		ly_member_load(from_id, true, &from);
	}
	if (from.program_id != to.program_id)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CROSS_PROGRAM),
				 errmsg("members " INT64_FORMAT " and " INT64_FORMAT " belong to different programmes",
						from_id, to_id)));
	if (ly_find_keyed(from_id, "transfer", "transfer", ref, &prev))
	{
		if (prev.counterparty != to_id)
			key_conflict(psprintf("transfer from member " INT64_FORMAT " with ref \"%s\"", from_id, ref),
						 &prev, "to_member", prev.counterparty, to_id);
		if (prev.points != -points)
			key_conflict(psprintf("transfer from member " INT64_FORMAT " with ref \"%s\"", from_id, ref),
						 &prev, "points", -prev.points, points);
		ly_leave(&call);
		PG_RETURN_INT64(prev.entry_id);
	}

	ly_begin_write(&from, at);
	ly_begin_write(&to, at);

	available = ly_lots_usable_total(&from, at);
	if (available < points)
		insufficient(from_id, available, points);
	ly_lots_consume(&from, at, points, 0);

	/* the receiver gets lots with the same expiries as the points sent */
	for (int i = 0; i < from.nlots; i++)
	{
		LyLot	   *sent = &from.lots[i];
		LyLot	   *same = NULL;

		if (sent->move >= 0)
			continue;
		for (int j = 0; j < to.nlots; j++)
			if (to.lots[j].is_new && to.lots[j].has_expiry == sent->has_expiry &&
				to.lots[j].expires_at == sent->expires_at)
				same = &to.lots[j];
		if (same)
		{
			same->points -= sent->move;
			same->remaining -= sent->move;
			same->move -= sent->move;
		}
		else
			ly_lot_add(&to, -sent->move, at, at, sent->has_expiry, sent->expires_at, false);
	}

	ly_entry_init(&entry, "transfer", "transfer", ref, at);
	entry.points = -points;
	entry.has_counterparty = true;
	entry.counterparty = to_id;
	entry_id = ly_entry_post(&from, &entry);

	credit_source = psprintf("transfer:" INT64_FORMAT, from_id);
	ly_entry_init(&entry, "transfer", credit_source, ref, at);
	entry.points = points;
	entry.has_counterparty = true;
	entry.counterparty = from_id;
	ly_entry_post(&to, &entry);

	end_write(&from, at);
	end_write(&to, at);
	ly_leave(&call);
	PG_RETURN_INT64(entry_id);
}

/* ---------------------------------------------------------------------
 * Reads: points(member, at) and balance(member, at)
 * ------------------------------------------------------------------- */
Datum
ly_points(PG_FUNCTION_ARGS)
{
	int64		member_id;
	TimestampTz at = ly_arg_instant(fcinfo, 1, "at");
	LyCall		call;
	int64		points;

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);
	ly_enter_read(&call);
	points = ly_effective_points(member_id, at);
	ly_leave(&call);
	PG_RETURN_INT64(points);
}

Datum
ly_balance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		member_id;
	TimestampTz at = ly_arg_instant(fcinfo, 1, "at");
	LyCall		call;
	LyBalance	b;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	ly_require_not_null(fcinfo, 0, "member");
	member_id = PG_GETARG_INT64(0);
	InitMaterializedSRF(fcinfo, 0);
	ly_enter_read(&call);
	ly_balance_at(member_id, at, &b);
	{
		LyMember	m;

		ly_member_load(member_id, false, &m);
		if (strcmp(ly_settings(m.program_id)->tier_basis, "rolling_12m_spend") == 0)
			b.tier_points = ly_tier_points(member_id, ly_definitions(m.program_id), at);
	}
	ly_leave(&call);
	values[0] = Int64GetDatum(b.available);
	values[1] = Int64GetDatum(b.pending);
	values[2] = Int64GetDatum(b.expiring_30d);
	values[3] = Int64GetDatum(b.lifetime_earned);
	values[4] = Int64GetDatum(b.tier_points);
	values[5] = Int64GetDatum(b.debt);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
