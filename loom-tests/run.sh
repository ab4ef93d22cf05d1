#!/usr/bin/env bash
# Runs lb's loom models (see README.md): builds lb and the models with `--cfg loom`
# in this package's own target directory and explores every model within its bounds.
# Extra arguments go to `cargo test` (e.g. `./run.sh m3_` or `./run.sh -- --nocapture`
# for each model's execution count). LOOM_MAX_PREEMPTIONS, when set, replaces every
# model's own preemption bound.
set -euo pipefail
cd "$(dirname "$0")"

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export CARGO_TARGET_DIR="$PWD/target"
# The injected-bug tests panic on purpose; one line per panic is enough.
export RUST_BACKTRACE=0

mkdir -p target
start=$(date +%s)
set +e
if [ $# -gt 0 ]; then
    cargo test --release "$@" 2>&1 | tee target/loom-run.log
    status=${PIPESTATUS[0]}
else
    # The whole suite runs as two processes side by side, one test at a time each.
    # Every loom execution maps and unmaps its threads' stacks, and two test threads
    # of one process contend on its address space: on a 2-vCPU machine the tests took
    # 430 s with libtest's two threads and 370 s with one; as these two processes,
    # 134 s with the build. The first shard holds models 1 and 6 (two of the three
    # largest) and 3, the second the rest (7, the third largest, among them).
    cargo test --release --no-run 2>&1 | tee target/loom-build.log
    status=${PIPESTATUS[0]}
    bin=$(sed -n 's/.*Executable .*(\(.*\))$/\1/p' target/loom-build.log | tail -1)
    if [ "$status" -eq 0 ] && [ -x "$bin" ]; then
        shard=(m1_ m3_ m6_)
        skip=()
        for m in "${shard[@]}"; do skip+=(--skip "$m"); done
        "$bin" --test-threads=1 "${shard[@]}" >target/loom-shard-1.log 2>&1 &
        first=$!
        "$bin" --test-threads=1 "${skip[@]}" >target/loom-shard-2.log 2>&1
        second=$?
        wait "$first"
        status=$?
        [ "$status" -eq 0 ] && status=$second
        cat target/loom-shard-1.log target/loom-shard-2.log | tee target/loom-run.log
    else
        echo "loom: could not build the models" | tee target/loom-run.log
        [ "$status" -eq 0 ] && status=1
    fi
fi
set -e
echo "loom suite: $(( $(date +%s) - start ))s (build included)"
grep -E '^test result:' target/loom-run.log || true
exit "$status"
