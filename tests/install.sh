#!/usr/bin/env bash
# What a user of an installed lb does, checked: `make install PREFIX=<tmp>` writes
# nothing outside <tmp> (and the build directory) and leaves the loader's cache
# unchanged; outside programs build against it with pkg-config and with CMake's
# find_package(lb), each against the shared and the static library, and run with
# nothing set beyond what the README says (an rpath for the shared library,
# nothing for the static one; CMake's build tree sets the rpath itself).
#
#   tests/install.sh      ends with "install: N passed, M failed"
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

cache_before=$(md5sum /etc/ld.so.cache 2>/dev/null || echo none)
prefix=$tmp/prefix
if make -s install PREFIX="$prefix" >"$tmp/install.log" 2>&1; then ok "make install"; else
    bad "make install"; cat "$tmp/install.log"; fi
cache_after=$(md5sum /etc/ld.so.cache 2>/dev/null || echo none)
[ "$cache_before" = "$cache_after" ] && ok "ld.so.cache unchanged" || bad "ld.so.cache changed"
for f in include/lb.h include/lb.hpp lib/liblb.a lib/liblb.so lib/pkgconfig/lb.pc \
    lib/pkgconfig/lb-static.pc lib/cmake/lb/lbConfig.cmake lib/cmake/lb/lbConfigVersion.cmake; do
    [ -e "$prefix/$f" ] || bad "missing $f"
done
ok "installed files present"

unset LD_LIBRARY_PATH
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
src=$root/tests/install-check/main.c
# pkg-config, shared, with the rpath the README gives.
if cc -std=c11 -Wall -Werror "$src" $(pkg-config --cflags --libs lb) \
    -Wl,-rpath,"$prefix/lib" -o "$tmp/pc_shared" && "$tmp/pc_shared" | grep -q ": ok"; then
    ok "pkg-config, shared, rpath"; else bad "pkg-config, shared, rpath"; fi
# Without the rpath nothing points the loader at the prefix (make install did
# not add it to the system's search path).
cc -std=c11 "$src" $(pkg-config --cflags --libs lb) -o "$tmp/pc_norpath" 2>/dev/null
if ! ldd "$tmp/pc_norpath" 2>/dev/null | grep liblb | grep -q "$prefix"; then
    ok "without rpath the loader does not look in the prefix"
else bad "the loader finds the prefix's liblb without rpath or LD_LIBRARY_PATH"; fi
# pkg-config, static.
# The README's static line: the archive itself, then pkg-config's private libraries.
if cc -std=c11 -Wall -Werror "$src" $(pkg-config --cflags lb) "$prefix/lib/liblb.a" \
    $(pkg-config --static --libs-only-l lb | sed 's/-llb //') \
    -o "$tmp/pc_static" && "$tmp/pc_static" | grep -q ": ok"; then
    ok "pkg-config, static"; else bad "pkg-config, static"; fi
if ! readelf -d "$tmp/pc_static" | grep -q 'liblb'; then ok "static program needs no liblb.so";
else bad "static program links liblb.so"; fi
# CMake find_package(lb), both targets.
if cmake -S tests/install-check -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$tmp/cmake.log" 2>&1 && cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1; then
    ok "find_package(lb) builds"
    "$tmp/cmake/check_shared" | grep -q ": ok" && ok "lb::lb runs" || bad "lb::lb runs"
    "$tmp/cmake/check_static" | grep -q ": ok" && ok "lb::lb_static runs" || bad "lb::lb_static runs"
    readelf -d "$tmp/cmake/check_static" | grep -q liblb && bad "lb::lb_static links liblb.so" \
        || ok "lb::lb_static needs no liblb.so"
else
    bad "find_package(lb) builds"; cat "$tmp/cmake.log"
fi
echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
