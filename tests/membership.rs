//! Set replacement with picks in flight, expiry, exclusion, the guard, bad input.
mod common;

use common::*;
use lb::{Balancer, Config, Error, Instance, Outcome, Pick, Strategy};

#[test]
fn an_id_that_stays_keeps_its_state_and_a_removed_one_returns_new() {
    let (b, _) = manual(Config::default());
    b.set_instances(&ids(3)).unwrap();
    for _ in 0..30 {
        cycle(&b, Outcome::Success, 100);
    }
    b.set_instances(&[Instance::new(1), Instance::new(2).weight(4)])
        .unwrap();
    let h2 = b.health(2).unwrap();
    assert_eq!((h2.successes, h2.weight), (10, 4), "id 2 keeps its state");
    assert_eq!(b.health(3), Err(Error::UnknownInstance(3)));
    b.set_instances(&ids(3)).unwrap();
    assert_eq!(
        b.health(3).unwrap().requests,
        0,
        "a removed id comes back new"
    );
    assert_eq!(settled(&b).successes, 30, "totals never shrink");
}

#[test]
fn report_of_a_removed_instance_counts_in_totals_only() {
    let (b, _) = manual(Config::default());
    b.set_instances(&[Instance::new(7)]).unwrap();
    let pick = b.select().unwrap();
    b.set_instances(&[Instance::new(8)]).unwrap();
    b.report(&pick, Outcome::Failure, 100).unwrap();
    let s = settled(&b);
    assert_eq!((s.failures, s.in_flight, s.total_requests), (1, 0, 1));
    assert_eq!(b.health(8).unwrap().requests, 0);
    assert_eq!(
        b.report(&pick, Outcome::Failure, 100),
        Err(Error::InvalidPick),
        "second report"
    );
}

#[test]
fn report_after_remove_and_readd_never_lands_on_the_new_instance() {
    let (b, _) = manual(Config::default());
    b.set_instances(&ids(2)).unwrap();
    let picks = select_n(&b, 2);
    let on1 = picks
        .iter()
        .find(|p| p.instance_id() == 1)
        .copied()
        .unwrap();
    b.remove_instance(1).unwrap();
    b.add_instance(Instance::new(1)).unwrap();
    let fresh = b.health(1).unwrap();
    assert_eq!((fresh.requests, fresh.in_flight), (0, 0));
    b.report(&on1, Outcome::Success, 100).unwrap();
    let after = b.health(1).unwrap();
    assert_eq!(
        (after.successes, after.in_flight),
        (0, 0),
        "old pick landed on the new instance"
    );
    for p in picks.iter().filter(|p| p.instance_id() != 1) {
        b.report(p, Outcome::Success, 100).unwrap();
    }
    let s = settled(&b);
    assert_eq!((s.successes, s.in_flight), (2, 0));
}

#[test]
fn unreported_picks_expire_and_their_late_report_is_refused() {
    let (b, clock) = manual(Config {
        pick_timeout_ms: 1_000,
        ..Config::default()
    });
    b.set_instances(&ids(2)).unwrap();
    let lost = b.select().unwrap();
    clock.advance_ms(500);
    let kept = b.select().unwrap();
    clock.advance_ms(1_600); // `lost` is 2.1 s old, `kept` 1.6 s
                             // This read is the first one a whole timeout after the expiry clock started:
                             // it steps the clock once, and nothing expires yet (a pick may have been made
                             // just before it).
    let s = settled(&b);
    assert_eq!((s.expired, s.in_flight), (0, 2), "{s:?}");
    clock.advance_ms(999);
    assert_eq!(settled(&b).expired, 0, "less than a timeout after the step");
    clock.advance_ms(1);
    let s = settled(&b);
    assert_eq!(
        (s.expired, s.cancelled, s.in_flight, s.successes),
        (2, 2, 0, 0)
    );
    assert_eq!(
        b.report(&lost, Outcome::Success, 10),
        Err(Error::InvalidPick)
    );
    assert_eq!(
        b.report(&kept, Outcome::Success, 10),
        Err(Error::InvalidPick)
    );
    for h in b.all_health() {
        assert_eq!(h.in_flight, 0);
    }
}

#[test]
fn zero_timeout_never_expires() {
    let (b, clock) = manual(Config {
        pick_timeout_ms: 0,
        ..Config::default()
    });
    b.set_instances(&ids(1)).unwrap();
    let p = b.select().unwrap();
    clock.advance_ms(10_000_000);
    assert_eq!(settled(&b).expired, 0);
    b.report(&p, Outcome::Success, 1).unwrap();
}

#[test]
fn shortening_the_timeout_does_not_expire_young_picks() {
    let (b, clock) = manual(Config::default());
    b.set_instances(&ids(1)).unwrap();
    clock.advance_ms(60_000);
    let p = b.select().unwrap();
    b.set_config(Config {
        pick_timeout_ms: 1_000,
        ..b.config()
    })
    .unwrap();
    clock.advance_ms(900);
    assert_eq!(settled(&b).expired, 0);
    b.report(&p, Outcome::Success, 1).unwrap();
}

