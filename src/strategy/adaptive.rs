//! Adaptive: runs one concrete strategy at a time (the incumbent), measures what it
//! really does, and now and then runs another for a short trial; it switches when
//! a trial does clearly better than the incumbent did, and stays otherwise.
//!
//! The currency is the cost of an evaluation window of the whole balancer's
//! traffic (`adaptive_window_requests` requests, within
//! `adaptive_min_window_ms`..`adaptive_max_window_ms`): the measured mean cost of
//! its completed requests (a success's latency, a failure's penalty, the set's
//! median latency times `failure_penalty_factor`), scaled by how much heavier
//! than alike members' its tail is from where the requests went (`tail_ratio`),
//! so that it follows the p99 rather than the mean.
//!
//! - **Which candidates are tried.** Each other strategy is priced by a model:
//!   the traffic shares it would give each member (`Choose::predicted_share`, at
//!   the set's load) times the members' latency estimates. A candidate priced more
//!   than `PRUNE_RATIO` above the incumbent by the same model is not tried at all,
//!   so a strategy that would plainly send traffic to a slow or failing member
//!   costs nothing to rule out. Of the rest, the one priced lowest is tried.
//! - **Trials are short and cut short.** A trial lasts half a window, and ends
//!   at once when, after `TRIAL_MIN_REQUESTS`, its cost is over `ABORT_RATIO`
//!   times the incumbent's (it would have to win by the hysteresis). A candidate
//!   that loses waits twice as many windows as last time before its next trial
//!   (up to `2^MAX_BACKOFF`), unless the model's price of it against the
//!   incumbent falls by `REPRICE` below what it was when it lost: the members'
//!   latencies moved, so the verdict of its last trial no longer stands.
//! - **Switching.** A trial that costs less than the incumbent's last window by the
//!   hysteresis (`adaptive_hysteresis`) makes the candidate the incumbent. After
//!   one window for the queues the old strategy left to drain, its next window
//!   must confirm it (cost below the old incumbent's by the hysteresis);
//!   otherwise adaptive goes back and the candidate waits.
//! - **A changed regime.** When the incumbent's window cost rises by twice the
//!   hysteresis over its running average, two windows running, every candidate
//!   may be tried again at once.
//!
//! So adaptive stays put where the strategies do equally (trials never win by the
//! margin), moves within a few windows when the incumbent does clearly worse, and
//! does not flap (a switch must win a trial and then a confirming window).

use super::dispatch::Dispatch;
use super::tail_model::{mixture_mean_p99, TAIL_RATIO_ALIKE};
use super::{predicted_share, slot, Outlook, SetView, CONCRETE};
use crate::config::Config;
use crate::load::latency_estimate;
use crate::sync::Ordering;
use crate::types::Strategy;

/// A trial lasts this fraction (1 / n) of a window.
const TRIAL_SHARE: u64 = 2;
/// Requests a trial runs before it can be cut short.
const TRIAL_MIN_REQUESTS: u64 = 100;
/// A trial costing this many times the incumbent's window ends at once: it must
/// win by the hysteresis to count, so one that is not even level after
/// `TRIAL_MIN_REQUESTS` is not worth the rest of its run.
const ABORT_RATIO: f64 = 1.05;
/// A candidate the model prices above the incumbent by this factor is not tried.
const PRUNE_RATIO: f64 = 1.1;
/// A loser is tried again before its backoff is over when the model's price of
/// it against the incumbent's has fallen by this fraction since it lost.
const REPRICE: f64 = 0.05;
/// Prices within this fraction of each other are level.
const TIE: f64 = 1e-9;
/// A losing candidate waits 2^backoff windows, backoff at most this.
const MAX_BACKOFF: u32 = 6;
/// Weight of the newest window in the incumbent's running average cost.
const REFERENCE_WEIGHT: f64 = 0.5;
/// Fewest requests a window needs to be judged at all.
const MIN_JUDGED: u64 = 10;
/// The first trial comes after this many windows: the first window after a start
/// is a warm-up (latency averages still filling), not a fair price.
const FIRST_TRIAL_WINDOW: u64 = 2;

