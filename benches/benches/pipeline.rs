//! End-to-end pipeline bench (DESIGN.md section 7): the first 200 000 events of the BTCUSDT
//! recording (synthetic trades when the recording is absent), already parsed into memory,
//! through
//!
//! - `single_thread`: [`Pipeline::on_event`] on the bench thread with a digest sink, the replay
//!   path;
//! - `engine`: the threaded [`Engine`] (feed thread → ring → engine thread, executor ring
//!   with no reader, no recorder), default wait strategy, spawn and join included;
//! - `engine_recording`: the same, recording into a fresh log in a temporary directory.
//!
//! The figure is the time per event; the engine's run also prints its stage latency
//! percentiles once. Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --bench pipeline -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orderflow_book::NoopRequester;
use orderflow_core::{AggTrade, Body, Event, Px, Qty, Side, SymbolId};
use orderflow_engine::{Engine, IterSource, Pipeline, PipelineConfig};
use orderflow_features::FeatureDigest;
use orderflow_replay::CaptureSource;

const EVENTS: usize = 200_000;

struct Digest(FeatureDigest);

impl orderflow_features::FeatureSink for Digest {
    fn event_features(&mut self, s: SymbolId, f: &orderflow_features::EventFeatures) {
        self.0.event_features(s, f);
    }
    fn bar(&mut self, s: SymbolId, b: &orderflow_features::Bar) {
        self.0.bar(s, b);
    }
}

impl orderflow_engine::PipelineSink for Digest {}

fn load() -> Vec<Event> {
    let path = orderflow_benches::frames::data_dir().join("btcusdt_20240808.gz");
    let mut events = Vec::with_capacity(EVENTS + 2_000);
    match CaptureSource::open(&[path]) {
        Ok(mut source) => {
            while events.len() < EVENTS {
                match source.next_events() {
                    Some(Ok(m)) => events.extend_from_slice(m.events),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
        }
        Err(e) => eprintln!("using synthetic trades: {e}"),
    }
    if events.is_empty() {
        events = (0..EVENTS as i64)
            .map(|i| {
                let t = 1_723_075_200_000 + i * 3;
                let trade = AggTrade {
                    agg_trade_id: i as u64,
                    px: Px::from_units(60_000 + i % 17),
                    qty: Qty::from_units(1),
                    transact_time_ms: t,
                    event_time_ms: t,
                    aggressor: Side::Buy,
                    ..AggTrade::default()
                };
                Event::new(t * 1_000_000, SymbolId(0), Body::AggTrade(trade))
            })
            .collect();
    }
    events
}

/// The events as a `'static` source (the feed thread owns its source).
fn source(events: &Arc<[Event]>) -> IterSource<impl Iterator<Item = Event> + Send + use<>> {
    let events = Arc::clone(events);
    IterSource::new((0..events.len()).filter_map(move |i| events.get(i).copied()))
}

fn benches(c: &mut Criterion) {
    let events: Arc<[Event]> = load().into();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("single_thread", |b| {
        b.iter(|| {
            let mut pipeline = Pipeline::new(PipelineConfig::default());
            let mut sink = Digest(FeatureDigest::new());
            for e in events.iter() {
                pipeline.on_event(e, &mut NoopRequester, &mut sink);
            }
            black_box(sink.0.value())
        });
    });
    let mut printed = false;
    group.bench_function("engine", |b| {
        b.iter(|| {
            let engine = Engine::builder()
                .symbols(["BTCUSDT"])
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            let finished = engine
                .run(source(&events), ())
                .unwrap_or_else(|e| panic!("{e}"));
            if !printed {
                printed = true;
                eprintln!("\n{}", finished.report.latency);
            }
            black_box(finished.report.digest.value())
        });
    });
    group.bench_function("engine_recording", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let engine = Engine::builder()
                .symbols(["BTCUSDT"])
                .record_to(dir.path())
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            let finished = engine
                .run(source(&events), ())
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(finished.report.digest.value())
        });
    });
    group.finish();
}

criterion_group! {
    name = pipeline;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(pipeline);
