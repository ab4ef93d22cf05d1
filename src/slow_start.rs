//! Slow start: an instance that joins a set already in service, or comes back into
//! service (after an ejection, or an external health score back above the
//! threshold), does not take its whole share at once. Its weight ramps up over
//! `slow_start_window_ms` by Envoy's slow-start formula,
//! weight x max(min_weight_percent / 100, (t / window)^(1 / aggression)),
//! t being the time since the ramp began, so a cold cache or an unwarmed JIT sees
//! a trickle first. The instances of the first set a balancer is given (or of any
//! set given while the balancer has none) do not ramp: there is nothing for them
//! to be slower than.
//!
//! The ramp is applied where the weights are: when a snapshot is built. The
//! maintenance pass republishes the set whenever a ramping instance's percentage
//! moves (in whole percents), so the request path never computes it.

use crate::config::Config;
use crate::instance::InstanceState;

/// The whole weight, in percent.
pub(crate) const FULL: u8 = 100;

/// The percentage (1..=100) of its weight that `state` gets at `now_us`; 100 when
/// it is not ramping, slow start is off, or the window has passed.
pub(crate) fn percent(state: &InstanceState, now_us: u64, cfg: &Config) -> u8 {
    match state.ramp_from() {
        Some(from) => percent_at(now_us.saturating_sub(from), cfg),
        None => FULL,
    }
}

/// The percentage `elapsed_us` into a ramp.
pub(crate) fn percent_at(elapsed_us: u64, cfg: &Config) -> u8 {
    let window_us = cfg.slow_start_window_ms.saturating_mul(1000);
    if window_us == 0 || elapsed_us >= window_us {
        return FULL;
    }
    let time_factor = elapsed_us as f64 / window_us as f64;
    let factor = libm::pow(time_factor, 1.0 / cfg.slow_start_aggression)
        .max(cfg.slow_start_min_weight_percent / 100.0);
    (factor * 100.0).round().clamp(1.0, 100.0) as u8
}

/// The weight the strategies use for `weight` at `percent`. While any instance of
/// the set ramps (`ramping`), every weight is counted in hundredths, so that an
/// instance of weight 1 can ramp too; otherwise weights are used as given.
/// Saturates at `u32::MAX` (a weight above 42,949,672 during a ramp).
pub(crate) fn effective_weight(weight: u32, percent: u8, ramping: bool) -> u32 {
    if ramping {
        weight.saturating_mul(percent as u32)
    } else {
        weight
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cfg(window_ms: u64, aggression: f64, min_percent: f64) -> Config {
        Config {
            slow_start_window_ms: window_ms,
            slow_start_aggression: aggression,
            slow_start_min_weight_percent: min_percent,
            ..Config::default()
        }
    }

    #[test]
    fn follows_the_formula() {
        let c = cfg(10_000, 1.0, 10.0);
        // Linear with aggression 1, floored at 10%.
        assert_eq!(percent_at(0, &c), 10);
        assert_eq!(percent_at(500_000, &c), 10);
        assert_eq!(percent_at(2_500_000, &c), 25);
        assert_eq!(percent_at(5_000_000, &c), 50);
        assert_eq!(percent_at(9_990_000, &c), 100);
        assert_eq!(percent_at(10_000_000, &c), 100);
        // Aggression 2: (t/window)^(1/2), faster at first.
        let c = cfg(10_000, 2.0, 0.0);
        assert_eq!(percent_at(2_500_000, &c), 50);
        assert_eq!(percent_at(0, &c), 1);
        // Window 0: off.
        assert_eq!(percent_at(0, &cfg(0, 1.0, 10.0)), 100);
    }

    #[test]
    fn weights_count_in_hundredths_while_ramping() {
        assert_eq!(effective_weight(3, 100, false), 3);
        assert_eq!(effective_weight(3, 40, true), 120);
        assert_eq!(effective_weight(1, 100, true), 100);
        assert_eq!(effective_weight(u32::MAX, 50, true), u32::MAX);
    }
}
