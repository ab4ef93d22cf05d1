//! The event queue: ejections, recoveries, panic mode and adaptive's switches
//! arrive in order, with the balancer's clock; a full queue drops the oldest and
//! counts them.
mod common;

use common::*;
use lb::{Config, EventKind, Outcome, Strategy, EVENT_QUEUE_CAPACITY};

fn health_cfg() -> Config {
    Config {
        strategy: Strategy::RoundRobin,
        consecutive_failures: 3,
        base_ejection_ms: 1_000,
        recovery_successes: 2,
        trial_ratio: 1.0,
        ..Config::default()
    }
}

/// Succeeds picks until `id` has taken `n` (its trials).
fn succeed_on(b: &lb::Balancer, id: u64, n: usize) {
    let mut done = 0;
    for _ in 0..1_000 {
        if done == n {
            return;
        }
        let p = b.select().unwrap();
        done += (p.instance_id() == id) as usize;
        b.report(&p, Outcome::Success, 100).unwrap();
    }
    panic!("instance {id} took {done} of {n} picks");
}

#[test]
fn ejection_panic_and_recovery_arrive_in_order() {
    let (b, clock) = manual(health_cfg());
    b.set_instances(&ids(2)).unwrap();
    assert!(b.poll_events(10).is_empty());
    fail(&b, 1, 3);
    clock.advance_ms(10);
    fail(&b, 2, 3); // both out: panic mode
    clock.advance_ms(1_100);
    succeed_on(&b, 1, 2);
    succeed_on(&b, 2, 2);
    let events = b.poll_events(100);
    let kinds: Vec<(EventKind, u64)> = events.iter().map(|e| (e.kind, e.instance_id)).collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Ejected, 1),
            (EventKind::Ejected, 2),
            (EventKind::PanicEntered, 0),
            (EventKind::Recovered, 1),
            (EventKind::PanicLeft, 0),
            (EventKind::Recovered, 2),
        ],
        "{events:?}"
    );
    assert!(events.windows(2).all(|w| w[0].time_us <= w[1].time_us));
    assert!(
        events[3].time_us >= events[0].time_us + 1_000_000,
        "{events:?}"
    );
    assert!(b.poll_events(100).is_empty(), "polled events are gone");
    assert_eq!(b.stats().events_dropped, 0);
}

#[test]
fn an_adaptive_switch_is_an_event() {
    let window = 200;
    let (b, clock) = manual(Config {
        strategy: Strategy::LeastConnections,
        consecutive_failures: 1_000_000,
        min_samples: 1_000_000,
        adaptive_window_requests: window,
        adaptive_min_window_ms: 1,
        ..Config::default()
    });
    b.set_instances(&ids(3)).unwrap();
    b.set_strategy(Strategy::Adaptive);
    for _ in 0..20 * window as usize {
        let p = b.select().unwrap();
        let outcome = if p.instance_id() == 3 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        b.report(
            &p,
            outcome,
            if outcome == Outcome::Success {
                10_000
            } else {
                1_000
            },
        )
        .unwrap();
        clock.advance_us(500);
    }
    // Then ejection turns on: instance 3 is ejected, and later recovers.
    b.update_config(|c| {
        c.consecutive_failures = 2;
        c.min_samples = 10;
        c.base_ejection_ms = 1_000;
        c.recovery_successes = 2;
        c.trial_ratio = 1.0;
    })
    .unwrap();
    // Its failures so far eject it at once (success rate, at the next pass);
    // after the cool-down its trials (every select offers one) succeed.
    for _ in 0..100 {
        if !healthy(&b, 3) {
            break;
        }
        cycle(&b, Outcome::Success, 10_000);
        clock.advance_ms(1);
    }
    assert!(!healthy(&b, 3), "ejected");
    clock.advance_ms(1_100);
    for _ in 0..100 {
        if healthy(&b, 3) {
            break;
        }
        cycle(&b, Outcome::Success, 10_000);
    }
    assert!(healthy(&b, 3), "recovered");
    let events = b.poll_events(100);
    let switches: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::StrategySwitched)
        .collect();
    assert_eq!(
        switches.len() as u64,
        b.stats().strategy_switches,
        "{switches:?}"
    );
    let first = switches.first().expect("a switch");
    assert_eq!(first.from, Some(Strategy::LeastConnections));
    assert_eq!(first.to, Some(Strategy::WeightedResponseTime));
    // The switch, the ejection and the recovery, in that order and in time.
    let at = |kind: EventKind| events.iter().position(|e| e.kind == kind).unwrap();
    let (switch, ejected, recovered) = (
        at(EventKind::StrategySwitched),
        at(EventKind::Ejected),
        at(EventKind::Recovered),
    );
    assert!(switch < ejected && ejected < recovered, "{events:?}");
    assert_eq!(events[ejected].instance_id, 3);
    assert_eq!(events[recovered].instance_id, 3);
    assert!(events.windows(2).all(|w| w[0].time_us <= w[1].time_us));
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_them() {
    let (b, clock) = manual(Config {
        max_ejection_ms: 1_000,
        ..health_cfg()
    });
    b.set_instances(&ids(3)).unwrap();
    // Each round: instance 1 is ejected, then recovers (two events).
    let rounds = EVENT_QUEUE_CAPACITY / 2 + 10;
    for _ in 0..rounds {
        fail(&b, 1, 3);
        clock.advance_ms(1_100);
        succeed_on(&b, 1, 2);
    }
    let dropped = b.stats().events_dropped;
    assert_eq!(dropped as usize, 2 * rounds - EVENT_QUEUE_CAPACITY);
    let events = b.poll_events(usize::MAX);
    assert_eq!(events.len(), EVENT_QUEUE_CAPACITY);
    // The oldest were dropped: the queue starts at round `dropped / 2`.
    assert_eq!(events[0].kind, EventKind::Ejected);
    assert_eq!(events.last().unwrap().kind, EventKind::Recovered);
    let first_time = events[0].time_us;
    assert!(first_time > 1_000_000 * (dropped / 2), "{first_time}");
}
