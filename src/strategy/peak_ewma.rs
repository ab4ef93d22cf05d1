//! Peak EWMA (Finagle's and tower's `PeakEwma`, Linkerd's balancer): power of d
//! choices on cost = peak-sensitive latency estimate x (in flight + 1). The
//! estimate (src/instance/peak.rs) takes a latency spike at once and forgets it
//! over `peak_ewma_tau_ms`; failures enter it as a latency penalty, so a
//! fast-failing member does not look fast. A member without samples is priced at
//! `peak_ewma_default_latency_ms` until its first report.
//!
//! The `choice_count` distinct draws are in proportion to weight (uniform when the
//! weights are equal), O(1) per pick at any set size; the lowest cost wins, ties
//! to the earlier draw. Weights enter through the draws only: uniform draws with
//! the cost divided by weight cap every member's share at d / n, which starves a
//! heavy member of a weighted fleet (at 90% load on a fleet weighted 8 / 3 / 1 the
//! big members need 36% each and could get at most 25%), and both would count the
//! weights twice.

use super::choices::Draws;
use super::{Choose, Chosen, Outlook, PickCtx, SetView};
use crate::instance::InstanceState;
use crate::load::peak_estimate;
use crate::member::Member;

pub(crate) struct PeakEwma;

pub(crate) struct Table {
    draws: Draws,
    /// Two choices: the first attempt applies.
    first: bool,
}

/// The configured default latency in microseconds.
fn default_us(set: &SetView<'_>) -> f64 {
    set.cfg.peak_ewma_default_latency_ms * 1000.0
}

impl Choose for PeakEwma {
    type Table = Table;

    fn build(set: &SetView<'_>) -> Table {
        let draws = Draws::build(set, true);
        Table {
            first: draws.count() == 2,
            draws,
        }
    }

    fn choose(table: &Table, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        table.draws.choose(ctx, beats)
    }

    /// Two draws, the cheaper one taking the pick in its common case (two choices).
    #[inline(always)]
    fn first<'a>(table: &Table, ctx: &mut PickCtx<'a>) -> Option<Chosen<'a>> {
        if !table.first {
            return None;
        }
        table.draws.first(ctx, beats)
    }

    /// Draws by weight, and at equal requests in flight the cheaper estimate
    /// wins: shares lean from the weights towards weight / estimate.
    fn predicted_share(set: &SetView<'_>, idx: usize, _outlook: &Outlook) -> f64 {
        let m = &set.members[idx];
        m.weight as f64 / peak_estimate(&m.state, default_us(set))
    }
}

/// Whether `c` (in-flight word `wc`) costs less than `b` (`wb`), drawn before it.
/// No call, no panic site.
#[inline(always)]
fn beats(c: &Member, wc: u64, b: &Member, wb: u64) -> bool {
    // Prices are at most MAX_LATENCY_US (< 2^32) and in-flight counts below 2^21:
    // the products fit in 64 bits.
    let cost = |m: &Member, w: u64| m.state.peak_priced_us() * (InstanceState::in_flight_of(w) + 1);
    cost(c, wc) < cost(b, wb)
}
