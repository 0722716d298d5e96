//! [`Replay`]: an input through the engine's [`Pipeline`] and a [`Strategy`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orderflow_book::NoopRequester;
use orderflow_core::{Body, Event, EventKind, StatusCode, SymbolId, SymbolTable};
use orderflow_engine::{Pipeline, PipelineConfig, PipelineSink, Strategy, StrategyContext};
use orderflow_features::{Bar, EventFeatures, FeatureDigest, FeatureSink};

use crate::capture::BadInput;
use crate::error::ReplayError;
use crate::source::{Input, InputKind, Source};

/// How many bad inputs a [`ReplayReport`] keeps (the rest are only counted).
pub const KEPT_BAD_INPUTS: usize = 20;

/// A progress callback is called every this many records.
pub const PROGRESS_EVERY_RECORDS: u64 = 1 << 16;

/// What a replay read, counted as it went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    /// Records (events) read from the input.
    pub records: u64,
    /// Venue messages: records flagged `LAST` (a depth diff counts once, whatever its levels;
    /// every single-record message counts once).
    pub messages: u64,
    /// Depth level records, of diffs and snapshots.
    pub level_updates: u64,
    /// Records per [`EventKind`], indexed by discriminant.
    pub per_kind: [u64; EventKind::ALL.len()],
    /// Recorded `Status::Gap`/`Status::Resynced` events not fed to the pipeline: the replayed
    /// sync machine derives them again (see the crate docs).
    pub derived_status_skipped: u64,
    /// Input lines or records that were skipped.
    pub bad_inputs: u64,
}

impl ReplayCounts {
    /// Records of `kind`.
    #[must_use]
    pub fn count(&self, kind: EventKind) -> u64 {
        self.per_kind.get(kind as usize).copied().unwrap_or(0)
    }
}

/// The outcome of [`Replay::run`].
#[derive(Debug)]
pub struct ReplayReport {
    /// Digest of every feature output (per-event features and bars), in order.
    pub digest: FeatureDigest,
    /// What was read.
    pub counts: ReplayCounts,
    /// Wall time of the run (input reading, parsing for a capture, pipeline, strategy).
    pub elapsed: Duration,
    /// The first [`KEPT_BAD_INPUTS`] skipped inputs.
    pub bad_inputs: Vec<BadInput>,
    /// What was replayed.
    pub input: InputKind,
}

impl ReplayReport {
    /// Venue messages per second of wall time.
    #[must_use]
    pub fn messages_per_sec(&self) -> f64 {
        per_sec(self.counts.messages, self.elapsed)
    }

    /// Depth level updates per second of wall time.
    #[must_use]
    pub fn level_updates_per_sec(&self) -> f64 {
        per_sec(self.counts.level_updates, self.elapsed)
    }
}

#[allow(clippy::cast_precision_loss, reason = "a rate for display")]
fn per_sec(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// How far a run has come, handed to a progress callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records read so far.
    pub records: u64,
    /// Records in the whole input, when known (a log).
    pub total_records: Option<u64>,
}

/// `false` for the recorded events replay does not feed to the pipeline: `Status::Gap` and
/// `Status::Resynced`, which the live sync machine emitted and the replayed one derives again
/// from the same depth events (crate docs).
#[inline]
#[must_use]
pub fn is_pipeline_input(event: &Event) -> bool {
    !matches!(
        &event.body,
        Body::Status(s) if matches!(s.code, StatusCode::Gap | StatusCode::Resynced)
    )
}

/// A recorded log or raw capture driven through the engine pipeline.
#[derive(Debug)]
pub struct Replay {
    source: Source,
    pipeline: Pipeline,
}

/// Folds outputs into the digest and calls the strategy as the engine thread does
/// (`orderflow_engine`'s `threads.rs`): bars and sync statuses as they are emitted,
/// `on_event` once after a pipeline call that emitted features, with the symbol's book and
/// features as that call left them.
struct RunSink<'s, S: ?Sized> {
    digest: FeatureDigest,
    emitted: bool,
    strategy: &'s mut S,
}

impl<S: Strategy + ?Sized> RunSink<'_, S> {
    /// Shows the strategy `event`, after which the pipeline emitted features.
    fn strategy_on_event(&mut self, pipeline: &Pipeline, event: &Event) {
        if let (Some(book), Some(features)) = (
            pipeline.sync_book(event.symbol),
            pipeline.features(event.symbol),
        ) {
            self.strategy.on_event(&StrategyContext {
                symbol: event.symbol,
                event,
                book: book.book(),
                features: features.features(),
            });
        }
    }
}

impl<S: Strategy + ?Sized> FeatureSink for RunSink<'_, S> {
    #[inline]
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.digest.event_features(symbol, features);
        self.emitted = true;
    }

    #[inline]
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.digest.bar(symbol, bar);
        self.strategy.on_bar(symbol, bar);
    }
}

impl<S: Strategy + ?Sized> PipelineSink for RunSink<'_, S> {
    fn status(&mut self, event: &Event) {
        self.strategy.on_status(event);
    }
}

impl Replay {
    /// Opens one input with the default pipeline: a log directory, or a capture file (a
    /// cryptofeed ws file brings its snapshot files).
    ///
    /// # Errors
    /// See [`Source::open`].
    pub fn open(input: impl AsRef<Path>) -> Result<Self, ReplayError> {
        Self::open_inputs(&[input.as_ref().to_path_buf()], PipelineConfig::default())
    }

