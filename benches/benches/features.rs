//! Feature benches (DESIGN.md section 7: "per-event features (all of 5.1) after one update,
//! <= 60 ns").
//!
//! Two books. A dense array book ([`ArrayBook`], 40 levels per side around a 60 000 USDT mid,
//! 0.1 tick, seeded quantities) whose `top_levels` is two slice copies and which lends no arrays:
//! the features' cost on the copy path any `BookView` gets. And the engine's own
//! [`orderflow_book::Book`] (`real_book`), which lends its top cache and the exact sums it keeps
//! over it (`BookView::top_arrays`, `TopSums`): the path the engine runs, and the one the DESIGN
//! target is measured on (keeping the sums is part of the book's update, so of
//! `real_book/base`). Each iteration changes one level near the touch (sometimes the touch
//! itself, sometimes moving the mid by a tick) and advances exchange time by 7 ms, so base
//! periods close every ~14 events and every bar resolution closes on schedule: bar closing and
//! gap filling are amortised into the figures, as on a live stream.
//!
//! Cases (group `features`):
//! - `base`: the loop alone (book mutation, time), no features.
//! - `book_update/bars`: [`SymbolFeatures::on_book_update`] with the default bars
//!   (500 ms, 1 s, 1 min, 1 h): all per-event features plus the bar statistics.
//! - `book_update/no_bars`: the same without bars (per-event features alone).
//! - `trade/bars`: [`SymbolFeatures::on_trade`] with the default bars (per-trade features and
//!   bar update), alternating sides, a large trade every 32nd.
//! - `book_update/digest`: as `bars`, with [`FeatureDigest`] as the sink.
//! - `real_book/base` and `real_book/book_update`: the same per-event work reading the real
//!   [`orderflow_book::Book`] (40 levels a side, one level update among the first 24 of a side
//!   per iteration, 1 in 64 removing its level): the book update alone, then the book update
//!   with [`SymbolFeatures::on_book_update`] and the default bars. The features' cost on the
//!   real book is the difference: the DESIGN target. `real_book/book_update_no_bars`: the
//!   same without bars, the per-event features of DESIGN.md section 5.1 alone (the DESIGN
//!   target's scope).
//!
//! Group `features_replay`: every event of the BTCUSDT recording (parsed once, before
//! measuring) through [`Pipeline::on_event`], books only (`features_off`) and books with all
//! features and default bars (`features_on`), each pass from a fresh pipeline; throughput in
//! venue messages (a depth diff counts once). Their ratio is the cost of the features on a real
//! stream. Without the recording, a synthetic stream (a snapshot, then diffs of two levels and
//! trades) stands in.
//!
//! Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --bench features -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use orderflow_book::{Book, BookConfig, NoopRequester};
use orderflow_core::{
    AggTrade, Body, BookLevel, BookSide, BookView, DepthDiff, DepthSnapshot, Event, Flags, Level,
    Px, Qty, Side, SymbolId, Trade,
};
use orderflow_engine::{Pipeline, PipelineConfig, PipelineSink};
use orderflow_features::{
    Bar, EventFeatures, FeatureConfig, FeatureDigest, FeatureSink, SymbolFeatures,
};
use orderflow_replay::CaptureSource;

const LEVELS: usize = 40;
const TICK: i64 = 10_000_000;
const START_MS: i64 = 1_723_161_600_000;
const STEP_MS: i64 = 7;

/// A sorted array book: `bids[0]`/`asks[0]` are the touch.
struct ArrayBook {
    bids: [BookLevel; LEVELS],
    asks: [BookLevel; LEVELS],
}

