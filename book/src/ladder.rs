//! One side of the book: a dense ladder around the touch, an overflow map, and a top-of-book
//! cache (DESIGN.md section 4, STYLE.md section 2).
//!
//! # Outward coordinates
//! Both sides are stored in *outward* coordinates `o`, where a smaller `o` is closer to the
//! touch: `o = tick` for asks and `o = -tick` for bids. One implementation then serves both
//! sides, the best level is always the minimum, and every walk goes up in `o` (so the bitmap
//! scans use `trailing_zeros` on both sides).
//!
//! # Layout
//! - **Ladder**: `qty[i]` is the quantity at `o = base + i` for `i < width` (a power of two,
//!   32 768 by default), zero when absent. `bits` holds one occupancy bit per slot and `summary`
//!   one bit per `bits` word that may be non-zero, so the next level after any slot is found in a
//!   few word scans however sparse the side is. The hot path only *sets* summary bits (a word
//!   that empties leaves a stale bit, which a scan skips); re-centring and clearing recompute it.
//! - **Overflow**: every level at or beyond `base + width` ([`Overflow`]: quantities in a hash
//!   map, keys in an ordered set). Binance's `@depth@0ms` stream keeps updating far levels: on
//!   the 2024-08-08 BTCUSDT capture 4 % of the level updates land 32 768 or more ticks from the
//!   touch (two thirds of them on three lowball bids at 1 000, 5 000 and 33 000 USD; the
//!   farthest ask is 5.5 million ticks out). A far update is never dropped; most cost one hash
//!   probe.
//! - **Top cache**: the first [`TOP_LEVELS`] levels as sorted keys and their quantities (two
//!   arrays), kept in step by every update at or inside the cached 20th level (about one real
//!   update in ten). The touch, level `k < 20`, cumulative sums, `top_levels` and the head of
//!   every walk read it directly, so a top-20 walk of both sides is a walk over two short arrays
//!   rather than 40 bitmap steps. Beside the arrays the cache keeps exact integer sums over its
//!   levels ([`TopSums`]: `Σq`, `Σk`, `Σk·q`, `Σk²`), one add or remove per level that enters,
//!   leaves or changes it, which the features' slope reads instead of walking the levels; debug
//!   builds recount them after every change.

