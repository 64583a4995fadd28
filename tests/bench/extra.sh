#!/usr/bin/env bash
# tests/bench/extra.sh: run_expiry over 1,000,000 expired lots while members
# keep spending.  Run by tests/bench/run_bench.sh after its table, with the
# cluster's PGHOST/PGPORT/PGUSER exported (it can also be run by hand against
# any cluster where the loyalty extension is installed).
#
#   1. database bench_expiry: MEMBERS members, each with LOTS lots already
#      expired at as_of (lot k of every member earned in month k and expiring
#      at the start of month k+1, the shape points_expire_months gives: all
#      members' k-th lots share one expiry instant) and one open lot of
#      1,000,000 points.  Everything goes through loyalty.enroll / loyalty.earn (direct INSERTs
#      would bypass the ledger), in SESSIONS parallel psql sessions.
#   2. CLIENTS pgbench clients spend 1 point on random members, RATE spends/s
#      in all (pgbench -R: open loop, so a stalled spend delays the next ones
#      and their latency shows it), for QUIET_SECONDS with no job: the
#      latency to compare with.
#   3. CALL loyalty.run_expiry(as_of, BATCH) while the same spends run, with
#      per-transaction latency logs (pgbench -l).  spends/s counts the spends
#      that completed while the job ran (job_runs.started_at .. finished_at);
#      p50/p99/max are over the spends scheduled while it ran.
#   4. loyalty.verify() must be all ok; no expired remainder may be left.
#
# Env (defaults = the issue's sizes): BENCH_EXPIRY=0 skips it all,
# BENCH_EXPIRY_MEMBERS (100000), BENCH_EXPIRY_LOTS (10 per member),
# BENCH_EXPIRY_BATCH (10000), BENCH_EXPIRY_CLIENTS (4),
# BENCH_EXPIRY_RATE (200 spends/s; 0: closed loop, as fast as possible),
# BENCH_EXPIRY_SESSIONS (2 psql sessions creating lots),
# BENCH_EXPIRY_QUIET_SECONDS (5; 0 skips step 2), BENCH_EXPIRY_P99_TARGET_MS (50),
# BENCH_EXPIRY_DRAIN_SECONDS (3: spends keep running after the job).
set -euo pipefail

if [ "${BENCH_EXPIRY:-1}" = 0 ]; then echo "run_expiry benchmark skipped (BENCH_EXPIRY=0)"; exit 0; fi
PGBIN=${LY_PGBIN:-/usr/lib/postgresql/15/bin}
MEMBERS=${BENCH_EXPIRY_MEMBERS:-100000}
LOTS=${BENCH_EXPIRY_LOTS:-10}
BATCH=${BENCH_EXPIRY_BATCH:-10000}
CLIENTS=${BENCH_EXPIRY_CLIENTS:-4}
SESSIONS=${BENCH_EXPIRY_SESSIONS:-2}
QUIET_SECONDS=${BENCH_EXPIRY_QUIET_SECONDS:-5}
TARGET_MS=${BENCH_EXPIRY_P99_TARGET_MS:-50}
RATE=${BENCH_EXPIRY_RATE:-200}
DRAIN_SECONDS=${BENCH_EXPIRY_DRAIN_SECONDS:-3}
DB=bench_expiry

for v in MEMBERS LOTS BATCH CLIENTS SESSIONS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "extra.sh: BENCH_EXPIRY_$v must be a positive integer" >&2; exit 2; }
done
for v in QUIET_SECONDS RATE DRAIN_SECONDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "extra.sh: BENCH_EXPIRY_$v must be an integer >= 0" >&2; exit 2; }
done
[ "$SESSIONS" -le "$MEMBERS" ] || SESSIONS=$MEMBERS

PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
WORK=$(mktemp -d /tmp/loyalty-bench-expiry-XXXXXX)
PGB_PID=
cleanup() {
    [ -z "$PGB_PID" ] || { kill "$PGB_PID" 2>/dev/null; wait "$PGB_PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}'; }

echo "run_expiry benchmark: $MEMBERS members x $LOTS expired lots," \
     "batch_size $BATCH, $CLIENTS spending clients; cores (nproc): $(nproc)"

# ---- 1. data, through the API ------------------------------------------------
"${PSQL[@]}" -d postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $DB"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c 'CREATE EXTENSION loyalty'

t=$(now)
"${PSQL[@]}" -d "$DB" -o /dev/null <<SQL
SELECT loyalty.create_program('bench', 'Benchmark programme');
SELECT count(loyalty.enroll('bench', 'customer-' || g)) FROM generate_series(1, $MEMBERS) AS g;
DO \$\$
DECLARE lo bigint; hi bigint; n bigint;
BEGIN
    SELECT min(member_id), max(member_id), count(*) INTO lo, hi, n FROM loyalty.member;
    IF lo <> 1 OR hi <> n THEN
        RAISE EXCEPTION 'member ids are %..% (% members), expected 1..%', lo, hi, n, n;
    END IF;
END
\$\$;
SQL
echo "  enrolled $MEMBERS members in $(elapsed "$t") s"

# Lot k (1..LOTS) of every member: earned at t0 + (k-1) months, expiring at
# t0 + k months, all before as_of (now).  The open lot: earned yesterday,
# expiring in a year.
T0=$("${PSQL[@]}" -d "$DB" -At -c \
    "SELECT date_trunc('month', now()) - interval '$((LOTS + 2)) months'")
t=$(now)
per=$(( (MEMBERS + SESSIONS - 1) / SESSIONS ))
pids=()
for ((s = 0; s < SESSIONS; s++)); do
    lo=$(( s * per + 1 )); hi=$(( (s + 1) * per )); [ $hi -le "$MEMBERS" ] || hi=$MEMBERS
    [ $lo -le $hi ] || continue
    {
        for ((k = 1; k <= LOTS; k++)); do
            echo "SELECT count(loyalty.earn(m, 100, 'bench-setup', 'expired-$k',
                    expires_at => timestamptz '$T0' + interval '$k months',
                    at => timestamptz '$T0' + interval '$((k - 1)) months'))
                  FROM generate_series($lo, $hi) AS m;"
        done
        echo "SELECT count(loyalty.earn(m, 1000000, 'bench-setup', 'open',
                expires_at => now() + interval '1 year', at => now() - interval '1 day'))
              FROM generate_series($lo, $hi) AS m;"
    } | "${PSQL[@]}" -d "$DB" -o /dev/null >"$WORK/load.$s.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
if [ $rc -ne 0 ]; then cat "$WORK"/load.*.log >&2; echo "extra.sh: creating lots failed" >&2; exit 1; fi
create_secs=$(elapsed "$t")
nlots=$(( MEMBERS * (LOTS + 1) ))
echo "  created $nlots lots with loyalty.earn in $create_secs s ($SESSIONS sessions," \
     "$(awk -v n=$nlots -v s="$create_secs" 'BEGIN{printf "%.0f", n / (s > 0 ? s : 1)}') earns/s)"
"${PSQL[@]}" -d "$DB" -c 'VACUUM ANALYZE' -c 'CHECKPOINT'

AS_OF=$("${PSQL[@]}" -d "$DB" -At -c 'SELECT now()')
expired_before=$("${PSQL[@]}" -d "$DB" -At -c \
    "SELECT count(*) FROM loyalty.points_lot WHERE remaining > 0 AND expires_at <= '$AS_OF'")

