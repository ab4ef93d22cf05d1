//! Maglev's lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software
//! Network Load Balancer", NSDI 2016, section 3.4): consistent hashing into a
//! fixed-size table, so a lookup is one multiply and one load, and a change of
//! membership moves few keys besides those of the node that left or came.
//!
//! Pure and deterministic: the table depends only on the set of (id, weight)
//! pairs and the table size, never on the order the nodes are given in or on any
//! seed of the balancer, so every process that sees the same set maps a key to
//! the same node.

use crate::hash::{hash_id, mix_key};

/// Seed of `hash_id` for a node's first slot in its permutation (its offset).
/// Fixed for 1.x: changing it remaps every key.
const SEED_OFFSET: u64 = 0x6d61_676c_6576_6f66; // "maglevof"
/// Seed of `hash_id` for a node's permutation step (its skip). Fixed for 1.x.
const SEED_SKIP: u64 = 0x6d61_676c_6576_736b; // "maglevsk"

/// Marks a slot not yet taken while the table is built (no node position is
/// this large: a set never has 2^32 - 1 members).
const EMPTY: u32 = u32::MAX;

/// One node while the table is populated.
struct Filler {
    /// The node's position in the caller's `nodes` slice: what entries store.
    position: u32,
    weight: u64,
    /// Where the node's permutation is now: the next slot it will try.
    next: u32,
    /// The permutation's step, in 1..size (coprime to the prime size, so the
    /// permutation visits every slot once per `size` steps).
    skip: u32,
    /// Entries placed so far.
    placed: u64,
}

/// A Maglev table: `entries[slot]` is the position, in the `nodes` slice the
/// table was built from, of the node that owns the slot.
pub(crate) struct MaglevTable {
    entries: Box<[u32]>,
}

impl MaglevTable {
    /// Populates a table of `size` entries for `nodes` ((id, weight >= 1), ids
    /// distinct, any order). `size` must be prime (the caller validates) and
    /// should be well above the node count (the paper uses 65,537 for hundreds of
    /// backends) for the shares to follow the weights closely.
    ///
    /// Each node walks its own permutation of the slots, `(offset + j * skip) %
    /// size` for j = 0, 1, ..., with `offset = hash_id(id, SEED_OFFSET) % size` and
    /// `skip = hash_id(id, SEED_SKIP) % (size - 1) + 1`. The nodes take turns in
    /// rounds, in id order; in each turn a node claims the next slot of its
    /// permutation that is still free.
    ///
    /// Weights (the scheme of Envoy's weighted Maglev, in integers): in round t
    /// (1, 2, ...) a node with weight w takes a turn when placed * max_weight <
    /// t * w, i.e. while the entries it has placed are below its target
    /// t * w / max_weight. So at most one turn per round each, the heaviest node
    /// every round, and each node's entry count within one of size * w / sum(w)
    /// (less where a node is crowded out at the end).
    ///
    /// Terminates for any input: the heaviest node places one entry every round
    /// until the table is full, and its permutation reaches every free slot. The
    /// cost is O(rounds * nodes + size * ln(size)) with no allocation per entry;
    /// rounds is size / sum(w / max_weight), so very skewed weights cost the most.
    pub(crate) fn build(nodes: &[(u64, u32)], size: u32) -> MaglevTable {
        if nodes.is_empty() {
            return MaglevTable {
                entries: Box::new([]),
            };
        }
        debug_assert!(is_prime(size), "Maglev table size {size} is not prime");
        debug_assert!(nodes.len() < EMPTY as usize);
        let size64 = size as u64;
        // The permutation step needs size - 1 >= 1; a size of 1 (not prime, caught
        // above in debug builds) still gives a table.
        let skip_range = (size64 - 1).max(1);
        let mut fillers: Vec<Filler> = nodes
            .iter()
            .enumerate()
            .map(|(position, &(id, weight))| {
                debug_assert!(weight >= 1, "node {id} has weight 0");
                Filler {
                    position: position as u32,
                    weight: weight.max(1) as u64,
                    next: (hash_id(id, SEED_OFFSET) % size64) as u32,
                    skip: (hash_id(id, SEED_SKIP) % skip_range + 1) as u32,
                    placed: 0,
                }
            })
            .collect();
        // Turns go in id order, so the table does not depend on the input order.
        fillers.sort_unstable_by_key(|f| nodes[f.position as usize].0);
        debug_assert!(
            fillers
                .windows(2)
                .all(|w| nodes[w[0].position as usize].0 != nodes[w[1].position as usize].0),
            "node ids must be distinct"
        );
        let max_weight = fillers.iter().map(|f| f.weight).max().unwrap_or(1);

        let mut entries = vec![EMPTY; size as usize].into_boxed_slice();
        let mut filled = 0u64;
        let mut round = 0u64;
        while filled < size64 {
            round += 1;
            for f in fillers.iter_mut() {
                if f.placed * max_weight >= round * f.weight {
                    continue;
                }
                // The next free slot of this node's permutation; one exists
                // because the table is not full and the permutation covers it.
                let mut slot = f.next;
                while entries[slot as usize] != EMPTY {
                    slot = step(slot, f.skip, size);
                }
                entries[slot as usize] = f.position;
                f.next = step(slot, f.skip, size);
                f.placed += 1;
                filled += 1;
                if filled == size64 {
                    break;
                }
            }
        }
        MaglevTable { entries }
    }

