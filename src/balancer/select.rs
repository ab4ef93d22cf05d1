//! Select: this thread's entry, the trial offer, the running strategy, the pick.

use super::Balancer;
use crate::error::{Error, Refused};
use crate::snapshot::Snapshot;
use crate::strategy::{PickCtx, Picker, Registered, Tables, Visit};
use crate::types::{Outcome, Pick};

impl Balancer {
    /// Chooses an instance for one request. The pick must be given back with
    /// [`report`](Self::report) (or it expires after the pick timeout).
    ///
    /// Errors: [`Error::NoInstance`] when the set is empty or every selectable
    /// instance is at capacity; [`Error::InFlightLimit`] when nothing could be
    /// selected and at least one instance was passed over because it holds
    /// [`IN_FLIGHT_MAX`](crate::IN_FLIGHT_MAX) picks.
    #[inline]
    pub fn select(&self) -> Result<Pick, Error> {
        match self.select_fast() {
            Some((pick, clock_due)) => {
                if clock_due {
                    self.tick();
                }
                Ok(pick)
            }
            None => self.try_select(&[]).map_err(Error::from),
        }
    }

    /// Like [`select`](Self::select), for retries: avoids the ids in `exclude` while any
    /// other instance is selectable, and otherwise selects as `select` would.
    pub fn select_excluding(&self, exclude: &[u64]) -> Result<Pick, Error> {
        self.try_select(exclude).map_err(Error::from)
    }

    /// Selects and wraps the pick in a guard that reports `Cancelled` if it is dropped
    /// without a report.
    pub fn select_guarded(&self) -> Result<PickGuard<'_>, Error> {
        self.select().map(|pick| PickGuard {
            balancer: self,
            pick: Some(pick),
        })
    }

    /// A plain select in its common case: `select_fast_as` for the running
    /// strategy.
    #[inline(always)]
    pub(crate) fn select_fast(&self) -> Option<(Pick, bool)> {
        Tables::visit(self.dispatch.running_raw(), FastSelect::<true>(self))
    }

    /// The running strategy as stored, for callers that dispatch on it themselves
    /// (`Tables::visit`).
    #[inline(always)]
    pub(crate) fn running_raw(&self) -> u8 {
        self.dispatch.running_raw()
    }

    /// A plain select with strategy `S` in its common case, with no panic site, so
    /// that the C ABI can run it outside its panic
    /// guard: this thread's cached entry with a current snapshot without trial traffic,
    /// and the strategy's first attempt taking the pick. Returns the pick and
    /// whether the caller must read the clock now (`tick`, after the
    /// select: a pick stamped with the epoch before the read still gets a full
    /// timeout). `None` leaves the select to `try_select`, with nothing changed
    /// but the strategy's cursor and random stream. `S` must be the running
    /// strategy. `COUNT`: count this call towards the clock refresh (the caller
    /// has not).
    #[inline(always)]
    pub(crate) fn select_fast_as<S: Registered, const COUNT: bool>(&self) -> Option<(Pick, bool)> {
        // SAFETY: nothing below calls back into the balancer.
        let (entry, _) = unsafe { self.locals.cached(&self.published) }?;
        let snap: &Snapshot = &entry.snapshot;
        let mut ctx = PickCtx::new(
            &snap.members,
            &snap.selectable,
            &mut entry.picker,
            self.expiry.epoch_cell(),
            self.maintenance.median(),
            &[],
            true,
        );
        let chosen = S::first(S::table_in(&snap.tables), &mut ctx)?;
        Some((chosen.pick, COUNT && entry.count_select()))
    }

    /// The request path's select (the C ABI calls it directly): the running
    /// strategy's first attempt, or the full select for everything else (a clock
    /// read due, trial traffic, exclusions, a first attempt that found no room).
    #[inline(never)]
    pub(crate) fn try_select(&self, exclude: &[u64]) -> Result<Pick, Refused> {
        // SAFETY: `entry` is not used across `tick`; everything after fetches the
        // entry again.
        let (entry, _) = unsafe { self.local() };
        if entry.count_select() {
            self.tick();
        }
        if exclude.is_empty() {
            if let Some((pick, _)) =
                Tables::visit(self.dispatch.running_raw(), FastSelect::<false>(self))
            {
                return Ok(pick);
            }
        }
        self.select_plain_slow(exclude)
    }

    /// The full select: trial traffic, the strategy's whole `choose`, a second try
    /// without the exclusions, and why nothing was found.
    #[cold]
    #[inline(never)]
    pub(super) fn select_plain_slow(&self, exclude: &[u64]) -> Result<Pick, Refused> {
        // SAFETY: as in `try_select`; nothing below calls back into the balancer.
        let (entry, _) = unsafe { self.local() };
        let snap: &Snapshot = &entry.snapshot;
        let mut ctx = match self.begin_full(snap, &mut entry.picker, exclude) {
            FullSelect::Done(result) => return result,
            FullSelect::Choose(ctx) => ctx,
        };
        let strategy = self.dispatch.running_raw();
        let mut chosen = snap.tables.choose(strategy, &mut ctx);
        if chosen.is_none() && !exclude.is_empty() {
            ctx.exclude = &[];
            chosen = snap.tables.choose(strategy, &mut ctx);
        }
        finish_full(snap, &ctx, chosen)
    }

    /// The start of a full select (plain or keyed): nothing to choose from, a
    /// trial pick, or the context the strategy chooses in.
    pub(super) fn begin_full<'a>(
        &'a self,
        snap: &'a Snapshot,
        picker: &'a mut Picker,
        exclude: &'a [u64],
    ) -> FullSelect<'a> {
        if snap.selectable.is_empty() && snap.trial.is_empty() {
            return FullSelect::Done(Err(Refused::NoInstance));
        }
        let mut ctx = PickCtx::new(
            &snap.members,
            &snap.selectable,
            picker,
            self.expiry.epoch_cell(),
            self.maintenance.median(),
            exclude,
            false,
        );
        if !snap.trial.is_empty() {
            if let Some((idx, e)) = trial_pick(snap, &mut ctx) {
                return FullSelect::Done(Ok(snap.members[idx].pick(idx, e)));
            }
        }
        FullSelect::Choose(ctx)
    }

    /// The tag of a new incarnation: the balancer's key mixed with the id and the
    /// incarnation, so tags differ between instances and between balancers.
    pub(super) fn tag(&self, id: u64, incarnation: u64) -> u64 {
        let a = (id ^ self.key[0]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = (incarnation ^ self.key[1]).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let h = a ^ b.rotate_left(29);
        h ^ (h >> 31)
    }
}

