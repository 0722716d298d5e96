//! The L2 book of one symbol in integer ticks (DESIGN.md section 4).
//!
//! A [`Book`] is two [`Ladder`]s (see `ladder.rs` for the structure and its invariants) and a
//! price grid. Prices enter as [`Px`], are divided exactly by the tick (see `grid.rs`) and are
//! stored as ticks; queries turn ticks back into [`Px`] with one multiply.
//!
//! # The tick
//! [`BookConfig::tick`] sets it. When it is `None`, the tick is inferred from the data: the first
//! price seen sets it to the largest power of ten dividing that price, and every later price off
//! that grid refines it to `gcd(tick, price)`. Loading a first snapshot therefore ends with the
//! tick equal to `gcd(10^k, p2, p3, ...)`, where `10^k` is the largest power of ten dividing the
//! first price. Limits: with few or unlucky prices the inferred tick can be a multiple of the
//! true one (a later price then triggers one more refinement), and for a tick that is not a power
//! of ten times `2^a 5^b` the grid is finer than the exchange's (correct, just a sparser ladder).
//!
//! # Off-grid prices
//! A price that is not a multiple of the current tick (configured or inferred) is never rounded.
//! The book re-grids: the tick becomes `gcd(tick, price)`, every level is re-indexed (an O(levels)
//! move), the update is applied, and [`BookStats::regrids`] counts it. A wrong configured tick
//! thus costs speed, never data. Prices `<= 0` and negative quantities are rejected with a
//! [`LevelError`] and counted in [`BookStats::rejected_levels`]; the book is left unchanged.

use orderflow_core::{
    BookLevel, BookSide, BookView, Level, Px, Qty, SCALE, Side, TopArrays, TopVersion, notional,
};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::grid::{Grid, gcd, power_of_ten_tick};
use crate::ladder::{Ladder, LadderIter, TOP_LEVELS};

/// Smallest accepted [`BookConfig::ladder_ticks`].
pub const MIN_LADDER_TICKS: usize = 64;
/// Largest accepted [`BookConfig::ladder_ticks`] (8 MiB of quantities per side).
pub const MAX_LADDER_TICKS: usize = 1 << 20;
/// Smallest accepted [`BookConfig::buffer_records`].
pub const MIN_BUFFER_RECORDS: usize = 16;

/// Construction parameters of a [`Book`] and a [`SyncBook`](crate::SyncBook).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookConfig {
    /// Price tick (`Px(10_000_000)` is 0.1, BTCUSDT's). `None`: inferred from the data (module
    /// docs).
    pub tick: Option<Px>,
    /// Slots of the dense ladder per side, in ticks: a power of two in
    /// [`MIN_LADDER_TICKS`]`..=`[`MAX_LADDER_TICKS`]. Levels beyond it live in an ordered map.
    /// Memory is `8 * ladder_ticks` bytes per side plus the bitmap.
    pub ladder_ticks: usize,
    /// Capacity of the [`SyncBook`](crate::SyncBook) buffer that holds diff records while the
    /// book waits for a snapshot (one record per diff header and per level, 56 bytes each).
    pub buffer_records: usize,
}

impl BookConfig {
    /// Default ladder width: 32 768 ticks per side (3 276.8 USD of BTCUSDT at a 0.1 tick; 256 KiB
    /// per side). On the 2024-08-08 BTCUSDT capture about 96 % of level updates land in it.
    pub const DEFAULT_LADDER_TICKS: usize = 1 << 15;
    /// Default sync buffer: 16 384 records (896 KiB), about twelve seconds of BTCUSDT
    /// `@depth@0ms` diffs (19 diffs/s of 68 levels on average on the 2024-08-08 capture).
    pub const DEFAULT_BUFFER_RECORDS: usize = 1 << 14;

