//! The book part of the per-event features (DESIGN.md section 5.1).
//!
//! The top [`DEPTH`] levels of each side are read once, from the book's own arrays
//! ([`BookView::top_arrays`]) or copied with [`BookView::top_levels`], into distances from the
//! touch and quantities on the stack; per side, the 5/10/20-level volumes are exact `i64` sums
//! and one fixed-length loop accumulates the sums of the least-squares slope (see
//! [`side_stats`]).
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

use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty, TopArrays, TopVersion};

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

/// The statistics of each side (bid, ask) last computed from lent arrays, with the
/// [`TopVersion`] they were computed from: a side whose top cache has not changed since (most
/// updates change one side only, or only levels beyond the 20th) is not walked again.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TopStatsCache {
    sides: [Option<(TopVersion, SideStats, usize)>; 2],
}

/// [`stats_from_arrays`], reused from `slot` when `a` has the version it was computed from.
#[inline]
fn cached_stats(
    slot: &mut Option<(TopVersion, SideStats, usize)>,
    a: &TopArrays<'_>,
) -> (SideStats, usize) {
    if let (Some(v), Some((cv, stats, n))) = (a.version, slot.as_ref())
        && v == *cv
    {
        return (*stats, *n);
    }
    let (stats, n) = stats_from_arrays(a);
    *slot = a.version.map(|v| (v, stats, n));
    (stats, n)
}

/// The touch of a side with `n` levels whose first is `first`.
#[inline]
fn touch_of(n: usize, first: BookLevel) -> BookLevel {
    if n > 0 {
        first
    } else {
        BookLevel {
            px: Px::UNDEF,
            qty: Qty::ZERO,
        }
    }
}

/// Statistics of a side lent as the book's own arrays ([`BookView::top_arrays`]): distances
/// are key steps times the tick, with no price built per level. A full side (the usual case)
/// is read in place as fixed-size arrays; a shallower one is padded with `(0, 0)`.
#[inline]
fn stats_from_arrays(a: &TopArrays<'_>) -> (SideStats, usize) {
    let n = a.keys.len().min(a.qtys.len()).min(DEPTH);
    let (keys, qtys) = (&a.keys[..n], &a.qtys[..n]);
    let k0 = keys.first().copied().unwrap_or(0);
    let step = a.px_per_key.wrapping_abs();
    let touch = touch_of(
        n,
        BookLevel {
            px: Px(k0.wrapping_mul(a.px_per_key)),
            qty: Qty(qtys.first().copied().unwrap_or(0)),
        },
    );
    let stats = match (
        <&[i64; DEPTH]>::try_from(keys),
        <&[i64; DEPTH]>::try_from(qtys),
    ) {
        (Ok(keys), Ok(qtys)) => side_stats(touch, |i| {
            (keys[i].wrapping_sub(k0).wrapping_mul(step), qtys[i])
        }),
        _ => {
            let mut level = [(0i64, 0i64); DEPTH];
            for (l, (&k, &q)) in level.iter_mut().zip(keys.iter().zip(qtys)) {
                *l = (k.wrapping_sub(k0).wrapping_mul(step), q);
            }
            side_stats(touch, |i| level[i])
        }
    };
    (stats, n)
}

/// Statistics of a side copied as levels `levels[..n]` (touch first, the rest padded with the
/// touch price and zero quantity, see [`read_book`]): distances are `p0 - px` for bids and
/// `px - p0` for asks (`BID`). Equal to [`stats_from_arrays`] on the same book, bit for bit:
/// `(k - k0) * tick` and `p0 - px` are the same integer.
#[inline]
fn stats_from_levels<const BID: bool>(levels: &[BookLevel; DEPTH], n: usize) -> SideStats {
    let p0 = levels[0].px.0;
    side_stats(touch_of(n, levels[0]), |i| {
        let l = &levels[i];
        let d = if BID {
            p0.wrapping_sub(l.px.0)
        } else {
            l.px.0.wrapping_sub(p0)
        };
        (d, l.qty.0)
    })
}

/// One level's share of the regression sums; returns its quantity.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "regression sums are f64 by definition"
)]
fn level_terms((d, q): (i64, i64), s: &mut [f64; 3]) -> i64 {
    let (x, y) = (d as f64, q as f64);
    s[0] += x;
    s[1] += x * y;
    s[2] += x * x;
    q
}

