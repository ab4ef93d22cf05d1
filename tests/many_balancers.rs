//! One thread serving many balancers: the heap stays flat and per-thread state is
//! freed with its balancer. Its own test binary, because it counts every allocation
//! of the process.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use lb::{Balancer, Config, Instance, Outcome};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn rotate(balancers: &[Balancer], rounds: usize) {
    for _ in 0..rounds {
        for b in balancers {
            let p = b.select().unwrap();
            b.report(&p, Outcome::Success, 100).unwrap();
        }
    }
}

fn sixty_four_balancers_in_rotation_keep_the_heap_flat() {
    let balancers: Vec<Balancer> = (0..64)
        .map(|i| {
            let b = Balancer::new(Config {
                seed: i,
                ..Config::default()
            })
            .unwrap();
            b.set_instances(&(1..=4).map(Instance::new).collect::<Vec<_>>())
                .unwrap();
            b
        })
        .collect();
    rotate(&balancers, 100);
    let before = live();
    rotate(&balancers, 5_000);
    let grown = live() - before;
    assert!(
        grown < 64 * 1024,
        "heap grew by {grown} bytes over 320 000 pairs on 64 balancers"
    );
    // Every balancer still keeps exact totals.
    for b in &balancers {
        let s = b.stats();
        assert_eq!((s.successes, s.in_flight), (5_100, 0));
    }
}

fn a_thread_state_is_freed_with_its_balancer() {
    let warm = Balancer::new(Config::default()).unwrap();
    warm.set_instances(&[Instance::new(1)]).unwrap();
    rotate(std::slice::from_ref(&warm), 10);
    let before = live();
    for round in 0..2_000 {
        let b = Balancer::new(Config::default()).unwrap();
        b.set_instances(&[Instance::new(round)]).unwrap();
        rotate(std::slice::from_ref(&b), 3);
    }
    let grown = live() - before;
    assert!(
        grown < 64 * 1024,
        "heap grew by {grown} bytes after 2 000 balancers were used and dropped"
    );
}

// One test, so that no other test's allocations run alongside the counting.
#[test]
fn heap_stays_flat_with_many_balancers() {
    sixty_four_balancers_in_rotation_keep_the_heap_flat();
    a_thread_state_is_freed_with_its_balancer();
}
