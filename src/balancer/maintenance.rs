//! The maintenance pass: every `maintenance_interval_ms`, on whichever thread reads
//! the clock when it is due (or on `maintain`), it applies expiry, evaluates health,
//! refreshes the strategies' tables and runs adaptive's evaluation.

use super::Balancer;
use crate::health::{self, Verdict};
use crate::load::median_latency;
use crate::slow_start;
use crate::snapshot::Snapshot;
use crate::strategy::adaptive::{AdaptiveEval, Measure, Observation};
use crate::strategy::Scratch;
use crate::sync::{lock, try_lock, AtomicF64, AtomicU64, Mutex, Ordering};
use crate::types::{EventKind, Strategy};

pub(super) struct Maintenance {
    pass: Mutex<Pass>,
    next_us: AtomicU64,
    /// Latency a failure counts as, at least (median latency * penalty factor).
    penalty_us: AtomicF64,
    /// Median latency average of the set.
    median_us: AtomicF64,
}

/// The state of the pass (one thread at a time, never waited for on the request
/// path).
pub(super) struct Pass {
    last_eval_us: u64,
    scratch: Scratch,
    pub(super) adaptive: AdaptiveEval,
    pub(super) adaptive_running: bool,
}

impl Maintenance {
    pub(super) fn new(now_us: u64) -> Maintenance {
        Maintenance {
            pass: Mutex::new(Pass {
                last_eval_us: now_us,
                scratch: Scratch::default(),
                adaptive: AdaptiveEval::default(),
                adaptive_running: false,
            }),
            next_us: AtomicU64::new(now_us),
            penalty_us: AtomicF64::new(0.0),
            median_us: AtomicF64::new(0.0),
        }
    }

    /// The median latency average of the set, as the strategies read it.
    #[inline(always)]
    pub(super) fn median(&self) -> &AtomicF64 {
        &self.median_us
    }

    #[inline(always)]
    pub(super) fn penalty_us(&self) -> f64 {
        self.penalty_us.load(Ordering::Relaxed)
    }

    /// The pass's lock, for callers that change what it evaluates (the strategy).
    pub(super) fn lock(&self) -> crate::sync::MutexGuard<'_, Pass> {
        lock(&self.pass)
    }

    /// The next pass is due `interval_us` after `now_us`.
    pub(super) fn schedule(&self, now_us: u64, interval_us: u64) {
        self.next_us
            .store(now_us.saturating_add(interval_us), Ordering::Relaxed);
    }
}

impl Balancer {
    /// Reads the clock; moves the expiry epoch on and runs maintenance when they are
    /// due and no other thread is at them. Called every `clock_refresh_ops` calls
    /// of a thread (see `LocalEntry::count_select`), never with that thread's entry
    /// in use (the clock is user code).
    #[cold]
    #[inline(never)]
    pub(crate) fn tick(&self) {
        let now = self.clock.now_us();
        if now > self.now_us.load(Ordering::Relaxed) {
            self.now_us.fetch_max(now, Ordering::Relaxed);
        }
        if self.expiry.due(now) {
            self.try_expire(now);
        }
        if now >= self.maintenance.next_us.load(Ordering::Relaxed) {
            if let Some(mut p) = try_lock(&self.maintenance.pass) {
                self.maintain_locked(&mut p, now);
            }
        }
    }

    /// Runs the maintenance pass now (expiry, health, weights, adaptive), instead of
    /// waiting for the next clock refresh of a select. Useful with a manual clock.
    pub fn maintain(&self) {
        let now = self.clock.now_us();
        self.now_us.fetch_max(now, Ordering::Relaxed);
        let mut p = lock(&self.maintenance.pass);
        self.maintain_locked(&mut p, now);
    }

    /// What adaptive evaluates with: the set `snap`, and the totals it measures
    /// windows with (requests completed, failures and the successes' latency, over
    /// the set and the retired instances).
    pub(super) fn observe<'a>(&self, snap: &'a Snapshot, now_us: u64) -> Observation<'a> {
        let mut totals = self.graveyard.totals();
        for m in snap.members.iter() {
            totals.add(&m.state.counts());
        }
        let median = self.maintenance.median_us.load(Ordering::Relaxed);
        Observation {
            set: snap.set_view(),
            now_us,
            measure: Measure {
                completed: totals.successes + totals.failures,
                failures: totals.failures,
                latency_us: self.locals.latency_sum_us(),
            },
            median_us: median,
            penalty_us: median * snap.cfg.failure_penalty_factor,
        }
    }

    fn maintain_locked(&self, p: &mut Pass, now: u64) {
        let snap = self.published.load();
        let cfg = &snap.cfg;
        let interval = cfg.maintenance_interval_ms * 1000;
        self.maintenance.schedule(now, interval);
        self.expire(now);

        // Health.
        let dt = now.saturating_sub(p.last_eval_us);
        p.last_eval_us = now;
        let median = median_latency(&snap.members, &mut p.scratch.floats);
        self.maintenance
            .penalty_us
            .store(median * cfg.failure_penalty_factor, Ordering::Relaxed);
        self.maintenance.median_us.store(median, Ordering::Relaxed);
        // Peak EWMA's estimates fade towards 0 between samples.
        let fade = libm::exp(-(dt as f64) / snap.decay.peak_tau_us);
        let peak_default_us = cfg.peak_ewma_default_latency_ms * 1000.0;
        let mut stale = false;
        for (i, m) in snap.members.iter().enumerate() {
            m.state.fade_peak_ewma(fade, peak_default_us);
            match health::evaluate(&m.state, now, dt, median, cfg) {
                Verdict::Ejected => {
                    self.ejections.fetch_add(1, Ordering::AcqRel);
                    self.event(EventKind::Ejected, m.id, now);
                    stale = true;
                }
                Verdict::OnTrial => stale = true,
                Verdict::Unchanged => {}
            }
            let on_trial = (!snap.panic).then(|| snap.trial.contains(&(i as u32)));
            stale |= health::view_is_stale(m, on_trial, cfg);
            // A slow start's weight moves in whole percents.
            stale |= slow_start::percent(&m.state, now, cfg) != m.ramp_percent;
        }

        // The strategies' tables and adaptive.
        let set = snap.set_view();
        snap.tables.refresh(&set, median, &mut p.scratch);
        if self.strategy() == Strategy::Adaptive {
            let obs = self.observe(&snap, now);
            if !p.adaptive_running {
                p.adaptive.restart(self.dispatch.running(), &obs);
                p.adaptive_running = true;
            }
            let (switches, settled) = (self.dispatch.switches(), p.adaptive.settled());
            p.adaptive.evaluate(&obs, cfg, &self.dispatch);
            if self.dispatch.switches() != switches {
                self.switch_event(settled, p.adaptive.settled(), now);
            }
        } else {
            p.adaptive_running = false;
        }
        if stale {
            self.republish();
        }
        // The next pass is due an interval after this one ended, so a pass that takes
        // longer than the interval (a huge set) cannot keep maintenance running back
        // to back on the request path.
        let end = self.clock.now_us().max(now);
        self.maintenance.schedule(end, interval);
    }
}
