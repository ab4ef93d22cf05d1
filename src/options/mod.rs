//! The option table: every numeric knob of [`Config`] described once, with its C
//! option id (`LB_OPTION_*`), its type, its range and its default.
//! `Config::validate` and `Config::default` are implemented here from the table, and
//! the C ABI's lb_set_option() / lb_get_option() look rows up in it by id, so a
//! range or a default is written in one place. Tests check the doc comments of
//! `Config`'s fields and of the C header against the table.
//!
//! This module sits next to `config` at the bottom of the crate: it reads `config`
//! and `error`, and `config` does not read it.

use crate::config::Config;
use crate::error::Error;

/// A value of an option's own type, made by [`OptionSpec::parse`] (from the C ABI's
/// double) or read by [`OptionSpec::value`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    U64(u64),
    U32(u32),
    F64(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::U64(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
        }
    }
}

impl Value {
    /// The value as a double (exact for every value in an option's range).
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Value::U64(v) => v as f64,
            Value::U32(v) => v as f64,
            Value::F64(v) => v,
        }
    }
}

/// The kind of a row's [`Config`] field (a whole number stored as `u64` or `u32`, or
/// a float), and how the row reads and writes it.
#[derive(Clone, Copy)]
enum Access {
    U64(fn(&Config) -> u64, fn(&mut Config, u64)),
    U32(fn(&Config) -> u32, fn(&mut Config, u32)),
    F64(fn(&Config) -> f64, fn(&mut Config, f64)),
}

/// One row of the option table.
#[derive(Clone, Copy)]
pub(crate) struct OptionSpec {
    /// The C option id: the value of `LB_OPTION_<NAME in capitals>`.
    pub(crate) id: u32,
    /// The [`Config`] field, e.g. "pick_timeout_ms"; errors name it.
    pub(crate) name: &'static str,
    access: Access,
    /// Lowest value; excluded itself when `min_open`.
    pub(crate) min: f64,
    pub(crate) min_open: bool,
    /// Highest value; excluded itself when `max_open`.
    pub(crate) max: f64,
    pub(crate) max_open: bool,
    /// `Config::default()`'s value.
    pub(crate) default: f64,
}

macro_rules! access {
    (u64 $f:ident) => {
        Access::U64(|c| c.$f, |c, v| c.$f = v)
    };
    (u32 $f:ident) => {
        Access::U32(|c| c.$f, |c, v| c.$f = v)
    };
    (f64 $f:ident) => {
        Access::F64(|c| c.$f, |c, v| c.$f = v)
    };
}

