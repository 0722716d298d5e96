//! Replay throughput on the BTCUSDT recording (DESIGN.md section 7), in venue messages: one
//! criterion element is one message (a depth diff counts once, whatever its levels).
//!
//! - `pipeline_in_memory` (base): the recording's events already in a `Vec`, through the
//!   pipeline with a digest sink: what the book and features cost alone;
//! - `log`: the recording imported into a log, read zero-copy and replayed through book + all
//!   features + bars ([`Replay`] with no strategy; opening the log is not timed);
//! - `log_read_only`: the same log's records turned into events, no pipeline;
//! - `capture`: straight from an uncompressed copy of the capture, parsing included.
//!
//! Skipped (with a message) when the recording is absent. Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --bench replay -- --warm-up-time 1 --measurement-time 5
//! ```
//! `orderflow bench throughput` prints the same paths as a table, with level updates/s.

use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orderflow_book::NoopRequester;
use orderflow_core::Event;
use orderflow_engine::{Pipeline, PipelineConfig, PipelineSink};
use orderflow_features::{Bar, EventFeatures, FeatureDigest, FeatureSink};
use orderflow_replay::import::{ImportOptions, LogImporter, import_into, open_import_inputs};
use orderflow_replay::{LogSource, Replay, Source};

struct Digest(FeatureDigest);

impl FeatureSink for Digest {
    fn event_features(&mut self, s: orderflow_core::SymbolId, f: &EventFeatures) {
        self.0.event_features(s, f);
    }
    fn bar(&mut self, s: orderflow_core::SymbolId, b: &Bar) {
        self.0.bar(s, b);
    }
}

impl PipelineSink for Digest {}

fn fail(e: impl std::fmt::Display) -> ! {
    panic!("{e}")
}

/// Imports `capture` into `log` and writes it uncompressed to `plain`.
fn prepare(capture: &Path, log: &Path, plain: &Path) {
    let options = ImportOptions::default();
    let mut inputs =
        open_import_inputs(&[capture.to_path_buf()], None, &options).unwrap_or_else(|e| fail(e));
    let mut importer = LogImporter::create(log, options).unwrap_or_else(|e| fail(e));
    import_into(&mut importer, &mut inputs, &mut |_| {}, &mut |_| {}).unwrap_or_else(|e| fail(e));
    importer.finish().unwrap_or_else(|e| fail(e));
    let mut text = Vec::new();
    orderflow_feed::capture::open_maybe_gzip(capture)
        .and_then(|mut r| r.read_to_end(&mut text))
        .unwrap_or_else(|e| fail(e));
    std::fs::write(plain, text).unwrap_or_else(|e| fail(e));
}

fn benches(c: &mut Criterion) {
    let capture = orderflow_benches::frames::data_dir().join("btcusdt_20240808.gz");
    if !capture.is_file() {
        eprintln!("replay bench skipped: {} not found", capture.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let (log, plain) = (dir.path().join("log"), dir.path().join("capture.txt"));
    prepare(&capture, &log, &plain);
    let mut events: Vec<Event> = Vec::new();
    LogSource::open(&log)
        .unwrap_or_else(|e| fail(e))
        .for_each_event(|e| events.push(*e), |b| fail(b));
    let messages = events.iter().filter(|e| e.is_last()).count() as u64;

    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(messages));
    group.sample_size(10);
    group.bench_function("pipeline_in_memory", |b| {
        b.iter(|| {
            let mut pipeline = Pipeline::new(PipelineConfig::default());
            let mut sink = Digest(FeatureDigest::new());
            for e in &events {
                pipeline.on_event(e, &mut NoopRequester, &mut sink);
            }
            black_box(sink.0.value())
        });
    });
    group.bench_function("log", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let source = Source::Log(LogSource::open(&log).unwrap_or_else(|e| fail(e)));
                let mut replay =
                    Replay::new(source, PipelineConfig::default()).unwrap_or_else(|e| fail(e));
                let report = replay.run(&mut ());
                total += report.elapsed;
                black_box(report.digest.value());
            }
            total
        });
    });
    group.bench_function("log_read_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut source = LogSource::open(&log).unwrap_or_else(|e| fail(e));
                let mut n = 0u64;
                let t = Instant::now();
                // What `Replay::run` reads: levels as `Input::Level`, other records as events.
                source.for_each_input(
                    |input| n += u64::from(black_box(input).is_last()),
                    |b| fail(b),
                );
                total += t.elapsed();
                black_box(n);
            }
            total
        });
    });
    group.bench_function("capture", |b| {
        b.iter(|| {
            let mut replay = Replay::open(&plain).unwrap_or_else(|e| fail(e));
            black_box(replay.run(&mut ()).digest.value())
        });
    });
    group.finish();
}

criterion_group! {
    name = replay;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(replay);
