//! Select + report pairs on a manual clock, for counting instructions per pair
//! under callgrind (`tests/callgrind-pairs.sh`): deterministic, so two runs that
//! differ only in `pairs` difference out everything but the pairs themselves.
//!
//!   cargo run --release --example pairs -- BALANCERS PAIRS [STRATEGY]
//!
//! One thread serves BALANCERS balancers (4 instances each) in strict rotation,
//! PAIRS pairs in all; the clock moves 1 us per pair.
use std::sync::Arc;

use lb::{Balancer, Config, Instance, ManualClock, Outcome, Strategy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: pairs BALANCERS PAIRS [round_robin|least_connections|...]";
    let balancers: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let pairs: u64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let strategy = args
        .get(3)
        .map(|s| Strategy::from_name(s).expect(usage))
        .unwrap_or(Strategy::RoundRobin);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let set: Vec<Instance> = (1..=4).map(Instance::new).collect();
    let all: Vec<Balancer> = (0..balancers)
        .map(|i| {
            let cfg = Config {
                strategy,
                seed: i as u64 + 1,
                ..Config::default()
            };
            let b = Balancer::with_clock(cfg, clock.clone()).expect("config");
            b.set_instances(&set).expect("set");
            // The thread's first call on a balancer makes its per-thread state: set-up.
            let p = b.select().expect("select");
            b.report(&p, Outcome::Success, 100).expect("report");
            b
        })
        .collect();
    let mut done = 0;
    while done < pairs {
        for b in &all {
            let p = b.select().expect("select");
            b.report(&p, Outcome::Success, 100).expect("report");
            clock.advance_us(1);
            done += 1;
            if done == pairs {
                break;
            }
        }
    }
    let s = all[0].stats();
    assert_eq!(s.in_flight, 0);
    println!("{balancers} balancers, {pairs} pairs, {}", strategy.name());
}
