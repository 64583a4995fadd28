/*
 * tenants.c: which programmes a role may use (loyalty.grant_program).
 *
 * A role in loyalty.program_limit is limited to the programmes
 * loyalty.program_grant gives it; so is every role that has its privileges
 * (a member of it with INHERIT), and grants add up.  Superusers are never
 * limited.  The check is made at the API boundary against the role that
 * called (ly_tenant_caller) and against the session user, whose limits hold
 * whatever role it SET ROLE to: every path that resolves a programme from
 * its arguments (a member, a programme code, a coupon, a wallet, a tracked
 * table) asks ly_require_program, views filter with program_visible.
 * Roles are stored as regrole plus the name they were limited under (see
 * LimitedRole).
 *
 * Both tables are small and read rarely: they are kept in backend memory
 * and reloaded after a relcache invalidation of either, which the
 * statement triggers on both send (_program_grants_changed), or a change
 * of roles or role membership.  With no limited role at all, a check is
 * one comparison.
 */
#include "loyalty.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/supportnodes.h"
#include "storage/lockdefs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ly_program_visible_sql);
PG_FUNCTION_INFO_V1(ly_program_visible_support);
PG_FUNCTION_INFO_V1(ly_require_program_sql);
PG_FUNCTION_INFO_V1(ly_require_unlimited_sql);
PG_FUNCTION_INFO_V1(ly_program_grants_changed);

/*
 * A limited role and the programmes granted to it.  The limit holds for the
 * role with its oid (a rename keeps it) and for the role that now has the
 * name it was limited under (one re-created after a drop, or one a dump of
 * a dropped role's bare oid would attach it to elsewhere): when the two
 * differ, both are limited, never neither.
 */
typedef struct LimitedRole
{
	Oid			role;
	NameData	name;
	int			nprograms;
	int64	   *programs;
} LimitedRole;

static MemoryContext limits_cxt = NULL;
static Oid	limit_relid = InvalidOid;	/* program_limit, as last loaded */
static Oid	grant_relid = InvalidOid;	/* program_grant, as last loaded */
static bool limits_loaded = false;
static uint64 limits_generation = 0;	/* moved by every invalidation */
static int	nlimited = 0;
static LimitedRole *limited = NULL;

/* Whether one role is limited, and to what. */
typedef struct Verdict
{
	Oid			role;			/* InvalidOid: not worked out */
	uint64		generation;		/* of the limits it was worked out from */
	bool		limited;
	int			nallowed;
	int64	   *allowed;
	MemoryContext cxt;
} Verdict;

/*
 * Two verdicts: the role at the API boundary, and the session user, whose
 * limits hold whatever role it has SET ROLE to (a limited login role would
 * otherwise escape by SET ROLE loyalty_app).
 */
static Verdict caller_verdict;
static Verdict session_verdict;

static void
tenants_reset(void)
{
	limits_loaded = false;
	limits_generation++;
	caller_verdict.role = InvalidOid;
	session_verdict.role = InvalidOid;
}

static void
tenants_relcache_callback(Datum arg, Oid relid)
{
	/* InvalidOid: the whole relcache was reset */
	if (!OidIsValid(relid) || relid == limit_relid || relid == grant_relid)
		tenants_reset();
}

static void
tenants_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	tenants_reset();
}

static LimitedRole *
limited_role(Oid role)
{
	for (int i = 0; i < nlimited; i++)
		if (limited[i].role == role)
			return &limited[i];
	return NULL;
}

/*
 * Read both tables into limits_cxt, under one snapshot taken after both
 * locks (whose acquisition processes pending invalidations); again if an
 * invalidation arrived meanwhile.  A fresh catalog snapshot: a parallel
 * worker (a view scanned in parallel) may not take a latest snapshot, and
 * the catalog snapshot already held may predate the change whose relcache
 * invalidation brought us here (those do not renew it).
 */
