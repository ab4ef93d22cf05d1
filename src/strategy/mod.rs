//! Selection strategies. Each answers one question, which member gets this request,
//! behind the small [`Choose`] trait, and builds its own per-snapshot table (round
//! robin's cycle, least connections' scan array, weighted response time's alias
//! table, least request's and Peak EWMA's draw table); the balancer owns
//! everything else (health, expiry, accounting).
//!
//! Adding a strategy: its own file implementing `Choose`, one line in the
//! `registry!` below, and its public constant (`Strategy` variant, `LB_STRATEGY_*`,
//! the C++ and Go names, the simulator's name). Nothing else names strategies.

pub(crate) mod adaptive;
mod alias;
mod choices;
pub(crate) mod dispatch;
mod hash_ring;
pub(crate) mod keyed;
pub(crate) mod least_connections;
pub(crate) mod least_request;
mod maglev_table;
pub(crate) mod peak_ewma;
pub(crate) mod round_robin;
mod rr_cycle;
mod tail_model;
pub(crate) mod weighted_response_time;

use std::cell::Cell;
use std::marker::PhantomData;

use crate::config::Config;
use crate::instance::Full;
use crate::member::Member;
use crate::sync::{AtomicF64, AtomicU64, Ordering};
use crate::types::{Pick, Strategy};

/// One thread's choice state for one balancer: the round-robin cursor and the
/// random generator. Kept per thread, so no two threads write the same line.
pub(crate) struct Picker {
    /// Round-robin position (kept below the cycle's length).
    pub cursor: u64,
    rng: fastrand::Rng,
    /// The generator's next output, drawn one call ahead: a draw is then one load,
    /// and the multiply that makes the following one runs beside the pick instead
    /// of at the head of its chain of dependent loads. The sequence is the
    /// generator's own.
    next: u64,
}

impl Picker {
    pub(crate) fn new(seed: u64, ordinal: u64) -> Picker {
        let mixed = seed ^ ordinal.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = fastrand::Rng::with_seed(mixed);
        Picker {
            // Threads start at different places in the cycle so they do not move in step.
            cursor: (ordinal as u32).wrapping_mul(0x9E37_79B9) as u64,
            next: rng.u64(..),
            rng,
        }
    }

    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        std::mem::replace(&mut self.next, self.rng.u64(..))
    }

    /// Two draws, as two calls of `next_u64` give them, with the look-ahead
    /// loaded and stored once.
    #[inline(always)]
    pub(crate) fn next_two(&mut self) -> (u64, u64) {
        let second = self.rng.u64(..);
        (std::mem::replace(&mut self.next, self.rng.u64(..)), second)
    }

    /// Uniform in 0..n (n > 0), by multiply-shift.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in [0, 1).
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// What a strategy sees of the set when it builds or refreshes its table.
pub(crate) struct SetView<'a> {
    pub members: &'a [Member],
    /// Indices into `members` that may be picked.
    pub selectable: &'a [u32],
    /// The snapshot's generation (only an injected bug of the loom models uses it).
    #[cfg_attr(not(loom), allow(dead_code))]
    pub generation: u64,
    /// The configuration in force (the strategies' own options).
    pub cfg: &'a Config,
}

/// What a strategy sees while it chooses.
pub(crate) struct PickCtx<'a> {
    pub members: &'a [Member],
    pub selectable: &'a [u32],
    pub picker: &'a mut Picker,
    /// The expiry epoch picks are taken in, read when a slot is taken (`epoch`).
    pub epoch: &'a AtomicU64,
    /// Ids to avoid (retries); empty for a plain select.
    pub exclude: &'a [u64],
    /// Median latency average of the set (us), for members without samples yet;
    /// read only by the strategies that need it.
    pub median_us: &'a AtomicF64,
    /// Set when a member was passed over because it is at the in-flight ceiling, so
    /// a select that finds nothing can say why.
    pub at_ceiling: Cell<bool>,
    /// A first attempt: take a slot only in the in-flight word's common case (one
    /// compare-and-swap), and leave anything else to the full select.
    pub fast_only: bool,
}

