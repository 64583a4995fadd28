/*
 * wallets.c: the marketing wallets engine (SPEC section 7): transfers by
 * double entry, pending holds, posting and voiding, balances at an instant,
 * wallet debt, the expire_holds job's booking, and the escrow parts that
 * keep a programme's budget wallet from being one hot row.
 *
 * Balances live in loyalty.wallet_part.  The common posted transfer reads
 * its two wallets and locks and updates their balance rows by direct table
 * access (transfer_direct), after one statement that takes the idempotency
 * key and writes the entries (a replay stops there, touching no balance
 * row); whatever it does not settle goes the slow way (transfer_api), with
 * the funds checked in each UPDATE's WHERE clause.  A
 * debit that finds its part short locks the part, books holds that timed
 * out, refills from the wallet's reserve (part 0, locked after the part:
 * always in that order), then from sibling parts that can be locked without
 * waiting (SKIP LOCKED: a wait there could close a cycle).  A transaction
 * keeps using the part it touched first for each wallet, so one transaction
 * holds one escrow part per wallet and two bulk loads cannot deadlock on
 * parts.
 *
 * Lock order of a transfer: the two wallets' parts by ascending wallet id
 * (A->B racing B->A cannot deadlock), then a reserve if a refill is needed.
 * Moves made by the order trigger (cashback, its reversal, returns, debt
 * repayments) run under a member lock, so they never queue on a programme
 * wallet's part behind another transaction without a bound (escrow_wait_ms).
 */
#include "wallets.h"
#include "ledger.h"
#include "definitions.h"
#include "direct.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "common/int.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(ly_transfer);
PG_FUNCTION_INFO_V1(ly_fund_wallet);
PG_FUNCTION_INFO_V1(ly_post_transfer);
PG_FUNCTION_INFO_V1(ly_void_transfer);
PG_FUNCTION_INFO_V1(ly_wallet_balance);

/* ---------------------------------------------------------------------
 * Wallet definitions, cached per backend
 *
 * A wallet's rules change only through set_wallet_rules, which bumps its
 * programme's definitions_version; the settings cache (settings.c) follows
 * that version, so a cached wallet is reloaded when it moved.
 * ------------------------------------------------------------------- */

static HTAB *wallet_cache = NULL;

static LyWalletRole
role_from_name(const char *name)
{
	if (strcmp(name, "member") == 0)
		return LY_WALLET_MEMBER;
	if (strcmp(name, "external") == 0)
		return LY_WALLET_EXTERNAL;
	if (strcmp(name, "revenue") == 0)
		return LY_WALLET_REVENUE;
	return LY_WALLET_PROGRAM;
}

static void
unknown_wallet(int64 wallet_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_UNKNOWN_WALLET),
			 errmsg("wallet " INT64_FORMAT " does not exist", wallet_id),
			 errhint("Open it with loyalty.open_wallet().")));
}

static bool wallet_read_direct(int64 wallet_id, LyWallet *w);

/* Drop every cached wallet (settings.c calls it whenever programme settings are invalidated). */
void
ly_wallets_invalidate(void)
{
	if (wallet_cache != NULL)
	{
		hash_destroy(wallet_cache);
		wallet_cache = NULL;
	}
}

/* The wallet's definition, or LY024.  Valid until the next call: copy it. */
const LyWallet *
ly_wallet_get(int64 wallet_id)
{
	LyWallet   *w;
	LyWallet	loaded;
	bool		found;

	if (wallet_cache != NULL &&
		(w = hash_search(wallet_cache, &wallet_id, HASH_FIND, NULL)) != NULL &&
		ly_settings(w->program_id)->definitions_version == w->version)
	{
		ly_require_program(w->program_id);
		return w;
	}

	if (!wallet_read_direct(wallet_id, &loaded))
		unknown_wallet(wallet_id);
	loaded.version = ly_settings(loaded.program_id)->definitions_version;

	/*
	 * Programme wallets are few and hot: cached.  Members' wallets are as
	 * many as the members and each is used now and then: not kept, so that
	 * a backend's cache stays small.
	 */
	if (loaded.role == LY_WALLET_MEMBER)
	{
		static LyWallet scratch;

		scratch = loaded;
		return &scratch;
	}
	if (wallet_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(LyWallet);
		wallet_cache = hash_create("loyalty wallets", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	w = hash_search(wallet_cache, &wallet_id, HASH_ENTER, &found);
	*w = loaded;
	return w;
}

static LyPlan plan_wallet_by_name = {
	"SELECT wallet_id FROM loyalty.wallet WHERE program_id = $1 AND name = $2 AND role = 'program'",
	2, {INT8OID, TEXTOID}
};

/* The id of the programme wallet (a budget) with this name; 0 if none. */
int64
ly_wallet_by_name(int64 program_id, const char *name)
{
	Datum		values[2] = {Int64GetDatum(program_id), CStringGetTextDatum(name)};

	if (ly_exec(&plan_wallet_by_name, values, NULL, 1) != 1)
		return 0;
	return ly_col_int64(0, 1, 0);
}

static LyPlan plan_member_wallet = {
	"SELECT wallet_id FROM loyalty.wallet WHERE owner_member = $1 AND currency = $2"
	" ORDER BY wallet_id LIMIT 1",
	2, {INT8OID, TEXTOID}
};

static LyPlan plan_member_wallet_open = {
	"SELECT loyalty._wallet_create($1, 'member:' || $2 || ':' || $3, $3, $2, 'member', '{}')",
	3, {INT8OID, INT8OID, TEXTOID}
};

/* The member's first wallet in `currency`, opened if it has none (cashback). */
int64
ly_member_wallet(int64 program_id, int64 member_id, const char *currency)
{
	Datum		values[3] = {Int64GetDatum(member_id), CStringGetTextDatum(currency)};

	if (ly_exec(&plan_member_wallet, values, NULL, 1) == 1)
		return ly_col_int64(0, 1, 0);
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = CStringGetTextDatum(currency);
	ly_exec(&plan_member_wallet_open, values, NULL, 1);
	return ly_col_int64(0, 1, 0);
}

/* ---------------------------------------------------------------------
 * Which part a transaction uses
 * ------------------------------------------------------------------- */

#define STICKY_SLOTS 16

static struct
{
	LocalTransactionId lxid;
	int			n;
	int64		wallet[STICKY_SLOTS];
	int32		part[STICKY_SLOTS];
}			sticky;

static LocalTransactionId
current_lxid(void)
{
#if PG_VERSION_NUM >= 170000
	return MyProc->vxid.lxid;
#else
	return MyProc->lxid;
#endif
}

/*
 * The part of `w` this transaction debits and credits: the reserve of an
 * unsplit wallet; else the escrow part it used first in this transaction,
 * or one picked from `hint` (a member id) or the backend.
 */
static int32
part_for(const LyWallet *w, int64 hint)
{
	int32		part;

	if (w->escrow_parts == 0)
		return 0;
	if (sticky.lxid != current_lxid())
	{
		sticky.lxid = current_lxid();
		sticky.n = 0;
	}
	for (int i = 0; i < sticky.n; i++)
		if (sticky.wallet[i] == w->wallet_id && sticky.part[i] <= w->escrow_parts)
			return sticky.part[i];
	part = 1 + (int32) ((uint64) (hint != 0 ? hint : MyProcPid) % (uint64) w->escrow_parts);
	if (sticky.n < STICKY_SLOTS)
	{
		sticky.wallet[sticky.n] = w->wallet_id;
		sticky.part[sticky.n] = part;
		sticky.n++;
	}
	return part;
}

/* ---------------------------------------------------------------------
 * Parts
 * ------------------------------------------------------------------- */

/*
 * Take `amount` now and hold `hold` (one of them is 0) from a part when the
 * funds and the day's limit allow it; no row: they do not.
 */
static LyPlan plan_part_debit = {
	"UPDATE loyalty.wallet_part SET posted = posted - $3, pending_debits = pending_debits + $4,"
	" day = CASE WHEN $7 > 0 AND (day IS NULL OR day < $5) THEN $5 ELSE day END,"
	" day_debited = CASE WHEN $7 = 0 THEN day_debited WHEN day IS NULL OR day < $5 THEN $6"
	"  ELSE day_debited + $6 END"
	" WHERE wallet_id = $1 AND part = $2 AND ($8 OR posted - pending_debits >= $3 + $4)"
	" AND ($7 = 0 OR CASE WHEN day IS NULL OR day < $5 THEN 0 ELSE day_debited END + $6 <= $7)"
	" AND posted >= -9223372036854775807 + $3"
	" RETURNING posted",
	8, {INT8OID, INT4OID, INT8OID, INT8OID, DATEOID, INT8OID, INT8OID, BOOLOID}
};

static LyPlan plan_part_credit = {
	"UPDATE loyalty.wallet_part SET posted = posted + $3, pending_credits = pending_credits + $4"
	" WHERE wallet_id = $1 AND part = $2 AND posted <= 9223372036854775807 - $3"
	" AND pending_credits <= 9223372036854775807 - $4 - GREATEST(posted, 0) RETURNING debt",
	4, {INT8OID, INT4OID, INT8OID, INT8OID}
};

static LyPlan plan_part_lock = {
	"SELECT posted - pending_debits, day, day_debited, pending_debits FROM loyalty.wallet_part"
	" WHERE wallet_id = $1 AND part = $2 FOR UPDATE",
	2, {INT8OID, INT4OID}
};

static LyPlan plan_part_try_lock = {
	"SELECT posted - pending_debits FROM loyalty.wallet_part"
	" WHERE wallet_id = $1 AND part = $2 FOR UPDATE SKIP LOCKED",
	2, {INT8OID, INT4OID}
};

pg_noreturn static void part_missing(const LyWallet *w, int32 part);

/* Move money between two parts of one wallet (both locked). */
static LyPlan plan_part_move = {
	"UPDATE loyalty.wallet_part SET posted = posted + CASE WHEN part = $3 THEN $4 ELSE -$4 END"
	" WHERE wallet_id = $1 AND part IN ($2, $3)",
	4, {INT8OID, INT4OID, INT4OID, INT8OID}
};

static void
part_move(const LyWallet *w, int32 from, int32 to, int64 amount)
{
	Datum		values[4] = {Int64GetDatum(w->wallet_id), Int32GetDatum(from), Int32GetDatum(to),
	Int64GetDatum(amount)};

	if (ly_exec(&plan_part_move, values, NULL, 0) != 2)
		part_missing(w, from);
}

/* Holds on this part whose pending_timeout has passed: void them (lazily booked). */
static LyPlan plan_expired_holds = {
	"SELECT transfer_id FROM loyalty.wallet_transfer"
	" WHERE debit_wallet = $1 AND was_pending AND state = 'pending' AND debit_part = $2"
	" AND pending_until <= $3 ORDER BY transfer_id",
	3, {INT8OID, INT4OID, TIMESTAMPTZOID}
};

/* Who closes a pending transfer. */
typedef enum CloseBy
{
	CLOSE_BY_API,				/* post_transfer, void_transfer: checks caller and timeout */
	CLOSE_BY_DEBIT,				/* a debit's slow path, its debit part locked: waits for nothing */
	CLOSE_BY_JOB				/* expire_holds: the transfer row locked, then both parts in order */
} CloseBy;

static bool transfer_close(int64 transfer_id, bool post, bool has_amount, int64 amount,
						   TimestampTz at, Oid caller, CloseBy by, int64 *posted);

static int
void_expired_holds(const LyWallet *w, int32 part, TimestampTz at)
{
	Datum		values[3] = {Int64GetDatum(w->wallet_id), Int32GetDatum(part), TimestampTzGetDatum(at)};
	uint64		n = ly_exec(&plan_expired_holds, values, NULL, 0);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	int			voided = 0;

	for (uint64 i = 0; i < n; i++)
		ids[i] = ly_col_int64(i, 1, 0);

	for (uint64 i = 0; i < n; i++)
		if (transfer_close(ids[i], false, false, 0, at, InvalidOid, CLOSE_BY_DEBIT, NULL))
			voided++;
	return voided;
}

static void
part_missing(const LyWallet *w, int32 part)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("wallet " INT64_FORMAT " (\"%s\") changed its escrow parts during this transaction (part %d is gone)",
					w->wallet_id, w->name, part),
			 errhint("Retry the transaction.")));
}

