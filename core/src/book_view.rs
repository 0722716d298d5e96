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
