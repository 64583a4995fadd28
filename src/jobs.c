/*
 * jobs.c: batch jobs run by the DBA or pg_cron (run_expiry, run_tier_review,
 * expire_coupons, expire_holds), the driver they share, and their run bookkeeping: a
 * loyalty.job_run row updated after every committed batch (read live
 * through loyalty.job_runs / job_progress, which show a run whose backend no
 * longer runs it as failed) and NOTICEs.
 *
 * A job is a C procedure.  Called by CALL outside a transaction block it
 * commits after every batch, so it holds member locks for one batch at most
 * and can be killed and run again; inside a transaction block it does all
 * its work in that transaction and says so.  Each batch runs as the
 * extension's owner (ly_enter); commits happen as the caller, so an error
 * after a commit cannot leave the session with the owner's rights.
 */
#include "definitions.h"
#include "wallets.h"

#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(ly_run_expiry);
PG_FUNCTION_INFO_V1(ly_run_tier_review);
PG_FUNCTION_INFO_V1(ly_expire_coupons);
PG_FUNCTION_INFO_V1(ly_expire_holds);

typedef struct JobRun
{
	const char *job;
	int64		run_id;
	bool		atomic;
	int			batches;
	int64		items;
	int64		amount;
	TimestampTz started;
} JobRun;

/* Runs still marked running that no backend is running (they ended in an error). */
static LyPlan plan_job_reap = {
	"UPDATE loyalty.job_run r SET state = 'failed', finished_at = pg_catalog.clock_timestamp()"
	" WHERE r.state = 'running' AND NOT loyalty.job_is_running(r.run_id)",
	0, {InvalidOid}
};

static LyPlan plan_job_start = {
	"INSERT INTO loyalty.job_run (job, as_of, batch_size, single_transaction, backend_start, run_by)"
	" SELECT $1, $2, $3, $4, a.backend_start, $5 FROM pg_catalog.pg_stat_activity a"
	" WHERE a.pid = pg_catalog.pg_backend_pid() RETURNING run_id",
	5, {TEXTOID, TIMESTAMPTZOID, INT4OID, BOOLOID, NAMEOID}
};

static LyPlan plan_job_progress = {
	"UPDATE loyalty.job_run SET batches = $2, items = $3, amount = $4,"
	" updated_at = pg_catalog.clock_timestamp(),"
	" state = CASE WHEN $5 THEN 'done' ELSE 'running' END,"
	" finished_at = CASE WHEN $5 THEN pg_catalog.clock_timestamp() END"
	" WHERE run_id = $1",
	5, {INT8OID, INT4OID, INT8OID, INT8OID, BOOLOID}
};

/* Open a run: mark runs of dead backends failed, insert this one. */
static void
job_start(JobRun *run, Oid caller, TimestampTz as_of, int32 batch_size)
{
	Datum		values[5];
	NameData	run_by;

	namestrcpy(&run_by, GetUserNameFromId(caller, false));
	ly_exec(&plan_job_reap, NULL, NULL, 0);
	values[0] = CStringGetTextDatum(run->job);
	values[1] = TimestampTzGetDatum(as_of);
	values[2] = Int32GetDatum(batch_size);
	values[3] = BoolGetDatum(run->atomic);
	values[4] = NameGetDatum(&run_by);
	ly_exec(&plan_job_start, values, NULL, 1);
	run->run_id = ly_col_int64(0, 1, 0);
	run->started = GetCurrentTimestamp();
}

static void
job_record(JobRun *run, bool done)
{
	Datum		values[5] = {Int64GetDatum(run->run_id), Int32GetDatum(run->batches),
		Int64GetDatum(run->items), Int64GetDatum(run->amount), BoolGetDatum(done)};

	ly_exec(&plan_job_progress, values, NULL, 0);
}

/* Items per second since the run started, for NOTICEs. */
static double
job_rate(JobRun *run)
{
	long		secs;
	int			usecs;

	TimestampDifference(run->started, GetCurrentTimestamp(), &secs, &usecs);
	return run->items / Max(secs + usecs / 1e6, 1e-3);
}

/* Is this procedure call allowed to commit? */
static bool
call_is_atomic(FunctionCallInfo fcinfo)
{
	return !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
			 !castNode(CallContext, fcinfo->context)->atomic);
}

