//! The instance set as readers see it: membership, weights, the health view and
//! every strategy's table in one immutable value, published atomically. A reader
//! that loads one snapshot never sees half an update.

use crate::config::Config;
use crate::health;
use crate::instance::LatencyDecay;
use crate::member::Member;
use crate::slow_start;
use crate::strategy::keyed::Keyed;
use crate::strategy::{SetView, Tables};
use crate::sync::{Arc, AtomicU64, Ordering, SnapshotCell};
use crate::types::Instance;

pub(crate) struct Snapshot {
    pub generation: u64,
    pub members: Box<[Member]>,
    /// The set as the caller configured it, in `members` order (a member's
    /// `weight` differs while it slow-starts).
    pub instances: Box<[Instance]>,
    /// (id, index) sorted by id, to find a member by id in O(log n).
    by_id: Box<[(u64, u32)]>,
    /// Indices into `members` that may be picked: the healthy ones, or all of them
    /// in panic mode.
    pub selectable: Box<[u32]>,
    /// Indices of members on probation (trial traffic only).
    pub trial: Box<[u32]>,
    /// Some member is on probation: its successes count towards its recovery, so
    /// reports take the full path. The same as `!trial.is_empty()` but in panic
    /// mode, where there is no trial list and every member is picked.
    pub recovering: bool,
    pub panic: bool,
    pub healthy_count: u32,
    /// The strategies' tables over `selectable`.
    pub tables: Tables,
    /// The hashing strategies' table, when one is configured.
    pub keyed: Option<Keyed>,
    /// The configuration in force, copied here so the request path reads no lock.
    pub cfg: Config,
    /// The latency time constants, precomputed for the report path.
    pub decay: LatencyDecay,
}

impl Snapshot {
    pub(crate) fn empty(cfg: Config) -> Snapshot {
        Snapshot::build(0, Vec::new(), cfg, 0, None)
    }

    /// Builds a snapshot of `members` (with their configured weights, and the
    /// health view of the snapshot before), taking the health view from the
    /// members' live state (`health::selectable`, the rule the staleness check uses
    /// too) and the weights from slow start at `now_us`. A member that comes back
    /// into service here begins its slow start. A hashing strategy's table is
    /// `prev`'s (the snapshot before) when the set's ids, weights and the table
    /// options are unchanged.
    pub(crate) fn build(
        generation: u64,
        mut members: Vec<Member>,
        cfg: Config,
        now_us: u64,
        prev: Option<&Snapshot>,
    ) -> Snapshot {
        let instances: Box<[Instance]> = members.iter().map(Member::instance).collect();
        let mut healthy_count = 0u32;
        let mut trial = Vec::new();
        for (i, m) in members.iter_mut().enumerate() {
            let view = health::selectable(&m.state, &cfg);
            if view.healthy && !m.healthy {
                m.state.start_ramp(now_us);
            }
            m.healthy = view.healthy;
            healthy_count += m.healthy as u32;
            if view.on_trial {
                trial.push(i as u32);
            }
            m.ramp_percent = slow_start::percent(&m.state, now_us, &cfg);
            if m.ramp_percent == slow_start::FULL && m.state.ramp_from().is_some() {
                m.state.end_ramp();
            }
        }
        let ramping = members.iter().any(|m| m.ramp_percent < slow_start::FULL);
        for m in members.iter_mut() {
            m.weight = slow_start::effective_weight(m.weight, m.ramp_percent, ramping);
        }
        let n = members.len();
        let panic = n > 0 && (healthy_count as f64) < cfg.panic_threshold * n as f64;
        let recovering = !trial.is_empty();
        if panic {
            trial.clear();
        }
        let selectable: Box<[u32]> = (0..n as u32)
            .filter(|&i| panic || members[i as usize].healthy)
            .collect();
        let mut by_id: Vec<(u64, u32)> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id, i as u32))
            .collect();
        by_id.sort_unstable();
        let weight_sum = selectable
            .iter()
            .map(|&i| members[i as usize].weight as u64)
            .sum();
        let keyed = Keyed::build(
            &instances,
            &cfg,
            prev.and_then(|p| p.keyed.as_ref()),
            weight_sum,
        );
        let tables = Tables::build(&SetView {
            members: &members,
            selectable: &selectable,
            generation,
            cfg: &cfg,
        });
        Snapshot {
            generation,
            members: members.into_boxed_slice(),
            instances,
            by_id: by_id.into_boxed_slice(),
            selectable,
            trial: trial.into_boxed_slice(),
            recovering,
            panic,
            healthy_count,
            tables,
            keyed,
            decay: LatencyDecay::new(cfg.latency_tau_ms, cfg.peak_ewma_tau_ms),
            cfg,
        }
    }

    /// What the strategies see of this snapshot's set.
    pub(crate) fn set_view(&self) -> SetView<'_> {
        SetView {
            members: &self.members,
            selectable: &self.selectable,
            generation: self.generation,
            cfg: &self.cfg,
        }
    }

    /// The members with their configured weights and this snapshot's health view:
    /// what `build` takes to make the next snapshot of the same set.
    pub(crate) fn configured_members(&self) -> Vec<Member> {
        self.members
            .iter()
            .zip(self.instances.iter())
            .map(|(m, i)| Member {
                weight: i.weight,
                ..m.clone()
            })
            .collect()
    }

    pub(crate) fn index_of(&self, id: u64) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&(k, _)| k)
            .ok()
            .map(|pos| self.by_id[pos].1 as usize)
    }

    pub(crate) fn member(&self, id: u64) -> Option<&Member> {
        self.index_of(id).map(|i| &self.members[i])
    }
}

/// The published snapshot and its generation: readers compare the generation (one
/// load) with the one they cached and load the snapshot only when it moved.
pub(crate) struct Published {
    cell: SnapshotCell<Snapshot>,
    generation: AtomicU64,
}

impl Published {
    pub(crate) fn new(snapshot: Snapshot) -> Published {
        Published {
            generation: AtomicU64::new(snapshot.generation),
            cell: SnapshotCell::new(Arc::new(snapshot)),
        }
    }

    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn load(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }

    /// Makes `snapshot` current. The caller serialises publishers (the writer lock)
    /// and gives each snapshot a higher generation than the last.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        let generation = snapshot.generation;
        self.cell.store(Arc::new(snapshot));
        // After the store: a reader that sees this generation loads this snapshot.
        self.generation.store(generation, Ordering::Release);
    }
}
