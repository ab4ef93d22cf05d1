//! The bundled suite: every file in scenarios/ is bundled and parses, the
//! scenarios load the fleet the way the issue asks, and the goals the
//! balancer already meets stay met.

use lb_sim::scenario::Scenario;
use lb_sim::{run_one, suite, SUITE};

fn find(name_part: &str) -> Scenario {
    suite()
        .unwrap()
        .into_iter()
        .find(|s| s.file.contains(name_part))
        .unwrap_or_else(|| panic!("no bundled scenario {name_part}"))
}

#[test]
fn every_scenario_file_is_bundled_and_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| format!("scenarios/{n}"))
        .collect();
    on_disk.sort();
    let bundled: Vec<String> = SUITE.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(on_disk, bundled);
    assert_eq!(suite().unwrap().len(), 11);
}

/// Utilisation of backend `i` at `rate` requests per second.
fn utilisation(sc: &Scenario, i: usize, rate: f64) -> f64 {
    let b = &sc.backends[i];
    rate * b.latency.mean_ms() / 1000.0 / b.concurrency as f64
}

fn fleet_capacity_rps(sc: &Scenario) -> f64 {
    sc.backends
        .iter()
        .map(|b| b.concurrency as f64 / (b.latency.mean_ms() / 1000.0))
        .sum()
}

#[test]
fn an_equal_share_loads_the_slow_backend_near_capacity_while_the_fleet_has_room() {
    let sc = find("02-");
    let n = sc.backends.len() as f64;
    let u = utilisation(&sc, 4, sc.rate_rps / n);
    assert!((0.85..1.0).contains(&u), "utilisation {u}");
    assert!(sc.rate_rps / fleet_capacity_rps(&sc) < 0.5);

    // The degrading backend, with its degraded latency.
    let mut sc = find("04-");
    let lb_sim::scenario::EventKind::Change { change, .. } = &sc.events[0].kind else {
        panic!("04 starts with a change")
    };
    sc.backends[2].latency = change.latency.unwrap();
    let n = sc.backends.len() as f64;
    let u = utilisation(&sc, 2, sc.rate_rps / n);
    assert!((0.85..1.0).contains(&u), "utilisation {u}");
    assert!(sc.rate_rps / fleet_capacity_rps(&sc) < 0.5);
}

/// Weighted response time keeps a slow backend from setting the tail: its p99 is at
/// most half of round robin's in the slow-backend and degrading scenarios.
#[test]
fn weighted_response_time_halves_round_robins_tail_on_a_slow_backend() {
    for name in ["02-", "04-"] {
        let sc = find(name);
        let rr = run_one(&sc, "round_robin").latency_ms.p99;
        let wrt = run_one(&sc, "weighted_response_time").latency_ms.p99;
        assert!(wrt <= rr / 2.0, "{name}: wrt p99 {wrt} vs round robin {rr}");
    }
}

/// Every concrete strategy lb has (all but adaptive).
fn concrete() -> Vec<&'static str> {
    lb::Strategy::ALL
        .iter()
        .filter(|&&s| s != lb::Strategy::Adaptive)
        .map(|s| s.name())
        .collect()
}

/// Adaptive's p99 is within 5% of the best other strategy's, and its success rate
/// within 0.5 points of the best, in every bundled scenario.
#[test]
fn adaptive_stays_close_to_the_best_strategy_everywhere() {
    for sc in suite().unwrap() {
        let others: Vec<_> = concrete().iter().map(|s| run_one(&sc, s)).collect();
        let ad = run_one(&sc, "adaptive");
        let best_rate = others.iter().map(|r| r.success_rate).fold(0.0, f64::max);
        let best_p99 = others
            .iter()
            .filter(|r| r.success_rate >= best_rate - 0.005)
            .map(|r| r.latency_ms.p99)
            .fold(f64::INFINITY, f64::min);
        assert!(
            ad.latency_ms.p99 <= best_p99 * 1.05,
            "{}: adaptive p99 {} vs best {best_p99}",
            sc.name,
            ad.latency_ms.p99
        );
        assert!(
            ad.success_rate >= best_rate - 0.005,
            "{}: adaptive success {}",
            sc.name,
            ad.success_rate
        );
    }
}

#[test]
fn the_heterogeneous_fleet_runs_at_90_percent() {
    let sc = find("05-");
    let load = sc.rate_rps / fleet_capacity_rps(&sc);
    assert!((load - 0.9).abs() < 0.01, "load {load}");
}

