//! The cost of lb's request path: a select+report pair, through the Rust API and
//! through the C ABI, against a baseline with all state behind one `Mutex`
//! (`baseline/mod.rs`) measured in the same group, so every result reads as a
//! ratio from one run. See BENCHMARKS.md for the commands and the results.
//!
//! Groups:
//! - `single_<strategy>`: one thread, n = 4, 64, 1024 instances, lb's Rust API,
//!   its C ABI and the baseline taking turns in blocks within every sample
//!   (`rotated`; least connections adds `bare_scan`, a scan for the minimum over
//!   counters laid out as lb lays out its per-instance state).
//! - `shared_library_64`: one thread, 64 instances, the C ABI pair through
//!   `liblb.so` loaded with `dlopen` (`shared_lib/`), the same pair linked in, and
//!   the baseline, taking turns as in `single_<strategy>`.
//! - `two_threads_64`: two threads running the pair at once on one balancer of 64
//!   instances (`iter_custom` + `Barrier`; time per pair per thread).
//! - `writer_1ms_64`: the pair while a writer thread replaces the set every
//!   millisecond, and the same pair with the writer idle, the two states
//!   alternating in blocks of a few milliseconds within each measurement.
//! - `set_instances`: replacing the set (one instance leaves, a new one joins).
//!
//! `LB_BENCH_QUICK=1 cargo bench --bench balancer` runs every group with short
//! measurement times (under two minutes once built).

use std::cell::RefCell;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use lb::ffi::{
    lb_balancer, lb_balancer_free, lb_balancer_new, lb_get_stats, lb_instance, lb_pick, lb_report,
    lb_select, lb_set_instances, lb_set_option, lb_stats, LB_OPTION_CLOCK_REFRESH_OPS,
    LB_OUTCOME_SUCCESS, LB_STATUS_OK,
};
use lb::{Balancer, Config, Instance, Outcome, Strategy};

mod baseline;
use baseline::MutexBalancer;
mod shared_lib;
use shared_lib::SharedLb;

const SIZES: [usize; 3] = [4, 64, 1024];

