#!/usr/bin/env bash
# tests/lib/common.sh: helpers sourced by tests/run_tests.sh, tests/demo/run_demo.sh
# and tests/bench/run_bench.sh: install Debian deps, build+install the extension,
# and run throw-away PostgreSQL clusters that are stopped and removed on exit.
# Works as root (server runs as the `postgres` system user) and as a normal user.
set -euo pipefail

# LY_PG_MAJOR picks Debian's PostgreSQL packages: 15 by default (Debian 12's),
# 17 in a Debian 13 chroot, 18 in unstable (tests/pg_chroot.sh).  LY_PGBIN may
# point at another (relocated) installation of that major version.
LY_PG_MAJOR=${LY_PG_MAJOR:-15}
LY_PGBIN=${LY_PGBIN:-/usr/lib/postgresql/$LY_PG_MAJOR/bin}
LY_PG_CONFIG=$LY_PGBIN/pg_config
export LY_PGXS_TEST=${LY_PGBIN%/bin}/lib/pgxs/src/test
LY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LY_PG_PACKAGES=("postgresql-$LY_PG_MAJOR" "postgresql-server-dev-$LY_PG_MAJOR" libipc-run-perl make gcc)

ly_log() { printf '==> %s\n' "$*"; }
ly_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
ly_is_root() { [ "$(id -u)" -eq 0 ]; }