macro_rules! spec {
    ($id:literal, $ty:ident $field:ident, $lo:ident $min:expr, $max:expr, $hi:ident, $default:expr) => {
        OptionSpec {
            id: $id,
            name: stringify!($field),
            access: access!($ty $field),
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

/// Every option, in id order: id, type and field, lower bound, upper bound, default.
/// A bound is `closed` when the value itself is allowed and `open` when it is
/// excluded. Three ranges also depend on another option (checked by
/// `Config::validate`): max_ejection_ms >= base_ejection_ms,
/// adaptive_max_window_ms >= adaptive_min_window_ms and ring_hash_max_size >=
/// ring_hash_min_size; maglev_table_size must be a prime, and hash_balance_factor 0
/// or at least 100.
pub(crate) static OPTIONS: [OptionSpec; 30] = [
    spec!(1, u64 pick_timeout_ms, closed 0, u32::MAX, closed, 300_000),
    spec!(2, f64 panic_threshold, closed 0, 1, closed, 0.5),
    spec!(3, f64 unhealthy_threshold, open 0, 1, closed, 0.5),
    spec!(4, u32 consecutive_failures, closed 1, 1_000_000, closed, 5),
    spec!(5, u32 min_samples, closed 1, 1_000_000, closed, 10),
    spec!(6, u64 base_ejection_ms, closed 1, 86_400_000, closed, 5_000),
    spec!(7, u64 max_ejection_ms, closed 1, 86_400_000, closed, 300_000),
    spec!(8, u32 recovery_successes, closed 1, 10_000, closed, 5),
    spec!(9, f64 trial_ratio, open 0, 1, closed, 0.02),
    spec!(10, f64 latency_tau_ms, closed 1, 3_600_000, closed, 2_000),
    spec!(11, f64 health_window_ms, closed 1, 3_600_000, closed, 10_000),
    spec!(12, f64 latency_outlier_ratio, open 1, 1e6, closed, 10),
    spec!(13, f64 failure_penalty_factor, closed 1, 1e6, closed, 5),
    spec!(14, u32 adaptive_window_requests, closed 10, 10_000_000, closed, 2_000),
    spec!(15, u64 adaptive_min_window_ms, closed 1, 3_600_000, closed, 1_000),
    spec!(16, u64 adaptive_max_window_ms, closed 1, 3_600_000, closed, 30_000),
    spec!(17, f64 adaptive_hysteresis, closed 0, 1, open, 0.1),
    spec!(18, u64 maintenance_interval_ms, closed 1, 60_000, closed, 100),
    spec!(19, u32 clock_refresh_ops, closed 1, 65_536, closed, 64),
    spec!(20, u32 choice_count, closed 2, 8, closed, 2),
    spec!(21, f64 active_request_bias, closed 0, 10, closed, 1),
    spec!(22, f64 peak_ewma_tau_ms, closed 1, 3_600_000, closed, 10_000),
    spec!(23, f64 peak_ewma_default_latency_ms, closed 0.001, 3_600_000, closed, 30),
    spec!(24, u64 slow_start_window_ms, closed 0, 3_600_000, closed, 30_000),
    spec!(25, f64 slow_start_aggression, open 0, 100, closed, 1),
    spec!(26, f64 slow_start_min_weight_percent, closed 0, 100, closed, 10),
    spec!(27, u32 maglev_table_size, closed 17, 5_000_011, closed, 65_537),
    spec!(28, u64 ring_hash_min_size, closed 1, 8_388_608, closed, 1_024),
    spec!(29, u64 ring_hash_max_size, closed 1, 8_388_608, closed, 8_388_608),
    spec!(30, u32 hash_balance_factor, closed 0, 10_000, closed, 0),
];

/// Pairs of options where the first may not exceed the second: (lesser, greater).
/// The error names the greater one.
const ORDERED: [(&str, &str); 3] = [
    ("base_ejection_ms", "max_ejection_ms"),
    ("adaptive_min_window_ms", "adaptive_max_window_ms"),
    ("ring_hash_min_size", "ring_hash_max_size"),
];

/// Options whose value must be a prime (besides its range).
const PRIME: [&str; 1] = ["maglev_table_size"];

/// Options that are 0 (off) or at least a value (besides their range).
const OFF_OR_AT_LEAST: [(&str, u64); 1] = [("hash_balance_factor", 100)];

/// Whether `n` is a prime (trial division: the values checked are below 2^23).
fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

/// The row with C option id `id`, or `None` for an unknown one.
pub(crate) fn by_id(id: u32) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.id == id)
}

/// The row of the [`Config`] field `name`, or `None`.
pub(crate) fn by_name(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.name == name)
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
    /// Whether the option takes only whole numbers.
    #[cfg(test)]
    pub(crate) fn is_whole(&self) -> bool {
        !matches!(self.access, Access::F64(..))
    }

    /// `value` as the option's type, or `None` when it cannot be one (NaN,
    /// infinite; for a whole-number option also fractional, negative or too large
    /// for the field). The range itself is checked by `Config::validate`.
    pub(crate) fn parse(&self, value: f64) -> Option<Value> {
        match self.access {
            Access::U64(..) => whole(value, 1 << 53).map(Value::U64),
            Access::U32(..) => whole(value, u32::MAX as u64).map(|v| Value::U32(v as u32)),
            Access::F64(..) => value.is_finite().then_some(Value::F64(value)),
        }
    }

    /// The option's current value in `config`.
    pub(crate) fn value(&self, config: &Config) -> Value {
        match self.access {
            Access::U64(get, _) => Value::U64(get(config)),
            Access::U32(get, _) => Value::U32(get(config)),
            Access::F64(get, _) => Value::F64(get(config)),
        }
    }

    /// The option's current value in `config`, as a double.
    pub(crate) fn get(&self, config: &Config) -> f64 {
        self.value(config).as_f64()
    }

    /// Writes `value` (from this row's [`parse`](Self::parse)) into `config`'s field.
    ///
    /// # Panics
    /// When `value` is of another type than the field: a bug in lb.
    pub(crate) fn set(&self, config: &mut Config, value: Value) {
        match (self.access, value) {
            (Access::U64(_, set), Value::U64(v)) => set(config, v),
            (Access::U32(_, set), Value::U32(v)) => set(config, v),
            (Access::F64(_, set), Value::F64(v)) => set(config, v),
            _ => panic!("{}: {value:?} is not of the field's type", self.name),
        }
    }

    /// The range as an interval: "[1, 86400000]", "(0, 1]", ...
    pub(crate) fn interval(&self) -> String {
        format!(
            "{}{}, {}{}",
            if self.min_open { "(" } else { "[" },
            self.min,
            self.max,
            if self.max_open { ")" } else { "]" },
        )
    }

    /// The line that documents the option, in `Config`'s field docs and in the
    /// header: "Range: [1, 86400000], whole numbers. Default: 5000."
    #[cfg(test)]
    pub(crate) fn doc_line(&self) -> String {
        format!(
            "Range: {}{}. Default: {}.",
            self.interval(),
            if self.is_whole() {
                ", whole numbers"
            } else {
                ""
            },
            self.default,
        )
    }

    /// Checks `value` against the range; the error names the field.
    fn check(&self, value: Value) -> Result<(), Error> {
        let inside = match value {
            Value::F64(v) if !v.is_finite() => {
                return Err(Error::invalid(
                    self.name,
                    format!("{v} is not a finite number"),
                ))
            }
            Value::F64(v) => self.admits(v, self.min, self.max),
            // Whole-number bounds are exact in u64 (a test checks they are whole).
            Value::U64(v) => self.admits(v, self.min as u64, self.max as u64),
            Value::U32(v) => self.admits(v as u64, self.min as u64, self.max as u64),
        };
        if inside {
            Ok(())
        } else {
            Err(Error::invalid(
                self.name,
                format!("{value} is outside {}", self.interval()),
            ))
        }
    }

    fn admits<T: PartialOrd>(&self, v: T, min: T, max: T) -> bool {
        let low = if self.min_open { v > min } else { v >= min };
        let high = if self.max_open { v < max } else { v <= max };
        low && high
    }
}

