//! Select: this thread's entry, the trial offer, the running strategy, the pick.

use std::cell::Cell;

use super::Balancer;
use crate::error::{Error, Refused};
use crate::snapshot::Snapshot;
use crate::strategy::{FirstArgs, PickCtx};
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
        self.try_select(&[]).map_err(Error::from)
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

    /// The request path's select (the C ABI calls it directly): the running
    /// strategy's first attempt, or the full select for everything else (a clock
    /// read due, trial traffic, exclusions, a first attempt that found no room).
    #[inline(always)]
    pub(crate) fn try_select(&self, exclude: &[u64]) -> Result<Pick, Refused> {
        // SAFETY: `entry` is not used across `tick` (which reads the clock, user
        // code that may call back into this balancer): `tick_then_local` fetches
        // the entry again after it.
        let (mut entry, _) = unsafe { self.local() };
        if entry.clock_due() {
            entry = self.tick_then_local().0;
        }
        let snap: &Snapshot = &entry.snapshot;
        if exclude.is_empty() && snap.trial.is_empty() {
            let args = FirstArgs {
                members: &snap.members,
                selectable: &snap.selectable,
                picker: &mut entry.picker,
                epoch: self.expiry.epoch(),
                median_us: self.maintenance.median_us(),
            };
            if let Some((idx, e)) = snap.tables.first(self.dispatch.running_raw(), args) {
                return Ok(self.make_pick(snap, idx, e));
            }
        }
        self.select_slow(exclude)
    }

    /// The full select: trial traffic, the strategy's whole `choose`, a second try
    /// without the exclusions, and why nothing was found.
    #[cold]
    #[inline(never)]
    fn select_slow(&self, exclude: &[u64]) -> Result<Pick, Refused> {
        // SAFETY: as in `try_select`; nothing below calls back into the balancer.
        let (entry, _) = unsafe { self.local() };
        let snap: &Snapshot = &entry.snapshot;
        if snap.selectable.is_empty() && snap.trial.is_empty() {
            return Err(Refused::NoInstance);
        }
        let mut ctx = PickCtx {
            members: &snap.members,
            selectable: &snap.selectable,
            picker: &mut entry.picker,
            epoch: self.expiry.epoch(),
            exclude,
            median_us: self.maintenance.median_us(),
            at_ceiling: Cell::new(false),
        };
        if !snap.trial.is_empty() {
            if let Some((idx, e)) = trial_pick(snap, &mut ctx) {
                return Ok(self.make_pick(snap, idx, e));
            }
        }
        let strategy = self.dispatch.running_raw();
        let mut chosen = snap.tables.choose(strategy, &mut ctx);
        if chosen.is_none() && !exclude.is_empty() {
            ctx.exclude = &[];
            chosen = snap.tables.choose(strategy, &mut ctx);
        }
        match chosen {
            Some((idx, e)) => Ok(self.make_pick(snap, idx, e)),
            None if ctx.at_ceiling.get() => Err(Refused::InFlightLimit),
            None => Err(Refused::NoInstance),
        }
    }

    #[inline(always)]
    fn make_pick(&self, snap: &Snapshot, idx: usize, epoch: u32) -> Pick {
        let m = &snap.members[idx];
        let incarnation = m.state.incarnation();
        let epoch_and_index = (epoch as u64) << 32 | idx as u64;
        Pick {
            instance_id: m.id,
            incarnation,
            epoch_and_index,
            check: self.check(m.id, incarnation, epoch_and_index),
        }
    }

    /// A keyed check value over the pick's words: a corrupted pick, or one from
    /// another balancer (another key), fails it with probability 1 - 2^-64. It is a
    /// fast mixer, not a cryptographic MAC; report validates the pick's contents
    /// independently of it.
    #[inline(always)]
    pub(super) fn check(&self, id: u64, incarnation: u64, epoch_and_index: u64) -> u64 {
        // Two independent multiplies by odd constants (each a bijection of its
        // input, and they overlap in the pipeline): changing any one input word
        // changes the result.
        let a = (id ^ self.key[0]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = (incarnation.rotate_left(32) ^ epoch_and_index ^ self.key[1])
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        a ^ b
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
    let e = m.state.try_acquire(ctx.epoch, 1).ok()?;
    Some((idx, e))
}

/// A pick that reports itself `Cancelled` if dropped without a report.
#[derive(Debug)]
pub struct PickGuard<'a> {
    balancer: &'a Balancer,
    pick: Option<Pick>,
}

impl PickGuard<'_> {
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
