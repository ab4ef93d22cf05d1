//! Metrics as text in the Prometheus exposition format (version 0.0.4, which
//! OpenMetrics parsers read too): the balancer's totals and each instance's
//! health, made from `stats` and `all_health`, so the numbers are the ones those
//! reads give.

use std::fmt::{self, Write};

use super::Balancer;
use crate::types::{HealthState, HealthStatus, LoadBalancerStats};

/// One metric family: its name, type and help line.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: "counter",
        help,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: "gauge",
        help,
    }
}

/// A balancer-wide family and how it reads its value from the stats.
type Total = (Family, fn(&LoadBalancerStats) -> f64);

/// A per-instance family and how it reads its value from an instance's health.
type PerInstance = (Family, fn(&HealthStatus) -> f64);

/// The balancer-wide families, with how each reads its value.
const TOTALS: [Total; 12] = [
    (counter("lb_requests_total", "Picks handed out."), |s| {
        s.total_requests as f64
    }),
    (
        counter("lb_successes_total", "Picks reported as successes."),
        |s| s.successes as f64,
    ),
    (
        counter("lb_failures_total", "Picks reported as failures."),
        |s| s.failures as f64,
    ),
    (
        counter(
            "lb_cancelled_total",
            "Picks reported cancelled, plus expired ones.",
        ),
        |s| s.cancelled as f64,
    ),
    (
        counter(
            "lb_expired_total",
            "Picks never reported before the pick timeout.",
        ),
        |s| s.expired as f64,
    ),
    (
        gauge("lb_in_flight", "Picks handed out and not yet settled."),
        |s| s.in_flight as f64,
    ),
    (
        gauge(
            "lb_latency_avg_microseconds",
            "Mean latency of successful requests.",
        ),
        |s| s.avg_latency_us,
    ),
    (
        gauge("lb_instances", "Instances in the current set."),
        |s| s.instance_count as f64,
    ),
    (
        gauge(
            "lb_healthy_instances",
            "Instances that health lets be picked.",
        ),
        |s| s.healthy_count as f64,
    ),
    (counter("lb_ejections_total", "Ejections so far."), |s| {
        s.ejections as f64
    }),
    (
        counter(
            "lb_strategy_switches_total",
            "Times adaptive settled on another strategy.",
        ),
        |s| s.strategy_switches as f64,
    ),
    (
        counter(
            "lb_adaptive_trials_total",
            "Short trials adaptive ran of another strategy.",
        ),
        |s| s.adaptive_trials as f64,
    ),
];

/// The per-instance families (label `instance`, the id), with how each reads its
/// value.
const PER_INSTANCE: [PerInstance; 9] = [
    (
        counter("lb_instance_requests_total", "Picks of the instance."),
        |h| h.requests as f64,
    ),
    (
        counter(
            "lb_instance_successes_total",
            "Picks of the instance reported as successes.",
        ),
        |h| h.successes as f64,
    ),
    (
        counter(
            "lb_instance_failures_total",
            "Picks of the instance reported as failures.",
        ),
        |h| h.failures as f64,
    ),
    (
        gauge(
            "lb_instance_in_flight",
            "Picks of the instance not yet settled.",
        ),
        |h| h.in_flight as f64,
    ),
    (
        gauge(
            "lb_instance_health_score",
            "Health score, 0 (down) to 1 (fully healthy).",
        ),
        |h| h.health_score,
    ),
    (
        gauge(
            "lb_instance_latency_microseconds",
            "The instance's latency average.",
        ),
        |h| h.latency_ewma_us,
    ),
    (
        gauge("lb_instance_weight", "The weight the instance was given."),
        |h| h.weight as f64,
    ),
    (
        gauge(
            "lb_instance_healthy",
            "1 when health lets the instance be picked, else 0.",
        ),
        |h| h.healthy as u8 as f64,
    ),
    (
        counter(
            "lb_instance_ejections_total",
            "Times the instance was ejected.",
        ),
        |h| h.times_ejected as f64,
    ),
];

fn header(out: &mut impl Write, f: &Family) -> fmt::Result {
    writeln!(out, "# HELP {} {}", f.name, f.help)?;
    writeln!(out, "# TYPE {} {}", f.name, f.kind)
}

/// A sample value as the format writes numbers (integers without a fraction).
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            write!(f, "{}", v as i64)
        } else {
            write!(f, "{v}")
        }
    }
}

fn state_name(s: HealthState) -> &'static str {
    match s {
        HealthState::Healthy => "healthy",
        HealthState::Ejected => "ejected",
        HealthState::OnTrial => "on_trial",
    }
}

impl Balancer {
    /// Writes the balancer's metrics to `out` in the Prometheus text exposition
    /// format: the totals of [`stats`](Self::stats) (counters `lb_*_total`, gauges),
    /// the strategy in use (`lb_active_strategy{strategy="..."} 1`), and for each
    /// instance of the set its counters and gauges labelled `instance="<id>"`
    /// (`lb_instance_*`) with its state (`lb_instance_state{instance, state}`, 1
    /// for the state it is in). Serve it from your metrics endpoint; the names
    /// stay within 1.x (new ones may be added).
    pub fn write_metrics(&self, out: &mut impl Write) -> fmt::Result {
        let stats = self.stats();
        let health = self.all_health();
        for (family, value) in TOTALS.iter() {
            header(out, family)?;
            writeln!(out, "{} {}", family.name, Num(value(&stats)))?;
        }
        let active = gauge(
            "lb_active_strategy",
            "The strategy selects run now (value 1).",
        );
        header(out, &active)?;
        writeln!(
            out,
            "{}{{strategy=\"{}\"}} 1",
            active.name,
            stats.active_strategy.name()
        )?;
        for (family, value) in PER_INSTANCE.iter() {
            header(out, family)?;
            for h in &health {
                writeln!(
                    out,
                    "{}{{instance=\"{}\"}} {}",
                    family.name,
                    h.instance_id,
                    Num(value(h))
                )?;
            }
        }
        let state = gauge(
            "lb_instance_state",
            "The instance's health state: 1 for the state it is in, else 0.",
        );
        header(out, &state)?;
        for h in &health {
            for s in [
                HealthState::Healthy,
                HealthState::Ejected,
                HealthState::OnTrial,
            ] {
                writeln!(
                    out,
                    "{}{{instance=\"{}\",state=\"{}\"}} {}",
                    state.name,
                    h.instance_id,
                    state_name(s),
                    u8::from(h.state == s)
                )?;
            }
        }
        Ok(())
    }

    /// [`write_metrics`](Self::write_metrics) into a new `String`.
    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_metrics(&mut text);
        text
    }
}