/// Walks one side: `level(i)` is the `i`-th level's distance from the touch (raw price units,
/// `>= 0` on a well-formed book) and quantity, absent levels `(0, 0)` so they add nothing to any
/// sum. The loop has a fixed trip count: fully unrolled, no branch (a malformed, unsorted
/// book gives a meaningless slope, never a panic).
///
/// Measured (callgrind, `benches/benches/features.rs`): this scalar form costs about 14
/// instructions per level. Attempts to make LLVM vectorise it on the x86-64 baseline (SSE2: no
/// packed `i64 -> f64` conversion) — structure-of-arrays gathers, the `2^52` bit trick, bid and
/// ask as two lanes — all produced more instructions, so the scalar form stays. That held again
/// for the `2^52` trick on the real book's own key and quantity arrays (1,393 instructions per
/// update against 1,131, and slower).
///
/// Reading the real book's top cache in place ([`BookView::top_arrays`]) rather than copying
/// 2 x 20 [`BookLevel`]s: `on_book_update` on the real book went from 1,417 to 1,131
/// instructions per update (callgrind over 200 000 updates of the `real_book` case, the book's
/// own update subtracted) and from about 93 to 87 ns in an A/B run on the shared 2-core VM; the
/// copy path (`book_update/bars`, an array book) stayed at 971 to 982 instructions.
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
fn side_stats(touch: BookLevel, level: impl Fn(usize) -> (i64, i64)) -> SideStats {
    let mut acc = [[0.0f64; 3]; 4];
    let mut quad = [0i64; DEPTH / 4];
    for (k, q) in quad.iter_mut().enumerate() {
        let i = 4 * k;
        let [a, b, c, d] = &mut acc;
        let q0 = level_terms(level(i), a);
        let q1 = level_terms(level(i + 1), b);
        let q2 = level_terms(level(i + 2), c);
        let q3 = level_terms(level(i + 3), d);
        *q = q0.wrapping_add(q1).wrapping_add(q2).wrapping_add(q3);
    }
    let vol5 = quad[0].wrapping_add(level(4).1);
    let vol10 = quad[0]
        .wrapping_add(quad[1])
        .wrapping_add(level(8).1)
        .wrapping_add(level(9).1);
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
/// The levels come from [`BookView::top_arrays`] when the book lends its arrays (the real
/// book's top cache), else are copied with [`BookView::top_levels`]; both give the same
/// distances and quantities to [`side_stats`], so the same features bit for bit.
///
/// Measured alternative: keeping the last 20 levels per side and reusing a side's statistics
/// when it reads back unchanged saved the walk on about two thirds of the bench's updates, but
/// the 320-byte compare (LLVM turns it into emulated 64-bit lane compares on SSE2) cost about as
/// much as the walk it saved. What replaced it: the book's top cache carries a [`TopVersion`]
/// (book id and a per-side change counter), so the check is two integer compares and a side
/// whose top 20 did not change reuses its statistics from [`TopStatsCache`]. `real_book`
/// (book_update minus base, two runs each, shared 2-core VM): 86 / 99 ns before, 68 / 70 ns
/// after.
#[inline]
pub(crate) fn read_book<B: BookView + ?Sized>(
    book: &B,
    cache: &mut TopStatsCache,
    f: &mut EventFeatures,
) {
    let synced = book.is_synced();
    let arrays = if synced {
        book.top_arrays(BookSide::Bid, DEPTH)
            .zip(book.top_arrays(BookSide::Ask, DEPTH))
    } else {
        None
    };
    let (bid, ask, nb, na) = if let Some((b, a)) = arrays {
        let [cb, ca] = &mut cache.sides;
        let ((bid, nb), (ask, na)) = (cached_stats(cb, &b), cached_stats(ca, &a));
        (bid, ask, nb, na)
    } else {
        let mut bids = [BookLevel::default(); DEPTH];
        let mut asks = [BookLevel::default(); DEPTH];
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
        (
            stats_from_levels::<true>(&bids, nb),
            stats_from_levels::<false>(&asks, na),
            nb,
            na,
        )
    };
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