/// A first attempt's pick (see `PickCtx::take_from`), of a member of the set the
/// context borrows.
#[derive(Clone, Copy)]
pub(crate) struct Chosen<'a> {
    pub pick: Pick,
    _set: PhantomData<&'a Member>,
}

impl<'a> PickCtx<'a> {
    /// A context over `members` (with `selectable` the ones that may be picked).
    /// `fast_only`: a first attempt (see the field).
    #[inline(always)]
    pub fn new(
        members: &'a [Member],
        selectable: &'a [u32],
        picker: &'a mut Picker,
        epoch: &'a AtomicU64,
        median_us: &'a AtomicF64,
        exclude: &'a [u64],
        fast_only: bool,
    ) -> PickCtx<'a> {
        PickCtx {
            members,
            selectable,
            picker,
            epoch,
            exclude,
            median_us,
            at_ceiling: Cell::new(false),
            fast_only,
        }
    }

    /// The expiry epoch now (its low 32 bits).
    #[inline(always)]
    pub fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Acquire) as u32
    }

    /// The set's median latency average (us).
    #[inline(always)]
    pub fn median_us(&self) -> f64 {
        self.median_us.load(Ordering::Relaxed)
    }

    /// Whether member `idx` may be chosen at all (not excluded).
    #[inline(always)]
    pub fn allowed(&self, idx: usize) -> bool {
        self.exclude.is_empty()
            || self
                .members
                .get(idx)
                .is_some_and(|m| !self.exclude.contains(&m.id))
    }

    /// Takes an in-flight slot on member `idx` if it is allowed and below its limit.
    /// Returns the pick's epoch.
    #[inline(always)]
    pub fn acquire(&self, idx: usize) -> Option<u32> {
        if !self.allowed(idx) {
            return None;
        }
        let m = self.members.get(idx)?;
        if self.fast_only {
            return m.state.try_acquire_fast(self.epoch(), m.limit as u64);
        }
        match m.state.try_acquire(self.epoch(), m.limit as u64) {
            Ok(epoch) => Some(epoch),
            Err(Full::Capacity) => None,
            Err(Full::Ceiling) => {
                self.at_ceiling.set(true);
                None
            }
        }
    }

    /// `acquire_member` of a member known to be in the set, for a first attempt
    /// (`fast_only`) whose index comes from its own snapshot's table.
    ///
    /// # Safety
    /// `idx < self.members.len()`.
    #[inline(always)]
    pub unsafe fn acquire_member_unchecked(&self, idx: usize) -> Option<Chosen<'a>> {
        if !self.fast_only || !self.allowed(idx) {
            return self.acquire_member(idx);
        }
        // SAFETY: the caller's promise.
        let member = unsafe { self.members.get_unchecked(idx) };
        self.take_from(idx, member, member.state.flight_word())
    }

    /// `acquire` of member `idx` as a first attempt's result: its pick.
    #[inline(always)]
    pub fn acquire_member(&self, idx: usize) -> Option<Chosen<'a>> {
        if self.fast_only && self.allowed(idx) {
            let member = self.members.get(idx)?;
            return self.take_from(idx, member, member.state.flight_word());
        }
        let epoch = self.acquire(idx)?;
        let pick = self.members.get(idx)?.pick(idx, epoch);
        Some(Chosen {
            pick,
            _set: PhantomData,
        })
    }

    /// A first attempt's slot on `member` (index `idx`) from the in-flight word `w`
    /// it loaded (`try_acquire_fast_from`). The pick is built before the
    /// compare-and-swap: after it (an acquire) the member's fields would have to
    /// be read again.
    #[inline(always)]
    pub fn take_from(&self, idx: usize, member: &'a Member, w: u64) -> Option<Chosen<'a>> {
        let epoch = self.epoch();
        let pick = member.pick(idx, epoch);
        member
            .state
            .try_acquire_fast_from(w, epoch, member.limit as u64)?;
        Some(Chosen {
            pick,
            _set: PhantomData,
        })
    }

    /// Every selectable member once, from this thread's cursor, until one takes
    /// the pick: the fallback of strategies whose draws can miss.
    pub fn lap(&mut self) -> Option<(usize, u32)> {
        let n = self.selectable.len();
        let start = self.picker.cursor as usize % n.max(1);
        let found = (0..n).find_map(|k| {
            let idx = self.selectable[(start + k) % n] as usize;
            self.acquire(idx).map(|e| (k, idx, e))
        });
        self.picker.cursor = found.map_or(start, |(k, _, _)| start + k + 1) as u64;
        found.map(|(_, idx, e)| (idx, e))
    }
}

