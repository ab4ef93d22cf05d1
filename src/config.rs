//! All of lb's knobs in one struct, with documented defaults and validation.

use crate::error::Error;
use crate::types::Strategy;

/// Balancer configuration. Every field has a default (see [`Config::default`]) and is
/// checked by [`Config::validate`]: NaN, infinities, negatives and out-of-range values
/// are refused with an error naming the field.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The strategy to start with. Default: round robin.
    pub strategy: Strategy,
    /// Seeds every random generator lb uses, so a single-threaded run on a
    /// [`ManualClock`](crate::ManualClock) replays exactly. 0 (the default): each
    /// balancer draws its own seed from the operating system's entropy when it is
    /// made, so balancers built from one `Config` (and worker processes forked from
    /// one parent) never make the same random choices in step. Read the seed in
    /// use with [`Balancer::seed`](crate::Balancer::seed) and set it here to replay.
    /// Read once, when the balancer is made: `set_config` does not reseed it.
    pub seed: u64,
    /// A pick not reported within this many milliseconds expires: its in-flight
    /// slot is released, it counts as cancelled and expired, and a later report of
    /// it is refused. 0 = picks never expire (long-lived streams).
    ///
    /// The clock is never read on the request path, so expiry keeps time in steps:
    /// it steps at the first clock read at least one timeout after its previous
    /// step (one step per read, however long the balancer was idle), and a pick
    /// expires at the first clock read at least one timeout after the step that
    /// follows its select. A pick never expires less than one timeout after its
    /// select; with the clock read at least every d, it has expired by
    /// 2 x timeout + 2 x d after it. Each thread reads the clock every
    /// `clock_refresh_ops` of its calls on a balancer; `stats`, `health` and
    /// `all_health` read it on every call. A report after the timeout but before the
    /// pick is seen to expire is accepted and counted once, as its outcome.
    /// Default 300 000 (5 minutes). Range 0..=4 294 967 295 (2^32 - 1) ms.
    pub pick_timeout_ms: u64,
    /// Panic mode: when fewer than this fraction of the set is healthy, select from
    /// every instance regardless of health (capacity still applies), as Envoy does.
    /// Default 0.5. Range 0..=1 (0 = never panic).
    pub panic_threshold: f64,
    /// An instance whose health score falls below this is ejected. Default 0.5.
    /// Range (0, 1].
    pub unhealthy_threshold: f64,
    /// Consecutive failures that eject an instance at once. Default 5 (Envoy's
    /// outlier detection default). Range 1..=1 000 000.
    pub consecutive_failures: u32,
    /// Recent outcomes (decayed count) an instance needs before its success rate or
    /// latency can eject it. Default 10. Range 1..=1 000 000.
    pub min_samples: u32,
    /// Cool-down of a first ejection, in milliseconds; each further ejection doubles
    /// it up to `max_ejection_ms`. Default 5 000. Range 1..=86 400 000.
    pub base_ejection_ms: u64,
    /// The longest cool-down. Default 300 000. Range base_ejection_ms..=86 400 000.
    pub max_ejection_ms: u64,
    /// Successful trial requests in a row that return an ejected instance to service.
    /// Default 5. Range 1..=10 000.
    pub recovery_successes: u32,
    /// Fraction of picks offered to an instance on trial after its cool-down (at
    /// most one trial request in flight per instance). Default 0.02. Range (0, 1].
    pub trial_ratio: f64,
    /// Time constant of the latency average, in milliseconds: a sample's weight decays
    /// as exp(-age / tau), so bursts and trickles both converge. Default 5 000.
    /// Range [1, 3 600 000].
    pub latency_tau_ms: f64,
    /// Time constant of the success-rate average used for health, in milliseconds.
    /// Default 10 000. Range [1, 3 600 000].
    pub health_window_ms: f64,
    /// Latency outlier ratio: an instance this many times slower than the median of
    /// the set scores exactly `unhealthy_threshold` on latency alone (slower ones are
    /// ejected; faster ones only lose some score). Default 10. Range (1, 1e6].
    pub latency_outlier_ratio: f64,
    /// A failure is averaged into the latency as at least this many times the median
    /// latency of the set, so a fast-failing instance does not look fast.
    /// Default 5. Range [1, 1e6].
    pub failure_penalty_factor: f64,
    /// Adaptive: completed requests per evaluation window; the window's length in
    /// time follows the request rate, within the two bounds below. Default 2 000.
    /// Range 10..=10 000 000.
    pub adaptive_window_requests: u32,
    /// Adaptive: shortest evaluation window, in milliseconds. Default 1 000.
    /// Range 1..=3 600 000.
    pub adaptive_min_window_ms: u64,
    /// Adaptive: longest evaluation window, in milliseconds. Default 30 000.
    /// Range adaptive_min_window_ms..=3 600 000.
    pub adaptive_max_window_ms: u64,
    /// Adaptive: another strategy must be predicted this fraction better than the
    /// active one, in two windows running, before adaptive switches. Default 0.1.
    /// Range [0, 1).
    pub adaptive_hysteresis: f64,
    /// How often the background bookkeeping (expiry, health evaluation, weight
    /// refresh, adaptive evaluation) runs, in milliseconds. Default 100.
    /// Range 1..=60 000.
    pub maintenance_interval_ms: u64,
    /// Each thread reads the clock once every this many of its calls (selects and
    /// reports) on a balancer; the clock is never read on every call. Default 16.
    /// Range 1..=65 536.
    pub clock_refresh_ops: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            strategy: Strategy::RoundRobin,
            seed: 0,
            pick_timeout_ms: 300_000,
            panic_threshold: 0.5,
            unhealthy_threshold: 0.5,
            consecutive_failures: 5,
            min_samples: 10,
            base_ejection_ms: 5_000,
            max_ejection_ms: 300_000,
            recovery_successes: 5,
            trial_ratio: 0.02,
            latency_tau_ms: 5_000.0,
            health_window_ms: 10_000.0,
            latency_outlier_ratio: 10.0,
            failure_penalty_factor: 5.0,
            adaptive_window_requests: 2_000,
            adaptive_min_window_ms: 1_000,
            adaptive_max_window_ms: 30_000,
            adaptive_hysteresis: 0.1,
            maintenance_interval_ms: 100,
            clock_refresh_ops: 16,
        }
    }
}

