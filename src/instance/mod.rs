//! One backend's live state: atomics only, the request-path words on their own cache
//! line. The in-flight word, the health word, the latency average and Peak EWMA's
//! estimate (kept whatever strategy runs, since adaptive may switch to it; it
//! steps with the latency average) each live in their own file.

mod exp_neg;
mod flight;
mod health_word;
mod latency;
mod peak;

use crossbeam_utils::CachePadded;

#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicF64, AtomicU64, Ordering};
use crate::types::Outcome;

use flight::FlightWord;
pub use flight::IN_FLIGHT_MAX;
pub(crate) use flight::{pick_limit, Full};
pub(crate) use health_word::HealthWord;
use latency::LatencyAverage;
pub(crate) use latency::LatencyDecay;

/// The largest latency a report records, in microseconds (one hour); larger values
/// count as this.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// The ordering that outcome and expiry counts are added with. A report releases its
/// in-flight slot and then counts its outcome; `counts` reads the outcomes first and
/// the slots second. `Release` here (with `Acquire` there) makes a reader that sees
/// an outcome also see its slot released, so it never counts one request twice (the
/// totals are cumulative, so a double count would stick). `Relaxed` would let it.
#[inline]
fn counted() -> Ordering {
    #[cfg(loom)]
    if fault::on(&fault::RELAXED_OUTCOME) {
        return Ordering::Relaxed;
    }
    Ordering::Release
}

/// The words written on every select and report, together on one cache line.
pub(crate) struct Hot {
    flight: FlightWord,
    successes: AtomicU64,
    failures: AtomicU64,
    cancelled: AtomicU64,
    consecutive_failures: AtomicU64,
    latency: LatencyAverage,
    /// Unique per balancer and never reused: a removed id that comes back is a new
    /// incarnation, so stale picks cannot land on it. Immutable; kept here so select
    /// and report touch one cache line per instance.
    incarnation: u64,
    /// A secret of this incarnation (from the balancer's key): picks of it carry
    /// a check value made with it. Immutable.
    tag: u64,
}

pub(crate) struct InstanceState {
    hot: CachePadded<Hot>,
    pub(crate) id: u64,
    expired: AtomicU64,
    pub(crate) health: HealthWord,
    /// Set by an external health check; 1.0 until then.
    pub(crate) external_score: AtomicF64,
    /// The score the instance's own outcomes earned at the last evaluation (0 while
    /// ejected); the health score is this times `external_score`.
    pub(crate) passive_score: AtomicF64,
    // Owned by the maintenance pass (one thread at a time).
    pub(crate) seen_successes: AtomicU64,
    pub(crate) seen_failures: AtomicU64,
    pub(crate) recent_successes: AtomicF64,
    pub(crate) recent_failures: AtomicF64,
    /// Adaptive: requests completed when its current window began (owned by the
    /// maintenance pass).
    pub(crate) window_start_completed: AtomicU64,
    /// Slow start: when this instance's weight began to ramp up (it joined a set in
    /// service, or came back into service), or `NO_RAMP`. Written under the writer
    /// lock.
    ramp_from_us: AtomicU64,
}

/// `ramp_from_us` of an instance that is not ramping.
const NO_RAMP: u64 = u64::MAX;

/// Counters of one instance read together.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Counts {
    pub successes: u64,
    pub failures: u64,
    pub cancelled: u64,
    pub expired: u64,
    pub in_flight: u64,
}

impl Counts {
    // Wrapping: 64-bit totals cannot overflow in practice, and a read of a word
    // corrupted on purpose (the loom models' injected bugs) must reach the model's
    // own assertion rather than an overflow panic.
    pub(crate) fn requests(&self) -> u64 {
        self.successes
            .wrapping_add(self.failures)
            .wrapping_add(self.cancelled)
            .wrapping_add(self.expired)
            .wrapping_add(self.in_flight)
    }
    pub(crate) fn add(&mut self, o: &Counts) {
        self.successes = self.successes.wrapping_add(o.successes);
        self.failures = self.failures.wrapping_add(o.failures);
        self.cancelled = self.cancelled.wrapping_add(o.cancelled);
        self.expired = self.expired.wrapping_add(o.expired);
        self.in_flight = self.in_flight.wrapping_add(o.in_flight);
    }
}

/// What a settled report did, for the health decisions that follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    Success,
    /// The failure streak including this failure.
    Failure(u64),
    Cancelled,
}

