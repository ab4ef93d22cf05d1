//! Coverage-guided fuzzing of lb's whole public surface.
//!
//! Each input is decoded into a bounded sequence (at most `MAX_OPS`) of calls on a
//! `lb::Balancer` driven by a `ManualClock` with an explicit seed, on a second
//! balancer (foreign picks), and on the C ABI in `lb::ffi` (which uses the real
//! monotonic clock). A model kept here tracks every pick handed out and every report
//! lb accepted; after each call the harness checks what the documentation promises
//! and panics (a libFuzzer crash) when a promise is broken:
//!
//! - bad input gets its documented error / status and changes nothing (stats, health
//!   of every instance and configuration compared before and after);
//! - totals: `total_requests == successes + failures + cancelled + in_flight`,
//!   `cancelled` includes `expired`, and every counter equals what the harness saw
//!   accepted; `in_flight + expired == picks handed out - reports accepted`;
//! - per instance: `requests` equals the picks of that instance (incarnation),
//!   successes/failures equal the accepted reports, in-flight sums stay below the
//!   balancer's;
//! - expiry bounds: a pick younger than its timeout is never expired, and one whose
//!   timeout passed twice over three spaced clock reads is always expired;
//! - duplicate, bit-flipped, forged and foreign picks are refused as documented;
//! - nothing panics.
//!
//! Input format (all little endian; missing bytes read as 0): a 5-byte header
//! (strategy, flags, timeout choice, clock-refresh choice, seed), then ops: one opcode
//! byte each (`& 0x3f` indexes `OP_TABLE`, both high bits set ask for the expensive
//! before/after comparison) followed by that op's argument bytes.
//!
//! Set `LB_FUZZ_TRACE=1` to print every call while replaying an input.

#![no_main]

use std::collections::HashMap;
use std::ffi::CStr;
use std::ptr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

use lb::ffi::*;
use lb::{
    Balancer, Config, Error, HealthStatus, Instance, LoadBalancerStats, ManualClock, Outcome, Pick,
    PickGuard, Strategy,
};

const MAX_OPS: usize = 200;
const MAX_SET: usize = 16;
/// Picks handed out per balancer per input, at most (selects beyond are skipped).
const MAX_PICKS: usize = 400;
/// The manual clock stays below this (about 140 years), far from overflow.
const CLOCK_CAP: u64 = 1 << 52;
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;
/// The operation of each opcode (`opcode & 0x3f`): the numbers of the arms of
/// `H::step`, repeated by how often each should come (make_seeds.py mirrors this).
const OP_TABLE: [u8; 64] = [
    0, 0, 0, // set_instances
    1, 1, // add_instance
    2, 2, // remove_instance
    3, 3, // set_weight
    4, 4, 4, 4, 4, // select
    6, 6, // select_excluding
    7, 7, 7, // select_guarded
    8, // drop a kept guard
    9, 9, 9, 9, 9, // report an outstanding pick
    11, 11, // report any pick (duplicates)
    12, 12, // bit-flipped pick
    13, 13, // forged pick
    14, 14, // another balancer's pick
    15, // our pick to the other balancer
    16, 16, // set_strategy
    17, 17, 17, // set_config
    19, 19, // set_health_score
    20, 20, // maintain
    21, 21, // stats + all_health
    22, // health(id)
    23, // all_health
    24, 24, // advance microseconds
    25, 25, // advance milliseconds
    26, // advance hours
    27, 27, // advance around the timeout
    28, // settle
    29, 29, 29, 29, 29, // C ABI
    31, // report everything
    32, 32, // many selects
    33, // second balancer / new balancer
];

// ---------------------------------------------------------------------------------
// Tracing and failing

fn trace_on() -> bool {
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(|| std::env::var_os("LB_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($a:tt)*) => {
        if trace_on() {
            eprintln!($($a)*);
        }
    };
}

macro_rules! violation {
    ($($a:tt)*) => {
        panic!("lb contract violation: {}", format!($($a)*))
    };
}

// ---------------------------------------------------------------------------------
// Input decoding

struct Rd<'a> {
    d: &'a [u8],
    i: usize,
}

