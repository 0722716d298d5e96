//! The loops of the feed, engine and recorder threads (DESIGN.md section 2).
//!
//! ```text
//!  feed thread ──Stamped(Event)──► engine thread ──Event──► recorder thread
//!   EventSource      (BlockSpin)     Pipeline      (policy)   RecordSink
//!      ▲                              │ Strategy
//!      └──────── SymbolId ────────────┤ (snapshot requests, count-and-skip)
//!                                     └──FeatureUpdate──► FeatureReader (executor thread)
//! ```
//!
//! - The feed never drops: on a full engine ring it waits, and counts each wait.
//! - The engine runs exactly [`Pipeline::on_event`] per event, forwarding the input event and
//!   then the `Status` events it emits to the recorder, and every feature output to the
//!   digest, the executor ring and the strategy.
//! - Shutdown drains: the feed stops reading and closes its ring; the engine finishes every
//!   event already in it and closes its rings; the recorder appends everything and closes the
//!   log. Nothing in flight is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use orderflow_book::SnapshotRequester;
use orderflow_core::{Event, EventSink, SymbolId};
use orderflow_features::{Bar, EventFeatures, FeatureDigest, FeatureSink};
use orderflow_recorder::{LogWriter, RecorderError};

use crate::channel::{Backpressure, Receiver, Sender, Sent};
use crate::executor::{FeatureUpdate, UpdateKind};
use crate::latency::{Clock, ThreadLatency, elapsed_ns, realtime_ns};
use crate::pipeline::{BookUpdate, Pipeline, PipelineSink};
use crate::report::{ExecutorStats, FeedStats, PipelineStats, RecorderStats};
use crate::source::{EventSource, RecvClock, SourcePoll};
use crate::strategy::{Strategy, StrategyContext};
use crate::wait::{Signal, WaitStrategy};

/// An event on its way from the feed thread to the engine thread, carrying the monotonic time
/// ([`Clock::now_ns`]) the source handed its batch over in the event's five padding bytes: the
/// low [`STAMP_BITS`] bits, about 18 minutes of nanoseconds, which is all a latency needs. An
/// engine ring slot is then the event's own two cache lines; a separate `u64` stamp made it
/// three, a third more line transfers for every record of a depth message (the engine crate's
/// docs, "Rings", have the measurement).
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub(crate) struct Stamped(Event);

/// Bytes of the feed's stamp an engine ring slot carries: all of `Event::_reserved`.
const STAMP_BYTES: usize = 5;
/// Bits of the feed's stamp an engine ring slot carries.
const STAMP_BITS: u32 = 8 * STAMP_BYTES as u32;
const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;

const _: () = assert!(size_of::<Stamped>() == size_of::<Event>());

impl Stamped {
    #[inline]
    fn new(mut event: Event, parsed_ns: u64) -> Self {
        let bytes = parsed_ns.to_le_bytes();
        event._reserved = [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]];
        Self(event)
    }

    /// The event, its padding zeroed again, and the stamp.
    #[inline]
    fn open(self) -> (Event, Stamp) {
        let mut event = self.0;
        let [b0, b1, b2, b3, b4] = event._reserved;
        event._reserved = [0; STAMP_BYTES];
        (
            event,
            Stamp(u64::from_le_bytes([b0, b1, b2, b3, b4, 0, 0, 0])),
        )
    }
}

/// The low [`STAMP_BITS`] bits of a [`Clock::now_ns`] reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stamp(u64);

impl Stamp {
    /// Nanoseconds from the stamp to `now_ns`, a later reading of the same clock, modulo
    /// 2^[`STAMP_BITS`]: exact for any latency under about 18 minutes.
    #[inline]
    fn elapsed_to(self, now_ns: u64) -> u64 {
        now_ns.wrapping_sub(self.0) & STAMP_MASK
    }
}

/// Where the recorder thread writes: a [`LogWriter`], or anything else that stores events.
pub trait RecordSink: Send {
    /// Stores one event.
    ///
    /// # Errors
    /// When the store fails; the recorder thread then stops writing, counts the events it
    /// receives afterwards and reports the error at shutdown.
    fn append(&mut self, event: &Event) -> Result<(), RecorderError>;

    /// Flushes and closes the store, at shutdown.
    ///
    /// # Errors
    /// When flushing or closing fails.
    fn close(self: Box<Self>) -> Result<(), RecorderError>;
}

impl RecordSink for LogWriter {
    #[inline]
    fn append(&mut self, event: &Event) -> Result<(), RecorderError> {
        LogWriter::append(self, event).map(|_| ())
    }

    fn close(self: Box<Self>) -> Result<(), RecorderError> {
        LogWriter::close(*self)
    }
}

// ---- feed ---------------------------------------------------------------------------------

