//! The tail model adaptive prices windows and candidates with.

use super::{mixture_mean_p99, PRUNE_RATIO, TAIL_RATIO_ALIKE};

#[test]
fn alike_members_have_the_exponential_tail() {
    let (mean, p99) = mixture_mean_p99(&[(0.5, 10.0), (0.5, 10.0)]);
    assert!((mean - 10.0).abs() < 1e-9);
    assert!((p99 / mean - TAIL_RATIO_ALIKE).abs() < 1e-6, "{p99}");
}

/// Moving 2% of the traffic onto a member five times slower moves the mean by 8%
/// and the p99 by 22%: a price on the mean would leave the candidate that does so
/// within `PRUNE_RATIO` of the incumbent, the price on the tail rules it out.
#[test]
fn a_small_share_on_a_slow_member_moves_the_tail_not_the_mean() {
    let fast_only = mixture_mean_p99(&[(1.0, 10.0), (0.0, 50.0)]);
    let some_slow = mixture_mean_p99(&[(98.0, 10.0), (2.0, 50.0)]);
    assert!(
        some_slow.0 / fast_only.0 < PRUNE_RATIO,
        "{some_slow:?} {fast_only:?}"
    );
    assert!(
        some_slow.1 / fast_only.1 > PRUNE_RATIO,
        "{some_slow:?} {fast_only:?}"
    );
}

#[test]
fn nothing_to_mix_is_zero() {
    assert_eq!(mixture_mean_p99(&[]), (0.0, 0.0));
    assert_eq!(
        mixture_mean_p99(&[(0.0, 10.0), (1.0, 0.0), (f64::NAN, 5.0)]),
        (0.0, 0.0)
    );
}

/// The p99 solves "1% of the mixture's weight lies above it", to 1e-9, on
/// mixtures from alike members to one member a thousand times slower carrying
/// 0.1% of the traffic.
#[test]
fn the_p99_leaves_one_percent_above_it() {
    let mixes: [&[(f64, f64)]; 4] = [
        &[(1.0, 10.0)],
        &[(98.0, 10.0), (2.0, 50.0)],
        &[(999.0, 1.0), (1.0, 1000.0)],
        &[
            (5.0, 3.0),
            (1.0, 7.0),
            (0.5, 40.0),
            (3.0, 0.2),
            (0.01, 900.0),
        ],
    ];
    for mix in mixes {
        let (_, p99) = mixture_mean_p99(mix);
        let total: f64 = mix.iter().map(|&(w, _)| w).sum();
        let above: f64 = mix.iter().map(|&(w, l)| w * (-p99 / l).exp()).sum();
        assert!(
            (above / total - 0.01).abs() < 1e-9,
            "{mix:?}: p99 {p99}, above {}",
            above / total
        );
    }
}
