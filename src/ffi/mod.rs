//! The C ABI of lb, version 1 (the header `include/lb.h` is generated from this
//! module by cbindgen).
//!
//! Conventions, the same for every function:
//! - Each exported function runs its whole body inside [`guard`], which turns a
//!   Rust panic into `LB_STATUS_INTERNAL` (or a neutral value for the functions
//!   without a status), so no panic unwinds into C.
//! - Pointers are checked for NULL first (`LB_STATUS_NULL_POINTER`), then integer
//!   "enum" values and numbers (`LB_STATUS_INVALID_ARGUMENT`), then the call is
//!   made. A function that fails changes nothing.
//! - Structs read from or written to the caller's memory are copied with unaligned
//!   reads and writes, so lb never forms a Rust reference into caller memory except
//!   for an aligned array of ids it only reads.
//! - Strategy, outcome, status and option values are `u32`; Rust enums stay inside.

#![allow(non_camel_case_types)]
// The exported functions take raw pointers from C and are called from C: marking
// them `unsafe` would change nothing for those callers. Their safety condition is
// the contract's: every pointer is NULL (checked) or valid.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod options;
mod types;

pub use options::*;
pub use types::*;

use crate::{Balancer, Config, Error, Instance, Outcome, Pick, Strategy};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Runs `body`, mapping `Ok` to `LB_STATUS_OK`, `Err(status)` to `status`, and a
/// panic to `LB_STATUS_INTERNAL`.
#[inline(always)]
fn guard<F: FnOnce() -> Result<(), lb_status>>(body: F) -> lb_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => LB_STATUS_OK,
        Ok(Err(status)) => status,
        Err(_) => LB_STATUS_INTERNAL,
    }
}

/// Runs `body` for the functions that return a value instead of a status: a panic
/// yields `neutral`.
#[inline(always)]
fn guard_value<T, F: FnOnce() -> T>(neutral: T, body: F) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(neutral)
}

/// The status of a core error.
fn status_of(error: Error) -> lb_status {
    match error {
        Error::NoInstance => LB_STATUS_NO_INSTANCE,
        Error::InFlightLimit => LB_STATUS_IN_FLIGHT_LIMIT,
        Error::UnknownInstance(_) => LB_STATUS_UNKNOWN_INSTANCE,
        Error::DuplicateInstance(_) => LB_STATUS_DUPLICATE_INSTANCE,
        Error::InvalidPick => LB_STATUS_INVALID_PICK,
        Error::InvalidArgument { .. } => LB_STATUS_INVALID_ARGUMENT,
    }
}

/// The balancer behind a handle, or `LB_STATUS_NULL_POINTER`.
///
/// # Safety
/// `lb` is NULL or a live handle from lb_balancer_new().
#[inline(always)]
unsafe fn handle<'a>(lb: *const lb_balancer) -> Result<&'a lb_balancer, lb_status> {
    lb.as_ref().ok_or(LB_STATUS_NULL_POINTER)
}

/// Fails with `LB_STATUS_NULL_POINTER` when `p` is NULL.
#[inline(always)]
fn non_null<T>(p: *const T) -> Result<(), lb_status> {
    if p.is_null() {
        Err(LB_STATUS_NULL_POINTER)
    } else {
        Ok(())
    }
}

/// Fails when an array of `count` `T`s at `p` cannot exist: NULL with a count above
/// 0 (`LB_STATUS_NULL_POINTER`), or more bytes than an address space holds
/// (`LB_STATUS_INVALID_ARGUMENT`).
#[inline(always)]
fn check_array<T>(p: *const T, count: usize) -> Result<(), lb_status> {
    if count == 0 {
        return Ok(());
    }
    non_null(p)?;
    if count > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(LB_STATUS_INVALID_ARGUMENT);
    }
    Ok(())
}

/// Copies out the `count` elements of a checked array, with unaligned reads.
///
/// # Safety
/// `check_array(p, count)` passed and `p` points to `count` readable `T`s.
unsafe fn read_array<T: Copy>(p: *const T, count: usize) -> Vec<T> {
    (0..count).map(|i| ptr::read_unaligned(p.add(i))).collect()
}

fn strategy_from(value: lb_strategy) -> Result<Strategy, lb_status> {
    Strategy::from_u32(value).ok_or(LB_STATUS_INVALID_ARGUMENT)
}

