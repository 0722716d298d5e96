//! `orderflow-engine`: what an executor links (DESIGN.md section 2).
//!
//! Two layers:
//! - [`Pipeline`]: single-threaded, per symbol the L2 book with its sync state machine and the
//!   order-flow features, driven one [`orderflow_core::Event`] at a time. Live and replay run
//!   this same code (STYLE.md section 1), so a replay reproduces what live computed.
//! - [`Engine`]: the threaded engine around it. A feed thread runs an [`EventSource`] and
//!   pushes events into an SPSC ring; the engine thread runs exactly [`Pipeline::on_event`] per
//!   event, calls a [`Strategy`] with the book and the features, publishes the features to a
//!   [`FeatureReader`] for the executor's own thread, and forwards the input (plus the sync
//!   machine's `Status` events) to a recorder thread that appends it to a log.
//!
//! ```
//! use std::time::Duration;
//! use orderflow_core::{AggTrade, Body, Event, Px, Qty, Side, SymbolId};
//! use orderflow_engine::{Engine, IterSource, Strategy, StrategyContext, UpdateKind};
//!
//! /// Counts the trades it sees on the engine thread.
//! #[derive(Default)]
//! struct Count(u64);
//! impl Strategy for Count {
//!     fn on_event(&mut self, ctx: &StrategyContext<'_>) {
//!         self.0 += 1;
//!         assert!(!ctx.features.last_trade_px.is_undef());
//!     }
//! }
//!
//! let trades = (0..1_000i64).map(|i| {
//!     let t = 1_700_000_000_000 + i * 10;
//!     let trade = AggTrade {
//!         agg_trade_id: i as u64, px: Px::from_units(100), qty: Qty::from_units(1),
//!         transact_time_ms: t, event_time_ms: t, aggressor: Side::Buy, ..AggTrade::default()
//!     };
//!     Event::new(t * 1_000_000, SymbolId(0), Body::AggTrade(trade))
//! });
//! let engine = Engine::builder()
//!     .symbols(["BTCUSDT"])
//!     .bars([Duration::from_secs(1)])
//!     .build()?;
//! let mut handle = engine.spawn(IterSource::new(trades), Count::default())?;
//! let mut reader = handle.take_reader().expect("first take");
//! let executor = std::thread::spawn(move || {
//!     let mut bars = 0;
//!     while let Some(update) = reader.next() {
//!         bars += u32::from(matches!(update.kind, UpdateKind::Bar(_)));
//!     }
//!     bars
//! });
//! let finished = handle.join()?;
//! assert_eq!(finished.strategy.0, 1_000);
//! assert_eq!(finished.report.pipeline.events, 1_000);
//! assert_eq!(executor.join().unwrap(), 9); // 1 s bars closed by the trades of 10 s
//! finished.report.check()?; // nothing dropped
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threads and rings
//! See `threads.rs` for the diagram. Each ring is a preallocated single-producer,
//! single-consumer [`ring`] of `Copy` values. Every thread waits with the configured
//! [`WaitStrategy`] ([`SpinYieldPark`] by default: spin, yield, then park until the producer
//! wakes it), and may be pinned to a core ([`PinConfig`]; the cores are enumerated once when
//! the engine is built). A full ring never drops silently ([`Backpressure`]): the feed waits
//! for the engine; the recorder ring is sized for seconds of data and counts its overflow,
//! which fails [`EngineReport::check`]; the executor ring waits or counts, as configured.
//!
//! # Latency
//! Each event keeps the monotonic time the feed thread got it; the engine and the reader
//! record stage latencies into per-thread histograms ([`Stage`], [`LatencyReport`]), merged
//! at shutdown and on demand ([`EngineHandle::latency`]).
//!
//! # Rings
//! The ring is hand-written (rtrb's design: cached indices, `CachePadded` counters, `Copy`
//! values, plus slots on their own cache lines, a consumer that releases slots in batches and
//! a producer that can publish a batch at once; see [`ring`]) because it measured faster than
//! crossbeam's `ArrayQueue` and rtrb in the same run, and because the engine needs what
//! `ArrayQueue` lacks: each end sees the other close, which is how shutdown drains without
//! losing data. Its atomics are model-checked with loom:
//! `RUSTFLAGS="--cfg loom" cargo test -p orderflow-engine --test loom --release`.
//!
//! `cargo bench -p orderflow-benches --bench ring -- --warm-up-time 1 --measurement-time 3`
//! (`benches/benches/ring.rs`): 128-byte [`orderflow_core::Event`]s, 1024 slots, the two
//! threads pinned to the two cores of the shared 2-core VM, every case in the same run.
//! Criterion medians; ratio is the case's time over ours.
//!
//! | case | `base` | ours | crossbeam `ArrayQueue` | rtrb |
//! | --- | --- | --- | --- | --- |
//! | one hop (half a ping-pong) | 137 ns | 226 ns | 347 ns (1.54x) | 266 ns (1.18x) |
//! | streaming, per event | 1.8 ns | 47 ns | 89 ns (1.9x) | 69 ns (1.5x) |
//! | streaming, published 21 at a time | | 20 ns | 120 ns (5.9x) | 62 ns (3.0x) |
//! | streaming, published 256 at a time | | 23 ns | | |
//!
//! The batched row is close to how the engine's feed uses the ring: the records of a venue
//! message are staged and published every 8 records and at the message's last
//! ([`Producer::publish`]; rtrb through `write_chunk_uninit`, `ArrayQueue` one push each,
//! having no batch API). Streaming one at a time varies most from run to run on this VM: 28
//! and 34 ns for ours in two other runs the same day. Alternating the bench binaries built
//! before and after the batched releases and aligned slots, it went from 57 to 74 ns (five
//! runs, median 60) to 38 to 60 ns (seven runs, median 47), rtrb giving 56 to 75 ns beside
//! either. The threaded engine in `--bench pipeline` went from 12.6 and 12.3 M to 15.7 and
//! 17.0 M events/s in two alternating runs.
//!
//! Neither DESIGN.md target is met on this VM: a bare cache-line ping-pong (`base`) alone costs
//! 134 to 177 ns one way here, against the 110 ns the target assumed, and a hop moves the
//! counter's line and then the slot's lines, two transfers in a row. Streaming whole 128-byte
//! events moves two cache lines per event across cores: 256 at a time, where the index traffic
//! is negligible, it still costs 20 to 23 ns an event, above the 10 ns target.
//!
//! Slot size matters as much as the ring: a slot of the engine ring is exactly one 128-byte
//! event, two cache lines, because the feed's parse stamp rides in the event's padding
//! (`threads.rs`, `Stamped`) instead of in a `u64` beside it, which would make each slot 136
//! bytes, three lines. Group `ring_message` sends a 41-record depth message through the ring
//! and back as one event: 2.73 us a round trip with 128-byte records against 3.07 us with
//! 136-byte ones (11% less) in one run; other runs gave 2.81/3.01, 2.57/3.02 and 2.67/3.07 us.
//!
//! # Feature flags
//! None. `--cfg loom` swaps the ring's atomics for loom's (tests only).
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod channel;
mod engine;
mod error;
mod executor;
mod latency;
mod loom;
mod pin;
mod pipeline;
mod report;
#[allow(unsafe_code)]
pub mod ring;
mod source;
mod strategy;
mod threads;
mod wait;

pub use channel::Backpressure;
pub use engine::{
    DEFAULT_ENGINE_RING, DEFAULT_EXECUTOR_RING, DEFAULT_RECORDER_RING, Engine, EngineBuilder,
    EngineHandle, Finished,
};
pub use error::EngineError;
pub use executor::{FeatureReader, FeatureUpdate, UpdateKind};
pub use latency::{LatencyReport, MAX_LATENCY_NS, Stage, new_histogram};
pub use pin::{Cores, PinConfig};
pub use pipeline::{BookUpdate, Pipeline, PipelineConfig, PipelineSink};
pub use report::{EngineReport, ExecutorStats, FeedStats, PipelineStats, RecorderStats};
pub use ring::{Consumer, PopError, Producer, PushError};
pub use source::{EventSource, IterSource, RecvClock, SourcePoll};
pub use strategy::{Strategy, StrategyContext};
pub use threads::RecordSink;
pub use wait::{Spin, SpinYield, SpinYieldPark, WaitAction, WaitStrategy};
