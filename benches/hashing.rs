//! Keyed selection (criterion). See BENCHMARKS.md for the commands and results.
//!
//! Groups:
//! - `keyed_pair_<n>`: one thread, a `select_key` + `report` pair, keys 0, 1, 2, ...
//!   (every instance in turn), for Maglev, Maglev with a hash balance factor of
//!   125 and ring hash; beside them in the same group round robin's plain
//!   `select` + `report` (lb's unkeyed pair), the Mutex baseline's keyed pair
//!   (`baseline/mod.rs`: a Maglev-sized table and all state behind one lock) and
//!   the floor (one atomic increment and decrement), so the machine's speed in
//!   this run is on record.
//! - `hash_rebuild_1000`: replacing a set of 1,000 instances by one that differs
//!   in one weight, which rebuilds a hashing strategy's table (Maglev 65,537
//!   entries; the ring); round robin's replacement of the same sets in the same
//!   group is the rest of the snapshot's cost, so the difference is the table.
//!
//! `LB_BENCH_QUICK=1 cargo bench --bench hashing` runs it with short measurement
//! times.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::CachePadded;
use lb::{Balancer, Config, Instance, Outcome, Strategy};

#[allow(dead_code)]
#[path = "baseline/mod.rs"]
mod baseline;
use baseline::MutexBalancer;

fn quick() -> bool {
    std::env::var_os("LB_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

fn config() -> Criterion {
    let c = Criterion::default().without_plots();
    if quick() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(20)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
    }
}

fn balancer(strategy: Strategy, factor: u32, n: u64) -> Balancer {
    let b = Balancer::new(Config {
        strategy,
        seed: 1,
        hash_balance_factor: factor,
        ..Config::default()
    })
    .expect("valid config");
    let set: Vec<Instance> = (1..=n).map(Instance::new).collect();
    b.set_instances(&set).expect("valid set");
    b
}

fn keyed_pairs(c: &mut Criterion) {
    for n in [64u64, 1024] {
        let mut g = c.benchmark_group(format!("keyed_pair_{n}"));
        let runs = [
            ("maglev", Strategy::Maglev, 0),
            ("maglev_factor_125", Strategy::Maglev, 125),
            ("ring_hash", Strategy::RingHash, 0),
        ];
        for (name, strategy, factor) in runs {
            let b = balancer(strategy, factor, n);
            let mut key = 0u64;
            g.bench_function(name, |bench| {
                bench.iter(|| {
                    key = key.wrapping_add(1);
                    let p = b.select_key(black_box(key)).unwrap();
                    b.report(&p, Outcome::Success, 1_000).unwrap();
                })
            });
        }
        let rr = balancer(Strategy::RoundRobin, 0, n);
        g.bench_function("round_robin_unkeyed", |bench| {
            bench.iter(|| {
                let p = rr.select().unwrap();
                rr.report(&p, Outcome::Success, 1_000).unwrap();
            })
        });
        let m = MutexBalancer::new(Strategy::RoundRobin);
        let set: Vec<Instance> = (1..=n).map(Instance::new).collect();
        m.set_instances(&set);
        let mut key = 0u64;
        g.bench_function("mutex_baseline", |bench| {
            bench.iter(|| {
                key = key.wrapping_add(1);
                let p = m.select_key(black_box(key)).unwrap();
                assert!(m.report(&p, true, 1_000));
            })
        });
        let floor = CachePadded::new(AtomicU64::new(0));
        g.bench_function("floor_inc_dec", |bench| {
            bench.iter(|| {
                floor.fetch_add(1, Ordering::AcqRel);
                floor.fetch_sub(1, Ordering::AcqRel);
            })
        });
        g.finish();
    }
}

fn rebuilds(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash_rebuild_1000");
    let sets: Vec<Vec<Instance>> = (0..2u32)
        .map(|v| {
            (1..=1000u64)
                .map(|id| Instance::new(id).weight(if id == 1 { 1 + v } else { 1 }))
                .collect()
        })
        .collect();
    for (name, strategy) in [
        ("maglev_65537", Strategy::Maglev),
        ("ring_hash", Strategy::RingHash),
        ("round_robin", Strategy::RoundRobin),
    ] {
        let b = balancer(strategy, 0, 0);
        let mut i = 0usize;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                i += 1;
                b.set_instances(&sets[i % 2]).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = keyed_pairs, rebuilds
}
criterion_main!(benches);
