//! Smooth weighted round robin with one cursor per thread.
//!
//! The table holds the weighted cycle over the selectable members (unhealthy ones
//! are simply not in it), so a pick is O(1): read the entry at this thread's cursor
//! and move on. No cursor is shared between threads, so two threads never write the
//! same line; each thread's consecutive picks walk the whole cycle.

use super::rr_cycle::{build_rr_cycle, StrideCycle};
use super::{Choose, Chosen, Outlook, PickCtx, SetView};
#[cfg(loom)]
use crate::sync::fault;

pub(crate) struct RoundRobin;

/// The cycle of one snapshot.
pub(crate) struct Cycle {
    /// Member indices in cycle order; empty when the cycle is too long for a table,
    /// and then `stride` walks it.
    table: Box<[u32]>,
    stride: Option<StrideCycle>,
}

impl Choose for RoundRobin {
    type Table = Cycle;

    fn build(set: &SetView<'_>) -> Cycle {
        let weights: Vec<u32> = set
            .selectable
            .iter()
            .map(|&i| set.members[i as usize].weight)
            .collect();
        let (table, stride) = build_rr_cycle(set.selectable, &weights);
        #[cfg(loom)]
        let table = if fault::on(&fault::RR_TABLE_PER_GENERATION) && !table.is_empty() {
            let mut t = table.into_vec();
            let k = set.generation as usize % t.len();
            t.rotate_left(k);
            t.into_boxed_slice()
        } else {
            table
        };
        // `first` indexes the members with these unchecked.
        debug_assert!(table.iter().all(|&i| (i as usize) < set.members.len()));
        Cycle { table, stride }
    }

    #[inline(always)]
    fn choose(cycle: &Cycle, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let table = &cycle.table;
        let len = table.len();
        if len == 0 {
            return match &cycle.stride {
                Some(stride) => choose_on_stride(stride, ctx),
                None => None,
            };
        }
        let mut pos = ctx.picker.cursor as usize;
        // The cursor is kept in range; only a shrunken table or a thread's first
        // pick needs the division.
        if pos >= len {
            pos %= len;
        }
        let idx = table[pos] as usize;
        pos += 1;
        if pos == len {
            pos = 0;
        }
        ctx.picker.cursor = pos as u64;
        match ctx.acquire(idx) {
            Some(epoch) => Some((idx, epoch)),
            None => lap(table, ctx),
        }
    }

    /// The member at the cursor, if the cycle is a table and it takes the pick.
    #[inline(always)]
    fn first<'a>(cycle: &Cycle, ctx: &mut PickCtx<'a>) -> Option<Chosen<'a>> {
        let table = &cycle.table;
        let len = table.len();
        let mut pos = ctx.picker.cursor as usize;
        if pos >= len {
            return None;
        }
        let idx = *table.get(pos)? as usize;
        // The cursor moves only when the pick is taken: a first attempt that loses
        // a race leaves the member to the full `choose`, which starts here again,
        // so each thread's picks still walk the cycle exactly.
        let at = ctx.picker.cursor;
        pos = pos.wrapping_add(1);
        ctx.picker.cursor = if pos == len { 0 } else { pos as u64 };
        // SAFETY: the cycle holds indices of this snapshot's members (`build`).
        let chosen = unsafe { ctx.acquire_member_unchecked(idx) };
        if chosen.is_none() {
            ctx.picker.cursor = at;
        }
        chosen
    }

    fn predicted_share(set: &SetView<'_>, idx: usize, _outlook: &Outlook) -> f64 {
        set.members[idx].weight as f64
    }
}

/// The rest of one lap when the member at the cursor cannot take the pick (at
/// capacity or excluded); out of line, so the common path stays small.
#[inline(never)]
fn lap(table: &[u32], ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    let len = table.len();
    let mut pos = ctx.picker.cursor as usize;
    for _ in 1..len {
        let idx = table[pos] as usize;
        pos += 1;
        if pos == len {
            pos = 0;
        }
        if let Some(epoch) = ctx.acquire(idx) {
            ctx.picker.cursor = pos as u64;
            return Some((idx, epoch));
        }
    }
    ctx.picker.cursor = pos as u64;
    None
}

/// Round robin over a cycle too long for a table (see `StrideCycle`); out of line,
/// so the table path stays small.
#[inline(never)]
fn choose_on_stride(cycle: &StrideCycle, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    let mut pos = ctx.picker.cursor;
    if pos >= cycle.total {
        pos %= cycle.total;
    }
    // As many steps as there are members (the walk may come back to a heavy one),
    // then every member once in set order, before giving up.
    for _ in 0..cycle.members.len() {
        let idx = cycle.member_at(pos);
        pos = cycle.next(pos);
        if let Some(epoch) = ctx.acquire(idx) {
            ctx.picker.cursor = pos;
            return Some((idx, epoch));
        }
    }
    ctx.picker.cursor = pos;
    cycle
        .members
        .iter()
        .find_map(|&idx| ctx.acquire(idx as usize).map(|e| (idx as usize, e)))
}
