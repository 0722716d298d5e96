//! [`Engine`]: the builder, the thread start-up and the handle (DESIGN.md section 2).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use orderflow_core::SymbolTable;
use orderflow_recorder::{LogWriter, WriterConfig};

use crate::channel::{Backpressure, Receiver, channel};
use crate::error::EngineError;
use crate::executor::{FeatureReader, FeatureUpdate};
use crate::latency::{Clock, LatencyBoard, LatencyReport, Role, ThreadLatency};
use crate::pin::{Cores, PinConfig};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::report::{EngineReport, FeedStats, RecorderStats};
use crate::source::{EventSource, RecvClock};
use crate::strategy::Strategy;
use crate::threads::{
    EngineOutcome, EngineThread, FeedThread, Output, RecordSink, RecorderOutcome, RecorderThread,
};
use crate::wait::{Signal, SpinYieldPark, WaitStrategy};

/// Default engine ring: 64 Ki events (8 MiB), tens of milliseconds of a busy feed.
pub const DEFAULT_ENGINE_RING: usize = 1 << 16;
/// Default recorder ring: 256 Ki events (32 MiB), seconds of a busy feed.
pub const DEFAULT_RECORDER_RING: usize = 1 << 18;
/// Default executor ring: 16 Ki updates.
pub const DEFAULT_EXECUTOR_RING: usize = 1 << 14;
/// Snapshot request ring (engine → feed).
const REQUEST_RING: usize = 256;
/// The feed publishes a long venue message (a depth diff: 37 records at the median) to the
/// engine every this many records, so the engine applies its first levels while the feed
/// writes the rest. The ring bench's group `ring_message_work` (41 records, about 60 ns of
/// work on each), four runs: a message took 4.21 / 4.05 / 3.48 / 3.62 us published whole and
/// 3.54 / 3.39 / 3.12 / 3.13 us every 8 records; every record gave 4.21 / 4.06 / 3.29 / 3.11 us,
/// no better than every 8 and in two runs no better than whole (a `tail` store per record).
/// In `bench latency` the difference is within the noise of this VM.
const FEED_PUBLISH_EVERY: usize = 8;
/// How long an on-demand latency snapshot waits for the threads to answer.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_millis(200);

enum RecordTarget {
    Dir(PathBuf),
    Sink(Box<dyn RecordSink>),
}

/// Configures an [`Engine`]; see [`Engine::builder`].
pub struct EngineBuilder<W = SpinYieldPark> {
    symbols: Vec<String>,
    pipeline: PipelineConfig,
    bars: Option<Vec<Duration>>,
    record: Option<RecordTarget>,
    pin: PinConfig,
    wait: W,
    engine_ring: usize,
    recorder_ring: (usize, Backpressure),
    executor_ring: (usize, Backpressure),
}

