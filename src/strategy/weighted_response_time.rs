//! Weighted response time: a weighted random pick where each member's weight is
//! proportional to its configured weight times health score divided by its latency
//! average (failures enter that average as a penalty, so a fast-failing member does
//! not look fast). The weights live in an alias table, so a draw is O(1); the
//! maintenance pass recomputes them a few times a second, off the request path.
//!
//! Weights alone are refreshed only now and then and cannot see a queue forming
//! between refreshes, so a pick draws two candidates by weight and takes the one with
//! the lower expected cost, latency * (in flight + 1) / weight (the Peak-EWMA cost of
//! Finagle and tower, anchors.md): the weights decide who is in the running, the
//! in-flight counts keep a momentarily busy member from getting its full share.
//! With equal in-flight counts (light load) the first draw stands, so the shares
//! follow the weights exactly.

use super::{round_robin::RoundRobin, Choose, PickCtx};
use crate::snapshot::{Scratch, Snapshot};

pub(crate) struct WeightedResponseTime;

/// Pairs of weighted draws before falling back to a round-robin lap (members at capacity or
/// excluded can make draws miss).
const DRAWS: usize = 2;

impl Choose for WeightedResponseTime {
    #[inline]
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let snap = ctx.snap;
        if snap.wrt.len() == 0 {
            return None;
        }
        let n = snap.wrt.len();
        for _ in 0..DRAWS {
            let a = snap.wrt.pick(ctx.local.next_u64());
            let mut b = snap.wrt.pick(ctx.local.next_u64());
            if a == b && n > 1 {
                b = snap.wrt.pick(ctx.local.next_u64());
            }
            let (a, b) = (snap.selectable[a] as usize, snap.selectable[b] as usize);
            let (first, second) = if prefer_second(ctx, a, b) {
                (b, a)
            } else {
                (a, b)
            };
            if let Some(epoch) = ctx.acquire(first) {
                return Some((first, epoch));
            }
            if let Some(epoch) = ctx.acquire(second) {
                return Some((second, epoch));
            }
        }
        RoundRobin.choose(ctx)
    }
}

/// Whether the second draw is the better choice: only when their in-flight counts
/// differ (with equal counts the weighted draw stands, so shares follow the weights
/// exactly), by the lower expected cost latency * (in flight + 1) / weight.
#[inline]
fn prefer_second(ctx: &PickCtx<'_>, a: usize, b: usize) -> bool {
    let (ma, mb) = (&ctx.snap.members[a], &ctx.snap.members[b]);
    let (fa, fb) = (ma.state.in_flight(), mb.state.in_flight());
    if fa == fb {
        return false;
    }
    let lat = |m: &crate::snapshot::Member| {
        let l = m.state.latency_ewma();
        if l > 0.0 {
            l
        } else {
            ctx.median_us.max(1.0)
        }
    };
    let cost = |m: &crate::snapshot::Member, f: u64| lat(m) * (f + 1) as f64 / m.weight as f64;
    cost(mb, fb) < cost(ma, fa)
}

/// Median latency average over the members that have one (0 if none), using
/// `scratch.floats`.
pub(crate) fn median_latency(snap: &Snapshot, scratch: &mut Scratch) -> f64 {
    scratch.floats.clear();
    scratch.floats.extend(
        snap.members
            .iter()
            .map(|m| m.state.latency_ewma())
            .filter(|&l| l > 0.0),
    );
    if scratch.floats.is_empty() {
        return 0.0;
    }
    let mid = scratch.floats.len() / 2;
    let (_, m, _) = scratch.floats.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Smallest health factor a selectable member keeps in the weights (in panic mode
/// every member is selectable, including ones scored near 0).
const MIN_SCORE: f64 = 0.01;

/// The weight of one selectable member: weight * score / latency. A member without
/// latency samples yet is treated as having the median latency, so a new instance
/// gets an ordinary share (neither starved nor flooded).
pub(crate) fn member_weight(snap: &Snapshot, idx: usize, median: f64) -> f64 {
    let m = &snap.members[idx];
    let lat = m.state.latency_ewma();
    let lat = if lat > 0.0 { lat } else { median.max(1.0) };
    let score = m.state.health_score().max(MIN_SCORE);
    m.weight as f64 * score / lat.max(1.0)
}

/// Recomputes the alias table of `snap` in place from the members' live statistics.
pub(crate) fn refresh_weights(snap: &Snapshot, scratch: &mut Scratch) {
    if snap.selectable.is_empty() {
        return;
    }
    let median = median_latency(snap, scratch);
    scratch.floats.clear();
    scratch.floats.extend(
        snap.selectable
            .iter()
            .map(|&i| member_weight(snap, i as usize, median)),
    );
    let weights = std::mem::take(&mut scratch.floats);
    snap.wrt.rebuild(&weights, scratch);
    scratch.floats = weights;
}