impl InstanceState {
    /// `peak_default_us`: Peak EWMA's price of it until its first sample.
    pub(crate) fn new(
        id: u64,
        incarnation: u64,
        tag: u64,
        epoch: u64,
        now_us: u64,
        peak_default_us: f64,
    ) -> Self {
        InstanceState {
            hot: CachePadded::new(Hot {
                flight: FlightWord::new(epoch),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                consecutive_failures: AtomicU64::new(0),
                latency: LatencyAverage::new(now_us, peak_default_us),
                incarnation,
                tag,
            }),
            id,
            expired: AtomicU64::new(0),
            health: HealthWord::new(now_us),
            external_score: AtomicF64::new(1.0),
            passive_score: AtomicF64::new(1.0),
            seen_successes: AtomicU64::new(0),
            seen_failures: AtomicU64::new(0),
            recent_successes: AtomicF64::new(0.0),
            recent_failures: AtomicF64::new(0.0),
            window_start_completed: AtomicU64::new(0),
            ramp_from_us: AtomicU64::new(NO_RAMP),
        }
    }

    /// Slow start: its weight ramps up from `now_us`.
    pub(crate) fn start_ramp(&self, now_us: u64) {
        self.ramp_from_us.store(now_us, Ordering::Relaxed);
    }

    /// Slow start: its weight is whole again.
    pub(crate) fn end_ramp(&self) {
        self.ramp_from_us.store(NO_RAMP, Ordering::Relaxed);
    }

    /// Slow start: when its ramp began, if it is ramping.
    pub(crate) fn ramp_from(&self) -> Option<u64> {
        let from = self.ramp_from_us.load(Ordering::Relaxed);
        (from != NO_RAMP).then_some(from)
    }

    #[inline(always)]
    pub(crate) fn incarnation(&self) -> u64 {
        self.hot.incarnation
    }

