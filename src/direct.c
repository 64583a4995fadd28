/*
 * direct.c: direct table access to the extension's own tables (see
 * direct.h): rows found through an index, locked to their latest version,
 * inserted and updated with the executor's index upkeep instead of an SQL
 * statement's parse-plan-execute round.
 *
 * What a statement would do besides, and what direct access does not:
 * fire triggers, check CHECK and foreign-key constraints, apply rules and
 * row security, compute generated columns.  The tables written here have
 * none of those (the referenced side of a foreign key excepted: keys are
 * never updated here), and a write to a table that gained one is refused
 * rather than done without it.  Defaults are the caller's to give; a NULL
 * in a NOT NULL column is refused.  Tables opened here stay open for the
 * transaction (see "Tables kept open" below).
 */
#include "direct.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

/* Refuse to write a table that has what direct access would skip. */
static void
direct_write_allowed(Relation rel)
{
	TriggerDesc *triggers = rel->trigdesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	const char *what = NULL;

	for (int i = 0; triggers && i < triggers->numtriggers && what == NULL; i++)
		if (RI_FKey_trigger_type(triggers->triggers[i].tgfoid) != RI_TRIGGER_PK)
			what = "a trigger or a foreign key";
	if (constr && constr->num_check > 0)
		what = "a CHECK constraint";
	else if (constr && constr->has_generated_stored)
		what = "a generated column";
	else if (rel->rd_rules)
		what = "a rule";
	else if (rel->rd_rel->relrowsecurity)
		what = "row level security";
	if (what)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table loyalty.%s has %s, which loyalty's direct writes cannot honour",
						RelationGetRelationName(rel), what),
				 errdetail("The extension writes its ledger and order tables without SQL statements."),
				 errhint("Remove what was added to the extension's table; see docs/operations.md.")));
}

/* ---------------------------------------------------------------------
 * Tables kept open
 *
 * A table opened here stays open, with its index upkeep set up, until the
 * transaction ends or a utility statement runs, as the executor keeps a
 * statement's result relations open: the order trigger touches the same
 * five tables for every row of a statement and every statement of a
 * transaction.  The relcache references and locks belong to the top
 * transaction's resource owner; they are let go before commit, before any
 * utility statement (DROP, ALTER and TRUNCATE refuse a table this session
 * still has open), and at abort by the resource owner itself.
 * ------------------------------------------------------------------- */

#define MAX_SCAN_INDEXES 4

/* An index opened for lookups, with the equality functions of its keys. */
typedef struct ScanIndex
{
	Relation	index;
	RegProcedure eq[INDEX_MAX_KEYS];
} ScanIndex;

typedef struct OpenTable
{
	Oid			relid;			/* hash key */
	Relation	rel;
	LOCKMODE	lockmode;		/* the strongest taken so far */
	int			users;			/* LyTables open on it now */
	EState	   *estate;			/* index upkeep, set up by the first write */
	ResultRelInfo *rri;
	int			nscan;
	ScanIndex	scan[MAX_SCAN_INDEXES]; /* indexes opened for lookups */
	TupleTableSlot *found;		/* slots for its one LyTable at a time */
	TupleTableSlot *written;
} OpenTable;

static HTAB *open_tables = NULL;	/* in TopTransactionContext */
static ProcessUtility_hook_type prev_process_utility = NULL;

/*
 * Let go of the open tables no LyTable uses now; `all`: of every one (at
 * commit nothing can be using them).
 */
static void
open_tables_release(bool all)
{
	HASH_SEQ_STATUS status;
	OpenTable  *ot;
	ResourceOwner saved = CurrentResourceOwner;
	bool		all_released = true;

	if (open_tables == NULL)
		return;
	CurrentResourceOwner = TopTransactionResourceOwner;
	hash_seq_init(&status, open_tables);
	while ((ot = hash_seq_search(&status)) != NULL)
	{
		if (ot->users > 0 && !all)
		{
			all_released = false;
			continue;
		}
		if (ot->rri)
			ExecCloseIndices(ot->rri);
		if (ot->estate)
			FreeExecutorState(ot->estate);
		for (int i = 0; i < ot->nscan; i++)
			index_close(ot->scan[i].index, NoLock);
		if (ot->found)
			ExecDropSingleTupleTableSlot(ot->found);
		if (ot->written)
			ExecDropSingleTupleTableSlot(ot->written);
		table_close(ot->rel, NoLock);
		(void) hash_search(open_tables, &ot->relid, HASH_REMOVE, NULL);
	}
	CurrentResourceOwner = saved;
	if (all_released)
	{
		hash_destroy(open_tables);
		open_tables = NULL;
	}
}

