//! Weighted response time: a weighted random pick where each member's weight is
//! proportional to its configured weight times health score divided by its latency
//! estimate (failures enter the latency average as a penalty, so a fast-failing
//! member does not look fast). The weights live in an alias table, so a draw is
//! O(1); the maintenance pass recomputes them a few times a second, off the request
//! path.
//!
//! Weights alone are refreshed only now and then and cannot see a queue forming
//! between refreshes, so a pick draws two candidates by weight and takes the one with
//! the lower expected cost (`load::expected_cost`, the Peak-EWMA cost of Finagle and
//! tower): the weights decide who is in the running, the in-flight counts keep a
//! momentarily busy member from getting its full share. With equal in-flight counts
//! (light load) the first draw stands, so the shares follow the weights exactly.

use super::alias::AliasTable;
use super::{Choose, PickCtx, Scratch, SetView};
use crate::load::{expected_cost, latency_estimate};

pub(crate) struct WeightedResponseTime;

/// Pairs of weighted draws before falling back to a lap of the set (members at
/// capacity or excluded can make draws miss).
const DRAWS: usize = 2;

/// Smallest health factor a selectable member keeps in the weights (in panic mode
/// every member is selectable, including ones scored near 0).
const MIN_SCORE: f64 = 0.01;

impl Choose for WeightedResponseTime {
    /// Over the selectable members' positions; starts uniform, `refresh` weighs it.
    type Table = AliasTable;

    fn build(set: &SetView<'_>) -> AliasTable {
        AliasTable::new(set.selectable.len())
    }

    fn choose(table: &AliasTable, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        if table.len() == 0 {
            return None;
        }
        for _ in 0..DRAWS {
            if let Some(chosen) = draw_pair(table, ctx) {
                return Some(chosen);
            }
        }
        ctx.lap()
    }

    /// One pair of draws.
    #[inline(always)]
    fn first(table: &AliasTable, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let n = table.len();
        if n == 0 {
            return None;
        }
        draw_pair(table, ctx)
    }

    /// Recomputes the weights from the members' live statistics, in place.
    fn refresh(table: &AliasTable, set: &SetView<'_>, median_us: f64, scratch: &mut Scratch) {
        if set.selectable.is_empty() {
            return;
        }
        let mut weights = std::mem::take(&mut scratch.floats);
        weights.clear();
        weights.extend(
            set.selectable
                .iter()
                .map(|&i| member_weight(set, i as usize, median_us)),
        );
        table.rebuild(&weights, scratch);
        scratch.floats = weights;
    }

    fn predicted_share(set: &SetView<'_>, idx: usize, median_us: f64) -> f64 {
        member_weight(set, idx, median_us)
    }
}

/// Two weighted draws (distinct when the set has two members or more), the better
/// one first: the one of them that takes the pick.
#[inline(always)]
fn draw_pair(table: &AliasTable, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    let a = table.pick(ctx.picker.next_u64());
    let mut b = table.pick(ctx.picker.next_u64());
    if a == b && table.len() > 1 {
        b = table.pick(ctx.picker.next_u64());
    }
    let (a, b) = (
        *ctx.selectable.get(a)? as usize,
        *ctx.selectable.get(b)? as usize,
    );
    let (first, second) = if prefer_second(ctx, a, b) {
        (b, a)
    } else {
        (a, b)
    };
    if let Some(epoch) = ctx.acquire(first) {
        return Some((first, epoch));
    }
    ctx.acquire(second).map(|epoch| (second, epoch))
}

/// Whether the second draw is the better choice: only when their in-flight counts
/// differ (with equal counts the weighted draw stands, so shares follow the weights
/// exactly), by the lower expected cost.
#[inline(always)]
fn prefer_second(ctx: &PickCtx<'_>, a: usize, b: usize) -> bool {
    let (Some(ma), Some(mb)) = (ctx.members.get(a), ctx.members.get(b)) else {
        return false;
    };
    let (fa, fb) = (ma.state.in_flight(), mb.state.in_flight());
    fa != fb && {
        let median = ctx.median_us();
        expected_cost(mb, fb, median) < expected_cost(ma, fa, median)
    }
}

/// The weight of one selectable member: weight * score / latency.
fn member_weight(set: &SetView<'_>, idx: usize, median_us: f64) -> f64 {
    let m = &set.members[idx];
    let score = m.state.health_score().max(MIN_SCORE);
    m.weight as f64 * score / latency_estimate(&m.state, median_us).max(1.0)
}
