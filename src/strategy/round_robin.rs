//! Smooth weighted round robin with one cursor per thread.
//!
//! The snapshot holds the weighted cycle over the selectable members (unhealthy ones
//! are simply not in it), so a pick is O(1): read the entry at this thread's cursor
//! and move on. No cursor is shared between threads, so two threads never write the
//! same line; each thread's consecutive picks walk the whole cycle.

use super::{Choose, PickCtx};
use crate::snapshot::StrideCycle;

pub(crate) struct RoundRobin;

impl Choose for RoundRobin {
    #[inline]
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let table = &ctx.snap.rr_table;
        let len = table.len();
        if len == 0 {
            return match &ctx.snap.rr_stride {
                Some(cycle) => choose_on_stride(cycle, ctx),
                None => None,
            };
        }
        let mut pos = ctx.local.cursor as usize;
        // The cursor is kept in range; only a shrunken table or a thread's first
        // pick needs the division.
        if pos >= len {
            pos %= len;
        }
        // At most one lap: members at capacity or excluded are passed over.
        for _ in 0..len {
            let idx = table[pos] as usize;
            pos += 1;
            if pos == len {
                pos = 0;
            }
            if let Some(epoch) = ctx.acquire(idx) {
                ctx.local.cursor = pos as u64;
                return Some((idx, epoch));
            }
        }
        ctx.local.cursor = pos as u64;
        None
    }
}

/// Round robin over a cycle too long for a table (see `StrideCycle`); out of line,
/// so the table path stays small.
#[inline(never)]
fn choose_on_stride(cycle: &StrideCycle, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    let mut pos = ctx.local.cursor;
    if pos >= cycle.total {
        pos %= cycle.total;
    }
    // As many steps as there are members (the walk may come back to a heavy one),
    // then every member once in set order, before giving up.
    for _ in 0..cycle.members.len() {
        let idx = cycle.member_at(pos);
        pos = cycle.next(pos);
        if let Some(epoch) = ctx.acquire(idx) {
            ctx.local.cursor = pos;
            return Some((idx, epoch));
        }
    }
    ctx.local.cursor = pos;
    cycle
        .members
        .iter()
        .find_map(|&idx| ctx.acquire(idx as usize).map(|e| (idx as usize, e)))
}
