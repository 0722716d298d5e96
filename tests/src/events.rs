//! Synthetic market events shared by the recorder tests and the recorder bench.

use orderflow_core::{Body, BookSide, BookTicker, Event, Level, Px, Qty, Side, SymbolId, Trade};

/// Event `i` of a realistic mix received at `recv_ns`: 5/8 depth levels, 2/8 book tickers and
/// 1/8 trades, alternating between symbols 0 and 1. Exchange times are `recv_ns` in ms.
#[must_use]
pub fn market_event(i: u64, recv_ns: i64) -> Event {
    let ms = recv_ns / 1_000_000;
    let body = match i % 8 {
        0..=4 => Body::Level(Level {
            px: Px(6_000_000_000_000 + (i as i64 % 100) * 10_000_000),
            qty: Qty(i as i64 * 1_000),
            side: if i.is_multiple_of(2) {
                BookSide::Bid
            } else {
                BookSide::Ask
            },
            _reserved: [0; 7],
        }),
        5 | 6 => Body::BookTicker(BookTicker {
            update_id: i,
            bid_px: Px(6_000_000_000_000),
            bid_qty: Qty(1),
            ask_px: Px(6_000_010_000_000),
            ask_qty: Qty(2),
            transact_time_ms: ms,
            event_time_ms: ms,
        }),
        _ => Body::Trade(Trade {
            trade_id: i,
            px: Px(6_000_000_000_000),
            qty: Qty(3),
            transact_time_ms: ms,
            event_time_ms: ms,
            aggressor: Side::Sell,
            _reserved: [0; 7],
        }),
    };
    Event::new(recv_ns, SymbolId((i % 2) as u16), body)
}
