//! Watch lb's state during one simulated run: every STEP seconds of virtual
//! time, the strategy running and each instance's health, score, latency
//! average and picks in flight (`X` marks an ejected instance).
//!
//! cargo run --release -p lb-sim --example trace -- FILE.toml STRATEGY [STEP_S]
//!
//! lb's `stats()` and `all_health()` run a maintenance pass when called, so a
//! traced run can end with slightly different numbers than `lb-sim` reports.

use lb_sim::balancer::{new_lb, RealLb};
use lb_sim::engine::simulate_observed;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: trace FILE.toml STRATEGY [STEP_S]");
        std::process::exit(2);
    }
    let sc = match lb_sim::scenario::load(&args[0]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("trace: {e}");
            std::process::exit(2);
        }
    };
    let strategy = args[1].as_str();
    if !lb_sim::balancer::strategy_names().contains(&strategy) {
        eprintln!("trace: unknown strategy {strategy}");
        std::process::exit(2);
    }
    let step_s: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let lb = new_lb(strategy, sc.seed, &lb_sim::initial_instances(&sc));
    let mut out = std::io::stdout().lock();
    let step_ns = (step_s.max(1e-6) * 1e9) as u64;
    let r = simulate_observed(&sc, lb, strategy, step_ns, &mut |now, l: &RealLb| {
        let stats = l.balancer().stats();
        let members: Vec<String> = l
            .balancer()
            .all_health()
            .iter()
            .map(|h| {
                format!(
                    "{}{}:{:.2}/{:.1}ms/{}",
                    if h.healthy { "" } else { "X" },
                    h.instance_id,
                    h.health_score,
                    h.latency_ewma_us / 1000.0,
                    h.in_flight
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:8.2}s {:?} switches {} | {}",
            now as f64 / 1e9,
            stats.active_strategy,
            stats.strategy_switches,
            members.join(" ")
        );
    });
    println!(
        "{}: {} requests, success {:.3}%, p99 {:.2} ms, share {:?}",
        r.strategy,
        r.requests,
        r.success_rate * 100.0,
        r.latency_ms.p99,
        r.share
            .iter()
            .map(|x| (x * 1000.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
}
