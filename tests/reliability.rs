//! Regression tests for contract breaks found by trying to break lb: long idle
//! periods, expiry at low traffic, round-robin weights past the cycle's table size,
//! the in-flight ceiling, huge latencies, and seeding.
mod common;

use std::sync::Arc;

use common::*;
use lb::{Balancer, Config, Error, Instance, ManualClock, Outcome, Strategy};

/// A balancer on a manual clock with the given timeout and clock refresh interval
/// (no other setting changed, so the clock is read as in production).
fn on_clock(timeout_ms: u64, refresh_ops: u32) -> (Balancer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cfg = Config {
        pick_timeout_ms: timeout_ms,
        clock_refresh_ops: refresh_ops,
        seed: 7,
        ..Config::default()
    };
    (Balancer::with_clock(cfg, clock.clone()).unwrap(), clock)
}

// ---- long idle periods -------------------------------------------------------------

/// After `idle` timeouts without a call, every pair is accepted and nothing leaks,
/// with unlimited capacity and with capacity 1.
fn pairs_after_idle(idle_timeouts: u64, capacity: u32) {
    let (b, clock) = on_clock(1, 1);
    b.set_instances(&[Instance::new(1).capacity(capacity)])
        .unwrap();
    cycle(&b, Outcome::Success, 100);
    clock.advance_ms(idle_timeouts);
    let _ = b.stats();
    for i in 0..200 {
        let p = b
            .select()
            .unwrap_or_else(|e| panic!("idle {idle_timeouts}: select {i}: {e}"));
        assert_eq!(
            b.report(&p, Outcome::Success, 100),
            Ok(()),
            "idle {idle_timeouts} timeouts, capacity {capacity}: report {i} refused"
        );
        clock.advance_us(7);
    }
    let s = settled(&b);
    assert_eq!((s.in_flight, s.successes), (0, 201), "idle {idle_timeouts}");
}

#[test]
fn a_long_idle_period_does_not_break_expiry() {
    for idle in [
        2_500, 2_047, 2_048, 2_049, 4_095, 4_096, 4_097, 8_192, 12_289,
    ] {
        pairs_after_idle(idle, 0);
        pairs_after_idle(idle, 1);
    }
}

#[test]
fn a_long_idle_period_without_any_read_does_not_break_expiry() {
    // No stats call: the first select after the silence is the first clock read.
    for idle in [2_048, 4_096, 6_000] {
        let (b, clock) = on_clock(1, 16);
        b.set_instances(&[Instance::new(1).capacity(1)]).unwrap();
        cycle(&b, Outcome::Success, 100);
        clock.advance_ms(idle);
        for i in 0..100 {
            let p = b.select().unwrap_or_else(|e| panic!("select {i}: {e}"));
            assert_eq!(b.report(&p, Outcome::Success, 100), Ok(()), "report {i}");
        }
        assert_eq!(settled(&b).in_flight, 0);
    }
}

// ---- expiry at low traffic ---------------------------------------------------------

#[test]
fn an_immediate_report_at_low_traffic_is_never_refused() {
    for (timeout_ms, gap_ms) in [(50, 150), (1_000, 300), (50, 49), (50, 51), (10, 1_000)] {
        let (b, clock) = on_clock(timeout_ms, 16);
        b.set_instances(&ids(2)).unwrap();
        for i in 0..40 {
            clock.advance_ms(gap_ms);
            let p = b.select().unwrap();
            clock.advance_us(1);
            assert_eq!(
                b.report(&p, Outcome::Success, 1),
                Ok(()),
                "timeout {timeout_ms} ms, a request every {gap_ms} ms: request {i} refused"
            );
        }
        let s = settled(&b);
        assert_eq!((s.successes, s.expired), (40, 0));
    }
}

#[test]
fn an_immediate_report_under_continuous_traffic_is_never_refused() {
    // Timeout 1 ms; a pair every `step` us, so the clock is read every 8 pairs.
    for step in [37, 130, 260, 900] {
        let (b, clock) = on_clock(1, 16);
        b.set_instances(&ids(3)).unwrap();
        for i in 0..5_000 {
            let p = b.select().unwrap();
            assert_eq!(
                b.report(&p, Outcome::Success, 1),
                Ok(()),
                "a pair every {step} us: pair {i}"
            );
            clock.advance_us(step);
        }
        assert_eq!(settled(&b).expired, 0);
    }
}

