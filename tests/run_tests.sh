#!/usr/bin/env bash
# tests/run_tests.sh: what `make test` (and .ci/run) runs. Installs Debian deps,
# builds and installs loyalty, starts a throw-away cluster, then runs the
# pg_regress suites (REGRESS in the Makefile: sql/NAME.sql vs expected/NAME.out),
# the isolation specs (tests/isolation/*.spec), the TAP tests (tests/t/*.pl) and
# the user guides' examples (tests/docs/check_docs.pl: docs/*.md run, and their
# shown output compared), then all four again on PostgreSQL 17 in a Debian 13
# chroot (tests/pg_chroot.sh), prints a summary and a closing "N passed,
# N failed" line.
# Usage: tests/run_tests.sh [regress] [isolation] [tap] [docs] [pg17] [pg18]
#   (default: all but pg18, which runs in a chroot of Debian unstable)
# Env: LOYALTY_KEEP_CLUSTER=1 keeps the cluster; PROVE_FLAGS adds prove flags (e.g. -j2).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=tests/lib/common.sh
source tests/lib/common.sh
cd "$LY_ROOT"

SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(regress isolation tap docs pg17)
for s in "${SUITES[@]}"; do
    case "$s" in regress|isolation|tap|docs|pg17|pg18) ;;
        *) ly_die "unknown suite '$s' (regress, isolation, tap, docs, pg17, pg18)";; esac
