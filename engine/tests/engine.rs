//! The threaded engine against the single-threaded pipeline, under backpressure, shutdown and
//! overflow. Every run is bounded and uses the default wait strategy unless it tests another.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{CaptureFeed, capture_events, fold, reference, trade, trades};
use orderflow_core::{Event, EventSink};
use orderflow_engine::{
    Backpressure, DEFAULT_RECORDER_RING, Engine, EngineError, EventSource, IterSource, PinConfig,
    PipelineConfig, RecordSink, SourcePoll, Spin, SpinYield, SpinYieldPark, Stage, Strategy,
    StrategyContext, WaitStrategy,
};
use orderflow_features::FeatureDigest;
use orderflow_recorder::{LogReader, RecorderError};

/// Events of the BTCUSDT capture used by the capture tests (whole messages; the test binary
/// is unoptimised, so the full day would take minutes).
const CAPTURE_EVENTS: u64 = 150_000;

#[test]
fn engine_on_a_capture_matches_the_single_threaded_pipeline() {
    let Some(path) = orderflow_tests::btcusdt_capture("engine_matches_pipeline") else {
        return;
    };
    let events = capture_events(&path, CAPTURE_EVENTS);
    let expected = reference(&events, &PipelineConfig::default());
    assert!(expected.digest.event_count() > 1_000, "a meaningful prefix");

    // The capture reader itself on the feed thread, as a live feed would run.
    let engine = Engine::builder().symbols(["BTCUSDT"]).build().unwrap();
    let finished = engine
        .run(CaptureFeed::open(&path, CAPTURE_EVENTS), ())
        .unwrap();
    let report = &finished.report;
    assert_eq!(report.feed.events, events.len() as u64);
    assert_eq!(report.pipeline.events, events.len() as u64);
    assert_eq!(report.digest, expected.digest);
    assert_eq!(report.pipeline.status_events, expected.statuses);
    report.check().unwrap();
    println!("{report}");
}

/// Tiny rings everywhere, blocking policies: the feed, the engine and the executor all wait
/// on each other constantly, and still nothing is lost or reordered.
#[test]
fn small_rings_under_backpressure_lose_nothing() {
    let Some(path) = orderflow_tests::btcusdt_capture("small_rings_lose_nothing") else {
        return;
    };
    let events = capture_events(&path, 30_000);
    let expected = reference(&events, &PipelineConfig::default());
    let dir = tempfile::tempdir().unwrap();

    let engine = Engine::builder()
        .symbols(["BTCUSDT"])
        .engine_ring(4)
        .executor_ring(2, Backpressure::BlockSpin)
        .recorder_ring(8, Backpressure::BlockSpin)
        .record_to(dir.path())
        .build()
        .unwrap();
    let mut handle = engine
        .spawn(IterSource::with_batch(events.clone(), 7), ())
        .unwrap();
    let mut reader = handle.take_reader().unwrap();
    let executor = thread::spawn(move || {
        let mut digest = FeatureDigest::new();
        while let Some(update) = reader.next() {
            fold(&mut digest, &update);
        }
        digest
    });
    let finished = handle.join().unwrap();
    let report = finished.report;
    let read = executor.join().unwrap();

    assert_eq!(report.digest, expected.digest);
    assert_eq!(
        read, expected.digest,
        "the executor saw every update, in order"
    );
    assert_eq!(report.executor.skipped + report.executor.unread, 0);
    assert!(report.feed.engine_ring_full > 0, "the engine ring did fill");
    let recorder = report.recorder.clone().unwrap();
    assert_eq!(recorder.dropped, 0);
    assert_eq!(recorder.forwarded, events.len() as u64 + expected.statuses);
    assert_eq!(recorder.appended, recorder.forwarded);
    report.check().unwrap();

    // The log holds the input in order, each status after the event that caused it.
    let logged: Vec<Event> = LogReader::open(dir.path()).unwrap().events().collect();
    assert_eq!(logged.len() as u64, recorder.appended);
    let inputs: Vec<Event> = logged
        .iter()
        .filter(|e| !matches!(e.body, orderflow_core::Body::Status(_)))
        .copied()
        .collect();
    assert_eq!(inputs, events);
}

/// A source that never ends on its own: trades until shutdown.
struct Endless {
    next: u64,
    pushed: Arc<AtomicU64>,
}

impl EventSource for Endless {
    type Error = std::convert::Infallible;

    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, Self::Error> {
        for _ in 0..16 {
            out.push(trade(self.next));
            self.next += 1;
        }
        self.pushed.store(self.next, Ordering::Relaxed);
        Ok(SourcePoll::Ready)
    }
}

