//! Select + report pairs on one thread through lb's Rust API or through the
//! `Mutex` baseline of `benches/balancer.rs`, for counting instructions per pair
//! under callgrind (`benches/instructions-rust.sh` runs it):
//!
//!   pair_instructions lb|mutex STRATEGY N PAIRS
//!
//! STRATEGY is a strategy's name, N the number of instances (weight 1, no
//! capacity). One warm-up pair makes the thread's state, so two runs differing only
//! in PAIRS difference out everything but the pairs. Reports use the latencies of
//! `benches/balancer.rs` (800 to 1200 us by instance).

use std::hint::black_box;
use std::process::ExitCode;

use lb::{Balancer, Config, Instance, Outcome, Strategy};

#[allow(dead_code)]
mod baseline;
use baseline::MutexBalancer;

fn latency_of(id: u64) -> u64 {
    800 + (id % 5) * 100
}

fn set_of(n: usize) -> Vec<Instance> {
    (1..=n as u64).map(Instance::new).collect()
}

fn run_lb(strategy: Strategy, n: usize, pairs: u64) -> Result<(), String> {
    let lb = Balancer::new(Config {
        strategy,
        ..Config::default()
    })
    .map_err(|e| e.to_string())?;
    lb.set_instances(&set_of(n)).map_err(|e| e.to_string())?;
    for _ in 0..=pairs {
        let pick = lb.select().map_err(|e| e.to_string())?;
        let id = pick.instance_id();
        lb.report(black_box(&pick), Outcome::Success, latency_of(id))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn run_mutex(strategy: Strategy, n: usize, pairs: u64) -> Result<(), String> {
    let m = MutexBalancer::new(strategy);
    m.set_instances(&set_of(n));
    for _ in 0..=pairs {
        let pick = m.select().ok_or("baseline select found nothing")?;
        if !m.report(black_box(&pick), true, latency_of(pick.instance_id)) {
            return Err("baseline report refused".into());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: pair_instructions lb|mutex STRATEGY N PAIRS";
    let parsed = match args.as_slice() {
        [which, strategy, n, pairs] => Strategy::from_name(strategy)
            .zip(n.parse::<usize>().ok())
            .zip(pairs.parse::<u64>().ok())
            .map(|((s, n), p)| (which.as_str(), s, n, p)),
        // `cargo bench` runs every bench target with `--bench`: nothing to do.
        _ if args.iter().any(|a| a == "--bench") => return ExitCode::SUCCESS,
        _ => None,
    };
    let Some((which, strategy, n, pairs)) = parsed else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let result = match which {
        "lb" => run_lb(strategy, n, pairs),
        "mutex" => run_mutex(strategy, n, pairs),
        _ => Err(usage.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
