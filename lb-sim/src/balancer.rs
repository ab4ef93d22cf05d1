//! The boundary between the simulation engine and the balancer it measures:
//! the engine drives anything that implements [`Lb`]; what it measures is
//! [`RealLb`], lb's own `Balancer` on a `ManualClock` set to virtual time.

use std::sync::Arc;

use lb::{Balancer, Clock, Config, Instance, ManualClock, Outcome, Pick, Strategy};

/// What the engine needs from a balancer. Times are virtual microseconds.
pub trait Lb {
    /// Whatever `report` needs to identify the pick.
    type Pick: Copy;

    /// Pick a backend for a request arriving at `now_us`; `None` when the
    /// balancer has no instance to offer.
    fn select(&mut self, now_us: u64) -> Option<(u64, Self::Pick)>;
    /// As `select`, for a request with key `key` (already hashed). A balancer
    /// without keyed selection ignores the key, which is what this default does.
    fn select_key(&mut self, now_us: u64, key: u64) -> Option<(u64, Self::Pick)> {
        let _ = key;
        self.select(now_us)
    }
    /// The caller's view of a finished request, at `now_us`.
    fn report(&mut self, now_us: u64, pick: Self::Pick, success: bool, latency_us: u64);
    fn add_backend(&mut self, now_us: u64, id: u64, weight: u32, capacity: u32);
    fn remove_backend(&mut self, now_us: u64, id: u64);
    fn set_weight(&mut self, now_us: u64, id: u64, weight: u32);
}

/// Strategy names lb has, in lb's order.
pub fn strategy_names() -> Vec<&'static str> {
    Strategy::ALL.iter().map(|s| s.name()).collect()
}

/// A run's balancer: a strategy name, optionally followed by options that differ
/// from lb's defaults, as `name option=value ...` (for example
/// `"weighted_response_time slow_start_window_ms=0"`), option names being
/// `Config`'s fields. Returns the configuration (seed 0), or why the text is not one.
pub fn parse_run(text: &str) -> Result<Config, String> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or("an empty strategy")?;
    let strategy = Strategy::from_name(name).ok_or_else(|| {
        format!(
            "unknown strategy \"{name}\": expected one of {}",
            strategy_names().join(", ")
        )
    })?;
    let mut config = Config {
        strategy,
        ..Config::default()
    };
    for word in words {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("\"{word}\" is not option=value"))?;
        let number: f64 = value
            .parse()
            .map_err(|_| format!("{key}: \"{value}\" is not a number"))?;
        config.set_option(key, number).map_err(|e| e.to_string())?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// lb's `Balancer` with its default configuration, on a manual clock.
pub struct RealLb {
    balancer: Balancer,
    clock: Arc<ManualClock>,
}

/// lb treats a clock reading of 0 as "never": virtual time 0 reads as 1 µs.
const CLOCK_ORIGIN_US: u64 = 1;

impl RealLb {
    fn at(&self, now_us: u64) {
        self.clock.set_us(now_us + CLOCK_ORIGIN_US);
    }

    pub fn balancer(&self) -> &Balancer {
        &self.balancer
    }
}

impl Lb for RealLb {
    type Pick = Pick;

    fn select(&mut self, now_us: u64) -> Option<(u64, Pick)> {
        self.at(now_us);
        match self.balancer.select() {
            Ok(p) => Some((p.instance_id(), p)),
            Err(lb::Error::NoInstance) => None,
            Err(e) => panic!("lb select failed: {e}"),
        }
    }

    fn select_key(&mut self, now_us: u64, key: u64) -> Option<(u64, Pick)> {
        self.at(now_us);
        match self.balancer.select_key(key) {
            Ok(p) => Some((p.instance_id(), p)),
            Err(lb::Error::NoInstance) => None,
            Err(e) => panic!("lb select_key failed: {e}"),
        }
    }

    fn report(&mut self, now_us: u64, pick: Pick, success: bool, latency_us: u64) {
        self.at(now_us);
        let outcome = if success {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        // A pick on a removed instance may be refused; the simulation goes on
        // as a caller would.
        let _ = self.balancer.report(&pick, outcome, latency_us);
    }

    fn add_backend(&mut self, now_us: u64, id: u64, weight: u32, capacity: u32) {
        self.at(now_us);
        self.balancer
            .add_instance(Instance {
                id,
                weight,
                capacity,
            })
            .unwrap_or_else(|e| panic!("lb add_instance({id}) failed: {e}"));
    }

    fn remove_backend(&mut self, now_us: u64, id: u64) {
        self.at(now_us);
        let _ = self.balancer.remove_instance(id);
    }

    fn set_weight(&mut self, now_us: u64, id: u64, weight: u32) {
        self.at(now_us);
        let _ = self.balancer.set_weight(id, weight);
    }
}

/// lb's balancer for the run `run` (see [`parse_run`]; checked when the scenario
/// was read), seeded with `seed`, over backends `(id, weight, capacity)`.
pub fn new_lb(run: &str, seed: u64, backends: &[(u64, u32, u32)]) -> RealLb {
    let clock = Arc::new(ManualClock::new(CLOCK_ORIGIN_US));
    let config = Config {
        // `Config::seed` 0 asks lb for an entropy seed; a run must replay, so a
        // scenario's seed 0 seeds lb with a fixed value instead.
        seed: if seed == 0 { 0x5EED } else { seed },
        ..parse_run(run).unwrap_or_else(|e| panic!("run \"{run}\": {e}"))
    };
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let balancer = Balancer::with_clock(config, dyn_clock).expect("default config is valid");
    let instances: Vec<Instance> = backends
        .iter()
        .map(|&(id, weight, capacity)| Instance {
            id,
            weight,
            capacity,
        })
        .collect();
    balancer
        .set_instances(&instances)
        .expect("scenario backends are valid instances");
    RealLb { balancer, clock }
}