/// How a full select begins (`Balancer::begin_full`).
pub(super) enum FullSelect<'a> {
    /// Nothing to choose from, or a trial pick.
    Done(Result<Pick, Refused>),
    /// The context the strategy chooses in.
    Choose(PickCtx<'a>),
}

/// The pick a full select chose, or why it found none.
pub(super) fn finish_full(
    snap: &Snapshot,
    ctx: &PickCtx<'_>,
    chosen: Option<(usize, u32)>,
) -> Result<Pick, Refused> {
    match chosen {
        Some((idx, e)) => Ok(snap.members[idx].pick(idx, e)),
        None if ctx.at_ceiling.get() => Err(Refused::InFlightLimit),
        None => Err(Refused::NoInstance),
    }
}

/// `select_fast_as` for the strategy `Tables::visit` names.
struct FastSelect<'a, const COUNT: bool>(&'a Balancer);

impl<const COUNT: bool> Visit for FastSelect<'_, COUNT> {
    type Out = Option<(Pick, bool)>;
    #[inline(always)]
    fn visit<S: Registered>(self) -> Option<(Pick, bool)> {
        self.0.select_fast_as::<S, COUNT>()
    }
    fn other(self) -> Option<(Pick, bool)> {
        None
    }
}

/// Offers a request to an instance on probation now and then (at most one trial in
/// flight each), so an ejected backend can earn its way back.
#[inline(never)]
fn trial_pick(snap: &Snapshot, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    if !ctx.exclude.is_empty() || ctx.picker.unit() >= snap.cfg.trial_ratio {
        return None;
    }
    let idx = snap.trial[ctx.picker.below(snap.trial.len())] as usize;
    let m = &snap.members[idx];
    let e = m.state.try_acquire(ctx.epoch(), 1).ok()?;
    Some((idx, e))
}

/// A pick that reports itself `Cancelled` if dropped without a report.
#[derive(Debug)]
pub struct PickGuard<'a> {
    balancer: &'a Balancer,
    pick: Option<Pick>,
}

impl PickGuard<'_> {
    /// The chosen instance (0 once the guard has reported).
    pub fn instance_id(&self) -> u64 {
        self.pick.map(|p| p.instance_id()).unwrap_or_default()
    }

    /// Reports the outcome (consuming the guard).
    pub fn report(mut self, outcome: Outcome, latency_us: u64) -> Result<(), Error> {
        match self.pick.take() {
            Some(p) => self.balancer.report(&p, outcome, latency_us),
            None => Err(Error::InvalidPick),
        }
    }

    /// Hands out the pick without reporting it (the caller now owns the report).
    pub fn into_pick(mut self) -> Pick {
        // `pick` is always Some until report/into_pick consume the guard.
        self.pick.take().unwrap_or(Pick::from_raw([0; 4]))
    }
}

impl Drop for PickGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.pick.take() {
            let _ = self.balancer.report(&p, Outcome::Cancelled, 0);
        }
    }
}
