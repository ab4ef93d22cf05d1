//! Round robin's cycle: which member each position of a weighted cycle belongs to,
//! as a table when the cycle is short and as a stride walk when it is not.

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
pub(crate) fn build_rr_cycle(
    selectable: &[u32],
    weights: &[u32],
) -> (Box<[u32]>, Option<StrideCycle>) {
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
    pub(crate) fn new(selectable: &[u32], weights: &[u32], g: u64) -> StrideCycle {
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
}
