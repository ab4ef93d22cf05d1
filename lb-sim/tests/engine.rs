//! The queueing model and the engine's handling of timeouts, failures and
//! events, through the library with the real balancer.

use lb_sim::scenario::parse;
use lb_sim::{run_all, run_one, suite};

/// M/G/1 at 50% utilisation: the mean wait in the queue over a long run is
/// within 5% of Pollaczek-Khinchine, Wq = lambda E[S^2] / (2 (1 - rho)).
#[test]
fn one_server_queue_matches_pollaczek_khinchine() {
    let median = 10.0;
    let p99 = 30.0;
    let text_for = |rate: f64| {
        format!(
            "name = \"mg1\"\nseed = 11\nduration_s = 10000.0\nwarmup_s = 100.0\nrate_rps = {rate}\n\
             strategies = [\"round_robin\"]\n\
             [[backends]]\nconcurrency = 1\nlatency_ms = {{ median = {median}, p99 = {p99} }}\n"
        )
    };
    // The scenario's own latency model gives E[S] and E[S^2].
    let probe = parse("mg1.toml", &text_for(1.0)).unwrap();
    let lat = probe.backends[0].latency;
    let es_ms = lat.mean_ms();
    let es2_ms2 = lat.second_moment_ms2();
    let rho = 0.5;
    let lambda_per_ms = rho / es_ms;
    let sc = parse("mg1.toml", &text_for(lambda_per_ms * 1000.0)).unwrap();
    let r = run_one(&sc, "round_robin");
    let wq = lambda_per_ms * es2_ms2 / (2.0 * (1.0 - rho));
    let err = (r.mean_wait_ms - wq).abs() / wq;
    eprintln!(
        "M/G/1 rho 0.5: {} requests, mean wait {:.4} ms, Pollaczek-Khinchine {:.4} ms",
        r.requests, r.mean_wait_ms, wq
    );
    assert!(
        r.requests > 400_000,
        "a long run: {} requests measured",
        r.requests
    );
    assert!(
        err < 0.05,
        "mean wait {:.4} ms vs Pollaczek-Khinchine {:.4} ms ({:.2}% off)",
        r.mean_wait_ms,
        wq,
        err * 100.0
    );
    // The sojourn time is wait plus service.
    let sojourn = r.latency_ms.mean;
    assert!(
        ((sojourn - (wq + es_ms)) / (wq + es_ms)).abs() < 0.05,
        "mean latency {sojourn:.4} vs W = Wq + E[S] = {:.4}",
        wq + es_ms
    );
    assert_eq!(r.successes, r.requests);
}

#[test]
fn a_caller_gives_up_at_the_timeout_and_the_server_stays_busy() {
    // One server, every request takes exactly 100 ms, 20 arrive per second:
    // the server can do 10, so the queue grows and most requests time out.
    let text = "name = \"to\"\nseed = 2\nduration_s = 20.0\nrate_rps = 20.0\ntimeout_ms = 250.0\n\
                [[backends]]\nlatency_ms = { median = 100.0, p99 = 100.0 }\n";
    let sc = parse("to.toml", text).unwrap();
    let r = run_one(&sc, "round_robin");
    assert!(r.requests > 300);
    assert_eq!(r.successes + r.failures, r.requests);
    assert_eq!(
        r.latency_ms.max, 250.0,
        "a timed-out request counts its timeout"
    );
    // Timed-out requests still occupy the server, so at most about 10 per
    // second can succeed, over 20 s.
    assert!(r.successes <= 205, "successes {}", r.successes);
    assert!(r.failures > r.requests / 3, "failures {}", r.failures);
    // Every success took at least its 100 ms of service.
    assert!(r.latency_ms.p50 >= 100.0);
}

#[test]
fn failing_requests_take_the_error_latency() {
    let text = "name = \"err\"\nseed = 4\nduration_s = 30.0\nrate_rps = 50.0\n\
                [[backends]]\nconcurrency = 100\nlatency_ms = { median = 20.0, p99 = 20.0 }\n\
                error_rate = 0.25\nerror_latency_ms = 2.0\n";
    let sc = parse("err.toml", text).unwrap();
    let r = run_one(&sc, "round_robin");
    let fail_frac = r.failures as f64 / r.requests as f64;
    assert!(
        (fail_frac - 0.25).abs() < 0.02,
        "failure fraction {fail_frac}"
    );
    // No queueing with 100 servers: latencies are exactly 2 ms or 20 ms.
    assert_eq!(r.latency_ms.max, 20.0);
    assert_eq!(r.latency_ms.p50, 20.0);
    assert!(r.latency_ms.mean > 14.0 && r.latency_ms.mean < 16.0);
}

