//! `orderflow-features`: per-event order-flow features and time bars for one symbol at a time,
//! with no heap allocation after construction (DESIGN.md section 5).
//!
//! The engine owns one [`SymbolFeatures`] per symbol and hands it every event of that symbol,
//! either through the dispatcher [`SymbolFeatures::on_event`] or the typed entry points
//! ([`SymbolFeatures::on_book_update`], [`SymbolFeatures::on_agg_trade`], ...). Outputs go to a
//! [`FeatureSink`]:
//! - [`EventFeatures`] after every book update and every trade (section 5.1): touch, spread,
//!   microprice, L1 and 5/10/20-level volumes and imbalances, 20-level slopes, CVD, exact trailing
//!   trade intensity, 60 s buy pressure, the large-trade flag, mark/index/funding/premium;
//! - [`Bar`]s of every configured resolution (500 ms, 1 s, 1 min and 1 h by default, any multiple
//!   of 100 ms), aligned to UTC, closed by events or recorded timers (5.3), gap-filled (5.4).
//!
//! [`FeatureDigest`] folds the stream into a stable 64-bit digest so replay can prove it
//! reproduced a run. The repository README tabulates every field, its definition and
//! unit; each field's rustdoc says the same.
//!
//! # Time
//! Everything runs on exchange time. Each symbol has a clock: the largest exchange time seen so
//! far (a trade's `T`, a depth update's `T`, a mark price's `E`...), and for a recorded `Timer`
//! at `now`, `now - timer_grace_ms`. It never goes back. Trailing windows end at the clock; bars
//! close when it passes their end.
//!
//! # Bars
//! - Grid: bar `[t, t + R)` with `t` a multiple of `R` ms since the epoch (so aligned to UTC).
//!   The first bar is the one holding the symbol's first timed event; from then on every bar of
//!   the grid is emitted (DESIGN.md section 5.4), with no trade: `open = high = low = close =`
//!   the previous close and `vwap = close`, volumes and counts zero. Before the symbol's first
//!   trade there is no price: prices are [`orderflow_core::Px::UNDEF`], `vwap` `NaN`.
//! - Membership (5.3): a trade, book update or liquidation belongs to the bar holding its
//!   exchange time. Closing (5.3): a bar closes when the clock reaches its end, before the event
//!   that moved the clock is applied; a `Timer` at `now` closes the bars ending at or before
//!   `now - timer_grace_ms`. Bars closing together are emitted shortest resolution first.
//! - Late events: an event older than the start of the open 100 ms period (the clock's) is
//!   counted ([`FeatureCounters::late_events`]; [`Bar::late_events`] counts those older than the
//!   bar's open) and accumulated into the open period, so into the open bar of every resolution.
//!   Equivalently it belongs to the bar holding `max(T, start of the clock's 100 ms period)`.
//! - Implementation: events accumulate into the open 100 ms base period, which merges into
//!   every open bar when it closes; all accumulators merge exactly (integer sums, except three
//!   time-weighted imbalance sums), so a 1 h bar equals the merge of its sixty 1 min bars.
//! - Time weighting: each valid book state (in sync, both sides present) weighs by how long, in
//!   exchange time, it held within the bar; a book update takes effect at
//!   `max(T, start of the clock's 100 ms period, the previous update's effective time)`.
//! - `realized_vol` and `volume_cv` come from sub-bars: 1 min for bars of 1 h and more, 1 s for
//!   bars of 1 min and more, else 100 ms; sub-bar closes forward-fill, and a sub-bar's log
//!   return is taken from the previous sub-bar close (so the first return of a bar reaches back
//!   into the previous bar). Sample standard deviations (n - 1) throughout.
//!
//! # Trailing windows
//! Trade intensity over 1/5/10 s is exact: the trades with `T` in `(clock - W, clock]`. The 60 s
//! buy pressure and the 15 min mean trade quantity of the large-trade flag use UTC-aligned
//! buckets of [`FeatureConfig::buy_pressure_bucket_ms`] (10 ms) and
//! [`FeatureConfig::large_trade_bucket_ms`] (100 ms): the window is the bucket holding the clock
//! and the ones before it, `W / width` in all, exact on that grid. Windows are rings sized at
//! construction to the most buckets a window can hold, so they cannot overflow; trades older
//! than a window when they arrive are in no window ([`FeatureCounters::trades_outside_windows`]).
//!
//! # CVD
//! Buy minus sell aggressor quantity over the trades whose `T` lies in the UTC day of the clock:
//! it resets when the clock crosses 00:00 UTC. A late trade from the previous day is not in the
//! new day's CVD ([`FeatureCounters::cvd_excluded_trades`]), but is in its bar's volumes.
//!
//! # Trade source
//! aggTrade and trade streams both feed the trade features, never both for one symbol:
//! [`TradeSource::Auto`] takes the stream of the first trade-type message. An aggTrade counts
//! once in `trade_count` and `l - f + 1` times in `raw_trade_count`; a trade once in both.
//!
//! # Reading the book
//! Per book update the features read the first 20 levels of each side: in place when the book
//! lends its own arrays ([`orderflow_core::BookView::top_arrays`], as `orderflow-book`'s top
//! cache does), else copied with [`orderflow_core::BookView::top_levels`]. Both give the same
//! features, bit for bit.
//!
//! # Undefined values
//! A missing price is [`orderflow_core::Px::UNDEF`], a missing quantity zero, a float without
//! inputs or with a zero denominator `NaN`. A book that is not in sync reads as empty.
//!
//! # Determinism
//! The crate reads no clock, spawns no thread, does no I/O and iterates no hash map: time comes
//! only from event timestamps, every float sum is accumulated in a fixed order, and exact
//! quantities stay integers up to the output, so the same events give the same outputs, bit for
//! bit.
//!
//! # Memory and speed
//! All memory is allocated by [`SymbolFeatures::new`] (470 KiB per symbol by default); nothing
//! allocates afterwards. `benches/benches/features.rs` measures one book update with all
//! per-event features and bar statistics (on an array book and on the real book), one trade,
//! and a whole recording through the engine pipeline with features off and on.
//! [`SymbolFeatures::open_bar`] reads a bar before it closes, allocation-free as well.
//!
//! # Quick start
//! ```
//! use orderflow_core::{Body, Event, SymbolId, Trade, Px, Qty, Side, BookLevel, BookSide, BookView};
//! use orderflow_features::{BookChange, FeatureConfig, FeatureDigest, SymbolFeatures};
//!
//! struct NoBook;
//! impl BookView for NoBook {
//!     fn best_bid(&self) -> Option<BookLevel> { None }
//!     fn best_ask(&self) -> Option<BookLevel> { None }
//!     fn top_levels(&self, _: BookSide, _: &mut [BookLevel]) -> usize { 0 }
//!     fn is_synced(&self) -> bool { false }
//! }
//!
//! let config = FeatureConfig { bar_resolutions_ms: vec![1_000], ..FeatureConfig::default() };
//! let mut features = SymbolFeatures::new(SymbolId(0), &config);
//! let mut digest = FeatureDigest::new();
//! for (i, t) in [1_000_i64, 1_400, 2_100, 5_050].into_iter().enumerate() {
//!     let trade = Trade {
//!         trade_id: i as u64, px: Px::from_units(100 + i as i64), qty: Qty::from_units(1),
//!         transact_time_ms: t, event_time_ms: t, aggressor: Side::Buy, ..Trade::default()
//!     };
//!     let event = Event::new(0, SymbolId(0), Body::Trade(trade));
//!     features.on_event(&event, &NoBook, BookChange::Unchanged, &mut digest);
//! }
//! // 4 trades; bars [1s,2s) [2s,3s) and the gap-filled [3s,4s) [4s,5s) have closed.
//! assert_eq!((digest.event_count(), digest.bar_count()), (4, 4));
//! assert_eq!(features.features().trade_intensity_1s, 1); // only the trade at 5.05 s
//! ```
//!
//! # Feature flags
//! None.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bar;
mod book_stats;
mod config;
mod digest;
mod output;
mod symbol;
mod window;

pub use config::{
    BASE_PERIOD_MS, BUY_PRESSURE_WINDOW_MS, ConfigError, FeatureConfig, LARGE_TRADE_WINDOW_MS,
    MAX_BAR_RESOLUTION_MS, MAX_BAR_RESOLUTIONS, TradeSource,
};
pub use digest::FeatureDigest;
pub use output::{Bar, EventFeatures, FeatureSink, FeatureTrigger, Notional, QtySum};
pub use symbol::{BookChange, FeatureCounters, SymbolFeatures};
