#!/usr/bin/env bash
# Instructions per select + report pair through lb's Rust API and through the
# Mutex baseline of the criterion bench (benches/baseline/mod.rs), side by side:
# benches/pair_instructions.rs runs twice under callgrind per case (PAIRS_LO and
# PAIRS_HI pairs) and the difference is divided by the difference in pairs, so
# set-up cancels. A deterministic counterpart of the one-thread criterion groups,
# whose times move with the machine's load.
#
#   benches/instructions-rust.sh                       every strategy, n = 4 64 1024
#   STRATEGIES="round_robin" SIZES="64" benches/instructions-rust.sh
#
# Needs valgrind. Prints one table (markdown).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS_LO=${PAIRS_LO:-20000}
PAIRS_HI=${PAIRS_HI:-60000}
STRATEGIES=${STRATEGIES:-round_robin least_connections weighted_response_time adaptive least_request peak_ewma}
SIZES=${SIZES:-4 64 1024}
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)"; exit 1; }
BIN=$(cargo bench --bench pair_instructions --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "could not build benches/pair_instructions.rs"; exit 1; }

instructions() { # lb|mutex STRATEGY N PAIRS -> total instructions of the run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 \
        | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}

per_pair() { # lb|mutex STRATEGY N
    local lo hi
    lo=$(instructions "$1" "$2" "$3" "$PAIRS_LO")
    hi=$(instructions "$1" "$2" "$3" "$PAIRS_HI")
    echo $(( (hi - lo) / (PAIRS_HI - PAIRS_LO) ))
}

echo "| strategy | n | lb Rust API | Mutex baseline | lb / Mutex |"
echo "|---|---:|---:|---:|---:|"
for s in $STRATEGIES; do
    for n in $SIZES; do
        l=$(per_pair lb "$s" "$n")
        m=$(per_pair mutex "$s" "$n")
        echo "| $s | $n | $l | $m | $(python3 -c "print(f'{$l / $m:.2f}')") |"
    done
done
