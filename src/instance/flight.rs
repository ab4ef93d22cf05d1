//! The in-flight word of one instance: its picks in flight, counted per expiry epoch.
//!
//! Unreported picks must be retired without per-pick memory, so picks are counted
//! per epoch. One u64, [total: 20][epoch: 12][cur: 20][pending: 12], holds the
//! picks in flight (`total`), the low 12 bits of the epoch the word was last brought
//! to, how many of the picks in flight were taken in that epoch (`cur`; the other
//! `total - cur` were taken in the epoch before), and successes not yet added to the
//! 64-bit success counter (`pending`). Picks two or more epochs old have expired.
//! `total` sits in the top bits so that the load of a member is one shift (least
//! connections scans it); select's common case adds one constant (a pick to `total`
//! and to `cur`) in one compare-and-swap, and report's subtracts it.
//!
//! Every change is one compare-and-swap on the word, so a report racing an expiry
//! settles its pick exactly once, a report can never take a count that is not
//! there, and a successful report costs one read-modify-write (`pending` moves to the
//! counter once every 4096 successes).
//!
//! 12 bits of epoch are enough: the expiry epoch moves at most one step per clock
//! read and only once a whole timeout has passed since its last step, and every step
//! brings the word of every instance (in the set or waiting in the graveyard) to the
//! new epoch before the next step can happen. A word is therefore never more than a
//! step or two behind, far inside the 2048 steps that `rotated` can tell apart.
//!
//! `total` has a ceiling, `IN_FLIGHT_MAX` (2^20 - 1), so no field overflows.

#[cfg(loom)]
use crate::sync::fault;
use crate::sync::{AtomicU64, Ordering};

const EPOCH_MASK: u16 = (1 << 12) - 1;
const COUNT_BITS: u32 = 20;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
/// Most picks one instance can have in flight at once, whatever its capacity says
/// (capacity 0, "unlimited", means up to this).
pub const IN_FLIGHT_MAX: u32 = COUNT_MAX as u32;
const PENDING_BITS: u32 = 12;
const PENDING_MAX: u64 = (1 << PENDING_BITS) - 1;
const CUR_SHIFT: u32 = PENDING_BITS;
const EPOCH_SHIFT: u32 = CUR_SHIFT + COUNT_BITS;
const TOTAL_SHIFT: u32 = EPOCH_SHIFT + 12;
/// One pick of the word's own epoch, as added to the word.
const ONE_PICK: u64 = 1 << TOTAL_SHIFT | 1 << CUR_SHIFT;
/// The `cur` field in place.
const CUR_FIELD: u64 = COUNT_MAX << CUR_SHIFT;
/// The `epoch` field in place.
const EPOCH_FIELD: u64 = (EPOCH_MASK as u64) << EPOCH_SHIFT;

/// Why an instance refused a pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// At the capacity its caller gave it.
    Capacity,
    /// At `IN_FLIGHT_MAX`.
    Ceiling,
}

/// The most picks `capacity` allows at once (0 = no limit but the ceiling): what
/// `FlightWord::try_acquire` takes, computed once per snapshot.
pub(crate) fn pick_limit(capacity: u32) -> u64 {
    if capacity == 0 || capacity >= IN_FLIGHT_MAX {
        COUNT_MAX
    } else {
        capacity as u64
    }
}

#[inline(always)]
fn epoch_of(w: u64) -> u16 {
    (w >> EPOCH_SHIFT) as u16 & EPOCH_MASK
}

#[inline(always)]
fn total_of(w: u64) -> u64 {
    w >> TOTAL_SHIFT
}

#[inline(always)]
fn cur_of(w: u64) -> u64 {
    (w >> CUR_SHIFT) & COUNT_MAX
}

/// Whether the word is at epoch `e` (low bits already masked).
#[inline(always)]
fn at_epoch(w: u64, e: u16) -> bool {
    (w ^ (e as u64) << EPOCH_SHIFT) & EPOCH_FIELD == 0
}

/// The fields of a word.
#[derive(Clone, Copy)]
struct Flight {
    epoch: u16,
    cur: u64,
    prev: u64,
    pending: u64,
}

impl Flight {
    #[inline]
    fn unpack(w: u64) -> Flight {
        let cur = cur_of(w);
        Flight {
            epoch: epoch_of(w),
            cur,
            prev: total_of(w).wrapping_sub(cur),
            pending: w & PENDING_MAX,
        }
    }

    #[inline]
    fn pack(self) -> u64 {
        (self.cur + self.prev) << TOTAL_SHIFT
            | ((self.epoch & EPOCH_MASK) as u64) << EPOCH_SHIFT
            | self.cur << CUR_SHIFT
            | self.pending
    }

