//! An instance's peak-sensitive latency estimate (Peak EWMA, as Finagle's and
//! tower's `PeakEwma` define it): a sample above the estimate replaces it at once;
//! one below it pulls it down with weight 1 - exp(-elapsed / tau), so a spike is
//! seen within one sample and forgotten over the time constant. Plain loads and
//! stores on the report path, like the latency average.

use super::latency::{exp_neg, LatencyDecay};
use crate::sync::{AtomicU64, Ordering};

/// The smallest sample recorded (us), so a recorded estimate is never 0, which
/// means "no sample yet".
const MIN_SAMPLE_US: f64 = 1.0;

pub(crate) struct PeakEstimate {
    /// The estimate (us), f64 bits; 0 before any sample.
    estimate: AtomicU64,
    /// When it last moved (us).
    stamp: AtomicU64,
}

impl PeakEstimate {
    pub(crate) fn new() -> Self {
        PeakEstimate {
            estimate: AtomicU64::new(0),
            stamp: AtomicU64::new(0),
        }
    }

    /// Folds in one sample. A sample at or above the estimate replaces it (the
    /// first sample always does). A lower one decays the estimate towards it over
    /// the time since the estimate last moved, once that is at least
    /// `peak_step_us` (tau/1024); a lower sample sooner than that is left out, so
    /// most reports skip the exp, and a run of samples still decays the estimate at
    /// exp(-t / tau) in all. An estimate left alone for a long time (while another
    /// strategy ran, say) is therefore replaced by its next sample, whether higher
    /// or lower. Racing reports may each store their own result (plain stores:
    /// the estimate loses at most a sample). Nothing here can panic or call out.
    #[inline(always)]
    pub(crate) fn record(&self, sample_us: f64, now_us: u64, decay: &LatencyDecay) {
        let sample = sample_us.max(MIN_SAMPLE_US);
        let estimate = f64::from_bits(self.estimate.load(Ordering::Relaxed));
        let stamp = self.stamp.load(Ordering::Relaxed);
        // Wrapping: a `now_us` behind the stamp (another reporter saw a later
        // time) looks due here and is sorted out by the second test.
        let due = now_us.wrapping_sub(stamp) >= decay.peak_step_us && now_us > stamp;
        if sample >= estimate {
            self.estimate.store(sample.to_bits(), Ordering::Relaxed);
        } else if due {
            let w = exp_neg(now_us.wrapping_sub(stamp) as f64 / decay.peak_tau_us);
            let moved = estimate * w + sample * (1.0 - w);
            self.estimate.store(moved.to_bits(), Ordering::Relaxed);
        } else {
            return;
        }
        if now_us > stamp {
            self.stamp.store(now_us, Ordering::Relaxed);
        }
    }

    /// The estimate in microseconds; 0 before any sample.
    #[inline(always)]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.estimate.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn decay(tau_ms: f64) -> LatencyDecay {
        LatencyDecay::new(1_000.0, tau_ms)
    }

    #[test]
    fn a_spike_is_taken_at_once_and_forgotten_over_tau() {
        let d = decay(10_000.0);
        let p = PeakEstimate::new();
        assert_eq!(p.get(), 0.0, "no sample yet");
        p.record(1_000.0, 1_000_000, &d);
        assert_eq!(p.get(), 1_000.0, "the first sample replaces nothing");
        p.record(50_000.0, 1_000_100, &d);
        assert_eq!(p.get(), 50_000.0, "a spike is taken within one sample");
        // Low samples every 100 ms for one tau: the excess decays to e^-1 of itself.
        let mut now = 1_000_100;
        for _ in 0..100 {
            now += 100_000;
            p.record(1_000.0, now, &d);
        }
        let want = 1_000.0 + 49_000.0 * (-1.0f64).exp();
        assert!((p.get() - want).abs() < 0.01 * want, "{} vs {want}", p.get());
        // Eight more taus: the spike is forgotten.
        for _ in 0..800 {
            now += 100_000;
            p.record(1_000.0, now, &d);
        }
        assert!((p.get() - 1_000.0).abs() < 0.02 * 1_000.0, "{}", p.get());
    }

    #[test]
    fn lower_samples_sooner_than_a_step_are_left_out_and_time_is_not_lost() {
        let d = decay(10_000.0); // step 9765 us
        let p = PeakEstimate::new();
        p.record(10_000.0, 0, &d);
        p.record(1_000.0, 5_000, &d);
        assert_eq!(p.get(), 10_000.0, "not due yet");
        p.record(1_000.0, 10_000_000, &d);
        let w = (-1.0f64).exp();
        let want = 10_000.0 * w + 1_000.0 * (1.0 - w);
        assert!((p.get() - want).abs() < 1e-6 * want, "{} vs {want}", p.get());
        // A stale estimate is replaced by its next sample, higher or lower.
        p.record(1_000.0, 10_000_000 + 3_600_000_000, &d);
        assert!((p.get() - 1_000.0).abs() < 1e-6, "{}", p.get());
        // A time behind the stamp changes nothing but a peak.
        p.record(500.0, 5, &d);
        assert!((p.get() - 1_000.0).abs() < 1e-6, "{}", p.get());
        p.record(0.0, 5, &d);
        assert!(p.get() > 0.0);
    }
}
