//! Bar accumulation (DESIGN.md sections 5.2 to 5.4).
//!
//! Everything that happens is first accumulated into an [`Accum`] for the open 100 ms base
//! period ([`crate::BASE_PERIOD_MS`]). When the clock leaves that period, the period is merged
//! into the open bar of every resolution (all are multiples of 100 ms, so periods nest in bars)
//! and a fresh period starts. The per-event cost is therefore one accumulator update however
//! many resolutions are configured, and a coarse bar is exactly the merge of the finer periods
//! it holds: a 1 h bar equals the merge of its sixty 1 min bars.
//!
//! Every accumulator field merges exactly: counts, volumes, notionals, spread sums and squared
//! sums, quantity sums and the time-weighted spread are integers (`i128` where a day could
//! overflow `i64`); only the three time-weighted imbalances are `f64` sums, merged in time order.
//!
//! Sub-bars (for `realized_vol` and `volume_cv`) close on the same 100 ms boundaries: a
//! [`SubBar`] of 100 ms, 1 s or 1 min accumulates the volume of its periods and remembers the last
//! trade price at its previous boundary. At each of its boundaries it pushes one volume, and one
//! log return when both closes are defined, into a Welford accumulator of every open bar that uses
//! it; the bar reads them at its close.

use orderflow_core::{Px, Qty, Side, notional};

use crate::book_stats::BarBookState;
use crate::output::{Bar, Notional, QtySum};

/// One UTC day, ms.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The sub-bar lengths realized volatility and volume CV are built from.
pub(crate) const SUB_PERIODS_MS: [i64; 3] = [100, 1_000, 60_000];

/// The sub-bar of a bar of `res_ms`: 1 min for bars of 1 h and more, 1 s for bars of 1 min and
/// more, else 100 ms (each only when it divides `res_ms`, else the next finer one), as an index
/// into [`SUB_PERIODS_MS`].
pub(crate) fn sub_index_for(res_ms: i64) -> usize {
    if res_ms >= 3_600_000 && res_ms % 60_000 == 0 {
        2
    } else if res_ms >= 60_000 && res_ms % 1_000 == 0 {
        1
    } else {
        0
    }
}

/// `i128` to `f64`, through `i64` when it fits (the usual case, and much cheaper); both
/// conversions round to nearest, so the result is the same.
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "feature output is f64 by definition"
)]
pub(crate) fn wide_to_f64(v: i128) -> f64 {
    match i64::try_from(v) {
        Ok(x) => x as f64,
        Err(_) => v as f64,
    }
}

/// One trade as the accumulators see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TradeTick {
    pub(crate) px: Px,
    pub(crate) qty: Qty,
    pub(crate) side: Side,
    /// Underlying trades: `l - f + 1` for an aggTrade, 1 for a trade.
    pub(crate) raw_count: u64,
}

/// Mergeable statistics of a stretch of time (a base period or an open bar).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accum {
    open: Px,
    high: Px,
    low: Px,
    close: Px,
    trade_count: u64,
    raw_trade_count: u64,
    vol_buy: i128,
    vol_sell: i128,
    quote: i128,
    quote_buy: i128,
    large_count: u64,
    large_vol: i128,
    liq_long: i128,
    liq_short: i128,
    book_updates: u64,
    /// Book updates leaving a valid state (in sync, both sides): the spread/L1 sample.
    valid_updates: u64,
    spread_sum: i128,
    spread_sq_sum: i128,
    bid_qty_sum: i128,
    ask_qty_sum: i128,
    /// Milliseconds during which a valid book state held.
    tw_ms: i64,
    /// Sum of raw spread x ms over valid states.
    tw_spread: i128,
    /// Sum of imbalance x ms over valid states (5, 10, 20 levels).
    tw_imbalance: [f64; 3],
    /// `false` once any part of the stretch had a book out of sync.
    all_synced: bool,
}

impl Accum {
    /// Nothing accumulated; `synced` is the sync state at the start of the stretch.
    pub(crate) const fn empty(synced: bool) -> Self {
        Self {
            open: Px::UNDEF,
            high: Px::UNDEF,
            low: Px::UNDEF,
            close: Px::UNDEF,
            trade_count: 0,
            raw_trade_count: 0,
            vol_buy: 0,
            vol_sell: 0,
            quote: 0,
            quote_buy: 0,
            large_count: 0,
            large_vol: 0,
            liq_long: 0,
            liq_short: 0,
            book_updates: 0,
            valid_updates: 0,
            spread_sum: 0,
            spread_sq_sum: 0,
            bid_qty_sum: 0,
            ask_qty_sum: 0,
            tw_ms: 0,
            tw_spread: 0,
            tw_imbalance: [0.0; 3],
            all_synced: synced,
        }
    }

