//! The instance set as readers see it: membership, weights, the health view and the
//! selection tables in one immutable value, published atomically. A reader that loads
//! one snapshot never sees half an update.

use crate::config::Config;
use crate::instance::{InstanceState, LatencyDecay, HEALTHY, PROBATION};
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{Arc, AtomicU64, Ordering};

/// One instance of the set: what the caller configured plus its live state.
#[derive(Clone)]
pub(crate) struct Member {
    pub id: u64,
    pub weight: u32,
    pub capacity: u32,
    pub state: Arc<InstanceState>,
    /// Health lets it be picked (the view this snapshot was built with).
    pub healthy: bool,
}

/// What least connections reads of one selectable member, packed together so a scan
/// walks one array and one hot cache line per member.
pub(crate) struct ScanEntry {
    pub state: Arc<InstanceState>,
    pub weight: u32,
    pub capacity: u32,
    /// Index into `members`.
    pub member: u32,
}

pub(crate) struct Snapshot {
    pub generation: u64,
    pub members: Box<[Member]>,
    /// (id, index) sorted by id, to find a member by id in O(log n).
    by_id: Box<[(u64, u32)]>,
    /// Indices into `members` that may be picked: the healthy ones, or all of them
    /// in panic mode.
    pub selectable: Box<[u32]>,
    /// The selectable members as least connections scans them: one dense entry each.
    pub scan: Box<[ScanEntry]>,
    /// The round-robin cycle over `selectable`, each index appearing `weight` times,
    /// spread out (see `build_rr_table`); empty when the cycle is too long for a
    /// table, and then `rr_stride` holds it.
    pub rr_table: Box<[u32]>,
    /// The round-robin cycle when the weights add up to more than `RR_TABLE_MAX`.
    pub rr_stride: Option<StrideCycle>,
    /// Weighted-random table over `selectable` positions.
    pub wrt: AliasTable,
    /// Indices of members on probation (trial traffic only).
    pub trial: Box<[u32]>,
    pub panic: bool,
    pub healthy_count: u32,
    /// The configuration in force, copied here so the request path reads no lock.
    pub cfg: Config,
    /// The latency time constant, precomputed for the report path.
    pub decay: LatencyDecay,
}

impl Snapshot {
    pub(crate) fn empty(cfg: Config) -> Snapshot {
        Snapshot::build(0, Vec::new(), cfg)
    }

    /// Builds a snapshot, taking the health view from the members' live state.
    pub(crate) fn build(generation: u64, mut members: Vec<Member>, cfg: Config) -> Snapshot {
        let mut healthy_count = 0u32;
        for m in members.iter_mut() {
            let kind = m.state.health_kind();
            let external = m.state.external_score.load(Ordering::Acquire);
            m.healthy = kind == HEALTHY && external >= cfg.unhealthy_threshold;
            healthy_count += m.healthy as u32;
        }
        let n = members.len();
        let panic = n > 0 && (healthy_count as f64) < cfg.panic_threshold * n as f64;
        let selectable: Box<[u32]> = (0..n as u32)
            .filter(|&i| panic || members[i as usize].healthy)
            .collect();
        let trial: Box<[u32]> = if panic {
            Box::new([])
        } else {
            (0..n as u32)
                .filter(|&i| {
                    let s = &members[i as usize].state;
                    s.health_kind() == PROBATION
                        && s.external_score.load(Ordering::Acquire) >= cfg.unhealthy_threshold
                })
                .collect()
        };
        let weights: Vec<u32> = selectable
            .iter()
            .map(|&i| members[i as usize].weight)
            .collect();
        let (rr_table, rr_stride) = build_rr_cycle(&selectable, &weights);
        let scan: Box<[ScanEntry]> = selectable
            .iter()
            .map(|&i| {
                let m = &members[i as usize];
                ScanEntry {
                    state: Arc::clone(&m.state),
                    weight: m.weight,
                    capacity: m.capacity,
                    member: i,
                }
            })
            .collect();
        #[cfg(loom)]
        let rr_table = if fault::on(&fault::RR_TABLE_PER_GENERATION) && !rr_table.is_empty() {
            let mut t = rr_table.into_vec();
            let k = generation as usize % t.len();
            t.rotate_left(k);
            t.into_boxed_slice()
        } else {
            rr_table
        };
        let mut by_id: Vec<(u64, u32)> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id, i as u32))
            .collect();
        by_id.sort_unstable();
        let wrt = AliasTable::new(selectable.len());
        // The alias table starts uniform; the balancer fills in weighted response
        // time's weights before it publishes the snapshot (the snapshot does not
        // know how a strategy weighs its members).
        Snapshot {
            generation,
            members: members.into_boxed_slice(),
            by_id: by_id.into_boxed_slice(),
            selectable,
            scan,
            rr_table,
            rr_stride,
            wrt,
            trial,
            panic,
            healthy_count,
            decay: LatencyDecay::new(cfg.latency_tau_ms),
            cfg,
        }
    }

    pub(crate) fn index_of(&self, id: u64) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&(k, _)| k)
            .ok()
            .map(|pos| self.by_id[pos].1 as usize)
    }

    pub(crate) fn member(&self, id: u64) -> Option<&Member> {
        self.index_of(id).map(|i| &self.members[i])
    }
}

