//! Tests of the C ABI layer from Rust: the panic guard, the option ids, ranges and
//! defaults of the header and of `Config`'s field docs against the core table, and
//! the struct layouts.

use super::*;
use crate::options::{by_name, OptionSpec, OPTIONS};
use std::mem::{align_of, size_of, MaybeUninit};
use std::ptr::{addr_of, null, null_mut};

fn new_balancer(strategy: lb_strategy) -> *mut lb_balancer {
    let mut lb = null_mut();
    assert_eq!(lb_balancer_new(strategy, &mut lb), LB_STATUS_OK);
    assert!(!lb.is_null());
    lb
}

#[test]
fn guard_turns_a_panic_into_internal_and_the_balancer_stays_usable() {
    let lb = new_balancer(LB_STRATEGY_ROUND_ROBIN);
    let set = [lb_instance {
        id: 1,
        weight: 1,
        capacity: 0,
    }];
    assert_eq!(lb_set_instances(lb, set.as_ptr(), 1), LB_STATUS_OK);
    // A body that panics half-way through a call on the balancer.
    let status = guard(|| {
        // SAFETY: `lb` is live.
        let b = unsafe { handle(lb) }?;
        let _ = b.balancer.stats();
        panic!("a bug inside lb");
    });
    assert_eq!(status, LB_STATUS_INTERNAL);
    assert_eq!(guard_value(7u32, || panic!("another")), 7);
    // Still usable, configuration changes included.
    let mut pick = lb_pick::default();
    assert_eq!(lb_select(lb, &mut pick), LB_STATUS_OK);
    assert_eq!(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);
    assert_eq!(
        lb_set_option(lb, LB_OPTION_PANIC_THRESHOLD, 0.3),
        LB_STATUS_OK
    );
    lb_balancer_free(lb);
}

