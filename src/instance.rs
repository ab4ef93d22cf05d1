//! One backend's live state: atomics only, the request-path words on their own cache line.

use crossbeam_utils::CachePadded;

use crate::config::Config;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicF64, AtomicU64, Ordering};

// ---- The in-flight word --------------------------------------------------------
//
// In-flight picks are counted per expiry epoch so that unreported picks can be retired
// without per-pick memory: one u64 holds the low 16 bits of the epoch it was last
// brought to, the picks taken in that epoch (`cur`) and in the epoch before (`prev`).
// Picks two or more epochs old have expired. Select adds to `cur` and report takes
// from `cur` or `prev` in one compare-and-swap, so a report racing an expiry settles
// the pick exactly once, and a report can never take a count that is not there.

const COUNT_BITS: u32 = 24;
/// Most picks one instance can have in flight per epoch half; beyond it the
/// instance counts as full.
pub(crate) const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

#[inline]
fn unpack(w: u64) -> (u16, u64, u64) {
    (
        (w >> 48) as u16,
        (w >> COUNT_BITS) & COUNT_MAX,
        w & COUNT_MAX,
    )
}

#[inline]
fn pack(epoch: u16, cur: u64, prev: u64) -> u64 {
    ((epoch as u64) << 48) | (cur << COUNT_BITS) | prev
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

/// Brings a word's view to epoch `e`: returns (epoch, cur, prev, newly expired).
/// A word already at a later epoch (another thread saw the clock first) is kept.
#[inline]
fn rotate(we: u16, cur: u64, prev: u64, e: u16) -> (u16, u64, u64, u64) {
    let behind = e.wrapping_sub(we);
    if behind == 0 || behind >= 0x8000 {
        (we, cur, prev, 0)
    } else if behind == 1 {
        (e, 0, cur, prev)
    } else {
        (e, 0, 0, cur + prev)
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
                flight: AtomicU64::new(pack(epoch as u16, 0, 0)),
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
    /// (0 = unlimited). Returns the epoch the pick belongs to.
    #[inline]
    pub(crate) fn try_acquire(&self, epoch: u32, capacity: u32) -> Option<u32> {
        let e = epoch as u16;
        let mut w = self.hot.flight.load(Ordering::Relaxed);
        loop {
            let (we, cur, prev) = unpack(w);
            let (ne, cur, prev, expired) = rotate(we, cur, prev, e);
            if (capacity != 0 && cur + prev >= capacity as u64) || cur >= COUNT_MAX {
                return None;
            }
            let new = pack(ne, cur + 1, prev);
            match self
                .hot
                .flight
                .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if expired > 0 {
                        self.expired.fetch_add(expired, counted());
                    }
                    return Some(epoch.wrapping_add(ne.wrapping_sub(e) as u32));
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Gives back the slot of a pick taken in `epoch`. False when there is no such
    /// slot: the pick expired, was already reported, or never existed.
    #[inline]
    pub(crate) fn release(&self, epoch: u32) -> bool {
        let p = epoch as u16;
        let mut w = self.hot.flight.load(Ordering::Relaxed);
        loop {
            let (we, cur, prev) = unpack(w);
            #[cfg(loom)]
            if fault::on(&fault::UNCHECKED_RELEASE) && we == p {
                self.hot.flight.fetch_sub(1 << COUNT_BITS, Ordering::AcqRel);
                return true;
            }
            let new = if we == p {
                if cur == 0 {
                    return false;
                }
                pack(we, cur - 1, prev)
            } else if we == p.wrapping_add(1) {
                if prev == 0 {
                    return false;
                }
                pack(we, cur, prev - 1)
            } else {
                return false;
            };
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_RELEASE) {
                self.hot.flight.store(new, Ordering::Release);
                return true;
            }
            match self
                .hot
                .flight
                .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => w = actual,
            }
        }
    }

    /// Retires the picks that are two or more epochs older than `epoch`.
    pub(crate) fn expire_to(&self, epoch: u64) {
        let e = epoch as u16;
        let mut w = self.hot.flight.load(Ordering::Acquire);
        loop {
            let (we, cur, prev) = unpack(w);
            let (ne, cur, prev, expired) = rotate(we, cur, prev, e);
            if ne == we {
                return;
            }
            let new = pack(ne, cur, prev);
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_EXPIRY) {
                self.hot.flight.store(new, Ordering::Release);
                if expired > 0 {
                    self.expired.fetch_add(expired, counted());
                }
                return;
            }
            match self
                .hot
                .flight
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
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
        let (_, cur, prev) = unpack(self.hot.flight.load(Ordering::Acquire));
        cur + prev
    }

    // ---- outcomes ----

    pub(crate) fn record_success(&self) {
        self.hot.successes.fetch_add(1, counted());
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
    /// counted twice (at worst missed until the next read).
    pub(crate) fn counts(&self) -> Counts {
        let successes = self.hot.successes.load(Ordering::Acquire);
        let failures = self.hot.failures.load(Ordering::Acquire);
        let cancelled = self.hot.cancelled.load(Ordering::Acquire);
        let expired = self.expired.load(Ordering::Acquire);
        let in_flight = self.in_flight();
        Counts {
            successes,
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
    pub(crate) fn record_latency(&self, sample_us: f64, now_us: u64, tau_us: f64) {
        let stamp = self.hot.latency_stamp.load(Ordering::Relaxed);
        let mut decay = 1.0;
        // Decay in steps of at least tau/1024 (a factor of 0.999 per step): the whole
        // interval is still applied when it is, but most reports skip the CAS and exp.
        if now_us as f64 >= stamp as f64 + tau_us * (1.0 / 1024.0)
            && self
                .hot
                .latency_stamp
                .compare_exchange(stamp, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            decay = libm::exp(-((now_us - stamp) as f64) / tau_us);
        }
        let w = self.hot.latency.load(Ordering::Relaxed);
        let mean = f32::from_bits((w >> 32) as u32) as f64;
        let weight = f32::from_bits(w as u32) as f64 * decay;
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
        assert!(s.release(e));
        assert!(
            !s.release(e),
            "a second release of the same slot must be refused"
        );
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn capacity_is_a_hard_limit() {
        let s = InstanceState::new(1, 1, 0, 0);
        assert!(s.try_acquire(0, 2).is_some());
        assert!(s.try_acquire(0, 2).is_some());
        assert!(s.try_acquire(0, 2).is_none());
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
        assert!(!s.release(e0), "expired pick must not be released");
        assert!(s.release(e1));
        s.expire_to(3);
        s.expire_to(3);
        assert_eq!(s.counts().expired, 1);
    }

    #[test]
    fn latency_average_converges_for_burst_and_trickle() {
        let tau = 1_000_000.0;
        // A trickle far apart: each sample nearly replaces the old level.
        let s = InstanceState::new(1, 1, 0, 0);
        for i in 1..=5u64 {
            s.record_latency(100.0, i * 10_000_000, tau);
        }
        s.record_latency(1000.0, 60_000_000, tau);
        assert!(s.latency_ewma() > 990.0, "{}", s.latency_ewma());
        // A burst after a long history converges within a few time constants.
        let s = InstanceState::new(1, 1, 0, 0);
        for t in 0..1000u64 {
            s.record_latency(100.0, t * 1000, tau);
        }
        for t in 1000..6000u64 {
            s.record_latency(500.0, t * 1000, tau);
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
