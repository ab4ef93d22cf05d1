//! The one cost concept every latency-aware decision uses: a member's latency
//! estimate, with its fallback, and the expected cost of one more request on it,
//! latency x (in flight + 1) / weight. Weighted response time prices with the
//! latency average, Peak EWMA with the peak-sensitive estimate; failures are a
//! latency penalty in both (the instance state records them so).

use crate::instance::InstanceState;
use crate::member::Member;

/// A member's latency in microseconds: its average, or for a member without
/// samples yet the set's median (at least 1 us), so a new instance is priced as an
/// ordinary one, neither starved nor flooded.
#[inline]
pub(crate) fn latency_estimate(state: &InstanceState, median_us: f64) -> f64 {
    let l = state.latency_ewma();
    if l > 0.0 {
        l
    } else {
        median_us.max(1.0)
    }
}

/// The cost of one more request on a member of latency `latency_us` and weight
/// `weight` with `in_flight` picks already there: latency * (in flight + 1) /
/// weight, the Peak EWMA cost of Finagle and tower.
#[inline(always)]
pub(crate) fn cost(latency_us: f64, in_flight: u64, weight: u32) -> f64 {
    latency_us * (in_flight as f64 + 1.0) / weight as f64
}

/// The expected cost of sending one more request to `m` with `in_flight` picks
/// already there, on its latency average (`cost`).
#[inline]
pub(crate) fn expected_cost(m: &Member, in_flight: u64, median_us: f64) -> f64 {
    cost(latency_estimate(&m.state, median_us), in_flight, m.weight)
}

/// A member's Peak EWMA estimate in microseconds, or for a member without samples
/// yet `default_us` (Peak EWMA's default latency), faded like an estimate while
/// the member goes unpicked: not 0, which would flood a new member, nor a price
/// that starves it for ever.
#[inline(always)]
pub(crate) fn peak_estimate(state: &InstanceState, default_us: f64) -> f64 {
    let l = state.peak_ewma();
    if l > 0.0 {
        l
    } else {
        -l * default_us
    }
}

/// The median latency average over the members that have one (0 if none), using
/// `scratch` as its buffer.
pub(crate) fn median_latency(members: &[Member], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    scratch.extend(
        members
            .iter()
            .map(|m| m.state.latency_ewma())
            .filter(|&l| l > 0.0),
    );
    if scratch.is_empty() {
        return 0.0;
    }
    let mid = scratch.len() / 2;
    let (_, m, _) = scratch.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}
