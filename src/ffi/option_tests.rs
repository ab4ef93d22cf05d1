//! Tests of the options through the C ABI: the ids, ranges and defaults that the
//! header and `Config`'s field docs show against the core table, lb_get_option()
//! and lb_set_option() on every option, and concurrent changes.

use super::tests::new_balancer;
use super::*;
use crate::options::{by_name, OptionSpec, OPTIONS};
use crate::Strategy;
use std::ptr::null_mut;

/// The `LB_OPTION_<NAME> <id>` pairs of `text`, for lines that start with `prefix`
/// and whose value follows the name after `separator`.
fn option_ids<'a>(text: &'a str, prefix: &str, separator: &str) -> Vec<(&'a str, &'a str)> {
    text.lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|rest| {
            let (name, value) = rest
                .split_once(separator)
                .unwrap_or_else(|| panic!("no value after {prefix}{rest}"));
            (name.trim(), value.trim().trim_end_matches(';'))
        })
        .collect()
}

/// Checks that every `LB_OPTION_*` of `where_` is a row of the table with the
/// same id, and that every row is there.
fn ids_match_the_table(where_: &str, pairs: &[(&str, &str)]) {
    for (name, value) in pairs {
        let field = name.to_ascii_lowercase();
        let spec = by_name(&field)
            .unwrap_or_else(|| panic!("{where_} has LB_OPTION_{name}; the table has no {field}"));
        assert_eq!(
            value.parse::<u32>().ok(),
            Some(spec.id),
            "{where_}: LB_OPTION_{name} is {value}, the table's id is {}",
            spec.id
        );
    }
    for spec in OPTIONS.iter() {
        let name = spec.name.to_ascii_uppercase();
        let count = pairs.iter().filter(|(n, _)| *n == name).count();
        assert_eq!(count, 1, "{where_}: LB_OPTION_{name} appears {count} times");
    }
}

/// Of a doc comment's lines, those that state a range or a default must be exactly
/// the row's one line.
fn documents(spec: &OptionSpec, where_: &str, doc: &[&str]) {
    let stated: Vec<&str> = doc
        .iter()
        .copied()
        .filter(|l| l.contains("Range:") || l.contains("Default:"))
        .collect();
    let expected = spec.doc_line();
    assert_eq!(
        stated,
        [expected.as_str()],
        "{where_} documents {} otherwise than the table",
        spec.name
    );
}

/// The `(field, doc lines)` of `Config`'s fields, from the source of src/config.rs.
fn config_field_docs(source: &str) -> Vec<(&str, Vec<&str>)> {
    let start = source.find("pub struct Config {").expect("struct Config");
    let body = &source[start..start + source[start..].find("\n}").expect("end of Config")];
    let mut fields = Vec::new();
    let mut doc = Vec::new();
    for line in body.lines().skip(1).map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.strip_prefix(' ').unwrap_or(text));
        } else if let Some(rest) = line.strip_prefix("pub ") {
            let name = &rest[..rest.find(':').expect("field name")];
            fields.push((name, std::mem::take(&mut doc)));
        }
    }
    fields
}

/// The option ids, ranges and defaults shown by the header, by the constants of
/// src/ffi/options.rs and by the doc comments of `Config`'s fields are the table's,
/// and each of them has every option of the table and no other.
#[test]
fn header_and_config_document_each_option_as_the_table_does() {
    let header = include_str!("../../include/lb.h");
    ids_match_the_table(
        "include/lb.h",
        &option_ids(header, "#define LB_OPTION_", " "),
    );
    ids_match_the_table(
        "src/ffi/options.rs",
        &option_ids(
            include_str!("options.rs"),
            "pub const LB_OPTION_",
            ": lb_option =",
        ),
    );
    for spec in OPTIONS.iter() {
        let define = format!(
            "#define LB_OPTION_{} {}\n",
            spec.name.to_ascii_uppercase(),
            spec.id
        );
        let at = header.find(&define).expect("checked above");
        let comment = &header[header[..at].rfind("/**").expect("doc comment")..at];
        let doc: Vec<&str> = comment
            .lines()
            .map(|l| l.trim_start().trim_start_matches('*').trim())
            .collect();
        documents(spec, "include/lb.h", &doc);
    }
    let fields = config_field_docs(include_str!("../config.rs"));
    for (name, doc) in &fields {
        match by_name(name) {
            Some(spec) => documents(spec, "src/config.rs", doc),
            None => {
                assert!(
                    ["strategy", "seed"].contains(name),
                    "Config::{name} is not in the option table"
                );
                assert!(
                    !doc.iter().any(|l| l.contains("Range:")),
                    "Config::{name} documents a range but is not in the option table"
                );
            }
        }
    }
    for spec in OPTIONS.iter() {
        assert!(
            fields.iter().any(|(name, _)| *name == spec.name),
            "the table's {} is not a field of Config",
            spec.name
        );
    }
}

