//! An instance's health state as one atomic word: [kind: 2][ejections: 14][data: 48].
//!
//! Healthy: data = when it last became healthy (us). Ejected: data = end of its
//! cool-down (us). Probation: data = trial successes in a row. Every transition is
//! one compare-and-swap, so racing reporters make it once. The kinds are private to
//! this file: the rest of lb asks the questions below.

use crate::config::Config;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// In service.
    Healthy,
    /// Out of service until its cool-down ends.
    Ejected,
    /// Cool-down over: offered trial requests until it earns its way back.
    Probation,
}

const DATA_MASK: u64 = (1 << 48) - 1;
const EJECTIONS_MAX: u64 = (1 << 14) - 1;

/// A decoded word.
#[derive(Clone, Copy)]
struct State {
    kind: Kind,
    ejections: u64,
    data: u64,
}

impl State {
    fn decode(w: u64) -> State {
        let kind = match w >> 62 {
            0 => Kind::Healthy,
            1 => Kind::Ejected,
            // `encode` writes only the three kinds; 2 is probation.
            _ => Kind::Probation,
        };
        State {
            kind,
            ejections: (w >> 48) & EJECTIONS_MAX,
            data: w & DATA_MASK,
        }
    }

    fn encode(kind: Kind, ejections: u64, data: u64) -> u64 {
        let k = match kind {
            Kind::Healthy => 0u64,
            Kind::Ejected => 1,
            Kind::Probation => 2,
        };
        (k << 62) | (ejections.min(EJECTIONS_MAX) << 48) | (data & DATA_MASK)
    }
}

/// Cool-down of the `n`-th ejection (n >= 1): base * 2^(n-1), capped.
pub(crate) fn cooldown_us(cfg: &Config, n: u64) -> u64 {
    let base = cfg.base_ejection_ms.saturating_mul(1000);
    let max = cfg.max_ejection_ms.saturating_mul(1000);
    let shift = n.saturating_sub(1).min(40) as u32;
    base.saturating_mul(1u64 << shift).min(max)
}

/// The word, and the count of every ejection (for the read accessors only).
pub(crate) struct HealthWord(AtomicU64, AtomicU64);

impl HealthWord {
    pub(crate) fn new(now_us: u64) -> HealthWord {
        HealthWord(
            AtomicU64::new(State::encode(Kind::Healthy, 0, now_us)),
            AtomicU64::new(0),
        )
    }

    fn state(&self) -> State {
        State::decode(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.state().kind == Kind::Healthy
    }

    pub(crate) fn is_ejected(&self) -> bool {
        self.state().kind == Kind::Ejected
    }

    pub(crate) fn on_probation(&self) -> bool {
        self.state().kind == Kind::Probation
    }

    /// The end of its cool-down (us on the balancer's clock) while ejected.
    pub(crate) fn cooldown_end_us(&self) -> Option<u64> {
        let s = self.state();
        (s.kind == Kind::Ejected).then_some(s.data)
    }

    /// Every ejection it has had (the word's own count is lowered again by
    /// `forgive`; this one never is).
    pub(crate) fn times_ejected(&self) -> u64 {
        self.1.load(Ordering::Acquire)
    }

    /// Ejections counted in the word (decremented by `forgive`).
    #[cfg(test)]
    pub(crate) fn ejections(&self) -> u64 {
        self.state().ejections
    }

    /// Healthy or on probation -> ejected, with a cool-down that grows with each
    /// ejection. True for the one caller that made the transition.
    pub(crate) fn try_eject(&self, now_us: u64, cfg: &Config) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            let s = State::decode(w);
            if s.kind == Kind::Ejected {
                return false;
            }
            let n = s.ejections + 1;
            let new = State::encode(Kind::Ejected, n, now_us.saturating_add(cooldown_us(cfg, n)));
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_HEALTH_TRANSITION) {
                self.0.store(new, Ordering::Release);
                return true;
            }
            match self
                .0
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.1.fetch_add(1, Ordering::AcqRel);
                    return true;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Ejected with its cool-down over -> probation (trial traffic).
    pub(crate) fn try_begin_probation(&self, now_us: u64) -> bool {
        let w = self.0.load(Ordering::Acquire);
        let s = State::decode(w);
        if s.kind != Kind::Ejected || now_us < s.data {
            return false;
        }
        let new = State::encode(Kind::Probation, s.ejections, 0);
        self.0
            .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A successful request while on probation; true when it completes the run of
    /// successes that returns the instance to service.
    pub(crate) fn trial_success(&self, now_us: u64, cfg: &Config) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            let s = State::decode(w);
            if s.kind != Kind::Probation {
                return false;
            }
            let run = s.data + 1;
            let done = run >= cfg.recovery_successes as u64;
            let new = if done {
                State::encode(Kind::Healthy, s.ejections, now_us)
            } else {
                State::encode(Kind::Probation, s.ejections, run)
            };
            match self
                .0
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return done,
                Err(actual) => w = actual,
            }
        }
    }

    /// A long healthy stretch forgives one earlier ejection, so the cool-down shrinks
    /// back for a backend that has been fine for a while.
    pub(crate) fn forgive(&self, now_us: u64, cfg: &Config) {
        let w = self.0.load(Ordering::Acquire);
        let s = State::decode(w);
        if s.kind == Kind::Healthy
            && s.ejections > 0
            && now_us.saturating_sub(s.data) >= cfg.max_ejection_ms.saturating_mul(1000)
        {
            let new = State::encode(Kind::Healthy, s.ejections - 1, now_us);
            let _ = self
                .0
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ejection_is_one_transition_and_cooldown_grows() {
        let cfg = Config::default();
        let h = HealthWord::new(0);
        assert!(h.try_eject(0, &cfg));
        assert!(!h.try_eject(0, &cfg));
        assert!(h.is_ejected());
        assert!(!h.try_begin_probation(cooldown_us(&cfg, 1) - 1));
        assert!(h.try_begin_probation(cooldown_us(&cfg, 1)));
        assert!(h.on_probation());
        assert!(h.try_eject(10, &cfg));
        assert_eq!(h.ejections(), 2);
        assert_eq!(cooldown_us(&cfg, 2), 2 * cooldown_us(&cfg, 1));
        assert_eq!(cooldown_us(&cfg, 60), cfg.max_ejection_ms * 1000);
    }

    #[test]
    fn trial_successes_return_it_to_service() {
        let cfg = Config {
            recovery_successes: 2,
            ..Config::default()
        };
        let h = HealthWord::new(0);
        assert!(h.try_eject(0, &cfg));
        assert!(h.try_begin_probation(u64::MAX >> 20));
        assert!(!h.trial_success(1, &cfg));
        assert!(h.trial_success(2, &cfg));
        assert!(h.is_healthy());
        assert_eq!(h.ejections(), 1);
        h.forgive(2 + cfg.max_ejection_ms * 1000, &cfg);
        assert_eq!(h.ejections(), 0);
    }
}
