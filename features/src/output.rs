//! What the features crate produces: [`EventFeatures`] after every book update and trade,
//! [`Bar`]s when a bar closes, both handed to a [`FeatureSink`] (DESIGN.md sections 5.1, 5.2).
//!
//! Conventions shared by every field:
//! - Exact values stay integers: prices are [`Px`], single quantities [`Qty`], sums of
//!   quantities [`QtySum`] (an `i128` of 10^-8 units, wide enough for a day of any symbol),
//!   sums of `px * qty` [`Notional`] (an `i128` of 10^-16 quote units), counts `u32`/`u64`.
//! - Derived values are `f64` in natural units (quote currency for prices and spreads, base
//!   currency for quantities, plain ratios, basis points where the name says `_bps`).
//! - Undefined values: a missing price is [`Px::UNDEF`], a missing quantity [`Qty::ZERO`] (an
//!   empty side has nothing resting), and a float whose inputs are missing or whose denominator is
//!   zero is `NaN`. Every field's doc says when it is undefined.

use core::fmt;

use orderflow_core::{Px, Qty, SCALE, SymbolId};

/// A sum of quantities in 10^-8 base units, as `i128` so it cannot overflow: a day of a
/// low-priced symbol can exceed the 92 billion units an `i64` [`Qty`] holds.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QtySum(pub i128);

/// A sum of `px * qty` products in 10^-16 quote units (exact: [`orderflow_core::notional`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Notional(pub i128);

/// Number of fraction digits of [`Notional`].
const NOTIONAL_DIGITS: u32 = 16;

impl QtySum {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// The raw count of 10^-8 units.
    #[inline]
    #[must_use]
    pub const fn raw(self) -> i128 {
        self.0
    }

    /// Lossy conversion to base units.
    #[inline]
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "feature output is f64 by definition"
    )]
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl Notional {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// The raw count of 10^-16 quote units.
    #[inline]
    #[must_use]
    pub const fn raw(self) -> i128 {
        self.0
    }

    /// Lossy conversion to quote units.
    #[inline]
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "feature output is f64 by definition"
    )]
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1e16
    }
}

impl fmt::Display for QtySum {
    /// Exact decimal (`123.456`), no float involved.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        orderflow_core::write_fixed(f, self.0, orderflow_core::SCALE_DIGITS)
    }
}

impl fmt::Debug for QtySum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QtySum({self})")
    }
}

impl fmt::Display for Notional {
    /// Exact decimal with up to 16 fraction digits, no float involved.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        orderflow_core::write_fixed(f, self.0, NOTIONAL_DIGITS)
    }
}

impl fmt::Debug for Notional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notional({self})")
    }
}

/// What caused an [`EventFeatures`] record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FeatureTrigger {
    /// A fully applied book update, or a change of the book's sync state.
    #[default]
    BookUpdate = 0,
    /// A trade of the selected trade source ([`crate::TradeSource`]).
    Trade = 1,
}

