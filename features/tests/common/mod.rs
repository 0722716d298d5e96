//! Shared test support: a seeded RNG, a `BTreeMap` book, a synthetic event stream and sinks.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]
#![allow(unreachable_pub, reason = "a test module, not an API")]
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "test data"
)]

pub mod model;

use std::collections::BTreeMap;

use orderflow_core::{
    AggTrade, Body, BookLevel, BookSide, BookTicker, BookView, DepthDiff, DepthSnapshot, Event,
    Flags, Kline, Level, Liquidation, MarkPrice, OpenInterest, OrderStatus, Px, Qty, Side, Status,
    StatusCode, SymbolId, Timer, Trade,
};
use orderflow_features::{
    Bar, BookChange, EventFeatures, FeatureConfig, FeatureSink, SymbolFeatures,
};

/// 2024-08-09 00:00:00 UTC, ms.
pub const MIDNIGHT_MS: i64 = 1_723_161_600_000;
/// 0.1 USDT, the BTCUSDT tick.
pub const TICK: i64 = 10_000_000;
pub const SYMBOL: SymbolId = SymbolId(3);

/// splitmix64: small, seeded, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// `true` with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// An L2 book in two `BTreeMap`s (the test oracle of STYLE.md section 6).
#[derive(Clone, Debug, Default)]
pub struct TestBook {
    pub bids: BTreeMap<i64, i64>,
    pub asks: BTreeMap<i64, i64>,
    pub synced: bool,
}

impl TestBook {
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    pub fn apply_level(&mut self, l: &Level) {
        let side = match l.side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if l.qty.0 == 0 {
            side.remove(&l.px.0);
        } else {
            side.insert(l.px.0, l.qty.0);
        }
    }

    /// Applies what a book would do with `event` (depth levels, snapshots, gaps).
    pub fn apply_event(&mut self, event: &Event) {
        match &event.body {
            Body::DepthSnapshot(_) => {
                self.clear();
                self.synced = false;
                if event.is_last() {
                    self.synced = true;
                }
            }
            Body::Level(l) => {
                self.apply_level(l);
                if event.flags.contains(Flags::SNAPSHOT) && event.is_last() {
                    self.synced = true;
                }
            }
            Body::Status(s) if s.code == StatusCode::Gap => {
                self.clear();
                self.synced = false;
            }
            _ => {}
        }
    }

    /// Best-first levels of a side (all of them).
    pub fn side(&self, side: BookSide) -> Vec<(i64, i64)> {
        match side {
            BookSide::Bid => self.bids.iter().rev().map(|(&p, &q)| (p, q)).collect(),
            BookSide::Ask => self.asks.iter().map(|(&p, &q)| (p, q)).collect(),
        }
    }
}

impl BookView for TestBook {
    fn best_bid(&self) -> Option<BookLevel> {
        self.bids.iter().next_back().map(|(&p, &q)| BookLevel {
            px: Px(p),
            qty: Qty(q),
        })
    }
    fn best_ask(&self) -> Option<BookLevel> {
        self.asks.iter().next().map(|(&p, &q)| BookLevel {
            px: Px(p),
            qty: Qty(q),
        })
    }
    fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
        let cap = out.len();
        let mut n = 0;
        let mut put = |(&p, &q): (&i64, &i64)| {
            out[n] = BookLevel {
                px: Px(p),
                qty: Qty(q),
            };
            n += 1;
        };
        match side {
            BookSide::Bid => self.bids.iter().rev().take(cap).for_each(&mut put),
            BookSide::Ask => self.asks.iter().take(cap).for_each(&mut put),
        }
        n
    }
    fn is_synced(&self) -> bool {
        self.synced
    }
}

/// One input record: the event and whether it completed a book update.
#[derive(Clone, Copy, Debug)]
pub struct Rec {
    pub event: Event,
    pub change: BookChange,
}

/// Which trade messages the synthetic venue sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streams {
    Agg,
    Trade,
    /// Both: each aggTrade is followed by its individual trades.
    Both,
}

