#!/usr/bin/env bash
# Instructions per select + report pair, counted with callgrind: one thread on one
# balancer, and one thread serving 64 balancers in strict rotation. Each case runs
# twice (PAIRS_LO and PAIRS_HI pairs) and the difference is divided by the
# difference in pairs, so set-up cancels; the example runs on a manual clock, so the
# counts are the same on every run and machine. Fails when 64 balancers cost more
# than MAX_RATIO (default 2) times one. Needs valgrind.
#
#   tests/callgrind-pairs.sh            round robin
#   STRATEGY=least_connections tests/callgrind-pairs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STRATEGY=${STRATEGY:-round_robin}
PAIRS_LO=${PAIRS_LO:-20000}
PAIRS_HI=${PAIRS_HI:-60000}
MAX_RATIO=${MAX_RATIO:-2}
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)"; exit 1; }
cargo build --release --example pairs -q
BIN=${CARGO_TARGET_DIR:-target}/release/examples/pairs

instructions() { # BALANCERS PAIRS -> total instructions of the run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" "$STRATEGY" 2>&1 \
        | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}

per_pair() { # BALANCERS -> instructions per pair
    local lo hi
    lo=$(instructions "$1" "$PAIRS_LO")
    hi=$(instructions "$1" "$PAIRS_HI")
    echo $(( (hi - lo) / (PAIRS_HI - PAIRS_LO) ))
}

one=$(per_pair 1)
many=$(per_pair 64)
echo "callgrind, $STRATEGY, 4 instances: $one instructions per pair on 1 balancer, $many on 64 in rotation"
if awk -v a="$many" -v b="$one" -v r="$MAX_RATIO" 'BEGIN { exit !(a <= r * b) }'; then
    echo "callgrind-pairs: 1 passed, 0 failed"
else
    echo "64 balancers cost more than ${MAX_RATIO}x one"
    echo "callgrind-pairs: 0 passed, 1 failed"
    exit 1
fi