    /// The default configuration with a known tick.
    #[must_use]
    pub const fn with_tick(tick: Px) -> Self {
        Self {
            tick: Some(tick),
            ladder_ticks: Self::DEFAULT_LADDER_TICKS,
            buffer_records: Self::DEFAULT_BUFFER_RECORDS,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(tick) = self.tick
            && tick.raw() <= 0
        {
            return Err(ConfigError::NonPositiveTick { tick });
        }
        if !self.ladder_ticks.is_power_of_two()
            || !(MIN_LADDER_TICKS..=MAX_LADDER_TICKS).contains(&self.ladder_ticks)
        {
            return Err(ConfigError::LadderTicks {
                ladder_ticks: self.ladder_ticks,
            });
        }
        if self.buffer_records < MIN_BUFFER_RECORDS {
            return Err(ConfigError::BufferRecords {
                buffer_records: self.buffer_records,
            });
        }
        Ok(())
    }
}

impl Default for BookConfig {
    fn default() -> Self {
        Self {
            tick: None,
            ladder_ticks: Self::DEFAULT_LADDER_TICKS,
            buffer_records: Self::DEFAULT_BUFFER_RECORDS,
        }
    }
}

/// An invalid [`BookConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configured tick is zero or negative.
    #[error("tick must be positive, got {tick}")]
    NonPositiveTick {
        /// The configured tick.
        tick: Px,
    },
    /// `ladder_ticks` is not a power of two in range.
    #[error(
        "ladder_ticks must be a power of two in {MIN_LADDER_TICKS}..={MAX_LADDER_TICKS}, got {ladder_ticks}"
    )]
    LadderTicks {
        /// The configured value.
        ladder_ticks: usize,
    },
    /// `buffer_records` is too small to hold a diff.
    #[error("buffer_records must be at least {MIN_BUFFER_RECORDS}, got {buffer_records}")]
    BufferRecords {
        /// The configured value.
        buffer_records: usize,
    },
}

/// A level update the book refused (hot path: `Copy`, no allocation). The book is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LevelError {
    /// The price is zero or negative.
    #[error("price {px} is not positive")]
    NonPositivePrice {
        /// The price received.
        px: Px,
    },
    /// The quantity is negative.
    #[error("quantity {qty} is negative")]
    NegativeQty {
        /// The quantity received.
        qty: Qty,
    },
}

/// Counters of a [`Book`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Times an off-grid price refined the tick (every level was re-indexed).
    pub regrids: u64,
    /// Times a side's ladder window moved (levels moved between ladder and overflow).
    pub recentres: u64,
    /// Level updates refused with a [`LevelError`].
    pub rejected_levels: u64,
    /// Levels currently held outside the dense ladders.
    pub overflow_levels: u64,
}

/// The result of walking one side to fill a quantity ([`Book::cost_to_fill`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FillCost {
    /// Quantity asked for.
    pub requested: Qty,
    /// Quantity the book could fill (`<= requested`).
    pub filled: Qty,
    /// Exact notional of the fill, `sum(px * qty)` in 10^-16 quote units: the average price is
    /// exactly `notional / filled` (in 10^-8 units).
    pub notional: i128,
    /// Touch price of the side walked ([`Px::UNDEF`] when the side is empty).
    pub touch: Px,
    /// Price of the last level the fill reached ([`Px::UNDEF`] when nothing filled).
    pub worst: Px,
    /// Levels consumed, the last one possibly in part.
    pub levels: u32,
    /// `notional / filled` as a float price (NaN when nothing filled).
    pub avg_px: f64,
    /// How much worse than the touch the average price is, in basis points of the touch
    /// (`>= 0`; NaN when nothing filled).
    pub slippage_bps: f64,
    /// `true` when the side was deep enough to fill all of `requested`.
    pub is_complete: bool,
}

