//! The balancer: the published snapshot and the per-thread cache, with select,
//! report, membership, expiry, maintenance, the graveyard and stats each in its own
//! file. Each locked sub-state is its own type with its own mutex; the lock order
//! is maintenance -> writer -> expiry -> graveyard.

mod events;
mod expiry;
mod graveyard;
mod keyed_load;
mod maintenance;
mod membership;
mod metrics;
mod report;
mod select;
mod select_key;
mod stats;

use crossbeam_utils::CachePadded;

use crate::clock::{Clock, MonotonicClock};
use crate::config::Config;
use crate::error::Error;
use crate::local::{LocalEntry, Locals, Shard};
use crate::snapshot::{Published, Snapshot};
use crate::strategy::dispatch::Dispatch;
use crate::strategy::Picker;
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::types::Strategy;

use events::Events;
use expiry::ExpiryClock;
use graveyard::Graveyard;
use keyed_load::KeyedLoad;
use maintenance::Maintenance;
use membership::Writer;

pub use events::EVENT_QUEUE_CAPACITY;
pub use report::MAX_LATENCY_US;
pub use select::PickGuard;

/// A lock-free load balancer. Share it between threads with an `Arc`; every method
/// takes `&self`.
pub struct Balancer {
    /// The check value's key: a pick from another balancer fails it.
    key: [u64; 2],
    seed: u64,
    clock: TimeSource,
    published: Published,
    dispatch: Dispatch,
    expiry: ExpiryClock,
    /// Coarse time, refreshed every few calls per thread. Written often, so on its
    /// own cache line, away from the read-mostly words every select loads.
    now_us: CachePadded<AtomicU64>,
    maintenance: Maintenance,
    writer: Mutex<Writer>,
    graveyard: Graveyard,
    /// Keyed picks in flight, while a hash balance factor is set.
    keyed_load: KeyedLoad,
    /// Ejections, recoveries, panic mode and switches, for `poll_events`.
    events: Events,
    /// Threads that have used this balancer (each gets its own random stream).
    threads: AtomicU64,
    /// Ejections made so far.
    ejections: AtomicU64,
    /// The highest total `stats` has reported, so totals never go backwards.
    max_total_seen: AtomicU64,
    locals: Locals,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("strategy", &self.strategy())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Where a balancer reads time: its own monotonic clock, read inline, or the
/// caller's `Clock`.
enum TimeSource {
    Monotonic(MonotonicClock),
    Custom(std::sync::Arc<dyn Clock>),
}

impl TimeSource {
    #[inline]
    fn now_us(&self) -> u64 {
        match self {
            TimeSource::Monotonic(c) => c.now_us(),
            TimeSource::Custom(c) => c.now_us(),
        }
    }
}

impl Balancer {
    /// A balancer on the monotonic clock.
    pub fn new(config: Config) -> Result<Balancer, Error> {
        let seed = match config.seed {
            0 => crate::config::entropy_seed(),
            s => s,
        };
        Balancer::build(config, TimeSource::Monotonic(MonotonicClock::new()), seed)
    }

    /// A balancer reading time from `clock` (a `ManualClock` for tests and simulation).
    pub fn with_clock(config: Config, clock: std::sync::Arc<dyn Clock>) -> Result<Balancer, Error> {
        let seed = match config.seed {
            0 => crate::config::entropy_seed(),
            s => s,
        };
        Balancer::build(config, TimeSource::Custom(clock), seed)
    }

    /// A balancer on the monotonic clock seeded with exactly `seed` (0 included:
    /// the C ABI's seeded constructor takes every 64-bit value).
    pub(crate) fn with_seed(config: Config, seed: u64) -> Result<Balancer, Error> {
        Balancer::build(config, TimeSource::Monotonic(MonotonicClock::new()), seed)
    }

    fn build(config: Config, clock: TimeSource, seed: u64) -> Result<Balancer, Error> {
        config.validate()?;
        let key = [crate::config::entropy() | 1, crate::config::entropy()];
        let now = clock.now_us();
        Ok(Balancer {
            key,
            seed,
            published: Published::new(Snapshot::empty(config.clone())),
            dispatch: Dispatch::new(config.strategy),
            expiry: ExpiryClock::new(now, config.pick_timeout_ms * 1000),
            now_us: CachePadded::new(AtomicU64::new(now)),
            maintenance: Maintenance::new(now),
            writer: Mutex::new(Writer::new(config)),
            graveyard: Graveyard::new(),
            keyed_load: KeyedLoad::new(),
            events: Events::new(),
            threads: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            max_total_seen: AtomicU64::new(0),
            locals: Locals::new(),
            clock,
        })
    }

    /// The seed of this balancer's random generators: `Config::seed`, or the one it
    /// drew from the operating system's entropy when that was 0 (never 0). A
    /// balancer built with this seed, the same clock and the same calls makes the
    /// same decisions.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The strategy running now (for adaptive, the one it currently runs; a
    /// hashing strategy names itself, though its plain selects run round robin).
    #[inline]
    pub fn active_strategy(&self) -> Strategy {
        match self.dispatch.configured() {
            s if s.is_hashing() => s,
            _ => self.dispatch.running(),
        }
    }

    /// The configured strategy.
    #[inline]
    pub fn strategy(&self) -> Strategy {
        self.dispatch.configured()
    }

    /// Loom models only: the adaptive switch as a second evaluator would make it,
    /// racing the maintenance pass's own (the real `Dispatch::switch`; no public
    /// call can make two switches race, since maintenance runs one pass at a time).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_adaptive_switch(&self, from: Strategy, to: Strategy) -> bool {
        self.dispatch.switch(from, to)
    }

    /// This thread's entry, with a current-enough snapshot, and its shard.
    ///
    /// # Safety
    /// As `Locals::current`: the entry is not used across anything that can call
    /// back into this balancer on this thread (the clock: see `tick`).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn local(&self) -> (&mut LocalEntry, &Shard) {
        // SAFETY: passed on to the caller.
        unsafe { self.locals.current(&self.published, || self.new_local()) }
    }

    /// A thread starts using this balancer: its random stream.
    #[cold]
    fn new_local(&self) -> LocalEntry {
        let ordinal = self.threads.fetch_add(1, Ordering::Relaxed);
        LocalEntry::new(self.published.load(), Picker::new(self.seed, ordinal))
    }
}