/// Creates a balancer that uses `strategy`, with every option at its default and
/// an empty instance set, and stores its handle in `*out`. Its random generators
/// are seeded from the operating system's entropy, so no two balancers (and no two
/// worker processes forked from one parent) make the same random choices in step;
/// lb_get_seed() reads the seed, and lb_balancer_new_seeded() replays it.
///
/// Thread safety: may be called from any thread.
/// Ownership: the caller owns the new handle and releases it with
/// lb_balancer_free(). On failure `*out` is set to NULL (when `out` is not NULL).
///
/// Errors: LB_STATUS_NULL_POINTER (`out` is NULL), LB_STATUS_INVALID_ARGUMENT
/// (unknown strategy), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_balancer_new(strategy: lb_strategy, out: *mut *mut lb_balancer) -> lb_status {
    guard(|| new_balancer(strategy, None, out))
}

/// Like lb_balancer_new(), with the random generators seeded from `seed`: a
/// single-threaded sequence of calls made again on a balancer with the same seed
/// and the same timing makes the same decisions (tests, simulations, replaying a
/// run whose seed lb_get_seed() reported). Since 1.1.
///
/// Thread safety: may be called from any thread.
/// Ownership: as lb_balancer_new().
///
/// Errors: LB_STATUS_NULL_POINTER (`out` is NULL), LB_STATUS_INVALID_ARGUMENT
/// (unknown strategy), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_balancer_new_seeded(
    strategy: lb_strategy,
    seed: u64,
    out: *mut *mut lb_balancer,
) -> lb_status {
    guard(|| new_balancer(strategy, Some(seed), out))
}

fn new_balancer(
    strategy: lb_strategy,
    seed: Option<u64>,
    out: *mut *mut lb_balancer,
) -> Result<(), lb_status> {
    non_null(out)?;
    // SAFETY: `out` is not NULL; the caller passes a writable pointer.
    unsafe { ptr::write_unaligned(out, ptr::null_mut()) };
    let strategy = strategy_from(strategy)?;
    let config = Config {
        strategy,
        ..Config::default()
    };
    let balancer = match seed {
        None => Balancer::new(config),
        // Every 64-bit value is a seed here, 0 included.
        Some(seed) => Balancer::with_seed(config, seed),
    }
    .map_err(status_of)?;
    let handle = Box::new(lb_balancer { balancer });
    // SAFETY: as above.
    unsafe { ptr::write_unaligned(out, Box::into_raw(handle)) };
    Ok(())
}

/// Writes the seed of the balancer's random generators to `*seed`: the one given to
/// lb_balancer_new_seeded(), or the one lb_balancer_new() drew. Since 1.1.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free().
/// Ownership: borrows `lb`; `*seed` is the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `seed` is NULL), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_get_seed(lb: *const lb_balancer, seed: *mut u64) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(seed)?;
        // SAFETY: not NULL; the caller passes a writable uint64_t.
        unsafe { ptr::write_unaligned(seed, lb.balancer.seed()) };
        Ok(())
    })
}

/// Releases a balancer and everything it holds. NULL is a no-op.
///
/// Thread safety: must not run concurrently with any other call on the same
/// balancer, and must be called at most once per handle.
/// Ownership: takes back the handle from lb_balancer_new(); the handle and every
/// pick it handed out are invalid afterwards.
#[no_mangle]
pub extern "C" fn lb_balancer_free(lb: *mut lb_balancer) {
    guard_value((), || {
        if !lb.is_null() {
            // SAFETY: a live handle from lb_balancer_new(), freed once (the contract).
            drop(unsafe { Box::from_raw(lb) });
        }
    })
}

/// Switches the balancer to `strategy` at run time; instances keep their state.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); concurrent lb_set_strategy() and lb_set_option() calls
/// are applied one after the other.
/// Ownership: borrows `lb` for the call.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` is NULL), LB_STATUS_INVALID_ARGUMENT
/// (unknown strategy), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_set_strategy(lb: *mut lb_balancer, strategy: lb_strategy) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        let strategy = strategy_from(strategy)?;
        lb.balancer.set_strategy(strategy);
        Ok(())
    })
}

