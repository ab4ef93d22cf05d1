//! Keyed select: the hashing strategies send a key to the instance its table
//! entry names, or along the table when that one cannot take it; every other
//! strategy selects as a plain select would.

use super::keyed_load::COUNTED;
use super::select::{finish_full, FullSelect};
use super::Balancer;
use crate::error::{Error, Refused};
use crate::snapshot::Snapshot;
use crate::strategy::keyed::Bound;
use crate::strategy::PickCtx;
use crate::types::Pick;

impl Balancer {
    /// Chooses an instance for a request with key `key` (a 64-bit hash of the
    /// caller's key, such as [`hash_bytes`](crate::hash_bytes) of a user id or a
    /// session cookie; lb mixes it further, so plain integers do too). Under a
    /// hashing strategy ([`Strategy::Maglev`](crate::Strategy::Maglev),
    /// [`Strategy::RingHash`](crate::Strategy::RingHash)) the same key goes to the
    /// same instance while the set and its health stay the same; when that
    /// instance cannot take the request (ejected, at capacity) the key goes to the
    /// next instance in table order that can, the same one each time, and comes
    /// back when it can again. Instances on probation get their trial traffic
    /// from keyed selects too. Under any other strategy the key is ignored and
    /// this selects as [`select`](Self::select) does. The pick is an ordinary pick.
    ///
    /// Errors: as for [`select`](Self::select).
    #[inline]
    pub fn select_key(&self, key: u64) -> Result<Pick, Error> {
        match self.select_key_fast::<true>(key) {
            Some((pick, clock_due)) => {
                if clock_due {
                    self.tick();
                }
                Ok(pick)
            }
            // Not a hashing strategy: exactly a plain select.
            None if !self.dispatch.configured().is_hashing() => self.select(),
            None => self.try_select_key(key, &[]).map_err(Error::from),
        }
    }

    /// Like [`select_key`](Self::select_key), for retries: avoids the ids in
    /// `exclude` while any other instance can take the request (the key then goes
    /// along the table past them), and otherwise selects as `select_key` would.
    pub fn select_key_excluding(&self, key: u64, exclude: &[u64]) -> Result<Pick, Error> {
        self.try_select_key(key, exclude).map_err(Error::from)
    }

    /// A keyed select in its common case, with no panic site (the C ABI runs it
    /// outside its panic guard): this thread's cached entry with a current
    /// snapshot without trial traffic, a hashing strategy, and the key's own
    /// member healthy, within its bound (with a balance factor) and taking the
    /// slot in one step. `None` leaves the select to `try_select_key`, with
    /// nothing changed. `COUNT`: count this call towards the clock refresh.
    #[inline(always)]
    pub(crate) fn select_key_fast<const COUNT: bool>(&self, key: u64) -> Option<(Pick, bool)> {
        // SAFETY: nothing below calls back into the balancer.
        let (entry, _) = unsafe { self.locals.cached(&self.published) }?;
        let snap: &Snapshot = &entry.snapshot;
        let keyed = snap.keyed.as_ref()?;
        let idx = keyed.home(key)?;
        let m = snap.members.get(idx)?;
        if !m.healthy {
            return None;
        }
        let factor = snap.cfg.hash_balance_factor;
        if factor != 0 {
            let bound = Bound {
                factor,
                total: self.keyed_load.total(),
            };
            if !bound.admits(m.state.in_flight(), m.weight, keyed.weight_sum()) {
                return None;
            }
        }
        let ctx = PickCtx::new(
            &snap.members,
            &snap.selectable,
            &mut entry.picker,
            self.expiry.epoch_cell(),
            self.maintenance.median(),
            &[],
            true,
        );
        let pick = if factor == 0 {
            ctx.acquire_member(idx)?.pick
        } else {
            let epoch = m.state.try_acquire_fast(ctx.epoch(), m.limit as u64)?;
            self.keyed_load.add(epoch);
            m.pick(idx | COUNTED as usize, epoch)
        };
        Some((pick, COUNT && entry.count_select()))
    }

    /// The keyed select (the C ABI calls it directly): the common case, or the
    /// walk along the table, or for a strategy that does not hash a plain select.
    #[inline(never)]
    pub(crate) fn try_select_key(&self, key: u64, exclude: &[u64]) -> Result<Pick, Refused> {
        // SAFETY: `entry` is not used across `try_select` or `tick`.
        let (entry, _) = unsafe { self.local() };
        if entry.snapshot.keyed.is_none() {
            return self.try_select(exclude);
        }
        if entry.count_select() {
            self.tick();
        }
        if exclude.is_empty() {
            if let Some((pick, _)) = self.select_key_fast::<false>(key) {
                return Ok(pick);
            }
        }
        self.select_key_slow(key, exclude)
    }

    /// The walk: trial traffic, then the table from the key's entry, then again
    /// without the exclusions; and why nothing was found.
    #[cold]
    #[inline(never)]
    fn select_key_slow(&self, key: u64, exclude: &[u64]) -> Result<Pick, Refused> {
        // SAFETY: as in `try_select_key`; nothing below calls back into the balancer.
        let (entry, _) = unsafe { self.local() };
        let snap: &Snapshot = &entry.snapshot;
        let Some(keyed) = snap.keyed.as_ref() else {
            // The strategy changed since `try_select_key` looked.
            return self.select_plain_slow(exclude);
        };
        let mut ctx = match self.begin_full(snap, &mut entry.picker, exclude) {
            FullSelect::Done(result) => return result,
            FullSelect::Choose(ctx) => ctx,
        };
        let factor = snap.cfg.hash_balance_factor;
        let bound = (factor != 0).then(|| Bound {
            factor,
            total: self.keyed_load.total(),
        });
        let mut chosen = keyed.choose(key, snap.panic, bound, &mut ctx);
        if chosen.is_none() && bound.is_some() {
            // Every member is at its bound (the factor is at least 1, so only
            // capacity, health or racing selects get here): as without one.
            chosen = keyed.choose(key, snap.panic, None, &mut ctx);
        }
        if chosen.is_none() && !exclude.is_empty() {
            ctx.exclude = &[];
            chosen = keyed.choose(key, snap.panic, bound, &mut ctx);
        }
        match chosen {
            Some((idx, e)) if bound.is_some() => {
                self.keyed_load.add(e);
                Ok(snap.members[idx].pick(idx | COUNTED as usize, e))
            }
            other => finish_full(snap, &ctx, other),
        }
    }
}
