#!/usr/bin/env bash
# tests/bench/quote.sh: loyalty.quote_points calls per second, measured inside
# the server (SPEC section 11): one statement evaluates CALLS quotes,
#   SELECT count(loyalty.quote_points(1 + g % members, 67480, cart)) FROM generate_series(1, CALLS) g
# for a 10-line cart (jsonb) in a programme with 5 active earning rules and 3
# tiers (workloads/orders.psql: the same programme as the orders workloads),
# a different member each call.  Run by tests/bench/run_bench.sh after its
# table, with the cluster's PGHOST/PGPORT/PGUSER exported; it can also be run
# by hand against any cluster where the loyalty extension is installed.
# The time is taken with clock_timestamp() around the statement in a plpgsql
# function (no client round trip in it); a first statement of 1,000 calls
# warms the backend's rule cache.  Also printed: the same loop calling
# jsonb_array_length(cart) instead (the cost of the loop itself, included in
# the quote figure).
# Env: BENCH_QUOTE=0 skips it, BENCH_QUOTE_CALLS (20000 calls per statement),
# BENCH_ROUNDS (2: statements measured; calls/s is the mean of their rates),
# BENCH_MEMBERS (100000 customers enrolled).
set -euo pipefail

if [ "${BENCH_QUOTE:-1}" = 0 ]; then echo "quote_points benchmark skipped (BENCH_QUOTE=0)"; exit 0; fi
PGBIN=${LY_PGBIN:-/usr/lib/postgresql/15/bin}
CALLS=${BENCH_QUOTE_CALLS:-20000}
ROUNDS=${BENCH_ROUNDS:-2}
MEMBERS=${BENCH_MEMBERS:-100000}
DB=bench_quote
for v in CALLS ROUNDS MEMBERS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "quote.sh: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
HERE=$(cd "$(dirname "$0")" && pwd)

# 10 lines, 67480 in all: 3 fresh (the fresh_base rule), SKU-3 and SKU-7 (the
# sku_triple multiplier), quantities 1..3.
CART='[{"sku":"SKU-1","category":"fresh","price":1290,"qty":2},
 {"sku":"SKU-2","category":"fresh","price":890,"qty":3},
 {"sku":"SKU-3","category":"fresh","price":1990},
 {"sku":"SKU-4","category":"home","price":4590},
 {"sku":"SKU-5","category":"home","price":2990,"qty":2},
 {"sku":"SKU-6","category":"electronics","price":12900},
 {"sku":"SKU-7","category":"electronics","price":25900},
 {"sku":"SKU-8","category":"toys","price":3490},
 {"sku":"SKU-9","category":"toys","price":1590,"qty":2},
 {"sku":"SKU-10","category":"books","price":4200}]'

"${PSQL[@]}" -d postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $DB"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c 'CREATE EXTENSION loyalty'
t0=$(date +%s)
"${PSQL[@]}" -d "$DB" -v members="$MEMBERS" -v orders_table=0 -f "$HERE/workloads/orders.psql" >/dev/null
echo "quote_points benchmark: programme set up in $(( $(date +%s) - t0 )) s ($MEMBERS members, 5 active rules, 3 tiers); cores (nproc): $(nproc)"
"${PSQL[@]}" -d "$DB" -c 'VACUUM ANALYZE'

"${PSQL[@]}" -d "$DB" -At -F'|' -v cart="$CART" -v calls="$CALLS" -v rounds="$ROUNDS" -v members="$MEMBERS" <<'SQL'
CREATE FUNCTION pg_temp.quote_rate(calls int, members int, cart jsonb, what text)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; n bigint;
BEGIN
    t0 := clock_timestamp();
    IF what = 'quote' THEN
        SELECT count(loyalty.quote_points(1 + g % members, 67480, cart)) INTO n
        FROM generate_series(1, calls) AS g;
    ELSE
        SELECT count(jsonb_array_length(cart) + g % members) INTO n
        FROM generate_series(1, calls) AS g;
    END IF;
    IF n <> calls THEN RAISE EXCEPTION 'quote_rate: % results for % calls', n, calls; END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END
$$;
\echo
SELECT 'quote_points(member 1, 674.80, 10 lines) = ' || loyalty.quote_points(1, 67480, :'cart');
SELECT pg_temp.quote_rate(1000, :members, :'cart', 'quote') IS NOT NULL AS warm \gset
CREATE TEMP TABLE runs (what text, round int, seconds double precision);
SELECT format('INSERT INTO runs SELECT %L, %s, pg_temp.quote_rate(%s, %s, %L, %L)', w, r, :calls, :members, :'cart', w)
FROM generate_series(1, :rounds) AS r, (VALUES ('quote'), ('loop')) AS v(w) \gexec
\echo
\pset format aligned
\pset tuples_only off
\pset footer off
SELECT 'quote_points, ' || :calls || ' calls per statement, 10-line cart, 5 active rules' AS measured,
       round(avg(:calls / seconds))::bigint AS "calls/s",
       round((avg(seconds) * 1e6 / :calls)::numeric, 2) AS "us/call",
       string_agg(round((:calls / seconds)::numeric)::text, ', ' ORDER BY round) AS "each round (calls/s)"
FROM runs WHERE what = 'quote'
UNION ALL
SELECT 'loop alone (jsonb_array_length instead)',
       round(avg(:calls / seconds))::bigint, round((avg(seconds) * 1e6 / :calls)::numeric, 2),
       string_agg(round((:calls / seconds)::numeric)::text, ', ' ORDER BY round)
FROM runs WHERE what = 'loop';
SQL