/// 64 bits from the operating system's entropy source (a system call each time, so
/// processes forked from one parent still differ). Should the source fail, the time,
/// the process id and a counter stand in: distinct, if not unpredictable.
pub(crate) fn entropy() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static FALLBACK: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    getrandom::u64().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = FALLBACK.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut x = t ^ n ^ (std::process::id() as u64).rotate_left(32);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 29)
    })
}

/// A seed drawn from entropy: never 0, which `Config::seed` reserves for "draw one".
pub(crate) fn entropy_seed() -> u64 {
    loop {
        let s = entropy();
        if s != 0 {
            return s;
        }
    }
}

const DAY_MS: u64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;

fn float_in(field: &'static str, v: f64, lo: f64, hi: f64, lo_open: bool) -> Result<(), Error> {
    if !v.is_finite() {
        return Err(Error::invalid(field, format!("{v} is not a finite number")));
    }
    let low_ok = if lo_open { v > lo } else { v >= lo };
    if !low_ok || v > hi {
        let open = if lo_open { "(" } else { "[" };
        return Err(Error::invalid(
            field,
            format!("{v} is outside {open}{lo}, {hi}]"),
        ));
    }
    Ok(())
}

fn int_in(field: &'static str, v: u64, lo: u64, hi: u64) -> Result<(), Error> {
    if v < lo || v > hi {
        return Err(Error::invalid(field, format!("{v} is outside {lo}..={hi}")));
    }
    Ok(())
}

