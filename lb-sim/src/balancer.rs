//! The boundary between the simulation engine and the balancer it measures.

/// What the engine needs from a balancer. Times are virtual microseconds.
pub trait Lb {
    /// Whatever `report` needs to identify the pick.
    type Pick: Copy;

    /// Pick a backend for a request arriving at `now_us`; `None` when the
    /// balancer has no instance to offer.
    fn select(&mut self, now_us: u64) -> Option<(u64, Self::Pick)>;
    /// The caller's view of a finished request, at `now_us`.
    fn report(&mut self, now_us: u64, pick: Self::Pick, success: bool, latency_us: u64);
    fn add_backend(&mut self, now_us: u64, id: u64, weight: u32, capacity: u32);
    fn remove_backend(&mut self, now_us: u64, id: u64);
    fn set_weight(&mut self, now_us: u64, id: u64, weight: u32);
}

/// Strategy names the simulator knows, in lb's order.
pub fn strategy_names() -> Vec<&'static str> {
    vec![
        "round_robin",
        "least_connections",
        "weighted_response_time",
        "adaptive",
    ]
}

/// A stand-in until lb's core lands: plain round robin over live ids.
pub struct StandIn {
    ids: Vec<u64>,
    next: usize,
}

impl Lb for StandIn {
    type Pick = u64;
    fn select(&mut self, _now_us: u64) -> Option<(u64, u64)> {
        if self.ids.is_empty() {
            return None;
        }
        let id = self.ids[self.next % self.ids.len()];
        self.next = self.next.wrapping_add(1);
        Some((id, id))
    }
    fn report(&mut self, _: u64, _: u64, _: bool, _: u64) {}
    fn add_backend(&mut self, _: u64, id: u64, _: u32, _: u32) {
        self.ids.push(id);
    }
    fn remove_backend(&mut self, _: u64, id: u64) {
        self.ids.retain(|&i| i != id);
    }
    fn set_weight(&mut self, _: u64, _: u64, _: u32) {}
}

/// The balancer for `strategy`, seeded with `seed`, over backends
/// `(id, weight, capacity)`.
pub fn new_lb(_strategy: &str, _seed: u64, backends: &[(u64, u32, u32)]) -> StandIn {
    StandIn {
        ids: backends.iter().map(|b| b.0).collect(),
        next: 0,
    }
}
