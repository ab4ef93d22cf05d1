//! Model 4: adaptive's move of the running strategy races selects.
//!
//! The setup runs two evaluation windows' worth of traffic on one thread so that
//! the next maintenance pass moves the running strategy from least connections to
//! weighted response time, for a trial (`setup_is_ready_to_switch` checks that it
//! does). Then one thread runs that pass while another selects and, like a second
//! evaluator that reached the same verdict, makes the same move through the real
//! `Dispatch::switch` (no public call can make two moves race: maintenance runs one
//! pass at a time). Exactly one of the two may move it.

use std::sync::Arc as StdArc;

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Balancer, Config, ManualClock, Outcome, Pick, Strategy};

use crate::common::{balancer, check, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 3,
    branches: 50_000,
};

const VALID_PICK: &str = "model 4: every select racing the switch gets a valid pick";
const SWITCH_ONCE: &str = "model 4: the adaptive switch happens exactly once";

fn latency(id: u64) -> u64 {
    if id == 1 {
        100
    } else {
        10_000
    }
}

/// Two windows of traffic: instance 1 is fast, instance 2 a hundred times slower.
/// Adaptive is switched on while least connections runs, so it continues with least
/// connections, which splits sequential traffic evenly (nothing is ever in flight
/// at a select): weighted response time is priced far cheaper, so the pass that
/// closes the second window (the first is a warm-up) begins its trial.
fn ready_to_switch() -> (Balancer, StdArc<ManualClock>) {
    let cfg = Config {
        strategy: Strategy::LeastConnections,
        adaptive_window_requests: 10,
        adaptive_min_window_ms: 1,
        adaptive_max_window_ms: 1_000,
        clock_refresh_ops: 65_536,
        maintenance_interval_ms: 60_000,
        ..Config::default()
    };
    let (lb, clock) = balancer(cfg, &[1, 2]);
    // Starts adaptive's first window.
    lb.set_strategy(Strategy::Adaptive);
    assert_eq!(lb.active_strategy(), Strategy::LeastConnections);
    for window in 0..2 {
        for _ in 0..10 {
            let p = lb.select().unwrap();
            lb.report(&p, Outcome::Success, latency(p.instance_id()))
                .unwrap();
        }
        clock.advance_ms(2);
        if window == 0 {
            // Closes the first window (a warm-up: no trial yet).
            lb.maintain();
            assert_eq!(lb.active_strategy(), Strategy::LeastConnections);
        }
    }
    (lb, clock)
}

fn check_pick(lb: &Balancer, p: Pick) {
    assert!(
        matches!(p.instance_id(), 1 | 2) && lb.report(&p, Outcome::Success, 100).is_ok(),
        "{VALID_PICK}: {p:?}"
    );
}

fn switch_racing_selects() {
    let (lb, _clock) = ready_to_switch();
    let lb = Arc::new(lb);
    let maintainer = {
        let lb = lb.clone();
        spawn(move || {
            lb.maintain();
            lb.select().map_err(|e| format!("{VALID_PICK}: {e}"))
        })
    };
    let selector = {
        let lb = lb.clone();
        spawn(move || {
            let p = lb.select().map_err(|e| format!("{VALID_PICK}: {e}"));
            lb.loom_adaptive_switch(Strategy::LeastConnections, Strategy::WeightedResponseTime);
            p
        })
    };
    let picks = [maintainer.join(), selector.join()];
    for p in picks {
        check_pick(&lb, p.unwrap());
    }
    let s = lb.stats();
    // The pass's trial and the second evaluator's switch each count when they
    // move the strategy: together, once.
    assert!(
        s.strategy_switches + s.adaptive_trials == 1
            && s.active_strategy == Strategy::WeightedResponseTime,
        "{SWITCH_ONCE}: {s:?}"
    );
}

#[test]
fn setup_is_ready_to_switch() {
    check(
        Bounds {
            preemptions: 0,
            branches: BOUNDS.branches,
        },
        || {
            let (lb, _clock) = ready_to_switch();
            lb.maintain();
            let s = lb.stats();
            assert_eq!((s.strategy_switches, s.adaptive_trials), (0, 1), "{s:?}");
            assert_eq!(s.active_strategy, Strategy::WeightedResponseTime);
        },
    );
}

#[test]
fn switch_racing_selects_happens_once() {
    check(BOUNDS, switch_racing_selects);
}

#[test]
#[should_panic(expected = "model 4: the adaptive switch happens exactly once")]
fn catches_split_strategy_switch() {
    let _bug = fault::inject(&fault::SPLIT_STRATEGY_SWITCH);
    check(BOUNDS, switch_racing_selects);
}
