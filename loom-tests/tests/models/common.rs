//! What every model shares: the loom builder with the model's bounds, and a balancer
//! made small enough for loom's state space.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use lb::{Balancer, Config, Instance, ManualClock, Strategy};

/// The bounds one model is explored under.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Most preemptions per execution (loom's `preemption_bound`). The environment
    /// variable `LOOM_MAX_PREEMPTIONS`, when set, replaces it for every model.
    pub preemptions: usize,
    /// Most scheduling and load decisions per execution (loom's `max_branches`). A
    /// model that exceeds it fails with loom's own message, never passes.
    pub branches: usize,
}

/// Explores every interleaving of `model` within `bounds`. No time or permutation
/// limit is set: a model either explores its whole bounded space or fails.
///
/// A failing assertion must not unwind through loom: the balancer's thread-local
/// caches hold loom objects, and loom drops a thread's locals outside the execution
/// when the thread unwinds, which aborts the process. So the model runs in a loom
/// thread of its own, every model thread catches its panic and records the first
/// message, each thread ends normally (dropping its locals inside the execution), and
/// the model's outer thread, which never touched a balancer, re-raises the message.
pub fn check(bounds: Bounds, model: fn()) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(
        std::env::var("LOOM_MAX_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(bounds.preemptions),
    );
    b.max_branches = bounds.branches;
    // A time or permutation limit would let a model pass without exploring its space.
    b.max_duration = None;
    b.max_permutations = None;
    FAILURE.with(|f| f.borrow_mut().take());
    let start = std::time::Instant::now();
    EXECUTIONS.with(|e| e.set(0));
    b.check(move || {
        EXECUTIONS.with(|e| e.set(e.get() + 1));
        loom::thread::spawn(move || guarded(model)).join().unwrap();
        if let Some(msg) = FAILURE.with(|f| f.borrow_mut().take()) {
            panic!("{msg}");
        }
    });
    let name = std::thread::current().name().unwrap_or("model").to_string();
    eprintln!(
        "{name}: {} executions, preemption bound {:?}, {:.1?}",
        EXECUTIONS.with(|e| e.get()),
        b.preemption_bound,
        start.elapsed()
    );
}

std::thread_local! {
    /// Executions of the model being checked, for the report line.
    static EXECUTIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// The first failure of the current execution. Loom runs all threads of a model
    /// on the OS thread that called `check`, so one OS-thread local serves them all.
    static FAILURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a model thread panicked".to_string());
            FAILURE.with(|f| {
                f.borrow_mut().get_or_insert(msg);
            });
            None
        }
    }
}

/// A model thread (see `check`).
pub struct Thread<T>(loom::thread::JoinHandle<Option<T>>);

pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Thread<T> {
    Thread(loom::thread::spawn(move || guarded(f)))
}

impl<T> Thread<T> {
    /// Waits for the thread; if it failed, fails the joining thread too (the first
    /// failure's message is the one the model reports).
    pub fn join(self) -> T {
        match self.0.join() {
            Ok(Some(v)) => v,
            _ => panic!("a model thread failed"),
        }
    }
}

/// A configuration whose selects never read the clock and whose maintenance never
/// runs unless a model calls for it. The seed is fixed: loom replays each execution
/// and needs the same random choices every time.
pub fn small_config(strategy: Strategy) -> Config {
    Config {
        strategy,
        seed: 1,
        clock_refresh_ops: 65_536,
        maintenance_interval_ms: 60_000,
        ..Config::default()
    }
}

/// A balancer on a manual clock, holding `ids` (weight 1, unlimited capacity).
/// Its seed is fixed when the model left it to entropy: loom replays each execution
/// and needs the same random choices every time.
pub fn balancer(cfg: Config, ids: &[u64]) -> (Balancer, StdArc<ManualClock>) {
    let cfg = Config {
        seed: if cfg.seed == 0 { 1 } else { cfg.seed },
        ..cfg
    };
    let clock = StdArc::new(ManualClock::new(1_000_000));
    let lb = Balancer::with_clock(cfg, clock.clone()).expect("valid config");
    lb.set_instances(&set(ids)).expect("valid set");
    (lb, clock)
}

pub fn set(ids: &[u64]) -> Vec<Instance> {
    ids.iter().map(|&id| Instance::new(id)).collect()
}
