/*
 * loyalty.h: what the C parts of the extension share: SQLSTATEs, the
 * privileged-call bracket, kept SPI plans, argument checks, version shims.
 */
#ifndef LOYALTY_H
#define LOYALTY_H

#include "postgres.h"

#include "executor/spi.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/timestamp.h"

/* ---- PostgreSQL version shims (15 to 18) ---- */
#if PG_VERSION_NUM < 150000
#error "loyalty needs PostgreSQL 15 or later"
#endif
/* 18 replaced pg_attribute_noreturn() (after a declarator) by pg_noreturn (before it) */
#ifndef pg_noreturn
#define pg_noreturn _Noreturn
#endif

/* ---- SQLSTATEs of class LY (docs/errors.md lists them all) ---- */
#define ERRCODE_LY_INSUFFICIENT_POINTS	MAKE_SQLSTATE('L','Y','0','0','1')
#define ERRCODE_LY_COUPON_NOT_VALID		MAKE_SQLSTATE('L','Y','0','0','2')
#define ERRCODE_LY_UNKNOWN_PROGRAM		MAKE_SQLSTATE('L','Y','0','0','3')
#define ERRCODE_LY_UNKNOWN_MEMBER		MAKE_SQLSTATE('L','Y','0','0','4')
#define ERRCODE_LY_IDEMPOTENCY_CONFLICT	MAKE_SQLSTATE('L','Y','0','0','5')
#define ERRCODE_LY_INVALID_SETTINGS		MAKE_SQLSTATE('L','Y','0','0','6')
#define ERRCODE_LY_NOTHING_TO_REVERSE	MAKE_SQLSTATE('L','Y','0','0','7')
#define ERRCODE_LY_INVALID_REVERSAL		MAKE_SQLSTATE('L','Y','0','0','8')
#define ERRCODE_LY_INVALID_LOT_TIMES	MAKE_SQLSTATE('L','Y','0','0','9')
#define ERRCODE_LY_MEMBER_CONFLICT		MAKE_SQLSTATE('L','Y','0','1','0')
#define ERRCODE_LY_CROSS_PROGRAM		MAKE_SQLSTATE('L','Y','0','1','1')
#define ERRCODE_LY_NOT_ALLOWED			MAKE_SQLSTATE('L','Y','0','1','2')
#define ERRCODE_LY_INVALID_DEFINITION	MAKE_SQLSTATE('L','Y','0','1','3')
#define ERRCODE_LY_TRACKING				MAKE_SQLSTATE('L','Y','0','1','4')
#define ERRCODE_LY_ORDER_REFUSED		MAKE_SQLSTATE('L','Y','0','1','5')
#define ERRCODE_LY_UNKNOWN_ORDER		MAKE_SQLSTATE('L','Y','0','1','6')
#define ERRCODE_LY_INVALID_REFUND		MAKE_SQLSTATE('L','Y','0','1','7')
/* LY018 unknown coupon template is raised in SQL (coupons.sql) */
#define ERRCODE_LY_INSUFFICIENT_FUNDS	MAKE_SQLSTATE('L','Y','0','1','9')
#define ERRCODE_LY_WALLET_FROZEN		MAKE_SQLSTATE('L','Y','0','2','0')
#define ERRCODE_LY_MAX_TRANSFER			MAKE_SQLSTATE('L','Y','0','2','1')
#define ERRCODE_LY_DAILY_LIMIT			MAKE_SQLSTATE('L','Y','0','2','2')
#define ERRCODE_LY_CURRENCY_MISMATCH	MAKE_SQLSTATE('L','Y','0','2','3')
#define ERRCODE_LY_UNKNOWN_WALLET		MAKE_SQLSTATE('L','Y','0','2','4')
#define ERRCODE_LY_TRANSFER_NOT_PENDING	MAKE_SQLSTATE('L','Y','0','2','5')
#define ERRCODE_LY_UNKNOWN_TRANSFER		MAKE_SQLSTATE('L','Y','0','2','6')
/* LY027-LY030 (rewards) are raised in SQL (rewards.sql) */

