#!/usr/bin/env bash
# tests/bench/coupons.sh: the coupon figures (issue 4), in database
# bench_coupons.  Run by tests/bench/run_bench.sh after its table, with the
# cluster's PGHOST/PGPORT/PGUSER exported; it can also be run by hand against
# any cluster where the loyalty extension is installed.
#
#   set-up (workloads/coupons.psql): programme `bench`, MEMBERS members joined
#   two years ago; 1,000 claimed coupons of 4 templates (store/item x
#   fixed/percent) spread over the members; claim campaigns claim16 and
#   claim1 of QUANTITY units each.
#   1. validate_coupon calls/s inside one backend (SPEC section 11): one
#      statement validates the 1,000 coupons on a 10-line cart,
#        SELECT count(*) FROM bench_vcoupon c,
#               LATERAL loyalty.validate_coupon(c.code, c.member_id, cart) v WHERE v.ok
#      run VALIDATE_STATEMENTS times in a row inside a plpgsql function timed
#      with clock_timestamp() (no client round trip), once per round, after a
#      warm-up statement.  Every call must be ok.  Also: the same loop over
#      the 1,000 rows without the call (its own cost, included).
#   2. claim_coupon with 16 clients on claim16 (pgbench -M prepared,
#      workloads/claim_coupon.pgbench, BENCH_SECONDS per round), interleaved
#      with 1 client on claim1 (reference); claims/s is the mean of the
#      rounds.  Then the exact count: for each campaign count(coupons) =
#      template.claimed = the transactions pgbench reported, <= QUANTITY; and
#      loyalty.verify() all ok.
#   3. issue_codes of CODES codes of a fresh template: one statement
#      SELECT count(*) FROM loyalty.issue_codes('bench', 'codes', CODES), timed
#      by the client (commit included); then the table holds exactly CODES
#      distinct issued codes of it.
# Targets: CODES codes in <= 10 s (scaled: the target is 1,000,000 in 10 s);
# validation >= 50,000 calls/s on one core.  A failed check (not a missed
# target) makes the script fail.
# Env: BENCH_COUPONS=0 skips it, BENCH_COUPON_MEMBERS (10000),
# BENCH_COUPON_QUANTITY (100000 units per claim campaign),
# BENCH_COUPON_CODES (1000000), BENCH_COUPON_VALIDATE_STATEMENTS (20 statements
# of 1,000 calls per round), BENCH_SECONDS (20 per pgbench run),
# BENCH_ROUNDS (2), BENCH_COUPON_CLIENTS (16).
set -euo pipefail

if [ "${BENCH_COUPONS:-1}" = 0 ]; then echo "coupon benchmark skipped (BENCH_COUPONS=0)"; exit 0; fi
PGBIN=${LY_PGBIN:-/usr/lib/postgresql/15/bin}
MEMBERS=${BENCH_COUPON_MEMBERS:-10000}
QUANTITY=${BENCH_COUPON_QUANTITY:-100000}
CODES=${BENCH_COUPON_CODES:-1000000}
STATEMENTS=${BENCH_COUPON_VALIDATE_STATEMENTS:-20}
SECS=${BENCH_SECONDS:-20}
ROUNDS=${BENCH_ROUNDS:-2}
CLIENTS=${BENCH_COUPON_CLIENTS:-16}
VCOUPONS=1000
DB=bench_coupons
for v in MEMBERS QUANTITY CODES STATEMENTS SECS ROUNDS CLIENTS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "coupons.sh: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/loyalty-bench-coupons-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}'; }
status=0

# 10 lines, 67480 in all (quote.sh's cart): 3 fresh lines (7240), SKU-6 and
# SKU-7 (38800).  Every validation coupon is ok on it: v_store_fixed 1000,
# v_store_pct 5000 (10 % capped), v_item_fixed 500, v_item_pct 5820.
CART='{"lines": [{"sku":"SKU-1","category":"fresh","price":1290,"qty":2},
 {"sku":"SKU-2","category":"fresh","price":890,"qty":3},
 {"sku":"SKU-3","category":"fresh","price":1990},
 {"sku":"SKU-4","category":"home","price":4590},
 {"sku":"SKU-5","category":"home","price":2990,"qty":2},
 {"sku":"SKU-6","category":"electronics","price":12900},
 {"sku":"SKU-7","category":"electronics","price":25900},
 {"sku":"SKU-8","category":"toys","price":3490},
 {"sku":"SKU-9","category":"toys","price":1590,"qty":2},
 {"sku":"SKU-10","category":"books","price":4200}]}'

