/*
 * tenants.c: which programmes a role may use (loyalty.grant_program).
 *
 * A role named in loyalty.program_limit is limited to the programmes
 * loyalty.program_grant gives it; so is every role that has its privileges
 * (a member of it with INHERIT), and grants add up.  Superusers are never
 * limited.  The check is made at the API boundary against the role that
 * called (ly_tenant_caller): every path that resolves a programme from its
 * arguments (a member, a programme code, a coupon, a wallet, a tracked
 * table) asks ly_require_program, views filter with program_visible.
 *
 * Both tables are small and read rarely: they are kept in backend memory
 * and reloaded after a relcache invalidation of program_limit, which every
 * change of either table sends (_program_grants_changed), or a change of
 * roles or role membership.  With no limited role at all, a check is one
 * comparison.
 */
#include "loyalty.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "miscadmin.h"
#include "storage/lockdefs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ly_program_visible_sql);
PG_FUNCTION_INFO_V1(ly_require_program_sql);
PG_FUNCTION_INFO_V1(ly_require_unlimited_sql);
PG_FUNCTION_INFO_V1(ly_program_grants_changed);

/* A limited role (by name, as stored) and the programmes granted to it. */
typedef struct LimitedRole
{
	NameData	role_name;
	int			nprograms;
	int64	   *programs;
} LimitedRole;

static MemoryContext tenants_cxt = NULL;
static Oid	limit_relid = InvalidOid;	/* program_limit, as last loaded */
static bool limits_loaded = false;
static int	nlimited = 0;
static LimitedRole *limited = NULL;

/* The verdict for the last role asked about. */
static Oid	verdict_role = InvalidOid;
static bool verdict_limited = false;
static int	verdict_nallowed = 0;
static int64 *verdict_allowed = NULL;

static void
tenants_reset(void)
{
	limits_loaded = false;
	verdict_role = InvalidOid;
}

static void
tenants_relcache_callback(Datum arg, Oid relid)
{
	/* InvalidOid: the whole relcache was reset */
	if (!OidIsValid(relid) || relid == limit_relid)
		tenants_reset();
}

static void
tenants_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	tenants_reset();
}

static LimitedRole *
limited_role_named(const char *name)
{
	for (int i = 0; i < nlimited; i++)
		if (strcmp(NameStr(limited[i].role_name), name) == 0)
			return &limited[i];
	return NULL;
}