impl<W: std::fmt::Debug> std::fmt::Debug for EngineBuilder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("symbols", &self.symbols)
            .field("pin", &self.pin)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl<W: WaitStrategy> EngineBuilder<W> {
    /// The symbols, in the order that gives their [`SymbolId`](orderflow_core::SymbolId)s (0, 1, ...). The source must
    /// intern symbols in the same order (a live feed takes them at subscribe time); the
    /// recorder writes this table into its segments.
    #[must_use]
    pub fn symbols<I, T>(mut self, symbols: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.symbols = symbols.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// Bar resolutions (multiples of 100 ms); replaces those of [`EngineBuilder::pipeline`].
    #[must_use]
    pub fn bars(mut self, resolutions: impl IntoIterator<Item = Duration>) -> Self {
        self.bars = Some(resolutions.into_iter().collect());
        self
    }

    /// Book and feature settings (default: [`PipelineConfig::default`]).
    #[must_use]
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.pipeline = config;
        self
    }

    /// Records every input event and `Status` event into a log under `dir`.
    #[must_use]
    pub fn record_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.record = Some(RecordTarget::Dir(dir.into()));
        self
    }

    /// Records into `sink` instead of a log directory.
    #[must_use]
    pub fn record_with(mut self, sink: impl RecordSink + 'static) -> Self {
        self.record = Some(RecordTarget::Sink(Box::new(sink)));
        self
    }

    /// Cores to pin the engine's threads to (default: none).
    #[must_use]
    pub fn pin(mut self, pin: PinConfig) -> Self {
        self.pin = pin;
        self
    }

    /// How every engine thread waits (default: [`SpinYieldPark`]).
    #[must_use]
    pub fn wait<W2: WaitStrategy>(self, wait: W2) -> EngineBuilder<W2> {
        EngineBuilder {
            symbols: self.symbols,
            pipeline: self.pipeline,
            bars: self.bars,
            record: self.record,
            pin: self.pin,
            wait,
            engine_ring: self.engine_ring,
            recorder_ring: self.recorder_ring,
            executor_ring: self.executor_ring,
        }
    }

    /// Feed → engine ring capacity (rounded up to a power of two). The feed waits when it is
    /// full, counting each wait ([`FeedStats::engine_ring_full`]).
    #[must_use]
    pub fn engine_ring(mut self, capacity: usize) -> Self {
        self.engine_ring = capacity;
        self
    }

    /// Engine → recorder ring capacity and policy. Default: [`DEFAULT_RECORDER_RING`] and
    /// [`Backpressure::CountAndSkip`] (the engine never waits on the disk; an overflow is
    /// counted and fails [`EngineReport::check`]).
    #[must_use]
    pub fn recorder_ring(mut self, capacity: usize, policy: Backpressure) -> Self {
        self.recorder_ring = (capacity, policy);
        self
    }

    /// Engine → executor ring capacity and policy. Default: [`DEFAULT_EXECUTOR_RING`] and
    /// [`Backpressure::CountAndSkip`]. Under [`Backpressure::BlockSpin`] the engine waits for
    /// the reader: take it and poll it, or drop it.
    #[must_use]
    pub fn executor_ring(mut self, capacity: usize, policy: Backpressure) -> Self {
        self.executor_ring = (capacity, policy);
        self
    }

    /// Checks the configuration and enumerates the cores (once, on this thread).
    ///
    /// # Errors
    /// [`EngineError::Config`] for an invalid symbol, bar resolution, ring capacity or
    /// pipeline setting; [`EngineError::MissingCore`] for a pin to a core that is not there.
    pub fn build(self) -> Result<Engine<W>, EngineError> {
        let config_err = |reason: String| EngineError::Config { reason };
        let mut symbols = SymbolTable::new();
        for name in &self.symbols {
            symbols
                .intern(name.as_bytes())
                .map_err(|e| config_err(format!("symbol {name:?}: {e}")))?;
        }
        let mut pipeline = self.pipeline;
        if let Some(bars) = &self.bars {
            pipeline.features.bar_resolutions_ms = bars
                .iter()
                .map(|d| {
                    i64::try_from(d.as_millis())
                        .ok()
                        .filter(|_| d.subsec_nanos() % 1_000_000 == 0)
                        .ok_or_else(|| config_err(format!("bar {d:?} is not whole milliseconds")))
                })
                .collect::<Result<_, _>>()?;
        }
        Pipeline::try_new(pipeline.clone()).map_err(config_err)?;
        for (name, capacity) in [
            ("engine", self.engine_ring),
            ("recorder", self.recorder_ring.0),
            ("executor", self.executor_ring.0),
        ] {
            if capacity == 0 || capacity > 1 << 30 {
                return Err(config_err(format!(
                    "{name} ring capacity {capacity} is not in 1..=2^30"
                )));
            }
        }
        let cores = Cores::detect();
        for core in [self.pin.feed, self.pin.engine, self.pin.recorder]
            .into_iter()
            .flatten()
        {
            cores.check(core)?;
        }
        Ok(Engine {
            symbols,
            pipeline,
            record: self.record,
            pin: self.pin,
            cores,
            wait: self.wait,
            engine_ring: self.engine_ring,
            recorder_ring: self.recorder_ring,
            executor_ring: self.executor_ring,
        })
    }
}

