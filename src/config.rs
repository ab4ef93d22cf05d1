//! All of lb's knobs in one struct. Its defaults and its validation are implemented
//! in src/options.rs, from the option table.

use crate::types::Strategy;

/// Balancer configuration. Every field has a default (see [`Config::default`]) and is
/// checked by [`Config::validate`]: NaN, infinities, negatives and out-of-range values
/// are refused with an error naming the field. Each numeric field is an option of the
/// C ABI too (`LB_OPTION_<FIELD>`); its `Range:` and `Default:` come from one table
/// (src/options.rs) that validation, the defaults and the C header all follow.
///
/// Fields may be added in a minor version: build a `Config` with
/// `Config { field: value, ..Config::default() }`.
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
    /// 2 x timeout + 2 x d after it. Each thread reads the clock at least once
    /// every 2 x `clock_refresh_ops` - 1 of its calls on a balancer (see
    /// `clock_refresh_ops`); `stats`, `health` and
    /// `all_health` read it on every call. A report after the timeout but before the
    /// pick is seen to expire is accepted and counted once, as its outcome.
    /// Range: [0, 4294967295], whole numbers. Default: 300000.
    pub pick_timeout_ms: u64,
    /// Panic mode: when fewer than this fraction of the set is healthy, select from
    /// every instance regardless of health (capacity still applies), as Envoy does.
    /// 0 = never panic.
    /// Range: [0, 1]. Default: 0.5.
    pub panic_threshold: f64,
    /// An instance whose health score falls below this is ejected.
    /// Range: (0, 1]. Default: 0.5.
    pub unhealthy_threshold: f64,
    /// Consecutive failures that eject an instance at once (the default is Envoy's
    /// outlier detection default).
    /// Range: [1, 1000000], whole numbers. Default: 5.
    pub consecutive_failures: u32,
    /// Recent outcomes (decayed count) an instance needs before its success rate or
    /// latency can eject it.
    /// Range: [1, 1000000], whole numbers. Default: 10.
    pub min_samples: u32,
    /// Cool-down of a first ejection, in milliseconds; each further ejection doubles
    /// it up to `max_ejection_ms`. Must not exceed `max_ejection_ms`.
    /// Range: [1, 86400000], whole numbers. Default: 5000.
    pub base_ejection_ms: u64,
    /// The longest cool-down, in milliseconds. Must be at least `base_ejection_ms`.
    /// Range: [1, 86400000], whole numbers. Default: 300000.
    pub max_ejection_ms: u64,
    /// Successful trial requests in a row that return an ejected instance to service.
    /// Range: [1, 10000], whole numbers. Default: 5.
    pub recovery_successes: u32,
    /// Fraction of picks offered to an instance on trial after its cool-down (at
    /// most one trial request in flight per instance).
    /// Range: (0, 1]. Default: 0.02.
    pub trial_ratio: f64,
    /// Time constant of the latency average, in milliseconds: a sample's weight decays
    /// as exp(-age / tau), so bursts and trickles both converge.
    /// Range: [1, 3600000]. Default: 2000.
    pub latency_tau_ms: f64,
    /// Time constant of the success-rate average used for health, in milliseconds.
    /// Range: [1, 3600000]. Default: 10000.
    pub health_window_ms: f64,
    /// Latency outlier ratio: an instance this many times slower than the median of
    /// the set scores exactly `unhealthy_threshold` on latency alone (slower ones are
    /// ejected; faster ones only lose some score).
    /// Range: (1, 1000000]. Default: 10.
    pub latency_outlier_ratio: f64,
    /// A failure is averaged into the latency as at least this many times the median
    /// latency of the set, so a fast-failing instance does not look fast.
    /// Range: [1, 1000000]. Default: 5.
    pub failure_penalty_factor: f64,
    /// Adaptive: completed requests per evaluation window; the window's length in
    /// time follows the request rate, within the two bounds below.
    /// Range: [10, 10000000], whole numbers. Default: 2000.
    pub adaptive_window_requests: u32,
    /// Adaptive: shortest evaluation window, in milliseconds. Must not exceed
    /// `adaptive_max_window_ms`.
    /// Range: [1, 3600000], whole numbers. Default: 1000.
    pub adaptive_min_window_ms: u64,
    /// Adaptive: longest evaluation window, in milliseconds. Must be at least
    /// `adaptive_min_window_ms`.
    /// Range: [1, 3600000], whole numbers. Default: 30000.
    pub adaptive_max_window_ms: u64,
    /// Adaptive: another strategy must be predicted this fraction better than the
    /// active one, in two windows running, before adaptive switches.
    /// Range: [0, 1). Default: 0.1.
    pub adaptive_hysteresis: f64,
    /// How often the background bookkeeping (expiry, health evaluation, weight
    /// refresh, adaptive evaluation) runs, in milliseconds.
    /// Range: [1, 60000], whole numbers. Default: 100.
    pub maintenance_interval_ms: u64,
    /// How often each thread reads the clock, in its calls on a balancer. Selects
    /// and reports count down from this; the select that reaches 0 reads the clock
    /// after choosing, so a thread that selects reads it once every this many
    /// calls. A report reads it before settling only when the thread's count is
    /// this - 2 below 0 (its selects did not read it), so a thread that only
    /// reports reads it once every 2 x this - 1 reports (every report at 1).
    /// Range: [1, 65536], whole numbers. Default: 64.
    pub clock_refresh_ops: u32,
    /// Least request and Peak EWMA: members drawn per pick (the d of "power of d
    /// choices"); the best of them takes the pick. Draws are distinct members. 2 is
    /// Envoy's, gRPC's and tower's default; more choices concentrate load on the
    /// least loaded and cost a little more per pick.
    /// Range: [2, 8], whole numbers. Default: 2.
    pub choice_count: u32,
    /// Least request with unequal weights: a draw's effective weight is
    /// weight / (in flight + 1)^bias (Envoy's least request formula) and the highest
    /// wins when the draws' in-flight counts differ. 0 = weights only (the first,
    /// weighted, draw always stands); 1 = in flight relative to weight. With equal
    /// weights the fewest in flight wins whatever the bias.
    /// Range: [0, 10]. Default: 1.
    pub active_request_bias: f64,
    /// Peak EWMA: time constant of the peak-sensitive latency estimate, in
    /// milliseconds. A sample above the estimate replaces it; one below it pulls it
    /// down by 1 - exp(-elapsed / tau).
    /// Range: [1, 3600000]. Default: 10000.
    pub peak_ewma_tau_ms: f64,
    /// Peak EWMA: the latency a member without samples yet is priced at, in
    /// milliseconds (Linkerd's and tower's default is 30), so a new member is
    /// neither flooded (as at 0) nor starved (as at a very high value). Its first
    /// sample replaces it.
    /// Range: [0.001, 3600000]. Default: 30.
    pub peak_ewma_default_latency_ms: f64,
    /// Slow start: how long, in milliseconds, the weight of an instance that joins
    /// a set in service, or comes back into service, takes to ramp up to its whole
    /// value (every strategy that uses weights). 0 turns slow start off. The
    /// instances of a balancer's first set do not ramp.
    /// Range: [0, 3600000], whole numbers. Default: 30000.
    pub slow_start_window_ms: u64,
    /// Slow start: the ramp's shape. The weight is
    /// weight x max(min_weight_percent / 100, (t / window)^(1 / aggression)); 1 is
    /// linear, above 1 ramps faster at first, below 1 slower.
    /// Range: (0, 100]. Default: 1.
    pub slow_start_aggression: f64,
    /// Slow start: the share of its weight, in percent, that a ramping instance
    /// gets at least (from its first moment).
    /// Range: [0, 100]. Default: 10.
    pub slow_start_min_weight_percent: f64,
    /// Maglev: entries of the lookup table, which must be a prime (65537 is
    /// Envoy's default; 5000011 its largest). More entries follow weights more
    /// closely and move fewer keys when the set changes; the table takes 4 bytes
    /// an entry and is rebuilt, off the request path, when the set's ids or
    /// weights (or this size) change.
    /// Range: [17, 5000011], whole numbers. Default: 65537.
    pub maglev_table_size: u32,
    /// Ring hash: the fewest points on the ring (Envoy's default). Each instance
    /// gets points in proportion to its weight (its weight times a power of two,
    /// at least one); more points follow weights more closely. Must not exceed
    /// `ring_hash_max_size`.
    /// Range: [1, 8388608], whole numbers. Default: 1024.
    pub ring_hash_min_size: u64,
    /// Ring hash: the most points on the ring (Envoy's default, 8M; 16 bytes a
    /// point). The ring has between `ring_hash_min_size` and about twice it
    /// points, so this caps it only when the minimum is set near it.
    /// Range: [1, 8388608], whole numbers. Default: 8388608.
    pub ring_hash_max_size: u64,
    /// The hashing strategies' bounded loads (Mirrokni, Thorup and
    /// Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2016; Envoy's and
    /// HAProxy's hash balance factor), in percent: a keyed select takes an
    /// instance only while its picks in flight stay within
    /// ceil(factor / 100 x (keyed picks in flight + 1) x weight / sum of weights),
    /// and otherwise walks on along the table, so a hot key cannot overload one
    /// instance; its keys come back as the load falls. 0 turns it off (and keeps
    /// the balancer-wide count off the request path); otherwise at least 100
    /// (125 is a common choice).
    /// Range: [0, 10000], whole numbers. Default: 0.
    pub hash_balance_factor: u32,
}