    /// Slots in the table; 0 when it was built from no nodes.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The slot `key` hashes to: mix_key(key) reduced into 0..len by
    /// multiply-shift, (mixed * len) >> 64 (no division; the high bits of the mix
    /// choose the slot). None for an empty table.
    #[inline]
    pub(crate) fn slot(&self, key: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let mixed = mix_key(key);
        Some(((mixed as u128 * self.entries.len() as u128) >> 64) as usize)
    }

    /// The node position stored in `slot` (< len).
    #[inline]
    pub(crate) fn entry(&self, slot: usize) -> u32 {
        // No panic site (the request path's unguarded common case reads it): a
        // slot past the end names no node.
        self.entries.get(slot).copied().unwrap_or(u32::MAX)
    }

    /// The entry `step` places after `slot` in table order, wrapping at the end
    /// (`step` 0 is `slot` itself): what a caller walks when the key's own node
    /// cannot take the request. Neighbouring slots belong to unrelated nodes (the
    /// permutations interleave), so the walk spreads a missing node's keys.
    #[inline]
    pub(crate) fn entry_after(&self, slot: usize, step: usize) -> u32 {
        let len = self.entries.len();
        self.entries[(slot % len + step % len) % len]
    }
}

/// `slot + skip` modulo `size`, for slot < size and skip < size.
#[inline(always)]
fn step(slot: u32, skip: u32, size: u32) -> u32 {
    let next = slot as u64 + skip as u64;
    if next >= size as u64 {
        (next - size as u64) as u32
    } else {
        next as u32
    }
}