/// Replaces the whole instance set atomically with the `count` instances at
/// `instances`, in that order. An id that stays keeps its live state (counters,
/// health, in-flight picks); a removed id that comes back later is a new instance.
/// `count` 0 empties the set (`instances` may then be NULL). On any error the old
/// set stays untouched.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); concurrent selects see either the old or the new set.
/// Ownership: borrows `lb` and the array for the call; lb keeps no pointer to it.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` is NULL, or `instances` is NULL with
/// `count` > 0), LB_STATUS_INVALID_ARGUMENT (a weight of 0, or an impossible
/// `count`), LB_STATUS_DUPLICATE_INSTANCE (an id twice), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_set_instances(
    lb: *mut lb_balancer,
    instances: *const lb_instance,
    count: usize,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        check_array(instances, count)?;
        // SAFETY: checked above; the caller passes `count` readable instances.
        let set: Vec<Instance> = unsafe { read_array(instances, count) }
            .into_iter()
            .map(|i| Instance {
                id: i.id,
                weight: i.weight,
                capacity: i.capacity,
            })
            .collect();
        lb.balancer.set_instances(&set).map_err(status_of)
    })
}

/// Records the result of an active health check of one instance: `score` from 0.0
/// (down) to 1.0 (fully healthy).
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free().
/// Ownership: borrows `lb` for the call.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` is NULL), LB_STATUS_INVALID_ARGUMENT
/// (`score` NaN, infinite or outside 0.0..=1.0), LB_STATUS_UNKNOWN_INSTANCE (no
/// such id in the current set), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_set_health_score(
    lb: *mut lb_balancer,
    instance_id: u64,
    score: f64,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        if !(0.0..=1.0).contains(&score) {
            return Err(LB_STATUS_INVALID_ARGUMENT);
        }
        lb.balancer
            .set_health_score(instance_id, score)
            .map_err(status_of)
    })
}

/// Selects an instance with the current strategy and writes the pick to `*out`.
/// Every successful select must be followed by exactly one lb_report() of the
/// pick (or the pick expires after the pick timeout).
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); takes no lock, allocates nothing and makes no system call
/// while the set and health do not change.
/// Ownership: borrows `lb`; `*out` is the caller's memory. On any failure `*out`
/// is zeroed when `out` is not NULL (a zeroed pick is refused by lb_report()).
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `out` is NULL), LB_STATUS_NO_INSTANCE
/// (empty set, or nothing selectable), LB_STATUS_IN_FLIGHT_LIMIT (nothing
/// selectable, and an instance was passed over only because it holds
/// LB_IN_FLIGHT_MAX picks), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_select(lb: *mut lb_balancer, out: *mut lb_pick) -> lb_status {
    guard(|| {
        non_null(out)?;
        // Zeroed first, so every failure (a NULL `lb` included) leaves it zeroed.
        // SAFETY: `out` is not NULL; the caller passes a writable lb_pick.
        unsafe { ptr::write_unaligned(out, lb_pick::default()) };
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        let result = lb.balancer.select();
        write_pick(out, &result);
        result.map(|_| ()).map_err(status_of)
    })
}

/// Writes a select's pick, or a zeroed one after a failure, to `out` (not NULL).
#[inline(always)]
fn write_pick(out: *mut lb_pick, result: &Result<Pick, Error>) {
    let value = match result {
        Ok(pick) => lb_pick::from(*pick),
        Err(_) => lb_pick::default(),
    };
    // SAFETY: the caller checked `out` for NULL; it points to a writable lb_pick.
    unsafe { ptr::write_unaligned(out, value) };
}

/// Like lb_select(), but avoids the `exclude_count` ids at `exclude_ids` (the
/// instances already tried, for a retry) while any other instance is selectable;
/// when none is, it selects as lb_select() would, so it fails only where
/// lb_select() fails. Unknown ids in the list are ignored.
///
/// Thread safety: as lb_select().
/// Ownership: borrows `lb` and the id array for the call; `*out` is the caller's
/// memory, zeroed on any failure when `out` is not NULL.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `out` is NULL, or `exclude_ids` is NULL
/// with `exclude_count` > 0), LB_STATUS_INVALID_ARGUMENT (an impossible
/// `exclude_count`), LB_STATUS_NO_INSTANCE, LB_STATUS_IN_FLIGHT_LIMIT,
/// LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_select_excluding(
    lb: *mut lb_balancer,
    exclude_ids: *const u64,
    exclude_count: usize,
    out: *mut lb_pick,
) -> lb_status {
    guard(|| {
        non_null(out)?;
        // Zeroed first, so every failure (a NULL `lb` included) leaves it zeroed.
        // SAFETY: `out` is not NULL; the caller passes a writable lb_pick.
        unsafe { ptr::write_unaligned(out, lb_pick::default()) };
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        check_array(exclude_ids, exclude_count)?;
        let result = if exclude_count == 0 {
            lb.balancer.select_excluding(&[])
        } else if exclude_ids.align_offset(std::mem::align_of::<u64>()) == 0 {
            // SAFETY: checked, aligned, and the caller passes `exclude_count` ids
            // that it does not write during the call.
            let ids = unsafe { std::slice::from_raw_parts(exclude_ids, exclude_count) };
            lb.balancer.select_excluding(ids)
        } else {
            // SAFETY: checked; read without alignment.
            let ids = unsafe { read_array(exclude_ids, exclude_count) };
            lb.balancer.select_excluding(&ids)
        };
        write_pick(out, &result);
        result.map(|_| ()).map_err(status_of)
    })
}

