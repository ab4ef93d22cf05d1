//! Memory check (not a timing): the resident set after 10^8 select+report pairs
//! must be within 1 MiB of the resident set after 10^6, for every strategy, both
//! through the Rust API on one thread and through the C ABI on two threads while
//! a writer replaces the set every millisecond (removed instances go through lb's
//! graveyard, so a leak there would show).
//!
//!     cargo run --release --example memory_flat            # 10^8 pairs per phase
//!     cargo run --release --example memory_flat -- 1e7     # a shorter run
//!
//! Exits with status 1 if any phase grew by more than 1 MiB.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lb::ffi::{
    lb_balancer, lb_balancer_free, lb_balancer_new, lb_instance, lb_pick, lb_report, lb_select,
    lb_set_instances, LB_OUTCOME_SUCCESS, LB_STATUS_OK,
};
use lb::{Balancer, Config, Instance, Outcome, Strategy};

const N: u64 = 64;
const WARM: u64 = 1_000_000;
const LIMIT_KIB: i64 = 1024;

/// VmRSS of this process, in KiB.
fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn latency_of(id: u64) -> u64 {
    800 + (id % 5) * 100
}

fn rust_pairs(lb: &Balancer, count: u64) {
    for _ in 0..count {
        let pick = lb.select().expect("select");
        lb.report(&pick, Outcome::Success, latency_of(pick.instance_id()))
            .expect("report");
    }
}

struct CLb(*mut lb_balancer);
// SAFETY: the C contract lets any thread use a handle, all at once, except free.
unsafe impl Send for CLb {}
// SAFETY: as above.
unsafe impl Sync for CLb {}

impl Drop for CLb {
    fn drop(&mut self) {
        lb_balancer_free(self.0);
    }
}

fn c_set(first: u64) -> Vec<lb_instance> {
    (first..first + N)
        .map(|id| lb_instance {
            id,
            weight: 1,
            capacity: 0,
        })
        .collect()
}

fn c_pairs(lb: &CLb, count: u64) {
    for _ in 0..count {
        let mut pick = MaybeUninit::<lb_pick>::uninit();
        assert_eq!(lb_select(lb.0, pick.as_mut_ptr()), LB_STATUS_OK);
        // SAFETY: lb_select returned OK, so the pick is written.
        let id = unsafe { (*pick.as_ptr()).instance_id };
        // A pick whose instance the writer removed meanwhile is still accepted
        // (it counts in the totals); one that expired would not be, and none does
        // within the default 5-minute timeout.
        assert_eq!(
            lb_report(lb.0, pick.as_ptr(), LB_OUTCOME_SUCCESS, latency_of(id)),
            LB_STATUS_OK
        );
    }
}

/// Runs `pairs(count)` to WARM, reads RSS, runs on to `total`, reads RSS again.
fn phase(name: &str, total: u64, mut pairs: impl FnMut(u64)) -> bool {
    let t = Instant::now();
    pairs(WARM);
    let before = rss_kib();
    pairs(total - WARM);
    let after = rss_kib();
    let grew = after - before;
    let ok = grew <= LIMIT_KIB;
    println!(
        "{name:<50} RSS after 10^6: {before:>7} KiB, after {total:.0e}: {after:>7} KiB, \
         growth {grew:>+6} KiB  {}  ({:.1} s)",
        if ok { "ok" } else { "TOO MUCH" },
        t.elapsed().as_secs_f64(),
        total = total as f64,
    );
    ok
}

fn main() {
    let total: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse::<f64>().expect("pair count, e.g. 1e8") as u64)
        .unwrap_or(100_000_000)
        .max(WARM);
    let mut ok = true;

    for strategy in Strategy::ALL {
        let lb = Balancer::new(Config {
            strategy,
            ..Config::default()
        })
        .expect("balancer");
        let set: Vec<Instance> = (1..=N).map(Instance::new).collect();
        lb.set_instances(&set).expect("set");
        ok &= phase(
            &format!("rust, 1 thread, {}", strategy.name()),
            total,
            |k| rust_pairs(&lb, k),
        );
    }

    for strategy in Strategy::ALL {
        let mut h = std::ptr::null_mut();
        assert_eq!(lb_balancer_new(strategy as u32, &mut h), LB_STATUS_OK);
        let lb = Arc::new(CLb(h));
        let set = c_set(1);
        assert_eq!(
            lb_set_instances(lb.0, set.as_ptr(), set.len()),
            LB_STATUS_OK
        );
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (lb, stop) = (Arc::clone(&lb), Arc::clone(&stop));
            thread::spawn(move || {
                let mut k = 1;
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    let set = c_set(k);
                    assert_eq!(
                        lb_set_instances(lb.0, set.as_ptr(), set.len()),
                        LB_STATUS_OK
                    );
                    thread::sleep(Duration::from_millis(1));
                }
            })
        };
        // Two threads share the pairs: each runs half of every step.
        let name = format!("C ABI, 2 threads + writer, {}", strategy.name());
        ok &= phase(&name, total, |k| {
            thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| c_pairs(&lb, k / 2));
                }
            })
        });
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer");
    }

    if !ok {
        eprintln!("memory grew by more than {LIMIT_KIB} KiB in some phase");
        std::process::exit(1);
    }
}