# ---- spends, with per-transaction latency logs --------------------------------
# At a fixed rate (pgbench -R, RATE spends/s over all clients) by default: a
# spend stuck behind a lock then delays the ones scheduled after it, and their
# logged latency counts from their scheduled start, so a stall shows in the
# percentiles instead of just lowering the number of samples (coordinated
# omission).  RATE=0: closed loop, as fast as the clients go.
cat >"$WORK/spend.sql" <<'EOF'
\set member random(1, :members)
\set ref random(1, 9000000000000000000)
SELECT loyalty.spend(:member, 1, 'bench', :ref);
EOF
J=$(( CLIENTS < 2 ? CLIENTS : 2 ))
RATE_OPT=(); [ "$RATE" -eq 0 ] || RATE_OPT=(-R "$RATE")
pgb() {     # pgb SECONDS LOGPREFIX
    "$PGBIN/pgbench" -n -M prepared -T "$1" -c "$CLIENTS" -j "$J" -D members="$MEMBERS" \
        "${RATE_OPT[@]}" -l --log-prefix="$2" -f "$WORK/spend.sql" "$DB"
}
# stats FROM TO LOGS...: "done p50_ms p99_ms max_ms n": done = spends that
# completed in [FROM, TO] (epoch seconds); the percentiles are over the n
# spends scheduled to start in [FROM, TO].  pgbench -l line:
#   client_id transaction_no latency_us script_no end_epoch_s end_epoch_us [lag_us]
# (with -R, latency_us counts from the scheduled start, lag included).
stats() {
    local from=$1 to=$2 done; shift 2
    cat "$@" >"$WORK/stats.in"
    done=$(awk -v from="$from" -v to="$to" '
        $3 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6; if (t >= from && t <= to) n++ }
        END { print n + 0 }' "$WORK/stats.in")
    awk -v from="$from" -v to="$to" '
        $3 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6 - $3 / 1e6; if (t >= from && t <= to) print $3 / 1000.0 }' \
        "$WORK/stats.in" | sort -g | awk -v done="$done" '
        { v[n++] = $1 }
        END {
            if (n == 0) { printf "%d - - - 0\n", done; exit }
            i50 = int(0.50 * n + 0.999999) - 1; i99 = int(0.99 * n + 0.999999) - 1
            printf "%d %.2f %.2f %.2f %d\n", done, v[i50], v[i99], v[n - 1], n }'
}
check_pgbench_out() {   # a spend that failed (not a connection we ended) is an error
    if grep -q 'ERROR:\|failed transactions: [1-9]' "$1"; then
        echo "extra.sh: spends failed:" >&2; grep -m 5 'ERROR:\|failed transactions' "$1" >&2; return 1
    fi
}

# ---- 2. spends alone ------------------------------------------------------------
quiet=""
if [ "$QUIET_SECONDS" -gt 0 ]; then
    q0=$(now)
    pgb "$QUIET_SECONDS" "$WORK/quiet" >"$WORK/quiet.out" 2>&1 \
        || { cat "$WORK/quiet.out" >&2; exit 1; }
    q1=$(now)
    check_pgbench_out "$WORK/quiet.out"
    quiet=$(stats "$q0" "$q1" "$WORK"/quiet.[0-9]*)
    quiet_secs=$(awk -v a="$q0" -v b="$q1" 'BEGIN{printf "%.1f", b - a}')
fi

# ---- 3. run_expiry while spending ------------------------------------------------
# One pgbench for the whole job (started first so the window is covered),
# given DRAIN_SECONDS after it for the spends it held up to finish, then ended
# by terminating its connections: its clients abort, it writes its logs and
# exits.  (Back-to-back short pgbench runs would each drop their backlog.)
pgb 3600 "$WORK/during" >"$WORK/during.out" 2>&1 &
PGB_PID=$!
sleep 1
t=$(now)
rc=0
"${PSQL[@]}" -d "$DB" -c "CALL loyalty.run_expiry('$AS_OF', $BATCH)" >"$WORK/job.log" 2>&1 || rc=$?
wall=$(elapsed "$t")
sleep "$DRAIN_SECONDS"
"${PSQL[@]}" -d "$DB" -At -o /dev/null -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'pgbench' AND pid <> pg_backend_pid()"
wait "$PGB_PID" || true
PGB_PID=
if [ $rc -ne 0 ]; then cat "$WORK/job.log" >&2; echo "extra.sh: run_expiry failed" >&2; exit 1; fi
check_pgbench_out "$WORK/during.out"

