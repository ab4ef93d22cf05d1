//! Report: verify the pick, find its instance, settle it, and make the health
//! transitions an outcome calls for. A pick whose instance has left the set is
//! settled by the graveyard, which can count it but cannot change the set.

use super::keyed_load::COUNTED;
use super::Balancer;
use crate::error::{Error, Refused};
use crate::instance::Settled;
use crate::local::Shard;
use crate::member::Member;
use crate::snapshot::Snapshot;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::Ordering;
use crate::types::{EventKind, Outcome, Pick};

pub use crate::instance::MAX_LATENCY_US;

impl Balancer {
    /// Gives back a pick with its outcome and the latency the caller saw, in
    /// microseconds. A latency above [`MAX_LATENCY_US`] counts as `MAX_LATENCY_US`
    /// (the pick is settled normally): a negative duration cast to `u64` cannot
    /// wreck the averages.
    ///
    /// Errors: [`Error::InvalidPick`] for a pick this balancer did not hand out, a
    /// corrupted one, one that expired, or a detected second report; nothing changes
    /// then. A pick whose instance has since been removed (or removed and re-added)
    /// still counts in the totals, never in a current instance's counters.
    #[inline]
    pub fn report(&self, pick: &Pick, outcome: Outcome, latency_us: u64) -> Result<(), Error> {
        if outcome == Outcome::Success {
            if let Some(result) = self.report_success_fast::<true>(pick, latency_us) {
                return result.map_err(Error::from);
            }
        }
        self.try_report(pick, outcome, latency_us)
            .map_err(Error::from)
    }

    /// A successful report in its common case, with no panic site, so that the C
    /// ABI can run it outside its panic guard: this thread's cached entry with a
    /// current snapshot without trial traffic, no clock read due first, the index
    /// hint finding the instance, a pick that passes its check and was taken in the
    /// current epoch, and the slot released in one step. `Some` when it settled the pick or refused it
    /// with nothing changed; `None` leaves the report to `try_report`, with nothing
    /// changed.
    /// `COUNT`: count this call towards the clock refresh (the caller has not).
    #[inline(always)]
    pub(crate) fn report_success_fast<const COUNT: bool>(
        &self,
        pick: &Pick,
        latency_us: u64,
    ) -> Option<Result<(), Refused>> {
        self.report_success_at::<COUNT>(pick, latency_us, pick.index())
    }

    /// `report_success_fast` of the member at `index` (the pick's own index, or
    /// for a pick counted by bounded loads its index without the mark).
    #[inline(always)]
    fn report_success_at<const COUNT: bool>(
        &self,
        pick: &Pick,
        latency_us: u64,
        index: usize,
    ) -> Option<Result<(), Refused>> {
        // SAFETY: nothing below calls back into the balancer.
        let (entry, shard) = unsafe { self.locals.cached(&self.published) }?;
        let snap: &Snapshot = &entry.snapshot;
        if COUNT && !entry.report_may_skip_clock() {
            return None;
        }
        let m = snap.members.get(index)?;
        if !same_instance(m, pick) {
            return None;
        }
        if !check_matches(m, pick) {
            if COUNT {
                entry.count_report();
            }
            return Some(Err(Refused::InvalidPick));
        }
        // A pick of an earlier epoch (possibly expired) is left to the full report.
        if pick.epoch() != self.expiry.epoch() {
            return None;
        }
        let now = self.now_us.load(Ordering::Relaxed);
        let latency_us = m
            .state
            .settle_success_fast(pick.epoch(), latency_us, now, &snap.decay)?;
        if COUNT {
            entry.count_report();
        }
        shard.add(latency_us);
        Some(Ok(()))
    }

    /// The full report (the C ABI calls it directly): the clock read when due, the
    /// instance found by its index hint or by id, or the graveyard.
    #[inline(never)]
    pub(crate) fn try_report(
        &self,
        pick: &Pick,
        outcome: Outcome,
        latency_us: u64,
    ) -> Result<(), Refused> {
        // SAFETY: `entry` is not used across `tick`; everything after fetches the
        // entry again.
        let (entry, _) = unsafe { self.local() };
        // Reports count towards the clock refresh too, so an expired pick is
        // recognised within 2 x `clock_refresh_ops` - 1 calls of this thread even
        // when nothing is being selected.
        if entry.report_clock_due() {
            self.tick();
        }
        if outcome == Outcome::Success {
            if let Some(result) = self.report_success_fast::<false>(pick, latency_us) {
                return result;
            }
            // A pick counted by bounded loads: its member by the index without
            // the mark (the check value covers the mark), then out of the count.
            if let Some(index) = counted_index(pick) {
                if let Some(result) = self.report_success_at::<false>(pick, latency_us, index) {
                    if result.is_ok() {
                        self.keyed_load.settle(pick);
                    }
                    return result;
                }
            }
        }
        // A caller's negative duration cast to unsigned must not wreck the averages.
        let latency_us = latency_us.min(MAX_LATENCY_US);
        self.report_slow(*pick, outcome, latency_us)
    }

