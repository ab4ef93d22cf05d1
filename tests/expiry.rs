//! Expiry at its edges, checked against the contract on `Config::pick_timeout_ms`:
//! a pick never expires less than one timeout after its select, and it has expired
//! at the first clock read at least one timeout after the first clock read at least
//! one timeout after its select; a late report is refused or counted once as its
//! outcome, never also as expired.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lb::{Balancer, Clock, Config, Error, Instance, ManualClock, Outcome, Pick};

/// A small deterministic generator for the schedules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Tracked {
    pick: Pick,
    selected_us: u64,
    /// Reported and accepted, or seen refused (expired).
    settled: bool,
}

/// Drives one balancer on a manual clock through a random schedule and checks every
/// observation against the contract. The harness knows exactly when lb reads the
/// clock (the rule on `Config::clock_refresh_ops`): every call counts down from
/// `clock_refresh_ops`; a select that brings the count to 0 or below reads the
/// clock (after choosing) and starts the count again; a report reads it first,
/// and starts the count again, only when the count is already at
/// 2 - `clock_refresh_ops` or below; `stats` reads it every time.
struct Harness {
    b: Balancer,
    clock: Arc<ManualClock>,
    timeout_us: u64,
    refresh_ops: u32,
    countdown: i64,
    reads: Vec<u64>,
    picks: Vec<Tracked>,
    accepted: u64,
    refused: u64,
}

