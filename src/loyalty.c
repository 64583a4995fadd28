/*
 * loyalty.c: module entry, the privileged-call bracket (run as the
 * extension's owner with a pinned search_path), kept SPI plans, argument
 * checks and the audit log writer used by every other C part.
 */
#include "loyalty.h"
#include "ledger.h"
#include "direct.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Each part's own initialisation. */
void
_PG_init(void)
{
	ly_settings_init();
	ly_direct_init();
}

/* The schema the extension lives in (not relocatable: always "loyalty"). */
static Oid
ly_namespace(void)
{
	return get_namespace_oid("loyalty", false);
}

/*
 * The extension's owner, who owns every table: the role the privileged
 * section runs as.  Read as the owner of loyalty.member (one syscache
 * lookup); CREATE EXTENSION refuses a schema "loyalty" owned by anyone else,
 * so nobody else can own that table.
 */
Oid
ly_owner(void)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(ly_relid("member")));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for loyalty.member");
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * OIDs of the extension's relations by name, kept until the next relcache
 * invalidation of any relation (a table dropped, renamed or created again
 * by a new CREATE EXTENSION sends one).
 */
typedef struct RelidEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	Oid			relid;
} RelidEntry;

static HTAB *relid_cache = NULL;
static bool relid_callback_registered = false;

static void
relid_cache_flush(Datum arg, Oid relid)
{
	if (relid_cache != NULL)
	{
		hash_destroy(relid_cache);
		relid_cache = NULL;
	}
}

