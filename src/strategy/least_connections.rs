//! Least connections: the member with the fewest picks in flight relative to its
//! weight, found by an exact scan of the selectable members. The scan starts at a
//! random position so that ties go to a random one of the tied members instead of
//! always the first.
//!
//! The scan keeps four running minima over interleaved members and merges them at the
//! end: the members' loads are independent, so four short dependency chains let the
//! loads overlap where one chain would wait on each comparison in turn.

use super::{Choose, PickCtx};
use crate::snapshot::{ScanEntry, Snapshot};

pub(crate) struct LeastConnections;

/// Scans before giving up when racing threads fill the chosen member first.
const ATTEMPTS: usize = 4;

impl Choose for LeastConnections {
    #[inline]
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let n = ctx.snap.scan.len();
        if n == 0 {
            return None;
        }
        for _ in 0..ATTEMPTS {
            let start = ctx.local.below(n);
            let best = if ctx.exclude.is_empty() {
                scan(ctx.snap, start)?
            } else {
                scan_excluding(ctx, start)?
            };
            if let Some(epoch) = ctx.acquire(best) {
                return Some((best, epoch));
            }
        }
        None
    }
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

/// Scans `entries` (which are `offset..` in scan order) into the four lanes.
#[inline(always)]
fn scan_into(lanes: &mut [Best; 4], entries: &[ScanEntry], offset: usize) {
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

/// The least-loaded member below capacity (its index in `members`), ties to the
/// first from `start`.
#[inline]
fn scan(snap: &Snapshot, start: usize) -> Option<usize> {
    let (head, tail) = snap.scan.split_at(start);
    let mut lanes = [EMPTY; 4];
    scan_into(&mut lanes, tail, 0);
    scan_into(&mut lanes, head, tail.len());
    let best = lanes[0].merge(lanes[1]).merge(lanes[2].merge(lanes[3]));
    if best.order == usize::MAX {
        return None;
    }
    Some(snap.scan[(start + best.order) % snap.scan.len()].member as usize)
}

/// The same scan, skipping excluded members (retries; not the hot path).
fn scan_excluding(ctx: &PickCtx<'_>, start: usize) -> Option<usize> {
    let entries = &ctx.snap.scan;
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