impl<'a> Rd<'a> {
    fn new(d: &'a [u8]) -> Self {
        Rd { d, i: 0 }
    }
    fn more(&self) -> bool {
        self.i < self.d.len()
    }
    fn u8(&mut self) -> u8 {
        let v = self.d.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        v
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (self.u32() as u64) | (self.u32() as u64) << 32
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

fn sel_id(r: &mut Rd) -> u64 {
    match r.u8() {
        b @ 0..=239 => (b % 20) as u64,
        240..=243 => u64::MAX,
        244..=247 => 1 << 63,
        _ => r.u64(),
    }
}

/// Weights: mostly small, and huge ones (whose round-robin cycle is walked by
/// stride). Totals near lb's 2^16-entry cycle table (weights like 65 535 or 32 768)
/// are left out on purpose: building such a table sorts 65 536 entries on every
/// publish, and once the fuzzer finds them it keeps them, which cut the execution
/// rate by more than half.
fn sel_weight(r: &mut Rd) -> u32 {
    match r.u8() % 20 {
        0 => 0,
        1..=7 => 1,
        8 | 9 => 2,
        10 => 3,
        11 => 7,
        12 => u32::MAX,
        13 => u32::MAX - 1,
        14 => 1 + (r.u8() % 32) as u32,
        15 => r.u32() | 1 << 24,
        16 => match r.u8() % 4 {
            0 => 65_536,
            1 => (1 << 20) + 1,
            _ => 1 + (r.u8() % 64) as u32,
        },
        _ => 1 + (r.u8() % 5) as u32,
    }
}

fn sel_cap(r: &mut Rd) -> u32 {
    match r.u8() % 12 {
        0..=3 => 0,
        4 => 1,
        5 => 2,
        6 => 3,
        7 => 5,
        8 => u32::MAX,
        9 => IN_FLIGHT_CEILING,
        10 => r.u8() as u32,
        _ => r.u32(),
    }
}

const IN_FLIGHT_CEILING: u32 = LB_IN_FLIGHT_MAX;

fn sel_latency(r: &mut Rd) -> u64 {
    match r.u8() % 14 {
        0 => 0,
        1 => 1,
        2 => 100,
        3 => 1000,
        4 => 50_000,
        5 => u64::MAX,
        6 => u64::MAX - 1,
        7 => 1 << 53,
        8 => LB_MAX_LATENCY_US,
        9 => LB_MAX_LATENCY_US + 1,
        10 => r.u16() as u64,
        11 => r.u32() as u64,
        12 => 0u64.wrapping_sub(r.u16() as u64), // a negative duration cast to u64
        _ => r.u64(),
    }
}

fn sel_outcome(r: &mut Rd) -> Outcome {
    match r.u8() % 3 {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        _ => Outcome::Cancelled,
    }
}

fn outcome_index(o: Outcome) -> usize {
    match o {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Cancelled => 2,
    }
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// Any double, with the awkward ones (NaN, infinities, signed zero, subnormals,
/// huge, just outside 0..1) well represented.
fn sel_f64(r: &mut Rd) -> f64 {
    match r.u8() % 22 {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => 0.0,
        5 => 1.0,
        6 => 0.5,
        7 => -1.0,
        8 => 1e300,
        9 => -1e300,
        10 => f64::MIN_POSITIVE,
        11 => 5e-324,
        12 => next_up(1.0),
        13 => next_down(1.0),
        14 => r.u16() as f64 / 65535.0,
        15 => r.u16() as f64,
        16 => r.u32() as f64,
        17 => f64::from_bits(r.u64()),
        18 => -(r.u16() as f64),
        19 => r.u32() as f64 + 0.5,
        20 => f64::from_bits(0x7ff8_0000_0000_0001 | r.u64()), // NaN with payload
        _ => f64::MAX,
    }
}

fn knob_u64(r: &mut Rd, lo: u64, hi: u64) -> u64 {
    match r.u8() % 11 {
        0 => 0,
        1 => lo,
        2 => hi,
        3 => lo.saturating_sub(1),
        4 => hi.saturating_add(1),
        5 => u64::MAX,
        6 => lo + r.u8() as u64,
        7 => lo + r.u16() as u64 % (hi - lo + 1),
        8 => lo + r.u64() % (hi - lo + 1),
        9 => u32::MAX as u64 + (r.u8() % 3) as u64,
        _ => r.u64(),
    }
}

fn knob_u32(r: &mut Rd, lo: u32, hi: u32) -> u32 {
    knob_u64(r, lo as u64, hi as u64).min(u32::MAX as u64) as u32
}

fn knob_f64(r: &mut Rd, lo: f64, hi: f64) -> f64 {
    match r.u8() % 12 {
        0..=2 => sel_f64(r),
        3 => lo,
        4 => hi,
        5 => next_down(lo),
        6 => next_up(hi),
        7 => next_up(lo),
        8 => next_down(hi),
        9 | 10 => lo + (hi - lo) * (r.u16() as f64 / 65535.0),
        _ => -lo,
    }
}

/// Mutates one field of `c` (any value, valid or not).
fn mutate_config(r: &mut Rd, c: &mut Config) {
    match r.u8() % 21 {
        0 => c.strategy = Strategy::ALL[(r.u8() as usize) % Strategy::ALL.len()],
        1 => c.seed = r.u64(),
        2 => {
            c.pick_timeout_ms = match r.u8() % 6 {
                0 => 0,
                1 => 1 + (r.u8() % 10) as u64,
                2 => 1000,
                _ => knob_u64(r, 0, u32::MAX as u64),
            }
        }
        3 => c.panic_threshold = knob_f64(r, 0.0, 1.0),
        4 => c.unhealthy_threshold = knob_f64(r, 0.0, 1.0),
        5 => c.consecutive_failures = knob_u32(r, 1, 1_000_000),
        6 => c.min_samples = knob_u32(r, 1, 1_000_000),
        7 => c.base_ejection_ms = knob_u64(r, 1, DAY_MS),
        8 => c.max_ejection_ms = knob_u64(r, 1, DAY_MS),
        9 => c.recovery_successes = knob_u32(r, 1, 10_000),
        10 => c.trial_ratio = knob_f64(r, 0.0, 1.0),
        11 => c.latency_tau_ms = knob_f64(r, 1.0, HOUR_MS),
        12 => c.health_window_ms = knob_f64(r, 1.0, HOUR_MS),
        13 => c.latency_outlier_ratio = knob_f64(r, 1.0, 1e6),
        14 => c.failure_penalty_factor = knob_f64(r, 1.0, 1e6),
        15 => c.adaptive_window_requests = knob_u32(r, 10, 10_000_000),
        16 => c.adaptive_min_window_ms = knob_u64(r, 1, 3_600_000),
        17 => c.adaptive_max_window_ms = knob_u64(r, 1, 3_600_000),
        18 => c.adaptive_hysteresis = knob_f64(r, 0.0, 1.0),
        19 => c.maintenance_interval_ms = knob_u64(r, 1, 60_000),
        _ => c.clock_refresh_ops = knob_u32(r, 1, 65_536),
    }
}

/// The fields of `c` that are out of the ranges documented on `Config` (the C
/// header's option ranges for pick_timeout_ms: [0, 4294967295]).
fn bad_fields(c: &Config) -> Vec<&'static str> {
    let mut v = Vec::new();
    let closed = |x: f64, lo: f64, hi: f64| x.is_finite() && x >= lo && x <= hi;
    let lo_open = |x: f64, lo: f64, hi: f64| x.is_finite() && x > lo && x <= hi;
    if c.pick_timeout_ms > u32::MAX as u64 {
        v.push("pick_timeout_ms");
    }
    if !closed(c.panic_threshold, 0.0, 1.0) {
        v.push("panic_threshold");
    }
    if !lo_open(c.unhealthy_threshold, 0.0, 1.0) {
        v.push("unhealthy_threshold");
    }
    if !(1..=1_000_000).contains(&c.consecutive_failures) {
        v.push("consecutive_failures");
    }
    if !(1..=1_000_000).contains(&c.min_samples) {
        v.push("min_samples");
    }
    if !(1..=DAY_MS).contains(&c.base_ejection_ms) {
        v.push("base_ejection_ms");
    }
    if !(c.base_ejection_ms..=DAY_MS).contains(&c.max_ejection_ms) {
        v.push("max_ejection_ms");
    }
    if !(1..=10_000).contains(&c.recovery_successes) {
        v.push("recovery_successes");
    }
    if !lo_open(c.trial_ratio, 0.0, 1.0) {
        v.push("trial_ratio");
    }
    if !closed(c.latency_tau_ms, 1.0, HOUR_MS) {
        v.push("latency_tau_ms");
    }
    if !closed(c.health_window_ms, 1.0, HOUR_MS) {
        v.push("health_window_ms");
    }
    if !lo_open(c.latency_outlier_ratio, 1.0, 1e6) {
        v.push("latency_outlier_ratio");
    }
    if !closed(c.failure_penalty_factor, 1.0, 1e6) {
        v.push("failure_penalty_factor");
    }
    if !(10..=10_000_000).contains(&c.adaptive_window_requests) {
        v.push("adaptive_window_requests");
    }
    if !(1..=3_600_000).contains(&c.adaptive_min_window_ms) {
        v.push("adaptive_min_window_ms");
    }
    if !(c.adaptive_min_window_ms..=3_600_000).contains(&c.adaptive_max_window_ms) {
        v.push("adaptive_max_window_ms");
    }
    if !(c.adaptive_hysteresis.is_finite()
        && c.adaptive_hysteresis >= 0.0
        && c.adaptive_hysteresis < 1.0)
    {
        v.push("adaptive_hysteresis");
    }
    if !(1..=60_000).contains(&c.maintenance_interval_ms) {
        v.push("maintenance_interval_ms");
    }
    if !(1..=65_536).contains(&c.clock_refresh_ops) {
        v.push("clock_refresh_ops");
    }
    v
}

fn check_config_result(what: &str, res: &Result<(), Error>, bad: &[&'static str]) {
    match res {
        Ok(()) if bad.is_empty() => {}
        Ok(()) => violation!("{what}: accepted a config with bad fields {bad:?}"),
        Err(Error::InvalidArgument { field, .. }) if bad.contains(field) => {}
        Err(e) => violation!("{what}: got {e:?}; bad fields per the docs: {bad:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Plain views of stats and health, shared by the Rust API and the C ABI

#[derive(Clone, Debug, PartialEq)]
struct St {
    total: u64,
    succ: u64,
    fail: u64,
    canc: u64,
    exp: u64,
    inflight: u64,
    avg: f64,
    icount: u32,
    hcount: u32,
    active: u32,
    switches: u64,
}

impl From<&LoadBalancerStats> for St {
    fn from(s: &LoadBalancerStats) -> St {
        St {
            total: s.total_requests,
            succ: s.successes,
            fail: s.failures,
            canc: s.cancelled,
            exp: s.expired,
            inflight: s.in_flight,
            avg: s.avg_latency_us,
            icount: s.instance_count,
            hcount: s.healthy_count,
            active: s.active_strategy as u32,
            switches: s.strategy_switches,
        }
    }
}

impl From<&lb_stats> for St {
    fn from(s: &lb_stats) -> St {
        if s.reserved0 != 0 || s.reserved.iter().any(|&w| w != 0) {
            violation!("lb_stats reserved fields not zero: {s:?}");
        }
        St {
            total: s.total_requests,
            succ: s.successes,
            fail: s.failures,
            canc: s.cancelled,
            exp: s.expired,
            inflight: s.in_flight,
            avg: s.avg_latency_us,
            icount: s.instance_count,
            hcount: s.healthy_count,
            active: s.active_strategy,
            switches: s.strategy_switches,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Hs {
    id: u64,
    score: f64,
    inflight: u64,
    requests: u64,
    succ: u64,
    fail: u64,
    consec: u64,
    rate: f64,
    lat: f64,
    weight: u32,
    cap: u32,
    healthy: bool,
}

impl From<&HealthStatus> for Hs {
    fn from(h: &HealthStatus) -> Hs {
        Hs {
            id: h.instance_id,
            score: h.health_score,
            inflight: h.in_flight,
            requests: h.requests,
            succ: h.successes,
            fail: h.failures,
            consec: h.consecutive_failures,
            rate: h.success_rate,
            lat: h.latency_ewma_us,
            weight: h.weight,
            cap: h.capacity,
            healthy: h.healthy,
        }
    }
}

impl From<&lb_health> for Hs {
    fn from(h: &lb_health) -> Hs {
        if h.reserved_bytes.iter().any(|&b| b != 0) || h.reserved.iter().any(|&w| w != 0) {
            violation!("lb_health reserved fields not zero: {h:?}");
        }
        if h.healthy > 1 {
            violation!("lb_health.healthy is {} (0 or 1 documented)", h.healthy);
        }
        Hs {
            id: h.instance_id,
            score: h.health_score,
            inflight: h.in_flight,
            requests: h.requests,
            succ: h.successes,
            fail: h.failures,
            consec: h.consecutive_failures,
            rate: h.success_rate,
            lat: h.latency_ewma_us,
            weight: h.weight,
            cap: h.capacity,
            healthy: h.healthy == 1,
        }
    }
}

/// The counters of an instance view only (what no maintenance pass may change).
fn hs_counters(h: &Hs) -> (u64, u64, u64, u64, u64, u64, u32, u32) {
    (
        h.id, h.inflight, h.requests, h.succ, h.fail, h.consec, h.weight, h.cap,
    )
}

// ---------------------------------------------------------------------------------
// The model of picks and reports

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PState {
    /// Handed out, not yet reported (lb may or may not have expired it).
    Out,
    /// Reported (accepted or refused).
    Spent,
}

#[derive(Clone, Debug)]
struct PickRec {
    pick: Pick,
    pool: usize,
    select_us: u64,
    state: PState,
    /// Smallest non-zero pick timeout in force since the select (`u64::MAX`: never).
    min_timeout_us: u64,
    timeout_at_select_us: u64,
    timeout_changed: bool,
    /// Known clock reads after the select, each at least a timeout after the last.
    reads: u8,
    last_read_us: u64,
    /// Held by a `PickGuard` (the token itself is not known).
    guarded: bool,
}

/// One incarnation of an instance id: from its addition to its removal.
#[derive(Clone, Debug)]
struct Pool {
    id: u64,
    handed: u64,
    accepted: u64,
    acc: [u64; 3],
    consec: u64,
    /// Duplicate reports accepted in place of another outstanding pick of this pool,
    /// whose own report lb may therefore refuse.
    credit: u64,
    /// The last accepted set_health_score (1.0 for a new instance).
    external: f64,
}

struct Model {
    name: &'static str,
    set: Vec<Instance>,
    pool_of: HashMap<u64, usize>,
    pools: Vec<Pool>,
    picks: Vec<PickRec>,
    handed: u64,
    accepted: u64,
    acc: [u64; 3],
    timeout_us: u64,
    /// Whether known clock reads are counted (manual clock only).
    track_reads: bool,
    last: Option<St>,
    succ_lat_sum: u128,
    strategy: Strategy,
    ever_adaptive: bool,
    unhealthy_threshold: f64,
}

fn set_errors(list: &[Instance]) -> (bool, Vec<u64>) {
    let weight0 = list.iter().any(|i| i.weight == 0);
    let mut ids: Vec<u64> = list.iter().map(|i| i.id).collect();
    ids.sort_unstable();
    let mut dups: Vec<u64> = ids
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    dups.dedup();
    (weight0, dups)
}

impl Model {
    fn new(name: &'static str, timeout_us: u64, track_reads: bool, strategy: Strategy) -> Model {
        Model {
            name,
            set: Vec::new(),
            pool_of: HashMap::new(),
            pools: Vec::new(),
            picks: Vec::new(),
            handed: 0,
            accepted: 0,
            acc: [0; 3],
            timeout_us,
            track_reads,
            last: None,
            succ_lat_sum: 0,
            strategy,
            ever_adaptive: strategy == Strategy::Adaptive,
            unhealthy_threshold: 0.5,
        }
    }

    fn in_set(&self, id: u64) -> bool {
        self.pool_of.contains_key(&id)
    }

    fn set_external(&mut self, id: u64, score: f64) {
        if let Some(&p) = self.pool_of.get(&id) {
            self.pools[p].external = score;
        }
    }

    fn apply_set(&mut self, list: &[Instance]) {
        let mut map = HashMap::new();
        for inst in list {
            let p = match self.pool_of.get(&inst.id) {
                Some(&p) => p,
                None => {
                    self.pools.push(Pool {
                        id: inst.id,
                        handed: 0,
                        accepted: 0,
                        acc: [0; 3],
                        consec: 0,
                        credit: 0,
                        external: 1.0,
                    });
                    self.pools.len() - 1
                }
            };
            map.insert(inst.id, p);
        }
        self.pool_of = map;
        self.set = list.to_vec();
    }

    /// Checks the result of a set_instances-like call against the docs and applies
    /// it on success.
    fn set_result(
        &mut self,
        what: &str,
        list: &[Instance],
        ok: bool,
        dup: Option<u64>,
        inval: bool,
    ) {
        let (weight0, dups) = set_errors(list);
        if ok {
            if weight0 || !dups.is_empty() {
                violation!("{what}: accepted {list:?} (weight 0: {weight0}, duplicates {dups:?})");
            }
            self.apply_set(list);
        } else if let Some(d) = dup {
            if !dups.contains(&d) {
                violation!("{what}: DuplicateInstance({d}) for {list:?}, duplicates {dups:?}");
            }
        } else if inval {
            if !weight0 {
                violation!("{what}: InvalidArgument for {list:?} without a weight 0");
            }
        } else {
            violation!("{what}: unexpected failure for {list:?}");
        }
    }

    fn on_select(&mut self, pick: Pick, now: u64, guarded: bool) -> usize {
        let id = pick.instance_id();
        let pool = match self.pool_of.get(&id) {
            Some(&p) => p,
            None => violation!(
                "{}: select returned instance {id}, not in the current set {:?}",
                self.name,
                self.set
            ),
        };
        let t = self.timeout_us;
        self.picks.push(PickRec {
            pick,
            pool,
            select_us: now,
            state: PState::Out,
            min_timeout_us: if t == 0 { u64::MAX } else { t },
            timeout_at_select_us: t,
            timeout_changed: false,
            reads: 0,
            last_read_us: 0,
            guarded,
        });
        self.handed += 1;
        self.pools[pool].handed += 1;
        self.picks.len() - 1
    }

    /// A clock read lb is known to make (stats, health, all_health, maintain).
    fn on_read(&mut self, now: u64) {
        if !self.track_reads {
            return;
        }
        for p in self.picks.iter_mut() {
            if p.state != PState::Out || p.timeout_changed || p.timeout_at_select_us == 0 {
                continue;
            }
            if p.reads == 0 {
                p.reads = 1;
                p.last_read_us = now;
            } else if now >= p.last_read_us.saturating_add(p.timeout_at_select_us) {
                p.reads = p.reads.saturating_add(1);
                p.last_read_us = now;
            }
        }
    }

    fn on_timeout_change(&mut self, new_us: u64) {
        if new_us == self.timeout_us {
            return;
        }
        for p in self.picks.iter_mut().filter(|p| p.state == PState::Out) {
            p.timeout_changed = true;
            if new_us > 0 {
                p.min_timeout_us = p.min_timeout_us.min(new_us);
            }
        }
        self.timeout_us = new_us;
    }

    /// lb must have expired it: the timeout it was selected with stayed in force and
    /// three known clock reads at least a timeout apart followed its select (the docs:
    /// it expires at the first read at least a timeout after the epoch step that
    /// follows its select, and that step comes by the second of those reads).
    fn must_expired(&self, p: &PickRec) -> bool {
        self.track_reads
            && p.state == PState::Out
            && !p.timeout_changed
            && p.timeout_at_select_us > 0
            && p.reads >= 3
    }

    /// lb must not have expired it: younger than every timeout since its select.
    fn must_live(&self, p: &PickRec, now: u64) -> bool {
        p.state == PState::Out && now.saturating_sub(p.select_us) < p.min_timeout_us
    }

    /// Applies the outcome of one report of pick `idx` (accepted or refused by lb)
    /// after checking it is allowed by the docs.
    fn report(
        &mut self,
        idx: usize,
        outcome: Outcome,
        accepted: bool,
        now: u64,
        lat: u64,
        what: &str,
    ) {
        let rec = self.picks[idx].clone();
        let pool = rec.pool;
        let first = rec.state == PState::Out;
        let must_live = self.must_live(&rec, now);
        let must_exp = self.must_expired(&rec);
        let others_live = self.picks.iter().enumerate().any(|(j, p)| {
            j != idx && p.pool == pool && p.state == PState::Out && !self.must_expired(p)
        });
        trace!(
            "    {}: {what} pick #{idx} of {} ({outcome:?}, {lat} us): {} [first {first}, live {must_live}, expired {must_exp}, others {others_live}, credit {}]",
            self.name,
            rec.pick.instance_id(),
            if accepted { "accepted" } else { "refused" },
            self.pools[pool].credit
        );
        if accepted {
            if must_exp {
                violation!(
                    "{}: {what}: report of pick #{idx} (instance {}, selected at {} us, timeout {} us, {} spaced reads) accepted at {now} us although it must have expired",
                    self.name, rec.pick.instance_id(), rec.select_us, rec.timeout_at_select_us, rec.reads
                );
            }
            if !first && !others_live {
                violation!(
                    "{}: {what}: a second report of pick #{idx} (instance {}) was accepted although no other pick of that instance was outstanding",
                    self.name, rec.pick.instance_id()
                );
            }
            let k = outcome_index(outcome);
            self.accepted += 1;
            self.acc[k] += 1;
            let p = &mut self.pools[pool];
            p.accepted += 1;
            p.acc[k] += 1;
            match outcome {
                Outcome::Success => {
                    p.consec = 0;
                    self.succ_lat_sum += lat.min(LB_MAX_LATENCY_US) as u128;
                }
                Outcome::Failure => p.consec += 1,
                Outcome::Cancelled => {}
            }
            if !first {
                p.credit += 1;
            }
            if p.accepted > p.handed {
                violation!(
                    "{}: {what}: instance {} accepted {} reports for {} picks",
                    self.name,
                    p.id,
                    p.accepted,
                    p.handed
                );
            }
        } else if must_live {
            let p = &mut self.pools[pool];
            if p.credit > 0 {
                p.credit -= 1;
            } else {
                violation!(
                    "{}: {what}: first report of pick #{idx} (instance {}, selected at {} us) refused at {now} us, younger than its timeout ({} us)",
                    self.name, rec.pick.instance_id(), rec.select_us, rec.min_timeout_us
                );
            }
        }
        self.picks[idx].state = PState::Spent;
    }

    /// (lowest, highest) in-flight count lb may hold: overall, and per pool.
    fn bounds(&self, now: u64) -> ((u64, u64), Vec<(u64, u64)>) {
        let mut live = vec![0u64; self.pools.len()];
        let mut out = vec![0u64; self.pools.len()];
        let mut exp = vec![0u64; self.pools.len()];
        for p in self.picks.iter().filter(|p| p.state == PState::Out) {
            out[p.pool] += 1;
            if self.must_expired(p) {
                exp[p.pool] += 1;
            }
            if self.must_live(p, now) {
                live[p.pool] += 1;
            }
        }
        let per: Vec<(u64, u64)> = (0..self.pools.len())
            .map(|i| {
                (
                    live[i].saturating_sub(self.pools[i].credit),
                    out[i] - exp[i],
                )
            })
            .collect();
        let lo = per.iter().map(|b| b.0).sum();
        let hi = per.iter().map(|b| b.1).sum();
        ((lo, hi), per)
    }

    fn check_stats(&mut self, s: &St, now: u64, what: &str) {
        let n = self.name;
        if s.total != s.succ + s.fail + s.canc + s.inflight {
            violation!("{n}: {what}: total_requests != successes + failures + cancelled + in_flight: {s:?}");
        }
        if s.total != self.handed {
            violation!(
                "{n}: {what}: total_requests {} but {} picks were handed out: {s:?}",
                s.total,
                self.handed
            );
        }
        if s.canc < s.exp {
            violation!("{n}: {what}: expired is part of cancelled, yet cancelled < expired: {s:?}");
        }
        if s.succ != self.acc[0] || s.fail != self.acc[1] || s.canc - s.exp != self.acc[2] {
            violation!(
                "{n}: {what}: outcome counters {:?} but accepted reports were {:?}: {s:?}",
                (s.succ, s.fail, s.canc - s.exp),
                self.acc
            );
        }
        if s.inflight + s.exp != self.handed - self.accepted {
            violation!("{n}: {what}: in_flight + expired != handed out - accepted: {s:?}");
        }
        let ((lo, hi), _) = self.bounds(now);
        if s.inflight < lo || s.inflight > hi {
            violation!(
                "{n}: {what}: in_flight {} outside [{lo}, {hi}] at {now} us (below: picks younger than their timeout expired; above: picks that must have expired still in flight): {s:?}",
                s.inflight
            );
        }
        if !s.avg.is_finite() || s.avg < 0.0 {
            violation!(
                "{n}: {what}: avg_latency_us {} not a finite non-negative number",
                s.avg
            );
        }
        let want = if self.acc[0] == 0 {
            0.0
        } else {
            self.succ_lat_sum as f64 / self.acc[0] as f64
        };
        if (s.avg - want).abs() > want * 1e-9 + 1e-9 {
            violation!(
                "{n}: {what}: avg_latency_us {} but the mean of the (clamped) successful latencies is {want}",
                s.avg
            );
        }
        if s.icount as usize != self.set.len() {
            violation!(
                "{n}: {what}: instance_count {} but the set has {}",
                s.icount,
                self.set.len()
            );
        }
        if s.hcount > s.icount {
            violation!("{n}: {what}: healthy_count > instance_count: {s:?}");
        }
        let concrete = [
            Strategy::RoundRobin as u32,
            Strategy::LeastConnections as u32,
            Strategy::WeightedResponseTime as u32,
            Strategy::LeastRequest as u32,
            Strategy::PeakEwma as u32,
        ];
        if self.strategy == Strategy::Adaptive {
            if !concrete.contains(&s.active) {
                violation!(
                    "{n}: {what}: adaptive runs strategy {} (not a concrete one)",
                    s.active
                );
            }
        } else if s.active != self.strategy as u32 {
            violation!(
                "{n}: {what}: active strategy {} but {:?} is configured",
                s.active,
                self.strategy
            );
        }
        if !self.ever_adaptive && s.switches != 0 {
            violation!(
                "{n}: {what}: {} strategy switches without adaptive ever configured",
                s.switches
            );
        }
        if let Some(l) = &self.last {
            if s.total < l.total
                || s.succ < l.succ
                || s.fail < l.fail
                || s.canc < l.canc
                || s.exp < l.exp
                || s.switches < l.switches
            {
                violation!("{n}: {what}: cumulative totals shrank: {l:?} -> {s:?}");
            }
        }
        self.last = Some(s.clone());
    }

    fn check_health(&self, h: &[Hs], stats: Option<&St>, now: u64, what: &str) {
        let n = self.name;
        if h.len() != self.set.len() {
            violation!(
                "{n}: {what}: {} health entries for a set of {}",
                h.len(),
                self.set.len()
            );
        }
        let (_, per) = self.bounds(now);
        let mut sum = 0;
        let mut healthy = 0;
        for (hs, inst) in h.iter().zip(self.set.iter()) {
            if hs.id != inst.id || hs.weight != inst.weight || hs.cap != inst.capacity {
                violation!("{n}: {what}: health entry {hs:?} does not match the set entry {inst:?} (set order)");
            }
            self.check_one(hs, &per, now, what);
            sum += hs.inflight;
            healthy += hs.healthy as u32;
        }
        if let Some(s) = stats {
            if sum > s.inflight {
                violation!(
                    "{n}: {what}: instances hold {sum} in flight, the balancer {}",
                    s.inflight
                );
            }
            if healthy != s.hcount {
                violation!(
                    "{n}: {what}: {healthy} instances healthy, healthy_count {}",
                    s.hcount
                );
            }
        }
    }

    fn check_one(&self, hs: &Hs, per: &[(u64, u64)], now: u64, what: &str) {
        let n = self.name;
        let pool = match self.pool_of.get(&hs.id) {
            Some(&p) => p,
            None => violation!("{n}: {what}: health for {} which is not in the set", hs.id),
        };
        let p = &self.pools[pool];
        if hs.requests != p.handed || hs.succ != p.acc[0] || hs.fail != p.acc[1] {
            violation!(
                "{n}: {what}: instance {} counts requests/successes/failures {:?}, the harness saw {:?} (picks of this incarnation only)",
                hs.id, (hs.requests, hs.succ, hs.fail), (p.handed, p.acc[0], p.acc[1])
            );
        }
        if hs.consec != p.consec {
            violation!(
                "{n}: {what}: instance {} consecutive_failures {} but the harness counts {}",
                hs.id,
                hs.consec,
                p.consec
            );
        }
        let (lo, hi) = per[pool];
        if hs.inflight < lo || hs.inflight > hi {
            violation!(
                "{n}: {what}: instance {} in_flight {} outside [{lo}, {hi}] at {now} us",
                hs.id,
                hs.inflight
            );
        }
        if hs.requests < hs.succ + hs.fail + hs.inflight {
            violation!("{n}: {what}: instance {hs:?}: requests < successes + failures + in_flight");
        }
        if !(hs.score.is_finite() && (0.0..=1.0).contains(&hs.score)) {
            violation!(
                "{n}: {what}: instance {} health_score {} outside 0..=1",
                hs.id,
                hs.score
            );
        }
        let judged = hs.succ + hs.fail;
        let rate = if judged == 0 {
            1.0
        } else {
            hs.succ as f64 / judged as f64
        };
        if hs.rate != rate {
            violation!("{n}: {what}: instance {} success_rate {} but successes/(successes+failures) = {rate}", hs.id, hs.rate);
        }
        if !(hs.lat.is_finite() && hs.lat >= 0.0) {
            violation!("{n}: {what}: instance {} latency_ewma_us {}", hs.id, hs.lat);
        }
        if judged == 0 && hs.lat != 0.0 {
            violation!(
                "{n}: {what}: instance {} latency_ewma_us {} before any sample",
                hs.id,
                hs.lat
            );
        }
        // The external check scales the passive score, and below the threshold the
        // instance is not picked (set_health_score's docs).
        if hs.score > p.external {
            violation!(
                "{n}: {what}: instance {} health_score {} above its health-check score {}",
                hs.id,
                hs.score,
                p.external
            );
        }
        if hs.healthy && p.external < self.unhealthy_threshold {
            violation!(
                "{n}: {what}: instance {} healthy although its health-check score {} is below unhealthy_threshold {}",
                hs.id, p.external, self.unhealthy_threshold
            );
        }
    }

    /// Whether instance view `hs` is selectable (docs: healthy or panic mode, and
    /// below its capacity).
    fn selectable(hs: &Hs, panic: bool) -> bool {
        (hs.healthy || panic) && (hs.cap == 0 || hs.inflight < hs.cap as u64)
    }

    fn panic_mode(s: &St, cfg_panic: f64) -> bool {
        s.icount > 0 && (s.hcount as f64) < cfg_panic * s.icount as f64
    }
}

// ---------------------------------------------------------------------------------
// The harness over the Rust API

/// What a checked (before/after) comparison takes: stats, every instance and the
/// configuration, as text (bit-exact floats, NaN equal to itself).
#[derive(PartialEq, Debug)]
struct Snap {
    stats: String,
    health: String,
    config: String,
    strategy: Strategy,
    ejections: u64,
}

struct Pre {
    st: St,
    hs: Vec<Hs>,
    snap: Snap,
}

struct H<'a> {
    lb: &'a Balancer,
    other: &'a Balancer,
    clock: &'a ManualClock,
    m: Model,
    cfg: Config,
    guards: Vec<(PickGuard<'a>, usize)>,
    foreign: Vec<Pick>,
    observe_each: bool,
    ffi: Ffi,
    ejections: u64,
}

impl<'a> H<'a> {
    fn now(&self) -> u64 {
        lb::Clock::now_us(self.clock)
    }

    fn advance(&mut self, d: u64) {
        let now = self.now();
        let to = now.saturating_add(d).min(CLOCK_CAP);
        trace!("  clock {now} -> {to} us");
        self.clock.set_us(to);
    }

    fn stats(&mut self, what: &str) -> St {
        let s = St::from(&self.lb.stats());
        let now = self.now();
        self.m.on_read(now);
        self.m.check_stats(&s, now, what);
        s
    }

    fn all_health(&mut self, stats: Option<&St>, what: &str) -> Vec<Hs> {
        let h: Vec<Hs> = self.lb.all_health().iter().map(Hs::from).collect();
        let now = self.now();
        self.m.on_read(now);
        self.m.check_health(&h, stats, now, what);
        h
    }

    fn maintain(&mut self) {
        self.lb.maintain();
        let now = self.now();
        self.m.on_read(now);
    }

    fn check_config(&mut self, what: &str) {
        let e = self.lb.ejections();
        if e < self.ejections {
            violation!("{what}: ejections() went from {} to {e}", self.ejections);
        }
        self.ejections = e;
        let c = self.lb.config();
        if c != self.cfg {
            violation!("{what}: config() is {c:?}, expected {:?}", self.cfg);
        }
        if self.lb.strategy() != self.cfg.strategy {
            violation!(
                "{what}: strategy() {:?} but {:?} configured",
                self.lb.strategy(),
                self.cfg.strategy
            );
        }
    }

    fn full_check(&mut self, what: &str) {
        let s = self.stats(what);
        let h = self.all_health(Some(&s), what);
        let _ = h;
        self.check_config(what);
        let o = self.other.stats();
        if o.total_requests != o.successes + o.failures + o.cancelled + o.in_flight
            || o.cancelled < o.expired
        {
            violation!("second balancer: totals identity broken: {o:?}");
        }
    }

    fn snap_now(&mut self, what: &str) -> (St, Vec<Hs>, Snap) {
        let raw = self.lb.stats();
        let st = St::from(&raw);
        let now = self.now();
        self.m.on_read(now);
        self.m.check_stats(&st, now, what);
        let rawh = self.lb.all_health();
        self.m.on_read(now);
        let hs: Vec<Hs> = rawh.iter().map(Hs::from).collect();
        self.m.check_health(&hs, Some(&st), now, what);
        let snap = Snap {
            stats: format!("{raw:?}"),
            health: format!("{rawh:?}"),
            config: format!("{:?}", self.lb.config()),
            strategy: self.lb.strategy(),
            ejections: self.lb.ejections(),
        };
        (st, hs, snap)
    }

    /// Brings lb to a state where reads change nothing (maintenance just ran if
    /// `maint`, expiry caught up: three equal stats in a row), and records it.
    fn quiesce(&mut self, maint: bool, what: &str) -> Pre {
        if maint {
            self.maintain();
        }
        let mut prev: Option<LoadBalancerStats> = None;
        let mut same = 0;
        for _ in 0..12 {
            let s = self.lb.stats();
            let now = self.now();
            self.m.on_read(now);
            if prev.as_ref() == Some(&s) {
                same += 1;
                if same == 2 {
                    break;
                }
            } else {
                same = 0;
            }
            prev = Some(s);
        }
        let (st, hs, snap) = self.snap_now(what);
        Pre { st, hs, snap }
    }

    fn unchanged(&mut self, pre: Option<Pre>, what: &str) {
        if let Some(pre) = pre {
            let (_, _, after) = self.snap_now(what);
            if after != pre.snap {
                violation!(
                    "{what}: a failed call changed the balancer:\n before {:?}\n after  {:?}",
                    pre.snap,
                    after
                );
            }
        }
    }

    fn pick_existing_id(&self, r: &mut Rd) -> u64 {
        if !self.m.set.is_empty() && r.bool() {
            self.m.set[r.u8() as usize % self.m.set.len()].id
        } else {
            sel_id(r)
        }
    }

    fn gen_list(r: &mut Rd) -> Vec<Instance> {
        let n = r.u8() as usize % (MAX_SET + 1);
        let mode = r.u8();
        let base = (r.u8() % 8) as u64;
        (0..n)
            .map(|i| Instance {
                id: if mode & 1 == 1 {
                    base + i as u64
                } else {
                    sel_id(r)
                },
                weight: if mode & 2 == 2 { 1 } else { sel_weight(r) },
                capacity: if mode & 4 == 4 { 0 } else { sel_cap(r) },
            })
            .collect()
    }

    // ---- ops ----

    fn op_set_instances(&mut self, r: &mut Rd, checked: bool) {
        let list = Self::gen_list(r);
        trace!("  set_instances {list:?}");
        let (w0, dups) = set_errors(&list);
        let pre =
            (checked && (w0 || !dups.is_empty())).then(|| self.quiesce(false, "set_instances"));
        let res = self.lb.set_instances(&list);
        trace!("    -> {res:?}");
        match res {
            Ok(()) => self.m.set_result("set_instances", &list, true, None, false),
            Err(Error::DuplicateInstance(d)) => {
                self.m
                    .set_result("set_instances", &list, false, Some(d), false)
            }
            Err(Error::InvalidArgument { .. }) => {
                self.m.set_result("set_instances", &list, false, None, true)
            }
            Err(e) => violation!("set_instances({list:?}): unexpected {e:?}"),
        }
        if res.is_err() {
            self.unchanged(pre, "set_instances");
        }
    }

    fn op_add(&mut self, r: &mut Rd, checked: bool) {
        let inst = Instance {
            id: sel_id(r),
            weight: sel_weight(r),
            capacity: sel_cap(r),
        };
        if self.m.set.len() >= MAX_SET && !self.m.in_set(inst.id) && inst.weight != 0 {
            return;
        }
        trace!("  add_instance {inst:?}");
        let dup = self.m.in_set(inst.id);
        let w0 = inst.weight == 0;
        let pre = (checked && (dup || w0)).then(|| self.quiesce(false, "add_instance"));
        let res = self.lb.add_instance(inst);
        trace!("    -> {res:?}");
        match &res {
            Ok(()) if !dup && !w0 => {
                let mut list = self.m.set.clone();
                list.push(inst);
                self.m.apply_set(&list);
            }
            Err(Error::DuplicateInstance(d)) if dup && *d == inst.id => {}
            Err(Error::InvalidArgument { .. }) if w0 => {}
            other => violation!(
                "add_instance({inst:?}) with id in set {dup}, weight 0 {w0}: got {other:?}"
            ),
        }
        if res.is_err() {
            self.unchanged(pre, "add_instance");
        }
    }

    fn op_remove(&mut self, r: &mut Rd, checked: bool) {
        let id = self.pick_existing_id(r);
        trace!("  remove_instance {id}");
        let known = self.m.in_set(id);
        let pre = (checked && !known).then(|| self.quiesce(false, "remove_instance"));
        let res = self.lb.remove_instance(id);
        trace!("    -> {res:?}");
        match &res {
            Ok(()) if known => {
                let list: Vec<Instance> =
                    self.m.set.iter().copied().filter(|i| i.id != id).collect();
                self.m.apply_set(&list);
            }
            Err(Error::UnknownInstance(x)) if !known && *x == id => {}
            other => violation!("remove_instance({id}) (in set: {known}): got {other:?}"),
        }
        if res.is_err() {
            self.unchanged(pre, "remove_instance");
        }
    }

    fn op_set_weight(&mut self, r: &mut Rd, checked: bool) {
        let id = self.pick_existing_id(r);
        let w = sel_weight(r);
        trace!("  set_weight {id} {w}");
        let known = self.m.in_set(id);
        let pre = (checked && (!known || w == 0)).then(|| self.quiesce(false, "set_weight"));
        let res = self.lb.set_weight(id, w);
        trace!("    -> {res:?}");
        match &res {
            Ok(()) if known && w > 0 => {
                let list: Vec<Instance> = self
                    .m
                    .set
                    .iter()
                    .map(|i| {
                        if i.id == id {
                            Instance { weight: w, ..*i }
                        } else {
                            *i
                        }
                    })
                    .collect();
                self.m.apply_set(&list);
            }
            Err(Error::UnknownInstance(x)) if !known && *x == id => {}
            Err(Error::InvalidArgument { .. }) if w == 0 => {}
            other => violation!("set_weight({id}, {w}) (in set: {known}): got {other:?}"),
        }
        if res.is_err() {
            self.unchanged(pre, "set_weight");
        }
    }

    fn op_health_score(&mut self, r: &mut Rd, checked: bool) {
        let id = self.pick_existing_id(r);
        let score = sel_f64(r);
        trace!("  set_health_score {id} {score}");
        let known = self.m.in_set(id);
        let valid = score.is_finite() && (0.0..=1.0).contains(&score);
        let pre = (checked && !(known && valid)).then(|| self.quiesce(false, "set_health_score"));
        let res = self.lb.set_health_score(id, score);
        trace!("    -> {res:?}");
        match &res {
            Ok(()) if known && valid => self.m.set_external(id, score),
            Err(Error::UnknownInstance(x)) if !known && *x == id => {}
            Err(Error::InvalidArgument { .. }) if !valid => {}
            other => violation!(
                "set_health_score({id}, {score}) (in set: {known}, valid: {valid}): got {other:?}"
            ),
        }
        if res.is_err() {
            self.unchanged(pre, "set_health_score");
        }
    }

    /// One select (plain, excluding or guarded). With a pre-state (`checked`), the
    /// choice is checked against the documented rule of what is selectable.
    fn do_select(
        &mut self,
        exclude: Option<&[u64]>,
        guard_mode: Option<u8>,
        checked: bool,
        r: &mut Rd,
    ) {
        if self.m.picks.len() >= MAX_PICKS {
            return;
        }
        let pre = checked.then(|| self.quiesce(true, "select"));
        let now = self.now();
        // A keyed select follows the same contract of what may be chosen.
        let key = (guard_mode.is_none() && r.bool()).then(|| r.u64());
        let what = match (exclude, guard_mode, key) {
            (Some(_), _, Some(_)) => "select_key_excluding",
            (None, _, Some(_)) => "select_key",
            (Some(_), _, None) => "select_excluding",
            (None, Some(_), _) => "select_guarded",
            _ => "select",
        };
        let (res, guard) = match (exclude, guard_mode) {
            (Some(ex), _) if key.is_some() => (self.lb.select_key_excluding(key.unwrap_or(0), ex), None),
            (None, None) if key.is_some() => (self.lb.select_key(key.unwrap_or(0)), None),
            (Some(ex), _) => (self.lb.select_excluding(ex), None),
            (None, Some(_)) => match self.lb.select_guarded() {
                Ok(g) => {
                    let id = g.instance_id();
                    (Ok(Pick::from_raw([id, 0, 0, 0])), Some(g))
                }
                Err(e) => (Err(e), None),
            },
            _ => (self.lb.select(), None),
        };
        trace!(
            "  {what} {exclude:?} -> {:?}",
            res.as_ref().map(|p| p.instance_id())
        );
        match res {
            Ok(p) => {
                if let Some(pre) = &pre {
                    self.check_choice(pre, p.instance_id(), exclude.unwrap_or(&[]), what);
                }
                let idx = self.m.on_select(p, now, guard.is_some());
                if let Some(g) = guard {
                    self.guard_mode(g, idx, guard_mode.unwrap_or(0), r);
                }
            }
            Err(Error::NoInstance) => {
                if let Some(pre) = &pre {
                    let panic = Model::panic_mode(&pre.st, self.cfg.panic_threshold);
                    if let Some(h) = pre.hs.iter().find(|h| Model::selectable(h, panic)) {
                        violation!(
                            "{what}: NoInstance although {h:?} is selectable (panic mode {panic})"
                        );
                    }
                }
            }
            Err(e) => violation!("{what}: unexpected {e:?} (set {:?})", self.m.set),
        }
    }

    fn check_choice(&self, pre: &Pre, id: u64, exclude: &[u64], what: &str) {
        let panic = Model::panic_mode(&pre.st, self.cfg.panic_threshold);
        let h = match pre.hs.iter().find(|h| h.id == id) {
            Some(h) => h,
            None => violation!("{what}: chose {id}, not in the set before the call"),
        };
        if h.cap != 0 && h.inflight >= h.cap as u64 {
            violation!("{what}: chose {id} at capacity: {h:?}");
        }
        let external = self
            .m
            .pool_of
            .get(&id)
            .map_or(1.0, |&p| self.m.pools[p].external);
        if !panic && external < self.cfg.unhealthy_threshold {
            violation!("{what}: chose {id} outside panic mode although its health-check score {external} is below unhealthy_threshold");
        }
        if !h.healthy && !panic {
            // Only a trial request: no exclusions, nothing else in flight there.
            if !exclude.is_empty() || h.inflight != 0 {
                violation!("{what}: chose unhealthy {id} outside panic mode (not a trial): {h:?}, exclude {exclude:?}");
            }
        }
        if exclude.contains(&id) {
            if let Some(o) = pre
                .hs
                .iter()
                .find(|o| !exclude.contains(&o.id) && Model::selectable(o, panic))
            {
                violation!("{what}: chose excluded {id} although {o:?} is selectable (exclude {exclude:?})");
            }
        }
    }

    fn guard_mode(&mut self, g: PickGuard<'a>, idx: usize, mode: u8, r: &mut Rd) {
        match mode % 4 {
            0 => {
                // Dropped at once: a fresh pick, so its cancel must be accepted.
                trace!("    guard dropped at once");
                drop(g);
                let now = self.now();
                self.m
                    .report(idx, Outcome::Cancelled, true, now, 0, "guard drop");
            }
            1 => {
                let o = sel_outcome(r);
                let lat = sel_latency(r);
                let res = g.report(o, lat);
                trace!("    guard.report({o:?}, {lat}) -> {res:?}");
                let now = self.now();
                match res {
                    Ok(()) => self.m.report(idx, o, true, now, lat, "guard.report"),
                    Err(Error::InvalidPick) => {
                        self.m.report(idx, o, false, now, lat, "guard.report")
                    }
                    Err(e) => violation!("guard.report: unexpected {e:?}"),
                }
            }
            2 => {
                let id = g.instance_id();
                let p = g.into_pick();
                if p.instance_id() != id {
                    violation!("into_pick: id {} but the guard said {id}", p.instance_id());
                }
                self.m.picks[idx].pick = p;
                self.m.picks[idx].guarded = false;
            }
            _ => {
                if self.guards.len() < 8 {
                    self.guards.push((g, idx));
                } else {
                    self.guards.push((g, idx));
                    self.drop_guard(0);
                }
            }
        }
    }

    /// Drops a kept guard; whether its cancel was accepted is read from the stats.
    fn drop_guard(&mut self, k: usize) {
        let (g, idx) = self.guards.remove(k);
        let s1 = self.stats("before guard drop");
        let now = self.now();
        drop(g);
        // Read without the model check first: the model learns from this read
        // whether the guard's cancel was accepted, then the read is checked.
        let s2 = St::from(&self.lb.stats());
        self.m.on_read(now);
        let d = s2.canc as i128 - s2.exp as i128 - (s1.canc - s1.exp) as i128;
        trace!(
            "    kept guard of pick #{idx} dropped: cancel accepted {}",
            d == 1
        );
        if d != 0 && d != 1 {
            violation!("a guard drop changed the reported cancels by {d}: {s1:?} -> {s2:?}");
        }
        self.m
            .report(idx, Outcome::Cancelled, d == 1, now, 0, "kept guard drop");
        self.m.check_stats(&s2, now, "after guard drop");
    }

    fn reportable(&self, outstanding_only: bool) -> Vec<usize> {
        self.m
            .picks
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.guarded && (!outstanding_only || p.state == PState::Out))
            .map(|(i, _)| i)
            .collect()
    }

    fn report_real(&mut self, idx: usize, o: Outcome, lat: u64, checked: bool, what: &str) {
        let now = self.now();
        let rec = self.m.picks[idx].clone();
        let sure = rec.state == PState::Out
            && self.m.must_live(&rec, now)
            && self.m.pools[rec.pool].credit == 0;
        let pre = (checked && !sure).then(|| self.quiesce(true, what));
        let now = self.now();
        let res = self.lb.report(&rec.pick, o, lat);
        match res {
            Ok(()) => self.m.report(idx, o, true, now, lat, what),
            Err(Error::InvalidPick) => {
                self.m.report(idx, o, false, now, lat, what);
                self.unchanged(pre, what);
            }
            Err(e) => violation!("{what}: unexpected {e:?}"),
        }
    }

    /// A pick lb never handed out (or not in this form): must be refused, changing
    /// nothing.
    fn report_bad(
        &mut self,
        lbr: &Balancer,
        p: Pick,
        o: Outcome,
        lat: u64,
        checked: bool,
        what: &str,
    ) {
        let main = ptr::eq(lbr, self.lb);
        let pre = (checked && main).then(|| self.quiesce(true, what));
        let res = lbr.report(&p, o, lat);
        trace!("  {what} {:x?} -> {res:?}", p.to_raw());
        if res != Err(Error::InvalidPick) {
            violation!(
                "{what}: report of {:x?} returned {res:?}, InvalidPick expected",
                p.to_raw()
            );
        }
        self.unchanged(pre, what);
    }

    fn op_set_config(&mut self, r: &mut Rd, checked: bool) {
        let mut c = self.cfg.clone();
        for _ in 0..1 + r.u8() % 3 {
            mutate_config(r, &mut c);
        }
        let bad = bad_fields(&c);
        trace!("  set_config {c:?} (bad {bad:?})");
        let pre = (checked && !bad.is_empty()).then(|| self.quiesce(false, "set_config"));
        let res = self.lb.set_config(c.clone());
        trace!("    -> {res:?}");
        check_config_result("set_config", &res, &bad);
        if res.is_ok() {
            self.m.on_timeout_change(c.pick_timeout_ms * 1000);
            self.m.unhealthy_threshold = c.unhealthy_threshold;
            self.m.strategy = c.strategy;
            self.m.ever_adaptive |= c.strategy == Strategy::Adaptive;
            self.cfg = c;
        } else {
            self.unchanged(pre, "set_config");
        }
        self.check_config("set_config");
    }

    fn op_new_balancer(&mut self, r: &mut Rd) {
        let mut c = Config {
            seed: 7,
            ..Config::default()
        };
        for _ in 0..1 + r.u8() % 3 {
            mutate_config(r, &mut c);
        }
        let bad = bad_fields(&c);
        let res = Balancer::with_clock(c.clone(), Arc::new(ManualClock::new(r.u16() as u64)));
        trace!("  Balancer::with_clock {c:?} -> ok {}", res.is_ok());
        let unit = res.as_ref().map(|_| ()).map_err(|e| e.clone());
        check_config_result("Balancer::with_clock", &unit, &bad);
        if let Ok(b) = res {
            // Config::seed 0: the balancer draws its own, never 0.
            let seed_ok = if c.seed == 0 {
                b.seed() != 0
            } else {
                b.seed() == c.seed
            };
            if !seed_ok {
                violation!(
                    "Balancer::seed() {} but the config said {}",
                    b.seed(),
                    c.seed
                );
            }
            if b.select() != Err(Error::NoInstance) {
                violation!("select on an empty new balancer did not fail with NoInstance");
            }
            let s = b.stats();
            if s.total_requests != 0 || s.in_flight != 0 || s.instance_count != 0 {
                violation!("a new balancer has non-zero stats: {s:?}");
            }
            if b.config() != c {
                violation!("new balancer: config() {:?} != {c:?}", b.config());
            }
        }
    }

    fn op_settle(&mut self) {
        let t = self.m.timeout_us;
        if t == 0 {
            return;
        }
        trace!("  settle: 3 x (advance {} us, stats)", t + 1);
        for _ in 0..3 {
            self.advance(t + 1);
            self.stats("settle");
        }
    }

    fn op_other(&mut self, r: &mut Rd) {
        match r.u8() % 4 {
            0 => {
                let _ = self.other.set_instances(&self.m.set);
            }
            1 => {
                if self.foreign.len() < 64 {
                    if let Ok(p) = self.other.select() {
                        self.foreign.push(p);
                    }
                }
            }
            2 => {
                // Report a pick of the second balancer to it (its own: any result
                // but a panic or an unexpected error is fine).
                if !self.foreign.is_empty() {
                    let p = self.foreign[r.u8() as usize % self.foreign.len()];
                    match self.other.report(&p, sel_outcome(r), sel_latency(r)) {
                        Ok(()) | Err(Error::InvalidPick) => {}
                        Err(e) => violation!("second balancer: report of its own pick: {e:?}"),
                    }
                }
            }
            _ => {
                let s = self.other.stats();
                if s.total_requests != s.successes + s.failures + s.cancelled + s.in_flight {
                    violation!("second balancer: totals identity broken: {s:?}");
                }
            }
        }
    }

    fn step(&mut self, r: &mut Rd) {
        let b = r.u8();
        // Both high bits: compare the balancer before and after (costly, so 1 in 4).
        let checked = b & 0xc0 == 0xc0;
        let op = OP_TABLE[(b & 0x3f) as usize];
        match op {
            0 => self.op_set_instances(r, checked),
            1 => self.op_add(r, checked),
            2 => self.op_remove(r, checked),
            3 => self.op_set_weight(r, checked),
            4 => self.do_select(None, None, checked, r),
            6 => {
                let k = r.u8() as usize % 5;
                let ex: Vec<u64> = (0..k).map(|_| self.pick_existing_id(r)).collect();
                self.do_select(Some(&ex), None, checked, r);
            }
            7 => {
                let mode = r.u8();
                self.do_select(None, Some(mode), checked, r);
            }
            8 => {
                if !self.guards.is_empty() {
                    let k = r.u8() as usize % self.guards.len();
                    self.drop_guard(k);
                }
            }
            9 => {
                let c = self.reportable(true);
                let (i, o, lat) = (r.u16() as usize, sel_outcome(r), sel_latency(r));
                if !c.is_empty() {
                    self.report_real(c[i % c.len()], o, lat, checked, "report");
                }
            }
            11 => {
                // Any pick, reported or not: duplicates.
                let c = self.reportable(false);
                let (i, o, lat) = (r.u16() as usize, sel_outcome(r), sel_latency(r));
                if !c.is_empty() {
                    self.report_real(c[i % c.len()], o, lat, checked, "report (maybe again)");
                }
            }
            12 => {
                let c = self.reportable(false);
                let (i, word, bit) = (r.u16() as usize, r.u8() as usize % 4, r.u8() % 64);
                let (o, lat) = (sel_outcome(r), sel_latency(r));
                if !c.is_empty() {
                    let mut raw = self.m.picks[c[i % c.len()]].pick.to_raw();
                    raw[word] ^= 1 << bit;
                    self.report_bad(
                        self.lb,
                        Pick::from_raw(raw),
                        o,
                        lat,
                        checked,
                        "report of a bit-flipped pick",
                    );
                }
            }
            13 => {
                let raw = match r.u8() % 4 {
                    0 => [0; 4],
                    1 => [sel_id(r), 0, 0, 0],
                    2 => {
                        let c = self.reportable(false);
                        let i = r.u16() as usize;
                        let w = r.u8() as usize % 4;
                        let v = r.u64();
                        if c.is_empty() {
                            [v, 0, 0, 0]
                        } else {
                            let mut raw = self.m.picks[c[i % c.len()]].pick.to_raw();
                            if raw[w] == v {
                                return;
                            }
                            raw[w] = v;
                            raw
                        }
                    }
                    _ => [r.u64(), r.u64(), r.u64(), r.u64()],
                };
                let (o, lat) = (sel_outcome(r), sel_latency(r));
                self.report_bad(
                    self.lb,
                    Pick::from_raw(raw),
                    o,
                    lat,
                    checked,
                    "report of a forged pick",
                );
            }
            14 => {
                if self.foreign.is_empty() || r.bool() {
                    let _ = self.other.set_instances(&self.m.set);
                    if let Ok(p) = self.other.select() {
                        if self.foreign.len() < 64 {
                            self.foreign.push(p);
                        }
                    }
                }
                let i = r.u8() as usize;
                let (o, lat) = (sel_outcome(r), sel_latency(r));
                if !self.foreign.is_empty() {
                    let p = self.foreign[i % self.foreign.len()];
                    self.report_bad(
                        self.lb,
                        p,
                        o,
                        lat,
                        checked,
                        "report of another balancer's pick",
                    );
                }
            }
            15 => {
                let c = self.reportable(false);
                let i = r.u16() as usize;
                let (o, lat) = (sel_outcome(r), sel_latency(r));
                if !c.is_empty() {
                    let p = self.m.picks[c[i % c.len()]].pick;
                    let other = self.other;
                    self.report_bad(other, p, o, lat, false, "report to the second balancer");
                }
            }
            16 => {
                let s = Strategy::ALL[(r.u8() as usize) % Strategy::ALL.len()];
                trace!("  set_strategy {s:?}");
                self.lb.set_strategy(s);
                self.cfg.strategy = s;
                self.m.strategy = s;
                self.m.ever_adaptive |= s == Strategy::Adaptive;
                self.check_config("set_strategy");
            }
            17 => self.op_set_config(r, checked),
            19 => self.op_health_score(r, checked),
            20 => {
                trace!("  maintain");
                self.maintain();
            }
            21 => {
                trace!("  stats + all_health");
                self.full_check("stats");
            }
            22 => {
                let id = self.pick_existing_id(r);
                let res = self.lb.health(id);
                let now = self.now();
                self.m.on_read(now);
                trace!("  health {id} -> ok {}", res.is_ok());
                match (&res, self.m.in_set(id)) {
                    (Ok(h), true) => {
                        let (_, per) = self.m.bounds(now);
                        self.m.check_one(&Hs::from(h), &per, now, "health");
                    }
                    (Err(Error::UnknownInstance(x)), false) if *x == id => {}
                    (other, known) => violation!("health({id}) (in set: {known}): {other:?}"),
                }
            }
            23 => {
                trace!("  all_health");
                self.all_health(None, "all_health");
            }
            24 => {
                let d = r.u16() as u64;
                self.advance(d);
            }
            25 => {
                let d = r.u16() as u64 * 1000;
                self.advance(d);
            }
            26 => {
                let d = (1 + r.u8() as u64) * 3_600_000_000;
                self.advance(d);
            }
            27 => {
                let t = if self.m.timeout_us == 0 {
                    1000
                } else {
                    self.m.timeout_us
                };
                let d = match r.u8() % 8 {
                    0 => t - 1,
                    1 => t,
                    2 => t + 1,
                    3 => 2 * t - 1,
                    4 => 2 * t,
                    5 => 2 * t + 1,
                    6 => t / 2,
                    _ => 1,
                };
                self.advance(d);
            }
            28 => self.op_settle(),
            29 => self.ffi_op(r, checked),
            31 => {
                // Report everything outstanding.
                let (o, lat) = (sel_outcome(r), sel_latency(r));
                for i in self.reportable(true) {
                    self.report_real(i, o, lat, false, "report all");
                }
            }
            32 => {
                let n = 1 + r.u8() % 32;
                for _ in 0..n {
                    let before = self.m.picks.len();
                    self.do_select(None, None, false, r);
                    if self.m.picks.len() == before {
                        break;
                    }
                }
            }
            _ => {
                if r.bool() {
                    self.op_other(r);
                } else {
                    self.op_new_balancer(r);
                }
            }
        }
        if self.observe_each {
            self.full_check("after op");
        }
    }

    fn finish(&mut self) {
        while !self.guards.is_empty() {
            self.drop_guard(0);
        }
        for i in self.reportable(true) {
            self.report_real(i, Outcome::Cancelled, 0, false, "final report");
        }
        self.full_check("final");
        if self.m.picks.iter().all(|p| p.state == PState::Spent) {
            let s = self.stats("final");
            if s.inflight != 0 || s.total != s.succ + s.fail + s.canc {
                violation!("every pick settled, yet {s:?}");
            }
        }
        self.ffi_finish();
    }
}

// ---------------------------------------------------------------------------------
// The C ABI

/// One option of the header: id, lowest (excluded if open), highest (excluded if
/// open), whole numbers only.
struct Opt {
    id: u32,
    lo: f64,
    lo_open: bool,
    hi: f64,
    hi_open: bool,
    int: bool,
}

const fn opt(id: u32, lo: f64, lo_open: bool, hi: f64, hi_open: bool, int: bool) -> Opt {
    Opt {
        id,
        lo,
        lo_open,
        hi,
        hi_open,
        int,
    }
}

/// The ranges documented in lb.h, one per LB_OPTION_*.
/// Options the header documents (ids 1..=N_OPTS).
const N_OPTS: usize = 30;

static OPTS: [Opt; N_OPTS] = [
    opt(
        LB_OPTION_PICK_TIMEOUT_MS,
        0.0,
        false,
        4294967295.0,
        false,
        true,
    ),
    opt(LB_OPTION_PANIC_THRESHOLD, 0.0, false, 1.0, false, false),
    opt(LB_OPTION_UNHEALTHY_THRESHOLD, 0.0, true, 1.0, false, false),
    opt(LB_OPTION_CONSECUTIVE_FAILURES, 1.0, false, 1e6, false, true),
    opt(LB_OPTION_MIN_SAMPLES, 1.0, false, 1e6, false, true),
    opt(
        LB_OPTION_BASE_EJECTION_MS,
        1.0,
        false,
        86_400_000.0,
        false,
        true,
    ),
    opt(
        LB_OPTION_MAX_EJECTION_MS,
        1.0,
        false,
        86_400_000.0,
        false,
        true,
    ),
    opt(
        LB_OPTION_RECOVERY_SUCCESSES,
        1.0,
        false,
        10_000.0,
        false,
        true,
    ),
    opt(LB_OPTION_TRIAL_RATIO, 0.0, true, 1.0, false, false),
    opt(
        LB_OPTION_LATENCY_TAU_MS,
        1.0,
        false,
        3_600_000.0,
        false,
        false,
    ),
    opt(
        LB_OPTION_HEALTH_WINDOW_MS,
        1.0,
        false,
        3_600_000.0,
        false,
        false,
    ),
    opt(
        LB_OPTION_LATENCY_OUTLIER_RATIO,
        1.0,
        true,
        1e6,
        false,
        false,
    ),
    opt(
        LB_OPTION_FAILURE_PENALTY_FACTOR,
        1.0,
        false,
        1e6,
        false,
        false,
    ),
    opt(
        LB_OPTION_ADAPTIVE_WINDOW_REQUESTS,
        10.0,
        false,
        1e7,
        false,
        true,
    ),
    opt(
        LB_OPTION_ADAPTIVE_MIN_WINDOW_MS,
        1.0,
        false,
        3_600_000.0,
        false,
        true,
    ),
    opt(
        LB_OPTION_ADAPTIVE_MAX_WINDOW_MS,
        1.0,
        false,
        3_600_000.0,
        false,
        true,
    ),
    opt(LB_OPTION_ADAPTIVE_HYSTERESIS, 0.0, false, 1.0, true, false),
    opt(
        LB_OPTION_MAINTENANCE_INTERVAL_MS,
        1.0,
        false,
        60_000.0,
        false,
        true,
    ),
    opt(
        LB_OPTION_CLOCK_REFRESH_OPS,
        1.0,
        false,
        65_536.0,
        false,
        true,
    ),
    opt(LB_OPTION_CHOICE_COUNT, 2.0, false, 8.0, false, true),
    opt(LB_OPTION_ACTIVE_REQUEST_BIAS, 0.0, false, 10.0, false, false),
    opt(
        LB_OPTION_PEAK_EWMA_TAU_MS,
        1.0,
        false,
        3_600_000.0,
        false,
        false,
    ),
    opt(
        LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS,
        0.001,
        false,
        3_600_000.0,
        false,
        false,
    ),
    opt(
        LB_OPTION_SLOW_START_WINDOW_MS,
        0.0,
        false,
        3_600_000.0,
        false,
        true,
    ),
    opt(LB_OPTION_SLOW_START_AGGRESSION, 0.0, true, 100.0, false, false),
    opt(
        LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT,
        0.0,
        false,
        100.0,
        false,
        false,
    ),
    opt(LB_OPTION_MAGLEV_TABLE_SIZE, 17.0, false, 5_000_011.0, false, true),
    opt(LB_OPTION_RING_HASH_MIN_SIZE, 1.0, false, 8_388_608.0, false, true),
    opt(LB_OPTION_RING_HASH_MAX_SIZE, 1.0, false, 8_388_608.0, false, true),
    opt(LB_OPTION_HASH_BALANCE_FACTOR, 0.0, false, 10_000.0, false, true),
];

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn opt_of(id: u32) -> Option<&'static Opt> {
    OPTS.iter().find(|o| o.id == id)
}

/// Whether lb_set_option(option, v) must succeed given the current values `cur`
/// (indexed by option id), per the header's ranges and cross-option rules.
fn option_valid(cur: &[f64; N_OPTS + 1], id: u32, v: f64) -> bool {
    let Some(o) = opt_of(id) else { return false };
    if !v.is_finite() || (o.int && v.fract() != 0.0) {
        return false;
    }
    let lo_ok = if o.lo_open { v > o.lo } else { v >= o.lo };
    let hi_ok = if o.hi_open { v < o.hi } else { v <= o.hi };
    if !lo_ok || !hi_ok {
        return false;
    }
    match id {
        LB_OPTION_BASE_EJECTION_MS => v <= cur[LB_OPTION_MAX_EJECTION_MS as usize],
        LB_OPTION_MAX_EJECTION_MS => v >= cur[LB_OPTION_BASE_EJECTION_MS as usize],
        LB_OPTION_ADAPTIVE_MIN_WINDOW_MS => v <= cur[LB_OPTION_ADAPTIVE_MAX_WINDOW_MS as usize],
        LB_OPTION_ADAPTIVE_MAX_WINDOW_MS => v >= cur[LB_OPTION_ADAPTIVE_MIN_WINDOW_MS as usize],
        LB_OPTION_RING_HASH_MIN_SIZE => v <= cur[LB_OPTION_RING_HASH_MAX_SIZE as usize],
        LB_OPTION_RING_HASH_MAX_SIZE => v >= cur[LB_OPTION_RING_HASH_MIN_SIZE as usize],
        LB_OPTION_MAGLEV_TABLE_SIZE => is_prime(v as u64),
        LB_OPTION_HASH_BALANCE_FACTOR => v == 0.0 || v >= 100.0,
        _ => true,
    }
}

fn sel_strategy_u32(r: &mut Rd) -> u32 {
    let known = Strategy::ALL.len() as u32;
    match r.u8() % 8 {
        0..=4 => r.u8() as u32 % known,
        5 => known,
        6 => u32::MAX,
        _ => r.u32(),
    }
}

fn sel_option_id(r: &mut Rd) -> u32 {
    match r.u8() % (N_OPTS as u8 + 4) {
        0 => 0,
        1 => N_OPTS as u32 + 1,
        2 => u32::MAX,
        3 => r.u32(),
        k => (k - 3) as u32, // 1..=N_OPTS
    }
}

struct Ffi {
    h: *mut lb_balancer,
    m: Model,
    opts: [f64; N_OPTS + 1],
    seed: u64,
    origin: Instant,
}

impl Drop for Ffi {
    fn drop(&mut self) {
        lb_balancer_free(self.h);
    }
}

/// Memory for an unaligned C struct or array: `n` elements of T at byte offset `off`.
struct Buf {
    bytes: Vec<u8>,
    off: usize,
}

impl Buf {
    fn new<T>(n: usize, off: usize, fill: u8) -> Buf {
        Buf {
            bytes: vec![fill; n * std::mem::size_of::<T>() + 8],
            off: off % 8,
        }
    }
    fn ptr<T>(&mut self) -> *mut T {
        // SAFETY: within the allocation (8 spare bytes).
        unsafe { self.bytes.as_mut_ptr().add(self.off).cast() }
    }
    fn read<T: Copy>(&mut self, i: usize) -> T {
        // SAFETY: element i lies within the buffer; read without alignment.
        unsafe { ptr::read_unaligned(self.ptr::<T>().add(i)) }
    }
    fn write<T: Copy>(&mut self, i: usize, v: T) {
        // SAFETY: as above.
        unsafe { ptr::write_unaligned(self.ptr::<T>().add(i), v) }
    }
}

fn status_name(s: lb_status) -> String {
    // SAFETY: lb_status_str returns static NUL-terminated text.
    let p = lb_status_str(s);
    if p.is_null() {
        violation!("lb_status_str({s}) returned NULL");
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn expect_status(what: &str, got: lb_status, want: lb_status) {
    if got != want {
        violation!(
            "{what}: status {got} ({}), expected {want} ({})",
            status_name(got),
            status_name(want)
        );
    }
}

impl Ffi {
    fn new(origin: Instant) -> Ffi {
        Ffi {
            h: ptr::null_mut(),
            m: Model::new("C ABI", 300_000_000, false, Strategy::RoundRobin),
            opts: [0.0; N_OPTS + 1],
            seed: 0,
            origin,
        }
    }
}

impl<'a> H<'a> {
    /// Microseconds of the real monotonic clock (the C ABI balancer's), from a fixed
    /// origin: differences bound lb's own view of elapsed time.
    fn rt(&self) -> u64 {
        self.ffi.origin.elapsed().as_micros() as u64
    }

    fn ffi_create(&mut self, strategy: u32, seed: u64) {
        if !self.ffi.h.is_null() {
            self.ffi_finish();
        }
        let mut out: *mut lb_balancer = ptr::dangling_mut();
        expect_status(
            "lb_balancer_new_seeded",
            lb_balancer_new_seeded(strategy, seed, &mut out),
            LB_STATUS_OK,
        );
        if out.is_null() {
            violation!("lb_balancer_new_seeded: OK but NULL handle");
        }
        let mut got = 0u64;
        expect_status("lb_get_seed", lb_get_seed(out, &mut got), LB_STATUS_OK);
        if got != seed {
            violation!("lb_get_seed: {got}, created with {seed}");
        }
        let s = Strategy::from_u32(strategy).unwrap_or(Strategy::RoundRobin);
        self.ffi.h = out;
        self.ffi.seed = seed;
        self.ffi.m = Model::new("C ABI", 300_000_000, false, s);
        for o in OPTS.iter() {
            let mut v = f64::NAN;
            expect_status(
                "lb_get_option",
                lb_get_option(out, o.id, &mut v),
                LB_STATUS_OK,
            );
            self.ffi.opts[o.id as usize] = v;
        }
        self.ffi.m.timeout_us = self.ffi.opts[LB_OPTION_PICK_TIMEOUT_MS as usize] as u64 * 1000;
        if self.ffi.m.timeout_us != 300_000_000 {
            violation!(
                "LB_OPTION_PICK_TIMEOUT_MS default is {} ms, 300000 documented",
                self.ffi.m.timeout_us / 1000
            );
        }
    }

    fn ffi_stats(&mut self, what: &str) -> St {
        let mut b = Buf::new::<lb_stats>(1, self.ffi.seed as usize, 0xA5);
        expect_status(what, lb_get_stats(self.ffi.h, b.ptr()), LB_STATUS_OK);
        let now = self.rt();
        let s = St::from(&b.read::<lb_stats>(0));
        self.ffi.m.check_stats(&s, now, what);
        s
    }

    fn ffi_all_health(&mut self, what: &str) -> Vec<Hs> {
        let n = self.ffi.m.set.len();
        let mut b = Buf::new::<lb_health>(n.max(1), 3, 0xA5);
        let mut count = usize::MAX;
        expect_status(
            what,
            lb_get_all_health(self.ffi.h, b.ptr(), n, &mut count),
            LB_STATUS_OK,
        );
        let now = self.rt();
        if count != n {
            violation!("{what}: lb_get_all_health count {count}, set of {n}");
        }
        let h: Vec<Hs> = (0..n).map(|i| Hs::from(&b.read::<lb_health>(i))).collect();
        self.ffi.m.check_health(&h, None, now, what);
        h
    }

    /// Counters only (the real clock may run maintenance at any clock read, which
    /// may change health, never counts), plus every option.
    fn ffi_snap(&mut self, what: &str) -> String {
        let s = self.ffi_stats(what);
        let h = self.ffi_all_health(what);
        let mut opts = Vec::new();
        for o in OPTS.iter() {
            let mut v = f64::NAN;
            expect_status(
                "lb_get_option",
                lb_get_option(self.ffi.h, o.id, &mut v),
                LB_STATUS_OK,
            );
            opts.push(v.to_bits());
        }
        format!(
            "{:?} {:?} {:?}",
            (s.total, s.succ, s.fail, s.canc, s.exp, s.inflight, s.icount),
            h.iter().map(hs_counters).collect::<Vec<_>>(),
            opts
        )
    }

    /// Whether the real-clock balancer's counters are stable enough to compare
    /// (nothing can expire during the comparison).
    fn ffi_comparable(&self) -> bool {
        let t = self.ffi.m.timeout_us;
        t == 0 || t >= 60_000_000
    }

    fn ffi_unchanged(&mut self, before: Option<String>, what: &str) {
        if let Some(b) = before {
            let a = self.ffi_snap(what);
            if a != b {
                violation!(
                    "{what}: a failed C call changed the balancer:\n before {b}\n after  {a}"
                );
            }
        }
    }

    fn ffi_pre(&mut self, checked: bool, what: &str) -> Option<String> {
        (checked && self.ffi_comparable()).then(|| self.ffi_snap(what))
    }

    fn ffi_select(&mut self, r: &mut Rd) {
        if self.ffi.m.picks.len() >= MAX_PICKS {
            return;
        }
        let excluding = r.bool();
        let mut out = Buf::new::<lb_pick>(1, r.u8() as usize, 0xEE);
        let before = self.rt();
        let st = if excluding {
            let k = r.u8() as usize % 5;
            let ids: Vec<u64> = (0..k).map(|_| sel_id(r)).collect();
            let mut b = Buf::new::<u64>(k.max(1), r.u8() as usize, 0);
            for (i, &id) in ids.iter().enumerate() {
                b.write(i, id);
            }
            let p: *const u64 = if k == 0 && r.bool() {
                ptr::null()
            } else {
                b.ptr()
            };
            if r.bool() {
                lb_select_key_excluding(self.ffi.h, r.u64(), p, k, out.ptr())
            } else {
                lb_select_excluding(self.ffi.h, p, k, out.ptr())
            }
        } else if r.bool() {
            lb_select_key(self.ffi.h, r.u64(), out.ptr())
        } else {
            lb_select(self.ffi.h, out.ptr())
        };
        let pick: lb_pick = out.read(0);
        trace!("  C select (excluding {excluding}) -> {st} {pick:x?}");
        match st {
            LB_STATUS_OK => {
                self.ffi.m.on_select(Pick::from(pick), before, false);
            }
            LB_STATUS_NO_INSTANCE => {
                if pick != lb_pick::default() {
                    violation!("lb_select: NO_INSTANCE but *out not zeroed: {pick:x?}");
                }
            }
            s => violation!("lb_select: unexpected status {s} ({})", status_name(s)),
        }
    }

    fn ffi_report_real(&mut self, r: &mut Rd, checked: bool) {
        let c: Vec<usize> = (0..self.ffi.m.picks.len()).collect();
        if c.is_empty() {
            return;
        }
        let idx = c[r.u16() as usize % c.len()];
        let rec = self.ffi.m.picks[idx].clone();
        let outcome = match r.u8() % 8 {
            0..=5 => (r.u8() % 3) as u32,
            6 => 3 + r.u8() as u32,
            _ => u32::MAX,
        };
        let lat = sel_latency(r);
        let mut b = Buf::new::<lb_pick>(1, r.u8() as usize, 0);
        b.write(0, lb_pick::from(rec.pick));
        let pre = if outcome > 2 {
            self.ffi_pre(checked, "lb_report unknown outcome")
        } else {
            None
        };
        let st = lb_report(self.ffi.h, b.ptr(), outcome, lat);
        let now = self.rt();
        trace!("  C report pick #{idx} outcome {outcome} {lat} -> {st}");
        if outcome > 2 {
            expect_status(
                "lb_report with an unknown outcome",
                st,
                LB_STATUS_INVALID_ARGUMENT,
            );
            self.ffi_unchanged(pre, "lb_report with an unknown outcome");
            return;
        }
        let o = Outcome::from_u32(outcome).unwrap_or(Outcome::Cancelled);
        match st {
            LB_STATUS_OK => self.ffi.m.report(idx, o, true, now, lat, "lb_report"),
            LB_STATUS_INVALID_PICK => self.ffi.m.report(idx, o, false, now, lat, "lb_report"),
            s => violation!("lb_report: unexpected status {s} ({})", status_name(s)),
        }
    }

    fn ffi_report_bad(&mut self, r: &mut Rd, checked: bool) {
        let raw: [u64; 4] = match r.u8() % 5 {
            0 => [0; 4],
            1 => {
                // A bit-flipped real pick.
                if self.ffi.m.picks.is_empty() {
                    return;
                }
                let i = r.u16() as usize % self.ffi.m.picks.len();
                let mut raw = self.ffi.m.picks[i].pick.to_raw();
                raw[r.u8() as usize % 4] ^= 1 << (r.u8() % 64);
                raw
            }
            2 => {
                // A pick of the Rust balancer (another key).
                if self.m.picks.is_empty() {
                    return;
                }
                let i = r.u16() as usize % self.m.picks.len();
                if self.m.picks[i].guarded {
                    return;
                }
                self.m.picks[i].pick.to_raw()
            }
            3 => [sel_id(r), r.u64(), r.u64(), r.u64()],
            _ => [r.u64(), r.u64(), r.u64(), r.u64()],
        };
        let (o, lat) = ((r.u8() % 3) as u32, sel_latency(r));
        let pre = self.ffi_pre(checked, "lb_report forged");
        let p = lb_pick {
            instance_id: raw[0],
            private_: [raw[1], raw[2], raw[3]],
        };
        let st = lb_report(self.ffi.h, &p, o, lat);
        trace!("  C report forged {raw:x?} -> {st}");
        expect_status(
            "lb_report of a forged, corrupted or foreign pick",
            st,
            LB_STATUS_INVALID_PICK,
        );
        self.ffi_unchanged(pre, "lb_report of a forged pick");
    }

    fn ffi_set_option(&mut self, r: &mut Rd, checked: bool) {
        let id = sel_option_id(r);
        let v = match r.u8() % 4 {
            0 => sel_f64(r),
            _ => match opt_of(id) {
                Some(o) => match r.u8() % 8 {
                    0 => o.lo,
                    1 => o.hi,
                    2 => next_down(o.lo),
                    3 => next_up(o.hi),
                    4 => (o.lo + (o.hi - o.lo) * (r.u16() as f64 / 65535.0)).round(),
                    5 => o.lo + (o.hi - o.lo) * (r.u16() as f64 / 65535.0),
                    6 => o.lo + (r.u8() % 16) as f64,
                    _ => o.lo + 0.5,
                },
                None => sel_f64(r),
            },
        };
        let valid = option_valid(&self.ffi.opts, id, v);
        let pre = if valid {
            None
        } else {
            self.ffi_pre(checked, "lb_set_option")
        };
        let st = lb_set_option(self.ffi.h, id, v);
        trace!("  C set_option {id} {v} (valid {valid}) -> {st}");
        if valid {
            expect_status(&format!("lb_set_option({id}, {v})"), st, LB_STATUS_OK);
            self.ffi.opts[id as usize] = v;
            if id == LB_OPTION_PICK_TIMEOUT_MS {
                self.ffi.m.on_timeout_change(v as u64 * 1000);
            }
            if id == LB_OPTION_UNHEALTHY_THRESHOLD {
                self.ffi.m.unhealthy_threshold = v;
            }
        } else {
            expect_status(
                &format!("lb_set_option({id}, {v}) out of its documented range"),
                st,
                LB_STATUS_INVALID_ARGUMENT,
            );
            self.ffi_unchanged(pre, "lb_set_option");
        }
        if let Some(o) = opt_of(id) {
            let mut got = f64::NAN;
            expect_status(
                "lb_get_option",
                lb_get_option(self.ffi.h, id, &mut got),
                LB_STATUS_OK,
            );
            let want = self.ffi.opts[o.id as usize];
            if got != want {
                violation!("lb_get_option({id}) = {got}, {want} expected");
            }
        }
    }

    fn ffi_op(&mut self, r: &mut Rd, checked: bool) {
        let sub = r.u8() % 18;
        if self.ffi.h.is_null() && sub != 0 {
            self.ffi_create(r.u8() as u32 % Strategy::ALL.len() as u32, r.u16() as u64);
        }
        let h = self.ffi.h;
        match sub {
            0 => {
                // Creation: NULL out, unknown strategies, seeded and not.
                expect_status(
                    "lb_balancer_new(NULL out)",
                    lb_balancer_new(0, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_balancer_new_seeded(NULL out)",
                    lb_balancer_new_seeded(0, 1, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                let s = sel_strategy_u32(r);
                let mut out: *mut lb_balancer = ptr::dangling_mut();
                let st = lb_balancer_new(s, &mut out);
                if Strategy::from_u32(s).is_some() {
                    expect_status("lb_balancer_new", st, LB_STATUS_OK);
                    if out.is_null() {
                        violation!("lb_balancer_new: OK but NULL handle");
                    }
                    let mut seed = 0;
                    expect_status("lb_get_seed", lb_get_seed(out, &mut seed), LB_STATUS_OK);
                    lb_balancer_free(out);
                } else {
                    expect_status(
                        "lb_balancer_new(unknown strategy)",
                        st,
                        LB_STATUS_INVALID_ARGUMENT,
                    );
                    if !out.is_null() {
                        violation!("lb_balancer_new failed but *out is not NULL");
                    }
                }
                lb_balancer_free(ptr::null_mut());
                if r.bool() {
                    let s = r.u8() as u32 % Strategy::ALL.len() as u32;
                    let seed = r.u16() as u64;
                    self.ffi_create(s, seed);
                }
            }
            1 => {
                let s = sel_strategy_u32(r);
                expect_status(
                    "lb_set_strategy(NULL)",
                    lb_set_strategy(ptr::null_mut(), 0),
                    LB_STATUS_NULL_POINTER,
                );
                let pre = if Strategy::from_u32(s).is_none() {
                    self.ffi_pre(checked, "lb_set_strategy")
                } else {
                    None
                };
                let st = lb_set_strategy(h, s);
                if let Some(strategy) = Strategy::from_u32(s) {
                    expect_status("lb_set_strategy", st, LB_STATUS_OK);
                    self.ffi.m.strategy = strategy;
                    self.ffi.m.ever_adaptive |= strategy == Strategy::Adaptive;
                } else {
                    expect_status("lb_set_strategy(unknown)", st, LB_STATUS_INVALID_ARGUMENT);
                    self.ffi_unchanged(pre, "lb_set_strategy(unknown)");
                }
            }
            2 => {
                let list = Self::gen_list(r);
                let variant = r.u8() % 8;
                let pre = self.ffi_pre(checked, "lb_set_instances");
                let (st, applied): (lb_status, Option<Vec<Instance>>) = match variant {
                    0 => (lb_set_instances(ptr::null_mut(), ptr::null(), 0), None),
                    1 => (lb_set_instances(h, ptr::null(), 1 + list.len()), None),
                    2 => {
                        let mut b = Buf::new::<lb_instance>(1, 0, 0);
                        (lb_set_instances(h, b.ptr(), usize::MAX), None)
                    }
                    3 => {
                        let mut b = Buf::new::<lb_instance>(1, 0, 0);
                        (
                            lb_set_instances(h, b.ptr(), isize::MAX as usize / 16 + 1),
                            None,
                        )
                    }
                    4 => (lb_set_instances(h, ptr::null(), 0), Some(Vec::new())),
                    _ => {
                        let mut b = Buf::new::<lb_instance>(list.len().max(1), variant as usize, 0);
                        for (i, x) in list.iter().enumerate() {
                            b.write(
                                i,
                                lb_instance {
                                    id: x.id,
                                    weight: x.weight,
                                    capacity: x.capacity,
                                },
                            );
                        }
                        (lb_set_instances(h, b.ptr(), list.len()), Some(list.clone()))
                    }
                };
                trace!("  C set_instances variant {variant} {applied:?} -> {st}");
                match (variant, applied) {
                    (0..=1, _) => {
                        expect_status("lb_set_instances(NULL)", st, LB_STATUS_NULL_POINTER)
                    }
                    (2..=3, _) => expect_status(
                        "lb_set_instances(impossible count)",
                        st,
                        LB_STATUS_INVALID_ARGUMENT,
                    ),
                    (_, Some(l)) => match st {
                        LB_STATUS_OK => {
                            self.ffi
                                .m
                                .set_result("lb_set_instances", &l, true, None, false)
                        }
                        LB_STATUS_DUPLICATE_INSTANCE => {
                            let (_, d) = set_errors(&l);
                            self.ffi.m.set_result(
                                "lb_set_instances",
                                &l,
                                false,
                                d.first().copied().or(Some(u64::MAX)),
                                false,
                            )
                        }
                        LB_STATUS_INVALID_ARGUMENT => {
                            self.ffi
                                .m
                                .set_result("lb_set_instances", &l, false, None, true)
                        }
                        s => violation!("lb_set_instances: unexpected status {s}"),
                    },
                    _ => {}
                }
                if st != LB_STATUS_OK {
                    self.ffi_unchanged(pre, "lb_set_instances");
                }
            }
            3 => {
                let id = if !self.ffi.m.set.is_empty() && r.bool() {
                    self.ffi.m.set[r.u8() as usize % self.ffi.m.set.len()].id
                } else {
                    sel_id(r)
                };
                let score = sel_f64(r);
                expect_status(
                    "lb_set_health_score(NULL)",
                    lb_set_health_score(ptr::null_mut(), id, 0.5),
                    LB_STATUS_NULL_POINTER,
                );
                let valid = score.is_finite() && (0.0..=1.0).contains(&score);
                let known = self.ffi.m.in_set(id);
                let pre = if valid && known {
                    None
                } else {
                    self.ffi_pre(checked, "lb_set_health_score")
                };
                let st = lb_set_health_score(h, id, score);
                trace!("  C set_health_score {id} {score} -> {st}");
                match st {
                    LB_STATUS_OK if valid && known => self.ffi.m.set_external(id, score),
                    LB_STATUS_INVALID_ARGUMENT if !valid => {}
                    LB_STATUS_UNKNOWN_INSTANCE if !known => {}
                    s => violation!("lb_set_health_score({id}, {score}) (known {known}, valid {valid}): status {s}"),
                }
                if st != LB_STATUS_OK {
                    self.ffi_unchanged(pre, "lb_set_health_score");
                }
            }
            4 | 5 => self.ffi_select(r),
            6 => {
                // NULL pointers and impossible counts to the selects.
                let mut out = lb_pick {
                    instance_id: 7,
                    private_: [7; 3],
                };
                expect_status(
                    "lb_select(NULL lb)",
                    lb_select(ptr::null_mut(), &mut out),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_select(NULL out)",
                    lb_select(h, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_select_key(NULL out)",
                    lb_select_key(h, r.u64(), ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_select_key(NULL lb)",
                    lb_select_key(ptr::null_mut(), r.u64(), &mut out),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_select_excluding(NULL out)",
                    lb_select_excluding(h, ptr::null(), 0, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                let mut out = lb_pick {
                    instance_id: 7,
                    private_: [7; 3],
                };
                expect_status(
                    "lb_select_excluding(NULL ids, count > 0)",
                    lb_select_excluding(h, ptr::null(), 1 + r.u8() as usize, &mut out),
                    LB_STATUS_NULL_POINTER,
                );
                if out != lb_pick::default() {
                    violation!(
                        "lb_select_excluding failed (NULL ids) but *out not zeroed: {out:x?}"
                    );
                }
                let ids = [1u64];
                let mut out = lb_pick {
                    instance_id: 7,
                    private_: [7; 3],
                };
                expect_status(
                    "lb_select_excluding(impossible count)",
                    lb_select_excluding(h, ids.as_ptr(), usize::MAX / 4, &mut out),
                    LB_STATUS_INVALID_ARGUMENT,
                );
                if out != lb_pick::default() {
                    violation!("lb_select_excluding failed (impossible count) but *out not zeroed: {out:x?}");
                }
            }
            7 | 8 => self.ffi_report_real(r, checked),
            9 => {
                let pre = self.ffi_pre(checked, "lb_report(NULL)");
                let p = lb_pick::default();
                expect_status(
                    "lb_report(NULL lb)",
                    lb_report(ptr::null_mut(), &p, 0, 0),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_report(NULL pick)",
                    lb_report(h, ptr::null(), 0, 0),
                    LB_STATUS_NULL_POINTER,
                );
                self.ffi_unchanged(pre, "lb_report(NULL)");
                self.ffi_report_bad(r, checked);
            }
            10 => {
                expect_status(
                    "lb_get_stats(NULL lb)",
                    lb_get_stats(ptr::null_mut(), &mut lb_stats::default()),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_stats(NULL out)",
                    lb_get_stats(h, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                let s = self.ffi_stats("lb_get_stats");
                self.ffi_all_health("lb_get_all_health");
                let _ = s;
            }
            11 => {
                let id = if !self.ffi.m.set.is_empty() && r.bool() {
                    self.ffi.m.set[r.u8() as usize % self.ffi.m.set.len()].id
                } else {
                    sel_id(r)
                };
                expect_status(
                    "lb_get_health(NULL lb)",
                    lb_get_health(ptr::null_mut(), id, &mut lb_health::default()),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_health(NULL out)",
                    lb_get_health(h, id, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                let mut b = Buf::new::<lb_health>(1, r.u8() as usize, 0x5A);
                let st = lb_get_health(h, id, b.ptr());
                let now = self.rt();
                if self.ffi.m.in_set(id) {
                    expect_status("lb_get_health", st, LB_STATUS_OK);
                    let hs = Hs::from(&b.read::<lb_health>(0));
                    let (_, per) = self.ffi.m.bounds(now);
                    self.ffi.m.check_one(&hs, &per, now, "lb_get_health");
                } else {
                    expect_status("lb_get_health(unknown id)", st, LB_STATUS_UNKNOWN_INSTANCE);
                }
            }
            12 => {
                let n = self.ffi.m.set.len();
                let mut count = 12345usize;
                expect_status(
                    "lb_get_all_health(NULL lb)",
                    lb_get_all_health(ptr::null_mut(), ptr::null_mut(), 0, &mut count),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_all_health(NULL count)",
                    lb_get_all_health(h, ptr::null_mut(), 0, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_all_health(NULL out, capacity > 0)",
                    lb_get_all_health(h, ptr::null_mut(), 1 + r.u8() as usize, &mut count),
                    LB_STATUS_NULL_POINTER,
                );
                let mut b = Buf::new::<lb_health>(1, 0, 0x77);
                expect_status(
                    "lb_get_all_health(impossible capacity)",
                    lb_get_all_health(h, b.ptr(), usize::MAX / 2, &mut count),
                    LB_STATUS_INVALID_ARGUMENT,
                );
                // Too small (possibly 0 with NULL): nothing written, *count = n.
                let cap = if n == 0 { 0 } else { r.u8() as usize % n };
                let mut b = Buf::new::<lb_health>(cap.max(1), r.u8() as usize, 0x77);
                let before = b.bytes.clone();
                let p: *mut lb_health = if cap == 0 && r.bool() {
                    ptr::null_mut()
                } else {
                    b.ptr()
                };
                count = 12345;
                let st = lb_get_all_health(h, p, cap, &mut count);
                if n == 0 {
                    expect_status("lb_get_all_health(empty set)", st, LB_STATUS_OK);
                } else {
                    expect_status(
                        "lb_get_all_health(too small)",
                        st,
                        LB_STATUS_BUFFER_TOO_SMALL,
                    );
                    if b.bytes != before {
                        violation!("lb_get_all_health: BUFFER_TOO_SMALL but the array was written");
                    }
                }
                if count != n {
                    violation!("lb_get_all_health: *count {count}, the set has {n}");
                }
                // Larger than needed: exactly n written.
                let cap = n + 1 + r.u8() as usize % 3;
                let mut b = Buf::new::<lb_health>(cap, 5, 0x77);
                count = 0;
                expect_status(
                    "lb_get_all_health(large)",
                    lb_get_all_health(h, b.ptr(), cap, &mut count),
                    LB_STATUS_OK,
                );
                let now = self.rt();
                if count != n {
                    violation!("lb_get_all_health: *count {count}, the set has {n}");
                }
                let hs: Vec<Hs> = (0..n).map(|i| Hs::from(&b.read::<lb_health>(i))).collect();
                self.ffi.m.check_health(&hs, None, now, "lb_get_all_health");
                let tail_start = b.off + n * std::mem::size_of::<lb_health>();
                if b.bytes[tail_start..].iter().any(|&x| x != 0x77) {
                    violation!("lb_get_all_health wrote past the {n} entries of the set");
                }
            }
            13 | 14 => self.ffi_set_option(r, checked),
            15 => {
                let id = sel_option_id(r);
                expect_status(
                    "lb_set_option(NULL)",
                    lb_set_option(ptr::null_mut(), 1, 1.0),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_option(NULL lb)",
                    lb_get_option(ptr::null_mut(), 1, &mut 0.0),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_option(NULL value)",
                    lb_get_option(h, 1, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
                let mut b = Buf::new::<f64>(1, r.u8() as usize, 0x11);
                let st = lb_get_option(h, id, b.ptr());
                match opt_of(id) {
                    Some(_) => {
                        expect_status("lb_get_option", st, LB_STATUS_OK);
                        let v: f64 = b.read(0);
                        if v != self.ffi.opts[id as usize] {
                            violation!(
                                "lb_get_option({id}) = {v}, {} expected",
                                self.ffi.opts[id as usize]
                            );
                        }
                    }
                    None => expect_status("lb_get_option(unknown)", st, LB_STATUS_INVALID_ARGUMENT),
                }
                let mut seed = 0;
                expect_status(
                    "lb_get_seed(NULL lb)",
                    lb_get_seed(ptr::null(), &mut seed),
                    LB_STATUS_NULL_POINTER,
                );
                expect_status(
                    "lb_get_seed(NULL seed)",
                    lb_get_seed(h, ptr::null_mut()),
                    LB_STATUS_NULL_POINTER,
                );
            }
            16 => {
                let s = match r.u8() % 3 {
                    0 => r.u8() as u32 % 10,
                    1 => 255,
                    _ => r.u32(),
                };
                let name = status_name(s);
                // Every status lb.h defines has its own text (LB_STATUS_* up to
                // LB_STATUS_IN_FLIGHT_LIMIT = 8, and LB_STATUS_INTERNAL).
                let known = matches!(s, 0..=8 | 255);
                if known == (name == "unknown status") {
                    violation!("lb_status_str({s}) = {name:?}");
                }
                // SAFETY: static NUL-terminated text.
                let v = unsafe { CStr::from_ptr(lb_version()) }
                    .to_string_lossy()
                    .into_owned();
                let want = format!("{LB_VERSION_MAJOR}.{LB_VERSION_MINOR}.{LB_VERSION_PATCH}");
                if v != want {
                    violation!("lb_version() {v:?}, the header says {want:?}");
                }
            }
            _ => {
                // Picks crossing between the C balancer and the Rust one.
                if r.bool() {
                    self.ffi_report_bad(r, checked);
                } else if !self.ffi.m.picks.is_empty() {
                    let i = r.u16() as usize % self.ffi.m.picks.len();
                    let p = self.ffi.m.picks[i].pick;
                    let (o, lat) = (sel_outcome(r), sel_latency(r));
                    self.report_bad(
                        self.lb,
                        p,
                        o,
                        lat,
                        checked,
                        "report of a C ABI pick to the Rust balancer",
                    );
                }
            }
        }
    }

    fn ffi_finish(&mut self) {
        if self.ffi.h.is_null() {
            return;
        }
        let h = self.ffi.h;
        for i in 0..self.ffi.m.picks.len() {
            if self.ffi.m.picks[i].state != PState::Out {
                continue;
            }
            let p = lb_pick::from(self.ffi.m.picks[i].pick);
            let st = lb_report(h, &p, LB_OUTCOME_CANCELLED, 0);
            let now = self.rt();
            match st {
                LB_STATUS_OK => {
                    self.ffi
                        .m
                        .report(i, Outcome::Cancelled, true, now, 0, "final lb_report")
                }
                LB_STATUS_INVALID_PICK => {
                    self.ffi
                        .m
                        .report(i, Outcome::Cancelled, false, now, 0, "final lb_report")
                }
                s => violation!("final lb_report: status {s}"),
            }
        }
        let s = self.ffi_stats("final lb_get_stats");
        self.ffi_all_health("final lb_get_all_health");
        if s.inflight != 0 || s.total != s.succ + s.fail + s.canc {
            violation!("C ABI: every pick settled, yet {s:?}");
        }
        lb_balancer_free(h);
        self.ffi.h = ptr::null_mut();
        self.ffi.m.picks.clear();
    }
}

// ---------------------------------------------------------------------------------

fn run(data: &[u8]) {
    let mut r = Rd::new(data);
    let strategy = Strategy::ALL[(r.u8() as usize) % Strategy::ALL.len()];
    let flags = r.u8();
    let start = match (flags >> 1) & 3 {
        0 => 0,
        1 => 1,
        2 => 1_000_000,
        _ => 1 << 40,
    };
    let pick_timeout_ms = match r.u8() % 8 {
        0 => 0,
        1 => 1,
        2 => 10,
        3 => 1000,
        4 => 60_000,
        _ => 300_000,
    };
    let clock_refresh_ops = match r.u8() % 4 {
        0 => 1,
        1 => 2,
        2 => 16,
        _ => 64,
    };
    // An explicit seed (0 would draw one from entropy), so every run replays.
    let seed = 1 + r.u8() as u64;
    let cfg = Config {
        strategy,
        seed,
        pick_timeout_ms,
        clock_refresh_ops,
        ..Config::default()
    };
    trace!("start: {cfg:?}, clock {start} us");
    let clock = Arc::new(ManualClock::new(start));
    let lb = Balancer::with_clock(cfg.clone(), clock.clone()).expect("a valid config");
    let other = Balancer::with_clock(
        Config {
            seed: seed + 1000,
            ..cfg.clone()
        },
        clock.clone(),
    )
    .expect("a valid config");
    let mut h = H {
        lb: &lb,
        other: &other,
        clock: &clock,
        m: Model::new("balancer", pick_timeout_ms * 1000, true, strategy),
        cfg,
        guards: Vec::new(),
        foreign: Vec::new(),
        observe_each: flags & 1 == 1,
        ffi: Ffi::new(Instant::now()),
        ejections: 0,
    };
    let mut n = 0;
    while r.more() && n < MAX_OPS {
        h.step(&mut r);
        n += 1;
    }
    h.finish();
}

fuzz_target!(|data: &[u8]| {
    run(data);
});