/* ---- The privileged-call bracket (loyalty.c) ----
 *
 * API functions are SECURITY INVOKER, so GetUserId() at entry is the caller
 * (recorded for audit and access checks).  Between ly_enter() and ly_leave()
 * the code runs as the extension's owner with an SPI connection open, and
 * its statements (ly_exec) run with search_path pinned to "pg_catalog,
 * pg_temp", as pg_cron does; the pin is set by a call's first statement, so
 * a call that runs none (direct table access only) does not pay for it.  On
 * error, transaction abort restores the user and the GUCs.  ly_enter_read()
 * is for STABLE readers: their statements all see the caller's snapshot.
 * Calls nest (a C function run by an SQL one, a trigger's enrolment); the
 * outermost call's caller, ly_tenant_caller(), is the role whose programme
 * grants every nested check applies.
 */
typedef struct LyCall
{
	Oid			caller;
	Oid			saved_userid;
	int			saved_sec_context;
	int			depth;			/* its place in loyalty.c's stack of calls */
	bool		saved_read_only;
} LyCall;

extern void ly_enter(LyCall *call);
extern void ly_enter_read(LyCall *call);
extern void ly_leave(LyCall *call);
extern int	ly_boundary_enter(Oid caller);
extern void ly_boundary_leave(int depth);
extern Oid	ly_tenant_caller(void);

/* ---- Programmes a role may use: grant_program (tenants.c) ---- */
extern bool ly_program_allowed(int64 program_id);
extern bool ly_caller_limited(void);
extern void ly_require_program(int64 program_id);
extern void ly_require_unlimited(const char *what);
extern Oid	ly_owner(void);
extern Oid	ly_relid(const char *relname);
extern bool ly_is_admin(Oid role);
extern void ly_require_admin(Oid caller, const char *what);

/* ---- Kept SPI plans (loyalty.c) ----
 * A statement text with its argument types, prepared on first use and kept
 * for the life of the backend.  Every statement names its tables with the
 * schema and runs under the pinned search_path, so plans never re-resolve.
 */
#define LY_MAX_ARGS 32
typedef struct LyPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[LY_MAX_ARGS];
	SPIPlanPtr	plan;
} LyPlan;

extern uint64 ly_exec(LyPlan *plan, Datum *values, const char *nulls, long limit);
extern bool ly_col_is_null(uint64 row, int col);
extern int64 ly_col_int64(uint64 row, int col, int64 if_null);
extern int32 ly_col_int32(uint64 row, int col, int32 if_null);
extern bool ly_col_bool(uint64 row, int col, bool if_null);
extern TimestampTz ly_col_timestamptz(uint64 row, int col, TimestampTz if_null);
extern char *ly_col_text(uint64 row, int col);
extern Datum ly_col_datum(uint64 row, int col, bool *isnull);

/* ---- Exact arithmetic (loyalty.c) ---- */
/* floor(a x b / c) for a, b >= 0, c > 0, b <= c: exact, without overflow */
extern int64 ly_scale_floor(int64 a, int64 b, int64 c);

/* ---- Argument checks: one clear error each (loyalty.c) ---- */
extern void ly_require_not_null(FunctionCallInfo fcinfo, int argno, const char *argname);
extern text *ly_arg_text_nonempty(FunctionCallInfo fcinfo, int argno, const char *argname);
extern int64 ly_arg_positive(FunctionCallInfo fcinfo, int argno, const char *argname);
extern TimestampTz ly_arg_instant(FunctionCallInfo fcinfo, int argno, const char *argname);

/* ---- Building jsonb values without text (loyalty.c) ----
 * Begin an object or array, add keys and values, end it; ending the
 * outermost returns the jsonb Datum.  Objects keep jsonb's own key order.
 */
typedef struct LyJsonb
{
	struct JsonbParseState *state;
} LyJsonb;

extern void ly_jsonb_begin(LyJsonb *j, bool array);
extern Datum ly_jsonb_end(LyJsonb *j, bool array);
extern void ly_jsonb_key(LyJsonb *j, const char *key);
extern void ly_jsonb_text(LyJsonb *j, const char *value);	/* NULL: null */
extern void ly_jsonb_int(LyJsonb *j, int64 value);
extern void ly_jsonb_numeric(LyJsonb *j, Datum numeric);
extern void ly_jsonb_bool(LyJsonb *j, bool value);

extern void ly_audit(Oid caller, int64 program_id, const char *action,
					 const char *object, const char *detail_json);

#endif							/* LOYALTY_H */
