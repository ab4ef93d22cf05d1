//! An instance's latency average: a time-decayed mean, updated with plain loads and
//! stores on the report path.

use super::exp_neg::exp_neg;
use super::peak::PeakEstimate;
use crate::sync::{AtomicU64, Ordering};

/// The latency average's time constant, in the forms the request path uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LatencyDecay {
    pub tau_us: f64,
    /// Smallest interval decayed in one step: tau/1024 (a factor of 0.999), at
    /// least 1 us.
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
            step_us: ((tau_us / 1024.0) as u64).max(1),
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
    /// `peak_default_us`: what Peak EWMA prices the member at before its first
    /// sample.
    pub(crate) fn new(now_us: u64, peak_default_us: f64) -> Self {
        LatencyAverage {
            mean: AtomicU64::new(0),
            weight: AtomicU64::new(0),
            stamp: AtomicU64::new(now_us),
            peak: PeakEstimate::new(peak_default_us),
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
        // A `now_us` behind the stamp (another reporter saw a later time) is not
        // due: `step_us` is at least 1. (Wrapping: only a clock within a step of
        // 2^64 us could wrap, and then the average merely starts again.)
        if now_us >= stamp.wrapping_add(decay.step_us)
            && self
                .stamp
                .compare_exchange(stamp, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // now > stamp: the interval is below 2^63, so it converts as signed.
            let elapsed = now_us.wrapping_sub(stamp) as i64 as f64;
            weight *= exp_neg(elapsed / decay.tau_us);
            self.peak.step(sample_us, elapsed / decay.peak_tau_us);
        }
        let mean = f64::from_bits(self.mean.load(Ordering::Relaxed));
        let new_weight = weight + 1.0;
        let new_mean = mean + (sample_us - mean) / new_weight;
        self.mean.store(new_mean.to_bits(), Ordering::Relaxed);
        self.weight
            .store(new_weight.min(65_536.0).to_bits(), Ordering::Relaxed);
    }

    /// Whether a sample may raise the Peak EWMA estimate (`PeakEstimate::raises`).
    #[inline(always)]
    pub(crate) fn raises_peak(&self, sample_us: u64) -> bool {
        self.peak.raises(sample_us)
    }

    /// `PeakEstimate::raise_whole`: a sample `raises_peak` let through.
    #[inline(always)]
    pub(crate) fn raise_peak_whole(&self, sample_us: u64) {
        self.peak.raise_whole(sample_us);
    }

    /// Takes a sample into the Peak EWMA estimate between its steps: one above it
    /// replaces it (`record` takes samples on the steps).
    #[inline(always)]
    pub(crate) fn raise_peak(&self, sample_us: f64) {
        self.peak.raise(sample_us);
    }

    /// The Peak EWMA estimate (us; see `PeakEstimate::get`).
    #[inline(always)]
    pub(crate) fn peak(&self) -> f64 {
        self.peak.get()
    }

    /// Fades the Peak EWMA estimate by `w` (see `PeakEstimate::fade`).
    pub(crate) fn fade_peak(&self, w: f64, default_us: f64) {
        self.peak.fade(w, default_us);
    }

    /// What Peak EWMA prices the member at (us; `PeakEstimate::priced_us`).
    #[inline(always)]
    pub(crate) fn peak_priced_us(&self) -> u64 {
        self.peak.priced_us()
    }

    /// The average in microseconds; 0 before any sample.
    pub(crate) fn get(&self) -> f64 {
        if f64::from_bits(self.weight.load(Ordering::Relaxed)) <= 0.0 {
            return 0.0;
        }
        f64::from_bits(self.mean.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn converges_for_burst_and_trickle() {
        let tau = LatencyDecay::new(1_000.0, 10_000.0);
        // A trickle far apart: each sample nearly replaces the old level.
        let a = LatencyAverage::new(0, 30_000.0);
        for i in 1..=5u64 {
            a.record(100.0, i * 10_000_000, &tau);
        }
        a.record(1000.0, 60_000_000, &tau);
        assert!(a.get() > 990.0, "{}", a.get());
        // A burst after a long history converges within a few time constants.
        let a = LatencyAverage::new(0, 30_000.0);
        for t in 0..1000u64 {
            a.record(100.0, t * 1000, &tau);
        }
        for t in 1000..6000u64 {
            a.record(500.0, t * 1000, &tau);
        }
        assert!((a.get() - 500.0).abs() < 5.0, "{}", a.get());
    }
}
