//! The C ABI's value types: integer typedefs with their named constants, and the
//! `repr(C)` structs whose layouts the contract fixes.

use crate::{Balancer, HealthStatus, LoadBalancerStats, Pick};

/// What every fallible lb function returns: one of the `LB_STATUS_*` values.
/// A plain integer, never an enum type, so that values added by a later 1.x are
/// representable; lb_status_str() names any value, known or not.
pub type lb_status = u32;

/// Success.
pub const LB_STATUS_OK: lb_status = 0;
/// A required pointer was NULL (also: an array pointer that is NULL while its
/// count is above 0).
pub const LB_STATUS_NULL_POINTER: lb_status = 1;
/// A value out of range: NaN or infinity, weight 0, a health score outside
/// 0.0..=1.0, an unknown strategy, outcome or option, an option value outside its
/// range.
pub const LB_STATUS_INVALID_ARGUMENT: lb_status = 2;
/// Nothing can be selected: the set is empty, or every instance is at capacity
/// (or unhealthy while the balancer is not in panic mode).
pub const LB_STATUS_NO_INSTANCE: lb_status = 3;
/// No instance with that id in the current set.
pub const LB_STATUS_UNKNOWN_INSTANCE: lb_status = 4;
/// The same id appears twice in one set.
pub const LB_STATUS_DUPLICATE_INSTANCE: lb_status = 5;
/// The pick is not from this balancer, is corrupted or forged, has expired, or is
/// a detected second report of the same pick.
pub const LB_STATUS_INVALID_PICK: lb_status = 6;
/// lb_get_all_health(): the array is shorter than the set; `*count` says how long
/// it must be.
pub const LB_STATUS_BUFFER_TOO_SMALL: lb_status = 7;
/// lb_select(), lb_select_excluding(): nothing can be selected, and at least one
/// instance was passed over only because it holds LB_IN_FLIGHT_MAX picks (the
/// ceiling that also bounds capacity 0, "unlimited"). Since 1.1.
pub const LB_STATUS_IN_FLIGHT_LIMIT: lb_status = 8;
/// A bug inside lb: a Rust panic, caught before it could reach the caller. The
/// call had no effect that the caller can rely on, and the balancer stays usable.
pub const LB_STATUS_INTERNAL: lb_status = 255;

/// A selection algorithm: one of the `LB_STRATEGY_*` values.
pub type lb_strategy = u32;

/// Smooth weighted round robin.
pub const LB_STRATEGY_ROUND_ROBIN: lb_strategy = 0;
/// Fewest requests in flight relative to weight.
pub const LB_STRATEGY_LEAST_CONNECTIONS: lb_strategy = 1;
/// Weights derived from each instance's recent latency.
pub const LB_STRATEGY_WEIGHTED_RESPONSE_TIME: lb_strategy = 2;
/// Runs one of the others at a time and switches to the one that performs
/// best; lb_stats.active_strategy tells which one runs now.
pub const LB_STRATEGY_ADAPTIVE: lb_strategy = 3;
/// Power of two choices on requests in flight (Envoy's least request): the
/// fewer in flight of LB_OPTION_CHOICE_COUNT instances drawn by weight (with
/// unequal weights: the higher weight / (in flight + 1)^LB_OPTION_ACTIVE_REQUEST_BIAS).
/// Since 1.2.
pub const LB_STRATEGY_LEAST_REQUEST: lb_strategy = 4;
/// Peak EWMA (Finagle, Linkerd, tower): the lower peak-sensitive latency
/// estimate x (in flight + 1) of LB_OPTION_CHOICE_COUNT instances drawn by
/// weight; see LB_OPTION_PEAK_EWMA_TAU_MS and
/// LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS. Since 1.2.
pub const LB_STRATEGY_PEAK_EWMA: lb_strategy = 5;
/// Consistent hashing by Google's Maglev lookup table (LB_OPTION_MAGLEV_TABLE_SIZE
/// entries): lb_select_key() sends a key to the same instance while the set and
/// its health stay the same, with one table lookup; lb_select() runs round robin.
/// Since 1.3.
pub const LB_STRATEGY_MAGLEV: lb_strategy = 6;
/// Consistent hashing on a ring (Karger et al.; Envoy's ring hash), of
/// LB_OPTION_RING_HASH_MIN_SIZE to LB_OPTION_RING_HASH_MAX_SIZE points:
/// lb_select_key() as for LB_STRATEGY_MAGLEV, by binary search; lb_select() runs
/// round robin. Since 1.3.
pub const LB_STRATEGY_RING_HASH: lb_strategy = 7;