#[test]
fn shutdown_with_data_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pushed = Arc::new(AtomicU64::new(0));
    // Blocking, not the default count-and-skip: were this thread late to stop an endless
    // source while the recorder created its first segment, the recorder ring could overflow,
    // and this test is about draining at shutdown, not about the overflow policy.
    let engine = Engine::builder()
        .symbols(["BTCUSDT"])
        .engine_ring(1024)
        .recorder_ring(DEFAULT_RECORDER_RING, Backpressure::BlockSpin)
        .record_to(dir.path())
        .build()
        .unwrap();
    let handle = engine
        .spawn(
            Endless {
                next: 0,
                pushed: Arc::clone(&pushed),
            },
            (),
        )
        .unwrap();
    while pushed.load(Ordering::Relaxed) < 20_000 {
        thread::sleep(Duration::from_millis(2));
    }
    let report = handle.shutdown().unwrap().report;
    let n = report.feed.events;
    assert!(n >= 20_000);
    assert!(!report.feed.source_ended);
    assert_eq!(report.pipeline.events, n, "the engine drained its ring");
    let expected: Vec<Event> = trades(n).collect();
    assert_eq!(
        report.digest,
        reference(&expected, &PipelineConfig::default()).digest
    );
    let recorder = report.recorder.clone().unwrap();
    assert_eq!((recorder.forwarded, recorder.appended), (n, n));
    report.check().unwrap();
    let logged: Vec<Event> = LogReader::open(dir.path()).unwrap().events().collect();
    assert_eq!(logged, expected, "the log was flushed and closed");
}

/// A record sink whose first append blocks until released.
struct Gated {
    release: mpsc::Receiver<()>,
    appended: Arc<AtomicU64>,
}

impl RecordSink for Gated {
    fn append(&mut self, _: &Event) -> Result<(), RecorderError> {
        if self.appended.fetch_add(1, Ordering::Relaxed) == 0 {
            let _ = self.release.recv();
        }
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<(), RecorderError> {
        Ok(())
    }
}

/// Releases the gate once it has seen `n` events.
struct ReleaseAfter {
    n: u64,
    seen: u64,
    release: mpsc::Sender<()>,
}

impl Strategy for ReleaseAfter {
    fn on_event(&mut self, _: &StrategyContext<'_>) {
        self.seen += 1;
        if self.seen == self.n {
            let _ = self.release.send(());
        }
    }
}

#[test]
fn recorder_overflow_is_counted_and_fails_the_check() {
    const N: u64 = 1_000;
    const RING: u64 = 16;
    let (release_tx, release_rx) = mpsc::channel();
    let appended = Arc::new(AtomicU64::new(0));
    let engine = Engine::builder()
        .symbols(["BTCUSDT"])
        .recorder_ring(RING as usize, Backpressure::CountAndSkip)
        .record_with(Gated {
            release: release_rx,
            appended: Arc::clone(&appended),
        })
        .build()
        .unwrap();
    let strategy = ReleaseAfter {
        n: N,
        seen: 0,
        release: release_tx,
    };
    let finished = engine.run(IterSource::new(trades(N)), strategy).unwrap();
    let recorder = finished.report.recorder.clone().unwrap();
    // Every event was offered before the strategy saw the last one and released the gate.
    // By then the recorder held at most the first event in its append and the ring `RING`
    // more (fewer if the recorder thread had not started yet): the rest were dropped, each
    // one counted.
    assert_eq!(recorder.forwarded, N);
    assert_eq!(recorder.appended + recorder.dropped, N);
    assert!(recorder.appended <= 1 + RING, "{recorder:?}");
    assert!(recorder.appended >= RING, "{recorder:?}");
    assert_eq!(appended.load(Ordering::Relaxed), recorder.appended);
    assert_eq!(finished.report.recorder_dropped(), recorder.dropped);
    let err = finished.report.check().unwrap_err();
    assert!(
        matches!(err, EngineError::RecorderOverflow { dropped } if dropped == recorder.dropped),
        "{err}"
    );
    // The run itself was not disturbed.
    let expected: Vec<Event> = trades(N).collect();
    assert_eq!(
        finished.report.digest,
        reference(&expected, &PipelineConfig::default()).digest
    );
}

/// A sink that fails on its third append.
struct Failing(u32);

impl RecordSink for Failing {
    fn append(&mut self, _: &Event) -> Result<(), RecorderError> {
        self.0 += 1;
        if self.0 == 3 {
            return Err(RecorderError::Config {
                reason: "disk full (test)",
            });
        }
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<(), RecorderError> {
        Ok(())
    }
}

#[test]
fn a_failing_recorder_is_reported_not_hidden() {
    let engine = Engine::builder()
        .symbols(["BTCUSDT"])
        .record_with(Failing(0))
        .build()
        .unwrap();
    let report = engine.run(IterSource::new(trades(100)), ()).unwrap().report;
    let recorder = report.recorder.clone().unwrap();
    assert_eq!(recorder.appended, 2);
    assert_eq!(recorder.lost_after_error, 98);
    assert!(matches!(
        report.check(),
        Err(EngineError::RecorderFailed { lost: 98, .. })
    ));
}

/// The digest of `events` through an engine with a 16-slot ring and the `wait` strategy.
#[allow(
    clippy::unwrap_used,
    reason = "test helper: a failure is the test failing"
)]
fn digest_with<W: WaitStrategy>(wait: W, events: &[Event]) -> FeatureDigest {
    Engine::builder()
        .symbols(["BTCUSDT"])
        .engine_ring(16)
        .wait(wait)
        .build()
        .unwrap()
        .run(IterSource::new(events.to_vec()), ())
        .unwrap()
        .report
        .digest
}

