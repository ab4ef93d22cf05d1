#!/usr/bin/env python3
"""Prints the results of the last `cargo bench --bench balancer` run as the
markdown tables of BENCHMARKS.md: criterion's median for every benchmark, the
ratios to the Mutex baseline of the same run, and each target with met/missed.

    python3 benches/table.py [target/criterion]
"""

import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
STRATEGIES = ["round_robin", "least_connections", "weighted_response_time", "adaptive",
              "least_request", "peak_ewma"]
SIZES = ["4", "64", "1024"]

med = {}  # (group, function, value) -> median in ns
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        b = json.load(f)
    with open(os.path.join(dirpath, "estimates.json")) as f:
        e = json.load(f)
    med[(b["group_id"], b["function_id"], b["value_str"])] = e["median"]["point_estimate"]

# The one-thread groups' paired medians (written by the bench beside criterion's
# results): the same turns of the rotation for every contestant.
paired = {}  # (group, n) -> dict
for s in os.listdir(root) if os.path.isdir(root) else []:
    d = os.path.join(root, s, "paired")
    if os.path.isdir(d):
        for f in os.listdir(d):
            with open(os.path.join(d, f)) as fh:
                paired[(s, f[: -len(".json")])] = json.load(fh)


def get(group, function, value):
    return med.get((group, function, value))


def ns(v):
    if v is None:
        return "-"
    if v >= 100_000:
        return f"{v / 1000:.0f} us"
    if v >= 10_000:
        return f"{v / 1000:.1f} us"
    if v >= 1_000:
        return f"{v / 1000:.2f} us"
    return f"{v:.1f} ns"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def verdict(ok):
    if ok is None:
        return "-"
    return "met" if ok else "**missed**"


out = []
out.append("### 1. select+report pair, one thread (median per pair)\n")
out.append("| strategy | n | lb C ABI | lb Rust API | Mutex baseline | lb C / Mutex | bare scan |")
out.append("|---|---:|---:|---:|---:|---:|---:|")
for s in STRATEGIES:
    g = f"single_{s}"
    for n in SIZES:
        c, r, m = get(g, "lb_c", n), get(g, "lb_rust", n), get(g, "mutex", n)
        scan = get(g, "bare_scan", n)
        out.append(
            f"| {s} | {n} | {ns(c)} | {ns(r)} | {ns(m)} | {ratio(c, m)} | {ns(scan) if scan else ''} |"
        )

