//! The graveyard: instances removed from the set whose picks may still be reported,
//! and the totals of those that are gone for good. It can settle a pick and count
//! it, but it holds nothing that could change the set, so a report of a removed
//! instance can never publish a snapshot.

use crate::error::Refused;
use crate::instance::{Counts, InstanceState, LatencyDecay, Settled};
use crate::sync::{lock, Arc, Mutex};
use crate::types::{Outcome, Pick};

pub(super) struct Graveyard(Mutex<Buried>);

struct Buried {
    states: Vec<Arc<InstanceState>>,
    retired: Counts,
}

impl Graveyard {
    pub(super) fn new() -> Graveyard {
        Graveyard(Mutex::new(Buried {
            states: Vec::new(),
            retired: Counts::default(),
        }))
    }

    /// Takes in instances that just left the set.
    pub(super) fn bury(&self, states: impl IntoIterator<Item = Arc<InstanceState>>) {
        lock(&self.0).states.extend(states);
    }

    /// Settles a pick of a removed instance (same id and incarnation), counting its
    /// outcome; no health transition follows (the instance is out of the set).
    pub(super) fn settle(
        &self,
        pick: &Pick,
        outcome: Outcome,
        latency_us: u64,
        now_us: u64,
        decay: &LatencyDecay,
        penalty_us: f64,
    ) -> Result<Settled, Refused> {
        let g = lock(&self.0);
        let st = g
            .states
            .iter()
            .find(|s| s.incarnation() == pick.incarnation && s.id == pick.instance_id)
            .filter(|s| s.check(pick.epoch_and_index) == pick.check)
            .ok_or(Refused::InvalidPick)?;
        st.settle(pick.epoch(), outcome, latency_us, now_us, decay, || {
            penalty_us
        })
        .ok_or(Refused::InvalidPick)
    }

    /// Retires picks of removed instances and forgets an instance once nothing can
    /// report on it any more: no pick in flight and no snapshot (not even a thread's
    /// cached one) still holding it. Its totals move to `retired`.
    pub(super) fn prune(&self, epoch: u64) {
        let mut g = lock(&self.0);
        let mut i = 0;
        while i < g.states.len() {
            let st = &g.states[i];
            st.expire_to(epoch);
            if st.in_flight() == 0 && Arc::strong_count(st) == 1 {
                let st = g.states.swap_remove(i);
                let c = st.counts();
                g.retired.add(&c);
            } else {
                i += 1;
            }
        }
    }

    /// The retired totals plus the removed instances' counts.
    pub(super) fn totals(&self) -> Counts {
        let g = lock(&self.0);
        let mut counts = g.retired;
        for st in g.states.iter() {
            counts.add(&st.counts());
        }
        counts
    }
}