static void
balance_overflow(const LyWallet *w, int64 amount)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("wallet " INT64_FORMAT " (\"%s\") cannot %s " INT64_FORMAT " (minor units of %s): its balance would overflow bigint",
					w->wallet_id, w->name, amount < 0 ? "pay" : "receive",
					amount < 0 ? -amount : amount, w->currency)));
}

/*
 * Lock a part of `w` unless another transaction holds it; false if it does
 * (or the part is gone).  *available: its posted less pending debits.
 */
static bool
part_try_lock(const LyWallet *w, int32 part, int64 *available)
{
	Datum		values[2] = {Int64GetDatum(w->wallet_id), Int32GetDatum(part)};

	if (ly_exec(&plan_part_try_lock, values, NULL, 1) != 1)
		return false;
	*available = ly_col_int64(0, 1, 0);
	return true;
}

typedef bool (*PartVisit) (const LyWallet *w, int32 part, int64 available, void *arg);
static bool lock_parts_bounded(const LyWallet *w, const int32 *parts, int n, PartVisit visit, void *arg);
static bool lock_visit(const LyWallet *w, int32 part, int64 available, void *arg);

/*
 * The part an internal move (the order trigger's cashback) uses: like
 * part_for(), but an escrow part another transaction holds is passed over
 * for the next free one, so a trigger that already holds a member lock
 * never queues behind another order's transaction on the budget (which
 * could close a cycle through member locks).  Only when every part is
 * taken does it wait for its own, escrow_wait_ms() at most; -1: it gave up.
 */
static int32
part_for_nowait(const LyWallet *w, int64 hint)
{
	int32		first;
	int64		ignored;

	if (w->escrow_parts == 0)
	{
		bool		locked = false;
		int32		reserve = 0;

		/* a member's wallet: its member is locked already; a programme's: wait, bounded */
		if (w->role == LY_WALLET_MEMBER ||
			(part_try_lock(w, 0, &ignored) ||
			 (lock_parts_bounded(w, &reserve, 1, lock_visit, &locked) && locked)))
			return 0;
		return -1;
	}
	if (sticky.lxid == current_lxid())
		for (int i = 0; i < sticky.n; i++)
			if (sticky.wallet[i] == w->wallet_id && sticky.part[i] <= w->escrow_parts)
				return sticky.part[i];
	first = part_for(w, hint);	/* records it as sticky */
	for (int32 i = 0; i < w->escrow_parts; i++)
	{
		int32		part = 1 + (first - 1 + i) % w->escrow_parts;

		if (part_try_lock(w, part, &ignored))
		{
			for (int j = 0; j < sticky.n; j++)
				if (sticky.wallet[j] == w->wallet_id)
					sticky.part[j] = part;
			return part;
		}
	}
	/* every part is taken: wait for ours, bounded */
	{
		bool		locked = false;

		if (lock_parts_bounded(w, &first, 1, lock_visit, &locked) && locked)
			return first;
	}
	return -1;
}

static LyPlan plan_wallet_total = {
	"SELECT COALESCE(sum(posted - pending_debits), 0)::int8 FROM loyalty.wallet_part WHERE wallet_id = $1",
	1, {INT8OID}
};

/*
 * How long, in all, the order trigger's cashback waits for parts of a
 * programme wallet that other transactions hold: 500 ms, and always below
 * deadlock_timeout, so that a wait that would close a cycle (their order
 * waiting for a member this transaction has locked) gives up before the
 * deadlock detector fails someone's write.
 */
static int
escrow_wait_ms(void)
{
	return Max(Min(500, DeadlockTimeout / 2), 1);
}

/*
 * Lock parts of `w` waiting at most until `deadline` in all: each part in
 * `parts` (n of them) in turn; `visit` gets each one locked with its
 * available money and says whether to go on.  Runs in a subtransaction:
 * when a wait times out, what was done in it is undone and false returned.
 */
static bool
lock_parts_bounded(const LyWallet *w, const int32 *parts, int n, PartVisit visit, void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), escrow_wait_ms());

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		int			nest = NewGUCNestLevel();

		for (int i = 0; i < n; i++)
		{
			Datum		lock_values[2] = {Int64GetDatum(w->wallet_id), Int32GetDatum(parts[i])};
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

			if (left <= 0)
				ereport(ERROR, (errcode(ERRCODE_LOCK_NOT_AVAILABLE), errmsg("escrow wait over")));
			(void) set_config_option("lock_timeout", psprintf("%ld", left), PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
			if (ly_exec(&plan_part_lock, lock_values, NULL, 1) != 1)
				continue;
			if (!visit(w, parts[i], ly_col_int64(0, 1, 0), arg))
				break;
		}
		AtEOXact_GUC(true, nest);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		return false;
	}
	PG_END_TRY();
	return true;
}

typedef struct RefillState
{
	int32		part;			/* the part being refilled */
	int64		need;
	int64		gained;
} RefillState;

static bool
refill_visit(const LyWallet *w, int32 other, int64 available, void *arg)
{
	RefillState *st = (RefillState *) arg;
	int64		spare = Min(available, st->need);

	if (spare > 0)
	{
		part_move(w, other, st->part, spare);
		st->gained += spare;
		st->need -= spare;
	}
	return st->need > 0;
}

/*
 * The internal path's last resort when the money sits in parts that other
 * transactions hold: wait for the reserve, then the siblings, within
 * escrow_wait_ms() in all.  False: it timed out (nothing moved) or the
 * money was gone when they let go (what moved stays in this part: it is
 * still this wallet's).
 */
static bool
refill_waiting(const LyWallet *w, int32 part, int64 *need, int64 *have)
{
	int32	   *order = palloc(sizeof(int32) * (w->escrow_parts + 1));
	int			n = 0;
	RefillState st = {part, *need, 0};

	order[n++] = 0;
	for (int32 i = 1; i < w->escrow_parts; i++)
		order[n++] = 1 + (part - 1 + i) % w->escrow_parts;
	if (!lock_parts_bounded(w, order, n, refill_visit, &st))
		return false;
	*have += st.gained;
	*need = st.need;
	return st.need <= 0;
}

static bool
lock_visit(const LyWallet *w, int32 part, int64 available, void *arg)
{
	*(bool *) arg = true;
	return false;
}

/*
 * Debit `amount` (or hold it, for a pending transfer) from part `part` of
 * `w`.  The fast path is one UPDATE; when it finds the part short, lock it,
 * book timed-out holds, refill it (escrow parts: from the reserve, which
 * `nowait` does not wait for, then from siblings nobody holds) and try once
 * more.  LY_DEBIT_BUSY: short, though the wallet's parts together would
 * cover it (the rest is held by transactions in progress).
 */
