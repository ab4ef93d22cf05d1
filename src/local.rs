//! Per-thread state: a cached snapshot, the round-robin cursor, the random generator
//! and this thread's share of the latency totals. Keeping these per thread is what
//! lets select and report write no line that every thread writes. The balancer keeps
//! one `LocalEntry` per thread that uses it (`sync::PerThread`), freed with it.

use crossbeam_utils::CachePadded;
use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::snapshot::Snapshot;
use crate::sync::{Arc, AtomicU64, Ordering};

/// Latency totals of successful requests, written by one thread (or, for the shared
/// fallback shard, by any thread with read-modify-writes).
#[derive(Default)]
pub(crate) struct Shard {
    pub latency_sum_us: AtomicU64,
    pub successes: AtomicU64,
}

impl Shard {
    pub(crate) fn new() -> Self {
        Shard {
            latency_sum_us: AtomicU64::new(0),
            successes: AtomicU64::new(0),
        }
    }

    /// Adds one success. `owned`: only this thread writes the shard, so a load and a
    /// store suffice (no read-modify-write on the request path).
    #[inline]
    pub(crate) fn add(&self, latency_us: u64, owned: bool) {
        if owned {
            let s = self.latency_sum_us.load(Ordering::Relaxed);
            self.latency_sum_us
                .store(s.wrapping_add(latency_us), Ordering::Relaxed);
            let c = self.successes.load(Ordering::Relaxed);
            self.successes.store(c + 1, Ordering::Relaxed);
        } else {
            self.latency_sum_us.fetch_add(latency_us, Ordering::Relaxed);
            self.successes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(crate) type PaddedShard = CachePadded<Shard>;

/// What one thread keeps for one balancer.
pub(crate) struct LocalState {
    /// Round-robin position in the snapshot's cycle (kept below the cycle's length).
    pub cursor: u64,
    pub rng: Pcg64Mcg,
    /// Selects since this thread last read the clock.
    pub ops: u32,
    pub shard: Arc<PaddedShard>,
    pub owned_shard: bool,
}

impl LocalState {
    pub(crate) fn new(seed: u64, ordinal: u64, shard: Arc<PaddedShard>, owned: bool) -> Self {
        let mixed = seed ^ ordinal.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        LocalState {
            // Threads start at different places in the cycle so they do not move in step.
            cursor: (ordinal as u32).wrapping_mul(0x9E37_79B9) as u64,
            rng: Pcg64Mcg::seed_from_u64(mixed),
            ops: 0,
            shard,
            owned_shard: owned,
        }
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in 0..n (n > 0), by multiply-shift.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.rng.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in [0, 1).
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// What one thread keeps for one balancer: the snapshot it last loaded (replaced
/// when the balancer's generation moves) and its local state.
pub(crate) struct LocalEntry {
    pub snapshot: Arc<Snapshot>,
    pub state: LocalState,
}
