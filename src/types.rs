//! Plain public value types: what callers pass in and get back.

/// The selection algorithm. `Adaptive` runs one of the others at a time.
///
/// Marked `#[non_exhaustive]`: a minor version may add a strategy, so a `match` on
/// it outside lb needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Strategy {
    /// Smooth weighted round robin, one cursor per thread.
    RoundRobin = 0,
    /// The fewest picks in flight relative to weight, by an exact scan.
    LeastConnections = 1,
    /// Two draws weighted by weight x health / latency; the lower latency x (in
    /// flight + 1) / weight wins.
    WeightedResponseTime = 2,
    /// Runs one of the others at a time and switches on measured outcomes.
    Adaptive = 3,
    /// Power of d choices on requests in flight (Envoy's `LEAST_REQUEST`): since 1.2.
    LeastRequest = 4,
    /// Power of d choices on a peak-sensitive latency estimate x (in flight + 1)
    /// (Finagle's and tower's Peak EWMA): since 1.2.
    PeakEwma = 5,
    /// Consistent hashing by Google's Maglev lookup table: `select_key` sends a
    /// key to the same instance while the set and its health stay the same; a plain
    /// `select` runs round robin. Since 1.3.
    Maglev = 6,
    /// Consistent hashing on a ring (Karger et al.; Envoy's ring hash):
    /// `select_key` as for `Maglev`, by binary search on the ring; a plain `select`
    /// runs round robin. Since 1.3.
    RingHash = 7,
}

impl Strategy {
    /// Every strategy, in the order of their values.
    pub const ALL: [Strategy; 8] = [
        Strategy::RoundRobin,
        Strategy::LeastConnections,
        Strategy::WeightedResponseTime,
        Strategy::Adaptive,
        Strategy::LeastRequest,
        Strategy::PeakEwma,
        Strategy::Maglev,
        Strategy::RingHash,
    ];

    /// lb's name of the strategy ("round_robin", ...), as the README, the
    /// simulator and the C ABI use it.
    pub fn name(self) -> &'static str {
        let with_nul = self.name_with_nul();
        &with_nul[..with_nul.len() - 1]
    }

    /// `name` with a NUL after it, for the C ABI's static text.
    pub(crate) fn name_with_nul(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin\0",
            Strategy::LeastConnections => "least_connections\0",
            Strategy::WeightedResponseTime => "weighted_response_time\0",
            Strategy::Adaptive => "adaptive\0",
            Strategy::LeastRequest => "least_request\0",
            Strategy::PeakEwma => "peak_ewma\0",
            Strategy::Maglev => "maglev\0",
            Strategy::RingHash => "ring_hash\0",
        }
    }

    /// The strategy named `name` (exactly, as `name` gives it), or `None`.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The C ABI value (`LB_STRATEGY_*`); `None` for an unknown one.
    pub fn from_u32(v: u32) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| *s as u32 == v)
    }

    /// The strategy stored as `v` by lb itself (never an unknown value).
    #[inline(always)]
    pub(crate) fn from_u8(v: u8) -> Strategy {
        match v {
            1 => Strategy::LeastConnections,
            2 => Strategy::WeightedResponseTime,
            3 => Strategy::Adaptive,
            4 => Strategy::LeastRequest,
            5 => Strategy::PeakEwma,
            6 => Strategy::Maglev,
            7 => Strategy::RingHash,
            _ => Strategy::RoundRobin,
        }
    }

    /// Whether the strategy hashes keys (`select_key` follows the key).
    pub fn is_hashing(self) -> bool {
        matches!(self, Strategy::Maglev | Strategy::RingHash)
    }
}

/// How a request ended. Deliberately exhaustive (not `#[non_exhaustive]`): a
/// request succeeds, fails or is cancelled, a closed set, so a `match` on it needs
/// no wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Outcome {
    /// The instance served the request.
    Success = 0,
    /// The instance failed it (error, reset, timeout): counts against its health.
    Failure = 1,
    /// Released without judging the instance (the client gave up, say).
    Cancelled = 2,
}

impl Outcome {
    /// The C ABI value (`LB_OUTCOME_*`); `None` for an unknown one.
    pub fn from_u32(v: u32) -> Option<Outcome> {
        match v {
            0 => Some(Outcome::Success),
            1 => Some(Outcome::Failure),
            2 => Some(Outcome::Cancelled),
            _ => None,
        }
    }
}

/// A backend as the caller describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    /// Chosen by the caller; unique within a set.
    pub id: u64,
    /// Relative share, at least 1.
    pub weight: u32,
    /// Most requests in flight at once; 0 = no limit but
    /// [`IN_FLIGHT_MAX`](crate::IN_FLIGHT_MAX), which also bounds larger values.
    pub capacity: u32,
}

impl Instance {
    /// An instance of weight 1 and unlimited capacity.
    pub fn new(id: u64) -> Self {
        Instance {
            id,
            weight: 1,
            capacity: 0,
        }
    }
    /// The instance with weight `weight` (its relative share, at least 1).
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }
    /// The instance with capacity `capacity` (most picks in flight; 0 = no
    /// limit).
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }
}

