//! The draws of the power-of-d-choices strategies (least request, Peak EWMA):
//! `choice_count` distinct selectable members, drawn uniformly or in proportion to
//! their weights, each draw O(1) at any set size, and the choice of the best of
//! them under a strategy's comparison.
//!
//! Distinct members, because comparing a member with itself makes a pick one
//! random choice (a known bug class of these balancers): uniform draws are
//! distinct by construction; weighted ones redraw a repeat a bounded number of
//! times.

use super::alias::AliasTable;
use super::{Chosen, PickCtx, Scratch, SetView};
use crate::member::Member;

/// The most members one pick draws (`Config::choice_count`'s upper bound).
pub(crate) const MAX_CHOICES: usize = 8;

/// Full rounds of draws before a lap of the set (members at capacity or excluded
/// can make every draw of a round miss).
const ROUNDS: usize = 2;

/// Redraws of a weighted draw that repeats an earlier one.
const REDRAWS: usize = 4;

/// One snapshot's draw table.
pub(crate) struct Draws {
    /// The selectable members' indices: a draw is a position in it.
    idx: Box<[u32]>,
    /// Over the positions of `idx`, by static weight; `None` draws uniformly.
    alias: Option<AliasTable>,
    /// Members per pick (`choice_count`, 2..=8).
    count: usize,
    /// Every selectable member has the same weight.
    equal: bool,
    /// The selectable members are the first members in order (`idx[i] == i`, as
    /// when every member is selectable), so a draw is a member's index without
    /// the load from `idx` (one dependent load fewer before the in-flight words
    /// are read).
    identity: bool,
}

/// Uniform in 0..n (n > 0) from the top half of `r`, as `Picker::below`.
#[inline(always)]
fn below(r: u64, n: usize) -> usize {
    (((r >> 32) * n as u64) >> 32) as usize
}

impl Draws {
    /// Draws over the selectable members: by weight when `weighted` and their
    /// weights differ, otherwise uniformly.
    pub(crate) fn build(set: &SetView<'_>, weighted: bool) -> Draws {
        let idx: Box<[u32]> = set.selectable.into();
        let weight = |&i: &u32| set.members[i as usize].weight;
        let equal = idx
            .iter()
            .all(|i| weight(i) == idx.first().map_or(0, weight));
        let alias = (weighted && !equal).then(|| {
            let table = AliasTable::new(idx.len());
            let weights: Vec<f64> = idx.iter().map(|i| weight(i) as f64).collect();
            table.rebuild(&weights, &mut Scratch::default());
            table
        });
        let identity = idx.iter().enumerate().all(|(p, &i)| p == i as usize);
        Draws {
            idx,
            alias,
            count: (set.cfg.choice_count as usize).clamp(2, MAX_CHOICES),
            equal,
            identity,
        }
    }

    /// Whether every selectable member has the same weight.
    pub(crate) fn equal_weights(&self) -> bool {
        self.equal
    }

    /// Members per pick.
    #[inline(always)]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// One draw: a position in `idx` (which must not be empty).
    #[inline(always)]
    fn one(&self, r: u64) -> usize {
        match &self.alias {
            Some(t) => t.pick(r),
            None => below(r, self.idx.len()),
        }
    }

