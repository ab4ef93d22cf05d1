//! The one place that knows about loom.
//!
//! Every other module takes its atomics, `Arc`, `Mutex`, the snapshot cell, atomic
//! floats and thread locals from here. Under `cfg(loom)` they become loom's model
//! types, so the loom tests in `loom-tests/` check the real lb code paths; otherwise
//! they are std, arc-swap and atomic_float. arc-swap and atomic_float have no loom
//! support, so under loom the snapshot cell is a loom `RwLock<Arc<T>>` and the float
//! atomics are loom `AtomicU64`s holding the bits.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use std::sync::TryLockError;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: lb's
/// mutexes guard rebuildable state, and a poisoned lock must not make every later
/// call fail (the C ABI promises the balancer stays usable after an internal error).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Tries to lock without waiting; `None` if another thread holds it.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

#[cfg(not(loom))]
pub(crate) use atomic_float::AtomicF64;

// The object this thread used last (its id) and this thread's value in it: one
// thread-local word pair, reached without a call even from a shared library.
#[cfg(not(loom))]
mod thread_slot;

/// Per-object thread-local storage: one `T` for each thread that uses the object,
/// all dropped with it, so state kept per (thread, balancer) needs no global table
/// and no eviction. Normally `thread_local::ThreadLocal` (a lookup is a thread id
/// read and an indexed load) behind a one-entry cache per thread: a thread that
/// keeps using the same object finds its value with one thread-local read and a
/// compare. Under loom, a list of (loom thread, value) per object.
#[cfg(not(loom))]
pub(crate) struct PerThread<T: Send> {
    /// Never reused, so the cache cannot mistake a new object for a dropped one at
    /// the same address.
    id: u64,
    values: thread_local::ThreadLocal<T>,
}

#[cfg(not(loom))]
impl<T: Send> PerThread<T> {
    pub(crate) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        PerThread {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            values: thread_local::ThreadLocal::new(),
        }
    }

    /// This thread's value, made by `create` on its first use.
    #[inline(always)]
    pub(crate) fn get_or(&self, create: impl FnOnce() -> T) -> &T {
        let (id, value) = thread_slot::get();
        if id == self.id {
            // SAFETY: the pointer was stored by `get_or_slow` of this very object
            // (ids are never reused) on this thread, and points into `values`,
            // which keeps each thread's value in place until `self` is dropped.
            return unsafe { &*value.cast::<T>() };
        }
        self.get_or_slow(create)
    }

    /// This thread's value if this object is the one the thread used last: one
    /// thread-local read and a compare, nothing that can panic or allocate.
    #[inline(always)]
    pub(crate) fn cached(&self) -> Option<&T> {
        let (id, value) = thread_slot::get();
        // SAFETY: as in `get_or`.
        (id == self.id).then(|| unsafe { &*value.cast::<T>() })
    }

    #[cold]
    #[inline(never)]
    fn get_or_slow(&self, create: impl FnOnce() -> T) -> &T {
        let value = self.values.get_or(create);
        thread_slot::set(self.id, (value as *const T).cast());
        value
    }

    /// Every thread's value. A thread that has exited leaves its value behind, and
    /// a later thread may take it over (thread ids are recycled).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T>
    where
        T: Sync,
    {
        self.values.iter()
    }
}

#[cfg(loom)]
pub(crate) struct PerThread<T: Send + 'static> {
    owner: u64,
    /// Every thread's value, owned here (freed with the object); a loom mutex, so
    /// the model sees `iter` synchronise with the value's creation.
    values: Mutex<Vec<Box<T>>>,
}

#[cfg(loom)]
loom::thread_local! {
    /// This loom thread's values: (owner, value in the owner's list).
    static PER_THREAD: std::cell::RefCell<Vec<(u64, *const ())>> =
        std::cell::RefCell::new(Vec::new());
}

#[cfg(loom)]
impl<T: Send + 'static> PerThread<T> {
    pub(crate) fn new() -> Self {
        static NEXT_OWNER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        PerThread {
            owner: NEXT_OWNER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            values: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn get_or(&self, create: impl FnOnce() -> T) -> &T {
        let found = PER_THREAD.with(|list| {
            list.borrow()
                .iter()
                .find(|(owner, _)| *owner == self.owner)
                .map(|(_, v)| *v)
        });
        let value = match found {
            Some(v) => v.cast::<T>(),
            None => {
                let boxed = Box::new(create());
                let v: *const T = &*boxed;
                lock(&self.values).push(boxed);
                PER_THREAD.with(|list| list.borrow_mut().push((self.owner, v.cast())));
                v
            }
        };
        // SAFETY: each box stays in `values`, unmoved, until `self` is dropped.
        unsafe { &*value }
    }

    pub(crate) fn cached(&self) -> Option<&T> {
        let found = PER_THREAD.with(|list| {
            list.borrow()
                .iter()
                .find(|(owner, _)| *owner == self.owner)
                .map(|(_, v)| *v)
        });
        // SAFETY: as in `get_or`.
        found.map(|v| unsafe { &*v.cast::<T>() })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T>
    where
        T: Sync,
    {
        let all: Vec<*const T> = lock(&self.values)
            .iter()
            .map(|v| &**v as *const T)
            .collect();
        // SAFETY: as in `get_or`.
        all.into_iter().map(|v| unsafe { &*v })
    }
}

/// Loom stand-in for `atomic_float::AtomicF64`: the bits in a loom `AtomicU64`.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct AtomicF64(AtomicU64);

#[cfg(loom)]
impl AtomicF64 {
    pub(crate) fn new(v: f64) -> Self {
        Self(AtomicU64::new(v.to_bits()))
    }
    pub(crate) fn load(&self, order: Ordering) -> f64 {
        f64::from_bits(self.0.load(order))
    }
    pub(crate) fn store(&self, v: f64, order: Ordering) {
        self.0.store(v.to_bits(), order)
    }
}

/// The cell that holds the current snapshot: readers never block on writers.
#[cfg(not(loom))]
pub(crate) struct SnapshotCell<T>(arc_swap::ArcSwap<T>);

#[cfg(not(loom))]
impl<T> SnapshotCell<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        Self(arc_swap::ArcSwap::new(value))
    }
    /// An owned reference, for caches that keep it across calls.
    pub(crate) fn load_full(&self) -> Arc<T> {
        self.0.load_full()
    }
    pub(crate) fn store(&self, value: Arc<T>) {
        self.0.store(value)
    }
}