#[test]
fn removed_and_added_backends() {
    // Two backends; backend 1 leaves at 10 s, backend 2 joins at 15 s; the
    // run lasts 20 s. Under round robin without slow start backend 1 gets half of
    // the first 10 s (25%), backend 2 half of the last 5 s (12.5%).
    let text = "name = \"churn\"\nseed = 5\nduration_s = 20.0\nrate_rps = 200.0\n\
                [[backends]]\ncount = 2\nconcurrency = 8\nlatency_ms = { median = 5.0, p99 = 10.0 }\n\
                [[events]]\nat_s = 10.0\nbackend = 1\naction = \"remove\"\n\
                [[events]]\nat_s = 15.0\naction = \"add\"\nbackend_def = { concurrency = 8, latency_ms = { median = 5.0, p99 = 10.0 } }\n\
                [[events]]\nat_s = 16.0\nbackend = 2\nweight = 2\n";
    let sc = parse("churn.toml", text).unwrap();
    assert_eq!(sc.total_backends(), 3);
    let r = run_one(&sc, "round_robin slow_start_window_ms=0");
    assert_eq!(r.share.len(), 3);
    assert_eq!(
        r.successes, r.requests,
        "queued work of a removed backend still finishes"
    );
    assert!((r.share[1] - 0.25).abs() < 0.02, "share {:?}", r.share);
    assert!(
        r.share[2] > 0.10 && r.share[2] < 0.25,
        "share {:?}",
        r.share
    );
    let total: f64 = r.share.iter().sum();
    assert!((total - 1.0).abs() < 1e-9);
    // With a 10 s slow start backend 2 ramps from 10% of its weight at 15 s to
    // 60% at 20 s: its share of those 5 s is about 35/135 of it, not half.
    let slow = run_one(&sc, "round_robin slow_start_window_ms=10000");
    assert!(
        slow.share[2] < r.share[2] * 0.8 && slow.share[2] > 0.02,
        "with slow start {:?}, without {:?}",
        slow.share,
        r.share
    );
}

#[test]
fn results_do_not_depend_on_threads() {
    let s = suite().unwrap();
    // Two short scenarios, all strategies.
    let pick: Vec<_> = s
        .into_iter()
        .filter(|sc| sc.file.contains("02-") || sc.file.contains("06-"))
        .collect();
    assert_eq!(pick.len(), 2);
    let a = run_all(&pick, None, 1);
    let b = run_all(&pick, None, 2);
    assert_eq!(a, b);
    assert_eq!(lb_sim::report::to_json(&a), lb_sim::report::to_json(&b));
}

use lb_sim::balancer::Lb;
use lb_sim::keys::{lb_key, KeySampler};
use lb_sim::rng::{Purpose, Stream};
use lb_sim::scenario::{KeyDistribution, Keys};

/// Draw `n` key ids and count them by id.
fn key_counts(keys: Keys, seed: u64, n: usize) -> Vec<u64> {
    let sampler = KeySampler::new(&keys);
    let mut stream = Stream::new(seed, Purpose::Keys);
    let mut counts = vec![0u64; keys.count as usize];
    for _ in 0..n {
        counts[sampler.draw(&mut stream) as usize] += 1;
    }
    counts
}

#[test]
fn uniform_keys_spread_over_the_whole_count() {
    let keys = Keys {
        count: 100,
        distribution: KeyDistribution::Uniform,
    };
    let n = 200_000;
    let counts = key_counts(keys, 3, n);
    let expect = n as f64 / 100.0;
    // Binomial sd is about 44 at 2000: 10% is over 4 sd.
    for (id, &c) in counts.iter().enumerate() {
        assert!(
            (c as f64 - expect).abs() < expect * 0.1,
            "id {id} drawn {c} times, expected about {expect}"
        );
    }
    // One key: always id 0.
    let one = Keys {
        count: 1,
        distribution: KeyDistribution::Uniform,
    };
    assert_eq!(key_counts(one, 3, 1000), [1000]);
}

#[test]
fn zipf_draws_the_first_key_most_at_about_one_over_h() {
    let (count, s) = (10_000u64, 1.1);
    let keys = Keys {
        count,
        distribution: KeyDistribution::Zipf { s },
    };
    let h: f64 = (1..=count).map(|k| (k as f64).powf(-s)).sum();
    let sampler = KeySampler::new(&keys);
    assert!((sampler.probability(0) - 1.0 / h).abs() < 1e-12);
    let total: f64 = (0..count).map(|k| sampler.probability(k)).sum();
    assert!((total - 1.0).abs() < 1e-9, "probabilities sum to {total}");

    let n = 400_000;
    let counts = key_counts(keys, 5, n);
    let first = counts[0] as f64 / n as f64;
    assert!(
        (first - 1.0 / h).abs() < 0.02 / h,
        "key 0 drew {first}, 1/H(count, s) is {}",
        1.0 / h
    );
    assert_eq!(
        counts.iter().max(),
        Some(&counts[0]),
        "key 0 is the most frequent"
    );
    assert!(counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > counts[9]);
    // P(1) / P(0) = 2^-s.
    let ratio = counts[1] as f64 / counts[0] as f64;
    assert!((ratio - 2f64.powf(-s)).abs() < 0.02, "ratio {ratio}");
    // The upper half of the ids, each about 1e-5 likely or less, is reached
    // as often as it should be.
    let tail: u64 = counts[count as usize / 2..].iter().sum();
    let want: f64 = (count / 2..count).map(|k| sampler.probability(k)).sum();
    assert!(
        ((tail as f64 / n as f64) - want).abs() < want * 0.05,
        "upper half drew {tail}, expected about {}",
        want * n as f64
    );
}

