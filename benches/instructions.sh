#!/usr/bin/env bash
# Instructions per lb_select + lb_report pair through the C ABI, per strategy, at
# n = 4, 64 and 1024 instances: benches/instructions.c linked against liblb.a runs
# twice under callgrind (PAIRS_LO and PAIRS_HI pairs) and the difference is divided
# by the difference in pairs, so set-up cancels. Instruction counts do not depend on
# the machine's load, unlike times; use this to check the budget on a noisy machine.
# The program runs on a virtual clock (see benches/instructions.c), 30 ns per pair
# unless NS_PER_READ says otherwise (NS_PER_READ / 32 per pair at the default
# LB_OPTION_CLOCK_REFRESH_OPS of 64), so neither does the
# time-driven work on the request path.
#
#   benches/instructions.sh                     strategies 0..3, n = 4 64 1024
#   STRATEGIES="0 2" SIZES="64" benches/instructions.sh
#   STRATEGIES="6 6:125 7" benches/instructions.sh   Maglev (lb_select_key), with a
#                                                    hash balance factor of 125, ring hash
#   NS_PER_READ=320000 benches/instructions.sh         10 us per pair: sparse traffic
#   LINK=shared benches/instructions.sh         the same program linked against liblb.so
#
# Needs valgrind and a C compiler. Prints one table (markdown).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS_LO=${PAIRS_LO:-20000}
PAIRS_HI=${PAIRS_HI:-60000}
STRATEGIES=${STRATEGIES:-0 1 2 3}
SIZES=${SIZES:-4 64 1024}
CC=${CC:-cc}
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)"; exit 1; }
cargo build --release --lib -p lb -q
TARGET=${CARGO_TARGET_DIR:-target}
OUT=build/instructions
mkdir -p "$OUT"
LIBS=$(sed -n 's/^LIBS_PRIVATE ?= //p' Makefile)
case ${LINK:-static} in
static)
    $CC -std=c11 -O2 -Wall -Wextra -Werror -Iinclude benches/instructions.c \
        "$TARGET/release/liblb.a" $LIBS -o "$OUT/instructions"
    ;;
shared)
    # The program finds liblb.so.MAJOR (its SONAME) next to itself, through its rpath.
    major=$(sed -n 's/^version *= *"\([0-9]*\)\..*/\1/p' Cargo.toml | head -n 1)
    cp "$TARGET/release/liblb.so" "$OUT/liblb.so.$major"
    ln -sf "liblb.so.$major" "$OUT/liblb.so"
    $CC -std=c11 -O2 -Wall -Wextra -Werror -Iinclude benches/instructions.c \
        -L"$OUT" -llb -Wl,-rpath,'$ORIGIN' -o "$OUT/instructions"
    ;;
*) echo "LINK must be static or shared"; exit 2 ;;
esac

instructions() { # STRATEGY[:FACTOR] N PAIRS -> total instructions of the run
    local strategy=${1%%:*} factor=0
    [ "$1" != "$strategy" ] && factor=${1#*:}
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$OUT/instructions" "$strategy" "$2" "$3" "$factor" 2>&1 \
        | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}

name() {
    case $1 in
        *:*) echo "$(name "${1%%:*}") (factor ${1#*:})" ;;
        0) echo round_robin ;; 1) echo least_connections ;;
        2) echo weighted_response_time ;; 3) echo adaptive ;;
        4) echo least_request ;; 5) echo peak_ewma ;;
        6) echo "maglev (lb_select_key)" ;; 7) echo "ring_hash (lb_select_key)" ;;
        *) echo "strategy $1" ;;
    esac
}

header="| strategy |"
rule="|---|"
for n in $SIZES; do header="$header n = $n |"; rule="$rule---:|"; done
echo "$header"
echo "$rule"
for s in $STRATEGIES; do
    row="| $(name "$s") |"
    for n in $SIZES; do
        lo=$(instructions "$s" "$n" "$PAIRS_LO")
        hi=$(instructions "$s" "$n" "$PAIRS_HI")
        row="$row $(( (hi - lo) / (PAIRS_HI - PAIRS_LO) )) |"
    done
    echo "$row"
done