#[test]
fn status_texts_are_static_and_nul_terminated() {
    for status in (0..300).chain([u32::MAX]) {
        // SAFETY: lb_status_str returns static NUL-terminated text.
        let text = unsafe { std::ffi::CStr::from_ptr(lb_status_str(status)) };
        assert!(!text.to_bytes().is_empty());
    }
    for status in [
        LB_STATUS_OK,
        LB_STATUS_NULL_POINTER,
        LB_STATUS_INVALID_ARGUMENT,
        LB_STATUS_NO_INSTANCE,
        LB_STATUS_UNKNOWN_INSTANCE,
        LB_STATUS_DUPLICATE_INSTANCE,
        LB_STATUS_INVALID_PICK,
        LB_STATUS_BUFFER_TOO_SMALL,
        LB_STATUS_IN_FLIGHT_LIMIT,
        LB_STATUS_INTERNAL,
    ] {
        // SAFETY: as above.
        let text = unsafe { std::ffi::CStr::from_ptr(lb_status_str(status)) };
        assert_ne!(text.to_str().unwrap(), "unknown status", "status {status}");
    }
    // SAFETY: as above.
    let version = unsafe { std::ffi::CStr::from_ptr(lb_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        version.to_str().unwrap(),
        format!("{LB_VERSION_MAJOR}.{LB_VERSION_MINOR}.{LB_VERSION_PATCH}")
    );
}

#[test]
fn every_error_maps_to_its_status() {
    assert_eq!(status_of(Error::NoInstance), LB_STATUS_NO_INSTANCE);
    assert_eq!(status_of(Error::InFlightLimit), LB_STATUS_IN_FLIGHT_LIMIT);
    assert_eq!(
        status_of(Error::UnknownInstance(3)),
        LB_STATUS_UNKNOWN_INSTANCE
    );
    assert_eq!(
        status_of(Error::DuplicateInstance(3)),
        LB_STATUS_DUPLICATE_INSTANCE
    );
    assert_eq!(status_of(Error::InvalidPick), LB_STATUS_INVALID_PICK);
    assert_eq!(
        status_of(Error::InvalidArgument {
            field: "x",
            reason: String::new()
        }),
        LB_STATUS_INVALID_ARGUMENT
    );
}

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
    assert_eq!(lb_set_option(lb, 20, 1.0), LB_STATUS_INVALID_ARGUMENT);
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

#[test]
fn null_arrays_and_impossible_counts() {
    let lb = new_balancer(LB_STRATEGY_ROUND_ROBIN);
    assert_eq!(lb_set_instances(lb, null(), 0), LB_STATUS_OK);
    assert_eq!(lb_set_instances(lb, null(), 1), LB_STATUS_NULL_POINTER);
    let set = [lb_instance {
        id: 1,
        weight: 1,
        capacity: 0,
    }];
    assert_eq!(
        lb_set_instances(lb, set.as_ptr(), usize::MAX),
        LB_STATUS_INVALID_ARGUMENT
    );
    let mut pick = lb_pick::default();
    let ids = [1u64];
    assert_eq!(
        lb_select_excluding(lb, ids.as_ptr(), usize::MAX / 2, &mut pick),
        LB_STATUS_INVALID_ARGUMENT
    );
    let mut count = 0usize;
    let mut out = [lb_health::default(); 1];
    assert_eq!(
        lb_get_all_health(lb, out.as_mut_ptr(), usize::MAX, &mut count),
        LB_STATUS_INVALID_ARGUMENT
    );
    lb_balancer_free(lb);
    lb_balancer_free(null_mut());
}

/// Misaligned arrays and structs are read and written without alignment faults.
#[test]
fn unaligned_caller_memory() {
    let lb = new_balancer(LB_STRATEGY_ROUND_ROBIN);
    let mut bytes = vec![0u8; 16 * 3 + 1];
    for (i, id) in [1u64, 2, 3].iter().enumerate() {
        let inst = lb_instance {
            id: *id,
            weight: 1,
            capacity: 0,
        };
        // SAFETY: within `bytes`.
        unsafe { ptr::write_unaligned(bytes.as_mut_ptr().add(1 + 16 * i).cast(), inst) };
    }
    // SAFETY: the pointer is only read unaligned by lb.
    let set = unsafe { bytes.as_ptr().add(1) }.cast::<lb_instance>();
    assert_eq!(lb_set_instances(lb, set, 3), LB_STATUS_OK);
    let mut ids = vec![0u8; 17];
    // SAFETY: within `ids`.
    unsafe {
        ptr::write_unaligned(ids.as_mut_ptr().add(1).cast::<u64>(), 1u64);
        ptr::write_unaligned(ids.as_mut_ptr().add(9).cast::<u64>(), 2u64);
    }
    let mut pick_bytes = vec![0u8; size_of::<lb_pick>() + 1];
    // SAFETY: as above.
    let pick = unsafe { pick_bytes.as_mut_ptr().add(1) }.cast::<lb_pick>();
    let exclude = unsafe { ids.as_ptr().add(1) }.cast::<u64>();
    assert_eq!(lb_select_excluding(lb, exclude, 2, pick), LB_STATUS_OK);
    // SAFETY: written by lb_select_excluding.
    let chosen = unsafe { ptr::read_unaligned(pick) };
    assert_eq!(chosen.instance_id, 3);
    assert_eq!(lb_report(lb, pick, LB_OUTCOME_SUCCESS, 1), LB_STATUS_OK);
    lb_balancer_free(lb);
}

/// Field offsets as the contract fixes them (the C test checks the same from C).
#[test]
fn struct_layouts_match_the_contract() {
    fn offset<T, F>(base: &MaybeUninit<T>, field: *const F) -> usize {
        field as usize - base.as_ptr() as usize
    }
    let s = MaybeUninit::<lb_stats>::uninit();
    let p = s.as_ptr();
    // SAFETY: addr_of! on fields of an uninitialised struct reads nothing.
    unsafe {
        assert_eq!(offset(&s, addr_of!((*p).avg_latency_us)), 48);
        assert_eq!(offset(&s, addr_of!((*p).instance_count)), 56);
        assert_eq!(offset(&s, addr_of!((*p).active_strategy)), 64);
        assert_eq!(offset(&s, addr_of!((*p).strategy_switches)), 72);
        assert_eq!(offset(&s, addr_of!((*p).reserved)), 80);
    }
    let h = MaybeUninit::<lb_health>::uninit();
    let p = h.as_ptr();
    // SAFETY: as above.
    unsafe {
        assert_eq!(offset(&h, addr_of!((*p).success_rate)), 56);
        assert_eq!(offset(&h, addr_of!((*p).weight)), 72);
        assert_eq!(offset(&h, addr_of!((*p).healthy)), 80);
        assert_eq!(offset(&h, addr_of!((*p).reserved_bytes)), 81);
        assert_eq!(offset(&h, addr_of!((*p).reserved)), 88);
    }
    assert_eq!(size_of::<lb_stats>(), 144);
    assert_eq!(size_of::<lb_health>(), 152);
    assert_eq!(size_of::<lb_pick>(), 32);
    assert_eq!(size_of::<lb_instance>(), 16);
    assert_eq!(align_of::<lb_pick>(), 8);
}

/// Without cbindgen at hand (tests/c-abi.sh regenerates and diffs the
/// whole header), `cargo test` still catches the usual drift: every exported
/// function and every constant of src/ffi must be in include/lb.h, with its value.
#[test]
fn header_has_every_function_and_constant() {
    let header = include_str!("../../include/lb.h");
    let sources = [
        include_str!("mod.rs"),
        include_str!("types.rs"),
        include_str!("options.rs"),
    ];
    let mut functions = 0;
    let mut constants = 0;
    for source in sources {
        for line in source.lines() {
            if let Some(rest) = line.strip_prefix("pub extern \"C\" fn ") {
                let name = &rest[..rest.find('(').expect("fn name")];
                assert!(
                    header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}(")),
                    "{name} missing from include/lb.h: run `make header`"
                );
                functions += 1;
            }
            if let Some(rest) = line.strip_prefix("pub const LB_") {
                let name = format!("LB_{}", &rest[..rest.find(':').expect("const name")]);
                let value = rest[rest.find('=').expect("value") + 1..]
                    .trim()
                    .trim_end_matches(';');
                assert!(
                    header.contains(&format!("#define {name} {value}\n")),
                    "#define {name} {value} missing from include/lb.h: run `make header`"
                );
                constants += 1;
            }
        }
    }
    assert_eq!(functions, 17, "the contract's 17 functions");
    assert!(constants >= 9 + 4 + 3 + 3 + OPTIONS.len());
}