/// A configured engine: feed, engine and (when recording) recorder threads joined by SPSC
/// rings, plus a ring to the executor's thread. See the crate docs for a walk-through.
pub struct Engine<W = SpinYieldPark> {
    symbols: SymbolTable,
    pipeline: PipelineConfig,
    record: Option<RecordTarget>,
    pin: PinConfig,
    cores: Cores,
    wait: W,
    engine_ring: usize,
    recorder_ring: (usize, Backpressure),
    executor_ring: (usize, Backpressure),
}

impl<W: std::fmt::Debug> std::fmt::Debug for Engine<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("symbols", &self.symbols)
            .field("pin", &self.pin)
            .field("cores", &self.cores)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl Engine<SpinYieldPark> {
    /// A builder with the defaults: no symbols, default pipeline, no recording, no pinning,
    /// [`SpinYieldPark`].
    #[must_use]
    pub fn builder() -> EngineBuilder<SpinYieldPark> {
        EngineBuilder {
            symbols: Vec::new(),
            pipeline: PipelineConfig::default(),
            bars: None,
            record: None,
            pin: PinConfig::default(),
            wait: SpinYieldPark::default(),
            engine_ring: DEFAULT_ENGINE_RING,
            recorder_ring: (DEFAULT_RECORDER_RING, Backpressure::CountAndSkip),
            executor_ring: (DEFAULT_EXECUTOR_RING, Backpressure::CountAndSkip),
        }
    }
}

/// Start-up gate states.
const GATE_WAIT: u8 = 0;
const GATE_GO: u8 = 1;
const GATE_ABORT: u8 = 2;

/// Holds a new thread until every thread has pinned itself.
#[derive(Debug)]
struct Gate {
    state: AtomicU8,
}

impl Gate {
    /// Waits for the verdict; `true` to run.
    fn pass(&self) -> bool {
        loop {
            // Acquire pairs with the Release in `open`.
            match self.state.load(Ordering::Acquire) {
                GATE_WAIT => thread::park_timeout(Duration::from_millis(1)),
                s => return s == GATE_GO,
            }
        }
    }

    /// Gives the verdict to the waiting `threads`.
    fn open(&self, state: u8, threads: &[&thread::Thread]) {
        // Release pairs with the Acquire in `pass`.
        self.state.store(state, Ordering::Release);
        for t in threads {
            t.unpark();
        }
    }
}

fn spawn_named<T: Send + 'static>(
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, EngineError> {
    thread::Builder::new()
        .name(format!("orderflow-{name}"))
        .spawn(f)
        .map_err(|source| EngineError::Spawn {
            thread: name,
            source,
        })
}

/// Runs `body` after pinning (if asked) and passing the gate; `None` when aborted.
fn gated<T>(
    name: &'static str,
    core: Option<usize>,
    cores: &Cores,
    gate: &Gate,
    ready: &mpsc::SyncSender<Result<(), EngineError>>,
    body: impl FnOnce() -> T,
) -> Option<T> {
    let pinned = core.map_or(Ok(()), |c| cores.pin_current(c, name));
    let _ = ready.send(pinned);
    gate.pass().then(body)
}

impl<W: WaitStrategy> Engine<W> {
    /// The symbol table built from [`EngineBuilder::symbols`].
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// The cores found when the engine was built (for pinning the executor's own thread).
    #[must_use]
    pub fn cores(&self) -> &Cores {
        &self.cores
    }

