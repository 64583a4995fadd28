/*
 * api.c: the boundary between callers and the SQL-implemented parts of the
 * API.
 *
 * A public function loyalty.NAME(args) implemented in SQL is declared as a C
 * function with symbol ly_call_internal.  This trampoline calls
 * loyalty._NAME(caller oid, args), a SECURITY DEFINER function that nobody
 * else may execute, passing the role that really called (GetUserId() here,
 * before any security-definer switch).  So the SQL body knows its caller for
 * audit and access checks, and the caller cannot forge it; the programme
 * checks of nested calls act for it too (ly_boundary_enter).  Set-returning
 * functions pass their ReturnSetInfo through unchanged.
 */
#include "loyalty.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ly_call_internal);

/* Find loyalty._NAME(oid, args of NAME) for the public function `fn_oid`. */
static Oid
internal_function_for(Oid fn_oid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	Form_pg_proc proc;
	Oid			argtypes[FUNC_MAX_ARGS];
	char	   *internal_name;
	Oid			internal;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronargs + 1 > FUNC_MAX_ARGS)
		elog(ERROR, "function %s has too many arguments", NameStr(proc->proname));
	argtypes[0] = OIDOID;
	for (int i = 0; i < proc->pronargs; i++)
		argtypes[i + 1] = proc->proargtypes.values[i];
	internal_name = psprintf("_%s", NameStr(proc->proname));
	internal = LookupFuncName(list_make2(makeString(get_namespace_name(proc->pronamespace)),
										 makeString(internal_name)),
							  proc->pronargs + 1, argtypes, false);
	ReleaseSysCache(tup);
	return internal;
}

Datum
ly_call_internal(PG_FUNCTION_ARGS)
{
	FmgrInfo   *target = (FmgrInfo *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	Datum		result;
	int			depth;

	if (target == NULL)
	{
		Oid			internal = internal_function_for(fcinfo->flinfo->fn_oid);

		target = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(internal, target, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = target;
	}

	InitFunctionCallInfoData(*inner, target, fcinfo->nargs + 1, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	inner->args[0].value = ObjectIdGetDatum(GetUserId());
	inner->args[0].isnull = false;
	for (int i = 0; i < fcinfo->nargs; i++)
		inner->args[i + 1] = fcinfo->args[i];
	/* the body runs as the owner: programme checks inside act for the caller */
	depth = ly_boundary_enter(GetUserId());
	result = FunctionCallInvoke(inner);
	ly_boundary_leave(depth);
	fcinfo->isnull = inner->isnull;
	return result;
}