/// Cumulative totals of the whole balancer (set and retired instances) since it
/// began, read by the maintenance pass for adaptive, which differences them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Measure {
    /// Successes and failures.
    pub completed: u64,
    pub failures: u64,
    /// Latency of the successes, in microseconds.
    pub latency_us: u64,
}

impl Measure {
    /// Mean cost of the requests completed since `start`, with `penalty_us` per
    /// failure; `None` when fewer than `min` completed.
    fn mean_since(&self, start: &Measure, penalty_us: f64, min: u64) -> Option<f64> {
        let done = self.completed.saturating_sub(start.completed);
        if done < min.max(1) {
            return None;
        }
        let failed = self.failures.saturating_sub(start.failures);
        let latency = self.latency_us.saturating_sub(start.latency_us);
        Some((latency as f64 + failed as f64 * penalty_us) / done as f64)
    }
}

/// How much heavier than its mean the tail of a window's latencies is, from where
/// the window's requests went: the requests each member completed in it, and the
/// member's latency estimate, taken as exponential. The p99 of that mixture over
/// its mean: ln 100 (4.6) when every member is alike, more when part of the
/// traffic went to slow members. The mean alone cannot tell a strategy that sends
/// 1% of requests to a member five times slower from one that does not; the p99
/// can.
fn tail_ratio(set: &SetView<'_>, median_us: f64) -> f64 {
    let mix: Vec<(f64, f64)> = set
        .members
        .iter()
        .map(|m| {
            (
                window_completed(&m.state) as f64,
                latency_estimate(&m.state, median_us),
            )
        })
        .collect();
    match mixture_mean_p99(&mix) {
        (mean, p99) if mean > 0.0 => p99 / mean,
        _ => TAIL_RATIO_ALIKE,
    }
}

/// Requests `state` completed since its window began.
fn window_completed(state: &crate::instance::InstanceState) -> u64 {
    let c = state.counts();
    (c.successes + c.failures).saturating_sub(state.window_start_completed.load(Ordering::Relaxed))
}

/// What the maintenance pass gives each evaluation.
pub(crate) struct Observation<'a> {
    pub set: SetView<'a>,
    pub now_us: u64,
    pub measure: Measure,
    pub median_us: f64,
    pub penalty_us: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// The incumbent runs and a window of it is measured.
    Measuring,
    /// `challenger` runs for a trial, to be compared with `incumbent_cost`.
    Trial {
        challenger: Strategy,
        incumbent_cost: f64,
        /// The model's price of the challenger over the incumbent's when it began.
        relative_price: f64,
    },
}

/// The evaluation state, owned by the maintenance pass.
pub(crate) struct AdaptiveEval {
    incumbent: Strategy,
    phase: Phase,
    start: Measure,
    start_us: u64,
    /// Windows of the incumbent measured so far.
    windows: u64,
    /// Per strategy (in `CONCRETE` order): the window from which it may be tried,
    /// and its backoff exponent.
    next_try: [u64; CONCRETE.len()],
    backoff: [u32; CONCRETE.len()],
    /// Per strategy: the model's price of it over the incumbent's when it last
    /// lost a trial (`-inf` when it has not, or lost a confirming window).
    lost_at_price: [f64; CONCRETE.len()],
    /// The incumbent's running average window cost, and whether the last window
    /// rose clearly above it.
    reference: Option<f64>,
    risen: bool,
    /// After a switch, until the new incumbent's second window: the strategy it
    /// replaced, that one's cost, and whether the first window (queues left by
    /// the old strategy still draining) has passed.
    confirm: Option<(Strategy, f64, bool)>,
}

impl Default for AdaptiveEval {
    fn default() -> Self {
        AdaptiveEval {
            incumbent: Strategy::WeightedResponseTime,
            phase: Phase::Measuring,
            start: Measure::default(),
            start_us: 0,
            windows: 0,
            next_try: [FIRST_TRIAL_WINDOW; CONCRETE.len()],
            backoff: [0; CONCRETE.len()],
            lost_at_price: [f64::NEG_INFINITY; CONCRETE.len()],
            reference: None,
            risen: false,
            confirm: None,
        }
    }
}