#[test]
fn a_fresh_pick_after_silence_is_not_expired_with_the_old_ones() {
    let (b, clock) = on_clock(50, 16);
    b.set_instances(&ids(2)).unwrap();
    let _old = select_n(&b, 10);
    clock.advance_ms(200);
    let fresh = b.select().unwrap();
    let s = settled(&b);
    assert!(s.expired <= 10, "the fresh pick counted as expired: {s:?}");
    assert_eq!(b.report(&fresh, Outcome::Success, 5), Ok(()));
    // The old picks do expire: one timeout after the read that moved the epoch on.
    clock.advance_ms(50);
    let s = settled(&b);
    assert_eq!((s.expired, s.in_flight, s.successes), (10, 0, 1));
}

// ---- many balancers on one thread ----------------------------------------------------

#[test]
fn maintenance_runs_on_every_balancer_a_thread_uses() {
    // Default clock refresh: the clock is read every 64 calls of a thread on a balancer.
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cfg = Config {
        base_ejection_ms: 5,
        max_ejection_ms: 5,
        trial_ratio: 1.0,
        seed: 3,
        ..Config::default()
    };
    let balancers: Vec<Balancer> = (0..64)
        .map(|_| Balancer::with_clock(cfg.clone(), clock.clone()).unwrap())
        .collect();
    for b in &balancers {
        b.set_instances(&ids(4)).unwrap();
    }
    // Eject instance 1 everywhere with consecutive failures.
    for b in &balancers {
        let mut fails = 0;
        while fails < 5 {
            let p = b.select().unwrap();
            let o = if p.instance_id() == 1 {
                fails += 1;
                Outcome::Failure
            } else {
                Outcome::Success
            };
            b.report(&p, o, 100).unwrap();
        }
        assert!(!healthy(b, 1));
    }
    // Serve all of them in strict rotation; the cool-down ends, trial traffic
    // comes, and instance 1 returns to service on every balancer.
    for _ in 0..2_000 {
        for b in &balancers {
            let p = b.select().unwrap();
            b.report(&p, Outcome::Success, 100).unwrap();
        }
        clock.advance_us(250);
    }
    for (i, b) in balancers.iter().enumerate() {
        let h = b.health(1).unwrap();
        assert!(h.healthy, "balancer {i}: instance 1 never recovered: {h:?}");
    }
}

// ---- round robin with large total weights ------------------------------------------

fn rr_counts(set: &[Instance], picks: usize) -> std::collections::HashMap<u64, u64> {
    let b = Balancer::new(Config {
        strategy: Strategy::RoundRobin,
        seed: 1,
        ..Config::default()
    })
    .unwrap();
    b.set_instances(set).unwrap();
    let mut counts = std::collections::HashMap::new();
    for _ in 0..picks {
        let p = b.select().unwrap();
        *counts.entry(p.instance_id()).or_insert(0u64) += 1;
        b.report(&p, Outcome::Success, 1).unwrap();
    }
    counts
}

#[test]
fn round_robin_keeps_exact_weights_past_the_table_size() {
    let mut set: Vec<Instance> = (10..510).map(|i| Instance::new(i).weight(1_000)).collect();
    set.push(Instance::new(1).weight(1));
    set.push(Instance::new(2).weight(7));
    // One whole cycle: every instance exactly its weight.
    let counts = rr_counts(&set, 500_008);
    assert_eq!((counts[&1], counts[&2]), (1, 7));
    assert!(counts
        .iter()
        .filter(|(&id, _)| id >= 10)
        .all(|(_, &c)| c == 1_000));
}

#[test]
fn round_robin_keeps_exact_weights_over_many_instances() {
    // 50 000 instances of weights 1 and 2: a cycle of 75 000, past the table size.
    let set: Vec<Instance> = (0..50_000u64)
        .map(|i| Instance::new(i).weight(1 + (i % 2) as u32))
        .collect();
    let counts = rr_counts(&set, 75_000);
    let heavy: u64 = counts
        .iter()
        .filter(|(&id, _)| id % 2 == 1)
        .map(|(_, &c)| c)
        .sum();
    assert_eq!(heavy, 50_000, "the weight-2 half gets 2/3 of a cycle");
    assert!(counts.iter().all(|(&id, &c)| c == 1 + id % 2));
}

#[test]
fn round_robin_spreads_a_heavy_instance_through_a_large_cycle() {
    // 1 heavy instance of weight 70 000 and 100 of weight 1: no long runs of the
    // heavy one's neighbours being starved, and each light one appears once a cycle.
    let mut set: Vec<Instance> = (1..=100).map(Instance::new).collect();
    set.push(Instance::new(1_000).weight(70_000));
    let b = Balancer::new(Config {
        seed: 1,
        ..Config::default()
    })
    .unwrap();
    b.set_instances(&set).unwrap();
    let mut longest_light_gap = 0;
    let mut since_light = 0;
    let mut light = 0;
    for _ in 0..70_100 {
        let p = b.select().unwrap();
        b.report(&p, Outcome::Success, 1).unwrap();
        if p.instance_id() == 1_000 {
            since_light += 1;
        } else {
            light += 1;
            longest_light_gap = longest_light_gap.max(since_light);
            since_light = 0;
        }
    }
    assert_eq!(light, 100);
    assert!(
        longest_light_gap < 5_000,
        "light instances bunched: gap {longest_light_gap}"
    );
}

