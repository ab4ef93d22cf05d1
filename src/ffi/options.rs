//! Options for lb_set_option() / lb_get_option(): one table, [`OPTIONS`], maps each
//! `LB_OPTION_*` value to a field of [`Config`] with its range and default. Both
//! functions and the tests read that table, so an option is described once.
//!
//! Every option's doc comment below states its range and default in the form
//! `Range: <interval>[, whole numbers]. Default: <value>.`; a test reads the
//! generated header and checks those lines against the table.

use crate::Config;

/// Identifies a configuration knob in lb_set_option() and lb_get_option(): one of
/// the `LB_OPTION_*` values. Every option is passed as a double; an integer option
/// takes only whole numbers.
pub type lb_option = u32;

/// A pick not reported within this many milliseconds expires: its in-flight slot
/// is released, it counts as cancelled and expired, and a later report of it is
/// refused. 0 = picks never expire (long-lived streams).
///
/// lb never reads the clock on the request path, so it keeps time in steps: the
/// expiry clock steps at the first clock read that comes at least one timeout
/// after its previous step, one step per read however long the balancer was
/// idle, and a pick expires at the first clock read at least one timeout after
/// the step that follows its select. So a pick never expires less than one
/// timeout after its select; with the clock read at least every d, it has expired
/// by 2 x timeout + 2 x d after it (under steady traffic, between one and about two
/// timeouts). Each thread reads the clock once every LB_OPTION_CLOCK_REFRESH_OPS
/// of its calls on a balancer; lb_get_stats(), lb_get_health() and
/// lb_get_all_health() read it on every call. A report that arrives after the
/// timeout but before lb has seen the pick expire is accepted and counted once, as
/// its outcome.
/// Range: [0, 4294967295], whole numbers. Default: 300000.
pub const LB_OPTION_PICK_TIMEOUT_MS: lb_option = 1;
/// Panic mode: while fewer than this fraction of the set is healthy, lb selects
/// from every instance regardless of health (capacity still applies).
/// 0 = never panic.
/// Range: [0, 1]. Default: 0.5.
pub const LB_OPTION_PANIC_THRESHOLD: lb_option = 2;
/// An instance whose health score falls below this is ejected (not selected
/// outside panic mode).
/// Range: (0, 1]. Default: 0.5.
pub const LB_OPTION_UNHEALTHY_THRESHOLD: lb_option = 3;
/// Consecutive failures that eject an instance at once.
/// Range: [1, 1000000], whole numbers. Default: 5.
pub const LB_OPTION_CONSECUTIVE_FAILURES: lb_option = 4;
/// Recent outcomes an instance needs before its success rate or latency can
/// eject it.
/// Range: [1, 1000000], whole numbers. Default: 10.
pub const LB_OPTION_MIN_SAMPLES: lb_option = 5;
/// Cool-down of a first ejection, in milliseconds; each further ejection doubles
/// it, up to LB_OPTION_MAX_EJECTION_MS. Must not exceed LB_OPTION_MAX_EJECTION_MS.
/// Range: [1, 86400000], whole numbers. Default: 5000.
pub const LB_OPTION_BASE_EJECTION_MS: lb_option = 6;
/// The longest ejection cool-down, in milliseconds. Must be at least
/// LB_OPTION_BASE_EJECTION_MS (raise this one first when raising both).
/// Range: [1, 86400000], whole numbers. Default: 300000.
pub const LB_OPTION_MAX_EJECTION_MS: lb_option = 7;
/// Successful trial requests in a row that return an ejected instance to service.
/// Range: [1, 10000], whole numbers. Default: 5.
pub const LB_OPTION_RECOVERY_SUCCESSES: lb_option = 8;
/// Fraction of picks offered to an ejected instance on trial after its cool-down
/// (at most one trial request in flight per instance).
/// Range: (0, 1]. Default: 0.02.
pub const LB_OPTION_TRIAL_RATIO: lb_option = 9;
/// Time constant of the latency average (smoothing), in milliseconds: a sample's
/// weight decays as exp(-age / tau).
/// Range: [1, 3600000]. Default: 5000.
pub const LB_OPTION_LATENCY_TAU_MS: lb_option = 10;
/// Time constant (window) of the success-rate average used for health, in
/// milliseconds.
/// Range: [1, 3600000]. Default: 10000.
pub const LB_OPTION_HEALTH_WINDOW_MS: lb_option = 11;
/// Latency outlier ratio: an instance this many times slower than the median of
/// the set scores exactly LB_OPTION_UNHEALTHY_THRESHOLD on latency alone.
/// Range: (1, 1000000]. Default: 10.
pub const LB_OPTION_LATENCY_OUTLIER_RATIO: lb_option = 12;
/// A failure is averaged into the latency as at least this many times the median
/// latency of the set, so that a fast-failing instance does not look fast.
/// Range: [1, 1000000]. Default: 5.
pub const LB_OPTION_FAILURE_PENALTY_FACTOR: lb_option = 13;
/// Adaptive strategy: completed requests per evaluation window.
/// Range: [10, 10000000], whole numbers. Default: 2000.
pub const LB_OPTION_ADAPTIVE_WINDOW_REQUESTS: lb_option = 14;
/// Adaptive strategy: shortest evaluation window, in milliseconds. Must not exceed
/// LB_OPTION_ADAPTIVE_MAX_WINDOW_MS.
/// Range: [1, 3600000], whole numbers. Default: 1000.
pub const LB_OPTION_ADAPTIVE_MIN_WINDOW_MS: lb_option = 15;
/// Adaptive strategy: longest evaluation window, in milliseconds. Must be at least
/// LB_OPTION_ADAPTIVE_MIN_WINDOW_MS.
/// Range: [1, 3600000], whole numbers. Default: 30000.
pub const LB_OPTION_ADAPTIVE_MAX_WINDOW_MS: lb_option = 16;
/// Adaptive strategy: another strategy must be predicted this fraction better than
/// the active one, in two windows running, before adaptive switches.
/// Range: [0, 1). Default: 0.1.
pub const LB_OPTION_ADAPTIVE_HYSTERESIS: lb_option = 17;
/// How often the background bookkeeping (expiry, health evaluation, weight
/// refresh, adaptive evaluation) runs, in milliseconds.
/// Range: [1, 60000], whole numbers. Default: 100.
pub const LB_OPTION_MAINTENANCE_INTERVAL_MS: lb_option = 18;
/// Each thread reads the clock once every this many selects.
/// Range: [1, 65536], whole numbers. Default: 16.
pub const LB_OPTION_CLOCK_REFRESH_OPS: lb_option = 19;

