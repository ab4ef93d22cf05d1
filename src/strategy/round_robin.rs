//! Smooth weighted round robin with one cursor per thread.
//!
//! The snapshot holds the weighted cycle over the selectable members (unhealthy ones
//! are simply not in it), so a pick is O(1): read the entry at this thread's cursor
//! and move on. No cursor is shared between threads, so two threads never write the
//! same line; each thread's consecutive picks walk the whole cycle.

use super::{Choose, PickCtx};

pub(crate) struct RoundRobin;

impl Choose for RoundRobin {
    #[inline]
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let table = &ctx.snap.rr_table;
        let len = table.len();
        if len == 0 {
            return None;
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
                ctx.local.cursor = pos as u32;
                return Some((idx, epoch));
            }
        }
        ctx.local.cursor = pos as u32;
        None
    }
}