    /// Whether the pick is not from two or more epochs ago (expired), nor from a
    /// "future" epoch further than one ahead (not ours).
    #[inline(always)]
    fn fresh(&self, pick: &Pick) -> bool {
        // Ages 0 and 1 (this epoch and the one before) and "-1" (a pick taken
        // while another thread moved the epoch on) are ours: age + 1 <= 2.
        let age = self.expiry.epoch().wrapping_sub(pick.epoch());
        age.wrapping_add(1) <= 2
    }

    /// The full report of a checked pick: the member found by its index hint or by
    /// id, or the graveyard for an instance that has left the set.
    #[cold]
    #[inline(never)]
    fn report_slow(&self, pick: Pick, outcome: Outcome, latency_us: u64) -> Result<(), Refused> {
        if !self.fresh(&pick) {
            return Err(Refused::InvalidPick);
        }
        // SAFETY: as in `try_report`; nothing below calls back into the balancer.
        let (entry, shard) = unsafe { self.local() };
        let snap: &Snapshot = &entry.snapshot;
        // A pick counted by bounded loads (`keyed_load`) has a marked index, so it
        // always comes here; once settled it leaves the count.
        match locate(snap, &pick) {
            Some(m) if !check_matches(m, &pick) => Err(Refused::InvalidPick),
            Some(m) => {
                self.settle_member(snap, m, &pick, outcome, latency_us, shard)?;
                self.keyed_load.settle(&pick);
                Ok(())
            }
            None => {
                let now = self.now_us.load(Ordering::Relaxed);
                let penalty = self.maintenance.penalty_us();
                let settled =
                    self.graveyard
                        .settle(&pick, outcome, latency_us, now, &snap.decay, penalty)?;
                if settled == Settled::Success {
                    shard.add(latency_us);
                }
                self.keyed_load.settle(&pick);
                Ok(())
            }
        }
    }

    /// Settles a pick of member `m` of the set and makes the health transitions
    /// its outcome calls for.
    #[inline(always)]
    fn settle_member(
        &self,
        snap: &Snapshot,
        m: &Member,
        pick: &Pick,
        outcome: Outcome,
        latency_us: u64,
        shard: &Shard,
    ) -> Result<(), Refused> {
        let now = self.now_us.load(Ordering::Relaxed);
        let settled = m
            .state
            .settle(pick.epoch(), outcome, latency_us, now, &snap.decay, || {
                self.maintenance.penalty_us()
            })
            .ok_or(Refused::InvalidPick)?;
        match settled {
            Settled::Success => {
                shard.add(latency_us);
                if snap.recovering {
                    self.after_outcome(snap, m, settled, now);
                }
            }
            Settled::Failure(_) => self.after_outcome(snap, m, settled, now),
            Settled::Cancelled => {}
        }
        Ok(())
    }

    /// The health transitions an outcome of a member of the set can make: a trial
    /// success towards recovery, a failure streak or a failed trial to ejection.
    #[inline(never)]
    fn after_outcome(&self, snap: &Snapshot, m: &Member, settled: Settled, now: u64) {
        match settled {
            Settled::Success => {
                // In panic mode (no trial list) every success of a member on
                // probation counts: otherwise a set that was wholly ejected could
                // never leave panic mode.
                if snap.recovering
                    && m.state.health.on_probation()
                    && m.state.health.trial_success(now, &snap.cfg)
                {
                    self.event(EventKind::Recovered, m.id, now);
                    self.republish();
                }
            }
            Settled::Failure(streak) => {
                let due = m.state.health.on_probation()
                    || (m.state.health.is_healthy()
                        && streak >= snap.cfg.consecutive_failures as u64);
                if due && m.state.health.try_eject(now, &snap.cfg) {
                    self.ejections.fetch_add(1, Ordering::AcqRel);
                    self.event(EventKind::Ejected, m.id, now);
                    self.republish();
                }
            }
            Settled::Cancelled => {}
        }
    }
}

/// Finds the pick's instance in the current set: by its index hint, else by id; in
/// both cases only if it is the same incarnation.
fn locate<'s>(snap: &'s Snapshot, pick: &Pick) -> Option<&'s Member> {
    if let Some(m) = snap.members.get(pick.index()) {
        if same_instance(m, pick) {
            return Some(m);
        }
    }
    let m = snap.member(pick.instance_id)?;
    same_instance(m, pick).then_some(m)
}

/// The index of a pick counted by bounded loads, without its mark; `None` for
/// any other pick.
#[inline(always)]
fn counted_index(pick: &Pick) -> Option<usize> {
    let index = pick.index() as u32;
    (index & COUNTED != 0).then_some((index & !COUNTED) as usize)
}

/// Whether the pick's check value is the one `m`'s incarnation gives its words.
#[inline(always)]
fn check_matches(m: &Member, pick: &Pick) -> bool {
    // The tag is per incarnation, so this is the incarnation check too: the
    // injected bug skips both.
    #[cfg(loom)]
    if fault::on(&fault::SKIP_INCARNATION_CHECK) {
        return true;
    }
    pick.check == m.state.check(pick.epoch_and_index)
}

/// Whether `m` is the pick's instance: the same id and the same incarnation.
#[inline(always)]
fn same_instance(m: &Member, pick: &Pick) -> bool {
    #[cfg(loom)]
    if fault::on(&fault::SKIP_INCARNATION_CHECK) {
        return m.id == pick.instance_id;
    }
    m.id == pick.instance_id && m.state.incarnation() == pick.incarnation
}
