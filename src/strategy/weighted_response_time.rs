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
use super::{Choose, Chosen, Outlook, PickCtx, Scratch, SetView};
use crate::instance::InstanceState;
use crate::load::{expected_cost, latency_estimate};
use crate::member::Member;

pub(crate) struct WeightedResponseTime;

/// Pairs of weighted draws before falling back to a lap of the set (members at
/// capacity or excluded can make draws miss).
const DRAWS: usize = 2;

/// Smallest health factor a selectable member keeps in the weights (in panic mode
/// every member is selectable, including ones scored near 0).
const MIN_SCORE: f64 = 0.01;

impl Choose for WeightedResponseTime {
    /// Over all the members of the set, so a draw is a member's index; a member
    /// that may not be picked has weight 0. Starts uniform over the selectable
    /// members; `refresh` weighs them.
    type Table = AliasTable;

    fn build(set: &SetView<'_>) -> AliasTable {
        if set.selectable.is_empty() {
            return AliasTable::new(0);
        }
        let table = AliasTable::new(set.members.len());
        let mut weights = vec![0.0; set.members.len()];
        for &i in set.selectable {
            weights[i as usize] = 1.0;
        }
        table.rebuild(&weights, &mut Scratch::default());
        table
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

    /// One pair of draws, the better one taking the pick in its common case.
    #[inline(always)]
    fn first<'a>(table: &AliasTable, ctx: &mut PickCtx<'a>) -> Option<Chosen<'a>> {
        if table.len() == 0 {
            return None;
        }
        let (a, b) = draw_two(table, ctx);
        let (ma, mb) = (ctx.members.get(a)?, ctx.members.get(b)?);
        let (wa, wb) = (ma.state.flight_word(), mb.state.flight_word());
        let (idx, member, w) = if second_is_better(ctx, ma, mb, wa, wb) {
            (b, mb, wb)
        } else {
            (a, ma, wa)
        };
        ctx.take_from(idx, member, w)
    }

    /// Recomputes the weights from the members' live statistics, in place.
    fn refresh(table: &AliasTable, set: &SetView<'_>, median_us: f64, scratch: &mut Scratch) {
        if table.len() == 0 {
            return;
        }
        let mut weights = std::mem::take(&mut scratch.floats);
        weights.clear();
        weights.resize(set.members.len(), 0.0);
        for &i in set.selectable {
            weights[i as usize] = member_weight(set, i as usize, median_us);
        }
        table.rebuild(&weights, scratch);
        scratch.floats = weights;
    }

    fn predicted_share(set: &SetView<'_>, idx: usize, outlook: &Outlook) -> f64 {
        member_weight(set, idx, outlook.median_us)
    }
}

/// Two weighted draws: members' indices, distinct when two or more members are
/// selectable.
#[inline(always)]
fn draw_two(table: &AliasTable, ctx: &mut PickCtx<'_>) -> (usize, usize) {
    // Both random words first, so the table is read after the generator's state
    // is written.
    let (r1, r2) = ctx.picker.next_two();
    let a = table.pick(r1);
    let mut b = table.pick(r2);
    // (The table spans every member: with one selectable among several this
    // draws once more for nothing.)
    if a == b && table.len() > 1 {
        b = table.pick(ctx.picker.next_u64());
    }
    (a, b)
}

/// Two weighted draws, the better one first: the one of them that takes the pick.
#[inline(always)]
fn draw_pair(table: &AliasTable, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    let (a, b) = draw_two(table, ctx);
    let (ma, mb) = (ctx.members.get(a)?, ctx.members.get(b)?);
    let (wa, wb) = (ma.state.flight_word(), mb.state.flight_word());
    let (first, second) = if second_is_better(ctx, ma, mb, wa, wb) {
        (b, a)
    } else {
        (a, b)
    };
    if let Some(epoch) = ctx.acquire(first) {
        return Some((first, epoch));
    }
    ctx.acquire(second).map(|epoch| (second, epoch))
}

/// Whether the second draw is the better choice, from their in-flight words: only
/// when their in-flight counts differ (with equal counts the weighted draw stands,
/// so shares follow the weights exactly), by the lower expected cost.
#[inline(always)]
fn second_is_better(ctx: &PickCtx<'_>, ma: &Member, mb: &Member, wa: u64, wb: u64) -> bool {
    InstanceState::in_flight_of(wa ^ wb) != 0 && {
        let (fa, fb) = (
            InstanceState::in_flight_of(wa),
            InstanceState::in_flight_of(wb),
        );
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