/// The per-event features of DESIGN.md section 5.1, emitted after every book update and every
/// trade of the selected source.
///
/// Book fields are read from the book at its last update (a trade does not move the book), and
/// only from a book that is in sync: while it is not, every book field is undefined. Trailing
/// windows are evaluated at [`Self::clock_ms`]. The README has the same table in one page.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EventFeatures {
    /// What produced this record.
    pub trigger: FeatureTrigger,
    /// Exchange time of the triggering event, ms since the UNIX epoch (a trade's `T`, a depth
    /// update's `T`).
    pub time_ms: i64,
    /// The symbol clock, ms: the largest exchange time seen so far (and timer time minus grace).
    /// Never decreases; trailing windows end here.
    pub clock_ms: i64,
    /// `true` when the book was in sync at its last update; book fields are undefined otherwise.
    pub synced: bool,
    /// Best bid price ([`Px::UNDEF`] when the bid side is empty or the book is not in sync).
    pub best_bid: Px,
    /// Best ask price ([`Px::UNDEF`] when the ask side is empty or the book is not in sync).
    pub best_ask: Px,
    /// Quantity at the best bid (zero when absent).
    pub bid_qty_1: Qty,
    /// Quantity at the best ask (zero when absent).
    pub ask_qty_1: Qty,
    /// `(best_bid + best_ask) / 2`, quote units; `NaN` unless both sides are present.
    pub mid: f64,
    /// `best_ask - best_bid`, exact; [`Px::UNDEF`] unless both sides are present.
    pub spread: Px,
    /// `spread / mid * 1e4`, basis points; `NaN` unless both sides are present.
    pub spread_bps: f64,
    /// `(bid * ask_qty_1 + ask * bid_qty_1) / (bid_qty_1 + ask_qty_1)`, quote units (the seed
    /// docs' "weighted mid"); `NaN` unless both sides are present.
    pub microprice: f64,
    /// `bid_qty_1 / (bid_qty_1 + ask_qty_1)`, in `[0, 1]` (an empty side counts as zero);
    /// `NaN` when both sides are empty.
    pub l1_imbalance: f64,
    /// Sum of the quantities of the first 5 bid levels (fewer when the side is shallower).
    pub bid_vol_5: Qty,
    /// Sum of the quantities of the first 5 ask levels.
    pub ask_vol_5: Qty,
    /// Sum of the quantities of the first 10 bid levels.
    pub bid_vol_10: Qty,
    /// Sum of the quantities of the first 10 ask levels.
    pub ask_vol_10: Qty,
    /// Sum of the quantities of the first 20 bid levels.
    pub bid_vol_20: Qty,
    /// Sum of the quantities of the first 20 ask levels.
    pub ask_vol_20: Qty,
    /// `(bid_vol_5 - ask_vol_5) / (bid_vol_5 + ask_vol_5)`, in `[-1, 1]`; `NaN` when both are 0.
    pub imbalance_5: f64,
    /// As `imbalance_5` over 10 levels.
    pub imbalance_10: f64,
    /// As `imbalance_5` over 20 levels.
    pub imbalance_20: f64,
    /// Least-squares slope of level quantity (base units) against the level's price distance
    /// from the best bid (quote units), over the first 20 bid levels: base units per quote unit.
    /// `NaN` with fewer than two levels.
    pub bid_slope: f64,
    /// As `bid_slope` for the ask side (distance from the best ask).
    pub ask_slope: f64,
    /// `(microprice - last_trade_px) / last_trade_px * 1e4`, basis points; `NaN` when either is
    /// undefined.
    pub microprice_vs_last_bps: f64,
    /// Price of the last trade of the selected source ([`Px::UNDEF`] before the first).
    pub last_trade_px: Px,
    /// Cumulative volume delta: buy minus sell aggressor quantity over the trades whose `T` lies
    /// in the UTC day of `clock_ms` (reset at 00:00 UTC, exchange time).
    pub cvd: QtySum,
    /// Number of trades (messages of the selected source) with `T` in `(clock_ms - 1000,
    /// clock_ms]`. Exact.
    pub trade_intensity_1s: u32,
    /// As `trade_intensity_1s` over 5 s. Exact.
    pub trade_intensity_5s: u32,
    /// As `trade_intensity_1s` over 10 s. Exact.
    pub trade_intensity_10s: u32,
    /// Buy aggressor volume / total volume of the trades in the trailing 60 s, in `[0, 1]`;
    /// `NaN` when there was no volume. The window is bucketed: see
    /// [`crate::FeatureConfig::buy_pressure_bucket_ms`].
    pub buy_pressure_60s: f64,
    /// For a trade: `qty > 2 x` the mean trade quantity of the trailing 15 minutes (the trade
    /// itself excluded; `false` when there is no earlier trade in the window). Always `false`
    /// after a book update. See [`crate::FeatureConfig::large_trade_bucket_ms`].
    pub large_trade: bool,
    /// Last mark price ([`Px::UNDEF`] before the first `markPriceUpdate`).
    pub mark_px: Px,
    /// Last index price ([`Px::UNDEF`] before the first `markPriceUpdate`).
    pub index_px: Px,
    /// Last funding rate, a decimal (`0.0001` is 0.01 %); zero before the first update.
    pub funding_rate: Qty,
    /// `(mark_px - index_px) / index_px`, a ratio; `NaN` when either is undefined.
    pub premium: f64,
}