static void
tenants_load(void)
{
	static bool callbacks_registered = false;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(tenants_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, tenants_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, tenants_syscache_callback, (Datum) 0);
		callbacks_registered = true;
	}
	if (limits_cxt == NULL)
		limits_cxt = AllocSetContextCreate(TopMemoryContext, "loyalty tenants", ALLOCSET_SMALL_SIZES);

	while (!limits_loaded)
	{
		Relation	limit_rel;
		Relation	grant_rel;
		Snapshot	snapshot;
		SysScanDesc scan;
		HeapTuple	tup;
		MemoryContext old;
		uint64		generation;
		int			allocated = 8;

		limit_relid = ly_relid("program_limit");
		grant_relid = ly_relid("program_grant");
		limit_rel = table_open(limit_relid, AccessShareLock);
		grant_rel = table_open(grant_relid, AccessShareLock);
		generation = limits_generation;
		InvalidateCatalogSnapshot();
		snapshot = RegisterSnapshot(GetCatalogSnapshot(limit_relid));

		MemoryContextReset(limits_cxt);
		nlimited = 0;
		old = MemoryContextSwitchTo(limits_cxt);
		limited = palloc(sizeof(LimitedRole) * allocated);
		scan = systable_beginscan(limit_rel, InvalidOid, false, snapshot, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;

			if (nlimited == allocated)
			{
				allocated *= 2;
				limited = repalloc(limited, sizeof(LimitedRole) * allocated);
			}
			limited[nlimited].role = DatumGetObjectId(heap_getattr(tup, 1, RelationGetDescr(limit_rel), &isnull));
			limited[nlimited].name = *DatumGetName(heap_getattr(tup, 2, RelationGetDescr(limit_rel), &isnull));
			limited[nlimited].nprograms = 0;
			limited[nlimited].programs = NULL;
			nlimited++;
		}
		systable_endscan(scan);

		scan = systable_beginscan(grant_rel, InvalidOid, false, snapshot, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			LimitedRole *role = limited_role(DatumGetObjectId(heap_getattr(tup, 1, RelationGetDescr(grant_rel), &isnull)));
			int64		program = DatumGetInt64(heap_getattr(tup, 2, RelationGetDescr(grant_rel), &isnull));

			if (role == NULL)
				continue;		/* a foreign key makes every grant's role limited */
			role->programs = role->programs == NULL
				? palloc(sizeof(int64) * (role->nprograms + 1))
				: repalloc(role->programs, sizeof(int64) * (role->nprograms + 1));
			role->programs[role->nprograms++] = program;
		}
		systable_endscan(scan);
		MemoryContextSwitchTo(old);
		UnregisterSnapshot(snapshot);
		table_close(grant_rel, AccessShareLock);
		table_close(limit_rel, AccessShareLock);
		limits_loaded = (generation == limits_generation);
	}
}

/* Does the limit `l` hold for `role`: has it the privileges of either role it names? */
static bool
limit_holds_for(const LimitedRole *l, Oid role)
{
	Oid			by_name;

	if (SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(l->role)) &&
		has_privs_of_role(role, l->role))
		return true;
	by_name = get_role_oid(NameStr(l->name), true);
	return OidIsValid(by_name) && by_name != l->role && has_privs_of_role(role, by_name);
}

/*
 * Work out whether `role` is limited, and to what.  The catalog lookups may
 * process invalidations: a verdict is kept only if the limits it read were
 * still current at its end, else it is worked out again from a reload.
 */
static Verdict *
tenants_verdict(Verdict *v, Oid role)
{
	for (;;)
	{
		uint64		generation;

		if (!limits_loaded)
			tenants_load();
		generation = limits_generation;
		if (v->role == role && v->generation == generation)
			return v;
		v->role = InvalidOid;	/* until complete */
		v->limited = false;
		v->nallowed = 0;
		if (v->cxt == NULL)
			v->cxt = AllocSetContextCreate(TopMemoryContext, "loyalty tenant verdict", ALLOCSET_SMALL_SIZES);
		MemoryContextReset(v->cxt);
		if (nlimited > 0 && !superuser_arg(role))
		{
			int			allocated = 8;

			v->allowed = MemoryContextAlloc(v->cxt, sizeof(int64) * allocated);
			for (int i = 0; i < nlimited; i++)
			{
				if (!limit_holds_for(&limited[i], role))
					continue;
				v->limited = true;
				for (int p = 0; p < limited[i].nprograms; p++)
				{
					if (v->nallowed == allocated)
					{
						allocated *= 2;
						v->allowed = repalloc(v->allowed, sizeof(int64) * allocated);
					}
					v->allowed[v->nallowed++] = limited[i].programs[p];
				}
			}
		}
		if (generation == limits_generation)
		{
			v->role = role;
			v->generation = generation;
			return v;
		}
	}
}

