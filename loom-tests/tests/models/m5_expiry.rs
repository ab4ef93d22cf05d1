//! Model 5: a pick expires while its late report arrives.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Config, Outcome, Strategy};

use crate::common::{balancer, check, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 4,
    branches: 20_000,
};

const ONCE: &str = "model 5: a pick racing its expiry is counted exactly once";

fn expiry_racing_a_late_report() {
    let cfg = Config {
        pick_timeout_ms: 1,
        ..small_config(Strategy::RoundRobin)
    };
    let (lb, clock) = balancer(cfg, &[1]);
    let lb = Arc::new(lb);
    let p = lb.select().unwrap();
    // A timeout later the expiry clock steps once; a timeout after that step the
    // next maintenance pass expires the pick.
    clock.advance_ms(1);
    lb.maintain();
    clock.advance_ms(1);
    let expirer = {
        let lb = lb.clone();
        spawn(move || lb.maintain())
    };
    let reporter = {
        let lb = lb.clone();
        spawn(move || lb.report(&p, Outcome::Success, 100))
    };
    expirer.join();
    let reported = reporter.join();
    let s = lb.stats();
    let accepted = reported.is_ok() as u64;
    assert!(
        s.successes == accepted
            && s.successes + s.expired == 1
            && s.in_flight == 0
            && s.total_requests == 1,
        "{ONCE}: report={reported:?} {s:?}"
    );
}

#[test]
fn late_report_or_expiry_once() {
    check(BOUNDS, expiry_racing_a_late_report);
}

#[test]
#[should_panic(expected = "model 5: a pick racing its expiry is counted exactly once")]
fn catches_split_expiry() {
    let _bug = fault::inject(&fault::SPLIT_EXPIRY);
    check(BOUNDS, expiry_racing_a_late_report);
}
