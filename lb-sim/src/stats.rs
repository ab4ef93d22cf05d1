//! What a run measures. Latencies are kept exactly (every measured request's
//! latency in nanoseconds, sorted at the end), so percentiles are exact.
//!
//! Percentiles use the nearest-rank definition: p-th percentile of n sorted
//! values is the value at rank ceil(p * n) (1-based).

/// Latency summary in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One strategy's results on one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub strategy: String,
    /// Measured requests: those that arrived at or after the warm-up.
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    /// successes / requests (0 when nothing was measured).
    pub success_rate: f64,
    pub latency_ms: LatencySummary,
    /// Each backend's fraction of measured requests, by index.
    pub share: Vec<f64>,
    /// Measured requests that found no instance (also counted as failures).
    pub no_instance: u64,
    /// Mean time measured requests waited in a backend queue before service.
    pub mean_wait_ms: f64,
    /// Keyed scenarios only: the fraction of measured requests that went to
    /// the backend their key went to most often (over the measured requests).
    /// Requests that found no instance count against it.
    pub affinity: Option<f64>,
    /// For adaptive: what it ran when (empty for other strategies).
    pub adaptive: Option<AdaptiveRun>,
    /// What `--plot` draws; recorded only when asked for.
    pub plot: Option<PlotData>,
}

/// A run's data for `--plot`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotData {
    /// The latency in ms at percentile 1 - 10^-x for x = i / CURVE_STEPS_PER_NINE,
    /// i = 0..=CURVE_NINES * CURVE_STEPS_PER_NINE (nearest rank, over the
    /// measured requests); past the run's own resolution it is the maximum.
    pub latency_curve: Vec<f64>,
    /// Width of a share bucket, in simulated seconds.
    pub bucket_s: f64,
    /// `picks[t][b]`: requests sent to backend b that arrived in bucket t
    /// (from time 0, warm-up included).
    pub picks: Vec<Vec<u32>>,
}

/// How far the latency curve goes: 99.9999%.
pub const CURVE_NINES: u32 = 6;
/// Points of the latency curve per nine.
pub const CURVE_STEPS_PER_NINE: u32 = 50;

/// The share bucket for a run of `duration_s`: 1 s, or less for a run shorter
/// than 20 s so that its plot still has 20 points.
pub fn plot_bucket_s(duration_s: f64) -> f64 {
    const STEPS: [f64; 10] = [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001];
    STEPS
        .iter()
        .copied()
        .find(|b| duration_s / b >= 20.0)
        .unwrap_or(0.001)
}

/// What adaptive did during a run: the strategies it settled on, in order, with
/// their time spans (trials, short runs of another strategy to measure it, are
/// counted, not listed), its switches and its trials.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdaptiveRun {
    pub ran: Vec<Span>,
    pub switches: u64,
    pub trials: u64,
}

/// A strategy adaptive settled on, from `from_s` to `to_s` (virtual seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub strategy: String,
    pub from_s: f64,
    pub to_s: f64,
}

impl AdaptiveRun {
    /// Notes the balancer's state at `at_s`: the strategy running, and the
    /// switch and trial counts. A rise in switches means adaptive settled on the
    /// strategy running now; otherwise a different one running is a trial.
    pub fn observe(&mut self, at_s: f64, running: &str, switches: u64, trials: u64) {
        let settled = self.ran.is_empty() || switches > self.switches;
        self.switches = switches;
        self.trials = trials;
        if settled && self.ran.last().is_none_or(|s| s.strategy != running) {
            if let Some(last) = self.ran.last_mut() {
                last.to_s = at_s;
            }
            self.ran.push(Span {
                strategy: running.to_string(),
                from_s: at_s,
                to_s: at_s,
            });
        } else if let Some(last) = self.ran.last_mut() {
            last.to_s = at_s;
        }
    }

