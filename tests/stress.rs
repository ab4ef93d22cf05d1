//! Selects and reports from several threads while another replaces the set.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lb::{Balancer, Config, Instance, Outcome, Strategy};

#[test]
fn concurrent_select_report_with_set_replacement_settles_exactly() {
    for strategy in Strategy::ALL {
        let b = Arc::new(
            Balancer::new(Config {
                strategy,
                ..Config::default()
            })
            .unwrap(),
        );
        let sets: Vec<Vec<Instance>> = vec![
            (1..=8).map(Instance::new).collect(),
            (4..=12)
                .map(|i| Instance::new(i).weight(i as u32 % 3 + 1))
                .collect(),
            (1..=3).map(|i| Instance::new(i).capacity(4)).collect(),
        ];
        b.set_instances(&sets[0]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (b, stop, sets) = (b.clone(), stop.clone(), sets.clone());
            std::thread::spawn(move || {
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    b.set_instances(&sets[k % sets.len()]).unwrap();
                    b.set_health_score(4, (k % 5) as f64 / 4.0).ok();
                    std::thread::yield_now();
                }
            })
        };
        let workers: Vec<_> = (0..3)
            .map(|t| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    let mut n = 0u64;
                    for i in 0..60_000u64 {
                        if let Ok(p) = b.select() {
                            n += 1;
                            held.push(p);
                        }
                        if held.len() > 8 || i % 7 == 0 {
                            while let Some(p) = held.pop() {
                                let o = match (i + t) % 11 {
                                    0 => Outcome::Failure,
                                    1 => Outcome::Cancelled,
                                    _ => Outcome::Success,
                                };
                                b.report(&p, o, 50 + i % 100).unwrap();
                            }
                        }
                    }
                    for p in held {
                        b.report(&p, Outcome::Success, 1).unwrap();
                    }
                    n
                })
            })
            .collect();
        let picked: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let s = b.stats();
        assert_eq!(s.in_flight, 0, "{strategy:?}: {s:?}");
        assert_eq!(s.total_requests, picked, "{strategy:?}: {s:?}");
        assert_eq!(
            s.total_requests,
            s.successes + s.failures + s.cancelled,
            "{strategy:?}: {s:?}"
        );
        for h in b.all_health() {
            assert_eq!(h.in_flight, 0, "{strategy:?}: {h:?}");
        }
    }
}