/// The feed thread's [`EventSink`]: stamps each batch and pushes into the engine ring.
struct FeedSink<W> {
    tx: Sender<Stamped>,
    wait: W,
    clock: Clock,
    live: bool,
    /// Stamp of the current batch, taken at its first event.
    parsed_ns: Option<u64>,
    latency: ThreadLatency,
    stats: FeedStats,
}

impl<W: WaitStrategy> EventSink for FeedSink<W> {
    #[inline]
    fn push(&mut self, event: Event) {
        let parsed_ns = match self.parsed_ns {
            Some(t) => t,
            None => {
                let t = self.clock.now_ns();
                if self.live {
                    self.latency
                        .record(0, elapsed_ns(event.recv_ns, realtime_ns()));
                }
                self.parsed_ns = Some(t);
                t
            }
        };
        let item = Stamped::new(event, parsed_ns);
        let sent = self
            .tx
            .send_record(item, event.is_last(), Backpressure::BlockSpin, self.wait);
        match sent {
            Sent::Pushed => self.stats.events += 1,
            Sent::PushedAfterWait => {
                self.stats.events += 1;
                self.stats.engine_ring_full += 1;
            }
            // BlockSpin never skips; Closed means the engine thread is gone.
            Sent::Skipped | Sent::Closed => self.stats.lost += 1,
        }
    }
}

pub(crate) struct FeedThread<Src, W> {
    pub(crate) source: Src,
    pub(crate) tx: Sender<Stamped>,
    pub(crate) requests: Receiver<SymbolId>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) wake: Arc<Signal>,
    pub(crate) wait: W,
    pub(crate) clock: Clock,
    pub(crate) latency: ThreadLatency,
}

impl<Src: EventSource, W: WaitStrategy> FeedThread<Src, W> {
    pub(crate) fn run(self) -> FeedStats {
        let Self {
            mut source,
            tx,
            mut requests,
            stop,
            wake,
            wait,
            clock,
            latency,
        } = self;
        let mut out = FeedSink {
            tx,
            wait,
            clock,
            live: source.recv_clock() == RecvClock::Live,
            parsed_ns: None,
            latency,
            stats: FeedStats::default(),
        };
        let mut idle_step = 0u32;
        // Acquire pairs with the Release store in `EngineHandle::shutdown`.
        while !stop.load(Ordering::Acquire) {
            while let Some(symbol) = requests.try_recv() {
                out.stats.snapshot_requests += 1;
                source.request_snapshot(symbol);
            }
            out.parsed_ns = None;
            out.stats.polls += 1;
            let polled = source.poll_events(&mut out);
            // A source that stopped mid-message (an error, the end) leaves nothing staged.
            out.tx.publish();
            out.latency.poll_request();
            match polled {
                Ok(SourcePoll::Ready) => idle_step = 0,
                Ok(SourcePoll::Idle) => {
                    out.tx.flush();
                    wake.wait(wait.action(idle_step), || stop.load(Ordering::Acquire));
                    idle_step = idle_step.saturating_add(1);
                }
                Ok(SourcePoll::End) => {
                    out.stats.source_ended = true;
                    break;
                }
                Err(e) => {
                    out.stats.source_errors += 1;
                    if out.stats.first_errors.len() < FeedStats::KEPT_ERRORS {
                        out.stats.first_errors.push(e.to_string());
                    }
                }
            }
        }
        out.latency.finish();
        // Dropping `out.tx` closes the engine ring and wakes the engine thread.
        out.stats
    }
}

// ---- engine -------------------------------------------------------------------------------

/// Index of each engine stage in [`crate::latency::Role::Engine`].
const PARSED_TO_APPLIED: usize = 0;
const APPLIED_TO_FEATURES: usize = 1;
const PARSED_TO_FEATURES: usize = 2;
const RECEIVE_TO_FEATURES: usize = 3;

/// Snapshot requests go back to the feed thread through a small ring, never blocking.
struct RingRequester<W> {
    tx: Sender<SymbolId>,
    wait: W,
    dropped: u64,
}

impl<W: WaitStrategy> SnapshotRequester for RingRequester<W> {
    fn request_snapshot(&mut self, symbol: SymbolId) {
        match self.tx.send(symbol, Backpressure::CountAndSkip, self.wait) {
            Sent::Pushed | Sent::PushedAfterWait => {}
            Sent::Skipped | Sent::Closed => self.dropped += 1,
        }
    }
}

pub(crate) struct Output<T> {
    pub(crate) tx: Sender<T>,
    pub(crate) policy: Backpressure,
}

