//! The baseline the benchmarks compare lb with: the same four strategies over one
//! `std::sync::Mutex` that guards all balancer state, the way a straightforward
//! design (the original Python one) works. `select` takes the lock once, `report`
//! takes it once. It is written to be reasonably fast, not slowed on purpose:
//! - round robin walks a precomputed weighted cycle;
//! - least connections is one scan over a dense array;
//! - weighted response time draws two candidates from an alias table (rebuilt from
//!   the latency averages every `REFRESH_REPORTS` reports) and takes the one with
//!   the lower latency * (in flight + 1) / weight when their in-flight counts
//!   differ, as lb does;
//! - adaptive dispatches to the strategy it runs now (it starts on weighted response
//!   time, as lb does) and keeps a per-window latency mean.
//!
//! `select_key` (for the keyed benchmarks) looks the key up in a table of Maglev's
//! default size (65,537 slots, filled slot by slot across the instances, made by
//! the first keyed select after a change of the set) and reports like the others.
//!
//! It does no health tracking and no pick expiry, which lb does, so the comparison
//! favours the baseline.

use std::collections::HashMap;
use std::sync::Mutex;

use lb::{Instance, Strategy};

/// Reports between two rebuilds of the weighted-random table.
const REFRESH_REPORTS: u32 = 1024;
/// Reports per adaptive evaluation window.
const ADAPTIVE_WINDOW: u32 = 2000;
/// Smoothing factor of the per-instance latency average.
const EWMA_ALPHA: f64 = 0.1;

/// What `select` hands out: enough for `report` to find the instance again and to
/// refuse a pick made before the set was replaced.
#[derive(Clone, Copy, Debug)]
pub struct BasePick {
    pub instance_id: u64,
    index: u32,
    generation: u64,
}

struct Inst {
    id: u64,
    weight: u32,
    capacity: u32,
    in_flight: u64,
    successes: u64,
    failures: u64,
    latency_ewma_us: f64,
}

struct State {
    strategy: Strategy,
    /// For adaptive: the concrete strategy it runs now.
    active: Strategy,
    generation: u64,
    instances: Vec<Inst>,
    rr_table: Vec<u32>,
    rr_cursor: usize,
    /// Keyed selection's table: slot -> instance index.
    key_table: Vec<u32>,
    /// Alias table: (threshold in [0, 2^32), alias index) per position.
    alias: Vec<(u32, u32)>,
    reports_since_refresh: u32,
    rng: u64,
    window_reports: u32,
    window_latency_sum: f64,
    window_means: [f64; 3],
    total_successes: u64,
    total_failures: u64,
}

pub struct MutexBalancer {
    state: Mutex<State>,
}

impl MutexBalancer {
    pub fn new(strategy: Strategy) -> MutexBalancer {
        MutexBalancer {
            state: Mutex::new(State {
                strategy,
                active: match strategy {
                    Strategy::Adaptive => Strategy::WeightedResponseTime,
                    s => s,
                },
                generation: 0,
                instances: Vec::new(),
                rr_table: Vec::new(),
                rr_cursor: 0,
                key_table: Vec::new(),
                alias: Vec::new(),
                reports_since_refresh: 0,
                rng: 0x9E37_79B9_7F4A_7C15,
                window_reports: 0,
                window_latency_sum: 0.0,
                window_means: [0.0; 3],
                total_successes: 0,
                total_failures: 0,
            }),
        }
    }

