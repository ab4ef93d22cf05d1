//! Every bad input listed in `lb-sim/README.md` is refused with a message
//! naming the file, the line and the key, and exit status 2.

use std::path::PathBuf;
use std::process::Command;

const GOOD: &str = r#"name = "t"
seed = 3
duration_s = 2.0
warmup_s = 0.5
rate_rps = 100.0
timeout_ms = 500.0

[[backends]]
count = 2
concurrency = 2
latency_ms = { median = 5.0, p99 = 20.0 }

[[backends]]
latency_ms = { median = 5.0, p99 = 20.0 }
error_rate = 0.1

[[events]]
at_s = 1.0
backend = 2
error_rate = 0.5
"#;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parser_errors");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Run the binary on `text` with `old` replaced by `new`; return (status,
/// stderr, the file's path).
fn run_with(name: &str, old: &str, new: &str) -> (i32, String, String) {
    assert!(
        GOOD.contains(old),
        "test setup: {old:?} not in the base file"
    );
    let p = write(name, &GOOD.replacen(old, new, 1));
    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .arg(&p)
        .arg("--json")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        p.display().to_string(),
    )
}

fn expect_error(name: &str, old: &str, new: &str, line: usize, key: &str, words: &str) {
    let (code, err, path) = run_with(name, old, new);
    assert_eq!(code, 2, "{name}: exit status, stderr: {err}");
    let head = format!("{path}:{line}: key `{key}`: ");
    assert!(err.contains(&head), "{name}: want {head:?} in {err:?}");
    assert!(err.contains(words), "{name}: want {words:?} in {err:?}");
}

#[test]
fn the_base_file_is_accepted() {
    let p = write("good.toml", GOOD);
    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .arg(&p)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"scenarios\""));
}

#[test]
fn unknown_keys() {
    expect_error(
        "unknown_top.toml",
        "seed = 3\n",
        "seed = 3\nrate = 5\n",
        3,
        "rate",
        "unknown key",
    );
    expect_error(
        "unknown_backend.toml",
        "count = 2\n",
        "count = 2\nlatency = 3\n",
        10,
        "backends[0].latency",
        "unknown key",
    );
    expect_error(
        "unknown_latency.toml",
        "{ median = 5.0, p99 = 20.0 }\nerror_rate",
        "{ median = 5.0, p99 = 20.0, p95 = 9.0 }\nerror_rate",
        14,
        "backends[1].latency_ms.p95",
        "unknown key",
    );
    expect_error(
        "unknown_event.toml",
        "error_rate = 0.5\n",
        "error_rate = 0.5\nlatency = 1\n",
        21,
        "events[0].latency",
        "unknown key",
    );
}

#[test]
fn negative_times_and_rates() {
    expect_error(
        "neg_duration.toml",
        "duration_s = 2.0",
        "duration_s = -2.0",
        3,
        "duration_s",
        "negative",
    );
    expect_error(
        "neg_warmup.toml",
        "warmup_s = 0.5",
        "warmup_s = -0.5",
        4,
        "warmup_s",
        "negative",
    );
    expect_error(
        "neg_rate.toml",
        "rate_rps = 100.0",
        "rate_rps = -100.0",
        5,
        "rate_rps",
        "negative",
    );
    expect_error(
        "neg_timeout.toml",
        "timeout_ms = 500.0",
        "timeout_ms = -1",
        6,
        "timeout_ms",
        "negative",
    );
    expect_error(
        "neg_at.toml",
        "at_s = 1.0",
        "at_s = -1.0",
        18,
        "events[0].at_s",
        "negative",
    );
    expect_error(
        "neg_median.toml",
        "{ median = 5.0, p99 = 20.0 }\n\n",
        "{ median = -5.0, p99 = 20.0 }\n\n",
        11,
        "backends[0].latency_ms.median",
        "negative",
    );
    expect_error(
        "neg_error_latency.toml",
        "error_rate = 0.1\n",
        "error_rate = 0.1\nerror_latency_ms = -1.0\n",
        16,
        "backends[1].error_latency_ms",
        "negative",
    );
}

