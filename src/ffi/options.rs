//! The option ids of lb_set_option() / lb_get_option(): `LB_OPTION_<FIELD>` names
//! the field `<field>` of [`Config`](crate::Config). Ranges and defaults live in
//! one table in the core (src/options.rs), which the two functions look rows up in
//! by id; the constants stay literal here because cbindgen copies them, with their
//! doc comments, into the header.
//!
//! Every option's doc comment below states its range and default in the form
//! `Range: <interval>[, whole numbers]. Default: <value>.`; a test checks those
//! lines, and each constant's value, against the core table.

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
/// timeouts). Each thread reads the clock at least once every
/// 2 x LB_OPTION_CLOCK_REFRESH_OPS - 1 of its calls on a balancer (see that
/// option); lb_get_stats(), lb_get_health() and
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
/// Range: [1, 3600000]. Default: 2000.
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
/// How often each thread reads the clock, in its calls on a balancer. Selects
/// and reports count down from this; the select that reaches 0 reads the clock
/// after choosing, so a thread that selects reads it once every this many calls.
/// A report reads it before settling only when the thread's count is this - 2
/// below 0 (its selects did not read it), so a thread that only reports reads it
/// once every 2 x this - 1 reports (every report at 1).
/// Range: [1, 65536], whole numbers. Default: 64.
pub const LB_OPTION_CLOCK_REFRESH_OPS: lb_option = 19;
/// LB_STRATEGY_LEAST_REQUEST and LB_STRATEGY_PEAK_EWMA: members drawn per pick
/// (the d of "power of d choices"), distinct members; the best of them takes the
/// pick. Since 1.2.
/// Range: [2, 8], whole numbers. Default: 2.
pub const LB_OPTION_CHOICE_COUNT: lb_option = 20;
/// LB_STRATEGY_LEAST_REQUEST with unequal weights: a draw's effective weight is
/// weight / (in flight + 1)^bias (Envoy's least request formula), and the highest
/// wins when the draws' in-flight counts differ. 0 = weights only; with equal
/// weights the fewest in flight wins whatever the bias. Since 1.2.
/// Range: [0, 10]. Default: 1.
pub const LB_OPTION_ACTIVE_REQUEST_BIAS: lb_option = 21;
/// LB_STRATEGY_PEAK_EWMA: time constant of the peak-sensitive latency estimate, in
/// milliseconds. A sample above the estimate replaces it; one below it pulls it
/// down by 1 - exp(-elapsed / tau). Since 1.2.
/// Range: [1, 3600000]. Default: 10000.
pub const LB_OPTION_PEAK_EWMA_TAU_MS: lb_option = 22;
/// LB_STRATEGY_PEAK_EWMA: the latency an instance without samples yet is priced
/// at, in milliseconds, so a new instance is neither flooded nor starved; its first
/// sample replaces it. Since 1.2.
/// Range: [0.001, 3600000]. Default: 30.
pub const LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS: lb_option = 23;
/// Slow start: how long, in milliseconds, the weight of an instance that joins a
/// set in service, or comes back into service (after an ejection, or an external
/// health score back above the threshold), takes to ramp up to its whole value,
/// in every strategy that uses weights. 0 turns slow start off. The instances of
/// a balancer's first set do not ramp.
/// Range: [0, 3600000], whole numbers. Default: 30000.
pub const LB_OPTION_SLOW_START_WINDOW_MS: lb_option = 24;
/// Slow start: the ramp's shape. A ramping instance's weight is
/// weight x max(min_weight_percent / 100, (t / window)^(1 / aggression)) (Envoy's
/// slow-start formula); 1 is linear, above 1 ramps faster at first, below 1 slower.
/// Range: (0, 100]. Default: 1.
pub const LB_OPTION_SLOW_START_AGGRESSION: lb_option = 25;
/// Slow start: the share of its weight, in percent, that a ramping instance gets
/// at least, from its first moment.
/// Range: [0, 100]. Default: 10.
pub const LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT: lb_option = 26;
/// LB_STRATEGY_MAGLEV: entries of the lookup table, which must be a prime
/// (LB_STATUS_INVALID_ARGUMENT otherwise; 65537 is Envoy's default). More entries
/// follow weights more closely and move fewer keys when the set changes; the
/// table takes 4 bytes an entry and is rebuilt, off the request path, when the
/// set's ids or weights (or this size) change. Since 1.3.
/// Range: [17, 5000011], whole numbers. Default: 65537.
pub const LB_OPTION_MAGLEV_TABLE_SIZE: lb_option = 27;
/// LB_STRATEGY_RING_HASH: the fewest points on the ring (Envoy's default); each
/// instance gets points in proportion to its weight, at least one. Must not
/// exceed LB_OPTION_RING_HASH_MAX_SIZE. Since 1.3.
/// Range: [1, 8388608], whole numbers. Default: 1024.
pub const LB_OPTION_RING_HASH_MIN_SIZE: lb_option = 28;
/// LB_STRATEGY_RING_HASH: the most points on the ring (Envoy's default, 8M; 16
/// bytes a point). The ring has between LB_OPTION_RING_HASH_MIN_SIZE and about
/// twice it points, so this caps it only when the minimum is set near it.
/// Since 1.3.
/// Range: [1, 8388608], whole numbers. Default: 8388608.
pub const LB_OPTION_RING_HASH_MAX_SIZE: lb_option = 29;
/// LB_STRATEGY_MAGLEV and LB_STRATEGY_RING_HASH: bounded loads (Mirrokni, Thorup
/// and Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2016; Envoy's and
/// HAProxy's hash balance factor), in percent. An lb_select_key() takes an
/// instance only while its picks in flight stay within
/// ceil(factor / 100 x (keyed picks in flight + 1) x weight / sum of weights),
/// exactly on one thread and within (threads - 1) under concurrency; otherwise
/// the key walks on along the table, and comes back as the load falls. 0 turns
/// it off and keeps the balancer-wide count off the request path; any other
/// value must be at least 100 (LB_STATUS_INVALID_ARGUMENT otherwise; 125 is a
/// common choice). Since 1.3.
/// Range: [0, 10000], whole numbers. Default: 0.
pub const LB_OPTION_HASH_BALANCE_FACTOR: lb_option = 30;
