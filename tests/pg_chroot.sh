#!/usr/bin/env bash
# tests/pg_chroot.sh MAJOR [SUITE...]: the test suite on another PostgreSQL
# major version, inside a Debian chroot that has it (Debian 12, the machine's
# release, has only 15: PostgreSQL 17 is Debian 13's, 18 is unstable's).
#
# The chroot is made once with debootstrap, from the mirror the machine's own
# apt sources name, and kept in $LY_CHROOT_DIR (default
# /var/cache/loyalty/chroot); later runs reuse it.  The working tree (git's
# tracked and untracked, not ignored, files) is copied into it and
# tests/run_tests.sh runs there with LY_PG_MAJOR=MAJOR: the same build (with
# that version's compiler flags), pg_regress suites, isolation specs, TAP
# tests and guides.  SUITE defaults to regress isolation tap docs.
#
# Needs root (debootstrap, mount, chroot) and Debian's package mirror.
# Exit status: the inner run's.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=tests/lib/common.sh
source tests/lib/common.sh
cd "$LY_ROOT"

major=${1:-}
[ -n "$major" ] || ly_die "usage: tests/pg_chroot.sh MAJOR [SUITE...]"
shift
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(regress isolation tap docs)

case "$major" in
    17) release=trixie ;;
    18) release=sid ;;
    15) ly_die "PostgreSQL 15 is this machine's own: run tests/run_tests.sh" ;;
    *)  ly_die "no Debian release packages PostgreSQL $major (13 has 17, unstable has 18)" ;;
esac
if ! ly_is_root; then
    # as README's "a user with passwordless sudo": the rest runs as root
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n env LY_CHROOT_DIR="${LY_CHROOT_DIR:-}" LY_DEBIAN_MIRROR="${LY_DEBIAN_MIRROR:-}" \
            bash "$LY_ROOT/tests/pg_chroot.sh" "$major" "${suites[@]}"
    fi
    ly_die "tests/pg_chroot.sh needs root or passwordless sudo (debootstrap, mount and chroot)"
fi

# The Debian mirror of the machine's own apt sources (deb822 or one-line format).
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
              /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' \
                               /etc/apt/sources.list 2>/dev/null || true)
    printf '%s\n' "${uri:-}"
}

# Unmount whatever is mounted below DIR (a run killed before its exit hooks,
# a failed debootstrap): never remove a tree with /proc mounted in it.
unmount_under() {   # dir
    local m
    findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r \
        | while read -r m; do umount -l "$m"; done
}

root="${LY_CHROOT_DIR:-/var/cache/loyalty/chroot}/debian-$release"
bindir="/usr/lib/postgresql/$major/bin"
if [ ! -x "$root$bindir/pg_ctl" ] || [ ! -x "$root$bindir/pg_config" ]; then
    ly_install_packages debootstrap
    mirror=${LY_DEBIAN_MIRROR:-$(debian_mirror)}
    [ -n "$mirror" ] || ly_die "no Debian mirror in /etc/apt/sources*: set LY_DEBIAN_MIRROR"
    log=$(mktemp /tmp/loyalty-debootstrap-XXXXXX.log)
    ly_log "making a Debian $release chroot with PostgreSQL $major in $root (log: $log)"
    unmount_under "$root.new"
    rm -rf "$root.new"
    mkdir -p "$root.new"
    debootstrap --variant=minbase \
        --include="postgresql-$major,postgresql-server-dev-$major,make,gcc,libc6-dev,libipc-run-perl,perl,locales" \
        "$release" "$root.new" "$mirror" >"$log" 2>&1 \
      || { tail -n 30 "$log" >&2; ly_die "debootstrap failed (log: $log)"; }
    chroot "$root.new" apt-get clean
    unmount_under "$root"
    rm -rf "$root"
    mv "$root.new" "$root"
fi

# Copy the working tree in (what git would commit, no build output).
work="$root/work/loyalty"
rm -rf "$work"
mkdir -p "$work"
if git -C "$LY_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$LY_ROOT" ls-files -z --cached --others --exclude-standard \
        | (cd "$LY_ROOT" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) \
        | tar -xf - -C "$work"      # (a tracked file deleted in the tree is left out)
else
    (cd "$LY_ROOT" && tar --exclude=./log --exclude=./tmp_check -cf - .) | tar -xf - -C "$work"
    chroot "$root" make -s -C /work/loyalty clean PG_CONFIG="$bindir/pg_config" >/dev/null
fi

# The server needs /proc and shared memory (debootstrap made the device
# nodes; the machine's /dev is not bound in, so nothing mounted here can
# reach it).  Unmounted on exit, whatever happens.
for m in proc dev/shm; do
    if ! mountpoint -q "$root/$m"; then
        case "$m" in
            proc)    mount -t proc proc "$root/proc" ;;
            dev/shm) mount -t tmpfs -o mode=1777 shm "$root/dev/shm" ;;
        esac
        ly_on_exit "umount -l '$root/$m'"
    fi
done

ly_log "PostgreSQL $major ($release chroot): ${suites[*]}"
rc=0
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    LY_PG_MAJOR="$major" bash /work/loyalty/tests/run_tests.sh "${suites[@]}" || rc=$?
# Keep the inner logs where a developer looks for them.
mkdir -p "$LY_ROOT/log/pg$major"
cp -r "$work/log/." "$LY_ROOT/log/pg$major/" 2>/dev/null || true
exit $rc
