//! Binance's own klines as the oracle of our 1 min bars.
//!
//! A `kline_1m` update states the minute so far: trade count `n`, volume `v`, taker buy volume
//! `V`, quote volume `q` and close `c`, as of its last trade id `L`. An aggTrade ends at its last
//! trade id `l`, so when a kline's `L` equals an aggTrade's `l`, both stop at the same trade, and
//! between two such klines of one minute Binance and we saw exactly the same trades: the growth
//! of `n`, `v`, `V` and `q` must equal the growth of our open 1 min bar's `raw_trade_count`
//! (the sum of `l - f + 1`), `vol_total`, `taker_buy_volume` and `quote_volume`, and the later
//! kline's `c` must equal our close. Everything is compared exactly: integers in 10^-8 units,
//! quote volumes in 10^-16 units (the kline's `q` times 10^8).
//!
//! Our side is what `SymbolFeatures::open_bar` reads right after each aggTrade went through
//! the pipeline, kept by `l` for the most recent [`RECENT_BARS`] aggTrades. The kline and its
//! aggTrade arrive on different streams in either order: a kline whose `L` we have already seen
//! looks it up; a newer one waits until its aggTrade arrives (or a later one shows it never
//! will). A kline repeating the `L` of the previous one (an update without new trades) adds no
//! interval.

use std::collections::{BTreeMap, VecDeque};

use orderflow_core::{Kline, KlineInterval, Px};
use orderflow_features::{Bar, Notional, QtySum};

/// Resolution of the bars the klines check, ms.
pub(crate) const KLINE_BAR_MS: i64 = 60_000;
/// How many aggTrades' bar totals are kept for klines that arrive after their aggTrade.
const RECENT_BARS: usize = 4096;
/// How many mismatches are shown per symbol.
const SHOWN_MISMATCHES: usize = 5;
/// 10^8: a kline's quote volume (10^-8 units) in [`Notional`] units (10^-16).
const QUOTE_TO_NOTIONAL: i128 = 100_000_000;

/// Running totals of one minute, as a kline or our open bar states them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Totals {
    /// Open time of the minute, ms.
    minute_ms: i64,
    /// Underlying trades (`n`; our `raw_trade_count`).
    trades: u64,
    /// Volume, 10^-8 units (`v`).
    volume: i128,
    /// Taker buy volume, 10^-8 units (`V`).
    taker_buy: i128,
    /// Quote volume, 10^-16 units (`q`).
    quote: i128,
    /// Close (`c`).
    close: Px,
}

impl Totals {
    fn of_kline(k: &Kline) -> Self {
        Self {
            minute_ms: k.open_time_ms,
            trades: u64::from(k.trade_count),
            volume: i128::from(k.volume.raw()),
            taker_buy: i128::from(k.taker_buy_volume.raw()),
            quote: i128::from(k.quote_volume.raw()) * QUOTE_TO_NOTIONAL,
            close: k.close,
        }
    }

    fn of_bar(b: &Bar) -> Self {
        Self {
            minute_ms: b.timestamp_ms,
            trades: b.raw_trade_count,
            volume: b.vol_total.raw(),
            taker_buy: b.taker_buy_volume.raw(),
            quote: b.quote_volume.raw(),
            close: b.close,
        }
    }
}

/// A kline update and our bar at the same last trade id.
#[derive(Clone, Copy, Debug)]
struct Pair {
    last_trade_id: u64,
    kline: Totals,
    ours: Totals,
}

/// The kline check of one symbol.
#[derive(Debug, Default)]
pub(crate) struct KlineReport {
    /// `kline_1m` updates seen.
    pub(crate) klines: u64,
    /// Of those, the ones whose `L` met an aggTrade's `l`.
    pub(crate) paired: u64,
    /// Intervals between consecutive paired updates of one minute.
    pub(crate) compared: u64,
    pub(crate) matched: u64,
    pub(crate) mismatched: u64,
    pub(crate) mismatches: Vec<String>,
    /// Our open bar after recent aggTrades, by `l` (ascending).
    recent: VecDeque<(u64, Totals)>,
    /// Klines newer than the last aggTrade, by `L`.
    waiting: BTreeMap<u64, Totals>,
    last_agg_id: Option<u64>,
    prev: Option<Pair>,
}

impl KlineReport {
    /// A kline update arrived.
    pub(crate) fn on_kline(&mut self, k: &Kline) {
        if k.interval != KlineInterval::M1 {
            return;
        }
        self.klines += 1;
        let kline = Totals::of_kline(k);
        let id = k.last_trade_id;
        match self.last_agg_id {
            Some(last) if id <= last => {
                let found = self
                    .recent
                    .binary_search_by_key(&id, |(l, _)| *l)
                    .ok()
                    .and_then(|i| self.recent.get(i).copied());
                if let Some((_, ours)) = found {
                    self.pair(id, kline, ours);
                }
            }
            _ => {
                self.waiting.insert(id, kline);
            }
        }
    }

