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
}
