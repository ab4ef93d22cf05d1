//! The `--json` document's shape, byte-identical repeats, the table,
//! `--plot`, `--version` and `--help`.

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
        assert_eq!(keys(sc), ["best", "name", "results", "seed"]);
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

/// `"best"` names the run the table marks `*` and its `best:` line, scenario by
/// scenario.
#[test]
fn json_names_the_best_run_as_the_table_marks_it() {
    let f1 = scenario_path("02-slow-backend.toml");
    let f2 = scenario_path("08-cold-joiner.toml");
    let (_, text) = lb_sim(&[&f1, &f2, "--json"]);
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let best: Vec<&str> = doc["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sc| sc["best"].as_str().expect("best is a run name"))
        .collect();
    let (_, table) = lb_sim(&[&f1, &f2]);
    // Run names may hold single spaces ("round_robin slow_start_window_ms=0");
    // the padded column ends the name with two.
    let marked: Vec<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("* "))
        .map(|row| row.split("  ").next().unwrap().to_string())
        .collect();
    let lines: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("  best: "))
        .map(|l| l.split(" (lowest").next().unwrap())
        .collect();
    assert_eq!(best.len(), 2);
    assert_eq!(marked, best, "{table}");
    assert_eq!(lines, best, "{table}");
    // Each is one of the scenario's runs.
    for (sc, b) in doc["scenarios"].as_array().unwrap().iter().zip(&best) {
        assert!(sc["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["strategy"] == *b));
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `--plot DIR` writes DIR/<file stem>.svg per scenario, the same bytes on
/// every run, and leaves standard output as it is without it.
#[test]
fn plots_are_svg_files_with_the_same_bytes_every_run() {
    let f1 = scenario_path("02-slow-backend.toml");
    let f2 = scenario_path("06-backend-joins.toml");
    let strategies = "round_robin,weighted_response_time,adaptive";
    let (a, b) = (temp_dir("plot_a"), temp_dir("plot_b"));
    let mut outs = Vec::new();
    for d in [&a, &b] {
        let d = d.to_str().unwrap();
        let (_, text) = lb_sim(&[&f1, &f2, "--strategies", strategies, "--plot", d]);
        outs.push(text);
    }
    let (_, plain) = lb_sim(&[&f1, &f2, "--strategies", strategies]);
    assert_eq!(outs[0], plain, "--plot changes nothing on standard output");
    assert_eq!(outs[1], plain);

    for stem in ["02-slow-backend", "06-backend-joins"] {
        let x = std::fs::read(a.join(format!("{stem}.svg"))).expect("written");
        let y = std::fs::read(b.join(format!("{stem}.svg"))).expect("written");
        assert!(x == y, "{stem}.svg differs between two runs");
        let svg = String::from_utf8(x).unwrap();
        assert!(svg.starts_with("<svg "), "{stem}");
        assert!(svg.trim_end().ends_with("</svg>"), "{stem}");
        // Text is SVG text, so no font was needed to draw it.
        for want in [
            "latency by percentile",
            "99.9%",
            "share per backend: round_robin",
            "backend 4",
            "weighted_response_time",
        ] {
            assert!(svg.contains(want), "{stem}.svg lacks {want:?}");
        }
    }
    // Nothing else in the folder.
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["02-slow-backend.svg", "06-backend-joins.svg"]);
}

#[test]
fn two_files_with_one_stem_are_refused_before_anything_runs() {
    let f = scenario_path("02-slow-backend.toml");
    let d = temp_dir("plot_same_stem");
    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .args([&f, &f, "--plot", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("would both be drawn to"), "{err}");
    assert!(!d.exists(), "nothing written");
}

/// lb-sim's version is lb's: `--version` prints it, and the two manifests agree.
#[test]
fn version_is_lbs() {
    let (_, text) = lb_sim(&["--version"]);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(root).unwrap().parse().unwrap();
    let lb_version = manifest["package"]["version"].as_str().unwrap();
    assert_eq!(text, format!("lb-sim {lb_version}\n"));
    assert_eq!(
        env!("CARGO_PKG_VERSION"),
        lb_version,
        "lb-sim/Cargo.toml's version"
    );
    let (_, short) = lb_sim(&["-V"]);
    assert_eq!(short, text);
}

#[test]
fn help_lists_every_option_and_the_format_documentation() {
    let (_, text) = lb_sim(&["--help"]);
    for opt in [
        "--json",
        "--strategies",
        "--plot DIR",
        "-h, --help",
        "-V, --version",
    ] {
        let lines = text
            .lines()
            .filter(|l| l.trim_start().starts_with(opt))
            .count();
        assert_eq!(lines, 1, "one line for {opt} in\n{text}");
    }
    assert!(text.contains("lb-sim/README.md"), "{text}");
    // The documentation it points to exists.
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    assert!(std::path::Path::new(readme).is_file());
}