impl Config {
    /// Checks every field; the first bad one is named in the error. Each option's
    /// range is its row of the option table; on top of the ranges,
    /// `max_ejection_ms` must be at least `base_ejection_ms`,
    /// `adaptive_max_window_ms` at least `adaptive_min_window_ms` and
    /// `ring_hash_max_size` at least `ring_hash_min_size`; `maglev_table_size`
    /// must be a prime and `hash_balance_factor` 0 or at least 100. `strategy` and
    /// `seed` take every value of their types.
    pub fn validate(&self) -> Result<(), Error> {
        for spec in OPTIONS.iter() {
            spec.check(spec.value(self))?;
        }
        for (lesser, greater) in ORDERED {
            let (lo, hi) = (row(lesser).value(self), row(greater).value(self));
            if hi.as_f64() < lo.as_f64() {
                return Err(Error::invalid(
                    row(greater).name,
                    format!("{hi} is below {lesser} ({lo})"),
                ));
            }
        }
        for name in PRIME {
            let spec = row(name);
            let v = spec.get(self) as u64;
            if !is_prime(v) {
                return Err(Error::invalid(spec.name, format!("{v} is not a prime")));
            }
        }
        for (name, least) in OFF_OR_AT_LEAST {
            let spec = row(name);
            let v = spec.get(self) as u64;
            if v != 0 && v < least {
                return Err(Error::invalid(
                    spec.name,
                    format!("{v} is neither 0 (off) nor at least {least}"),
                ));
            }
        }
        Ok(())
    }
}

/// The row of a field the table has (a test checks every name used here).
fn row(name: &str) -> &'static OptionSpec {
    by_name(name).expect("an option of the table")
}

impl Default for Config {
    /// Every option at its table default; round robin, and seed 0 (draw one from
    /// entropy).
    fn default() -> Self {
        let mut config = Config::OPTIONS_UNSET;
        for spec in OPTIONS.iter() {
            let value = spec
                .parse(spec.default)
                .expect("a default of the field's type");
            spec.set(&mut config, value);
        }
        config
    }
}

impl Config {
    /// Sets the option `name` (the field's name, as in the option table and, in
    /// capitals, in `LB_OPTION_*`) from a number, as the C ABI's lb_set_option()
    /// does: for reading a configuration from a file or a command line. The value
    /// must be of the field's type (a whole number for an integer field) and in
    /// its range; the cross-field rules are left to [`Config::validate`] (which
    /// `Balancer::new` and `set_config` run). Errors:
    /// [`Error::InvalidArgument`] for an unknown name or a bad value; nothing
    /// changes then.
    pub fn set_option(&mut self, name: &str, value: f64) -> Result<(), Error> {
        let spec = by_name(name)
            .ok_or_else(|| Error::invalid("option", format!("no option is named \"{name}\"")))?;
        let parsed = spec.parse(value).ok_or_else(|| {
            Error::invalid(
                spec.name,
                format!("{value} is not a value of this option's type"),
            )
        })?;
        spec.check(parsed)?;
        spec.set(self, parsed);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