    /// Total traded quantity.
    #[inline]
    pub(crate) fn vol_total(&self) -> i128 {
        self.vol_buy + self.vol_sell
    }

    #[inline]
    pub(crate) fn add_trade(&mut self, t: &TradeTick, large: bool) {
        if self.trade_count == 0 {
            self.open = t.px;
            self.high = t.px;
            self.low = t.px;
        } else {
            self.high = self.high.max(t.px);
            self.low = self.low.min(t.px);
        }
        self.close = t.px;
        self.trade_count += 1;
        self.raw_trade_count += t.raw_count;
        let q = i128::from(t.qty.0);
        let n = notional(t.px, t.qty);
        self.quote += n;
        match t.side {
            Side::Buy => {
                self.vol_buy += q;
                self.quote_buy += n;
            }
            Side::Sell => self.vol_sell += q,
        }
        if large {
            self.large_count += 1;
            self.large_vol += q;
        }
    }

    #[inline]
    pub(crate) fn add_liquidation(&mut self, side: Side, qty: Qty) {
        let q = i128::from(qty.0.max(0));
        match side {
            Side::Sell => self.liq_long += q,
            Side::Buy => self.liq_short += q,
        }
    }

    /// A book update that left the book in state `s`.
    #[inline]
    pub(crate) fn add_book_update(&mut self, s: &BarBookState) {
        self.book_updates += 1;
        self.all_synced &= s.synced;
        if s.valid {
            self.valid_updates += 1;
            let spread = i128::from(s.spread);
            self.spread_sum += spread;
            self.spread_sq_sum += spread * spread;
            self.bid_qty_sum += i128::from(s.bid_qty);
            self.ask_qty_sum += i128::from(s.ask_qty);
        }
    }

    /// State `s` held for `dt_ms` (>= 0).
    #[inline]
    #[allow(clippy::cast_precision_loss, reason = "weights are small integers")]
    pub(crate) fn add_weight(&mut self, s: &BarBookState, dt_ms: i64) {
        if s.valid && dt_ms > 0 {
            self.tw_ms += dt_ms;
            self.tw_spread += i128::from(s.spread) * i128::from(dt_ms);
            let w = dt_ms as f64;
            self.tw_imbalance[0] += s.imbalance[0] * w;
            self.tw_imbalance[1] += s.imbalance[1] * w;
            self.tw_imbalance[2] += s.imbalance[2] * w;
        }
    }

    /// Appends the later stretch `o` to `self`.
    pub(crate) fn merge(&mut self, o: &Self) {
        if o.trade_count > 0 {
            if self.trade_count == 0 {
                self.open = o.open;
                self.high = o.high;
                self.low = o.low;
            } else {
                self.high = self.high.max(o.high);
                self.low = self.low.min(o.low);
            }
            self.close = o.close;
        }
        self.trade_count += o.trade_count;
        self.raw_trade_count += o.raw_trade_count;
        self.vol_buy += o.vol_buy;
        self.vol_sell += o.vol_sell;
        self.quote += o.quote;
        self.quote_buy += o.quote_buy;
        self.large_count += o.large_count;
        self.large_vol += o.large_vol;
        self.liq_long += o.liq_long;
        self.liq_short += o.liq_short;
        self.book_updates += o.book_updates;
        self.valid_updates += o.valid_updates;
        self.spread_sum += o.spread_sum;
        self.spread_sq_sum += o.spread_sq_sum;
        self.bid_qty_sum += o.bid_qty_sum;
        self.ask_qty_sum += o.ask_qty_sum;
        self.tw_ms += o.tw_ms;
        self.tw_spread += o.tw_spread;
        for k in 0..3 {
            self.tw_imbalance[k] += o.tw_imbalance[k];
        }
        self.all_synced &= o.all_synced;
    }
}

/// Running mean and sum of squared deviations (Welford), for sample standard deviations.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Welford {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    #[inline]
    #[allow(clippy::cast_precision_loss, reason = "counts are small")]
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Sample standard deviation (n - 1); `NaN` with fewer than two values.
    #[allow(clippy::cast_precision_loss, reason = "counts are small")]
    pub(crate) fn sample_std(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        (self.m2.max(0.0) / (self.n - 1) as f64).sqrt()
    }
}