static void
open_tables_at_xact_end(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			open_tables_release(true);
			break;
		default:
			/* abort (or commit after the above): the resource owner lets go */
			open_tables = NULL;
			break;
	}
}

/*
 * Empty a kept slot whose contents an aborted subtransaction owned: its
 * buffer pin is released by the subtransaction's resource owner (after the
 * callbacks run) and its tuple's memory goes with the subtransaction's
 * contexts, so neither is released here.
 */
static void
slot_forget(TupleTableSlot *slot)
{
	if (slot == NULL)
		return;
	if (TTS_IS_BUFFERTUPLE(slot))
		((BufferHeapTupleTableSlot *) slot)->buffer = InvalidBuffer;
	slot->tts_flags &= ~TTS_FLAG_SHOULDFREE;
	ExecClearTuple(slot);
}

/* A LyTable open when a subtransaction aborted is gone with it. */
static void
open_tables_at_subxact_end(SubXactEvent event, SubTransactionId subid, SubTransactionId parent,
						   void *arg)
{
	HASH_SEQ_STATUS status;
	OpenTable  *ot;

	if (event != SUBXACT_EVENT_ABORT_SUB || open_tables == NULL)
		return;
	hash_seq_init(&status, open_tables);
	while ((ot = hash_seq_search(&status)) != NULL)
	{
		if (ot->users > 0)
		{
			slot_forget(ot->found);
			slot_forget(ot->written);
		}
		ot->users = 0;
	}
}

static void
release_before_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
					   ProcessUtilityContext context, ParamListInfo params,
					   QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
	open_tables_release(false);
	if (prev_process_utility)
		prev_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
	else
		standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

/* Called once from _PG_init. */
void
ly_direct_init(void)
{
	RegisterXactCallback(open_tables_at_xact_end, NULL);
	RegisterSubXactCallback(open_tables_at_subxact_end, NULL);
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = release_before_utility;
}

