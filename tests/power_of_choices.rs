//! Least request's and Peak EWMA's decisions (power of d choices).
mod common;

use common::*;
use lb::{Config, Instance, Outcome, Pick, Strategy};

fn cfg(strategy: Strategy) -> Config {
    Config {
        strategy,
        seed: 7,
        ..Config::default()
    }
}

/// Peak EWMA with the default latency at the fleet's (1 ms), so every member is
/// sampled from the start.
fn peak(default_ms: f64) -> Config {
    Config {
        peak_ewma_default_latency_ms: default_ms,
        ..cfg(Strategy::PeakEwma)
    }
}

fn count(picks: &[Pick], id: u64) -> usize {
    picks.iter().filter(|p| p.instance_id() == id).count()
}

/// Shares of `n` select + immediate report cycles (light load: nothing in flight
/// at any select).
fn shares(b: &lb::Balancer, ids: u64, n: usize, latency: impl Fn(u64) -> u64) -> Vec<f64> {
    let mut hits = vec![0usize; ids as usize + 1];
    for _ in 0..n {
        let p = b.select().unwrap();
        b.report(&p, Outcome::Success, latency(p.instance_id()))
            .unwrap();
        hits[p.instance_id() as usize] += 1;
    }
    hits[1..].iter().map(|&h| h as f64 / n as f64).collect()
}

#[test]
fn least_request_takes_the_less_loaded_of_two_distinct_draws() {
    // Two members, two distinct draws: every pick sees both, so held picks stay
    // level. A repeated draw (the same member twice) or the busier one winning
    // would tip the balance.
    let (b, _) = manual(cfg(Strategy::LeastRequest));
    b.set_instances(&ids(2)).unwrap();
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(b.select().unwrap());
        let (a, c) = (count(&held, 1), count(&held, 2));
        assert!(a.abs_diff(c) <= 1, "{a} vs {c} in flight");
    }
}

#[test]
fn least_request_avoids_a_busy_member_and_does_not_starve_it_afterwards() {
    let (b, _) = manual(cfg(Strategy::LeastRequest));
    b.set_instances(&ids(10)).unwrap();
    // Member 1 holds 50 picks.
    let others: Vec<u64> = (2..=10).collect();
    let busy: Vec<Pick> = (0..50)
        .map(|_| b.select_excluding(&others).unwrap())
        .collect();
    assert!(busy.iter().all(|p| p.instance_id() == 1));
    // While busy it loses every draw (the others have nothing in flight).
    let s = shares(&b, 10, 5_000, |_| 1_000);
    assert_eq!(s[0], 0.0, "the busy member got picks: {s:?}");
    // Once its requests complete it gets its share back at once.
    for p in &busy {
        b.report(p, Outcome::Success, 1_000).unwrap();
    }
    let s = shares(&b, 10, 20_000, |_| 1_000);
    assert!((s[0] - 0.1).abs() < 0.015, "member 1's share {s:?}");
}

#[test]
fn least_request_follows_the_weights_at_light_load() {
    let (b, _) = manual(cfg(Strategy::LeastRequest));
    b.set_instances(&[
        Instance::new(1),
        Instance::new(2).weight(2),
        Instance::new(3).weight(3),
        Instance::new(4).weight(4),
    ])
    .unwrap();
    let s = shares(&b, 4, 40_000, |_| 1_000);
    for (i, share) in s.iter().enumerate() {
        let want = (i + 1) as f64 / 10.0;
        assert!((share - want).abs() < 0.015, "shares {s:?}");
    }
}

#[test]
fn least_request_keeps_in_flight_in_proportion_to_weight_under_load() {
    // Envoy's formula with bias 1: weight / (in flight + 1) levels out at 1:3.
    let (b, _) = manual(cfg(Strategy::LeastRequest));
    b.set_instances(&[Instance::new(1), Instance::new(2).weight(3)])
        .unwrap();
    let held = select_n(&b, 40);
    let (a, c) = (count(&held, 1), count(&held, 2));
    assert!((9..=11).contains(&a), "{a} vs {c} in flight");
    // Bias 2: weight / (in flight + 1)^2 levels out where (c + 1) = sqrt(3) (a + 1).
    let (b, _) = manual(Config {
        active_request_bias: 2.0,
        ..cfg(Strategy::LeastRequest)
    });
    b.set_instances(&[Instance::new(1), Instance::new(2).weight(3)])
        .unwrap();
    let held = select_n(&b, 40);
    let (a, c) = (count(&held, 1), count(&held, 2));
    assert!((14..=16).contains(&a), "bias 2: {a} vs {c} in flight");
    // Bias 0: weights only, whatever is in flight.
    let (b, _) = manual(Config {
        active_request_bias: 0.0,
        ..cfg(Strategy::LeastRequest)
    });
    b.set_instances(&[Instance::new(1), Instance::new(2).weight(3)])
        .unwrap();
    let held = select_n(&b, 4_000);
    let a = count(&held, 1) as f64 / 4_000.0;
    assert!((a - 0.25).abs() < 0.03, "bias 0: share {a}");
}

