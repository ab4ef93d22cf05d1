//! Membership and configuration: every change of the set, the health view or the
//! configuration builds a new snapshot from the current one and publishes it, under
//! the writer lock, so concurrent writers never lose each other's updates.

use super::Balancer;
use crate::config::Config;
use crate::error::Error;
use crate::health;
use crate::instance::InstanceState;
use crate::load::median_latency;
use crate::member::Member;
use crate::snapshot::Snapshot;
use crate::strategy::Scratch;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{lock, Arc, Ordering};
use crate::types::{EventKind, Instance, Strategy};

/// State changed only under the writer lock: what publishing needs.
pub(super) struct Writer {
    generation: u64,
    next_incarnation: u64,
    pub(super) config: Config,
}

impl Writer {
    pub(super) fn new(config: Config) -> Writer {
        Writer {
            generation: 0,
            next_incarnation: 1,
            config,
        }
    }
}

impl Balancer {
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
        let cur = self.published.load();
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
        let cur = self.published.load();
        if cur.member(id).is_none() {
            return Err(Error::UnknownInstance(id));
        }
        self.install(&mut w, &edit(current_list(&cur)));
        Ok(())
    }

    /// Builds and publishes the snapshot for `list` (already validated); members
    /// that leave go to the graveyard.
    fn install(&self, w: &mut Writer, list: &[Instance]) {
        let cur = self.published.load();
        let epoch = self.expiry.full_epoch();
        let now = self.now_us.load(Ordering::Relaxed);
        // Slow start: a new instance ramps up when it joins a set in service.
        let in_service = !cur.members.is_empty();
        let members: Vec<Member> = list
            .iter()
            .map(|inst| match cur.member(inst.id) {
                Some(m) => Member {
                    healthy: m.healthy,
                    ..Member::new(inst, Arc::clone(&m.state))
                },
                None => {
                    let inc = w.next_incarnation;
                    w.next_incarnation += 1;
                    let tag = self.tag(inst.id, inc);
                    let peak_default_us = w.config.peak_ewma_default_latency_ms * 1000.0;
                    let state = Arc::new(InstanceState::new(
                        inst.id,
                        inc,
                        tag,
                        epoch,
                        now,
                        peak_default_us,
                    ));
                    if in_service {
                        state.start_ramp(now);
                    }
                    Member::new(inst, state)
                }
            })
            .collect();
        let mut kept: Vec<u64> = list.iter().map(|i| i.id).collect();
        kept.sort_unstable();
        self.graveyard.bury(
            cur.members
                .iter()
                .filter(|m| kept.binary_search(&m.id).is_err())
                .map(|m| Arc::clone(&m.state)),
        );
        self.publish(w, members);
    }

    fn publish(&self, w: &mut Writer, members: Vec<Member>) {
        w.generation += 1;
        let now = self.now_us.load(Ordering::Relaxed);
        let prev = self.published.load();
        let snap = Snapshot::build(w.generation, members, w.config.clone(), now, Some(&prev));
        if snap.panic != prev.panic {
            let kind = if snap.panic {
                EventKind::PanicEntered
            } else {
                EventKind::PanicLeft
            };
            self.event(kind, 0, now);
        }
        drop(prev);
        let mut scratch = Scratch::default();
        let median = median_latency(&snap.members, &mut scratch.floats);
        snap.tables.refresh(&snap.set_view(), median, &mut scratch);
        self.published.publish(snap);
    }

    /// Republishes the current set with a fresh health view.
    pub(super) fn republish(&self) {
        let mut w = lock(&self.writer);
        let members = self.published.load().configured_members();
        self.publish(&mut w, members);
    }

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
        let snap = self.published.load();
        let m = snap.member(id).ok_or(Error::UnknownInstance(id))?;
        m.state.external_score.store(score, Ordering::Release);
        if health::view_is_stale(m, None, &snap.cfg) {
            self.republish();
        }
        Ok(())
    }

    /// Changes the strategy at run time; instances keep all their state.
    pub fn set_strategy(&self, strategy: Strategy) {
        // Both the configured strategy and the running one change under the
        // maintenance and writer locks (in that order, as everywhere), so racing
        // calls cannot leave them disagreeing.
        #[cfg(loom)]
        if fault::on(&fault::SPLIT_SET_STRATEGY) {
            lock(&self.writer).config.strategy = strategy;
            self.dispatch.configure_only(strategy);
            return;
        }
        let mut p = self.maintenance.lock();
        let mut w = lock(&self.writer);
        let was = std::mem::replace(&mut w.config.strategy, strategy);
        self.apply_strategy(&mut p, strategy);
        // A hashing strategy's table is built with the snapshot.
        if was.is_hashing() || strategy.is_hashing() {
            let members = self.published.load().configured_members();
            self.publish(&mut w, members);
        }
    }

    /// Makes `strategy` the configured one; the caller holds the maintenance and
    /// writer locks.
    fn apply_strategy(&self, p: &mut super::maintenance::Pass, strategy: Strategy) {
        if strategy == Strategy::Adaptive && self.strategy() != Strategy::Adaptive {
            // Adaptive continues with what was running, and starts a fresh window.
            let snap = self.published.load();
            let obs = self.observe(&snap, self.now_us.load(Ordering::Relaxed));
            p.adaptive.restart(self.dispatch.running(), &obs);
            p.adaptive_running = true;
        }
        self.dispatch.configure(strategy);
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
    /// `edit` runs under the balancer's locks: it must not call this balancer.
    pub fn update_config(&self, edit: impl FnOnce(&mut Config)) -> Result<(), Error> {
        let mut p = self.maintenance.lock();
        let mut w = lock(&self.writer);
        let mut config = w.config.clone();
        edit(&mut config);
        config.validate()?;
        let strategy = config.strategy;
        w.config = config;
        self.apply_strategy(&mut p, strategy);
        let members = self.published.load().configured_members();
        self.publish(&mut w, members);
        drop(w);
        drop(p);
        // Let expiry see the new configuration now: a changed pick timeout starts
        // its fresh period at the time of the change. (Only expiry: a full pass
        // would move health and adaptive evaluations off their schedule.)
        let now = self.expire_now();
        let snap = self.published.load();
        self.maintenance
            .schedule(now, snap.cfg.maintenance_interval_ms * 1000);
        Ok(())
    }
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
    snap.instances.to_vec()
}
