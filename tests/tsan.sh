#!/usr/bin/env bash
# ThreadSanitizer run of lb through its C ABI.
#
# What it runs: examples/c/stress.c, a pthreads program in which 4 worker
# threads select and report (out of order, every outcome, some exclusions), a
# churn thread replaces the instance set (lb_set_instances), sets health scores
# (lb_set_health_score), switches strategies and changes options, and a reader
# thread reads lb_get_stats / lb_get_health / lb_get_all_health / lb_get_option,
# all concurrently, with maintenance every 1-10 ms; each worker runs a fixed
# number of operations and the program checks its own accounting at the end.
# It runs TSAN_RUNS times (default 5) under ThreadSanitizer, with:
#
#   - lb's static library built by the nightly toolchain with
#     RUSTFLAGS=-Zsanitizer=thread and -Zbuild-std, so that lb, its dependencies
#     AND the Rust standard library (Mutex, Arc, thread locals) are instrumented;
#     into target/tsan (LB_TSAN_TARGET_DIR), never target/release;
#   - stress.c compiled with clang -fsanitize=thread -g -O1 (TSAN_CC), linked
#     with that liblb.a, the native libraries rustc names for it
#     (--print native-static-libs) and the TSan runtime shipped with the same
#     nightly (librustc-nightly_rt.tsan.a): the Rust code is instrumented by the
#     nightly's LLVM, whose instrumentation calls entry points (__tsan_memcpy,
#     __tsan_memset) that the older runtimes of the system clang and gcc lack;
#   - TSAN_OPTIONS="suppressions=tests/tsan.supp halt_on_error=1 exitcode=66
#     second_deadlock_stack=1 print_suppressions=1" (plus LB_TSAN_OPTIONS).
#
# How to run, from anywhere:
#
#   tests/tsan.sh                       build what is out of date, then run
#   TSAN_RUNS=20 STRESS_OPS=500000 tests/tsan.sh    a longer run
#
# Exits non-zero on any TSan report (or a failed check of the stress program,
# or a failed build); the last line is "tsan: 1 passed, 0 failed" or
# "tsan: 0 passed, 1 failed". Build and logs: target/tsan, build/tsan. The
# first run builds std too (about a minute on 2 cores); later runs reuse it
# and take a few seconds.
#
# Suppressions: tests/tsan.supp holds the known false positives, each with the
# report it covers and the reason. With std instrumented there are none today;
# the file explains the false positives of an uninstrumented std (Arc's drop
# fence, std Mutex's uninstrumented contended lock path), which would need
# suppressions of lb's own functions and are why this script insists on
# -Zbuild-std. A report in lb's own code is never suppressed: it is a bug.
#
# Needs: rustup with a nightly toolchain and its rust-src component
# (rustup component add rust-src --toolchain nightly; -Zbuild-std also needs
# std's own crates, from crates.io or the cargo cache), clang (or another C
# compiler with -fsanitize=thread, TSAN_CC=gcc), x86_64 Linux.
set -u
set -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=x86_64-unknown-linux-gnu
TOOLCHAIN=${LB_TSAN_TOOLCHAIN:-nightly}
TSAN_TARGET_DIR=${LB_TSAN_TARGET_DIR:-target/tsan}
case $TSAN_TARGET_DIR in /*) ;; *) TSAN_TARGET_DIR=$ROOT/$TSAN_TARGET_DIR ;; esac
OUT=$ROOT/build/tsan
RUNS=${TSAN_RUNS:-5}
OPS=${STRESS_OPS:-250000}
RUN_TIMEOUT=${TSAN_RUN_TIMEOUT:-120}
CC_TSAN=${TSAN_CC:-clang}
SUPP=$ROOT/tests/tsan.supp
LIB=$TSAN_TARGET_DIR/$TARGET/release/liblb.a
NATIVE_LIBS_FILE=$TSAN_TARGET_DIR/native-static-libs.txt
# What liblb.a needed when this script was written; used only if rustc's own
# answer is unavailable (see build()).
DEFAULT_NATIVE_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
START=$SECONDS

finish() {
    echo
    echo "tsan: took $((SECONDS - START)) s; build in ${TSAN_TARGET_DIR#"$ROOT"/}, logs in build/tsan"
    if [ "$1" -eq 0 ]; then
        echo "tsan: 1 passed, 0 failed"
        exit 0
    fi
    echo "tsan: 0 passed, 1 failed"
    exit 1
}

fail() {
    echo "tsan: FAILED: $*"
    finish 1
}

preflight() {
    command -v cargo >/dev/null || fail "no cargo on PATH"
    cargo "+$TOOLCHAIN" -V >/dev/null 2>&1 ||
        fail "no $TOOLCHAIN toolchain: rustup toolchain install $TOOLCHAIN"
    command -v "$CC_TSAN" >/dev/null || fail "no $CC_TSAN on PATH (set TSAN_CC)"
    [ -f "$SUPP" ] || fail "missing $SUPP"
    local sysroot
    sysroot=$(rustc "+$TOOLCHAIN" --print sysroot) || fail "rustc +$TOOLCHAIN --print sysroot"
    if [ ! -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ]; then
        # Without it std stays uninstrumented, and TSan then reports every
        # Mutex-guarded access in lb (see tests/tsan.supp): no useful result.
        fail "the $TOOLCHAIN toolchain has no rust-src, needed for -Zbuild-std:" \
            "rustup component add rust-src --toolchain $TOOLCHAIN"
    fi
    RT=$(rustc "+$TOOLCHAIN" --print target-libdir --target "$TARGET")/librustc-${TOOLCHAIN%%-*}_rt.tsan.a
    if [ ! -f "$RT" ]; then
        RT=$(ls "$(rustc "+$TOOLCHAIN" --print target-libdir --target "$TARGET")"/librustc-*_rt.tsan.a 2>/dev/null | head -n 1)
    fi
    [ -n "$RT" ] && [ -f "$RT" ] || fail "the $TOOLCHAIN toolchain ships no TSan runtime for $TARGET"
}

# Builds liblb.a with TSan (cargo skips it when up to date) and records the
# native libraries rustc says it needs; rustc prints them only when it actually
# compiles lb, so they are kept in $NATIVE_LIBS_FILE for the runs that reuse it.
build() {
    echo "=== build: liblb.a with -Zsanitizer=thread -Zbuild-std ($TOOLCHAIN) into ${TSAN_TARGET_DIR#"$ROOT"/}"
    mkdir -p "$OUT" "$TSAN_TARGET_DIR"
    # RUSTFLAGS replaces any configured rustflags; --target keeps it off build
    # scripts and proc macros; line tables give file:line in TSan's stacks.
    env -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u RUSTC_WORKSPACE_WRAPPER \
        CARGO_TARGET_DIR="$TSAN_TARGET_DIR" \
        RUSTFLAGS="-Zsanitizer=thread" \
        CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo "+$TOOLCHAIN" rustc -Zbuild-std --release --lib -p lb --target "$TARGET" \
        --crate-type staticlib -- --print native-static-libs 2>&1 | tee "$OUT/build.log"
    local status=$?
    if [ "$status" -ne 0 ]; then
        fail "cargo build of the TSan liblb.a (exit $status; log in build/tsan/build.log)"
    fi
    [ -f "$LIB" ] || fail "the build produced no $LIB"
    local printed
    printed=$(sed -n 's/^note: native-static-libs: *//p' "$OUT/build.log" | tail -n 1)
    if [ -n "$printed" ]; then
        echo "$printed" >"$NATIVE_LIBS_FILE"
    fi
    if [ -s "$NATIVE_LIBS_FILE" ]; then
        NATIVE_LIBS=$(cat "$NATIVE_LIBS_FILE")
    else
        NATIVE_LIBS=$DEFAULT_NATIVE_LIBS
        echo "(rustc did not print native-static-libs; using $NATIVE_LIBS)"
    fi
    # The Rust side must really be instrumented.
    # (grep reads all of nm's output: with pipefail, an early grep -q exit
    # would fail the pipeline by SIGPIPE.)
    [ "$(nm "$LIB" 2>/dev/null | grep -c ' U __tsan_func_entry')" -gt 0 ] ||
        fail "$LIB has no TSan instrumentation"
}

