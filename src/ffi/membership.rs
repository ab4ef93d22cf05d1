//! What the balancer chooses from and how: the strategy, the instance set, and
//! active health-check results.

use super::guard::{check_array, guard, handle, read_array, status_of, strategy_from};
use super::types::*;
use crate::Instance;

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