    /// A first attempt over two distinct draws: the second takes the pick when
    /// `beats(second, its word, first, its word)`, else the first does, in one
    /// compare-and-swap on the word it was judged by. No panic site.
    #[inline(always)]
    pub(crate) fn first<'a>(
        &self,
        ctx: &mut PickCtx<'a>,
        beats: impl Fn(&Member, u64, &Member, u64) -> bool,
    ) -> Option<Chosen<'a>> {
        let (a, b) = self.two(ctx)?;
        let (ma, mb) = (ctx.members.get(a)?, ctx.members.get(b)?);
        let (wa, wb) = (ma.state.flight_word(), mb.state.flight_word());
        let (idx, member, w) = if beats(mb, wb, ma, wa) {
            (b, mb, wb)
        } else {
            (a, ma, wa)
        };
        ctx.take_from(idx, member, w)
    }

    /// Two distinct draws (members' indices), for a first attempt; `None` when
    /// fewer than two members are selectable. No panic site.
    #[inline(always)]
    pub(crate) fn two(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, usize)> {
        let n = self.idx.len();
        if n < 2 {
            return None;
        }
        let r = ctx.picker.next_u64();
        let (a, b) = match &self.alias {
            // One random word: the first uniform from its high half, the second
            // from its low half uniform over the n - 1 others (distinct, and
            // uniform).
            None => {
                let a = below(r, n);
                let b = below(r << 32, n - 1);
                (a, b + (b >= a) as usize)
            }
            // The first by weight; the second by weight too, redrawn once if it
            // repeats the first, then uniform over the others. (Leaving a repeat
            // to the full choice would draw the first again, and the first draws
            // that stand would lean towards the light members.)
            Some(t) => {
                let a = t.pick(r);
                let mut b = t.pick(ctx.picker.next_u64());
                if a == b {
                    let r2 = ctx.picker.next_u64();
                    b = t.pick(r2);
                    if a == b {
                        b = below(r2, n - 1);
                        b += (b >= a) as usize;
                    }
                }
                (a, b)
            }
        };
        debug_assert!(a < n && b < n);
        if self.identity {
            return Some((a, b));
        }
        // SAFETY: a and b are below n, the length of `idx`: a uniform draw is
        // floor(r32 * m / 2^32) < m for m = n or n - 1 (plus at most 1 for b, so
        // b < n), and an alias table over `idx` returns a position below its length.
        let (a, b) = unsafe { (*self.idx.get_unchecked(a), *self.idx.get_unchecked(b)) };
        Some((a as usize, b as usize))
    }

    /// `count` distinct draws (every member when the set has no more), members'
    /// indices, into `out`; returns how many. The first is a draw on its own
    /// (uniform or by weight), so with ties to the first the shares follow the
    /// draws; the others are a uniform set of the rest, or weighted draws (a
    /// repeat redrawn, then the next member not drawn yet).
    fn fill(&self, ctx: &mut PickCtx<'_>, out: &mut [usize; MAX_CHOICES]) -> usize {
        let n = self.idx.len();
        if n == 0 {
            return 0;
        }
        let first = self.one(ctx.picker.next_u64());
        out[0] = first;
        let mut k = 1;
        if n <= self.count {
            for (slot, j) in out[1..n].iter_mut().zip(1..) {
                *slot = (first + j) % n;
            }
            k = n;
        } else if self.alias.is_none() {
            // Floyd's sample of count - 1 of the n - 1 others, as offsets after
            // `first` (rotating by a uniform `first` makes every member equally
            // likely in every place).
            let others = n - 1;
            let mut offsets = [0usize; MAX_CHOICES];
            for j in others - (self.count - 1)..others {
                let t = ctx.picker.below(j + 1);
                offsets[k] = if offsets[1..k].contains(&t) { j } else { t };
                out[k] = (first + 1 + offsets[k]) % n;
                k += 1;
            }
        } else {
            // By weight, a repeat redrawn a few times, then the next position not
            // yet drawn (n > count, so there is one).
            while k < self.count {
                let p = (0..REDRAWS)
                    .map(|_| self.one(ctx.picker.next_u64()))
                    .find(|p| !out[..k].contains(p))
                    .or_else(|| {
                        (1..n)
                            .map(|j| (out[0] + j) % n)
                            .find(|p| !out[..k].contains(p))
                    });
                let Some(p) = p else { break };
                out[k] = p;
                k += 1;
            }
        }
        for slot in out[..k].iter_mut() {
            *slot = self.idx[*slot] as usize;
        }
        k
    }

    /// The full choice: rounds of `count` draws, the best allowed one by `beats`
    /// taking the pick (the next best when it is full), then a lap of the set.
    /// `beats(c, wc, b, wb)`: member `c` with in-flight word `wc` is a better
    /// choice than `b` with `wb`, which was drawn before it.
    pub(crate) fn choose(
        &self,
        ctx: &mut PickCtx<'_>,
        beats: impl Fn(&Member, u64, &Member, u64) -> bool,
    ) -> Option<(usize, u32)> {
        if self.idx.is_empty() {
            return None;
        }
        let members = ctx.members;
        let mut drawn = [0usize; MAX_CHOICES];
        for _ in 0..ROUNDS {
            let k = self.fill(ctx, &mut drawn);
            let mut passed = [false; MAX_CHOICES];
            for _ in 0..k {
                let mut best: Option<(usize, &Member, u64)> = None;
                for (j, &i) in drawn[..k].iter().enumerate() {
                    if passed[j] || !ctx.allowed(i) {
                        continue;
                    }
                    let m = &members[i];
                    let w = m.state.flight_word();
                    let better = match best {
                        None => true,
                        Some((_, bm, bw)) => beats(m, w, bm, bw),
                    };
                    if better {
                        best = Some((j, m, w));
                    }
                }
                let Some((j, _, _)) = best else { break };
                if let Some(epoch) = ctx.acquire(drawn[j]) {
                    return Some((drawn[j], epoch));
                }
                passed[j] = true;
            }
        }
        ctx.lap()
    }
}
