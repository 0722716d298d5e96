//! The book part of the per-event features (DESIGN.md section 5.1).
//!
//! The top [`DEPTH`] levels of each side are read once, from the book's own arrays
//! ([`BookView::top_arrays`]) or copied with [`BookView::top_levels`]. Per side, the 5/10/20-level
//! volumes are exact `i64` sums and the bid/ask slope is the least-squares slope of level quantity
//! `y` on the level's price distance from the touch `x`, both in raw 10^-8 units (the scales
//! cancel, so the slope is base units per quote unit):
//!
//! `slope = (n * Σxy - Σx * Σy) / (n * Σxx - (Σx)^2)`
//!
//! Numerator and denominator are exact integers (`i128`), each rounded to `f64` once before the
//! one division, so the slope is within an ulp or two of the exact value however the sums
//! cancel, and the same whichever way it was computed:
//! - a book that keeps [`TopSums`] over its cached levels (the real book does, one add or remove
//!   per level that enters, leaves or changes) lends them with its arrays, and the sums over `x`
//!   follow from the sums over keys `k` with `x = (k - k0) * step` by exact algebra: no walk;
//! - otherwise the levels are walked once into the same integer sums.
//!
//! Both give the same integers, so the same slope bit for bit (`tests/book_paths.rs`).
//!
//! A book that is not in sync is read as empty: every book field becomes undefined (prices
//! [`Px::UNDEF`], quantities zero, floats `NaN`) through the same formulas, with no extra branch.

use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty, TopArrays, TopSums, TopVersion};

use crate::output::EventFeatures;

/// Levels per side the features read.
pub(crate) const DEPTH: usize = 20;

/// Per-side results.
#[derive(Clone, Copy, Debug)]
struct SideStats {
    touch: BookLevel,
    /// Volumes of the first 5, 10 and 20 levels.
    vol: [i64; 3],
    slope: f64,
}

/// The statistics of each side (bid, ask) last computed from lent arrays, with the
/// [`TopVersion`] they were computed from: a side whose top cache has not changed since (most
/// updates change one side only, or only levels beyond the 20th) is not read again.
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

/// Wrapping sum of the first `k` quantities (fewer when `qtys` is shorter).
#[inline]
fn head_volume(qtys: impl IntoIterator<Item = i64>, k: usize) -> i64 {
    qtys.into_iter().take(k).fold(0i64, i64::wrapping_add)
}

/// Statistics of a side lent as the book's own arrays ([`BookView::top_arrays`]): the lent
/// [`TopSums`] when they cover exactly the levels read, else sums over the keys walked here.
#[inline]
fn stats_from_arrays(a: &TopArrays<'_>) -> (SideStats, usize) {
    let n = a.keys.len().min(a.qtys.len()).min(DEPTH);
    let (keys, qtys) = (&a.keys[..n], &a.qtys[..n]);
    let k0 = keys.first().copied().unwrap_or(0);
    let touch = touch_of(
        n,
        BookLevel {
            px: Px(k0.wrapping_mul(a.px_per_key)),
            qty: Qty(qtys.first().copied().unwrap_or(0)),
        },
    );
    let sums = match a.sums {
        Some(sums) if a.keys.len() == n && a.qtys.len() == n => sums,
        _ => TopSums::of(keys, qtys),
    };
    let step = i128::from(a.px_per_key).wrapping_abs();
    let stats = SideStats {
        touch,
        vol: [
            head_volume(qtys.iter().copied(), 5),
            head_volume(qtys.iter().copied(), 10),
            // Σq mod 2^64: the wrapping i64 sum of the same quantities.
            sums.qty as i64,
        ],
        slope: slope(n, k0, step, &sums),
    };
    (stats, n)
}

/// Statistics of a side copied as levels `levels[..n]` (touch first, the rest padded with the
/// touch price and zero quantity, see [`read_book`]): distances are `p0 - px` for bids and
/// `px - p0` for asks (`BID`), summed as keys from 0 with a step of 1. Equal to
/// [`stats_from_arrays`] on the same book, bit for bit: `(k - k0) * tick` and `p0 - px` are the
/// same integer, and padded levels add nothing to any sum.
#[inline]
fn stats_from_levels<const BID: bool>(levels: &[BookLevel; DEPTH], n: usize) -> SideStats {
    let p0 = levels[0].px.0;
    let distance = |l: &BookLevel| {
        if BID {
            p0.wrapping_sub(l.px.0)
        } else {
            l.px.0.wrapping_sub(p0)
        }
    };
    // `Σd` and `Σq` in `i64` (20 real distances or quantities are far below 2^63; only
    // hostile input wraps), the products in `i128`: four running sums that stay in registers.
    // (Splitting the product sums over even and odd levels measured no faster.)
    let (mut sd, mut sq, mut sdd, mut sdq) = (0i64, 0i64, 0i128, 0i128);
    for l in levels {
        let (d, q) = (distance(l), l.qty.0);
        sd = sd.wrapping_add(d);
        sq = sq.wrapping_add(q);
        // i64 x i64 fits i128: no overflow.
        sdd = sdd.wrapping_add(i128::from(d) * i128::from(d));
        sdq = sdq.wrapping_add(i128::from(d) * i128::from(q));
    }
    let sums = TopSums {
        qty: i128::from(sq),
        key: i128::from(sd),
        key_qty: sdq,
        key_sq: sdd,
    };
    let head = |k: usize| head_volume(levels.iter().map(|l| l.qty.0), k);
    SideStats {
        touch: touch_of(n, levels[0]),
        vol: [head(5), head(10), sums.qty as i64],
        slope: slope(n, 0, 1, &sums),
    }
}

