//! Model 6: a pick reported twice races another pick's normal report on the same
//! instance. In-flight picks are counted per epoch, not per pick, so the second
//! report of one pick may take the slot of another pick of the same epoch (whose
//! own report is then refused): lb promises only that no count goes below zero and
//! that the totals stay the picks handed out, and that is what this model checks.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Outcome, Strategy};

use crate::common::{balancer, check, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 4,
    branches: 10_000,
};

const NOT_BELOW_ZERO: &str = "model 6: no in-flight count goes below zero";
const IDENTITY: &str = "model 6: the totals identity holds under a double report";

fn double_report_racing_a_report() {
    let (lb, _clock) = balancer(small_config(Strategy::RoundRobin), &[1]);
    let lb = Arc::new(lb);
    let p = lb.select().unwrap();
    let q = lb.select().unwrap();
    let twice = {
        let lb = lb.clone();
        spawn(move || {
            let a = lb.report(&p, Outcome::Success, 100).is_ok() as u64;
            let b = lb.report(&p, Outcome::Success, 100).is_ok() as u64;
            a + b
        })
    };
    let once = {
        let lb = lb.clone();
        spawn(move || lb.report(&q, Outcome::Success, 100).is_ok() as u64)
    };
    let accepted = twice.join() + once.join();
    let h = lb.health(1).unwrap();
    let s = lb.stats();
    assert!(
        h.in_flight <= 2 && s.in_flight <= 2,
        "{NOT_BELOW_ZERO}: {h:?}"
    );
    assert!(
        accepted == 2
            && s.successes == accepted
            && s.in_flight == 0
            && s.total_requests == s.successes + s.failures + s.cancelled + s.in_flight
            && s.total_requests == 2,
        "{IDENTITY}: accepted={accepted} {s:?}"
    );
}

#[test]
fn double_report_keeps_counts_sound() {
    check(BOUNDS, double_report_racing_a_report);
}

#[test]
#[should_panic(expected = "model 6: no in-flight count goes below zero")]
fn catches_unchecked_release() {
    let _bug = fault::inject(&fault::UNCHECKED_RELEASE);
    check(BOUNDS, double_report_racing_a_report);
}

#[test]
#[should_panic(expected = "model 6: the totals identity holds under a double report")]
fn catches_split_release() {
    let _bug = fault::inject(&fault::SPLIT_RELEASE);
    check(BOUNDS, double_report_racing_a_report);
}