// ---- the in-flight ceiling ---------------------------------------------------------

#[test]
fn unlimited_capacity_stops_at_the_documented_ceiling_with_its_own_error() {
    let b = Balancer::new(Config {
        seed: 1,
        ..Config::default()
    })
    .unwrap();
    b.set_instances(&[Instance::new(1)]).unwrap();
    for i in 0..lb::IN_FLIGHT_MAX {
        b.select().unwrap_or_else(|e| panic!("select {i}: {e}"));
    }
    assert_eq!(b.select(), Err(Error::InFlightLimit));
    assert_eq!(b.stats().in_flight, lb::IN_FLIGHT_MAX as u64);
    // Another instance still takes traffic while one is at the ceiling.
    b.add_instance(Instance::new(2).capacity(u32::MAX)).unwrap();
    assert_eq!(b.select().map(|p| p.instance_id()), Ok(2));
    // A capacity below the ceiling is an ordinary capacity.
    let c = Balancer::new(Config::default()).unwrap();
    c.set_instances(&[Instance::new(1).capacity(1)]).unwrap();
    c.select().unwrap();
    assert_eq!(c.select(), Err(Error::NoInstance));
}

// ---- huge latencies ----------------------------------------------------------------

#[test]
fn a_huge_latency_is_clamped_and_settles_the_pick() {
    let (b, _) = manual(Config::default());
    b.set_instances(&[Instance::new(1)]).unwrap();
    for _ in 0..20 {
        cycle(&b, Outcome::Success, 1_000);
    }
    let p = b.select().unwrap();
    assert_eq!(b.report(&p, Outcome::Success, u64::MAX), Ok(()));
    let s = settled(&b);
    assert_eq!((s.in_flight, s.successes), (0, 21));
    let want = (20.0 * 1_000.0 + lb::MAX_LATENCY_US as f64) / 21.0;
    assert!(
        (s.avg_latency_us - want).abs() < 1e-6 * want,
        "{} != {want}",
        s.avg_latency_us
    );
    let h = b.health(1).unwrap();
    assert!(
        h.latency_ewma_us > 1_000.0 && h.latency_ewma_us <= lb::MAX_LATENCY_US as f64,
        "{}",
        h.latency_ewma_us
    );
    // A failure with a huge latency too.
    let p = b.select().unwrap();
    assert_eq!(b.report(&p, Outcome::Failure, u64::MAX - 3), Ok(()));
    assert!(b.health(1).unwrap().latency_ewma_us <= lb::MAX_LATENCY_US as f64);
}

// ---- seeding -----------------------------------------------------------------------

fn picks_of(b: &Balancer, n: usize) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let p = b.select().unwrap();
            // Left in flight, so least connections' random tie-breaks keep mattering.
            p.instance_id()
        })
        .collect()
}

#[test]
fn balancers_are_seeded_from_entropy_unless_told_otherwise() {
    let cfg = Config {
        strategy: Strategy::WeightedResponseTime,
        ..Config::default()
    };
    let a = Balancer::new(cfg.clone()).unwrap();
    let b = Balancer::new(cfg.clone()).unwrap();
    assert_ne!(a.seed(), b.seed(), "two default balancers share a seed");
    for x in [&a, &b] {
        x.set_instances(&ids(16)).unwrap();
    }
    assert_ne!(picks_of(&a, 200), picks_of(&b, 200));
    // A given seed replays: the same seed, the same decisions.
    let seeded = |seed| {
        let x = Balancer::new(Config {
            seed,
            ..cfg.clone()
        })
        .unwrap();
        x.set_instances(&ids(16)).unwrap();
        assert_eq!(x.seed(), seed);
        x
    };
    assert_eq!(picks_of(&seeded(a.seed()), 200), {
        let r = seeded(a.seed());
        picks_of(&r, 200)
    });
    // The seed in use can be read back and replays the default balancer too.
    let replay = seeded(a.seed());
    let fresh = Balancer::new(Config {
        seed: a.seed(),
        ..cfg
    })
    .unwrap();
    fresh.set_instances(&ids(16)).unwrap();
    assert_eq!(picks_of(&replay, 100), picks_of(&fresh, 100));
}
