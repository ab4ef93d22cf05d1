#!/usr/bin/env bash
# The bundled scenarios under SEEDS other seeds each (default 20): the mean p99 and
# success rate per scenario and strategy, with the standard error of the mean, so a
# change to lb can be judged against run-to-run variation rather than one seed.
#
#   benches/sim-seeds.sh                  this checkout
#   LB_SIM=/path/to/lb-sim benches/sim-seeds.sh > other.txt
#
# Seed k of scenario s is k * 1000 followed by the scenario's own seed.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-20}
if [ -z "${LB_SIM:-}" ]; then
    cargo build --release -q --bin lb-sim
    LB_SIM=${CARGO_TARGET_DIR:-target}/release/lb-sim
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for k in $(seq 1 "$SEEDS"); do
    mkdir -p "$work/$k"
    for f in scenarios/*.toml; do
        sed "s/^seed = \([0-9]*\)/seed = $((k * 1000))\1/" "$f" > "$work/$k/$(basename "$f")"
    done
    "$LB_SIM" "$work/$k"/*.toml > "$work/$k.out"
done
python3 - "$work" "$SEEDS" <<'PY'
import re, statistics as st, sys
work, seeds = sys.argv[1], int(sys.argv[2])
runs = []
for k in range(1, seeds + 1):
    res, sc = {}, None
    for line in open(f"{work}/{k}.out"):
        m = re.match(r"^(\S.*?)\s+\((\S+?)\.toml,", line)
        if m:
            sc = m.group(2).rsplit("/", 1)[-1]
            continue
        m = re.match(r"^[ *]\s+(\w+)\s+\d+\s+([\d.]+)%\s+(?:[\d.]+\s+){3}([\d.]+)", line)
        if m and sc:
            res[(sc, m.group(1))] = (float(m.group(3)), float(m.group(2)))
    runs.append(res)
print(f"{'scenario':24s} {'strategy':24s} {'mean p99 ms':>12s} {'+-':>6s} {'mean success %':>15s}")
for key in sorted(runs[0]):
    p99 = [r[key][0] for r in runs]
    ok = [r[key][1] for r in runs]
    se = st.stdev(p99) / len(p99) ** 0.5 if len(p99) > 1 else 0.0
    print(f"{key[0]:24s} {key[1]:24s} {st.mean(p99):12.2f} {se:6.2f} {st.mean(ok):15.4f}")
PY
