//! Time sources. Everything time-dependent in lb reads a [`Clock`], so tests and the
//! simulator can drive a [`ManualClock`] and replay a run exactly.

use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(unix))]
use std::time::Instant;

/// A monotonic time source in microseconds. lb reads it now and then (every few
/// calls, see `Config::clock_refresh_ops`), not on every select.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since an arbitrary fixed origin; never decreases.
    fn now_us(&self) -> u64;
}

/// The default clock: the operating system's monotonic clock, counted from the
/// clock's creation. On Unix it reads `clock_gettime(CLOCK_MONOTONIC)` directly
/// (the same source as `std::time::Instant`, without the `Duration` arithmetic, so
/// a clock read costs lb's request path less); elsewhere `Instant`.
#[derive(Debug)]
pub struct MonotonicClock {
    origin_us: u64,
    #[cfg(not(unix))]
    origin: Instant,
}

impl MonotonicClock {
    /// The process's monotonic clock.
    pub fn new() -> Self {
        Self {
            #[cfg(unix)]
            origin_us: monotonic_us(),
            #[cfg(not(unix))]
            origin_us: 0,
            #[cfg(not(unix))]
            origin: Instant::now(),
        }
    }
}

/// Microseconds on CLOCK_MONOTONIC.
#[cfg(unix)]
#[inline]
fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists,
    // so the call cannot fail (and on failure `ts` stays 0, a valid reading).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000)
        .wrapping_add(ts.tv_nsec as u64 / 1000)
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_us(&self) -> u64 {
        // +1 so that the first reading is never 0, which lb uses as "never".
        #[cfg(unix)]
        return monotonic_us().saturating_sub(self.origin_us) + 1;
        #[cfg(not(unix))]
        return self.origin.elapsed().as_micros() as u64 + self.origin_us + 1;
    }
}

/// A clock that moves only when told to: for tests and the simulator. Share it with
/// the balancer through an `Arc` and advance it from the driver.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start_us` until it is moved.
    pub fn new(start_us: u64) -> Self {
        Self {
            now: AtomicU64::new(start_us),
        }
    }
    /// Sets the time; a value below the current one is ignored (the clock is monotonic).
    pub fn set_us(&self, us: u64) {
        self.now.fetch_max(us, Ordering::AcqRel);
    }
    /// Moves the clock forward by `us` microseconds.
    pub fn advance_us(&self, us: u64) {
        self.now.fetch_add(us, Ordering::AcqRel);
    }
    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.advance_us(ms.saturating_mul(1000));
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}