/// lb_set_option() refuses a value the option's type cannot hold, and a value out
/// of range, and changes nothing then.
#[test]
fn set_option_refuses_bad_values_and_changes_nothing() {
    let lb = new_balancer(LB_STRATEGY_ROUND_ROBIN);
    // SAFETY: live handle.
    let before = unsafe { &*lb }.balancer.config();
    for bad in [f64::NAN, f64::INFINITY, 2.5, -1.0, 1e6 + 1.0] {
        assert_eq!(
            lb_set_option(lb, LB_OPTION_MIN_SAMPLES, bad),
            LB_STATUS_INVALID_ARGUMENT,
            "{bad}"
        );
    }
    for bad in [f64::NAN, f64::NEG_INFINITY, 0.0, 1.5] {
        assert_eq!(
            lb_set_option(lb, LB_OPTION_TRIAL_RATIO, bad),
            LB_STATUS_INVALID_ARGUMENT,
            "{bad}"
        );
    }
    assert_eq!(lb_set_option(lb, 0, 1.0), LB_STATUS_INVALID_ARGUMENT);
    let past_last = OPTIONS.len() as u32 + 1;
    assert_eq!(
        lb_set_option(lb, past_last, 1.0),
        LB_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(lb_set_option(lb, u32::MAX, 1.0), LB_STATUS_INVALID_ARGUMENT);
    assert_eq!(
        lb_set_option(null_mut(), LB_OPTION_MIN_SAMPLES, 1.0),
        LB_STATUS_NULL_POINTER
    );
    // SAFETY: live handle.
    assert_eq!(unsafe { &*lb }.balancer.config(), before);
    lb_balancer_free(lb);
}

#[test]
fn options_round_trip_through_the_c_functions() {
    let lb = new_balancer(LB_STRATEGY_LEAST_CONNECTIONS);
    let mut value = 0.0;
    for spec in OPTIONS.iter() {
        assert_eq!(lb_get_option(lb, spec.id, &mut value), LB_STATUS_OK);
        assert_eq!(value, spec.default);
    }
    assert_eq!(
        lb_set_option(lb, LB_OPTION_PICK_TIMEOUT_MS, 0.0),
        LB_STATUS_OK
    );
    assert_eq!(
        lb_get_option(lb, LB_OPTION_PICK_TIMEOUT_MS, &mut value),
        LB_STATUS_OK
    );
    assert_eq!(value, 0.0);
    assert_eq!(
        lb_set_option(lb, LB_OPTION_BASE_EJECTION_MS, 400_000.0),
        LB_STATUS_INVALID_ARGUMENT
    );
    // Changing an option keeps the strategy.
    let mut stats = lb_stats::default();
    assert_eq!(lb_get_stats(lb, &mut stats), LB_STATUS_OK);
    assert_eq!(stats.active_strategy, LB_STRATEGY_LEAST_CONNECTIONS);
    assert_eq!(lb_get_option(lb, 0, &mut value), LB_STATUS_INVALID_ARGUMENT);
    assert_eq!(
        lb_get_option(lb, LB_OPTION_PANIC_THRESHOLD, null_mut()),
        LB_STATUS_NULL_POINTER
    );
    lb_balancer_free(lb);
}

/// Concurrent lb_set_option calls on different options do not undo each other.
#[test]
fn concurrent_option_changes_are_not_lost() {
    struct Shared(*mut lb_balancer);
    // SAFETY: lb_balancer is Sync; the pointer is only used while it is live.
    unsafe impl Sync for Shared {}
    let lb = Shared(new_balancer(LB_STRATEGY_ROUND_ROBIN));
    let ids = [
        LB_OPTION_CONSECUTIVE_FAILURES,
        LB_OPTION_MIN_SAMPLES,
        LB_OPTION_RECOVERY_SUCCESSES,
        LB_OPTION_CLOCK_REFRESH_OPS,
    ];
    std::thread::scope(|s| {
        for &id in &ids {
            let lb = &lb;
            s.spawn(move || {
                for v in 1..=200 {
                    assert_eq!(lb_set_option(lb.0, id, v as f64), LB_STATUS_OK);
                }
            });
        }
        let lb = &lb;
        s.spawn(move || {
            for i in 0..200u32 {
                assert_eq!(lb_set_strategy(lb.0, i % 4), LB_STATUS_OK);
            }
        });
    });
    for id in ids {
        let mut value = 0.0;
        assert_eq!(lb_get_option(lb.0, id, &mut value), LB_STATUS_OK);
        assert_eq!(value, 200.0, "option {id} lost an update");
    }
    // The last lb_set_strategy (199 % 4 = adaptive) was not undone by an option
    // change that had read the configuration before it.
    // SAFETY: live handle.
    let configured = unsafe { &*lb.0 }.balancer.config().strategy;
    assert_eq!(configured, Strategy::Adaptive);
    lb_balancer_free(lb.0);
}
