//! Tests of the C ABI layer from Rust: the panic guard, statuses, arrays and
//! unaligned caller memory, the struct layouts, and the header against the source.
//! The options are tested in option_tests.rs.

use super::guard::{guard, guard_value, handle, status_of};
use super::*;
use crate::Error;
use std::mem::{align_of, size_of, MaybeUninit};
use std::ptr;
use std::ptr::{addr_of, null, null_mut};

pub(super) fn new_balancer(strategy: lb_strategy) -> *mut lb_balancer {
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
        assert_eq!(offset(&s, addr_of!((*p).adaptive_trials)), 80);
        assert_eq!(offset(&s, addr_of!((*p).ejections)), 88);
        assert_eq!(offset(&s, addr_of!((*p).events_dropped)), 96);
        assert_eq!(offset(&s, addr_of!((*p).reserved)), 104);
    }
    let h = MaybeUninit::<lb_health>::uninit();
    let p = h.as_ptr();
    // SAFETY: as above.
    unsafe {
        assert_eq!(offset(&h, addr_of!((*p).success_rate)), 56);
        assert_eq!(offset(&h, addr_of!((*p).weight)), 72);
        assert_eq!(offset(&h, addr_of!((*p).healthy)), 80);
        assert_eq!(offset(&h, addr_of!((*p).state)), 81);
        assert_eq!(offset(&h, addr_of!((*p).reserved_bytes)), 82);
        assert_eq!(offset(&h, addr_of!((*p).times_ejected)), 88);
        assert_eq!(offset(&h, addr_of!((*p).cooldown_remaining_ms)), 96);
        assert_eq!(offset(&h, addr_of!((*p).reserved)), 104);
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
        include_str!("lifecycle.rs"),
        include_str!("membership.rs"),
        include_str!("request.rs"),
        include_str!("keyed.rs"),
        include_str!("reads.rs"),
        include_str!("text.rs"),
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
    assert_eq!(functions, 25, "the contract's 25 functions");
    assert!(constants >= 9 + 4 + 3 + 3 + crate::options::OPTIONS.len());
}