/// The engine thread's [`PipelineSink`]: stamps, digest, executor ring, recorder, strategy.
struct EngineSink<S, W> {
    strategy: S,
    digest: FeatureDigest,
    recorder: Option<Output<Event>>,
    recorder_stats: RecorderStats,
    executor: Output<FeatureUpdate>,
    executor_open: bool,
    executor_stats: ExecutorStats,
    stats: PipelineStats,
    wait: W,
    clock: Clock,
    latency: ThreadLatency,
    /// `recv_ns` was read from `CLOCK_REALTIME` (a live source): receive->features is measured.
    live: bool,
    // Per event.
    parsed: Stamp,
    recv_ns: i64,
    applied_ns: Option<u64>,
    emitted: bool,
}

impl<S: Strategy, W: WaitStrategy> EngineSink<S, W> {
    #[inline]
    fn record(&mut self, event: &Event) {
        if let Some(out) = &mut self.recorder {
            self.recorder_stats.forwarded += 1;
            match out
                .tx
                .send_record(*event, event.is_last(), out.policy, self.wait)
            {
                Sent::Pushed => {}
                Sent::PushedAfterWait => self.recorder_stats.full_waits += 1,
                Sent::Skipped | Sent::Closed => self.recorder_stats.dropped += 1,
            }
        }
    }

    #[inline]
    fn publish(&mut self, symbol: SymbolId, published_ns: u64, kind: UpdateKind) {
        if !self.executor_open {
            self.executor_stats.unread += 1;
            return;
        }
        let update = FeatureUpdate {
            symbol,
            recv_ns: self.recv_ns,
            published_ns,
            kind,
        };
        match self
            .executor
            .tx
            .send(update, self.executor.policy, self.wait)
        {
            Sent::Pushed => self.executor_stats.published += 1,
            Sent::PushedAfterWait => {
                self.executor_stats.published += 1;
                self.executor_stats.full_waits += 1;
            }
            Sent::Skipped => self.executor_stats.skipped += 1,
            Sent::Closed => {
                self.executor_open = false;
                self.executor_stats.unread += 1;
            }
        }
    }

    /// Publishes and wakes parked consumers before the engine goes idle.
    fn flush(&mut self) {
        if let Some(out) = &mut self.recorder {
            out.tx.flush();
        }
        self.executor.tx.flush();
    }
}

impl<S: Strategy, W: WaitStrategy> FeatureSink for EngineSink<S, W> {
    #[inline]
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        let now = self.clock.now_ns();
        if let Some(applied) = self.applied_ns {
            self.latency
                .record(APPLIED_TO_FEATURES, now.saturating_sub(applied));
        }
        self.latency
            .record(PARSED_TO_FEATURES, self.parsed.elapsed_to(now));
        if self.live {
            self.latency
                .record(RECEIVE_TO_FEATURES, elapsed_ns(self.recv_ns, realtime_ns()));
        }
        self.stats.feature_events += 1;
        self.digest.event_features(symbol, features);
        self.emitted = true;
        self.publish(symbol, now, UpdateKind::Event(*features));
    }

    #[inline]
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.stats.bars += 1;
        self.digest.bar(symbol, bar);
        self.strategy.on_bar(symbol, bar);
        let now = self.clock.now_ns();
        self.publish(symbol, now, UpdateKind::Bar(*bar));
    }
}

impl<S: Strategy, W: WaitStrategy> PipelineSink for EngineSink<S, W> {
    #[inline]
    fn book_updated(
        &mut self,
        _symbol: SymbolId,
        _book: &orderflow_book::Book,
        _update: BookUpdate,
    ) {
        let now = self.clock.now_ns();
        self.applied_ns = Some(now);
        self.latency
            .record(PARSED_TO_APPLIED, self.parsed.elapsed_to(now));
    }

    fn status(&mut self, event: &Event) {
        self.stats.status_events += 1;
        self.record(event);
        self.strategy.on_status(event);
    }
}

pub(crate) struct EngineThread<S, W> {
    pub(crate) pipeline: Pipeline,
    pub(crate) input: Receiver<Stamped>,
    pub(crate) requests: Sender<SymbolId>,
    pub(crate) recorder: Option<Output<Event>>,
    pub(crate) executor: Output<FeatureUpdate>,
    pub(crate) strategy: S,
    pub(crate) wait: W,
    pub(crate) clock: Clock,
    pub(crate) latency: ThreadLatency,
    /// The source's `recv_ns` is `CLOCK_REALTIME` ([`RecvClock::Live`]).
    pub(crate) live: bool,
}

/// What the engine thread hands back.
pub(crate) struct EngineOutcome<S> {
    pub(crate) strategy: S,
    pub(crate) digest: FeatureDigest,
    pub(crate) stats: PipelineStats,
    pub(crate) executor: ExecutorStats,
    pub(crate) recorder: Option<RecorderStats>,
}