# ---- exit hooks: one EXIT trap runs registered commands, newest first -------
LY_EXIT_HOOKS=()
ly_on_exit() { LY_EXIT_HOOKS+=("$1"); }
_ly_run_exit_hooks() {
    set +e
    local i
    for ((i = ${#LY_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${LY_EXIT_HOOKS[$i]}"
    done
    LY_EXIT_HOOKS=()
}
trap _ly_run_exit_hooks EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Run a command as the cluster owner: `postgres` when we are root, else ourselves.
ly_as_owner() {
    if ly_is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Run a command as root: directly, or through passwordless sudo.
_ly_as_root() {
    if ly_is_root; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 127
    fi
}

_ly_pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# postgresql-contrib-N is a real package on some releases; on Debian 12 and 13
# it is only a name provided by postgresql-N (no candidate version).
_ly_contrib_is_real() {
    local cand
    cand=$(apt-cache policy "postgresql-contrib-$LY_PG_MAJOR" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$cand" ] && [ "$cand" != "(none)" ]
}

# Install the Debian packages named that are missing: as root, or through
# passwordless sudo; else say what to run.
ly_install_packages() {   # package...
    local missing=() p
    for p in "$@"; do _ly_pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! ly_is_root && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
        ly_die "missing Debian packages: ${missing[*]}; install them as root:
  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    fi
    local log
    log=$(mktemp /tmp/loyalty-apt-XXXXXX.log)
    ly_log "installing Debian packages: ${missing[*]} (log: $log)"
    _ly_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; ly_die "apt-get update failed (log: $log)"; }
    # After the update, PostgreSQL's contrib package may turn out to be real.
    if [[ " $* " == *" postgresql-$LY_PG_MAJOR "* ]] && _ly_contrib_is_real \
        && ! _ly_pkg_installed "postgresql-contrib-$LY_PG_MAJOR"; then
        missing+=("postgresql-contrib-$LY_PG_MAJOR")
    fi
    _ly_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; ly_die "apt-get install failed for: ${missing[*]} (log: $log)"; }
    for p in "${missing[@]}"; do
        _ly_pkg_installed "$p" || ly_die "package $p is still not installed"
    done
}

# What building and testing the extension needs.
ly_install_deps() {
    local pkgs=("${LY_PG_PACKAGES[@]}")
    if _ly_contrib_is_real; then pkgs+=("postgresql-contrib-$LY_PG_MAJOR"); fi
    ly_install_packages "${pkgs[@]}"
}

# Build and install the extension; output goes to log/build.log (gitignored).
ly_build_install() {
    local logdir="$LY_ROOT/log" log rc=0
    mkdir -p "$logdir"
    log="$logdir/build.log"
    : >"$log"
    ly_log "building loyalty (log: $log)"
    (cd "$LY_ROOT" && make -j"$(nproc)" PG_CONFIG="$LY_PG_CONFIG") >>"$log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        echo "---- build failed (make exit $rc); last lines of $log:" >&2
        tail -n 60 "$log" >&2
        return 1
    fi
    local libdir extdir
    libdir=$("$LY_PG_CONFIG" --pkglibdir)
    extdir="$("$LY_PG_CONFIG" --sharedir)/extension"
    if ly_is_root || { [ -w "$libdir" ] && [ -w "$extdir" ]; }; then
        (cd "$LY_ROOT" && make install PG_CONFIG="$LY_PG_CONFIG") >>"$log" 2>&1 || rc=$?
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        (cd "$LY_ROOT" && sudo -n make install PG_CONFIG="$LY_PG_CONFIG") >>"$log" 2>&1 || rc=$?
    else
        echo "ERROR: 'make install' needs write access to $libdir and $extdir;" \
             "run as root, or give this user passwordless sudo" >&2
        return 1
    fi
    if [ $rc -ne 0 ]; then
        echo "---- make install failed (exit $rc); last lines of $log:" >&2
        tail -n 60 "$log" >&2
        return 1
    fi
}

# ---- throw-away clusters -----------------------------------------------------
LY_CLUSTERS=()

# A TCP port on 127.0.0.1 that nothing is bound to (below Linux's ephemeral range).
_ly_free_port() {
    perl -MIO::Socket::INET -e '
        for (1 .. 500) {
            my $p = 15432 + int(rand(17000));
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p,
                                          Proto => "tcp", Listen => 1, ReuseAddr => 1);
            if ($s) { close $s; print "$p\n"; exit 0 }
        }
        exit 1'
}

# ly_cluster_start [DIR] [--durable] [name=value ...]
#   DIR (default: a new mktemp -d /tmp/loyalty-XXXXXX) holds data/, the unix
#   socket and server.log. Without --durable: fsync=off etc. (tests); with it:
#   fsync=on, synchronous_commit=on. name=value pairs are appended to
#   postgresql.conf. Exports PGHOST PGPORT PGUSER PGDATABASE and LY_CLUSTER_DIR.
ly_cluster_start() {
    local dir="" durable=0 extra=() a
    for a in "$@"; do
        case "$a" in
            --durable) durable=1 ;;
            *=*) extra+=("$a") ;;
            *) [ -z "$dir" ] || ly_die "ly_cluster_start: two directories given"; dir=$a ;;
        esac
    done
    [ -n "$dir" ] || dir=$(mktemp -d /tmp/loyalty-XXXXXX)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    chmod 755 "$dir"
    LY_CLUSTERS+=("$dir")
    ly_on_exit "_ly_cluster_exit '$dir'"

    local owner
    if ly_is_root; then
        id postgres >/dev/null 2>&1 || ly_die "system user 'postgres' missing (is postgresql-$LY_PG_MAJOR installed?)"
        chown postgres: "$dir"
        ly_as_owner test -x "$dir" || ly_die "user postgres cannot reach $dir"
        owner=postgres
    else
        owner=$(id -un)
    fi

    local loc=(--no-locale)
    if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then loc=(--locale=C.UTF-8); fi
    if ! ly_as_owner "$LY_PGBIN/initdb" -D "$dir/data" -A trust -E UTF8 "${loc[@]}" -N \
            >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        ly_die "initdb failed in $dir/data"
    fi

    local conf="$dir/data/postgresql.conf"
    {
        echo ""
        echo "# ---- added by tests/lib/common.sh"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "max_connections = 100"
        echo "max_prepared_transactions = 10"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        echo "lc_messages = 'C'"
        if [ $durable -eq 1 ]; then
            echo "fsync = on"
            echo "synchronous_commit = on"
            echo "full_page_writes = on"
        else
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
        for a in "${extra[@]}"; do
            echo "${a%%=*} = '${a#*=}'"
        done
    } >>"$conf"

    local port started=0
    for _ in 1 2 3 4 5; do
        port=$(_ly_free_port) || ly_die "no free TCP port found on 127.0.0.1"
        echo "port = $port" >>"$conf"
        if ly_as_owner "$LY_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
                >"$dir/pg_ctl.log" 2>&1; then
            started=1; break
        fi
        # Lost a race for the port? Try another; anything else is fatal.
        grep -q 'could not bind\|Address already in use' "$dir/server.log" 2>/dev/null || break
    done
    if [ $started -ne 1 ]; then
        cat "$dir/pg_ctl.log" >&2
        tail -n 30 "$dir/server.log" >&2 || true
        ly_die "could not start PostgreSQL in $dir"
    fi

    export PGHOST="$dir" PGPORT="$port" PGUSER="$owner" PGDATABASE=postgres
    export LY_CLUSTER_DIR="$dir"
    ly_log "cluster up: $dir (socket $dir, tcp 127.0.0.1:$port, user $owner$([ $durable -eq 1 ] && echo ', durable'))"
}