static LyDebitResult
part_debit(const LyWallet *w, int32 part, int64 amount, bool hold, TimestampTz at, bool nowait,
		   int64 *available)
{
	Datum		values[8];
	DateADT		day = 0;
	int64		need;
	int64		have;

	if (w->daily_debit_limit > 0)
		day = ly_local_date(ly_settings(w->program_id)->timezone, at);
	values[0] = Int64GetDatum(w->wallet_id);
	values[1] = Int32GetDatum(part);
	values[2] = Int64GetDatum(hold ? 0 : amount);
	values[3] = Int64GetDatum(hold ? amount : 0);
	values[4] = DateADTGetDatum(day);
	values[5] = Int64GetDatum(amount);
	values[6] = Int64GetDatum(w->daily_debit_limit);
	values[7] = BoolGetDatum(w->allow_overdraft);
	if (ly_exec(&plan_part_debit, values, NULL, 0) == 1)
		return LY_DEBIT_DONE;

	/* slow path: lock the part and see why */
	if (ly_exec(&plan_part_lock, values, NULL, 1) != 1)
		part_missing(w, part);
	have = ly_col_int64(0, 1, 0);
	if (w->daily_debit_limit > 0)
	{
		bool		isnull;
		Datum		counted_day = ly_col_datum(0, 2, &isnull);
		/* a debit dated before the latest counted day counts against that day */
		int64		today = (!isnull && DatumGetDateADT(counted_day) >= day) ? ly_col_int64(0, 3, 0) : 0;

		if (amount > w->daily_debit_limit - today)
		{
			*available = w->daily_debit_limit - today;
			return LY_DEBIT_DAILY_LIMIT;
		}
	}
	if (ly_col_int64(0, 4, 0) > 0 && void_expired_holds(w, part, at) > 0)
	{
		if (ly_exec(&plan_part_lock, values, NULL, 1) != 1)
			part_missing(w, part);
		have = ly_col_int64(0, 1, 0);
	}
	need = amount - have;
	if (need > 0 && w->escrow_parts > 0)
	{
		int64		reserve;
		bool		locked;

		/* the reserve: its fair share to this part, at least what is missing */
		if (nowait)
			locked = part_try_lock(w, 0, &reserve);
		else
		{
			Datum		lock_values[2] = {Int64GetDatum(w->wallet_id), Int32GetDatum(0)};

			locked = ly_exec(&plan_part_lock, lock_values, NULL, 1) == 1;
			reserve = locked ? ly_col_int64(0, 1, 0) : 0;
		}
		if (locked && reserve > 0)
		{
			int64		take = Min(reserve, Max(need, reserve / (w->escrow_parts + 1)));

			part_move(w, 0, part, take);
			have += take;
			need -= take;
		}
		/* then siblings that nobody holds right now */
		for (int32 i = 1; need > 0 && i < w->escrow_parts; i++)
		{
			int32		sibling = 1 + (part - 1 + i) % w->escrow_parts;
			int64		spare;

			if (!part_try_lock(w, sibling, &spare) || spare <= 0)
				continue;
			spare = Min(spare, need);
			part_move(w, sibling, part, spare);
			have += spare;
			need -= spare;
		}
	}
	if (need > 0)
	{
		Datum		total_values[1] = {Int64GetDatum(w->wallet_id)};

		if (w->escrow_parts == 0 || ly_exec(&plan_wallet_total, total_values, NULL, 1) != 1 ||
			ly_col_int64(0, 1, 0) < amount)
		{
			*available = have;
			return LY_DEBIT_SHORT;
		}
		/* the money is there, held by transactions in progress */
		if (!nowait || !refill_waiting(w, part, &need, &have))
		{
			*available = have;
			/* those that held it may have spent it meanwhile */
			if (nowait && ly_exec(&plan_wallet_total, total_values, NULL, 1) == 1 &&
				ly_col_int64(0, 1, 0) < amount)
				return LY_DEBIT_SHORT;
			return LY_DEBIT_BUSY;
		}
	}
	*available = have;
	if (ly_exec(&plan_part_debit, values, NULL, 0) != 1)
		balance_overflow(w, -amount);
	return LY_DEBIT_DONE;
}

/* Credit (or, pending, announce) `amount` to a part; returns the wallet's debt. */
static int64
part_credit(const LyWallet *w, int32 part, int64 amount, bool pending)
{
	Datum		values[4] = {Int64GetDatum(w->wallet_id), Int32GetDatum(part),
		Int64GetDatum(pending ? 0 : amount), Int64GetDatum(pending ? amount : 0)};

	if (ly_exec(&plan_part_credit, values, NULL, 1) != 1)
	{
		Datum		lock_values[2] = {Int64GetDatum(w->wallet_id), Int32GetDatum(part)};

		if (ly_exec(&plan_part_lock, lock_values, NULL, 1) != 1)
			part_missing(w, part);
		balance_overflow(w, amount);
	}
	return ly_col_int64(0, 1, 0);
}

static void
raise_short(const LyWallet *w, LyDebitResult result, int64 amount, int64 available)
{
	if (result == LY_DEBIT_DAILY_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_LY_DAILY_LIMIT),
				 errmsg("wallet " INT64_FORMAT " (\"%s\") would exceed its daily debit limit of " INT64_FORMAT,
						w->wallet_id, w->name, w->daily_debit_limit),
				 errdetail("It may still debit " INT64_FORMAT " today; this transfer asks " INT64_FORMAT " (minor units of %s).",
						   Max(available, 0), amount, w->currency),
				 errhint("Days are the programme's time zone days.")));
	ereport(ERROR,
			(errcode(ERRCODE_LY_INSUFFICIENT_FUNDS),
			 errmsg("insufficient funds: wallet " INT64_FORMAT " (\"%s\") has " INT64_FORMAT " available, "
					INT64_FORMAT " requested (minor units of %s)",
					w->wallet_id, w->name, Max(available, 0), amount, w->currency),
			 result == LY_DEBIT_BUSY ?
			 errdetail("The wallet is split into %d escrow parts; the rest of its money is held by transactions in progress.",
					   w->escrow_parts) : 0,
			 result == LY_DEBIT_BUSY ? errhint("Retry when they have committed.") : 0));
}

/* ---------------------------------------------------------------------
 * Entries, transfers, debt
 * ------------------------------------------------------------------- */

static LyPlan plan_entries = {
	"INSERT INTO loyalty.wallet_entry (wallet_id, at, transfer_id, part, amount)"
	" VALUES ($1, $5, $6, $3, -$7), ($2, $5, $6, $4, $7)",
	7, {INT8OID, INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID, INT8OID}
};

static void
entries_post(const LyWallet *debit, int32 debit_part, const LyWallet *credit, int32 credit_part,
			 int64 transfer_id, int64 amount, TimestampTz at)
{
	Datum		values[7] = {Int64GetDatum(debit->wallet_id), Int64GetDatum(credit->wallet_id),
		Int32GetDatum(debit_part), Int32GetDatum(credit_part), TimestampTzGetDatum(at),
	Int64GetDatum(transfer_id), Int64GetDatum(amount)};

	ly_exec(&plan_entries, values, NULL, 0);
}

#define TRANSFER_INSERT_COLUMNS \
	"INSERT INTO loyalty.wallet_transfer (program_id, ref, kind, debit_wallet, credit_wallet," \
	" debit_part, credit_part, amount, state, was_pending, pending_until, posted_amount, at)" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN 'pending' ELSE 'posted' END, $9, $10," \
	" CASE WHEN $9 THEN NULL ELSE $8 END, $11)"
#define TRANSFER_INSERT_TYPES \
	{INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT4OID, INT4OID, INT8OID, BOOLOID, \
	TIMESTAMPTZOID, TIMESTAMPTZOID}

static LyPlan plan_transfer_insert = {
	TRANSFER_INSERT_COLUMNS " RETURNING transfer_id", 11, TRANSFER_INSERT_TYPES
};

typedef struct TransferRequest
{
	const LyWallet *debit;
	const LyWallet *credit;
	int32		debit_part;
	int32		credit_part;
	int64		amount;
	const char *ref;
	const char *kind;
	bool		pending;
	bool		has_until;
	TimestampTz pending_until;
	TimestampTz at;
} TransferRequest;

/* The 11 parameters of TRANSFER_INSERT_COLUMNS for `r` (its wallets and parts chosen). */
static void
transfer_row_values(const TransferRequest *r, Datum *values, char *nulls)
{
	memset(nulls, ' ', 11);
	values[0] = Int64GetDatum(r->debit->program_id);
	values[1] = CStringGetTextDatum(r->ref);
	values[2] = CStringGetTextDatum(r->kind);
	values[3] = Int64GetDatum(r->debit->wallet_id);
	values[4] = Int64GetDatum(r->credit->wallet_id);
	values[5] = Int32GetDatum(r->debit_part);
	values[6] = Int32GetDatum(r->credit_part);
	values[7] = Int64GetDatum(r->amount);
	values[8] = BoolGetDatum(r->pending);
	values[9] = TimestampTzGetDatum(r->pending_until);
	nulls[9] = r->has_until ? ' ' : 'n';
	values[10] = TimestampTzGetDatum(r->at);
}