//! # Invariants (checked against a `BTreeMap` model by the property tests)
//! 1. No level lies below `base`.
//! 2. Overflow keys are all `>= base + width`.
//! 3. If the side holds any level, the best one is in the ladder.
//! 4. The cache holds exactly the first `min(TOP_LEVELS, len)` levels, in order; `limit` is the
//!    last cached key when the cache is full and `i64::MAX` otherwise, so an update with
//!    `o > limit` cannot touch the cache.
//!
//! # Re-centring
//! An update that improves on the touch by more than the ladder's near margin (`o < base`,
//! `width / 16` slots) shifts the window inward: levels that fall off the far end move to the
//! overflow. When the best level drifts more than `width / 4` slots outward (the touch walked
//! away, or the ladder emptied), the window shifts outward and overflow levels that come into
//! range move into the ladder. Both moves touch only occupied slots and are counted.
//!
//! # Measured choices
//! Reproduce with `cargo bench -p orderflow-benches --features hftbacktest --bench book` (the
//! `book/update_touch*` groups); instruction counts with cachegrind on a loop over the real
//! stream. Times below are from a shared 2-core VM under load, before and after in one session.
//! - The ladder write is branch-free: bitmap and summary are updated with masks. Branching on
//!   "level appeared / disappeared" mispredicted behind the `qty[i]` load (an L1 miss on most
//!   real updates): 22 ns per real update before, 13 ns after. Beyond the cached top the old
//!   quantity is not read at all (113 to 106 instructions per update; time unchanged).
//! - The summary bit is set without a branch too: `if was == 0 && q != 0` compiled to a test of
//!   `q != 0` first, which goes one way for every delete (a quarter of the updates, in no
//!   pattern). Real stream, three alternating runs: 8.51 / 8.90 / 8.50 ns per update before,
//!   8.03 / 7.78 / 7.72 after; synthetic 7.24 / 7.48 to 5.11 / 5.16 ns. A snapshot load, which
//!   only inserts, got dearer (8.8 / 9.4 to 10.0 / 10.3 us for 2 x 1000 levels). Then the
//!   bit is set for every level set, not only when its word was empty (the same bits, without
//!   waiting for the word's old value): 7.82 / 7.56 / 7.68 to 7.43 / 7.58 / 7.51 ns.
//! - The summary is set-only on the hot path and no level count is kept (emptiness comes from the
//!   top cache; `len` is a popcount): 130 to 109 instructions per real update with the harness.
//! - The top-cache position is 20 independent compares summed, not a binary search: five
//!   dependent loads cost about 35 cycles on every top-touching update (one real update in ten,
//!   half of them plain quantity changes); the sampled share of `update_top` fell from 14 % to 10 %.
//! - Keys and quantities of the cache sit in separate arrays: with `(o, qty)` pairs a vectorised
//!   quantity sum needed strided loads and shuffles (about 15 ns for the 2 x 20 walk, now 5 ns).
//! - The walk past the cache runs out of line and takes its state by value, so a caller's loop
//!   over the cached head keeps the slice iterator in registers (a `&mut` into the iterator made
//!   every step a store and reload: 155 ns for a 2 x 20 `levels()` walk, now about 18 ns).
//! - Insertions into and removals from the top cache shift a fixed 19 slots (the arrays have
//!   room beyond the 20th), not just the occupied ones: a `memmove` of constant length instead
//!   of a varying one, whose size-class branches mispredicted (a simulated 0.28 mispredictions
//!   a call, `cachegrind --branch-sim=yes`). Real stream, three alternating runs: 9.19 / 8.90 /
//!   8.96 ns per update before, 8.75 / 8.77 / 8.80 after.
//! - A 65 536- or 131 072-tick ladder was no faster on the real stream than 32 768 (the far
//!   updates it would absorb are a few hot keys the map serves from cache), so the default keeps
//!   256 KiB per side.
//! - Keeping deleted far levels in the overflow as zero-quantity tombstones (a re-added price
//!   overwrites in place; every reader skips zeros) measured 10.1 against 10.5 ns per real
//!   update in an A/B run, within the noise, and raised the allocations after warm-up on the
//!   BTCUSDT replay (`tests/tests/pipeline_alloc.rs`) from 173 to 210: they come from prices
//!   never seen before, not from delete/re-add churn. Not kept.
//! - The overflow was a `BTreeMap`; every far update searched the tree, and far updates (4 %)
//!   took about 18 % of the samples of a real-stream update. A hash map for the quantities,
//!   with the ordered key set touched only when a far level appears or disappears, took that
//!   share to about 12 %: median of six alternating runs 13.1 -> 12.0 ns per real update,
//!   best 11.4 -> 10.3 ns.

use std::fmt;

use orderflow_core::TopSums;

use crate::overflow::{Overflow, OverflowRange};

/// Number of levels per side kept in the top-of-book cache.
pub const TOP_LEVELS: usize = 20;

/// The key of an unused top-cache slot: sorts after every key.
const NO_KEY: i64 = i64::MAX;

/// Slots moved by one insertion into or removal from the top cache, whatever its position.
const SHIFT: usize = TOP_LEVELS - 1;

/// Slots of the top-cache arrays: [`TOP_LEVELS`] and room beyond them, so that a shift always
/// moves [`SHIFT`] slots from any position up to `TOP_LEVELS - 1` (see [`shift_up`]). Slots at
/// `TOP_LEVELS` and beyond always hold the padding value ([`NO_KEY`], or zero quantities).
const TOP_SLOTS: usize = 2 * TOP_LEVELS;
const _: () = assert!(TOP_LEVELS + SHIFT < TOP_SLOTS);

/// Moves slots `p..p + SHIFT` one up (room for an insertion at `p < TOP_LEVELS`); the slot
/// pushed to `TOP_LEVELS` is reset to `pad`.
///
/// The length is fixed, so the `memmove` this becomes takes the same path through its size
/// classes on every call; a copy of only the `len - p` occupied slots varied its length, and
/// mispredicted inside `memmove`, from one update to the next.
#[inline(always)]
fn shift_up(slots: &mut [i64; TOP_SLOTS], p: usize, pad: i64) {
    let moved: Option<[i64; SHIFT]> = slots.get(p..p + SHIFT).and_then(|s| s.try_into().ok());
    if let (Some(moved), Some(dst)) = (moved, slots.get_mut(p + 1..p + 1 + SHIFT)) {
        dst.copy_from_slice(&moved);
    }
    slots[TOP_LEVELS] = pad;
}

