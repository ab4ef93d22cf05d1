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

use super::{predicted_share, slot, SetView, CONCRETE};
use crate::config::Config;
use crate::load::latency_estimate;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicU64, AtomicU8, Ordering};
use crate::types::Strategy;

/// The configured strategy and the one running now: the same unless the configured
/// one is adaptive, which runs one concrete strategy at a time. Select reads the
/// running one with one load; adaptive switches it lock-free by one
/// compare-and-swap, so selects racing a switch each run one valid strategy.
pub(crate) struct Dispatch {
    configured: AtomicU8,
    running: AtomicU8,
    switches: AtomicU64,
}

impl Dispatch {
    /// Adaptive starts on weighted response time: its latency-aware two-choice pick
    /// is the strongest single strategy across the bundled scenarios (BENCHMARKS.md).
    pub(crate) fn new(configured: Strategy) -> Self {
        let running = match configured {
            Strategy::Adaptive => Strategy::WeightedResponseTime,
            s => s,
        };
        Dispatch {
            configured: AtomicU8::new(configured as u8),
            running: AtomicU8::new(running as u8),
            switches: AtomicU64::new(0),
        }
    }

    /// The concrete strategy that selects run now.
    pub(crate) fn running(&self) -> Strategy {
        Strategy::from_u8(self.running_raw())
    }

    /// `running` as stored (`Strategy as u8`): what the request path dispatches on.
    #[inline(always)]
    pub(crate) fn running_raw(&self) -> u8 {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn configured(&self) -> Strategy {
        Strategy::from_u8(self.configured.load(Ordering::Relaxed))
    }

    pub(crate) fn switches(&self) -> u64 {
        self.switches.load(Ordering::Acquire)
    }

    /// Makes `s` the configured strategy; adaptive continues with what was running.
    /// The caller serialises calls (the balancer holds its maintenance and writer
    /// locks).
    pub(crate) fn configure(&self, s: Strategy) {
        if s != Strategy::Adaptive {
            self.running.store(s as u8, Ordering::Release);
        }
        self.configured.store(s as u8, Ordering::Relaxed);
    }

    /// Loom models only: writes the configured strategy alone (half of `configure`).
    #[cfg(loom)]
    pub(crate) fn configure_only(&self, s: Strategy) {
        self.configured.store(s as u8, Ordering::Relaxed);
    }

    /// Moves from `from` to `to`; true for the one caller that made the switch.
    pub(crate) fn switch(&self, from: Strategy, to: Strategy) -> bool {
        #[cfg(loom)]
        if fault::on(&fault::SPLIT_STRATEGY_SWITCH) {
            if self.running.load(Ordering::Acquire) != from as u8 {
                return false;
            }
            self.running.store(to as u8, Ordering::Release);
            self.switches.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        let ok = self
            .running
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if ok {
            self.switches.fetch_add(1, Ordering::AcqRel);
        }
        ok
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
    /// Real cost of each concrete strategy (in `CONCRETE` order) when it last ran,
    /// and when.
    memory: [Option<(f64, u64)>; CONCRETE.len()],
    candidate: Option<Strategy>,
    confirmations: u32,
}

/// Predicted mean cost of strategy `s` on the selectable members: each member's
/// latency estimate weighted by the share `s` would give it.
pub(crate) fn predicted_cost(set: &SetView<'_>, s: Strategy, median: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &i in set.selectable.iter() {
        let i = i as usize;
        let share = predicted_share(s, set, i, median);
        num += share * latency_estimate(&set.members[i].state, median);
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
    pub(crate) fn restart(&mut self, set: &SetView<'_>, now_us: u64) {
        *self = AdaptiveEval::default();
        self.start_window(set, now_us);
    }

    fn start_window(&mut self, set: &SetView<'_>, now_us: u64) {
        self.window_start_us = now_us;
        for m in set.members.iter() {
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
        set: &SetView<'_>,
        now_us: u64,
        median: f64,
        cfg: &Config,
        switch: &Dispatch,
    ) -> Option<(Strategy, Strategy)> {
        let elapsed = now_us.saturating_sub(self.window_start_us);
        let (mut done, mut weighted) = (0u64, 0.0);
        for m in set.members.iter() {
            let c = m.state.counts();
            let start = m.state.window_start_completed.load(Ordering::Relaxed);
            let d = (c.successes + c.failures).saturating_sub(start);
            done += d;
            weighted += d as f64 * latency_estimate(&m.state, median);
        }
        let full = done >= cfg.adaptive_window_requests as u64
            && elapsed >= cfg.adaptive_min_window_ms * 1000;
        let timed_out = elapsed >= cfg.adaptive_max_window_ms * 1000;
        if !full && !timed_out {
            return None;
        }
        let result = if done >= 10 {
            self.decide(
                set,
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
        self.start_window(set, now_us);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        set: &SetView<'_>,
        now_us: u64,
        window_us: u64,
        actual: f64,
        median: f64,
        cfg: &Config,
        switch: &Dispatch,
    ) -> Option<(Strategy, Strategy)> {
        let active = switch.running();
        if let Some(k) = slot(active) {
            self.memory[k] = Some((actual, now_us));
        }
        let ttl = window_us.max(1) * MEMORY_WINDOWS;
        let price = |s: Strategy| -> f64 {
            if s == active {
                return actual;
            }
            match slot(s).and_then(|k| self.memory[k]) {
                Some((c, at)) if now_us.saturating_sub(at) < ttl => c,
                _ => predicted_cost(set, s, median),
            }
        };
        let mut best = active;
        let mut best_price = actual;
        for &s in CONCRETE {
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
