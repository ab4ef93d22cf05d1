//! Every bad input listed in `scenarios/FORMAT.md` is refused with a message
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
