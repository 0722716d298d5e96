//! The crash writer's deterministic events, shared by `src/bin/crash_writer.rs` and
//! `tests/crash.rs` so the test knows what every sequence number must read back as.

use orderflow_core::{Body, BookSide, Event, Flags, Level, Px, Qty, SymbolId, Trade};

/// The event with sequence number `seq`: a function of `seq` alone.
pub(crate) fn crash_event(seq: u64) -> Event {
    let recv_ns = 1_750_000_000_000_000_000 + seq as i64 * 1_000;
    let body = if seq % 3 == 2 {
        Body::Trade(Trade {
            trade_id: seq,
            px: Px(6_000_000_000_000 + seq as i64),
            qty: Qty(1_000 + seq as i64),
            transact_time_ms: recv_ns / 1_000_000,
            event_time_ms: recv_ns / 1_000_000,
            ..Trade::default()
        })
    } else {
        Body::Level(Level {
            px: Px(6_000_000_000_000 - seq as i64),
            qty: Qty(seq as i64),
            side: if seq.is_multiple_of(2) {
                BookSide::Bid
            } else {
                BookSide::Ask
            },
            _reserved: [0; 7],
        })
    };
    Event::new(recv_ns, SymbolId(0), body).with_flags(Flags::LAST)
}
