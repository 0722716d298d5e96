//! `orderflow-book`: the L2 order book of one symbol and the Binance USD-M sync state machine
//! (DESIGN.md section 4).
//!
//! - [`Book`]: levels in integer ticks; a dense ladder around the touch with an occupancy bitmap,
//!   an overflow for far levels (no update is ever dropped for being far), and a cache of the
//!   first [`TOP_LEVELS`] levels per side. Queries: touch, level `k`, quantity at a price,
//!   cumulative quantity, iteration outward from the touch, cost to fill. It implements
//!   [`orderflow_core::BookView`], which is what features read.
//! - [`SyncBook`]: wraps a [`Book`] and applies the protocol's `U`/`u`/`pu` rules to the depth
//!   events of its symbol, buffering, detecting gaps and crossed books, requesting snapshots
//!   through a [`SnapshotRequester`] and reporting `Status::Gap`/`Status::Resynced` events.
//!
//! The crate is pure: no I/O, clocks, threads or hash maps. Time only arrives inside events.
//!
//! ```
//! use orderflow_book::{Book, BookConfig};
//! use orderflow_core::{BookSide, BookView, Px, Qty};
//!
//! let mut book = Book::new(&BookConfig::with_tick("0.1".parse()?));
//! for (px, qty) in [("61800.2", "2.909"), ("61800.1", "0.696"), ("61800.0", "20.004")] {
//!     book.set(BookSide::Bid, px.parse()?, qty.parse()?)?;
//! }
//! book.set(BookSide::Ask, "61800.3".parse()?, "3.33".parse()?)?;
//! book.set(BookSide::Bid, "61800.1".parse()?, Qty::ZERO)?; // quantities are absolute; 0 deletes
//!
//! assert_eq!(book.best_bid().map(|l| l.px), Some("61800.2".parse()?));
//! assert_eq!(book.level(BookSide::Bid, 1).map(|l| l.px), Some("61800.0".parse()?));
//! assert_eq!(book.cum_qty(BookSide::Bid, 5), "22.913".parse()?);
//! let mut top = [Default::default(); 20];
//! assert_eq!(book.top_levels(BookSide::Bid, &mut top), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Performance
//! `cargo bench -p orderflow-benches --features hftbacktest --bench book` (DESIGN.md section 7)
//! on the shared 2-core VM; each cell is the median of the criterion medians of three full runs:
//!
//! | case | `Book` | hftbacktest `ROIVectorMarketDepth` | `BTreeMap` |
//! | --- | --- | --- | --- |
//! | one level update + touch, real BTCUSDT stream | 7.8 ns | 15.3 ns | 79.8 ns |
//! | one level update + touch, synthetic stream | 5.0 ns | 22.4 ns | 78.4 ns |
//! | the same + top-20 walk of both sides (real) | 12.1 ns | 204 ns | 183 ns |
//! | clear + load a 1000-level-per-side snapshot | 9.7 us | 169 us | 80 us |
//!
//! The walk reads [`Book::head`]; the general [`Book::levels`] iterator costs 28 ns and
//! `BookView::top_levels` into a buffer then a sum 49 ns for the same update + walk. Design
//! decisions and their measurements are written down in `ladder.rs`.
//!
//! # Feature flags
//! None.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod book;
mod grid;
mod ladder;
mod overflow;
mod sync;

pub use book::{
    Book, BookConfig, BookStats, ConfigError, FillCost, Head, LevelError, Levels, MAX_LADDER_TICKS,
    MIN_BUFFER_RECORDS, MIN_LADDER_TICKS,
};
pub use ladder::TOP_LEVELS;
pub use sync::{
    NoopRequester, RecordingRequester, SnapshotRequester, SyncBook, SyncOutcome, SyncSink,
    SyncState, SyncStats,
};
