//! The balancer: the published snapshot, select and report, membership changes, and
//! the periodic maintenance pass that keeps expiry, health and weights current.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64 as StdAtomicU64;

use crossbeam_utils::CachePadded;

use crate::clock::{Clock, MonotonicClock};
use crate::config::Config;
use crate::error::Error;
use crate::health::{self, Verdict};
use crate::instance::{Counts, InstanceState, HEALTHY, PROBATION};
use crate::local::{LocalEntry, LocalState, PaddedShard, Shard};
use crate::snapshot::{Member, Scratch, Snapshot};
use crate::strategy::adaptive::{choose_concrete, AdaptiveEval, AdaptiveSwitch};
use crate::strategy::weighted_response_time::{median_latency, refresh_weights};
use crate::strategy::PickCtx;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{
    lock, try_lock, Arc, AtomicF64, AtomicU32, AtomicU64, AtomicU8, Mutex, Ordering, PerThread,
    SnapshotCell,
};
use crate::types::{HealthStatus, Instance, LoadBalancerStats, Outcome, Pick, Strategy};

/// The largest latency a report records, in microseconds (one hour); larger values
/// count as this.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Balancer identities are never reused, so a thread-local cache keyed by one can
/// never mistake a new balancer for a freed one at the same address.
static NEXT_BALANCER_ID: StdAtomicU64 = StdAtomicU64::new(1);

/// State changed only under the writer lock: publishing snapshots.
struct Writer {
    generation: u64,
    next_incarnation: u64,
    config: Config,
}

/// The expiry clock: when the current epoch began and the timeout it runs on (one
/// thread at a time, never waited for on the request path).
struct Expiry {
    epoch_start_us: u64,
    /// The pick timeout the current epoch was started with.
    timeout_us: u64,
}

/// State of the maintenance pass (one thread at a time, never waited for on the
/// request path).
struct Maint {
    last_eval_us: u64,
    scratch: Scratch,
    adaptive: AdaptiveEval,
    adaptive_running: bool,
}

/// Instances removed from the set whose picks may still be reported, and the totals
/// of those that are gone for good.
struct Graveyard {
    states: Vec<Arc<InstanceState>>,
    retired: Counts,
    retired_latency_sum_us: u64,
    retired_latency_count: u64,
}

/// A lock-free load balancer. Share it between threads with an `Arc`; every method
/// takes `&self`.
pub struct Balancer {
    id: u64,
    key: [u64; 2],
    seed: u64,
    clock: std::sync::Arc<dyn Clock>,
    cell: SnapshotCell<Snapshot>,
    generation: AtomicU64,
    strategy: AtomicU8,
    adaptive: AdaptiveSwitch,
    epoch: AtomicU64,
    /// When the current epoch may end (its start plus the timeout; `u64::MAX` while
    /// picks never expire): a clock read at or past it moves the epoch on.
    next_epoch_us: AtomicU64,
    /// Coarse time, refreshed every few selects per thread. Written often, so on
    /// its own cache line, away from the read-mostly words every select loads.
    now_us: CachePadded<AtomicU64>,
    next_maintenance_us: AtomicU64,
    /// Latency a failure counts as, at least (median latency * penalty factor).
    penalty_us: AtomicF64,
    /// Median latency average of the set, refreshed by maintenance.
    median_us: AtomicF64,
    ejections: AtomicU64,
    threads: AtomicU64,
    fallback_cursor: AtomicU32,
    max_total_seen: AtomicU64,
    writer: Mutex<Writer>,
    maint: Mutex<Maint>,
    expiry: Mutex<Expiry>,
    graveyard: Mutex<Graveyard>,
    shards: Mutex<Vec<Arc<PaddedShard>>>,
    shared_shard: Arc<PaddedShard>,
    /// Each thread's cached snapshot and local state for this balancer.
    locals: PerThread<RefCell<LocalEntry>>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("id", &self.id)
            .field("strategy", &self.strategy())
            .finish_non_exhaustive()
    }
}

impl Balancer {
    /// A balancer on the monotonic clock.
    pub fn new(config: Config) -> Result<Balancer, Error> {
        Balancer::with_clock(config, std::sync::Arc::new(MonotonicClock::new()))
    }