/// One symbol's L2 book in integer ticks; see the module docs.
///
/// ```
/// use orderflow_book::{Book, BookConfig};
/// use orderflow_core::{BookSide, Px, Qty, Side};
///
/// let mut book = Book::new(&BookConfig::with_tick(Px(10_000_000))); // tick 0.1
/// book.set(BookSide::Bid, "61800.1".parse()?, "2".parse()?)?;
/// book.set(BookSide::Bid, "61800.2".parse()?, "1".parse()?)?;
/// book.set(BookSide::Ask, "61800.3".parse()?, "0.5".parse()?)?;
/// assert_eq!(book.best_bid().map(|l| l.px.to_string()), Some("61800.2".into()));
/// assert_eq!(book.cum_qty(BookSide::Bid, 2), "3".parse()?);
/// let fill = book.cost_to_fill(Side::Sell, "2".parse()?);
/// assert!(fill.is_complete);
/// assert_eq!(fill.worst, "61800.1".parse()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Book {
    /// Process-unique id, the `book` of every [`TopVersion`] this book lends.
    id: u64,
    grid: Grid,
    /// Indexed by `BookSide as usize`: bids (outward coordinate `-tick`), then asks (`tick`).
    sides: [Ladder; 2],
    synced: bool,
    regrids: u64,
    rejected: u64,
    /// Scratch space for re-grids (empty, allocated only when a re-grid happens).
    scratch: Vec<(i64, i64)>,
}

/// Source of [`Book`] ids (never reused, so a [`TopVersion`] names one book's state).
static NEXT_BOOK_ID: AtomicU64 = AtomicU64::new(1);

impl Book {
    /// An empty book.
    ///
    /// # Panics
    /// When `config` is invalid ([`BookConfig::validate`]); see [`Book::try_new`].
    #[must_use]
    pub fn new(config: &BookConfig) -> Self {
        match Self::try_new(config) {
            Ok(book) => book,
            Err(e) => panic!("invalid book configuration: {e}"),
        }
    }

    /// An empty book.
    ///
    /// # Errors
    /// [`ConfigError`] when `config` is invalid.
    pub fn try_new(config: &BookConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let grid = match config.tick {
            Some(tick) => Grid::new(tick.raw()).ok_or(ConfigError::NonPositiveTick { tick })?,
            None => Grid::UNSET,
        };
        Ok(Self {
            id: NEXT_BOOK_ID.fetch_add(1, Ordering::Relaxed),
            grid,
            sides: [
                Ladder::new(config.ladder_ticks),
                Ladder::new(config.ladder_ticks),
            ],
            synced: false,
            regrids: 0,
            rejected: 0,
            scratch: Vec::new(),
        })
    }

    /// The current tick (`None` until a price was seen when none was configured).
    #[must_use]
    pub fn tick(&self) -> Option<Px> {
        self.grid.tick().map(Px)
    }

    /// Sets the level at `px` on `side` to the absolute quantity `qty`; zero removes it, and
    /// removing an absent level is a no-op (protocol doc section 3.1, rules 6 and 7).
    ///
    /// # Errors
    /// [`LevelError`] for a price `<= 0` or a negative quantity; the book is then unchanged.
    // `inline(always)`: left to itself the compiler kept this out of line in the bench loop
    // (a call, five register saves and restores per level update; 117 -> 109 instructions).
    #[inline(always)]
    pub fn set(&mut self, side: BookSide, px: Px, qty: Qty) -> Result<(), LevelError> {
        let (t, exact) = self.grid.divide(px.raw());
        // One branch for the three validity checks.
        if exact & (px.raw() > 0) & (qty.raw() >= 0) {
            // Branch-free side selection: `neg` is -1 for bids, 0 for asks.
            let neg = side as i64 - 1;
            if let Some(ladder) = self.sides.get_mut(side as usize) {
                ladder.set((t ^ neg) - neg, qty.raw());
            }
            Ok(())
        } else {
            self.set_slow(side, px, qty)
        }
    }

    /// Applies one [`Level`] record; see [`Book::set`].
    ///
    /// # Errors
    /// As [`Book::set`].
    #[inline]
    pub fn apply(&mut self, level: &Level) -> Result<(), LevelError> {
        self.set(level.side, level.px, level.qty)
    }

