//! Per-thread state: a cached snapshot, the round-robin cursor, the random generator
//! and this thread's share of the latency totals. Keeping these per thread is what
//! lets select and report write no line that every thread writes.

use std::cell::RefCell;

use crossbeam_utils::CachePadded;
use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::balancer::Balancer;
use crate::snapshot::Snapshot;
use crate::sync::{const_thread_local, Arc, AtomicU64, Ordering};

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
    pub cursor: u32,
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
            cursor: (ordinal as u32).wrapping_mul(0x9E37_79B9),
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

struct Entry {
    balancer: u64,
    snapshot: Arc<Snapshot>,
    state: LocalState,
}

/// Balancers one thread keeps state for at once; the least recently added is evicted.
const SLOTS: usize = 4;

struct Cache {
    entries: [Option<Entry>; SLOTS],
    next_victim: usize,
    /// The slot used last: checked first, since a thread usually serves one balancer.
    last: usize,
}

const_thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        entries: [None, None, None, None],
        next_victim: 0,
        last: 0,
    });
}

/// Runs `f` with this thread's state for `b` and a current-enough snapshot: the
/// cached one, refreshed only when the balancer's generation moved (one relaxed-cheap
/// atomic load in the steady state, no reference counting). Falls back to a direct
/// snapshot load and throw-away local state when the thread-local is unavailable
/// (thread teardown, or a re-entrant call).
#[inline]
pub(crate) fn with_local<R>(b: &Balancer, f: impl FnOnce(&mut LocalState, &Snapshot) -> R) -> R {
    let mut f = Some(f);
    let done = CACHE.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return None;
        };
        let generation = b.generation();
        let cache = &mut *cache;
        let hit = |e: &Option<Entry>| matches!(e, Some(e) if e.balancer == b.id());
        let slot = if hit(&cache.entries[cache.last]) {
            cache.last
        } else {
            match cache.entries.iter().position(hit) {
                Some(i) => i,
                None => {
                    let i = cache
                        .entries
                        .iter()
                        .position(Option::is_none)
                        .unwrap_or_else(|| {
                            let v = cache.next_victim;
                            cache.next_victim = (v + 1) % SLOTS;
                            v
                        });
                    let (shard, ordinal) = b.register_thread();
                    cache.entries[i] = Some(Entry {
                        balancer: b.id(),
                        snapshot: b.load_snapshot(),
                        state: LocalState::new(b.seed(), ordinal, shard, true),
                    });
                    i
                }
            }
        };
        cache.last = slot;
        let entry = cache.entries[slot].as_mut()?;
        if entry.snapshot.generation != generation {
            entry.snapshot = b.load_snapshot();
        }
        let f = f.take()?;
        Some(f(&mut entry.state, &entry.snapshot))
    });
    match done {
        Ok(Some(r)) => r,
        _ => {
            let snap = b.load_snapshot();
            let mut local = b.fallback_local();
            match f.take() {
                Some(f) => f(&mut local, &snap),
                // `f` ran above and returned through the thread-local path.
                None => unreachable!("with_local: closure consumed without a result"),
            }
        }
    }
}