/// What `select` hands out and `report` takes back: a plain `Copy` token, so it can
/// cross tasks and threads. It carries the instance id and, in three private words,
/// what report needs to find the instance without trusting the token: the instance's
/// incarnation, the expiry epoch and a position hint, and a keyed check value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pick {
    pub(crate) instance_id: u64,
    pub(crate) incarnation: u64,
    /// Expiry epoch (high 32 bits) and index in the set at select time (low 32 bits).
    pub(crate) epoch_and_index: u64,
    pub(crate) check: u64,
}

impl Pick {
    /// The chosen instance.
    pub fn instance_id(&self) -> u64 {
        self.instance_id
    }

    /// The token as four words, in the layout of the C `lb_pick`.
    pub fn to_raw(&self) -> [u64; 4] {
        [
            self.instance_id,
            self.incarnation,
            self.epoch_and_index,
            self.check,
        ]
    }

    /// Rebuilds a token from four words. Any bits are accepted here; `report`
    /// refuses a token that this balancer did not hand out.
    pub fn from_raw(raw: [u64; 4]) -> Pick {
        Pick {
            instance_id: raw[0],
            incarnation: raw[1],
            epoch_and_index: raw[2],
            check: raw[3],
        }
    }

    pub(crate) fn epoch(&self) -> u32 {
        (self.epoch_and_index >> 32) as u32
    }

    pub(crate) fn index(&self) -> usize {
        (self.epoch_and_index & 0xffff_ffff) as usize
    }
}

/// What an [`Event`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum EventKind {
    /// An instance was ejected (its outcomes; `Event::instance_id`).
    Ejected = 1,
    /// An ejected instance passed its trials and is back in service.
    Recovered = 2,
    /// Too few instances are healthy: lb selects from all of them (panic mode).
    PanicEntered = 3,
    /// Enough instances are healthy again: panic mode ended.
    PanicLeft = 4,
    /// Adaptive settled on another strategy (`Event::from`, `Event::to`).
    StrategySwitched = 5,
}

/// Something that changed in the balancer's health view or strategy, read with
/// [`Balancer::poll_events`](crate::Balancer::poll_events).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The instance, for ejections and recoveries; else 0.
    pub instance_id: u64,
    /// When it happened, on the balancer's clock (us).
    pub time_us: u64,
    /// For a strategy switch: the strategy before.
    pub from: Option<Strategy>,
    /// For a strategy switch: the strategy after.
    pub to: Option<Strategy>,
}

/// Where an instance stands with lb's health checks (`HealthStatus::state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HealthState {
    /// In service.
    Healthy = 0,
    /// Ejected by its outcomes, out of service until its cool-down ends.
    Ejected = 1,
    /// Cool-down over: offered trial requests until it earns its way back.
    OnTrial = 2,
}

/// A read snapshot of one instance (the fields of the C `lb_health`). lb makes
/// these; a minor version may add fields.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthStatus {
    /// The instance's id.
    pub instance_id: u64,
    /// 0.0 (down) .. 1.0 (fully healthy).
    pub health_score: f64,
    /// Picks of this instance not yet settled.
    pub in_flight: u64,
    /// Picks of this instance, counted at select.
    pub requests: u64,
    /// Picks of this instance reported as successes.
    pub successes: u64,
    /// Picks of this instance reported as failures.
    pub failures: u64,
    /// Failures since its last success.
    pub consecutive_failures: u64,
    /// successes / (successes + failures); 1.0 before any.
    pub success_rate: f64,
    /// 0 before any sample.
    pub latency_ewma_us: f64,
    /// The weight it was given.
    pub weight: u32,
    /// The capacity it was given (0 = no limit).
    pub capacity: u32,
    /// Health lets it be picked (capacity aside). False also for an instance in
    /// service whose external health score is below `unhealthy_threshold`.
    pub healthy: bool,
    /// Where it stands with the passive health checks (its outcomes). Since 1.3.
    pub state: HealthState,
    /// How often it has been ejected. Since 1.3.
    pub times_ejected: u64,
    /// While ejected: milliseconds until its cool-down ends (rounded up); else 0.
    /// Since 1.3.
    pub cooldown_remaining_ms: u64,
}

/// The balancer's totals (the fields of the C `lb_stats`). Cumulative: removing an
/// instance never makes them shrink. lb makes these; a minor version may add
/// fields.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadBalancerStats {
    /// Picks handed out, ever.
    pub total_requests: u64,
    /// Picks reported as successes.
    pub successes: u64,
    /// Picks reported as failures.
    pub failures: u64,
    /// Reported cancelled, plus expired.
    pub cancelled: u64,
    /// Picks never reported before the pick timeout (part of `cancelled` too).
    pub expired: u64,
    /// Handed out and not yet settled.
    pub in_flight: u64,
    /// Mean latency of successful requests; 0 before the first.
    pub avg_latency_us: f64,
    /// Instances in the current set.
    pub instance_count: u32,
    /// Instances of the current set that health lets be picked.
    pub healthy_count: u32,
    /// The strategy in use now (for adaptive: the one it currently runs).
    pub active_strategy: Strategy,
    /// How often adaptive has switched strategies (settled on another one).
    pub strategy_switches: u64,
    /// How often adaptive has run another strategy for a short trial, to measure it.
    pub adaptive_trials: u64,
    /// Ejections so far (each counted once). Since 1.3.
    pub ejections: u64,
    /// Events dropped because the event queue was full. Since 1.3.
    pub events_dropped: u64,
}