/// Reports how the request of `*pick` ended: `outcome` is an LB_OUTCOME_* value,
/// `latency_us` its latency in microseconds (used for LB_OUTCOME_SUCCESS and
/// LB_OUTCOME_FAILURE, ignored for LB_OUTCOME_CANCELLED). A latency above
/// LB_MAX_LATENCY_US counts as LB_MAX_LATENCY_US and the pick is settled as usual,
/// so a negative duration cast to uint64_t cannot wreck the averages. Releases the
/// pick's in-flight slot. A pick whose instance has since been removed still counts in
/// lb_stats, never in any instance of the current set.
///
/// lb checks every pick before it changes anything: a zeroed, corrupted, forged or
/// foreign pick, or one that has expired, returns LB_STATUS_INVALID_PICK and
/// changes nothing. A report that comes after the pick timeout but before lb has
/// seen the pick expire (see LB_OPTION_PICK_TIMEOUT_MS) is accepted and counted
/// once, as its outcome; a pick is never counted both as reported and as expired.
///
/// Reporting the same pick twice is a caller's bug that lb survives: no count
/// goes below zero, no other instance is affected, and once every pick is
/// settled in_flight is 0 and total_requests == successes + failures + cancelled.
/// Detection is best effort: lb keeps no per-pick memory, only per-instance
/// in-flight counts per pick-timeout period. The second report returns
/// LB_STATUS_INVALID_PICK when no other pick of the same instance from the same
/// period is still outstanding (always the case with one request at a time per
/// instance). Otherwise it is taken as that other pick's report, and the other
/// pick's own report is refused later with LB_STATUS_INVALID_PICK.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(), from any thread (not only the one that selected); takes no
/// lock, allocates nothing and makes no system call while the set and health do
/// not change (a pick whose instance was removed takes a short lock).
/// Ownership: borrows `lb` and `*pick` for the call; the pick is spent afterwards.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `pick` is NULL),
/// LB_STATUS_INVALID_ARGUMENT (unknown outcome), LB_STATUS_INVALID_PICK,
/// LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_report(
    lb: *mut lb_balancer,
    pick: *const lb_pick,
    outcome: lb_outcome,
    latency_us: u64,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(pick)?;
        let outcome = Outcome::from_u32(outcome).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        // SAFETY: not NULL; the caller passes a readable lb_pick.
        let pick = Pick::from(unsafe { ptr::read_unaligned(pick) });
        lb.balancer
            .report(&pick, outcome, latency_us)
            .map_err(status_of)
    })
}

/// Writes the balancer-wide totals to `*out`, after applying any due expiry.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); the totals are read one after the other, so under
/// concurrent traffic they may be from slightly different instants.
/// Ownership: borrows `lb`; `*out` is the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `out` is NULL), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_get_stats(lb: *mut lb_balancer, out: *mut lb_stats) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(out)?;
        let stats = lb_stats::from(&lb.balancer.stats());
        // SAFETY: not NULL; the caller passes a writable lb_stats.
        unsafe { ptr::write_unaligned(out, stats) };
        Ok(())
    })
}

/// Writes the state of instance `instance_id` to `*out`, after applying any due
/// expiry.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free().
/// Ownership: borrows `lb`; `*out` is the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `out` is NULL),
/// LB_STATUS_UNKNOWN_INSTANCE (no such id in the current set), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_get_health(
    lb: *mut lb_balancer,
    instance_id: u64,
    out: *mut lb_health,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(out)?;
        let health = lb.balancer.health(instance_id).map_err(status_of)?;
        // SAFETY: not NULL; the caller passes a writable lb_health.
        unsafe { ptr::write_unaligned(out, lb_health::from(&health)) };
        Ok(())
    })
}

