//! Least connections: the member with the fewest picks in flight relative to its
//! weight, found by an exact scan of the selectable members. The scan starts at a
//! random position so that ties go to a random one of the tied members instead of
//! always the first.
//!
//! With equal weights and no capacities (the common case) the scan compares
//! in-flight counts alone: one load and one shift of each member's in-flight word,
//! carrying the best entry along. Otherwise it compares load / weight without
//! division and skips members at capacity, keeping four running minima over
//! interleaved members and merging them at the end (four short dependency chains
//! let the loads overlap).

use super::{Choose, Chosen, Outlook, PickCtx, SetView};
use crate::instance::InstanceState;
use crate::sync::Arc;

pub(crate) struct LeastConnections;

/// Scans before giving up when racing threads fill the chosen member first.
const ATTEMPTS: usize = 4;

/// What the scan reads of one selectable member, packed together so a scan walks
/// one array and one hot cache line per member.
struct ScanEntry {
    state: Arc<InstanceState>,
    weight: u32,
    capacity: u32,
    /// Index into the snapshot's members.
    member: u32,
}

/// The scan array of one snapshot.
pub(crate) struct Scan {
    entries: Box<[ScanEntry]>,
    /// Equal weights and no capacities: compare in-flight counts alone.
    plain: bool,
}

impl Choose for LeastConnections {
    type Table = Scan;

    fn build(set: &SetView<'_>) -> Scan {
        let entries: Box<[ScanEntry]> = set
            .selectable
            .iter()
            .map(|&i| {
                let m = &set.members[i as usize];
                ScanEntry {
                    state: Arc::clone(&m.state),
                    weight: m.weight,
                    capacity: m.capacity,
                    member: i,
                }
            })
            .collect();
        let plain = entries
            .iter()
            .all(|e| e.capacity == 0 && e.weight == entries[0].weight);
        Scan { entries, plain }
    }

    #[inline]
    fn choose(scan: &Scan, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let n = scan.entries.len();
        if n == 0 {
            return None;
        }
        for _ in 0..ATTEMPTS {
            let start = ctx.picker.below(n);
            let best = if !ctx.exclude.is_empty() {
                scan_excluding(scan, ctx, start)?
            } else if scan.plain {
                let (head, tail) = scan.entries.split_at(start);
                least_loaded(tail, head)?.member as usize
            } else {
                scan_weighted(&scan.entries, start)?
            };
            if let Some(epoch) = ctx.acquire(best) {
                return Some((best, epoch));
            }
        }
        None
    }

    /// With equal weights and no capacities, one scan; otherwise `None`, and the
    /// select takes the full `choose`.
    #[inline(always)]
    fn first<'a>(scan: &Scan, ctx: &mut PickCtx<'a>) -> Option<Chosen<'a>> {
        if !scan.plain {
            return None;
        }
        let n = scan.entries.len();
        if n == 0 {
            return None;
        }
        let start = ctx.picker.below(n);
        let best = least_loaded(scan.entries.get(start..)?, scan.entries.get(..start)?)?;
        ctx.acquire_member(best.member as usize)
    }

    /// Idle, least connections chooses among ties: shares follow the weights. As
    /// queues form, equal picks in flight per weight make a member's share its
    /// weight over its latency (Little's law). In between, a blend of the two.
    fn predicted_share(set: &SetView<'_>, idx: usize, outlook: &Outlook) -> f64 {
        outlook.load_aware_share(&set.members[idx])
    }
}

/// The entry with the fewest picks in flight over `first` then `then` (the scan
/// order), ties to the earliest. Two passes: the least count (one load and one
/// minimum per member), then the first entry that has it (which, with ties, is
/// found at once). Nothing here can panic.
#[inline(always)]
fn least_loaded<'e>(first: &'e [ScanEntry], then: &'e [ScanEntry]) -> Option<&'e ScanEntry> {
    let least = InstanceState::in_flight_of(least_in(then, least_in(first, u64::MAX)));
    // A count may have moved since; then any entry of the scan will do.
    first
        .iter()
        .chain(then)
        .find(|e| e.state.in_flight() <= least)
        .or_else(|| first.first())
        .or_else(|| then.first())
}

