#![allow(dead_code)]
use std::sync::Arc;

use lb::{Balancer, Config, Instance, ManualClock, Outcome, Pick};

/// A balancer on a manual clock that reads the clock and runs maintenance on every
/// select, so tests control time exactly.
pub fn manual(cfg: Config) -> (Balancer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cfg = Config {
        clock_refresh_ops: 1,
        maintenance_interval_ms: 1,
        ..cfg
    };
    let b = Balancer::with_clock(cfg, clock.clone()).expect("valid config");
    (b, clock)
}

pub fn ids(n: u64) -> Vec<Instance> {
    (1..=n).map(Instance::new).collect()
}

/// Selects and reports at once with the given outcome and latency; returns the id.
pub fn cycle(b: &Balancer, outcome: Outcome, latency_us: u64) -> u64 {
    let p = b.select().expect("select");
    b.report(&p, outcome, latency_us).expect("report");
    p.instance_id()
}

pub fn select_n(b: &Balancer, n: usize) -> Vec<Pick> {
    (0..n).map(|_| b.select().expect("select")).collect()
}

pub fn healthy(b: &Balancer, id: u64) -> bool {
    b.health(id).expect("known id").healthy
}

/// Checks the totals identity and returns the stats.
pub fn settled(b: &Balancer) -> lb::LoadBalancerStats {
    let s = b.stats();
    assert_eq!(
        s.total_requests,
        s.successes + s.failures + s.cancelled + s.in_flight,
        "totals identity: {s:?}"
    );
    s
}

/// Reports failures on `id` until it has taken `n` of them (every other pick
/// succeeds).
pub fn fail(b: &Balancer, id: u64, n: usize) {
    let mut done = 0;
    for _ in 0..10_000 {
        if done == n {
            return;
        }
        let p = b.select().expect("select");
        if p.instance_id() == id {
            b.report(&p, Outcome::Failure, 100).expect("report");
            done += 1;
        } else {
            b.report(&p, Outcome::Success, 100).expect("report");
        }
    }
    assert_eq!(done, n, "instance {id} stopped being picked");
}