impl Harness {
    fn new(timeout_ms: u64, refresh_ops: u32, instances: u64) -> Harness {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let cfg = Config {
            pick_timeout_ms: timeout_ms,
            clock_refresh_ops: refresh_ops,
            // Keep the health and weight passes out of the way of the reads the
            // harness counts (they read the clock at the same instant anyway).
            maintenance_interval_ms: 60_000,
            seed: 11,
            ..Config::default()
        };
        let b = Balancer::with_clock(cfg, clock.clone()).unwrap();
        b.set_instances(&(1..=instances).map(Instance::new).collect::<Vec<_>>())
            .unwrap();
        Harness {
            b,
            clock,
            timeout_us: timeout_ms * 1000,
            refresh_ops,
            countdown: refresh_ops as i64,
            reads: Vec::new(),
            picks: Vec::new(),
            accepted: 0,
            refused: 0,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_us()
    }

    /// Counts a select towards this thread's clock refresh.
    fn count_select(&mut self) {
        self.countdown -= 1;
        if self.countdown <= 0 {
            self.countdown = self.refresh_ops as i64;
            self.reads.push(self.now());
        }
    }

    /// Counts a report towards this thread's clock refresh.
    fn count_report(&mut self) {
        if self.countdown <= 2 - self.refresh_ops as i64 {
            self.countdown = self.refresh_ops as i64;
            self.reads.push(self.now());
        } else {
            self.countdown -= 1;
        }
    }

    /// The first clock read at or after `t`, if there was one.
    fn first_read_from(&self, t: u64) -> Option<u64> {
        self.reads.iter().copied().find(|&r| r >= t)
    }

    /// The latest time by which the contract says the pick has expired: the first
    /// read at least a timeout after the first read at least a timeout after the
    /// select (None while those reads have not happened).
    fn must_have_expired_at(&self, selected_us: u64) -> Option<u64> {
        let r1 = self.first_read_from(selected_us + self.timeout_us)?;
        self.first_read_from(r1 + self.timeout_us)
    }

    fn select(&mut self) {
        self.count_select();
        let pick = self.b.select().expect("unlimited capacity");
        let selected_us = self.now();
        self.picks.push(Tracked {
            pick,
            selected_us,
            settled: false,
        });
    }

    fn report(&mut self, k: usize) {
        if self.picks[k].settled {
            return;
        }
        self.count_report();
        let now = self.now();
        let (pick, selected_us) = (self.picks[k].pick, self.picks[k].selected_us);
        let result = self.b.report(&pick, Outcome::Success, 10);
        let age = now - selected_us;
        match result {
            Ok(()) => {
                if let Some(deadline) = self.must_have_expired_at(selected_us) {
                    assert!(
                        now < deadline,
                        "accepted a pick that had to be expired by {deadline} (now {now}, \
                         selected {selected_us}, timeout {})",
                        self.timeout_us
                    );
                }
                self.accepted += 1;
            }
            Err(Error::InvalidPick) => {
                assert!(
                    age >= self.timeout_us,
                    "refused a pick {age} us old (timeout {} us)",
                    self.timeout_us
                );
                self.refused += 1;
            }
            Err(e) => panic!("report: {e}"),
        }
        self.picks[k].settled = true;
    }

    /// Reads stats and checks the expired count against the contract's two bounds.
    fn observe(&mut self) {
        let s = self.b.stats();
        let now = self.now();
        self.reads.push(now);
        assert_eq!(
            s.total_requests,
            s.successes + s.failures + s.cancelled + s.in_flight,
            "{s:?}"
        );
        assert_eq!(s.successes, self.accepted, "a late report counted twice");
        let unsettled: Vec<u64> = self
            .picks
            .iter()
            .filter(|p| !p.settled)
            .map(|p| p.selected_us)
            .collect();
        assert_eq!(
            s.in_flight + s.expired,
            unsettled.len() as u64 + self.refused,
            "in flight + expired = picks never accepted"
        );
        // Refused picks are expired ones; of the rest, which may be expired by now?
        let may = unsettled
            .iter()
            .filter(|&&t| now >= t + self.timeout_us)
            .count() as u64;
        let must = unsettled
            .iter()
            .filter(|&&t| self.must_have_expired_at(t).is_some_and(|d| d <= now))
            .count() as u64;
        let expired_unsettled = s.expired - self.refused;
        assert!(
            must <= expired_unsettled && expired_unsettled <= may,
            "at {now}: {expired_unsettled} unreported picks expired, contract says \
             between {must} and {may}"
        );
    }

    fn advance(&mut self, us: u64) {
        self.clock.advance_us(us);
    }
}

fn run_schedule(seed: u64, timeout_ms: u64, refresh_ops: u32, steps: usize) {
    let mut rng = Rng(seed | 1);
    let mut h = Harness::new(timeout_ms, refresh_ops, 3);
    let t = h.timeout_us;
    for _ in 0..steps {
        match rng.below(100) {
            0..=34 => h.select(),
            35..=59 => {
                if !h.picks.is_empty() {
                    // Mostly recent picks (immediate reports), sometimes old ones.
                    let n = h.picks.len();
                    let k = if rng.below(4) == 0 {
                        rng.below(n as u64) as usize
                    } else {
                        n - 1 - rng.below(n.min(3) as u64) as usize
                    };
                    h.report(k);
                }
            }
            60..=67 => h.observe(),
            68..=94 => h.advance(rng.below(t / 3 + 1)),
            95..=97 => h.advance(t + rng.below(3 * t)),
            // Silence: long idle periods at and around multiples of 4096 timeouts.
            _ => {
                let k = [1, 2, 2047, 2048, 4095, 4096, 4097, 8192][rng.below(8) as usize];
                h.advance(k * t + rng.below(3) * (t / 2));
            }
        }
    }
    // Let everything expire: two timeouts with reads between them.
    for _ in 0..3 {
        h.advance(t);
        h.observe();
    }
    let s = h.b.stats();
    assert_eq!(s.in_flight, 0, "{s:?}");
}

#[test]
fn random_schedules_keep_the_expiry_contract() {
    for seed in 1..=40u64 {
        for (timeout_ms, refresh) in [(10, 1), (10, 16), (1, 3), (50, 16), (7, 5)] {
            run_schedule(seed * 7919, timeout_ms, refresh, 600);
        }
    }
}

#[test]
fn one_request_per_interval_never_expires_early_or_counts_twice() {
    for (timeout_ms, gap_us) in [(50, 150_000), (1_000, 300_000), (50, 50_000), (1, 999)] {
        for refresh in [1, 16] {
            let mut h = Harness::new(timeout_ms, refresh, 2);
            for i in 0..40 {
                h.advance(gap_us);
                h.select();
                h.advance(1);
                h.report(i);
                if i % 5 == 0 {
                    h.observe();
                }
            }
            assert_eq!((h.accepted, h.refused), (40, 0));
        }
    }
}

#[test]
fn picks_made_before_silence_and_just_after_it_expire_apart() {
    // Timeout 50 ms: 10 picks, 200 ms of silence, one fresh pick. The fresh pick is
    // never counted with the old ones; they expire, it is reported.
    let mut h = Harness::new(50, 16, 2);
    for _ in 0..10 {
        h.select();
    }
    h.advance(200_000);
    h.select();
    h.observe();
    h.report(10);
    h.advance(50_000);
    h.observe();
    let s = h.b.stats();
    assert_eq!((s.expired, s.successes, s.in_flight), (10, 1, 0));
}

/// Real clock, many threads: picks reported at random delays around the timeout.
/// Every refused report is at least a timeout old, and in the end each pick counts
/// exactly once, as its outcome or as expired.
#[test]
fn many_threads_on_the_real_clock_keep_the_contract() {
    let timeout = Duration::from_millis(20);
    let b = Arc::new(
        Balancer::new(Config {
            pick_timeout_ms: timeout.as_millis() as u64,
            clock_refresh_ops: 4,
            seed: 5,
            ..Config::default()
        })
        .unwrap(),
    );
    b.set_instances(&(1..=4).map(Instance::new).collect::<Vec<_>>())
        .unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9 * (t + 1));
                let (mut accepted, mut refused) = (0u64, 0u64);
                for _ in 0..150 {
                    let pick = b.select().unwrap();
                    let start = Instant::now();
                    let delay = match rng.below(3) {
                        0 => Duration::ZERO,
                        1 => Duration::from_micros(rng.below(30_000)),
                        _ => Duration::from_micros(rng.below(60_000)),
                    };
                    std::thread::sleep(delay);
                    let age = start.elapsed();
                    match b.report(&pick, Outcome::Success, 1) {
                        Ok(()) => accepted += 1,
                        Err(Error::InvalidPick) => {
                            assert!(age >= timeout, "refused a pick {age:?} old");
                            refused += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                (accepted, refused)
            })
        })
        .collect();
    let (mut accepted, mut refused) = (0, 0);
    for t in threads {
        let (a, r) = t.join().unwrap();
        accepted += a;
        refused += r;
    }
    // Two whole timeouts with reads in between settle every expiry.
    for _ in 0..3 {
        std::thread::sleep(timeout + Duration::from_millis(2));
        let _ = b.stats();
    }
    let s = b.stats();
    assert_eq!(s.successes, accepted);
    assert_eq!(s.expired, refused, "{s:?}");
    assert_eq!((s.in_flight, s.total_requests), (0, 600));
}
