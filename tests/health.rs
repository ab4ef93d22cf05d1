//! Ejection, growing cool-down, trial traffic, recovery, panic mode, external checks.
mod common;

use common::*;
use lb::{Config, Outcome, Strategy};

fn cfg() -> Config {
    Config {
        strategy: Strategy::RoundRobin,
        consecutive_failures: 3,
        base_ejection_ms: 1_000,
        max_ejection_ms: 60_000,
        recovery_successes: 3,
        trial_ratio: 1.0,
        ..Config::default()
    }
}

/// Picks until `id` is chosen (a trial), and reports it with `outcome`.
fn trial(b: &lb::Balancer, id: u64, outcome: Outcome) -> bool {
    for _ in 0..100 {
        let p = b.select().unwrap();
        if p.instance_id() == id {
            b.report(&p, outcome, 100).unwrap();
            return true;
        }
        b.report(&p, Outcome::Success, 100).unwrap();
    }
    false
}

fn never_picked(b: &lb::Balancer, id: u64, n: usize) -> bool {
    (0..n).all(|_| cycle(b, Outcome::Success, 100) != id)
}

#[test]
fn ejection_cooldown_grows_and_trials_bring_it_back() {
    let (b, clock) = manual(cfg());
    b.set_instances(&ids(4)).unwrap();

    fail(&b, 2, 3);
    assert!(!healthy(&b, 2), "three failures in a row eject");
    assert_eq!(b.ejections(), 1);
    assert!(
        never_picked(&b, 2, 200),
        "an ejected instance gets no traffic"
    );

    // First cool-down: 1 s.
    clock.advance_ms(999);
    b.maintain();
    assert!(never_picked(&b, 2, 50), "still cooling down");
    clock.advance_ms(1);
    b.maintain();
    // Trial traffic, and recovery only after three successes in a row.
    assert!(trial(&b, 2, Outcome::Success));
    assert!(trial(&b, 2, Outcome::Success));
    assert!(!healthy(&b, 2), "two successes are not enough");
    assert!(trial(&b, 2, Outcome::Success));
    assert!(healthy(&b, 2), "three successes in a row return it");

    // Ejected again: the cool-down doubles to 2 s.
    fail(&b, 2, 3);
    assert!(!healthy(&b, 2));
    clock.advance_ms(1_999);
    b.maintain();
    assert!(never_picked(&b, 2, 50), "second cool-down is longer");
    clock.advance_ms(1);
    b.maintain();
    // A failed trial ejects it again, for 4 s.
    assert!(trial(&b, 2, Outcome::Failure));
    assert!(!healthy(&b, 2));
    clock.advance_ms(3_999);
    b.maintain();
    assert!(never_picked(&b, 2, 50), "third cool-down is longer still");
    clock.advance_ms(1);
    b.maintain();
    assert!(trial(&b, 2, Outcome::Success));
    assert_eq!(b.ejections(), 3);
}

