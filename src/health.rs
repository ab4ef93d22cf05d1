//! Passive health: the score each instance earns from its own outcomes, and the
//! decisions that follow from it (eject, start trials, forgive).
//!
//! score = external * success^2 * streak * latency, each factor in 0..1:
//! - success: the success rate over a time-decayed window (`health_window_ms`);
//!   squared, so 30% failures already fall below the default threshold of 0.5.
//! - streak: 1 - 0.5 * min(consecutive failures / `consecutive_failures`, 1); the
//!   streak alone never ejects here — reaching `consecutive_failures` ejects at once
//!   on the report path.
//! - latency: 1 up to the median latency of the set, then falling with the log of
//!   the ratio so that exactly `latency_outlier_ratio` times the median scores 0.5:
//!   slowness costs share (weighted response time uses the score), and only an
//!   extreme outlier is ejected on latency alone.
//!
//! Ejection needs `min_samples` recent outcomes, so one early failure cannot eject.

use crate::config::Config;
use crate::instance::InstanceState;
use crate::member::Member;
use crate::sync::Ordering;

/// What one evaluation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Unchanged,
    Ejected,
    OnTrial,
}

pub(crate) fn latency_factor(latency: f64, median: f64, cfg: &Config) -> f64 {
    if median <= 0.0 || latency <= median {
        return 1.0;
    }
    let ratio = latency / median;
    (1.0 - 0.5 * libm::log(ratio) / libm::log(cfg.latency_outlier_ratio)).max(0.0)
}

fn streak_factor(streak: u64, cfg: &Config) -> f64 {
    1.0 - 0.5 * (streak as f64 / cfg.consecutive_failures as f64).min(1.0)
}

/// Updates one instance's decayed outcome counts and score, and ejects it or moves it
/// to trial traffic when due. `dt_us` is the time since the previous evaluation.
pub(crate) fn evaluate(
    st: &InstanceState,
    now_us: u64,
    dt_us: u64,
    median: f64,
    cfg: &Config,
) -> Verdict {
    let c = st.counts();
    let d_ok = c
        .successes
        .saturating_sub(st.seen_successes.load(Ordering::Relaxed));
    let d_fail = c
        .failures
        .saturating_sub(st.seen_failures.load(Ordering::Relaxed));
    st.seen_successes.store(c.successes, Ordering::Relaxed);
    st.seen_failures.store(c.failures, Ordering::Relaxed);
    let healthy = st.health.is_healthy();
    let (ok, fail) = if healthy {
        let decay = libm::exp(-(dt_us as f64) / (cfg.health_window_ms * 1000.0));
        (
            st.recent_successes.load(Ordering::Relaxed) * decay + d_ok as f64,
            st.recent_failures.load(Ordering::Relaxed) * decay + d_fail as f64,
        )
    } else {
        // An ejected instance starts with a clean record when it comes back.
        (0.0, 0.0)
    };
    st.recent_successes.store(ok, Ordering::Relaxed);
    st.recent_failures.store(fail, Ordering::Relaxed);
    let samples = ok + fail;
    let rate = if samples > 0.0 { ok / samples } else { 1.0 };
    let passive = rate
        * rate
        * streak_factor(st.consecutive_failures(), cfg)
        * latency_factor(st.latency_ewma(), median, cfg);
    let ejected = st.health.is_ejected();
    st.passive_score
        .store(if ejected { 0.0 } else { passive }, Ordering::Relaxed);
    if healthy {
        if samples >= cfg.min_samples as f64
            && passive < cfg.unhealthy_threshold
            && st.health.try_eject(now_us, cfg)
        {
            return Verdict::Ejected;
        }
        st.health.forgive(now_us, cfg);
    } else if ejected && st.health.try_begin_probation(now_us) {
        return Verdict::OnTrial;
    }
    Verdict::Unchanged
}

/// How the live state lets an instance be picked: the one rule the snapshot is
/// built with and that the staleness check compares against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Selectable {
    /// In service: picked by the strategies.
    pub healthy: bool,
    /// On probation: offered trial requests only.
    pub on_trial: bool,
}

pub(crate) fn selectable(st: &InstanceState, cfg: &Config) -> Selectable {
    let external_ok = st.external_score.load(Ordering::Acquire) >= cfg.unhealthy_threshold;
    Selectable {
        healthy: external_ok && st.health.is_healthy(),
        on_trial: external_ok && st.health.on_probation(),
    }
}

/// Whether the snapshot's health view of `m` is out of date with its live state.
/// `on_trial`: whether the snapshot offers it trial traffic (`None` in panic mode,
/// where there is no trial list).
pub(crate) fn view_is_stale(m: &Member, on_trial: Option<bool>, cfg: &Config) -> bool {
    let now = selectable(&m.state, cfg);
    now.healthy != m.healthy || on_trial.is_some_and(|t| t != now.on_trial)
}