/// Least connections, weighted response time and adaptive send the
/// fast-failing backend under 2% of requests and lose under 0.5% of them.
#[test]
fn load_aware_strategies_avoid_the_fast_failing_backend() {
    let sc = find("03-");
    let failing = sc.backends.len() - 1;
    assert_eq!(sc.backends[failing].error_rate, 0.5);
    for s in ["least_connections", "weighted_response_time", "adaptive"] {
        let r = run_one(&sc, s);
        assert!(
            r.share[failing] < 0.02,
            "{s}: share {:.4}",
            r.share[failing]
        );
        assert!(
            1.0 - r.success_rate < 0.005,
            "{s}: lost {:.4}",
            1.0 - r.success_rate
        );
    }
}

/// Where a backend degrades (04), one run's p99 moves by a few milliseconds with
/// the seed (over seeds 4-23, weighted response time's spans 43.37-46.16 ms, Peak
/// EWMA's 42.58-47.96), so one seed can put any of the three latency-aware
/// strategies first. Averaged over those 20 seeds: weighted response time
/// 44.35 ms, adaptive 44.64 (+0.7%), Peak EWMA 45.37. Averaged over the seeds,
/// adaptive stays within 5% of every strategy.
#[test]
fn adaptive_is_within_5_percent_of_the_best_averaged_over_seeds_when_a_backend_degrades() {
    let base = find("04-");
    const SEEDS: u64 = 20;
    let mean_p99 = |strategy: &str| -> f64 {
        (0..SEEDS)
            .map(|k| {
                let mut sc = base.clone();
                sc.seed = base.seed + k;
                run_one(&sc, strategy).latency_ms.p99
            })
            .sum::<f64>()
            / SEEDS as f64
    };
    let (best, best_p99) = concrete()
        .into_iter()
        .map(|s| (s, mean_p99(s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let ad = mean_p99("adaptive");
    assert!(
        ad <= best_p99 * 1.05,
        "adaptive's mean p99 {ad:.2} ms vs {best} {best_p99:.2} ms over {SEEDS} seeds"
    );
}

/// At 90% load on a heterogeneous fleet least connections beats weighted response
/// time clearly; adaptive, starting on weighted response time, moves to it within
/// a few windows and stays.
#[test]
fn adaptive_moves_to_least_connections_on_the_heterogeneous_fleet() {
    let sc = find("05-");
    let r = run_one(&sc, "adaptive");
    let a = r.adaptive.expect("adaptive's timeline");
    let last = a.ran.last().unwrap();
    assert_eq!(last.strategy, "least_connections", "{}", a.describe());
    assert!(
        a.ran.len() == 2 && last.from_s <= 10.0,
        "one early switch: {}",
        a.describe()
    );
}

/// With one backend 5x slower every other strategy would send it more of the
/// traffic than weighted response time does; priced by the tail, as its windows are
/// judged, adaptive tries none of them (priced by the mean, it tried Peak EWMA,
/// switched, and went back 13 s later).
#[test]
fn adaptive_tries_nothing_where_its_model_prices_every_other_strategy_out() {
    let sc = find("02-");
    let a = run_one(&sc, "adaptive").adaptive.expect("timeline");
    assert_eq!((a.trials, a.switches), (0, 0), "{}", a.describe());
}

/// Where the strategies do about equally (a uniform fleet), adaptive tries the
/// others now and then and settles on none of them.
#[test]
fn adaptive_stays_put_on_a_uniform_fleet() {
    let sc = find("01-");
    let a = run_one(&sc, "adaptive").adaptive.expect("timeline");
    assert_eq!(a.switches, 0, "{}", a.describe());
    assert!(a.trials > 0, "it did look: {}", a.describe());
}

/// A cold backend joining a warm fleet: slow start lowers the p99 of weighted
/// response time and of least connections against the same strategy without it.
#[test]
fn slow_start_lowers_the_tail_when_a_cold_backend_joins() {
    let sc = find("08-");
    for s in ["weighted_response_time", "least_connections"] {
        let with = run_one(&sc, s).latency_ms.p99;
        let without = run_one(&sc, &format!("{s} slow_start_window_ms=0"))
            .latency_ms
            .p99;
        assert!(
            with < without,
            "{s}: p99 {with} with slow start, {without} without"
        );
    }
}

/// Whether adaptive began running weighted response time within 10 s of the
/// regime change at 40 s (09-regime-change.toml).
fn back_on_wrt_after_the_change(a: &lb_sim::stats::AdaptiveRun) -> bool {
    a.ran.iter().any(|span| {
        span.strategy == "weighted_response_time" && span.from_s >= 40.0 && span.from_s <= 50.0
    })
}

/// Where the regime changes midway, each fixed strategy is right for one half
/// only: adaptive follows, and its p99 is lower than every fixed strategy's.
#[test]
fn adaptive_beats_every_fixed_strategy_when_the_regime_changes() {
    let sc = find("09-");
    let ad = run_one(&sc, "adaptive");
    let a = ad.adaptive.as_ref().expect("timeline");
    assert!(
        back_on_wrt_after_the_change(a),
        "moves to weighted response time after the change: {}",
        a.describe()
    );
    for s in concrete() {
        let fixed = run_one(&sc, s).latency_ms.p99;
        assert!(
            ad.latency_ms.p99 < fixed,
            "adaptive p99 {} vs {s} {fixed} ({})",
            ad.latency_ms.p99,
            a.describe()
        );
    }
}

/// The same regime change under ten other seeds: adaptive moves to weighted
/// response time within 10 s of the change on every one. A strategy that lost its
/// trials in the saturated half is tried again once the model prices it clearly
/// better; waiting out its backoff instead, adaptive stayed on least connections
/// until 71-75 s on most of these seeds.
#[test]
fn adaptive_follows_the_regime_change_whatever_the_seed() {
    let base = find("09-");
    for seed in 10..20 {
        let mut sc = base.clone();
        sc.seed = seed;
        let a = run_one(&sc, "adaptive").adaptive.expect("timeline");
        assert!(
            back_on_wrt_after_the_change(&a),
            "seed {seed}: {}",
            a.describe()
        );
    }
}

/// Hot keys under keyed selection (11-hot-keys.toml). Measured: maglev and
/// ring hash keep every key on one backend (affinity 100.0%) but load their
/// busiest backend with 26.2% and 29.7% of the requests, and their p99 (49.8 and
/// 106 ms) is above round robin's (39.4 ms); round robin and least request,
/// ignoring keys, have affinity 24.7% and 24.8%; a balance factor of 125 brings
/// the busiest share to 16.5% and 16.2% and the p99 to 39.4 ms, keeping 67.5% and
/// 67.9% of the requests on their key's backend.
#[test]
fn a_balance_factor_cools_the_hot_keys_backend() {
    let sc = find("11-");
    assert!(sc.keys.is_some());
    let busiest = |r: &lb_sim::RunResult| lb_sim::report::busiest_share(r);
    let affinity = |r: &lb_sim::RunResult| r.affinity.expect("a keyed run has an affinity");
    let rr = run_one(&sc, "round_robin");
    for s in ["round_robin", "least_request"] {
        let r = run_one(&sc, s);
        assert!(affinity(&r) < 0.35, "{s}: affinity {}", affinity(&r));
    }
    for s in ["maglev", "ring_hash"] {
        let pure = run_one(&sc, s);
        let bounded = run_one(&sc, &format!("{s} hash_balance_factor=125"));
        assert!(affinity(&pure) >= 0.99, "{s}: affinity {}", affinity(&pure));
        assert!(busiest(&pure) > 0.2, "{s}: a hot backend: {:?}", pure.share);
        assert!(
            pure.latency_ms.p99 > rr.latency_ms.p99,
            "{s}: p99 {} vs round robin {}",
            pure.latency_ms.p99,
            rr.latency_ms.p99
        );
        assert!(
            bounded.latency_ms.p99 < pure.latency_ms.p99,
            "{s}: p99 {} with the factor, {} without",
            bounded.latency_ms.p99,
            pure.latency_ms.p99
        );
        assert!(
            busiest(&bounded) < busiest(&pure) && busiest(&bounded) < 0.2,
            "{s}: busiest {} with the factor, {} without",
            busiest(&bounded),
            busiest(&pure)
        );
        assert!(
            affinity(&bounded) > 0.6 && affinity(&bounded) > 2.0 * affinity(&rr),
            "{s}: affinity {} with the factor (round robin {})",
            affinity(&bounded),
            affinity(&rr)
        );
    }
}