#[test]
fn exclusion_avoids_ids_while_others_are_selectable() {
    for s in Strategy::ALL {
        let (b, _) = manual(Config {
            strategy: s,
            ..Config::default()
        });
        b.set_instances(&ids(3)).unwrap();
        for _ in 0..50 {
            let p = b.select_excluding(&[1, 2]).unwrap();
            assert_eq!(p.instance_id(), 3, "{s:?}");
            b.report(&p, Outcome::Success, 10).unwrap();
        }
        // Everything excluded: selects as select would.
        let p = b.select_excluding(&[1, 2, 3]).unwrap();
        b.report(&p, Outcome::Success, 10).unwrap();
    }
}

#[test]
fn guard_reports_cancelled_when_dropped() {
    let (b, _) = manual(Config::default());
    b.set_instances(&ids(2)).unwrap();
    {
        let g = b.select_guarded().unwrap();
        assert!(g.instance_id() == 1 || g.instance_id() == 2);
    }
    let g = b.select_guarded().unwrap();
    g.report(Outcome::Success, 5).unwrap();
    let s = settled(&b);
    assert_eq!((s.cancelled, s.successes, s.in_flight), (1, 1, 0));
}

#[test]
fn picks_cross_threads_as_plain_tokens() {
    let b = std::sync::Arc::new(Balancer::new(Config::default()).unwrap());
    b.set_instances(&ids(4)).unwrap();
    let picks: Vec<Pick> = (0..100).map(|_| b.select().unwrap()).collect();
    let b2 = b.clone();
    std::thread::spawn(move || {
        for p in picks {
            b2.report(&p, Outcome::Success, 10).unwrap();
        }
    })
    .join()
    .unwrap();
    assert_eq!(settled(&b).successes, 100);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let (b, _) = manual(Config::default());
    assert_eq!(b.select(), Err(Error::NoInstance), "empty set");
    b.set_instances(&ids(3)).unwrap();
    let held = b.select().unwrap();
    let before = (b.all_health(), b.config());

    assert!(matches!(
        b.set_instances(&[Instance::new(1), Instance::new(2).weight(0)]),
        Err(Error::InvalidArgument {
            field: "weight",
            ..
        })
    ));
    assert_eq!(
        b.set_instances(&[Instance::new(1), Instance::new(1)]),
        Err(Error::DuplicateInstance(1))
    );
    assert_eq!(
        b.add_instance(Instance::new(2)),
        Err(Error::DuplicateInstance(2))
    );
    assert!(b.add_instance(Instance::new(9).weight(0)).is_err());
    assert_eq!(b.remove_instance(42), Err(Error::UnknownInstance(42)));
    assert!(b.set_weight(1, 0).is_err());
    assert_eq!(b.set_weight(42, 1), Err(Error::UnknownInstance(42)));
    for score in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.01, 1.01] {
        assert!(matches!(
            b.set_health_score(1, score),
            Err(Error::InvalidArgument { field: "score", .. })
        ));
    }
    assert_eq!(b.set_health_score(42, 0.5), Err(Error::UnknownInstance(42)));
    assert!(b
        .set_config(Config {
            panic_threshold: f64::NAN,
            ..Config::default()
        })
        .is_err());
    assert!(Balancer::new(Config {
        latency_tau_ms: -1.0,
        ..Config::default()
    })
    .is_err());

    // Forged, corrupted, foreign picks.
    let mut raw = held.to_raw();
    let zero = Pick::from_raw([0; 4]);
    raw[2] ^= 1 << 40;
    let flipped = Pick::from_raw(raw);
    let mut raw = held.to_raw();
    raw[0] = 3;
    let renamed = Pick::from_raw(raw);
    let other = Balancer::new(Config::default()).unwrap();
    other.set_instances(&ids(3)).unwrap();
    let foreign = other.select().unwrap();
    for p in [zero, flipped, renamed, foreign] {
        assert_eq!(
            b.report(&p, Outcome::Success, 1),
            Err(Error::InvalidPick),
            "{p:?}"
        );
    }

    let after = (b.all_health(), b.config());
    assert_eq!(before, after, "bad input changed the balancer");
    b.report(&held, Outcome::Success, 1).unwrap();
    assert_eq!(
        b.report(&held, Outcome::Success, 1),
        Err(Error::InvalidPick)
    );
    let s = settled(&b);
    assert_eq!((s.total_requests, s.successes, s.in_flight), (1, 1, 0));
}

#[test]
fn double_report_with_other_picks_in_flight_keeps_the_identity() {
    let (b, _) = manual(Config::default());
    b.set_instances(&ids(1)).unwrap();
    let picks = select_n(&b, 3);
    b.report(&picks[0], Outcome::Success, 1).unwrap();
    // Undetectable duplicate: it consumes another pick's slot instead...
    b.report(&picks[0], Outcome::Success, 1).unwrap();
    b.report(&picks[1], Outcome::Success, 1).unwrap();
    // ...so a later genuine report is refused, and nothing goes below zero.
    assert_eq!(
        b.report(&picks[2], Outcome::Success, 1),
        Err(Error::InvalidPick)
    );
    let s = settled(&b);
    assert_eq!((s.in_flight, s.total_requests), (0, 3));
}
