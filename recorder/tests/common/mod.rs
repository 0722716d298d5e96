//! Shared test fixtures: one event of every kind, written out by hand, and the realistic mix
//! of [`market_event`] (shared with the recorder bench).
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a subset")]
#![allow(clippy::unwrap_used, reason = "test fixtures")]

use orderflow_core::{
    AggTrade, Body, BookSide, BookTicker, DepthDiff, DepthSnapshot, Event, Flags, Kline,
    KlineInterval, Level, Liquidation, MarkPrice, OpenInterest, OrderStatus, Px, Qty, Side, Status,
    StatusCode, SymbolId, SymbolTable, Timer, Trade, UNDEF_TIME,
};
pub use orderflow_tests::market_event;

/// 2025-06-01T23:59:59Z in ns.
pub const NEAR_MIDNIGHT_NS: i64 = 1_748_822_399_000_000_000;

pub fn symbols() -> SymbolTable {
    let mut t = SymbolTable::new();
    t.intern(b"BTCUSDT").unwrap();
    t.intern(b"ETHUSDT").unwrap();
    t
}

/// One event of every kind, `recv_ns` from `recv_ns` up by 1 µs, exchange times from `ms`.
pub fn every_kind(recv_ns: i64, ms: i64) -> Vec<Event> {
    let btc = SymbolId(0);
    let eth = SymbolId(1);
    let bodies = [
        Body::DepthDiff(DepthDiff {
            first_update_id: 100,
            final_update_id: 110,
            prev_final_update_id: 99,
            event_time_ms: ms + 1,
            transact_time_ms: ms,
            bid_count: 1,
            ask_count: 1,
        }),
        Body::DepthSnapshot(DepthSnapshot {
            last_update_id: 98,
            event_time_ms: UNDEF_TIME,
            transact_time_ms: UNDEF_TIME,
            bid_count: 0,
            ask_count: 0,
        }),
        Body::Level(Level {
            px: Px(6_180_020_000_000),
            qty: Qty(1_400_000),
            side: BookSide::Ask,
            _reserved: [0; 7],
        }),
        Body::AggTrade(AggTrade {
            agg_trade_id: 5,
            first_trade_id: 10,
            last_trade_id: 12,
            px: Px(6_180_000_000_000),
            qty: Qty(300_000),
            normal_qty: Qty::UNDEF,
            transact_time_ms: ms + 2,
            event_time_ms: ms + 3,
            aggressor: Side::Sell,
            _reserved: [0; 7],
        }),
        Body::Trade(Trade {
            trade_id: 77,
            px: Px(6_180_010_000_000),
            qty: Qty(100_000),
            transact_time_ms: ms + 4,
            event_time_ms: ms + 4,
            aggressor: Side::Buy,
            _reserved: [0; 7],
        }),
        Body::BookTicker(BookTicker {
            update_id: 111,
            bid_px: Px(6_180_000_000_000),
            bid_qty: Qty(5),
            ask_px: Px(6_180_010_000_000),
            ask_qty: Qty(6),
            transact_time_ms: ms + 5,
            event_time_ms: ms + 6,
        }),
        Body::MarkPrice(MarkPrice {
            event_time_ms: ms + 7,
            mark_px: Px(1),
            index_px: Px(2),
            est_settle_px: Px(3),
            mark_avg_px: Px::UNDEF,
            funding_rate: Qty(10_000),
            next_funding_time_ms: ms + 3_600_000,
        }),
        Body::Liquidation(Liquidation {
            event_time_ms: ms + 8,
            transact_time_ms: ms + 8,
            px: Px(4),
            avg_px: Px(5),
            orig_qty: Qty(6),
            last_filled_qty: Qty(7),
            filled_qty: Qty(8),
            side: Side::Sell,
            status: OrderStatus::Filled,
            _reserved: [0; 6],
        }),
        Body::OpenInterest(OpenInterest {
            time_ms: ms + 9,
            open_interest: Qty(123_456_789),
        }),
        Body::Kline(Kline {
            open_time_ms: ms - 60_000,
            event_time_ms: ms + 10,
            first_trade_id: 1,
            last_trade_id: 2,
            open: Px(1),
            high: Px(4),
            low: Px(0),
            close: Px(3),
            volume: Qty(10),
            quote_volume: Qty(20),
            taker_buy_volume: Qty(5),
            taker_buy_quote_volume: Qty(9),
            trade_count: 42,
            interval: KlineInterval::H4,
            _reserved: [0; 3],
        }),
        Body::Timer(Timer { now_ms: ms + 11 }),
        Body::Status(Status {
            code: StatusCode::Gap,
            _reserved: [0; 7],
            expected_id: 110,
            actual_id: 120,
            exchange_time_ms: ms + 12,
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let symbol = if i % 2 == 0 { btc } else { eth };
            let e = Event::new(recv_ns + i as i64 * 1_000, symbol, body);
            match i % 3 {
                0 => e.with_flags(Flags::LAST),
                1 => e.with_flags(Flags::SNAPSHOT.with(Flags::CLOSED)),
                _ => e,
            }
        })
        .collect()
}