/// One closed bar of DESIGN.md section 5.2: `[timestamp_ms, timestamp_ms + resolution_ms)`.
///
/// Membership: a trade, book update or liquidation belongs to the bar holding its exchange time,
/// except a late one (older than the open 100 ms period when it arrives), which is
/// accumulated into the open bar (see the crate docs, "Bars"). Bars with no trades forward-fill
/// prices (`open = high = low = close =` previous close, `vwap = close`) and have zero volumes and
/// counts (DESIGN.md section 5.4).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bar {
    /// Bar length, ms (a multiple of 100).
    pub resolution_ms: i64,
    /// Open time, ms since the UNIX epoch, a multiple of `resolution_ms` (aligned to UTC).
    pub timestamp_ms: i64,
    /// First trade price, or the previous close when the bar has no trade ([`Px::UNDEF`] before
    /// the symbol's first trade).
    pub open: Px,
    /// Highest trade price (previous close when no trade).
    pub high: Px,
    /// Lowest trade price (previous close when no trade).
    pub low: Px,
    /// Last trade price (previous close when no trade).
    pub close: Px,
    /// `quote_volume / vol_total`, quote units; `close` when there was no volume.
    pub vwap: f64,
    /// Traded quantity.
    pub vol_total: QtySum,
    /// Buy aggressor quantity.
    pub vol_buy: QtySum,
    /// Sell aggressor quantity.
    pub vol_sell: QtySum,
    /// `vol_buy - vol_sell`.
    pub vol_delta: QtySum,
    /// Sum of `px * qty`, exact.
    pub quote_volume: Notional,
    /// Trade messages of the selected source (aggTrades, or trades when that is the source).
    pub trade_count: u64,
    /// Underlying trades: `l - f + 1` summed over aggTrades, one per `trade` (comparable to the
    /// Binance kline's `n`).
    pub raw_trade_count: u64,
    /// Buy aggressor quantity (Binance kline `V`; equals `vol_buy`).
    pub taker_buy_volume: QtySum,
    /// Sum of `px * qty` over buy aggressor trades (Binance kline `Q`), exact.
    pub taker_buy_quote_volume: Notional,
    /// [`EventFeatures::cvd`] when the bar closed: the UTC day's delta up to the bar's end.
    pub cvd: QtySum,
    /// `vol_buy / vol_total`; `NaN` when there was no volume.
    pub buy_pressure: f64,
    /// Mean spread over the bar's valid book updates (in sync, both sides present), quote
    /// units; `NaN` when there was none.
    pub avg_spread: f64,
    /// Time-weighted spread: each valid book state weighted by how long (exchange time) it held
    /// within the bar, quote units; `NaN` when no valid state held for any time.
    pub tw_spread: f64,
    /// Sample standard deviation (n - 1) of the spread over the valid book updates, quote units;
    /// `NaN` with fewer than two.
    pub spread_std: f64,
    /// Mean best-bid quantity over the valid book updates, base units; `NaN` when none.
    pub avg_bid_qty: f64,
    /// Mean best-ask quantity over the valid book updates, base units; `NaN` when none.
    pub avg_ask_qty: f64,
    /// Time-weighted [`EventFeatures::imbalance_5`] (weighted like `tw_spread`); `NaN` when none.
    pub imbalance_5: f64,
    /// Time-weighted [`EventFeatures::imbalance_10`].
    pub imbalance_10: f64,
    /// Time-weighted [`EventFeatures::imbalance_20`].
    pub imbalance_20: f64,
    /// [`EventFeatures::bid_slope`] of the book state at the close.
    pub bid_slope: f64,
    /// [`EventFeatures::ask_slope`] of the book state at the close.
    pub ask_slope: f64,
    /// Trades flagged [`EventFeatures::large_trade`].
    pub large_trade_count: u64,
    /// Quantity of the trades flagged large.
    pub large_trade_volume: QtySum,
    /// Sample standard deviation (n - 1) of the log returns between consecutive sub-bar closes,
    /// times `sqrt(n)`. Sub-bars are 1 min for bars of 1 h and more, 1 s for bars of 1 min and
    /// more, else 100 ms; closes forward-fill. `NaN` with fewer than two returns.
    pub realized_vol: f64,
    /// Sample standard deviation / mean of the sub-bar volumes (for 1 h bars: the 60 one-minute
    /// volumes); `NaN` with fewer than two sub-bars or a zero mean.
    pub volume_cv: f64,
    /// Mark price at the close ([`Px::UNDEF`] before the first `markPriceUpdate`).
    pub mark_px: Px,
    /// Index price at the close.
    pub index_px: Px,
    /// Funding rate at the close (decimal).
    pub funding_rate: Qty,
    /// `(mark_px - index_px) / index_px` at the close; `NaN` when undefined.
    pub premium: f64,
    /// Open interest at the close, base units ([`Qty::UNDEF`] before the first poll).
    pub open_interest: Qty,
    /// `(open_interest - oi_at_open) / oi_at_open * 100`, percent, where `oi_at_open` is the
    /// open interest known when the bar opened; `NaN` when either is undefined or zero.
    pub oi_change_pct: f64,
    /// Filled quantity (`o.z`) of forced SELL orders (longs liquidated).
    pub liq_long_vol: QtySum,
    /// Filled quantity (`o.z`) of forced BUY orders (shorts liquidated).
    pub liq_short_vol: QtySum,
    /// Book updates (calls of `on_book_update`) in the bar, valid or not.
    pub book_updates: u64,
    /// `false` if the book was not in sync for any part of the bar.
    pub synced: bool,
    /// Trades, book updates and liquidations older than this bar's open time that were
    /// accumulated into it because they arrived while it was the open bar.
    pub late_events: u64,
}