# Compiles stress.c with TSan and links it; the link step takes no -fsanitize
# so that the compiler's own (older) TSan runtime is not linked beside the
# nightly's one.
link() {
    echo "=== compile: examples/c/stress.c with $CC_TSAN -fsanitize=thread -g -O1"
    "$CC_TSAN" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsanitize=thread -g -O1 \
        -fno-omit-frame-pointer -I include -c examples/c/stress.c -o "$OUT/stress.o" ||
        fail "compiling stress.c"
    # -rdynamic exports the runtime's interceptors, as clang's own TSan link does.
    # shellcheck disable=SC2086 # NATIVE_LIBS is a list of linker flags
    "$CC_TSAN" -pthread -rdynamic "$OUT/stress.o" "$LIB" \
        -Wl,--whole-archive "$RT" -Wl,--no-whole-archive $NATIVE_LIBS -o "$OUT/stress" ||
        fail "linking stress"
    echo "linked: liblb.a + ${RT##*/} + $NATIVE_LIBS"
}

run() {
    local i status
    # print_suppressions=1: list the suppressions that matched (off by default).
    export TSAN_OPTIONS="suppressions=$SUPP halt_on_error=1 exitcode=66 second_deadlock_stack=1 print_suppressions=1${LB_TSAN_OPTIONS:+ $LB_TSAN_OPTIONS}"
    echo "=== run: $RUNS x build/tsan/stress $OPS, TSAN_OPTIONS=\"$TSAN_OPTIONS\""
    for i in $(seq 1 "$RUNS"); do
        timeout "$RUN_TIMEOUT" "$OUT/stress" "$OPS" >"$OUT/run-$i.log" 2>&1
        status=$?
        if [ "$status" -eq 0 ] && grep -q 'ThreadSanitizer' "$OUT/run-$i.log"; then
            # Matched suppressions are printed at exit; anything else is a report.
            if grep -v -e 'ThreadSanitizer: Matched' "$OUT/run-$i.log" | grep -q 'ThreadSanitizer'; then
                status=66
            fi
        fi
        case $status in
            0)
                echo "run $i: ok: $(grep '^stress: .* picks' "$OUT/run-$i.log")"
                grep -A 100 'ThreadSanitizer: Matched' "$OUT/run-$i.log" || true
                ;;
            66)
                cat "$OUT/run-$i.log"
                fail "run $i: ThreadSanitizer report (log in build/tsan/run-$i.log)"
                ;;
            124 | 137)
                tail -n 20 "$OUT/run-$i.log"
                fail "run $i: still running after ${RUN_TIMEOUT}s (deadlock?)"
                ;;
            *)
                cat "$OUT/run-$i.log"
                fail "run $i: the stress program's checks failed (exit $status; log in build/tsan/run-$i.log)"
                ;;
        esac
    done
}

preflight
build
link
run
finish 0