/* Insert the transfer row of an internal move. */
static int64
transfer_insert(const TransferRequest *r)
{
	Datum		values[11];
	char		nulls[11];

	transfer_row_values(r, values, nulls);
	ly_exec(&plan_transfer_insert, values, nulls, 1);
	return ly_col_int64(0, 1, 0);
}

static void settle_debt(const LyWallet *w, int64 credit_transfer, TimestampTz at);

/*
 * Move money inside the extension: debit first (so a short budget writes
 * nothing), then the transfer, the credit and the entries.
 */
int64
ly_wallet_move(const LyWallet *debit, const LyWallet *credit, int64 amount, const char *ref,
			   const char *kind, int64 hint, TimestampTz at, LyDebitResult *result)
{
	TransferRequest r;
	int64		available;
	int64		transfer_id;

	if (debit->wallet_id == credit->wallet_id || debit->program_id != credit->program_id ||
		strcmp(debit->currency, credit->currency) != 0)
		elog(ERROR, "cannot move money from wallet " INT64_FORMAT " to wallet " INT64_FORMAT,
			 debit->wallet_id, credit->wallet_id);
	memset(&r, 0, sizeof(r));
	r.debit = debit;
	r.credit = credit;
	r.debit_part = part_for_nowait(debit, hint);
	r.credit_part = part_for_nowait(credit, hint);
	r.amount = amount;
	r.ref = ref;
	r.kind = kind;
	r.at = at;
	if (r.debit_part < 0 || r.credit_part < 0)
	{
		*result = LY_DEBIT_BUSY;
		return 0;
	}
	*result = part_debit(debit, r.debit_part, amount, false, at, true, &available);
	if (*result != LY_DEBIT_DONE)
		return 0;
	transfer_id = transfer_insert(&r);
	if (part_credit(credit, r.credit_part, amount, false) > 0)
	{
		entries_post(debit, r.debit_part, credit, r.credit_part, transfer_id, amount, at);
		settle_debt(credit, transfer_id, at);
	}
	else
		entries_post(debit, r.debit_part, credit, r.credit_part, transfer_id, amount, at);
	return transfer_id;
}

/*
 * Lock an unsplit wallet (a member's) and say what it may pay now, after
 * booking its holds that timed out by `at`.
 */
int64
ly_wallet_lock_available(const LyWallet *w, TimestampTz at)
{
	Datum		values[2] = {Int64GetDatum(w->wallet_id), Int32GetDatum(0)};

	if (w->escrow_parts > 0)
		elog(ERROR, "ly_wallet_lock_available: wallet " INT64_FORMAT " is split", w->wallet_id);
	if (ly_exec(&plan_part_lock, values, NULL, 1) != 1)
		unknown_wallet(w->wallet_id);
	if (ly_col_int64(0, 4, 0) > 0 && void_expired_holds(w, 0, at) > 0 &&
		ly_exec(&plan_part_lock, values, NULL, 1) != 1)
		unknown_wallet(w->wallet_id);
	return ly_col_int64(0, 1, 0);
}

static LyPlan plan_debt_add = {
	"WITH d AS (INSERT INTO loyalty.wallet_debt (wallet_id, creditor, amount, since)"
	"  VALUES ($1, $2, $3, $4) ON CONFLICT (wallet_id, creditor)"
	"  DO UPDATE SET amount = wallet_debt.amount + EXCLUDED.amount)"
	" UPDATE loyalty.wallet_part SET debt = debt + $3 WHERE wallet_id = $1 AND part = 0",
	4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}
};

/* Record that member wallet `w` owes `creditor` `amount` (its part 0 is locked). */
void
ly_wallet_add_debt(const LyWallet *w, const LyWallet *creditor, int64 amount, TimestampTz at)
{
	Datum		values[4] = {Int64GetDatum(w->wallet_id), Int64GetDatum(creditor->wallet_id),
	Int64GetDatum(amount), TimestampTzGetDatum(at)};

	ly_exec(&plan_debt_add, values, NULL, 0);
}

static LyPlan plan_debts = {
	"SELECT creditor, amount FROM loyalty.wallet_debt WHERE wallet_id = $1 AND amount > 0"
	" ORDER BY since, creditor",
	1, {INT8OID}
};

static LyPlan plan_debt_paid = {
	"WITH d AS (UPDATE loyalty.wallet_debt SET amount = amount - $3"
	"  WHERE wallet_id = $1 AND creditor = $2 AND amount > $3),"
	" z AS (DELETE FROM loyalty.wallet_debt WHERE wallet_id = $1 AND creditor = $2 AND amount = $3)"
	" UPDATE loyalty.wallet_part SET debt = debt - $3 WHERE wallet_id = $1 AND part = 0",
	3, {INT8OID, INT8OID, INT8OID}
};

/*
 * A credit reached a wallet in debt: pay its creditors first, oldest debt
 * first, out of what it now has available.
 */
static void
settle_debt(const LyWallet *w, int64 credit_transfer, TimestampTz at)
{
	Datum		values[3] = {Int64GetDatum(w->wallet_id)};
	uint64		n = ly_exec(&plan_debts, values, NULL, 0);
	int64	   *creditors = palloc(sizeof(int64) * Max(n, 1));
	int64	   *owed = palloc(sizeof(int64) * Max(n, 1));
	LyWallet	self = *w;

	for (uint64 i = 0; i < n; i++)
	{
		creditors[i] = ly_col_int64(i, 1, 0);
		owed[i] = ly_col_int64(i, 2, 0);
	}
	for (uint64 i = 0; i < n; i++)
	{
		int64		pay = Min(owed[i], ly_wallet_lock_available(&self, at));
		LyWallet	creditor;
		LyDebitResult result;

		if (pay <= 0)
			break;
		creditor = *ly_wallet_get(creditors[i]);
		if (ly_wallet_move(&self, &creditor, pay,
						   psprintf(LY_INTERNAL_REF "debt:" INT64_FORMAT ":" INT64_FORMAT, credit_transfer, creditors[i]),
						   "debt_repayment", self.owner_member, at, &result) == 0)
			break;
		values[1] = Int64GetDatum(creditors[i]);
		values[2] = Int64GetDatum(pay);
		ly_exec(&plan_debt_paid, values, NULL, 0);
	}
}

/* ---------------------------------------------------------------------
 * Privileges and rules of the API
 * ------------------------------------------------------------------- */

static LyPlan plan_grants = {
	"SELECT role_name::text FROM loyalty.wallet_grant WHERE wallet_id = $1 AND privilege = $2",
	2, {INT8OID, TEXTOID}
};

typedef enum CallerClass
{
	CALLER_ADMIN,				/* a superuser or loyalty_admin */
	CALLER_APP,					/* loyalty_app */
	CALLER_OTHER
} CallerClass;

static CallerClass
wallet_caller_class(Oid caller)
{
	Oid			app;

	if (ly_is_admin(caller))
		return CALLER_ADMIN;
	app = get_role_oid("loyalty_app", true);
	if (OidIsValid(app) && has_privs_of_role(caller, app))
		return CALLER_APP;
	return CALLER_OTHER;
}

/*
 * May `caller` debit (or credit, or view) wallet `w`?  Administrators may
 * everything; loyalty_app may debit and credit members' wallets and credit
 * revenue wallets (checkout); anything else needs a grant_wallet grant.
 */
static void
require_wallet_privilege(Oid caller, const LyWallet *w, const char *privilege)
{
	CallerClass caller_class = wallet_caller_class(caller);
	uint64		n;
	Datum		values[2];

	if (caller_class == CALLER_ADMIN)
		return;
	if (caller_class == CALLER_APP &&
		(w->role == LY_WALLET_MEMBER || (w->role == LY_WALLET_REVENUE && strcmp(privilege, "credit") == 0)))
		return;
	values[0] = Int64GetDatum(w->wallet_id);
	values[1] = CStringGetTextDatum(privilege);
	n = ly_exec(&plan_grants, values, NULL, 0);
	for (uint64 i = 0; i < n; i++)
	{
		char	   *role = ly_col_text(i, 1);
		Oid			grantee = get_role_oid(role, true);

		if (OidIsValid(grantee) && has_privs_of_role(caller, grantee))
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s wallet " INT64_FORMAT " (\"%s\")", privilege, w->wallet_id, w->name),
			 errhint("An administrator can allow it with loyalty.grant_wallet().")));
}

static void
require_not_frozen(const LyWallet *w)
{
	if (w->frozen)
		ereport(ERROR,
				(errcode(ERRCODE_LY_WALLET_FROZEN),
				 errmsg("wallet " INT64_FORMAT " (\"%s\") is frozen", w->wallet_id, w->name),
				 errhint("An administrator can unfreeze it with loyalty.set_wallet_rules(wallet, '{\"frozen\": false}').")));
}

/* Two wallets one transfer may join: distinct, one programme, one currency. */
static void
require_compatible(const LyWallet *debit, const LyWallet *credit)
{
	if (debit->wallet_id == credit->wallet_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a transfer needs two different wallets, got wallet " INT64_FORMAT " twice",
						debit->wallet_id)));
	if (debit->program_id != credit->program_id)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CROSS_PROGRAM),
				 errmsg("wallets " INT64_FORMAT " and " INT64_FORMAT " belong to different programmes",
						debit->wallet_id, credit->wallet_id)));
	if (strcmp(debit->currency, credit->currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CURRENCY_MISMATCH),
				 errmsg("currency mismatch: wallet " INT64_FORMAT " holds %s, wallet " INT64_FORMAT " holds %s",
						debit->wallet_id, debit->currency, credit->wallet_id, credit->currency),
				 errhint("A transfer moves one currency; convert outside loyalty.")));
}