/// Trial division, for the debug check of the table size.
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = n as u64;
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const SIZE: u32 = 65_537;
    const KEYS: u64 = 100_000;

    fn equal(n: u64) -> Vec<(u64, u32)> {
        (1..=n).map(|id| (id, 1)).collect()
    }

    /// The id each key maps to.
    fn owners(t: &MaglevTable, nodes: &[(u64, u32)], keys: u64) -> Vec<u64> {
        (0..keys)
            .map(|k| nodes[t.entry(t.slot(k).unwrap()) as usize].0)
            .collect()
    }

    /// Each node's entries as ids, slot by slot.
    fn entry_ids(t: &MaglevTable, nodes: &[(u64, u32)]) -> Vec<u64> {
        (0..t.len()).map(|s| nodes[t.entry(s) as usize].0).collect()
    }

    /// The largest |share / expected - 1| over the nodes, for keys 0..KEYS.
    fn worst_share_error(nodes: &[(u64, u32)]) -> f64 {
        let t = MaglevTable::build(nodes, SIZE);
        let total: u64 = nodes.iter().map(|&(_, w)| w as u64).sum();
        let mut counts = vec![0u64; nodes.len()];
        for k in 0..KEYS {
            counts[t.entry(t.slot(k).unwrap()) as usize] += 1;
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

    #[test]
    fn input_order_does_not_matter() {
        let nodes: Vec<(u64, u32)> = (1..=50)
            .map(|id| (id * 7919, (id % 4 + 1) as u32))
            .collect();
        let mut shuffled = nodes.clone();
        let mut rng = fastrand::Rng::with_seed(12);
        rng.shuffle(&mut shuffled);
        assert_ne!(shuffled, nodes);
        shuffled.reverse();
        let a = MaglevTable::build(&nodes, 4099);
        let b = MaglevTable::build(&shuffled, 4099);
        assert_eq!(entry_ids(&a, &nodes), entry_ids(&b, &shuffled));
    }

    /// Pinned for 1.x: a change here remaps keys for every deployment.
    #[test]
    fn pinned_mapping() {
        let nodes = equal(5);
        let t = MaglevTable::build(&nodes, SIZE);
        assert_eq!(
            owners(&t, &nodes, 16),
            [5, 1, 4, 4, 5, 4, 3, 2, 1, 2, 4, 5, 4, 2, 4, 4]
        );

        let nodes = [(10, 1), (20, 2), (30, 3)];
        let t = MaglevTable::build(&nodes, SIZE);
        assert_eq!(
            owners(&t, &nodes, 16),
            [20, 30, 30, 30, 30, 20, 30, 10, 20, 30, 30, 20, 10, 30, 20, 20]
        );
    }

    #[test]
    fn weights_shape_the_shares() {
        let weighted = [(1, 1), (2, 2), (3, 3), (4, 4)];
        // Measured worst relative error: 0.49% (weights 1..4), 2.26% (10 equal
        // nodes; the sampling noise of 10,000 keys a node is about 1%).
        let e = worst_share_error(&weighted);
        assert!(e < 0.04, "weights 1..4: worst share off by {e:.4}");
        let e = worst_share_error(&equal(10));
        assert!(e < 0.04, "10 equal: worst share off by {e:.4}");
        // Entry counts follow the weights to within one per node.
        let t = MaglevTable::build(&weighted, SIZE);
        let mut counts = [0u64; 4];
        for s in 0..t.len() {
            counts[t.entry(s) as usize] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let want = SIZE as f64 * (i + 1) as f64 / 10.0;
            assert!(
                (c as f64 - want).abs() <= 1.0,
                "node {i}: {c} entries, want {want}"
            );
        }
    }

    #[test]
    fn membership_changes_move_few_keys() {
        let ten = equal(10);
        let before = owners(&MaglevTable::build(&ten, SIZE), &ten, KEYS);
        let mut worst_extra = 0;
        for gone in 1..=10u64 {
            let nine: Vec<_> = ten.iter().copied().filter(|&(id, _)| id != gone).collect();
            let after = owners(&MaglevTable::build(&nine, SIZE), &nine, KEYS);
            let extra = before
                .iter()
                .zip(&after)
                .filter(|&(&b, &a)| b != gone && b != a)
                .count();
            worst_extra = worst_extra.max(extra);
        }
        // Keys that moved though their node stayed: measured worst 318 of 100,000
        // (0.32%) over the ten choices of node to remove.
        assert!(
            worst_extra <= KEYS as usize / 100,
            "{worst_extra} extra keys moved"
        );

        let eleven = equal(11);
        let after = owners(&MaglevTable::build(&eleven, SIZE), &eleven, KEYS);
        let moved = before.iter().zip(&after).filter(|&(&b, &a)| b != a).count();
        let to_new = after.iter().filter(|&&a| a == 11).count();
        // Measured: 9,318 moved (1/11 is 9,091), 9,053 of them to the new node.
        let fair = KEYS as usize / 11;
        assert!(moved <= fair + KEYS as usize / 100, "{moved} keys moved");
        assert!(
            to_new + KEYS as usize / 50 >= fair,
            "{to_new} keys to the new node"
        );
        assert!(
            moved - to_new <= KEYS as usize / 100,
            "{moved} moved, {to_new} to the new node"
        );
    }

    #[test]
    fn empty_and_single() {
        let t = MaglevTable::build(&[], SIZE);
        assert_eq!(t.len(), 0);
        assert_eq!(t.slot(0), None);
        assert_eq!(t.slot(u64::MAX), None);

        let t = MaglevTable::build(&[(42, 3)], 7);
        assert_eq!(t.len(), 7);
        for k in 0..1000 {
            assert_eq!(t.entry(t.slot(k).unwrap()), 0);
        }
    }

    #[test]
    fn entry_after_walks_in_table_order_and_wraps() {
        let nodes = equal(5);
        let t = MaglevTable::build(&nodes, 13);
        let len = t.len();
        for slot in 0..len {
            assert_eq!(t.entry_after(slot, 0), t.entry(slot));
            assert_eq!(t.entry_after(slot, len), t.entry(slot));
            for step in 1..2 * len {
                assert_eq!(t.entry_after(slot, step), t.entry((slot + step) % len));
            }
        }
        assert_eq!(t.entry_after(len - 1, 1), t.entry(0));
    }

    #[test]
    fn a_thousand_nodes_fill_a_large_table() {
        let nodes: Vec<(u64, u32)> = (0..1000).map(|i| (i * 1_000_003 + 17, 1)).collect();
        let start = std::time::Instant::now();
        let t = MaglevTable::build(&nodes, SIZE);
        eprintln!("maglev build 1000 x {SIZE}: {:?}", start.elapsed());
        assert_eq!(t.len(), SIZE as usize);
        let mut counts = vec![0u32; nodes.len()];
        for s in 0..t.len() {
            let e = t.entry(s);
            assert_ne!(e, EMPTY, "slot {s} left empty");
            counts[e as usize] += 1;
        }
        // Equal weights: 65 or 66 entries each.
        assert!(counts.iter().all(|&c| c == 65 || c == 66), "{counts:?}");
    }

    #[test]
    fn skewed_weights_terminate_with_every_slot_filled() {
        let nodes = [(1, u32::MAX), (2, 1), (3, 1000)];
        let t = MaglevTable::build(&nodes, 1009);
        let mut counts = [0u32; 3];
        for s in 0..t.len() {
            counts[t.entry(s) as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<u32>(), 1009);
        assert!(counts[0] >= 1007, "{counts:?}");
        // More nodes than slots: the table still fills, some nodes get nothing.
        let t = MaglevTable::build(&equal(20), 7);
        assert!((0..7).all(|s| t.entry(s) < 20));
    }

    #[test]
    fn prime_check() {
        assert!(is_prime(65_537) && is_prime(2) && is_prime(4099));
        assert!(!is_prime(1) && !is_prime(65_535) && !is_prime(4));
    }
}