/// How an option's double maps onto its [`Config`] field.
#[derive(Clone, Copy)]
pub(crate) enum Field {
    U64(fn(&Config) -> u64, fn(&mut Config, u64)),
    U32(fn(&Config) -> u32, fn(&mut Config, u32)),
    F64(fn(&Config) -> f64, fn(&mut Config, f64)),
}

/// One row of the option table. The name, bounds and default are what the header
/// documents; the tests check them against the core's validation and the header.
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct OptionSpec {
    pub(crate) id: lb_option,
    /// The constant's name, as in the header.
    pub(crate) name: &'static str,
    pub(crate) field: Field,
    /// Lowest value; excluded itself when `min_open`.
    pub(crate) min: f64,
    pub(crate) min_open: bool,
    /// Highest value; excluded itself when `max_open`.
    pub(crate) max: f64,
    pub(crate) max_open: bool,
    /// Config::default()'s value (a test checks it).
    pub(crate) default: f64,
}

macro_rules! field {
    (u64 $f:ident) => {
        Field::U64(|c| c.$f, |c, v| c.$f = v)
    };
    (u32 $f:ident) => {
        Field::U32(|c| c.$f, |c, v| c.$f = v)
    };
    (f64 $f:ident) => {
        Field::F64(|c| c.$f, |c, v| c.$f = v)
    };
}

macro_rules! spec {
    ($id:ident, $ty:ident $field:ident, $lo:ident $min:expr, $max:expr, $hi:ident, $default:expr) => {
        OptionSpec {
            id: $id,
            name: stringify!($id),
            field: field!($ty $field),
            min: $min as f64,
            min_open: spec!(@open $lo),
            max: $max as f64,
            max_open: spec!(@open $hi),
            default: $default as f64,
        }
    };
    (@open closed) => {
        false
    };
    (@open open) => {
        true
    };
}

