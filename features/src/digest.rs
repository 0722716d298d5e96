//! [`FeatureDigest`]: a stable 64-bit digest of a feature stream (DESIGN.md section 6).
//!
//! Replay prints it and tests compare it: two runs over the same input must give the same
//! digest, bit for bit. The digest covers every field of every output, in emission order.
//!
//! # Definition (stable: changing it changes every published digest)
//! Each output becomes a sequence of 64-bit words:
//! 1. a tag: `1` for [`EventFeatures`], `2` for a [`Bar`];
//! 2. the symbol id;
//! 3. every field in declaration order: integers and [`Px`]/[`Qty`] as their value
//!    sign-extended to 64 bits, `i128` sums ([`QtySum`], [`Notional`]) as low then high word,
//!    `bool` and enums as 0/1/discriminant, `f64` as its IEEE-754 bits with every NaN replaced by
//!    the canonical quiet NaN `0x7ff8_0000_0000_0000` (NaN payloads differ between platforms).
//!
//! Words are folded into the state, which starts at the FNV-1a offset basis
//! `0xcbf2_9ce4_8422_2325`, as `h = (rotl(h, 5) ^ w) * 0x517c_c1b7_2722_0a95` (wrapping; the
//! FxHash step). Each step is a bijection of `h` for a fixed word, so any single changed word
//! changes the digest. It is not cryptographic.

use orderflow_core::{Px, Qty, SymbolId};

use crate::output::{Bar, EventFeatures, FeatureSink, Notional, QtySum};

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const MUL: u64 = 0x517c_c1b7_2722_0a95;
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// A [`FeatureSink`] that folds every output into a 64-bit digest (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureDigest {
    hash: u64,
    events: u64,
    bars: u64,
}

impl Default for FeatureDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureDigest {
    /// The digest of an empty stream.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            hash: SEED,
            events: 0,
            bars: 0,
        }
    }

    /// The digest so far.
    #[must_use]
    pub const fn value(&self) -> u64 {
        self.hash
    }

    /// Number of [`EventFeatures`] folded in.
    #[must_use]
    pub const fn event_count(&self) -> u64 {
        self.events
    }

    /// Number of [`Bar`]s folded in.
    #[must_use]
    pub const fn bar_count(&self) -> u64 {
        self.bars
    }

    #[inline]
    fn word(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(MUL);
    }

    #[inline]
    fn int(&mut self, v: i64) {
        self.word(v as u64);
    }

    #[inline]
    fn wide(&mut self, v: i128) {
        self.word(v as u64);
        self.word((v >> 64) as u64);
    }

    #[inline]
    fn float(&mut self, v: f64) {
        self.word(if v.is_nan() {
            CANONICAL_NAN
        } else {
            v.to_bits()
        });
    }

    #[inline]
    fn px(&mut self, v: Px) {
        self.int(v.0);
    }

    #[inline]
    fn qty(&mut self, v: Qty) {
        self.int(v.0);
    }

    #[inline]
    fn sum(&mut self, v: QtySum) {
        self.wide(v.0);
    }

    #[inline]
    fn notional(&mut self, v: Notional) {
        self.wide(v.0);
    }
}

impl FeatureSink for FeatureDigest {
    fn event_features(&mut self, symbol: SymbolId, f: &EventFeatures) {
        // Destructured without `..`: a new field fails to compile until it is digested.
        let EventFeatures {
            trigger,
            time_ms,
            clock_ms,
            synced,
            best_bid,
            best_ask,
            bid_qty_1,
            ask_qty_1,
            mid,
            spread,
            spread_bps,
            microprice,
            l1_imbalance,
            bid_vol_5,
            ask_vol_5,
            bid_vol_10,
            ask_vol_10,
            bid_vol_20,
            ask_vol_20,
            imbalance_5,
            imbalance_10,
            imbalance_20,
            bid_slope,
            ask_slope,
            microprice_vs_last_bps,
            last_trade_px,
            cvd,
            trade_intensity_1s,
            trade_intensity_5s,
            trade_intensity_10s,
            buy_pressure_60s,
            large_trade,
            mark_px,
            index_px,
            funding_rate,
            premium,
        } = *f;
        self.events += 1;
        self.word(1);
        self.word(u64::from(symbol.0));
        self.word(trigger as u64);
        self.int(time_ms);
        self.int(clock_ms);
        self.word(u64::from(synced));
        self.px(best_bid);
        self.px(best_ask);
        self.qty(bid_qty_1);
        self.qty(ask_qty_1);
        self.float(mid);
        self.px(spread);
        self.float(spread_bps);
        self.float(microprice);
        self.float(l1_imbalance);
        self.qty(bid_vol_5);
        self.qty(ask_vol_5);
        self.qty(bid_vol_10);
        self.qty(ask_vol_10);
        self.qty(bid_vol_20);
        self.qty(ask_vol_20);
        self.float(imbalance_5);
        self.float(imbalance_10);
        self.float(imbalance_20);
        self.float(bid_slope);
        self.float(ask_slope);
        self.float(microprice_vs_last_bps);
        self.px(last_trade_px);
        self.sum(cvd);
        self.word(u64::from(trade_intensity_1s));
        self.word(u64::from(trade_intensity_5s));
        self.word(u64::from(trade_intensity_10s));
        self.float(buy_pressure_60s);
        self.word(u64::from(large_trade));
        self.px(mark_px);
        self.px(index_px);
        self.qty(funding_rate);
        self.float(premium);
    }

