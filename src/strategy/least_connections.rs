//! Least connections: the member with the fewest picks in flight relative to its
//! weight, found by an exact scan of the selectable members. The scan starts at a
//! random position so that ties go to a random one of the tied members instead of
//! always the first.

use super::{Choose, PickCtx};

pub(crate) struct LeastConnections;

/// Scans before giving up when racing threads fill the chosen member first.
const ATTEMPTS: usize = 4;

impl Choose for LeastConnections {
    #[inline]
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let n = ctx.snap.selectable.len();
        if n == 0 {
            return None;
        }
        for _ in 0..ATTEMPTS {
            let start = ctx.local.below(n);
            let best = scan(ctx, start)?;
            if let Some(epoch) = ctx.acquire(best) {
                return Some((best, epoch));
            }
        }
        None
    }
}

/// The least-loaded allowed member below capacity, ties to the first from `start`.
#[inline]
fn scan(ctx: &PickCtx<'_>, start: usize) -> Option<usize> {
    let snap = ctx.snap;
    let sel = &snap.selectable;
    let mut best: Option<(usize, u64, u64)> = None; // (index, in flight, weight)
    let (tail, head) = sel.split_at(start);
    for &i in head.iter().chain(tail.iter()) {
        let i = i as usize;
        let m = &snap.members[i];
        let load = m.state.in_flight();
        if m.capacity != 0 && load >= m.capacity as u64 {
            continue;
        }
        let w = m.weight as u64;
        // load/w < best_load/best_w without division; both sides fit in u64
        // (load < 2^25, weight < 2^32).
        let better = match best {
            None => true,
            Some((_, bl, bw)) => load * bw < bl * w,
        };
        if better && ctx.allowed(i) {
            best = Some((i, load, w));
        }
    }
    best.map(|(i, _, _)| i)
}