"${PSQL[@]}" -d postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $DB"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c 'CREATE EXTENSION loyalty'
t=$(now)
"${PSQL[@]}" -d "$DB" -v members="$MEMBERS" -v vcoupons="$VCOUPONS" -v quantity="$QUANTITY" \
    -f "$HERE/workloads/coupons.psql" >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log" >&2; exit 1; }
echo "coupon benchmark: set up in $(elapsed "$t") s ($MEMBERS members, $VCOUPONS claimed coupons of 4 templates," \
     "claim campaigns of $QUANTITY units); cores (nproc): $(nproc)"
"${PSQL[@]}" -d "$DB" -c 'VACUUM ANALYZE'

# ---- 1. validate_coupon --------------------------------------------------------
"${PSQL[@]}" -d "$DB" -At -F'|' -v cart="$CART" -v statements="$STATEMENTS" -v rounds="$ROUNDS" \
    -v vcoupons="$VCOUPONS" >"$WORK/validate.txt" <<'SQL'
CREATE FUNCTION pg_temp.validate_rate(statements int, expect bigint, cart jsonb, what text)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; n bigint; s int;
BEGIN
    t0 := clock_timestamp();
    FOR s IN 1 .. statements LOOP
        IF what = 'validate' THEN
            SELECT count(*) INTO n FROM public.bench_vcoupon c,
                   LATERAL loyalty.validate_coupon(c.code, c.member_id, cart) v WHERE v.ok;
        ELSE
            SELECT count(*) INTO n FROM public.bench_vcoupon c
            WHERE c.member_id + jsonb_array_length(cart -> 'lines') > 0;
        END IF;
        IF n <> expect THEN RAISE EXCEPTION 'validate_rate: % ok for % coupons', n, expect; END IF;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END
$$;
SELECT 'sample|' || t.code || '|' || v.ok || '|' || v.discount || '|' || COALESCE(v.reason, '')
FROM (SELECT DISTINCT ON (k.template_id) k.template_id, c.code, c.member_id
      FROM public.bench_vcoupon c JOIN loyalty.coupon k ON k.code OPERATOR(loyalty.=) c.code
      ORDER BY k.template_id, c.code) s
JOIN loyalty.coupon_template t USING (template_id),
LATERAL loyalty.validate_coupon(s.code, s.member_id, :'cart') v
ORDER BY t.code;
SELECT pg_temp.validate_rate(1, :vcoupons, :'cart', 'validate') IS NOT NULL AS warm \gset
CREATE TEMP TABLE runs (what text, round int, seconds double precision);
SELECT format('INSERT INTO runs SELECT %L, %s, pg_temp.validate_rate(%s, %s, %L, %L)', w, r, :statements, :vcoupons, :'cart', w)
FROM generate_series(1, :rounds) AS r, (VALUES ('validate'), ('loop')) AS v(w) \gexec
SELECT what, round(avg(:statements * :vcoupons / seconds)),
       round((avg(seconds) * 1e6 / (:statements * :vcoupons))::numeric, 2),
       string_agg(round((:statements * :vcoupons / seconds)::numeric)::text, ', ' ORDER BY round)
FROM runs GROUP BY what ORDER BY what DESC;
SQL
echo
echo "validate_coupon: one statement validates $VCOUPONS claimed coupons (4 templates: store/item x fixed/percent)" \
     "on a 10-line cart; $STATEMENTS statements per round, $ROUNDS rounds, timed inside the server"
awk -F'|' '$1 == "sample" { printf "  %-14s ok=%s discount=%s %s\n", $2 ":", $3, $4, $5 }' "$WORK/validate.txt"
IFS='|' read -r _ v_rate v_us v_each < <(grep '^validate|' "$WORK/validate.txt")
IFS='|' read -r _ l_rate l_us l_each < <(grep '^loop|' "$WORK/validate.txt")