/// Every option, in `LB_OPTION_*` order. A bound is `closed` when the value itself
/// is allowed and `open` when it is excluded.
pub(crate) static OPTIONS: [OptionSpec; 19] = [
    spec!(LB_OPTION_PICK_TIMEOUT_MS, u64 pick_timeout_ms, closed 0, u32::MAX, closed, 300_000),
    spec!(LB_OPTION_PANIC_THRESHOLD, f64 panic_threshold, closed 0, 1, closed, 0.5),
    spec!(LB_OPTION_UNHEALTHY_THRESHOLD, f64 unhealthy_threshold, open 0, 1, closed, 0.5),
    spec!(LB_OPTION_CONSECUTIVE_FAILURES, u32 consecutive_failures, closed 1, 1_000_000, closed, 5),
    spec!(LB_OPTION_MIN_SAMPLES, u32 min_samples, closed 1, 1_000_000, closed, 10),
    spec!(LB_OPTION_BASE_EJECTION_MS, u64 base_ejection_ms, closed 1, 86_400_000, closed, 5_000),
    spec!(LB_OPTION_MAX_EJECTION_MS, u64 max_ejection_ms, closed 1, 86_400_000, closed, 300_000),
    spec!(LB_OPTION_RECOVERY_SUCCESSES, u32 recovery_successes, closed 1, 10_000, closed, 5),
    spec!(LB_OPTION_TRIAL_RATIO, f64 trial_ratio, open 0, 1, closed, 0.02),
    spec!(LB_OPTION_LATENCY_TAU_MS, f64 latency_tau_ms, closed 1, 3_600_000, closed, 5_000),
    spec!(LB_OPTION_HEALTH_WINDOW_MS, f64 health_window_ms, closed 1, 3_600_000, closed, 10_000),
    spec!(LB_OPTION_LATENCY_OUTLIER_RATIO, f64 latency_outlier_ratio, open 1, 1e6, closed, 10),
    spec!(LB_OPTION_FAILURE_PENALTY_FACTOR, f64 failure_penalty_factor, closed 1, 1e6, closed, 5),
    spec!(LB_OPTION_ADAPTIVE_WINDOW_REQUESTS, u32 adaptive_window_requests, closed 10, 10_000_000, closed, 2_000),
    spec!(LB_OPTION_ADAPTIVE_MIN_WINDOW_MS, u64 adaptive_min_window_ms, closed 1, 3_600_000, closed, 1_000),
    spec!(LB_OPTION_ADAPTIVE_MAX_WINDOW_MS, u64 adaptive_max_window_ms, closed 1, 3_600_000, closed, 30_000),
    spec!(LB_OPTION_ADAPTIVE_HYSTERESIS, f64 adaptive_hysteresis, closed 0, 1, open, 0.1),
    spec!(LB_OPTION_MAINTENANCE_INTERVAL_MS, u64 maintenance_interval_ms, closed 1, 60_000, closed, 100),
    spec!(LB_OPTION_CLOCK_REFRESH_OPS, u32 clock_refresh_ops, closed 1, 65_536, closed, 16),
];

/// The table row of `option`, or `None` for an unknown option.
pub(crate) fn find(option: lb_option) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.id == option)
}

/// A whole number in `0..=max`, or `None`.
fn whole(value: f64, max: u64) -> Option<u64> {
    // Every `max` used here is at most 2^53, so `max as f64` is exact.
    if value.is_finite() && value.fract() == 0.0 && value >= 0.0 && value <= max as f64 {
        Some(value as u64)
    } else {
        None
    }
}

impl OptionSpec {
    /// The option's current value in `config`.
    pub(crate) fn get(&self, config: &Config) -> f64 {
        match self.field {
            Field::U64(get, _) => get(config) as f64,
            Field::U32(get, _) => get(config) as f64,
            Field::F64(get, _) => get(config),
        }
    }

    /// Writes `value` into `config`'s field; `false` when the value cannot be the
    /// field's type (NaN, infinite, fractional or negative for an integer field).
    /// The range itself is checked by `Config::validate`.
    pub(crate) fn set(&self, config: &mut Config, value: f64) -> bool {
        match self.field {
            Field::U64(_, set) => match whole(value, 1 << 53) {
                Some(v) => {
                    set(config, v);
                    true
                }
                None => false,
            },
            Field::U32(_, set) => match whole(value, u32::MAX as u64) {
                Some(v) => {
                    set(config, v as u32);
                    true
                }
                None => false,
            },
            Field::F64(_, set) => {
                if value.is_finite() {
                    set(config, value);
                    true
                } else {
                    false
                }
            }
        }
    }
}
