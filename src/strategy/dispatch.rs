//! Which strategy selects run: the configured one, or for adaptive the concrete
//! strategy it runs now. Select reads the running one with one load; adaptive
//! moves it lock-free by one compare-and-swap, so selects racing a move each run
//! one valid strategy.

#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicU64, AtomicU8, Ordering};
use crate::types::Strategy;

/// What plain selects (without a key) run under configured strategy `s`: round
/// robin for the hashing strategies, `s` itself otherwise.
fn plain(s: Strategy) -> Strategy {
    if s.is_hashing() {
        Strategy::RoundRobin
    } else {
        s
    }
}

/// The configured strategy and the one running now: the same unless the configured
/// one is adaptive, which runs one concrete strategy at a time.
pub(crate) struct Dispatch {
    configured: AtomicU8,
    running: AtomicU8,
    /// Adaptive's switches: changes of the strategy it settles on.
    switches: AtomicU64,
    /// Adaptive's trials: short runs of another strategy to measure it.
    trials: AtomicU64,
}

impl Dispatch {
    /// Adaptive starts on weighted response time: its latency-aware two-choice pick
    /// is the strongest single strategy across the bundled scenarios (BENCHMARKS.md).
    pub(crate) fn new(configured: Strategy) -> Self {
        let running = match configured {
            Strategy::Adaptive => Strategy::WeightedResponseTime,
            s => plain(s),
        };
        Dispatch {
            configured: AtomicU8::new(configured as u8),
            running: AtomicU8::new(running as u8),
            switches: AtomicU64::new(0),
            trials: AtomicU64::new(0),
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

    pub(crate) fn trials(&self) -> u64 {
        self.trials.load(Ordering::Acquire)
    }

    /// Makes `s` the configured strategy; adaptive continues with what was running.
    /// The caller serialises calls (the balancer holds its maintenance and writer
    /// locks).
    pub(crate) fn configure(&self, s: Strategy) {
        if s != Strategy::Adaptive {
            self.running.store(plain(s) as u8, Ordering::Release);
        }
        self.configured.store(s as u8, Ordering::Relaxed);
    }

    /// Loom models only: writes the configured strategy alone (half of `configure`).
    #[cfg(loom)]
    pub(crate) fn configure_only(&self, s: Strategy) {
        self.configured.store(s as u8, Ordering::Relaxed);
    }

    /// Adaptive settles on `to` instead of `from`; true for the one caller that
    /// made the switch (counted in `switches`).
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
        let ok = self.run(from, to);
        if ok {
            self.switches.fetch_add(1, Ordering::AcqRel);
        }
        ok
    }

    /// Adaptive settled on the strategy its trial is running (counted in
    /// `switches`).
    pub(crate) fn count_switch(&self) {
        self.switches.fetch_add(1, Ordering::AcqRel);
    }

    /// Adaptive tries `to` for a while instead of `from` (counted in `trials`).
    pub(crate) fn begin_trial(&self, from: Strategy, to: Strategy) -> bool {
        let ok = self.run(from, to);
        if ok {
            self.trials.fetch_add(1, Ordering::AcqRel);
        }
        ok
    }

    /// Moves the running strategy from `from` to `to` without counting it (the end
    /// of a trial, or its start through `begin_trial`).
    pub(crate) fn run(&self, from: Strategy, to: Strategy) -> bool {
        self.running
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}