    fn bar(&mut self, symbol: SymbolId, b: &Bar) {
        let Bar {
            resolution_ms,
            timestamp_ms,
            open,
            high,
            low,
            close,
            vwap,
            vol_total,
            vol_buy,
            vol_sell,
            vol_delta,
            quote_volume,
            trade_count,
            raw_trade_count,
            taker_buy_volume,
            taker_buy_quote_volume,
            cvd,
            buy_pressure,
            avg_spread,
            tw_spread,
            spread_std,
            avg_bid_qty,
            avg_ask_qty,
            imbalance_5,
            imbalance_10,
            imbalance_20,
            bid_slope,
            ask_slope,
            large_trade_count,
            large_trade_volume,
            realized_vol,
            volume_cv,
            mark_px,
            index_px,
            funding_rate,
            premium,
            open_interest,
            oi_change_pct,
            liq_long_vol,
            liq_short_vol,
            book_updates,
            synced,
            late_events,
        } = *b;
        self.bars += 1;
        self.word(2);
        self.word(u64::from(symbol.0));
        self.int(resolution_ms);
        self.int(timestamp_ms);
        self.px(open);
        self.px(high);
        self.px(low);
        self.px(close);
        self.float(vwap);
        self.sum(vol_total);
        self.sum(vol_buy);
        self.sum(vol_sell);
        self.sum(vol_delta);
        self.notional(quote_volume);
        self.word(trade_count);
        self.word(raw_trade_count);
        self.sum(taker_buy_volume);
        self.notional(taker_buy_quote_volume);
        self.sum(cvd);
        self.float(buy_pressure);
        self.float(avg_spread);
        self.float(tw_spread);
        self.float(spread_std);
        self.float(avg_bid_qty);
        self.float(avg_ask_qty);
        self.float(imbalance_5);
        self.float(imbalance_10);
        self.float(imbalance_20);
        self.float(bid_slope);
        self.float(ask_slope);
        self.word(large_trade_count);
        self.sum(large_trade_volume);
        self.float(realized_vol);
        self.float(volume_cv);
        self.px(mark_px);
        self.px(index_px);
        self.qty(funding_rate);
        self.float(premium);
        self.qty(open_interest);
        self.float(oi_change_pct);
        self.sum(liq_long_vol);
        self.sum(liq_short_vol);
        self.word(book_updates);
        self.word(u64::from(synced));
        self.word(late_events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_is_the_seed_and_nan_is_canonical() {
        assert_eq!(FeatureDigest::new().value(), SEED);
        let mut a = FeatureDigest::new();
        let mut b = FeatureDigest::new();
        let f = EventFeatures {
            mid: f64::NAN,
            ..EventFeatures::default()
        };
        let g = EventFeatures {
            mid: f64::from_bits(0xfff8_0000_0000_0001),
            ..f
        };
        a.event_features(SymbolId(1), &f);
        b.event_features(SymbolId(1), &g);
        assert_eq!(a, b);
        assert_eq!(a.event_count(), 1);
    }

    #[test]
    fn every_change_changes_the_digest() {
        let base = Bar::default();
        let digest = |b: &Bar, s: u16| {
            let mut d = FeatureDigest::new();
            d.bar(SymbolId(s), b);
            d.value()
        };
        let d0 = digest(&base, 0);
        assert_ne!(d0, digest(&base, 1));
        assert_ne!(
            d0,
            digest(
                &Bar {
                    late_events: 1,
                    ..base
                },
                0
            )
        );
        assert_ne!(
            d0,
            digest(
                &Bar {
                    vol_total: QtySum(1 << 70),
                    ..base
                },
                0
            )
        );
        assert_ne!(d0, digest(&Bar { vwap: -0.0, ..base }, 0));
    }

    /// Golden value: the definition in the module docs, computed by hand for one word.
    #[test]
    fn step_is_the_documented_one() {
        let mut d = FeatureDigest::new();
        d.word(42);
        assert_eq!(d.value(), (SEED.rotate_left(5) ^ 42).wrapping_mul(MUL));
    }
}
