//! An instance's peak-sensitive latency estimate (Peak EWMA, as Finagle's and
//! tower's `PeakEwma` define it): a sample above the estimate replaces it at once;
//! one below it pulls it down with weight 1 - exp(-elapsed / tau), so a spike is
//! seen within one sample and forgotten over the time constant. Between samples
//! the estimate decays towards 0 over the same time constant (tower decays it so
//! on every read; here the maintenance pass does), so a member avoided after a
//! spike gets traffic again, and its next sample sets the level. One plain load
//! and a compare on most reports (see `raise` and `step`).

use super::exp_neg::one_minus_exp_neg;
use crate::sync::{AtomicU64, Ordering};

/// The least an estimate with samples decays to (us).
const FLOOR_US: f64 = 1.0;

/// The least a member without samples fades to, as a fraction of the default.
const FLOOR_DEFAULT: f64 = 1e-3;

/// Before the first sample the estimate holds minus a fraction of the default
/// latency (starting at -1: the default itself), which fades like an estimate, so a
/// member never picked because the default is above its peers' latency is not
/// starved for ever (tower starts an estimate at the default and decays it so).
pub(crate) struct PeakEstimate {
    /// The estimate (us) when positive; minus a fraction of the default latency
    /// before any sample. f64 bits.
    estimate: AtomicU64,
    /// The estimate rounded down to whole microseconds (0 before any sample), so
    /// the report path tells a sample that cannot raise it with one integer
    /// compare (`raises`).
    floor_us: AtomicU64,
    /// What Peak EWMA prices the member at, in whole microseconds (at least 1):
    /// the estimate, or before any sample the default times the fraction. An
    /// integer, so that comparing two members' costs is integer arithmetic.
    priced_us: AtomicU64,
}

/// `priced_us` of an estimate (`default_us`: the default latency, for one
/// without samples), at most MAX_LATENCY_US.
fn priced(estimate: f64, default_us: f64) -> u64 {
    let us = if estimate > 0.0 {
        estimate
    } else {
        -estimate * default_us
    };
    // Saturating conversion (whole microseconds, rounded down); NaN becomes 0 and
    // then 1.
    (us as u64).clamp(1, super::MAX_LATENCY_US)
}

impl PeakEstimate {
    /// A member without samples, priced at `default_us`.
    pub(crate) fn new(default_us: f64) -> Self {
        PeakEstimate {
            estimate: AtomicU64::new((-1.0f64).to_bits()),
            floor_us: AtomicU64::new(0),
            priced_us: AtomicU64::new(priced(-1.0, default_us)),
        }
    }

    /// Stores `estimate` (`default_us` prices one without samples).
    fn set(&self, estimate: f64, default_us: f64) {
        self.estimate.store(estimate.to_bits(), Ordering::Relaxed);
        // Saturating conversion (a negative estimate, no sample, floors to 0),
        // kept at most MAX_LATENCY_US so that a sample not above it needs no clamp.
        let floor = (estimate as u64).min(super::MAX_LATENCY_US);
        self.floor_us.store(floor, Ordering::Relaxed);
        let priced = if floor > 0 {
            floor
        } else {
            priced(estimate, default_us)
        };
        self.priced_us.store(priced, Ordering::Relaxed);
    }

    /// `raise` of a sample in whole microseconds, at most `MAX_LATENCY_US`, that
    /// `raises` said may raise the estimate: it does (above the estimate's whole
    /// microseconds is above the estimate), with no conversion back from a float.
    #[inline(always)]
    pub(crate) fn raise_whole(&self, sample_us: u64) {
        self.estimate
            .store((sample_us as i64 as f64).to_bits(), Ordering::Relaxed);
        self.floor_us.store(sample_us, Ordering::Relaxed);
        self.priced_us.store(sample_us.max(1), Ordering::Relaxed);
    }

    /// What Peak EWMA prices the member at (us, see `priced_us`).
    #[inline(always)]
    pub(crate) fn priced_us(&self) -> u64 {
        self.priced_us.load(Ordering::Relaxed)
    }

    /// Whether a sample of `sample_us` may raise the estimate (it is above the
    /// estimate's whole microseconds, or above `MAX_LATENCY_US`): false for most
    /// samples, and then `raise` has nothing to do. One load and a compare.
    #[inline(always)]
    pub(crate) fn raises(&self, sample_us: u64) -> bool {
        sample_us > self.floor_us.load(Ordering::Relaxed)
    }

    /// Takes a sample between steps: one above the estimate replaces it (the
    /// first nonzero sample always does), a lower one is left out. One load and a
    /// compare, and a store on a new peak. Nothing here can panic or call out.
    #[inline(always)]
    pub(crate) fn raise(&self, sample_us: f64) {
        if sample_us > self.get() {
            self.set(sample_us, 0.0);
        }
    }

