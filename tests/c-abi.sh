#!/usr/bin/env bash
# Checks lb's C ABI end to end from the repository root or anywhere:
#
#   header      include/lb.h equals what the pinned cbindgen generates now
#   soname      target/release/liblb.so carries SONAME liblb.so.<major>
#   exports     liblb.so exports only lb_ symbols, and every function of lb.h
#   ffi-unit    the Rust tests of src/ffi (panic guard, option table, layouts)
#   install     `make install PREFIX=build/stage` lays out header, both libraries,
#               the SONAME links and lb.pc, and pkg-config reports the version
#   pkg-config  `cc app.c $(pkg-config --cflags --libs lb)` builds and runs
#   c-*         examples/c: client against liblb.so and against liblb.a, struct
#               layouts as C11 and C++17, bad input, the real-clock reliability
#               checks and the pthreads stress program under AddressSanitizer +
#               UndefinedBehaviorSanitizer
#   cpp-*       examples/cpp: CMake (pkg-config) build, GoogleTest via ctest
#   go-*        examples/go: go vet, go test -race, the example program
#
# Exits non-zero on any failure; the last line is "N passed, N failed".
#
# Needs: a Rust toolchain; cbindgen at the version in cbindgen.toml (`# cbindgen-version:`)
# (`make cbindgen`, i.e. cargo install cbindgen --version X --locked); and from
# Debian: build-essential (gcc, g++, make), binutils (readelf, nm), pkg-config,
# cmake, libgtest-dev (GoogleTest), golang (Go >= 1.20; any Go with cgo and -race
# support; /usr/local/go/bin is added to PATH when present).
#
# Environment: CARGO_TARGET_DIR (default target), STRESS_OPS (operations per
# stress worker), LB_SKIP_GO=1 / LB_SKIP_CPP=1 to leave a language out (counted
# as failures, so that CI cannot skip them by accident, unless LB_ALLOW_SKIP=1).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
SO=$TARGET_DIR/release/liblb.so
STAGE=$ROOT/build/stage
LOGS=$ROOT/build/test-c-abi
VERSION=$(sed -n 's/^version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
MAJOR=${VERSION%%.*}
CBINDGEN_VERSION=$(sed -n 's/^# cbindgen-version: *//p' cbindgen.toml)
if [ -d /usr/local/go/bin ]; then PATH=$PATH:/usr/local/go/bin; fi
export PKG_CONFIG_PATH=$STAGE/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

mkdir -p "$LOGS"
passed=0
failed=0
failures=()

# step NAME COMMAND...: runs the command, shows its output, counts the result.
step() {
    local name=$1
    shift
    echo "=== $name"
    "$@" 2>&1 | tee "$LOGS/$name.log"
    local status=${PIPESTATUS[0]}
    if [ "$status" -eq 0 ]; then
        echo "--- $name: ok"
        passed=$((passed + 1))
    else
        echo "--- $name: FAILED (exit $status; log in build/test-c-abi/$name.log)"
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

skip() {
    echo "=== $1: skipped ($2)"
    if [ "${LB_ALLOW_SKIP:-0}" != 1 ]; then
        failed=$((failed + 1))
        failures+=("$1 (skipped)")
    fi
}

build() {
    make build
}

check_header() {
    if ! command -v cbindgen >/dev/null; then
        echo "cbindgen not found: install it with 'make cbindgen'"
        return 1
    fi
    local have
    have=$(cbindgen --version)
    if [ "$have" != "cbindgen $CBINDGEN_VERSION" ]; then
        echo "$have found, the header is generated with cbindgen $CBINDGEN_VERSION ('make cbindgen')"
        return 1
    fi
    cbindgen --quiet --config cbindgen.toml src/ffi/mod.rs --output "$LOGS/lb.h" || return 1
    if diff -u include/lb.h "$LOGS/lb.h"; then
        echo "include/lb.h is up to date"
    else
        echo "include/lb.h differs from the generated header: run 'make header' and commit it"
        return 1
    fi
}

check_soname() {
    readelf -d "$SO" | grep SONAME
    readelf -d "$SO" | grep -q "Library soname: \[liblb\.so\.$MAJOR\]"
}

check_exports() {
    local exported wanted bad missing
    exported=$(nm -D --defined-only "$SO" | awk '{print $NF}' | sort)
    bad=$(echo "$exported" | grep -v '^lb_' || true)
    wanted=$(grep -oE '^[a-z][a-z_ *]* \*?(lb_[a-z_]+)\(' include/lb.h |
        grep -oE 'lb_[a-z_]+\($' | tr -d '(' | sort)
    missing=$(comm -13 <(echo "$exported") <(echo "$wanted"))
    echo "exported: $(echo "$exported" | tr '\n' ' ')"
    if [ -n "$bad" ]; then
        echo "symbols exported without the lb_ prefix:"
        echo "$bad"
        return 1
    fi
    if [ -n "$missing" ] || [ -z "$wanted" ]; then
        echo "functions of lb.h not exported: ${missing:-(none found in lb.h)}"
        return 1
    fi
    echo "$(echo "$wanted" | wc -l) functions of lb.h, all exported; nothing else is"
}

ffi_unit() {
    cargo test --lib -p lb ffi:: -- --test-threads=2
}

install_stage() {
    rm -rf "$STAGE"
    make install PREFIX="$STAGE" || return 1
    local f
    for f in include/lb.h include/lb.hpp lib/liblb.a "lib/liblb.so.$VERSION" lib/pkgconfig/lb.pc; do
        [ -f "$STAGE/$f" ] || { echo "missing $f"; return 1; }
    done
    [ "$(readlink "$STAGE/lib/liblb.so.$MAJOR")" = "liblb.so.$VERSION" ] || { echo "bad liblb.so.$MAJOR link"; return 1; }
    [ "$(readlink "$STAGE/lib/liblb.so")" = "liblb.so.$MAJOR" ] || { echo "bad liblb.so link"; return 1; }
    local pc_version
    pc_version=$(pkg-config --modversion lb) || return 1
    echo "pkg-config: lb $pc_version: $(pkg-config --cflags --libs lb)"
    [ "$pc_version" = "$VERSION" ]
}

pkg_config_one_liner() {
    # Exactly what the README tells C users to type.
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror examples/c/client.c \
        $(pkg-config --cflags --libs lb) -o "$LOGS/app" && "$LOGS/app"
}

cpp_build() {
    rm -rf examples/cpp/build
    cmake -S examples/cpp -B examples/cpp/build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build examples/cpp/build -j 2
}

cpp_test() {
    ctest --test-dir examples/cpp/build --output-on-failure
}

go_vet() {
    (cd examples/go && go vet ./...)
}

go_test() {
    if [ "$(go env CGO_ENABLED)" != 1 ]; then
        echo "cgo is disabled: the Go binding needs it"
        return 1
    fi
    (cd examples/go && go test -race -count=1 ./...)
}

go_example() {
    (cd examples/go && go run ./cmd/lbdemo)
}

step build build
step header check_header
step soname check_soname
step exports check_exports
step ffi-unit ffi_unit
step install install_stage
step pkg-config pkg_config_one_liner
make -C examples/c clean >/dev/null # relink against the libraries just installed
for t in client-shared client-static layout layout-cxx bad-input reliability stress dlopen; do
    step "c-$t" make -C examples/c "run-$t" ${STRESS_OPS:+STRESS_OPS=$STRESS_OPS}
done
if [ "${LB_SKIP_CPP:-0}" = 1 ]; then
    skip cpp "LB_SKIP_CPP=1"
else
    step cpp-build cpp_build
    step cpp-test cpp_test
fi
if [ "${LB_SKIP_GO:-0}" = 1 ]; then
    skip go "LB_SKIP_GO=1"
elif ! command -v go >/dev/null; then
    skip go "no go on PATH"
else
    step go-vet go_vet
    step go-test go_test
    step go-example go_example
fi

echo
if [ "$failed" -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