    /// Replaces the set; ids that stay keep their counters.
    pub fn set_instances(&self, set: &[Instance]) {
        let mut st = self.state.lock().unwrap();
        let old: HashMap<u64, usize> = st
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.id, i))
            .collect();
        let mut instances = Vec::with_capacity(set.len());
        for i in set {
            let (in_flight, successes, failures, latency) = match old.get(&i.id) {
                Some(&k) => {
                    let o = &st.instances[k];
                    (o.in_flight, o.successes, o.failures, o.latency_ewma_us)
                }
                None => (0, 0, 0, 0.0),
            };
            instances.push(Inst {
                id: i.id,
                weight: i.weight,
                capacity: i.capacity,
                in_flight,
                successes,
                failures,
                latency_ewma_us: latency,
            });
        }
        st.instances = instances;
        st.generation += 1;
        st.rr_table = build_rr_table(&st.instances);
        st.rr_cursor = 0;
        // Keyed selection's table is made by the first keyed select after a change,
        // so replacing the set costs no more for the plain strategies than they need.
        st.key_table.clear();
        st.rebuild_alias();
    }

    /// A keyed select: the key's slot in the table (fmix64, multiply-shift), or
    /// the next slot while its instance is at capacity (benches/hashing.rs).
    #[allow(dead_code)]
    pub fn select_key(&self, key: u64) -> Option<BasePick> {
        let mut st = self.state.lock().unwrap();
        let n = st.instances.len() as u32;
        if n == 0 {
            return None;
        }
        if st.key_table.is_empty() {
            st.key_table = (0..65_537u32).map(|s| s % n).collect();
        }
        let len = st.key_table.len();
        let mut k = key;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^= k >> 33;
        let slot = ((k as u128 * len as u128) >> 64) as usize;
        let idx = (0..st.instances.len())
            .map(|step| st.key_table[(slot + step) % len] as usize)
            .find(|&i| {
                let inst = &st.instances[i];
                inst.capacity == 0 || inst.in_flight < inst.capacity as u64
            })?;
        let inst = &mut st.instances[idx];
        inst.in_flight += 1;
        Some(BasePick {
            instance_id: inst.id,
            index: idx as u32,
            generation: st.generation,
        })
    }

    pub fn select(&self) -> Option<BasePick> {
        let mut st = self.state.lock().unwrap();
        let n = st.instances.len();
        if n == 0 {
            return None;
        }
        let idx = match st.active {
            Strategy::RoundRobin => st.pick_round_robin(),
            Strategy::LeastConnections => st.pick_least_connections(),
            _ => st.pick_weighted_random(),
        }?;
        let inst = &mut st.instances[idx];
        inst.in_flight += 1;
        Some(BasePick {
            instance_id: inst.id,
            index: idx as u32,
            generation: st.generation,
        })
    }

    /// False for a pick this balancer cannot match to an instance (a detected
    /// second report). A pick whose instance was removed counts in the totals only.
    pub fn report(&self, pick: &BasePick, success: bool, latency_us: u64) -> bool {
        let mut st = self.state.lock().unwrap();
        let idx = if pick.generation == st.generation {
            pick.index as usize
        } else {
            match st.instances.iter().position(|i| i.id == pick.instance_id) {
                Some(i) => i,
                None => {
                    // Its instance was removed: the request still counts in the
                    // totals, as in lb.
                    if success {
                        st.total_successes += 1;
                    } else {
                        st.total_failures += 1;
                    }
                    return true;
                }
            }
        };
        let Some(inst) = st.instances.get_mut(idx) else {
            return false;
        };
        if inst.id != pick.instance_id || inst.in_flight == 0 {
            return false;
        }
        inst.in_flight -= 1;
        let lat = latency_us as f64;
        if success {
            inst.successes += 1;
        } else {
            inst.failures += 1;
        }
        inst.latency_ewma_us = if inst.latency_ewma_us == 0.0 {
            lat
        } else {
            inst.latency_ewma_us + EWMA_ALPHA * (lat - inst.latency_ewma_us)
        };
        if success {
            st.total_successes += 1;
        } else {
            st.total_failures += 1;
        }
        st.reports_since_refresh += 1;
        if st.reports_since_refresh >= REFRESH_REPORTS {
            st.reports_since_refresh = 0;
            st.rebuild_alias();
        }
        if st.strategy == Strategy::Adaptive {
            st.window_reports += 1;
            st.window_latency_sum += lat;
            if st.window_reports >= ADAPTIVE_WINDOW {
                st.end_window();
            }
        }
        true
    }

    /// Successes and failures counted so far, ever.
    pub fn totals(&self) -> (u64, u64) {
        let st = self.state.lock().unwrap();
        (st.total_successes, st.total_failures)
    }
}

impl State {
    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    fn has_room(&self, idx: usize) -> bool {
        let i = &self.instances[idx];
        i.capacity == 0 || i.in_flight < i.capacity as u64
    }

    fn pick_round_robin(&mut self) -> Option<usize> {
        let len = self.rr_table.len();
        for _ in 0..len {
            let idx = self.rr_table[self.rr_cursor] as usize;
            self.rr_cursor += 1;
            if self.rr_cursor == len {
                self.rr_cursor = 0;
            }
            if self.has_room(idx) {
                return Some(idx);
            }
        }
        None
    }

    fn pick_least_connections(&mut self) -> Option<usize> {
        let n = self.instances.len();
        let start = self.below(n);
        let mut best: Option<(usize, u64, u64)> = None;
        for k in 0..n {
            let i = if start + k < n {
                start + k
            } else {
                start + k - n
            };
            let inst = &self.instances[i];
            if inst.capacity != 0 && inst.in_flight >= inst.capacity as u64 {
                continue;
            }
            let w = inst.weight as u64;
            let better = match best {
                None => true,
                Some((_, bl, bw)) => inst.in_flight * bw < bl * w,
            };
            if better {
                best = Some((i, inst.in_flight, w));
            }
        }
        best.map(|(i, _, _)| i)
    }