    /// A balancer reading time from `clock` (a `ManualClock` for tests and simulation).
    pub fn with_clock(config: Config, clock: std::sync::Arc<dyn Clock>) -> Result<Balancer, Error> {
        let seed = match config.seed {
            0 => crate::config::entropy_seed(),
            s => s,
        };
        Balancer::build(config, clock, seed)
    }

    /// A balancer on the monotonic clock seeded with exactly `seed` (0 included:
    /// the C ABI's seeded constructor takes every 64-bit value).
    pub(crate) fn with_seed(config: Config, seed: u64) -> Result<Balancer, Error> {
        Balancer::build(config, std::sync::Arc::new(MonotonicClock::new()), seed)
    }

    fn build(
        config: Config,
        clock: std::sync::Arc<dyn Clock>,
        seed: u64,
    ) -> Result<Balancer, Error> {
        config.validate()?;
        let id = NEXT_BALANCER_ID.fetch_add(1, Ordering::Relaxed);
        let key = [crate::config::entropy() | 1, crate::config::entropy()];
        let now = clock.now_us();
        let timeout_us = config.pick_timeout_ms * 1000;
        // Adaptive starts on weighted response time: its latency-aware two-choice pick
        // is the strongest single strategy across the bundled scenarios (BENCHMARKS.md).
        let initial = match config.strategy {
            Strategy::Adaptive => Strategy::WeightedResponseTime,
            s => s,
        };
        Ok(Balancer {
            id,
            key,
            seed,
            clock,
            cell: SnapshotCell::new(Arc::new(Snapshot::empty(config.clone()))),
            generation: AtomicU64::new(0),
            strategy: AtomicU8::new(config.strategy as u8),
            adaptive: AdaptiveSwitch::new(initial),
            epoch: AtomicU64::new(0),
            next_epoch_us: AtomicU64::new(match timeout_us {
                0 => u64::MAX,
                t => now.saturating_add(t),
            }),
            now_us: CachePadded::new(AtomicU64::new(now)),
            next_maintenance_us: AtomicU64::new(now),
            penalty_us: AtomicF64::new(0.0),
            median_us: AtomicF64::new(0.0),
            ejections: AtomicU64::new(0),
            threads: AtomicU64::new(0),
            fallback_cursor: AtomicU32::new(0),
            max_total_seen: AtomicU64::new(0),
            writer: Mutex::new(Writer {
                generation: 0,
                next_incarnation: 1,
                config,
            }),
            maint: Mutex::new(Maint {
                last_eval_us: now,
                scratch: Scratch::default(),
                adaptive: AdaptiveEval::default(),
                adaptive_running: false,
            }),
            expiry: Mutex::new(Expiry {
                epoch_start_us: now,
                timeout_us,
            }),
            graveyard: Mutex::new(Graveyard {
                states: Vec::new(),
                retired: Counts::default(),
                retired_latency_sum_us: 0,
                retired_latency_count: 0,
            }),
            shards: Mutex::new(Vec::new()),
            shared_shard: Arc::new(PaddedShard::new(Shard::new())),
            locals: PerThread::new(),
        })
    }

    /// The seed of this balancer's random generators: `Config::seed`, or the one it
    /// drew from the operating system's entropy when that was 0 (never 0). A
    /// balancer built with this seed, the same clock and the same calls makes the
    /// same decisions.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    // ---- per-thread state ----

    /// Runs `f` with this thread's state for this balancer and a current-enough
    /// snapshot: the cached one, refreshed only when the generation moved (one
    /// atomic load in the steady state, no reference counting). A re-entrant call
    /// gets a direct snapshot load and throw-away local state.
    #[inline]
    fn with_local<R>(&self, f: impl FnOnce(&mut LocalState, &Snapshot) -> R) -> R {
        let cell = self.locals.get_or(|| RefCell::new(self.new_local()));
        match cell.try_borrow_mut() {
            Ok(mut entry) => {
                let entry = &mut *entry;
                if entry.snapshot.generation != self.generation.load(Ordering::Acquire) {
                    entry.snapshot = self.cell.load_full();
                }
                f(&mut entry.state, &entry.snapshot)
            }
            Err(_) => {
                let snap = self.cell.load_full();
                let mut local = self.fallback_local();
                f(&mut local, &snap)
            }
        }
    }

    /// A thread starts using this balancer: its latency shard and ordinal.
    #[cold]
    fn new_local(&self) -> LocalEntry {
        let shard = Arc::new(PaddedShard::new(Shard::new()));
        lock(&self.shards).push(Arc::clone(&shard));
        let ordinal = self.threads.fetch_add(1, Ordering::Relaxed);
        LocalEntry {
            snapshot: self.cell.load_full(),
            state: LocalState::new(self.seed, ordinal, shard, true),
        }
    }

