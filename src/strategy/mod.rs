//! Selection strategies. Each answers one question — which member of the snapshot
//! gets this request — behind the small [`Choose`] trait; the balancer owns
//! everything else (health, expiry, accounting).

pub(crate) mod adaptive;
pub(crate) mod least_connections;
pub(crate) mod round_robin;
pub(crate) mod weighted_response_time;

use std::cell::Cell;

use crate::instance::Full;
use crate::local::LocalState;
use crate::snapshot::Snapshot;

/// What a strategy sees while it chooses.
pub(crate) struct PickCtx<'a> {
    pub snap: &'a Snapshot,
    pub local: &'a mut LocalState,
    /// The expiry epoch picks are taken in.
    pub epoch: u32,
    /// Ids to avoid (retries); empty for a plain select.
    pub exclude: &'a [u64],
    /// Median latency average of the set (us), for members without samples yet.
    pub median_us: f64,
    /// Set when a member was passed over because it is at the in-flight ceiling, so
    /// a select that finds nothing can say why.
    pub at_ceiling: Cell<bool>,
}

impl PickCtx<'_> {
    /// Whether member `idx` may be chosen at all (not excluded).
    #[inline]
    pub fn allowed(&self, idx: usize) -> bool {
        self.exclude.is_empty() || !self.exclude.contains(&self.snap.members[idx].id)
    }

    /// Takes an in-flight slot on member `idx` if it is allowed and below capacity.
    /// Returns the pick's epoch.
    #[inline]
    pub fn acquire(&self, idx: usize) -> Option<u32> {
        if !self.allowed(idx) {
            return None;
        }
        let m = &self.snap.members[idx];
        match m.state.try_acquire(self.epoch, m.capacity) {
            Ok(epoch) => Some(epoch),
            Err(Full::Capacity) => None,
            Err(Full::Ceiling) => {
                self.at_ceiling.set(true);
                None
            }
        }
    }
}

/// A selection algorithm: choose a member and take its slot, or say that none is
/// available. Implementations never loop without bound.
pub(crate) trait Choose {
    /// Returns (member index, pick epoch) with the slot already taken.
    fn choose(&self, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)>;
}
