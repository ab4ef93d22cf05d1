//! Adaptive: runs one of the concrete strategies at a time and moves to another when
//! it is predicted to serve clearly better.
//!
//! Every evaluation window (a number of completed requests, so its length in time
//! follows the request rate, bounded below and above) it prices each strategy in
//! one currency: the mean per-request cost, where an instance's cost is its latency
//! average with failures counted as a latency penalty. The active strategy is priced
//! with the traffic shares it really produced in the window; the others with the
//! shares they would produce from the same per-instance statistics (round robin: by
//! weight; least connections and weighted response time: by weight over latency,
//! the latter also by health). A strategy that was run recently is priced by what it
//! really did instead, so a wrong prediction is tried once and then remembered.
//! Adaptive switches only when another strategy is cheaper by the hysteresis margin
//! in two windows running, so it does not flap, and never when they price equally.

use super::{
    least_connections::LeastConnections, round_robin::RoundRobin,
    weighted_response_time::member_weight, weighted_response_time::WeightedResponseTime, Choose,
    PickCtx,
};
use crate::config::Config;
use crate::snapshot::Snapshot;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicU64, AtomicU8, Ordering};
use crate::types::Strategy;

/// Runs the concrete strategy `s` (adaptive itself dispatches to its active one).
#[inline]
pub(crate) fn choose_concrete(s: Strategy, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
    match s {
        Strategy::RoundRobin | Strategy::Adaptive => RoundRobin.choose(ctx),
        Strategy::LeastConnections => LeastConnections.choose(ctx),
        Strategy::WeightedResponseTime => WeightedResponseTime.choose(ctx),
    }
}

/// Which strategy adaptive runs now; switched lock-free by one compare-and-swap so
/// selects racing a switch each run one valid strategy.
pub(crate) struct AdaptiveSwitch {
    active: AtomicU8,
    switches: AtomicU64,
}