/*
 * One batch of a job, run inside ly_enter: it works as of `as_of` on at most
 * `batch_size` items past its cursor (in `state`), adds what it booked to
 * run->items and run->amount (counting run->batches when it booked
 * something), reports the batch in a NOTICE, and returns false when it found
 * nothing left to look at.
 */
typedef bool (*JobBatch) (JobRun *run, TimestampTz as_of, int32 batch_size, void *state);

/*
 * Drive a batch job called as CALL loyalty.<run->job>(as_of, batch_size):
 * check the arguments and the caller, open the run, then batch after batch,
 * each committed on its own (or all in the caller's transaction, said in a
 * NOTICE), recording progress in the run's row.  Returns with the SPI
 * connection finished; the caller reports the end.
 */
static void
job_drive(FunctionCallInfo fcinfo, JobRun *run, JobBatch batch, void *state)
{
	TimestampTz as_of = ly_arg_instant(fcinfo, 0, "as_of");
	int32		batch_size;
	LyCall		call;

	ly_require_not_null(fcinfo, 1, "batch_size");
	batch_size = PG_GETARG_INT32(1);
	if (batch_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive, got %d", batch_size)));
	ly_require_admin(GetUserId(), psprintf("loyalty.%s", run->job));
	ly_require_unlimited(psprintf("loyalty.%s", run->job));
	run->atomic = call_is_atomic(fcinfo);
	if (run->atomic)
		ereport(NOTICE,
				(errmsg("%s: called inside a transaction block, so every batch runs in this one transaction",
						run->job),
				 errdetail("Progress becomes visible to other sessions only when it commits."),
				 errhint("CALL it outside a transaction block to commit after each batch.")));

	if (SPI_connect_ext(run->atomic ? 0 : SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	ly_enter(&call);
	job_start(run, call.caller, as_of, batch_size);
	ly_leave(&call);
	if (!run->atomic)
		SPI_commit();

	for (;;)
	{
		bool		more;

		ly_enter(&call);
		more = batch(run, as_of, batch_size, state);
		job_record(run, !more);
		ly_leave(&call);
		if (!run->atomic)
			SPI_commit();
		if (!more)
			break;
	}
	SPI_finish();
}

/* ---------------------------------------------------------------------
 * run_expiry(as_of, batch_size)
 * ------------------------------------------------------------------- */

/*
 * The members after `after` ($3) owning the next `batch_size` expired lots,
 * in member id order: a batch then locks as few members as its lots allow
 * (lots taken in expiry order would spread one batch over many members).
 */
static LyPlan plan_expiring_members = {
	"SELECT DISTINCT member_id FROM (SELECT member_id FROM loyalty.points_lot"
	" WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $1 AND member_id > $3"
	" ORDER BY member_id LIMIT $2) s ORDER BY member_id",
	3, {TIMESTAMPTZOID, INT4OID, INT8OID}
};

/* Post one 'expire' entry taking `amount` from `lot`, dated `at`. */
static void
book_expiry(LyMember *m, LyLot *lot, int64 amount, TimestampTz at)
{
	LyEntry		entry;

	if (amount <= 0)
		return;
	ly_lot_move(m, lot, -amount);
	ly_entry_init(&entry, "expire", "expiry", psprintf(INT64_FORMAT, lot->lot_id), at);
	entry.points = -amount;
	ly_entry_post(m, &entry);
}

/*
 * Book one 'expire' entry per lot remainder expired at `as_of`, for the
 * members after *cursor owning the next `batch_size` such lots (all their
 * expired lots included), and advance *cursor.  Members are locked in id
 * order (the order every write uses), each entry dated at its lot's expiry.
 * Returns how many members it looked at: 0 when the run is complete.
 */
static uint64
expire_batch(TimestampTz as_of, int32 batch_size, int64 *cursor,
			 int64 *lots_out, int64 *points_out)
{
	uint64		nmembers = ly_exec(&plan_expiring_members,
								   (Datum[]) {TimestampTzGetDatum(as_of), Int32GetDatum(batch_size),
								   Int64GetDatum(*cursor)},
								   NULL, 0);
	int64	   *members = palloc(sizeof(int64) * Max(nmembers, 1));

	for (uint64 i = 0; i < nmembers; i++)
		members[i] = ly_col_int64(i, 1, 0);
	if (nmembers > 0)
		*cursor = members[nmembers - 1];	/* members up to here are done */
	*lots_out = 0;
	*points_out = 0;
	for (uint64 i = 0; i < nmembers; i++)
	{
		LyMember	m;
		bool		changed = false;

		ly_member_load(members[i], true, &m);
		m.defer_lot_writes = true;	/* one UPDATE of its lots, at the save */
		ly_lots_load_open(&m);
		if (m.has_entries && as_of >= m.last_entry_at)
			ly_settle_debt(&m, m.last_entry_at, as_of);
		for (int j = 0; j < m.nlots; j++)
		{
			LyLot	   *lot = &m.lots[j];
			int64		amount = lot->remaining;
			int64		late = Min(lot->late_returned, amount);
			TimestampTz late_at = lot->late_returned_at;

			if (amount <= 0 || !ly_lot_expired(lot, as_of))
				continue;
			/* what the lot held when it expired, then what came back later */
			lot->late_returned = 0;
			lot->late_returned_at = DT_NOBEGIN;
			book_expiry(&m, lot, amount - late, lot->expires_at);
			book_expiry(&m, lot, late, late_at);
			(*lots_out)++;
			*points_out += amount;
			changed = true;
		}
		if (changed || m.has_entries)
			ly_member_save(&m);
	}
	return nmembers;
}

static bool
expiry_batch(JobRun *run, TimestampTz as_of, int32 batch_size, void *state)
{
	int64		lots;
	int64		points;

	if (expire_batch(as_of, batch_size, (int64 *) state, &lots, &points) == 0)
		return false;
	if (lots > 0)
	{
		run->batches++;
		run->items += lots;
		run->amount += points;
	}
	ereport(NOTICE,
			(errmsg("run_expiry: batch %d: %lld lots, %lld points expired (total %lld lots, %.0f lots/s)",
					run->batches, (long long) lots, (long long) points,
					(long long) run->items, job_rate(run))));
	return true;
}

Datum
ly_run_expiry(PG_FUNCTION_ARGS)
{
	JobRun		run = {.job = "run_expiry"};
	int64		cursor = PG_INT64_MIN;

	job_drive(fcinfo, &run, expiry_batch, &cursor);
	ereport(NOTICE,
			(errmsg("run_expiry: done: %lld lots, %lld points expired in %d batches (run %lld)",
					(long long) run.items, (long long) run.amount, run.batches,
					(long long) run.run_id)));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * run_tier_review(as_of, batch_size)
 * ------------------------------------------------------------------- */

/* The next members after $2 in id order that hold a tier or could reach one. */
static LyPlan plan_review_members = {
	"SELECT m.member_id, m.program_id FROM loyalty.member m"
	" WHERE m.member_id > $2 AND (m.tier IS NOT NULL"
	"  OR EXISTS (SELECT 1 FROM loyalty.tier t WHERE t.program_id = m.program_id))"
	" ORDER BY m.member_id LIMIT $1",
	2, {INT4OID, INT8OID}
};

/*
 * Review the next `batch_size` members after *cursor: each is locked (in id
 * order) and re-evaluated as of `as_of`.  Returns how many it looked at;
 * *changed_out counts tier changes.
 */
static uint64
review_batch(TimestampTz as_of, int32 batch_size, int64 *cursor, int64 *changed_out)
{
	uint64		n = ly_exec(&plan_review_members,
							(Datum[]) {Int32GetDatum(batch_size), Int64GetDatum(*cursor)},
							NULL, 0);
	int64	   *members = palloc(sizeof(int64) * Max(n, 1));
	int64	   *programs = palloc(sizeof(int64) * Max(n, 1));

	for (uint64 i = 0; i < n; i++)
	{
		members[i] = ly_col_int64(i, 1, 0);
		programs[i] = ly_col_int64(i, 2, 0);
	}
	*changed_out = 0;
	for (uint64 i = 0; i < n; i++)
	{
		LyMember	m;

		ly_member_load(members[i], true, &m);
		if (ly_tier_reevaluate(members[i], programs[i], as_of, "review", true))
			(*changed_out)++;
		*cursor = members[i];
	}
	return n;
}

static bool
tier_review_batch(JobRun *run, TimestampTz as_of, int32 batch_size, void *state)
{
	int64		changed;
	uint64		members = review_batch(as_of, batch_size, (int64 *) state, &changed);

	if (members == 0)
		return false;
	run->batches++;
	run->items += changed;
	run->amount += members;		/* members reviewed */
	ereport(NOTICE,
			(errmsg("run_tier_review: batch %d: %lld members reviewed, %lld tier changes (total %lld members, %lld changes)",
					run->batches, (long long) members, (long long) changed,
					(long long) run->amount, (long long) run->items)));
	return true;
}

Datum
ly_run_tier_review(PG_FUNCTION_ARGS)
{
	JobRun		run = {.job = "run_tier_review"};
	int64		cursor = PG_INT64_MIN;

	job_drive(fcinfo, &run, tier_review_batch, &cursor);
	ereport(NOTICE,
			(errmsg("run_tier_review: done: %lld members reviewed, %lld tier changes in %d batches (run %lld)",
					(long long) run.amount, (long long) run.items, run.batches, (long long) run.run_id)));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * expire_coupons(as_of, batch_size)
 * ------------------------------------------------------------------- */

/*
 * Book the next batch of unused coupons whose window ended by $1 as
 * expired, as of the end of their window.  A coupon a redemption holds
 * locked is skipped (SKIP LOCKED) and found by the next run.
 */
static LyPlan plan_expire_coupons = {
	"WITH due AS (SELECT code FROM loyalty.coupon"
	"  WHERE state = ANY (ARRAY['issued', 'available', 'locked']) AND valid_until <= $1"
	"  ORDER BY valid_until LIMIT $2 FOR UPDATE SKIP LOCKED)"
	" UPDATE loyalty.coupon c SET state = 'expired', closed_at = c.valid_until"
	" FROM due WHERE c.code OPERATOR(loyalty.=) due.code",
	2, {TIMESTAMPTZOID, INT4OID}
};

static bool
coupon_expiry_batch(JobRun *run, TimestampTz as_of, int32 batch_size, void *state)
{
	uint64		expired = ly_exec(&plan_expire_coupons,
								  (Datum[]) {TimestampTzGetDatum(as_of), Int32GetDatum(batch_size)},
								  NULL, 0);

	(void) state;
	if (expired == 0)
		return false;
	run->batches++;
	run->items += expired;
	ereport(NOTICE,
			(errmsg("expire_coupons: batch %d: %lld coupons expired (total %lld, %.0f coupons/s)",
					run->batches, (long long) expired, (long long) run->items, job_rate(run))));
	return true;
}

Datum
ly_expire_coupons(PG_FUNCTION_ARGS)
{
	JobRun		run = {.job = "expire_coupons"};

	job_drive(fcinfo, &run, coupon_expiry_batch, NULL);
	ereport(NOTICE,
			(errmsg("expire_coupons: done: %lld coupons expired in %d batches (run %lld)",
					(long long) run.items, run.batches, (long long) run.run_id)));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * expire_holds(as_of, batch_size)
 * ------------------------------------------------------------------- */

/*
 * Book the next batch of pending wallet transfers whose pending_timeout
 * passed by as_of: voided as of their timeout, their holds released.  The
 * balances were right without it (wallet_balance does not count a hold past
 * its timeout); this books it, as run_expiry books expired points.
 */
static bool
hold_expiry_batch(JobRun *run, TimestampTz as_of, int32 batch_size, void *state)
{
	int64		amount;
	int64		voided = ly_wallet_expire_holds(as_of, batch_size, &amount);

	(void) state;
	if (voided < 0)
		return false;
	run->batches++;
	run->items += voided;
	run->amount += amount;
	ereport(NOTICE,
			(errmsg("expire_holds: batch %d: %lld holds voided (total %lld, %.0f holds/s)",
					run->batches, (long long) voided, (long long) run->items, job_rate(run))));
	return true;
}

Datum
ly_expire_holds(PG_FUNCTION_ARGS)
{
	JobRun		run = {.job = "expire_holds"};

	job_drive(fcinfo, &run, hold_expiry_batch, NULL);
	ereport(NOTICE,
			(errmsg("expire_holds: done: %lld holds voided, amount %lld, in %d batches (run %lld)",
					(long long) run.items, (long long) run.amount, run.batches, (long long) run.run_id)));
	PG_RETURN_VOID();
}
