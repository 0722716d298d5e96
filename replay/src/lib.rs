//! `orderflow-replay`: recorded market data back through the engine's own code (DESIGN.md
//! section 6).
//!
//! - [`Replay`] drives a recorded log directory or raw capture files through the same
//!   [`Pipeline`](orderflow_engine::Pipeline) the live engine runs (book, sync state machine,
//!   features, bars, the recorded `Timer` and `Status` events) and calls the engine's
//!   [`Strategy`] exactly as the engine thread does (bars and sync statuses as they happen,
//!   `on_event` after each input event that produced features, `on_finish` at the end), and
//!   reports the [`FeatureDigest`](orderflow_features::FeatureDigest) of everything the
//!   features produced, with counts and messages per second ([`ReplayReport`]).
//! - [`Source`] is the input: a [`LogSource`] (a log written by the recorder, validated once,
//!   walked zero-copy) or a [`CaptureSource`] (capture files parsed on the fly, in receive
//!   order; a replay reads and splits the lines on one thread and parses the frames on another
//!   while the pipeline runs on its own, when the machine has the cores for it).
//! - [`import`] converts raw captures and Binance historical CSVs into a log.
//!
//! ```no_run
//! use orderflow_core::SymbolId;
//! use orderflow_features::Bar;
//! use orderflow_replay::{Replay, Strategy};
//!
//! #[derive(Default)]
//! struct CountBars(u64);
//!
//! impl Strategy for CountBars {
//!     fn on_bar(&mut self, _: SymbolId, bar: &Bar) {
//!         self.0 += u64::from(bar.resolution_ms == 60_000);
//!     }
//! }
//!
//! let mut replay = Replay::open("logs/")?; // or a capture file
//! let mut strategy = CountBars::default();
//! let report = replay.run(&mut strategy);
//! println!(
//!     "digest {:016x}, {:.0} messages/s, {} one-minute bars",
//!     report.digest.value(),
//!     report.messages_per_sec(),
//!     strategy.0
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Determinism
//! Replay reads no clock for anything it computes (only for the elapsed time it reports) and
//! feeds events one at a time in recorded order, so the same input gives the same digest on
//! every run. A log imported from a capture holds the capture's events, in the capture's
//! order, with the capture's symbol ids, so replaying it gives the digest of replaying the
//! capture (tests: `replay/tests/determinism.rs`).
//!
//! # What is fed to the pipeline
//! Every recorded event, in order, except recorded `Status::Gap` and `Status::Resynced`
//! events: those are what the live sync machine emitted, and the replayed sync machine emits
//! them again from the same depth events ([`ReplayCounts::derived_status_skipped`] counts
//! them). `Connected`/`Disconnected` statuses and `Timer` events are fed as they are, so bars
//! close where they closed live (DESIGN.md section 5.3). A capture holds no timers, and replay
//! invents none. Snapshot requests go nowhere: the recorded snapshots arrive as events.
//!
//! # Throughput
//! `orderflow bench throughput` replays the shared recordings from a log and from the capture
//! and prints venue messages per second (a depth diff counts once, whatever its levels) and
//! level updates per second; see the README.
//!
//! # Feature flags
//! None.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod error;
pub mod import;
mod log;
mod run;
mod source;

pub use capture::{BadInput, CaptureSource, InputStats, Message, resolve_capture_inputs};
pub use error::{ImportError, ReplayError};
pub use log::{LogSource, LogStats};
pub use orderflow_engine::{Strategy, StrategyContext};
pub use run::{
    KEPT_BAD_INPUTS, PROGRESS_EVERY_RECORDS, Progress, Replay, ReplayCounts, ReplayReport,
    is_pipeline_input,
};
pub use source::{Input, InputKind, Source};