out.append("\n### 1b. the same, paired: median over the rotation's turns (one block of each, back to back)\n")
out.append("| strategy | n | turns | lb C ABI | lb Rust API | Mutex baseline | lb C / Mutex | lb Rust / Mutex |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
for s in STRATEGIES:
    for n in SIZES:
        p = paired.get((f"single_{s}", n))
        if p is None:
            out.append(f"| {s} | {n} | - | - | - | - | - | - |")
            continue
        out.append(
            f"| {s} | {n} | {p['turns']} | {ns(p['lb_c_ns'])} | {ns(p['lb_rust_ns'])} | {ns(p['mutex_ns'])} "
            f"| {p['lb_c_over_mutex']:.2f}x | {p['lb_rust_over_mutex']:.2f}x |"
        )

out.append("\n### 1c. one thread, 64 instances: the C ABI pair through liblb.so (dlopen) and linked in, paired\n")
out.append("| strategy | turns | liblb.so | linked in | Mutex baseline | liblb.so / linked in | liblb.so / Mutex |")
out.append("|---|---:|---:|---:|---:|---:|---:|")
for s in STRATEGIES:
    p = paired.get(("shared_library_64", s))
    if p is None:
        continue
    out.append(
        f"| {s} | {p['turns']} | {ns(p['lb_so_ns'])} | {ns(p['lb_c_ns'])} | {ns(p['mutex_ns'])} "
        f"| {p['lb_so_ns'] / p['lb_c_ns']:.2f}x | {p['lb_so_over_mutex']:.2f}x |"
    )

out.append("\n### 2. two threads at once on one balancer of 64 (median per pair per thread)\n")
out.append("| strategy | lb C ABI | lb Rust API | Mutex baseline | Mutex / lb C (speed-up) |")
out.append("|---|---:|---:|---:|---:|")
for s in STRATEGIES:
    g = "two_threads_64"
    c, r, m = get(g, "lb_c", s), get(g, "lb_rust", s), get(g, "mutex", s)
    out.append(f"| {s} | {ns(c)} | {ns(r)} | {ns(m)} | {ratio(m, c)} |")

out.append("\n### 3. a writer replacing the set every millisecond, 64 instances (median per pair)\n")
out.append("| strategy | lb C ABI | lb C ABI + writer | slow-down | Mutex | Mutex + writer | slow-down |")
out.append("|---|---:|---:|---:|---:|---:|---:|")
for s in STRATEGIES:
    g = "writer_1ms_64"
    c, cw = get(g, "lb_c", s), get(g, "lb_c_writer", s)
    m, mw = get(g, "mutex", s), get(g, "mutex_writer", s)
    sd = f"{(cw / c - 1) * 100:+.1f}%" if c and cw else "-"
    md = f"{(mw / m - 1) * 100:+.1f}%" if m and mw else "-"
    out.append(f"| {s} | {ns(c)} | {ns(cw)} | {sd} | {ns(m)} | {ns(mw)} | {md} |")

out.append("\n### 4. replacing the set: one instance leaves, a new one joins (median per call)\n")
out.append("| n | lb Rust API | lb C ABI | Mutex baseline |")
out.append("|---:|---:|---:|---:|")
for n in SIZES:
    g = "set_instances"
    out.append(f"| {n} | {ns(get(g, 'lb_rust', n))} | {ns(get(g, 'lb_c', n))} | {ns(get(g, 'mutex', n))} |")

# Targets.
out.append("\n### Targets\n")
out.append("| target | measured | verdict |")
out.append("|---|---|---|")
limits = {"round_robin": 20, "weighted_response_time": 25, "adaptive": 30, "least_connections": 40}
for s, lim in limits.items():
    v = get(f"single_{s}", "lb_c", "64")
    out.append(f"| {s}, 1 thread, n=64, C ABI <= {lim} ns | {ns(v)} | {verdict(None if v is None else v <= lim)} |")
for s in ["round_robin", "weighted_response_time", "adaptive"]:
    a, b = get(f"single_{s}", "lb_c", "1024"), get(f"single_{s}", "lb_c", "4")
    ok = None if a is None or b is None else a / b <= 1.5
    out.append(f"| {s}: n=1024 / n=4 <= 1.5x (C ABI) | {ratio(a, b)} | {verdict(ok)} |")
a, b = get("single_least_connections", "lb_c", "1024"), get("single_least_connections", "bare_scan", "1024")
ok = None if a is None or b is None else a / b <= 1.2
out.append(f"| least_connections: n=1024 / bare scan <= 1.2x | {ratio(a, b)} | {verdict(ok)} |")
for s in ["round_robin", "weighted_response_time", "adaptive"]:
    v = get("two_threads_64", "lb_c", s)
    out.append(f"| {s}, 2 threads, n=64 <= 60 ns per pair per thread | {ns(v)} | {verdict(None if v is None else v <= 60)} |")
for s in STRATEGIES:
    c, cw = get("writer_1ms_64", "lb_c", s), get("writer_1ms_64", "lb_c_writer", s)
    ok = None if c is None or cw is None else cw / c < 1.10
    sd = f"{(cw / c - 1) * 100:+.1f}%" if c and cw else "-"
    out.append(f"| {s}: writer every 1 ms slows the pair < 10% | {sd} | {verdict(ok)} |")
v = get("set_instances", "lb_c", "1024")
out.append(f"| replacing a set of 1024 < 100 us (C ABI) | {ns(v)} | {verdict(None if v is None else v < 100_000)} |")
for s in STRATEGIES:
    c, m = get("two_threads_64", "lb_c", s), get("two_threads_64", "mutex", s)
    ok = None if c is None or m is None else m / c >= 3
    out.append(f"| {s}: >= 3x faster than Mutex, 2 threads | {ratio(m, c)} | {verdict(ok)} |")
for s in STRATEGIES:
    worst = None
    for n in SIZES:
        c, m = get(f"single_{s}", "lb_c", n), get(f"single_{s}", "mutex", n)
        if c and m:
            worst = m / c if worst is None else min(worst, m / c)
    ok = None if worst is None else worst > 1
    shown = f"{worst:.2f}x (worst n)" if worst is not None else "-"
    out.append(f"| {s}: faster than Mutex, 1 thread (Mutex / lb C) | {shown} | {verdict(ok)} |")

O1 = ["round_robin", "weighted_response_time", "adaptive", "least_request", "peak_ewma"]
cells = [(s, n, api) for s in O1 for n in SIZES for api in ("lb_c", "lb_rust")]
crit = [get(f"single_{s}", api, n) is not None and get(f"single_{s}", "mutex", n) is not None
        and get(f"single_{s}", api, n) < get(f"single_{s}", "mutex", n) for s, n, api in cells]
pair = [(f"single_{s}", n) in paired and paired[(f"single_{s}", n)][f"{api}_over_mutex"] < 1
        for s, n, api in cells]
out.append(f"| every O(1) strategy faster than Mutex, 1 thread, n = 4, 64, 1024, both APIs (criterion medians) "
           f"| {sum(crit)} of {len(cells)} cells | {verdict(all(crit))} |")
out.append(f"| the same, paired medians of the rotation | {sum(pair)} of {len(cells)} cells | {verdict(all(pair))} |")

print("\n".join(out))
