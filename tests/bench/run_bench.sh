#!/usr/bin/env bash
# tests/bench/run_bench.sh: what `make bench` runs. Starts a throw-away cluster
# with durable settings and, for each pgbench script tests/bench/workloads/NAME.sql,
# runs NAME.setup.sql once (psql) then pgbench for each client count, and prints
# "workload | clients | tps | ratio to baseline" (also written to
# /tmp/loyalty-bench-results.txt). Script header comments it understands:
#   -- baseline: OTHER_WORKLOAD     (ratio = tps / OTHER_WORKLOAD's tps, same clients)
#   -- clients: 1 4 16              (overrides BENCH_CLIENTS)
#   -- rounds: N                    (overrides BENCH_ROUNDS; give a workload and
#                                    its baseline the same N)
#   -- pgoptions: -c name=value     (PGOPTIONS for its pgbench sessions)
#   -- target_ratio: R C            (after the table: is ratio >= R at C clients?)
#   -- target_overhead_us: U        (after the table, per client count: the
#                                    microseconds per transaction over the
#                                    baseline, 1e6/tps - 1e6/baseline tps; < U?)
#   -- group: G                     (BENCH_ONLY=G selects every workload of group G)
# Each workload gets its own database (bench_NAME) with the extension created.
# NAME.check.sql, if present, runs after the last round (psql, with variables
# :members and :transactions, the transactions pgbench reported for NAME over
# all its runs); if it fails, NAME's figures are replaced by FAILED (check).
# Env: BENCH_SECONDS (20), BENCH_ROUNDS (2: interleaved rounds, tps is the mean), BENCH_CLIENTS ("1 4 16"), BENCH_ONLY ("w1 w2": subset,
# or group names; the baselines they name are added, and theirs; the word `quote` selects tests/bench/quote.sh,
# which otherwise runs only when BENCH_ONLY is unset; likewise `coupons` selects
# tests/bench/coupons.sh), BENCH_QUOTE (1; 0 skips quote.sh), BENCH_COUPONS (1; 0
# skips coupons.sh), BENCH_MEMBERS (100000: passed to every setup
# script as psql variable :members and to pgbench as -D members=N),
# BENCH_RESULTS (/tmp/loyalty-bench-results.txt), LOYALTY_KEEP_CLUSTER=1.
# Hooks: tests/bench/quote.sh (quote_points calls/s), tests/bench/coupons.sh
# (validate_coupon calls/s, claim_coupon claims/s, issue_codes seconds), then tests/bench/extra.sh,
# if executable, run after the table with PGHOST etc. set.
set -euo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/common.sh
source tests/lib/common.sh
cd "$LY_ROOT"

SECS=${BENCH_SECONDS:-20}
DEFAULT_CLIENTS=${BENCH_CLIENTS:-1 4 16}
MEMBERS=${BENCH_MEMBERS:-100000}
[[ "$MEMBERS" =~ ^[1-9][0-9]*$ ]] || ly_die "BENCH_MEMBERS must be a positive integer, got '$MEMBERS'"
export BENCH_MEMBERS=$MEMBERS
WL_DIR=tests/bench/workloads
RESULTS=${BENCH_RESULTS:-/tmp/loyalty-bench-results.txt}
PSQL=("$LY_PGBIN/psql" -X -q -v ON_ERROR_STOP=1)

ly_install_deps
ly_build_install || ly_die "build failed (see log/build.log)"
ly_cluster_start --durable shared_buffers=512MB max_connections=100
WORK=$(mktemp -d /tmp/loyalty-benchrun-XXXXXX)
ly_on_exit "rm -rf '$WORK'"

