//! Reading the balancer's state (totals, per-instance health) and reading and
//! writing its options.

use super::guard::{check_array, guard, handle, non_null, status_of};
use super::options::lb_option;
use super::types::*;
use crate::options;
use std::ptr;

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
        // SAFETY: all.len() <= capacity writable elements (the caller's).
        unsafe { write_array(out, all.iter().map(lb_health::from)) };
        Ok(())
    })
}

/// Writes the balancer's metrics as text in the Prometheus exposition format
/// (version 0.0.4; OpenMetrics parsers read it too) to `buf`, NUL-terminated, and
/// the bytes the text takes with its NUL to `*needed`: the totals of lb_get_stats
/// (`lb_requests_total`, `lb_in_flight`, `lb_ejections_total`, ...), the strategy
/// in use (`lb_active_strategy{strategy="..."} 1`), and each instance's counters,
/// gauges and state labelled `instance="<id>"` (`lb_instance_*`), each family with
/// its `# HELP` and `# TYPE` lines. Serve it from your metrics endpoint; names
/// stay within 1.x (new ones may be added). When `len` is below `*needed`,
/// nothing is written to `buf` and LB_STATUS_BUFFER_TOO_SMALL tells the caller to
/// retry with `*needed` bytes (the text may grow in between). `buf` may be NULL
/// when `len` is 0, to ask for the size. Since 1.3.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); takes the locks the reads take (never on the request
/// path's common case), and allocates.
/// Ownership: borrows `lb`; `buf` and `*needed` are the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `needed` is NULL, or `buf` is NULL with
/// `len` > 0), LB_STATUS_INVALID_ARGUMENT (an impossible `len`),
/// LB_STATUS_BUFFER_TOO_SMALL, LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_metrics_text(
    lb: *mut lb_balancer,
    buf: *mut std::ffi::c_char,
    len: usize,
    needed: *mut usize,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(needed)?;
        check_array(buf, len)?;
        let text = lb.balancer.metrics_text();
        let with_nul = text.len() + 1;
        // SAFETY: not NULL; the caller passes a writable size_t.
        unsafe { ptr::write_unaligned(needed, with_nul) };
        if with_nul > len {
            return Err(LB_STATUS_BUFFER_TOO_SMALL);
        }
        // SAFETY: `with_nul` <= `len` bytes, which the caller passes writable.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            *buf.add(text.len()) = 0;
        }
        Ok(())
    })
}

/// Removes up to `capacity` of the oldest events from the balancer's event queue
/// and writes them, oldest first, to the array `buf`, and how many it wrote to
/// `*count`: ejections and recoveries of instances, panic mode entered and left,
/// and adaptive's strategy switches (`LB_EVENT_*`). lb keeps the last
/// LB_EVENT_QUEUE_CAPACITY events; when more arrive before they are read, the
/// oldest are dropped and counted in lb_stats.events_dropped. lb never calls you:
/// poll (from a timer, or after lb_get_stats) as often as you need. `buf` may be
/// NULL when `capacity` is 0 (then nothing is removed). Since 1.3.
///
/// Thread safety: may be called concurrently with any call but
/// lb_balancer_free(); concurrent polls each get different events.
/// Ownership: borrows `lb`; the array and `*count` are the caller's memory.
///
/// Errors: LB_STATUS_NULL_POINTER (`lb` or `count` is NULL, or `buf` is NULL with
/// `capacity` > 0), LB_STATUS_INVALID_ARGUMENT (an impossible `capacity`),
/// LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_poll_events(
    lb: *mut lb_balancer,
    buf: *mut lb_event,
    capacity: usize,
    count: *mut usize,
) -> lb_status {
    guard(|| {
        // SAFETY: NULL or a live handle (the contract).
        let lb = unsafe { handle(lb) }?;
        non_null(count)?;
        check_array(buf, capacity)?;
        let events = lb.balancer.poll_events(capacity);
        // SAFETY: poll_events returns at most `capacity` events, and the caller
        // passes `capacity` writable elements.
        unsafe { write_array(buf, events.iter().map(lb_event::from)) };
        // SAFETY: not NULL; the caller passes a writable size_t.
        unsafe { ptr::write_unaligned(count, events.len()) };
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
        let row = options::by_id(option).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
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
        let row = options::by_id(option).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        let current = row.get(&lb.balancer.config());
        // SAFETY: not NULL; the caller passes a writable double.
        unsafe { ptr::write_unaligned(value, current) };
        Ok(())
    })
}

/// Writes `items` to `out[0..]`, element by element (the caller's array need not
/// be aligned).
///
/// # Safety
/// `out` points to at least as many writable elements as `items` yields.
unsafe fn write_array<T>(out: *mut T, items: impl Iterator<Item = T>) {
    for (i, item) in items.enumerate() {
        // SAFETY: i is below the number of items, which the caller vouches for.
        unsafe { ptr::write_unaligned(out.add(i), item) };
    }
}
