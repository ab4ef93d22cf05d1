#!/usr/bin/env bash
# Builds and runs the api_sequence fuzz target for a while.
#
# usage: fuzz/run.sh [SECONDS]     (default 60; e.g. fuzz/run.sh 1800 for a long run)
#
# Needs cargo-fuzz and a nightly toolchain (`cargo +nightly fuzz`). The run starts
# from a copy of the checked-in seeds (fuzz/corpus/api_sequence/) in a scratch
# directory under fuzz/target/, so the seeds stay as they are; a crash leaves its
# input in fuzz/artifacts/api_sequence/ (see fuzz/README.md to reproduce it).
# Exits 0 and prints "fuzz: 1 passed, 0 failed" when nothing was found, else 1 and
# "fuzz: 0 passed, 1 failed". Extra libFuzzer flags: LB_FUZZ_FLAGS="-jobs=2 ...".
set -uo pipefail

secs="${1:-60}"
case "$secs" in
'' | *[!0-9]*)
    echo "usage: fuzz/run.sh [SECONDS]" >&2
    exit 2
    ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
target=api_sequence
scratch="$here/target/scratch-corpus/$target"
log="$here/target/fuzz-$target.log"

fail() {
    echo "$1"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
}

echo "fuzz: building $target (cargo +nightly fuzz build)"
cargo +nightly fuzz build "$target" || fail "fuzz: build failed"

rm -rf "$scratch"
mkdir -p "$scratch" "$here/artifacts/$target"
cp "$here/corpus/$target/"* "$scratch/"
echo "fuzz: running $target for $secs s on a copy of $(ls "$scratch" | wc -l) seeds in ${scratch#"$here"/}"

start=$(date +%s)
# -timeout: an input taking 10 s is a hang (each is at most 200 calls);
# -max_len: the inputs the target is designed for are small.
# shellcheck disable=SC2086
cargo +nightly fuzz run "$target" "$scratch" -- \
    -max_total_time="$secs" -timeout=10 -max_len=4096 -print_final_stats=1 \
    ${LB_FUZZ_FLAGS:-} >"$log" 2>&1
rc=$?
end=$(date +%s)

stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
execs="$(stat number_of_executed_units)"
rate="$(stat average_exec_per_sec)"
corpus="$(ls "$scratch" | wc -l)"
echo "fuzz: ${execs:-?} executions in $((end - start)) s (${rate:-?} exec/s), corpus ${corpus} inputs; log ${log#"$here"/}"

if [ "$rc" -ne 0 ]; then
    echo "---- last lines of the run ----"
    grep -E "lb contract violation|panicked at|ERROR: |SUMMARY|Failing input|artifact|crash-|timeout-|oom-" "$log" | head -20
    tail -n 5 "$log"
    fail "fuzz: $target FAILED (exit $rc); reproduce: cd fuzz && LB_FUZZ_TRACE=1 cargo +nightly fuzz run $target <artifact>"
fi
echo "fuzz: $target found nothing"
echo "fuzz: 1 passed, 0 failed"
