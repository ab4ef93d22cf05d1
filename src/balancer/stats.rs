//! Reads: the balancer's totals and each instance's health, with expiry applied
//! first.

use super::Balancer;
use crate::error::Error;
use crate::member::Member;
use crate::sync::{lock, Ordering};
use crate::types::{HealthState, HealthStatus, Instance, LoadBalancerStats};

impl Balancer {
    /// The balancer's totals, with expiry applied first.
    pub fn stats(&self) -> LoadBalancerStats {
        self.expire_now();
        // The writer lock keeps the set still, so no instance moves between the set
        // and the graveyard while both are counted.
        let _w = lock(&self.writer);
        let snap = self.published.load();
        let mut totals = crate::instance::Counts::default();
        for m in snap.members.iter() {
            totals.add(&m.state.counts());
        }
        totals.add(&self.graveyard.totals());
        // Every success adds its latency to its thread's shard, so the successes
        // counted by the instances (and the retired totals) are the divisor.
        let latency_sum_us = self.locals.latency_sum_us();
        let latency_count = totals.successes;
        let total = totals.requests();
        let prev = self.max_total_seen.fetch_max(total, Ordering::AcqRel);
        LoadBalancerStats {
            total_requests: total.max(prev),
            successes: totals.successes,
            failures: totals.failures,
            cancelled: totals.cancelled + totals.expired,
            expired: totals.expired,
            in_flight: totals.in_flight,
            avg_latency_us: if latency_count > 0 {
                latency_sum_us as f64 / latency_count as f64
            } else {
                0.0
            },
            instance_count: snap.members.len() as u32,
            healthy_count: snap.healthy_count,
            active_strategy: self.active_strategy(),
            strategy_switches: self.dispatch.switches(),
            adaptive_trials: self.dispatch.trials(),
            ejections: self.ejections(),
            events_dropped: self.events.dropped(),
        }
    }

    /// One instance of the current set, with expiry applied first.
    pub fn health(&self, id: u64) -> Result<HealthStatus, Error> {
        let now = self.expire_now();
        let snap = self.published.load();
        snap.index_of(id)
            .map(|i| health_of(&snap.members[i], &snap.instances[i], now))
            .ok_or(Error::UnknownInstance(id))
    }

    /// Every instance of the current set, in set order.
    pub fn all_health(&self) -> Vec<HealthStatus> {
        let now = self.expire_now();
        let snap = self.published.load();
        snap.members
            .iter()
            .zip(snap.instances.iter())
            .map(|(m, i)| health_of(m, i, now))
            .collect()
    }

    /// Ejections made so far (each transition counted once).
    pub fn ejections(&self) -> u64 {
        self.ejections.load(Ordering::Acquire)
    }
}

/// `configured`: the instance as the caller gave it (its weight is reported);
/// `now_us`: the balancer's clock.
fn health_of(m: &Member, configured: &Instance, now_us: u64) -> HealthStatus {
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
        weight: configured.weight,
        capacity: m.capacity,
        healthy: m.healthy,
        state: if m.state.health.is_ejected() {
            HealthState::Ejected
        } else if m.state.health.on_probation() {
            HealthState::OnTrial
        } else {
            HealthState::Healthy
        },
        times_ejected: m.state.health.times_ejected(),
        cooldown_remaining_ms: m
            .state
            .health
            .cooldown_end_us()
            .map_or(0, |end| end.saturating_sub(now_us).div_ceil(1000)),
    }
}