    /// Runs `source` to its end with `strategy` and returns when everything is processed and
    /// recorded. The executor ring is not used (see [`Engine::spawn`] for a reader).
    ///
    /// # Errors
    /// As [`Engine::spawn`] and [`EngineHandle::join`].
    pub fn run<Src, S>(self, source: Src, strategy: S) -> Result<Finished<S>, EngineError>
    where
        Src: EventSource + 'static,
        S: Strategy + 'static,
    {
        let mut handle = self.spawn(source, strategy)?;
        drop(handle.take_reader());
        handle.join()
    }

    /// Opens the recorder's log, starts the threads (pinned as configured) and returns at
    /// once. The feed thread runs `source`; the engine thread runs the pipeline and calls
    /// `strategy`.
    ///
    /// # Errors
    /// [`EngineError::Recorder`] when the log cannot be opened, [`EngineError::Spawn`] when a
    /// thread cannot start, [`EngineError::PinFailed`] when the OS refuses a pin (no event is
    /// read then).
    pub fn spawn<Src, S>(self, source: Src, strategy: S) -> Result<EngineHandle<S, W>, EngineError>
    where
        Src: EventSource + 'static,
        S: Strategy + 'static,
    {
        let Self {
            symbols,
            pipeline,
            record,
            pin,
            cores,
            wait,
            engine_ring,
            recorder_ring,
            executor_ring,
        } = self;
        let pipeline =
            Pipeline::try_new(pipeline).map_err(|reason| EngineError::Config { reason })?;
        let record_sink: Option<Box<dyn RecordSink>> = match record {
            None => None,
            Some(RecordTarget::Sink(sink)) => Some(sink),
            Some(RecordTarget::Dir(dir)) => Some(Box::new(LogWriter::open(
                dir,
                WriterConfig::new(symbols.clone()),
            )?)),
        };

        let clock = Clock::new();
        let board = LatencyBoard::new();
        let recv_clock = source.recv_clock();
        let stop = Arc::new(AtomicBool::new(false));
        let feed_wake = Signal::new();
        let gate = Arc::new(Gate {
            state: AtomicU8::new(GATE_WAIT),
        });
        let cores = Arc::new(cores);
        let threads = 2 + usize::from(record_sink.is_some());
        let (ready_tx, ready_rx) = mpsc::sync_channel(threads);

        let (engine_tx, engine_rx) = channel(engine_ring);
        let engine_tx = engine_tx.publishing_every(FEED_PUBLISH_EVERY);
        let (request_tx, request_rx) = channel(REQUEST_RING);
        let (executor_tx, executor_rx) = channel::<FeatureUpdate>(executor_ring.0);
        let (recorder_out, recorder_in) = match record_sink {
            Some(sink) => {
                let (tx, rx) = channel(recorder_ring.0);
                (
                    Some(Output {
                        tx,
                        policy: recorder_ring.1,
                    }),
                    Some((rx, sink)),
                )
            }
            None => (None, None),
        };

        let mut recorder_thread = None;
        if let Some((input, sink)) = recorder_in {
            let (cores_, gate_, ready) = (Arc::clone(&cores), Arc::clone(&gate), ready_tx.clone());
            let spawned = spawn_named("recorder", move || {
                gated("recorder", pin.recorder, &cores_, &gate_, &ready, || {
                    RecorderThread { input, sink, wait }.run()
                })
            });
            recorder_thread = Some(abort_on_err(spawned, &gate, &[])?);
        }
        let engine_thread = {
            let (cores_, gate_, ready) = (Arc::clone(&cores), Arc::clone(&gate), ready_tx.clone());
            let latency = ThreadLatency::new(Role::Engine, Arc::clone(&board));
            let spawned = spawn_named("engine", move || {
                gated("engine", pin.engine, &cores_, &gate_, &ready, || {
                    EngineThread {
                        pipeline,
                        input: engine_rx,
                        requests: request_tx,
                        recorder: recorder_out,
                        executor: Output {
                            tx: executor_tx,
                            policy: executor_ring.1,
                        },
                        strategy,
                        wait,
                        clock,
                        latency,
                        live: recv_clock == RecvClock::Live,
                    }
                    .run()
                })
            });
            abort_on_err(spawned, &gate, &[recorder_thread.as_ref().map(thread_of)])?
        };
        let feed_thread = {
            let (cores_, gate_, ready) = (Arc::clone(&cores), Arc::clone(&gate), ready_tx);
            let latency = ThreadLatency::new(Role::Feed, Arc::clone(&board));
            let (stop, wake) = (Arc::clone(&stop), Arc::clone(&feed_wake));
            let spawned = spawn_named("feed", move || {
                gated("feed", pin.feed, &cores_, &gate_, &ready, || {
                    FeedThread {
                        source,
                        tx: engine_tx,
                        requests: request_rx,
                        stop,
                        wake,
                        wait,
                        clock,
                        latency,
                    }
                    .run()
                })
            });
            abort_on_err(
                spawned,
                &gate,
                &[
                    recorder_thread.as_ref().map(thread_of),
                    Some(engine_thread.thread().clone()),
                ],
            )?
        };

        let mut first_error = None;
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(EngineError::Panicked { thread: "start-up" });
                    break;
                }
            }
        }
        let verdict = if first_error.is_some() {
            GATE_ABORT
        } else {
            GATE_GO
        };
        let started: Vec<&thread::Thread> = [
            Some(feed_thread.thread()),
            Some(engine_thread.thread()),
            recorder_thread.as_ref().map(JoinHandle::thread),
        ]
        .into_iter()
        .flatten()
        .collect();
        gate.open(verdict, &started);
        let handle = EngineHandle {
            feed: Some(feed_thread),
            engine: Some(engine_thread),
            recorder: recorder_thread,
            reader: Some(executor_rx),
            reader_wait: wait,
            stop,
            feed_wake,
            board,
            clock,
            recv_clock,
            symbols,
        };
        match first_error {
            None => Ok(handle),
            Some(e) => {
                // Every thread returns at the gate; their ring ends close as they go.
                let _ = handle.join();
                Err(e)
            }
        }
    }
}