    /// Invalid input, a price off the grid, or no grid yet.
    #[cold]
    #[inline(never)]
    fn set_slow(&mut self, side: BookSide, px: Px, qty: Qty) -> Result<(), LevelError> {
        if qty.raw() < 0 {
            self.rejected += 1;
            return Err(LevelError::NegativeQty { qty });
        }
        if px.raw() <= 0 {
            self.rejected += 1;
            return Err(LevelError::NonPositivePrice { px });
        }
        let tick = match self.grid.tick() {
            None => power_of_ten_tick(px.raw()),
            Some(tick) => gcd(tick, px.raw()),
        };
        self.regrid(tick);
        let t = self.grid.ticks(px.raw()).unwrap_or(0);
        let o = Self::outward(side, t);
        if let Some(ladder) = self.sides.get_mut(side as usize) {
            ladder.set(o, qty.raw());
        }
        Ok(())
    }

    /// Switches to the finer tick `tick` (which divides the current one), re-indexing every
    /// level.
    fn regrid(&mut self, tick: i64) {
        let Some(grid) = Grid::new(tick) else {
            return;
        };
        let factor = match self.grid.tick() {
            Some(old) => {
                self.regrids += 1;
                old / tick
            }
            None => 1,
        };
        self.grid = grid;
        let mut scratch = core::mem::take(&mut self.scratch);
        for side in &mut self.sides {
            scratch.clear();
            side.drain_into(&mut scratch);
            for &(o, q) in &scratch {
                side.set(o.wrapping_mul(factor), q);
            }
        }
        scratch.clear();
        self.scratch = scratch;
    }

    /// Removes every level (the tick and the allocations stay).
    pub fn clear(&mut self) {
        for side in &mut self.sides {
            side.clear();
        }
    }

    /// Marks the book as in sync with the exchange or not; [`BookView::is_synced`] reports it.
    /// [`SyncBook`](crate::SyncBook) maintains this flag; a new book is not synced.
    pub fn set_synced(&mut self, synced: bool) {
        self.synced = synced;
    }

    #[inline]
    fn ladder(&self, side: BookSide) -> &Ladder {
        let [bids, asks] = &self.sides;
        match side {
            BookSide::Bid => bids,
            BookSide::Ask => asks,
        }
    }

    /// Outward coordinate of a tick on `side`.
    #[inline]
    fn outward(side: BookSide, tick: i64) -> i64 {
        match side {
            BookSide::Bid => -tick,
            BookSide::Ask => tick,
        }
    }

    /// The level at outward coordinate `o` of `side`.
    #[inline]
    fn level_at(&self, side: BookSide, o: i64, q: i64) -> BookLevel {
        let tick = self.grid.tick_raw();
        BookLevel {
            px: Px(Self::outward(side, o).wrapping_mul(tick)),
            qty: Qty(q),
        }
    }

    /// Best level of `side`.
    #[inline]
    #[must_use]
    pub fn best(&self, side: BookSide) -> Option<BookLevel> {
        self.ladder(side)
            .best()
            .map(|(o, q)| self.level_at(side, o, q))
    }

    /// Highest bid.
    #[inline]
    #[must_use]
    pub fn best_bid(&self) -> Option<BookLevel> {
        self.best(BookSide::Bid)
    }

    /// Lowest ask.
    #[inline]
    #[must_use]
    pub fn best_ask(&self) -> Option<BookLevel> {
        self.best(BookSide::Ask)
    }

    /// `true` when both sides are present and `best bid >= best ask` (crossed or locked).
    #[inline]
    #[must_use]
    pub fn is_crossed(&self) -> bool {
        let [bids, asks] = &self.sides;
        match (bids.best(), asks.best()) {
            (Some((bid, _)), Some((ask, _))) => -bid >= ask,
            _ => false,
        }
    }

    /// The `k`-th level of `side` from the touch (`k = 0` is the best).
    #[must_use]
    pub fn level(&self, side: BookSide, k: usize) -> Option<BookLevel> {
        let (keys, qtys) = self.ladder(side).top();
        match (keys.get(k), qtys.get(k)) {
            (Some(&o), Some(&q)) => Some(self.level_at(side, o, q)),
            _ => self.levels(side).nth(k),
        }
    }

