//! Model 1: two threads select and report on the same instance.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Outcome, Strategy};

use crate::common::{balancer, check, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 4,
    branches: 10_000,
};

const IN_FLIGHT_ZERO: &str = "model 1: in flight returns to 0 once every pick is reported";
const TOTALS_ADD_UP: &str = "model 1: the totals add up to the picks handed out";
const NEVER_TWICE: &str = "model 1: a stats read racing a report never counts a request twice";

/// Both threads select the one instance and report success.
fn two_threads_select_and_report() {
    let (lb, _clock) = balancer(small_config(Strategy::RoundRobin), &[1]);
    let lb = Arc::new(lb);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let lb = lb.clone();
            spawn(move || {
                let pick = lb.select().expect("one healthy instance");
                assert_eq!(pick.instance_id(), 1);
                lb.report(&pick, Outcome::Success, 100)
                    .expect("the one report of a pick is accepted");
            })
        })
        .collect();
    for t in threads {
        t.join();
    }
    let s = lb.stats();
    let h = lb.health(1).unwrap();
    assert!(
        s.in_flight == 0 && h.in_flight == 0,
        "{IN_FLIGHT_ZERO}: {s:?}"
    );
    assert!(
        s.total_requests == 2 && s.successes == 2 && h.requests == 2,
        "{TOTALS_ADD_UP}: {s:?}"
    );
}

/// One thread reports a pick while another reads the totals: the reader may miss the
/// report for a moment, but must never count the request both as in flight and as
/// done (the totals are cumulative, so a double count would stick). The report is a
/// failure: a success is counted in the in-flight word itself, in the same
/// compare-and-swap that releases the slot, while failures (and cancels, expiries) are
/// counted after it, which is where the ordering matters.
fn stats_racing_a_report() {
    let (lb, _clock) = balancer(small_config(Strategy::RoundRobin), &[1]);
    let lb = Arc::new(lb);
    let pick = lb.select().unwrap();
    let reporter = {
        let lb = lb.clone();
        spawn(move || lb.report(&pick, Outcome::Failure, 100).unwrap())
    };
    let racing = lb.stats();
    assert!(
        racing.total_requests <= 1 && racing.failures + racing.in_flight <= 1,
        "{NEVER_TWICE}: {racing:?}"
    );
    reporter.join();
    let s = lb.stats();
    assert!(
        s.total_requests == 1 && s.failures == 1 && s.in_flight == 0,
        "{TOTALS_ADD_UP}: {s:?}"
    );
}

#[test]
fn select_and_report_on_one_instance() {
    check(BOUNDS, two_threads_select_and_report);
}

#[test]
#[should_panic(expected = "model 1: in flight returns to 0")]
fn catches_split_release() {
    let _bug = fault::inject(&fault::SPLIT_RELEASE);
    check(BOUNDS, two_threads_select_and_report);
}

#[test]
fn stats_never_counts_a_request_twice() {
    check(BOUNDS, stats_racing_a_report);
}

#[test]
#[should_panic(expected = "model 1: a stats read racing a report never counts a request twice")]
fn catches_relaxed_outcome_counters() {
    let _bug = fault::inject(&fault::RELAXED_OUTCOME);
    check(BOUNDS, stats_racing_a_report);
}