/// The least-squares slope of `n` levels whose distances from the touch are `(k - k0) * step`,
/// from the exact sums over their keys `k`; `NaN` with fewer than two levels or all at one
/// price. With `j = k - k0`:
/// `Σj = Σk - n·k0`, `Σjy = Σky - k0·Σy`, `Σjj = Σkk - 2·k0·Σk + n·k0²`; then the numerator
/// `step·(n·Σjy - Σj·Σy)` and the denominator `step²·(n·Σjj - (Σj)²)` are the ones over
/// distances, exactly (integers, wrapping only on hostile input).
#[inline]
fn slope(n: usize, k0: i64, step: i128, s: &TopSums) -> f64 {
    let nn = n.min(DEPTH) as i128;
    let k0 = i128::from(k0);
    let sj = s.key.wrapping_sub(nn.wrapping_mul(k0));
    let sjy = s.key_qty.wrapping_sub(k0.wrapping_mul(s.qty));
    let sjj = s
        .key_sq
        .wrapping_sub(k0.wrapping_mul(s.key).wrapping_mul(2))
        .wrapping_add(nn.wrapping_mul(k0).wrapping_mul(k0));
    let num = nn
        .wrapping_mul(sjy)
        .wrapping_sub(sj.wrapping_mul(s.qty))
        .wrapping_mul(step);
    let den = nn
        .wrapping_mul(sjj)
        .wrapping_sub(sj.wrapping_mul(sj))
        .wrapping_mul(step.wrapping_mul(step));
    if n >= 2 && den > 0 {
        to_f64(num) / to_f64(den)
    } else {
        f64::NAN
    }
}

/// `v` rounded to the nearest `f64` (ties to even), as `v as f64` rounds it, without the
/// library call Rust makes for `i128`: the one-instruction `i64` conversion when `v` fits,
/// otherwise the top 64 bits of `|v|` with a sticky bit for the rest (so the rounding still sees
/// whether anything below was lost), converted and scaled by an exact power of two.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "the one rounding of an exact sum, by design; the shifts keep 64 bits"
)]
fn to_f64(v: i128) -> f64 {
    if let Ok(v) = i64::try_from(v) {
        return v as f64;
    }
    let m = v.unsigned_abs();
    let shift = 64 - m.leading_zeros().min(64);
    let sticky = u64::from(m & ((1u128 << shift) - 1) != 0);
    let top = (m >> shift) as u64 | sticky;
    // 2^shift for shift <= 64, exactly.
    let scale = f64::from_bits((1023 + u64::from(shift)) << 52);
    let magnitude = top as f64 * scale;
    if v < 0 { -magnitude } else { magnitude }
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
    f.bid_slope = bid.slope;
    f.ask_slope = ask.slope;
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

#[cfg(test)]
mod tests {
    use super::to_f64;
    use proptest::prelude::*;

    #[allow(clippy::cast_precision_loss, reason = "the reference conversion")]
    fn reference(v: i128) -> f64 {
        v as f64
    }

    #[test]
    fn wide_conversion_rounds_like_as() {
        let edges = [
            0,
            1,
            -1,
            i128::from(i64::MAX),
            i128::from(i64::MAX) + 1,
            i128::from(i64::MIN) - 1,
            (1 << 64) - 1,
            1 << 64,
            (1 << 64) + 1,
            // Halfway cases: 2^53 + 1 scaled past 64 bits, with and without a sticky bit.
            ((1 << 53) + 1) << 20,
            (((1 << 53) + 1) << 20) + 1,
            (((1 << 53) + 3) << 20),
            i128::MAX,
            i128::MIN,
            i128::MIN + 1,
        ];
        for v in edges {
            assert_eq!(to_f64(v).to_bits(), reference(v).to_bits(), "{v}");
        }
    }

    proptest! {
        #[test]
        fn conversion_matches_as_for_any_width(v in any::<i128>(), shift in 0u32..127) {
            let v = v >> shift;
            prop_assert_eq!(to_f64(v).to_bits(), reference(v).to_bits(), "{}", v);
        }
    }
}
