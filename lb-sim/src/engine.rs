//! The discrete-event simulation of one scenario under one balancer.
//!
//! Time is virtual, in integer nanoseconds. Requests arrive as a Poisson
//! process; each backend is a FIFO queue in front of `concurrency` servers;
//! a served request fails with probability `error_rate` (its service then
//! takes `error_latency_ms`), otherwise its service time is log-normal. Every
//! request goes through the balancer's select at its arrival and its report
//! when the caller learns the outcome, with the latency the caller saw.
//!
//! Each request draws its random numbers (a normal for its service time, a
//! uniform for failure) from the request stream at arrival, so the k-th
//! request has the same draws under every strategy; which service time they
//! turn into depends on the backend and its parameters when service starts.
//!
//! In a keyed scenario each arrival also draws a key id, from a stream of its
//! own (so the other draws are those of the same scenario without keys), and
//! every strategy selects through `select_key` with that id's lb key.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::balancer::Lb;
use crate::keys::{lb_key, KeySampler};
use crate::rng::{Purpose, Stream};
use crate::scenario::{Backend, EventKind, Scenario};
use crate::stats::Recorder;

pub use crate::stats::RunResult;

fn ms_to_ns(ms: f64) -> u64 {
    let ns = ms * 1e6;
    if ns >= u64::MAX as f64 / 4.0 {
        u64::MAX / 4
    } else {
        libm::round(ns) as u64
    }
}

fn s_to_ns(s: f64) -> u64 {
    ms_to_ns(s * 1e3)
}

fn ns_to_us(ns: u64) -> u64 {
    (ns + 500) / 1000
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A scenario event, by index.
    Scenario(usize),
    Arrival,
    /// A server of a backend finishes request (slot, uid).
    Complete(usize, u64),
    /// The caller of request (slot, uid) stops waiting.
    Timeout(usize, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    time: u64,
    seq: u64,
    kind: Kind,
}

struct Req<P> {
    uid: u64,
    arrival: u64,
    backend: usize,
    pick: P,
    measured: bool,
    z: f64,
    u_err: f64,
    started: bool,
    complete_at: u64,
    failed: bool,
    timed_out: bool,
    timeout_scheduled: bool,
}

struct BackendState {
    params: Backend,
    mu: f64,
    sigma: f64,
    busy: u32,
    queue: VecDeque<usize>,
}

impl BackendState {
    fn new(params: Backend) -> Self {
        let mu = params.latency.mu();
        let sigma = params.latency.sigma();
        BackendState {
            params,
            mu,
            sigma,
            busy: 0,
            queue: VecDeque::new(),
        }
    }
}

struct Sim<'a, L: Lb> {
    sc: &'a Scenario,
    lb: L,
    heap: BinaryHeap<Reverse<Ev>>,
    seq: u64,
    reqs: Vec<Req<L::Pick>>,
    free: Vec<usize>,
    next_uid: u64,
    backends: Vec<BackendState>,
    timeout_ns: Option<u64>,
    rec: Recorder,
}

/// Simulate `sc` with balancer `lb`, whose backends must already be the
/// scenario's initial set (ids 0..n).
pub fn simulate<L: Lb>(sc: &Scenario, lb: L, strategy: &str) -> RunResult {
    simulate_observed(sc, lb, strategy, 0, &mut |_, _| {})
}

/// [`simulate`], calling `observe(now_ns, &lb)` every `every_ns` of virtual
/// time (never when 0), before the events of that instant: a window on the
/// balancer's state during a run, for diagnosis.
pub fn simulate_observed<L: Lb>(
    sc: &Scenario,
    lb: L,
    strategy: &str,
    every_ns: u64,
    observe: &mut dyn FnMut(u64, &L),
) -> RunResult {
    simulate_with(sc, lb, strategy, every_ns, observe, false)
}