impl<S: Strategy, W: WaitStrategy> EngineThread<S, W> {
    pub(crate) fn run(self) -> EngineOutcome<S> {
        let Self {
            mut pipeline,
            mut input,
            requests,
            recorder,
            executor,
            strategy,
            wait,
            clock,
            latency,
            live,
        } = self;
        let recording = recorder.is_some();
        let mut requester = RingRequester {
            tx: requests,
            wait,
            dropped: 0,
        };
        let mut sink = EngineSink {
            strategy,
            digest: FeatureDigest::new(),
            recorder,
            recorder_stats: RecorderStats::default(),
            executor,
            executor_open: true,
            executor_stats: ExecutorStats::default(),
            stats: PipelineStats::default(),
            wait,
            clock,
            latency,
            live,
            parsed: Stamp::default(),
            recv_ns: 0,
            applied_ns: None,
            emitted: false,
        };
        let mut step = 0u32;
        loop {
            let item = match input.try_recv() {
                Some(item) => item,
                None if input.is_abandoned() => match input.try_recv() {
                    // The feed is gone; what it pushed before closing is visible now.
                    Some(item) => item,
                    None => break,
                },
                None => {
                    sink.flush();
                    sink.latency.poll_request();
                    input.wait(wait.action(step));
                    step = step.saturating_add(1);
                    continue;
                }
            };
            step = 0;
            let (event, parsed) = item.open();
            sink.record(&event);
            sink.parsed = parsed;
            sink.recv_ns = event.recv_ns;
            sink.applied_ns = None;
            sink.emitted = false;
            pipeline.on_event(&event, &mut requester, &mut sink);
            sink.stats.events += 1;
            if sink.emitted {
                let symbol = event.symbol;
                if let (Some(book), Some(features)) =
                    (pipeline.sync_book(symbol), pipeline.features(symbol))
                {
                    sink.strategy.on_event(&StrategyContext {
                        symbol,
                        event: &event,
                        book: book.book(),
                        features: features.features(),
                    });
                }
            }
            if sink.stats.events & 1023 == 0 {
                sink.latency.poll_request();
            }
        }
        sink.strategy.on_finish();
        sink.latency.finish();
        sink.stats.snapshot_requests_dropped = requester.dropped;
        let EngineSink {
            strategy,
            digest,
            recorder_stats,
            executor_stats,
            stats,
            ..
        } = sink;
        // `sink` is dropped here with its senders: the recorder and the reader see the close.
        EngineOutcome {
            strategy,
            digest,
            stats,
            executor: executor_stats,
            recorder: recording.then_some(recorder_stats),
        }
    }
}

// ---- recorder -----------------------------------------------------------------------------

pub(crate) struct RecorderThread<W> {
    pub(crate) input: Receiver<Event>,
    pub(crate) sink: Box<dyn RecordSink>,
    pub(crate) wait: W,
}

/// What the recorder thread hands back: appended, lost after an error, the first error.
pub(crate) struct RecorderOutcome {
    pub(crate) appended: u64,
    pub(crate) lost_after_error: u64,
    pub(crate) error: Option<String>,
}

impl<W: WaitStrategy> RecorderThread<W> {
    pub(crate) fn run(self) -> RecorderOutcome {
        let Self {
            mut input,
            mut sink,
            wait,
        } = self;
        let mut outcome = RecorderOutcome {
            appended: 0,
            lost_after_error: 0,
            error: None,
        };
        while let Some(event) = input.recv(wait) {
            if outcome.error.is_some() {
                outcome.lost_after_error += 1;
                continue;
            }
            match sink.append(&event) {
                Ok(()) => outcome.appended += 1,
                Err(e) => {
                    outcome.lost_after_error += 1;
                    outcome.error = Some(e.to_string());
                }
            }
        }
        if let Err(e) = sink.close() {
            outcome.error.get_or_insert_with(|| e.to_string());
        }
        outcome
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use orderflow_core::{Body, BookSide, Flags, Level, Px, Qty};

    use super::*;

    fn level() -> Event {
        Event::new(
            1_723_075_200_123_456_789,
            SymbolId(3),
            Body::Level(Level {
                px: Px(5_712_340),
                qty: Qty(1_500),
                side: BookSide::Ask,
                _reserved: [0; 7],
            }),
        )
        .with_flags(Flags::LAST)
    }

    #[test]
    fn a_stamped_event_comes_back_whole_with_its_latency() {
        let event = level();
        for (parsed, now) in [
            (0, 0),
            (1_000, 1_250),
            (STAMP_MASK - 10, STAMP_MASK + 90),
            (3 * STAMP_MASK + 7, 3 * STAMP_MASK + 7 + 5_000_000_000),
            (u64::MAX - 100, u64::MAX),
        ] {
            let (back, stamp) = Stamped::new(event, parsed).open();
            assert_eq!(back, event, "the padding is zero again");
            assert_eq!(
                stamp.elapsed_to(now),
                now - parsed,
                "parsed {parsed} now {now}"
            );
        }
        assert_ne!(Stamped::new(event, 0x12_3456_789a).0._reserved, [0; 5]);
    }
}