impl AdaptiveSwitch {
    pub(crate) fn new(initial: Strategy) -> Self {
        AdaptiveSwitch {
            active: AtomicU8::new(initial as u8),
            switches: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn active(&self) -> Strategy {
        Strategy::from_u8(self.active.load(Ordering::Acquire))
    }

    pub(crate) fn switches(&self) -> u64 {
        self.switches.load(Ordering::Acquire)
    }

    /// Moves from `from` to `to`; true for the one caller that made the switch.
    pub(crate) fn switch(&self, from: Strategy, to: Strategy) -> bool {
        #[cfg(loom)]
        if fault::on(&fault::SPLIT_STRATEGY_SWITCH) {
            if self.active.load(Ordering::Acquire) != from as u8 {
                return false;
            }
            self.active.store(to as u8, Ordering::Release);
            self.switches.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        let ok = self
            .active
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if ok {
            self.switches.fetch_add(1, Ordering::AcqRel);
        }
        ok
    }

    /// Sets the running strategy without counting a switch (adaptive (re)started).
    pub(crate) fn restart(&self, s: Strategy) {
        self.active.store(s as u8, Ordering::Release);
    }
}

fn slot(s: Strategy) -> usize {
    match s {
        Strategy::RoundRobin | Strategy::Adaptive => 0,
        Strategy::LeastConnections => 1,
        Strategy::WeightedResponseTime => 2,
    }
}

/// Windows before a remembered real cost gives way to the prediction again.
const MEMORY_WINDOWS: u64 = 10;
/// Windows running that must agree on the same better strategy.
const CONFIRMATIONS: u32 = 2;

/// The evaluation state, owned by the maintenance pass.
#[derive(Default)]
pub(crate) struct AdaptiveEval {
    window_start_us: u64,
    /// Real cost of each strategy when it last ran, and when.
    memory: [Option<(f64, u64)>; 3],
    candidate: Option<Strategy>,
    confirmations: u32,
}

/// Per-instance cost: the latency average (failures included as penalties), or the
/// median for an instance without samples.
fn cost(snap: &Snapshot, idx: usize, median: f64) -> f64 {
    let l = snap.members[idx].state.latency_ewma();
    if l > 0.0 {
        l
    } else {
        median.max(1.0)
    }
}

/// Predicted mean cost of strategy `s` on the snapshot's selectable members.
pub(crate) fn predicted_cost(snap: &Snapshot, s: Strategy, median: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &i in snap.selectable.iter() {
        let i = i as usize;
        let c = cost(snap, i, median);
        let share = match s {
            Strategy::RoundRobin | Strategy::Adaptive => snap.members[i].weight as f64,
            Strategy::LeastConnections => snap.members[i].weight as f64 / c,
            Strategy::WeightedResponseTime => member_weight(snap, i, median),
        };
        num += share * c;
        den += share;
    }
    if den > 0.0 {
        num / den
    } else {
        f64::INFINITY
    }
}

impl AdaptiveEval {
    /// Starts a fresh window (adaptive just started, or the set changed shape).
    pub(crate) fn restart(&mut self, snap: &Snapshot, now_us: u64) {
        *self = AdaptiveEval::default();
        self.start_window(snap, now_us);
    }

    fn start_window(&mut self, snap: &Snapshot, now_us: u64) {
        self.window_start_us = now_us;
        for m in snap.members.iter() {
            let c = m.state.counts();
            m.state
                .window_start_completed
                .store(c.successes + c.failures, Ordering::Relaxed);
        }
    }

    /// Called by every maintenance pass; closes the window when it is full and
    /// returns the switch it made, if any.
    pub(crate) fn evaluate(
        &mut self,
        snap: &Snapshot,
        now_us: u64,
        median: f64,
        cfg: &Config,
        switch: &AdaptiveSwitch,
    ) -> Option<(Strategy, Strategy)> {
        let elapsed = now_us.saturating_sub(self.window_start_us);
        let (mut done, mut weighted) = (0u64, 0.0);
        for (i, m) in snap.members.iter().enumerate() {
            let c = m.state.counts();
            let start = m.state.window_start_completed.load(Ordering::Relaxed);
            let d = (c.successes + c.failures).saturating_sub(start);
            done += d;
            weighted += d as f64 * cost(snap, i, median);
        }
        let full = done >= cfg.adaptive_window_requests as u64
            && elapsed >= cfg.adaptive_min_window_ms * 1000;
        let timed_out = elapsed >= cfg.adaptive_max_window_ms * 1000;
        if !full && !timed_out {
            return None;
        }
        let result = if done >= 10 {
            self.decide(
                snap,
                now_us,
                elapsed,
                weighted / done as f64,
                median,
                cfg,
                switch,
            )
        } else {
            None
        };
        self.start_window(snap, now_us);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        snap: &Snapshot,
        now_us: u64,
        window_us: u64,
        actual: f64,
        median: f64,
        cfg: &Config,
        switch: &AdaptiveSwitch,
    ) -> Option<(Strategy, Strategy)> {
        let active = switch.active();
        self.memory[slot(active)] = Some((actual, now_us));
        let ttl = window_us.max(1) * MEMORY_WINDOWS;
        let price = |s: Strategy| -> f64 {
            if s == active {
                return actual;
            }
            match self.memory[slot(s)] {
                Some((c, at)) if now_us.saturating_sub(at) < ttl => c,
                _ => predicted_cost(snap, s, median),
            }
        };
        let mut best = active;
        let mut best_price = actual;
        for s in Strategy::CONCRETE {
            let p = price(s);
            if p < best_price {
                best = s;
                best_price = p;
            }
        }
        if best == active || best_price >= actual * (1.0 - cfg.adaptive_hysteresis) {
            self.candidate = None;
            self.confirmations = 0;
            return None;
        }
        if self.candidate == Some(best) {
            self.confirmations += 1;
        } else {
            self.candidate = Some(best);
            self.confirmations = 1;
        }
        if self.confirmations < CONFIRMATIONS {
            return None;
        }
        self.candidate = None;
        self.confirmations = 0;
        switch.switch(active, best).then_some((active, best))
    }
}
