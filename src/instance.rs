//! One backend's live state: atomics only, the request-path words on their own cache line.

use crossbeam_utils::CachePadded;

use crate::config::Config;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicF64, AtomicU64, Ordering};

// ---- The in-flight word --------------------------------------------------------
//
// In-flight picks are counted per expiry epoch so that unreported picks can be retired
// without per-pick memory. One u64, [epoch: 12][cur: 20][prev: 20][pending: 12], holds
// the low 12 bits of the epoch it was last brought to, the picks taken in that epoch
// (`cur`) and in the epoch before (`prev`), and successes not yet added to the 64-bit
// success counter (`pending`). Picks two or more epochs old have expired. Select adds
// to `cur`; a report takes from `cur` or `prev` and, for a success, adds to `pending`,
// in one compare-and-swap: a report racing an expiry settles the pick exactly once, a
// report can never take a count that is not there, and a successful report costs one
// read-modify-write (`pending` is moved to the counter once every 4096 successes).
//
// 12 bits of epoch are enough: the expiry epoch moves at most one step per clock read
// and only once a whole timeout has passed since its last step, and every step brings
// the word of every instance (in the set or waiting in the graveyard) to the new epoch
// before the next step can happen. A word is therefore never more than a step or two
// behind, far inside the 2048 steps that `rotated` can tell apart. Report also refuses
// a pick two epochs old from the pick's own 32-bit epoch before it looks at the word.
//
// The per-instance in-flight count has a ceiling, `IN_FLIGHT_MAX` (2^20 - 1): the
// picks of both epochs together never exceed it, so neither 20-bit field overflows.
// Select reports an instance at the ceiling distinctly (`Error::InFlightLimit`).

const EPOCH_MASK: u16 = (1 << 12) - 1;
const COUNT_BITS: u32 = 20;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
/// Most picks one instance can have in flight at once, whatever its capacity says
/// (capacity 0, "unlimited", means up to this).
pub const IN_FLIGHT_MAX: u32 = COUNT_MAX as u32;
const PENDING_BITS: u32 = 12;
const PENDING_MAX: u64 = (1 << PENDING_BITS) - 1;
const PREV_SHIFT: u32 = PENDING_BITS;
const CUR_SHIFT: u32 = PREV_SHIFT + COUNT_BITS;
const EPOCH_SHIFT: u32 = CUR_SHIFT + COUNT_BITS;

/// The fields of an in-flight word.
#[derive(Clone, Copy)]
struct Flight {
    epoch: u16,
    cur: u64,
    prev: u64,
    pending: u64,
}

impl Flight {
    #[inline]
    fn unpack(w: u64) -> Flight {
        Flight {
            epoch: (w >> EPOCH_SHIFT) as u16 & EPOCH_MASK,
            cur: (w >> CUR_SHIFT) & COUNT_MAX,
            prev: (w >> PREV_SHIFT) & COUNT_MAX,
            pending: w & PENDING_MAX,
        }
    }

    #[inline]
    fn pack(self) -> u64 {
        ((self.epoch & EPOCH_MASK) as u64) << EPOCH_SHIFT
            | self.cur << CUR_SHIFT
            | self.prev << PREV_SHIFT
            | self.pending
    }

    /// This word brought to epoch `e` (low bits): (the word, newly expired picks). A
    /// word already at a later epoch (another thread saw the clock first) is kept.
    #[inline]
    fn rotated(self, e: u16) -> (Flight, u64) {
        let behind = e.wrapping_sub(self.epoch) & EPOCH_MASK;
        if behind == 0 || behind > EPOCH_MASK / 2 {
            (self, 0)
        } else if behind == 1 {
            let next = Flight {
                epoch: e,
                cur: 0,
                prev: self.cur,
                ..self
            };
            (next, self.prev)
        } else {
            let next = Flight {
                epoch: e,
                cur: 0,
                prev: 0,
                ..self
            };
            (next, self.cur + self.prev)
        }
    }
}

/// Why an instance refused a pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// At the capacity its caller gave it.
    Capacity,
    /// At `IN_FLIGHT_MAX`.
    Ceiling,
}

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

/// The latency average's time constant, in the forms the request path uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LatencyDecay {
    pub tau_us: f64,
    /// Smallest interval decayed in one step: tau/1024 (a factor of 0.999).
    pub step_us: u64,
}

impl LatencyDecay {
    pub(crate) fn new(tau_ms: f64) -> Self {
        let tau_us = tau_ms * 1000.0;
        LatencyDecay {
            tau_us,
            step_us: (tau_us / 1024.0) as u64,
        }
    }
}