#[test]
fn p99_below_median() {
    expect_error(
        "p99.toml",
        "{ median = 5.0, p99 = 20.0 }\nerror_rate",
        "{ median = 5.0, p99 = 4.0 }\nerror_rate",
        14,
        "backends[1].latency_ms.p99",
        "below the median",
    );
}

#[test]
fn error_rate_outside_0_1() {
    expect_error(
        "er_high.toml",
        "error_rate = 0.1",
        "error_rate = 1.5",
        15,
        "backends[1].error_rate",
        "between 0 and 1",
    );
    expect_error(
        "er_low.toml",
        "error_rate = 0.1",
        "error_rate = -0.1",
        15,
        "backends[1].error_rate",
        "between 0 and 1",
    );
    expect_error(
        "er_event.toml",
        "error_rate = 0.5",
        "error_rate = 2",
        20,
        "events[0].error_rate",
        "between 0 and 1",
    );
}

#[test]
fn event_for_a_missing_backend() {
    // count = 2 plus one more: indices 0..=2.
    expect_error(
        "ev_backend.toml",
        "backend = 2",
        "backend = 3",
        19,
        "events[0].backend",
        "no backend 3",
    );
    expect_error(
        "ev_removed_add.toml",
        "backend = 2\nerror_rate = 0.5\n",
        "backend = 4\nerror_rate = 0.5\n\n[[events]]\nat_s = 1.5\naction = \"add\"\nbackend_def = { latency_ms = { median = 1.0, p99 = 2.0 } }\n",
        19,
        "events[0].backend",
        "no backend 4",
    );
}

#[test]
fn other_mistakes_are_named_too() {
    expect_error(
        "missing_name.toml",
        "name = \"t\"\n",
        "",
        1,
        "name",
        "required key is missing",
    );
    expect_error(
        "missing_latency.toml",
        "latency_ms = { median = 5.0, p99 = 20.0 }\nerror_rate",
        "error_rate",
        13,
        "backends[1].latency_ms",
        "required key is missing",
    );
    expect_error(
        "bad_strategy.toml",
        "seed = 3\n",
        "seed = 3\nstrategies = [\"fastest\"]\n",
        3,
        "strategies[0]",
        "unknown strategy",
    );
    expect_error(
        "string_rate.toml",
        "rate_rps = 100.0",
        "rate_rps = \"fast\"",
        5,
        "rate_rps",
        "expected a number",
    );
    expect_error(
        "zero_conc.toml",
        "concurrency = 2",
        "concurrency = 0",
        10,
        "backends[0].concurrency",
        "at least 1",
    );
    expect_error(
        "bad_action.toml",
        "backend = 2\n",
        "backend = 2\naction = \"restart\"\n",
        20,
        "events[0].action",
        "unknown action",
    );
}

#[test]
fn syntax_errors_and_missing_files_exit_2() {
    let p = write("syntax.toml", "name = \"t\"\nseed = = 3\n");
    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2: invalid TOML", p.display())),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .arg("/nonexistent/dir/none.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir/none.toml"));

    let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
        .args(["--strategies", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown strategy \"nope\""));
}

/// `keys` goes on line 7, after `timeout_ms`.
fn expect_keys_error(name: &str, keys: &str, key: &str, words: &str) {
    expect_error(
        name,
        "timeout_ms = 500.0\n",
        &format!("timeout_ms = 500.0\nkeys = {keys}\n"),
        7,
        key,
        words,
    );
}

