//! The book part of the per-event features (DESIGN.md section 5.1).
//!
//! The top [`DEPTH`] levels of each side are copied once with [`BookView::top_levels`] into a
//! stack array; per side, the 5/10/20-level volumes are exact `i64` sums and
//! one fixed-length loop accumulates the sums of the least-squares slope (see [`side_stats`]).
//! The slope regresses level quantity `y` on the level's price distance from the touch `x`,
//! both in raw 10^-8 units (the scales cancel, so the slope is base units per quote unit):
//!
//! `slope = (n * Σxy - Σx * Σy) / (n * Σxx - (Σx)^2)`
//!
//! with `f64` sums. Distances are measured from the touch, so `x` starts at 0 and stays small,
//! which keeps the cancellation in the denominator mild.
//!
//! A book that is not in sync is read as empty: every book field becomes undefined (prices
//! [`Px::UNDEF`], quantities zero, floats `NaN`) through the same formulas, with no extra branch.

use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty};

use crate::output::EventFeatures;

/// Levels per side the features read.
pub(crate) const DEPTH: usize = 20;

/// Per-side results of the walk.
#[derive(Clone, Copy, Debug)]
struct SideStats {
    touch: BookLevel,
    vol: [i64; 3],
    /// `[Σx, Σy, Σxy, Σxx]` of the regression.
    sums: [f64; 4],
}

/// One level's share of the regression sums; returns its quantity.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "regression sums are f64 by definition"
)]
fn level_terms<const BID: bool>(l: &BookLevel, p0: i64, s: &mut [f64; 3]) -> i64 {
    let d = if BID {
        p0.wrapping_sub(l.px.0)
    } else {
        l.px.0.wrapping_sub(p0)
    };
    let (x, y) = (d as f64, l.qty.0 as f64);
    s[0] += x;
    s[1] += x * y;
    s[2] += x * x;
    l.qty.0
}

/// Walks one side: `levels[..n]` from the touch outward, the rest padded with the touch price
/// and zero quantity (see [`read_book`]), so absent levels add nothing to any sum and the loop
/// has a fixed trip count: fully unrolled, no branch. Distances are `p0 - px` for bids and
/// `px - p0` for asks (`BID`), non-negative for a well-formed book (a malformed, unsorted one
/// gives a meaningless slope, never a panic).
///
/// Measured (callgrind, `benches/benches/features.rs`): this scalar form costs about 14
/// instructions per level. Attempts to make LLVM vectorise it on the x86-64 baseline (SSE2: no
/// packed `i64 -> f64` conversion) — structure-of-arrays gathers, the `2^52` bit trick, bid and
/// ask as two lanes — all produced more instructions, so the scalar form stays.
///
/// The float sums `Σx, Σxy, Σxx` run over four interleaved accumulators (levels `4k + j` go to
/// accumulator `j`) added pairwise at the end: four independent dependency chains instead of
/// one, in a fixed order, so the same result on every run. `Σy` is the exact 20-level volume.
/// Volumes are wrapping `i64` sums (20 resting quantities cannot reach 2^63 units of 10^-8 on a
/// real book; wrapping keeps hostile input from panicking).
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "regression sums are f64 by definition"
)]
fn side_stats<const BID: bool>(levels: &[BookLevel; DEPTH], n: usize) -> SideStats {
    let touch = if n > 0 {
        levels[0]
    } else {
        BookLevel {
            px: Px::UNDEF,
            qty: Qty::ZERO,
        }
    };
    let p0 = levels[0].px.0;
    let mut acc = [[0.0f64; 3]; 4];
    let mut quad = [0i64; DEPTH / 4];
    for (k, q) in quad.iter_mut().enumerate() {
        let i = 4 * k;
        let [a, b, c, d] = &mut acc;
        let q0 = level_terms::<BID>(&levels[i], p0, a);
        let q1 = level_terms::<BID>(&levels[i + 1], p0, b);
        let q2 = level_terms::<BID>(&levels[i + 2], p0, c);
        let q3 = level_terms::<BID>(&levels[i + 3], p0, d);
        *q = q0.wrapping_add(q1).wrapping_add(q2).wrapping_add(q3);
    }
    let vol5 = quad[0].wrapping_add(levels[4].qty.0);
    let vol10 = quad[0]
        .wrapping_add(quad[1])
        .wrapping_add(levels[8].qty.0)
        .wrapping_add(levels[9].qty.0);
    let vol20 = quad.iter().fold(0i64, |s, &v| s.wrapping_add(v));
    let total = |k: usize| (acc[0][k] + acc[1][k]) + (acc[2][k] + acc[3][k]);
    SideStats {
        touch,
        vol: [vol5, vol10, vol20],
        sums: [total(0), vol20 as f64, total(1), total(2)],
    }
}

/// Least-squares slope from the sums of [`side_stats`]; `NaN` with fewer than two levels or
/// all at one price.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "regression sums are f64 by definition"
)]
fn slope(n: usize, [sx, sy, sxy, sxx]: [f64; 4]) -> f64 {
    let nf = n.min(DEPTH) as f64;
    let den = nf * sxx - sx * sx;
    if n >= 2 && den > 0.0 {
        (nf * sxy - sx * sy) / den
    } else {
        f64::NAN
    }
}

