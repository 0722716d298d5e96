//! Read access to an L2 book, the seam between `book` and `features` (STYLE.md section 1).

use crate::fixed::{Px, Qty};
use crate::record::BookSide;

/// One price level as a book reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookLevel {
    /// Price.
    pub px: Px,
    /// Resting quantity at `px` (always > 0 for a level that is present).
    pub qty: Qty,
}

/// The first levels of one side straight from a book's own arrays ([`BookView::top_arrays`]).
///
/// Level `k` from the touch has price `keys[k] * px_per_key` and quantity `qtys[k]`. Keys grow
/// outward from the touch on both sides (a bid book uses negative `px_per_key`), so level `k`
/// lies `(keys[k] - keys[0]) * |px_per_key|` away from the touch: distances and quantities come
/// without building a [`BookLevel`] per level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopArrays<'a> {
    /// Level keys, touch first, strictly increasing.
    pub keys: &'a [i64],
    /// Resting quantities in raw [`Qty`] units, one per key (each > 0).
    pub qtys: &'a [i64],
    /// Price of one key step in raw [`Px`] units: the tick, negated for bids.
    pub px_per_key: i64,
    /// Version of the lent top-of-book cache, `None` when the book does not track one. Two
    /// `top_arrays` calls with the same `depth` that return the same `Some` version (from any
    /// book) lend the same keys, quantities and `px_per_key`, so a reader may reuse what it
    /// computed from the first.
    pub version: Option<TopVersion>,
    /// Exact sums over all the lent levels when the book keeps them as it changes its cache
    /// (see [`TopSums`]), `None` otherwise.
    pub sums: Option<TopSums>,
}

/// Exact sums over a set of levels in key units: `qty = Σ q`, `key = Σ k`, `key_qty = Σ k·q`,
/// `key_sq = Σ k²`. A book keeps them for its cached top levels, one add or remove per level
/// that enters, leaves or changes, so a reader gets the least-squares sums of a side without a
/// walk. Integer arithmetic makes them exact (so the same whatever order the changes came in)
/// for any real book: keys and quantities below 2^53 give sums far below 2^127. Hostile input
/// wraps rather than panics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopSums {
    /// `Σ q`.
    pub qty: i128,
    /// `Σ k`.
    pub key: i128,
    /// `Σ k·q`.
    pub key_qty: i128,
    /// `Σ k²`.
    pub key_sq: i128,
}

impl TopSums {
    /// The sums over `keys[i], qtys[i]` (pairs up to the shorter slice).
    #[must_use]
    pub fn of(keys: &[i64], qtys: &[i64]) -> Self {
        let mut sums = Self::default();
        for (&k, &q) in keys.iter().zip(qtys) {
            sums.add(k, q);
        }
        sums
    }

    /// Adds the level `(k, q)`.
    #[inline]
    pub fn add(&mut self, k: i64, q: i64) {
        let (k, q) = (i128::from(k), i128::from(q));
        self.qty = self.qty.wrapping_add(q);
        self.key = self.key.wrapping_add(k);
        self.key_qty = self.key_qty.wrapping_add(k.wrapping_mul(q));
        self.key_sq = self.key_sq.wrapping_add(k.wrapping_mul(k));
    }

    /// Removes the level `(k, q)`.
    #[inline]
    pub fn remove(&mut self, k: i64, q: i64) {
        let (k, q) = (i128::from(k), i128::from(q));
        self.qty = self.qty.wrapping_sub(q);
        self.key = self.key.wrapping_sub(k);
        self.key_qty = self.key_qty.wrapping_sub(k.wrapping_mul(q));
        self.key_sq = self.key_sq.wrapping_sub(k.wrapping_mul(k));
    }

    /// The quantity at key `k` changed from `old` to `new`.
    #[inline]
    pub fn requantify(&mut self, k: i64, old: i64, new: i64) {
        let dq = i128::from(new).wrapping_sub(i128::from(old));
        self.qty = self.qty.wrapping_add(dq);
        self.key_qty = self.key_qty.wrapping_add(i128::from(k).wrapping_mul(dq));
    }
}

/// Identifies one state of one side's top-of-book cache ([`TopArrays::version`]): `book` is
/// unique per book instance in the process, `generation` changes with every change to the
/// side's cached levels (or the tick).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TopVersion {
    /// Process-unique id of the book.
    pub book: u64,
    /// Change counter of the side's top cache.
    pub generation: u64,
}

/// What features read from a book. Implemented by the `book` crate; features never see its type.
pub trait BookView {
    /// Best bid (highest bid price), `None` when the bid side is empty.
    fn best_bid(&self) -> Option<BookLevel>;

    /// Best ask (lowest ask price), `None` when the ask side is empty.
    fn best_ask(&self) -> Option<BookLevel>;

    /// Copies the first `out.len()` levels of `side` into `out`, from the touch outward, and
    /// returns how many were present (fewer when the side is shallower).
    fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize;

    /// `true` while the book is in sync with the exchange (snapshot applied, chain unbroken).
    fn is_synced(&self) -> bool;

    /// The first `min(depth, levels on the side)` levels of `side` as the book's own arrays,
    /// exactly the levels [`Self::top_levels`] would copy, or `None` when the book cannot lend
    /// them (the default; callers then use [`Self::top_levels`]). A book with a top-of-book
    /// cache implements it to spare readers the per-level copy.
    #[inline]
    fn top_arrays(&self, side: BookSide, depth: usize) -> Option<TopArrays<'_>> {
        let _ = (side, depth);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::TopSums;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of adds, removes and quantity changes leaves the sums a recount of the
        /// levels present gives, whatever the order.
        #[test]
        fn kept_sums_equal_a_recount(
            ops in proptest::collection::vec((0usize..8, -1_000_000i64..1_000_000, 1i64..1 << 40), 1..64),
        ) {
            let mut levels: Vec<(i64, i64)> = Vec::new();
            let mut sums = TopSums::default();
            for (op, k, q) in ops {
                match (op % 3, levels.iter().position(|&(lk, _)| lk == k)) {
                    (0, None) => {
                        levels.push((k, q));
                        sums.add(k, q);
                    }
                    (1, Some(i)) => {
                        let (k, old) = levels.swap_remove(i);
                        sums.remove(k, old);
                    }
                    (_, Some(i)) => {
                        let old = levels[i].1;
                        levels[i].1 = q;
                        sums.requantify(k, old, q);
                    }
                    _ => {}
                }
                let (keys, qtys): (Vec<i64>, Vec<i64>) = levels.iter().copied().unzip();
                prop_assert_eq!(sums, TopSums::of(&keys, &qtys));
            }
        }
    }
}