fn thread_of<T>(h: &JoinHandle<T>) -> thread::Thread {
    h.thread().clone()
}

/// On a spawn failure, releases the threads already spawned (they return at the gate).
fn abort_on_err<T>(
    spawned: Result<JoinHandle<T>, EngineError>,
    gate: &Gate,
    started: &[Option<thread::Thread>],
) -> Result<JoinHandle<T>, EngineError> {
    spawned.inspect_err(|_| {
        let started: Vec<&thread::Thread> = started.iter().flatten().collect();
        gate.open(GATE_ABORT, &started);
    })
}

/// What a finished run hands back: the report and the strategy (with whatever it gathered).
#[derive(Debug)]
pub struct Finished<S> {
    /// Counters, digest and latencies.
    pub report: EngineReport,
    /// The strategy, after [`Strategy::on_finish`].
    pub strategy: S,
}

/// A running engine. Dropping it without [`EngineHandle::shutdown`] or
/// [`EngineHandle::join`] shuts it down and discards the report.
pub struct EngineHandle<S, W> {
    feed: Option<JoinHandle<Option<FeedStats>>>,
    engine: Option<JoinHandle<Option<EngineOutcome<S>>>>,
    recorder: Option<JoinHandle<Option<RecorderOutcome>>>,
    reader: Option<Receiver<FeatureUpdate>>,
    reader_wait: W,
    stop: Arc<AtomicBool>,
    feed_wake: Arc<Signal>,
    board: Arc<LatencyBoard>,
    clock: Clock,
    recv_clock: RecvClock,
    symbols: SymbolTable,
}

impl<S, W: std::fmt::Debug> std::fmt::Debug for EngineHandle<S, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("symbols", &self.symbols)
            .field("wait", &self.reader_wait)
            .finish_non_exhaustive()
    }
}

