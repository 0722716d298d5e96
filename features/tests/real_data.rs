//! The fast path against the reference model (`common/model.rs`) on the real recordings
//! (skipped with a printed reason when `../shared/data` is absent).
//!
//! Each capture runs through the real `Pipeline` (sync book, then features) with default
//! settings. Beside it, a sink records per symbol every input event but the depth levels (which
//! carry no time and only feed the book), and at each applied diff a book-update record (that
//! diff's header, so the update is timed with its `T` as the pipeline times it) with the state
//! the book was in: its first 20 levels per side, read with the book's own deep iterator rather
//! than the top cache the features read. The model recomputes every per-event feature and every
//! bar from those records with plain loops; integers must match exactly, floats within 1e-9
//! relative.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::model::{Model, Snap, compare_outputs};
use common::{Out, Rec};
use orderflow_book::{Book, NoopRequester};
use orderflow_core::{Body, BookSide, BookView, DepthDiff, Event, Flags, StatusCode, SymbolId};
use orderflow_engine::{BookUpdate, Pipeline, PipelineConfig, PipelineSink};
use orderflow_features::{Bar, BookChange, EventFeatures, FeatureConfig, FeatureSink};
use orderflow_replay::{CaptureSource, resolve_capture_inputs};
use orderflow_tests::{btcusdt_capture, cryptofeed_ws};

/// What the model needs of one symbol, and what the fast path emitted for it.
#[derive(Default)]
struct SymbolRun {
    recs: Vec<Rec>,
    books: Vec<Option<Snap>>,
    outputs: Vec<Out>,
}

/// Records the model's input and the fast path's output while the pipeline runs.
#[derive(Default)]
struct Recorder {
    symbols: Vec<SymbolRun>,
    /// Depth diff headers by symbol and final update id, to time the update they complete.
    headers: BTreeMap<(u16, u64), DepthDiff>,
    gaps: u64,
}

impl Recorder {
    fn symbol(&mut self, id: SymbolId) -> &mut SymbolRun {
        if self.symbols.len() <= id.index() {
            self.symbols.resize_with(id.index() + 1, SymbolRun::default);
        }
        &mut self.symbols[id.index()]
    }

    /// An input event, before the pipeline sees it.
    fn input(&mut self, event: &Event) {
        match event.body {
            Body::Level(_) => {}
            body => {
                if let Body::DepthDiff(d) = body {
                    self.headers.insert((event.symbol.0, d.final_update_id), d);
                }
                let run = self.symbol(event.symbol);
                run.recs.push(Rec {
                    event: *event,
                    change: BookChange::Unchanged,
                });
                run.books.push(None);
            }
        }
    }
}

/// The first 20 levels per side, best first, through the book's deep iterator; empty when the
/// book is not in sync (how the features define such a book).
fn snap_of(book: &Book) -> Snap {
    let synced = BookView::is_synced(book);
    let side = |side: BookSide| -> Vec<(i64, i64)> {
        if synced {
            book.levels(side)
                .take(20)
                .map(|l| (l.px.raw(), l.qty.raw()))
                .collect()
        } else {
            Vec::new()
        }
    };
    Snap {
        synced,
        bids: side(BookSide::Bid),
        asks: side(BookSide::Ask),
    }
}

impl FeatureSink for Recorder {
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.symbol(symbol).outputs.push(Out::Features(*features));
    }
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.symbol(symbol).outputs.push(Out::Bar(*bar));
    }
}

impl PipelineSink for Recorder {
    fn book_updated(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) {
        let header = *self
            .headers
            .get(&(symbol.0, update.final_update_id))
            .expect("an applied diff was an input");
        let event =
            Event::new(update.recv_ns, symbol, Body::DepthDiff(header)).with_flags(Flags::LAST);
        let snap = snap_of(book);
        let run = self.symbol(symbol);
        run.recs.push(Rec {
            event,
            change: BookChange::Updated,
        });
        run.books.push(Some(snap));
    }

    fn status(&mut self, event: &Event) {
        if let Body::Status(s) = event.body
            && s.code == StatusCode::Gap
        {
            self.gaps += 1;
        }
    }
}

/// Runs `capture` through the pipeline and the model; returns per symbol (name, per-event
/// outputs, bars) compared.
fn check(capture: &Path) -> Vec<(String, usize, usize)> {
    let config = FeatureConfig::default();
    let files = resolve_capture_inputs(&[capture.to_path_buf()]).unwrap();
    let mut source = CaptureSource::open(&files).unwrap();
    let mut pipeline = Pipeline::new(PipelineConfig {
        features: config.clone(),
        ..PipelineConfig::default()
    });
    let mut recorder = Recorder::default();
    while let Some(message) = source.next_events() {
        for event in message.unwrap().events {
            recorder.input(event);
            pipeline.on_event(event, &mut NoopRequester, &mut recorder);
        }
    }
    // The recordings have unbroken depth chains (shared/data/README.md): every update is a
    // diff applied to a synced book, which is what the records above describe.
    assert_eq!(recorder.gaps, 0, "the recordings have no gaps");
    let mut checked = Vec::new();
    for (i, run) in recorder.symbols.iter().enumerate() {
        let id = SymbolId(u16::try_from(i).unwrap());
        let name = source.symbols().name(id).to_string();
        let model = Model::with_books(&run.recs, &config, &run.books);
        let (events, bars) = compare_outputs(&model, &run.outputs, &config, &name);
        let features = pipeline.features(id).unwrap();
        assert_eq!(features.counters().bars_emitted, bars as u64, "{name}");
        println!("{name}: {events} per-event outputs and {bars} bars match the model");
        checked.push((name, events, bars));
    }
    checked
}

#[test]
fn btcusdt_matches_the_reference_model() {
    let Some(path) = btcusdt_capture("btcusdt_matches_the_reference_model") else {
        return;
    };
    let checked = check(&path);
    let [(name, events, bars)] = checked.as_slice() else {
        panic!("one symbol expected, got {checked:?}");
    };
    assert_eq!(name, "BTCUSDT");
    // One output per applied diff (6,551 minus the few dropped before the snapshot) and per
    // trade (21,313); 345 s of 500 ms, 1 s and 1 min bars, and the 23:00 hour closing at 00:00.
    assert!(*events > 27_000, "{events}");
    assert!(*bars > 1_000, "{bars}");
}

#[test]
fn cryptofeed_pair_matches_the_reference_model() {
    let Some(path) = cryptofeed_ws("cryptofeed_pair_matches_the_reference_model") else {
        return;
    };
    let checked = check(&path);
    let names: Vec<&str> = checked.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"]);
    for (name, events, bars) in &checked {
        // 30 s: about 60 bars of 500 ms, 30 of 1 s and the 22:25 minute per symbol.
        assert!(
            *events > 100 && *bars > 80,
            "{name}: {events} events, {bars} bars"
        );
    }
}