/* Read both tables into tenants_cxt. */
static void
tenants_load(void)
{
	static bool callbacks_registered = false;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	MemoryContext old;
	int			allocated = 8;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(tenants_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, tenants_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, tenants_syscache_callback, (Datum) 0);
		callbacks_registered = true;
	}
	limit_relid = ly_relid("program_limit");
	if (tenants_cxt == NULL)
		tenants_cxt = AllocSetContextCreate(TopMemoryContext, "loyalty tenants", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(tenants_cxt);
	nlimited = 0;
	verdict_role = InvalidOid;
	old = MemoryContextSwitchTo(tenants_cxt);
	limited = palloc(sizeof(LimitedRole) * allocated);

	rel = table_open(limit_relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		name = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		if (nlimited == allocated)
		{
			allocated *= 2;
			limited = repalloc(limited, sizeof(LimitedRole) * allocated);
		}
		limited[nlimited].role_name = *DatumGetName(name);
		limited[nlimited].nprograms = 0;
		limited[nlimited].programs = NULL;
		nlimited++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	rel = table_open(ly_relid("program_grant"), AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		name = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
		Datum		program = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		LimitedRole *role = limited_role_named(NameStr(*DatumGetName(name)));

		if (role == NULL)
			continue;			/* grant_program always writes both rows */
		role->programs = role->programs == NULL
			? palloc(sizeof(int64) * (role->nprograms + 1))
			: repalloc(role->programs, sizeof(int64) * (role->nprograms + 1));
		role->programs[role->nprograms++] = DatumGetInt64(program);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	MemoryContextSwitchTo(old);
	limits_loaded = true;
}

/* Work out whether `role` is limited, and to what. */
static void
tenants_verdict(Oid role)
{
	if (!limits_loaded)
		tenants_load();
	if (role == verdict_role)
		return;
	verdict_limited = false;
	verdict_nallowed = 0;
	if (nlimited > 0 && !superuser_arg(role))
	{
		MemoryContext old = MemoryContextSwitchTo(tenants_cxt);
		int			allocated = 8;

		verdict_allowed = palloc(sizeof(int64) * allocated);
		for (int i = 0; i < nlimited; i++)
		{
			Oid			limited_oid = get_role_oid(NameStr(limited[i].role_name), true);

			/* a dropped role limits nobody; one re-created with its name does */
			if (!OidIsValid(limited_oid) || !has_privs_of_role(role, limited_oid))
				continue;
			verdict_limited = true;
			for (int p = 0; p < limited[i].nprograms; p++)
			{
				if (verdict_nallowed == allocated)
				{
					allocated *= 2;
					verdict_allowed = repalloc(verdict_allowed, sizeof(int64) * allocated);
				}
				verdict_allowed[verdict_nallowed++] = limited[i].programs[p];
			}
		}
		MemoryContextSwitchTo(old);
	}
	verdict_role = role;
}

/* May the role that called use programme `program_id`? */
bool
ly_program_allowed(int64 program_id)
{
	if (limits_loaded && nlimited == 0)
		return true;
	tenants_verdict(ly_tenant_caller());
	if (!verdict_limited)
		return true;
	for (int i = 0; i < verdict_nallowed; i++)
		if (verdict_allowed[i] == program_id)
			return true;
	return false;
}

/* Is the role that called limited to some programmes? */
bool
ly_caller_limited(void)
{
	if (limits_loaded && nlimited == 0)
		return false;
	tenants_verdict(ly_tenant_caller());
	return verdict_limited;
}

/* The code of a programme, for messages; NULL if it has none (deleted). */
static char *
program_code(int64 program_id)
{
	Relation	rel = table_open(ly_relid("program"), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *code = NULL;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(program_id));
	scan = systable_beginscan(rel, ly_relid("program_pkey"), true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;

		code = TextDatumGetCString(heap_getattr(tup, 2, RelationGetDescr(rel), &isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return code;
}

/* Raise 42501 unless the role that called may use programme `program_id`. */
void
ly_require_program(int64 program_id)
{
	Oid			caller;
	char	   *code;

	if (ly_program_allowed(program_id))
		return;
	caller = ly_tenant_caller();
	code = program_code(program_id);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for program \"%s\"", code ? code : "?"),
			 errdetail("Role \"%s\" is limited to the programmes granted to it with loyalty.grant_program().",
					   GetUserNameFromId(caller, false)),
			 errhint("An administrator can allow it with loyalty.grant_program().")));
}

/* Raise 42501 if the role that called is limited: `what` spans programmes. */
void
ly_require_unlimited(const char *what)
{
	if (!ly_caller_limited())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errdetail("Role \"%s\" is limited to some programmes (loyalty.grant_program()) and %s reaches all of them.",
					   GetUserNameFromId(ly_tenant_caller(), false), what),
			 errhint("Run it as a role that is not limited.")));
}

/* SQL: loyalty.program_visible(program_id bigint) RETURNS boolean (views). */
Datum
ly_program_visible_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(ly_program_allowed(PG_GETARG_INT64(0)));
}

/* SQL: loyalty._require_program(program_id bigint) */
Datum
ly_require_program_sql(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		ly_require_program(PG_GETARG_INT64(0));
	PG_RETURN_VOID();
}

/* SQL: loyalty._require_unlimited(what text) */
Datum
ly_require_unlimited_sql(PG_FUNCTION_ARGS)
{
	ly_require_unlimited(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * SQL: loyalty._program_grants_changed(), after a write to program_limit or
 * program_grant: every backend reloads them when this transaction commits,
 * this one at its next command.
 */
Datum
ly_program_grants_changed(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(ly_relid("program_limit"));
	PG_RETURN_VOID();
}