/// A backend failing half its requests must not flap back in: its trials keep
/// failing before it strings enough successes together.
#[test]
fn half_failing_backend_stays_out() {
    let (b, clock) = manual(Config {
        recovery_successes: 5,
        ..cfg()
    });
    b.set_instances(&ids(4)).unwrap();
    let mut on_bad = 0u32;
    let mut toggle = false;
    for _ in 0..200_000 {
        let p = b.select().unwrap();
        if p.instance_id() == 4 {
            on_bad += 1;
            toggle = !toggle;
            let o = if toggle {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            b.report(&p, o, 100).unwrap();
        } else {
            b.report(&p, Outcome::Success, 100).unwrap();
        }
        clock.advance_us(500);
    }
    // 100 s of traffic; a healthy peer would get 50 000 requests.
    assert!(on_bad < 500, "half-failing backend got {on_bad} requests");
}

#[test]
fn success_rate_ejects_a_mostly_failing_instance() {
    let (b, clock) = manual(Config {
        consecutive_failures: 1000,
        ..cfg()
    });
    b.set_instances(&ids(3)).unwrap();
    let mut k = 0;
    for _ in 0..3000 {
        let p = b.select().unwrap();
        let o = if p.instance_id() == 1 {
            k += 1;
            // Fails 2 of every 3 requests: never a long streak.
            if k % 3 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        } else {
            Outcome::Success
        };
        b.report(&p, o, 100).unwrap();
        clock.advance_us(1000);
        if !healthy(&b, 1) {
            return;
        }
    }
    panic!(
        "a 67%-failing instance was never ejected: {:?}",
        b.health(1)
    );
}

#[test]
fn slow_outlier_loses_score_and_extreme_one_is_ejected() {
    let (b, clock) = manual(cfg());
    b.set_instances(&ids(5)).unwrap();
    let lat = |id: u64| match id {
        4 => 3_000,   // 3x the median: lower score, still healthy
        5 => 500_000, // 500x: ejected on latency alone
        _ => 1_000,
    };
    for _ in 0..2000 {
        let p = b.select().unwrap();
        b.report(&p, Outcome::Success, lat(p.instance_id()))
            .unwrap();
        clock.advance_us(1000);
    }
    let h4 = b.health(4).unwrap();
    let h1 = b.health(1).unwrap();
    assert!(
        h4.healthy && h4.health_score < h1.health_score,
        "{h4:?} vs {h1:?}"
    );
    assert!(!healthy(&b, 5), "{:?}", b.health(5));
}

#[test]
fn panic_mode_serves_from_every_instance() {
    let (b, _) = manual(cfg());
    b.set_instances(&ids(4)).unwrap();
    for id in 1..=3 {
        fail(&b, id, 3);
    }
    let s = b.stats();
    assert_eq!(s.healthy_count, 1);
    // 1 of 4 healthy is below the 0.5 threshold: every instance is served.
    let mut seen = [false; 4];
    for _ in 0..40 {
        seen[(cycle(&b, Outcome::Success, 100) - 1) as usize] = true;
    }
    assert_eq!(seen, [true; 4]);

    // Without panic mode only the healthy one is served.
    b.set_config(Config {
        panic_threshold: 0.0,
        ..b.config()
    })
    .unwrap();
    assert!((0..40).all(|_| cycle(&b, Outcome::Success, 100) == 4));
}

#[test]
fn capacity_is_a_hard_limit_in_panic_mode_too() {
    let (b, _) = manual(cfg());
    b.set_instances(&[
        lb::Instance::new(1).capacity(2),
        lb::Instance::new(2).capacity(1),
    ])
    .unwrap();
    let held = select_n(&b, 3);
    assert_eq!(b.select(), Err(lb::Error::NoInstance));
    b.report(&held[0], Outcome::Success, 10).unwrap();
    let again = b.select().unwrap();
    assert_eq!(again.instance_id(), held[0].instance_id());
    for p in held[1..].iter().chain([&again]) {
        b.report(p, Outcome::Cancelled, 10).unwrap();
    }
    // Take both down: panic mode serves them anyway, and capacity still holds.
    b.set_health_score(1, 0.0).unwrap();
    b.set_health_score(2, 0.0).unwrap();
    assert_eq!(b.stats().healthy_count, 0);
    let held = select_n(&b, 3);
    assert_eq!(b.select(), Err(lb::Error::NoInstance));
    for p in &held {
        b.report(p, Outcome::Cancelled, 0).unwrap();
    }
    settled(&b);
}

#[test]
fn external_health_check_takes_an_instance_down_and_back() {
    let (b, _) = manual(cfg());
    b.set_instances(&ids(3)).unwrap();
    b.set_health_score(2, 0.0).unwrap();
    assert!(!healthy(&b, 2));
    assert_eq!(b.health(2).unwrap().health_score, 0.0);
    assert!(never_picked(&b, 2, 100));
    b.set_health_score(2, 1.0).unwrap();
    assert!(healthy(&b, 2));
    assert!(!never_picked(&b, 2, 10));
}

#[test]
fn every_instance_down_and_tiny_weights_never_loop() {
    let (b, _) = manual(Config {
        panic_threshold: 0.0,
        ..cfg()
    });
    b.set_instances(&ids(3)).unwrap();
    for id in 1..=3 {
        b.set_health_score(id, 0.0).unwrap();
    }
    for s in lb::Strategy::ALL {
        b.set_strategy(s);
        assert_eq!(b.select(), Err(lb::Error::NoInstance));
        assert_eq!(b.select_excluding(&[1, 2, 3]), Err(lb::Error::NoInstance));
    }
}

/// An ejection shows in the stats and in the instance's health: its state, how
/// often it was ejected, the cool-down left; then on trial, then healthy again,
/// still counted once.
#[test]
fn ejection_state_is_observable() {
    let (b, clock) = manual(cfg());
    b.set_instances(&ids(4)).unwrap();
    let before = b.health(2).unwrap();
    assert_eq!(
        (
            before.state,
            before.times_ejected,
            before.cooldown_remaining_ms
        ),
        (lb::HealthState::Healthy, 0, 0)
    );
    fail(&b, 2, 3);
    let h = b.health(2).unwrap();
    assert_eq!(h.state, lb::HealthState::Ejected);
    assert_eq!(h.times_ejected, 1);
    assert!(
        h.cooldown_remaining_ms > 0 && h.cooldown_remaining_ms <= 1_000,
        "{h:?}"
    );
    assert_eq!(b.stats().ejections, 1);
    clock.advance_ms(400);
    let later = b.health(2).unwrap().cooldown_remaining_ms;
    assert!(later <= h.cooldown_remaining_ms - 400, "{later}");
    clock.advance_ms(700);
    // The next select runs the maintenance pass that begins the probation; its
    // pick is a trial of instance 2 (trial_ratio 1), reported as a failure would
    // eject it again, so it is cancelled.
    let p = b.select().unwrap();
    assert_eq!(b.health(2).unwrap().state, lb::HealthState::OnTrial);
    b.report(&p, Outcome::Cancelled, 0).unwrap();
    for _ in 0..3 {
        assert!(trial(&b, 2, Outcome::Success));
    }
    let h = b.health(2).unwrap();
    assert_eq!(
        (h.state, h.times_ejected, h.cooldown_remaining_ms),
        (lb::HealthState::Healthy, 1, 0)
    );
    assert_eq!(b.stats().ejections, 1);
}
