//! Zero heap allocations after warm-up on the real recordings (DESIGN.md section 5): a
//! counting global allocator counts every allocation made inside `Pipeline::on_event` (sync
//! book and all features, default bars) after warm-up ([`warm_up`]), with features on and off.
//! The features add none on either recording; the whole pipeline allocates nothing on the
//! cryptofeed recording, and on BTCUSDT only the book's far-level map does (see the test).
//! Skipped with a printed reason when `../shared/data` is absent.
//!
//! The captures are parsed into events first, outside the counted calls. This file holds a
//! single test, so no other test thread allocates meanwhile.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with the value"
)]

use std::path::PathBuf;

use orderflow_book::NoopRequester;
use orderflow_core::{Body, Event, SymbolId};
use orderflow_engine::{Pipeline, PipelineConfig, PipelineSink};
use orderflow_features::{Bar, EventFeatures, FeatureDigest, FeatureSink};
use orderflow_replay::{CaptureSource, resolve_capture_inputs};
use orderflow_tests::{CountingAllocator, btcusdt_capture, count_allocations, cryptofeed_ws};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Events before counting starts: up to the last level of the last depth snapshot, so every
/// symbol's state exists and its book has been loaded (the snapshots come within the first
/// second of both recordings).
fn warm_up(events: &[Event]) -> usize {
    events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.body {
            Body::DepthSnapshot(s) => Some(i + 1 + (s.bid_count + s.ask_count) as usize),
            _ => None,
        })
        .max()
        .unwrap()
}

/// Folds every output into a digest (which does not allocate), so nothing is optimised away.
struct Digest(FeatureDigest);

impl FeatureSink for Digest {
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.0.event_features(symbol, features);
    }
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.0.bar(symbol, bar);
    }
}

impl PipelineSink for Digest {}

fn events(capture: PathBuf) -> Vec<Event> {
    let files = resolve_capture_inputs(&[capture]).unwrap();
    let mut source = CaptureSource::open(&files).unwrap();
    let mut events = Vec::new();
    while let Some(message) = source.next_events() {
        events.extend_from_slice(message.unwrap().events);
    }
    events
}

/// Allocations inside `Pipeline::on_event` after warm-up, and the digest of the outputs.
fn pipeline_allocations(
    events: &[Event],
    warm_up: usize,
    features_disabled: bool,
) -> (u64, Digest) {
    let mut pipeline = Pipeline::new(PipelineConfig {
        features_disabled,
        ..PipelineConfig::default()
    });
    let mut sink = Digest(FeatureDigest::new());
    let (warm, hot) = events.split_at(warm_up.min(events.len()));
    for event in warm {
        pipeline.on_event(event, &mut NoopRequester, &mut sink);
    }
    let ((), allocations) = count_allocations(|| {
        for event in hot {
            pipeline.on_event(event, &mut NoopRequester, &mut sink);
        }
    });
    (allocations, sink)
}

/// Features on: nothing allocates after warm-up but the book's far-level map.
///
/// Measured: the cryptofeed pair allocates nothing at all. On BTCUSDT the book allocates 189
/// times, all in the overflow that holds levels beyond the dense ladder (`book/src/overflow.rs`:
/// its hash map growing and nodes of its ordered key set) as new far levels appear; the same
/// events with features off allocate exactly as often, so the features add none.
#[test]
fn features_allocate_nothing_in_the_pipeline_on_real_data() {
    let captures = [
        cryptofeed_ws("features_allocate_nothing_in_the_pipeline_on_real_data"),
        btcusdt_capture("features_allocate_nothing_in_the_pipeline_on_real_data"),
    ];
    for capture in captures.into_iter().flatten() {
        let name = capture.display().to_string();
        let events = events(capture);
        let warm_up = warm_up(&events);
        assert!(
            events.len() > 2 * warm_up,
            "{name}: {} events",
            events.len()
        );
        let (book_only, _) = pipeline_allocations(&events, warm_up, true);
        let (all, digest) = pipeline_allocations(&events, warm_up, false);
        println!(
            "{name}: {} events, {} counted: {all} allocations with features, {book_only} without; \
             {} feature rows, {} bars",
            events.len(),
            events.len() - warm_up,
            digest.0.event_count(),
            digest.0.bar_count()
        );
        assert!(digest.0.event_count() > 800 && digest.0.bar_count() > 300);
        assert_eq!(
            all, book_only,
            "{name}: the features allocated after warm-up"
        );
        if name.contains("cryptofeed") {
            assert_eq!(all, 0, "{name}: allocations after warm-up");
        }
    }
}
