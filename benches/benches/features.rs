//! Feature benches (DESIGN.md section 7: "per-event features (all of 5.1) after one update,
//! <= 60 ns").
//!
//! The book is a dense array book ([`ArrayBook`], 40 levels per side around a 60 000 USDT mid,
//! 0.1 tick, seeded quantities) so the figures are the features' own cost: `top_levels` is two
//! slice copies. Each iteration changes one level near the touch (sometimes the touch itself,
//! sometimes moving the mid by a tick) and advances exchange time by 7 ms, so base periods
//! close every ~14 events and every bar resolution closes on schedule: bar closing and gap
//! filling are amortised into the figures, as on a live stream.
//!
//! Cases (group `features`):
//! - `base`: the loop alone (book mutation, time), no features.
//! - `book_update/bars`: [`SymbolFeatures::on_book_update`] with the default bars
//!   (500 ms, 1 s, 1 min, 1 h): all per-event features plus the bar statistics. The DESIGN target.
//! - `book_update/no_bars`: the same without bars (per-event features alone).
//! - `trade/bars`: [`SymbolFeatures::on_trade`] with the default bars (per-trade features and
//!   bar update), alternating sides, a large trade every 32nd.
//! - `book_update/digest`: as `bars`, with [`FeatureDigest`] as the sink.
//!
//! Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --bench features -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty, Side, SymbolId, Trade};
use orderflow_features::{
    Bar, EventFeatures, FeatureConfig, FeatureDigest, FeatureSink, SymbolFeatures,
};

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
        ("book_update/no_bars", no_bars),
    ] {
        let mut rng = Rng(2);
        let mut book = ArrayBook::new(&mut rng);
        let mut features = SymbolFeatures::new(SymbolId(0), &config);
        let mut sink = Observe::default();
        let mut t = START_MS;
        g.bench_function(name, |b| {
            b.iter(|| {
                book.update(rng.next());
                t += STEP_MS;
                features.on_book_update(&book, t, &mut sink);
            });
        });
        black_box(sink.0);
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