/* OID of a relation of the extension's schema. */
Oid
ly_relid(const char *relname)
{
	RelidEntry *entry;
	Oid			relid;

	if (relid_cache != NULL &&
		(entry = hash_search(relid_cache, relname, HASH_FIND, NULL)) != NULL)
		return entry->relid;
	/* the lookup may process invalidations: the cache is (re)made after it */
	relid = get_relname_relid(relname, ly_namespace());
	if (!OidIsValid(relid))
		elog(ERROR, "relation loyalty.%s does not exist", relname);
	if (strlen(relname) >= NAMEDATALEN)
		return relid;
	if (!relid_callback_registered)
	{
		CacheRegisterRelcacheCallback(relid_cache_flush, (Datum) 0);
		relid_callback_registered = true;
	}
	if (relid_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(RelidEntry);
		ctl.hcxt = CacheMemoryContext;
		relid_cache = hash_create("loyalty relation OIDs", 64, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	entry = hash_search(relid_cache, relname, HASH_ENTER, NULL);
	entry->relid = relid;
	return relid;
}

/* Statements run read-only (on the caller's snapshot) in ly_enter_read(). */
static bool spi_read_only = false;

/*
 * The privileged calls in progress, innermost last: plain entries rather
 * than pointers to the callers' frames, so that a subtransaction's abort
 * can cut the stack back to the calls that survive it (those entered at a
 * lower transaction nesting level), and the transaction's end empty it.
 * An entry records the GUC nesting level of its pinned settings, 0 until
 * its first statement pins them.
 */
typedef struct CallFrame
{
	int			xact_level;
	int			guc_nest_level;
	Oid			caller;			/* the role at the API boundary (tenants.c) */
} CallFrame;

#define MAX_CALL_DEPTH 64
static CallFrame call_stack[MAX_CALL_DEPTH];
static int	call_depth = 0;

static void
calls_at_xact_end(XactEvent event, void *arg)
{
	call_depth = 0;
}

static void
calls_at_subxact_end(SubXactEvent event, SubTransactionId subid, SubTransactionId parent, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (call_depth > 0 && call_stack[call_depth - 1].xact_level >= level)
		call_depth--;
}

/* Pin the settings every statement runs with (see ly_enter). */
static int
pin_statement_settings(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	/*
	 * Every kept statement looks rows up by key.  A plan made while a table
	 * is still empty would otherwise scan it sequentially, and keep doing so
	 * as it grows within one statement (a bulk INSERT of orders) until an
	 * ANALYZE invalidates the plan.
	 */
	(void) set_config_option("enable_seqscan", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return level;
}

/*
 * Push a frame for a call by `caller`; its depth.  The outermost frame's
 * caller is the role at the API boundary: calls nested inside run as the
 * extension's owner, but act for that role.
 */
static int
push_call(Oid caller)
{
	static bool callbacks_registered = false;

	if (!callbacks_registered)
	{
		RegisterXactCallback(calls_at_xact_end, NULL);
		RegisterSubXactCallback(calls_at_subxact_end, NULL);
		callbacks_registered = true;
	}
	if (call_depth >= MAX_CALL_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("loyalty calls are nested more than %d deep", MAX_CALL_DEPTH)));
	call_stack[call_depth].xact_level = GetCurrentTransactionNestLevel();
	call_stack[call_depth].guc_nest_level = 0;
	call_stack[call_depth].caller = call_depth > 0 ? call_stack[0].caller : caller;
	return call_depth++;
}

/* Pop the frames from `depth` on, restoring the settings its statements pinned. */
static void
pop_call(int depth)
{
	int			guc_nest_level = call_stack[depth].guc_nest_level;

	if (guc_nest_level != 0)
		AtEOXact_GUC(true, guc_nest_level);
	call_depth = depth;
}

/* The role at the API boundary of the running call (the user when none runs). */
Oid
ly_tenant_caller(void)
{
	return call_depth > 0 ? call_stack[0].caller : GetUserId();
}

/*
 * The SQL-implemented API's boundary (api.c): record the caller for the
 * checks nested calls make, switching nothing else.
 */
int
ly_boundary_enter(Oid caller)
{
	return push_call(caller);
}

void
ly_boundary_leave(int depth)
{
	pop_call(depth);
}

/* Enter the privileged section: see loyalty.h. */
void
ly_enter(LyCall *call)
{
	call->depth = push_call(GetUserId());
	call->saved_read_only = spi_read_only;
	spi_read_only = false;
	call->caller = GetUserId();
	GetUserIdAndSecContext(&call->saved_userid, &call->saved_sec_context);
	SetUserIdAndSecContext(ly_owner(),
						   call->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Enter the privileged section to read only, on the caller's snapshot. */
void
ly_enter_read(LyCall *call)
{
	ly_enter(call);
	spi_read_only = true;
}

/* Leave the privileged section: back to the caller's user and settings. */
void
ly_leave(LyCall *call)
{
	spi_read_only = call->saved_read_only;
	SPI_finish();
	pop_call(call->depth);
	SetUserIdAndSecContext(call->saved_userid, call->saved_sec_context);
}

/* Is `role` a superuser, or has it loyalty_admin's privileges? */
bool
ly_is_admin(Oid role)
{
	Oid			admin;

	if (superuser_arg(role))
		return true;
	admin = get_role_oid("loyalty_admin", true);
	return OidIsValid(admin) && has_privs_of_role(role, admin);
}

/* Raise unless the caller is a superuser or has loyalty_admin's privileges. */
void
ly_require_admin(Oid caller, const char *what)
{
	if (ly_is_admin(caller))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errhint("Grant the role loyalty_admin to \"%s\".",
					 GetUserNameFromId(caller, false))));
}

/*
 * Execute a kept plan, preparing it on first use.  Plans are generic: every
 * statement looks rows up by key, so a plan per parameter value would only
 * cost planning time on every call.
 */
uint64
ly_exec(LyPlan *plan, Datum *values, const char *nulls, long limit)
{
	int			rc;

	if (call_depth > 0 && call_stack[call_depth - 1].guc_nest_level == 0)
		call_stack[call_depth - 1].guc_nest_level = pin_statement_settings();
	if (plan->plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare_cursor(plan->sql, plan->nargs, plan->argtypes,
												  CURSOR_OPT_GENERIC_PLAN);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), plan->sql);
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plan->plan = prepared;
	}
	rc = SPI_execute_plan(plan->plan, values, nulls, spi_read_only, limit);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), plan->sql);
	return SPI_processed;
}

/* Column accessors over SPI_tuptable; columns are numbered from 1. */
bool
ly_col_is_null(uint64 row, int col)
{
	bool		isnull;

	(void) SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	return isnull;
}

Datum
ly_col_datum(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

int64
ly_col_int64(uint64 row, int col, int64 if_null)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);

	return isnull ? if_null : DatumGetInt64(d);
}

int32
ly_col_int32(uint64 row, int col, int32 if_null)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);

	return isnull ? if_null : DatumGetInt32(d);
}

bool
ly_col_bool(uint64 row, int col, bool if_null)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);

	return isnull ? if_null : DatumGetBool(d);
}

TimestampTz
ly_col_timestamptz(uint64 row, int col, TimestampTz if_null)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);

	return isnull ? if_null : DatumGetTimestampTz(d);
}

