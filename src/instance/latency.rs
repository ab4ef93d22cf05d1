//! An instance's latency average: a time-decayed mean, updated with plain loads and
//! stores on the report path.

use super::peak::PeakEstimate;
use crate::sync::{AtomicU64, Ordering};

/// The latency average's time constant, in the forms the request path uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LatencyDecay {
    pub tau_us: f64,
    /// Smallest interval decayed in one step: tau/1024 (a factor of 0.999).
    pub step_us: u64,
    /// The Peak EWMA estimate's time constant.
    pub peak_tau_us: f64,
}

impl LatencyDecay {
    /// From the latency average's and the Peak EWMA estimate's time constants.
    pub(crate) fn new(tau_ms: f64, peak_tau_ms: f64) -> Self {
        let tau_us = tau_ms * 1000.0;
        LatencyDecay {
            tau_us,
            step_us: (tau_us / 1024.0) as u64,
            peak_tau_us: peak_tau_ms * 1000.0,
        }
    }
}

/// Each sample's weight decays as exp(-age/tau) and the average is the weighted
/// mean, so many samples in a short burst and a trickle of samples far apart both
/// converge to the recent level.
pub(crate) struct LatencyAverage {
    /// The mean (us), f64 bits.
    mean: AtomicU64,
    /// The decayed weight of the samples so far, f64 bits (0 before any).
    weight: AtomicU64,
    /// Coarse time of the last decay step.
    stamp: AtomicU64,
    /// Peak EWMA's estimate, from the same samples and stepping with the average.
    peak: PeakEstimate,
}

impl LatencyAverage {
    pub(crate) fn new(now_us: u64) -> Self {
        LatencyAverage {
            mean: AtomicU64::new(0),
            weight: AtomicU64::new(0),
            stamp: AtomicU64::new(now_us),
            peak: PeakEstimate::new(),
        }
    }

    /// Folds in one sample, into the average and into the Peak EWMA estimate.
    /// The decay for an interval is applied once, by whoever moves the stamp; the
    /// mean itself is a plain load and store, since losing one sample of an average
    /// under a race costs nothing and an extra read-modify-write per report would
    /// (the mean and the weight are stored one after the other: a racing report may
    /// pair one's mean with the other's weight, which moves the average by no more
    /// than a sample). The estimate steps with the average (`PeakEstimate::step`);
    /// between steps it only takes peaks (`PeakEstimate::raise`). Nothing here can
    /// panic or call out, so the request path's unguarded common case can record.
    #[inline(always)]
    pub(crate) fn record(&self, sample_us: f64, now_us: u64, decay: &LatencyDecay) {
        let stamp = self.stamp.load(Ordering::Relaxed);
        let mut weight = f64::from_bits(self.weight.load(Ordering::Relaxed));
        // Decay in steps of at least tau/1024 (a factor of 0.999 per step): the whole
        // interval is still applied when it is, but most reports skip the CAS and exp.
        // Wrapping: a `now_us` behind the stamp (another reporter saw a later
        // time) looks due here and is sorted out by the second test.
        if now_us.wrapping_sub(stamp) >= decay.step_us
            && now_us > stamp
            && self
                .stamp
                .compare_exchange(stamp, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // now > stamp: the interval is below 2^63, so it converts as signed.
            let elapsed = now_us.wrapping_sub(stamp) as i64 as f64;
            weight *= exp_neg(elapsed / decay.tau_us);
            self.peak.step(sample_us, elapsed / decay.peak_tau_us);
        } else {
            self.peak.raise(sample_us);
        }
        let mean = f64::from_bits(self.mean.load(Ordering::Relaxed));
        let new_weight = weight + 1.0;
        let new_mean = mean + (sample_us - mean) / new_weight;
        self.mean.store(new_mean.to_bits(), Ordering::Relaxed);
        self.weight
            .store(new_weight.min(65_536.0).to_bits(), Ordering::Relaxed);
    }

    /// The Peak EWMA estimate (us; see `PeakEstimate::get`).
    #[inline(always)]
    pub(crate) fn peak(&self) -> f64 {
        self.peak.get()
    }

