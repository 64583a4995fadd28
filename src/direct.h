/*
 * direct.h: direct table access to the extension's own tables (direct.c).
 *
 * The hottest writes (the member row, wallet balances, ledger entries and
 * lots, the order trigger's state) do without an SQL statement: a row is
 * found through a unique index, locked as SELECT ... FOR UPDATE locks it in
 * READ COMMITTED, and inserted or updated with every index of its table
 * kept by the executor's own index upkeep (partial-index predicates
 * evaluated, uniqueness enforced), as INSERT and UPDATE keep them.
 *
 * Usage: ly_table_open, then any number of ly_table_fetch / ly_table_lock /
 * ly_table_insert / ly_table_update on that one table, then ly_table_close,
 * which makes what was written visible to what follows.  The current row
 * (found, locked or last written) is read with ly_table_get.  No SQL
 * statement runs between ly_table_open and ly_table_close.
 */
#ifndef LOYALTY_DIRECT_H
#define LOYALTY_DIRECT_H

#include "loyalty.h"

#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "nodes/lockoptions.h"
#include "storage/lockdefs.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

typedef struct LyTable
{
	Relation	rel;
	struct OpenTable *open;		/* the table as kept open (direct.c) */
	Snapshot	snapshot;		/* the latest, taken when opened */
	TupleTableSlot *found;		/* a row read from the table */
	TupleTableSlot *written;	/* a row this LyTable wrote */
	TupleTableSlot *current;	/* found or written: what ly_table_get reads */
	bool		wrote;
} LyTable;

/*
 * Where a row was last seen in this transaction: fetching it there again
 * costs one page instead of an index descent (ly_table_fetch_hinted).
 */
typedef struct LyRowHint
{
	LocalTransactionId lxid;	/* valid in this transaction only */
	Oid			relid;
	ItemPointerData tid;
} LyRowHint;

extern void ly_direct_init(void);
extern void ly_table_open(LyTable *t, const char *name, LOCKMODE mode);
extern void ly_table_close(LyTable *t);
extern void ly_attnums(Oid relid, const char *const *names, int n, AttrNumber *out);
extern void ly_table_columns(LyTable *t, const char *const *names, int n, AttrNumber *attnums,
							 Oid *cached_relid);
extern bool ly_table_fetch(LyTable *t, const char *index, int nkeys, const Datum *keys);
extern bool ly_table_fetch_tid(LyTable *t, ItemPointer tid);
extern ItemPointerData ly_table_tid(LyTable *t);
extern bool ly_table_fetch_hinted(LyTable *t, const char *index, int nkeys, const Datum *keys,
								  const AttrNumber *key_attnums, LyRowHint *hint);
extern void ly_table_hint(LyTable *t, LyRowHint *hint);
extern bool ly_table_lock(LyTable *t, LockTupleMode mode);
extern Datum ly_table_get(LyTable *t, AttrNumber attnum, bool *isnull);
extern void ly_table_insert(LyTable *t, int n, const AttrNumber *attnums, const Datum *values,
							const bool *isnull);
extern bool ly_table_insert_new_key(LyTable *t, int n, const AttrNumber *attnums,
									const Datum *values, const bool *isnull, const char *index);
extern void ly_table_update(LyTable *t, int n, const AttrNumber *attnums, const Datum *values,
							const bool *isnull);

/* Index scans over every row with a key prefix (ly_table_scan_*). */
typedef struct LyTableScan
{
	LyTable    *table;
	struct IndexScanDescData *scan;
	Relation	index;
	bool		transient;		/* opened for this scan only */
} LyTableScan;

extern void ly_table_scan_begin(LyTableScan *s, LyTable *t, const char *index, int nkeys,
								const Datum *keys);
extern bool ly_table_scan_next(LyTableScan *s);
extern void ly_table_scan_end(LyTableScan *s);

#endif							/* LOYALTY_DIRECT_H */