// ---- The health word -------------------------------------------------------------
//
// [kind: 2][ejections: 14][data: 48]. Healthy: data = when it last became healthy (us).
// Ejected: data = end of its cool-down (us). Probation: data = trial successes in a row.
// Every transition is one compare-and-swap, so racing reporters make it once.

pub(crate) const HEALTHY: u64 = 0;
pub(crate) const EJECTED: u64 = 1;
pub(crate) const PROBATION: u64 = 2;
const DATA_MASK: u64 = (1 << 48) - 1;
const EJECTIONS_MAX: u64 = (1 << 14) - 1;

#[inline]
fn health_kind(w: u64) -> u64 {
    w >> 62
}
#[inline]
fn health_ejections(w: u64) -> u64 {
    (w >> 48) & EJECTIONS_MAX
}
#[inline]
fn health_data(w: u64) -> u64 {
    w & DATA_MASK
}
#[inline]
fn health_word(kind: u64, ejections: u64, data: u64) -> u64 {
    (kind << 62) | (ejections.min(EJECTIONS_MAX) << 48) | (data & DATA_MASK)
}

/// Cool-down of the `n`-th ejection (n >= 1): base * 2^(n-1), capped.
pub(crate) fn cooldown_us(cfg: &Config, n: u64) -> u64 {
    let base = cfg.base_ejection_ms.saturating_mul(1000);
    let max = cfg.max_ejection_ms.saturating_mul(1000);
    let shift = n.saturating_sub(1).min(40) as u32;
    base.saturating_mul(1u64 << shift).min(max)
}

/// The words written on every select and report, together on one cache line.
pub(crate) struct Hot {
    flight: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    cancelled: AtomicU64,
    consecutive_failures: AtomicU64,
    /// Latency average: f32 mean (us) in the high half, f32 decayed sample weight low.
    latency: AtomicU64,
    /// Coarse time of the last decay step of `latency`.
    latency_stamp: AtomicU64,
    /// Unique per balancer and never reused: a removed id that comes back is a new
    /// incarnation, so stale picks cannot land on it. Immutable; kept here so select
    /// and report touch one cache line per instance.
    incarnation: u64,
}

pub(crate) struct InstanceState {
    pub(crate) hot: CachePadded<Hot>,
    pub(crate) id: u64,
    expired: AtomicU64,
    health: AtomicU64,
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
    /// Adaptive: requests completed when the current evaluation window began.
    pub(crate) window_start_completed: AtomicU64,
}

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
    pub(crate) fn requests(&self) -> u64 {
        self.successes + self.failures + self.cancelled + self.expired + self.in_flight
    }
    pub(crate) fn add(&mut self, o: &Counts) {
        self.successes += o.successes;
        self.failures += o.failures;
        self.cancelled += o.cancelled;
        self.expired += o.expired;
        self.in_flight += o.in_flight;
    }
}

