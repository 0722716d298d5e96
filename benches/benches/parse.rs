//! Frame → events (DESIGN.md section 7): `orderflow`'s `FrameParser` against serde_json,
//! sonic-rs and simd-json deserialising the same frame into borrowed structs.
//!
//! One group per hot message type, on real frames (see `orderflow_benches::frames`):
//! - `orderflow`: `FrameParser::parse` into a reused `Vec<Event>` (fast scanner);
//! - `orderflow_simd_json`: the same with `ParseMode::SimdJsonOnly` (the fallback path);
//! - `serde_json`, `sonic_rs`, `simd_json`: `#[derive(Deserialize)]` structs with `&str`
//!   prices inside an envelope struct (simd-json parses in place, so its case includes copying
//!   the frame into a reused buffer, as our fallback does);
//! - `base`: `black_box` of the frame length, the cost of the measurement itself.
//!
//! A last group parses every frame of the BTCUSDT recording (throughput in frames).
//!
//! Run briefly on a shared machine:
//! `cargo bench -p orderflow-benches --bench parse -- --warm-up-time 1 --measurement-time 3`;
//! native figures with `RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=/tmp/native-target`.
//!
//! Medians measured 2026-11-21 on the 2-core VM while other builds ran (load average 2 to 3),
//! ns per frame:
//!
//! | frame (bytes) | build | orderflow | simd-json path | serde_json | sonic_rs | simd_json |
//! |---|---|---|---|---|---|---|
//! | depthUpdate, 20 levels (593) | portable | 598 | 1,686 | 1,494 | 1,828 | 1,360 |
//! | | native | 574 | 1,700 | 1,659 | 1,757 | 1,439 |
//! | trade (162) | portable | 126 | 523 | 432 | 449 | 389 |
//! | | native | 126 | 536 | 440 | 452 | 388 |
//! | bookTicker (179) | portable | 137 | 559 | 460 | 444 | 395 |
//! | | native | 136 | 528 | 438 | 414 | 376 |
//! | aggTrade (175) | portable | 136 | 502 | 473 | 427 | 398 |
//! | | native | 136 | 452 | 414 | 430 | 390 |
//! | all 93,954 BTCUSDT frames, per frame | portable | 306 | 959 | | | |
//! | | native | 249 | 802 | | | |
//!
//! Later (2026-11-21, the quote bitmap of a 64-byte block from 16-byte SIMD compares through
//! `wide`): depth diff 619 -> 548 ns and the whole BTCUSDT mix 25.0 -> 22.6 ms (266 -> 240 ns per
//! frame), portable build, `--baseline` runs of the same session.
//!
//! Later still (2026-11-21, bookTicker, trade and aggTrade read in Binance's member order
//! without key dispatch): trade 118 -> 104 ns, bookTicker 135 -> 120, aggTrade 135 -> 120, depth
//! diff 569 -> 568, the BTCUSDT mix 25.4 -> 24.6 ms; the old and new bench binaries run one after
//! the other with `--output-format bencher`.
//!
//! orderflow is about 3x faster than sonic-rs on the depth diff and 3.1x to 3.6x on the small
//! messages. The same baselines ran 1.4x to 2.2x slower here than the reference figures of
//! DESIGN.md section 7 (sonic-rs 840 ns, serde_json 1,060 ns on the depth diff), so the
//! absolute figures above are high by about that factor.
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(non_snake_case, reason = "field names are Binance's keys")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orderflow_benches::frames::{self, Samples};
use orderflow_core::Event;
use orderflow_feed::{FrameParser, ParseMode};
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialised, not read")]
struct Envelope<'a, T> {
    stream: &'a str,
    data: T,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialised, not read")]
struct DepthUpdate<'a> {
    e: &'a str,
    E: i64,
    T: i64,
    s: &'a str,
    U: u64,
    u: u64,
    pu: u64,
    #[serde(borrow)]
    b: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    a: Vec<[&'a str; 2]>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialised, not read")]
struct TradeMsg<'a> {
    e: &'a str,
    E: i64,
    T: i64,
    s: &'a str,
    t: u64,
    p: &'a str,
    q: &'a str,
    X: &'a str,
    m: bool,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialised, not read")]
struct AggTradeMsg<'a> {
    e: &'a str,
    E: i64,
    a: u64,
    s: &'a str,
    p: &'a str,
    q: &'a str,
    f: u64,
    l: u64,
    T: i64,
    m: bool,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialised, not read")]
struct BookTickerMsg<'a> {
    e: &'a str,
    u: u64,
    s: &'a str,
    b: &'a str,
    B: &'a str,
    a: &'a str,
    A: &'a str,
    T: i64,
    E: i64,
}

/// A message type: its borrowed baseline struct.
trait Kind {
    type Msg<'a>: Deserialize<'a>;
}