    /// This word brought to epoch `e` (low bits): (the word, newly expired picks). A
    /// word already at a later epoch (another thread saw the clock first) is kept.
    #[inline]
    fn rotated(self, e: u16) -> (Flight, u64) {
        let behind = e.wrapping_sub(self.epoch) & EPOCH_MASK;
        if behind == 0 || behind > EPOCH_MASK / 2 {
            (self, 0)
        } else if behind == 1 {
            let next = Flight {
                epoch: e,
                cur: 0,
                prev: self.cur,
                ..self
            };
            (next, self.prev)
        } else {
            let next = Flight {
                epoch: e,
                cur: 0,
                prev: 0,
                ..self
            };
            (next, self.cur.wrapping_add(self.prev))
        }
    }
}

/// An instance's in-flight word. The methods return what the caller must add to
/// the 64-bit counters (expired picks, successes moved out of `pending`).
pub(crate) struct FlightWord(AtomicU64);

impl FlightWord {
    pub(crate) fn new(epoch: u64) -> FlightWord {
        FlightWord(AtomicU64::new(
            Flight {
                epoch: epoch as u16 & EPOCH_MASK,
                cur: 0,
                prev: 0,
                pending: 0,
            }
            .pack(),
        ))
    }

    /// Takes one slot in `epoch` unless `limit` (see `pick_limit`) picks are in
    /// flight. Returns (the epoch the pick belongs to, picks that expired on the way).
    #[inline(always)]
    pub(crate) fn try_acquire(&self, epoch: u32, limit: u64) -> Result<(u32, u64), Full> {
        match self.try_acquire_fast(epoch, limit) {
            Some(e) => Ok((e, 0)),
            None => self.acquire_slow(epoch, limit),
        }
    }

    /// `try_acquire`'s common case alone: one compare-and-swap, or `None` with
    /// nothing changed (the word is at another epoch, at the limit, or raced).
    #[inline(always)]
    pub(crate) fn try_acquire_fast(&self, epoch: u32, limit: u64) -> Option<u32> {
        self.try_acquire_fast_from(self.0.load(Ordering::Relaxed), epoch, limit)
    }

