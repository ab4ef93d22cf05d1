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