# ---- 2. claim_coupon -------------------------------------------------------------
claimed() {     # template -> "claimed|coupons"
    "${PSQL[@]}" -d "$DB" -At -F'|' -c "SELECT t.claimed, (SELECT count(*) FROM loyalty.coupon c
        WHERE c.template_id = t.template_id) FROM loyalty.coupon_template t WHERE t.code = '$1'"
}
declare -A SUM=() TX=() RUNS=()
for r in $(seq 1 "$ROUNDS"); do
    for c in "$CLIENTS" 1; do
        tmpl=claim16; [ "$c" -ne 1 ] || tmpl=claim1
        IFS='|' read -r before _ < <(claimed "$tmpl")
        "${PSQL[@]}" -d "$DB" -c 'CHECKPOINT'
        log="$WORK/claim.c$c.r$r.log"
        rc=0
        "$PGBIN/pgbench" -n -M prepared -T "$SECS" -c "$c" -j $(( c < 2 ? c : 2 )) -D members="$MEMBERS" \
            -D template="$tmpl" -f "$HERE/workloads/claim_coupon.pgbench" "$DB" >"$log" 2>&1 || rc=$?
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log" | tail -n 1)
        done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
        IFS='|' read -r after _ < <(claimed "$tmpl")
        if [ "$after" = "$QUANTITY" ] && grep -q 'sold_out\|no coupons left' "$log"; then
            # The campaign ran out during the run (a fast disk): the clients
            # that hit it aborted, so the rate is not a full run's; the
            # count is checked below all the same.
            echo "  round $r  claim_coupon  clients $c: $tmpl sold out during the run ($before claimed before);" \
                 "not counted in claims/s (lower BENCH_SECONDS or raise BENCH_COUPON_QUANTITY)"
            TX[$c]=$(( ${TX[$c]:-0} + ${done_tx:-0} ))
            continue
        fi
        if [ $rc -ne 0 ] || [ -z "$tps" ] || grep -q 'aborted in command\|client [0-9]* aborted' "$log"; then
            echo "pgbench claim_coupon -c $c failed (exit $rc; $before of $QUANTITY claimed before the run); last lines:" >&2
            tail -n 15 "$log" >&2
            status=1; continue
        fi
        SUM[$c]=$(awk -v a="${SUM[$c]:-0}" -v b="$tps" 'BEGIN{print a + b}')
        RUNS[$c]=$(( ${RUNS[$c]:-0} + 1 ))
        TX[$c]=$(( ${TX[$c]:-0} + done_tx ))
        printf '  round %s  claim_coupon  clients %3s  claims/s %s\n' "$r" "$c" "$tps"
    done
done
echo
echo "claim_coupon: $CLIENTS clients on campaign claim16, 1 client on claim1 ($QUANTITY units each," \
     "per_member_limit $QUANTITY, random member of $MEMBERS); pgbench -M prepared -T $SECS, $ROUNDS rounds interleaved"
echo "exact count after the runs:"
for c in "$CLIENTS" 1; do
    tmpl=claim16; [ "$c" -ne 1 ] || tmpl=claim1
    IFS='|' read -r n_claimed n_coupons < <(claimed "$tmpl")
    ok=ok
    [ "$n_claimed" = "$n_coupons" ] && [ "$n_coupons" -le "$QUANTITY" ] && [ "$n_coupons" = "${TX[$c]:-x}" ] || { ok=FAIL; status=1; }
    echo "  $ok   $tmpl: template.claimed $n_claimed = count(coupons) $n_coupons = claims pgbench counted ${TX[$c]:-?}; <= $QUANTITY"
done
"${PSQL[@]}" -d "$DB" -At -F'|' -c 'SELECT ok, check_name, detail FROM loyalty.verify()' >"$WORK/verify.txt"
echo "loyalty.verify():"
awk -F'|' '{ printf "  %-4s %s: %s\n", ($1 == "t" ? "ok" : "FAIL"), $2, $3 }' "$WORK/verify.txt"
if [ ! -s "$WORK/verify.txt" ] || awk -F'|' '$1 != "t" { bad = 1 } END { exit !bad }' "$WORK/verify.txt"; then
    echo "coupons.sh: loyalty.verify() is not all ok" >&2; status=1
fi