    /// The word as it is now (its top bits are the picks in flight): for a caller
    /// that compares members first and then takes a slot with
    /// `try_acquire_fast_from`, without loading the word twice.
    #[inline(always)]
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// `try_acquire_fast` with the word the caller loaded (`load`): fails if it
    /// has changed since.
    #[inline(always)]
    pub(crate) fn try_acquire_fast_from(&self, w: u64, epoch: u32, limit: u64) -> Option<u32> {
        let e = epoch as u16 & EPOCH_MASK;
        (at_epoch(w, e)
            && total_of(w) < limit
            && self
                .0
                .compare_exchange(
                    w,
                    w.wrapping_add(ONE_PICK),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok())
        .then_some(epoch)
    }

    #[cold]
    fn acquire_slow(&self, epoch: u32, limit: u64) -> Result<(u32, u64), Full> {
        let e = epoch as u16 & EPOCH_MASK;
        let mut w = self.0.load(Ordering::Relaxed);
        loop {
            let (mut f, expired) = Flight::unpack(w).rotated(e);
            if f.cur + f.prev >= limit {
                return Err(if limit >= COUNT_MAX {
                    Full::Ceiling
                } else {
                    Full::Capacity
                });
            }
            f.cur += 1;
            match self
                .0
                .compare_exchange_weak(w, f.pack(), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    let ahead = f.epoch.wrapping_sub(e) & EPOCH_MASK;
                    return Ok((epoch.wrapping_add(ahead as u32), expired));
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Gives back the slot of a pick taken in `epoch`, counting a success in the same
    /// step when `success`. `None` when there is no such slot (the pick expired, was
    /// already reported, or never existed); else the successes moved to the counter.
    #[inline(always)]
    pub(crate) fn release(&self, epoch: u32, success: bool) -> Option<u64> {
        let p = epoch as u16 & EPOCH_MASK;
        let w = self.0.load(Ordering::Relaxed);
        #[cfg(loom)]
        if fault::on(&fault::UNCHECKED_RELEASE) && at_epoch(w, p) {
            self.0.fetch_sub(ONE_PICK, Ordering::AcqRel);
            return Some(success as u64);
        }
        // The common case: a pick of the word's own epoch, `pending` not full.
        if at_epoch(w, p) && w & CUR_FIELD != 0 && w & PENDING_MAX != PENDING_MAX {
            let new = w - ONE_PICK + success as u64;
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_RELEASE) {
                self.0.store(new, Ordering::Release);
                return Some(0);
            }
            if self
                .0
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some(0);
            }
        }
        self.release_slow(p, success)
    }

    /// `release` of a success in its common case only: one compare-and-swap, or
    /// false with nothing changed (the caller then takes the full `release`).
    #[inline(always)]
    pub(crate) fn release_success_fast(&self, epoch: u32) -> bool {
        let p = epoch as u16 & EPOCH_MASK;
        let w = self.0.load(Ordering::Relaxed);
        #[cfg(loom)]
        if fault::on(&fault::UNCHECKED_RELEASE) || fault::on(&fault::SPLIT_RELEASE) {
            return false;
        }
        // A full `pending` would carry into `cur` and leave 0 behind: that case
        // (once every 4096 successes) is left to the full `release`.
        let new = w.wrapping_sub(ONE_PICK).wrapping_add(1);
        at_epoch(w, p)
            && w & CUR_FIELD != 0
            && new & PENDING_MAX != 0
            && self
                .0
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    #[cold]
    fn release_slow(&self, p: u16, success: bool) -> Option<u64> {
        let mut w = self.0.load(Ordering::Relaxed);
        loop {
            let mut f = Flight::unpack(w);
            if f.epoch == p {
                if f.cur == 0 {
                    return None;
                }
                f.cur -= 1;
            } else if f.epoch == (p + 1) & EPOCH_MASK {
                if f.prev == 0 {
                    return None;
                }
                f.prev -= 1;
            } else {
                return None;
            }
            // A success goes to `pending`; a full `pending` moves to the counter.
            let mut moved = 0;
            if success {
                if f.pending < PENDING_MAX {
                    f.pending += 1;
                } else {
                    moved = f.pending + 1;
                    f.pending = 0;
                }
            }
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_RELEASE) {
                self.0.store(f.pack(), Ordering::Release);
                return Some(moved);
            }
            match self
                .0
                .compare_exchange_weak(w, f.pack(), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(moved),
                Err(actual) => w = actual,
            }
        }
    }

    /// Brings the word to `epoch`, retiring the picks two or more epochs older;
    /// returns how many it retired.
    pub(crate) fn expire_to(&self, epoch: u64) -> u64 {
        let e = epoch as u16 & EPOCH_MASK;
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            let old = Flight::unpack(w);
            let (f, expired) = old.rotated(e);
            if f.epoch == old.epoch {
                return 0;
            }
            #[cfg(loom)]
            if fault::on(&fault::SPLIT_EXPIRY) {
                self.0.store(f.pack(), Ordering::Release);
                return expired;
            }
            match self
                .0
                .compare_exchange(w, f.pack(), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return expired,
                Err(actual) => w = actual,
            }
        }
    }

    /// Picks in flight (as of the last rotation; `expire_to` first for an exact view).
    #[inline(always)]
    pub(crate) fn in_flight(&self) -> u64 {
        total_of(self.0.load(Ordering::Acquire))
    }

    /// The picks in flight that a word loaded with `load` says (the count is the
    /// top bits, so `in_flight_of(a ^ b) != 0` says whether two words' counts
    /// differ).
    #[inline(always)]
    pub(crate) fn in_flight_of(w: u64) -> u64 {
        total_of(w)
    }

    /// (picks in flight, successes still pending), read together.
    pub(crate) fn in_flight_and_pending(&self) -> (u64, u64) {
        let w = self.0.load(Ordering::Acquire);
        (total_of(w), w & PENDING_MAX)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_common_case_and_the_general_one_agree() {
        // A pick of the word's epoch (fast path) and of the previous one (slow path).
        let f = FlightWord::new(0);
        let (e0, _) = f.try_acquire(0, COUNT_MAX).unwrap();
        f.expire_to(1);
        let (e1, _) = f.try_acquire(1, COUNT_MAX).unwrap();
        assert_eq!(f.in_flight(), 2);
        assert_eq!(f.release(e0, true), Some(0), "previous epoch's pick");
        assert_eq!(f.release(e1, true), Some(0), "own epoch's pick");
        assert_eq!(f.release(e1, true), None, "no slot left");
        assert_eq!(f.in_flight_and_pending(), (0, 2));
    }

    #[test]
    fn limits_say_why() {
        let f = FlightWord::new(0);
        assert!(f.try_acquire(0, 1).is_ok());
        assert_eq!(f.try_acquire(0, 1), Err(Full::Capacity));
        assert_eq!(pick_limit(0), COUNT_MAX);
        assert_eq!(pick_limit(u32::MAX), COUNT_MAX);
        assert_eq!(pick_limit(7), 7);
        let g = FlightWord::new(0);
        for _ in 0..COUNT_MAX {
            g.try_acquire(0, COUNT_MAX).unwrap();
        }
        assert_eq!(g.try_acquire(0, COUNT_MAX), Err(Full::Ceiling));
        assert_eq!(g.in_flight(), COUNT_MAX);
    }

    #[test]
    fn pending_successes_move_out_when_full() {
        let f = FlightWord::new(0);
        let mut moved = 0;
        for _ in 0..2 * (PENDING_MAX + 1) + 3 {
            let (e, _) = f.try_acquire(0, COUNT_MAX).unwrap();
            moved += f.release(e, true).unwrap();
        }
        let (_, pending) = f.in_flight_and_pending();
        assert_eq!(moved + pending, 2 * (PENDING_MAX + 1) + 3);
    }
}