    /// "weighted_response_time 0-38 s, least_connections 38-80 s (1 switch, 6 trials)"
    pub fn describe(&self) -> String {
        let spans: Vec<String> = self
            .ran
            .iter()
            .map(|s| format!("{} {:.0}-{:.0} s", s.strategy, s.from_s, s.to_s))
            .collect();
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} ({}, {})",
            spans.join(", "),
            plural(self.switches, "switch", "switches"),
            plural(self.trials, "trial", "trials")
        )
    }
}

/// Nearest-rank percentile of sorted values; `per_10k` is the percentile in
/// hundredths of a percent (p99 = 9900), so the rank is integer arithmetic.
pub fn nearest_rank(sorted: &[u64], per_10k: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (n * per_10k).div_ceil(10_000);
    sorted[(rank.clamp(1, n) - 1) as usize]
}

pub(crate) struct Recorder {
    latencies: Vec<u64>,
    successes: u64,
    failures: u64,
    no_instance: u64,
    per_backend: Vec<u64>,
    wait_sum_ns: u128,
    waits: u64,
    /// Keyed runs: (key id << 32 | backend) of every measured assignment.
    key_backend: Option<Vec<u64>>,
    /// `--plot` only: the bucket width in ns and the picks per bucket.
    timeline: Option<(u64, Vec<Vec<u32>>)>,
}

impl Recorder {
    /// `bucket_ns`: record picks over time in buckets of that width (for
    /// `--plot`), or not at all when `None`.
    pub(crate) fn new(
        backends: usize,
        rate_rps: f64,
        measured_s: f64,
        keyed: bool,
        bucket_ns: Option<u64>,
    ) -> Self {
        let expect = (rate_rps * measured_s * 1.02) as usize + 16;
        let expect = expect.min(1 << 26);
        Recorder {
            latencies: Vec::with_capacity(expect),
            successes: 0,
            failures: 0,
            no_instance: 0,
            per_backend: vec![0; backends],
            wait_sum_ns: 0,
            waits: 0,
            key_backend: keyed.then(|| Vec::with_capacity(expect)),
            timeline: bucket_ns.map(|b| (b.max(1), Vec::new())),
        }
    }

    /// A request arriving at `now_ns` went to `backend` (warm-up included).
    pub(crate) fn picked(&mut self, now_ns: u64, backend: usize) {
        if let Some((bucket_ns, picks)) = self.timeline.as_mut() {
            let t = (now_ns / *bucket_ns) as usize;
            if picks.len() <= t {
                picks.resize_with(t + 1, Vec::new);
            }
            let row = &mut picks[t];
            if row.len() <= backend {
                row.resize(backend + 1, 0);
            }
            row[backend] += 1;
        }
    }

    pub(crate) fn no_instance(&mut self, measured: bool) {
        if measured {
            self.no_instance += 1;
            self.failures += 1;
            self.latencies.push(0);
        }
    }

    pub(crate) fn assigned(&mut self, measured: bool, backend: usize, key: Option<u64>) {
        if measured {
            self.per_backend[backend] += 1;
            if let (Some(v), Some(k)) = (self.key_backend.as_mut(), key) {
                // Key ids are below MAX_KEYS and backend indices far below 2^32.
                v.push(k << 32 | backend as u64);
            }
        }
    }

    pub(crate) fn waited(&mut self, ns: u64) {
        self.wait_sum_ns += ns as u128;
        self.waits += 1;
    }

    pub(crate) fn finished(&mut self, measured: bool, success: bool, latency_ns: u64) {
        if !measured {
            return;
        }
        if success {
            self.successes += 1;
        } else {
            self.failures += 1;
        }
        self.latencies.push(latency_ns);
    }