    /// An aggTrade with last trade id `last_trade_id` went through the pipeline, leaving our
    /// open 1 min bar as `bar`.
    pub(crate) fn on_agg_trade(&mut self, last_trade_id: u64, bar: &Bar) {
        let ours = Totals::of_bar(bar);
        if let Some(kline) = self.waiting.remove(&last_trade_id) {
            self.pair(last_trade_id, kline, ours);
        }
        // Klines waiting for an older id can no longer meet their aggTrade.
        self.waiting = self.waiting.split_off(&last_trade_id);
        if self.recent.len() == RECENT_BARS {
            self.recent.pop_front();
        }
        self.recent.push_back((last_trade_id, ours));
        self.last_agg_id = Some(last_trade_id);
    }

    fn pair(&mut self, last_trade_id: u64, kline: Totals, ours: Totals) {
        self.paired += 1;
        let cur = Pair {
            last_trade_id,
            kline,
            ours,
        };
        match self.prev {
            Some(prev) if prev.last_trade_id == last_trade_id => return,
            Some(prev)
                if prev.last_trade_id < last_trade_id
                    && prev.kline.minute_ms == kline.minute_ms =>
            {
                self.compare(&prev, &cur);
            }
            _ => {}
        }
        self.prev = Some(cur);
    }

    fn compare(&mut self, prev: &Pair, cur: &Pair) {
        self.compared += 1;
        let (k0, k1, o0, o1) = (&prev.kline, &cur.kline, &prev.ours, &cur.ours);
        let mut diffs: Vec<String> = Vec::new();
        if o0.minute_ms != k1.minute_ms || o1.minute_ms != k1.minute_ms {
            diffs.push(format!(
                "our bar opened at {} and {} ms",
                o0.minute_ms, o1.minute_ms
            ));
        }
        let (dn_k, dn_o) = (
            i128::from(k1.trades) - i128::from(k0.trades),
            i128::from(o1.trades) - i128::from(o0.trades),
        );
        if dn_k != dn_o {
            diffs.push(format!("n kline +{dn_k} ours +{dn_o}"));
        }
        for (name, k, o) in [
            ("v", k1.volume - k0.volume, o1.volume - o0.volume),
            (
                "V",
                k1.taker_buy - k0.taker_buy,
                o1.taker_buy - o0.taker_buy,
            ),
        ] {
            if k != o {
                diffs.push(format!("{name} kline +{} ours +{}", QtySum(k), QtySum(o)));
            }
        }
        let (dq_k, dq_o) = (k1.quote - k0.quote, o1.quote - o0.quote);
        if dq_k != dq_o {
            diffs.push(format!(
                "q kline +{} ours +{}",
                Notional(dq_k),
                Notional(dq_o)
            ));
        }
        if k1.close != o1.close {
            diffs.push(format!("c kline {} ours {}", k1.close, o1.close));
        }
        if diffs.is_empty() {
            self.matched += 1;
        } else {
            self.mismatched += 1;
            if self.mismatches.len() < SHOWN_MISMATCHES {
                self.mismatches.push(format!(
                    "L={}..{} (minute {} ms): {}",
                    prev.last_trade_id,
                    cur.last_trade_id,
                    k1.minute_ms,
                    diffs.join(", ")
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_core::Qty;

    fn kline(last: u64, n: u32, v: i64, close: i64) -> Kline {
        Kline {
            open_time_ms: 60_000,
            last_trade_id: last,
            trade_count: n,
            volume: Qty(v),
            taker_buy_volume: Qty(v),
            quote_volume: Qty(v * close / 100_000_000),
            close: Px(close),
            ..Kline::default()
        }
    }

    fn bar(n: u64, v: i128, close: i64) -> Bar {
        Bar {
            timestamp_ms: 60_000,
            raw_trade_count: n,
            vol_total: QtySum(v),
            taker_buy_volume: QtySum(v),
            quote_volume: Notional(v * i128::from(close)),
            close: Px(close),
            ..Bar::default()
        }
    }

    const PX: i64 = 2_00000000;

    #[test]
    fn pairs_in_either_order_and_compares_growth() {
        let mut r = KlineReport::default();
        // Kline first, then its aggTrade.
        r.on_kline(&kline(10, 5, 100, PX));
        r.on_agg_trade(10, &bar(3, 40, PX));
        // AggTrade first, then its kline; a repeat of the same L adds nothing.
        r.on_agg_trade(12, &bar(6, 70, PX));
        r.on_kline(&kline(12, 8, 130, PX));
        r.on_kline(&kline(12, 8, 130, PX));
        // A kline whose aggTrade never comes is dropped once a later aggTrade arrives.
        r.on_kline(&kline(13, 9, 131, PX));
        r.on_agg_trade(14, &bar(8, 71, PX));
        assert_eq!((r.klines, r.paired, r.compared, r.matched), (4, 3, 1, 1));
        assert!(r.waiting.is_empty());

        // One trade missing on our side: n, v, V and q differ.
        r.on_kline(&kline(20, 12, 200, PX));
        r.on_agg_trade(20, &bar(10, 130, PX));
        assert_eq!((r.compared, r.mismatched), (2, 1));
        assert_eq!(
            r.mismatches[0],
            "L=12..20 (minute 60000 ms): v kline +0.0000007 ours +0.0000006, \
             V kline +0.0000007 ours +0.0000006, q kline +0.0000014 ours +0.0000012"
        );
    }
}