done
want() { local s; for s in "${SUITES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

PG_REGRESS=$LY_PGXS_TEST/regress/pg_regress
PG_ISOLATION_REGRESS=$LY_PGXS_TEST/isolation/pg_isolation_regress

SUMMARY=()          # "suite|result|passed|failed|note"
TOTAL_PASS=0
TOTAL_FAIL=0
record() {          # suite result passed failed note
    SUMMARY+=("$1|$2|$3|$4|${5:-}")
    TOTAL_PASS=$((TOTAL_PASS + $3))
    TOTAL_FAIL=$((TOTAL_FAIL + $4))
}

print_summary() {
    local row suite result p f note
    echo
    echo "==================== summary ===================="
    printf '%-10s %-8s %7s %7s  %s\n' suite result passed failed note
    for row in "${SUMMARY[@]}"; do
        IFS='|' read -r suite result p f note <<<"$row"
        printf '%-10s %-8s %7s %7s  %s\n' "$suite" "$result" "$p" "$f" "$note"
    done
    echo "================================================= ($((SECONDS - START)) s)"
    echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
}

# REGRESS (and REGRESS_OPTS) as the Makefile defines them, without editing it.
make_var() {
    local out
    if out=$(make -s --no-print-directory -f Makefile -f - PG_CONFIG="$LY_PG_CONFIG" \
                 ly-print-var-"$1" 2>/dev/null <<<"ly-print-var-$1: ; @echo 'LY_VAR=\$($1)'"); then
        out=$(printf '%s\n' "$out" | sed -n 's/^LY_VAR=//p' | tail -n 1)
        printf '%s\n' "$out"
        return 0
    fi
    # Fallback: parse "NAME = ..." with backslash continuations.
    awk -v name="$1" '
        cont { line = line " " $0; if (line !~ /\\$/) { print line; exit } ; sub(/\\$/, "", line); next }
        $0 ~ "^[ \t]*" name "[ \t]*[:+]?=" { line = $0; sub(/^[^=]*=/, "", line)
            if (line ~ /\\$/) { sub(/\\$/, "", line); cont = 1; next } print line; exit }
    ' Makefile | tr -s ' \t\\' ' '
}

# Parse a pg_regress/pg_isolation_regress log: sets R_PASS R_FAIL.
count_results() {   # logfile ntests rc
    local log=$1 n=$2 rc=$3
    # PG 15: "test NAME ... ok  12 ms" / "... FAILED"; PG 16+: "ok 1 - NAME" / "not ok 2 - NAME"
    R_PASS=$(grep -cE '\.\.\. +ok( |$)|^ok [0-9]+ ' "$log" || true)
    R_FAIL=$(grep -cE '\.\.\. +(FAILED|failed)|^not ok [0-9]+ ' "$log" || true)
    # pg_regress stopped before running the tests (e.g. CREATE EXTENSION failed)
    if [ $((R_PASS + R_FAIL)) -eq 0 ] && [ "$n" -gt 0 ]; then R_FAIL=$n; fi
    if [ "$rc" -ne 0 ] && [ "$R_FAIL" -eq 0 ]; then R_FAIL=1; fi
}

show_diffs() {      # dir label
    if [ -s "$1/regression.diffs" ]; then
        echo "---- $2: $1/regression.diffs (first 200 lines)"
        head -n 200 "$1/regression.diffs"
        echo "---- end of diffs"
    fi
}

run_regress() {
    local tests=() extra=() o rc=0 out="${LOYALTY_OUTDIR:-.}"
    # REGRESS_TESTS="a b" runs a subset; LOYALTY_OUTDIR keeps results elsewhere.
    read -r -a tests <<<"${REGRESS_TESTS:-$(make_var REGRESS)}"
    if [ ${#tests[@]} -eq 0 ]; then
        echo "no pg_regress tests (REGRESS is empty)"
        record regress skipped 0 0 "REGRESS empty"; return 0
    fi
    # Pass through REGRESS_OPTS that do not clash with the flags set here.
    read -r -a o <<<"$(make_var REGRESS_OPTS)"
    for a in "${o[@]+"${o[@]}"}"; do
        case "$a" in
            --inputdir*|--outputdir*|--load-extension*|--dbname*|--host*|--port*|--user*|--bindir*) ;;
            *) extra+=("$a") ;;
        esac
    done
    ly_log "pg_regress: ${tests[*]}"
    mkdir -p "$out"
    rm -rf "$out/results" "$out/regression.diffs" "$out/regression.out"
    "$PG_REGRESS" --inputdir=. --outputdir="$out" --bindir="$LY_PGBIN" \
        --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" \
        --load-extension=loyalty --dbname=contrib_regression \
        "${extra[@]+"${extra[@]}"}" "${tests[@]}" 2>&1 | tee "$WORK/regress.log" || rc=$?
    count_results "$WORK/regress.log" ${#tests[@]} $rc
    if [ "$R_FAIL" -gt 0 ]; then
        show_diffs "$out" regress
        record regress FAILED "$R_PASS" "$R_FAIL" "diffs: $out/regression.diffs, outputs: $out/results/"
    else
        record regress ok "$R_PASS" 0
    fi
}

run_isolation() {
    local specs=() f rc=0 iso="${LOYALTY_OUTDIR:-.}/output_iso"
    # ISOLATION_SPECS="a b" runs a subset; LOYALTY_OUTDIR keeps outputs elsewhere.
    if [ -n "${ISOLATION_SPECS:-}" ]; then
        read -r -a specs <<<"$ISOLATION_SPECS"
    else
        for f in tests/isolation/*.spec; do [ -e "$f" ] && specs+=("$(basename "$f" .spec)"); done
    fi
    if [ ${#specs[@]} -eq 0 ]; then
        echo "no isolation specs (tests/isolation/*.spec)"
        record isolation skipped 0 0 "no isolation specs"; return 0
    fi
    # pg_isolation_regress wants INPUTDIR/specs/NAME.spec and INPUTDIR/expected/NAME.out.
    mkdir -p "$iso"
    iso="$(cd "$iso" && pwd)"
    local in="$iso/input"
    ly_log "isolation: ${specs[*]}"
    rm -rf "$iso"
    mkdir -p "$in"
    ln -s "$LY_ROOT/tests/isolation" "$in/specs"
    ln -s "$LY_ROOT/tests/isolation/expected" "$in/expected"
    # isolationtester is found next to pg_isolation_regress (same pgxs directory).
    "$PG_ISOLATION_REGRESS" --inputdir="$in" --outputdir="$iso" --bindir="$LY_PGBIN" \
        --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" \
        --load-extension=loyalty --dbname=isolation_regression \
        "${specs[@]}" 2>&1 | tee "$WORK/isolation.log" || rc=$?
    count_results "$WORK/isolation.log" ${#specs[@]} $rc
    if [ "$R_FAIL" -gt 0 ]; then
        show_diffs "$iso" isolation
        record isolation FAILED "$R_PASS" "$R_FAIL" "diffs: $iso/regression.diffs"
    else
        record isolation ok "$R_PASS" 0
    fi
}

run_tap() {
    local files=() f
    for f in tests/t/*.pl; do [ -e "$f" ] && files+=("$(basename "$f")"); done
    if [ ${#files[@]} -eq 0 ]; then
        echo "no TAP tests (tests/t/*.pl)"
        record tap skipped 0 0 "no TAP tests"; return 0
    fi
    local tapdir="$WORK/tap" testdir="$WORK/tap/testdir" cwd="$LY_ROOT/tests" runas=()
    rm -rf "$LY_ROOT/tmp_check"
    mkdir -p "$testdir"
    if ly_is_root; then
        runas=(runuser -u postgres --)
        # postgres must be able to read the tests where they are; else copy them.
        if ! runuser -u postgres -- sh -c 'cd "$1" && for f in t/*.pl; do test -r "$f" || exit 1; done' \
                sh "$cwd" 2>/dev/null; then
            cp -r "$LY_ROOT/tests/t" "$tapdir/t"
            cwd="$tapdir"
            echo "(tests/t is not readable by postgres: running a copy in $tapdir)"
        fi
        chown -R postgres: "$tapdir"
    fi
    ly_on_exit "ly_stop_postmasters_under '$testdir'"
    ly_log "TAP: ${files[*]}"
    local rc=0 prove_flags=()
    read -r -a prove_flags <<<"${PROVE_FLAGS:-}"
    local paths=()
    for f in "${files[@]}"; do paths+=("t/$f"); done
    (cd "$cwd" && "${runas[@]+"${runas[@]}"}" env \
        PATH="$LY_PGBIN:$PATH" \
        PERL5LIB="$LY_PGXS_TEST/perl${PERL5LIB:+:$PERL5LIB}" \
        TESTDIR="$testdir" PG_REGRESS="$LY_PGXS_TEST/regress/pg_regress" \
        TESTDATADIR="$testdir/tmp_check" TESTLOGDIR="$testdir/tmp_check/log" \
        LOYALTY_SRC="$LY_ROOT" \
        prove "${prove_flags[@]+"${prove_flags[@]}"}" "${paths[@]}") \
        2>&1 | tee "$WORK/tap.log" || rc=$?
    # Failed files are listed as "t/NAME.pl (Wstat: ...)" in prove's summary report.
    local failed
    failed=$(grep -oE '^t/[^ ]+\.pl +\(Wstat' "$WORK/tap.log" | awk '{print $1}' | sort -u || true)
    local nfail=0
    [ -z "$failed" ] || nfail=$(printf '%s\n' "$failed" | wc -l)
    if [ $rc -ne 0 ] && [ "$nfail" -eq 0 ]; then nfail=${#files[@]}; failed="(prove exited $rc)"; fi
    if [ "$nfail" -gt 0 ]; then
        # Keep the logs where a developer can read them (gitignored tmp_check/).
        rm -rf "$LY_ROOT/tmp_check"
        cp -r "$testdir/tmp_check" "$LY_ROOT/tmp_check" 2>/dev/null || true
        for f in $failed; do
            local lf
            lf="$testdir/tmp_check/log/regress_log_$(basename "$f" .pl)"
            [ -f "$lf" ] || continue
            echo "---- $f: tail of $(basename "$lf") (all logs: tmp_check/log/)"
            tail -n 60 "$lf"
        done
        record tap FAILED $(( ${#files[@]} - nfail )) "$nfail" "logs: tmp_check/log/"
    else
        record tap ok ${#files[@]} 0
    fi
}

# The user guides with sql blocks (fenced, perhaps indented in a list item).
docs_guides() { grep -lE '^[[:space:]]*```sql[[:space:]]*$' docs/*.md 2>/dev/null || true; }

# Every guide with sql blocks is one test: its examples run, print what it shows.
run_docs() {
    local guides=() passed rc=0
    mapfile -t guides < <(docs_guides)
    if [ ${#guides[@]} -eq 0 ]; then
        record docs skipped 0 0 "no sql blocks in docs/"; return 0
    fi
    ly_log "docs: ${guides[*]}"
    mkdir -p "$LY_ROOT/log"
    PATH="$LY_PGBIN:$PATH" perl tests/docs/check_docs.pl "${guides[@]}" 2>&1 | tee "$LY_ROOT/log/docs.log" \
        || rc=$?
    # one line per guide: "docs/NAME.md: ..., all as printed" when it passed
    passed=$(grep -cE '^docs/[^ ]+\.md: .*, (all as printed|nothing to play)$' "$LY_ROOT/log/docs.log" || true)
    if [ "$passed" -lt ${#guides[@]} ] || [ "$rc" -ne 0 ]; then
        [ "$passed" -lt ${#guides[@]} ] || passed=$(( ${#guides[@]} - 1 ))
        record docs FAILED "$passed" $(( ${#guides[@]} - passed )) "log/docs.log"
    else
        record docs ok "$passed" 0
    fi
}

# The four suites again on PostgreSQL MAJOR, in a Debian chroot that has it;
# its tests are counted here, a failing one (or a chroot that could not be
# made) fails.
run_pg_chroot() {   # major
    local major=$1 rc=0 line passed failed
    tests/pg_chroot.sh "$major" regress isolation tap docs 2>&1 | tee "$WORK/pg$major.log" || rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/pg$major.log" | tail -n 1 || true)
    passed=0 failed=0
    if [ -n "$line" ]; then read -r passed _ failed _ <<<"$line"; fi
    if [ "$rc" -ne 0 ] || [ "$failed" -gt 0 ] || [ "$passed" -eq 0 ]; then
        [ "$failed" -gt 0 ] || failed=1
        record "pg$major" FAILED "$passed" "$failed" "log/pg$major/ and the output above"
    else
        record "pg$major" ok "$passed" 0 "PostgreSQL $major, Debian chroot"
    fi
}

# Tests that would run: used to count failures if the build breaks.
count_planned() {
    local n=0 t=()
    if want regress; then read -r -a t <<<"${REGRESS_TESTS:-$(make_var REGRESS)}"; n=$((n + ${#t[@]})); fi
    if want isolation; then n=$((n + $(ls tests/isolation/*.spec 2>/dev/null | wc -l))); fi
    if want tap; then n=$((n + $(ls tests/t/*.pl 2>/dev/null | wc -l))); fi
    if want docs; then n=$((n + $(docs_guides | wc -l))); fi
    [ $n -gt 0 ] || n=1
    echo $n
}

START=$SECONDS
WORK=$(mktemp -d /tmp/loyalty-run-XXXXXX)
chmod 755 "$WORK"
ly_on_exit "rm -rf '$WORK'"

if want regress || want isolation || want tap || want docs; then
    ly_install_deps
    if ! ly_build_install; then
        record build FAILED 0 "$(count_planned)" "see log/build.log; no test ran"
        print_summary
        exit 1
    fi
    record build ok 0 0
    ly_cluster_start
    want regress && run_regress
    want isolation && run_isolation
    want tap && run_tap
    want docs && run_docs
fi
want pg17 && run_pg_chroot 17
want pg18 && run_pg_chroot 18

print_summary
[ "$TOTAL_FAIL" -eq 0 ]