impl InstanceState {
    pub(crate) fn new(id: u64, incarnation: u64, epoch: u64, now_us: u64) -> Self {
        InstanceState {
            hot: CachePadded::new(Hot {
                flight: AtomicU64::new(
                    Flight {
                        epoch: epoch as u16 & EPOCH_MASK,
                        cur: 0,
                        prev: 0,
                        pending: 0,
                    }
                    .pack(),
                ),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                consecutive_failures: AtomicU64::new(0),
                latency: AtomicU64::new(0),
                latency_stamp: AtomicU64::new(now_us),
                incarnation,
            }),
            id,
            expired: AtomicU64::new(0),
            health: AtomicU64::new(health_word(HEALTHY, 0, now_us)),
            external_score: AtomicF64::new(1.0),
            passive_score: AtomicF64::new(1.0),
            seen_successes: AtomicU64::new(0),
            seen_failures: AtomicU64::new(0),
            recent_successes: AtomicF64::new(0.0),
            recent_failures: AtomicF64::new(0.0),
            window_start_completed: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn incarnation(&self) -> u64 {
        self.hot.incarnation
    }

    // ---- in flight ----

    /// Takes one in-flight slot in `epoch` unless the instance is at `capacity`
    /// (0 = unlimited) or at the in-flight ceiling. Returns the epoch the pick
    /// belongs to.
    #[inline]
    pub(crate) fn try_acquire(&self, epoch: u32, capacity: u32) -> Result<u32, Full> {
        let e = epoch as u16 & EPOCH_MASK;
        let mut w = self.hot.flight.load(Ordering::Relaxed);
        loop {
            let (mut f, expired) = Flight::unpack(w).rotated(e);
            let in_flight = f.cur + f.prev;
            if capacity != 0 && in_flight >= capacity as u64 && capacity < IN_FLIGHT_MAX {
                return Err(Full::Capacity);
            }
            if in_flight >= COUNT_MAX {
                return Err(Full::Ceiling);
            }
            f.cur += 1;
            match self.hot.flight.compare_exchange_weak(
                w,
                f.pack(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if expired > 0 {
                        self.expired.fetch_add(expired, counted());
                    }
                    let ahead = f.epoch.wrapping_sub(e) & EPOCH_MASK;
                    return Ok(epoch.wrapping_add(ahead as u32));
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Gives back the slot of a pick taken in `epoch`, counting a success in the same
    /// step when `success`. False when there is no such slot: the pick expired, was
    /// already reported, or never existed.
    #[inline]
    pub(crate) fn release(&self, epoch: u32, success: bool) -> bool {
        let p = epoch as u16 & EPOCH_MASK;
        let mut w = self.hot.flight.load(Ordering::Relaxed);
        loop {
            let mut f = Flight::unpack(w);
            #[cfg(loom)]
            if fault::on(&fault::UNCHECKED_RELEASE) && f.epoch == p {
                self.hot.flight.fetch_sub(1 << CUR_SHIFT, Ordering::AcqRel);
                if success {
                    self.hot.successes.fetch_add(1, counted());
                }
                return true;
            }
            if f.epoch == p {
                if f.cur == 0 {
                    return false;
                }
                f.cur -= 1;
            } else if f.epoch == (p + 1) & EPOCH_MASK {
                if f.prev == 0 {
                    return false;
                }
                f.prev -= 1;
            } else {
                return false;
            }
            // A success goes to `pending`; a full `pending` moves to the counter.
            let mut moved = 0;
            if success {
                if f.pending < PENDING_MAX {
                    f.pending += 1;
                } else {
                    moved = f.pending + 1;
                    f.pending = 0;
                }
            }
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_RELEASE) {
                self.hot.flight.store(f.pack(), Ordering::Release);
                if moved > 0 {
                    self.hot.successes.fetch_add(moved, counted());
                }
                return true;
            }
            match self.hot.flight.compare_exchange_weak(
                w,
                f.pack(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if moved > 0 {
                        self.hot.successes.fetch_add(moved, counted());
                    }
                    return true;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Retires the picks that are two or more epochs older than `epoch`.
    pub(crate) fn expire_to(&self, epoch: u64) {
        let e = epoch as u16 & EPOCH_MASK;
        let mut w = self.hot.flight.load(Ordering::Acquire);
        loop {
            let old = Flight::unpack(w);
            let (f, expired) = old.rotated(e);
            if f.epoch == old.epoch {
                return;
            }
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_EXPIRY) {
                self.hot.flight.store(f.pack(), Ordering::Release);
                if expired > 0 {
                    self.expired.fetch_add(expired, counted());
                }
                return;
            }
            match self
                .hot
                .flight
                .compare_exchange(w, f.pack(), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if expired > 0 {
                        self.expired.fetch_add(expired, counted());
                    }
                    return;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Picks in flight (as of the last rotation; `expire_to` first for an exact view).
    #[inline]
    pub(crate) fn in_flight(&self) -> u64 {
        let f = Flight::unpack(self.hot.flight.load(Ordering::Acquire));
        f.cur + f.prev
    }

    // ---- outcomes ----

    /// The success itself was counted by `release`; this ends a failure streak.
    pub(crate) fn record_success(&self) {
        if self.hot.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.hot.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Returns the failure streak including this failure.
    pub(crate) fn record_failure(&self) -> u64 {
        self.hot.failures.fetch_add(1, counted());
        self.hot
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            + 1
    }

    pub(crate) fn record_cancel(&self) {
        self.hot.cancelled.fetch_add(1, counted());
    }

    /// Reads the counters; outcomes before in flight, so a racing report is never
    /// counted twice (at worst missed until the next read). The word's pending
    /// successes and in-flight counts are read together.
    pub(crate) fn counts(&self) -> Counts {
        let moved = self.hot.successes.load(Ordering::Acquire);
        let failures = self.hot.failures.load(Ordering::Acquire);
        let cancelled = self.hot.cancelled.load(Ordering::Acquire);
        let expired = self.expired.load(Ordering::Acquire);
        let f = Flight::unpack(self.hot.flight.load(Ordering::Acquire));
        let in_flight = f.cur + f.prev;
        Counts {
            successes: moved + f.pending,
            failures,
            cancelled,
            expired,
            in_flight,
        }
    }

    pub(crate) fn consecutive_failures(&self) -> u64 {
        self.hot.consecutive_failures.load(Ordering::Relaxed)
    }

    // ---- latency ----

    /// Folds a latency sample into a time-decayed average: each sample's weight decays
    /// as exp(-age/tau), and the average is the weighted mean. Many samples in a short
    /// burst and a trickle of samples far apart both converge to the recent level.
    /// The decay for an interval is applied once, by whoever moves the stamp; the
    /// mean itself is a plain load and store, since losing one sample of an average
    /// under a race costs nothing and an extra read-modify-write per report would.
    #[inline]
    pub(crate) fn record_latency(&self, sample_us: f64, now_us: u64, decay: &LatencyDecay) {
        let stamp = self.hot.latency_stamp.load(Ordering::Relaxed);
        let mut factor = 1.0;
        // Decay in steps of at least tau/1024 (a factor of 0.999 per step): the whole
        // interval is still applied when it is, but most reports skip the CAS and exp.
        if now_us >= stamp.saturating_add(decay.step_us)
            && self
                .hot
                .latency_stamp
                .compare_exchange(stamp, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            factor = libm::exp(-((now_us - stamp) as f64) / decay.tau_us);
        }
        let w = self.hot.latency.load(Ordering::Relaxed);
        let mean = f32::from_bits((w >> 32) as u32) as f64;
        let weight = f32::from_bits(w as u32) as f64 * factor;
        let new_weight = weight + 1.0;
        let new_mean = mean + (sample_us - mean) / new_weight;
        let packed = ((new_mean as f32).to_bits() as u64) << 32
            | (new_weight.min(65_536.0) as f32).to_bits() as u64;
        self.hot.latency.store(packed, Ordering::Relaxed);
    }

    /// The latency average in microseconds; 0 before any sample.
    pub(crate) fn latency_ewma(&self) -> f64 {
        let w = self.hot.latency.load(Ordering::Relaxed);
        if f32::from_bits(w as u32) <= 0.0 {
            return 0.0;
        }
        f32::from_bits((w >> 32) as u32) as f64
    }

    // ---- health state ----

    /// The health score: passive evidence times the external check, in 0..=1.
    pub(crate) fn health_score(&self) -> f64 {
        let s = self.passive_score.load(Ordering::Relaxed)
            * self.external_score.load(Ordering::Relaxed);
        s.clamp(0.0, 1.0)
    }

    pub(crate) fn health_kind(&self) -> u64 {
        health_kind(self.health.load(Ordering::Acquire))
    }

    #[cfg(test)]
    pub(crate) fn ejections(&self) -> u64 {
        health_ejections(self.health.load(Ordering::Acquire))
    }

    /// Healthy or on probation -> ejected, with a cool-down that grows with each
    /// ejection. True for the one caller that made the transition.
    pub(crate) fn try_eject(&self, now_us: u64, cfg: &Config) -> bool {
        let mut w = self.health.load(Ordering::Acquire);
        loop {
            if health_kind(w) == EJECTED {
                return false;
            }
            let n = health_ejections(w) + 1;
            let new = health_word(EJECTED, n, now_us.saturating_add(cooldown_us(cfg, n)));
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_HEALTH_TRANSITION) {
                self.health.store(new, Ordering::Release);
                return true;
            }
            match self
                .health
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => w = actual,
            }
        }
    }

    /// Ejected with its cool-down over -> probation (trial traffic).
    pub(crate) fn try_begin_probation(&self, now_us: u64) -> bool {
        let w = self.health.load(Ordering::Acquire);
        if health_kind(w) != EJECTED || now_us < health_data(w) {
            return false;
        }
        let new = health_word(PROBATION, health_ejections(w), 0);
        self.health
            .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A successful request while on probation; true when it completes the run of
    /// successes that returns the instance to service.
    pub(crate) fn trial_success(&self, now_us: u64, cfg: &Config) -> bool {
        let mut w = self.health.load(Ordering::Acquire);
        loop {
            if health_kind(w) != PROBATION {
                return false;
            }
            let run = health_data(w) + 1;
            let done = run >= cfg.recovery_successes as u64;
            let new = if done {
                health_word(HEALTHY, health_ejections(w), now_us)
            } else {
                health_word(PROBATION, health_ejections(w), run)
            };
            match self
                .health
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return done,
                Err(actual) => w = actual,
            }
        }
    }

    /// A long healthy stretch forgives one earlier ejection, so the cool-down shrinks
    /// back for a backend that has been fine for a while.
    pub(crate) fn forgive_ejection(&self, now_us: u64, cfg: &Config) {
        let w = self.health.load(Ordering::Acquire);
        let since = health_data(w);
        if health_kind(w) == HEALTHY
            && health_ejections(w) > 0
            && now_us.saturating_sub(since) >= cfg.max_ejection_ms.saturating_mul(1000)
        {
            let new = health_word(HEALTHY, health_ejections(w) - 1, now_us);
            let _ = self
                .health
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn acquire_and_release_balance_and_refuse_extra_releases() {
        let s = InstanceState::new(1, 1, 0, 0);
        let e = s.try_acquire(0, 0).unwrap();
        assert_eq!(s.in_flight(), 1);
        assert!(s.release(e, true));
        assert!(
            !s.release(e, true),
            "a second release of the same slot must be refused"
        );
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn successes_fold_from_the_word_into_the_counter_without_loss() {
        let s = InstanceState::new(1, 1, 0, 0);
        let n = 3 * (PENDING_MAX + 1) + 7;
        for _ in 0..n {
            let e = s.try_acquire(0, 0).unwrap();
            assert!(s.release(e, true));
        }
        let c = s.counts();
        assert_eq!((c.successes, c.in_flight), (n, 0));
        let e = s.try_acquire(0, 0).unwrap();
        assert!(s.release(e, false));
        assert_eq!(
            s.counts().successes,
            n,
            "a non-success does not count as one"
        );
    }

    #[test]
    fn capacity_is_a_hard_limit() {
        let s = InstanceState::new(1, 1, 0, 0);
        assert!(s.try_acquire(0, 2).is_ok());
        assert!(s.try_acquire(0, 2).is_ok());
        assert_eq!(s.try_acquire(0, 2), Err(Full::Capacity));
    }

    #[test]
    fn picks_two_epochs_old_expire_once() {
        let s = InstanceState::new(1, 1, 0, 0);
        let e0 = s.try_acquire(0, 0).unwrap();
        let e1 = s.try_acquire(1, 0).unwrap();
        assert_eq!(s.in_flight(), 2);
        s.expire_to(2);
        assert_eq!(s.counts().expired, 1);
        assert_eq!(s.in_flight(), 1);
        assert!(!s.release(e0, false), "expired pick must not be released");
        assert!(s.release(e1, false));
        s.expire_to(3);
        s.expire_to(3);
        assert_eq!(s.counts().expired, 1);
    }

    #[test]
    fn latency_average_converges_for_burst_and_trickle() {
        let tau = LatencyDecay::new(1_000.0);
        // A trickle far apart: each sample nearly replaces the old level.
        let s = InstanceState::new(1, 1, 0, 0);
        for i in 1..=5u64 {
            s.record_latency(100.0, i * 10_000_000, &tau);
        }
        s.record_latency(1000.0, 60_000_000, &tau);
        assert!(s.latency_ewma() > 990.0, "{}", s.latency_ewma());
        // A burst after a long history converges within a few time constants.
        let s = InstanceState::new(1, 1, 0, 0);
        for t in 0..1000u64 {
            s.record_latency(100.0, t * 1000, &tau);
        }
        for t in 1000..6000u64 {
            s.record_latency(500.0, t * 1000, &tau);
        }
        let m = s.latency_ewma();
        assert!((m - 500.0).abs() < 5.0, "{m}");
    }

    #[test]
    fn ejection_is_one_transition_and_cooldown_grows() {
        let cfg = Config::default();
        let s = InstanceState::new(1, 1, 0, 0);
        assert!(s.try_eject(0, &cfg));
        assert!(!s.try_eject(0, &cfg));
        assert!(!s.try_begin_probation(cooldown_us(&cfg, 1) - 1));
        assert!(s.try_begin_probation(cooldown_us(&cfg, 1)));
        assert!(s.try_eject(10, &cfg));
        assert_eq!(s.ejections(), 2);
        assert_eq!(cooldown_us(&cfg, 2), 2 * cooldown_us(&cfg, 1));
        assert_eq!(cooldown_us(&cfg, 60), cfg.max_ejection_ms * 1000);
    }
}
