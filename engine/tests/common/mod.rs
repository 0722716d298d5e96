//! Helpers shared by the engine's integration tests.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a subset")]
#![allow(clippy::unwrap_used, reason = "test fixtures")]

use std::path::Path;

use orderflow_book::{Book, NoopRequester};
use orderflow_core::{AggTrade, Body, Event, EventSink, Px, Qty, Side, SymbolId};
use orderflow_engine::{
    EventSource, FeatureUpdate, Pipeline, PipelineConfig, PipelineSink, SourcePoll, UpdateKind,
};
use orderflow_features::{Bar, EventFeatures, FeatureDigest, FeatureSink};
use orderflow_replay::{BadInput, CaptureSource};

/// A capture file as an [`EventSource`]: one venue message per poll. (The replay crate is the
/// natural home of this impl once the trait moves to core.)
pub struct CaptureFeed {
    pub source: CaptureSource,
    /// Stop after this many events (bounded tests on a large capture).
    pub limit: u64,
    pub pushed: u64,
}

impl CaptureFeed {
    pub fn open(path: &Path, limit: u64) -> Self {
        Self {
            source: CaptureSource::open(&[path.to_path_buf()]).unwrap(),
            limit,
            pushed: 0,
        }
    }
}

impl EventSource for CaptureFeed {
    type Error = BadInput;

    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, BadInput> {
        if self.pushed >= self.limit {
            return Ok(SourcePoll::End);
        }
        match self.source.next_events() {
            None => Ok(SourcePoll::End),
            Some(Err(e)) => Err(e),
            Some(Ok(message)) => {
                for e in message.events {
                    out.push(*e);
                }
                self.pushed += message.events.len() as u64;
                Ok(SourcePoll::Ready)
            }
        }
    }
}

/// The same events, read into memory (whole messages, up to `limit` events).
pub fn capture_events(path: &Path, limit: u64) -> Vec<Event> {
    let mut feed = CaptureFeed::open(path, limit);
    let mut events = Vec::new();
    loop {
        if let Ok(SourcePoll::End) = feed.poll_events(&mut events) {
            break;
        }
    }
    events
}

/// A [`PipelineSink`] folding every output into a digest, with the statuses it saw.
#[derive(Default)]
pub struct DigestSink {
    pub digest: FeatureDigest,
    pub statuses: u64,
}

impl FeatureSink for DigestSink {
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.digest.event_features(symbol, features);
    }
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.digest.bar(symbol, bar);
    }
}

impl PipelineSink for DigestSink {
    fn book_updated(&mut self, _: SymbolId, _: &Book, _: orderflow_engine::BookUpdate) {}
    fn status(&mut self, _: &Event) {
        self.statuses += 1;
    }
}

/// The single-threaded reference: [`Pipeline`] over `events` on this thread.
pub fn reference(events: &[Event], config: &PipelineConfig) -> DigestSink {
    let mut pipeline = Pipeline::new(config.clone());
    let mut sink = DigestSink::default();
    for e in events {
        pipeline.on_event(e, &mut NoopRequester, &mut sink);
    }
    sink
}

/// Folds an executor update into a digest, as the engine thread did.
pub fn fold(digest: &mut FeatureDigest, update: &FeatureUpdate) {
    match &update.kind {
        UpdateKind::Event(f) => digest.event_features(update.symbol, f),
        UpdateKind::Bar(b) => digest.bar(update.symbol, b),
    }
}

/// `n` aggTrades of symbol 0, 7 ms apart, alternating sides.
pub fn trades(n: u64) -> impl Iterator<Item = Event> + Send + Clone {
    (0..n).map(trade)
}

/// The `i`-th trade of [`trades`].
pub fn trade(i: u64) -> Event {
    let t = 1_723_075_200_000 + i as i64 * 7;
    let trade = AggTrade {
        agg_trade_id: i,
        first_trade_id: i,
        last_trade_id: i,
        px: Px::from_units(60_000 + (i % 13) as i64),
        qty: Qty::from_units(1 + (i % 3) as i64),
        transact_time_ms: t,
        event_time_ms: t,
        aggressor: if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        ..AggTrade::default()
    };
    Event::new(t * 1_000_000, SymbolId(0), Body::AggTrade(trade))
}