#[cfg(loom)]
pub(crate) struct SnapshotCell<T>(loom::sync::RwLock<Arc<T>>);

#[cfg(loom)]
impl<T> SnapshotCell<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        Self(loom::sync::RwLock::new(value))
    }
    pub(crate) fn load_full(&self) -> Arc<T> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
    pub(crate) fn store(&self, value: Arc<T>) {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = value;
    }
}

/// Bugs that the loom models inject to prove they can catch them. They exist only in
/// the loom build; each flag is read where the real ordering or check lives.
///
/// The flags are thread-locals of the OS thread that runs a model: loom runs every
/// thread of a model as a coroutine on that one OS thread, so the whole model sees
/// the flag, while tests that the harness runs in parallel keep their own flags.
#[cfg(loom)]
pub mod fault {
    use std::cell::Cell;
    use std::thread::LocalKey;

    /// One injected bug's switch.
    pub type Flag = LocalKey<Cell<bool>>;

    std::thread_local! {
        /// Report decrements in-flight with a separate load and store instead of one CAS.
        pub static SPLIT_RELEASE: Cell<bool> = const { Cell::new(false) };
        /// Report takes an in-flight slot without checking that there is one left.
        pub static UNCHECKED_RELEASE: Cell<bool> = const { Cell::new(false) };
        /// Report skips the incarnation check (and the check value, made with a tag
        /// per incarnation) and trusts the pick's index into the set.
        pub static SKIP_INCARNATION_CHECK: Cell<bool> = const { Cell::new(false) };
        /// The health transition is a load-then-store instead of a CAS.
        pub static SPLIT_HEALTH_TRANSITION: Cell<bool> = const { Cell::new(false) };
        /// The adaptive switch is a load-then-store instead of a CAS.
        pub static SPLIT_STRATEGY_SWITCH: Cell<bool> = const { Cell::new(false) };
        /// Expiry reads the bucket and clears it with a plain store.
        pub static SPLIT_EXPIRY: Cell<bool> = const { Cell::new(false) };
        /// Outcome and expiry counters are bumped `Relaxed` instead of `Release`, so a
        /// reader that sees the outcome may still see the pick in flight.
        pub static RELAXED_OUTCOME: Cell<bool> = const { Cell::new(false) };
        /// Each rebuilt snapshot rotates its round-robin cycle by its generation, so an
        /// equal set no longer gives an equal table.
        pub static RR_TABLE_PER_GENERATION: Cell<bool> = const { Cell::new(false) };
        /// `set_strategy` writes the configuration under the writer lock and the
        /// running strategy after releasing it (two separate critical sections).
        pub static SPLIT_SET_STRATEGY: Cell<bool> = const { Cell::new(false) };
        /// A new snapshot keeps the snapshot before's keyed table even when the
        /// set's ids changed, so the table's positions name the wrong members.
        pub static KEYED_TABLE_KEPT: Cell<bool> = const { Cell::new(false) };
    }

    const ALL: [&Flag; 10] = [
        &SPLIT_RELEASE,
        &UNCHECKED_RELEASE,
        &SKIP_INCARNATION_CHECK,
        &SPLIT_HEALTH_TRANSITION,
        &SPLIT_STRATEGY_SWITCH,
        &SPLIT_EXPIRY,
        &RELAXED_OUTCOME,
        &RR_TABLE_PER_GENERATION,
        &SPLIT_SET_STRATEGY,
        &KEYED_TABLE_KEPT,
    ];

    pub fn on(flag: &'static Flag) -> bool {
        flag.with(Cell::get)
    }

    /// Turns `flag` on until the returned guard is dropped (the guard clears it even
    /// when the model panics, as the `should_panic` tests make it do).
    pub fn inject(flag: &'static Flag) -> Injected {
        flag.with(|c| c.set(true));
        Injected(flag)
    }

    pub struct Injected(&'static Flag);

    impl Drop for Injected {
        fn drop(&mut self) {
            self.0.with(|c| c.set(false));
        }
    }

    /// Clears every flag.
    pub fn reset() {
        for f in ALL {
            f.with(|c| c.set(false));
        }
    }
}