static LyPlan plan_transfer_by_ref = {
	"SELECT transfer_id, debit_wallet, credit_wallet, amount, kind, was_pending"
	" FROM loyalty.wallet_transfer WHERE program_id = $1 AND ref = $2",
	2, {INT8OID, TEXTOID}
};

/*
 * A ref already used: the first transfer's id if it is the same transfer,
 * else LY005; 0 if the ref is free.
 */
static int64
transfer_replay(const TransferRequest *r)
{
	Datum		values[2] = {Int64GetDatum(r->debit->program_id), CStringGetTextDatum(r->ref)};
	const char *field = NULL;
	char	   *first = NULL;
	char	   *given = NULL;
	int64		id;

	if (ly_exec(&plan_transfer_by_ref, values, NULL, 1) != 1)
		return 0;
	id = ly_col_int64(0, 1, 0);
	if (ly_col_int64(0, 4, 0) != r->amount)
	{
		field = "amount";
		first = psprintf(INT64_FORMAT, ly_col_int64(0, 4, 0));
		given = psprintf(INT64_FORMAT, r->amount);
	}
	else if (ly_col_int64(0, 2, 0) != r->debit->wallet_id)
	{
		field = "debit wallet";
		first = psprintf(INT64_FORMAT, ly_col_int64(0, 2, 0));
		given = psprintf(INT64_FORMAT, r->debit->wallet_id);
	}
	else if (ly_col_int64(0, 3, 0) != r->credit->wallet_id)
	{
		field = "credit wallet";
		first = psprintf(INT64_FORMAT, ly_col_int64(0, 3, 0));
		given = psprintf(INT64_FORMAT, r->credit->wallet_id);
	}
	else if (strcmp(ly_col_text(0, 5), r->kind) != 0)
	{
		field = "kind";
		first = ly_col_text(0, 5);
		given = pstrdup(r->kind);
	}
	else if (ly_col_bool(0, 6, false) != r->pending)
	{
		field = "pending";
		first = ly_col_bool(0, 6, false) ? "true" : "false";
		given = r->pending ? "true" : "false";
	}
	if (field == NULL)
	{
		Datum		returned[2] = {Int64GetDatum(r->debit->program_id),
		CStringGetTextDatum(psprintf(LY_INTERNAL_REF "return:" INT64_FORMAT, id))};

		if (ly_exec(&plan_transfer_by_ref, returned, NULL, 1) == 1)
			ereport(ERROR,
					(errcode(ERRCODE_LY_IDEMPOTENCY_CONFLICT),
					 errmsg("transfer ref \"%s\" was already used, and that transfer was returned when its order was reversed",
							r->ref),
					 errhint("A new payment of the order needs a new ref: the order's id, \"#\" and anything, such as \"%s#2\".",
							 r->ref)));
	}
	if (field)
		ereport(ERROR,
				(errcode(ERRCODE_LY_IDEMPOTENCY_CONFLICT),
				 errmsg("transfer ref \"%s\" was already used with a different %s", r->ref, field),
				 errdetail("Transfer " INT64_FORMAT " has %s %s; this call has %s.", id, field, first, given),
				 errhint("Use a new ref for a new transfer.")));
	return id;
}

/*
 * The API's transfer in one statement: the transfer row first (a replay
 * stops there: the part updates are gated on it, so they touch no wallet),
 * then both parts in wallet id order, each gated on the one before (a CTE
 * runs when the next one reads it), then the entries, written only if the
 * debit went through.  Its columns: the new transfer's id (NULL: a replay),
 * whether the debit was made, and the credited wallet's debt.
 */
#define FAST_TRANSFER_ROW \
	"WITH t AS (" TRANSFER_INSERT_COLUMNS \
	"  ON CONFLICT ON CONSTRAINT wallet_transfer_ref_key DO NOTHING RETURNING transfer_id),"
#define FAST_TRANSFER_DEBIT(gate) \
	" d AS (UPDATE loyalty.wallet_part SET posted = posted - CASE WHEN $9 THEN 0 ELSE $8 END," \
	"  pending_debits = pending_debits + CASE WHEN $9 THEN $8 ELSE 0 END," \
	"  day = CASE WHEN $13 > 0 AND (day IS NULL OR day < $12) THEN $12 ELSE day END," \
	"  day_debited = CASE WHEN $13 = 0 THEN day_debited WHEN day IS NULL OR day < $12 THEN $8" \
	"   ELSE day_debited + $8 END" \
	"  WHERE wallet_id = $4 AND part = $6 AND EXISTS (SELECT 1 FROM " gate ")" \
	"  AND ($14 OR posted - pending_debits >= $8)" \
	"  AND ($13 = 0 OR CASE WHEN day IS NULL OR day < $12 THEN 0 ELSE day_debited END + $8 <= $13)" \
	"  AND posted >= -9223372036854775807 + $8 RETURNING 1 AS done),"
#define FAST_TRANSFER_CREDIT(gate) \
	" c AS (UPDATE loyalty.wallet_part SET posted = posted + CASE WHEN $9 THEN 0 ELSE $8 END," \
	"  pending_credits = pending_credits + CASE WHEN $9 THEN $8 ELSE 0 END" \
	"  WHERE wallet_id = $5 AND part = $7 AND EXISTS (SELECT 1 FROM " gate ")" \
	"  AND posted <= 9223372036854775807 - $8" \
	"  AND pending_credits <= 9223372036854775807 - $8 - GREATEST(posted, 0) RETURNING debt),"
#define FAST_TRANSFER_TAIL \
	" e AS (INSERT INTO loyalty.wallet_entry (wallet_id, at, transfer_id, part, amount)" \
	"  SELECT $4, $11, t.transfer_id, $6, -$8 FROM t, d WHERE NOT $9" \
	"  UNION ALL SELECT $5, $11, t.transfer_id, $7, $8 FROM t, d WHERE NOT $9)" \
	" SELECT (SELECT transfer_id FROM t), EXISTS (SELECT 1 FROM d), (SELECT debt FROM c)"
#define FAST_TRANSFER_TYPES \
	{INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT4OID, INT4OID, INT8OID, BOOLOID, \
	TIMESTAMPTZOID, TIMESTAMPTZOID, DATEOID, INT8OID, BOOLOID}

static LyPlan plan_fast_transfer_debit_first = {
	FAST_TRANSFER_ROW FAST_TRANSFER_DEBIT("t") FAST_TRANSFER_CREDIT("d") FAST_TRANSFER_TAIL,
	14, FAST_TRANSFER_TYPES
};

static LyPlan plan_fast_transfer_credit_first = {
	FAST_TRANSFER_ROW FAST_TRANSFER_CREDIT("t") FAST_TRANSFER_DEBIT("c") FAST_TRANSFER_TAIL,
	14, FAST_TRANSFER_TYPES
};

/*
 * After a fast statement made transfer `transfer_id`: a debit it found short
 * (or over its day's limit) goes through the slow path, and so does the
 * credit that was waiting for it; a credit the balance could not take is
 * refused; a credited wallet in debt pays its creditors.
 */
static void
transfer_finish(TransferRequest *r, int64 transfer_id, bool debited, bool credited, int64 debt)
{
	int64		available = 0;
	LyDebitResult result;

	if (debited && !credited)
		balance_overflow(r->credit, r->amount);
	if (!debited)
	{
		result = part_debit(r->debit, r->debit_part, r->amount, r->pending, r->at, false, &available);
		if (result != LY_DEBIT_DONE)
			raise_short(r->debit, result, r->amount, available);
		if (!credited)
			debt = part_credit(r->credit, r->credit_part, r->amount, r->pending);
		if (!r->pending)
			entries_post(r->debit, r->debit_part, r->credit, r->credit_part, transfer_id, r->amount, r->at);
	}
	if (debt > 0 && !r->pending)
		settle_debt(r->credit, transfer_id, r->at);
}

/* The debit of a posted transfer whose fast update found its part short. */
static void
transfer_debit_slow(TransferRequest *r)
{
	int64		available = 0;
	LyDebitResult result = part_debit(r->debit, r->debit_part, r->amount, false, r->at, false, &available);

	if (result != LY_DEBIT_DONE)
		raise_short(r->debit, result, r->amount, available);
}

static int64
transfer_api(TransferRequest *r, int64 hint)
{
	int64		transfer_id;
	bool		debit_first = r->debit->wallet_id < r->credit->wallet_id;
	bool		debited;
	bool		credited;
	int64		debt;
	Datum		values[14];
	char		nulls[14];

	r->debit_part = part_for(r->debit, hint);
	if (r->credit_part < 0)
		r->credit_part = part_for(r->credit, hint);
	memset(nulls, ' ', sizeof(nulls));
	transfer_row_values(r, values, nulls);
	values[11] = DateADTGetDatum(r->debit->daily_debit_limit > 0 ?
								 ly_local_date(ly_settings(r->debit->program_id)->timezone, r->at) : 0);
	values[12] = Int64GetDatum(r->debit->daily_debit_limit);
	values[13] = BoolGetDatum(r->debit->allow_overdraft);
	ly_exec(debit_first ? &plan_fast_transfer_debit_first : &plan_fast_transfer_credit_first,
			values, nulls, 1);
	if (ly_col_is_null(0, 1))
	{
		transfer_id = transfer_replay(r);
		if (transfer_id == 0)
			elog(ERROR, "transfer \"%s\" conflicted but cannot be found", r->ref);
		return transfer_id;
	}
	transfer_id = ly_col_int64(0, 1, 0);
	debited = ly_col_bool(0, 2, false);
	credited = !ly_col_is_null(0, 3);
	debt = ly_col_int64(0, 3, 0);
	transfer_finish(r, transfer_id, debited, credited, debt);
	return transfer_id;
}