/* A text column as a C string (palloc'd in the current context), or NULL. */
char *
ly_col_text(uint64 row, int col)
{
	bool		isnull;
	Datum		d = ly_col_datum(row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * floor(a x b / c) for a, b >= 0, c > 0 and b <= c (a share of a: so the
 * result fits), exact: in 128-bit integers where the compiler has them, else
 * in numeric.  LY_NO_INT128 forces the numeric path (to test it).
 */
int64
ly_scale_floor(int64 a, int64 b, int64 c)
{
	Assert(a >= 0 && b >= 0 && c > 0 && b <= c);
#if defined(PG_INT128_TYPE) && !defined(LY_NO_INT128)
	return (int64) (((int128) a * b) / c);
#else
	{
		Datum		product = DirectFunctionCall2(numeric_mul,
												  NumericGetDatum(int64_to_numeric(a)),
												  NumericGetDatum(int64_to_numeric(b)));
		Datum		quotient = DirectFunctionCall2(numeric_div_trunc, product,
												   NumericGetDatum(int64_to_numeric(c)));

		return DatumGetInt64(DirectFunctionCall1(numeric_int8, quotient));
	}
#endif
}

/* NULL arguments raise unless the SPEC gives NULL a meaning. */
void
ly_require_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
}

text *
ly_arg_text_nonempty(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	text	   *t;

	ly_require_not_null(fcinfo, argno, argname);
	t = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(t) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	return t;
}

int64
ly_arg_positive(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	int64		v;

	ly_require_not_null(fcinfo, argno, argname);
	v = PG_GETARG_INT64(argno);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, got " INT64_FORMAT, argname, v)));
	return v;
}

/* A time argument: not NULL and finite. */
TimestampTz
ly_arg_instant(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	TimestampTz t;

	ly_require_not_null(fcinfo, argno, argname);
	t = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite timestamp", argname)));
	return t;
}

/* ---------------------------------------------------------------------
 * jsonb built from values (see loyalty.h)
 * ------------------------------------------------------------------- */

void
ly_jsonb_begin(LyJsonb *j, bool array)
{
	(void) pushJsonbValue(&j->state, array ? WJB_BEGIN_ARRAY : WJB_BEGIN_OBJECT, NULL);
}

Datum
ly_jsonb_end(LyJsonb *j, bool array)
{
	JsonbValue *done = pushJsonbValue(&j->state, array ? WJB_END_ARRAY : WJB_END_OBJECT, NULL);

	return j->state == NULL ? JsonbPGetDatum(JsonbValueToJsonb(done)) : (Datum) 0;
}

/* A key, or a value: in an array an element, in an object the value of the last key. */
static void
jsonb_push(LyJsonb *j, JsonbIteratorToken token, JsonbValue *v)
{
	if (token == WJB_VALUE && j->state->contVal.type == jbvArray)
		token = WJB_ELEM;
	(void) pushJsonbValue(&j->state, token, v);
}

void
ly_jsonb_key(LyJsonb *j, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = pstrdup(key);
	v.val.string.len = strlen(key);
	jsonb_push(j, WJB_KEY, &v);
}

void
ly_jsonb_text(LyJsonb *j, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = pstrdup(value);	/* value may be a static buffer */
		v.val.string.len = strlen(value);
	}
	jsonb_push(j, WJB_VALUE, &v);
}

void
ly_jsonb_numeric(LyJsonb *j, Datum numeric)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(numeric);
	jsonb_push(j, WJB_VALUE, &v);
}

void
ly_jsonb_int(LyJsonb *j, int64 value)
{
	ly_jsonb_numeric(j, NumericGetDatum(int64_to_numeric(value)));
}

void
ly_jsonb_bool(LyJsonb *j, bool value)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = value;
	jsonb_push(j, WJB_VALUE, &v);
}

/* Append a row to loyalty.audit_log; call inside ly_enter/ly_leave. */
void
ly_audit(Oid caller, int64 program_id, const char *action, const char *object,
		 const char *detail_json)
{
	static LyPlan plan = {
		"SELECT loyalty._audit($1, $2, $3, $4, $5::jsonb)",
		5, {OIDOID, INT8OID, TEXTOID, TEXTOID, TEXTOID}
	};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = ObjectIdGetDatum(caller);
	values[1] = Int64GetDatum(program_id);
	if (program_id == 0)
		nulls[1] = 'n';
	values[2] = CStringGetTextDatum(action);
	values[3] = object ? CStringGetTextDatum(object) : (Datum) 0;
	if (object == NULL)
		nulls[3] = 'n';
	values[4] = detail_json ? CStringGetTextDatum(detail_json) : (Datum) 0;
	if (detail_json == NULL)
		nulls[4] = 'n';
	ly_exec(&plan, values, nulls, 0);
}