/// Receives the features of one or more symbols, in the order they are produced.
///
/// Implementations must not allocate if the caller needs the zero-allocation guarantee.
pub trait FeatureSink {
    /// Per-event features, after a book update or a trade of `symbol`.
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures);
    /// A bar of `symbol` that just closed.
    fn bar(&mut self, symbol: SymbolId, bar: &Bar);
}

/// Discards everything.
impl FeatureSink for () {
    #[inline]
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}
    #[inline]
    fn bar(&mut self, _: SymbolId, _: &Bar) {}
}

impl<S: FeatureSink + ?Sized> FeatureSink for &mut S {
    #[inline]
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        (**self).event_features(symbol, features);
    }
    #[inline]
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        (**self).bar(symbol, bar);
    }
}

/// Both sinks receive every output, the first one first (for example a digest and a writer).
impl<A: FeatureSink, B: FeatureSink> FeatureSink for (A, B) {
    #[inline]
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.0.event_features(symbol, features);
        self.1.event_features(symbol, features);
    }
    #[inline]
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.0.bar(symbol, bar);
        self.1.bar(symbol, bar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_sums_print_exactly() {
        assert_eq!(QtySum(123_456_000).to_string(), "1.23456");
        assert_eq!(QtySum(-1).to_string(), "-0.00000001");
        assert_eq!(QtySum(0).to_string(), "0");
        assert_eq!(Notional(25 * 10i128.pow(15)).to_string(), "2.5");
        let big = QtySum(i128::from(i64::MAX) * 4);
        assert_eq!(big.to_string(), "368934881474.19103228");
        assert!((QtySum(150_000_000).to_f64() - 1.5).abs() < 1e-15);
        assert!((Notional(15 * 10i128.pow(15)).to_f64() - 1.5).abs() < 1e-15);
    }
}