/* ---------------------------------------------------------------------
 * The common transfer, by direct table access
 *
 * A posted transfer between two wallets without a daily limit, by an
 * administrator or by the application between members' wallets (or into
 * the revenue wallet), is the hot path of every shop: its two balance rows
 * are read, locked and updated here without an executor, as the member
 * lock of the points ledger is (ledger.c), and its row and entries are one
 * statement.  Anything else, and anything this path does not settle (a
 * short part, a replay), goes the way of transfer_api().
 * ------------------------------------------------------------------- */

static const char *const wallet_direct_columns[] = {
	"program_id", "name", "currency", "owner_member", "role", "escrow_parts",
	"allow_overdraft", "max_transfer", "daily_debit_limit", "frozen"
};
#define WALLET_DIRECT_NCOLS lengthof(wallet_direct_columns)

static const char *const part_direct_columns[] = {"posted", "pending_debits", "pending_credits", "debt"};
#define PART_DIRECT_NCOLS lengthof(part_direct_columns)

static Oid	direct_wallet_relid = InvalidOid;
static AttrNumber wallet_attnums[WALLET_DIRECT_NCOLS];
static Oid	direct_part_relid = InvalidOid;
static AttrNumber part_attnums[PART_DIRECT_NCOLS];

/*
 * A wallet's definition read straight from its row (no lock); false if none,
 * 42501 if the calling role may not use its programme.
 */
static bool
wallet_read_direct(int64 wallet_id, LyWallet *w)
{
	LyTable		t;
	Datum		key = Int64GetDatum(wallet_id);
	bool		found;

	ly_table_open(&t, "wallet", AccessShareLock);
	ly_table_columns(&t, wallet_direct_columns, WALLET_DIRECT_NCOLS, wallet_attnums, &direct_wallet_relid);
	found = ly_table_fetch(&t, "wallet_pkey", 1, &key);
	if (found)
	{
		Datum		d[WALLET_DIRECT_NCOLS];
		bool		isnull[WALLET_DIRECT_NCOLS];

		for (int i = 0; i < (int) WALLET_DIRECT_NCOLS; i++)
			d[i] = ly_table_get(&t, wallet_attnums[i], &isnull[i]);
		memset(w, 0, sizeof(*w));
		w->wallet_id = wallet_id;
		w->program_id = DatumGetInt64(d[0]);
		text_to_cstring_buffer(DatumGetTextPP(d[1]), w->name, sizeof(w->name));
		text_to_cstring_buffer(DatumGetTextPP(d[2]), w->currency, sizeof(w->currency));
		w->owner_member = isnull[3] ? 0 : DatumGetInt64(d[3]);
		w->role = role_from_name(TextDatumGetCString(d[4]));
		w->escrow_parts = DatumGetInt32(d[5]);
		w->allow_overdraft = DatumGetBool(d[6]);
		w->max_transfer = isnull[7] ? 0 : DatumGetInt64(d[7]);
		w->daily_debit_limit = isnull[8] ? 0 : DatumGetInt64(d[8]);
		w->frozen = DatumGetBool(d[9]);
		ly_require_program(w->program_id);
	}
	ly_table_close(&t);
	return found;
}

/*
 * Lock a balance row and add `delta` to its posted money, as an UPDATE in
 * READ COMMITTED would (waiting for a writer, then acting on the row's
 * latest version).  A debit (delta < 0) is made only if the row has that
 * much available or the wallet may overdraw; false: it was not made (the
 * row stays locked, as an UPDATE's WHERE would leave it unlocked, which is
 * harmless here).  *debt: the row's debt.  Made visible to the statements
 * that follow.
 */
static bool
part_update_direct(const LyWallet *w, int32 part, int64 delta, int64 *debt)
{
	LyTable		t;
	Datum		keys[2] = {Int64GetDatum(w->wallet_id), Int32GetDatum(part)};
	bool		found;
	bool		done = false;

	ly_table_open(&t, "wallet_part", RowExclusiveLock);
	ly_table_columns(&t, part_direct_columns, PART_DIRECT_NCOLS, part_attnums, &direct_part_relid);
	found = ly_table_fetch(&t, "wallet_part_pkey", 2, keys) &&
		ly_table_lock(&t, LockTupleNoKeyExclusive);
	if (found)
	{
		bool		isnull;
		int64		posted = DatumGetInt64(ly_table_get(&t, part_attnums[0], &isnull));
		int64		pending_debits = DatumGetInt64(ly_table_get(&t, part_attnums[1], &isnull));
		int64		pending_credits = DatumGetInt64(ly_table_get(&t, part_attnums[2], &isnull));
		int64		new_posted;

		*debt = DatumGetInt64(ly_table_get(&t, part_attnums[3], &isnull));
		if (delta >= 0)
		{
			/* a credit: posted and what is on its way in must stay in range */
			if (pg_add_s64_overflow(posted, delta, &new_posted) ||
				pending_credits > PG_INT64_MAX - Max(new_posted, 0))
				balance_overflow(w, delta);
			done = true;
		}
		else
			done = !pg_add_s64_overflow(posted, delta, &new_posted) &&
				(w->allow_overdraft || (posted - pending_debits) + delta >= 0);
		if (done)
		{
			Datum		value = Int64GetDatum(new_posted);

			ly_table_update(&t, 1, &part_attnums[0], &value, NULL);
		}
	}
	ly_table_close(&t);
	if (!found)
		part_missing(w, part);
	return done;
}

/* The transfer's row and its two entries; no row: its ref was taken (a replay). */
static LyPlan plan_direct_transfer_row = {
	"WITH t AS (" TRANSFER_INSERT_COLUMNS
	"  ON CONFLICT ON CONSTRAINT wallet_transfer_ref_key DO NOTHING RETURNING transfer_id)"
	" INSERT INTO loyalty.wallet_entry (wallet_id, at, transfer_id, part, amount)"
	" SELECT v.wallet, $11, t.transfer_id, v.part, v.amount FROM t"
	" CROSS JOIN LATERAL (VALUES ($4, $6, -$8), ($5, $7, $8)) v(wallet, part, amount)"
	" RETURNING transfer_id",
	11, TRANSFER_INSERT_TYPES
};

/*
 * The common posted transfer (see above); 0 when this path does not take
 * it, having written nothing: the caller goes the slow way.
 */
static int64
transfer_direct(TransferRequest *r, int64 debit_id, int64 credit_id, bool app_only)
{
	LyWallet	debit;
	LyWallet	credit;
	int64		hint;
	int64		transfer_id;
	int64		debt = 0;
	int64		ignored;
	bool		debit_first = debit_id < credit_id;

	if (r->pending || !wallet_read_direct(debit_id, &debit) || !wallet_read_direct(credit_id, &credit))
		return 0;
	if (debit_id == credit_id || debit.program_id != credit.program_id ||
		strcmp(debit.currency, credit.currency) != 0 || debit.frozen || credit.frozen ||
		debit.daily_debit_limit > 0 || (debit.max_transfer > 0 && r->amount > debit.max_transfer) ||
		(app_only && (debit.role != LY_WALLET_MEMBER ||
					  (credit.role != LY_WALLET_MEMBER && credit.role != LY_WALLET_REVENUE))))
		return 0;
	r->debit = &debit;
	r->credit = &credit;
	hint = debit.owner_member ? debit.owner_member : credit.owner_member;
	r->debit_part = part_for(&debit, hint);
	if (r->credit_part < 0)
		r->credit_part = part_for(&credit, hint);

	/* the row first: a replay stops here, touching no balance row */
	{
		Datum		values[11];
		char		nulls[11];

		transfer_row_values(r, values, nulls);	/* posted: not pending, no timeout */
		if (ly_exec(&plan_direct_transfer_row, values, nulls, 0) == 0)
		{
			transfer_id = transfer_replay(r);
			if (transfer_id == 0)
				elog(ERROR, "transfer \"%s\" conflicted but cannot be found", r->ref);
			r->debit = r->credit = NULL;
			return transfer_id;
		}
		transfer_id = ly_col_int64(0, 1, 0);
	}

	/* both balance rows in wallet id order; a short debit goes the slow way */
	if (debit_first && !part_update_direct(&debit, r->debit_part, -r->amount, &ignored))
		transfer_debit_slow(r);
	(void) part_update_direct(&credit, r->credit_part, r->amount, &debt);
	if (!debit_first && !part_update_direct(&debit, r->debit_part, -r->amount, &ignored))
		transfer_debit_slow(r);
	if (debt > 0)
		settle_debt(&credit, transfer_id, r->at);
	r->debit = r->credit = NULL;
	return transfer_id;
}