/// Writes the state of every instance of the current set, in set order, to the
/// array `out` of `capacity` elements, and the set's size to `*count`. When the
/// array is too short, nothing is written to it and LB_STATUS_BUFFER_TOO_SMALL
/// tells the caller to retry with `*count` elements (the set may change in
/// between). `out` may be NULL when `capacity` is 0, to ask for the size.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); the set is read as one snapshot.
/// Ownership: borrows `lb`; the array and `*count` are the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `count` is NULL, or `out` is NULL with
/// `capacity` > 0), LB_STATUS_INVALID_ARGUMENT (an impossible `capacity`),
/// LB_STATUS_BUFFER_TOO_SMALL, LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_get_all_health(
    lb: *mut lb_balancer,
    out: *mut lb_health,
    capacity: usize,
    count: *mut usize,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(count)?;
        check_array(out, capacity)?;
        let all = lb.balancer.all_health();
        // SAFETY: not NULL; the caller passes a writable size_t.
        unsafe { ptr::write_unaligned(count, all.len()) };
        if all.len() > capacity {
            return Err(LB_STATUS_BUFFER_TOO_SMALL);
        }
        for (i, health) in all.iter().enumerate() {
            // SAFETY: i < all.len() <= capacity, and the caller passes `capacity`
            // writable elements.
            unsafe { ptr::write_unaligned(out.add(i), lb_health::from(health)) };
        }
        Ok(())
    })
}

/// Sets one configuration option (an LB_OPTION_* value) to `value`. Options are
/// doubles; an integer option takes only whole numbers. The change applies to
/// the next operations; on any error nothing changes.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); concurrent lb_set_option() and lb_set_strategy() calls are
/// applied one after the other.
/// Ownership: borrows `lb` for the call.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` is NULL), LB_STATUS_INVALID_ARGUMENT
/// (unknown option; `value` NaN, infinite, fractional for an integer option, or
/// outside the option's range, which may depend on another option as documented),
/// LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_set_option(lb: *mut lb_balancer, option: lb_option, value: f64) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        let row = crate::options::by_id(option).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        let value = row.parse(value).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        // Read, changed and validated under the balancer's writer lock, so
        // concurrent lb_set_option() and lb_set_strategy() calls never undo each
        // other.
        lb.balancer
            .update_config(|config| row.set(config, value))
            .map_err(status_of)
    })
}

/// Writes the current value of one configuration option (an LB_OPTION_* value)
/// to `*value`.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free().
/// Ownership: borrows `lb`; `*value` is the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `value` is NULL),
/// LB_STATUS_INVALID_ARGUMENT (unknown option), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_get_option(
    lb: *mut lb_balancer,
    option: lb_option,
    value: *mut f64,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(value)?;
        let row = crate::options::by_id(option).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        let current = row.get(&lb.balancer.config());
        // SAFETY: not NULL; the caller passes a writable double.
        unsafe { ptr::write_unaligned(value, current) };
        Ok(())
    })
}

/// Returns a short English description of `status`: static NUL-terminated text,
/// never NULL, also for values lb does not define.
///
/// Thread safety: may be called from any thread.
/// Ownership: the text is lb's and lives as long as the program; do not free it.
#[no_mangle]
pub extern "C" fn lb_status_str(status: lb_status) -> *const c_char {
    guard_value(b"internal error in lb\0".as_ptr().cast(), || {
        status_text(status).as_ptr().cast()
    })
}

fn status_text(status: lb_status) -> &'static [u8] {
    match status {
        LB_STATUS_OK => b"ok\0",
        LB_STATUS_NULL_POINTER => b"a required pointer was NULL\0",
        LB_STATUS_INVALID_ARGUMENT => b"invalid argument\0",
        LB_STATUS_NO_INSTANCE => b"no instance can be selected\0",
        LB_STATUS_UNKNOWN_INSTANCE => b"no instance with that id in the set\0",
        LB_STATUS_DUPLICATE_INSTANCE => b"the same instance id twice in one set\0",
        LB_STATUS_INVALID_PICK => {
            b"invalid pick: foreign, corrupted, forged, expired or already reported\0"
        }
        LB_STATUS_BUFFER_TOO_SMALL => b"the array is too small\0",
        LB_STATUS_IN_FLIGHT_LIMIT => b"no instance can be selected: in-flight ceiling reached\0",
        LB_STATUS_INTERNAL => b"internal error in lb\0",
        _ => b"unknown status\0",
    }
}

/// Returns lb's version, "MAJOR.MINOR.PATCH": static NUL-terminated text equal to
/// LB_VERSION_STRING of the header lb was built with.
///
/// Thread safety: may be called from any thread.
/// Ownership: the text is lb's and lives as long as the program; do not free it.
#[no_mangle]
pub extern "C" fn lb_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    guard_value(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}

#[cfg(test)]
mod tests;
