//! Model 2: a select races a set replacement that removes the picked instance and
//! adds it back (a new incarnation under the same id).
//!
//! Every instance state is a loom `Arc` (held by the snapshots, the thread caches and
//! the graveyard of removed instances), so loom sees every reference a report can
//! follow, and its leak check at the end of each execution shows that the removed
//! state is freed once nothing can report on it.
//!
//! Two models: in the first the race is the select against the replacement and the
//! reports come after it, so a stale report always meets the new incarnation with a
//! pick of its own in flight; in the second the late report itself races the
//! replacement.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Outcome, Pick, Strategy};

use crate::common::{balancer, check, set, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 4,
    branches: 20_000,
};

const NEVER_LANDS: &str =
    "model 2: the report of a removed instance never lands on the re-added instance";
const COUNTED: &str = "model 2: the report of a removed instance is counted in the totals";

/// Removes instance 1, adds it back, and takes a pick of the new incarnation (held:
/// a stale report that landed on the new instance would take its slot).
fn remove_readd_and_pick(lb: &lb::Balancer) -> Pick {
    lb.set_instances(&[]).unwrap();
    lb.set_instances(&set(&[1])).unwrap();
    lb.select().expect("the re-added instance")
}

fn incarnation(p: &Pick) -> u64 {
    p.to_raw()[1]
}

fn select_racing_remove_and_readd() {
    let (lb, _clock) = balancer(small_config(Strategy::RoundRobin), &[1]);
    let lb = Arc::new(lb);
    let picker = {
        let lb = lb.clone();
        // Between the removal and the re-add the set is empty: no pick then.
        spawn(move || lb.select().ok())
    };
    let replacer = {
        let lb = lb.clone();
        spawn(move || remove_readd_and_pick(&lb))
    };
    let p = picker.join();
    let q = replacer.join();
    let removed = p.is_some_and(|p| incarnation(&p) != incarnation(&q));
    let reported = p.map(|p| lb.report(&p, Outcome::Success, 100));

    let now = lb.health(1).unwrap();
    let own = p.is_some() && !removed;
    assert!(
        now.successes == own as u64 && now.in_flight == 1,
        "{NEVER_LANDS}: p={p:?} removed={removed} {now:?}"
    );
    lb.report(&q, Outcome::Failure, 100)
        .expect("the new incarnation's own pick is still in flight");
    let s = lb.stats();
    let picks = 1 + p.is_some() as u64;
    assert!(
        !matches!(reported, Some(Err(_)))
            && s.successes == picks - 1
            && s.failures == 1
            && s.in_flight == 0
            && s.total_requests == picks,
        "{COUNTED}: p={p:?} report={reported:?} {s:?}"
    );
}

fn late_report_racing_remove_and_readd() {
    let (lb, _clock) = balancer(small_config(Strategy::RoundRobin), &[1]);
    let lb = Arc::new(lb);
    let p = lb.select().unwrap();
    let reporter = {
        let lb = lb.clone();
        spawn(move || lb.report(&p, Outcome::Success, 100))
    };
    let replacer = {
        let lb = lb.clone();
        spawn(move || remove_readd_and_pick(&lb))
    };
    let reported = reporter.join();
    let q = replacer.join();
    let late = lb.report(&q, Outcome::Failure, 100);
    let s = lb.stats();
    assert!(
        reported.is_ok()
            && late.is_ok()
            && s.successes == 1
            && s.failures == 1
            && s.in_flight == 0
            && s.total_requests == 2,
        "{COUNTED}: report={reported:?} new instance's report={late:?} {s:?}"
    );
    let now = lb.health(1).unwrap();
    assert!(
        now.successes == 0 && now.failures == 1 && now.requests == 1,
        "{NEVER_LANDS}: {now:?}"
    );
}

#[test]
fn select_racing_a_replacement() {
    check(BOUNDS, select_racing_remove_and_readd);
}

#[test]
#[should_panic(
    expected = "model 2: the report of a removed instance never lands on the re-added instance"
)]
fn select_racing_a_replacement_catches_missing_incarnation_check() {
    let _bug = fault::inject(&fault::SKIP_INCARNATION_CHECK);
    check(BOUNDS, select_racing_remove_and_readd);
}

#[test]
fn late_report_racing_a_replacement() {
    check(BOUNDS, late_report_racing_remove_and_readd);
}

#[test]
#[should_panic(expected = "model 2: the report of a removed instance is counted in the totals")]
fn late_report_racing_a_replacement_catches_missing_incarnation_check() {
    let _bug = fault::inject(&fault::SKIP_INCARNATION_CHECK);
    check(BOUNDS, late_report_racing_remove_and_readd);
}