/// [`simulate_observed`], also recording what `--plot` draws when `plot` is
/// set (the result's `plot`): kept apart so that a plain run does no more work.
pub fn simulate_with<L: Lb>(
    sc: &Scenario,
    lb: L,
    strategy: &str,
    every_ns: u64,
    observe: &mut dyn FnMut(u64, &L),
    plot: bool,
) -> RunResult {
    let mut sim = Sim {
        sc,
        lb,
        heap: BinaryHeap::new(),
        seq: 0,
        reqs: Vec::new(),
        free: Vec::new(),
        next_uid: 0,
        backends: sc.backends.iter().cloned().map(BackendState::new).collect(),
        timeout_ns: sc.timeout_ms.map(ms_to_ns),
        rec: Recorder::new(
            sc.total_backends(),
            sc.rate_rps,
            sc.duration_s - sc.warmup_s,
            sc.keys.is_some(),
            plot.then(|| s_to_ns(crate::stats::plot_bucket_s(sc.duration_s))),
        ),
    };
    sim.run(every_ns, observe);
    sim.rec.finish(strategy)
}

impl<L: Lb> Sim<'_, L> {
    fn push(&mut self, time: u64, kind: Kind) {
        self.seq += 1;
        self.heap.push(Reverse(Ev {
            time,
            seq: self.seq,
            kind,
        }));
    }

    fn run(&mut self, every_ns: u64, observe: &mut dyn FnMut(u64, &L)) {
        let mut next_obs = if every_ns == 0 { u64::MAX } else { 0 };
        let mut arrivals = Stream::new(self.sc.seed, Purpose::Arrivals);
        let mut draws = Stream::new(self.sc.seed, Purpose::Requests);
        let mut key_draws = Stream::new(self.sc.seed, Purpose::Keys);
        let sampler = self.sc.keys.as_ref().map(KeySampler::new);
        let end = s_to_ns(self.sc.duration_s);
        let warmup = s_to_ns(self.sc.warmup_s);
        let mean_gap_ns = 1e9 / self.sc.rate_rps;

        for (i, e) in self.sc.events.iter().enumerate() {
            self.push(s_to_ns(e.at_s), Kind::Scenario(i));
        }
        let first = libm::round(arrivals.exponential(mean_gap_ns)) as u64;
        if first < end {
            self.push(first, Kind::Arrival);
        }

        while let Some(Reverse(ev)) = self.heap.pop() {
            let now = ev.time;
            while now >= next_obs {
                observe(next_obs, &self.lb);
                next_obs = next_obs.saturating_add(every_ns);
            }
            match ev.kind {
                Kind::Scenario(i) => self.scenario_event(now, i),
                Kind::Arrival => {
                    let next = now + libm::round(arrivals.exponential(mean_gap_ns)) as u64;
                    if next < end {
                        self.push(next, Kind::Arrival);
                    }
                    let z = draws.normal();
                    let u_err = draws.uniform();
                    let key = sampler.as_ref().map(|k| k.draw(&mut key_draws));
                    self.arrival(now, now >= warmup, z, u_err, key);
                }
                Kind::Complete(slot, uid) => self.complete(now, slot, uid),
                Kind::Timeout(slot, uid) => self.timeout(now, slot, uid),
            }
        }
    }

    fn scenario_event(&mut self, now: u64, i: usize) {
        let now_us = ns_to_us(now);
        match &self.sc.events[i].kind {
            EventKind::Change { backend, change } => {
                let b = &mut self.backends[*backend];
                if let Some(l) = change.latency {
                    b.params.latency = l;
                    b.mu = l.mu();
                    b.sigma = l.sigma();
                }
                if let Some(r) = change.error_rate {
                    b.params.error_rate = r;
                }
                if let Some(l) = change.error_latency_ms {
                    b.params.error_latency_ms = l;
                }
                if let Some(w) = change.weight {
                    b.params.weight = w;
                    self.lb.set_weight(now_us, *backend as u64, w);
                }
                if let Some(c) = change.concurrency {
                    b.params.concurrency = c;
                    self.start_queued(now, *backend);
                }
            }
            EventKind::Remove { backend } => {
                self.lb.remove_backend(now_us, *backend as u64);
            }
            EventKind::Add { backend, def } => {
                debug_assert_eq!(*backend, self.backends.len());
                self.backends.push(BackendState::new(def.clone()));
                self.lb
                    .add_backend(now_us, *backend as u64, def.weight, def.capacity);
            }
        }
    }

    /// A request arrives; `key` is its key id in a keyed scenario.
    fn arrival(&mut self, now: u64, measured: bool, z: f64, u_err: f64, key: Option<u64>) {
        let chosen = match key {
            Some(k) => self.lb.select_key(ns_to_us(now), lb_key(k)),
            None => self.lb.select(ns_to_us(now)),
        };
        let Some((id, pick)) = chosen else {
            // No instance to send it to: the caller fails at once.
            self.rec.no_instance(measured);
            return;
        };
        let backend = usize::try_from(id)
            .ok()
            .filter(|&b| b < self.backends.len())
            .unwrap_or_else(|| panic!("balancer picked unknown instance {id}"));
        let uid = self.next_uid;
        self.next_uid += 1;
        let req = Req {
            uid,
            arrival: now,
            backend,
            pick,
            measured,
            z,
            u_err,
            started: false,
            complete_at: 0,
            failed: false,
            timed_out: false,
            timeout_scheduled: false,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.reqs[s] = req;
                s
            }
            None => {
                self.reqs.push(req);
                self.reqs.len() - 1
            }
        };
        self.rec.assigned(measured, backend, key);
        self.rec.picked(now, backend);
        let b = &mut self.backends[backend];
        if b.busy < b.params.concurrency {
            self.start(now, slot);
        } else {
            b.queue.push_back(slot);
            if let Some(t) = self.timeout_ns {
                self.reqs[slot].timeout_scheduled = true;
                self.push(now + t, Kind::Timeout(slot, uid));
            }
        }
    }

    fn start(&mut self, now: u64, slot: usize) {
        let r = &mut self.reqs[slot];
        let b = &mut self.backends[r.backend];
        b.busy += 1;
        r.started = true;
        r.failed = r.u_err < b.params.error_rate;
        let service = if r.failed {
            ms_to_ns(b.params.error_latency_ms)
        } else {
            ms_to_ns(libm::exp(b.mu + b.sigma * r.z))
        };
        r.complete_at = now + service;
        if r.measured {
            self.rec.waited(now - r.arrival);
        }
        let (uid, at) = (r.uid, r.complete_at);
        let arrival = r.arrival;
        let needs_timeout = !r.timeout_scheduled
            && self
                .timeout_ns
                .is_some_and(|t| at.saturating_sub(arrival) > t);
        if needs_timeout {
            r.timeout_scheduled = true;
        }
        self.push(at, Kind::Complete(slot, uid));
        if needs_timeout {
            let t = self.timeout_ns.unwrap_or(0);
            self.push(arrival + t, Kind::Timeout(slot, uid));
        }
    }

    fn start_queued(&mut self, now: u64, backend: usize) {
        loop {
            let b = &mut self.backends[backend];
            if b.busy >= b.params.concurrency {
                return;
            }
            match b.queue.pop_front() {
                Some(slot) => self.start(now, slot),
                None => return,
            }
        }
    }

    fn complete(&mut self, now: u64, slot: usize, uid: u64) {
        let r = &self.reqs[slot];
        debug_assert_eq!(r.uid, uid);
        let backend = r.backend;
        if !r.timed_out {
            let latency = now - r.arrival;
            let (pick, ok, measured) = (r.pick, !r.failed, r.measured);
            self.lb.report(ns_to_us(now), pick, ok, ns_to_us(latency));
            self.rec.finished(measured, ok, latency);
        }
        self.reqs[slot].uid = u64::MAX; // a pending timeout finds it gone
        self.free.push(slot);
        self.backends[backend].busy -= 1;
        self.start_queued(now, backend);
    }

    fn timeout(&mut self, now: u64, slot: usize, uid: u64) {
        let Some(t) = self.timeout_ns else { return };
        let r = &mut self.reqs[slot];
        if r.uid != uid || r.timed_out {
            return; // finished (and the slot reused) before the timeout
        }
        if r.started && r.complete_at - r.arrival <= t {
            return; // the completion event answers it in time
        }
        r.timed_out = true;
        let (pick, measured) = (r.pick, r.measured);
        self.lb.report(ns_to_us(now), pick, false, ns_to_us(t));
        self.rec.finished(measured, false, t);
    }
}