#[test]
fn key_draws_repeat_for_a_seed() {
    let keys = Keys {
        count: 1000,
        distribution: KeyDistribution::Zipf { s: 0.8 },
    };
    assert_eq!(key_counts(keys, 9, 5000), key_counts(keys, 9, 5000));
    assert_ne!(key_counts(keys, 9, 5000), key_counts(keys, 10, 5000));
}

/// A balancer for the engine's own tests: round robin over the ids it has; with
/// `by_key`, keyed selects go to `key % n` instead.
struct TestLb {
    ids: Vec<u64>,
    next: usize,
    by_key: bool,
}

impl TestLb {
    fn new(n: u64, by_key: bool) -> TestLb {
        TestLb {
            ids: (0..n).collect(),
            next: 0,
            by_key,
        }
    }
}

impl Lb for TestLb {
    type Pick = ();

    fn select(&mut self, _now_us: u64) -> Option<(u64, ())> {
        let id = *self.ids.get(self.next % self.ids.len().max(1))?;
        self.next += 1;
        Some((id, ()))
    }

    fn select_key(&mut self, now_us: u64, key: u64) -> Option<(u64, ())> {
        if !self.by_key {
            return self.select(now_us);
        }
        Some((self.ids[(key % self.ids.len() as u64) as usize], ()))
    }

    fn report(&mut self, _: u64, _: (), _: bool, _: u64) {}
    fn add_backend(&mut self, _: u64, id: u64, _: u32, _: u32) {
        self.ids.push(id);
    }
    fn remove_backend(&mut self, _: u64, id: u64) {
        self.ids.retain(|&i| i != id);
    }
    fn set_weight(&mut self, _: u64, _: u64, _: u32) {}
}

const KEYED: &str =
    "name = \"keyed\"\nseed = 6\nduration_s = 20.0\nwarmup_s = 2.0\nrate_rps = 500.0\n\
     keys = { count = 2000, distribution = \"zipf\", s = 1.1 }\n\
     [[backends]]\ncount = 4\nconcurrency = 4\nlatency_ms = { median = 5.0, p99 = 20.0 }\n";

/// Keys come from a stream of their own: a balancer that ignores them sees the
/// same run as without keys, and only the affinity is added.
#[test]
fn keys_leave_the_other_draws_alone() {
    let keyed = parse("k.toml", KEYED).unwrap();
    let mut plain = keyed.clone();
    plain.keys = None;
    let with = lb_sim::engine::simulate(&keyed, TestLb::new(4, false), "test");
    let without = lb_sim::engine::simulate(&plain, TestLb::new(4, false), "test");
    assert_eq!(without.affinity, None);
    let a = with.affinity.expect("a keyed run has an affinity");
    assert!(a > 0.0 && a < 0.6, "round robin's affinity {a}");
    assert_eq!(
        lb_sim::RunResult {
            affinity: None,
            ..with
        },
        without
    );
}

/// A balancer that sends each key to one backend has affinity 1; the busiest
/// backend is the one the hottest key's hash lands on.
#[test]
fn a_balancer_that_follows_the_key_has_affinity_one() {
    let sc = parse("k.toml", KEYED).unwrap();
    let r = lb_sim::engine::simulate(&sc, TestLb::new(4, true), "test");
    assert_eq!(r.affinity, Some(1.0));
    let hot = (lb_key(0) % 4) as usize;
    let busiest = r.share.iter().copied().fold(0.0, f64::max);
    assert_eq!(r.share[hot], busiest, "share {:?}", r.share);
    assert_eq!(lb_sim::report::busiest_share(&r), busiest);
}

/// A keyed scenario without its own list runs the hashing strategies too; one
/// without keys leaves them out.
#[test]
fn keyed_scenarios_run_the_hashing_strategies_by_default() {
    let keyed = parse("k.toml", KEYED).unwrap();
    let mut plain = keyed.clone();
    plain.keys = None;
    let all = lb_sim::strategies_for(&keyed, None);
    assert!(all.iter().any(|s| s == "maglev") && all.iter().any(|s| s == "ring_hash"));
    let plain_list = lb_sim::strategies_for(&plain, None);
    assert!(!plain_list.iter().any(|s| s == "maglev" || s == "ring_hash"));
    assert_eq!(all.len(), plain_list.len() + 2);
}

#[test]
fn keys_parse_into_the_scenario() {
    let sc = parse("k.toml", KEYED).unwrap();
    assert_eq!(
        sc.keys,
        Some(Keys {
            count: 2000,
            distribution: KeyDistribution::Zipf { s: 1.1 }
        })
    );
    let u = parse(
        "u.toml",
        &KEYED.replace(
            "{ count = 2000, distribution = \"zipf\", s = 1.1 }",
            "{ count = 5000, distribution = \"uniform\" }",
        ),
    )
    .unwrap();
    assert_eq!(
        u.keys,
        Some(Keys {
            count: 5000,
            distribution: KeyDistribution::Uniform
        })
    );
}
