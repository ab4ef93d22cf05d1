//! One instance of a set as a snapshot holds it: what the caller configured, its
//! live state, and the health view the snapshot was built with.

use crate::instance::{pick_limit, InstanceState};
use crate::sync::Arc;
use crate::types::{Instance, Pick};

#[derive(Clone)]
pub(crate) struct Member {
    pub id: u64,
    pub state: Arc<InstanceState>,
    /// The weight the strategies use: the configured one (the snapshot's
    /// `instances`), or during a slow start the ramped one (see `slow_start`).
    pub weight: u32,
    pub capacity: u32,
    /// The most picks it may have in flight (`capacity`, or the ceiling).
    pub limit: u32,
    /// Health lets it be picked (the view this snapshot was built with).
    pub healthy: bool,
    /// Slow start: the percentage of its weight it has (100 when not ramping).
    pub ramp_percent: u8,
}

// 32 bytes, so indexing the members is one shift (loom's `Arc` is larger).
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Member>() == 32);

impl Member {
    pub(crate) fn new(instance: &Instance, state: Arc<InstanceState>) -> Member {
        Member {
            id: instance.id,
            weight: instance.weight,
            capacity: instance.capacity,
            limit: pick_limit(instance.capacity) as u32,
            state,
            healthy: true,
            ramp_percent: 100,
        }
    }

    /// The pick of this member, at index `idx` of its snapshot, taken in `epoch`.
    #[inline(always)]
    pub(crate) fn pick(&self, idx: usize, epoch: u32) -> Pick {
        let epoch_and_index = (epoch as u64) << 32 | idx as u64;
        Pick {
            instance_id: self.id,
            incarnation: self.state.incarnation(),
            epoch_and_index,
            check: self.state.check(epoch_and_index),
        }
    }

    /// The instance as configured, if `weight` is still the configured weight
    /// (before `Snapshot::build` applies slow start).
    pub(crate) fn instance(&self) -> Instance {
        Instance {
            id: self.id,
            weight: self.weight,
            capacity: self.capacity,
        }
    }
}