    /// Throw-away local state for calls that cannot use the thread-local cache.
    fn fallback_local(&self) -> LocalState {
        let n = self.fallback_cursor.fetch_add(1, Ordering::Relaxed);
        let mut local = LocalState::new(
            self.seed,
            u64::MAX - n as u64,
            Arc::clone(&self.shared_shard),
            false,
        );
        local.cursor = n as u64;
        local
    }

    // ---- select ----

    /// Chooses an instance for one request. The pick must be given back with
    /// [`report`](Self::report) (or it expires after the pick timeout).
    ///
    /// Errors: [`Error::NoInstance`] when the set is empty or every selectable
    /// instance is at capacity; [`Error::InFlightLimit`] when nothing could be
    /// selected and at least one instance was passed over because it holds
    /// [`IN_FLIGHT_MAX`](crate::IN_FLIGHT_MAX) picks.
    #[inline]
    pub fn select(&self) -> Result<Pick, Error> {
        self.with_local(|local, snap| self.select_in(local, snap, &[]))
    }

    /// Like [`select`](Self::select), for retries: avoids the ids in `exclude` while any
    /// other instance is selectable, and otherwise selects as `select` would.
    pub fn select_excluding(&self, exclude: &[u64]) -> Result<Pick, Error> {
        self.with_local(|local, snap| self.select_in(local, snap, exclude))
    }