/* The open table `relid`, opened (or locked more strongly) as needed. */
static OpenTable *
open_table(Oid relid, LOCKMODE mode)
{
	OpenTable  *ot = NULL;
	ResourceOwner saved = CurrentResourceOwner;

	if (open_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(OpenTable);
		ctl.hcxt = TopTransactionContext;
		open_tables = hash_create("loyalty open tables", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	else
		ot = hash_search(open_tables, &relid, HASH_FIND, NULL);
	CurrentResourceOwner = TopTransactionResourceOwner;
	if (ot == NULL)
	{
		Relation	rel = table_open(relid, mode);

		ot = hash_search(open_tables, &relid, HASH_ENTER, NULL);
		memset(ot, 0, sizeof(*ot));
		ot->relid = relid;
		ot->rel = rel;
		ot->lockmode = mode;
	}
	else if (mode > ot->lockmode)
	{
		LockRelationOid(relid, mode);
		ot->lockmode = mode;
	}
	CurrentResourceOwner = saved;
	return ot;
}

/* The equality functions of `index`'s key columns, as its operator families define them. */
static void
equality_procs(Relation index, RegProcedure *eq)
{
	for (int i = 0; i < IndexRelationGetNumberOfKeyAttributes(index); i++)
	{
		Oid			type = index->rd_opcintype[i];
		Oid			op = get_opfamily_member(index->rd_opfamily[i], type, type, BTEqualStrategyNumber);

		if (!OidIsValid(op))
			elog(ERROR, "index %s has no equality operator for column %d",
				 RelationGetRelationName(index), i + 1);
		eq[i] = get_opcode(op);
	}
}

/* Index `relid` of the open table, for lookups (*transient: close it after). */
static ScanIndex *
open_scan_index(OpenTable *ot, Oid relid, ScanIndex *transient_space, bool *transient)
{
	ResourceOwner saved = CurrentResourceOwner;
	ScanIndex  *si;

	/* the lock the index upkeep takes, if the table is written: one lock, not two */
	LOCKMODE	mode = ot->lockmode >= RowExclusiveLock ? RowExclusiveLock : AccessShareLock;

	*transient = false;
	for (int i = 0; i < ot->nscan; i++)
		if (RelationGetRelid(ot->scan[i].index) == relid)
			return &ot->scan[i];
	if (ot->nscan == MAX_SCAN_INDEXES)
	{
		*transient = true;
		si = transient_space;
		si->index = index_open(relid, mode);
	}
	else
	{
		si = &ot->scan[ot->nscan];
		CurrentResourceOwner = TopTransactionResourceOwner;
		si->index = index_open(relid, mode);
		CurrentResourceOwner = saved;
		ot->nscan++;
	}
	equality_procs(si->index, si->eq);
	return si;
}

/* A slot for the table's rows, kept with the open table for its next user. */
static TupleTableSlot *
table_slot(OpenTable *ot, TupleTableSlot **kept, const TupleTableSlotOps *ops)
{
	MemoryContext old;

	if (ot->users > 1)			/* a second LyTable on the same table: a slot of its own */
		return MakeSingleTupleTableSlot(RelationGetDescr(ot->rel), ops);
	if (*kept == NULL)
	{
		ResourceOwner saved = CurrentResourceOwner;

		old = MemoryContextSwitchTo(TopTransactionContext);
		CurrentResourceOwner = TopTransactionResourceOwner;	/* its tuple descriptor reference */
		*kept = MakeSingleTupleTableSlot(RelationGetDescr(ot->rel), ops);
		CurrentResourceOwner = saved;
		MemoryContextSwitchTo(old);
	}
	return *kept;
}

void
ly_table_open(LyTable *t, const char *name, LOCKMODE mode)
{
	memset(t, 0, sizeof(*t));
	CommandCounterIncrement();	/* see this transaction's own latest writes */
	t->open = open_table(ly_relid(name), mode);
	t->open->users++;
	t->rel = t->open->rel;
	if (mode >= RowExclusiveLock)
		direct_write_allowed(t->rel);
	t->found = table_slot(t->open, &t->open->found, table_slot_callbacks(t->rel));
	t->current = t->found;
	t->snapshot = RegisterSnapshot(GetLatestSnapshot());
}

/* Release a slot: emptied (no buffer pin may outlive the LyTable), dropped unless kept. */
static void
slot_release(OpenTable *ot, TupleTableSlot *slot, TupleTableSlot *kept)
{
	if (slot == NULL)
		return;
	if (slot == kept)
		ExecClearTuple(slot);
	else
		ExecDropSingleTupleTableSlot(slot);
}

void
ly_table_close(LyTable *t)
{
	slot_release(t->open, t->found, t->open->found);
	slot_release(t->open, t->written, t->open->written);
	UnregisterSnapshot(t->snapshot);
	t->open->users--;			/* stays open: locks are held to the end of the transaction */
	if (t->wrote)
		CommandCounterIncrement();	/* visible to what follows */
}

/* The attribute numbers of columns `names`, resolved again only when the table is new. */
void
ly_table_columns(LyTable *t, const char *const *names, int n, AttrNumber *attnums,
				 Oid *cached_relid)
{
	Oid			relid = RelationGetRelid(t->rel);

	if (*cached_relid == relid)
		return;
	ly_attnums(relid, names, n, attnums);
	*cached_relid = relid;
}

void
ly_attnums(Oid relid, const char *const *names, int n, AttrNumber *out)
{
	for (int i = 0; i < n; i++)
		if ((out[i] = get_attnum(relid, names[i])) == InvalidAttrNumber)
			elog(ERROR, "column loyalty.%s.%s does not exist", get_rel_name(relid), names[i]);
}

/* ---------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------- */

/*
 * Equality scan keys on the first `nkeys` columns of `index`, with the
 * index's own operators and collations (a text key compares as the index
 * orders it).
 */
static void
equality_keys(const ScanIndex *si, int nkeys, const Datum *keys, ScanKey out)
{
	for (int i = 0; i < nkeys; i++)
		ScanKeyEntryInitialize(&out[i], 0, i + 1, BTEqualStrategyNumber, si->index->rd_opcintype[i],
							   si->index->rd_indcollation[i], si->eq[i], keys[i]);
}

void
ly_table_scan_begin(LyTableScan *s, LyTable *t, const char *index, int nkeys, const Datum *keys)
{
	ScanKeyData sk[INDEX_MAX_KEYS];
	ScanIndex	transient_space;
	ScanIndex  *si;

	Assert(nkeys <= INDEX_MAX_KEYS);
	s->table = t;
	si = open_scan_index(t->open, ly_relid(index), &transient_space, &s->transient);
	s->index = si->index;
	if (nkeys > IndexRelationGetNumberOfKeyAttributes(s->index))
		elog(ERROR, "index %s has fewer than %d key columns", RelationGetRelationName(s->index), nkeys);
	equality_keys(si, nkeys, keys, sk);
#if PG_VERSION_NUM >= 180000
	s->scan = index_beginscan(t->rel, s->index, t->snapshot, NULL, nkeys, 0);	/* no instrumentation */
#else
	s->scan = index_beginscan(t->rel, s->index, t->snapshot, nkeys, 0);
#endif
	index_rescan(s->scan, sk, nkeys, NULL, 0);
}

/* The next row of the scan, in the table's current row; false at the end. */
bool
ly_table_scan_next(LyTableScan *s)
{
	s->table->current = s->table->found;
	return index_getnext_slot(s->scan, ForwardScanDirection, s->table->found);
}

void
ly_table_scan_end(LyTableScan *s)
{
	index_endscan(s->scan);
	if (s->transient)
		index_close(s->index, NoLock);
}

/* The row with key `keys` in unique index `index`, as the current row; false if none. */
bool
ly_table_fetch(LyTable *t, const char *index, int nkeys, const Datum *keys)
{
	LyTableScan s;
	bool		found;

	ly_table_scan_begin(&s, t, index, nkeys, keys);
	found = ly_table_scan_next(&s);
	ly_table_scan_end(&s);
	return found;
}

/* The row version at `tid`, if the snapshot sees it, as the current row. */
bool
ly_table_fetch_tid(LyTable *t, ItemPointer tid)
{
	t->current = t->found;
	return table_tuple_fetch_row_version(t->rel, tid, t->snapshot, t->found);
}

/* Where the current row is (to fetch it again with ly_table_fetch_tid). */
ItemPointerData
ly_table_tid(LyTable *t)
{
	return t->current->tts_tid;
}

/* This backend's local id of its current transaction. */
static inline LocalTransactionId
my_lxid(void)
{
#if PG_VERSION_NUM >= 170000
	return MyProc->vxid.lxid;
#else
	return MyProc->lxid;
#endif
}

/*
 * The row with key `keys`, found first where `hint` says it was last seen
 * in this transaction: the row version there, if the snapshot sees it and
 * its columns `key_attnums` hold `keys` (same image), is the row, since
 * only one version of a row is visible; else through unique index `index`.
 * The hint then remembers where the row is.
 */
bool
ly_table_fetch_hinted(LyTable *t, const char *index, int nkeys, const Datum *keys,
					  const AttrNumber *key_attnums, LyRowHint *hint)
{
	/*
	 * The hint's page is still there: the table was locked when the hint was
	 * taken, by the top transaction's resource owner (open_table), so the
	 * lock outlives an aborted subtransaction and nothing can truncate or
	 * rewrite the table before this transaction ends.
	 */
	if (hint->lxid == my_lxid() && ItemPointerIsValid(&hint->tid) &&
		hint->relid == RelationGetRelid(t->rel) &&
		ly_table_fetch_tid(t, &hint->tid))
	{
		TupleDesc	desc = RelationGetDescr(t->rel);
		bool		same = true;

		for (int i = 0; i < nkeys && same; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, key_attnums[i] - 1);
			bool		isnull;
			Datum		d = ly_table_get(t, key_attnums[i], &isnull);

			same = !isnull && datum_image_eq(d, keys[i], att->attbyval, att->attlen);
		}
		if (same)
			return true;
	}
	if (!ly_table_fetch(t, index, nkeys, keys))
		return false;
	ly_table_hint(t, hint);
	return true;
}

/* Remember in `hint` where the current row is (found or just written). */
void
ly_table_hint(LyTable *t, LyRowHint *hint)
{
	hint->lxid = my_lxid();
	hint->relid = RelationGetRelid(t->rel);
	hint->tid = t->current->tts_tid;
}

/*
 * Lock the row just found, waiting for a writer and following it to its
 * latest version (then the current row); false if it was deleted meanwhile.
 */
bool
ly_table_lock(LyTable *t, LockTupleMode mode)
{
	TM_FailureData tmfd;
	TM_Result	result;
	bool		should_free;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(t->found, false, &should_free);
	bool		ours = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));

	if (should_free)
		heap_freetuple(tuple);
	t->current = t->found;

	/*
	 * A version this transaction wrote, and the snapshot sees, is the row's
	 * latest: any other writer waits for this transaction on the version
	 * before it, so nobody else can lock or change this one.  No lock (and
	 * no WAL record for one) is needed, as when an order completes in the
	 * transaction that paid it.
	 */
	if (ours)
		return true;
	result = table_tuple_lock(t->rel, &t->found->tts_tid, t->snapshot, t->found,
							  GetCurrentCommandId(false), mode, LockWaitBlock,
							  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (result)
	{
		case TM_Ok:
		case TM_SelfModified:	/* written by this transaction: ours already */
			return true;
		case TM_Deleted:
			return false;
		default:
			elog(ERROR, "unexpected result %d locking a row of loyalty.%s",
				 (int) result, RelationGetRelationName(t->rel));
	}
	return false;				/* keep the compiler quiet */
}