/// Moves slots `p + 1..p + 1 + SHIFT` one down over slot `p < TOP_LEVELS` (a removal); the
/// padding beyond [`TOP_LEVELS`] follows.
#[inline(always)]
fn shift_down(slots: &mut [i64; TOP_SLOTS], p: usize) {
    let moved: Option<[i64; SHIFT]> = slots
        .get(p + 1..p + 1 + SHIFT)
        .and_then(|s| s.try_into().ok());
    if let (Some(moved), Some(dst)) = (moved, slots.get_mut(p..p + SHIFT)) {
        dst.copy_from_slice(&moved);
    }
}

/// One side of the book in outward coordinates (see the module docs).
pub(crate) struct Ladder {
    /// Outward coordinate of `qty[0]`.
    base: i64,
    /// Slots in the ladder: a power of two, at least 64.
    width: usize,
    /// Free slots left inside the touch after a re-centre (`width / 16`).
    margin: i64,
    /// The touch may drift this many slots outward before the window follows (`width / 4`).
    far: u64,
    qty: Box<[i64]>,
    bits: Box<[u64]>,
    summary: Box<[u64]>,
    overflow: Overflow,
    /// Keys of the first `top_len` levels; unused slots hold [`NO_KEY`].
    top_keys: [i64; TOP_SLOTS],
    /// Their quantities (a separate array, so a quantity walk is a contiguous sum).
    top_qtys: [i64; TOP_SLOTS],
    top_len: usize,
    /// Exact sums over the cached levels, kept in step with every change to the cache.
    top_sums: TopSums,
    /// Bumped on every change to the top cache (see [`Self::top_generation`]).
    top_gen: u64,
    limit: i64,
    recentres: u64,
}

impl fmt::Debug for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ladder")
            .field("base", &self.base)
            .field("width", &self.width)
            .field("overflow_len", &self.overflow.len())
            .field("top", &self.top_keys.get(..self.top_len))
            .field("recentres", &self.recentres)
            .finish()
    }
}

impl Ladder {
    /// An empty side with `width` ladder slots (a power of two, at least 64: checked by the
    /// caller's configuration).
    pub(crate) fn new(width: usize) -> Self {
        let width = width.max(64).next_power_of_two();
        let words = width / 64;
        Self {
            base: 0,
            width,
            margin: (width / 16) as i64,
            far: (width / 4) as u64,
            qty: vec![0; width].into_boxed_slice(),
            bits: vec![0; words].into_boxed_slice(),
            summary: vec![0; words.div_ceil(64)].into_boxed_slice(),
            overflow: Overflow::default(),
            top_keys: [NO_KEY; TOP_SLOTS],
            top_qtys: [0; TOP_SLOTS],
            top_len: 0,
            top_sums: TopSums::default(),
            top_gen: 0,
            limit: i64::MAX,
            recentres: 0,
        }
    }

    /// Number of levels on this side: a popcount of the bitmap, `O(width / 64)`.
    pub(crate) fn len(&self) -> usize {
        let ladder: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        ladder as usize + self.overflow.len()
    }