/* at + timeout; one clear error when that leaves the timestamp range. */
static TimestampTz
pending_until(TimestampTz at, Interval *timeout)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile TimestampTz until = 0;
	volatile bool overflow = false;

	PG_TRY();
	{
		until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(at),
														IntervalPGetDatum(timeout)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_DATETIME_VALUE_OUT_OF_RANGE)
			PG_RE_THROW();
		FlushErrorState();
		overflow = true;
	}
	PG_END_TRY();
	if (overflow || !IS_VALID_TIMESTAMP(until) || TIMESTAMP_NOT_FINITE(until))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("pending_timeout %s reaches past the last valid timestamp",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(timeout))))));
	return until;
}

/* A transfer's ref: not empty, not one of the extension's own. */
static char *
wallet_ref_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *ref = text_to_cstring(ly_arg_text_nonempty(fcinfo, argno, "ref"));

	if (strncmp(ref, LY_INTERNAL_REF, strlen(LY_INTERNAL_REF)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ref \"%s\" is reserved: refs starting with \"%s\" name the extension's own transfers",
						ref, LY_INTERNAL_REF)));
	return ref;
}

static const LyWallet *
wallet_arg(FunctionCallInfo fcinfo, int argno, const char *argname, LyWallet *copy)
{
	*copy = *ly_wallet_get(PG_GETARG_INT64(argno));
	return copy;
}

/* ---------------------------------------------------------------------
 * transfer(debit_wallet, credit_wallet, amount, ref, kind, pending, pending_timeout, at)
 * ------------------------------------------------------------------- */
Datum
ly_transfer(PG_FUNCTION_ARGS)
{
	int64		amount;
	char	   *ref;
	char	   *kind;
	bool		pending;
	TimestampTz at;
	LyCall		call;
	LyWallet	debit;
	LyWallet	credit;
	TransferRequest r;
	int64		id;
	CallerClass caller_class;

	ly_require_not_null(fcinfo, 0, "debit_wallet");
	ly_require_not_null(fcinfo, 1, "credit_wallet");
	amount = ly_arg_positive(fcinfo, 2, "amount");
	ref = wallet_ref_arg(fcinfo, 3);
	kind = text_to_cstring(ly_arg_text_nonempty(fcinfo, 4, "kind"));
	ly_require_not_null(fcinfo, 5, "pending");
	pending = PG_GETARG_BOOL(5);
	at = ly_arg_instant(fcinfo, 7, "at");

	memset(&r, 0, sizeof(r));
	if (!PG_ARGISNULL(6))
	{
		Interval   *timeout = PG_GETARG_INTERVAL_P(6);
		Interval	zero = {0};

		if (!pending)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("pending_timeout is for pending transfers"),
					 errhint("Pass pending => true, or no timeout.")));
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(timeout),
											  IntervalPGetDatum(&zero))) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("pending_timeout must be positive, got %s",
							DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(timeout))))));
		r.has_until = true;
		r.pending_until = pending_until(at, timeout);
	}

	ly_enter(&call);
	r.credit_part = -1;
	r.amount = amount;
	r.ref = ref;
	r.kind = kind;
	r.pending = pending;
	r.at = at;
	/* the common case in one statement; anything else the slow way, which names the reason */
	caller_class = wallet_caller_class(call.caller);
	if (caller_class != CALLER_OTHER &&
		(id = transfer_direct(&r, PG_GETARG_INT64(0), PG_GETARG_INT64(1), caller_class == CALLER_APP)) != 0)
	{
		ly_leave(&call);
		PG_RETURN_INT64(id);
	}
	wallet_arg(fcinfo, 0, "debit_wallet", &debit);
	wallet_arg(fcinfo, 1, "credit_wallet", &credit);
	require_compatible(&debit, &credit);
	require_wallet_privilege(call.caller, &debit, "debit");
	require_wallet_privilege(call.caller, &credit, "credit");
	r.debit = &debit;
	r.credit = &credit;
	/* a retry of a transfer made before a rule changed still returns it */
	if ((debit.frozen || credit.frozen || (debit.max_transfer > 0 && amount > debit.max_transfer)) &&
		(id = transfer_replay(&r)) != 0)
	{
		ly_leave(&call);
		PG_RETURN_INT64(id);
	}
	require_not_frozen(&debit);
	require_not_frozen(&credit);
	if (debit.max_transfer > 0 && amount > debit.max_transfer)
		ereport(ERROR,
				(errcode(ERRCODE_LY_MAX_TRANSFER),
				 errmsg("transfer of " INT64_FORMAT " %s exceeds the max_transfer of wallet " INT64_FORMAT
						" (\"%s\"): " INT64_FORMAT,
						amount, debit.currency, debit.wallet_id, debit.name, debit.max_transfer)));
	id = transfer_api(&r, debit.owner_member ? debit.owner_member : credit.owner_member);
	ly_leave(&call);
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------------
 * fund_wallet(wallet, amount, ref, at): from the programme's external account
 * ------------------------------------------------------------------- */

static LyPlan plan_external_wallet = {
	"SELECT loyalty._wallet_system($1, $2, 'external')",
	2, {INT8OID, TEXTOID}
};

Datum
ly_fund_wallet(PG_FUNCTION_ARGS)
{
	int64		amount;
	char	   *ref;
	TimestampTz at;
	LyCall		call;
	LyWallet	target;
	LyWallet	external;
	TransferRequest r;
	Datum		values[2];
	int64		id;

	ly_require_not_null(fcinfo, 0, "wallet");
	amount = ly_arg_positive(fcinfo, 1, "amount");
	ref = wallet_ref_arg(fcinfo, 2);
	at = ly_arg_instant(fcinfo, 3, "at");

	ly_enter(&call);
	ly_require_admin(call.caller, "fund_wallet");
	wallet_arg(fcinfo, 0, "wallet", &target);
	if (target.role == LY_WALLET_EXTERNAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wallet " INT64_FORMAT " is the programme's external account: it cannot fund itself",
						target.wallet_id)));
	values[0] = Int64GetDatum(target.program_id);
	values[1] = CStringGetTextDatum(target.currency);
	ly_exec(&plan_external_wallet, values, NULL, 1);
	external = *ly_wallet_get(ly_col_int64(0, 1, 0));

	memset(&r, 0, sizeof(r));
	r.debit = &external;
	r.credit = &target;
	r.credit_part = 0;			/* funding fills the reserve */
	r.amount = amount;
	r.ref = ref;
	r.kind = "fund";
	r.at = at;
	if (target.frozen && (id = transfer_replay(&r)) != 0)
	{
		ly_leave(&call);
		PG_RETURN_INT64(id);
	}
	require_not_frozen(&target);
	id = transfer_api(&r, 0);
	ly_leave(&call);
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------------
 * post_transfer / void_transfer
 * ------------------------------------------------------------------- */

#define TRANSFER_LOCK_SQL \
	"SELECT debit_wallet, credit_wallet, debit_part, credit_part, amount, state, pending_until, at" \
	" FROM loyalty.wallet_transfer WHERE transfer_id = $1 FOR UPDATE"

static LyPlan plan_transfer_lock = {TRANSFER_LOCK_SQL, 1, {INT8OID}};

/*
 * Lazy voiding holds a part lock already: a hold that someone is posting or
 * voiding right now (they lock the transfer, then this part) is skipped,
 * not waited for.
 */
static LyPlan plan_transfer_try_lock = {TRANSFER_LOCK_SQL " SKIP LOCKED", 1, {INT8OID}};

/* $5: the local day the hold counted towards daily_debit_limit (NULL: none): what is not posted is given back. */
static LyPlan plan_hold_release_debit = {
	"UPDATE loyalty.wallet_part SET pending_debits = pending_debits - $3, posted = posted - $4,"
	" day_debited = CASE WHEN day = $5 THEN GREATEST(day_debited - ($3 - $4), 0) ELSE day_debited END"
	" WHERE wallet_id = $1 AND part = $2",
	5, {INT8OID, INT4OID, INT8OID, INT8OID, DATEOID}
};

static LyPlan plan_hold_release_credit = {
	"UPDATE loyalty.wallet_part SET pending_credits = pending_credits - $3, posted = posted + $4"
	" WHERE wallet_id = $1 AND part = $2 AND posted <= 9223372036854775807 - $4 RETURNING debt",
	4, {INT8OID, INT4OID, INT8OID, INT8OID}
};

static LyPlan plan_transfer_closed = {
	"UPDATE loyalty.wallet_transfer SET state = $2, posted_amount = $3, closed_at = $4"
	" WHERE transfer_id = $1",
	4, {INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID}
};

/*
 * Close pending transfer `transfer_id`: post `amount` of it (all when
 * !has_amount) or void it, releasing its holds.  With check_caller (the
 * API), the caller needs the debit privilege and a post must come before
 * the timeout; without, a timed-out hold is voided lazily: skipped (false)
 * if another transaction holds it or closed it meanwhile.
 */
