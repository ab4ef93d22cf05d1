//! The `--json` document's shape, byte-identical repeats, and the table.

use std::process::Command;

use serde_json::Value;

fn lb_sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lb-sim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn scenario_path(name: &str) -> String {
    format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(|s| s.as_str())
        .collect();
    k.sort_unstable();
    k
}

#[test]
fn same_file_and_seed_give_byte_identical_json() {
    let f = scenario_path("06-backend-joins.toml");
    let (_, a) = lb_sim(&[&f, "--json"]);
    let (_, b) = lb_sim(&[&f, "--json"]);
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn json_has_the_documented_shape() {
    let f1 = scenario_path("02-slow-backend.toml");
    let f2 = scenario_path("06-backend-joins.toml");
    let (_, text) = lb_sim(&[&f1, &f2, "--json", "--strategies", "round_robin,adaptive"]);
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(keys(&doc), ["scenarios"]);
    let scenarios = doc["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    assert_eq!(scenarios[0]["name"], "one backend 5x slower");
    assert_eq!(scenarios[0]["seed"], 2);
    assert_eq!(scenarios[1]["name"], "a backend joins mid-run");
    // 5 backends in the slow-backend scenario; 4 + 1 added in the other.
    let want_backends = [5, 5];
    for (sc, nb) in scenarios.iter().zip(want_backends) {
        assert_eq!(keys(sc), ["name", "results", "seed"]);
        let results = sc["results"].as_array().unwrap();
        let names: Vec<&str> = results
            .iter()
            .map(|r| r["strategy"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["round_robin", "adaptive"]);
        for r in results {
            // Adaptive's run also says what it ran when.
            let mut expected_keys = vec![
                "failures",
                "latency_ms",
                "requests",
                "share",
                "strategy",
                "success_rate",
                "successes",
            ];
            if r["strategy"] == "adaptive" {
                expected_keys.insert(0, "adaptive");
                let a = &r["adaptive"];
                assert_eq!(keys(a), ["ran", "switches", "trials"]);
                let ran = a["ran"].as_array().unwrap();
                assert!(!ran.is_empty());
                assert_eq!(ran[0]["from_s"].as_f64(), Some(0.0));
                for span in ran {
                    assert_eq!(keys(span), ["from_s", "strategy", "to_s"]);
                    assert!(span["from_s"].as_f64() <= span["to_s"].as_f64());
                }
                assert_eq!(
                    ran.len() as u64,
                    a["switches"].as_u64().unwrap() + 1,
                    "one span per switch, and the first"
                );
            }
            assert_eq!(keys(r), expected_keys);
            let req = r["requests"].as_u64().unwrap();
            let ok = r["successes"].as_u64().unwrap();
            let bad = r["failures"].as_u64().unwrap();
            assert!(req > 1000);
            assert_eq!(ok + bad, req);
            let rate = r["success_rate"].as_f64().unwrap();
            assert!((rate - ok as f64 / req as f64).abs() < 1e-6);
            let l = &r["latency_ms"];
            assert_eq!(keys(l), ["max", "mean", "p50", "p90", "p99", "p999"]);
            let q: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
                .iter()
                .map(|k| l[*k].as_f64().unwrap())
                .collect();
            assert!(
                q.windows(2).all(|w| w[0] <= w[1]),
                "percentiles in order: {q:?}"
            );
            assert!(l["mean"].as_f64().unwrap() > 0.0);
            let share: Vec<f64> = r["share"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(share.len(), nb);
            let sum: f64 = share.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "shares sum to {sum}");
        }
    }
}

#[test]
fn table_marks_one_best_strategy() {
    let f = scenario_path("02-slow-backend.toml");
    let (_, text) = lb_sim(&[&f]);
    assert!(text.contains("one backend 5x slower"));
    for s in [
        "round_robin",
        "least_connections",
        "weighted_response_time",
        "adaptive",
    ] {
        assert!(text.contains(s), "{s} in\n{text}");
    }
    let marked = text.lines().filter(|l| l.starts_with("* ")).count();
    assert_eq!(marked, 1, "{text}");
    assert!(text.contains("best: "));
}

/// A keyed scenario's results carry `affinity` (a fraction) in the JSON, and its
/// table has affinity and busiest-share columns; other scenarios have neither.
#[test]
fn keyed_scenarios_add_affinity() {
    let keyed = scenario_path("11-hot-keys.toml");
    let plain = scenario_path("02-slow-backend.toml");
    let (_, text) = lb_sim(&[
        &keyed,
        &plain,
        "--json",
        "--strategies",
        "round_robin,maglev",
    ]);
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let scenarios = doc["scenarios"].as_array().unwrap();
    for r in scenarios[0]["results"].as_array().unwrap() {
        assert_eq!(
            keys(r),
            [
                "affinity",
                "failures",
                "latency_ms",
                "requests",
                "share",
                "strategy",
                "success_rate",
                "successes",
            ]
        );
        let a = r["affinity"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "affinity {a}");
    }
    for r in scenarios[1]["results"].as_array().unwrap() {
        assert!(r.get("affinity").is_none(), "{r}");
    }

    let (_, table) = lb_sim(&[&keyed, &plain, "--strategies", "round_robin,maglev"]);
    let heads: Vec<&str> = table.lines().filter(|l| l.contains("requests")).collect();
    assert_eq!(heads.len(), 2, "{table}");
    assert!(
        heads[0].contains(" affinity  busiest  share %"),
        "{}",
        heads[0]
    );
    assert!(!heads[1].contains("affinity") && !heads[1].contains("busiest"));
    let maglev = table
        .lines()
        .find(|l| l[2..].starts_with("maglev "))
        .expect("a maglev row");
    // affinity and busiest share, as percentages, just before the shares.
    let pct: Vec<&str> = maglev
        .split_whitespace()
        .filter(|w| w.ends_with('%'))
        .collect();
    assert_eq!(pct.len(), 3, "success, affinity, busiest: {maglev}");
}