fn quick() -> bool {
    std::env::var_os("LB_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

fn config() -> Criterion {
    // No HTML plots: they take longer than the measurements on a 2-core machine;
    // `benches/table.py` prints the results instead.
    let c = Criterion::default().without_plots();
    if quick() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(20)
            .nresamples(2_000)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
    }
}

/// A plausible latency for the request, the same for lb and the baseline: 0.8 to
/// 1.2 ms depending on the instance, so the latency-weighted strategies have
/// unequal weights to work with.
#[inline(always)]
fn latency_of(id: u64) -> u64 {
    800 + (id % 5) * 100
}

fn set_of(n: usize, first_id: u64) -> Vec<Instance> {
    (0..n as u64).map(|i| Instance::new(first_id + i)).collect()
}

fn c_set_of(set: &[Instance]) -> Vec<lb_instance> {
    set.iter()
        .map(|i| lb_instance {
            id: i.id,
            weight: i.weight,
            capacity: i.capacity,
        })
        .collect()
}

// ---- lb through the Rust API ----

/// `clock_refresh_ops` for lb's balancers: the default, unless
/// `LB_BENCH_CLOCK_REFRESH_OPS` names another (to measure what the clock reads
/// cost a pair: the baseline reads no clock).
fn clock_refresh_ops() -> u32 {
    std::env::var("LB_BENCH_CLOCK_REFRESH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(Config::default().clock_refresh_ops)
}

fn rust_lb(strategy: Strategy, n: usize) -> Balancer {
    let lb = Balancer::new(Config {
        strategy,
        clock_refresh_ops: clock_refresh_ops(),
        ..Config::default()
    })
    .expect("balancer");
    lb.set_instances(&set_of(n, 1)).expect("set");
    lb
}

#[inline(always)]
fn pair_rust(lb: &Balancer) {
    match lb.select() {
        Ok(pick) => {
            let id = pick.instance_id();
            if let Err(e) = lb.report(&pick, Outcome::Success, latency_of(id)) {
                panic!("report: {e}");
            }
        }
        Err(e) => panic!("select: {e}"),
    }
}

// ---- lb through the C ABI ----

/// A handle from `lb_balancer_new`, freed on drop. The C contract lets any thread
/// call every function but `lb_balancer_free` concurrently.
struct CLb(*mut lb_balancer);

// SAFETY: the handle is documented as usable from any thread at once.
unsafe impl Send for CLb {}
// SAFETY: as above.
unsafe impl Sync for CLb {}

impl CLb {
    fn new(strategy: Strategy, n: usize) -> CLb {
        let mut h: *mut lb_balancer = std::ptr::null_mut();
        assert_eq!(lb_balancer_new(strategy as u32, &mut h), LB_STATUS_OK);
        let ops = f64::from(clock_refresh_ops());
        assert_eq!(
            lb_set_option(h, LB_OPTION_CLOCK_REFRESH_OPS, ops),
            LB_STATUS_OK
        );
        let lb = CLb(h);
        lb.set(&c_set_of(&set_of(n, 1)));
        lb
    }

    fn ptr(&self) -> *mut lb_balancer {
        self.0
    }

    fn set(&self, set: &[lb_instance]) {
        assert_eq!(
            lb_set_instances(self.0, set.as_ptr(), set.len()),
            LB_STATUS_OK
        );
    }
}

impl Drop for CLb {
    fn drop(&mut self) {
        lb_balancer_free(self.0);
    }
}

/// What a C caller writes: a pick on the stack, select, report.
#[inline(always)]
fn pair_c(lb: *mut lb_balancer) {
    let mut pick = MaybeUninit::<lb_pick>::uninit();
    let status = lb_select(lb, pick.as_mut_ptr());
    if status != LB_STATUS_OK {
        panic!("lb_select: status {status}");
    }
    // SAFETY: lb_select returned OK, so it wrote the pick.
    let id = unsafe { (*pick.as_ptr()).instance_id };
    let status = lb_report(lb, pick.as_ptr(), LB_OUTCOME_SUCCESS, latency_of(id));
    if status != LB_STATUS_OK {
        panic!("lb_report: status {status}");
    }
}

// ---- the Mutex baseline ----

fn mutex_lb(strategy: Strategy, n: usize) -> MutexBalancer {
    let m = MutexBalancer::new(strategy);
    m.set_instances(&set_of(n, 1));
    m
}

#[inline(always)]
fn pair_mutex(m: &MutexBalancer) {
    match m.select() {
        Some(pick) => {
            if !m.report(&pick, true, latency_of(pick.instance_id)) {
                panic!("baseline report refused");
            }
        }
        None => panic!("baseline select found nothing"),
    }
}

// ---- the bare scan least connections is compared with ----

/// One instance's state laid out like lb's `InstanceState`: the in-flight word at
/// the start of a cache-padded block of seven words, eleven more words after it,
/// behind an `Arc`.
struct ScanState {
    flight: CachePadded<[AtomicU64; 7]>,
    _rest: [AtomicU64; 11],
}

/// A member as lb's snapshot holds it: configuration inline, state behind a pointer.
/// `scale` (L / weight, L the least common multiple of the set's weights) sits in
/// what is padding in lb's `Member`, so the layout is the same size.
struct ScanMember {
    _id: u64,
    weight: u32,
    capacity: u32,
    scale: u32,
    state: Arc<ScanState>,
    _healthy: bool,
}

/// The minimum of in flight / weight over the members below capacity, ties to the
/// first from a random start: what a least-connections pick must find, without
/// taking a slot, over per-instance state laid out as lb lays it out (one `Arc`
/// to a cache-padded block per instance), done as fast as plain Rust allows: the
/// members in one `Vec` walked in order, in flight / weight compared exactly as
/// in flight * (L / weight), an integer, in four independent lanes so the loads of
/// different members overlap.
struct BareScan {
    members: Vec<ScanMember>,
    rng: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl BareScan {
    fn new(n: usize) -> BareScan {
        let mut scan = BareScan {
            members: (0..n as u64)
                .map(|i| ScanMember {
                    _id: i + 1,
                    weight: 1,
                    capacity: 0,
                    scale: 1,
                    state: Arc::new(ScanState {
                        flight: CachePadded::new(Default::default()),
                        _rest: Default::default(),
                    }),
                    _healthy: true,
                })
                .collect(),
            rng: 0x2545_F491_4F6C_DD1D,
        };
        scan.rescale();
        scan
    }

    /// Recomputes the per-member scales after a weight change (a snapshot would do
    /// this when it is built).
    fn rescale(&mut self) {
        let lcm = self
            .members
            .iter()
            .fold(1u64, |l, m| l / gcd(l, m.weight as u64) * m.weight as u64);
        assert!(
            lcm <= u32::MAX as u64,
            "bare scan: weights whose least common multiple exceeds 2^32"
        );
        for m in &mut self.members {
            m.scale = (lcm / m.weight as u64) as u32;
        }
    }

    /// Sort key of one member: in flight * scale (below 2^57), or MAX when full.
    #[inline(always)]
    fn key(m: &ScanMember) -> u64 {
        let w = m.state.flight[0].load(Ordering::Acquire);
        let load = ((w >> 24) & 0xff_ffff) + (w & 0xff_ffff);
        let full = m.capacity != 0 && load >= m.capacity as u64;
        if full {
            u64::MAX
        } else {
            load * m.scale as u64
        }
    }

    #[inline(never)]
    fn scan(&mut self) -> Option<usize> {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let n = self.members.len();
        let start = (((self.rng >> 32) * n as u64) >> 32) as usize;
        let (tail, head) = self.members.split_at(start);
        // Per lane: the best key and its position in the scan order.
        let mut keys = [u64::MAX; 4];
        let mut order = [usize::MAX; 4];
        let mut pos = 0;
        for part in [head, tail] {
            let mut chunks = part.chunks_exact(4);
            for c in &mut chunks {
                for j in 0..4 {
                    let k = Self::key(&c[j]);
                    if k < keys[j] {
                        keys[j] = k;
                        order[j] = pos + j;
                    }
                }
                pos += 4;
            }
            for (j, m) in chunks.remainder().iter().enumerate() {
                let k = Self::key(m);
                if k < keys[j] {
                    keys[j] = k;
                    order[j] = pos + j;
                }
            }
            pos += chunks.remainder().len();
        }
        let mut best = 0;
        for j in 1..4 {
            if keys[j] < keys[best] || (keys[j] == keys[best] && order[j] < order[best]) {
                best = j;
            }
        }
        (keys[best] != u64::MAX).then(|| (start + order[best]) % n)
    }
}

/// Checks the bare scan against a plain one on mixed loads, weights and
/// capacities, so the baseline least connections is compared with finds the same
/// member lb's scan would.
fn check_bare_scan() {
    let mut scan = BareScan::new(37);
    for (k, m) in scan.members.iter_mut().enumerate() {
        m.weight = 1 + (k as u32 * 7) % 5;
        m.capacity = if k % 6 == 0 { 3 } else { 0 };
        let load = ((k as u64 * 13) % 9) + 1;
        m.state.flight[0].store(load << 24 | (k as u64 % 2), Ordering::Relaxed);
    }
    scan.rescale();
    for _ in 0..200 {
        let saved = scan.rng;
        let got = scan.scan();
        // The same random start, then the first strictly smaller ratio wins.
        let mut r = saved;
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        let n = scan.members.len();
        let start = (((r >> 32) * n as u64) >> 32) as usize;
        let mut want: Option<(usize, u64, u64)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let m = &scan.members[i];
            let w = m.state.flight[0].load(Ordering::Relaxed);
            let load = ((w >> 24) & 0xff_ffff) + (w & 0xff_ffff);
            if m.capacity != 0 && load >= m.capacity as u64 {
                continue;
            }
            let weight = m.weight as u64;
            let better = match want {
                None => true,
                Some((_, bl, bw)) => load * bw < bl * weight,
            };
            if better {
                want = Some((i, load, weight));
            }
        }
        assert_eq!(
            got,
            want.map(|w| w.0),
            "bare scan disagrees with a plain scan"
        );
    }
}

// ---- helpers for the threaded groups ----

/// Runs `f` `iters` times on each of `threads` threads started together; returns
/// the longer of the two threads' times, so time / iters is per pair per thread.
fn run_threads<F: Fn() + Sync>(threads: usize, iters: u64, f: F) -> Duration {
    let barrier = Barrier::new(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // One untimed pair sets up this thread's state in the balancer.
                    f();
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        f();
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

/// A thread that, while active, calls `replace(k)` for k = 0, 1, 2, ... once a
/// millisecond (deadline-paced, so the rate holds), until dropped.
struct Writer {
    stop: Arc<AtomicBool>,
    active: Arc<AtomicBool>,
    replacements: Arc<AtomicU64>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Writer {
    fn start(mut replace: impl FnMut(u64) + Send + 'static) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicBool::new(false));
        let replacements = Arc::new(AtomicU64::new(0));
        let (s, a, r) = (stop.clone(), active.clone(), replacements.clone());
        let handle = thread::spawn(move || {
            let mut next = Instant::now();
            let mut k = 0;
            while !s.load(Ordering::Relaxed) {
                next += Duration::from_millis(1);
                if a.load(Ordering::Relaxed) {
                    replace(k);
                    k += 1;
                    r.fetch_add(1, Ordering::Relaxed);
                }
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                } else if now - next > Duration::from_millis(10) {
                    // Far behind (the machine was busy): start the pace afresh
                    // instead of catching up with a burst.
                    next = now;
                }
            }
        });
        Writer {
            stop,
            active,
            replacements,
            handle: Some(handle),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Pairs per block of the writer measurement (a few milliseconds).
const BLOCK: u64 = 40_000;

/// Times `iters` pairs with the writer active (`writing`) or idle, in blocks that
/// alternate with as many untimed pairs in the other state, so that both states
/// are sampled under the same machine conditions: the two benchmarks of a pair of
/// results (`lb_c`/`lb_c_writer`) differ only in which half is timed. Adds the
/// replacements made during timed blocks and their time to `rate`.
fn interleaved(
    iters: u64,
    writer: &Writer,
    writing: bool,
    rate: &mut (u64, Duration),
    pair: impl Fn(),
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(BLOCK);
        writer.active.store(!writing, Ordering::Relaxed);
        for _ in 0..k {
            pair();
        }
        writer.active.store(writing, Ordering::Relaxed);
        let before = writer.replacements.load(Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..k {
            pair();
        }
        let t = start.elapsed();
        timed += t;
        if writing {
            rate.0 += writer.replacements.load(Ordering::Relaxed) - before;
            rate.1 += t;
        }
        left -= k;
    }
    writer.active.store(false, Ordering::Relaxed);
    timed
}

fn note_rate(label: &str, rate: (u64, Duration)) {
    if rate.1 > Duration::ZERO {
        eprintln!(
            "    {label}: {} replacements in {:.2} s of timed writing blocks ({:.0} per second)",
            rate.0,
            rate.1.as_secs_f64(),
            rate.0 as f64 / rate.1.as_secs_f64()
        );
    }
}

/// The set at step k of a rolling replacement: n instances, ids k+1 ..= k+n, so
/// each step removes the oldest instance and adds a new one.
fn rolling_set(n: usize, k: u64) -> Vec<Instance> {
    set_of(n, k + 1)
}

fn note_adaptive(label: &str, lb: &Balancer) {
    let st = lb.stats();
    eprintln!(
        "    {label}: adaptive ran {} at the end, {} switches",
        st.active_strategy.name(),
        st.strategy_switches
    );
}

// ---- group 1: one thread ----

/// Pairs per block of the one-thread rotation (about 0.2 ms).
const ROTATION_BLOCK: u64 = 10_000;

/// The contestants of a one-thread group, in `rotated`'s order.
const CONTESTANTS: [&str; 3] = ["lb_rust", "lb_c", "mutex"];

/// Times `iters` pairs of contestant `timed`, in blocks that each follow a block
/// of every other contestant: the contestants take turns within every sample, so
/// a slow phase of the machine (this one has phases of a second or more at 20-40%
/// above its usual time per pair) falls on all of them alike. Every whole block
/// of every contestant is timed, and each turn (one block of each) goes into
/// `turns` as time per pair: the paired comparison, from the same moments.
fn rotated(
    iters: u64,
    timed: usize,
    turns: &RefCell<Vec<[f64; 3]>>,
    run: &impl Fn(usize, u64),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(ROTATION_BLOCK);
        let mut turn = [0.0; 3];
        for (which, slot) in turn.iter_mut().enumerate() {
            let start = Instant::now();
            run((timed + 1 + which) % CONTESTANTS.len(), k);
            let t = start.elapsed();
            *slot = t.as_nanos() as f64 / k as f64;
            if which == CONTESTANTS.len() - 1 {
                total += t;
            }
        }
        // Back into contestant order: the timed one ran last.
        turn.rotate_right(timed + 1);
        if k == ROTATION_BLOCK {
            turns.borrow_mut().push(turn);
        }
        left -= k;
    }
    total
}

/// Where criterion writes (`CRITERION_HOME`, else `<target>/criterion`).
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    PathBuf::from(target).join("criterion")
}

/// Writes the paired medians of one group's turns: each contestant's median time
/// per pair over the turns, and the median over turns of each lb contestant's
/// time over the baseline's in the same turn. `benches/table.py` reads them.
fn write_paired(group: &str, n: usize, turns: &[[f64; 3]]) {
    write_paired_as(group, &n.to_string(), turns, ["lb_rust", "lb_c"]);
}

/// `write_paired` for contestants `names` (the two lb ones, in turn order) and
/// the baseline, to `<group>/paired/<label>.json`.
fn write_paired_as(group: &str, label: &str, turns: &[[f64; 3]], names: [&str; 2]) {
    // A filter that left this group's benchmarks out leaves its file alone.
    if turns.is_empty() {
        return;
    }
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let of = |i: usize| median(turns.iter().map(|t| t[i]).collect());
    let ratio = |i: usize| median(turns.iter().map(|t| t[i] / t[2]).collect());
    let [a, b] = names;
    let json = format!(
        "{{\"turns\": {}, \"{a}_ns\": {:.3}, \"{b}_ns\": {:.3}, \"mutex_ns\": {:.3}, \"{a}_over_mutex\": {:.4}, \"{b}_over_mutex\": {:.4}}}\n",
        turns.len(),
        of(0),
        of(1),
        of(2),
        ratio(0),
        ratio(1)
    );
    eprintln!("    paired {group}/{label}: {}", json.trim_end());
    let dir = criterion_home().join(group).join("paired");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{label}.json")), json);
    }
}

fn single(c: &mut Criterion) {
    for strategy in Strategy::ALL {
        let group = format!("single_{}", strategy.name());
        let mut g = c.benchmark_group(&group);
        g.throughput(Throughput::Elements(1));
        for n in SIZES {
            let lb = rust_lb(strategy, n);
            let h = CLb::new(strategy, n);
            let m = mutex_lb(strategy, n);
            let run = |which: usize, k: u64| match which {
                0 => (0..k).for_each(|_| pair_rust(black_box(&lb))),
                1 => (0..k).for_each(|_| pair_c(black_box(h.ptr()))),
                _ => (0..k).for_each(|_| pair_mutex(black_box(&m))),
            };
            let turns = RefCell::new(Vec::new());
            for (i, id) in CONTESTANTS.iter().enumerate() {
                g.bench_with_input(BenchmarkId::new(*id, n), &n, |b, _| {
                    b.iter_custom(|iters| rotated(iters, i, &turns, &run))
                });
            }
            write_paired(&group, n, &turns.borrow());
            if strategy == Strategy::Adaptive {
                note_adaptive(&format!("lb_rust/{n}"), &lb);
            }
            black_box(m.totals());
            drop((lb, h, m));

            if strategy == Strategy::LeastConnections {
                check_bare_scan();
                let mut scan = BareScan::new(n);
                g.bench_with_input(BenchmarkId::new("bare_scan", n), &n, |b, _| {
                    b.iter(|| black_box(scan.scan()))
                });
            }
        }
        g.finish();
    }
}

// ---- group 1c: the C ABI pair through liblb.so ----

/// The pair of `pair_c` through the shared library's functions.
#[inline(always)]
fn pair_so(so: &SharedLb, lb: *mut lb_balancer) {
    let mut pick = MaybeUninit::<lb_pick>::uninit();
    // SAFETY: a live handle of the library; `pick` is written on success.
    unsafe {
        let status = (so.select)(lb, pick.as_mut_ptr());
        if status != LB_STATUS_OK {
            panic!("lb_select (liblb.so): status {status}");
        }
        let id = (*pick.as_ptr()).instance_id;
        let status = (so.report)(lb, pick.as_ptr(), LB_OUTCOME_SUCCESS, latency_of(id));
        if status != LB_STATUS_OK {
            panic!("lb_report (liblb.so): status {status}");
        }
    }
}

/// One thread, n = 64: the C ABI pair through `liblb.so` (loaded with `dlopen`),
/// the same pair linked in (as `liblb.a` links it) and the baseline, taking turns
/// as in `single`.
fn shared_library(c: &mut Criterion) {
    const N: usize = 64;
    let so = match SharedLb::open() {
        Ok(so) => so,
        Err(why) => {
            eprintln!("shared_library_64: skipped: {why}");
            return;
        }
    };
    let mut g = c.benchmark_group("shared_library_64");
    g.throughput(Throughput::Elements(1));
    for strategy in Strategy::ALL {
        if matches!(
            strategy,
            Strategy::LeastConnections | Strategy::Maglev | Strategy::RingHash
        ) {
            continue;
        }
        let name = strategy.name();
        let shared = so.balancer(strategy as u32, &c_set_of(&set_of(N, 1)));
        let h = CLb::new(strategy, N);
        let m = mutex_lb(strategy, N);
        let run = |which: usize, k: u64| match which {
            0 => (0..k).for_each(|_| pair_so(&so, black_box(shared.ptr))),
            1 => (0..k).for_each(|_| pair_c(black_box(h.ptr()))),
            _ => (0..k).for_each(|_| pair_mutex(black_box(&m))),
        };
        let turns = RefCell::new(Vec::new());
        for (i, id) in ["lb_so", "lb_c", "mutex"].iter().enumerate() {
            g.bench_function(BenchmarkId::new(*id, name), |b| {
                b.iter_custom(|iters| rotated(iters, i, &turns, &run))
            });
        }
        write_paired_as(
            "shared_library_64",
            name,
            &turns.borrow(),
            ["lb_so", "lb_c"],
        );
    }
    g.finish();
}

// ---- group 2: two threads on one balancer ----

fn two_threads(c: &mut Criterion) {
    const N: usize = 64;
    let mut g = c.benchmark_group("two_threads_64");
    g.throughput(Throughput::Elements(1));
    for strategy in Strategy::ALL {
        let name = strategy.name();
        let lb = rust_lb(strategy, N);
        g.bench_function(BenchmarkId::new("lb_rust", name), |b| {
            b.iter_custom(|iters| run_threads(2, iters, || pair_rust(black_box(&lb))))
        });
        drop(lb);

        let h = CLb::new(strategy, N);
        g.bench_function(BenchmarkId::new("lb_c", name), |b| {
            b.iter_custom(|iters| run_threads(2, iters, || pair_c(black_box(h.ptr()))))
        });
        drop(h);

        let m = mutex_lb(strategy, N);
        g.bench_function(BenchmarkId::new("mutex", name), |b| {
            b.iter_custom(|iters| run_threads(2, iters, || pair_mutex(black_box(&m))))
        });
    }
    g.finish();
}

// ---- group 3: a writer replacing the set every millisecond ----

fn writer_1ms(c: &mut Criterion) {
    const N: usize = 64;
    let mut g = c.benchmark_group("writer_1ms_64");
    g.throughput(Throughput::Elements(1));
    for strategy in Strategy::ALL {
        let name = strategy.name();

        let h = Arc::new(CLb::new(strategy, N));
        let w = Arc::clone(&h);
        let writer = Writer::start(move |k| w.set(&c_set_of(&rolling_set(N, k))));
        for (id, writing) in [("lb_c", false), ("lb_c_writer", true)] {
            let mut rate = (0, Duration::ZERO);
            g.bench_function(BenchmarkId::new(id, name), |b| {
                b.iter_custom(|iters| {
                    interleaved(iters, &writer, writing, &mut rate, || {
                        pair_c(black_box(h.ptr()))
                    })
                })
            });
            note_rate(&format!("{id}/{name}"), rate);
        }
        drop(writer);

        let m = Arc::new(mutex_lb(strategy, N));
        let w = Arc::clone(&m);
        let writer = Writer::start(move |k| w.set_instances(&rolling_set(N, k)));
        for (id, writing) in [("mutex", false), ("mutex_writer", true)] {
            let mut rate = (0, Duration::ZERO);
            g.bench_function(BenchmarkId::new(id, name), |b| {
                b.iter_custom(|iters| {
                    interleaved(iters, &writer, writing, &mut rate, || {
                        pair_mutex(black_box(&m))
                    })
                })
            });
            note_rate(&format!("{id}/{name}"), rate);
        }
    }
    g.finish();
}

// ---- group 4: replacing the set ----

/// Times `replace(&make(k))` alone for k = 0..iters (building the set is not
/// timed), running `between()` untimed every 64 calls.
fn time_replacements<T>(
    iters: u64,
    mut make: impl FnMut(u64) -> T,
    mut replace: impl FnMut(&T),
    mut between: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    for k in 0..iters {
        let set = make(k);
        let start = Instant::now();
        replace(&set);
        total += start.elapsed();
        if k % 64 == 63 {
            between();
        }
    }
    total
}

fn set_instances(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_instances");
    for n in SIZES {
        // Each call is one membership change: the set slides by one id, so the
        // oldest instance leaves and a new one joins. `step` carries on across
        // criterion's calls so the change is real every time.
        let lb = rust_lb(Strategy::RoundRobin, n);
        let mut step = 0u64;
        g.bench_with_input(BenchmarkId::new("lb_rust", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let base = step;
                step += iters;
                time_replacements(
                    iters,
                    |k| rolling_set(n, base + k + 1),
                    |set| lb.set_instances(set).expect("set"),
                    // The maintenance pass a live balancer runs every 100 ms: it
                    // forgets removed instances.
                    || lb.maintain(),
                )
            })
        });
        drop(lb);

        let h = CLb::new(Strategy::RoundRobin, n);
        let mut step = 0u64;
        g.bench_with_input(BenchmarkId::new("lb_c", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let base = step;
                step += iters;
                time_replacements(
                    iters,
                    |k| c_set_of(&rolling_set(n, base + k + 1)),
                    |set| h.set(set),
                    || {
                        // Applies expiry, which also forgets removed instances
                        // that nothing can report on any more.
                        let mut stats = MaybeUninit::<lb_stats>::uninit();
                        assert_eq!(lb_get_stats(h.0, stats.as_mut_ptr()), LB_STATUS_OK);
                    },
                )
            })
        });
        drop(h);

        let m = mutex_lb(Strategy::RoundRobin, n);
        let mut step = 0u64;
        g.bench_with_input(BenchmarkId::new("mutex", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let base = step;
                step += iters;
                time_replacements(
                    iters,
                    |k| rolling_set(n, base + k + 1),
                    |set| m.set_instances(set),
                    || {},
                )
            })
        });
    }
    g.finish();
}

