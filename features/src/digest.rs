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
//! 4. zero words up to a multiple of four.
//!
//! The state is four lanes, each starting at the FNV-1a offset basis `0xcbf2_9ce4_8422_2325`;
//! word `i` of an output goes to lane `i mod 4`, folded as
//! `h = (rotl(h, 5) ^ w) * 0x517c_c1b7_2722_0a95` (wrapping; the FxHash step). The digest is the
//! four lanes folded, in order, with the same step into a fifth state starting at the same basis.
//! Each step is a bijection of `h` for a fixed word, so any single changed word changes its lane
//! and so the digest. It is not cryptographic.
//!
//! Why four lanes: one chain of multiplies is latency-bound (about 5 cycles a word, some 70 ns
//! for an [`EventFeatures`] row); four independent chains, kept in registers for a whole output,
//! overlap. `cargo bench -p orderflow-benches --bench features -- digest` (the `book_update/digest`
//! case minus `book_update/bars`) measures what the digest costs per row.

use orderflow_core::{Px, Qty, SymbolId};

use crate::output::{Bar, EventFeatures, FeatureSink, Notional, QtySum};

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const MUL: u64 = 0x517c_c1b7_2722_0a95;
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// A [`FeatureSink`] that folds every output into a 64-bit digest (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureDigest {
    lanes: [u64; LANES],
    events: u64,
    bars: u64,
}

/// Lanes of the digest state (see the module docs).
const LANES: usize = 4;

/// One fold step.
#[inline(always)]
const fn step(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(MUL)
}

/// The words of one output, folded into a copy of the lanes that the compiler keeps in
/// registers (the lane of each word is known at compile time once inlined).
struct Row {
    lanes: [u64; LANES],
    words: usize,
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
            lanes: [SEED; LANES],
            events: 0,
            bars: 0,
        }
    }

    /// The digest so far.
    #[must_use]
    pub const fn value(&self) -> u64 {
        let mut h = SEED;
        let mut i = 0;
        while i < LANES {
            h = step(h, self.lanes[i]);
            i += 1;
        }
        h
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

    #[inline(always)]
    fn row(&self) -> Row {
        Row {
            lanes: self.lanes,
            words: 0,
        }
    }

    /// Pads `row` to a multiple of four words and keeps its lanes.
    #[inline(always)]
    fn finish(&mut self, mut row: Row) {
        while !row.words.is_multiple_of(LANES) {
            row.word(0);
        }
        self.lanes = row.lanes;
    }
}

impl Row {
    #[inline(always)]
    fn word(&mut self, w: u64) {
        let lane = &mut self.lanes[self.words % LANES];
        *lane = step(*lane, w);
        self.words += 1;
    }

    #[inline(always)]
    fn int(&mut self, v: i64) {
        self.word(v as u64);
    }

    #[inline(always)]
    fn wide(&mut self, v: i128) {
        self.word(v as u64);
        self.word((v >> 64) as u64);
    }

    #[inline(always)]
    fn float(&mut self, v: f64) {
        self.word(if v.is_nan() {
            CANONICAL_NAN
        } else {
            v.to_bits()
        });
    }

    #[inline(always)]
    fn px(&mut self, v: Px) {
        self.int(v.0);
    }

    #[inline(always)]
    fn qty(&mut self, v: Qty) {
        self.int(v.0);
    }

    #[inline(always)]
    fn sum(&mut self, v: QtySum) {
        self.wide(v.0);
    }

    #[inline(always)]
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
        let mut r = self.row();
        r.word(1);
        r.word(u64::from(symbol.0));
        r.word(trigger as u64);
        r.int(time_ms);
        r.int(clock_ms);
        r.word(u64::from(synced));
        r.px(best_bid);
        r.px(best_ask);
        r.qty(bid_qty_1);
        r.qty(ask_qty_1);
        r.float(mid);
        r.px(spread);
        r.float(spread_bps);
        r.float(microprice);
        r.float(l1_imbalance);
        r.qty(bid_vol_5);
        r.qty(ask_vol_5);
        r.qty(bid_vol_10);
        r.qty(ask_vol_10);
        r.qty(bid_vol_20);
        r.qty(ask_vol_20);
        r.float(imbalance_5);
        r.float(imbalance_10);
        r.float(imbalance_20);
        r.float(bid_slope);
        r.float(ask_slope);
        r.float(microprice_vs_last_bps);
        r.px(last_trade_px);
        r.sum(cvd);
        r.word(u64::from(trade_intensity_1s));
        r.word(u64::from(trade_intensity_5s));
        r.word(u64::from(trade_intensity_10s));
        r.float(buy_pressure_60s);
        r.word(u64::from(large_trade));
        r.px(mark_px);
        r.px(index_px);
        r.qty(funding_rate);
        r.float(premium);
        self.finish(r);
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
        let mut r = self.row();
        r.word(2);
        r.word(u64::from(symbol.0));
        r.int(resolution_ms);
        r.int(timestamp_ms);
        r.px(open);
        r.px(high);
        r.px(low);
        r.px(close);
        r.float(vwap);
        r.sum(vol_total);
        r.sum(vol_buy);
        r.sum(vol_sell);
        r.sum(vol_delta);
        r.notional(quote_volume);
        r.word(trade_count);
        r.word(raw_trade_count);
        r.sum(taker_buy_volume);
        r.notional(taker_buy_quote_volume);
        r.sum(cvd);
        r.float(buy_pressure);
        r.float(avg_spread);
        r.float(tw_spread);
        r.float(spread_std);
        r.float(avg_bid_qty);
        r.float(avg_ask_qty);
        r.float(imbalance_5);
        r.float(imbalance_10);
        r.float(imbalance_20);
        r.float(bid_slope);
        r.float(ask_slope);
        r.word(large_trade_count);
        r.sum(large_trade_volume);
        r.float(realized_vol);
        r.float(volume_cv);
        r.px(mark_px);
        r.px(index_px);
        r.qty(funding_rate);
        r.float(premium);
        r.qty(open_interest);
        r.float(oi_change_pct);
        r.sum(liq_long_vol);
        r.sum(liq_short_vol);
        r.word(book_updates);
        r.word(u64::from(synced));
        r.word(late_events);
        self.finish(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_is_the_folded_seeds_and_nan_is_canonical() {
        let empty = [SEED; LANES].iter().fold(SEED, |h, &lane| step(h, lane));
        assert_eq!(FeatureDigest::new().value(), empty);
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

    /// Golden value: the definition in the module docs, computed by hand for one output of
    /// five words (`42, 43, 44, 45, 46`, padded with three zeros).
    #[test]
    fn step_is_the_documented_one() {
        let mut d = FeatureDigest::new();
        let mut r = d.row();
        for w in 42..47 {
            r.word(w);
        }
        d.finish(r);
        let fold = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(MUL);
        let lanes = [
            fold(fold(SEED, 42), 46),
            fold(fold(SEED, 43), 0),
            fold(fold(SEED, 44), 0),
            fold(fold(SEED, 45), 0),
        ];
        let expected = lanes.iter().fold(SEED, |h, &lane| fold(h, lane));
        assert_eq!(d.value(), expected);
    }
}
