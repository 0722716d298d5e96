//! `orderflow-core`: the data model every other orderflow crate speaks (DESIGN.md section 3).
//!
//! - [`Px`] and [`Qty`]: `i64` fixed point at 10^-8, parsed straight from Binance's decimal
//!   strings with no float on the way in, printed back exactly.
//! - [`SymbolTable`] interns symbol names to a [`SymbolId`] once; events carry only the id.
//! - [`Event`]: a fixed-size (128-byte), `#[repr(C)]`, `Copy` record per venue message part.
//!   Depth messages of any size become a header plus one [`Level`] per price level, the last
//!   record flagged [`Flags::LAST`], so nothing is truncated and nothing is a `Vec`.
//! - [`EventSource`]: what produces events on the engine's feed thread (a live websocket feed,
//!   a recorded log), so crates below the engine can implement it.
//!
//! ```
//! use orderflow_core::{Px, Qty, SymbolTable, notional};
//!
//! let px: Px = "61800.20".parse()?;
//! let qty: Qty = "0.014".parse()?;
//! assert_eq!(px.raw(), 6_180_020_000_000);
//! assert_eq!(px.to_string(), "61800.2");
//! assert_eq!(notional(px, qty), 6_180_020_000_000 * 1_400_000);
//! assert!("1.123456789".parse::<Qty>().is_err()); // never rounded
//!
//! let mut symbols = SymbolTable::new();
//! let btc = symbols.intern(b"btcusdt")?;
//! assert_eq!(symbols.name(btc), "BTCUSDT");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//! - `rkyv` (default): rkyv `Archive`/`Serialize`/`Deserialize` on every record, for the recorder.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![allow(
    missing_debug_implementations,
    reason = "rkyv derives emit resolver types without Debug; every hand-written type has it"
)]

mod book_view;
mod fixed;
mod record;
mod source;
mod symbol;

pub use book_view::{BookLevel, BookView, TopArrays, TopSums, TopVersion};
pub use fixed::{DecimalError, Px, Qty, SCALE, SCALE_DIGITS, notional, write_fixed};
pub use record::{
    AggTrade, Body, BookSide, BookTicker, DepthDiff, DepthSnapshot, Event, EventKind, EventSink,
    Flags, Kline, KlineInterval, Level, Liquidation, MarkPrice, OpenInterest, OrderStatus, Side,
    Status, StatusCode, Timer, Trade, UNDEF_TIME,
};
pub use source::{EventSource, RecvClock, SourcePoll};
pub use symbol::{MAX_SYMBOL_LEN, SymbolError, SymbolId, SymbolName, SymbolTable};