IFS='|' read -r run_items run_batches job_from job_to job_secs < <("${PSQL[@]}" -d "$DB" -At -c "
    SELECT items, batches, extract(epoch FROM started_at), extract(epoch FROM finished_at),
           round(extract(epoch FROM finished_at - started_at)::numeric, 1)
    FROM loyalty.job_runs WHERE job = 'run_expiry' AND state = 'done'
    ORDER BY run_id DESC LIMIT 1")
[ -n "${run_items:-}" ] || { cat "$WORK/job.log" >&2; echo "extra.sh: no finished run in loyalty.job_runs" >&2; exit 1; }
during=$(stats "$job_from" "$job_to" "$WORK"/during.[0-9]*)

# ---- table ---------------------------------------------------------------------------
read -r d_n d_p50 d_p99 d_max d_sampled <<<"$during"
if [ "$d_sampled" -eq 0 ]; then
    tail -n 20 "$WORK/during.out" >&2; echo "extra.sh: no spend ran during the job" >&2; exit 1
fi
rate_txt=$([ "$RATE" -eq 0 ] && echo "as fast as they go (closed loop)" || echo "at $RATE spends/s in all (pgbench -R)")
row() { printf '%-20s | %8s | %7s | %7s | %8s | %8s | %8s | %8s\n' "$@"; }
echo
echo "run_expiry(as_of, $BATCH) over $expired_before expired lots ($MEMBERS members x $LOTS)" \
     "while $CLIENTS clients spend $rate_txt; cores (nproc): $(nproc)"
row phase lots seconds lots/s spends/s "p50 ms" "p99 ms" "max ms"
printf '%s\n' "---------------------+----------+---------+---------+----------+----------+----------+---------"
if [ -n "$quiet" ]; then
    read -r q_n q_p50 q_p99 q_max _ <<<"$quiet"
    row "spends alone" - "$quiet_secs" - "$(awk -v n="$q_n" -v s="$quiet_secs" 'BEGIN{printf "%.1f", n / s}')" \
        "$q_p50" "$q_p99" "$q_max"
fi
row "run_expiry + spends" "$run_items" "$job_secs" \
    "$(awk -v n="$run_items" -v s="$job_secs" 'BEGIN{printf "%.0f", n / (s > 0 ? s : 0.001)}')" \
    "$(awk -v n="$d_n" -v s="$job_secs" 'BEGIN{printf "%.1f", n / (s > 0 ? s : 0.001)}')" \
    "$d_p50" "$d_p99" "$d_max"
per_batch=$(sed -n 's/.*run_expiry: batch [0-9]*: \([0-9]*\) lots.*/\1/p' "$WORK/job.log" \
    | awk 'NR == 1 { lo = hi = $1 } { lo = $1 < lo ? $1 : lo; hi = $1 > hi ? $1 : hi }
           END { if (NR) printf "%s..%s", lo, hi; else printf "?" }')
echo "job: $run_batches batches of $per_batch lots; $wall s wall clock for the CALL;" \
     "spends: $d_n completed during the job, percentiles over the $d_sampled scheduled during it"
if [[ "$d_p99" =~ ^[0-9.]+$ ]]; then
    verdict=met
    awk -v p="$d_p99" -v t="$TARGET_MS" 'BEGIN{exit !(p < t)}' || verdict="NOT met"
    echo "p99 spend latency during the job: $d_p99 ms (target < $TARGET_MS ms: $verdict)"
fi

# ---- 4. consistency ---------------------------------------------------------------------
echo
left=$("${PSQL[@]}" -d "$DB" -At -c \
    "SELECT count(*) FROM loyalty.points_lot WHERE remaining > 0 AND expires_at <= '$AS_OF'")
t=$(now)
"${PSQL[@]}" -d "$DB" -At -F'|' -c 'SELECT ok, check_name, detail FROM loyalty.verify()' >"$WORK/verify.txt"
echo "loyalty.verify() ($(elapsed "$t") s):"
awk -F'|' '{ printf "  %-4s %s: %s\n", ($1 == "t" ? "ok" : "FAIL"), $2, $3 }' "$WORK/verify.txt"
bad=$(awk -F'|' '$1 != "t"' "$WORK/verify.txt" | wc -l)
[ -s "$WORK/verify.txt" ] || bad=1
status=0
if [ "$left" != 0 ]; then echo "extra.sh: $left expired lots still hold points after run_expiry" >&2; status=1; fi
if [ "$run_items" != "$expired_before" ]; then
    echo "extra.sh: run_expiry booked $run_items lots, $expired_before were expired" >&2; status=1
fi
if [ "$bad" != 0 ]; then echo "extra.sh: loyalty.verify() reports $bad failed checks" >&2; status=1; fi
[ $status -ne 0 ] || echo "loyalty.verify(): all ok; no expired remainder left"
exit $status