    /// Takes a sample on a step of the latency average, `x` = the interval the step
    /// covered / tau: one above the estimate replaces it, a lower one moves it
    /// towards the sample by 1 - exp(-x). Steps are at least 1/1024 of the
    /// average's time constant apart, so a run of lower samples decays the
    /// estimate at exp(-t / tau) in all, and a stale estimate (left alone for long)
    /// is replaced by its next sample. Racing reports may each store their own
    /// result (plain stores: at worst a sample is lost). No panic site, no call.
    #[inline(always)]
    pub(crate) fn step(&self, sample_us: f64, x: f64) {
        let estimate = self.get();
        let next = if sample_us > estimate {
            sample_us
        } else {
            (estimate - (estimate - sample_us) * one_minus_exp_neg(x)).max(FLOOR_US)
        };
        self.set_sampled(next);
    }

    /// `set` of an estimate with samples: `sample_us` and the estimate are in
    /// [0, MAX_LATENCY_US], so is `next`, and its whole microseconds need only the
    /// signed conversion (one instruction; the unsigned, saturating one is a
    /// dozen). The clamp keeps a value outside that range (none reaches here)
    /// harmless.
    #[inline(always)]
    fn set_sampled(&self, next: f64) {
        let next = next.clamp(0.0, super::MAX_LATENCY_US as f64);
        self.estimate.store(next.to_bits(), Ordering::Relaxed);
        let floor = next as i64 as u64;
        self.floor_us.store(floor, Ordering::Relaxed);
        self.priced_us.store(floor.max(1), Ordering::Relaxed);
    }

    /// Decays the estimate towards 0 by the factor `w` (exp(-elapsed / tau)),
    /// never below 1 us, and the fraction of the default of a member without
    /// samples never below `FLOOR_DEFAULT`.
    pub(crate) fn fade(&self, w: f64, default_us: f64) {
        let estimate = self.get();
        let faded = if estimate > 0.0 {
            (estimate * w).max(FLOOR_US)
        } else {
            (estimate * w).min(-FLOOR_DEFAULT)
        };
        self.set(faded, default_us);
    }

    /// The estimate in microseconds; before any sample, minus the fraction of the
    /// default latency it is priced at (`load::peak_estimate`).
    #[inline(always)]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.estimate.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_spike_is_taken_at_once_and_forgotten_over_tau() {
        let p = PeakEstimate::new(30_000.0);
        assert_eq!(p.get(), -1.0, "no sample yet: the default");
        p.raise(1_000.0);
        assert_eq!(p.get(), 1_000.0, "the first sample replaces nothing");
        p.raise(50_000.0);
        assert_eq!(p.get(), 50_000.0, "a spike is taken within one sample");
        p.raise(1_000.0);
        assert_eq!(
            p.get(),
            50_000.0,
            "a lower sample between steps is left out"
        );
        // Low samples on steps of tau/100 for one tau: the excess decays to e^-1.
        for _ in 0..100 {
            p.step(1_000.0, 0.01);
        }
        let want = 1_000.0 + 49_000.0 * (-1.0f64).exp();
        assert!(
            (p.get() - want).abs() < 0.001 * want,
            "{} vs {want}",
            p.get()
        );
        // Eight more taus: the spike is forgotten.
        for _ in 0..800 {
            p.step(1_000.0, 0.01);
        }
        assert!((p.get() - 1_000.0).abs() < 0.01 * 1_000.0, "{}", p.get());
        // A step above the estimate replaces it too.
        p.step(40_000.0, 0.01);
        assert_eq!(p.get(), 40_000.0);
        // One long step (a stale estimate) is replaced by its next sample.
        p.step(2_000.0, 360.0);
        assert!((p.get() - 2_000.0).abs() < 1e-6, "{}", p.get());
    }

    #[test]
    fn fading_goes_towards_zero_but_keeps_the_sample_mark() {
        let p = PeakEstimate::new(30_000.0);
        p.fade(0.5, 30_000.0);
        assert_eq!(p.get(), -0.5, "no sample: the default fades");
        for _ in 0..100 {
            p.fade(0.5, 30_000.0);
        }
        assert_eq!(p.get(), -FLOOR_DEFAULT, "and keeps its mark");
        p.raise(8_000.0);
        p.fade(0.5, 30_000.0);
        assert_eq!(p.get(), 4_000.0);
        for _ in 0..100 {
            p.fade(0.5, 30_000.0);
        }
        assert_eq!(p.get(), FLOOR_US, "a faded estimate still has samples");
        p.raise(3_000.0);
        assert_eq!(p.get(), 3_000.0, "its next sample sets the level");
    }
}
