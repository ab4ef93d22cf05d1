//! The tail model adaptive prices windows and candidates with: latencies taken as
//! exponentials, mixed by where the requests go, and the p99 of the mixture.

/// The mean and the p99 of a mixture of exponentials, given as (weight, mean)
/// pairs (the weights need not sum to 1; pairs without a positive weight and
/// latency, NaN included, are left out); (0, 0) when none is left.
pub(super) fn mixture_mean_p99(mix: &[(f64, f64)]) -> (f64, f64) {
    let kept = || mix.iter().copied().filter(|&(w, l)| w > 0.0 && l > 0.0);
    let total: f64 = kept().map(|(w, _)| w).sum();
    // Every kept weight is positive: a total of 0 means none was kept.
    if total <= 0.0 {
        return (0.0, 0.0);
    }
    let mean = kept().map(|(w, l)| w * l).sum::<f64>() / total;
    let min_latency = kept().map(|(_, l)| l).fold(f64::INFINITY, f64::min);
    // Newton's method on S(x) = sum of w_i exp(-x / L_i) = 1% of the total. S is
    // decreasing and convex, so from left of the root no step overshoots it; at
    // x = min L ln 100 every term is at least 1% of its weight, left of the root.
    // At most 13 steps over thousands of random mixtures, one exp per member
    // each, where bisection took 40 (this runs on a request's thread).
    let target = 0.01 * total;
    let mut x = min_latency * TAIL_RATIO_ALIKE;
    for _ in 0..NEWTON_STEPS {
        let (value, slope) = kept().fold((0.0, 0.0), |(v, d), (w, l)| {
            let term = w * libm::exp(-x / l);
            (v + term, d + term / l)
        });
        let step = (value - target) / slope;
        // Converged, or nothing left to follow (a NaN step): stop.
        if step.is_nan() || step <= x * 1e-13 {
            break;
        }
        x += step;
    }
    (mean, x)
}

/// More Newton steps than `mixture_mean_p99` has needed on any mixture tried.
const NEWTON_STEPS: usize = 100;

/// The p99 of an exponential over its mean (ln 100): the tail of alike members.
pub(super) const TAIL_RATIO_ALIKE: f64 = 4.605_170_185_988_092;
