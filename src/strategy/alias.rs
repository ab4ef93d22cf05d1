//! Vose's alias table, weighted response time's O(1) weighted draw.

use super::Scratch;
use crate::sync::{AtomicU64, Ordering};

/// Vose's alias method: an O(1) weighted random pick. Each entry packs the threshold
/// (high 32 bits) and the alias (low 32 bits) in one atomic word, so the maintenance
/// pass can rewrite the weights in place while readers pick: a reader may mix old and
/// new entries for a moment, which only skews one pick slightly and is always a valid
/// index.
pub(crate) struct AliasTable {
    entries: Box<[AtomicU64]>,
}

impl AliasTable {
    pub(crate) fn new(n: usize) -> AliasTable {
        AliasTable {
            entries: (0..n)
                .map(|i| AtomicU64::new((u32::MAX as u64) << 32 | i as u64))
                .collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A position in `0..len()` drawn with the table's weights; `len()` must be > 0.
    #[inline]
    pub(crate) fn pick(&self, r: u64) -> usize {
        let n = self.entries.len() as u64;
        let pos = ((r & 0xffff_ffff).wrapping_mul(n) >> 32) as usize;
        debug_assert!(pos < self.entries.len());
        // SAFETY: pos = floor(r32 * n / 2^32) with r32 < 2^32, so pos < n, the
        // length (the caller checked n > 0; a set never has 2^32 members).
        let e = unsafe { self.entries.get_unchecked(pos) }.load(Ordering::Relaxed);
        if ((r >> 32) as u32) < (e >> 32) as u32 {
            pos
        } else {
            (e & 0xffff_ffff) as usize
        }
    }

    /// Rewrites the table for `weights` (one per position; non-finite or negative
    /// count as 0; all zero means uniform).
    pub(crate) fn rebuild(&self, weights: &[f64], scratch: &mut Scratch) {
        let n = self.entries.len();
        debug_assert_eq!(weights.len(), n);
        if n == 0 {
            return;
        }
        let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let sum: f64 = weights.iter().map(|&w| clean(w)).sum();
        scratch.probs.clear();
        if sum <= 0.0 || !sum.is_finite() {
            scratch.probs.resize(n, 1.0);
        } else {
            scratch
                .probs
                .extend(weights.iter().map(|&w| clean(w) * n as f64 / sum));
        }
        scratch.small.clear();
        scratch.large.clear();
        for (i, &p) in scratch.probs.iter().enumerate() {
            if p < 1.0 {
                scratch.small.push(i as u32);
            } else {
                scratch.large.push(i as u32);
            }
        }
        while let (Some(&s), Some(&l)) = (scratch.small.last(), scratch.large.last()) {
            scratch.small.pop();
            scratch.large.pop();
            let ps = scratch.probs[s as usize];
            let threshold = (ps * 4_294_967_296.0).min(u32::MAX as f64) as u64;
            self.entries[s as usize].store(threshold << 32 | l as u64, Ordering::Relaxed);
            let pl = scratch.probs[l as usize] + ps - 1.0;
            scratch.probs[l as usize] = pl;
            if pl < 1.0 {
                scratch.small.push(l);
            } else {
                scratch.large.push(l);
            }
        }
        for &i in scratch.small.iter().chain(scratch.large.iter()) {
            self.entries[i as usize].store((u32::MAX as u64) << 32 | i as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn alias_table_follows_weights() {
        let table = AliasTable::new(4);
        let mut scratch = Scratch::default();
        table.rebuild(&[1.0, 2.0, 3.0, 4.0], &mut scratch);
        let mut counts = [0u64; 4];
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            counts[table.pick(x)] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let want = 400_000.0 * (i as f64 + 1.0) / 10.0;
            assert!((c as f64 - want).abs() / want < 0.02, "{counts:?}");
        }
    }
}
