//! # lb: a lock-free load-balancing core
//!
//! Call [`Balancer::select`] before each request and [`Balancer::report`] after it.
//! lb picks the backend instance: health-aware round robin, least connections,
//! weighted response time, or an adaptive strategy that switches between them on
//! measured outcomes. Select and report take no lock, allocate nothing and make no
//! system call in the steady state, from any number of threads.
//!
//! ```
//! use lb::{Balancer, Config, Instance, Outcome, Strategy};
//!
//! let lb = Balancer::new(Config { strategy: Strategy::LeastConnections, ..Config::default() })?;
//! lb.set_instances(&[Instance::new(1), Instance::new(2).weight(3), Instance::new(3).capacity(100)])?;
//!
//! let pick = lb.select()?;
//! // ... send the request to pick.instance_id() ...
//! lb.report(&pick, Outcome::Success, 1_250 /* us */)?;
//!
//! assert_eq!(lb.stats().successes, 1);
//! # Ok::<(), lb::Error>(())
//! ```

#![warn(missing_docs)]

mod balancer;
mod clock;
mod config;
mod error;
pub mod ffi;
mod hash;
mod health;
mod instance;
mod load;
mod local;
mod member;
pub(crate) mod options;
mod slow_start;
mod snapshot;
mod strategy;
#[doc(hidden)]
pub mod sync;
mod types;

pub use balancer::EVENT_QUEUE_CAPACITY;
pub use balancer::{Balancer, PickGuard, MAX_LATENCY_US};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::Config;
pub use error::Error;
pub use hash::hash_bytes;
pub use instance::IN_FLIGHT_MAX;
pub use types::{
    Event, EventKind, HealthState, HealthStatus, Instance, LoadBalancerStats, Outcome, Pick,
    Strategy,
};

/// The README's Rust example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
