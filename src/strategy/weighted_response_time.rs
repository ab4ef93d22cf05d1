//! Weighted response time: a weighted random pick where each member's weight is
//! proportional to its configured weight times health score divided by its latency
//! average (failures enter that average as a penalty, so a fast-failing member does
//! not look fast). The weights live in an alias table, so a pick is O(1); the
//! maintenance pass recomputes them a few times a second, off the request path.

use super::{round_robin::RoundRobin, Choose, PickCtx};
use crate::snapshot::{Scratch, Snapshot};
use crate::sync::Ordering;

pub(crate) struct WeightedResponseTime;

/// Weighted draws before falling back to a round-robin lap (members at capacity or
/// excluded can make draws miss).
const DRAWS: usize = 4;

impl Choose for WeightedResponseTime {
    #[inline]
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let snap = ctx.snap;
        if snap.wrt.len() == 0 {
            return None;
        }
        for _ in 0..DRAWS {
            let pos = snap.wrt.pick(ctx.local.next_u64());
            let idx = snap.selectable[pos] as usize;
            if let Some(epoch) = ctx.acquire(idx) {
                return Some((idx, epoch));
            }
        }
        RoundRobin.choose(ctx)
    }
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
    let score = m.state.score.load(Ordering::Relaxed).max(MIN_SCORE);
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
