//! The metrics text parses with a real parser of the Prometheus exposition
//! format (`prometheus-parse`), and its numbers are those of `stats` and
//! `all_health`.
mod common;

use common::*;
use lb::{Balancer, Config, Instance, Outcome, Strategy};
use prometheus_parse::{Scrape, Value};

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the exposition format")
}

fn value(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        other => panic!("unexpected value {other:?}"),
    }
}

/// The value of `name` with `labels` (all of them), or `None`.
fn sample(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| value(&x.value))
}

#[test]
fn metrics_parse_and_agree_with_the_reads() {
    let b = Balancer::new(Config {
        strategy: Strategy::LeastRequest,
        consecutive_failures: 2,
        ..Config::default()
    })
    .unwrap();
    b.set_instances(&[
        Instance::new(7),
        Instance::new(8).weight(3),
        Instance::new(9),
    ])
    .unwrap();
    for i in 0..300u64 {
        let p = b.select().unwrap();
        let outcome = if p.instance_id() == 9 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        b.report(&p, outcome, 500 + i).unwrap();
    }
    let held = b.select().unwrap();
    let text = b.metrics_text();
    let scrape = parse(&text);
    let stats = settled(&b);
    assert_eq!(
        sample(&scrape, "lb_requests_total", &[]),
        Some(stats.total_requests as f64)
    );
    assert_eq!(
        sample(&scrape, "lb_successes_total", &[]),
        Some(stats.successes as f64)
    );
    assert_eq!(
        sample(&scrape, "lb_failures_total", &[]),
        Some(stats.failures as f64)
    );
    assert_eq!(sample(&scrape, "lb_in_flight", &[]), Some(1.0));
    assert_eq!(sample(&scrape, "lb_instances", &[]), Some(3.0));
    assert_eq!(
        sample(&scrape, "lb_ejections_total", &[]),
        Some(stats.ejections as f64)
    );
    assert!(
        stats.ejections >= 1,
        "instance 9 failed twice in a row: {stats:?}"
    );
    assert_eq!(
        sample(
            &scrape,
            "lb_active_strategy",
            &[("strategy", "least_request")]
        ),
        Some(1.0)
    );
    for h in b.all_health() {
        let id = h.instance_id.to_string();
        let at = [("instance", id.as_str())];
        assert_eq!(
            sample(&scrape, "lb_instance_requests_total", &at),
            Some(h.requests as f64)
        );
        assert_eq!(
            sample(&scrape, "lb_instance_weight", &at),
            Some(h.weight as f64)
        );
        assert_eq!(
            sample(&scrape, "lb_instance_ejections_total", &at),
            Some(h.times_ejected as f64)
        );
        let states: f64 = ["healthy", "ejected", "on_trial"]
            .iter()
            .map(|s| {
                sample(
                    &scrape,
                    "lb_instance_state",
                    &[("instance", &id), ("state", s)],
                )
                .unwrap()
            })
            .sum();
        assert_eq!(states, 1.0, "one state per instance");
    }
    assert_eq!(
        sample(
            &scrape,
            "lb_instance_state",
            &[("instance", "9"), ("state", "ejected")]
        ),
        Some(1.0)
    );
    // Every family has its HELP and TYPE, and counters are typed as counters.
    for name in ["lb_requests_total", "lb_instance_failures_total"] {
        assert!(scrape.docs.contains_key(name), "# HELP {name}");
        assert!(text.contains(&format!("# TYPE {name} counter\n")));
    }
    let counters = scrape
        .samples
        .iter()
        .filter(|x| matches!(x.value, Value::Counter(_)))
        .count();
    assert!(counters >= 8 + 4 * 3, "{counters} counter samples");
    b.report(&held, Outcome::Success, 1).unwrap();
}