/// How a request ended: one of the `LB_OUTCOME_*` values.
pub type lb_outcome = u32;

/// The instance served the request.
pub const LB_OUTCOME_SUCCESS: lb_outcome = 0;
/// The instance failed it (error, reset, timeout): counts against its health.
pub const LB_OUTCOME_FAILURE: lb_outcome = 1;
/// Released without judging the instance (the client gave up, say).
pub const LB_OUTCOME_CANCELLED: lb_outcome = 2;

/// `lb_health.state`: in service. Since 1.3.
pub const LB_HEALTH_STATE_HEALTHY: u8 = 0;
/// `lb_health.state`: ejected by its outcomes, out of service until its cool-down
/// ends (`lb_health.cooldown_remaining_ms`). Since 1.3.
pub const LB_HEALTH_STATE_EJECTED: u8 = 1;
/// `lb_health.state`: cool-down over, offered trial requests until it earns its
/// way back. Since 1.3.
pub const LB_HEALTH_STATE_ON_TRIAL: u8 = 2;

/// The most picks one instance holds in flight at once, whatever its capacity (0,
/// "unlimited", included): select passes over an instance at this ceiling and,
/// when nothing else can be selected, returns LB_STATUS_IN_FLIGHT_LIMIT. Since 1.1.
pub const LB_IN_FLIGHT_MAX: u32 = 1048575;
/// The largest latency lb_report() records, in microseconds (one hour); a larger
/// value counts as this. Since 1.1.
pub const LB_MAX_LATENCY_US: u64 = 3600000000;

/// The events lb_poll_events() keeps before the oldest is dropped. Since 1.3.
pub const LB_EVENT_QUEUE_CAPACITY: u32 = 1024;

const _: () = assert!(LB_EVENT_QUEUE_CAPACITY as usize == crate::EVENT_QUEUE_CAPACITY);
const _: () = assert!(LB_IN_FLIGHT_MAX == crate::IN_FLIGHT_MAX);
const _: () = assert!(LB_MAX_LATENCY_US == crate::MAX_LATENCY_US);

/// Major version of lb; also the ABI version carried by the SONAME (liblb.so.1).
pub const LB_VERSION_MAJOR: u32 = 1;
/// Minor version of lb: a new minor version only adds to the ABI.
pub const LB_VERSION_MINOR: u32 = 3;
/// Patch version of lb.
pub const LB_VERSION_PATCH: u32 = 0;

/// Parses the decimal digits of a version component at compile time.
const fn parse_version_component(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "version component is not a number"
        );
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

// The header's version macros are generated from the constants above; these checks
// make the build fail as soon as Cargo.toml's version and the constants disagree.
const _: () = assert!(
    LB_VERSION_MAJOR == parse_version_component(env!("CARGO_PKG_VERSION_MAJOR")),
    "LB_VERSION_MAJOR differs from the major version in Cargo.toml"
);
const _: () = assert!(
    LB_VERSION_MINOR == parse_version_component(env!("CARGO_PKG_VERSION_MINOR")),
    "LB_VERSION_MINOR differs from the minor version in Cargo.toml"
);
const _: () = assert!(
    LB_VERSION_PATCH == parse_version_component(env!("CARGO_PKG_VERSION_PATCH")),
    "LB_VERSION_PATCH differs from the patch version in Cargo.toml"
);
// LB_VERSION_STRING is "MAJOR.MINOR.PATCH"; a pre-release suffix would make
// lb_version() differ from it.
const _: () = assert!(
    env!("CARGO_PKG_VERSION_PRE").is_empty(),
    "the C ABI has no place for a pre-release version"
);

/// An instance as the caller describes it to lb_set_instances().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lb_instance {
    /// Chosen by the caller; unique within a set.
    pub id: u64,
    /// Relative share, at least 1.
    pub weight: u32,
    /// Most requests in flight at once; 0 = no limit but LB_IN_FLIGHT_MAX, which
    /// also bounds every larger capacity.
    pub capacity: u32,
}

