//! An instance's latency average: a time-decayed mean in one word, updated with a
//! plain load and store on the report path.

use crate::sync::{AtomicU64, Ordering};

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

/// Each sample's weight decays as exp(-age/tau) and the average is the weighted
/// mean, so many samples in a short burst and a trickle of samples far apart both
/// converge to the recent level.
pub(crate) struct LatencyAverage {
    /// f32 mean (us) in the high half, f32 decayed sample weight in the low half.
    value: AtomicU64,
    /// Coarse time of the last decay step.
    stamp: AtomicU64,
}

impl LatencyAverage {
    pub(crate) fn new(now_us: u64) -> Self {
        LatencyAverage {
            value: AtomicU64::new(0),
            stamp: AtomicU64::new(now_us),
        }
    }

    /// Folds in one sample. The decay for an interval is applied once, by whoever
    /// moves the stamp; the mean itself is a plain load and store, since losing one
    /// sample of an average under a race costs nothing and an extra
    /// read-modify-write per report would.
    #[inline(always)]
    pub(crate) fn record(&self, sample_us: f64, now_us: u64, decay: &LatencyDecay) {
        let stamp = self.stamp.load(Ordering::Relaxed);
        let w = self.value.load(Ordering::Relaxed);
        let mean = f32::from_bits((w >> 32) as u32) as f64;
        let mut weight = f32::from_bits(w as u32) as f64;
        // Decay in steps of at least tau/1024 (a factor of 0.999 per step): the whole
        // interval is still applied when it is, but most reports skip the CAS and exp.
        if now_us >= stamp.saturating_add(decay.step_us) {
            weight *= self.decay_factor(stamp, now_us, decay);
        }
        let new_weight = weight + 1.0;
        let new_mean = mean + (sample_us - mean) / new_weight;
        let packed = ((new_mean as f32).to_bits() as u64) << 32
            | (new_weight.min(65_536.0) as f32).to_bits() as u64;
        self.value.store(packed, Ordering::Relaxed);
    }

    /// The factor for the time since `stamp`, if this caller moves the stamp (1
    /// otherwise: another reporter applied it).
    #[cold]
    fn decay_factor(&self, stamp: u64, now_us: u64, decay: &LatencyDecay) -> f64 {
        match self
            .stamp
            .compare_exchange(stamp, now_us, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => libm::exp(-((now_us - stamp) as f64) / decay.tau_us),
            Err(_) => 1.0,
        }
    }

    /// The average in microseconds; 0 before any sample.
    pub(crate) fn get(&self) -> f64 {
        let w = self.value.load(Ordering::Relaxed);
        if f32::from_bits(w as u32) <= 0.0 {
            return 0.0;
        }
        f32::from_bits((w >> 32) as u32) as f64
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn converges_for_burst_and_trickle() {
        let tau = LatencyDecay::new(1_000.0);
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