    /// `true` when the side holds no level (invariant 4: the cache is empty only then).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.top_len == 0
    }

    /// Levels held in the overflow.
    #[inline]
    pub(crate) fn overflow_len(&self) -> usize {
        self.overflow.len()
    }

    /// How many times the window moved.
    #[inline]
    pub(crate) fn recentres(&self) -> u64 {
        self.recentres
    }

    /// The cached first `min(TOP_LEVELS, len)` levels: keys and quantities, equally long.
    #[inline]
    pub(crate) fn top(&self) -> (&[i64], &[i64]) {
        let n = self.top_len.min(TOP_LEVELS);
        (&self.top_keys[..n], &self.top_qtys[..n])
    }

    /// `true` when the cache holds every level of the side.
    #[inline]
    pub(crate) fn top_is_complete(&self) -> bool {
        self.top_len < TOP_LEVELS
    }

    /// Changes whenever [`Self::top`] or [`Self::top_is_complete`] may have changed.
    #[inline]
    pub(crate) fn top_generation(&self) -> u64 {
        self.top_gen
    }

    /// Exact sums over the levels [`Self::top`] returns.
    pub(crate) fn top_sums(&self) -> TopSums {
        self.top_sums
    }

    /// Best level `(o, qty)`.
    #[inline]
    pub(crate) fn best(&self) -> Option<(i64, i64)> {
        if self.top_len == 0 {
            return None;
        }
        Some((self.top_keys[0], self.top_qtys[0]))
    }

    /// Quantity at `o` (zero when absent).
    pub(crate) fn get(&self, o: i64) -> i64 {
        if o < self.base {
            return 0;
        }
        let idx = (o as u64).wrapping_sub(self.base as u64);
        if idx < self.width as u64 {
            self.qty.get(idx as usize).copied().unwrap_or(0)
        } else {
            self.overflow.get(o)
        }
    }

    /// Sets the level at `o` to `q >= 0` (zero deletes; deleting an absent level is a no-op).
    ///
    /// Beyond the cached top (nine real updates in ten) the previous quantity is not even read:
    /// the slot is written blind and the bitmap updated with masks, so a cache miss on `qty[i]`
    /// is a store the core does not wait for. Only an update at or inside the cached 20th level
    /// reads the old quantity, to keep the cache in step.
    #[inline(always)]
    pub(crate) fn set(&mut self, o: i64, q: i64) {
        let idx = (o as u64).wrapping_sub(self.base as u64);
        // `qty.len() == width`; testing the slice length lets the compiler drop the bounds check.
        if (o >= self.base) & (idx < self.qty.len() as u64) {
            let i = idx as usize;
            if o > self.limit {
                if let Some(slot) = self.qty.get_mut(i) {
                    *slot = q;
                }
                self.mark_as(i, q);
            } else {
                let old = self.qty.get(i).copied().unwrap_or(0);
                if let Some(slot) = self.qty.get_mut(i) {
                    *slot = q;
                }
                self.mark_as(i, q);
                if (old | q) != 0 {
                    self.update_top(o, old, q);
                }
            }
        } else if o < self.base {
            self.set_below(o, q);
        } else {
            let old = self.set_far(o, q);
            if o <= self.limit && (old | q) != 0 {
                self.update_top(o, old, q);
            }
        }
    }

    /// Sets slot `i`'s occupancy bit to `q != 0` without branching on its previous value.
    #[inline(always)]
    fn mark_as(&mut self, i: usize, q: i64) {
        let Some(word) = self.bits.get_mut(i >> 6) else {
            return;
        };
        let bit = 1u64 << (i & 63);
        let was = *word;
        *word = (was & !bit) | (bit & u64::from(q != 0).wrapping_neg());
        // A level that is set makes its word non-zero, so the word's summary bit is set (again,
        // usually: it can only be missing when the word was empty). Without a branch: a test of
        // `q != 0` goes one way for every delete, a quarter of the updates in no pattern a
        // predictor can learn.
        if let Some(s) = self.summary.get_mut(i >> 12) {
            *s |= u64::from(q != 0) << ((i >> 6) & 63);
        }
    }

    /// An update at or beyond `base + width`: the overflow, unless the side is empty.
    #[inline(never)]
    fn set_far(&mut self, o: i64, q: i64) -> i64 {
        if q != 0 && self.is_empty() {
            // An empty side: put the window around the new level instead of overflowing.
            self.base = o.saturating_sub(self.margin);
            let idx = (o as u64).wrapping_sub(self.base as u64) as usize;
            self.put(idx, q);
            return 0;
        }
        self.overflow.set(o, q)
    }

    /// An update inside the window's near edge (`o < base`): nothing can be there, so a delete
    /// is a no-op and an insert moves the window inward first.
    #[cold]
    #[inline(never)]
    fn set_below(&mut self, o: i64, q: i64) {
        if q == 0 {
            return;
        }
        let new_base = o.saturating_sub(self.margin);
        if self.is_empty() {
            self.base = new_base;
        } else {
            self.recentre(new_base);
        }
        // Now `base <= o < base + margin`: this call takes the ladder branch.
        self.set(o, q);
    }

    /// Stores `q != 0` in the empty slot `i`.
    #[inline]
    fn put(&mut self, i: usize, q: i64) {
        if let Some(slot) = self.qty.get_mut(i) {
            *slot = q;
            self.mark(i);
        }
    }

    #[inline]
    fn mark(&mut self, i: usize) {
        if let Some(w) = self.bits.get_mut(i >> 6) {
            *w |= 1 << (i & 63);
        }
        if let Some(s) = self.summary.get_mut(i >> 12) {
            *s |= 1 << ((i >> 6) & 63);
        }
    }

    #[inline]
    fn unmark(&mut self, i: usize) {
        if let Some(w) = self.bits.get_mut(i >> 6) {
            *w &= !(1 << (i & 63));
            if *w == 0
                && let Some(s) = self.summary.get_mut(i >> 12)
            {
                *s &= !(1 << ((i >> 6) & 63));
            }
        }
    }

    /// First occupied ladder slot at or after `from`.
    fn next_set(&self, from: usize) -> Option<usize> {
        let wi = from >> 6;
        let w = self.bits.get(wi)? & (u64::MAX << (from & 63));
        if w != 0 {
            return Some((wi << 6) | w.trailing_zeros() as usize);
        }
        let next = wi + 1;
        let mut si = next >> 6;
        let mut s = self.summary.get(si)? & (u64::MAX << (next & 63));
        loop {
            while s != 0 {
                let wj = (si << 6) | s.trailing_zeros() as usize;
                let w = self.bits.get(wj).copied().unwrap_or(0);
                if w != 0 {
                    return Some((wj << 6) | w.trailing_zeros() as usize);
                }
                // A stale summary bit: that word emptied since it was set.
                s &= s - 1;
            }
            si += 1;
            s = *self.summary.get(si)?;
        }
    }

    /// The first level strictly beyond `k`, as `(o, qty)`.
    fn successor(&self, k: i64) -> Option<(i64, i64)> {
        let start = k.checked_add(1)?;
        if start <= self.base {
            return self.first_from_ladder(0);
        }
        let idx = (start as u64).wrapping_sub(self.base as u64);
        if idx < self.width as u64 {
            self.first_from_ladder(idx as usize)
        } else {
            self.overflow.range_from(start).next()
        }
    }

    /// The first level at ladder slot `from` or beyond, falling through to the overflow.
    fn first_from_ladder(&self, from: usize) -> Option<(i64, i64)> {
        match self.next_set(from) {
            Some(j) => Some((
                self.base.wrapping_add(j as i64),
                self.qty.get(j).copied().unwrap_or(0),
            )),
            None => self.overflow.first(),
        }
    }

    /// Keeps the top cache in step with an update at `o <= limit` from `old` to `q` (not both 0).
    // `inline(always)`: out of line it cost a call and six register saves on one real update in
    // ten; inlined, `book/update_touch/orderflow/real` went from 8.50 / 8.64 / 8.73 to 8.44 /
    // 8.48 / 8.47 ns in three alternating runs.
    #[inline(always)]
    fn update_top(&mut self, o: i64, old: i64, q: i64) {
        self.top_gen = self.top_gen.wrapping_add(1);
        // The number of cached keys below `o`: 20 independent compares, summed (vectorised);
        // a binary search would be five dependent loads, about 35 cycles.
        let p = self.top_keys[..TOP_LEVELS]
            .iter()
            .map(|&k| usize::from(k < o))
            .sum::<usize>();
        let len = self.top_len.min(TOP_LEVELS);
        if old != 0 {
            if p >= len || self.top_keys[p] != o {
                // Unreachable while invariant 4 holds; heal rather than serve a wrong cache.
                debug_assert!(false, "top cache out of step at {o}");
                self.rebuild_top();
                return;
            }
            if q != 0 {
                self.top_qtys[p] = q;
                self.top_sums.requantify(o, old, q);
                self.check_top_sums();
                return;
            }
            // Removal: close the gap, then refill the last slot from beyond the old last key.
            self.top_sums.remove(o, old);
            let last = self.top_keys[len - 1];
            shift_down(&mut self.top_keys, p);
            shift_down(&mut self.top_qtys, p);
            self.top_keys[len - 1] = NO_KEY;
            self.top_qtys[len - 1] = 0;
            self.top_len = len - 1;
            if len == TOP_LEVELS
                && let Some((k, v)) = self.successor(last)
            {
                self.top_keys[len - 1] = k;
                self.top_qtys[len - 1] = v;
                self.top_len = len;
                self.top_sums.add(k, v);
            }
            if p == 0 {
                self.best_removed();
            }
        } else {
            // A new level inside the cached range: insert at `p`; the last one falls off if full.
            let end = len.min(TOP_LEVELS - 1);
            if p > end {
                self.rebuild_top();
                return;
            }
            if len == TOP_LEVELS {
                // The last cached level falls off.
                self.top_sums
                    .remove(self.top_keys[TOP_LEVELS - 1], self.top_qtys[TOP_LEVELS - 1]);
            }
            self.top_sums.add(o, q);
            shift_up(&mut self.top_keys, p, NO_KEY);
            shift_up(&mut self.top_qtys, p, 0);
            self.top_keys[p] = o;
            self.top_qtys[p] = q;
            self.top_len = end + 1;
        }
        self.limit = if self.top_len == TOP_LEVELS {
            self.top_keys[TOP_LEVELS - 1]
        } else {
            i64::MAX
        };
        self.check_top_sums();
    }

    /// Debug builds (the property tests among them) check the kept sums against a recount
    /// after every change to the cache.
    #[inline]
    fn check_top_sums(&self) {
        if cfg!(debug_assertions) {
            let (keys, qtys) = self.top();
            assert_eq!(
                self.top_sums,
                TopSums::of(keys, qtys),
                "top sums out of step"
            );
        }
    }

    /// The best level went away: follow the touch if it drifted outward (or left the ladder).
    fn best_removed(&mut self) {
        if let Some((best, _)) = self.best() {
            let idx = (best as u64).wrapping_sub(self.base as u64);
            if idx > self.far {
                self.recentre(best.saturating_sub(self.margin));
            }
        }
    }

    /// Refills the cache from the ladder and overflow.
    fn rebuild_top(&mut self) {
        self.top_gen = self.top_gen.wrapping_add(1);
        self.top_keys = [NO_KEY; TOP_SLOTS];
        self.top_qtys = [0; TOP_SLOTS];
        self.top_len = 0;
        let mut next = self.first_from_ladder(0);
        while let Some((k, v)) = next {
            if self.top_len >= TOP_LEVELS {
                break;
            }
            self.top_keys[self.top_len] = k;
            self.top_qtys[self.top_len] = v;
            self.top_len += 1;
            next = self.successor(k);
        }
        let (keys, qtys) = self.top();
        self.top_sums = TopSums::of(keys, qtys);
        self.limit = if self.top_len == TOP_LEVELS {
            self.top_keys[TOP_LEVELS - 1]
        } else {
            i64::MAX
        };
    }

    /// Recomputes the summary from the bitmap (drops stale bits).
    fn resummarize(&mut self) {
        self.summary.fill(0);
        for (wi, &w) in self.bits.iter().enumerate() {
            if w != 0
                && let Some(s) = self.summary.get_mut(wi >> 6)
            {
                *s |= 1 << (wi & 63);
            }
        }
    }

    /// Moves the window so that slot 0 is `new_base`, moving levels between the ladder and the
    /// overflow. Touches only occupied slots (plus one pass over the bitmap words).
    #[cold]
    #[inline(never)]
    fn recentre(&mut self, new_base: i64) {
        self.recentres += 1;
        let width = self.width as u64;
        if new_base < self.base {
            // Inward: slots move up by `delta`; the far end spills into the overflow. Walking
            // from the top down, each destination was vacated (or empty) before it is written.
            let delta = (self.base as u64).wrapping_sub(new_base as u64);
            for wi in (0..self.bits.len()).rev() {
                let mut w = self.bits[wi];
                while w != 0 {
                    let b = 63 - w.leading_zeros() as usize;
                    w &= !(1u64 << b);
                    let i = (wi << 6) | b;
                    let q = core::mem::take(&mut self.qty[i]);
                    self.unmark(i);
                    match (i as u64).checked_add(delta) {
                        Some(ni) if ni < width => self.put(ni as usize, q),
                        _ => {
                            self.overflow.set(self.base.wrapping_add(i as i64), q);
                        }
                    }
                }
            }
            self.base = new_base;
        } else if new_base > self.base {
            // Outward: never past the first level, so nothing drops below the new base.
            let first = self.first_from_ladder(0).map_or(new_base, |(o, _)| o);
            let new_base = new_base.min(first);
            let delta = (new_base as u64).wrapping_sub(self.base as u64);
            if delta < width {
                // Slots move down by `delta`; walking up, each destination is already free.
                for wi in 0..self.bits.len() {
                    let mut w = self.bits[wi];
                    while w != 0 {
                        let b = w.trailing_zeros() as usize;
                        w &= w - 1;
                        let i = (wi << 6) | b;
                        let q = core::mem::take(&mut self.qty[i]);
                        self.unmark(i);
                        self.put((i as u64 - delta) as usize, q);
                    }
                }
            }
            self.base = new_base;
            while let Some((o, q)) = self.overflow.first() {
                let idx = (o as u64).wrapping_sub(new_base as u64);
                if idx >= width {
                    break;
                }
                self.overflow.set(o, 0);
                self.put(idx as usize, q);
            }
        }
        self.resummarize();
    }

    /// Removes every level (keeps the window and the allocations).
    pub(crate) fn clear(&mut self) {
        for wi in 0..self.bits.len() {
            let mut w = self.bits[wi];
            while w != 0 {
                let i = (wi << 6) | w.trailing_zeros() as usize;
                w &= w - 1;
                self.qty[i] = 0;
            }
        }
        self.bits.fill(0);
        self.summary.fill(0);
        self.overflow.clear();
        self.top_keys = [NO_KEY; TOP_SLOTS];
        self.top_qtys = [0; TOP_SLOTS];
        self.top_len = 0;
        self.top_sums = TopSums::default();
        self.top_gen = self.top_gen.wrapping_add(1);
        self.limit = i64::MAX;
    }

    /// Every level in outward order, moved out into `out` (used by a re-grid); the side is left
    /// empty.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<(i64, i64)>) {
        out.extend(self.iter());
        self.clear();
    }

    /// Walks the side outward from the touch, starting with the cache.
    #[inline]
    pub(crate) fn iter(&self) -> LadderIter<'_> {
        LadderIter {
            ladder: self,
            head: {
                let (keys, qtys) = self.top();
                keys.iter().zip(qtys)
            },
            phase: Phase::AfterCache,
        }
    }

    /// Where a walk continues after key `k`.
    fn phase_after(&self, k: i64) -> Phase<'_> {
        match k.checked_add(1) {
            None => Phase::Done,
            Some(start) if start <= self.base => Phase::Ladder(0),
            Some(start) => {
                let idx = (start as u64).wrapping_sub(self.base as u64);
                if idx < self.width as u64 {
                    Phase::Ladder(idx as usize)
                } else {
                    Phase::Far(self.overflow.range_from(start))
                }
            }
        }
    }
}