    /// Opens `inputs` (see [`Source::open`]) with `config`.
    ///
    /// # Errors
    /// See [`Source::open`]; [`ReplayError::Config`] for an invalid configuration.
    pub fn open_inputs(inputs: &[PathBuf], config: PipelineConfig) -> Result<Self, ReplayError> {
        Self::new(Source::open(inputs)?, config)
    }

    /// A replay of `source` through a pipeline made from `config`.
    ///
    /// # Errors
    /// [`ReplayError::Config`] for an invalid configuration.
    pub fn new(source: Source, config: PipelineConfig) -> Result<Self, ReplayError> {
        let pipeline = Pipeline::try_new(config).map_err(ReplayError::Config)?;
        Ok(Self { source, pipeline })
    }

    /// The input.
    #[must_use]
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The pipeline: after a run, every symbol's book and features as the input left them.
    #[must_use]
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Names of the symbol ids the strategy sees.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        self.source.symbols()
    }

    /// Reads the whole input through the pipeline and `strategy`. Call it once: a capture is
    /// consumed by it.
    #[must_use]
    pub fn run<S: Strategy + ?Sized>(&mut self, strategy: &mut S) -> ReplayReport {
        self.run_with_progress(strategy, &mut |_| {})
    }

    /// [`Replay::run`], calling `progress` every [`PROGRESS_EVERY_RECORDS`] records and once at
    /// the end.
    #[must_use]
    pub fn run_with_progress<S: Strategy + ?Sized>(
        &mut self,
        strategy: &mut S,
        progress: &mut dyn FnMut(Progress),
    ) -> ReplayReport {
        let Self { source, pipeline } = self;
        let input = source.kind();
        let total_records = source.total_records();
        let mut sink = RunSink {
            digest: FeatureDigest::new(),
            emitted: false,
            strategy,
        };
        let mut counts = ReplayCounts::default();
        let mut bad_inputs = Vec::new();
        let mut bad_count = 0u64;
        let mut requester = NoopRequester;
        let started = Instant::now();
        source.for_each_input(
            |input| {
                counts.records += 1;
                counts.messages += u64::from(input.is_last());
                if let Some(n) = counts.per_kind.get_mut(input.kind() as usize) {
                    *n += 1;
                }
                if counts.records.is_multiple_of(PROGRESS_EVERY_RECORDS) {
                    progress(Progress {
                        records: counts.records,
                        total_records,
                    });
                }
                sink.emitted = false;
                match input {
                    Input::Level(level) => {
                        pipeline.on_level(
                            level.symbol,
                            &level.level,
                            level.flags.is_last(),
                            level.recv_ns,
                            &mut requester,
                            &mut sink,
                        );
                        if sink.emitted {
                            sink.strategy_on_event(pipeline, &level.to_event());
                        }
                    }
                    Input::Event(event) => {
                        if !is_pipeline_input(event) {
                            counts.derived_status_skipped += 1;
                            return;
                        }
                        pipeline.on_event(event, &mut requester, &mut sink);
                        if sink.emitted {
                            sink.strategy_on_event(pipeline, event);
                        }
                    }
                }
            },
            |bad| {
                bad_count += 1;
                if bad_inputs.len() < KEPT_BAD_INPUTS {
                    bad_inputs.push(bad);
                }
            },
        );
        counts.bad_inputs = bad_count;
        sink.strategy.on_finish();
        let elapsed = started.elapsed();
        counts.level_updates = counts.count(EventKind::Level);
        progress(Progress {
            records: counts.records,
            total_records,
        });
        ReplayReport {
            digest: sink.digest,
            counts,
            elapsed,
            bad_inputs,
            input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_counted_kept_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.txt");
        let trade = |t: u64, p: &str| {
            format!(
                "{t}000000 {{\"e\":\"trade\",\"E\":{t},\"T\":{t},\"s\":\"BTCUSDT\",\"t\":{t},\
                 \"p\":\"{p}\",\"q\":\"0.5\",\"X\":\"MARKET\",\"m\":false}}\n"
            )
        };
        let text = trade(1_700_000_000_000, "100.5")
            + "not a capture line\n"
            + &trade(1_700_000_000_300, "100.25")
            + &trade(1_700_000_001_200, "100.125");
        std::fs::write(&path, text).unwrap();

        let mut replay = Replay::open(&path).unwrap();
        let mut calls = 0u64;
        let report = replay.run_with_progress(&mut (), &mut |p| {
            calls += 1;
            assert_eq!(p.total_records, None);
        });
        assert_eq!(report.input, InputKind::Capture);
        assert_eq!(report.counts.bad_inputs, 1);
        assert_eq!(report.bad_inputs.len(), 1);
        assert_eq!(report.bad_inputs[0].line, 2);
        assert_eq!((report.counts.records, report.counts.messages), (3, 3));
        assert_eq!(report.counts.count(EventKind::Trade), 3);
        // Three trades: three feature rows; the 1 s bar [0, 1 s) closed by the third.
        assert_eq!(report.digest.event_count(), 3);
        assert!(report.digest.bar_count() >= 1);
        assert_eq!(calls, 1, "once at the end");
        assert!(replay.pipeline().features(SymbolId(0)).is_some());
    }

    #[test]
    fn recorded_sync_statuses_are_not_fed() {
        use orderflow_core::Status;
        let gap = Event::new(
            0,
            SymbolId(0),
            Body::Status(Status {
                code: StatusCode::Gap,
                ..Status::default()
            }),
        );
        let connected = Event::new(0, SymbolId(0), Body::Status(Status::default()));
        assert!(!is_pipeline_input(&gap));
        assert!(is_pipeline_input(&connected));
    }
}