    fn alias_draw(&mut self) -> usize {
        let r = self.next_u64();
        let n = self.alias.len() as u64;
        let pos = (((r & 0xffff_ffff) * n) >> 32) as usize;
        let (threshold, alias) = self.alias[pos];
        if ((r >> 32) as u32) < threshold {
            pos
        } else {
            alias as usize
        }
    }

    /// Expected cost of sending one more request: latency * (in flight + 1) / weight.
    fn cost(&self, idx: usize, fallback_latency: f64) -> f64 {
        let i = &self.instances[idx];
        let lat = if i.latency_ewma_us > 0.0 {
            i.latency_ewma_us
        } else {
            fallback_latency
        };
        lat * (i.in_flight + 1) as f64 / i.weight as f64
    }

    /// Two draws by weight; the one with the lower expected cost when their
    /// in-flight counts differ, else the first (as lb's weighted response time).
    fn pick_weighted_random(&mut self) -> Option<usize> {
        let n = self.alias.len();
        for _ in 0..2 {
            let a = self.alias_draw();
            let mut b = self.alias_draw();
            if a == b && n > 1 {
                b = self.alias_draw();
            }
            let (fa, fb) = (self.instances[a].in_flight, self.instances[b].in_flight);
            let (first, second) = if fa != fb && self.cost(b, 1000.0) < self.cost(a, 1000.0) {
                (b, a)
            } else {
                (a, b)
            };
            if self.has_room(first) {
                return Some(first);
            }
            if self.has_room(second) {
                return Some(second);
            }
        }
        self.pick_round_robin()
    }

    /// Weights: weight / latency average (instances without samples get the mean
    /// of the others), then Vose's alias method.
    fn rebuild_alias(&mut self) {
        let n = self.instances.len();
        self.alias.clear();
        if n == 0 {
            return;
        }
        let known: Vec<f64> = self
            .instances
            .iter()
            .map(|i| i.latency_ewma_us)
            .filter(|&l| l > 0.0)
            .collect();
        let fallback = if known.is_empty() {
            1.0
        } else {
            known.iter().sum::<f64>() / known.len() as f64
        };
        let weights: Vec<f64> = self
            .instances
            .iter()
            .map(|i| {
                let l = if i.latency_ewma_us > 0.0 {
                    i.latency_ewma_us
                } else {
                    fallback
                };
                i.weight as f64 / l.max(1.0)
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        let mut probs: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        self.alias = (0..n).map(|i| (u32::MAX, i as u32)).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| probs[i] < 1.0);
        while let (Some(s), Some(l)) = (small.pop(), large.pop()) {
            let t = (probs[s] * 4_294_967_296.0).min(u32::MAX as f64) as u32;
            self.alias[s] = (t, l as u32);
            probs[l] += probs[s] - 1.0;
            if probs[l] < 1.0 {
                small.push(l);
            } else {
                large.push(l);
            }
        }
    }

    /// Adaptive: records the window's mean latency for the running strategy and
    /// moves to another whose last window was more than 10% better.
    fn end_window(&mut self) {
        let mean = self.window_latency_sum / self.window_reports as f64;
        self.window_reports = 0;
        self.window_latency_sum = 0.0;
        let slot = |s: Strategy| match s {
            Strategy::RoundRobin => 0,
            Strategy::LeastConnections => 1,
            _ => 2,
        };
        self.window_means[slot(self.active)] = mean;
        let concrete = [
            Strategy::RoundRobin,
            Strategy::LeastConnections,
            Strategy::WeightedResponseTime,
        ];
        for s in concrete {
            let m = self.window_means[slot(s)];
            if m > 0.0 && m < mean * 0.9 {
                self.active = s;
                break;
            }
        }
    }
}

/// A weighted cycle in which each instance appears `weight` times (weights divided
/// by their common divisor), interleaved rather than in runs.
fn build_rr_table(instances: &[Inst]) -> Vec<u32> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = instances
        .iter()
        .fold(0u64, |g, i| gcd(g, i.weight as u64))
        .max(1);
    let mut turns: Vec<(f64, u32)> = Vec::new();
    for (k, i) in instances.iter().enumerate() {
        let w = (i.weight as u64 / g).max(1);
        for j in 0..w {
            turns.push(((j as f64 + 0.5) / w as f64, k as u32));
        }
    }
    turns.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    turns.into_iter().map(|(_, k)| k).collect()
}
