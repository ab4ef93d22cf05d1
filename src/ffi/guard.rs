//! What every exported function is built from: the panic guard, the status of a
//! core error, and the checks of handles, pointers, arrays and strategy values.

use super::types::*;
use crate::{Error, Strategy};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Runs `body`, mapping `Ok` to `LB_STATUS_OK`, `Err(status)` to `status`, and a
/// panic to `LB_STATUS_INTERNAL`.
#[inline(always)]
pub(super) fn guard<F: FnOnce() -> Result<(), lb_status>>(body: F) -> lb_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => LB_STATUS_OK,
        Ok(Err(status)) => status,
        Err(_) => LB_STATUS_INTERNAL,
    }
}

/// Runs `body` for the functions that return a value instead of a status: a panic
/// yields `neutral`.
#[inline(always)]
pub(super) fn guard_value<T, F: FnOnce() -> T>(neutral: T, body: F) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(neutral)
}

/// The status of a core error.
#[inline(always)]
pub(super) fn status_of(error: Error) -> lb_status {
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
pub(super) unsafe fn handle<'a>(lb: *const lb_balancer) -> Result<&'a lb_balancer, lb_status> {
    lb.as_ref().ok_or(LB_STATUS_NULL_POINTER)
}

/// Fails with `LB_STATUS_NULL_POINTER` when `p` is NULL.
#[inline(always)]
pub(super) fn non_null<T>(p: *const T) -> Result<(), lb_status> {
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
pub(super) fn check_array<T>(p: *const T, count: usize) -> Result<(), lb_status> {
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
pub(super) unsafe fn read_array<T: Copy>(p: *const T, count: usize) -> Vec<T> {
    (0..count).map(|i| ptr::read_unaligned(p.add(i))).collect()
}

pub(super) fn strategy_from(value: lb_strategy) -> Result<Strategy, lb_status> {
    Strategy::from_u32(value).ok_or(LB_STATUS_INVALID_ARGUMENT)
}
