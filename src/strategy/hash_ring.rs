//! A consistent-hashing ring (Karger et al., "Consistent Hashing and Random
//! Trees", STOC 1997), sized the way Envoy's ring hash balancer sizes it (a
//! minimum and a maximum number of points, by default 1,024 and 8M): each node
//! owns several points on a 64-bit circle, and a key goes to the first point at
//! or after its hash. Where a node's points lie depends only on its id, so a
//! change of membership moves only the keys whose points came or went; but how
//! many points each node has is its share of the total weight, so with this
//! sizing the nodes that stay also gain or shed a few (see `build`).
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

impl HashRing {
    /// Builds the ring for `nodes` ((id, weight >= 1), ids distinct, any order),
    /// with `1 <= min_size <= max_size` (the caller validates).
    ///
    /// Sizing, as Envoy's: with fraction_i = w_i / sum(w) and min_fraction the
    /// smallest, `scale = min(ceil(min_fraction * min_size) / min_fraction,
    /// max_size)` and node i gets `round(fraction_i * scale)` points, at least 1.
    /// So the lightest node gets at least ceil(min_fraction * min_size) points,
    /// the ring has at least about min_size points unless max_size caps it, and
    /// the shares follow the weights. (The rounding and the floor of one point
    /// may take the total a little past max_size.)
    ///
    /// Note the per-node counts depend on the whole set (they are fractions of
    /// the total weight): when a node comes or goes the others gain or lose a
    /// few points at the end of their replica sequence, which moves some keys
    /// between nodes that stayed (measured in the tests).
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
        // Integer sums, so the sizes do not depend on the input order.
        let total: u64 = nodes.iter().map(|&(_, w)| weight(w)).sum();
        let min_weight = nodes.iter().map(|&(_, w)| weight(w)).min().unwrap_or(1);
        let min_fraction = min_weight as f64 / total as f64;
        let scale = ((min_fraction * min_size as f64).ceil() / min_fraction).min(max_size as f64);
        let counts: Vec<u64> = nodes
            .iter()
            .map(|&(_, w)| ((weight(w) as f64 / total as f64 * scale).round() as u64).max(1))
            .collect();
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
        let i = self.points.partition_point(|&(h, _)| h < mixed);
        Some(if i == self.points.len() { 0 } else { i })
    }

    /// The node position of point `slot` (< len).
    #[inline]
    pub(crate) fn entry(&self, slot: usize) -> u32 {
        self.points[slot].1
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
        assert_eq!(r.len(), 5 * 205);
        assert_eq!(
            owners(&r, &nodes, 16),
            [3, 5, 1, 5, 4, 5, 4, 3, 3, 2, 1, 4, 4, 1, 3, 4]
        );

        let nodes = [(10, 1), (20, 2), (30, 3)];
        let r = HashRing::build(&nodes, MIN, MAX);
        assert_eq!(r.len(), 171 + 342 + 513);
        assert_eq!(
            owners(&r, &nodes, 16),
            [10, 30, 30, 20, 20, 30, 20, 30, 10, 20, 30, 20, 30, 20, 10, 30]
        );
    }

    #[test]
    fn sizes_follow_envoy() {
        // min_fraction 0.1: ceil(102.4) = 103 points for the lightest, scale 1030.
        let counts = |nodes: &[(u64, u32)], min, max| {
            let r = HashRing::build(nodes, min, max);
            let mut c = vec![0u64; nodes.len()];
            for s in 0..r.len() {
                c[r.entry(s) as usize] += 1;
            }
            c
        };
        let weighted = [(1, 1), (2, 2), (3, 3), (4, 4)];
        assert_eq!(counts(&weighted, MIN, MAX), [103, 206, 309, 412]);
        // Capped by max_size: ceil(9.5) / 0.1 = 100 > 95, so scale 95; the shares
        // are rounded (9.5 -> 10, 28.5 -> 29), which takes the total to 96.
        assert_eq!(counts(&weighted, 95, 95), [10, 19, 29, 38]);
        // At least one point, however light.
        assert_eq!(counts(&[(1, 1), (2, 1000)], 1, 10), [1, 10]);
        assert_eq!(counts(&equal(9), MIN, MAX), [114; 9]);
    }

    #[test]
    fn weights_shape_the_shares() {
        let weighted = [(1, 1), (2, 2), (3, 3), (4, 4)];
        // With about 100 points a node (the default minimum of 1,024 over 10
        // nodes) a ring's shares are rough: measured worst relative error 10.5%
        // (weights 1..4, 1,030 points) and 24.6% (10 equal, 1,030 points).
        let e = worst_share_error(&weighted, MIN);
        assert!(e < 0.2, "weights 1..4: worst share off by {e:.4}");
        let e = worst_share_error(&equal(10), MIN);
        assert!(e < 0.35, "10 equal: worst share off by {e:.4}");
        // More points smooth them: measured 1.3% and 2.7% at a minimum of 65,536.
        let e = worst_share_error(&weighted, 65_536);
        assert!(
            e < 0.05,
            "weights 1..4, 64K points: worst share off by {e:.4}"
        );
        let e = worst_share_error(&equal(10), 65_536);
        assert!(e < 0.05, "10 equal, 64K points: worst share off by {e:.4}");
    }

    #[test]
    fn membership_changes_move_few_keys() {
        let ten = equal(10);
        let before = owners(&HashRing::build(&ten, MIN, MAX), &ten, KEYS);

        // With each node's point count unchanged, removing one moves exactly its
        // own keys: the others' points stay where they were.
        let ten_counts = [103u64; 10];
        let fixed = owners(&HashRing::with_counts(&ten, &ten_counts), &ten, KEYS);
        assert_eq!(fixed, before);
        for gone in 1..=10u64 {
            let nine: Vec<_> = ten.iter().copied().filter(|&(id, _)| id != gone).collect();
            let after = owners(&HashRing::with_counts(&nine, &ten_counts[..9]), &nine, KEYS);
            assert_eq!(extra_moves(&before, &after, gone), 0, "removing {gone}");
        }

        // Envoy's sizing: the nine left grow from 103 to 114 points each, and the
        // 99 new points take keys from each other too. Measured worst 6,590 of
        // 100,000 keys (6.6%) moved between nodes that stayed.
        let mut worst_extra = 0;
        for gone in 1..=10u64 {
            let nine: Vec<_> = ten.iter().copied().filter(|&(id, _)| id != gone).collect();
            let after = owners(&HashRing::build(&nine, MIN, MAX), &nine, KEYS);
            worst_extra = worst_extra.max(extra_moves(&before, &after, gone));
        }
        assert!(
            worst_extra <= 8 * KEYS as usize / 100,
            "{worst_extra} extra keys moved"
        );

        // Adding an 11th with the counts unchanged: every key that moves goes to
        // it (measured 7,770; its 103 of 1,133 points would take 9,091 on average).
        let eleven = equal(11);
        let fixed = owners(&HashRing::with_counts(&eleven, &[103; 11]), &eleven, KEYS);
        let moved = before.iter().zip(&fixed).filter(|&(&b, &a)| b != a).count();
        let to_new = fixed.iter().filter(|&&a| a == 11).count();
        assert_eq!(moved, to_new);
        assert!(
            moved <= KEYS as usize / 11 + 2 * KEYS as usize / 100,
            "{moved} moved"
        );
        // With Envoy's sizing the eleven have 94 points each, so the ten shed nine
        // each: measured 15,071 moved, 7,309 of them to the new node.
        let after = owners(&HashRing::build(&eleven, MIN, MAX), &eleven, KEYS);
        let moved = before.iter().zip(&after).filter(|&(&b, &a)| b != a).count();
        assert!(
            moved <= KEYS as usize / 11 + 8 * KEYS as usize / 100,
            "{moved} moved"
        );
    }

    #[test]
    fn empty_and_single() {
        let r = HashRing::build(&[], MIN, MAX);
        assert_eq!(r.len(), 0);
        assert_eq!(r.slot(0), None);
        assert_eq!(r.slot(u64::MAX), None);

        let r = HashRing::build(&[(42, 3)], MIN, MAX);
        assert_eq!(r.len(), MIN as usize);
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
        assert!(counts.iter().all(|&c| c == 66), "{counts:?}");
    }
}
