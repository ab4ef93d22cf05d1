//! Results of a scenario: choosing the best strategy, the readable table and
//! the `--json` document of `lb-sim/README.md`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenario::Scenario;
use crate::stats::RunResult;

/// One scenario's results, strategies in the order they were run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub seed: u64,
    pub results: Vec<RunResult>,
}

impl ScenarioResult {
    pub fn new(sc: &Scenario, results: Vec<RunResult>) -> Self {
        ScenarioResult {
            name: sc.name.clone(),
            file: sc.file.clone(),
            seed: sc.seed,
            results,
        }
    }

    /// Index of the best strategy: the lowest p99 among those whose success
    /// rate is within 0.5 percentage points of the highest; the first listed
    /// wins a tie.
    pub fn best(&self) -> Option<usize> {
        let top = self
            .results
            .iter()
            .map(|r| r.success_rate)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut best: Option<usize> = None;
        for (i, r) in self.results.iter().enumerate() {
            if r.success_rate < top - 0.005 - 1e-12 {
                continue;
            }
            if best.is_none_or(|b| r.latency_ms.p99 < self.results[b].latency_ms.p99) {
                best = Some(i);
            }
        }
        best
    }

    pub fn get(&self, strategy: &str) -> Option<&RunResult> {
        self.results.iter().find(|r| r.strategy == strategy)
    }

    /// Whether the scenario has keys (its results then carry an affinity).
    pub fn keyed(&self) -> bool {
        self.results.iter().any(|r| r.affinity.is_some())
    }
}

/// The busiest backend's share of a run's measured requests (the largest entry
/// of `share`).
pub fn busiest_share(r: &RunResult) -> f64 {
    r.share.iter().copied().fold(0.0, f64::max)
}

/// Round to a fixed number of decimals so the printed digits do not carry
/// float noise.
fn round6(x: f64) -> f64 {
    libm::round(x * 1e6) / 1e6
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    scenarios: Vec<JsonScenario<'a>>,
}

#[derive(Serialize)]
struct JsonScenario<'a> {
    name: &'a str,
    seed: u64,
    /// The run the table marks `*` (`null` only for a scenario without runs).
    best: Option<&'a str>,
    results: Vec<JsonResult<'a>>,
}

#[derive(Serialize)]
struct JsonResult<'a> {
    strategy: &'a str,
    requests: u64,
    successes: u64,
    failures: u64,
    success_rate: f64,
    latency_ms: JsonLatency,
    share: Vec<f64>,
    /// Keyed scenarios only.
    #[serde(skip_serializing_if = "Option::is_none")]
    affinity: Option<f64>,
    /// Adaptive runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    adaptive: Option<JsonAdaptive>,
}

#[derive(Serialize)]
struct JsonAdaptive {
    ran: Vec<JsonSpan>,
    switches: u64,
    trials: u64,
}

#[derive(Serialize)]
struct JsonSpan {
    strategy: String,
    from_s: f64,
    to_s: f64,
}

#[derive(Serialize)]
struct JsonLatency {
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

/// The `--json` document (pretty-printed, ending in a newline).
pub fn to_json(results: &[ScenarioResult]) -> String {
    let doc = JsonDoc {
        scenarios: results
            .iter()
            .map(|s| JsonScenario {
                name: &s.name,
                seed: s.seed,
                best: s.best().map(|b| s.results[b].strategy.as_str()),
                results: s
                    .results
                    .iter()
                    .map(|r| JsonResult {
                        strategy: &r.strategy,
                        requests: r.requests,
                        successes: r.successes,
                        failures: r.failures,
                        success_rate: round6(r.success_rate),
                        latency_ms: JsonLatency {
                            mean: round6(r.latency_ms.mean),
                            p50: round6(r.latency_ms.p50),
                            p90: round6(r.latency_ms.p90),
                            p99: round6(r.latency_ms.p99),
                            p999: round6(r.latency_ms.p999),
                            max: round6(r.latency_ms.max),
                        },
                        share: r.share.iter().map(|&x| round6(x)).collect(),
                        affinity: r.affinity.map(round6),
                        adaptive: r.adaptive.as_ref().map(|a| JsonAdaptive {
                            ran: a
                                .ran
                                .iter()
                                .map(|s| JsonSpan {
                                    strategy: s.strategy.clone(),
                                    from_s: round6(s.from_s),
                                    to_s: round6(s.to_s),
                                })
                                .collect(),
                            switches: a.switches,
                            trials: a.trials,
                        }),
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("results serialize");
    s.push('\n');
    s
}

fn fmt_ms(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A readable table for one scenario, the best strategy marked with `*`. A
/// keyed scenario's table also has the affinity and the busiest backend's
/// share, and its strategy column is as wide as its longest run name.
pub fn table(s: &ScenarioResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}  ({}, seed {})", s.name, s.file, s.seed);
    let best = s.best();
    let keyed = s.keyed();
    let w = if keyed {
        s.results
            .iter()
            .map(|r| r.strategy.len())
            .fold(24, usize::max)
    } else {
        24
    };
    let keyed_head = if keyed {
        format!(" {:>8} {:>8}", "affinity", "busiest")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "  {:<w$} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}{keyed_head}  share %",
        "strategy", "requests", "success", "mean ms", "p50", "p90", "p99", "p99.9", "max"
    );
    for (i, r) in s.results.iter().enumerate() {
        let mark = if Some(i) == best { "*" } else { " " };
        let share: Vec<String> = r
            .share
            .iter()
            .map(|x| format!("{:.1}", x * 100.0))
            .collect();
        let l = &r.latency_ms;
        // Every run of a keyed scenario has an affinity, and no other run does.
        let keyed_cols = match r.affinity {
            Some(a) => format!(" {:>7.1}% {:>7.1}%", a * 100.0, busiest_share(r) * 100.0),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{mark} {:<w$} {:>8} {:>8.3}% {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}{keyed_cols}  {}",
            r.strategy,
            r.requests,
            r.success_rate * 100.0,
            fmt_ms(l.mean),
            fmt_ms(l.p50),
            fmt_ms(l.p90),
            fmt_ms(l.p99),
            fmt_ms(l.p999),
            fmt_ms(l.max),
            share.join(" ")
        );
    }
    if let Some(b) = best {
        let _ = writeln!(
            out,
            "  best: {} (lowest p99 among strategies within 0.5 points of the best success rate)",
            s.results[b].strategy
        );
    }
    for r in &s.results {
        if let Some(a) = &r.adaptive {
            let _ = writeln!(out, "  {} ran: {}", r.strategy, a.describe());
        }
    }
    out
}
