#!/usr/bin/env bash
# Builds ngx_http_upstream_lb_module.so against Debian's nginx-dev the way
# Debian builds its own module packages (debhelper's nginx_mod build system):
# a copy of /usr/share/nginx/src, its ./configure with the flags of its
# conf_flags file (Debian's nginx binary was built with them: a module must
# match them to load) plus --add-dynamic-module, then `make modules`.
#
#   examples/nginx/build.sh          build (liblb first, with cargo, if stale)
#   examples/nginx/build.sh --path   only print where the module is (or fail)
#
# Prints the path of the .so on its last line. Needs: nginx-dev (and the -dev
# packages it depends on), cargo, flock (util-linux).
#
# Works in build/nginx/tree/ at the repository root (for this tree's liblb.a).
# LB_STATIC_LIB=/path/liblb.a and LB_INCLUDE_DIR=/path/include build against
# another lb (an installed one, `make install PREFIX=...`) without cargo, in a
# directory of its own (build/nginx/lib-<hash>/), so that builds against
# different libraries do not undo each other. Concurrent runs take turns (a
# lock per directory): a test started while another one builds waits for it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src=/usr/share/nginx/src

log() { echo "build.sh: $*" >&2; }

if [ -n "${LB_STATIC_LIB:-}" ]; then
    lib="$(cd "$(dirname "$LB_STATIC_LIB")" && pwd)/$(basename "$LB_STATIC_LIB")"
    LB_INCLUDE_DIR="$(cd "${LB_INCLUDE_DIR:-$(dirname "$lib")/../include}" && pwd)"
    export LB_STATIC_LIB="$lib" LB_INCLUDE_DIR
    bld="$root/build/nginx/lib-$(echo "$lib $LB_INCLUDE_DIR" | md5sum | cut -c1-8)"
else
    lib="$root/target/release/liblb.a"
    bld="$root/build/nginx/tree"
fi
so="$bld/objs/ngx_http_upstream_lb_module.so"

if [ "${1:-}" = "--path" ]; then
    [ -f "$so" ] || { log "$so not built"; exit 1; }
    echo "$so"
    exit 0
fi

if [ ! -f "$src/conf_flags" ]; then
    log "$src/conf_flags not found: apt-get install nginx-dev"
    exit 1
fi

mkdir -p "$bld"
exec 9> "$bld.lock"
flock 9

if [ -z "${LB_STATIC_LIB:-}" ]; then
    # liblb.a: cargo rebuilds only what changed, so this is quick when fresh.
    log "cargo build --release -p lb --lib"
    (cd "$root" && cargo build --release -p lb --lib --quiet) >&2
fi

# A fresh copy whenever nginx-dev changed (a new Debian revision), so that the
# module always matches the installed nginx binary.
stamp="$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null || echo unknown)"
if [ "$(cat "$bld/.nginx-dev-version" 2>/dev/null)" != "$stamp" ]; then
    log "copying $src to $bld (nginx-dev $stamp)"
    rm -rf "$bld"
    mkdir -p "$bld"
    cp -a "$src/." "$bld/"
    echo "$stamp" > "$bld/.nginx-dev-version"
fi

cd "$bld"

# configure again when the module's config file changed.
if [ ! -f objs/Makefile ] || [ "$here/config" -nt objs/Makefile ]; then
    log "configure"
    # shellcheck disable=SC1091
    . ./conf_flags
    # The same extra flags as Debian's nginx_mod.pm: the distribution's
    # hardening flags, plus -fPIC for a shared object.
    cflags="$(dpkg-buildflags --get CFLAGS 2>/dev/null || echo -O2) -fPIC $(dpkg-buildflags --get CPPFLAGS 2>/dev/null || true)"
    ldflags="$(dpkg-buildflags --get LDFLAGS 2>/dev/null || true) -fPIC"
    ./configure \
        --with-cc-opt="$cflags" \
        --with-ld-opt="$ldflags" \
        "${NGX_CONF_FLAGS[@]}" \
        --add-dynamic-module="$here" > "$bld/configure.log" 2>&1 || {
            tail -30 "$bld/configure.log" >&2
            log "configure failed (full log: $bld/configure.log)"
            exit 1
        }
    rm -f "$so"
fi

# nginx's Makefile does not know the module depends on liblb.a: relink when
# the library is newer than the module.
if [ -f "$so" ] && [ "$lib" -nt "$so" ]; then
    rm -f "$so"
fi

# objs/Makefile, as debhelper's nginx_mod runs it: this copy of the sources
# has only headers, so the top-level Makefile (which would build nginx) is
# of no use.
log "make modules"
make -j"$(nproc)" -f objs/Makefile modules > "$bld/make.log" 2>&1 || {
    tail -40 "$bld/make.log" >&2
    log "make modules failed (full log: $bld/make.log)"
    exit 1
}

# The module must load into Debian's nginx (same check as debhelper's test
# step): a mismatched signature or a missing symbol fails here, not later.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'load_module %s;\nevents {}\n' "$so" > "$tmp/nginx.conf"
if ! /usr/sbin/nginx -q -t -p "$tmp" -c "$tmp/nginx.conf" \
        -g "error_log $tmp/error.log; pid $tmp/nginx.pid;" 2> "$tmp/t.log"; then
    cat "$tmp/t.log" >&2
    log "the module does not load into /usr/sbin/nginx"
    exit 1
fi

echo "$so"
