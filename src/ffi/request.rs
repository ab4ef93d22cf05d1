//! The request path: select a pick, report how its request ended.

use super::guard::{check_array, guard, guard_value, handle, non_null, read_array, status_of};
use super::types::*;
use crate::error::Refused;
use crate::strategy::Registered;
use crate::{Error, Outcome, Pick, Strategy};
use std::ptr;

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
    // Dispatch on the running strategy first, so that each strategy's common
    // case is its own small function (`select_as`).
    if !out.is_null() {
        // SAFETY: NULL or a live handle (the contract).
        if let Some(handle) = unsafe { lb.as_ref() } {
            return SELECT_AS[handle.balancer.running_raw() as usize](lb, out);
        }
    }
    select_checked(lb, out)
}

type SelectFn = extern "C" fn(*mut lb_balancer, *mut lb_pick) -> lb_status;

/// `select_as` of each registered strategy at its `Strategy as u8`, and the full
/// select for every other value: a `u8` indexes it without a bounds check.
static SELECT_AS: [SelectFn; 256] = crate::strategy::strategies!(select_table);

macro_rules! select_table {
    ($($variant:ident => $field:ident: $ty:ty),+ $(,)?) => {{
        let mut table = [select_checked as SelectFn; 256];
        $(table[Strategy::$variant as usize] = select_as::<$ty>;)+
        table
    }};
}
use select_table;

/// lb_select() with strategy `S`: its common case outside the panic guard, where
/// `select_fast_as` has no panic site (tests/fast-path.py checks the compiled
/// code for calls), and every other case under the guard.
///
/// `extern "C"` (not exported) so that calls to it cannot unwind, which lets the
/// compiler make them tail calls.
#[inline(never)]
extern "C" fn select_as<S: Registered>(lb: *mut lb_balancer, out: *mut lb_pick) -> lb_status {
    // SAFETY: `lb_select` checked both for NULL; `lb` is a live handle (the contract).
    let handle = unsafe { &*lb };
    if let Some((pick, clock_due)) = handle.balancer.select_fast_as::<S, true>() {
        // SAFETY: not NULL; the caller passes a writable lb_pick.
        unsafe { ptr::write_unaligned(out, lb_pick::from(pick)) };
        if clock_due {
            return read_clock(lb);
        }
        return LB_STATUS_OK;
    }
    select_checked(lb, out)
}

/// The clock read a select's fast path asked for, under the panic guard. The
/// select itself succeeded, so the status is `LB_STATUS_OK` whatever happens.
/// `extern "C"` (not exported): see `select_as`.
#[inline(never)]
pub(super) extern "C" fn read_clock(lb: *mut lb_balancer) -> lb_status {
    guard_value((), || {
        // SAFETY: `select_as` had a live handle (the contract).
        unsafe { &*lb }.balancer.tick()
    });
    // Opaque, so the compiler keeps the call to this function a tail call rather
    // than folding the constant into its caller.
    std::hint::black_box(LB_STATUS_OK)
}

/// lb_select() under the panic guard: every case, the common one included.
/// `extern "C"` (not exported): see `select_as`.
#[inline(never)]
extern "C" fn select_checked(lb: *mut lb_balancer, out: *mut lb_pick) -> lb_status {
    select_guarded(lb, ptr::null(), 0, out, |b, ids| b.try_select(ids))
}

/// A select under the panic guard, the body every guarded select shares: `out`
/// checked, then the handle and the `exclude_count` ids at `exclude_ids`, then
/// `select` with the ids; the pick (zeroed on any failure) written to `out`.
#[inline(always)]
pub(super) fn select_guarded(
    lb: *mut lb_balancer,
    exclude_ids: *const u64,
    exclude_count: usize,
    out: *mut lb_pick,
    select: impl FnOnce(&crate::Balancer, &[u64]) -> Result<Pick, Refused>,
) -> lb_status {
    guard(|| {
        non_null(out)?;
        // SAFETY: NULL or a live handle (the contract).
        let result = unsafe { handle(lb) }.and_then(|lb| {
            with_ids(exclude_ids, exclude_count, |ids| {
                select(&lb.balancer, ids).map_err(refused_status)
            })
        });
        write_pick(out, &result);
        result.map(|_| ())
    })
}

/// Runs `body` with the caller's array of `count` ids at `ids` (checked; read in
/// place when aligned, else copied out).
pub(super) fn with_ids<T>(
    ids: *const u64,
    count: usize,
    body: impl FnOnce(&[u64]) -> Result<T, lb_status>,
) -> Result<T, lb_status> {
    check_array(ids, count)?;
    if count == 0 {
        body(&[])
    } else if ids.align_offset(std::mem::align_of::<u64>()) == 0 {
        // SAFETY: checked, aligned, and the caller passes `count` ids that it does
        // not write during the call.
        body(unsafe { std::slice::from_raw_parts(ids, count) })
    } else {
        // SAFETY: checked; read without alignment.
        body(&unsafe { read_array(ids, count) })
    }
}

/// The status of a refusal on the request path.
#[inline(always)]
pub(super) fn refused_status(refused: Refused) -> lb_status {
    status_of(Error::from(refused))
}

/// Writes a select's pick, or a zeroed one after any failure, to `out` (not NULL).
#[inline(always)]
pub(super) fn write_pick(out: *mut lb_pick, result: &Result<Pick, lb_status>) {
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
    select_guarded(lb, exclude_ids, exclude_count, out, |b, ids| {
        b.try_select(ids)
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
    if outcome == LB_OUTCOME_SUCCESS && !pick.is_null() && !lb.is_null() {
        return report_success(lb, pick, latency_us);
    }
    report_checked(lb, pick, outcome, latency_us)
}

/// lb_report() of a success: its common case outside the panic guard, where
/// `report_success_fast` has no panic site (tests/fast-path.py checks the
/// compiled code for calls), and every other case under the guard. `extern "C"`
/// (not exported): see `select_as`.
#[inline(never)]
extern "C" fn report_success(
    lb: *mut lb_balancer,
    pick: *const lb_pick,
    latency_us: u64,
) -> lb_status {
    // SAFETY: `lb_report` checked both for NULL; `lb` is a live handle and `pick`
    // a readable lb_pick (the contract).
    let (handle, token) = unsafe { (&*lb, Pick::from(ptr::read_unaligned(pick))) };
    match handle
        .balancer
        .report_success_fast::<true>(&token, latency_us)
    {
        Some(Ok(())) => LB_STATUS_OK,
        Some(Err(refused)) => refused_status(refused),
        None => report_checked(lb, pick, LB_OUTCOME_SUCCESS, latency_us),
    }
}

/// lb_report() under the panic guard: every case, the common one included.
/// `extern "C"` (not exported): see `select_as`.
#[inline(never)]
extern "C" fn report_checked(
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
            .try_report(&pick, outcome, latency_us)
            .map_err(refused_status)
    })
}
