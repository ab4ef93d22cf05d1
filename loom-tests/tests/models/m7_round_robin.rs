//! Model 7: two threads walk the round-robin cycle, each with its own cursor (kept in
//! its thread-local cache), while the model's own thread replaces the set by an equal
//! one. An equal set must give an equal cycle, so a walk that straddles the
//! replacement still meets every instance once.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Outcome, Strategy};

use crate::common::{balancer, check, set, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 2,
    branches: 20_000,
};

const N: u64 = 3;

const COVERS: &str =
    "model 7: each thread's n consecutive round-robin picks cover every instance once";

fn round_robin_across_an_equal_replacement() {
    let ids: Vec<u64> = (1..=N).collect();
    let (lb, _clock) = balancer(small_config(Strategy::RoundRobin), &ids);
    let lb = Arc::new(lb);
    let walkers: Vec<_> = (0..2)
        .map(|_| {
            let lb = lb.clone();
            spawn(move || (0..N).map(|_| lb.select().unwrap()).collect::<Vec<_>>())
        })
        .collect();
    lb.set_instances(&set(&ids)).unwrap();
    for w in walkers {
        let picks = w.join();
        let mut got: Vec<u64> = picks.iter().map(|p| p.instance_id()).collect();
        got.sort_unstable();
        assert!(got == ids, "{COVERS}: {got:?}");
        for p in picks {
            lb.report(&p, Outcome::Success, 100).unwrap();
        }
    }
}

#[test]
fn each_thread_covers_the_cycle() {
    check(BOUNDS, round_robin_across_an_equal_replacement);
}

#[test]
#[should_panic(
    expected = "model 7: each thread's n consecutive round-robin picks cover every instance once"
)]
fn catches_table_rebuilt_in_another_order() {
    let _bug = fault::inject(&fault::RR_TABLE_PER_GENERATION);
    check(BOUNDS, round_robin_across_an_equal_replacement);
}