static bool
transfer_close(int64 transfer_id, bool post, bool has_amount, int64 amount, TimestampTz at,
			   Oid caller, CloseBy by, int64 *posted)
{
	Datum		values[4] = {Int64GetDatum(transfer_id)};
	LyWallet	debit;
	LyWallet	credit;
	int32		debit_part;
	int32		credit_part;
	int64		held;
	char	   *state;
	bool		has_until;
	TimestampTz until;
	TimestampTz created;
	int64		moved;
	int64		debt = 0;

	bool		check_caller = by == CLOSE_BY_API;

	if (ly_exec(check_caller ? &plan_transfer_lock : &plan_transfer_try_lock, values, NULL, 1) != 1)
	{
		if (!check_caller)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN_TRANSFER),
				 errmsg("transfer " INT64_FORMAT " does not exist", transfer_id)));
	}
	debit.wallet_id = ly_col_int64(0, 1, 0);
	credit.wallet_id = ly_col_int64(0, 2, 0);
	debit_part = ly_col_int32(0, 3, 0);
	credit_part = ly_col_int32(0, 4, 0);
	held = ly_col_int64(0, 5, 0);
	state = ly_col_text(0, 6);
	has_until = !ly_col_is_null(0, 7);
	until = ly_col_timestamptz(0, 7, 0);
	created = ly_col_timestamptz(0, 8, 0);
	debit = *ly_wallet_get(debit.wallet_id);
	credit = *ly_wallet_get(credit.wallet_id);

	if (check_caller)
		require_wallet_privilege(caller, &debit, "debit");
	else if (strcmp(state, "pending") != 0)
		return false;
	if (strcmp(state, "pending") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_TRANSFER_NOT_PENDING),
				 errmsg("transfer " INT64_FORMAT " is %s, not pending", transfer_id, state),
				 errhint("A pending transfer is closed once: by one post_transfer or void_transfer.")));
	if (check_caller && at < created)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transfer " INT64_FORMAT " cannot be closed at %s, before it was made (%s)",
						transfer_id, pstrdup(timestamptz_to_str(at)), pstrdup(timestamptz_to_str(created)))));
	if (check_caller && post && has_until && until <= at)
		ereport(ERROR,
				(errcode(ERRCODE_LY_TRANSFER_NOT_PENDING),
				 errmsg("transfer " INT64_FORMAT " timed out at %s: it no longer holds funds",
						transfer_id, timestamptz_to_str(until)),
				 errhint("Make a new transfer.")));
	/*
	 * A lazy void runs with the debit part locked: the credit part is taken
	 * only if nobody holds it (waiting there would break the wallet id order).
	 */
	if (by == CLOSE_BY_DEBIT)
	{
		int64		ignored;

		if (!part_try_lock(&credit, credit_part, &ignored))
			return false;
	}
	if (check_caller && post)
	{
		/* a hold made before a freeze is voided, not paid */
		require_not_frozen(&debit);
		require_not_frozen(&credit);
	}
	moved = post ? (has_amount ? amount : held) : 0;
	if (post && moved > held)
		ereport(ERROR,
				(errcode(ERRCODE_LY_TRANSFER_NOT_PENDING),
				 errmsg("cannot post " INT64_FORMAT " of transfer " INT64_FORMAT ": it holds " INT64_FORMAT,
						moved, transfer_id, held),
				 errhint("Post at most what is held; the rest is released.")));

	/* both parts in wallet id order, as transfers lock them */
	for (int side = 0; side < 2; side++)
	{
		bool		do_debit = (side == 0) == (debit.wallet_id < credit.wallet_id);

		values[0] = Int64GetDatum(do_debit ? debit.wallet_id : credit.wallet_id);
		values[1] = Int32GetDatum(do_debit ? debit_part : credit_part);
		values[2] = Int64GetDatum(held);
		values[3] = Int64GetDatum(moved);
		if (do_debit)
		{
			Datum		release_values[5] = {values[0], values[1], values[2], values[3],
				DateADTGetDatum(debit.daily_debit_limit > 0 ?
								ly_local_date(ly_settings(debit.program_id)->timezone, created) : 0)};
			char		release_nulls[5] = {' ', ' ', ' ', ' ', debit.daily_debit_limit > 0 ? ' ' : 'n'};

			ly_exec(&plan_hold_release_debit, release_values, release_nulls, 0);
		}
		else if (ly_exec(&plan_hold_release_credit, values, NULL, 1) == 1)
			debt = ly_col_int64(0, 1, 0);
		else
			balance_overflow(&credit, moved);
	}
	values[0] = Int64GetDatum(transfer_id);
	values[1] = CStringGetTextDatum(post ? "posted" : "voided");
	values[2] = Int64GetDatum(moved);
	values[3] = TimestampTzGetDatum(!post && has_until && until < at ? until : at);
	ly_exec(&plan_transfer_closed, values, NULL, 0);
	if (moved > 0)
	{
		entries_post(&debit, debit_part, &credit, credit_part, transfer_id, moved, at);
		if (debt > 0)
			settle_debt(&credit, transfer_id, at);
	}
	if (posted)
		*posted = moved;
	return true;
}

/*
 * expire_holds (jobs.c): void the pending transfers whose timeout passed by
 * `as_of`, at most `limit`, skipping any that someone is closing; returns
 * how many and their amount.
 */
static LyPlan plan_holds_due = {
	"SELECT transfer_id, amount FROM loyalty.wallet_transfer"
	" WHERE was_pending AND state = 'pending' AND pending_until <= $1"
	" ORDER BY pending_until, transfer_id LIMIT $2 FOR UPDATE SKIP LOCKED",
	2, {TIMESTAMPTZOID, INT4OID}
};

int64
ly_wallet_expire_holds(TimestampTz as_of, int32 limit, int64 *amount)
{
	Datum		values[2] = {TimestampTzGetDatum(as_of), Int32GetDatum(limit)};
	uint64		n = ly_exec(&plan_holds_due, values, NULL, 0);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	int64	   *amounts = palloc(sizeof(int64) * Max(n, 1));
	int64		voided = 0;

	for (uint64 i = 0; i < n; i++)
	{
		ids[i] = ly_col_int64(i, 1, 0);
		amounts[i] = ly_col_int64(i, 2, 0);
	}
	*amount = 0;
	for (uint64 i = 0; i < n; i++)
		if (transfer_close(ids[i], false, false, 0, as_of, InvalidOid, CLOSE_BY_JOB, NULL))
		{
			voided++;
			*amount += amounts[i];
		}
	return n == 0 ? -1 : voided;
}

Datum
ly_post_transfer(PG_FUNCTION_ARGS)
{
	int64		transfer_id;
	bool		has_amount = !PG_ARGISNULL(1);
	int64		amount = 0;
	TimestampTz at;
	LyCall		call;
	int64		posted;

	ly_require_not_null(fcinfo, 0, "transfer_id");
	transfer_id = PG_GETARG_INT64(0);
	if (has_amount)
		amount = ly_arg_positive(fcinfo, 1, "amount");
	at = ly_arg_instant(fcinfo, 2, "at");
	ly_enter(&call);
	transfer_close(transfer_id, true, has_amount, amount, at, call.caller, CLOSE_BY_API, &posted);
	ly_leave(&call);
	PG_RETURN_INT64(posted);
}

Datum
ly_void_transfer(PG_FUNCTION_ARGS)
{
	int64		transfer_id;
	TimestampTz at;
	LyCall		call;

	ly_require_not_null(fcinfo, 0, "transfer_id");
	transfer_id = PG_GETARG_INT64(0);
	at = ly_arg_instant(fcinfo, 1, "at");
	ly_enter(&call);
	transfer_close(transfer_id, false, false, 0, at, call.caller, CLOSE_BY_API, NULL);
	ly_leave(&call);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * wallet_balance(wallet, at)
 * ------------------------------------------------------------------- */

/*
 * Posted at `at`: the parts' sum less entries after `at`.  Holds at `at`:
 * pending transfers made by then, not closed by then, not timed out.
 */
static LyPlan plan_wallet_balance = {
	"SELECT ((SELECT sum(posted) FROM loyalty.wallet_part WHERE wallet_id = $1)"
	"  - COALESCE((SELECT sum(amount) FROM loyalty.wallet_entry WHERE wallet_id = $1 AND at > $2), 0))::int8,"
	" COALESCE((SELECT sum(amount) FROM loyalty.wallet_transfer WHERE debit_wallet = $1 AND was_pending"
	"  AND at <= $2 AND (closed_at IS NULL OR closed_at > $2) AND (pending_until IS NULL OR pending_until > $2)), 0)::int8,"
	" COALESCE((SELECT sum(amount) FROM loyalty.wallet_transfer WHERE credit_wallet = $1 AND was_pending"
	"  AND at <= $2 AND (closed_at IS NULL OR closed_at > $2) AND (pending_until IS NULL OR pending_until > $2)), 0)::int8",
	2, {INT8OID, TIMESTAMPTZOID}
};

Datum
ly_wallet_balance(PG_FUNCTION_ARGS)
{
	TimestampTz at;
	LyCall		call;
	LyWallet	w;
	TupleDesc	desc;
	Datum		result[4];
	bool		nulls[4] = {false, false, false, false};
	Datum		values[2];

	ly_require_not_null(fcinfo, 0, "wallet");
	at = ly_arg_instant(fcinfo, 1, "at");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "wallet_balance must return a row");
	desc = BlessTupleDesc(desc);
	ly_enter_read(&call);
	wallet_arg(fcinfo, 0, "wallet", &w);
	require_wallet_privilege(call.caller, &w, "view");
	values[0] = Int64GetDatum(w.wallet_id);
	values[1] = TimestampTzGetDatum(at);
	ly_exec(&plan_wallet_balance, values, NULL, 1);
	result[0] = Int64GetDatum(ly_col_int64(0, 1, 0));
	result[1] = Int64GetDatum(ly_col_int64(0, 2, 0));
	result[2] = Int64GetDatum(ly_col_int64(0, 3, 0));
	result[3] = Int64GetDatum(ly_col_int64(0, 1, 0) - ly_col_int64(0, 2, 0));
	ly_leave(&call);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, nulls)));
}