#[derive(Clone, Copy, Debug)]
pub struct GenConfig {
    pub seed: u64,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub streams: Streams,
    /// Mean gap between events is about half of this, ms.
    pub max_step_ms: i64,
}

/// Builds a synthetic stream: a random-walk book with diffs, trades on both sides with bursts,
/// late trades, quiet gaps with timers, long gaps, mark prices, liquidations, open interest,
/// gaps and resyncs of the book.
pub fn generate(cfg: GenConfig) -> Vec<Rec> {
    let mut g = Gen {
        rng: Rng(cfg.seed),
        book: TestBook::default(),
        out: Vec::new(),
        mid: 600_000,
        trade_id: 1_000,
        agg_id: 500,
    };
    let mut t = cfg.start_ms;
    g.snapshot(t);
    let end = cfg.start_ms + cfg.duration_ms;
    let mut resync_at: Option<i64> = None;
    while t < end {
        let r = g.rng.below(1000);
        let dt = if r < 4 {
            let gap = g.rng.range(2_000, 9_000);
            g.timers(t, gap, 700);
            gap
        } else if r < 5 {
            let gap = g.rng.range(60_000, 200_000);
            g.timers(t, gap, 5_000);
            gap
        } else if r < 200 {
            0
        } else {
            g.rng.range(1, cfg.max_step_ms)
        };
        t += dt;
        if resync_at.is_some_and(|at| t >= at) {
            g.snapshot(t);
            resync_at = None;
            continue;
        }
        match g.rng.below(100) {
            0..=39 => {
                if g.book.synced {
                    g.diff(t);
                }
            }
            40..=74 => g.trade(t, cfg.streams),
            75..=84 => g.push(
                Body::BookTicker(BookTicker {
                    transact_time_ms: t,
                    event_time_ms: t + 1,
                    ..BookTicker::default()
                }),
                BookChange::Unchanged,
            ),
            85..=89 => {
                let mark = (g.mid + g.rng.range(-5, 5)) * TICK;
                let index = (g.mid + g.rng.range(-5, 5)) * TICK;
                let funding = Qty(g.rng.range(-20_000, 20_000));
                g.push(
                    Body::MarkPrice(MarkPrice {
                        event_time_ms: t,
                        mark_px: Px(mark),
                        index_px: Px(index),
                        est_settle_px: Px(index),
                        mark_avg_px: Px::UNDEF,
                        funding_rate: funding,
                        next_funding_time_ms: MIDNIGHT_MS,
                    }),
                    BookChange::Unchanged,
                );
            }
            90..=91 => {
                let lag = g.rng.range(0, 50);
                let q = Qty(g.rng.range(1, 500) * 100_000);
                let side = if g.rng.pct(50) { Side::Buy } else { Side::Sell };
                g.push(
                    Body::Liquidation(Liquidation {
                        event_time_ms: t,
                        transact_time_ms: t - lag,
                        px: Px(g.mid * TICK),
                        avg_px: Px(g.mid * TICK),
                        orig_qty: q,
                        last_filled_qty: q,
                        filled_qty: q,
                        side,
                        status: OrderStatus::Filled,
                        _reserved: [0; 6],
                    }),
                    BookChange::Unchanged,
                );
            }
            92..=93 => {
                let oi = Qty(g.rng.range(70_000, 80_000) * 100_000_000);
                let lag = g.rng.range(0, 500);
                g.push(
                    Body::OpenInterest(OpenInterest {
                        time_ms: t - lag,
                        open_interest: oi,
                    }),
                    BookChange::Unchanged,
                );
            }
            94..=96 => {
                let ahead = g.rng.range(0, 1_500);
                g.push(
                    Body::Timer(Timer { now_ms: t + ahead }),
                    BookChange::Unchanged,
                );
            }
            97 => g.push(
                Body::Kline(Kline {
                    event_time_ms: t,
                    ..Kline::default()
                }),
                BookChange::Unchanged,
            ),
            _ => {
                if g.book.synced && resync_at.is_none() && g.rng.pct(25) {
                    let status = Status {
                        code: StatusCode::Gap,
                        _reserved: [0; 7],
                        expected_id: 1,
                        actual_id: 2,
                        exchange_time_ms: t,
                    };
                    g.push(Body::Status(status), BookChange::Updated);
                    resync_at = Some(t + g.rng.range(50, 3_000));
                }
            }
        }
    }
    g.out
}