/// A sub-bar clock shared by the bars that use its length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SubBar {
    pub(crate) len_ms: i64,
    /// Some bar uses this length.
    pub(crate) used: bool,
    /// Volume of the open sub-bar, raw.
    pub(crate) vol: i128,
    /// Last trade price at the previous boundary ([`Px::UNDEF`] before one was seen).
    pub(crate) prev_close: Px,
}

/// `ln(close / prev)` when both are defined and positive.
#[inline]
#[allow(clippy::cast_precision_loss, reason = "returns are f64 by definition")]
pub(crate) fn log_return(prev: Px, close: Px) -> Option<f64> {
    if prev.is_undef() || close.is_undef() || prev.0 <= 0 || close.0 <= 0 {
        return None;
    }
    Some((close.0 as f64 / prev.0 as f64).ln())
}

/// Values read at a bar's close that are not accumulated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CloseState {
    pub(crate) cvd: i128,
    pub(crate) last_px: Px,
    pub(crate) book: BarBookState,
    pub(crate) mark_px: Px,
    pub(crate) index_px: Px,
    pub(crate) funding_rate: Qty,
    pub(crate) premium: f64,
    pub(crate) open_interest: Qty,
}

/// The open bar of one resolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BarLevel {
    pub(crate) res_ms: i64,
    /// Index into [`SUB_PERIODS_MS`].
    pub(crate) sub: usize,
    pub(crate) open_ms: i64,
    pub(crate) acc: Accum,
    /// Last trade price when the bar opened (the forward-fill price).
    pub(crate) prev_close: Px,
    pub(crate) oi_at_open: Qty,
    pub(crate) returns: Welford,
    pub(crate) volumes: Welford,
    pub(crate) late_events: u64,
}

impl BarLevel {
    pub(crate) fn new(res_ms: i64) -> Self {
        Self {
            res_ms,
            sub: sub_index_for(res_ms),
            open_ms: 0,
            acc: Accum::empty(false),
            prev_close: Px::UNDEF,
            oi_at_open: Qty::UNDEF,
            returns: Welford::default(),
            volumes: Welford::default(),
            late_events: 0,
        }
    }

    /// Opens the bar holding `t_ms`.
    pub(crate) fn open_at(&mut self, t_ms: i64, last_px: Px, oi: Qty) {
        self.open_ms = t_ms - t_ms.rem_euclid(self.res_ms);
        self.acc = Accum::empty(true);
        self.prev_close = last_px;
        self.oi_at_open = oi;
        self.returns = Welford::default();
        self.volumes = Welford::default();
        self.late_events = 0;
    }

    /// End of the open bar, ms.
    #[inline]
    pub(crate) fn end_ms(&self) -> i64 {
        self.open_ms + self.res_ms
    }