/// What lb_select() hands out and lb_report() takes back. The caller allocates it
/// (on its stack, say) and may copy it freely; it holds no resource, so a pick that
/// is dropped without a report only costs its in-flight slot until it expires.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lb_pick {
    /// The chosen instance.
    pub instance_id: u64,
    /// lb's own: what lb_report() needs to find the instance, and a keyed check
    /// value so that a forged, corrupted or foreign pick is refused.
    pub private_: [u64; 3],
}

/// Balancer-wide totals, filled by lb_get_stats().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct lb_stats {
    /// Picks handed out, ever.
    pub total_requests: u64,
    /// Picks reported LB_OUTCOME_SUCCESS.
    pub successes: u64,
    /// Picks reported LB_OUTCOME_FAILURE.
    pub failures: u64,
    /// Picks reported LB_OUTCOME_CANCELLED, plus expired ones.
    pub cancelled: u64,
    /// Picks never reported before the pick timeout (part of `cancelled` too).
    pub expired: u64,
    /// Handed out and not yet reported or expired.
    pub in_flight: u64,
    /// Mean latency of successful requests, in microseconds; 0 before the first.
    pub avg_latency_us: f64,
    /// Instances in the current set.
    pub instance_count: u32,
    /// Instances of the current set that health lets be picked.
    pub healthy_count: u32,
    /// The strategy in use now (for adaptive: the one it currently runs).
    pub active_strategy: lb_strategy,
    /// Zero.
    pub reserved0: u32,
    /// How often adaptive has switched strategies (settled on another one).
    pub strategy_switches: u64,
    /// How often adaptive has run another strategy for a short trial, to measure
    /// it (`active_strategy` names it meanwhile). Since ABI 1.2.
    pub adaptive_trials: u64,
    /// Ejections so far, each counted once. Since ABI 1.3.
    pub ejections: u64,
    /// Events dropped because the event queue (lb_poll_events()) was full. Since
    /// ABI 1.3.
    pub events_dropped: u64,
    /// Zero; for later fields.
    pub reserved: [u64; 5],
}

/// One instance's state, filled by lb_get_health() and lb_get_all_health().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct lb_health {
    /// The instance's id.
    pub instance_id: u64,
    /// 0.0 (down) .. 1.0 (fully healthy).
    pub health_score: f64,
    /// Picks of this instance not yet reported or expired.
    pub in_flight: u64,
    /// Picks of this instance, counted at select.
    pub requests: u64,
    /// Picks of this instance reported LB_OUTCOME_SUCCESS.
    pub successes: u64,
    /// Picks of this instance reported LB_OUTCOME_FAILURE.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// successes / (successes + failures); 1.0 before any.
    pub success_rate: f64,
    /// Smoothed latency in microseconds; 0 before any sample.
    pub latency_ewma_us: f64,
    /// The weight it was given.
    pub weight: u32,
    /// The capacity it was given (0 = unlimited).
    pub capacity: u32,
    /// 1 when health lets it be picked (capacity aside), else 0. 0 also for an
    /// instance in service whose external health score is below the threshold.
    pub healthy: u8,
    /// Where it stands with the passive health checks: one of the
    /// `LB_HEALTH_STATE_*` values. Since ABI 1.3.
    pub state: u8,
    /// Zero.
    pub reserved_bytes: [u8; 6],
    /// How often it has been ejected. Since ABI 1.3.
    pub times_ejected: u64,
    /// While ejected: milliseconds until its cool-down ends (rounded up); else 0.
    /// Since ABI 1.3.
    pub cooldown_remaining_ms: u64,
    /// Zero; for later fields.
    pub reserved: [u64; 6],
}

/// What an lb_event reports: one of the `LB_EVENT_*` values.
pub type lb_event_kind = u32;

/// An instance was ejected by its outcomes (`instance_id`). Since 1.3.
pub const LB_EVENT_EJECTED: lb_event_kind = 1;
/// An ejected instance passed its trials and is back in service (`instance_id`).
/// Since 1.3.
pub const LB_EVENT_RECOVERED: lb_event_kind = 2;
/// Too few instances are healthy: lb selects from all of them (panic mode).
/// Since 1.3.
pub const LB_EVENT_PANIC_ENTERED: lb_event_kind = 3;
/// Enough instances are healthy again: panic mode ended. Since 1.3.
pub const LB_EVENT_PANIC_LEFT: lb_event_kind = 4;
/// Adaptive settled on another strategy (`strategy_from`, `strategy_to`). Since
/// 1.3.
pub const LB_EVENT_STRATEGY_SWITCHED: lb_event_kind = 5;