/// Reusable buffers for the maintenance pass, so it allocates only when the set grows.
#[derive(Default)]
pub(crate) struct Scratch {
    pub floats: Vec<f64>,
    pub probs: Vec<f64>,
    pub small: Vec<u32>,
    pub large: Vec<u32>,
}

/// Longest round-robin cycle kept as a table (256 KiB); longer cycles are walked by
/// `StrideCycle` instead, with the same exact shares.
const RR_TABLE_MAX: u64 = 1 << 16;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The round-robin cycle for these weights: a table when it is short enough, a
/// stride walk otherwise. Either way each member gets exactly its weight (divided
/// by the weights' common divisor) per cycle.
fn build_rr_cycle(selectable: &[u32], weights: &[u32]) -> (Box<[u32]>, Option<StrideCycle>) {
    let g = weights.iter().fold(0u64, |g, &w| gcd(g, w as u64)).max(1);
    let total: u64 = weights.iter().map(|&w| w as u64 / g).sum();
    if total <= RR_TABLE_MAX {
        return (build_rr_table(selectable, weights, g, total), None);
    }
    (Box::new([]), Some(StrideCycle::new(selectable, weights, g)))
}

/// A smooth weighted cycle: instance k's j-th turn falls at (j + phase_k) / w_k, and
/// the turns are sorted by that time. The phases are spread by the golden ratio so
/// that equal-weight instances interleave with a heavy one instead of bunching, and
/// a weight-5 instance is spread through the cycle rather than picked five times in a
/// row. Equal weights give each instance exactly once per cycle.
fn build_rr_table(selectable: &[u32], weights: &[u32], g: u64, total: u64) -> Box<[u32]> {
    if selectable.is_empty() {
        return Box::new([]);
    }
    if total == selectable.len() as u64 {
        // Equal weights: every member once per cycle, in set order (no sort).
        return selectable.into();
    }
    let mut turns: Vec<(f64, u32)> = Vec::with_capacity(total as usize);
    for (k, (&idx, &w)) in selectable.iter().zip(weights).enumerate() {
        let w = w as u64 / g;
        let phase = ((k as f64 + 1.0) * 0.618_033_988_749_894_8).fract();
        for j in 0..w {
            turns.push(((j as f64 + phase) / w as f64, idx));
        }
    }
    turns.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    turns.into_iter().map(|(_, i)| i).collect()
}

/// A round-robin cycle too long for a table: the cycle's `total` positions are
/// split into one run per member, as long as its weight, and a thread walks them
/// with a step coprime to `total`, so every position (and so every member, exactly
/// its weight) comes once per cycle, with the visits of each member spread through
/// it. A pick is a binary search over the runs' ends: O(log n), only for sets whose
/// weights add up to more than `RR_TABLE_MAX`.
pub(crate) struct StrideCycle {
    /// End (exclusive) of each member's run of positions, ascending.
    ends: Box<[u64]>,
    /// The member index of each run.
    pub members: Box<[u32]>,
    pub total: u64,
    pub step: u64,
}

impl StrideCycle {
    fn new(selectable: &[u32], weights: &[u32], g: u64) -> StrideCycle {
        let mut end = 0u64;
        let ends: Box<[u64]> = weights
            .iter()
            .map(|&w| {
                end += w as u64 / g;
                end
            })
            .collect();
        let total = end;
        // A step near total / golden ratio scatters consecutive picks across the
        // runs (the three-gap theorem keeps each member's visits evenly spaced).
        let mut step = ((total as f64 * 0.618_033_988_749_894_8) as u64).clamp(1, total - 1);
        while gcd(step, total) != 1 {
            step += 1;
        }
        StrideCycle {
            ends,
            members: selectable.into(),
            total,
            step,
        }
    }

    /// The member index at cycle position `pos` (< total).
    #[inline]
    pub(crate) fn member_at(&self, pos: u64) -> usize {
        let run = self.ends.partition_point(|&e| e <= pos);
        self.members[run.min(self.members.len() - 1)] as usize
    }

    /// The position after `pos`.
    #[inline]
    pub(crate) fn next(&self, pos: u64) -> u64 {
        let p = pos + self.step;
        if p >= self.total {
            p - self.total
        } else {
            p
        }
    }
}

/// Vose's alias method: an O(1) weighted random pick. Each entry packs the threshold
/// (high 32 bits) and the alias (low 32 bits) in one atomic word, so the maintenance
/// pass can rewrite the weights in place while readers pick: a reader may mix old and
/// new entries for a moment, which only skews one pick slightly and is always a valid
/// index.
pub(crate) struct AliasTable {
    entries: Box<[AtomicU64]>,
}