struct Gen {
    rng: Rng,
    book: TestBook,
    out: Vec<Rec>,
    mid: i64,
    trade_id: u64,
    agg_id: u64,
}

impl Gen {
    fn push_flags(&mut self, body: Body, flags: Flags, change: BookChange) {
        let event = Event::new(0, SYMBOL, body).with_flags(flags);
        self.book.apply_event(&event);
        self.out.push(Rec { event, change });
    }

    fn push(&mut self, body: Body, change: BookChange) {
        self.push_flags(body, Flags::LAST, change);
    }

    fn timers(&mut self, t: i64, gap: i64, every: i64) {
        let mut at = t + every;
        while at < t + gap {
            self.push(Body::Timer(Timer { now_ms: at }), BookChange::Unchanged);
            at += every;
        }
    }

    fn qty(&mut self) -> i64 {
        self.rng.range(1, 5_000) * 100_000
    }

    fn snapshot(&mut self, t: i64) {
        let mut levels = Vec::new();
        for k in 0..self.rng.range(3, 35) {
            if self.rng.pct(85) {
                let qty = self.qty();
                levels.push(Level {
                    px: Px((self.mid - 1 - k) * TICK),
                    qty: Qty(qty),
                    side: BookSide::Bid,
                    _reserved: [0; 7],
                });
            }
        }
        for k in 0..self.rng.range(1, 35) {
            if self.rng.pct(85) {
                let qty = self.qty();
                levels.push(Level {
                    px: Px((self.mid + k) * TICK),
                    qty: Qty(qty),
                    side: BookSide::Ask,
                    _reserved: [0; 7],
                });
            }
        }
        let header = DepthSnapshot {
            last_update_id: 1,
            event_time_ms: t,
            transact_time_ms: t - self.rng.range(0, 300),
            bid_count: levels.iter().filter(|l| l.side == BookSide::Bid).count() as u32,
            ask_count: levels.iter().filter(|l| l.side == BookSide::Ask).count() as u32,
        };
        let n = levels.len();
        let header_flags = if n == 0 { Flags::LAST } else { Flags::NONE };
        self.push_flags(
            Body::DepthSnapshot(header),
            header_flags,
            if n == 0 {
                BookChange::Updated
            } else {
                BookChange::Unchanged
            },
        );
        for (i, l) in levels.into_iter().enumerate() {
            let last = i + 1 == n;
            let flags = if last {
                Flags::SNAPSHOT.with(Flags::LAST)
            } else {
                Flags::SNAPSHOT
            };
            let change = if last {
                BookChange::Updated
            } else {
                BookChange::Unchanged
            };
            self.push_flags(Body::Level(l), flags, change);
        }
    }

    fn diff(&mut self, t: i64) {
        let mut levels: Vec<Level> = Vec::new();
        let level = |px: i64, qty: i64, side: BookSide| Level {
            px: Px(px),
            qty: Qty(qty),
            side,
            _reserved: [0; 7],
        };
        if self.rng.pct(12) {
            self.mid += if self.rng.pct(50) { 1 } else { -1 };
            let mid_px = self.mid * TICK;
            for (&p, _) in self.book.bids.range(mid_px..) {
                levels.push(level(p, 0, BookSide::Bid));
            }
            for (&p, _) in self.book.asks.range(..mid_px) {
                levels.push(level(p, 0, BookSide::Ask));
            }
        }
        for _ in 0..self.rng.range(0, 6) {
            let k = self.rng.range(0, 30);
            let qty = if self.rng.pct(30) { 0 } else { self.qty() };
            if self.rng.pct(50) {
                levels.push(level((self.mid - 1 - k) * TICK, qty, BookSide::Bid));
            } else {
                levels.push(level((self.mid + k) * TICK, qty, BookSide::Ask));
            }
        }
        let header = DepthDiff {
            first_update_id: 1,
            final_update_id: 2,
            prev_final_update_id: 1,
            event_time_ms: t + 2,
            transact_time_ms: t,
            bid_count: 0,
            ask_count: levels.len() as u32,
        };
        let n = levels.len();
        if n == 0 {
            self.push(Body::DepthDiff(header), BookChange::Updated);
            return;
        }
        self.push_flags(Body::DepthDiff(header), Flags::NONE, BookChange::Unchanged);
        for (i, l) in levels.into_iter().enumerate() {
            let last = i + 1 == n;
            self.push_flags(
                Body::Level(l),
                if last { Flags::LAST } else { Flags::NONE },
                if last {
                    BookChange::Updated
                } else {
                    BookChange::Unchanged
                },
            );
        }
    }