# True while PID runs (a zombie waiting for its reaper counts as gone).
_ly_alive() {
    local st
    st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Stop the cluster in DIR and remove DIR.
ly_cluster_stop() {
    local dir=$1 data="$1/data" pid
    if [ -f "$data/postmaster.pid" ]; then
        pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
        ly_as_owner "$LY_PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 \
          || ly_as_owner "$LY_PGBIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
          || { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; } || true
        # wait (bounded) for the postmaster to be gone before removing its files
        local n=0
        while [ -n "$pid" ] && _ly_alive "$pid" && [ $n -lt 100 ]; do
            sleep 0.1; n=$((n + 1))
        done
    fi
    case "$dir" in /tmp/loyalty-*|"${TMPDIR:-/tmp}"/loyalty-*) rm -rf "$dir" ;;
        *) rm -rf "$dir/data" "$dir/server.log" "$dir/initdb.log" "$dir/pg_ctl.log" ;;
    esac
    local c keep=()
    for c in "${LY_CLUSTERS[@]}"; do [ "$c" = "$dir" ] || keep+=("$c"); done
    LY_CLUSTERS=("${keep[@]+"${keep[@]}"}")
}

# Stop every postmaster whose data directory lies under DIR (e.g. clusters a
# TAP test started and could not stop because it was interrupted).
ly_stop_postmasters_under() {
    local pidfile data pid
    [ -d "$1" ] || return 0
    while IFS= read -r pidfile; do
        data=$(dirname "$pidfile")
        pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
        if [ -z "$pid" ] || ! _ly_alive "$pid"; then continue; fi
        ly_as_owner "$LY_PGBIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
            || kill -9 "$pid" 2>/dev/null || true
    done < <(find "$1" -name postmaster.pid -path '*/*' 2>/dev/null)
}

# EXIT hook: stop and remove, or keep and say how to use it.
_ly_cluster_exit() {
    local dir=$1 c found=0
    for c in "${LY_CLUSTERS[@]+"${LY_CLUSTERS[@]}"}"; do [ "$c" = "$dir" ] && found=1; done
    [ $found -eq 1 ] || return 0
    if [ "${LOYALTY_KEEP_CLUSTER:-0}" = 1 ] && [ -f "$dir/data/postmaster.pid" ]; then
        local port user stop
        port=$(sed -n 4p "$dir/data/postmaster.pid")
        user=$(stat -c %U "$dir/data")
        stop="$LY_PGBIN/pg_ctl -D $dir/data stop && rm -rf $dir"
        if ly_is_root; then stop="runuser -u postgres -- $LY_PGBIN/pg_ctl -D $dir/data stop && rm -rf $dir"; fi
        echo
        echo "Cluster kept running (LOYALTY_KEEP_CLUSTER=1):"
        echo "  connect: psql -h $dir -p $port -U $user -d ${LY_KEEP_DB:-postgres}"
        echo "       or: psql 'host=127.0.0.1 port=$port user=$user dbname=${LY_KEEP_DB:-postgres}'"
        echo "  log:     $dir/server.log"
        echo "  stop:    $stop"
        return 0
    fi
    ly_cluster_stop "$dir"
}
