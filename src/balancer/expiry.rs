//! The expiry clock: the epoch picks are stamped with, and when it moves on.
//!
//! No select reads the clock, so a pick is stamped with the epoch of the last read,
//! however stale. The epoch therefore moves at most one step per clock read, only a
//! whole timeout after its previous step, and the new epoch starts from a reading
//! taken after the step is visible: a pick stamped in a stale epoch still gets a
//! full timeout. Every step brings every instance's word (in the set and in the
//! graveyard) to the new epoch under the expiry lock, so a word is never more than a
//! step or two behind. A pick therefore expires no earlier than one timeout after
//! its select, and at the first clock read at least one timeout after the epoch
//! that followed its own began. A changed timeout starts a fresh epoch period, so
//! shortening it never expires a young pick.

use super::Balancer;
use crate::sync::{lock, try_lock, AtomicU64, Mutex, Ordering};

pub(super) struct ExpiryClock {
    epoch: AtomicU64,
    /// When the current epoch may end (its start plus the timeout; `u64::MAX` while
    /// picks never expire): a clock read at or past it moves the epoch on.
    next_epoch_us: AtomicU64,
    period: Mutex<Period>,
}

/// The current epoch's period (one thread at a time, never waited for on the
/// request path).
struct Period {
    start_us: u64,
    /// The pick timeout the period was started with.
    timeout_us: u64,
}

fn period_end(start_us: u64, timeout_us: u64) -> u64 {
    match timeout_us {
        0 => u64::MAX,
        t => start_us.saturating_add(t),
    }
}

impl ExpiryClock {
    pub(super) fn new(now_us: u64, timeout_us: u64) -> ExpiryClock {
        ExpiryClock {
            epoch: AtomicU64::new(0),
            next_epoch_us: AtomicU64::new(period_end(now_us, timeout_us)),
            period: Mutex::new(Period {
                start_us: now_us,
                timeout_us,
            }),
        }
    }

    /// The epoch picks are stamped with now (its low 32 bits).
    #[inline(always)]
    pub(super) fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Acquire) as u32
    }

    /// The epoch's cell, for the strategies to read when they take a slot.
    #[inline(always)]
    pub(super) fn epoch_cell(&self) -> &AtomicU64 {
        &self.epoch
    }

    pub(super) fn full_epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether a clock read at `now_us` may move the epoch on.
    #[inline]
    pub(super) fn due(&self, now_us: u64) -> bool {
        now_us >= self.next_epoch_us.load(Ordering::Relaxed)
    }
}

impl Balancer {
    /// Applies expiry at `now_us` unless another thread is at it.
    pub(super) fn try_expire(&self, now_us: u64) {
        if let Some(mut p) = try_lock(&self.expiry.period) {
            self.expire_locked(&mut p, now_us);
        }
    }

    /// Applies expiry at `now_us`, waiting for the lock.
    pub(super) fn expire(&self, now_us: u64) {
        let mut p = lock(&self.expiry.period);
        self.expire_locked(&mut p, now_us);
    }

    /// Reads the clock and applies expiry only: what the read accessors need before
    /// they answer. Returns the time it read.
    pub(super) fn expire_now(&self) -> u64 {
        let now = self.clock.now_us();
        self.now_us.fetch_max(now, Ordering::Relaxed);
        self.expire(now);
        now
    }

    /// Moves the epoch on if a whole timeout has passed since the period began, and
    /// retires old picks everywhere.
    fn expire_locked(&self, p: &mut Period, now_us: u64) {
        let snap = self.published.load();
        let timeout = snap.cfg.pick_timeout_ms * 1000;
        let x = &self.expiry;
        if timeout != p.timeout_us {
            p.timeout_us = timeout;
            p.start_us = now_us;
        }
        if timeout == 0 {
            p.start_us = now_us;
        } else if now_us >= p.start_us.saturating_add(timeout) {
            self.keyed_load.retire_for(x.full_epoch() + 1);
            x.epoch.fetch_add(1, Ordering::AcqRel);
            // The new epoch begins no earlier than the step became visible: every
            // pick stamped with the old one was made before this reading.
            p.start_us = self.clock.now_us().max(now_us);
        }
        x.next_epoch_us
            .store(period_end(p.start_us, timeout), Ordering::Relaxed);
        let epoch = x.full_epoch();
        for m in snap.members.iter() {
            m.state.expire_to(epoch);
        }
        self.graveyard.prune(epoch);
    }
}