impl Config {
    /// Checks every field; the first bad one is named in the error.
    pub fn validate(&self) -> Result<(), Error> {
        int_in("pick_timeout_ms", self.pick_timeout_ms, 0, u32::MAX as u64)?;
        float_in("panic_threshold", self.panic_threshold, 0.0, 1.0, false)?;
        float_in(
            "unhealthy_threshold",
            self.unhealthy_threshold,
            0.0,
            1.0,
            true,
        )?;
        int_in(
            "consecutive_failures",
            self.consecutive_failures as u64,
            1,
            1_000_000,
        )?;
        int_in("min_samples", self.min_samples as u64, 1, 1_000_000)?;
        int_in("base_ejection_ms", self.base_ejection_ms, 1, DAY_MS)?;
        int_in(
            "max_ejection_ms",
            self.max_ejection_ms,
            self.base_ejection_ms,
            DAY_MS,
        )?;
        int_in(
            "recovery_successes",
            self.recovery_successes as u64,
            1,
            10_000,
        )?;
        float_in("trial_ratio", self.trial_ratio, 0.0, 1.0, true)?;
        float_in("latency_tau_ms", self.latency_tau_ms, 1.0, HOUR_MS, false)?;
        float_in(
            "health_window_ms",
            self.health_window_ms,
            1.0,
            HOUR_MS,
            false,
        )?;
        float_in(
            "latency_outlier_ratio",
            self.latency_outlier_ratio,
            1.0,
            1e6,
            true,
        )?;
        float_in(
            "failure_penalty_factor",
            self.failure_penalty_factor,
            1.0,
            1e6,
            false,
        )?;
        int_in(
            "adaptive_window_requests",
            self.adaptive_window_requests as u64,
            10,
            10_000_000,
        )?;
        int_in(
            "adaptive_min_window_ms",
            self.adaptive_min_window_ms,
            1,
            3_600_000,
        )?;
        int_in(
            "adaptive_max_window_ms",
            self.adaptive_max_window_ms,
            self.adaptive_min_window_ms,
            3_600_000,
        )?;
        float_in(
            "adaptive_hysteresis",
            self.adaptive_hysteresis,
            0.0,
            1.0,
            false,
        )?;
        if self.adaptive_hysteresis >= 1.0 {
            return Err(Error::invalid("adaptive_hysteresis", "must be below 1"));
        }
        int_in(
            "maintenance_interval_ms",
            self.maintenance_interval_ms,
            1,
            60_000,
        )?;
        int_in(
            "clock_refresh_ops",
            self.clock_refresh_ops as u64,
            1,
            65_536,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_field() {
        type Mutation = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "panic_threshold",
                Box::new(|c| c.panic_threshold = f64::NAN),
            ),
            ("panic_threshold", Box::new(|c| c.panic_threshold = 1.5)),
            ("panic_threshold", Box::new(|c| c.panic_threshold = -0.1)),
            (
                "unhealthy_threshold",
                Box::new(|c| c.unhealthy_threshold = 0.0),
            ),
            (
                "latency_tau_ms",
                Box::new(|c| c.latency_tau_ms = f64::INFINITY),
            ),
            ("latency_tau_ms", Box::new(|c| c.latency_tau_ms = -3.0)),
            ("trial_ratio", Box::new(|c| c.trial_ratio = 0.0)),
            ("max_ejection_ms", Box::new(|c| c.max_ejection_ms = 1)),
            (
                "consecutive_failures",
                Box::new(|c| c.consecutive_failures = 0),
            ),
            (
                "adaptive_hysteresis",
                Box::new(|c| c.adaptive_hysteresis = 1.0),
            ),
            ("clock_refresh_ops", Box::new(|c| c.clock_refresh_ops = 0)),
            (
                "pick_timeout_ms",
                Box::new(|c| c.pick_timeout_ms = u64::MAX),
            ),
            (
                "latency_outlier_ratio",
                Box::new(|c| c.latency_outlier_ratio = 1.0),
            ),
        ];
        for (field, mutate) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            match c.validate() {
                Err(Error::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected an error naming it, got {other:?}"),
            }
        }
    }
}