    fn trade(&mut self, t: i64, streams: Streams) {
        let lag = match self.rng.below(100) {
            0 if self.rng.pct(5) => 1_000_000,
            0 => self.rng.range(1_000, 20_000),
            // Exactly on a window edge.
            1 => [1_000, 5_000, 10_000, 60_000][self.rng.below(4) as usize],
            2..=10 => self.rng.range(1, 400),
            _ => 0,
        };
        let tt = t - lag;
        let px = Px((self.mid + self.rng.range(-3, 3)) * TICK);
        let qty = if self.rng.pct(8) {
            self.rng.range(500, 20_000) * 100_000
        } else {
            self.rng.range(1, 300) * 100_000
        };
        let side = if self.rng.pct(52) {
            Side::Buy
        } else {
            Side::Sell
        };
        let fills = self.rng.range(1, 3) as u64;
        if streams != Streams::Trade {
            let first = self.trade_id;
            self.agg_id += 1;
            self.push(
                Body::AggTrade(AggTrade {
                    agg_trade_id: self.agg_id,
                    first_trade_id: first,
                    last_trade_id: first + fills - 1,
                    px,
                    qty: Qty(qty),
                    normal_qty: Qty::UNDEF,
                    transact_time_ms: tt,
                    event_time_ms: tt + 1,
                    aggressor: side,
                    _reserved: [0; 7],
                }),
                BookChange::Unchanged,
            );
        }
        if streams != Streams::Agg {
            // Split the quantity over the fills (the last takes the remainder).
            let mut left = qty;
            for i in 0..fills {
                let q = if i + 1 == fills {
                    left
                } else {
                    (qty / fills as i64).max(1)
                };
                left -= q;
                self.push(
                    Body::Trade(Trade {
                        trade_id: self.trade_id + i,
                        px,
                        qty: Qty(q),
                        transact_time_ms: tt,
                        event_time_ms: tt + 1,
                        aggressor: side,
                        _reserved: [0; 7],
                    }),
                    BookChange::Unchanged,
                );
            }
        }
        self.trade_id += fills;
    }
}

/// Everything a sink received, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Features(EventFeatures),
    Bar(Bar),
}

/// Collects outputs.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Out>);

impl FeatureSink for Collect {
    fn event_features(&mut self, symbol: SymbolId, f: &EventFeatures) {
        assert_eq!(symbol, SYMBOL);
        self.0.push(Out::Features(*f));
    }
    fn bar(&mut self, symbol: SymbolId, b: &Bar) {
        assert_eq!(symbol, SYMBOL);
        self.0.push(Out::Bar(*b));
    }
}

/// Runs `recs` through a fresh [`SymbolFeatures`] with a [`TestBook`].
pub fn run<S: FeatureSink>(recs: &[Rec], config: &FeatureConfig, sink: &mut S) -> SymbolFeatures {
    let mut features = SymbolFeatures::new(SYMBOL, config);
    let mut book = TestBook::default();
    for r in recs {
        book.apply_event(&r.event);
        features.on_event(&r.event, &book, r.change, sink);
    }
    features
}