    /// Selects and wraps the pick in a guard that reports `Cancelled` if it is dropped
    /// without a report.
    pub fn select_guarded(&self) -> Result<PickGuard<'_>, Error> {
        self.select().map(|pick| PickGuard {
            balancer: self,
            pick: Some(pick),
        })
    }

    #[inline]
    fn select_in(
        &self,
        local: &mut LocalState,
        snap: &Snapshot,
        exclude: &[u64],
    ) -> Result<Pick, Error> {
        local.ops += 1;
        if local.ops >= snap.cfg.clock_refresh_ops {
            local.ops = 0;
            self.tick();
        }
        if snap.members.is_empty() {
            return Err(Error::NoInstance);
        }
        let epoch = self.epoch.load(Ordering::Acquire) as u32;
        let strategy = self.active_strategy();
        let mut ctx = PickCtx {
            snap,
            local,
            epoch,
            exclude,
            median_us: self.median_us.load(Ordering::Relaxed),
            at_ceiling: std::cell::Cell::new(false),
        };
        if !snap.trial.is_empty() {
            if let Some((idx, e)) = trial_pick(&mut ctx) {
                return Ok(self.make_pick(snap, idx, e));
            }
        }
        let mut chosen = choose_concrete(strategy, &mut ctx);
        if chosen.is_none() && !exclude.is_empty() {
            ctx.exclude = &[];
            chosen = choose_concrete(strategy, &mut ctx);
        }
        match chosen {
            Some((idx, e)) => Ok(self.make_pick(snap, idx, e)),
            None if ctx.at_ceiling.get() => Err(Error::InFlightLimit),
            None => Err(Error::NoInstance),
        }
    }

    #[inline]
    fn make_pick(&self, snap: &Snapshot, idx: usize, epoch: u32) -> Pick {
        let m = &snap.members[idx];
        let epoch_and_index = (epoch as u64) << 32 | idx as u64;
        Pick {
            instance_id: m.id,
            incarnation: m.state.incarnation(),
            epoch_and_index,
            check: self.check(m.id, m.state.incarnation(), epoch_and_index),
        }
    }

    /// A keyed check value over the pick's words: a corrupted pick, or one from
    /// another balancer (another key), fails it with probability 1 - 2^-64. It is a
    /// fast mixer, not a cryptographic MAC; report validates the pick's contents
    /// independently of it.
    #[inline]
    fn check(&self, id: u64, incarnation: u64, epoch_and_index: u64) -> u64 {
        // Two independent multiplies (they overlap in the pipeline), then a fold:
        // every input bit reaches the result.
        let a = (id ^ self.key[0]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = (incarnation.rotate_left(32) ^ epoch_and_index ^ self.key[1])
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let h = a ^ b.rotate_left(29);
        h ^ (h >> 32)
    }

    /// The strategy running now (for adaptive, the one it currently runs).
    #[inline]
    pub fn active_strategy(&self) -> Strategy {
        match self.strategy() {
            Strategy::Adaptive => self.adaptive.active(),
            s => s,
        }
    }

    /// The configured strategy.
    #[inline]
    pub fn strategy(&self) -> Strategy {
        Strategy::from_u8(self.strategy.load(Ordering::Relaxed))
    }

    /// Loom models only: the adaptive switch as a second evaluator would make it,
    /// racing the maintenance pass's own (the real `AdaptiveSwitch::switch`; no public
    /// call can make two switches race, since maintenance runs one pass at a time).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_adaptive_switch(&self, from: Strategy, to: Strategy) -> bool {
        self.adaptive.switch(from, to)
    }

    // ---- report ----

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
        if pick.check != self.check(pick.instance_id, pick.incarnation, pick.epoch_and_index) {
            return Err(Error::InvalidPick);
        }
        // A caller's negative duration cast to unsigned must not wreck the averages.
        let latency_us = latency_us.min(MAX_LATENCY_US);
        self.with_local(|local, snap| {
            // Reports count towards the clock refresh too, so an expired pick is
            // recognised within `clock_refresh_ops` calls of this thread even when
            // nothing is being selected.
            local.ops += 1;
            if local.ops >= snap.cfg.clock_refresh_ops {
                local.ops = 0;
                self.tick();
            }
            let age = (self.epoch.load(Ordering::Acquire) as u32).wrapping_sub(pick.epoch());
            // Two epochs old: expired. "Negative" ages beyond one are not ours either.
            if (2..u32::MAX).contains(&age) {
                return Err(Error::InvalidPick);
            }
            match locate(snap, pick) {
                Some(idx) => self.settle(
                    &snap.members[idx].state,
                    true,
                    snap,
                    pick,
                    outcome,
                    latency_us,
                    local,
                ),
                None => {
                    let g = lock(&self.graveyard);
                    let st = g
                        .states
                        .iter()
                        .find(|s| s.incarnation() == pick.incarnation && s.id == pick.instance_id)
                        .ok_or(Error::InvalidPick)?;
                    self.settle(st, false, snap, pick, outcome, latency_us, local)
                }
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn settle(
        &self,
        st: &InstanceState,
        in_set: bool,
        snap: &Snapshot,
        pick: &Pick,
        outcome: Outcome,
        latency_us: u64,
        local: &mut LocalState,
    ) -> Result<(), Error> {
        if !st.release(pick.epoch(), outcome == Outcome::Success) {
            return Err(Error::InvalidPick);
        }
        let cfg = &snap.cfg;
        let now = self.now_us.load(Ordering::Relaxed);
        match outcome {
            Outcome::Success => {
                st.record_success();
                st.record_latency(latency_us as f64, now, &snap.decay);
                local.shard.add(latency_us, local.owned_shard);
                if in_set
                    && !snap.trial.is_empty()
                    && st.health_kind() == PROBATION
                    && st.trial_success(now, cfg)
                {
                    self.republish();
                }
            }
            Outcome::Failure => {
                let streak = st.record_failure();
                let penalty = self.penalty_us.load(Ordering::Relaxed);
                st.record_latency((latency_us as f64).max(penalty), now, &snap.decay);
                if in_set {
                    let kind = st.health_kind();
                    let due = kind == PROBATION
                        || (kind == HEALTHY && streak >= cfg.consecutive_failures as u64);
                    if due && st.try_eject(now, cfg) {
                        self.ejections.fetch_add(1, Ordering::AcqRel);
                        self.republish();
                    }
                }
            }
            Outcome::Cancelled => st.record_cancel(),
        }
        Ok(())
    }

    // ---- membership ----

    /// Replaces the whole set atomically. An id that stays keeps its live state; a
    /// removed id that comes back later is a new instance. On any error (a duplicate
    /// id, weight 0) the old set stays untouched.
    pub fn set_instances(&self, instances: &[Instance]) -> Result<(), Error> {
        validate_set(instances)?;
        let mut w = lock(&self.writer);
        self.install(&mut w, instances);
        Ok(())
    }

    /// Adds one instance. Errors: weight 0, or an id already in the set.
    pub fn add_instance(&self, instance: Instance) -> Result<(), Error> {
        validate_set(&[instance])?;
        let mut w = lock(&self.writer);
        let cur = self.cell.load_full();
        if cur.member(instance.id).is_some() {
            return Err(Error::DuplicateInstance(instance.id));
        }
        let mut list = current_list(&cur);
        list.push(instance);
        self.install(&mut w, &list);
        Ok(())
    }

    /// Removes one instance; its picks in flight can still be reported.
    pub fn remove_instance(&self, id: u64) -> Result<(), Error> {
        self.edit_set(id, |list| list.into_iter().filter(|i| i.id != id).collect())
    }

    /// Changes one instance's weight (>= 1), keeping its state.
    pub fn set_weight(&self, id: u64, weight: u32) -> Result<(), Error> {
        if weight == 0 {
            return Err(Error::invalid("weight", "must be at least 1"));
        }
        self.edit_set(id, |list| {
            list.into_iter()
                .map(|i| if i.id == id { i.weight(weight) } else { i })
                .collect()
        })
    }

    /// Rewrites the current set with `edit`, if `id` is in it.
    fn edit_set(
        &self,
        id: u64,
        edit: impl FnOnce(Vec<Instance>) -> Vec<Instance>,
    ) -> Result<(), Error> {
        let mut w = lock(&self.writer);
        let cur = self.cell.load_full();
        if cur.member(id).is_none() {
            return Err(Error::UnknownInstance(id));
        }
        self.install(&mut w, &edit(current_list(&cur)));
        Ok(())
    }

    /// Builds and publishes the snapshot for `list` (already validated).
    fn install(&self, w: &mut Writer, list: &[Instance]) {
        let cur = self.cell.load_full();
        let epoch = self.epoch.load(Ordering::Acquire);
        let now = self.now_us.load(Ordering::Relaxed);
        let members: Vec<Member> = list
            .iter()
            .map(|inst| {
                let state = match cur.member(inst.id) {
                    Some(m) => Arc::clone(&m.state),
                    None => {
                        let inc = w.next_incarnation;
                        w.next_incarnation += 1;
                        Arc::new(InstanceState::new(inst.id, inc, epoch, now))
                    }
                };
                Member {
                    id: inst.id,
                    weight: inst.weight,
                    capacity: inst.capacity,
                    state,
                    healthy: true,
                }
            })
            .collect();
        {
            let mut kept: Vec<u64> = list.iter().map(|i| i.id).collect();
            kept.sort_unstable();
            let mut g = lock(&self.graveyard);
            for m in cur.members.iter() {
                if kept.binary_search(&m.id).is_err() {
                    g.states.push(Arc::clone(&m.state));
                }
            }
        }
        self.publish(w, members);
    }

    fn publish(&self, w: &mut Writer, members: Vec<Member>) {
        w.generation += 1;
        let snap = Snapshot::build(w.generation, members, w.config.clone());
        refresh_weights(&snap, &mut Scratch::default());
        self.cell.store(Arc::new(snap));
        self.generation.store(w.generation, Ordering::Release);
    }

    /// Republishes the current set with a fresh health view.
    fn republish(&self) {
        let mut w = lock(&self.writer);
        let members = self.cell.load_full().members.to_vec();
        self.publish(&mut w, members);
    }

    // ---- health ----

    /// The result of an active health check: 0.0 (down) ..= 1.0. It scales the
    /// passive score; below `unhealthy_threshold` the instance is not selected
    /// (until a later check raises it again).
    pub fn set_health_score(&self, id: u64, score: f64) -> Result<(), Error> {
        if !score.is_finite() || !(0.0..=1.0).contains(&score) {
            return Err(Error::invalid(
                "score",
                format!("{score} is outside [0, 1]"),
            ));
        }
        let snap = self.cell.load_full();
        let m = snap.member(id).ok_or(Error::UnknownInstance(id))?;
        m.state.external_score.store(score, Ordering::Release);
        if health::view_is_stale(m, None, &snap.cfg) {
            self.republish();
        }
        Ok(())
    }

    // ---- configuration ----

    /// Changes the strategy at run time; instances keep all their state.
    pub fn set_strategy(&self, strategy: Strategy) {
        // Both the configured strategy and the running one change under the
        // maintenance and writer locks (in that order, as everywhere), so racing
        // calls cannot leave them disagreeing.
        #[cfg(loom)]
        if fault::on(&fault::SPLIT_SET_STRATEGY) {
            lock(&self.writer).config.strategy = strategy;
            self.strategy.store(strategy as u8, Ordering::Relaxed);
            return;
        }
        let mut m = lock(&self.maint);
        let mut w = lock(&self.writer);
        w.config.strategy = strategy;
        self.apply_strategy(&mut m, strategy);
    }

    /// Makes `strategy` the running one; the caller holds the maintenance and writer
    /// locks.
    fn apply_strategy(&self, m: &mut Maint, strategy: Strategy) {
        if strategy == Strategy::Adaptive && self.strategy() != Strategy::Adaptive {
            // Adaptive continues with what was running, and starts a fresh window.
            self.adaptive.restart(self.active_strategy());
            let snap = self.cell.load_full();
            m.adaptive
                .restart(&snap, self.now_us.load(Ordering::Relaxed));
            m.adaptive_running = true;
        }
        self.strategy.store(strategy as u8, Ordering::Relaxed);
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        lock(&self.writer).config.clone()
    }

    /// Replaces the configuration (validated first; on error nothing changes).
    pub fn set_config(&self, config: Config) -> Result<(), Error> {
        self.update_config(|c| *c = config)
    }

    /// Changes the configuration in place: `edit` gets the configuration in force
    /// and changes what it needs; the result is validated and applied, or on error
    /// nothing changes. Racing calls are applied one after the other (under the
    /// writer lock), so a read-modify-write never loses another caller's update.
    pub fn update_config(&self, edit: impl FnOnce(&mut Config)) -> Result<(), Error> {
        let mut m = lock(&self.maint);
        let mut w = lock(&self.writer);
        let mut config = w.config.clone();
        edit(&mut config);
        config.validate()?;
        let strategy = config.strategy;
        w.config = config;
        self.apply_strategy(&mut m, strategy);
        let members = self.cell.load_full().members.to_vec();
        self.publish(&mut w, members);
        drop(w);
        // Let expiry see the new configuration now: a changed pick timeout starts
        // its fresh period at the time of the change. (Only expiry: a full pass
        // would move health and adaptive evaluations off their schedule.)
        let now = self.expire_now();
        let snap = self.cell.load_full();
        self.next_maintenance_us
            .store(now + maintenance_interval_us(&snap.cfg), Ordering::Relaxed);
        Ok(())
    }

    // ---- reads ----

    /// The balancer's totals, with expiry applied first.
    pub fn stats(&self) -> LoadBalancerStats {
        self.expire_now();
        let _w = lock(&self.writer);
        let snap = self.cell.load_full();
        let g = lock(&self.graveyard);
        let mut totals = g.retired;
        for m in snap.members.iter() {
            totals.add(&m.state.counts());
        }
        for st in g.states.iter() {
            totals.add(&st.counts());
        }
        let (mut lat_sum, mut lat_n) = (g.retired_latency_sum_us, g.retired_latency_count);
        for s in lock(&self.shards)
            .iter()
            .chain(std::iter::once(&self.shared_shard))
        {
            lat_sum = lat_sum.wrapping_add(s.latency_sum_us.load(Ordering::Acquire));
            lat_n += s.successes.load(Ordering::Acquire);
        }
        let total = totals.requests();
        let prev = self.max_total_seen.fetch_max(total, Ordering::AcqRel);
        LoadBalancerStats {
            total_requests: total.max(prev),
            successes: totals.successes,
            failures: totals.failures,
            cancelled: totals.cancelled + totals.expired,
            expired: totals.expired,
            in_flight: totals.in_flight,
            avg_latency_us: if lat_n > 0 {
                lat_sum as f64 / lat_n as f64
            } else {
                0.0
            },
            instance_count: snap.members.len() as u32,
            healthy_count: snap.healthy_count,
            active_strategy: self.active_strategy(),
            strategy_switches: self.adaptive.switches(),
        }
    }

    /// One instance of the current set, with expiry applied first.
    pub fn health(&self, id: u64) -> Result<HealthStatus, Error> {
        self.expire_now();
        let snap = self.cell.load_full();
        snap.member(id)
            .map(health_of)
            .ok_or(Error::UnknownInstance(id))
    }

    /// Every instance of the current set, in set order.
    pub fn all_health(&self) -> Vec<HealthStatus> {
        self.expire_now();
        self.cell
            .load_full()
            .members
            .iter()
            .map(health_of)
            .collect()
    }

    /// Ejections made so far (each transition counted once).
    pub fn ejections(&self) -> u64 {
        self.ejections.load(Ordering::Acquire)
    }

    /// Runs the maintenance pass now (expiry, health, weights, adaptive), instead of
    /// waiting for the next clock refresh of a select. Useful with a manual clock.
    pub fn maintain(&self) {
        self.maintain_now();
    }

    // ---- maintenance ----

    /// Reads the clock; moves the expiry epoch on and runs maintenance when they are
    /// due and no other thread is at them.
    #[cold]
    fn tick(&self) {
        let now = self.clock.now_us();
        if now > self.now_us.load(Ordering::Relaxed) {
            self.now_us.fetch_max(now, Ordering::Relaxed);
        }
        if now >= self.next_epoch_us.load(Ordering::Relaxed) {
            if let Some(mut x) = try_lock(&self.expiry) {
                self.expire_locked(&mut x, now);
            }
        }
        if now >= self.next_maintenance_us.load(Ordering::Relaxed) {
            if let Some(mut m) = try_lock(&self.maint) {
                self.maintain_locked(&mut m, now);
            }
        }
    }

    fn maintain_now(&self) {
        let now = self.clock.now_us();
        self.now_us.fetch_max(now, Ordering::Relaxed);
        let mut m = lock(&self.maint);
        self.maintain_locked(&mut m, now);
    }

    /// Applies expiry only: what the read accessors need before they answer. The
    /// health and adaptive evaluations keep their own schedule, so reading stats does
    /// not change later decisions.
    /// Returns the time it read.
    fn expire_now(&self) -> u64 {
        let now = self.clock.now_us();
        self.now_us.fetch_max(now, Ordering::Relaxed);
        self.expire(now);
        now
    }

    fn expire(&self, now: u64) {
        let mut x = lock(&self.expiry);
        self.expire_locked(&mut x, now);
    }

    /// Moves the expiry epoch on if a whole timeout has passed since it began, and
    /// retires old picks everywhere.
    ///
    /// One step at most, however long since the last read: a pick stamped with the
    /// epoch that ends here may have been made just before this read (no select
    /// reads the clock), so it must get a full timeout from now. A pick therefore
    /// expires no earlier than one timeout after its select, and at the first clock
    /// read at least one timeout after the epoch that followed its own began. A
    /// changed timeout starts a fresh epoch period, so shortening it never expires
    /// a young pick.
    fn expire_locked(&self, x: &mut Expiry, now: u64) {
        let snap = self.cell.load_full();
        let timeout = snap.cfg.pick_timeout_ms * 1000;
        if timeout != x.timeout_us {
            x.timeout_us = timeout;
            x.epoch_start_us = now;
        }
        if timeout == 0 {
            x.epoch_start_us = now;
        } else if now >= x.epoch_start_us.saturating_add(timeout) {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            // The new epoch begins no earlier than the step became visible: every
            // pick stamped with the old one was made before this reading.
            x.epoch_start_us = self.clock.now_us().max(now);
        }
        let next = match timeout {
            0 => u64::MAX,
            t => x.epoch_start_us.saturating_add(t),
        };
        self.next_epoch_us.store(next, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Acquire);
        for mem in snap.members.iter() {
            mem.state.expire_to(epoch);
        }
        self.prune_graveyard(epoch);
    }

    fn maintain_locked(&self, m: &mut Maint, now: u64) {
        let snap = self.cell.load_full();
        let cfg = &snap.cfg;
        self.next_maintenance_us
            .store(now + maintenance_interval_us(cfg), Ordering::Relaxed);
        self.expire(now);

        // Health.
        let dt = now.saturating_sub(m.last_eval_us);
        m.last_eval_us = now;
        let median = median_latency(&snap, &mut m.scratch);
        self.penalty_us
            .store(median * cfg.failure_penalty_factor, Ordering::Relaxed);
        self.median_us.store(median, Ordering::Relaxed);
        let mut stale = false;
        for (i, mem) in snap.members.iter().enumerate() {
            match health::evaluate(&mem.state, now, dt, median, cfg) {
                Verdict::Ejected => {
                    self.ejections.fetch_add(1, Ordering::AcqRel);
                    stale = true;
                }
                Verdict::OnTrial => stale = true,
                Verdict::Unchanged => {}
            }
            let on_trial = (!snap.panic).then(|| snap.trial.contains(&(i as u32)));
            stale |= health::view_is_stale(mem, on_trial, cfg);
        }

        // Weights and adaptive.
        refresh_weights(&snap, &mut m.scratch);
        if self.strategy() == Strategy::Adaptive {
            if !m.adaptive_running {
                m.adaptive.restart(&snap, now);
                m.adaptive_running = true;
            }
            m.adaptive.evaluate(&snap, now, median, cfg, &self.adaptive);
        } else {
            m.adaptive_running = false;
        }
        if stale {
            self.republish();
        }
        // The next pass is due an interval after this one ended, so a pass that takes
        // longer than the interval (a huge set) cannot keep maintenance running back
        // to back on the request path.
        let end = self.clock.now_us().max(now);
        self.next_maintenance_us
            .store(end + maintenance_interval_us(cfg), Ordering::Relaxed);
    }

    /// Retires picks of removed instances and forgets an instance once nothing can
    /// report on it any more: no pick in flight and no snapshot (not even a thread's
    /// cached one) still holding it. Its totals move to `retired`.
    fn prune_graveyard(&self, epoch: u64) {
        let mut g = lock(&self.graveyard);
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
        let mut shards = lock(&self.shards);
        let mut j = 0;
        while j < shards.len() {
            if Arc::strong_count(&shards[j]) == 1 {
                let s = shards.swap_remove(j);
                g.retired_latency_sum_us = g
                    .retired_latency_sum_us
                    .wrapping_add(s.latency_sum_us.load(Ordering::Acquire));
                g.retired_latency_count += s.successes.load(Ordering::Acquire);
            } else {
                j += 1;
            }
        }
    }
}

/// Time to the next maintenance pass (expiry keeps its own schedule).
fn maintenance_interval_us(cfg: &Config) -> u64 {
    cfg.maintenance_interval_ms * 1000
}

/// Offers a request to an instance on probation now and then (at most one trial in
/// flight each), so an ejected backend can earn its way back.
#[inline]
fn trial_pick(ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    if !ctx.exclude.is_empty() || ctx.local.unit() >= ctx.snap.cfg.trial_ratio {
        return None;
    }
    let idx = ctx.snap.trial[ctx.local.below(ctx.snap.trial.len())] as usize;
    let m = &ctx.snap.members[idx];
    let e = m.state.try_acquire(ctx.epoch, 1).ok()?;
    Some((idx, e))
}

/// Finds the pick's instance in the current set: by its index hint, else by id; in
/// both cases only if it is the same incarnation.
#[inline]
fn locate(snap: &Snapshot, pick: &Pick) -> Option<usize> {
    let same = |m: &Member| {
        #[cfg(loom)]
        if fault::on(&fault::SKIP_INCARNATION_CHECK) {
            return m.id == pick.instance_id;
        }
        m.id == pick.instance_id && m.state.incarnation() == pick.incarnation
    };
    if let Some(m) = snap.members.get(pick.index()) {
        if same(m) {
            return Some(pick.index());
        }
    }
    let j = snap.index_of(pick.instance_id)?;
    same(&snap.members[j]).then_some(j)
}

fn validate_set(instances: &[Instance]) -> Result<(), Error> {
    if let Some(i) = instances.iter().find(|i| i.weight == 0) {
        return Err(Error::invalid(
            "weight",
            format!("instance {} has weight 0; weights are >= 1", i.id),
        ));
    }
    let mut ids: Vec<u64> = instances.iter().map(|i| i.id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::DuplicateInstance(w[0]));
    }
    Ok(())
}

fn current_list(snap: &Snapshot) -> Vec<Instance> {
    snap.members
        .iter()
        .map(|m| Instance {
            id: m.id,
            weight: m.weight,
            capacity: m.capacity,
        })
        .collect()
}

fn health_of(m: &Member) -> HealthStatus {
    let c = m.state.counts();
    let judged = c.successes + c.failures;
    HealthStatus {
        instance_id: m.id,
        health_score: m.state.health_score(),
        in_flight: c.in_flight,
        requests: c.requests(),
        successes: c.successes,
        failures: c.failures,
        consecutive_failures: m.state.consecutive_failures(),
        success_rate: if judged > 0 {
            c.successes as f64 / judged as f64
        } else {
            1.0
        },
        latency_ewma_us: m.state.latency_ewma(),
        weight: m.weight,
        capacity: m.capacity,
        healthy: m.healthy,
    }
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