Datum
ly_table_get(LyTable *t, AttrNumber attnum, bool *isnull)
{
	return slot_getattr(t->current, attnum, isnull);
}

/* ---------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------- */

/* Keep `tuple` (just written) as the current row. */
static void
keep_written(LyTable *t, HeapTuple tuple)
{
	if (t->written == NULL)
		t->written = table_slot(t->open, &t->open->written, &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tuple, t->written, true);
	t->current = t->written;
	t->wrote = true;
}

/*
 * Index entries for the current row, just written: every index whose
 * predicate it satisfies (only the summarizing ones after a HOT update that
 * needs them), unique ones checked as an INSERT checks them, except unique
 * index `arbiter` (if valid): a key already there is reported (false), not
 * raised, and the entry is made all the same.
 */
static bool
index_upkeep(LyTable *t, bool only_summarizing, Oid arbiter)
{
	OpenTable  *ot = t->open;
	List	   *conflicts = NIL;

	if (ot->estate == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		ResourceOwner saved = CurrentResourceOwner;

		ot->estate = CreateExecutorState();
		MemoryContextSwitchTo(ot->estate->es_query_cxt);
		ot->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(ot->rri, ot->rel, 0, NULL, 0);
		CurrentResourceOwner = TopTransactionResourceOwner;
		ExecOpenIndices(ot->rri, false);
		CurrentResourceOwner = saved;
		MemoryContextSwitchTo(old);
	}
	if (ot->rri->ri_NumIndices > 0)
		conflicts = ExecInsertIndexTuples(ot->rri, t->current, ot->estate, false,
										  OidIsValid(arbiter), NULL,
										  OidIsValid(arbiter) ? list_make1_oid(arbiter) : NIL
#if PG_VERSION_NUM >= 160000
										  ,only_summarizing
#endif
			);
	ResetPerTupleExprContext(ot->estate);
	return conflicts == NIL;
}

