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
cargo test --release "$@" 2>&1 | tee target/loom-run.log
status=${PIPESTATUS[0]}
set -e
echo "loom suite: $(( $(date +%s) - start ))s (build included)"
grep -E '^test result:' target/loom-run.log || true
exit "$status"
