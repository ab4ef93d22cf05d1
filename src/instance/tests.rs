//! One instance's counting: slots, settles, expiry, capacity.

use super::*;

const NONE: LatencyDecay = LatencyDecay {
    tau_us: 1e9,
    step_us: u64::MAX,
    peak_tau_us: 1e9,
};

fn settle(s: &InstanceState, e: u32, outcome: Outcome) -> Option<Settled> {
    s.settle(e, outcome, 100, 0, &NONE, || 0.0)
}

#[test]
fn acquire_and_settle_balance_and_refuse_extra_reports() {
    let s = InstanceState::new(1, 1, 7, 0, 0, 30_000.0);
    let e = s.try_acquire(0, pick_limit(0)).unwrap();
    assert_eq!(s.in_flight(), 1);
    assert_eq!(settle(&s, e, Outcome::Success), Some(Settled::Success));
    assert_eq!(
        settle(&s, e, Outcome::Success),
        None,
        "a second report of the same slot must be refused"
    );
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.counts().successes, 1);
}

#[test]
fn successes_fold_from_the_word_into_the_counter_without_loss() {
    let s = InstanceState::new(1, 1, 7, 0, 0, 30_000.0);
    let n = 3 * 4096 + 7;
    for _ in 0..n {
        let e = s.try_acquire(0, pick_limit(0)).unwrap();
        assert!(settle(&s, e, Outcome::Success).is_some());
    }
    let c = s.counts();
    assert_eq!((c.successes, c.in_flight), (n, 0));
    let e = s.try_acquire(0, pick_limit(0)).unwrap();
    assert_eq!(settle(&s, e, Outcome::Failure), Some(Settled::Failure(1)));
    assert_eq!(
        s.counts().successes,
        n,
        "a failure does not count as a success"
    );
}

#[test]
fn capacity_is_a_hard_limit() {
    let s = InstanceState::new(1, 1, 7, 0, 0, 30_000.0);
    assert!(s.try_acquire(0, pick_limit(2)).is_ok());
    assert!(s.try_acquire(0, pick_limit(2)).is_ok());
    assert_eq!(s.try_acquire(0, pick_limit(2)), Err(Full::Capacity));
}

#[test]
fn picks_two_epochs_old_expire_once() {
    let s = InstanceState::new(1, 1, 7, 0, 0, 30_000.0);
    let e0 = s.try_acquire(0, pick_limit(0)).unwrap();
    let e1 = s.try_acquire(1, pick_limit(0)).unwrap();
    assert_eq!(s.in_flight(), 2);
    s.expire_to(2);
    assert_eq!(s.counts().expired, 1);
    assert_eq!(s.in_flight(), 1);
    assert_eq!(
        settle(&s, e0, Outcome::Cancelled),
        None,
        "expired pick must not be released"
    );
    assert!(settle(&s, e1, Outcome::Cancelled).is_some());
    s.expire_to(3);
    s.expire_to(3);
    assert_eq!(s.counts().expired, 1);
    assert_eq!(s.counts().cancelled, 1);
}
