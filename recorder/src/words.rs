//! The writer's CRC input, built from field values instead of read back from the mapping.
//!
//! The record CRC covers the payload bytes. Reading them back right after rkyv wrote them
//! stalls: rkyv stores narrow fields (a `u16` symbol, a `u8` side, `[u8; 7]` padding) one by
//! one, and the 8-byte loads of the CRC loop cannot be forwarded from several in-flight
//! stores, so each waits for the stores to reach L1. Measured with the `recorder` bench:
//! about 7 ns of a 25 ns prefaulted append (17 ns with the CRC removed). Here the same bytes
//! are assembled as little-endian `u64` words straight from the event's fields, in archive
//! order, and the CRC runs on those.
//!
//! Safe by construction: each record is destructured with every field named, so a field added
//! to a core record fails to compile here; the words equal the archived bytes only if rkyv's
//! layout is the little-endian native one (the default format), which
//! [`words_match_archive`] checks once against real archives of samples with every field
//! distinct. When it does not hold (another rkyv format feature), the writer reads the CRC
//! input back from the mapping instead. Debug builds compare both on every append.

use std::sync::OnceLock;

use orderflow_core::{
    AggTrade, BookTicker, DepthDiff, DepthSnapshot, Kline, Level, Liquidation, MarkPrice,
    OpenInterest, Status, Timer, Trade,
};

use crate::payload::MAX_PAYLOAD_LEN;

/// Most words a payload holds.
pub(crate) const MAX_WORDS: usize = MAX_PAYLOAD_LEN / 8;

/// Up to [`MAX_WORDS`] little-endian words of a payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Words {
    buf: [u64; MAX_WORDS],
    len: usize,
}

impl Words {
    /// The stamp's two words: `recv_ns`, then `symbol` with six zero bytes.
    #[inline]
    pub(crate) fn stamp(recv_ns: i64, symbol: u16) -> Self {
        let mut buf = [0u64; MAX_WORDS];
        buf[0] = recv_ns as u64;
        buf[1] = u64::from(symbol);
        Self { buf, len: 2 }
    }

    #[inline]
    fn push(&mut self, word: u64) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = word;
            self.len += 1;
        }
    }

    #[inline]
    fn push_i64(&mut self, v: i64) {
        self.push(v as u64);
    }

    #[inline]
    fn push_bytes(&mut self, b: [u8; 8]) {
        self.push(u64::from_le_bytes(b));
    }

    #[inline]
    fn push_u32s(&mut self, lo: u32, hi: u32) {
        self.push(u64::from(lo) | u64::from(hi) << 32);
    }

    /// The words pushed so far.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u64] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// A record that can append its archived bytes as words.
pub(crate) trait RecordWords {
    /// Appends the record's archived bytes, as little-endian words in field order.
    fn push_words(&self, w: &mut Words);
}

impl RecordWords for DepthDiff {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            first_update_id,
            final_update_id,
            prev_final_update_id,
            event_time_ms,
            transact_time_ms,
            bid_count,
            ask_count,
        } = *self;
        w.push(first_update_id);
        w.push(final_update_id);
        w.push(prev_final_update_id);
        w.push_i64(event_time_ms);
        w.push_i64(transact_time_ms);
        w.push_u32s(bid_count, ask_count);
    }
}

impl RecordWords for DepthSnapshot {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            last_update_id,
            event_time_ms,
            transact_time_ms,
            bid_count,
            ask_count,
        } = *self;
        w.push(last_update_id);
        w.push_i64(event_time_ms);
        w.push_i64(transact_time_ms);
        w.push_u32s(bid_count, ask_count);
    }
}

impl RecordWords for Level {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            px,
            qty,
            side,
            _reserved: r,
        } = *self;
        w.push_i64(px.0);
        w.push_i64(qty.0);
        w.push_bytes([side as u8, r[0], r[1], r[2], r[3], r[4], r[5], r[6]]);
    }
}

impl RecordWords for AggTrade {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            agg_trade_id,
            first_trade_id,
            last_trade_id,
            px,
            qty,
            normal_qty,
            transact_time_ms,
            event_time_ms,
            aggressor,
            _reserved: r,
        } = *self;
        w.push(agg_trade_id);
        w.push(first_trade_id);
        w.push(last_trade_id);
        w.push_i64(px.0);
        w.push_i64(qty.0);
        w.push_i64(normal_qty.0);
        w.push_i64(transact_time_ms);
        w.push_i64(event_time_ms);
        w.push_bytes([aggressor as u8, r[0], r[1], r[2], r[3], r[4], r[5], r[6]]);
    }
}