impl Config {
    /// The defaults of the fields that are not options (round robin, seed 0), with
    /// every option field 0: `Config::default` (in src/options.rs) fills the options
    /// in from the option table.
    pub(crate) const OPTIONS_UNSET: Config = Config {
        strategy: Strategy::RoundRobin,
        seed: 0,
        pick_timeout_ms: 0,
        panic_threshold: 0.0,
        unhealthy_threshold: 0.0,
        consecutive_failures: 0,
        min_samples: 0,
        base_ejection_ms: 0,
        max_ejection_ms: 0,
        recovery_successes: 0,
        trial_ratio: 0.0,
        latency_tau_ms: 0.0,
        health_window_ms: 0.0,
        latency_outlier_ratio: 0.0,
        failure_penalty_factor: 0.0,
        adaptive_window_requests: 0,
        adaptive_min_window_ms: 0,
        adaptive_max_window_ms: 0,
        adaptive_hysteresis: 0.0,
        maintenance_interval_ms: 0,
        clock_refresh_ops: 0,
        choice_count: 0,
        active_request_bias: 0.0,
        peak_ewma_tau_ms: 0.0,
        peak_ewma_default_latency_ms: 0.0,
        slow_start_window_ms: 0,
        slow_start_aggression: 0.0,
        slow_start_min_weight_percent: 0.0,
        maglev_table_size: 0,
        ring_hash_min_size: 0,
        ring_hash_max_size: 0,
        hash_balance_factor: 0,
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

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
