//! pingora-load-balancing's consistent (Ketama) selection on the machine that runs
//! lb's `benches/hashing.rs`: a keyed select among 64 backends, and building the
//! ring for 1,000, the counterparts of lb's `keyed_pair` and `hash_rebuild` groups.
use std::collections::BTreeSet;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pingora_load_balancing::selection::{BackendSelection, Consistent};
use pingora_load_balancing::{Backend, LoadBalancer};

fn addresses(n: u16) -> Vec<String> {
    (0..n).map(|i| format!("10.0.{}.{}:80", i / 250, i % 250 + 1)).collect()
}

fn ketama(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingora_ketama");
    let lb = LoadBalancer::<Consistent>::try_from_iter(addresses(64)).expect("static backends");
    let mut key = 0u64;
    g.bench_function("select/64", |b| {
        b.iter(|| {
            key = key.wrapping_add(1);
            black_box(lb.select(&key.to_le_bytes(), 256))
        })
    });
    let backends: BTreeSet<Backend> = addresses(1000)
        .iter()
        .map(|a| Backend::new(a).expect("an address"))
        .collect();
    g.bench_function("build/1000", |b| {
        b.iter(|| black_box(<Consistent as BackendSelection>::build(&backends)))
    });
    g.finish();
}

criterion_group!(benches, ketama);
criterion_main!(benches);
