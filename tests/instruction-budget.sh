#!/usr/bin/env bash
# The request path's instruction budget, as a test: benches/instructions.sh counts
# instructions per lb_select + lb_report pair through the C ABI (callgrind, a
# virtual clock at 30 ns per pair, so the count is the same on every run and
# machine), linked against liblb.a at n = 64 and 1024 and against liblb.so at
# n = 64, and this fails when a strategy's count at n = 64 is above its budget
# either way, or when an O(1) strategy's count at n = 1024 is more than 10% above
# its count at n = 64. Needs valgrind and a C compiler; about a minute.
#
#   tests/instruction-budget.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# strategy (as instructions.sh names it) -> budget at n = 64, and whether it is O(1).
budget() {
    case $1 in
        "round_robin") echo "200 1" ;;
        "least_connections") echo "600 0" ;;
        "weighted_response_time" | "adaptive" | "least_request" | "peak_ewma") echo "260 1" ;;
        "maglev (lb_select_key)") echo "260 1" ;;
        "maglev (lb_select_key) (factor 125)" | "ring_hash (lb_select_key)") echo "400 1" ;;
        *) echo "unknown" ;;
    esac
}

passed=0
failed=0
for link in static shared; do
    sizes="64 1024"
    [ "$link" = shared ] && sizes=64
    table=$(LINK=$link STRATEGIES="0 1 2 3 4 5 6 6:125 7" SIZES="$sizes" benches/instructions.sh)
    echo "liblb linked $link:"
    echo "$table"
    rows=0
    while IFS='|' read -r _ name n64 n1024 _; do
        name=$(echo "$name" | sed 's/^ *//; s/ *$//')
        n64=${n64// /}
        n1024=${n1024// /}
        case $n64 in '' | *[!0-9]*) continue ;; esac
        rows=$((rows + 1))
        read -r limit constant <<<"$(budget "$name")" || true
        if [ "$limit" = unknown ]; then
            echo "FAIL $name: no budget for this strategy"
            failed=$((failed + 1))
            continue
        fi
        if [ "$n64" -le "$limit" ]; then
            passed=$((passed + 1))
        else
            echo "FAIL $name ($link): $n64 instructions per pair at n = 64, budget $limit"
            failed=$((failed + 1))
        fi
        if [ "$constant" = 1 ] && [ -n "$n1024" ]; then
            # Within 10%: 10 * n1024 <= 11 * n64.
            if [ $((10 * n1024)) -le $((11 * n64)) ]; then
                passed=$((passed + 1))
            else
                echo "FAIL $name ($link): $n1024 at n = 1024 is more than 10% above $n64 at n = 64"
                failed=$((failed + 1))
            fi
        fi
    done <<<"$table"
    if [ "$rows" -ne 9 ]; then
        echo "FAIL: expected 9 strategies in the $link table, read $rows"
        failed=$((failed + 1))
    fi
done
echo "instruction-budget: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