    /// The check value of a pick of this incarnation with `epoch_and_index`: a
    /// multiply by an odd constant, a bijection, so a pick whose words were changed
    /// fails it, and without the tag (another balancer's, or none) a made-up pick
    /// passes with probability 2^-64. Report also checks the pick's id and
    /// incarnation against this state. A fast mixer, not a cryptographic MAC.
    #[inline(always)]
    pub(crate) fn check(&self, epoch_and_index: u64) -> u64 {
        (epoch_and_index ^ self.hot.tag).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    // ---- in flight ----

    /// Takes one in-flight slot in `epoch` unless `limit` picks are in flight (see
    /// `pick_limit`). Returns the epoch the pick belongs to.
    #[inline(always)]
    pub(crate) fn try_acquire(&self, epoch: u32, limit: u64) -> Result<u32, Full> {
        let (e, expired) = self.hot.flight.try_acquire(epoch, limit)?;
        if expired > 0 {
            self.expired.fetch_add(expired, counted());
        }
        Ok(e)
    }

    /// `try_acquire`'s common case alone (see `FlightWord::try_acquire_fast`).
    #[inline(always)]
    pub(crate) fn try_acquire_fast(&self, epoch: u32, limit: u64) -> Option<u32> {
        self.hot.flight.try_acquire_fast(epoch, limit)
    }

    /// The in-flight word now, for `in_flight_of` and `try_acquire_fast_from`.
    #[inline(always)]
    pub(crate) fn flight_word(&self) -> u64 {
        self.hot.flight.load()
    }

    /// The picks in flight a word from `flight_word` says.
    #[inline(always)]
    pub(crate) fn in_flight_of(w: u64) -> u64 {
        FlightWord::in_flight_of(w)
    }

    /// `try_acquire_fast` against a word from `flight_word`.
    #[inline(always)]
    pub(crate) fn try_acquire_fast_from(&self, w: u64, epoch: u32, limit: u64) -> Option<u32> {
        self.hot.flight.try_acquire_fast_from(w, epoch, limit)
    }

    /// Retires the picks that are two or more epochs older than `epoch`.
    pub(crate) fn expire_to(&self, epoch: u64) {
        let expired = self.hot.flight.expire_to(epoch);
        if expired > 0 {
            self.expired.fetch_add(expired, counted());
        }
    }

    /// Picks in flight (as of the last rotation; `expire_to` first for an exact view).
    #[inline(always)]
    pub(crate) fn in_flight(&self) -> u64 {
        self.hot.flight.in_flight()
    }

    // ---- outcomes ----

    /// Settles a pick taken in `epoch`: gives back its slot and counts its outcome
    /// and latency (a failure's latency at least `penalty_us()`). `None`, with nothing
    /// changed, when there is no such slot: the pick expired, was already reported,
    /// or never existed.
    #[inline(always)]
    pub(crate) fn settle(
        &self,
        epoch: u32,
        outcome: Outcome,
        latency_us: u64,
        now_us: u64,
        decay: &LatencyDecay,
        penalty_us: impl FnOnce() -> f64,
    ) -> Option<Settled> {
        let moved = self
            .hot
            .flight
            .release(epoch, outcome == Outcome::Success)?;
        Some(match outcome {
            Outcome::Success => {
                if moved > 0 {
                    self.hot.successes.fetch_add(moved, counted());
                }
                if self.hot.consecutive_failures.load(Ordering::Relaxed) != 0 {
                    self.hot.consecutive_failures.store(0, Ordering::Relaxed);
                }
                self.hot.latency.raise_peak(latency_us as f64);
                self.hot.latency.record(latency_us as f64, now_us, decay);
                Settled::Success
            }
            Outcome::Failure => {
                self.hot.failures.fetch_add(1, counted());
                let streak = self
                    .hot
                    .consecutive_failures
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                // A failure is a latency penalty in both estimates.
                let sample = (latency_us as f64).max(penalty_us());
                self.hot.latency.raise_peak(sample);
                self.hot.latency.record(sample, now_us, decay);
                Settled::Failure(streak)
            }
            Outcome::Cancelled => {
                self.hot.cancelled.fetch_add(1, counted());
                Settled::Cancelled
            }
        })
    }

    /// `settle` of a success in the request path's common case: the slot released
    /// in one step. Returns the latency recorded (at most `MAX_LATENCY_US`), or
    /// `None` with nothing changed (the caller then takes `settle`). Nothing here
    /// can panic.
    #[inline(always)]
    pub(crate) fn settle_success_fast(
        &self,
        epoch: u32,
        latency_us: u64,
        now_us: u64,
        decay: &LatencyDecay,
    ) -> Option<u64> {
        if !self.hot.flight.release_success_fast(epoch) {
            return None;
        }
        // Unconditional: the line is already written by the release above.
        self.hot.consecutive_failures.store(0, Ordering::Relaxed);
        let mut latency_us = latency_us;
        // Most samples are below the Peak EWMA estimate, which is at most
        // MAX_LATENCY_US: one compare tells they need neither the clamp nor a
        // raise of the estimate.
        if self.hot.latency.raises_peak(latency_us) {
            latency_us = latency_us.min(MAX_LATENCY_US);
            self.hot.latency.raise_peak_whole(latency_us);
        }
        // At most MAX_LATENCY_US either way, so it converts as signed (one
        // instruction; the compiler cannot know the estimate's bound).
        let sample = latency_us as i64 as f64;
        self.hot.latency.record(sample, now_us, decay);
        Some(latency_us)
    }

    /// Reads the counters; outcomes before in flight, so a racing report is never
    /// counted twice (at worst missed until the next read). The word's pending
    /// successes and in-flight counts are read together.
    pub(crate) fn counts(&self) -> Counts {
        let moved = self.hot.successes.load(Ordering::Acquire);
        let failures = self.hot.failures.load(Ordering::Acquire);
        let cancelled = self.hot.cancelled.load(Ordering::Acquire);
        let expired = self.expired.load(Ordering::Acquire);
        let (in_flight, pending) = self.hot.flight.in_flight_and_pending();
        Counts {
            successes: moved + pending,
            failures,
            cancelled,
            expired,
            in_flight,
        }
    }

    pub(crate) fn consecutive_failures(&self) -> u64 {
        self.hot.consecutive_failures.load(Ordering::Relaxed)
    }

    // ---- latency and score ----

    /// The latency average in microseconds; 0 before any sample.
    pub(crate) fn latency_ewma(&self) -> f64 {
        self.hot.latency.get()
    }

    /// What Peak EWMA prices it at, in whole microseconds (request path).
    #[inline(always)]
    pub(crate) fn peak_priced_us(&self) -> u64 {
        self.hot.latency.peak_priced_us()
    }

    /// The Peak EWMA estimate in microseconds; before any sample, minus the
    /// fraction of the default latency it is priced at.
    #[inline(always)]
    pub(crate) fn peak_ewma(&self) -> f64 {
        self.hot.latency.peak()
    }

    /// Decays the Peak EWMA estimate towards 0 by the factor `w` (the maintenance
    /// pass, between samples; see `PeakEstimate::fade`).
    pub(crate) fn fade_peak_ewma(&self, w: f64, default_us: f64) {
        self.hot.latency.fade_peak(w, default_us);
    }

    /// The health score: passive evidence times the external check, in 0..=1.
    pub(crate) fn health_score(&self) -> f64 {
        let s = self.passive_score.load(Ordering::Relaxed)
            * self.external_score.load(Ordering::Relaxed);
        s.clamp(0.0, 1.0)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