/// Predicted cost of strategy `s` on the selectable members, in the currency the
/// windows are judged in: the p99 of the members' latency estimates (each taken
/// as exponential) mixed by the shares `s` would give them. Pricing the tail
/// rules out a candidate that would send a slow member more traffic even where
/// the mean barely moves.
pub(crate) fn predicted_cost(set: &SetView<'_>, s: Strategy, outlook: &Outlook) -> f64 {
    let mix: Vec<(f64, f64)> = set
        .selectable
        .iter()
        .map(|&i| {
            let i = i as usize;
            (
                predicted_share(s, set, i, outlook),
                latency_estimate(&set.members[i].state, outlook.median_us),
            )
        })
        .collect();
    // No share to price (no selectable member): never worth a trial.
    match mixture_mean_p99(&mix) {
        (mean, p99) if mean > 0.0 => p99,
        _ => f64::INFINITY,
    }
}

impl AdaptiveEval {
    /// Starts afresh with `running` as the incumbent (adaptive just started).
    pub(crate) fn restart(&mut self, running: Strategy, obs: &Observation<'_>) {
        *self = AdaptiveEval {
            incumbent: running,
            ..AdaptiveEval::default()
        };
        self.start_window(obs);
    }

    fn start_window(&mut self, obs: &Observation<'_>) {
        self.start = obs.measure;
        self.start_us = obs.now_us;
        for m in obs.set.members.iter() {
            let c = m.state.counts();
            m.state
                .window_start_completed
                .store(c.successes + c.failures, Ordering::Relaxed);
        }
    }

    /// The window's cost so far: its measured mean cost, scaled by how much
    /// heavier its tail is than alike members' (`tail_ratio`), so it tracks the
    /// p99 rather than the mean. `None` when fewer than `min` requests completed.
    fn cost(&self, obs: &Observation<'_>, min: u64) -> Option<f64> {
        let mean = obs.measure.mean_since(&self.start, obs.penalty_us, min)?;
        Some(mean * tail_ratio(&obs.set, obs.median_us) / TAIL_RATIO_ALIKE)
    }

    /// Called by every maintenance pass.
    /// The strategy adaptive has settled on (trials aside).
    pub(crate) fn settled(&self) -> Strategy {
        self.incumbent
    }

    pub(crate) fn evaluate(&mut self, obs: &Observation<'_>, cfg: &Config, dispatch: &Dispatch) {
        // Someone else moved the running strategy (a racing reconfiguration):
        // measure what runs now.
        let running = dispatch.running();
        let expected = match self.phase {
            Phase::Measuring => self.incumbent,
            Phase::Trial { challenger, .. } => challenger,
        };
        if running != expected {
            self.restart(running, obs);
            return;
        }
        let done = obs.measure.completed.saturating_sub(self.start.completed);
        let elapsed = obs.now_us.saturating_sub(self.start_us);
        let timed_out = elapsed >= cfg.adaptive_max_window_ms.saturating_mul(1000);
        let window = cfg.adaptive_window_requests as u64;
        let min_us = cfg.adaptive_min_window_ms.saturating_mul(1000);
        match self.phase {
            Phase::Trial {
                challenger,
                incumbent_cost,
                relative_price,
            } => {
                let cost = self.cost(obs, TRIAL_MIN_REQUESTS);
                let losing = cost.is_some_and(|c| c > incumbent_cost * ABORT_RATIO);
                let over = (done >= (window / TRIAL_SHARE).max(TRIAL_MIN_REQUESTS)
                    && elapsed >= min_us / TRIAL_SHARE)
                    || timed_out;
                if !losing && !over {
                    return;
                }
                let won = !losing
                    && cost.is_some_and(|c| c < incumbent_cost * (1.0 - cfg.adaptive_hysteresis));
                self.phase = Phase::Measuring;
                self.start_window(obs);
                if won {
                    let from = self.incumbent;
                    self.confirm = Some((from, incumbent_cost, false));
                    self.incumbent = challenger;
                    self.reference = cost;
                    self.settle(challenger);
                    dispatch.count_switch();
                    return;
                }
                self.lose(challenger, relative_price);
                dispatch.run(challenger, self.incumbent);
            }
            Phase::Measuring => {
                if !((done >= window && elapsed >= min_us) || timed_out) {
                    return;
                }
                let cost = self.cost(obs, MIN_JUDGED);
                let load = self.load(obs, elapsed);
                self.start_window(obs);
                let Some(cost) = cost else {
                    return;
                };
                self.windows += 1;
                if let Some((previous, previous_cost, settled)) = self.confirm.take() {
                    if !settled {
                        self.confirm = Some((previous, previous_cost, true));
                        return;
                    }
                    if cost > previous_cost * (1.0 - cfg.adaptive_hysteresis) {
                        // The switch did not hold up over a whole window.
                        let from = self.incumbent;
                        self.lose(from, f64::NEG_INFINITY);
                        if dispatch.switch(from, previous) {
                            self.incumbent = previous;
                            self.reference = Some(previous_cost);
                        }
                        return;
                    }
                }
                self.note_cost(cost, cfg);
                self.try_candidate(obs, load, cost, dispatch)
            }
        }
    }