#[test]
fn more_choices_see_more_of_the_set() {
    // With as many choices as members every pick sees them all: held picks stay
    // exactly level, as under least connections.
    let (b, _) = manual(Config {
        choice_count: 8,
        ..cfg(Strategy::LeastRequest)
    });
    b.set_instances(&ids(8)).unwrap();
    let held = select_n(&b, 80);
    for id in 1..=8 {
        assert_eq!(count(&held, id), 10, "member {id}");
    }
    // With two of eight, some imbalance is expected.
    let (b, _) = manual(cfg(Strategy::LeastRequest));
    b.set_instances(&ids(8)).unwrap();
    let held = select_n(&b, 80);
    assert!((1..=8).any(|id| count(&held, id) != 10));
}

/// 200 select + report cycles at 1 ms on two members, then a pick of member 1
/// (the other picks reported at 1 ms), left for the caller to report.
fn warm_then_pick_member_1(b: &lb::Balancer, clock: &lb::ManualClock) -> Pick {
    for _ in 0..200 {
        clock.advance_us(1_000);
        cycle(b, Outcome::Success, 1_000);
    }
    (0..1_000)
        .find_map(|_| {
            let p = b.select().unwrap();
            if p.instance_id() == 1 {
                return Some(p);
            }
            b.report(&p, Outcome::Success, 1_000).unwrap();
            None
        })
        .unwrap_or_else(|| panic!("member 1 never picked: {:?}", b.all_health()))
}

/// How many of `n` select + report cycles at 1 ms go to member 1.
fn picks_of_member_1(b: &lb::Balancer, clock: &lb::ManualClock, n: usize) -> usize {
    (0..n)
        .filter(|_| {
            clock.advance_us(1_000);
            cycle(b, Outcome::Success, 1_000) == 1
        })
        .count()
}

#[test]
fn peak_ewma_reacts_to_a_spike_within_one_sample_and_forgets_it_over_tau() {
    let (b, clock) = manual(peak(1.0));
    b.set_instances(&ids(2)).unwrap();
    // One slow answer from member 1.
    let p = warm_then_pick_member_1(&b, &clock);
    b.report(&p, Outcome::Success, 100_000).unwrap();
    // Right after it, member 1 loses every comparison.
    let ones = picks_of_member_1(&b, &clock, 100);
    assert_eq!(ones, 0, "the spike was not seen at once");
    // A few time constants (10 s each) later it is forgotten: member 1 is back.
    let mut ones = 0;
    for i in 0..60_000 {
        clock.advance_us(1_000);
        let id = cycle(&b, Outcome::Success, 1_000);
        if i >= 50_000 {
            ones += (id == 1) as usize;
        }
    }
    assert!(ones > 2_000, "member 1 got {ones} of the last 10000 picks");
}

#[test]
fn peak_ewma_prices_a_failure_as_a_latency_penalty() {
    let (b, clock) = manual(peak(1.0));
    b.set_instances(&ids(2)).unwrap();
    // Member 1 fails fast (in 10 us): it must not look fast.
    let p = warm_then_pick_member_1(&b, &clock);
    b.report(&p, Outcome::Failure, 10).unwrap();
    let ones = picks_of_member_1(&b, &clock, 100);
    assert_eq!(ones, 0, "a fast failure made member 1 look cheap");
}

