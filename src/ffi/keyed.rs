//! Keyed selection: select by a key for the hashing strategies, and the hash
//! callers make their keys with.

use super::guard::guard_value;
use super::request::{lb_select, read_clock, select_guarded};
use super::types::*;
use std::ptr;

/// Selects an instance for a request with key `key` and writes the pick to
/// `*out`. `key` is a 64-bit hash of the caller's key (a user id, a session
/// cookie, a cache key), such as lb_hash_bytes() of its bytes; lb mixes it
/// further, so plain integers work too.
///
/// Under LB_STRATEGY_MAGLEV and LB_STRATEGY_RING_HASH the same key goes to the
/// same instance while the set and its health stay the same, in every process
/// with the same set (the mapping depends only on the instances' ids and
/// weights and the table options). When that instance cannot take the request
/// (ejected, at capacity) the key goes to the next instance in table order that
/// can, the same one each time, and comes back when it can again; instances on
/// probation get their trial traffic from keyed selects too. Under every other
/// strategy the key is ignored and this selects as lb_select() does. The pick is
/// an ordinary pick: report it with lb_report(). Since 1.3.
///
/// Thread safety: as lb_select().
/// Ownership: borrows `lb`; `*out` is the caller's memory, zeroed on any failure
/// when `out` is not NULL.
///
/// Errors: as lb_select(): LB_STATUS_NULL_POINTER (`lb` or `out` is NULL),
/// LB_STATUS_NO_INSTANCE, LB_STATUS_IN_FLIGHT_LIMIT, LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_select_key(lb: *mut lb_balancer, key: u64, out: *mut lb_pick) -> lb_status {
    // The common case outside the panic guard: `select_key_fast` has no panic
    // site (tests/fast-path.py checks the compiled code).
    if !out.is_null() {
        // SAFETY: NULL or a live handle (the contract).
        if let Some(handle) = unsafe { lb.as_ref() } {
            if let Some((pick, clock_due)) = handle.balancer.select_key_fast::<true>(key) {
                // SAFETY: not NULL; the caller passes a writable lb_pick.
                unsafe { ptr::write_unaligned(out, lb_pick::from(pick)) };
                if clock_due {
                    return read_clock(lb);
                }
                return LB_STATUS_OK;
            }
            // Not a hashing strategy (the common case above changed nothing):
            // exactly lb_select.
            if !handle.balancer.strategy().is_hashing() {
                return lb_select(lb, out);
            }
        }
    }
    select_key_checked(lb, key, out)
}

/// lb_select_key() under the panic guard: every case, the common one included.
/// `extern "C"` (not exported) so that calls to it cannot unwind and may be tail
/// calls.
#[inline(never)]
extern "C" fn select_key_checked(lb: *mut lb_balancer, key: u64, out: *mut lb_pick) -> lb_status {
    select_guarded(lb, ptr::null(), 0, out, |b, ids| b.try_select_key(key, ids))
}

/// Like lb_select_key(), but avoids the `exclude_count` ids at `exclude_ids` (the
/// instances already tried, for a retry) while any other instance can take the
/// request: the key goes along the table past them, to the same instance each
/// time. When none can, it selects as lb_select_key() would. Unknown ids in the
/// list are ignored. Since 1.3.
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
pub extern "C" fn lb_select_key_excluding(
    lb: *mut lb_balancer,
    key: u64,
    exclude_ids: *const u64,
    exclude_count: usize,
    out: *mut lb_pick,
) -> lb_status {
    select_guarded(lb, exclude_ids, exclude_count, out, |b, ids| {
        b.try_select_key(key, ids)
    })
}

/// The 64-bit hash lb gives keys: XXH3-64 with seed 0 (the xxHash family) of
/// the `len` bytes at `data`, the same value in every process and from every
/// binding (Rust's `lb::hash_bytes`, C++'s `lb::hash_bytes`, Go's
/// `lb.HashBytes`). Fixed for all of 1.x. `data` may be NULL when `len` is 0 (the
/// empty input); NULL with `len` > 0 returns 0 (which is not the hash of any
/// short input, but may be a hash: check your pointer). Since 1.3.
///
/// Thread safety: may be called from any thread at any time; no lock, no
/// allocation, no system call.
/// Ownership: borrows the bytes for the call.
#[no_mangle]
pub extern "C" fn lb_hash_bytes(data: *const std::ffi::c_void, len: usize) -> u64 {
    guard_value(0, || {
        if len == 0 {
            return crate::hash_bytes(&[]);
        }
        if data.is_null() || len > isize::MAX as usize {
            return 0;
        }
        // SAFETY: not NULL, and the caller passes `len` readable bytes that it
        // does not write during the call (bytes need no alignment).
        crate::hash_bytes(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
    })
}