    /// Mean picks in flight per selectable member over the window just measured
    /// (Little's law: latency completed per unit of time), a measure of load.
    fn load(&self, obs: &Observation<'_>, elapsed_us: u64) -> f64 {
        let latency = obs.measure.latency_us.saturating_sub(self.start.latency_us);
        let members = obs.set.selectable.len().max(1);
        latency as f64 / elapsed_us.max(1) as f64 / members as f64
    }

    /// Folds a window's cost into the running average; a clear rise (twice the
    /// hysteresis, two windows running) means the regime changed, and every
    /// candidate may be tried again.
    fn note_cost(&mut self, cost: f64, cfg: &Config) {
        let risen = self
            .reference
            .is_some_and(|r| cost > r * (1.0 + 2.0 * cfg.adaptive_hysteresis));
        if risen && self.risen {
            self.next_try = [self.windows; CONCRETE.len()];
            self.backoff = [0; CONCRETE.len()];
        }
        self.risen = risen;
        self.reference = Some(match self.reference {
            Some(r) => r + REFERENCE_WEIGHT * (cost - r),
            None => cost,
        });
    }

    /// Starts a trial of the candidate the model prices lowest among those due and
    /// not priced out.
    fn try_candidate(&mut self, obs: &Observation<'_>, load: f64, cost: f64, dispatch: &Dispatch) {
        let outlook = Outlook {
            median_us: obs.median_us,
            load,
        };
        let incumbent_price = predicted_cost(&obs.set, self.incumbent, &outlook);
        let mut best: Option<(Strategy, f64)> = None;
        for (k, &s) in CONCRETE.iter().enumerate() {
            if s == self.incumbent {
                continue;
            }
            let price = predicted_cost(&obs.set, s, &outlook);
            // A loser waits out its backoff unless the model now prices it clearly
            // better against the incumbent than when it lost: the members'
            // latencies moved, and the verdict of its last trial is stale.
            let repriced = price < incumbent_price * self.lost_at_price[k] * (1.0 - REPRICE);
            if self.next_try[k] > self.windows && !repriced {
                continue;
            }
            // NaN prices (no selectable member) are never tried.
            let affordable = price <= incumbent_price * PRUNE_RATIO;
            if !affordable {
                continue;
            }
            // Prices level but for rounding (two strategies that would give the
            // same shares) go to the earlier in the registry's order.
            if best.map_or(true, |(_, p)| price < p * (1.0 - TIE)) {
                best = Some((s, price));
            }
        }
        let Some((challenger, best_price)) = best else {
            return;
        };
        if !dispatch.begin_trial(self.incumbent, challenger) {
            return;
        }
        self.phase = Phase::Trial {
            challenger,
            incumbent_cost: cost,
            relative_price: best_price / incumbent_price,
        };
    }

    /// A candidate lost: it waits twice as long as last time.
    fn lose(&mut self, s: Strategy, relative_price: f64) {
        if let Some(k) = slot(s) {
            self.lost_at_price[k] = relative_price;
            self.backoff[k] = (self.backoff[k] + 1).min(MAX_BACKOFF);
            self.next_try[k] = self.windows + (1u64 << self.backoff[k]);
        }
    }

    /// A candidate won: its backoff starts again.
    fn settle(&mut self, s: Strategy) {
        if let Some(k) = slot(s) {
            self.backoff[k] = 0;
        }
    }
}

#[cfg(test)]
#[path = "adaptive_tests.rs"]
mod tests;