    /// The bar as it stands, closed with `s`.
    #[allow(
        clippy::cast_precision_loss,
        reason = "feature output is f64 by definition"
    )]
    pub(crate) fn finish(&self, s: &CloseState) -> Bar {
        let a = &self.acc;
        let (open, high, low, close) = if a.trade_count > 0 {
            (a.open, a.high, a.low, a.close)
        } else {
            let p = self.prev_close;
            (p, p, p, p)
        };
        let vol = a.vol_total();
        let vwap = if vol > 0 {
            wide_to_f64(a.quote) / wide_to_f64(vol) / 1e8
        } else if close.is_undef() {
            f64::NAN
        } else {
            close.0 as f64 / 1e8
        };
        let n = a.valid_updates;
        let nf = n as f64;
        let (avg_spread, avg_bid_qty, avg_ask_qty) = if n > 0 {
            (
                wide_to_f64(a.spread_sum) / nf / 1e8,
                wide_to_f64(a.bid_qty_sum) / nf / 1e8,
                wide_to_f64(a.ask_qty_sum) / nf / 1e8,
            )
        } else {
            (f64::NAN, f64::NAN, f64::NAN)
        };
        let spread_std = if n >= 2 {
            // Exact numerator n * Σs² - (Σs)², so a constant spread gives exactly 0.
            let n128 = i128::from(n);
            let num = n128
                .checked_mul(a.spread_sq_sum)
                .zip(a.spread_sum.checked_mul(a.spread_sum))
                .map(|(x, y)| wide_to_f64(x - y))
                .unwrap_or_else(|| {
                    let mean = wide_to_f64(a.spread_sum) / nf;
                    (wide_to_f64(a.spread_sq_sum) - nf * mean * mean) * nf
                });
            (num.max(0.0) / (nf * (nf - 1.0))).sqrt() / 1e8
        } else {
            f64::NAN
        };
        let (tw_spread, tw_imb) = if a.tw_ms > 0 {
            let w = a.tw_ms as f64;
            (
                wide_to_f64(a.tw_spread) / w / 1e8,
                a.tw_imbalance.map(|x| x / w),
            )
        } else {
            (f64::NAN, [f64::NAN; 3])
        };
        let realized_vol = self.returns.sample_std() * (self.returns.n as f64).sqrt();
        let volume_cv = if self.volumes.mean > 0.0 {
            self.volumes.sample_std() / self.volumes.mean
        } else {
            f64::NAN
        };
        let oi_change_pct =
            if s.open_interest.is_undef() || self.oi_at_open.is_undef() || self.oi_at_open.0 == 0 {
                f64::NAN
            } else {
                (s.open_interest.0 - self.oi_at_open.0) as f64 / self.oi_at_open.0 as f64 * 100.0
            };
        Bar {
            resolution_ms: self.res_ms,
            timestamp_ms: self.open_ms,
            open,
            high,
            low,
            close,
            vwap,
            vol_total: QtySum(vol),
            vol_buy: QtySum(a.vol_buy),
            vol_sell: QtySum(a.vol_sell),
            vol_delta: QtySum(a.vol_buy - a.vol_sell),
            quote_volume: Notional(a.quote),
            trade_count: a.trade_count,
            raw_trade_count: a.raw_trade_count,
            taker_buy_volume: QtySum(a.vol_buy),
            taker_buy_quote_volume: Notional(a.quote_buy),
            cvd: QtySum(s.cvd),
            buy_pressure: if vol > 0 {
                wide_to_f64(a.vol_buy) / wide_to_f64(vol)
            } else {
                f64::NAN
            },
            avg_spread,
            tw_spread,
            spread_std,
            avg_bid_qty,
            avg_ask_qty,
            imbalance_5: tw_imb[0],
            imbalance_10: tw_imb[1],
            imbalance_20: tw_imb[2],
            bid_slope: s.book.bid_slope,
            ask_slope: s.book.ask_slope,
            large_trade_count: a.large_count,
            large_trade_volume: QtySum(a.large_vol),
            realized_vol,
            volume_cv,
            mark_px: s.mark_px,
            index_px: s.index_px,
            funding_rate: s.funding_rate,
            premium: s.premium,
            open_interest: s.open_interest,
            oi_change_pct,
            liq_long_vol: QtySum(a.liq_long),
            liq_short_vol: QtySum(a.liq_short),
            book_updates: a.book_updates,
            synced: a.all_synced,
            late_events: self.late_events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_bars_follow_the_design() {
        assert_eq!(SUB_PERIODS_MS[sub_index_for(3_600_000)], 60_000);
        assert_eq!(SUB_PERIODS_MS[sub_index_for(60_000)], 1_000);
        assert_eq!(SUB_PERIODS_MS[sub_index_for(300_000)], 1_000);
        assert_eq!(SUB_PERIODS_MS[sub_index_for(1_000)], 100);
        assert_eq!(SUB_PERIODS_MS[sub_index_for(500)], 100);
        assert_eq!(SUB_PERIODS_MS[sub_index_for(60_100)], 100);
    }

    #[test]
    fn welford_matches_two_pass() {
        let xs = [1.0, 2.5, -0.5, 4.0, 4.0, 3.25];
        let mut w = Welford::default();
        xs.iter().for_each(|&x| w.push(x));
        let mean = xs.iter().sum::<f64>() / 6.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
        assert!((w.sample_std() - var.sqrt()).abs() < 1e-12);
        assert!(Welford::default().sample_std().is_nan());
    }

    #[test]
    fn merge_equals_one_accumulator() {
        let ticks = [
            (100, 5, Side::Buy),
            (90, 7, Side::Sell),
            (120, 1, Side::Buy),
        ];
        let mut whole = Accum::empty(true);
        let mut first = Accum::empty(true);
        let mut second = Accum::empty(true);
        for (i, &(px, q, side)) in ticks.iter().enumerate() {
            let t = TradeTick {
                px: Px(px),
                qty: Qty(q),
                side,
                raw_count: 2,
            };
            whole.add_trade(&t, i == 1);
            if i < 1 { &mut first } else { &mut second }.add_trade(&t, i == 1);
        }
        first.merge(&second);
        assert_eq!(format!("{first:?}"), format!("{whole:?}"));
        assert_eq!(
            (whole.open, whole.high, whole.low, whole.close),
            (Px(100), Px(120), Px(90), Px(120))
        );
    }
}