static bool
verdict_allows(const Verdict *v, int64 program_id)
{
	if (!v->limited)
		return true;
	for (int i = 0; i < v->nallowed; i++)
		if (v->allowed[i] == program_id)
			return true;
	return false;
}

/*
 * The role that limits this call, the role at the API boundary first, then
 * the session user; InvalidOid if neither does.  With `any_programme`, the
 * one limited at all; else the one that may not use `program_id`.
 */
static Oid
limiting_role(bool any_programme, int64 program_id)
{
	Oid			roles[2] = {ly_tenant_caller(), GetSessionUserId()};
	Verdict    *verdicts[2] = {&caller_verdict, &session_verdict};

	if (limits_loaded && nlimited == 0)
		return InvalidOid;
	for (int i = 0; i < 2; i++)
	{
		Verdict    *v;

		if (i == 1 && roles[1] == roles[0])
			break;
		v = tenants_verdict(verdicts[i], roles[i]);
		if (any_programme ? v->limited : !verdict_allows(v, program_id))
			return roles[i];
	}
	return InvalidOid;
}

/* May the role that called (and the session's user) use programme `program_id`? */
bool
ly_program_allowed(int64 program_id)
{
	return !OidIsValid(limiting_role(false, program_id));
}

/* Is the role that called, or the session's user, limited to some programmes? */
bool
ly_caller_limited(void)
{
	return OidIsValid(limiting_role(true, 0));
}

/*
 * Raise 42501 unless the role that called may use programme `program_id`.
 * The message does not name the programme: a limited role learns nothing
 * of the others' but that what it named belongs to one.
 */
void
ly_require_program(int64 program_id)
{
	Oid			role = limiting_role(false, program_id);

	if (!OidIsValid(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for a programme role \"%s\" may not use",
					GetUserNameFromId(role, false)),
			 errdetail("Role \"%s\" is limited to the programmes granted to it with loyalty.grant_program().",
					   GetUserNameFromId(role, false)),
			 errhint("An administrator can allow it with loyalty.grant_program().")));
}

/* Raise 42501 if the role that called is limited: `what` spans programmes. */
void
ly_require_unlimited(const char *what)
{
	Oid			role = limiting_role(true, 0);

	if (!OidIsValid(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errdetail("Role \"%s\" is limited to some programmes (loyalty.grant_program()) and %s reaches all of them.",
					   GetUserNameFromId(role, false), what),
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

/*
 * Planner support of program_visible: for a role that is not limited the
 * filter keeps every row, so say so (selectivity 1) rather than let the
 * views' row estimates fall to a third.  For a limited role, the default.
 */
Datum
ly_program_visible_support(PG_FUNCTION_ARGS)
{
	Node	   *request = (Node *) PG_GETARG_POINTER(0);

	if (IsA(request, SupportRequestSelectivity) && !ly_caller_limited())
	{
		((SupportRequestSelectivity *) request)->selectivity = 1.0;
		PG_RETURN_POINTER(request);
	}
	PG_RETURN_POINTER(NULL);
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
 * Trigger loyalty._program_grants_changed(), statement-level on
 * program_limit and program_grant: every backend reloads the grants when
 * the transaction commits, this one at its next command (grant_program,
 * revoke_program, or rows restored by pg_restore).
 */
Datum
ly_program_grants_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "loyalty._program_grants_changed() is a trigger");
	CacheInvalidateRelcacheByRelid(ly_relid("program_limit"));
	PG_RETURN_POINTER(NULL);
}