/// The least in-flight word of `entries` and `least`, four at a time (one
/// running minimum: the loads are independent, so they still overlap). The count
/// is the word's top bits, so the least word has the least count; the caller
/// shifts once.
#[inline(always)]
fn least_in(entries: &[ScanEntry], mut least: u64) -> u64 {
    let mut chunks = entries.chunks_exact(8);
    for c in chunks.by_ref() {
        // Two minima of four, so the compares form two chains.
        least = least.min(least_of_four(&c[..4]).min(least_of_four(&c[4..])));
    }
    for e in chunks.remainder() {
        least = least.min(e.state.flight_word());
    }
    least
}

/// The least in-flight word of four entries (`c.len() == 4`).
#[inline(always)]
fn least_of_four(c: &[ScanEntry]) -> u64 {
    c[0].state
        .flight_word()
        .min(c[1].state.flight_word())
        .min(c[2].state.flight_word())
        .min(c[3].state.flight_word())
}

/// A running minimum: in flight, weight and scan order of the best member so far.
#[derive(Clone, Copy)]
struct Best {
    load: u64,
    weight: u64,
    /// Position in scan order from the start; `usize::MAX` while empty.
    order: usize,
}

const EMPTY: Best = Best {
    load: 0,
    weight: 1,
    order: usize::MAX,
};

impl Best {
    /// load/weight below the best's, compared without division (load < 2^21 and
    /// weight < 2^32, so the products fit in u64).
    #[inline(always)]
    fn beaten_by(&self, load: u64, weight: u64) -> bool {
        self.order == usize::MAX || load * self.weight < self.load * weight
    }

    #[inline(always)]
    fn consider(&mut self, e: &ScanEntry, order: usize) {
        let load = e.state.in_flight();
        if e.capacity != 0 && load >= e.capacity as u64 {
            return;
        }
        let weight = e.weight as u64;
        if self.beaten_by(load, weight) {
            *self = Best {
                load,
                weight,
                order,
            };
        }
    }

    /// The better of two minima; on a tie the one earlier in scan order.
    #[inline(always)]
    fn merge(self, other: Best) -> Best {
        if other.order == usize::MAX {
            return self;
        }
        if self.order == usize::MAX {
            return other;
        }
        let (a, b) = (other.load * self.weight, self.load * other.weight);
        if a < b || (a == b && other.order < self.order) {
            other
        } else {
            self
        }
    }
}

/// Scans `entries` (which are `offset..` in scan order) into the four lanes of the
/// weighted scan.
#[inline(always)]
fn weighted_into(lanes: &mut [Best; 4], entries: &[ScanEntry], offset: usize) {
    let mut chunks = entries.chunks_exact(4);
    let mut order = offset;
    for c in chunks.by_ref() {
        lanes[0].consider(&c[0], order);
        lanes[1].consider(&c[1], order + 1);
        lanes[2].consider(&c[2], order + 2);
        lanes[3].consider(&c[3], order + 3);
        order += 4;
    }
    for (k, e) in chunks.remainder().iter().enumerate() {
        lanes[k].consider(e, order + k);
    }
}

/// The least-loaded member below capacity (its index in the members), ties to the
/// first from `start`.
#[inline(never)]
fn scan_weighted(entries: &[ScanEntry], start: usize) -> Option<usize> {
    let (head, tail) = entries.split_at(start);
    let mut lanes = [EMPTY; 4];
    weighted_into(&mut lanes, tail, 0);
    weighted_into(&mut lanes, head, tail.len());
    let best = lanes[0].merge(lanes[1]).merge(lanes[2].merge(lanes[3]));
    if best.order == usize::MAX {
        return None;
    }
    Some(entries[(start + best.order) % entries.len()].member as usize)
}

/// The weighted scan, skipping excluded members (retries; not the hot path).
fn scan_excluding(scan: &Scan, ctx: &PickCtx<'_>, start: usize) -> Option<usize> {
    let entries = &scan.entries;
    let n = entries.len();
    let mut best = EMPTY;
    for order in 0..n {
        let e = &entries[(start + order) % n];
        if ctx.allowed(e.member as usize) {
            best.consider(e, order);
        }
    }
    (best.order != usize::MAX).then(|| entries[(start + best.order) % n].member as usize)
}