# ---- 3. issue_codes ------------------------------------------------------------------
"${PSQL[@]}" -d "$DB" -At -c "SELECT loyalty.define_coupon('bench', 'codes', '{\"kind\": \"fixed\", \"value\": 300}')" >/dev/null
"${PSQL[@]}" -d "$DB" -c 'CHECKPOINT'
t=$(now)
made=$("${PSQL[@]}" -d "$DB" -At -c "SELECT count(*) FROM loyalty.issue_codes('bench', 'codes', $CODES)")
i_secs3=$(awk -v a="$t" -v b="$(now)" 'BEGIN{printf "%.2f", b - a}')
IFS='|' read -r rows distinct issued < <("${PSQL[@]}" -d "$DB" -At -F'|' -c "
    SELECT count(*), count(DISTINCT c.code), count(*) FILTER (WHERE c.state = 'issued' AND c.member_id IS NULL)
    FROM loyalty.coupon c JOIN loyalty.coupon_template t USING (template_id) WHERE t.code = 'codes'")
echo
echo "issue_codes('bench', 'codes', $CODES): $made codes returned in $i_secs3 s (client wall clock, commit included)"
ok=ok
[ "$made" = "$CODES" ] && [ "$rows" = "$CODES" ] && [ "$distinct" = "$CODES" ] && [ "$issued" = "$CODES" ] || { ok=FAIL; status=1; }
echo "  $ok   rows of the template $rows, distinct codes $distinct, issued and unclaimed $issued (expected $CODES each)"

# ---- table ----------------------------------------------------------------------------
c16=$(awk -v s="${SUM[$CLIENTS]:-0}" -v n="${RUNS[$CLIENTS]:-0}" 'BEGIN{if (n > 0) printf "%.1f", s / n; else printf "n/a"}')
c1=$(awk -v s="${SUM[1]:-0}" -v n="${RUNS[1]:-0}" 'BEGIN{if (n > 0) printf "%.1f", s / n; else printf "n/a"}')
i_rate=$(awk -v n="$CODES" -v s="$i_secs3" 'BEGIN{d = s + 0; if (d <= 0) d = 0.001; printf "%.0f", n / d}')
row() { printf '%-58s | %12s | %10s | %s\n' "$@"; }
echo
row "coupons ($(nproc) cores)" "rate" "us each" "each round"
printf '%s\n' "-----------------------------------------------------------+--------------+------------+-----------"
row "validate_coupon, $VCOUPONS per statement, 10-line cart" "$v_rate /s" "$v_us" "$v_each"
row "  loop alone (no call; included above)" "$l_rate /s" "$l_us" "$l_each"
row "claim_coupon, $CLIENTS clients, one campaign" "$c16 /s" "$(awk -v r="$c16" 'BEGIN{v = 0; if (r + 0 > 0) v = 1e6 / r; printf "%.1f", v}')" "(mean of ${RUNS[$CLIENTS]:-0} x ${SECS}s)"
row "claim_coupon, 1 client (reference)" "$c1 /s" "$(awk -v r="$c1" 'BEGIN{v = 0; if (r + 0 > 0) v = 1e6 / r; printf "%.1f", v}')" "(mean of ${RUNS[1]:-0} x ${SECS}s)"
row "issue_codes, $CODES codes in one call: $i_secs3 s" "$i_rate /s" "$(awk -v r="$i_rate" 'BEGIN{v = 0; if (r + 0 > 0) v = 1e6 / r; printf "%.2f", v}')" "-"
echo
echo "targets:"
limit=$(awk -v n="$CODES" 'BEGIN{printf "%.2f", 10 * n / 1000000}')
verdict=met; awk -v s="$i_secs3" -v l="$limit" 'BEGIN{exit !(s <= l)}' || verdict="NOT met"
echo "  issue_codes of $CODES codes: $i_secs3 s (target <= $limit s: $verdict)"
verdict=met; awk -v r="$v_rate" 'BEGIN{exit !(r >= 50000)}' || verdict="NOT met"
echo "  validate_coupon on one core: $v_rate calls/s (target >= 50000 calls/s: $verdict)"
[ $status -eq 0 ] || echo "coupons.sh: a check failed (see above)" >&2
exit $status