/// Reads `book` and writes every book field of `f` (and `synced`).
///
/// Measured alternative: keeping the last 20 levels per side and reusing a side's statistics
/// when it reads back unchanged saved the walk on about two thirds of the bench's updates, but
/// the 320-byte compare (LLVM turns it into emulated 64-bit lane compares on SSE2) cost about as
/// much as the walk it saved, so every update recomputes both sides.
#[inline]
pub(crate) fn read_book<B: BookView + ?Sized>(book: &B, f: &mut EventFeatures) {
    let mut bids = [BookLevel::default(); DEPTH];
    let mut asks = [BookLevel::default(); DEPTH];
    let synced = book.is_synced();
    let (nb, na) = if synced {
        (
            book.top_levels(BookSide::Bid, &mut bids).min(DEPTH),
            book.top_levels(BookSide::Ask, &mut asks).min(DEPTH),
        )
    } else {
        (0, 0)
    };
    // Pad absent levels with the touch price and zero quantity (see `side_stats`).
    let (pb, pa) = (bids[0].px, asks[0].px);
    for l in &mut bids[nb..] {
        *l = BookLevel {
            px: pb,
            qty: Qty::ZERO,
        };
    }
    for l in &mut asks[na..] {
        *l = BookLevel {
            px: pa,
            qty: Qty::ZERO,
        };
    }
    let bid = side_stats::<true>(&bids, nb);
    let ask = side_stats::<false>(&asks, na);
    write_features(&bid, &ask, [nb, na], synced, f);
}

/// Writes every book field of `f` from the two sides' statistics.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "feature output is f64 by definition"
)]
fn write_features(
    bid: &SideStats,
    ask: &SideStats,
    [nb, na]: [usize; 2],
    synced: bool,
    f: &mut EventFeatures,
) {
    f.synced = synced;
    f.best_bid = bid.touch.px;
    f.best_ask = ask.touch.px;
    f.bid_qty_1 = bid.touch.qty;
    f.ask_qty_1 = ask.touch.qty;
    // The four imbalances as one lane-wise division: `(b - a) / (b + a)` for 5, 10, 20 levels,
    // and `bq / (bq + aq)` for L1. Exact integers up to 2^53, so the inputs are exact.
    let (bq, aq) = (bid.touch.qty.0 as f64, ask.touch.qty.0 as f64);
    let bv = bid.vol.map(|v| v as f64);
    let av = ask.vol.map(|v| v as f64);
    let num = [bv[0] - av[0], bv[1] - av[1], bv[2] - av[2], bq];
    let den = [bv[0] + av[0], bv[1] + av[1], bv[2] + av[2], bq + aq];
    let imb: [f64; 4] = core::array::from_fn(|k| num[k] / den[k]);
    f.imbalance_5 = imb[0];
    f.imbalance_10 = imb[1];
    f.imbalance_20 = imb[2];
    f.l1_imbalance = imb[3];
    if nb > 0 && na > 0 {
        let (b, a) = (bid.touch.px.0 as f64, ask.touch.px.0 as f64);
        f.mid = (b + a) / (2.0 * 1e8);
        f.spread = Px(ask.touch.px.0.wrapping_sub(bid.touch.px.0));
        f.spread_bps = (a - b) / (a + b) * 2e4;
        f.microprice = (b * aq + a * bq) / ((aq + bq) * 1e8);
    } else {
        f.mid = f64::NAN;
        f.spread = Px::UNDEF;
        f.spread_bps = f64::NAN;
        f.microprice = f64::NAN;
    }
    f.bid_vol_5 = Qty(bid.vol[0]);
    f.ask_vol_5 = Qty(ask.vol[0]);
    f.bid_vol_10 = Qty(bid.vol[1]);
    f.ask_vol_10 = Qty(ask.vol[1]);
    f.bid_vol_20 = Qty(bid.vol[2]);
    f.ask_vol_20 = Qty(ask.vol[2]);
    f.bid_slope = slope(nb, bid.sums);
    f.ask_slope = slope(na, ask.sums);
}

/// `(microprice - last) / last * 1e4`; `NaN` when either is undefined.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "feature output is f64 by definition"
)]
pub(crate) fn microprice_vs_last_bps(microprice: f64, last: Px) -> f64 {
    if last.is_undef() || last.0 == 0 {
        return f64::NAN;
    }
    let last = last.0 as f64 / 1e8;
    (microprice - last) / last * 1e4
}

/// What bars need from a book state: the values they average, time-weight or report at close.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BarBookState {
    /// In sync (one-sided books count as in sync).
    pub(crate) synced: bool,
    /// In sync with both sides present: the state enters averages and time weights.
    pub(crate) valid: bool,
    /// Raw spread (valid states only).
    pub(crate) spread: i64,
    /// Raw best-bid quantity.
    pub(crate) bid_qty: i64,
    /// Raw best-ask quantity.
    pub(crate) ask_qty: i64,
    /// 5/10/20-level imbalances.
    pub(crate) imbalance: [f64; 3],
    /// Slopes at this state.
    pub(crate) bid_slope: f64,
    /// Slopes at this state.
    pub(crate) ask_slope: f64,
}

impl BarBookState {
    /// The state before any book: not in sync, nothing valid.
    pub(crate) const NONE: Self = Self {
        synced: false,
        valid: false,
        spread: 0,
        bid_qty: 0,
        ask_qty: 0,
        imbalance: [f64::NAN; 3],
        bid_slope: f64::NAN,
        ask_slope: f64::NAN,
    };

    /// Extracts the bar state from freshly computed features.
    #[inline]
    pub(crate) fn from_features(f: &EventFeatures) -> Self {
        Self {
            synced: f.synced,
            valid: !f.spread.is_undef(),
            spread: f.spread.0,
            bid_qty: f.bid_qty_1.0,
            ask_qty: f.ask_qty_1.0,
            imbalance: [f.imbalance_5, f.imbalance_10, f.imbalance_20],
            bid_slope: f.bid_slope,
            ask_slope: f.ask_slope,
        }
    }
}
