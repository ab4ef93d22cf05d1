//! Making and releasing a balancer, and its seed.

use super::guard::{guard, guard_value, handle, non_null, status_of, strategy_from};
use super::types::*;
use crate::{Balancer, Config};
use std::ptr;

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