    /// Quantity resting at `px` on `side` (zero when absent or off the grid).
    #[must_use]
    pub fn qty_at(&self, side: BookSide, px: Px) -> Qty {
        match self.grid.ticks(px.raw()) {
            Some(t) => Qty(self.ladder(side).get(Self::outward(side, t))),
            None => Qty::ZERO,
        }
    }

    /// Total quantity of the first `n` levels of `side` (saturating).
    #[must_use]
    pub fn cum_qty(&self, side: BookSide, n: usize) -> Qty {
        let ladder = self.ladder(side);
        let (_, qtys) = ladder.top();
        let head = qtys.get(..n).unwrap_or(qtys);
        let mut sum = head.iter().fold(0i64, |acc, &q| acc.saturating_add(q));
        if n > head.len() && !ladder.top_is_complete() {
            sum = self
                .levels(side)
                .skip(head.len())
                .take(n - head.len())
                .fold(sum, |acc, l| acc.saturating_add(l.qty.raw()));
        }
        Qty(sum)
    }

    /// Number of levels on `side`: a popcount over the ladder bitmap, `O(ladder_ticks / 64)`
    /// (not for the per-update path).
    #[must_use]
    pub fn len(&self, side: BookSide) -> usize {
        self.ladder(side).len()
    }

    /// `true` when both sides are empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sides.iter().all(Ladder::is_empty)
    }

    /// Iterates the levels of `side` outward from the touch.
    #[inline]
    #[must_use]
    pub fn levels(&self, side: BookSide) -> Levels<'_> {
        Levels {
            inner: self.ladder(side).iter(),
            side,
            tick: self.grid.tick_raw(),
        }
    }

    /// The first `min(TOP_LEVELS, len)` levels of `side`, outward from the touch, straight from
    /// the top cache: a slice walk with an exact length, the cheapest way to read the top 20
    /// (for deeper walks use [`Book::levels`]).
    #[inline]
    #[must_use]
    pub fn head(&self, side: BookSide) -> Head<'_> {
        let tick = self.grid.tick_raw();
        let (keys, qtys) = self.ladder(side).top();
        Head {
            inner: keys.iter().zip(qtys),
            scale: match side {
                BookSide::Bid => tick.wrapping_neg(),
                BookSide::Ask => tick,
            },
        }
    }

    /// What a market order of `qty` on the `taker` side would pay walking the book from the
    /// touch: a buy walks the asks, a sell walks the bids.
    #[must_use]
    pub fn cost_to_fill(&self, taker: Side, qty: Qty) -> FillCost {
        let side = match taker {
            Side::Buy => BookSide::Ask,
            Side::Sell => BookSide::Bid,
        };
        let touch = self.best(side).map_or(Px::UNDEF, |l| l.px);
        let mut cost = FillCost {
            requested: qty,
            filled: Qty::ZERO,
            notional: 0,
            touch,
            worst: Px::UNDEF,
            levels: 0,
            avg_px: f64::NAN,
            slippage_bps: f64::NAN,
            is_complete: qty.raw() <= 0,
        };
        if cost.is_complete {
            return cost;
        }
        let mut left = qty.raw();
        for level in self.levels(side) {
            let take = left.min(level.qty.raw());
            cost.notional = cost.notional.saturating_add(notional(level.px, Qty(take)));
            left -= take;
            cost.levels += 1;
            cost.worst = level.px;
            if left == 0 {
                break;
            }
        }
        cost.filled = Qty(qty.raw() - left);
        cost.is_complete = left == 0;
        if cost.filled.raw() > 0 {
            cost.avg_px = avg_px_f64(cost.notional, cost.filled);
            cost.slippage_bps = slippage_bps(taker, cost.notional, touch, cost.filled);
        }
        cost
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> BookStats {
        BookStats {
            regrids: self.regrids,
            recentres: self.sides.iter().map(Ladder::recentres).sum(),
            rejected_levels: self.rejected,
            overflow_levels: self.sides.iter().map(|s| s.overflow_len() as u64).sum(),
        }
    }

    /// Copies the cached head of `side` into `out`, then walks on for the rest.
    #[inline]
    fn fill_top(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
        let mut n = 0;
        for (slot, level) in out.iter_mut().zip(self.head(side)) {
            *slot = level;
            n += 1;
        }
        if n < out.len()
            && n == TOP_LEVELS
            && let Some(rest) = out.get_mut(n..)
        {
            for (slot, level) in rest.iter_mut().zip(self.levels(side).skip(n)) {
                *slot = level;
                n += 1;
            }
        }
        n
    }
}