impl RecordWords for Trade {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            trade_id,
            px,
            qty,
            transact_time_ms,
            event_time_ms,
            aggressor,
            _reserved: r,
        } = *self;
        w.push(trade_id);
        w.push_i64(px.0);
        w.push_i64(qty.0);
        w.push_i64(transact_time_ms);
        w.push_i64(event_time_ms);
        w.push_bytes([aggressor as u8, r[0], r[1], r[2], r[3], r[4], r[5], r[6]]);
    }
}

impl RecordWords for BookTicker {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            update_id,
            bid_px,
            bid_qty,
            ask_px,
            ask_qty,
            transact_time_ms,
            event_time_ms,
        } = *self;
        w.push(update_id);
        w.push_i64(bid_px.0);
        w.push_i64(bid_qty.0);
        w.push_i64(ask_px.0);
        w.push_i64(ask_qty.0);
        w.push_i64(transact_time_ms);
        w.push_i64(event_time_ms);
    }
}

impl RecordWords for MarkPrice {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            event_time_ms,
            mark_px,
            index_px,
            est_settle_px,
            mark_avg_px,
            funding_rate,
            next_funding_time_ms,
        } = *self;
        w.push_i64(event_time_ms);
        w.push_i64(mark_px.0);
        w.push_i64(index_px.0);
        w.push_i64(est_settle_px.0);
        w.push_i64(mark_avg_px.0);
        w.push_i64(funding_rate.0);
        w.push_i64(next_funding_time_ms);
    }
}

impl RecordWords for Liquidation {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            event_time_ms,
            transact_time_ms,
            px,
            avg_px,
            orig_qty,
            last_filled_qty,
            filled_qty,
            side,
            status,
            _reserved: r,
        } = *self;
        w.push_i64(event_time_ms);
        w.push_i64(transact_time_ms);
        w.push_i64(px.0);
        w.push_i64(avg_px.0);
        w.push_i64(orig_qty.0);
        w.push_i64(last_filled_qty.0);
        w.push_i64(filled_qty.0);
        w.push_bytes([side as u8, status as u8, r[0], r[1], r[2], r[3], r[4], r[5]]);
    }
}

impl RecordWords for OpenInterest {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            time_ms,
            open_interest,
        } = *self;
        w.push_i64(time_ms);
        w.push_i64(open_interest.0);
    }
}

impl RecordWords for Kline {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            open_time_ms,
            event_time_ms,
            first_trade_id,
            last_trade_id,
            open,
            high,
            low,
            close,
            volume,
            quote_volume,
            taker_buy_volume,
            taker_buy_quote_volume,
            trade_count,
            interval,
            _reserved: r,
        } = *self;
        w.push_i64(open_time_ms);
        w.push_i64(event_time_ms);
        w.push(first_trade_id);
        w.push(last_trade_id);
        w.push_i64(open.0);
        w.push_i64(high.0);
        w.push_i64(low.0);
        w.push_i64(close.0);
        w.push_i64(volume.0);
        w.push_i64(quote_volume.0);
        w.push_i64(taker_buy_volume.0);
        w.push_i64(taker_buy_quote_volume.0);
        let [c0, c1, c2, c3] = trade_count.to_le_bytes();
        w.push_bytes([c0, c1, c2, c3, interval as u8, r[0], r[1], r[2]]);
    }
}

impl RecordWords for Timer {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self { now_ms } = *self;
        w.push_i64(now_ms);
    }
}

impl RecordWords for Status {
    #[inline]
    fn push_words(&self, w: &mut Words) {
        let Self {
            code,
            _reserved: r,
            expected_id,
            actual_id,
            exchange_time_ms,
        } = *self;
        w.push_bytes([code as u8, r[0], r[1], r[2], r[3], r[4], r[5], r[6]]);
        w.push(expected_id);
        w.push(actual_id);
        w.push_i64(exchange_time_ms);
    }
}

/// `true` when [`Words`] reproduce rkyv's archived payload bytes exactly (checked once, on
/// samples of every kind whose fields are all distinct).
#[inline]
pub(crate) fn words_match_archive() -> bool {
    static MATCH: OnceLock<bool> = OnceLock::new();
    *MATCH.get_or_init(crate::payload::check_words_against_archive)
}