/// A strategy in the registry: where its table is in a snapshot's `Tables`.
pub(crate) trait Registered: Choose {
    fn table_in(tables: &Tables) -> &Self::Table;
}

/// Code to compile once per strategy (see `Tables::visit`).
pub(crate) trait Visit {
    type Out;
    fn visit<S: Registered>(self) -> Self::Out;
    /// For a value that names no registered strategy.
    fn other(self) -> Self::Out;
}

/// Reusable buffers for the maintenance pass, so it allocates only when the set grows.
#[derive(Default)]
pub(crate) struct Scratch {
    pub floats: Vec<f64>,
    pub probs: Vec<f64>,
    pub small: Vec<u32>,
    pub large: Vec<u32>,
}

/// A selection algorithm: its per-snapshot table, and a choice that takes the
/// chosen member's slot or says that none is available. Implementations never loop
/// without bound.
pub(crate) trait Choose {
    type Table: Send + Sync;

    /// The table for a new snapshot of the set.
    fn build(set: &SetView<'_>) -> Self::Table;

    /// Returns (member index, pick epoch) with the slot already taken.
    fn choose(table: &Self::Table, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)>;

    /// The request path's first attempt, for a select with nothing excluded: the
    /// common case only, small enough to inline, and with no panic site (only
    /// `get`, wrapping arithmetic and atomics: the C ABI runs it outside its panic
    /// guard, and `tests/fast-path.py` checks the compiled code). `None` sends the
    /// select to the full `choose` (which may try the same members again); a
    /// strategy without a first attempt always does.
    #[inline(always)]
    fn first<'a>(_table: &Self::Table, _ctx: &mut PickCtx<'a>) -> Option<Chosen<'a>> {
        None
    }

    /// Brings the table up to date with the members' live statistics (the
    /// maintenance pass calls it, and the balancer before it publishes).
    fn refresh(_table: &Self::Table, _set: &SetView<'_>, _median_us: f64, _s: &mut Scratch) {}

    /// The share of traffic member `idx` would get (in any unit, the same for every
    /// member), as adaptive's model predicts it.
    fn predicted_share(set: &SetView<'_>, idx: usize, outlook: &Outlook) -> f64;
}

/// What adaptive's model knows of the set besides the members: their median
/// latency average and how loaded they are.
pub(crate) struct Outlook {
    /// The set's median latency average (us), for members without samples yet.
    pub median_us: f64,
    /// Mean picks in flight per selectable member over the last window. Below
    /// about 1 most picks find idle members, and load-aware strategies choose among
    /// ties; well above it they follow the members' speeds.
    pub load: f64,
}

impl Outlook {
    /// How far load-aware strategies follow the members' speeds rather than
    /// their weights alone: 0 when idle, towards 1 as queues form.
    pub fn queueing(&self) -> f64 {
        self.load / (1.0 + self.load)
    }

    /// The predicted share of `m` under a strategy that sees load but not latency
    /// (least connections, least request): idle, ties leave shares to the weights;
    /// as queues form, equal picks in flight per weight give weight / latency
    /// (Little's law); in between, a blend by `queueing`.
    pub fn load_aware_share(&self, m: &Member) -> f64 {
        let latency = crate::load::latency_estimate(&m.state, self.median_us);
        let speed = self.median_us.max(1.0) / latency;
        let q = self.queueing();
        m.weight as f64 * ((1.0 - q) + q * speed)
    }
}

macro_rules! registry {
    ($($variant:ident => $field:ident: $ty:ty),+ $(,)?) => {
        /// Every concrete strategy's table for one snapshot (adaptive switches
        /// between them without a rebuild).
        pub(crate) struct Tables {
            $($field: <$ty as Choose>::Table,)+
        }

        /// The strategies adaptive chooses among, in registry order.
        pub(crate) const CONCRETE: &[Strategy] = &[$(Strategy::$variant),+];

        impl Tables {
            pub(crate) fn build(set: &SetView<'_>) -> Tables {
                Tables { $($field: <$ty>::build(set),)+ }
            }

            pub(crate) fn refresh(&self, set: &SetView<'_>, median_us: f64, s: &mut Scratch) {
                $(<$ty>::refresh(&self.$field, set, median_us, s);)+
            }

            /// Runs the concrete strategy stored as `s` (`Strategy as u8`); `None`
            /// for any other value (adaptive itself is never the running one).
            pub(crate) fn choose(&self, s: u8, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
                $(if s == Strategy::$variant as u8 {
                    return <$ty>::choose(&self.$field, ctx);
                })+
                None
            }

            /// Calls `visitor` with the strategy stored as `s` (`Strategy as u8`)
            /// as a type, so the caller's code is compiled once per strategy;
            /// `Visit::other` for any other value.
            #[inline(always)]
            pub(crate) fn visit<V: Visit>(s: u8, visitor: V) -> V::Out {
                $(if s == Strategy::$variant as u8 {
                    return visitor.visit::<$ty>();
                })+
                visitor.other()
            }
        }

        $(impl Registered for $ty {
            #[inline(always)]
            fn table_in(tables: &Tables) -> &<$ty as Choose>::Table {
                &tables.$field
            }
        })+

        /// Adaptive's predicted share of member `idx` under concrete strategy `s`.
        pub(crate) fn predicted_share(s: Strategy, set: &SetView<'_>, idx: usize, outlook: &Outlook) -> f64 {
            match s {
                $(Strategy::$variant => <$ty>::predicted_share(set, idx, outlook),)+
                _ => set.members[idx].weight as f64,
            }
        }
    };
}

/// The registry: every concrete strategy, as `Variant => table field: type`. It
/// calls `$m!` with the list, so code that must name each strategy (the tables
/// here, the C ABI's dispatch table) is generated from this one place.
macro_rules! strategies {
    ($m:ident) => {
        $m! {
            RoundRobin => round_robin: $crate::strategy::round_robin::RoundRobin,
            LeastConnections => least_connections:
                $crate::strategy::least_connections::LeastConnections,
            WeightedResponseTime => weighted_response_time:
                $crate::strategy::weighted_response_time::WeightedResponseTime,
            LeastRequest => least_request: $crate::strategy::least_request::LeastRequest,
            PeakEwma => peak_ewma: $crate::strategy::peak_ewma::PeakEwma,
        }
    };
}
pub(crate) use strategies;

strategies!(registry);

/// The position of concrete strategy `s` in `CONCRETE`.
pub(crate) fn slot(s: Strategy) -> Option<usize> {
    CONCRETE.iter().position(|&c| c == s)
}

#[cfg(test)]
mod picker_tests {
    use super::Picker;

    /// Drawing one call ahead changes nothing a seed promises: the picker yields
    /// its generator's own sequence, from the first output on.
    #[test]
    fn the_picker_yields_its_generators_sequence() {
        let (seed, ordinal) = (42, 3);
        let mut picker = Picker::new(seed, ordinal);
        let mut rng = fastrand::Rng::with_seed(seed ^ ordinal.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for _ in 0..100 {
            assert_eq!(picker.next_u64(), rng.u64(..));
            let (a, b) = picker.next_two();
            assert_eq!((a, b), (rng.u64(..), rng.u64(..)));
        }
    }
}
