/*
 * settings.c: the programme settings every ledger write reads (time zone,
 * expiry policy, allow_negative, whether it has tiers), cached per backend so that locking a
 * member needs no join with its programme.
 *
 * Invalidation: catalog invalidation callbacks do not fire for rows of
 * ordinary tables, so update_program(), define_earn_rule() and define_tier()
 * (which bump the programme's definitions_version) send a relcache
 * invalidation of
 * loyalty.program itself (loyalty._settings_changed()); every backend drops
 * its cache when it processes that message (at its next transaction start
 * or lock), and so does the updating backend at its next command.  Dropping
 * the table (DROP EXTENSION) invalidates it too.
 */
#include "definitions.h"
#include "wallets.h"

#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"

PG_FUNCTION_INFO_V1(ly_settings_changed);

static HTAB *settings_cache = NULL;
static Oid	settings_relid = InvalidOid;	/* loyalty.program when filled */

static void
settings_invalidate(Datum arg, Oid relid)
{
	if (relid != InvalidOid && (!OidIsValid(settings_relid) || relid != settings_relid))
		return;
	if (settings_cache != NULL)
	{
		hash_destroy(settings_cache);
		settings_cache = NULL;
	}
	ly_definitions_invalidate();	/* the settings carry the definitions' version */
	ly_wallets_invalidate();		/* and so do wallet rules */
}

/* Called once from _PG_init. */
void
ly_settings_init(void)
{
	CacheRegisterRelcacheCallback(settings_invalidate, (Datum) 0);
}

static LyPlan plan_settings = {
	"SELECT p.settings->>'timezone', (p.settings->>'points_expire_months')::int4,"
	" COALESCE((p.settings->>'allow_negative')::boolean, false),"
	" EXISTS (SELECT 1 FROM loyalty.tier t WHERE t.program_id = p.program_id),"
	" COALESCE((p.settings->>'pending_days')::int4, 0), p.settings->>'tier_basis',"
	" COALESCE((p.settings->>'retain_months')::int4, 0), p.definitions_version"
	" FROM loyalty.program p WHERE p.program_id = $1",
	1, {INT8OID}
};

/* A programme's settings; call inside ly_enter/ly_leave. */
const LySettings *
ly_settings(int64 program_id)
{
	LySettings *entry;
	bool		found;
	Datum		values[1] = {Int64GetDatum(program_id)};
	char	   *timezone;

	if (settings_cache != NULL &&
		(entry = hash_search(settings_cache, &program_id, HASH_FIND, NULL)) != NULL)
		return entry;

	if (ly_exec(&plan_settings, values, NULL, 1) != 1)
		elog(ERROR, "programme " INT64_FORMAT " does not exist", program_id);
	/* the statement may have processed an invalidation: (re)create the cache after it */
	if (settings_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(LySettings);
		settings_cache = hash_create("loyalty programme settings", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS);
		settings_relid = ly_relid("program");
	}
	entry = hash_search(settings_cache, &program_id, HASH_ENTER, &found);
	timezone = ly_col_text(0, 1);
	strlcpy(entry->timezone, timezone ? timezone : "UTC", sizeof(entry->timezone));
	entry->has_expire_policy = !ly_col_is_null(0, 2);
	entry->expire_months = ly_col_int32(0, 2, 0);
	entry->allow_negative = ly_col_bool(0, 3, false);
	entry->has_tiers = ly_col_bool(0, 4, false);
	entry->pending_days = ly_col_int32(0, 5, 0);
	strlcpy(entry->tier_basis, ly_col_is_null(0, 6) ? "lifetime_points" : ly_col_text(0, 6),
			sizeof(entry->tier_basis));
	entry->retain_months = ly_col_int32(0, 7, 0);
	entry->definitions_version = ly_col_int64(0, 8, 0);
	return entry;
}

/* loyalty._settings_changed(): tell every backend to drop its cached settings. */
Datum
ly_settings_changed(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(ly_relid("program"));
	PG_RETURN_VOID();
}
