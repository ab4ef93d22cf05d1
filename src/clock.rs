//! Time sources. Everything time-dependent in lb reads a [`Clock`], so tests and the
//! simulator can drive a [`ManualClock`] and replay a run exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A monotonic time source in microseconds. lb reads it now and then (every few
/// calls, see `Config::clock_refresh_ops`), never on every select.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since an arbitrary fixed origin; never decreases.
    fn now_us(&self) -> u64;
}

/// The default clock: `std::time::Instant`, counted from the clock's creation.
#[derive(Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_us(&self) -> u64 {
        // +1 so that the first reading is never 0, which lb uses as "never".
        self.origin.elapsed().as_micros() as u64 + 1
    }
}

/// A clock that moves only when told to: for tests and the simulator. Share it with
/// the balancer through an `Arc` and advance it from the driver.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    pub fn new(start_us: u64) -> Self {
        Self {
            now: AtomicU64::new(start_us),
        }
    }
    /// Sets the time; a value below the current one is ignored (the clock is monotonic).
    pub fn set_us(&self, us: u64) {
        self.now.fetch_max(us, Ordering::AcqRel);
    }
    pub fn advance_us(&self, us: u64) {
        self.now.fetch_add(us, Ordering::AcqRel);
    }
    pub fn advance_ms(&self, ms: u64) {
        self.advance_us(ms.saturating_mul(1000));
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}
