//! Bounded loads: the balancer-wide count of keyed picks in flight that a balance
//! factor bounds each instance's share of. Kept only while a factor is set (a
//! keyed pick counted here carries a mark in its index, so its report takes it
//! off again however the configuration changed meanwhile).
//!
//! Counted per expiry epoch, like the instances' own words: when the epoch moves
//! on, the count of the epoch whose picks just expired is dropped, so picks never
//! reported do not leak. Only a report racing that step can leave the count one
//! off, until its epoch's count is dropped in turn.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicI64, Ordering};
use crate::types::Pick;

/// The mark of a counted pick: the top bit of its index (no set has 2^31
/// instances). A marked index finds no member by position, so such a report
/// takes the full path, which finds the member by id.
pub(super) const COUNTED: u32 = 1 << 31;

pub(super) struct KeyedLoad {
    by_epoch: [CachePadded<AtomicI64>; 2],
}

impl KeyedLoad {
    pub(super) fn new() -> KeyedLoad {
        KeyedLoad {
            by_epoch: [
                CachePadded::new(AtomicI64::new(0)),
                CachePadded::new(AtomicI64::new(0)),
            ],
        }
    }

    /// Keyed picks in flight.
    pub(super) fn total(&self) -> u64 {
        let sum =
            self.by_epoch[0].load(Ordering::Acquire) + self.by_epoch[1].load(Ordering::Acquire);
        sum.max(0) as u64
    }

    /// A counted pick was taken in `epoch`.
    pub(super) fn add(&self, epoch: u32) {
        self.by_epoch[(epoch & 1) as usize].fetch_add(1, Ordering::AcqRel);
    }

    /// A counted pick of `epoch` was settled: once, by its report.
    pub(super) fn settle(&self, pick: &Pick) {
        if (pick.index() as u32) & COUNTED != 0 {
            self.by_epoch[(pick.epoch() & 1) as usize].fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The epoch is about to become `next`: the picks of `next - 2`, which share
    /// its count, have expired. Called before the step is visible, so no pick of
    /// `next` is counted yet.
    pub(super) fn retire_for(&self, next: u64) {
        self.by_epoch[(next & 1) as usize].store(0, Ordering::Release);
    }
}
