//! Slow start: a member that joins a set in service, or comes back into service,
//! ramps its weight up by weight x max(min%, (t / window)^(1 / aggression)); the
//! first set does not ramp.
mod common;

use std::collections::HashMap;

use common::*;
use lb::{Balancer, Config, Instance, Outcome, Strategy};

const WINDOW_MS: u64 = 10_000;

fn cfg(strategy: Strategy) -> Config {
    Config {
        strategy,
        slow_start_window_ms: WINDOW_MS,
        ..Config::default()
    }
}

/// Shares of `n` select + report cycles, by id.
fn shares(b: &Balancer, n: usize) -> HashMap<u64, f64> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for _ in 0..n {
        *counts.entry(cycle(b, Outcome::Success, 1_000)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(id, c)| (id, c as f64 / n as f64))
        .collect()
}

/// Shares of `n` selects made with `depth` picks kept in flight (each select
/// reports the oldest pick), so in-flight counts matter.
fn shares_in_flight(b: &Balancer, n: usize, depth: usize) -> HashMap<u64, f64> {
    let mut flight = std::collections::VecDeque::new();
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for _ in 0..n {
        let p = b.select().expect("select");
        *counts.entry(p.instance_id()).or_default() += 1;
        flight.push_back(p);
        if flight.len() > depth {
            let old = flight.pop_front().unwrap();
            b.report(&old, Outcome::Success, 1_000).expect("report");
        }
    }
    for p in flight {
        b.report(&p, Outcome::Success, 1_000).expect("report");
    }
    counts
        .into_iter()
        .map(|(id, c)| (id, c as f64 / n as f64))
        .collect()
}

/// Round robin's share for a member at `percent` of weight 1 beside `others`
/// members at their whole weight 1.
fn expected_share(percent: f64, others: f64) -> f64 {
    percent / (percent + 100.0 * others)
}

#[test]
fn the_first_set_does_not_ramp() {
    let (b, _) = manual(cfg(Strategy::RoundRobin));
    b.set_instances(&ids(3)).unwrap();
    // A joiner at the same moment starts at 10%: against it the first set's
    // members show their whole weight (all ramping alike would look equal).
    b.add_instance(Instance::new(4)).unwrap();
    let s = shares(&b, 310 * 4);
    for id in 1..=3 {
        assert_eq!(s[&id], 100.0 / 310.0, "{s:?}");
    }
}

#[test]
fn a_joiner_ramps_by_the_formula() {
    let (b, clock) = manual(cfg(Strategy::RoundRobin));
    b.set_instances(&ids(3)).unwrap();
    b.maintain();
    b.add_instance(Instance::new(4)).unwrap();
    // (elapsed ms, percent of its weight: max(10%, t / window))
    for (at_ms, percent) in [
        (0, 10.0),
        (500, 10.0),
        (2_500, 25.0),
        (5_000, 50.0),
        (7_500, 75.0),
    ] {
        clock.set_us(1_000_000 + at_ms * 1000);
        b.maintain();
        // Round robin's cycle over weights 100, 100, 100 and `percent` is exact:
        // one whole cycle per 300 + percent picks.
        let cycle_len = 300 + percent as usize;
        let s = shares(&b, cycle_len * 4);
        let want = expected_share(percent, 3.0);
        // Tolerance: the weight moves in whole percents.
        let tol = expected_share(percent + 1.0, 3.0) - want;
        assert!(
            (s[&4] - want).abs() <= tol,
            "at {at_ms} ms: share {} want {want} (+-{tol})",
            s[&4]
        );
    }
    clock.set_us(1_000_000 + WINDOW_MS * 1000);
    b.maintain();
    let s = shares(&b, 400);
    assert_eq!(s[&4], 0.25, "whole weight after the window: {s:?}");
}