/*
 * Spread columns `attnums` = `values` (`isnull`: NULL if given) over
 * whole-row arrays of the table; `replace`, if given, marks them.  The
 * other columns are left as the arrays were.
 */
static void
spread_columns(int n, const AttrNumber *attnums, const Datum *values, const bool *isnull,
			   Datum *all, bool *nulls, bool *replace)
{
	for (int i = 0; i < n; i++)
	{
		all[attnums[i] - 1] = values[i];
		nulls[attnums[i] - 1] = isnull ? isnull[i] : false;
		if (replace)
			replace[attnums[i] - 1] = true;
	}
}

/*
 * Insert a row of columns `attnums` = `values` (`isnull`: NULL if given),
 * every other column NULL; the new current row.
 */
void
ly_table_insert(LyTable *t, int n, const AttrNumber *attnums, const Datum *values,
				const bool *isnull)
{
	(void) ly_table_insert_new_key(t, n, attnums, values, isnull, NULL);
}

/*
 * ly_table_insert of a row whose key in unique index `index` the caller
 * expects to be new, so it was not looked up first: false if another row
 * (committed, or this transaction's) has it.  The row and its index entries
 * are written all the same, so on false the caller must raise an error,
 * which undoes them with its (sub)transaction.  Only for keys whose writers
 * exclude each other by a lock taken first (the member row for ledger
 * entries): a writer of the same key still in progress is a conflict too.
 */