#[test]
fn peak_ewma_neither_floods_nor_starves_a_new_member() {
    // Four members at 20 ms with a few requests in flight each; a fifth joins
    // (without slow start, which would hold it back on purpose).
    let (b, clock) = manual(Config {
        slow_start_window_ms: 0,
        ..cfg(Strategy::PeakEwma)
    });
    b.set_instances(&ids(4)).unwrap();
    let mut held: std::collections::VecDeque<Pick> = Default::default();
    let step = |b: &lb::Balancer, held: &mut std::collections::VecDeque<Pick>| {
        clock.advance_us(1_000);
        held.push_back(b.select().unwrap());
        if held.len() > 12 {
            let p = held.pop_front().unwrap();
            b.report(&p, Outcome::Success, 20_000).unwrap();
        }
        held.back().unwrap().instance_id()
    };
    for _ in 0..2_000 {
        step(&b, &mut held);
    }
    b.set_instances(&ids(5)).unwrap();
    let mut new = 0;
    for _ in 0..5_000 {
        new += (step(&b, &mut held) == 5) as usize;
    }
    let share = new as f64 / 5_000.0;
    // A fair share is 20%; flooded would be near 40% (it wins every draw it is
    // in), starved near 0.
    assert!((0.1..0.3).contains(&share), "new member's share {share}");
}

#[test]
fn peak_ewma_prefers_the_faster_member() {
    let (b, clock) = manual(peak(1.0));
    b.set_instances(&ids(2)).unwrap();
    let mut hits = [0usize; 3];
    for _ in 0..4_000 {
        clock.advance_us(1_000);
        let p = b.select().unwrap();
        let latency = if p.instance_id() == 1 { 2_000 } else { 10_000 };
        b.report(&p, Outcome::Success, latency).unwrap();
        hits[p.instance_id() as usize] += 1;
    }
    assert!(hits[1] > 3 * hits[2], "{hits:?}");
}

#[test]
fn both_strategies_run_at_every_set_size_and_choice_count() {
    for strategy in [Strategy::LeastRequest, Strategy::PeakEwma] {
        for n in [1u64, 2, 3, 9, 1024] {
            for choices in [2, 3, 8] {
                let (b, _) = manual(Config {
                    choice_count: choices,
                    ..cfg(strategy)
                });
                b.set_instances(&ids(n)).unwrap();
                let held = select_n(&b, 3 * n as usize);
                assert!(held.iter().all(|p| (1..=n).contains(&p.instance_id())));
                for p in &held {
                    b.report(p, Outcome::Success, 100).unwrap();
                }
                // Retries avoid what was tried.
                if n > 1 {
                    let p = b.select_excluding(&[1]).unwrap();
                    assert_ne!(p.instance_id(), 1);
                    b.report(&p, Outcome::Success, 100).unwrap();
                }
                settled(&b);
            }
        }
    }
}

#[test]
fn peak_ewma_does_not_starve_a_member_whose_default_is_above_the_fleet() {
    // The default (30 ms) is far above the fleet's 1 ms: at light load the new
    // member loses every comparison at first, but its price fades over the time
    // constant (10 s) until it wins one; its first sample then prices it right.
    let (b, clock) = manual(cfg(Strategy::PeakEwma));
    b.set_instances(&ids(2)).unwrap();
    for _ in 0..100 {
        clock.advance_us(1_000);
        cycle(&b, Outcome::Success, 1_000);
    }
    b.set_instances(&ids(3)).unwrap();
    let mut first = None;
    for i in 0..120_000u64 {
        clock.advance_us(1_000);
        if cycle(&b, Outcome::Success, 1_000) == 3 {
            first = Some(i);
            break;
        }
    }
    let first = first.expect("the new member never got a pick");
    assert!(
        first > 1_000,
        "a 30 ms default took {first} ms to lose to 1 ms peers"
    );
    // Once sampled it gets about its share.
    let s = shares(&b, 3, 6_000, |_| 1_000);
    assert!(s[2] > 0.2, "shares {s:?}");
}

/// A member left out of the selectable set (here marked down by an active health
/// check) is never drawn: the draws map positions in the selectable set to
/// members, also when that set is not the first members in order. Equal weights
/// draw uniformly, unequal ones through the alias table; both are checked.
#[test]
fn a_member_marked_down_is_never_drawn() {
    for strategy in [Strategy::LeastRequest, Strategy::PeakEwma] {
        for weighted in [false, true] {
            let (b, _clock) = manual(cfg(strategy));
            let set: Vec<Instance> = (1..=4)
                .map(|id| Instance {
                    weight: if weighted { id as u32 } else { 1 },
                    ..Instance::new(id)
                })
                .collect();
            b.set_instances(&set).unwrap();
            b.set_health_score(2, 0.0).unwrap();
            assert!(!healthy(&b, 2), "{strategy:?}: a score of 0 takes it out");
            let picks = (0..2000)
                .filter(|_| cycle(&b, Outcome::Success, 1000) == 2)
                .count();
            assert_eq!(picks, 0, "{strategy:?}, weighted {weighted}");
        }
    }
}