#[test]
fn every_wait_strategy_runs_on_two_cores() {
    let events: Vec<Event> = trades(5_000).collect();
    let expected = reference(&events, &PipelineConfig::default()).digest;
    let digests = [
        digest_with(Spin, &events),
        digest_with(SpinYield::default(), &events),
        digest_with(
            SpinYieldPark {
                spins: 1,
                yields: 1,
                park: Duration::from_micros(50),
            },
            &events,
        ),
    ];
    for d in digests {
        assert_eq!(d, expected);
    }
}

#[test]
fn a_missing_core_is_an_error_at_build() {
    let err = Engine::builder()
        .pin(PinConfig {
            engine: Some(100_000),
            ..PinConfig::default()
        })
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::MissingCore {
                requested: 100_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pinned_threads_run() {
    let engine = Engine::builder().symbols(["BTCUSDT"]);
    let cores = orderflow_engine::Cores::detect();
    let (Some(&first), Some(&last)) = (cores.ids().first(), cores.ids().last()) else {
        eprintln!("skipped: pinned_threads_run: the platform reports no cores");
        return;
    };
    let pin = PinConfig {
        feed: Some(first),
        engine: Some(last),
        recorder: None,
    };
    let report = engine
        .pin(pin)
        .build()
        .unwrap()
        .run(IterSource::new(trades(2_000)), ())
        .unwrap()
        .report;
    assert_eq!(report.pipeline.events, 2_000);
    // The caller was not pinned: it still sees every core.
    assert_eq!(orderflow_engine::Cores::detect(), cores);
}

#[test]
fn latencies_are_recorded_per_stage_and_on_demand() {
    let pushed = Arc::new(AtomicU64::new(0));
    let mut handle = Engine::builder()
        .symbols(["BTCUSDT"])
        .build()
        .unwrap()
        .spawn(
            Endless {
                next: 0,
                pushed: Arc::clone(&pushed),
            },
            (),
        )
        .unwrap();
    let mut reader = handle.take_reader().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = Arc::clone(&stop);
    let executor = thread::spawn(move || {
        let mut n = 0u64;
        while !stop_reader.load(Ordering::Relaxed) {
            if reader.poll().is_some() {
                n += 1;
            } else {
                thread::yield_now();
            }
        }
        // A starved executor may first run after the engine finished: what it published
        // is still in the ring.
        while reader.poll().is_some() {
            n += 1;
        }
        n
    });
    while pushed.load(Ordering::Relaxed) < 5_000 {
        thread::sleep(Duration::from_millis(1));
    }
    // The feed may have filled the ring before the engine thread ran at all (the ring holds
    // 65 536 events): ask again until the engine has processed something, within a deadline.
    let deadline = Instant::now() + Duration::from_secs(20);
    let live = loop {
        let live = handle.latency();
        if !live.get(Stage::ParsedToFeatures).is_empty() || Instant::now() > deadline {
            break live;
        }
        thread::sleep(Duration::from_millis(1));
    };
    assert!(
        !live.get(Stage::ParsedToFeatures).is_empty(),
        "no live latency after 20 s: {live}"
    );
    let finished = handle.shutdown().unwrap();
    stop.store(true, Ordering::Relaxed);
    let read = executor.join().unwrap();
    let report = finished.report;
    let latency = &report.latency;
    assert_eq!(
        latency.get(Stage::ParsedToFeatures).len(),
        report.pipeline.feature_events
    );
    // Trades only: no book was applied; the source is recorded, so no receive stages.
    assert_eq!(latency.get(Stage::ParsedToApplied).len(), 0);
    assert_eq!(latency.get(Stage::ReceiveToParsed).len(), 0);
    assert_eq!(latency.get(Stage::ReceiveToFeatures).len(), 0);
    assert_eq!(latency.get(Stage::ReceiveToExecutor).len(), 0);
    assert!(read > 0);
    let text = latency.to_string();
    assert!(text.contains("parsed->features"), "{text}");
}

/// Trades stamped with `CLOCK_REALTIME` as they are pushed, as a websocket client stamps
/// frames: a live source.
struct LiveTrades {
    next: u64,
    end: u64,
}

impl EventSource for LiveTrades {
    type Error = std::convert::Infallible;

    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, Self::Error> {
        if self.next == self.end {
            return Ok(SourcePoll::End);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let mut event = trade(self.next);
        event.recv_ns = now;
        out.push(event);
        self.next += 1;
        Ok(SourcePoll::Ready)
    }

    fn recv_clock(&self) -> orderflow_engine::RecvClock {
        orderflow_engine::RecvClock::Live
    }
}

#[test]
fn a_live_source_is_measured_from_the_frame_read() {
    let mut handle = Engine::builder()
        .symbols(["BTCUSDT"])
        .build()
        .unwrap()
        .spawn(LiveTrades { next: 0, end: 500 }, ())
        .unwrap();
    // Read some of the updates on an executor thread; drop the reader halfway, so the rest
    // are seen by the engine's callback only.
    let mut reader = handle.take_reader().unwrap();
    let executor = thread::spawn(move || {
        let mut n = 0u64;
        while n < 200 {
            if reader.next().is_none() {
                break;
            }
            n += 1;
        }
        n
    });
    let read = executor.join().unwrap();
    let finished = handle.join().unwrap();
    let report = finished.report;
    let latency = &report.latency;
    assert_eq!(report.pipeline.feature_events, 500);
    assert_eq!(read, 200);
    // One receive->parsed sample per poll, one receive->features per feature update, one
    // receive->executor per update read.
    assert_eq!(latency.get(Stage::ReceiveToParsed).len(), 500);
    assert_eq!(latency.get(Stage::ReceiveToFeatures).len(), 500);
    assert_eq!(latency.get(Stage::ReceiveToExecutor).len(), 200);
    // A plausible figure: the receive stamp was read before the features, within seconds.
    let max = latency.get(Stage::ReceiveToFeatures).max();
    assert!((1..10_000_000_000).contains(&max), "{max} ns");
    let text = latency.to_string();
    assert!(text.contains("receive->features"), "{text}");
}

/// A strategy that checks what it is handed on the engine thread.
#[derive(Default)]
struct Checks {
    events: u64,
    bars: u64,
    thread: Option<thread::ThreadId>,
}

impl Strategy for Checks {
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        assert_eq!(ctx.event.symbol, ctx.symbol);
        let id = thread::current().id();
        assert_eq!(*self.thread.get_or_insert(id), id);
        self.events += 1;
    }
    fn on_bar(&mut self, _: orderflow_core::SymbolId, bar: &orderflow_features::Bar) {
        assert_eq!(bar.resolution_ms, 1_000);
        self.bars += 1;
    }
}

#[test]
fn the_strategy_runs_on_the_engine_thread_per_event_and_bar() {
    let finished = Engine::builder()
        .symbols(["BTCUSDT"])
        .bars([Duration::from_secs(1)])
        .build()
        .unwrap()
        .run(IterSource::new(trades(1_000)), Checks::default())
        .unwrap();
    let s = finished.strategy;
    assert_eq!(s.events, 1_000);
    assert_eq!(s.bars, finished.report.pipeline.bars);
    assert_eq!(s.bars, 6); // 7 s of trades
    assert_ne!(s.thread, Some(thread::current().id()));
}

#[test]
fn bad_configuration_is_an_error() {
    let err = Engine::builder()
        .bars([Duration::from_millis(150)])
        .build()
        .unwrap_err();
    assert!(matches!(err, EngineError::Config { .. }), "{err}");
    let err = Engine::builder().engine_ring(0).build().unwrap_err();
    assert!(matches!(err, EngineError::Config { .. }), "{err}");
}