impl BookView for ArrayBook {
    #[inline]
    fn best_bid(&self) -> Option<BookLevel> {
        Some(self.bids[0])
    }
    #[inline]
    fn best_ask(&self) -> Option<BookLevel> {
        Some(self.asks[0])
    }
    #[inline]
    fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
        let src = match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        };
        let n = out.len().min(LEVELS);
        out[..n].copy_from_slice(&src[..n]);
        n
    }
    #[inline]
    fn is_synced(&self) -> bool {
        true
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl ArrayBook {
    fn new(rng: &mut Rng) -> Self {
        let mid = 600_000 * TICK;
        let mut level = |i: usize, sign: i64| BookLevel {
            px: Px(mid + sign * (i as i64 + 1) * TICK - if sign > 0 { TICK } else { 0 }),
            qty: Qty(1 + (rng.next() % 5_000) as i64 * 100_000),
        };
        Self {
            bids: core::array::from_fn(|i| level(i, -1)),
            asks: core::array::from_fn(|i| level(i, 1)),
        }
    }

    /// One level update: a new quantity near the touch; every 64th moves the mid by a tick.
    #[inline]
    fn update(&mut self, r: u64) {
        let side = if r & 1 == 0 {
            &mut self.bids
        } else {
            &mut self.asks
        };
        if r & 63 == 0 {
            let shift = if r & 64 == 0 { TICK } else { -TICK };
            for l in self.bids.iter_mut().chain(self.asks.iter_mut()) {
                l.px.0 += shift;
            }
        } else {
            let i = ((r >> 8) % 24) as usize;
            side[i].qty = Qty(1 + ((r >> 16) % 5_000) as i64 * 100_000);
        }
    }
}

/// The real book with the same shape as [`ArrayBook`]: 40 levels a side around the mid.
struct RealBook(Book);

impl RealBook {
    const MID: i64 = 600_000 * TICK;

    fn new(rng: &mut Rng) -> Self {
        let mut book = Book::new(&BookConfig::with_tick(Px(TICK)));
        for i in 0..LEVELS {
            for side in [BookSide::Bid, BookSide::Ask] {
                let qty = Qty(1 + (rng.next() % 5_000) as i64 * 100_000);
                let _ = book.set(side, Self::px(side, i), qty);
            }
        }
        book.set_synced(true);
        Self(book)
    }

    /// Price of level `i` (from the touch) of `side`, as laid out at construction.
    #[inline]
    fn px(side: BookSide, i: usize) -> Px {
        match side {
            BookSide::Bid => Px(Self::MID - (i as i64 + 1) * TICK),
            BookSide::Ask => Px(Self::MID + i as i64 * TICK),
        }
    }

    /// One level update among the first 24 of a side; 1 in 64 removes the level (a later
    /// update at that price puts it back).
    #[inline]
    fn update(&mut self, r: u64) {
        let side = if r & 1 == 0 {
            BookSide::Bid
        } else {
            BookSide::Ask
        };
        let i = ((r >> 8) % 24) as usize;
        let qty = if r & (63 << 1) == 0 {
            Qty::ZERO
        } else {
            Qty(1 + ((r >> 16) % 5_000) as i64 * 100_000)
        };
        let _ = self.0.set(side, Self::px(side, i), qty);
    }
}

/// Keeps the outputs observable without costing more than a load.
#[derive(Default)]
struct Observe(u64);

impl FeatureSink for Observe {
    #[inline]
    fn event_features(&mut self, _: SymbolId, f: &EventFeatures) {
        black_box(f);
        self.0 += 1;
    }
    #[inline]
    fn bar(&mut self, _: SymbolId, b: &Bar) {
        black_box(b);
        self.0 += 1;
    }
}

impl PipelineSink for Observe {}

/// Every event of the BTCUSDT recording and its number of venue messages, or a synthetic
/// stream when the recording is absent.
fn replay_events() -> (Vec<Event>, u64) {
    let path = orderflow_benches::frames::data_dir().join("btcusdt_20240808.gz");
    match CaptureSource::open(&[path]) {
        Ok(mut source) => {
            let (mut events, mut messages) = (Vec::new(), 0u64);
            while let Some(next) = source.next_events() {
                if let Ok(m) = next {
                    events.extend_from_slice(m.events);
                    messages += 1;
                }
            }
            (events, messages)
        }
        Err(e) => {
            eprintln!("replay: using a synthetic stream ({e})");
            synthetic_stream(100_000)
        }
    }
}

/// A snapshot of 20 levels a side, then `n` messages: diffs of two levels near the touch, one
/// in three followed by a trade, 5 ms apart.
fn synthetic_stream(n: u64) -> (Vec<Event>, u64) {
    let mut rng = Rng(5);
    let symbol = SymbolId(0);
    let level = |side, i: i64, qty: i64| {
        let px = match side {
            BookSide::Bid => RealBook::MID - (i + 1) * TICK,
            BookSide::Ask => RealBook::MID + i * TICK,
        };
        Body::Level(Level {
            px: Px(px),
            qty: Qty(qty),
            side,
            _reserved: [0; 7],
        })
    };
    let mut t = START_MS;
    let mut events = vec![Event::new(
        0,
        symbol,
        Body::DepthSnapshot(DepthSnapshot {
            last_update_id: 1_000,
            event_time_ms: t,
            transact_time_ms: t,
            bid_count: 20,
            ask_count: 20,
        }),
    )];
    for k in 0..40 {
        let side = if k < 20 { BookSide::Bid } else { BookSide::Ask };
        let flags = if k == 39 {
            Flags::SNAPSHOT.with(Flags::LAST)
        } else {
            Flags::SNAPSHOT
        };
        events.push(Event::new(0, symbol, level(side, k % 20, 100_000_000)).with_flags(flags));
    }
    let mut messages = 1;
    for k in 0..n {
        t += 5;
        // Diff `k` has the single id `1000 + k`: the first straddles the snapshot's id, each
        // later one chains on the previous `u`.
        let u = 1_000 + k;
        let header = DepthDiff {
            first_update_id: u,
            final_update_id: u,
            prev_final_update_id: u - 1,
            event_time_ms: t,
            transact_time_ms: t,
            bid_count: 1,
            ask_count: 1,
        };
        events.push(Event::new(0, symbol, Body::DepthDiff(header)));
        for (side, flags) in [(BookSide::Bid, Flags::NONE), (BookSide::Ask, Flags::LAST)] {
            let r = rng.next();
            let qty = 1 + (r % 5_000) as i64 * 100_000;
            events.push(
                Event::new(0, symbol, level(side, ((r >> 16) % 20) as i64, qty)).with_flags(flags),
            );
        }
        messages += 1;
        if k % 3 == 0 {
            let r = rng.next();
            let trade = AggTrade {
                px: Px(RealBook::MID + ((r % 3) as i64 - 1) * TICK),
                qty: Qty(1 + (r >> 8) as i64 % 300 * 100_000),
                transact_time_ms: t,
                event_time_ms: t,
                aggressor: if r & 1 == 0 { Side::Buy } else { Side::Sell },
                ..AggTrade::default()
            };
            events.push(Event::new(0, symbol, Body::AggTrade(trade)).with_flags(Flags::LAST));
            messages += 1;
        }
    }
    (events, messages)
}

fn replay(c: &mut Criterion) {
    let (events, messages) = replay_events();
    let mut g = c.benchmark_group("features_replay");
    g.throughput(Throughput::Elements(messages));
    g.sample_size(10);
    for (name, features_disabled) in [("features_off", true), ("features_on", false)] {
        let config = PipelineConfig {
            features_disabled,
            ..PipelineConfig::default()
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || Pipeline::new(config.clone()),
                |mut pipeline| {
                    let mut sink = Observe::default();
                    for e in &events {
                        pipeline.on_event(e, &mut NoopRequester, &mut sink);
                    }
                    black_box(sink.0);
                    pipeline
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

/// A `book_update` case: each iteration changes `book` with `update`, steps the exchange clock
/// by [`STEP_MS`] and runs [`SymbolFeatures::on_book_update`] on `view(&book)`.
fn book_update_case<B, V: BookView>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    config: &FeatureConfig,
    mut rng: Rng,
    mut book: B,
    update: impl Fn(&mut B, u64),
    view: impl Fn(&B) -> &V,
) {
    let mut features = SymbolFeatures::new(SymbolId(0), config);
    let mut sink = Observe::default();
    let mut t = START_MS;
    g.bench_function(name, |b| {
        b.iter(|| {
            update(&mut book, rng.next());
            t += STEP_MS;
            features.on_book_update(view(&book), t, &mut sink);
        });
    });
    black_box(sink.0);
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("features");
    let no_bars = FeatureConfig {
        bar_resolutions_ms: Vec::new(),
        ..FeatureConfig::default()
    };

    {
        let mut rng = Rng(1);
        let mut book = ArrayBook::new(&mut rng);
        let mut t = START_MS;
        g.bench_function("base", |b| {
            b.iter(|| {
                book.update(rng.next());
                t += STEP_MS;
                black_box((&book, t));
            });
        });
    }

    for (name, config) in [
        ("book_update/bars", FeatureConfig::default()),
        ("book_update/no_bars", no_bars.clone()),
    ] {
        let mut rng = Rng(2);
        let book = ArrayBook::new(&mut rng);
        book_update_case(&mut g, name, &config, rng, book, ArrayBook::update, |b| b);
    }

    {
        let mut rng = Rng(3);
        let mut book = ArrayBook::new(&mut rng);
        let mut features = SymbolFeatures::new(SymbolId(0), &FeatureConfig::default());
        let mut sink = FeatureDigest::new();
        let mut t = START_MS;
        g.bench_function("book_update/digest", |b| {
            b.iter(|| {
                book.update(rng.next());
                t += STEP_MS;
                features.on_book_update(&book, t, &mut sink);
            });
        });
        black_box(sink.value());
    }

    {
        let mut rng = Rng(4);
        let book = ArrayBook::new(&mut rng);
        let mut features = SymbolFeatures::new(SymbolId(0), &FeatureConfig::default());
        let mut sink = Observe::default();
        features.on_book_update(&book, START_MS, &mut sink);
        let mut t = START_MS;
        let mut id = 0u64;
        g.bench_function("trade/bars", |b| {
            b.iter(|| {
                let r = rng.next();
                t += STEP_MS;
                id += 1;
                let qty = if id.is_multiple_of(32) {
                    50_000
                } else {
                    1 + (r % 300) as i64
                } * 100_000;
                let trade = Trade {
                    trade_id: id,
                    px: Px(600_000 * TICK + ((r >> 20) % 5) as i64 * TICK),
                    qty: Qty(qty),
                    transact_time_ms: t,
                    event_time_ms: t,
                    aggressor: if r & 1 == 0 { Side::Buy } else { Side::Sell },
                    _reserved: [0; 7],
                };
                features.on_trade(&trade, &mut sink);
            });
        });
        black_box(sink.0);
    }
    {
        let mut rng = Rng(6);
        let mut book = RealBook::new(&mut rng);
        g.bench_function("real_book/base", |b| {
            b.iter(|| {
                book.update(rng.next());
                black_box(book.0.best_bid());
            });
        });
    }

    for (name, config) in [
        ("real_book/book_update", FeatureConfig::default()),
        ("real_book/book_update_no_bars", no_bars.clone()),
    ] {
        let mut rng = Rng(6);
        let book = RealBook::new(&mut rng);
        book_update_case(&mut g, name, &config, rng, book, RealBook::update, |b| &b.0);
    }
    g.finish();
}

criterion_group!(benches, bench, replay);
criterion_main!(benches);