# The figure of each round, the workload's round i against its baseline's:
# per_round "TPS1 TPS2.." "BASE1 BASE2.." FORMAT EXPR (awk, over a and x).
per_round() {
    awk -v w="$1" -v b="$2" -v f="$3" "BEGIN{n = split(w, W, \" \"); split(b, B, \" \");
        for (i = 1; i <= n; i++) { a = W[i]; x = B[i]; if (x == \"\" || a <= 0 || x <= 0) continue;
            printf \"%s\" f, (s++ ? \", \" : \"\"), $4 } }"
}

header_value() {    # file key -> value of the first "-- key: value" line
    sed -n "s/^--[[:space:]]*$2:[[:space:]]*//p" "$1" | head -n 1 | sed 's/[[:space:]]*$//'
}

# Workloads (NAME.sql, not NAME.setup.sql), plus baselines of selected ones.
ALL=()
for f in "$WL_DIR"/*.sql; do
    [ -e "$f" ] || continue
    case "$f" in *.setup.sql|*.check.sql) continue ;; esac
    ALL+=("$(basename "$f" .sql)")
done
SELECTED=()
VISITING=" "
select_workload() {    # NAME, after the baselines it names (theirs first)
    local w=$1 b
    [[ " ${SELECTED[*]-} " == *" $w "* || "$VISITING" == *" $w "* ]] && return 0
    VISITING+="$w "
    if [ -f "$WL_DIR/$w.sql" ]; then
        b=$(header_value "$WL_DIR/$w.sql" baseline)
        [ -z "$b" ] || [ "$b" = "$w" ] || select_workload "$b"
    fi
    [[ " ${SELECTED[*]-} " == *" $w "* ]] || SELECTED+=("$w")
}
RUN_QUOTE=${BENCH_QUOTE:-1}
RUN_COUPONS=${BENCH_COUPONS:-1}
if [ -n "${BENCH_ONLY:-}" ]; then
    [[ " $BENCH_ONLY " == *" quote "* ]] || RUN_QUOTE=0
    [[ " $BENCH_ONLY " == *" coupons "* ]] || RUN_COUPONS=0
    for w in $BENCH_ONLY; do
        [ "$w" != quote ] && [ "$w" != coupons ] || continue
        if [ -f "$WL_DIR/$w.sql" ]; then
            select_workload "$w"
            continue
        fi
        found=0
        for x in "${ALL[@]+"${ALL[@]}"}"; do
            [[ " $(header_value "$WL_DIR/$x.sql" group) " == *" $w "* ]] || continue
            select_workload "$x"; found=1
        done
        [ $found -eq 1 ] || ly_die "BENCH_ONLY: no workload $WL_DIR/$w.sql and no workload in group $w"
    done
else
    SELECTED=("${ALL[@]+"${ALL[@]}"}")
fi

server_version=$("${PSQL[@]}" -At -c 'SHOW server_version')
{
    echo "loyalty benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')  git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "cores (nproc): $(nproc)   PostgreSQL: $server_version"
    echo "settings: $("${PSQL[@]}" -At -F' ' -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers','max_connections','wal_level','max_wal_size')")"
    echo "pgbench: -n -M prepared -T $SECS -c C -j min(C,2) -D members=$MEMBERS; default clients: $DEFAULT_CLIENTS"
    for w in "${SELECTED[@]+"${SELECTED[@]}"}"; do
        o=$(header_value "$WL_DIR/$w.sql" pgoptions 2>/dev/null || true)
        [ -z "$o" ] || echo "  $w: PGOPTIONS='$o'"
        o=$(header_value "$WL_DIR/$w.sql" rounds 2>/dev/null || true)
        [ -z "$o" ] || echo "  $w: $o rounds"
    done
    echo "rounds: ${BENCH_ROUNDS:-2}, interleaved (each workload next to its baseline at every client count); tps is the mean"
} | tee "$WORK/header.txt"

declare -A TPS=()   # "workload|clients" -> tps or FAILED
ORDER=()            # "workload|clients" in run order
FAILED=0

# Set every workload's database up first, then measure them interleaved: for
# each round and client count, every workload in turn (a baseline right next
# to its workload), so drift over the run (WAL, bloat, checkpoints) falls on
# both sides of a ratio.  TPS is the mean over BENCH_ROUNDS rounds.
ROUNDS=${BENCH_ROUNDS:-2}
MAX_ROUNDS=$ROUNDS  # the most any workload asks for (-- rounds: N)
READY=()
declare -A CLIENTS=() DB=() SUM=() RUNS=() PGOPTS=() WROUNDS=() ROUND_TPS=()
for w in "${SELECTED[@]+"${SELECTED[@]}"}"; do
    script="$WL_DIR/$w.sql"
    [ -f "$script" ] || { echo "baseline workload $script missing" >&2; FAILED=1; continue; }
    clients=$(header_value "$script" clients)
    CLIENTS[$w]=${clients:-$DEFAULT_CLIENTS}
    WROUNDS[$w]=$(header_value "$script" rounds)
    WROUNDS[$w]=${WROUNDS[$w]:-$ROUNDS}
    [[ "${WROUNDS[$w]}" =~ ^[1-9][0-9]*$ ]] || ly_die "$script: rounds must be a positive integer"
    [ "${WROUNDS[$w]}" -le "$MAX_ROUNDS" ] || MAX_ROUNDS=${WROUNDS[$w]}
    PGOPTS[$w]=$(header_value "$script" pgoptions)
    db="bench_$(printf '%s' "$w" | tr -c 'A-Za-z0-9_' '_')"
    DB[$w]=$db
    echo
    ly_log "workload $w (database $db, clients: ${CLIENTS[$w]})"
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
    "${PSQL[@]}" -d "$db" -c 'CREATE EXTENSION loyalty'
    if [ -f "$WL_DIR/$w.setup.sql" ]; then
        t0=$(date +%s)
        if ! "${PSQL[@]}" -v members="$MEMBERS" -d "$db" -f "$WL_DIR/$w.setup.sql" >"$WORK/$w.setup.log" 2>&1; then
            cat "$WORK/$w.setup.log" >&2
            echo "setup of $w failed: skipping it" >&2
            for c in ${CLIENTS[$w]}; do TPS["$w|$c"]=FAILED; ORDER+=("$w|$c"); done
            FAILED=1; continue
        fi
        echo "  setup ($w.setup.sql, members=$MEMBERS) took $(( $(date +%s) - t0 )) s"
    fi
    "${PSQL[@]}" -d "$db" -c 'VACUUM ANALYZE'
    READY+=("$w")
done

ALL_CLIENTS=$(for w in "${READY[@]+"${READY[@]}"}"; do printf '%s\n' ${CLIENTS[$w]}; done | sort -n -u)
for r in $(seq 1 "$MAX_ROUNDS"); do
    for c in $ALL_CLIENTS; do
        for w in "${READY[@]+"${READY[@]}"}"; do
            [[ " ${CLIENTS[$w]} " == *" $c "* ]] || continue
            [ "$r" -le "${WROUNDS[$w]}" ] || continue
            [ "${TPS["$w|$c"]:-}" = FAILED ] && continue
            j=$(( c < 2 ? c : 2 ))
            # Start from a vacuumed, checkpointed database: what the previous
            # run left to do in the background (autovacuum of its rows, dirty
            # pages) must not fall into this run's window.
            "${PSQL[@]}" -d "${DB[$w]}" -c 'VACUUM'
            "${PSQL[@]}" -d "${DB[$w]}" -c 'CHECKPOINT'
            log="$WORK/$w.c$c.r$r.log"
            rc=0
            PGOPTIONS="${PGOPTIONS:-} ${PGOPTS[$w]}" "$LY_PGBIN/pgbench" -n -M prepared -T "$SECS" -c "$c" -j "$j" -D members="$MEMBERS" \
                -f "$WL_DIR/$w.sql" "${DB[$w]}" \
                >"$log" 2>&1 || rc=$?
            tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log" | tail -n 1)
            if [ $rc -ne 0 ] || [ -z "$tps" ] || grep -q 'aborted in command\|client [0-9]* aborted' "$log"; then
                echo "pgbench $w -c $c failed (exit $rc); last lines:" >&2
                tail -n 15 "$log" >&2
                TPS["$w|$c"]=FAILED; FAILED=1
                continue
            fi
            SUM["$w|$c"]=$(awk -v a="${SUM["$w|$c"]:-0}" -v b="$tps" 'BEGIN{print a + b}')
            RUNS["$w|$c"]=$(( ${RUNS["$w|$c"]:-0} + 1 ))
            ROUND_TPS["$w|$c"]+="$tps "
            printf '  round %s  %-28s clients %3s  tps %s\n' "$r" "$w" "$c" "$tps"
        done
    done
done
for w in "${READY[@]+"${READY[@]}"}"; do
    for c in ${CLIENTS[$w]}; do
        if [ "${TPS["$w|$c"]:-}" != FAILED ]; then
            TPS["$w|$c"]=$(awk -v s="${SUM["$w|$c"]}" -v n="${RUNS["$w|$c"]}" 'BEGIN{print s / n}')
        fi
        ORDER+=("$w|$c")
    done
done

# NAME.check.sql: after the last round, check what the runs wrote; a workload
# whose check fails reports no figures.
: >"$WORK/checks.txt"
for w in "${READY[@]+"${READY[@]}"}"; do
    [ -f "$WL_DIR/$w.check.sql" ] || continue
    n=0
    for log in "$WORK/$w".c*.r*.log; do
        [ -e "$log" ] || continue
        x=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
        n=$(( n + ${x:-0} ))
    done
    echo
    ly_log "check $w ($w.check.sql, $n transactions)"
    rc=0; t0=$(date +%s)
    "${PSQL[@]}" -v members="$MEMBERS" -v transactions="$n" -d "${DB[$w]}" -f "$WL_DIR/$w.check.sql" \
        >"$WORK/$w.check.log" 2>&1 || rc=$?
    {
        echo "check $w ($w.check.sql, $n pgbench transactions, $(( $(date +%s) - t0 )) s):" \
             "$([ $rc -eq 0 ] && echo ok || echo FAILED)"
        sed 's/^/  /' "$WORK/$w.check.log"
    } | tee -a "$WORK/checks.txt"
    if [ $rc -ne 0 ]; then
        FAILED=1
        for c in ${CLIENTS[$w]}; do TPS["$w|$c"]="FAILED (check)"; done
    fi
done

{
    echo
    if [ ${#ORDER[@]} -eq 0 ]; then
        echo "no pgbench workloads selected ($WL_DIR/*.sql)"
    else
        printf '%-28s | %7s | %12s | %s\n' workload clients tps "ratio to baseline"
        printf '%s\n' "-----------------------------+---------+--------------+------------------"
        for k in "${ORDER[@]}"; do
            w=${k%|*}; c=${k#*|}; tps=${TPS[$k]}
            b=$(header_value "$WL_DIR/$w.sql" baseline 2>/dev/null || true)
            ratio=-
            if [ -n "$b" ] && [ "$b" != "$w" ]; then
                bt=${TPS["$b|$c"]:-}
                if [[ "$tps" =~ ^[0-9.]+$ && "$bt" =~ ^[0-9.]+$ ]] && awk -v x="$bt" 'BEGIN{exit !(x > 0)}'; then
                    ratio="$(awk -v a="$tps" -v x="$bt" 'BEGIN{printf "%.2f", a / x}') (vs $b)"
                else
                    ratio="n/a (vs $b)"
                fi
            fi
            [[ "$tps" =~ ^[0-9.]+$ ]] && tps=$(awk -v a="$tps" 'BEGIN{printf "%.1f", a}')
            printf '%-28s | %7s | %12s | %s\n' "$w" "$c" "$tps" "$ratio"
        done
    fi

    # Targets named in the scripts' headers.
    first=1
    for w in "${READY[@]+"${READY[@]}"}"; do
        b=$(header_value "$WL_DIR/$w.sql" baseline)
        [ -n "$b" ] || continue
        tr=$(header_value "$WL_DIR/$w.sql" target_ratio)
        tu=$(header_value "$WL_DIR/$w.sql" target_overhead_us)
        [ -n "$tr$tu" ] || continue
        [ $first -eq 0 ] || { echo; echo "targets:"; first=0; }
        if [ -n "$tr" ]; then
            read -r rt rc <<<"$tr"
            tps=${TPS["$w|$rc"]:-}; bt=${TPS["$b|$rc"]:-}
            if [[ "$tps" =~ ^[0-9.]+$ && "$bt" =~ ^[0-9.]+$ ]] && awk -v x="$bt" 'BEGIN{exit !(x > 0)}'; then
                ratio=$(awk -v a="$tps" -v x="$bt" 'BEGIN{printf "%.2f", a / x}')
                verdict=met; awk -v r="$ratio" -v t="$rt" 'BEGIN{exit !(r >= t)}' || verdict="NOT met"
                echo "  $w / $b at $rc clients: $ratio (target >= $rt: $verdict;" \
                     "rounds: $(per_round "${ROUND_TPS["$w|$rc"]}" "${ROUND_TPS["$b|$rc"]}" '%.2f' 'a / x'))"
            else
                echo "  $w / $b at $rc clients: n/a (target >= $rt)"
            fi
        fi
        if [ -n "$tu" ]; then
            for c in ${CLIENTS[$w]}; do
                tps=${TPS["$w|$c"]:-}; bt=${TPS["$b|$c"]:-}
                if [[ "$tps" =~ ^[0-9.]+$ && "$bt" =~ ^[0-9.]+$ ]] && awk -v a="$tps" -v x="$bt" 'BEGIN{exit !(a > 0 && x > 0)}'; then
                    us=$(awk -v a="$tps" -v x="$bt" 'BEGIN{printf "%.1f", 1e6 / a - 1e6 / x}')
                    verdict=met; awk -v u="$us" -v t="$tu" 'BEGIN{exit !(u < t)}' || verdict="NOT met"
                    echo "  $w over $b at $c client(s): $us us per transaction" \
                         "(1e6/tps - 1e6/baseline tps; target < $tu us: $verdict;" \
                         "rounds: $(per_round "${ROUND_TPS["$w|$c"]}" "${ROUND_TPS["$b|$c"]}" '%.1f' '1e6 / a - 1e6 / x'))"
                else
                    echo "  $w over $b at $c client(s): n/a (target < $tu us)"
                fi
            done
        fi
    done
} | tee "$WORK/table.txt"
cat "$WORK/header.txt" "$WORK/checks.txt" "$WORK/table.txt" >"$RESULTS"

if [ "$RUN_QUOTE" != 0 ] && [ -x tests/bench/quote.sh ]; then
    echo
    ly_log "tests/bench/quote.sh"
    rc=0
    tests/bench/quote.sh 2>&1 | tee -a "$RESULTS" || rc=$?
    [ $rc -eq 0 ] || { echo "tests/bench/quote.sh failed (exit $rc)" >&2; FAILED=1; }
fi

if [ "$RUN_COUPONS" != 0 ] && [ -x tests/bench/coupons.sh ]; then
    echo
    ly_log "tests/bench/coupons.sh"
    rc=0
    tests/bench/coupons.sh 2>&1 | tee -a "$RESULTS" || rc=$?
    [ $rc -eq 0 ] || { echo "tests/bench/coupons.sh failed (exit $rc)" >&2; FAILED=1; }
fi

if [ -x tests/bench/extra.sh ]; then
    echo
    ly_log "tests/bench/extra.sh"
    rc=0
    LOYALTY_BENCH_RESULTS=$RESULTS tests/bench/extra.sh 2>&1 | tee -a "$RESULTS" || rc=$?
    [ $rc -eq 0 ] || { echo "tests/bench/extra.sh failed (exit $rc)" >&2; FAILED=1; }
fi

echo
echo "results written to $RESULTS"
[ $FAILED -eq 0 ]