    pub(crate) fn finish(mut self, strategy: &str) -> RunResult {
        self.latencies.sort_unstable();
        let l = &self.latencies;
        let n = l.len() as u64;
        let ms = |ns: u64| ns as f64 / 1e6;
        let sum: u128 = l.iter().map(|&x| x as u128).sum();
        let latency_ms = if l.is_empty() {
            LatencySummary::default()
        } else {
            LatencySummary {
                mean: sum as f64 / n as f64 / 1e6,
                p50: ms(nearest_rank(l, 5000)),
                p90: ms(nearest_rank(l, 9000)),
                p99: ms(nearest_rank(l, 9900)),
                p999: ms(nearest_rank(l, 9990)),
                max: ms(*l.last().unwrap_or(&0)),
            }
        };
        let requests = self.successes + self.failures;
        debug_assert_eq!(requests, n);
        let share = self
            .per_backend
            .iter()
            .map(|&c| {
                if requests == 0 {
                    0.0
                } else {
                    c as f64 / requests as f64
                }
            })
            .collect();
        RunResult {
            strategy: strategy.to_string(),
            requests,
            successes: self.successes,
            failures: self.failures,
            success_rate: if requests == 0 {
                0.0
            } else {
                self.successes as f64 / requests as f64
            },
            latency_ms,
            share,
            no_instance: self.no_instance,
            mean_wait_ms: if self.waits == 0 {
                0.0
            } else {
                self.wait_sum_ns as f64 / self.waits as f64 / 1e6
            },
            affinity: self.key_backend.map(|mut v| {
                if requests == 0 {
                    return 0.0;
                }
                v.sort_unstable();
                home_requests(&v) as f64 / requests as f64
            }),
            plot: self.timeline.map(|(bucket_ns, picks)| PlotData {
                latency_curve: latency_curve(l),
                bucket_s: bucket_ns as f64 / 1e9,
                picks,
            }),
            adaptive: None,
        }
    }
}

/// [`PlotData::latency_curve`] of sorted latencies in ns.
fn latency_curve(sorted: &[u64]) -> Vec<f64> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let steps = CURVE_NINES * CURVE_STEPS_PER_NINE;
    (0..=steps)
        .map(|i| {
            let x = i as f64 / CURVE_STEPS_PER_NINE as f64;
            let q = 1.0 - libm::pow(10.0, -x);
            let rank = (libm::ceil(q * n as f64) as usize).clamp(1, n);
            sorted[rank - 1] as f64 / 1e6
        })
        .collect()
}

/// Given sorted (key << 32 | backend) pairs, one per request: the sum over keys
/// of the requests that went to that key's most frequent backend.
fn home_requests(sorted: &[u64]) -> u64 {
    let mut total = 0;
    let mut i = 0;
    while i < sorted.len() {
        let key = sorted[i] >> 32;
        let mut best = 0;
        while i < sorted.len() && sorted[i] >> 32 == key {
            // One run per (key, backend): the pairs are sorted.
            let pair = sorted[i];
            let start = i;
            while i < sorted.len() && sorted[i] == pair {
                i += 1;
            }
            best = best.max((i - start) as u64);
        }
        total += best;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_requests_counts_each_keys_most_frequent_backend() {
        let p = |k: u64, b: u64| k << 32 | b;
        // Key 0: backend 1 twice, backend 2 once; key 1: backend 0 once; key 5:
        // backends 3 and 4 once each (a tie counts once).
        let mut v = vec![p(0, 1), p(1, 0), p(0, 2), p(0, 1), p(5, 4), p(5, 3)];
        v.sort_unstable();
        assert_eq!(home_requests(&v), 2 + 1 + 1);
        assert_eq!(home_requests(&[]), 0);
    }

    #[test]
    fn nearest_rank_matches_its_definition() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&v, 5000), 500);
        assert_eq!(nearest_rank(&v, 9900), 990);
        assert_eq!(nearest_rank(&v, 9990), 999);
        assert_eq!(nearest_rank(&v, 10_000), 1000);
        assert_eq!(nearest_rank(&[7], 100), 7);
        assert_eq!(nearest_rank(&[], 5000), 0);
        // 10 values: p90 is the 9th, p99 the 10th.
        let w: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&w, 9000), 9);
        assert_eq!(nearest_rank(&w, 9900), 10);
    }
}