impl<S: Strategy + 'static, W: WaitStrategy> EngineHandle<S, W> {
    /// The executor's [`FeatureReader`], once (`None` afterwards). Move it to the executor's
    /// thread; it waits with the engine's wait strategy.
    pub fn take_reader(&mut self) -> Option<FeatureReader<W>> {
        let rx = self.reader.take()?;
        let latency = ThreadLatency::new(Role::Executor, Arc::clone(&self.board));
        Some(FeatureReader::new(
            rx,
            self.clock,
            latency,
            self.recv_clock,
            self.reader_wait,
        ))
    }

    /// The symbol table of the run.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// `true` once the engine thread has finished (the source ended or shutdown was asked,
    /// and every event was processed).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.engine.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stage latencies so far, merged over threads, on demand: asks each thread for a copy
    /// (it answers when idle or within 1024 events) and waits up to 200 ms for the answers.
    #[must_use]
    pub fn latency(&self) -> LatencyReport {
        self.board.snapshot(SNAPSHOT_TIMEOUT, || self.wake_all())
    }

    /// Stops reading the source, processes and records everything already read, closes the
    /// log and returns the report.
    ///
    /// # Errors
    /// [`EngineError::Panicked`] when a thread panicked.
    pub fn shutdown(self) -> Result<Finished<S>, EngineError> {
        // Release pairs with the feed thread's Acquire load.
        self.stop.store(true, Ordering::Release);
        self.feed_wake.wake_fenced();
        self.join()
    }

    /// Waits for the source to end, then as [`EngineHandle::shutdown`].
    ///
    /// # Errors
    /// [`EngineError::Panicked`] when a thread panicked.
    pub fn join(mut self) -> Result<Finished<S>, EngineError> {
        // An untaken reader would hold a blocking engine forever.
        drop(self.reader.take());
        let feed = join(self.feed.take(), "feed")?
            .flatten()
            .unwrap_or_default();
        let engine = join(self.engine.take(), "engine")?.flatten();
        let recorder = join(self.recorder.take(), "recorder")?.flatten();
        let Some(engine) = engine else {
            return Err(EngineError::Panicked { thread: "start-up" });
        };
        let latency = if self.board.has_active() {
            // The executor's reader is still out: ask it for its latest copy.
            self.board.snapshot(SNAPSHOT_TIMEOUT, || {})
        } else {
            self.board.merged()
        };
        let recorder = engine.recorder.map(|mut stats: RecorderStats| {
            if let Some(r) = recorder {
                stats.appended = r.appended;
                stats.lost_after_error = r.lost_after_error;
                stats.error = r.error;
            }
            stats
        });
        Ok(Finished {
            report: EngineReport {
                feed,
                pipeline: engine.stats,
                executor: engine.executor,
                recorder,
                digest: engine.digest,
                latency,
            },
            strategy: engine.strategy,
        })
    }

    fn wake_all(&self) {
        self.feed_wake.wake_fenced();
        for t in [
            self.feed.as_ref().map(JoinHandle::thread),
            self.engine.as_ref().map(JoinHandle::thread),
        ]
        .into_iter()
        .flatten()
        {
            t.unpark();
        }
    }
}

impl<S, W> Drop for EngineHandle<S, W> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.feed_wake.wake_fenced();
        drop(self.reader.take());
        if let Some(h) = self.feed.take() {
            let _ = h.join();
        }
        if let Some(h) = self.engine.take() {
            let _ = h.join();
        }
        if let Some(h) = self.recorder.take() {
            let _ = h.join();
        }
    }
}

fn join<T>(handle: Option<JoinHandle<T>>, thread: &'static str) -> Result<Option<T>, EngineError> {
    handle
        .map(|h| h.join().map_err(|_| EngineError::Panicked { thread }))
        .transpose()
}