bool
ly_table_insert_new_key(LyTable *t, int n, const AttrNumber *attnums, const Datum *values,
						const bool *isnull, const char *index)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	Datum	   *all = palloc0(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	HeapTuple	tuple;
	bool		is_new;

	memset(nulls, true, sizeof(bool) * desc->natts);
	spread_columns(n, attnums, values, isnull, all, nulls, NULL);
	for (int i = 0; i < desc->natts; i++)
		if (nulls[i] && TupleDescAttr(desc, i)->attnotnull)
			elog(ERROR, "direct insert into loyalty.%s leaves NOT NULL column %s NULL",
				 RelationGetRelationName(t->rel), NameStr(TupleDescAttr(desc, i)->attname));
	tuple = heap_form_tuple(desc, all, nulls);
	simple_heap_insert(t->rel, tuple);
	keep_written(t, tuple);
	is_new = index_upkeep(t, false, index ? ly_relid(index) : InvalidOid);
	pfree(all);
	pfree(nulls);
	return is_new;
}

/*
 * Replace columns `attnums` of the current row (locked or written by this
 * transaction; never a key column) with `values` (`isnull`: NULL if
 * given).  The new version becomes the current row.
 */
void
ly_table_update(LyTable *t, int n, const AttrNumber *attnums, const Datum *values,
				const bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	Datum	   *all = palloc0(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc0(sizeof(bool) * desc->natts);
	bool	   *replace = palloc0(sizeof(bool) * desc->natts);
	bool		should_free;
	HeapTuple	old = ExecFetchSlotHeapTuple(t->current, false, &should_free);
	HeapTuple	updated;
	ItemPointerData tid = old->t_self;
	bool		indexes;
	bool		only_summarizing = false;

	spread_columns(n, attnums, values, isnull, all, nulls, replace);
	updated = heap_modify_tuple(old, desc, all, nulls, replace);
	if (should_free)
		heap_freetuple(old);
#if PG_VERSION_NUM >= 160000
	{
		TU_UpdateIndexes which;

		simple_heap_update(t->rel, &tid, updated, &which);
		indexes = which != TU_None;
		only_summarizing = which == TU_Summarizing;
	}
#else
	simple_heap_update(t->rel, &tid, updated);
	indexes = !HeapTupleIsHeapOnly(updated);
#endif
	keep_written(t, updated);
	if (indexes)
		(void) index_upkeep(t, only_summarizing, InvalidOid);
	pfree(all);
	pfree(nulls);
	pfree(replace);
}
