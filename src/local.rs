//! Per-thread state: a cached snapshot, the strategies' per-thread choice state and
//! this thread's share of the latency totals. Keeping these per thread is what lets
//! select and report write no line that every thread writes. The balancer keeps one
//! slot per thread that uses it, each on its own cache lines, freed with it.
//!
//! The cache sees the balancer only through `Published` (the snapshot and its
//! generation): it knows nothing else about it.

use std::cell::UnsafeCell;

use crossbeam_utils::CachePadded;

use crate::snapshot::{Published, Snapshot};
use crate::strategy::Picker;
use crate::sync::{Arc, AtomicU64, Ordering, PerThread};

/// The latency sum of one thread's successful requests: written by that thread
/// alone, read by `stats` (which divides by the successes the instances counted).
pub(crate) struct Shard {
    pub latency_sum_us: AtomicU64,
}

impl Shard {
    fn new() -> Self {
        Shard {
            latency_sum_us: AtomicU64::new(0),
        }
    }

    /// Adds one success's latency. Only the owning thread writes the shard, so a
    /// load and a store suffice (no read-modify-write on the request path).
    #[inline(always)]
    pub(crate) fn add(&self, latency_us: u64) {
        let s = self.latency_sum_us.load(Ordering::Relaxed);
        self.latency_sum_us
            .store(s.wrapping_add(latency_us), Ordering::Relaxed);
    }
}

/// What one thread keeps for one balancer.
pub(crate) struct LocalEntry {
    /// The snapshot this thread last loaded, replaced when the generation moves.
    pub snapshot: Arc<Snapshot>,
    /// `snapshot`'s generation when no member of it is on probation (no trial
    /// traffic, no recovery to count), else `u64::MAX` (no generation): the
    /// request path's fast cases compare this one word with the published
    /// generation and so check both at once.
    fast_generation: u64,
    pub picker: Picker,
    /// Calls left before this thread reads the clock, minus one: a select that
    /// brings it below 0 reads the clock after choosing (a sign test right after
    /// the decrement); a report reads it before settling, but only at
    /// `report_floor` or below, so a thread that selects and reports reads the
    /// clock at its selects.
    countdown: i32,
    /// 1 - `clock_refresh_ops` of the snapshot the countdown was last reset from:
    /// a thread that only reports reads the clock once every
    /// 2 x `clock_refresh_ops` - 1 calls (every call for 1).
    report_floor: i32,
}

impl LocalEntry {
    pub(crate) fn new(snapshot: Arc<Snapshot>, picker: Picker) -> LocalEntry {
        let mut entry = LocalEntry {
            countdown: 0,
            report_floor: 0,
            fast_generation: u64::MAX,
            snapshot,
            picker,
        };
        entry.reset_countdown();
        entry.note_snapshot();
        entry
    }

    fn note_snapshot(&mut self) {
        // A changed `clock_refresh_ops` applies at once: the count never exceeds
        // the new value and the report floor follows it.
        let n = self.refresh_ops();
        self.countdown = self.countdown.min(n - 1);
        self.report_floor = 1 - n;
        self.fast_generation = if !self.snapshot.recovering {
            self.snapshot.generation
        } else {
            u64::MAX
        };
    }

    fn refresh_ops(&self) -> i32 {
        self.snapshot.cfg.clock_refresh_ops.min(1 << 20) as i32
    }

    fn reset_countdown(&mut self) {
        let n = self.refresh_ops();
        self.countdown = n - 1;
        self.report_floor = 1 - n;
    }

    /// Counts one select; true when the clock is due after it (the countdown then
    /// starts again). Nothing here can panic.
    #[inline(always)]
    pub(crate) fn count_select(&mut self) -> bool {
        // Decrement, then test the sign: one read-modify-write of the count.
        self.countdown = self.countdown.wrapping_sub(1);
        if self.countdown < 0 {
            self.reset_countdown();
            return true;
        }
        false
    }

    /// Whether a report may go ahead without reading the clock first; `count_report`
    /// then counts it. Nothing here can panic.
    #[inline(always)]
    pub(crate) fn report_may_skip_clock(&self) -> bool {
        self.countdown > self.report_floor
    }

    #[inline(always)]
    pub(crate) fn count_report(&mut self) {
        self.countdown = self.countdown.wrapping_sub(1);
    }

    /// Counts one report; true when the clock must be read before it (the
    /// countdown then starts again).
    pub(crate) fn report_clock_due(&mut self) -> bool {
        if self.report_may_skip_clock() {
            self.count_report();
            return false;
        }
        self.reset_countdown();
        true
    }
}

/// One thread's slot: its entry, which only that thread touches, and its shard,
/// which `stats` reads from any thread.
struct Slot {
    entry: UnsafeCell<LocalEntry>,
    shard: Shard,
}

// SAFETY: `entry` is reached only through `Locals::current`, by the thread that
// owns the slot (a thread that takes over an exited thread's slot is then its only
// user); other threads only read `shard`, whose fields are atomics.
unsafe impl Sync for Slot {}

/// Every thread's slot for one balancer.
pub(crate) struct Locals(PerThread<CachePadded<Slot>>);

impl Locals {
    pub(crate) fn new() -> Locals {
        Locals(PerThread::new())
    }

    /// This thread's entry and shard, the entry made by `make` on the thread's
    /// first call, with its snapshot brought up to `published`'s generation: one
    /// thread-local read and one atomic load in the steady state, no reference
    /// counting.
    ///
    /// # Safety
    /// The caller stops using the returned entry before it calls anything that
    /// could call `current` again on this thread (a user-supplied clock, say), and
    /// calls `current` again to continue: each thread's entry has one user at a time.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn current(
        &self,
        published: &Published,
        make: impl FnOnce() -> LocalEntry,
    ) -> (&mut LocalEntry, &Shard) {
        let slot = self.0.get_or(|| {
            CachePadded::new(Slot {
                entry: UnsafeCell::new(make()),
                shard: Shard::new(),
            })
        });
        // SAFETY: the slot belongs to this thread (`PerThread`), and the caller's
        // contract rules out a second live reference on this thread.
        let entry = unsafe { &mut *slot.entry.get() };
        if entry.snapshot.generation != published.generation() {
            refresh(entry, published);
        }
        (entry, &slot.shard)
    }

    /// This thread's entry and shard if this balancer is the one the thread used
    /// last and its snapshot is current with no member on probation (the request
    /// path's fast cases); nothing that can panic, allocate or free.
    ///
    /// # Safety
    /// As `current`.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn cached(&self, published: &Published) -> Option<(&mut LocalEntry, &Shard)> {
        let slot = self.0.cached()?;
        // SAFETY: as in `current`.
        let entry = unsafe { &mut *slot.entry.get() };
        (entry.fast_generation == published.generation()).then_some((entry, &slot.shard))
    }

    /// The latency sum of every thread's successful requests, in us.
    pub(crate) fn latency_sum_us(&self) -> u64 {
        self.0.iter().fold(0u64, |sum, slot| {
            sum.wrapping_add(slot.shard.latency_sum_us.load(Ordering::Acquire))
        })
    }
}

#[cold]
#[inline(never)]
fn refresh(entry: &mut LocalEntry, published: &Published) {
    entry.snapshot = published.load();
    entry.note_snapshot();
}