impl AliasTable {
    fn new(n: usize) -> AliasTable {
        AliasTable {
            entries: (0..n)
                .map(|i| AtomicU64::new((u32::MAX as u64) << 32 | i as u64))
                .collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A position in `0..len()` drawn with the table's weights; `len()` must be > 0.
    #[inline]
    pub(crate) fn pick(&self, r: u64) -> usize {
        let n = self.entries.len() as u64;
        let pos = (((r & 0xffff_ffff) * n) >> 32) as usize;
        let e = self.entries[pos].load(Ordering::Relaxed);
        if ((r >> 32) as u32) < (e >> 32) as u32 {
            pos
        } else {
            (e & 0xffff_ffff) as usize
        }
    }

    /// Rewrites the table for `weights` (one per position; non-finite or negative
    /// count as 0; all zero means uniform).
    pub(crate) fn rebuild(&self, weights: &[f64], scratch: &mut Scratch) {
        let n = self.entries.len();
        debug_assert_eq!(weights.len(), n);
        if n == 0 {
            return;
        }
        let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let sum: f64 = weights.iter().map(|&w| clean(w)).sum();
        scratch.probs.clear();
        if sum <= 0.0 || !sum.is_finite() {
            scratch.probs.resize(n, 1.0);
        } else {
            scratch
                .probs
                .extend(weights.iter().map(|&w| clean(w) * n as f64 / sum));
        }
        scratch.small.clear();
        scratch.large.clear();
        for (i, &p) in scratch.probs.iter().enumerate() {
            if p < 1.0 {
                scratch.small.push(i as u32);
            } else {
                scratch.large.push(i as u32);
            }
        }
        while let (Some(&s), Some(&l)) = (scratch.small.last(), scratch.large.last()) {
            scratch.small.pop();
            scratch.large.pop();
            let ps = scratch.probs[s as usize];
            let threshold = (ps * 4_294_967_296.0).min(u32::MAX as f64) as u64;
            self.entries[s as usize].store(threshold << 32 | l as u64, Ordering::Relaxed);
            let pl = scratch.probs[l as usize] + ps - 1.0;
            scratch.probs[l as usize] = pl;
            if pl < 1.0 {
                scratch.small.push(l);
            } else {
                scratch.large.push(l);
            }
        }
        for &i in scratch.small.iter().chain(scratch.large.iter()) {
            self.entries[i as usize].store((u32::MAX as u64) << 32 | i as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table(sel: &[u32], weights: &[u32]) -> Box<[u32]> {
        let (t, stride) = build_rr_cycle(sel, weights);
        assert!(stride.is_none());
        t
    }

    #[test]
    fn equal_weights_cycle_once_each() {
        let sel: Vec<u32> = (0..7).collect();
        let t = table(&sel, &[1; 7]);
        let mut seen = t.to_vec();
        seen.sort();
        assert_eq!(seen, sel);
    }

    #[test]
    fn heavy_weight_is_spread_through_the_cycle() {
        let t = table(&[0, 1, 2, 3, 4], &[5, 1, 1, 1, 1]);
        assert_eq!(t.len(), 9);
        assert_eq!(t.iter().filter(|&&i| i == 0).count(), 5);
        // Never more than two picks of the heavy instance in a row, around the cycle too.
        for k in 0..t.len() {
            let run = (0..3).all(|d| t[(k + d) % t.len()] == 0);
            assert!(!run, "three in a row at {k}: {t:?}");
        }
    }

    #[test]
    fn huge_weights_keep_exact_shares_in_a_stride_cycle() {
        let sel: Vec<u32> = (0..4).collect();
        let weights = [u32::MAX, u32::MAX / 2, 1, 7];
        let (t, stride) = build_rr_cycle(&sel, &weights);
        assert!(t.is_empty());
        let c = stride.unwrap();
        assert_eq!(c.total, weights.iter().map(|&w| w as u64).sum::<u64>());
        assert_eq!(gcd(c.step, c.total), 1);
        // Exact shares over a smaller cycle that is walked whole.
        let weights = [40_000, 30_000, 1, 7];
        let (_, stride) = build_rr_cycle(&sel, &weights);
        let c = stride.unwrap();
        let mut counts = [0u64; 4];
        let mut pos = 0;
        for _ in 0..c.total {
            counts[c.member_at(pos)] += 1;
            pos = c.next(pos);
        }
        assert_eq!(pos, 0, "a whole cycle returns to its start");
        assert_eq!(counts, [40_000, 30_000, 1, 7]);
    }

    #[test]
    fn alias_table_follows_weights() {
        let table = AliasTable::new(4);
        let mut scratch = Scratch::default();
        table.rebuild(&[1.0, 2.0, 3.0, 4.0], &mut scratch);
        let mut counts = [0u64; 4];
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            counts[table.pick(x)] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let want = 400_000.0 * (i as f64 + 1.0) / 10.0;
            assert!((c as f64 - want).abs() / want < 0.02, "{counts:?}");
        }
    }
}