#[test]
fn aggression_and_floor_shape_the_ramp() {
    let (b, clock) = manual(Config {
        slow_start_aggression: 2.0,
        slow_start_min_weight_percent: 40.0,
        ..cfg(Strategy::RoundRobin)
    });
    b.set_instances(&ids(1)).unwrap();
    b.maintain();
    b.add_instance(Instance::new(2)).unwrap();
    // sqrt(t / window) with a 40% floor: 40% until t = 16% of the window, then
    // 50% at 25%, 80% at 64%.
    for (at_ms, percent) in [(1_000, 40.0), (2_500, 50.0), (6_400, 80.0)] {
        clock.set_us(1_000_000 + at_ms * 1000);
        b.maintain();
        let s = shares(&b, (100 + percent as usize) * 4);
        let want = expected_share(percent, 1.0);
        let tol = expected_share(percent + 1.0, 1.0) - want;
        assert!(
            (s[&2] - want).abs() <= tol,
            "at {at_ms} ms: {s:?}, want {want}"
        );
    }
}

#[test]
fn a_member_back_in_service_ramps_again() {
    let (b, clock) = manual(cfg(Strategy::RoundRobin));
    b.set_instances(&ids(2)).unwrap();
    b.set_health_score(2, 0.0).unwrap();
    let s = shares(&b, 100);
    assert_eq!(s.get(&2), None, "out of service: {s:?}");
    clock.advance_ms(1_000);
    b.maintain();
    b.set_health_score(2, 1.0).unwrap();
    let s = shares(&b, 110 * 4);
    let want = expected_share(10.0, 1.0);
    assert!((s[&2] - want).abs() < 0.01, "just back: {s:?}, want {want}");
    clock.advance_ms(WINDOW_MS);
    b.maintain();
    let s = shares(&b, 100);
    assert_eq!(s[&2], 0.5, "{s:?}");
}

#[test]
fn window_zero_turns_it_off() {
    let (b, _) = manual(Config {
        slow_start_window_ms: 0,
        ..cfg(Strategy::RoundRobin)
    });
    b.set_instances(&ids(3)).unwrap();
    b.maintain();
    b.add_instance(Instance::new(4)).unwrap();
    let s = shares(&b, 400);
    assert_eq!(s[&4], 0.25, "{s:?}");
}

#[test]
fn every_weighted_strategy_ramps_a_joiner() {
    for strategy in [Strategy::LeastConnections, Strategy::WeightedResponseTime] {
        let (b, clock) = manual(cfg(strategy));
        b.set_instances(&ids(3)).unwrap();
        for _ in 0..300 {
            cycle(&b, Outcome::Success, 1_000);
        }
        b.add_instance(Instance::new(4)).unwrap();
        clock.advance_ms(1_000);
        b.maintain();
        // Twelve picks in flight: least connections compares in flight over
        // weight, weighted response time weight over equal latencies.
        let early = shares_in_flight(&b, 4_000, 12);
        assert!(
            early.get(&4).copied().unwrap_or(0.0) < 0.15,
            "{strategy:?} gave the joiner {early:?} 1 s into its ramp"
        );
        clock.advance_ms(WINDOW_MS);
        b.maintain();
        let late = shares_in_flight(&b, 4_000, 12);
        assert!(late[&4] > 0.2, "{strategy:?} after the ramp: {late:?}");
    }
}

#[test]
fn stats_report_the_configured_weight_during_a_ramp() {
    let (b, _) = manual(cfg(Strategy::RoundRobin));
    b.set_instances(&ids(1)).unwrap();
    b.maintain();
    b.add_instance(Instance::new(2).weight(3)).unwrap();
    assert_eq!(b.health(2).unwrap().weight, 3);
    assert_eq!(b.health(1).unwrap().weight, 1);
    // The set as read back (and edited) keeps the configured weights.
    b.set_weight(1, 2).unwrap();
    assert_eq!(b.health(2).unwrap().weight, 3);
    assert_eq!(b.health(1).unwrap().weight, 2);
}
