//! Model 3: two reporters cross the consecutive-failure threshold together.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Config, Error, Outcome, Strategy};

use crate::common::{balancer, check, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 3,
    branches: 20_000,
};

const ONE_TRANSITION: &str = "model 3: exactly one ejection when two reporters cross together";
const VIEW_AGREES: &str = "model 3: the published health view agrees with the counters";

fn two_reporters_cross_the_threshold() {
    let cfg = Config {
        consecutive_failures: 2,
        // No panic mode: an ejected instance must really leave the selectable set.
        panic_threshold: 0.0,
        ..small_config(Strategy::RoundRobin)
    };
    let (lb, _clock) = balancer(cfg, &[1]);
    let lb = Arc::new(lb);
    let first = lb.select().unwrap();
    let picks = [lb.select().unwrap(), lb.select().unwrap()];
    // One failure first: each racing failure then makes a streak of at least 2.
    lb.report(&first, Outcome::Failure, 100).unwrap();
    let threads: Vec<_> = picks
        .into_iter()
        .map(|p| {
            let lb = lb.clone();
            spawn(move || lb.report(&p, Outcome::Failure, 100).unwrap())
        })
        .collect();
    for t in threads {
        t.join();
    }
    assert_eq!(lb.ejections(), 1, "{ONE_TRANSITION}");
    // Select reads the published snapshot as it is (no maintenance pass first, which
    // would repair a stale view): the ejected instance must not be offered.
    let offered = lb.select();
    let h = lb.health(1).unwrap();
    assert!(
        offered == Err(Error::NoInstance) && !h.healthy && h.consecutive_failures == 3,
        "{VIEW_AGREES}: select={offered:?} {h:?}"
    );
}

#[test]
fn racing_reporters_eject_once() {
    check(BOUNDS, two_reporters_cross_the_threshold);
}

#[test]
#[should_panic(expected = "model 3: exactly one ejection when two reporters cross together")]
fn catches_split_health_transition() {
    let _bug = fault::inject(&fault::SPLIT_HEALTH_TRANSITION);
    check(BOUNDS, two_reporters_cross_the_threshold);
}