    /// Fades the Peak EWMA estimate by `w` (see `PeakEstimate::fade`).
    pub(crate) fn fade_peak(&self, w: f64) {
        self.peak.fade(w);
    }

    /// The average in microseconds; 0 before any sample.
    pub(crate) fn get(&self) -> f64 {
        if f64::from_bits(self.weight.load(Ordering::Relaxed)) <= 0.0 {
            return 0.0;
        }
        f64::from_bits(self.mean.load(Ordering::Relaxed))
    }
}

/// e^-x for x >= 0 (0 from x = 700 on, and 1 for NaN: no decay), to about 1e-13 relative (the rounding of x log2(e) for large x; a sample
/// weight stored as f32 needs far less): 2^-k from the exponent bits times e^-y,
/// y in [0, ln 2), by its Taylor series to y^13/13! (a remainder below 2^-52).
/// Inline arithmetic only, so the report path stays free of calls.
#[inline(always)]
pub(super) fn exp_neg(x: f64) -> f64 {
    if x.is_nan() {
        return 1.0;
    }
    if x >= 700.0 {
        return 0.0;
    }
    let t = x * std::f64::consts::LOG2_E;
    let k = t as u64; // t >= 0: truncation is floor; k <= 1010
    let y = (t - k as f64) * std::f64::consts::LN_2;
    // Horner over (-1)^i / i!, i = 13 down to 0.
    const C: [f64; 14] = [
        1.0,
        -1.0,
        1.0 / 2.0,
        -1.0 / 6.0,
        1.0 / 24.0,
        -1.0 / 120.0,
        1.0 / 720.0,
        -1.0 / 5_040.0,
        1.0 / 40_320.0,
        -1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        -1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        -1.0 / 6_227_020_800.0,
    ];
    let mut p = C[13];
    for c in C[..13].iter().rev() {
        p = p * y + c;
    }
    // 2^-k as an f64: exponent 1023 - k >= 13, a normal number.
    p * f64::from_bits((1023 - k) << 52)
}

/// 1 - e^-x for x >= 0, for the Peak EWMA estimate's step: for x below 1/16
/// (steps short against the time constant, the common case) by its series to
/// x^5/5! (a relative error below 1e-8, and no cancellation), else from `exp_neg`.
/// Inline arithmetic only.
#[inline(always)]
pub(super) fn one_minus_exp_neg(x: f64) -> f64 {
    if x < 0.0625 {
        // x (1 - x/2 (1 - x/3 (1 - x/4 (1 - x/5)))).
        x * (1.0 - x / 2.0 * (1.0 - x / 3.0 * (1.0 - x / 4.0 * (1.0 - x / 5.0))))
    } else {
        1.0 - exp_neg(x)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = 0.0;
        while x < 690.0 {
            let want = libm::exp(-x);
            let got = exp_neg(x);
            worst = worst.max(((got - want) / want).abs());
            x = x * 1.07 + 1e-4;
        }
        assert!(worst < 1e-12, "worst relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(1e6), 0.0);
        assert_eq!(exp_neg(f64::INFINITY), 0.0);
        let mut x = 1e-9;
        while x < 50.0 {
            let want = -libm::expm1(-x);
            let got = one_minus_exp_neg(x);
            assert!(
                ((got - want) / want).abs() < 1e-8,
                "1 - e^-{x}: {got} vs {want}"
            );
            x *= 1.01;
        }
    }

    #[test]
    fn converges_for_burst_and_trickle() {
        let tau = LatencyDecay::new(1_000.0, 10_000.0);
        // A trickle far apart: each sample nearly replaces the old level.
        let a = LatencyAverage::new(0);
        for i in 1..=5u64 {
            a.record(100.0, i * 10_000_000, &tau);
        }
        a.record(1000.0, 60_000_000, &tau);
        assert!(a.get() > 990.0, "{}", a.get());
        // A burst after a long history converges within a few time constants.
        let a = LatencyAverage::new(0);
        for t in 0..1000u64 {
            a.record(100.0, t * 1000, &tau);
        }
        for t in 1000..6000u64 {
            a.record(500.0, t * 1000, &tau);
        }
        assert!((a.get() - 500.0).abs() < 5.0, "{}", a.get());
    }
}
