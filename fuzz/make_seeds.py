#!/usr/bin/env python3
"""Writes the seed corpus of the api_sequence target (fuzz/corpus/api_sequence/).

Each seed is a small hand-made call sequence in the target's input format (see the
comment at the top of fuzz_targets/api_sequence.rs and the `step` / `ffi_op`
dispatchers there). libFuzzer mutates from these, so they only need to reach the
interesting states quickly: capacity limits, expiry edges, duplicates, guards,
forged and foreign picks, bad arguments, the C ABI.

Usage: python3 fuzz/make_seeds.py   (rewrites the seed files; deterministic)
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "api_sequence")

CHECKED = 0xC0

# First index of each operation in OP_TABLE (fuzz_targets/api_sequence.rs).
OP = dict(
    set_instances=0, add=3, remove=5, set_weight=7, select=9, select_excluding=14,
    select_guarded=16, drop_guard=19, report=20, report_any=25, bitflip=27, forged=29,
    foreign=31, to_other=33, set_strategy=34, set_config=36, health_score=39,
    maintain=41, stats=43, health=45, all_health=46, adv_us=47, adv_ms=49,
    adv_hours=51, adv_rel=52, settle=54, ffi=55, report_all=60, select_many=61,
    other=63,
)
# The arm numbers of H::step used below, by name.
ARM = dict(
    set_instances=0, add=1, remove=2, set_weight=3, select=4, select_excluding=6,
    select_guarded=7, drop_guard=8, report=9, report_any=11, bitflip=12, forged=13,
    foreign=14, to_other=15, set_strategy=16, set_config=17, health_score=19,
    maintain=20, stats=21, health=22, all_health=23, adv_us=24, adv_ms=25,
    adv_hours=26, adv_rel=27, settle=28, ffi=29, report_all=31, select_many=32,
    other=33,
)
ARM_TO_OP = {ARM[k]: OP[k] for k in ARM}

# Header choices.
RR, LC, WRT, ADAPTIVE = 0, 1, 2, 3
T_NEVER, T_1MS, T_10MS, T_1S, T_1MIN, T_5MIN = 0, 1, 2, 3, 4, 5
REFRESH_1, REFRESH_2, REFRESH_16, REFRESH_64 = 0, 1, 2, 3


def header(strategy=RR, observe=False, clock=2, timeout=T_5MIN, refresh=REFRESH_16, seed=1):
    return bytes([strategy, (1 if observe else 0) | (clock << 1), timeout, refresh, seed])


def u16(v):
    return struct.pack("<H", v)


def u64(v):
    return struct.pack("<Q", v)


# Argument selectors (see sel_* in the target).
OUT_SUCCESS, OUT_FAILURE, OUT_CANCELLED = 0, 1, 2
LAT_0, LAT_1, LAT_100, LAT_1MS, LAT_50MS, LAT_MAX = 0, 1, 2, 3, 4, 5
LAT_MAX_LATENCY, LAT_MAX_LATENCY_PLUS_1 = 8, 9
LAT_NEG = 12  # followed by u16


def op(arm, *args, checked=False):
    """One call: `arm` is the number of the match arm in H::step."""
    b = bytes([ARM_TO_OP[arm] | (CHECKED if checked else 0)])
    for a in args:
        b += a if isinstance(a, bytes) else bytes([a])
    return b


def set_seq(n, base=1, checked=False):
    """n instances with ids base.., weight 1, capacity 0."""
    return op(0, n, 7, base, checked=checked)


def set_list(insts, checked=False):
    """insts: (id byte, weight selector, capacity selector)."""
    b = op(0, len(insts), 0, 0, checked=checked)
    for i, w, c in insts:
        b += bytes([i, w, c])
    return b


W1, W2, W3, W7, WMAX = 1, 8, 10, 11, 12  # see sel_weight
W0 = 0
C0, C1, C2, C3, CMAX = 0, 4, 5, 6, 8


def select(checked=False):
    return op(4, checked=checked)


def select_many(n):
    return op(32, n - 1)


def select_excluding(ids, checked=True):
    return op(6, len(ids), *[bytes([0, i]) for i in ids], checked=checked)  # bool 0: not "existing"


def report(i, outcome=OUT_SUCCESS, lat=LAT_1MS, checked=False, extra=b""):
    return op(9, u16(i), outcome, lat, extra, checked=checked)


def report_any(i, outcome=OUT_SUCCESS, lat=LAT_1MS, checked=True):
    return op(11, u16(i), outcome, lat, checked=checked)


def report_all(outcome=OUT_SUCCESS, lat=LAT_1MS):
    return op(31, outcome, lat)


def stats():
    return op(21)


def maintain():
    return op(20)


def adv_us(v):
    return op(24, u16(v))


def adv_ms(v):
    return op(25, u16(v))


def adv_hours(h):
    return op(26, h - 1)


def adv_rel(k):
    """0: T-1, 1: T, 2: T+1, 3: 2T-1, 4: 2T, 5: 2T+1, 6: T/2, 7: 1 us."""
    return op(27, k)


def settle():
    return op(28)


def ffi(sub, *args, create=None):
    """create: (strategy, seed) when the C balancer does not exist yet."""
    b = op(29, sub)
    if create is not None and sub != 0:
        b += bytes([create[0]]) + u16(create[1])
    for a in args:
        b += a if isinstance(a, bytes) else bytes([a])
    return b


SEEDS = {}

# 1. The plain loop on every strategy, with stats after each phase.
SEEDS["basic-loop"] = (
    header(RR)
    + set_seq(3)
    + select() * 5
    + b"".join(report(0, OUT_SUCCESS, LAT_1MS) for _ in range(5))
    + stats()
    + op(16, LC) + select_many(6) + report_all(OUT_FAILURE, LAT_50MS) + stats()
    + op(16, WRT) + select_many(6) + report_all(OUT_CANCELLED, LAT_0) + stats()
    + op(16, ADAPTIVE) + select_many(6) + report_all(OUT_SUCCESS, LAT_100) + stats()
)

# 2. Duplicate reports: one request at a time (always detected), then with another
#    pick of the same instance outstanding (may be taken as that one's report).
SEEDS["duplicates"] = (
    header(RR, observe=True)
    + set_seq(1)
    + select() + report(0) + report_any(0) + report_any(0, OUT_FAILURE)
    + select() + select() + report_any(1) + report_any(1) + report_any(2) + report_any(2)
    + stats()
)

# 3. Expiry edges on a 10 ms timeout: reports just before and after one and two
#    timeouts, then the settle op (three spaced reads: everything must expire).
SEEDS["expiry-edges"] = (
    header(LC, timeout=T_10MS, refresh=REFRESH_1)
    + set_seq(2)
    + select_many(4)
    + adv_rel(0) + report(0, checked=True) + stats()
    + adv_rel(2) + report(0, checked=True) + stats()
    + select_many(3)
    + adv_rel(4) + stats() + adv_rel(5) + stats() + report_any(0)
    + settle() + stats() + report_all()
)

# 4. A select after a long idle period (no clock read in between) must be fresh.
SEEDS["idle-then-select"] = (
    header(RR, timeout=T_1S, refresh=REFRESH_64)
    + set_seq(2) + select() + report(0) + stats()
    + adv_hours(5) + select() + select() + stats() + report(0, checked=True) + stats()
    + adv_hours(200) + select_many(8) + adv_rel(0) + stats() + report_all()
)

# 5. Guards: dropped at once, reported, turned into a pick, kept and dropped later.
SEEDS["guards"] = (
    header(WRT)
    + set_seq(3)
    + op(7, 0) + op(7, 1, OUT_SUCCESS, LAT_1MS) + op(7, 2) + op(7, 3) + op(7, 3)
    + stats() + op(8, 0) + report(0) + adv_rel(3) + op(8, 0) + stats()
)

# 6. Bad arguments, each compared before/after: duplicate ids, weight 0, unknown
#    ids, NaN and out-of-range scores, bad config fields.
SEEDS["bad-arguments"] = (
    header(RR, observe=True)
    + set_seq(3)
    + set_list([(1, W1, C0), (1, W2, C0)], checked=True)
    + set_list([(1, W0, C0), (2, W1, C0)], checked=True)
    + op(1, 2, W1, C0, checked=True)  # add: duplicate id 2
    + op(1, 9, W0, C0, checked=True)  # add: weight 0
    + op(2, 0, 15, checked=True)  # remove unknown 15 (bool 0 -> sel_id)
    + op(3, 1, 0, W0, checked=True)  # set_weight(existing #0, 0)
    + op(19, 1, 0, 0, checked=True)  # health score NaN
    + op(19, 1, 1, 8, checked=True)  # health score 1e300
    + op(19, 0, 17, 6, checked=True)  # unknown id 17
    + op(17, 0, 3, 0, 0, checked=True)  # panic_threshold <- NaN
    + op(17, 0, 2, 5, 4, checked=True)  # pick_timeout_ms <- hi + 1
    + op(17, 0, 8, 1, checked=True)  # max_ejection_ms <- 1 (below base)
    + op(17, 0, 18, 4, checked=True)  # adaptive_hysteresis <- 1.0
    + op(17, 0, 20, 0, checked=True)  # clock_refresh_ops <- 0
    + stats()
)

# 7. Forged picks: every word bit-flipped, zeroed, random, foreign, to the other.
SEEDS["forged-picks"] = (
    header(LC)
    + set_seq(2)
    + select() + select()
    + op(12, u16(0), 0, 3, OUT_SUCCESS, LAT_1MS, checked=True)
    + op(12, u16(0), 1, 0, OUT_FAILURE, LAT_1MS, checked=True)
    + op(12, u16(1), 2, 40, OUT_CANCELLED, LAT_1MS, checked=True)
    + op(12, u16(1), 3, 63, OUT_SUCCESS, LAT_1MS, checked=True)
    + op(13, 0, OUT_SUCCESS, LAT_1MS, checked=True)
    + op(13, 3, u64(1) + u64(2) + u64(3) + u64(4), OUT_SUCCESS, LAT_1MS, checked=True)
    + op(14, 0, OUT_SUCCESS, LAT_1MS, checked=True)  # a pick of the second balancer
    + op(15, u16(0), OUT_SUCCESS, LAT_1MS)  # our pick to the second balancer
    + report_all() + stats()
)

# 8. The C ABI: create, set, select, report, stats, health, options, NULLs.
SEEDS["c-abi"] = (
    header(RR)
    + ffi(2, 3, 7, 1, 5, create=(LC, 42))  # 3 instances, ids 1.., aligned-offset variant 5
    + ffi(4, 0, 0) + ffi(4, 0, 3) + ffi(5, 1, 1, 1, 2, 0)  # selects (excluding id 2)
    + ffi(7, u16(0), 0, 0, LAT_1MS, 0) + ffi(7, u16(1), 6, 4, LAT_1MS, 1)  # report, unknown outcome
    + ffi(7, u16(0), 0, 1, LAT_1MS, 2)  # duplicate
    + ffi(10) + ffi(11, 1, 0, 3) + ffi(12, 0, 1, 2, 1) + ffi(6, 3)  # stats, health, all_health, NULLs
    + ffi(9, 0, 0, LAT_1MS)  # NULL reports, then a zeroed pick
    + ffi(13, 5, 0, 0)  # LB_OPTION_PANIC_THRESHOLD <- NaN
    + ffi(13, 7, 1, 7)  # LB_OPTION_CONSECUTIVE_FAILURES <- 1.5
    + ffi(13, 0, 0, 5)  # unknown option 0
    + ffi(13, 10, 1, 0)  # LB_OPTION_MAX_EJECTION_MS <- 1, below the base
    + ffi(13, 4, 1, 6, 5)  # LB_OPTION_PICK_TIMEOUT_MS <- 5 ms (the real clock expires picks)
    + ffi(4, 0, 0) + ffi(4, 0, 0) + ffi(10)
    + ffi(15, 8, 0) + ffi(16, 0, 3)  # get_option, status_str
    + ffi(1, 0, 3) + ffi(1, 5) + ffi(3, 0, 5, 0)  # strategies, NaN score
    + ffi(0, 5, 1, 2, u16(9))  # creation: unknown strategy, then a new seeded balancer
)

# 9. Capacity: small capacities filled, checked selects at capacity (NoInstance).
SEEDS["capacity"] = (
    header(LC, observe=True)
    + set_list([(1, W1, C1), (2, W2, C2), (3, W1, C1)])
    + select_many(5) + select(checked=True) + select(checked=True)
    + report(0) + select(checked=True) + op(16, RR) + select(checked=True)
    + op(16, WRT) + report(1) + report(1) + select(checked=True) + select(checked=True)
    + report_all()
)

# 10. Latencies: 0, huge, the clamp and around it, "negative" durations.
SEEDS["latency-extremes"] = (
    header(WRT)
    + set_seq(3)
    + select_many(8)
    + report(0, OUT_SUCCESS, LAT_MAX) + report(0, OUT_SUCCESS, LAT_0)
    + report(0, OUT_SUCCESS, LAT_MAX_LATENCY) + report(0, OUT_SUCCESS, LAT_MAX_LATENCY_PLUS_1)
    + report(0, OUT_FAILURE, LAT_MAX) + report(0, OUT_SUCCESS, LAT_NEG, extra=u16(5))
    + report(0, OUT_SUCCESS, 13, extra=u64(2**63)) + stats() + maintain() + stats()
)

# 11. Health: a failure streak ejects, maintenance and cool-down bring trials,
#     checked selects watch what gets chosen; health scores from a checker.
SEEDS["eject-and-recover"] = (
    header(RR, timeout=T_1MIN, refresh=REFRESH_1)
    + set_seq(4)
    + b"".join(select() + report(0, OUT_FAILURE, LAT_1MS) for _ in range(12))
    + maintain() + stats() + select(checked=True) + op(19, 1, 1, 4)  # score 0 on one
    + maintain() + select(checked=True)
    + adv_ms(6000) + maintain()
    + b"".join(select(checked=True) + report(0, OUT_SUCCESS, LAT_1MS) for _ in range(10))
    + op(22, 1, 0) + op(23) + stats()
)

# 12. Membership churn: report picks of removed and re-added instances.
SEEDS["membership-churn"] = (
    header(LC, observe=True)
    + set_seq(3)
    + select_many(6)
    + op(2, 1, 0)  # remove the first instance
    + report(0) + op(1, 1, W1, C0)  # re-add id 1: a new incarnation
    + select_many(3) + report_any(1) + report_any(0)
    + set_seq(0) + report_all() + set_seq(4, base=2) + select() + stats()
)

# 13. Retries: select_excluding with the ids already tried, every strategy.
SEEDS["exclusions"] = (
    header(ADAPTIVE)
    + set_list([(1, W1, C0), (2, W7, C1), (3, W1, C0)])
    + select_excluding([1]) + select_excluding([1, 2]) + select_excluding([1, 2, 3])
    + op(16, LC) + select_excluding([3, 3]) + op(16, RR) + select_excluding([2, 99 % 20])
    + report_all() + stats()
)

# 14. Runtime config changes: timeouts shortened and lengthened with picks out.
SEEDS["config-changes"] = (
    header(RR, timeout=T_1S, refresh=REFRESH_2)
    + set_seq(2) + select_many(4)
    + op(17, 0, 2, 1, 3)  # pick_timeout_ms <- 4 ms
    + adv_ms(3) + report(0, checked=True)
    + op(17, 0, 2, 0)  # never expire
    + adv_hours(3) + stats() + report(0, checked=True)
    + op(17, 1, 19, 1, 11, 3)  # maintenance 1 ms, latency_tau 1 ms
    + op(17, 0, 0, 3)  # strategy adaptive
    + select_many(10) + maintain() + report_all() + settle() + stats()
)

# 15. Weights: huge and zero weights (round-robin stride cycle), set_weight.
SEEDS["weights"] = (
    header(RR)
    + set_list([(i, WMAX, C0) for i in range(1, 9)] + [(9, W3, C2)])
    + select_many(20) + op(3, 1, 2, W7) + op(3, 1, 3, W0, checked=True)
    + select_many(10) + report_all() + stats()
    + op(33, 0, 0, 7, 1, u16(0))  # Balancer::with_clock with one mutated field
)

# 16. Trial requests: never panic, trial ratio 1, every instance ejected by a
#     failure streak, cool-down over, probation: checked selects must take at most
#     one trial request per instance at a time.
SEEDS["trials"] = (
    header(RR, timeout=T_1MIN, refresh=REFRESH_1)
    + set_seq(3)
    + op(17, 1, 3, 3, 10, 4)  # panic_threshold <- 0 (never), trial_ratio <- 1
    + b"".join(select() + report(0, OUT_FAILURE, LAT_1MS) for _ in range(15))
    + adv_ms(6000) + maintain()
    + select(checked=True) * 6
    + report(0, OUT_SUCCESS, LAT_1MS) + select(checked=True) * 3
    + report_all() + stats()
)

# 17. Regression: lb_status_str(LB_STATUS_IN_FLIGHT_LIMIT) said "unknown status"
#     (found by this fuzzer at d5479e2; fixed since).
SEEDS["regression-status-str-8"] = (
    header(RR, clock=2, timeout=T_5MIN, refresh=REFRESH_16, seed=1)
    + ffi(16, 0, 8, create=(LC, 42))
)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        assert len(data) < 4096, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