/// Where a walk is once the cached head is consumed.
#[derive(Debug)]
enum Phase<'a> {
    /// Just past the cache: done if it held every level, else continue after its last key.
    AfterCache,
    /// Next ladder slot to search from.
    Ladder(usize),
    /// The overflow, in order.
    Far(OverflowRange<'a>),
    Done,
}

/// Iterator over one side's `(o, qty)` levels, outward from the touch: the cached head is a
/// plain slice walk (inlined), the rest a bitmap and overflow walk.
#[derive(Debug)]
pub(crate) struct LadderIter<'a> {
    ladder: &'a Ladder,
    head: core::iter::Zip<core::slice::Iter<'a, i64>, core::slice::Iter<'a, i64>>,
    phase: Phase<'a>,
}

impl Iterator for LadderIter<'_> {
    type Item = (i64, i64);

    #[inline]
    fn next(&mut self) -> Option<(i64, i64)> {
        match self.head.next() {
            Some((&o, &q)) => Some((o, q)),
            None => {
                // The phase moves through the out-of-line walk by value, so no pointer into
                // the iterator escapes and the head can live in registers in the caller's loop.
                let phase = core::mem::replace(&mut self.phase, Phase::Done);
                let (item, phase) = beyond_cache(self.ladder, phase);
                self.phase = phase;
                item
            }
        }
    }
}

/// The next level once the cached head is consumed, and the phase after it.
#[inline(never)]
fn beyond_cache<'a>(l: &'a Ladder, mut phase: Phase<'a>) -> (Option<(i64, i64)>, Phase<'a>) {
    loop {
        match phase {
            Phase::AfterCache => {
                phase = match l.top().0.last() {
                    Some(&last) if !l.top_is_complete() => l.phase_after(last),
                    _ => Phase::Done,
                };
            }
            Phase::Ladder(from) => match l.next_set(from) {
                Some(j) => {
                    let o = l.base.wrapping_add(j as i64);
                    let item = (o, l.qty.get(j).copied().unwrap_or(0));
                    return (Some(item), Phase::Ladder(j + 1));
                }
                None => phase = Phase::Far(l.overflow.range_from(i64::MIN)),
            },
            Phase::Far(mut range) => {
                return match range.next() {
                    Some(level) => (Some(level), Phase::Far(range)),
                    None => (None, Phase::Done),
                };
            }
            Phase::Done => return (None, Phase::Done),
        }
    }
}