struct DepthK;
impl Kind for DepthK {
    type Msg<'a> = DepthUpdate<'a>;
}

struct TradeK;
impl Kind for TradeK {
    type Msg<'a> = TradeMsg<'a>;
}

struct AggTradeK;
impl Kind for AggTradeK {
    type Msg<'a> = AggTradeMsg<'a>;
}

struct BookTickerK;
impl Kind for BookTickerK {
    type Msg<'a> = BookTickerMsg<'a>;
}

/// One group: the cases of the module docs on `frame`.
fn bench_kind<K: Kind>(c: &mut Criterion, name: &str, frame: &[u8]) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("base", |b| b.iter(|| black_box(black_box(frame).len())));

    for (case, mode) in [
        ("orderflow", ParseMode::Auto),
        ("orderflow_simd_json", ParseMode::SimdJsonOnly),
    ] {
        let mut parser = FrameParser::new().with_mode(mode);
        let mut out: Vec<Event> = Vec::with_capacity(64);
        assert!(parser.parse(0, frame, None, &mut out).is_ok());
        group.bench_function(case, |b| {
            b.iter(|| {
                out.clear();
                let parsed = parser.parse(0, black_box(frame), None, &mut out);
                black_box((&parsed, &out));
            });
        });
    }

    assert!(serde_json::from_slice::<Envelope<'_, K::Msg<'_>>>(frame).is_ok());
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            let r = serde_json::from_slice::<Envelope<'_, K::Msg<'_>>>(black_box(frame));
            black_box(r.is_ok())
        });
    });

    assert!(sonic_rs::from_slice::<Envelope<'_, K::Msg<'_>>>(frame).is_ok());
    group.bench_function("sonic_rs", |b| {
        b.iter(|| {
            let r = sonic_rs::from_slice::<Envelope<'_, K::Msg<'_>>>(black_box(frame));
            black_box(r.is_ok())
        });
    });

    let mut buffers = simd_json::Buffers::new(frame.len());
    let mut scratch = frame.to_vec();
    assert!(
        simd_json::serde::from_slice_with_buffers::<Envelope<'_, K::Msg<'_>>>(
            &mut scratch,
            &mut buffers
        )
        .is_ok()
    );
    group.bench_function("simd_json", |b| {
        b.iter(|| {
            scratch.clear();
            scratch.extend_from_slice(black_box(frame));
            let r = simd_json::serde::from_slice_with_buffers::<Envelope<'_, K::Msg<'_>>>(
                &mut scratch,
                &mut buffers,
            );
            black_box(r.is_ok())
        });
    });
    group.finish();
}

fn parse_benches(c: &mut Criterion) {
    let samples = Samples::load();
    eprintln!(
        "frames from {}: depth {} B, trade {} B, bookTicker {} B, aggTrade {} B",
        samples.source,
        samples.depth.len(),
        samples.trade.len(),
        samples.book_ticker.len(),
        samples.agg_trade.len()
    );
    bench_kind::<DepthK>(c, "parse_depth_update", &samples.depth);
    bench_kind::<TradeK>(c, "parse_trade", &samples.trade);
    bench_kind::<BookTickerK>(c, "parse_book_ticker", &samples.book_ticker);
    bench_kind::<AggTradeK>(c, "parse_agg_trade", &samples.agg_trade);
    mix(c);
}

fn mix(c: &mut Criterion) {
    let frames = match frames::btcusdt() {
        Ok(f) => f,
        Err(reason) => {
            eprintln!("mix over embedded frames: {reason}");
            let s = Samples::embedded();
            [s.depth, s.trade, s.book_ticker, s.agg_trade]
                .into_iter()
                .map(|json| frames::RecordedFrame {
                    recv_ns: 0,
                    json,
                    hint: None,
                })
                .collect()
        }
    };
    let mut group = c.benchmark_group("parse_mix_btcusdt");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.sample_size(10);
    for (name, mode) in [
        ("orderflow", ParseMode::Auto),
        ("orderflow_simd_json", ParseMode::SimdJsonOnly),
    ] {
        let mut parser = FrameParser::new().with_mode(mode);
        let inputs: Vec<_> = frames
            .iter()
            .map(|f| {
                let hint = f.hint.and_then(|h| parser.intern(h.as_bytes()).ok());
                (f.recv_ns, f.json.as_slice(), hint)
            })
            .collect();
        let mut out: Vec<Event> = Vec::with_capacity(4096);
        group.bench_function(name, |b| {
            b.iter(|| {
                for &(recv_ns, json, hint) in &inputs {
                    out.clear();
                    let parsed = parser.parse(recv_ns, json, hint, &mut out);
                    black_box((&parsed, &out));
                }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = parse_benches
}
criterion_main!(benches);
