#!/usr/bin/env bash
# tests/demo/run_demo.sh: what `make demo` runs. Installs deps, builds and
# installs loyalty, starts a throw-away cluster, creates database `shop` with
# the extension and runs tests/demo/demo.sql through psql.
# Env: LOYALTY_KEEP_CLUSTER=1 leaves the cluster running and prints how to connect.
set -euo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/common.sh
source tests/lib/common.sh
cd "$LY_ROOT"

DEMO=tests/demo/demo.sql
[ -f "$DEMO" ] || ly_die "$DEMO is missing: the demo script has not been written yet"

ly_install_deps
ly_build_install || ly_die "build failed (see log/build.log)"
ly_cluster_start
export LY_KEEP_DB=shop   # named in the LOYALTY_KEEP_CLUSTER message

"$LY_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE shop'
"$LY_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d shop -c 'CREATE EXTENSION loyalty'
ly_log "running $DEMO"
echo
rc=0
"$LY_PGBIN/psql" -X -v ON_ERROR_STOP=1 -d shop -f "$DEMO" || rc=$?
[ $rc -eq 0 ] || ly_die "$DEMO failed (psql exit $rc)"
