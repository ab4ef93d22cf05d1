//! `lb-sim`: a deterministic discrete-event simulator that replays a workload
//! against every strategy of `lb`, with the real balancer on a virtual clock.
//!
//! The command line, scenario format and JSON output are those of
//! `lb-sim/README.md`; [`cli::main`] is the binary.

pub mod balancer;
pub mod cli;
pub mod engine;
pub mod keys;
pub mod plot;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod stats;

pub use report::ScenarioResult;
pub use scenario::{Scenario, ScenarioError};
pub use stats::{AdaptiveRun, PlotData, RunResult};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The scenarios bundled in `scenarios/`, replayed by the no-argument run:
/// (path relative to the repository root, text).
pub const SUITE: &[(&str, &str)] = &[
    (
        "scenarios/01-uniform.toml",
        include_str!("../../scenarios/01-uniform.toml"),
    ),
    (
        "scenarios/02-slow-backend.toml",
        include_str!("../../scenarios/02-slow-backend.toml"),
    ),
    (
        "scenarios/03-fail-fast.toml",
        include_str!("../../scenarios/03-fail-fast.toml"),
    ),
    (
        "scenarios/04-degrade-recover.toml",
        include_str!("../../scenarios/04-degrade-recover.toml"),
    ),
    (
        "scenarios/05-heterogeneous-90.toml",
        include_str!("../../scenarios/05-heterogeneous-90.toml"),
    ),
    (
        "scenarios/06-backend-joins.toml",
        include_str!("../../scenarios/06-backend-joins.toml"),
    ),
    (
        "scenarios/07-tower-demo.toml",
        include_str!("../../scenarios/07-tower-demo.toml"),
    ),
    (
        "scenarios/08-cold-joiner.toml",
        include_str!("../../scenarios/08-cold-joiner.toml"),
    ),
    (
        "scenarios/09-regime-change.toml",
        include_str!("../../scenarios/09-regime-change.toml"),
    ),
    (
        "scenarios/10-fleet-of-200.toml",
        include_str!("../../scenarios/10-fleet-of-200.toml"),
    ),
    (
        "scenarios/11-hot-keys.toml",
        include_str!("../../scenarios/11-hot-keys.toml"),
    ),
];

/// Parse the bundled suite.
pub fn suite() -> Result<Vec<Scenario>, ScenarioError> {
    SUITE
        .iter()
        .map(|(path, text)| scenario::parse(path, text))
        .collect()
}

/// The strategies a scenario runs: `over` if given, else the scenario's own
/// list, else every strategy lb has, but for a scenario without keys not the
/// hashing ones (which, given no keys, run round robin).
pub fn strategies_for(sc: &Scenario, over: Option<&[String]>) -> Vec<String> {
    if let Some(o) = over {
        return o.to_vec();
    }
    let keyed = sc.keys.is_some();
    match &sc.strategies {
        Some(s) => s.clone(),
        None => balancer::strategy_names()
            .iter()
            .filter(|s| keyed || !lb::Strategy::from_name(s).is_some_and(|s| s.is_hashing()))
            .map(|s| s.to_string())
            .collect(),
    }
}

/// The scenario's starting set as (instance id, weight, capacity): backend i is id i.
pub fn initial_instances(sc: &Scenario) -> Vec<(u64, u32, u32)> {
    sc.backends
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u64, b.weight, b.capacity))
        .collect()
}

/// How often a run notes which strategy adaptive runs (virtual time).
const ADAPTIVE_SAMPLE_NS: u64 = 100_000_000;

/// Simulate one scenario under one strategy (a run of `balancer::parse_run`).
pub fn run_one(sc: &Scenario, strategy: &str) -> RunResult {
    run_one_with(sc, strategy, false)
}

/// [`run_one`], also recording what `--plot` draws when `plot` is set.
pub fn run_one_with(sc: &Scenario, strategy: &str, plot: bool) -> RunResult {
    let lb = balancer::new_lb(strategy, sc.seed, &initial_instances(sc));
    if lb.balancer().strategy() != lb::Strategy::Adaptive {
        return engine::simulate_with(sc, lb, strategy, 0, &mut |_, _| {}, plot);
    }
    let mut run = AdaptiveRun::default();
    let mut result = engine::simulate_with(
        sc,
        lb,
        strategy,
        ADAPTIVE_SAMPLE_NS,
        &mut |ns, lb| {
            let s = lb.balancer().stats();
            run.observe(
                ns as f64 / 1e9,
                s.active_strategy.name(),
                s.strategy_switches,
                s.adaptive_trials,
            );
        },
        plot,
    );
    if let Some(last) = run.ran.last_mut() {
        last.to_s = sc.duration_s;
    }
    result.adaptive = Some(run);
    result
}

/// Simulate every (scenario, strategy) pair, on up to `threads` threads.
/// Runs are independent, so the results do not depend on the thread count.
pub fn run_all(
    scenarios: &[Scenario],
    over: Option<&[String]>,
    threads: usize,
) -> Vec<ScenarioResult> {
    run_all_with(scenarios, over, threads, false)
}

/// [`run_all`], also recording what `--plot` draws when `plot` is set.
pub fn run_all_with(
    scenarios: &[Scenario],
    over: Option<&[String]>,
    threads: usize,
    plot: bool,
) -> Vec<ScenarioResult> {
    let jobs: Vec<(usize, String)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(i, sc)| strategies_for(sc, over).into_iter().map(move |s| (i, s)))
        .collect();
    let slots: Vec<Mutex<Option<RunResult>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= jobs.len() {
                    break;
                }
                let (i, strategy) = &jobs[j];
                // A fresh thread per run: lb keeps per-thread state, and a
                // run must not depend on what ran before it on its thread.
                let r = std::thread::scope(|inner| {
                    inner
                        .spawn(|| run_one_with(&scenarios[*i], strategy, plot))
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e))
                });
                *slots[j].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    let mut results: Vec<Vec<RunResult>> = scenarios.iter().map(|_| Vec::new()).collect();
    for ((i, _), slot) in jobs.iter().zip(slots) {
        let r = slot
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .expect("every job ran");
        results[*i].push(r);
    }
    scenarios
        .iter()
        .zip(results)
        .map(|(sc, r)| ScenarioResult::new(sc, r))
        .collect()
}
