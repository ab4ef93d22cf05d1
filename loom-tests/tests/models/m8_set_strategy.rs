//! Model 8: two racing strategy changes leave the configuration and the running
//! strategy agreeing.

use loom::sync::Arc;

use lb::Strategy;

use crate::common::{balancer, check, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 3,
    branches: 20_000,
};

const AGREE: &str =
    "model 8: after racing strategy changes, the configured strategy is the one running";

fn racing_set_strategy() {
    let (lb, _clock) = balancer(small_config(Strategy::LeastConnections), &[1]);
    let lb = Arc::new(lb);
    let threads: Vec<_> = [Strategy::RoundRobin, Strategy::Adaptive]
        .into_iter()
        .map(|s| {
            let lb = lb.clone();
            spawn(move || lb.set_strategy(s))
        })
        .collect();
    for t in threads {
        t.join();
    }
    let (configured, running) = (lb.config().strategy, lb.strategy());
    assert!(
        configured == running,
        "{AGREE}: config {configured:?}, running {running:?}"
    );
}

/// Fails on the current code: `set_strategy` writes the configuration under the
/// writer lock and stores the running strategy after releasing it, so two racing
/// calls can leave the configuration saying one strategy and the balancer running
/// the other, for good (loom: config Adaptive, running RoundRobin). See
/// loom-tests/README.md, "Findings". Un-ignore once `set_strategy` makes both writes
/// under one lock.
#[test]
#[ignore = "known race in set_strategy (see loom-tests/README.md, Findings)"]
fn racing_strategy_changes_agree() {
    check(BOUNDS, racing_set_strategy);
}