// ---- the floor: what the hardware charges for tracking in-flight counts ----

/// One atomic increment plus one decrement on a cache-padded counter: the least a
/// select+report pair that tracks in-flight counts can cost. With two threads on one
/// shared counter, the same pair pays the cache-line transfer each time. Measured in
/// the same run as everything else, so the pair's cost reads as a multiple of it.
fn floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(1));
    let counter = CachePadded::new(AtomicU64::new(0));
    g.bench_function("inc_dec_pair", |b| {
        b.iter(|| {
            let c = black_box(&counter);
            c.fetch_add(1, Ordering::AcqRel);
            c.fetch_sub(1, Ordering::AcqRel);
        })
    });
    g.bench_function("inc_dec_pair_2_threads_shared", |b| {
        b.iter_custom(|iters| {
            run_threads(2, iters, || {
                let c = black_box(&counter);
                c.fetch_add(1, Ordering::AcqRel);
                c.fetch_sub(1, Ordering::AcqRel);
            })
        })
    });
    g.finish();
}

// ---- scaling: the pair on one balancer from 1..N threads ----

/// Thread counts for the scaling group: `LB_BENCH_THREADS=1,2,4,8,16` on a machine
/// with that many cores; on this 2-core machine the default is 1 and 2.
fn thread_counts() -> Vec<usize> {
    std::env::var("LB_BENCH_THREADS")
        .ok()
        .map(|v| v.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 2])
}

/// Time per pair per thread with 1..N threads on one balancer of 64 instances,
/// through the C ABI, against the Mutex baseline.
fn scaling(c: &mut Criterion) {
    for strategy in Strategy::ALL {
        let mut g = c.benchmark_group(format!("scaling_{}", strategy.name()));
        g.throughput(Throughput::Elements(1));
        let h = CLb::new(strategy, 64);
        let m = mutex_lb(strategy, 64);
        for threads in thread_counts() {
            g.bench_with_input(BenchmarkId::new("lb_c", threads), &threads, |b, &t| {
                b.iter_custom(|iters| run_threads(t, iters, || pair_c(black_box(h.ptr()))))
            });
            g.bench_with_input(BenchmarkId::new("mutex", threads), &threads, |b, &t| {
                b.iter_custom(|iters| run_threads(t, iters, || pair_mutex(black_box(&m))))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = floor, single, shared_library, two_threads, writer_1ms, set_instances, scaling
}
criterion_main!(benches);