#[test]
fn a_key_set_is_accepted() {
    for keys in [
        "{ count = 10000, distribution = \"zipf\", s = 1.1 }",
        "{ count = 1, distribution = \"uniform\" }",
    ] {
        let p = write(
            "keys_good.toml",
            &GOOD.replace(
                "timeout_ms = 500.0\n",
                &format!("timeout_ms = 500.0\nkeys = {keys}\n"),
            ),
        );
        let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{keys}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn key_set_mistakes() {
    expect_keys_error(
        "keys_unknown.toml",
        "{ count = 10, distribution = \"zipf\", s = 1.1, hot = 3 }",
        "keys.hot",
        "unknown key",
    );
    expect_keys_error("keys_not_table.toml", "10000", "keys", "expected a table");
    expect_keys_error(
        "keys_no_count.toml",
        "{ distribution = \"uniform\" }",
        "keys.count",
        "required key is missing",
    );
    expect_keys_error(
        "keys_zero_count.toml",
        "{ count = 0, distribution = \"uniform\" }",
        "keys.count",
        "at least 1",
    );
    expect_keys_error(
        "keys_negative_count.toml",
        "{ count = -5, distribution = \"uniform\" }",
        "keys.count",
        "negative",
    );
    expect_keys_error(
        "keys_huge_count.toml",
        "{ count = 10000001, distribution = \"uniform\" }",
        "keys.count",
        "at most 10000000",
    );
    expect_keys_error(
        "keys_no_distribution.toml",
        "{ count = 10 }",
        "keys.distribution",
        "required key is missing",
    );
    expect_keys_error(
        "keys_bad_distribution.toml",
        "{ count = 10, distribution = \"pareto\" }",
        "keys.distribution",
        "unknown distribution \"pareto\"",
    );
    expect_keys_error(
        "keys_zipf_no_s.toml",
        "{ count = 10, distribution = \"zipf\" }",
        "keys.s",
        "needs its exponent s > 0",
    );
    expect_keys_error(
        "keys_zipf_zero_s.toml",
        "{ count = 10, distribution = \"zipf\", s = 0 }",
        "keys.s",
        "greater than 0",
    );
    expect_keys_error(
        "keys_zipf_negative_s.toml",
        "{ count = 10, distribution = \"zipf\", s = -1.1 }",
        "keys.s",
        "negative",
    );
    expect_keys_error(
        "keys_uniform_s.toml",
        "{ count = 10, distribution = \"uniform\", s = 1.1 }",
        "keys.s",
        "a uniform key set takes none",
    );
}

/// The error for `old` replaced by `new` is exactly `message`, about `key` on
/// line `line`.
fn expect_exact(name: &str, old: &str, new: &str, line: usize, key: &str, message: &str) {
    let (code, err, path) = run_with(name, old, new);
    assert_eq!(code, 2, "{name}: exit status, stderr: {err}");
    let want = format!("lb-sim: {path}:{line}: key `{key}`: {message}\n");
    assert_eq!(err, want, "{name}");
}

#[test]
fn a_misspelt_key_is_named_with_the_one_meant_at_every_level() {
    // Top level; rate_rps is required, so this is also a required key whose
    // typo is present: the typo's line, not the table's.
    expect_exact(
        "typo_top_required.toml",
        "rate_rps = 100.0",
        "rate_rsp = 100.0",
        5,
        "rate_rsp",
        "unknown key 'rate_rsp', did you mean 'rate_rps'?",
    );
    // An optional top-level key, misspelt by a common prefix.
    expect_exact(
        "typo_top_prefix.toml",
        "timeout_ms = 500.0",
        "timeout = 500.0",
        6,
        "timeout",
        "unknown key 'timeout', did you mean 'timeout_ms'?",
    );
    expect_exact(
        "typo_backend.toml",
        "concurrency = 2",
        "concurency = 2",
        10,
        "backends[0].concurency",
        "unknown key 'concurency', did you mean 'concurrency'?",
    );
    // A required backend key, misspelt.
    expect_exact(
        "typo_backend_required.toml",
        "latency_ms = { median = 5.0, p99 = 20.0 }\nerror_rate",
        "latency = { median = 5.0, p99 = 20.0 }\nerror_rate",
        14,
        "backends[1].latency",
        "unknown key 'latency', did you mean 'latency_ms'?",
    );
    expect_exact(
        "typo_latency.toml",
        "{ median = 5.0, p99 = 20.0 }\nerror_rate",
        "{ median = 5.0, p99 = 20.0, p999 = 9.0 }\nerror_rate",
        14,
        "backends[1].latency_ms.p999",
        "unknown key 'p999'; this table takes median, p99",
    );
    expect_exact(
        "typo_latency_required.toml",
        "{ median = 5.0, p99 = 20.0 }\nerror_rate",
        "{ medain = 5.0, p99 = 20.0 }\nerror_rate",
        14,
        "backends[1].latency_ms.medain",
        "unknown key 'medain', did you mean 'median'?",
    );
    expect_exact(
        "typo_event.toml",
        "error_rate = 0.5\n",
        "eror_rate = 0.5\n",
        20,
        "events[0].eror_rate",
        "unknown key 'eror_rate', did you mean 'error_rate'?",
    );
    expect_exact(
        "typo_event_required.toml",
        "at_s = 1.0",
        "at = 1.0",
        18,
        "events[0].at",
        "unknown key 'at', did you mean 'at_s'?",
    );
    expect_exact(
        "typo_backend_def.toml",
        "backend = 2\nerror_rate = 0.5\n",
        "action = \"add\"\nbackend_def = { latency_ms = { median = 1.0, p99 = 2.0 }, wieght = 2 }\n",
        20,
        "events[0].backend_def.wieght",
        "unknown key 'wieght', did you mean 'weight'?",
    );
    expect_exact(
        "typo_keys.toml",
        "timeout_ms = 500.0\n",
        "timeout_ms = 500.0\nkeys = { count = 10, distrbution = \"uniform\" }\n",
        7,
        "keys.distrbution",
        "unknown key 'distrbution', did you mean 'distribution'?",
    );
    // A table header is a key too: `[[backend]]` for `[[backends]]`.
    expect_exact(
        "typo_header.toml",
        "[[backends]]\ncount = 2",
        "[[backend]]\ncount = 2",
        8,
        "backend",
        "unknown key 'backend', did you mean 'backends'?",
    );
}

#[test]
fn a_key_like_no_known_one_lists_what_the_table_takes() {
    expect_exact(
        "unknown_plain.toml",
        "seed = 3\n",
        "seed = 3\nflavour = 5\n",
        3,
        "flavour",
        "unknown key 'flavour'; this table takes name, seed, duration_s, warmup_s, \
         rate_rps, timeout_ms, strategies, keys, backends, events",
    );
    // A key the table already has is not suggested for a misspelling of it.
    expect_exact(
        "unknown_present.toml",
        "seed = 3\n",
        "seed = 3\nsed = 4\n",
        3,
        "sed",
        "unknown key 'sed'; this table takes name, seed, duration_s, warmup_s, \
         rate_rps, timeout_ms, strategies, keys, backends, events",
    );
}

#[test]
fn the_suggestion_rule() {
    use lb_sim::scenario::suggest;
    let known = ["rate_rps", "duration_s", "warmup_s", "seed", "strategies"];
    assert_eq!(suggest("rate_rsp", &known), Some("rate_rps"));
    assert_eq!(suggest("RATE_RPS", &known), Some("rate_rps"));
    assert_eq!(suggest("duration", &known), Some("duration_s"));
    assert_eq!(suggest("warmup_secs", &known), Some("warmup_s"));
    assert_eq!(suggest("strategy", &known), Some("strategies"));
    assert_eq!(suggest("sed", &known), Some("seed"));
    // Too far, and too short a prefix.
    assert_eq!(suggest("flavour", &known), None);
    assert_eq!(suggest("st", &known), None);
}

#[test]
fn a_missing_or_unreadable_file_names_the_path_and_the_os_error() {
    for path in [
        "/nonexistent/dir/none.toml".to_string(),
        // A folder cannot be read as a file.
        env!("CARGO_MANIFEST_DIR").to_string(),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lb-sim"))
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        let head = format!("lb-sim: {path}: cannot read the file: ");
        assert!(err.starts_with(&head), "want {head:?} in {err:?}");
        assert!(err.contains("(os error "), "the OS error: {err:?}");
        assert!(!err.contains(&format!("{path}:0")), "no line: {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    }
}

/// The documentation's example scenario is one lb-sim reads, so the reference
/// stays current with the parser.
#[test]
fn the_readme_example_scenario_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("lb-sim/README.md");
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let sc = lb_sim::scenario::parse("README.md", block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.backends.len(), 4);
    assert_eq!(sc.events.len(), 1);
    assert!(sc.keys.is_some());
}
