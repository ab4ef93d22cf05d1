//! A consistent-hashing ring (Karger et al., "Consistent Hashing and Random
//! Trees", STOC 1997), with Envoy's ring hash options (a minimum and a maximum
//! number of points, by default 1,024 and 8M): each node owns points on a 64-bit
//! circle, and a key goes to the first point at or after its hash. Where a
//! node's points lie depends only on its id, and each node has the same number
//! of points per unit of weight, a power of two that changes only when the set's
//! total weight crosses one (see `build`): so a change of membership moves only
//! the keys of the points that came or went.
//!
//! Pure and deterministic: the ring depends only on the set of (id, weight)
//! pairs and the two size bounds, never on the order the nodes are given in or on
//! any seed of the balancer, so every process that sees the same set maps a key
//! to the same node.

use crate::hash::{hash_id, mix_key};

/// Seed of `hash_id` for a node's points: replica r of node `id` sits at
/// `hash_id(id, SEED_RING ^ r)`. Fixed for 1.x: changing it remaps every key.
/// (For one id, distinct seeds give distinct hashes: XXH3 of 8 bytes is a
/// bijection of the input keyed by the seed, so a node's points never collide.)
const SEED_RING: u64 = 0x7269_6e67_6861_7368; // "ringhash"

/// A ring: points sorted by hash (then by node id, so that ties, which need a
/// 64-bit collision between two nodes, are broken the same way everywhere), each
/// with the position of its node in the `nodes` slice the ring was built from.
pub(crate) struct HashRing {
    points: Box<[(u64, u32)]>,
}

/// The exponent e of a set of `total` weight: node i gets w_i x 2^e points (see
/// `points`), e the least with total x 2^e >= min_size, then lowered while
/// total x 2^e > max_size. Negative when the weights sum past min_size.
fn scale_exponent(total: u64, min_size: u64, max_size: u64) -> i32 {
    let at = |e: i32| -> u128 {
        if e >= 0 {
            (total as u128) << e
        } else {
            (total as u128) >> (-e)
        }
    };
    let mut e: i32 = 0;
    while at(e) < min_size as u128 {
        e += 1;
    }
    while e > -63 && at(e - 1) >= min_size as u128 {
        e -= 1;
    }
    while e > -63 && at(e) > max_size as u128 {
        e -= 1;
    }
    e
}

/// A node of weight `w`'s points at exponent `e`: w x 2^e, rounded to the
/// nearest and at least one when e is negative.
fn points(w: u64, e: i32) -> u64 {
    if e >= 0 {
        w << e
    } else {
        ((w + (1 << (-e - 1))) >> (-e)).max(1)
    }
}

impl HashRing {
    /// Builds the ring for `nodes` ((id, weight >= 1), ids distinct, any order),
    /// with `1 <= min_size <= max_size` (the caller validates).
    ///
    /// Sizing: node i gets w_i x 2^e points, 2^e the least power of two (e may
    /// be negative) that gives the ring at least `min_size` points in all, lower
    /// if that would pass `max_size`; for negative e the products are rounded, at
    /// least one point each. So the ring has between min_size and about twice it
    /// (plus a point for each very light node), whatever the weights. Envoy sizes
    /// by shares of the total weight instead, so that a node's count moves
    /// whenever any node comes or goes, and keys move between nodes that stayed;
    /// with a power of two they move only when the total weight crosses
    /// min_size / 2^e (halving or doubling every node's points).
    pub(crate) fn build(nodes: &[(u64, u32)], min_size: u64, max_size: u64) -> HashRing {
        if nodes.is_empty() {
            return HashRing {
                points: Box::new([]),
            };
        }
        debug_assert!(
            1 <= min_size && min_size <= max_size,
            "{min_size} {max_size}"
        );
        let weight = |w: u32| {
            debug_assert!(w >= 1, "weight 0");
            w.max(1) as u64
        };
        let total: u64 = nodes.iter().map(|&(_, w)| weight(w)).sum();
        let e = scale_exponent(total, min_size, max_size);
        let counts: Vec<u64> = nodes.iter().map(|&(_, w)| points(weight(w), e)).collect();
        HashRing::with_counts(nodes, &counts)
    }