/// Something that changed in the balancer's health view or strategy, read with
/// lb_poll_events(). Since 1.3.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lb_event {
    /// One of the `LB_EVENT_*` values (a later minor version may add kinds:
    /// ignore the ones you do not know).
    pub kind: lb_event_kind,
    /// Zero.
    pub reserved0: u32,
    /// The instance, for ejections and recoveries; else 0.
    pub instance_id: u64,
    /// When it happened: the balancer's clock in microseconds (monotonic, from an
    /// arbitrary start).
    pub time_us: u64,
    /// For a strategy switch: the strategy before (an LB_STRATEGY_* value); else 0.
    pub strategy_from: lb_strategy,
    /// For a strategy switch: the strategy after; else 0.
    pub strategy_to: lb_strategy,
    /// Zero; for later fields.
    pub reserved: [u64; 2],
}

const _: () = assert!(std::mem::size_of::<lb_event>() == 48);

impl From<&crate::Event> for lb_event {
    fn from(e: &crate::Event) -> Self {
        lb_event {
            kind: e.kind as lb_event_kind,
            reserved0: 0,
            instance_id: e.instance_id,
            time_us: e.time_us,
            strategy_from: e.from.map_or(0, |s| s as lb_strategy),
            strategy_to: e.to.map_or(0, |s| s as lb_strategy),
            reserved: [0; 2],
        }
    }
}

/// A balancer: opaque to C. Create it with lb_balancer_new(), release it with
/// lb_balancer_free(). Every other function may be called on it concurrently from
/// any number of threads.
pub struct lb_balancer {
    pub(crate) balancer: Balancer,
}

const _: () = assert!(std::mem::size_of::<lb_instance>() == 16);
const _: () = assert!(std::mem::size_of::<lb_pick>() == 32);
const _: () = assert!(std::mem::size_of::<lb_stats>() == 144);
const _: () = assert!(std::mem::size_of::<lb_health>() == 152);

impl From<Pick> for lb_pick {
    fn from(pick: Pick) -> Self {
        let raw = pick.to_raw();
        lb_pick {
            instance_id: raw[0],
            private_: [raw[1], raw[2], raw[3]],
        }
    }
}

impl From<lb_pick> for Pick {
    fn from(pick: lb_pick) -> Self {
        Pick::from_raw([
            pick.instance_id,
            pick.private_[0],
            pick.private_[1],
            pick.private_[2],
        ])
    }
}

impl From<&LoadBalancerStats> for lb_stats {
    fn from(s: &LoadBalancerStats) -> Self {
        lb_stats {
            total_requests: s.total_requests,
            successes: s.successes,
            failures: s.failures,
            cancelled: s.cancelled,
            expired: s.expired,
            in_flight: s.in_flight,
            avg_latency_us: s.avg_latency_us,
            instance_count: s.instance_count,
            healthy_count: s.healthy_count,
            active_strategy: s.active_strategy as lb_strategy,
            reserved0: 0,
            strategy_switches: s.strategy_switches,
            adaptive_trials: s.adaptive_trials,
            ejections: s.ejections,
            events_dropped: s.events_dropped,
            reserved: [0; 5],
        }
    }
}

impl From<&HealthStatus> for lb_health {
    fn from(h: &HealthStatus) -> Self {
        lb_health {
            instance_id: h.instance_id,
            health_score: h.health_score,
            in_flight: h.in_flight,
            requests: h.requests,
            successes: h.successes,
            failures: h.failures,
            consecutive_failures: h.consecutive_failures,
            success_rate: h.success_rate,
            latency_ewma_us: h.latency_ewma_us,
            weight: h.weight,
            capacity: h.capacity,
            healthy: u8::from(h.healthy),
            state: h.state as u8,
            reserved_bytes: [0; 6],
            times_ejected: h.times_ejected,
            cooldown_remaining_ms: h.cooldown_remaining_ms,
            reserved: [0; 6],
        }
    }
}