/// The average price of a fill as a float price.
#[allow(clippy::cast_precision_loss, reason = "the f64 view of an exact ratio")]
fn avg_px_f64(notional: i128, filled: Qty) -> f64 {
    notional as f64 / filled.raw() as f64 / SCALE as f64
}

/// `(avg - touch) / touch * 1e4` for a buy (mirrored for a sell), with the numerator
/// `notional - touch * filled` computed exactly, so the result is never negative from rounding.
#[allow(clippy::cast_precision_loss, reason = "the f64 view of an exact ratio")]
fn slippage_bps(taker: Side, notional: i128, touch: Px, filled: Qty) -> f64 {
    let at_touch = i128::from(touch.raw()).saturating_mul(i128::from(filled.raw()));
    let excess = match taker {
        Side::Buy => notional.saturating_sub(at_touch),
        Side::Sell => at_touch.saturating_sub(notional),
    };
    excess as f64 / at_touch as f64 * 1e4
}

impl BookView for Book {
    #[inline]
    fn best_bid(&self) -> Option<BookLevel> {
        Self::best_bid(self)
    }

    #[inline]
    fn best_ask(&self) -> Option<BookLevel> {
        Self::best_ask(self)
    }

    #[inline]
    fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
        self.fill_top(side, out)
    }

    #[inline]
    fn is_synced(&self) -> bool {
        self.synced
    }

    /// Straight from the top cache when it holds `depth` levels or the whole side.
    #[inline]
    fn top_arrays(&self, side: BookSide, depth: usize) -> Option<TopArrays<'_>> {
        let ladder = self.ladder(side);
        let (keys, qtys) = ladder.top();
        if depth > keys.len() && !ladder.top_is_complete() {
            return None;
        }
        let n = depth.min(keys.len());
        let tick = self.grid.tick_raw();
        Some(TopArrays {
            keys: keys.get(..n)?,
            qtys: qtys.get(..n)?,
            px_per_key: match side {
                BookSide::Bid => tick.wrapping_neg(),
                BookSide::Ask => tick,
            },
            // Every re-grid (tick change) drains and refills both sides, so it moves the
            // generation too.
            version: Some(TopVersion {
                book: self.id,
                generation: ladder.top_generation(),
            }),
            // The sums cover the whole cache: lent only when all of it is.
            sums: (n == keys.len()).then(|| ladder.top_sums()),
        })
    }
}

/// The cached first levels of one side ([`Book::head`]).
#[derive(Clone, Debug)]
pub struct Head<'a> {
    inner: core::iter::Zip<core::slice::Iter<'a, i64>, core::slice::Iter<'a, i64>>,
    /// `-tick` for bids, `tick` for asks: `px = o * scale`.
    scale: i64,
}

impl Head<'_> {
    #[inline]
    fn level(scale: i64, (&o, &q): (&i64, &i64)) -> BookLevel {
        BookLevel {
            px: Px(o.wrapping_mul(scale)),
            qty: Qty(q),
        }
    }
}

impl Iterator for Head<'_> {
    type Item = BookLevel;

    #[inline]
    fn next(&mut self) -> Option<BookLevel> {
        let scale = self.scale;
        self.inner.next().map(|level| Self::level(scale, level))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }

    #[inline]
    fn fold<B, F: FnMut(B, BookLevel) -> B>(self, init: B, mut f: F) -> B {
        let scale = self.scale;
        self.inner
            .fold(init, |acc, level| f(acc, Self::level(scale, level)))
    }
}