    /// The ring with `counts[i]` points for node i: replicas 0..counts[i].
    fn with_counts(nodes: &[(u64, u32)], counts: &[u64]) -> HashRing {
        debug_assert_eq!(nodes.len(), counts.len());
        debug_assert!(nodes.len() < u32::MAX as usize);
        let mut points: Vec<(u64, u32)> = Vec::with_capacity(counts.iter().sum::<u64>() as usize);
        for (position, (&(id, _), &count)) in nodes.iter().zip(counts).enumerate() {
            points.extend((0..count).map(|r| (hash_id(id, SEED_RING ^ r), position as u32)));
        }
        // (hash, id) is unique (a node's own points never collide), so the
        // order, and so the ring, is the same whatever order the nodes came in.
        points.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| nodes[a.1 as usize].0.cmp(&nodes[b.1 as usize].0))
        });
        debug_assert!(
            points
                .windows(2)
                .all(|w| w[0].0 != w[1].0 || nodes[w[0].1 as usize].0 != nodes[w[1].1 as usize].0),
            "node ids must be distinct"
        );
        HashRing {
            points: points.into_boxed_slice(),
        }
    }

    /// Points on the ring; 0 when it was built from no nodes.
    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }

    /// The point `key` lands on: the first whose hash is >= mix_key(key),
    /// wrapping to the first point past the largest (binary search, O(log len)).
    /// None for an empty ring.
    #[inline]
    pub(crate) fn slot(&self, key: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let mixed = mix_key(key);
        // The first point with hash >= mixed: a binary search written out (no
        // call, no panic site: the request path's unguarded common case runs it).
        let (mut lo, mut hi) = (0usize, self.points.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.points.get(mid) {
                Some(&(h, _)) if h < mixed => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Some(if lo == self.points.len() { 0 } else { lo })
    }

    /// The node position of point `slot` (< len).
    #[inline]
    pub(crate) fn entry(&self, slot: usize) -> u32 {
        // No panic site (the request path's unguarded common case reads it): a
        // slot past the end names no node.
        self.points.get(slot).map_or(u32::MAX, |p| p.1)
    }

    /// The node of the point `step` places after `slot` clockwise, wrapping
    /// (`step` 0 is `slot` itself): what a caller walks when the key's own node
    /// cannot take the request. Neighbouring points may belong to the same node;
    /// the caller skips the ones it has tried.
    #[inline]
    pub(crate) fn entry_after(&self, slot: usize, step: usize) -> u32 {
        let len = self.points.len();
        self.points[(slot % len + step % len) % len].1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Envoy's defaults.
    const MIN: u64 = 1024;
    const MAX: u64 = 8 * 1024 * 1024;
    const KEYS: u64 = 100_000;

    fn equal(n: u64) -> Vec<(u64, u32)> {
        (1..=n).map(|id| (id, 1)).collect()
    }

    /// The id each key maps to.
    fn owners(r: &HashRing, nodes: &[(u64, u32)], keys: u64) -> Vec<u64> {
        (0..keys)
            .map(|k| nodes[r.entry(r.slot(k).unwrap()) as usize].0)
            .collect()
    }

    /// Each point as (hash, id).
    fn point_ids(r: &HashRing, nodes: &[(u64, u32)]) -> Vec<(u64, u64)> {
        r.points
            .iter()
            .map(|&(h, p)| (h, nodes[p as usize].0))
            .collect()
    }

    /// The largest |share / expected - 1| over the nodes, for keys 0..KEYS.
    fn worst_share_error(nodes: &[(u64, u32)], min: u64) -> f64 {
        let r = HashRing::build(nodes, min, MAX);
        let total: u64 = nodes.iter().map(|&(_, w)| w as u64).sum();
        let mut counts = vec![0u64; nodes.len()];
        for k in 0..KEYS {
            counts[r.entry(r.slot(k).unwrap()) as usize] += 1;
        }
        nodes
            .iter()
            .zip(&counts)
            .map(|(&(_, w), &c)| {
                let expected = KEYS as f64 * w as f64 / total as f64;
                (c as f64 / expected - 1.0).abs()
            })
            .fold(0.0, f64::max)
    }

    /// Keys that changed node though their node is in both sets.
    fn extra_moves(before: &[u64], after: &[u64], gone: u64) -> usize {
        before
            .iter()
            .zip(after)
            .filter(|&(&b, &a)| b != gone && b != a)
            .count()
    }

    #[test]
    fn input_order_does_not_matter() {
        let nodes: Vec<(u64, u32)> = (1..=50)
            .map(|id| (id * 7919, (id % 4 + 1) as u32))
            .collect();
        let mut shuffled = nodes.clone();
        let mut rng = fastrand::Rng::with_seed(12);
        rng.shuffle(&mut shuffled);
        assert_ne!(shuffled, nodes);
        let a = HashRing::build(&nodes, MIN, MAX);
        let b = HashRing::build(&shuffled, MIN, MAX);
        assert_eq!(point_ids(&a, &nodes), point_ids(&b, &shuffled));
        assert!(
            a.points.windows(2).all(|w| w[0].0 <= w[1].0),
            "sorted by hash"
        );
    }

    /// Pinned for 1.x: a change here remaps keys for every deployment.
    #[test]
    fn pinned_mapping() {
        let nodes = equal(5);
        let r = HashRing::build(&nodes, MIN, MAX);
        assert_eq!(r.len(), 5 * 256);
        assert_eq!(owners(&r, &nodes, 16), PINNED_EQUAL);

        let nodes = [(10, 1), (20, 2), (30, 3)];
        let r = HashRing::build(&nodes, MIN, MAX);
        assert_eq!(r.len(), 6 * 256);
        assert_eq!(owners(&r, &nodes, 16), PINNED_WEIGHTED);
    }

    const PINNED_EQUAL: [u64; 16] = [2, 5, 3, 5, 4, 5, 4, 3, 3, 2, 4, 4, 4, 3, 3, 4];
    const PINNED_WEIGHTED: [u64; 16] = [
        10, 30, 10, 20, 20, 30, 10, 10, 10, 20, 20, 20, 20, 20, 10, 30,
    ];

    #[test]
    fn sizes_are_a_power_of_two_per_unit_of_weight() {
        let counts = |nodes: &[(u64, u32)], min, max| {
            let r = HashRing::build(nodes, min, max);
            let mut c = vec![0u64; nodes.len()];
            for s in 0..r.len() {
                c[r.entry(s) as usize] += 1;
            }
            c
        };
        // Total weight 10: ceil(1024 / 10) = 103 -> 128 points per unit.
        let weighted = [(1, 1), (2, 2), (3, 3), (4, 4)];
        assert_eq!(counts(&weighted, MIN, MAX), [128, 256, 384, 512]);
        // Nine or eleven equal nodes keep 128 each; five get 256.
        assert_eq!(counts(&equal(9), MIN, MAX), [128; 9]);
        assert_eq!(counts(&equal(11), MIN, MAX), [128; 11]);
        assert_eq!(counts(&equal(5), MIN, MAX), [256; 5]);
        // Capped by max_size: 16 x 10 > 95, so 8 per unit (80 points).
        assert_eq!(counts(&weighted, 95, 95), [8, 16, 24, 32]);
        // Weights summing past min_size are scaled down by a power of two,
        // rounded, at least one point each.
        assert_eq!(counts(&[(1, 1), (2, 1000)], 1, 10), [1, 2]);
        assert_eq!(
            counts(&[(1, u32::MAX), (2, u32::MAX)], MIN, MAX),
            [1024, 1024]
        );
        assert_eq!(counts(&[(1, 3000), (2, 1000)], MIN, MAX), [1500, 500]);
        assert_eq!(scale_exponent(10, 1, MAX), -3);
        assert_eq!(scale_exponent(1, MAX, MAX), 23);
        assert_eq!(scale_exponent(1000, MIN, MAX), 1);
        assert_eq!(scale_exponent(3000, MIN, MAX), -1);
    }

    #[test]
    fn weights_shape_the_shares() {
        let weighted = [(1, 1), (2, 2), (3, 3), (4, 4)];
        // With 128 points a unit of weight (the default minimum of 1,024 over a
        // total weight of 10) a ring's shares are rough: measured worst relative
        // error 4.3% (weights 1..4, 1,280 points) and 16.2% (10 equal, 1,280 points);
        // 1.3% and 1.9% at a minimum of 65,536.
        let e = worst_share_error(&weighted, MIN);
        assert!(e < 0.1, "weights 1..4: worst share off by {e:.4}");
        let e = worst_share_error(&equal(10), MIN);
        assert!(e < 0.25, "10 equal: worst share off by {e:.4}");
        // More points smooth them (a minimum of 65,536: 8,192 points a unit).
        let e = worst_share_error(&weighted, 65_536);
        assert!(
            e < 0.05,
            "weights 1..4, 64K points: worst share off by {e:.4}"
        );
        let e = worst_share_error(&equal(10), 65_536);
        assert!(e < 0.05, "10 equal, 64K points: worst share off by {e:.4}");
    }

    /// Removing a node moves only its keys, and an added node takes keys only
    /// for itself, while the points per unit of weight stay (here 128).
    #[test]
    fn membership_changes_move_only_the_changed_nodes_keys() {
        let ten = equal(10);
        let before = owners(&HashRing::build(&ten, MIN, MAX), &ten, KEYS);
        for gone in 1..=10u64 {
            let nine: Vec<_> = ten.iter().copied().filter(|&(id, _)| id != gone).collect();
            let after = owners(&HashRing::build(&nine, MIN, MAX), &nine, KEYS);
            assert_eq!(extra_moves(&before, &after, gone), 0, "removing {gone}");
        }
        let eleven = equal(11);
        let after = owners(&HashRing::build(&eleven, MIN, MAX), &eleven, KEYS);
        let moved = before.iter().zip(&after).filter(|&(&b, &a)| b != a).count();
        let to_new = after.iter().filter(|&&a| a == 11).count();
        assert_eq!(moved, to_new, "every key that moves goes to the new node");
        // Its 128 of 1,408 points would take 9,091 keys on average: measured 7,574.
        assert!(
            moved <= KEYS as usize / 11 + 3 * KEYS as usize / 100,
            "{moved} moved"
        );
    }

    /// A total weight that crosses min_size / 2^j (here 8 equal nodes to 7, with
    /// the default minimum: 128 -> 256 points a unit) doubles or halves every
    /// node's points: the one change that moves keys between nodes that stay.
    /// Measured: 34,760 of 100,000 keys (once the total weight reaches min_size,
    /// every set has one point a unit of weight and this never happens).
    #[test]
    fn crossing_a_power_of_two_moves_more() {
        let eight = equal(8);
        let seven: Vec<_> = eight.iter().copied().filter(|&(id, _)| id != 8).collect();
        assert_eq!(scale_exponent(8, MIN, MAX), 7);
        assert_eq!(scale_exponent(7, MIN, MAX), 8);
        let before = owners(&HashRing::build(&eight, MIN, MAX), &eight, KEYS);
        let after = owners(&HashRing::build(&seven, MIN, MAX), &seven, KEYS);
        let extra = extra_moves(&before, &after, 8);
        assert!(extra > 0 && extra <= 40 * KEYS as usize / 100, "{extra}");
    }

    #[test]
    fn empty_and_single() {
        let r = HashRing::build(&[], MIN, MAX);
        assert_eq!(r.len(), 0);
        assert_eq!(r.slot(0), None);
        assert_eq!(r.slot(u64::MAX), None);

        // Weight 3: ceil(1024 / 3) = 342 -> 512 points a unit.
        let r = HashRing::build(&[(42, 3)], MIN, MAX);
        assert_eq!(r.len(), 3 * 512);
        for k in 0..1000 {
            assert_eq!(r.entry(r.slot(k).unwrap()), 0);
        }
    }

    #[test]
    fn slot_is_the_first_point_at_or_after_the_hash() {
        let nodes = equal(3);
        let r = HashRing::build(&nodes, 16, 16);
        for k in 0..1000u64 {
            let h = mix_key(k);
            let s = r.slot(k).unwrap();
            let want = r.points.iter().position(|&(p, _)| p >= h).unwrap_or(0);
            assert_eq!(s, want, "key {k}");
        }
        // Past the largest point: wraps to the first.
        let last = r.points[r.len() - 1].0;
        let key = (0..u64::MAX).find(|&k| mix_key(k) > last).unwrap();
        assert_eq!(r.slot(key), Some(0));
    }

    #[test]
    fn entry_after_walks_in_ring_order_and_wraps() {
        let nodes = equal(5);
        let r = HashRing::build(&nodes, 13, 13);
        let len = r.len();
        for slot in 0..len {
            assert_eq!(r.entry_after(slot, 0), r.entry(slot));
            assert_eq!(r.entry_after(slot, len), r.entry(slot));
            for step in 1..2 * len {
                assert_eq!(r.entry_after(slot, step), r.entry((slot + step) % len));
            }
        }
        assert_eq!(r.entry_after(len - 1, 1), r.entry(0));
    }

    #[test]
    fn a_thousand_nodes() {
        let nodes: Vec<(u64, u32)> = (0..1000).map(|i| (i * 1_000_003 + 17, 1)).collect();
        let start = std::time::Instant::now();
        let r = HashRing::build(&nodes, 65_536, MAX);
        eprintln!(
            "ring build 1000 nodes, {} points: {:?}",
            r.len(),
            start.elapsed()
        );
        let mut counts = vec![0u32; nodes.len()];
        for s in 0..r.len() {
            counts[r.entry(s) as usize] += 1;
        }
        // ceil(65536 / 1000) = 66 -> 128 points each.
        assert!(counts.iter().all(|&c| c == 128), "not 128 points each");
    }
}
