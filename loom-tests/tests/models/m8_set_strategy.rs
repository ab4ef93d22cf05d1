//! Model 8: two racing strategy changes leave the configuration and the running
//! strategy agreeing.

use loom::sync::Arc;

use lb::sync::fault;
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

/// `set_strategy` makes both writes under the maintenance and writer locks. The
/// model found the race when the running strategy was stored after the writer lock
/// was released (loom: config Adaptive, running RoundRobin); that shape is the
/// injected bug below.
#[test]
fn racing_strategy_changes_agree() {
    check(BOUNDS, racing_set_strategy);
}

#[test]
#[should_panic(
    expected = "model 8: after racing strategy changes, the configured strategy is the one running"
)]
fn catches_split_set_strategy() {
    let _bug = fault::inject(&fault::SPLIT_SET_STRATEGY);
    check(BOUNDS, racing_set_strategy);
}