impl ExactSizeIterator for Head<'_> {}

/// Iterator over one side's levels, outward from the touch ([`Book::levels`]).
#[derive(Debug)]
pub struct Levels<'a> {
    inner: LadderIter<'a>,
    side: BookSide,
    tick: i64,
}

impl Iterator for Levels<'_> {
    type Item = BookLevel;

    #[inline]
    fn next(&mut self) -> Option<BookLevel> {
        self.inner.next().map(|(o, q)| BookLevel {
            px: Px(Book::outward(self.side, o).wrapping_mul(self.tick)),
            qty: Qty(q),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(s: &str) -> Px {
        s.parse().unwrap()
    }
    fn qty(s: &str) -> Qty {
        s.parse().unwrap()
    }

    #[test]
    fn rejects_bad_configs() {
        let bad_tick = BookConfig::with_tick(Px(0));
        assert_eq!(
            Book::try_new(&bad_tick).err(),
            Some(ConfigError::NonPositiveTick { tick: Px(0) })
        );
        let c = BookConfig {
            ladder_ticks: 100,
            ..BookConfig::default()
        };
        assert!(matches!(
            Book::try_new(&c),
            Err(ConfigError::LadderTicks { .. })
        ));
        let c = BookConfig {
            ladder_ticks: 32,
            ..BookConfig::default()
        };
        assert!(Book::try_new(&c).is_err());
        let c = BookConfig {
            buffer_records: 1,
            ..BookConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::BufferRecords { .. })
        ));
        assert!(BookConfig::default().validate().is_ok());
    }

    #[test]
    fn rejects_invalid_levels_and_keeps_the_book() {
        let mut book = Book::new(&BookConfig::with_tick(Px(10_000_000)));
        book.set(BookSide::Bid, px("100"), qty("1")).unwrap();
        assert_eq!(
            book.set(BookSide::Bid, px("0"), qty("1")),
            Err(LevelError::NonPositivePrice { px: Px(0) })
        );
        assert_eq!(
            book.set(BookSide::Bid, px("-1"), qty("1")),
            Err(LevelError::NonPositivePrice { px: px("-1") })
        );
        assert_eq!(
            book.set(BookSide::Bid, px("100"), qty("-1")),
            Err(LevelError::NegativeQty { qty: qty("-1") })
        );
        assert_eq!(book.stats().rejected_levels, 3);
        assert_eq!(book.len(BookSide::Bid), 1);
        assert_eq!(book.qty_at(BookSide::Bid, px("100")), qty("1"));
    }

    #[test]
    fn off_grid_price_regrids_without_rounding() {
        let mut book = Book::new(&BookConfig::with_tick(Px(10_000_000)));
        book.set(BookSide::Bid, px("100.1"), qty("1")).unwrap();
        book.set(BookSide::Ask, px("100.3"), qty("2")).unwrap();
        book.set(BookSide::Ask, px("100.25"), qty("3")).unwrap();
        assert_eq!(book.tick(), Some(Px(5_000_000)));
        assert_eq!(book.stats().regrids, 1);
        assert_eq!(book.best_ask().unwrap().px, px("100.25"));
        assert_eq!(book.level(BookSide::Ask, 1).unwrap().px, px("100.3"));
        assert_eq!(book.qty_at(BookSide::Bid, px("100.1")), qty("1"));
        assert_eq!(book.qty_at(BookSide::Bid, px("100.11")), Qty::ZERO);
    }

    #[test]
    fn infers_the_tick_from_the_prices() {
        let mut book = Book::new(&BookConfig::default());
        assert_eq!(book.tick(), None);
        book.set(BookSide::Bid, px("61800"), qty("1")).unwrap();
        assert_eq!(book.tick(), Some(px("100")));
        book.set(BookSide::Bid, px("61799.9"), qty("1")).unwrap();
        book.set(BookSide::Ask, px("61800.1"), qty("1")).unwrap();
        assert_eq!(book.tick(), Some(px("0.1")));
        let bids: Vec<_> = book.levels(BookSide::Bid).map(|l| l.px).collect();
        assert_eq!(bids, [px("61800"), px("61799.9")]);
    }

    #[test]
    fn fill_cost_is_exact() {
        let mut book = Book::new(&BookConfig::with_tick(Px(10_000_000)));
        book.set(BookSide::Ask, px("100"), qty("1")).unwrap();
        book.set(BookSide::Ask, px("101"), qty("1")).unwrap();
        let f = book.cost_to_fill(Side::Buy, qty("1.5"));
        assert!(f.is_complete);
        assert_eq!(f.filled, qty("1.5"));
        assert_eq!(
            f.notional,
            notional(px("100"), qty("1")) + notional(px("101"), qty("0.5"))
        );
        assert_eq!(f.levels, 2);
        assert!((f.avg_px - 100.333_333_333).abs() < 1e-6);
        assert!((f.slippage_bps - 33.333_333).abs() < 1e-3);
        let short = book.cost_to_fill(Side::Buy, qty("3"));
        assert!(!short.is_complete);
        assert_eq!(short.filled, qty("2"));
        let none = book.cost_to_fill(Side::Sell, qty("1"));
        assert!(none.avg_px.is_nan() && none.touch.is_undef() && !none.is_complete);
        assert!(book.cost_to_fill(Side::Buy, Qty::ZERO).is_complete);
    }

    #[test]
    fn top_arrays_lend_the_top_cache() {
        let mut book = Book::new(&BookConfig::with_tick(Px(10_000_000)));
        for (i, q) in [3, 1, 2].into_iter().enumerate() {
            let i = i as i64;
            book.set(BookSide::Bid, Px((1_000 - i) * 10_000_000), Qty(q))
                .unwrap();
            book.set(BookSide::Ask, Px((1_001 + 2 * i) * 10_000_000), Qty(q))
                .unwrap();
        }
        for side in [BookSide::Bid, BookSide::Ask] {
            for depth in [0, 1, 2, 3, 20] {
                let a = book.top_arrays(side, depth).unwrap();
                let mut copied = [BookLevel::default(); 20];
                let n = book.top_levels(side, &mut copied[..depth]);
                assert_eq!((a.keys.len(), a.qtys.len()), (n, n));
                for (k, level) in copied[..n].iter().enumerate() {
                    assert_eq!(a.keys[k].wrapping_mul(a.px_per_key), level.px.raw());
                    assert_eq!(a.qtys[k], level.qty.raw());
                }
            }
        }
        assert_eq!(
            book.top_arrays(BookSide::Bid, 20).unwrap().px_per_key,
            -10_000_000
        );
        // A side deeper than the cache lends at most the cached levels.
        for i in 0..30 {
            book.set(BookSide::Bid, Px((900 - i) * 10_000_000), Qty(1))
                .unwrap();
        }
        assert_eq!(book.top_arrays(BookSide::Bid, 20).unwrap().keys.len(), 20);
        assert!(book.top_arrays(BookSide::Bid, 21).is_none());
        assert_eq!(book.top_arrays(BookSide::Ask, 21).unwrap().keys.len(), 3);
    }

    #[test]
    fn crossed_and_view() {
        let mut book = Book::new(&BookConfig::with_tick(Px(1)));
        assert!(!book.is_crossed());
        book.set(BookSide::Bid, Px(10), Qty(1)).unwrap();
        book.set(BookSide::Ask, Px(11), Qty(1)).unwrap();
        assert!(!book.is_crossed());
        book.set(BookSide::Ask, Px(10), Qty(1)).unwrap();
        assert!(book.is_crossed());
        let mut out = [BookLevel::default(); 3];
        assert_eq!(book.top_levels(BookSide::Ask, &mut out), 2);
        assert_eq!(
            out[0],
            BookLevel {
                px: Px(10),
                qty: Qty(1)
            }
        );
        assert!(!BookView::is_synced(&book));
        book.set_synced(true);
        assert!(BookView::is_synced(&book));
    }
}
