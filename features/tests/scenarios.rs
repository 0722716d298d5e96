//! Hand-built scenarios with expected values worked out by hand: gap fill, a bar grid without
//! trades, the CVD reset at 00:00 UTC, 500 ms bars, timer-closed bars, late events, trade-source
//! dedup, realized volatility and the grid-restart guard.

mod common;

use common::{Collect, MIDNIGHT_MS, Out, SYMBOL, TestBook};
use orderflow_core::{
    AggTrade, Body, BookTicker, Event, Liquidation, MarkPrice, OpenInterest, Px, Qty, Side, Trade,
};
use orderflow_features::{
    Bar, BookChange, ConfigError, EventFeatures, FeatureConfig, FeatureDigest, FeatureSink,
    SymbolFeatures, TradeSource,
};

fn px(units: i64) -> Px {
    Px::from_units(units)
}

fn trade(t: i64, price: i64, qty_milli: i64, side: Side) -> Trade {
    Trade {
        trade_id: 0,
        px: px(price),
        qty: Qty(qty_milli * 100_000),
        transact_time_ms: t,
        event_time_ms: t,
        aggressor: side,
        _reserved: [0; 7],
    }
}

fn agg(t: i64, price: i64, qty_milli: i64, side: Side, fills: u64) -> AggTrade {
    AggTrade {
        agg_trade_id: 1,
        first_trade_id: 10,
        last_trade_id: 10 + fills - 1,
        px: px(price),
        qty: Qty(qty_milli * 100_000),
        normal_qty: Qty::UNDEF,
        transact_time_ms: t,
        event_time_ms: t,
        aggressor: side,
        _reserved: [0; 7],
    }
}

fn config(res: &[i64]) -> FeatureConfig {
    FeatureConfig {
        bar_resolutions_ms: res.to_vec(),
        ..FeatureConfig::default()
    }
}

struct Rig {
    f: SymbolFeatures,
    book: TestBook,
    out: Collect,
}

impl Rig {
    fn new(config: &FeatureConfig) -> Self {
        Self {
            f: SymbolFeatures::new(SYMBOL, config),
            book: TestBook::default(),
            out: Collect::default(),
        }
    }
    fn trade(&mut self, t: Trade) {
        self.f.on_trade(&t, &mut self.out);
    }
    fn time(&mut self, t: i64) {
        self.f.on_exchange_time(t, &mut self.out);
    }
    fn book(&mut self, t: i64, bid: (i64, i64), ask: (i64, i64)) {
        self.book.clear();
        self.book.synced = true;
        self.book.bids.insert(px(bid.0).0, bid.1 * 100_000);
        self.book.asks.insert(px(ask.0).0, ask.1 * 100_000);
        self.f.on_book_update(&self.book, t, &mut self.out);
    }
    fn bars(&self, res: i64) -> Vec<Bar> {
        self.out
            .0
            .iter()
            .filter_map(|o| match o {
                Out::Bar(b) if b.resolution_ms == res => Some(*b),
                _ => None,
            })
            .collect()
    }
    fn last_features(&self) -> EventFeatures {
        *self.f.features()
    }
}

const T0: i64 = MIDNIGHT_MS + 10_000; // 00:00:10.000

#[test]
fn gap_fill_emits_every_grid_bar_with_forward_filled_prices() {
    let mut r = Rig::new(&config(&[500]));
    r.trade(trade(T0 + 120, 100, 2, Side::Buy));
    r.trade(trade(T0 + 300, 102, 1, Side::Sell));
    // 3.2 s later: bars [T0, +500) ... [+3000, +3500) close; the last six have no trade.
    r.trade(trade(T0 + 3_610, 99, 5, Side::Buy));
    let bars = r.bars(500);
    assert_eq!(bars.len(), 7);
    let first = bars[0];
    assert_eq!(first.timestamp_ms, T0);
    assert_eq!(
        (first.open, first.high, first.low, first.close),
        (px(100), px(102), px(100), px(102))
    );
    assert_eq!(first.vol_total.0, 300_000);
    assert_eq!(
        (first.vol_buy.0, first.vol_sell.0, first.vol_delta.0),
        (200_000, 100_000, 100_000)
    );
    assert_eq!(
        first.quote_volume.0,
        100 * 2 * 10i128.pow(13) + 102 * 10i128.pow(13)
    );
    assert!((first.vwap - 302.0 / 3.0).abs() < 1e-12);
    assert_eq!((first.trade_count, first.raw_trade_count), (2, 2));
    for (k, b) in bars[1..].iter().enumerate() {
        assert_eq!(b.timestamp_ms, T0 + 500 * (k as i64 + 1));
        assert_eq!(
            (b.open, b.high, b.low, b.close),
            (px(102), px(102), px(102), px(102))
        );
        assert_eq!(b.vwap, 102.0);
        assert_eq!((b.vol_total.0, b.trade_count, b.raw_trade_count), (0, 0, 0));
        assert!(b.buy_pressure.is_nan());
        assert_eq!(b.cvd.0, 100_000, "cvd carries over");
    }
    assert_eq!(r.f.counters().gap_bars, 6);
}

#[test]
fn grid_without_trades_still_closes_bars_with_book_statistics() {
    let mut r = Rig::new(&config(&[1_000]));
    // Spread 1 for 250 ms, then spread 3 for the rest of [T0, T0+1000).
    r.book(T0, (100, 10), (101, 30));
    r.book(T0 + 250, (100, 10), (103, 10));
    r.time(T0 + 2_000);
    let bars = r.bars(1_000);
    assert_eq!(bars.len(), 2);
    let b = bars[0];
    assert!(b.open.is_undef() && b.close.is_undef() && b.vwap.is_nan());
    assert_eq!(b.book_updates, 2);
    assert!((b.avg_spread - 2.0).abs() < 1e-12);
    assert!((b.tw_spread - (1.0 * 250.0 + 3.0 * 750.0) / 1000.0).abs() < 1e-12);
    assert!((b.spread_std - 2f64.sqrt()).abs() < 1e-12);
    assert!((b.avg_bid_qty - 0.01).abs() < 1e-15 && (b.avg_ask_qty - 0.02).abs() < 1e-15);
    // imbalance: (10-30)/40 = -0.5 for 250 ms, 0 for 750 ms.
    assert!((b.imbalance_5 - (-0.5 * 250.0) / 1000.0).abs() < 1e-12);
    assert!(!b.synced, "the book was not there at the start of the bar");
    let next = bars[1];
    assert!(next.synced && next.book_updates == 0);
    assert!((next.tw_spread - 3.0).abs() < 1e-12 && next.avg_spread.is_nan());
}

#[test]
fn cvd_resets_at_midnight_utc() {
    let mut r = Rig::new(&config(&[60_000]));
    let before = MIDNIGHT_MS - 30_000;
    r.trade(trade(before, 100, 4, Side::Buy));
    r.trade(trade(before + 10, 100, 1, Side::Sell));
    assert_eq!(r.last_features().cvd.0, 300_000);
    // A book update after midnight, before any new trade: the new day has no delta yet.
    r.book(MIDNIGHT_MS + 5, (99, 1), (100, 1));
    assert_eq!(r.last_features().cvd.0, 0);
    r.trade(trade(MIDNIGHT_MS + 20, 100, 2, Side::Sell));
    assert_eq!(r.last_features().cvd.0, -200_000);
    // A late trade from yesterday is not in today's CVD (but is in the open bar's volume).
    r.trade(trade(MIDNIGHT_MS - 5, 100, 7, Side::Buy));
    assert_eq!(r.last_features().cvd.0, -200_000);
    assert_eq!(r.f.counters().cvd_excluded_trades, 1);
    r.time(MIDNIGHT_MS + 60_000);
    let bars = r.bars(60_000);
    assert_eq!(bars.len(), 2);
    assert_eq!(
        (bars[0].timestamp_ms, bars[0].cvd.0),
        (MIDNIGHT_MS - 60_000, 300_000)
    );
    assert_eq!(
        (bars[1].timestamp_ms, bars[1].cvd.0),
        (MIDNIGHT_MS, -200_000)
    );
    assert_eq!(bars[1].vol_total.0, 900_000);
    assert_eq!(bars[1].late_events, 1);
}

#[test]
fn five_hundred_ms_bars_with_aggregate_trades() {
    let mut r = Rig::new(&config(&[500, 1_000]));
    let a = |t, p, q, s, n| agg(T0 + t, p, q, s, n);
    for x in [
        a(0, 10, 1, Side::Buy, 3),
        a(499, 12, 2, Side::Sell, 1),
        a(500, 11, 3, Side::Buy, 2),
        a(999, 9, 4, Side::Buy, 1),
    ] {
        r.f.on_agg_trade(&x, &mut r.out);
    }
    r.time(T0 + 1_000);
    let half = r.bars(500);
    let full = r.bars(1_000);
    assert_eq!((half.len(), full.len()), (2, 1));
    assert_eq!(
        (half[0].open, half[0].close, half[0].raw_trade_count),
        (px(10), px(12), 4)
    );
    assert_eq!(
        (half[1].high, half[1].low, half[1].raw_trade_count),
        (px(11), px(9), 3)
    );
    assert_eq!(half[0].taker_buy_volume.0, 100_000);
    assert_eq!(
        half[0].taker_buy_quote_volume.0,
        10 * 10i128.pow(8) * 100_000
    );
    assert_eq!(full[0].trade_count, 4);
    assert_eq!(full[0].vol_total.0, 1_000_000);
    assert_eq!(
        (full[0].open, full[0].high, full[0].low, full[0].close),
        (px(10), px(12), px(9), px(9))
    );
    // Bars closing together: the 500 ms one first.
    let order: Vec<i64> = r
        .out
        .0
        .iter()
        .filter_map(|o| match o {
            Out::Bar(b) => Some(b.resolution_ms),
            Out::Features(_) => None,
        })
        .collect();
    assert_eq!(order, [500, 500, 1_000]);
    // 1 s realized vol from 100 ms closes: 10 at 100..400, 12 at 500, 11 at 600..900, 9 at 1000.
    let rets = [
        0.0,
        0.0,
        0.0,
        (12f64 / 10.0).ln(),
        (11f64 / 12.0).ln(),
        0.0,
        0.0,
        0.0,
        (9f64 / 11.0).ln(),
    ];
    let m = rets.iter().sum::<f64>() / 9.0;
    let sd = (rets.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 8.0).sqrt();
    assert!(
        (full[0].realized_vol - sd * 3.0).abs() < 1e-12,
        "{}",
        full[0].realized_vol
    );
}

#[test]
fn timers_close_bars_after_the_grace_period() {
    let cfg = FeatureConfig {
        bar_resolutions_ms: vec![1_000],
        timer_grace_ms: 300,
        ..FeatureConfig::default()
    };
    let mut r = Rig::new(&cfg);
    r.f.on_timer(T0, &mut r.out); // before the symbol started: ignored
    assert_eq!(r.f.clock_ms(), None);
    r.trade(trade(T0 + 100, 50, 1, Side::Buy));
    r.f.on_timer(T0 + 1_299, &mut r.out);
    assert!(r.bars(1_000).is_empty(), "within the grace period");
    r.f.on_timer(T0 + 1_300, &mut r.out);
    assert_eq!(r.bars(1_000).len(), 1);
    r.f.on_timer(T0 + 3_300, &mut r.out);
    assert_eq!(r.bars(1_000).len(), 3);
    assert_eq!(r.f.counters().timer_closed_bars, 3);
    // A trade for the closed bar [T0+2000, T0+3000) arrives late: it lands in the open bar.
    r.trade(trade(T0 + 2_900, 51, 1, Side::Sell));
    r.time(T0 + 4_000);
    let bars = r.bars(1_000);
    assert_eq!(bars.len(), 4);
    let last = bars[3];
    assert_eq!(
        (last.timestamp_ms, last.trade_count, last.late_events),
        (T0 + 3_000, 1, 1)
    );
    assert_eq!(r.f.counters().late_events, 1);
    // Replaying the same calls closes the same bars at the same places.
    let mut again = Rig::new(&cfg);
    again.f.on_timer(T0, &mut again.out);
    again.trade(trade(T0 + 100, 50, 1, Side::Buy));
    for t in [T0 + 1_299, T0 + 1_300, T0 + 3_300] {
        again.f.on_timer(t, &mut again.out);
    }
    again.trade(trade(T0 + 2_900, 51, 1, Side::Sell));
    again.time(T0 + 4_000);
    // (Compared through their digests: NaN fields are not `==` to themselves.)
    let digest = |outs: &[Out]| {
        let mut d = FeatureDigest::new();
        for o in outs {
            match o {
                Out::Features(f) => d.event_features(SYMBOL, f),
                Out::Bar(b) => d.bar(SYMBOL, b),
            }
        }
        d
    };
    assert_eq!(digest(&again.out.0), digest(&r.out.0));
    assert_eq!(digest(&r.out.0).bar_count(), 4);
}

#[test]
fn late_event_within_the_open_bar_is_not_late_for_it() {
    let mut r = Rig::new(&config(&[100, 60_000]));
    r.trade(trade(T0 + 550, 10, 1, Side::Buy));
    r.time(T0 + 820);
    r.trade(trade(T0 + 610, 11, 1, Side::Buy)); // older than the open 100 ms period [800, 900)
    r.time(T0 + 60_000);
    let minute = r.bars(60_000)[0];
    assert_eq!((minute.trade_count, minute.late_events), (2, 0));
    let tenth: Vec<Bar> = r
        .bars(100)
        .into_iter()
        .filter(|b| b.trade_count > 0)
        .collect();
    assert_eq!(tenth.len(), 2);
    assert_eq!((tenth[1].timestamp_ms, tenth[1].late_events), (T0 + 800, 1));
}

#[test]
fn auto_source_takes_the_first_stream_and_ignores_the_other() {
    let mut r = Rig::new(&config(&[1_000]));
    r.f.on_agg_trade(&agg(T0, 10, 3, Side::Buy, 2), &mut r.out);
    r.trade(trade(T0, 10, 1, Side::Buy));
    r.trade(trade(T0, 10, 2, Side::Buy));
    assert_eq!(r.f.trade_source(), TradeSource::AggTrade);
    assert_eq!(r.f.counters().ignored_trades, 2);
    assert_eq!(r.last_features().cvd.0, 300_000);
    assert_eq!(r.last_features().trade_intensity_1s, 1);
    r.time(T0 + 1_000);
    let b = r.bars(1_000)[0];
    assert_eq!(
        (b.trade_count, b.raw_trade_count, b.vol_total.0),
        (1, 2, 300_000)
    );

    let cfg = FeatureConfig {
        trade_source: TradeSource::Trade,
        ..config(&[1_000])
    };
    let mut r = Rig::new(&cfg);
    r.f.on_agg_trade(&agg(T0, 10, 3, Side::Buy, 2), &mut r.out);
    r.trade(trade(T0, 10, 1, Side::Buy));
    assert_eq!(r.f.counters().ignored_trades, 1);
    assert_eq!(r.last_features().cvd.0, 100_000);
}

#[test]
fn windows_large_trades_mark_open_interest_and_liquidations() {
    let mut r = Rig::new(&config(&[1_000]));
    r.book(T0, (100, 1), (101, 3));
    // Microprice: (100*3 + 101*1) / 4 = 100.25.
    assert_eq!(r.last_features().microprice, 100.25);
    assert_eq!(r.last_features().l1_imbalance, 0.25);
    r.trade(trade(T0 + 10, 100, 10, Side::Buy));
    assert!(!r.last_features().large_trade, "no earlier trade");
    r.trade(trade(T0 + 20, 100, 20, Side::Sell));
    assert!(!r.last_features().large_trade, "20 is not > 2 x 10");
    r.trade(trade(T0 + 30, 100, 31, Side::Sell));
    assert!(r.last_features().large_trade, "31 > 2 x 15");
    let f = r.last_features();
    assert_eq!((f.trade_intensity_1s, f.trade_intensity_10s), (3, 3));
    assert!((f.buy_pressure_60s - 10.0 / 61.0).abs() < 1e-15);
    assert!((f.microprice_vs_last_bps - 25.0).abs() < 1e-9);
    r.f.on_open_interest(
        &OpenInterest {
            time_ms: T0 + 40,
            open_interest: Qty::from_units(200),
        },
        &mut r.out,
    );
    r.f.on_mark_price(
        &MarkPrice {
            event_time_ms: T0 + 50,
            mark_px: px(101),
            index_px: px(100),
            funding_rate: Qty(10_000),
            ..MarkPrice::default()
        },
        &mut r.out,
    );
    let liq = |side| Liquidation {
        transact_time_ms: T0 + 60,
        filled_qty: Qty::from_units(2),
        side,
        ..Liquidation::default()
    };
    r.f.on_liquidation(&liq(Side::Sell), &mut r.out);
    r.f.on_liquidation(&liq(Side::Sell), &mut r.out);
    r.f.on_liquidation(&liq(Side::Buy), &mut r.out);
    // 1.5 s later the 1 s window is empty, the 10 s one is not.
    r.book(T0 + 1_500, (100, 1), (101, 3));
    let f = r.last_features();
    assert_eq!((f.trade_intensity_1s, f.trade_intensity_5s), (0, 3));
    assert_eq!((f.mark_px, f.index_px), (px(101), px(100)));
    assert!((f.premium - 0.01).abs() < 1e-15);
    r.f.on_open_interest(
        &OpenInterest {
            time_ms: T0 + 1_600,
            open_interest: Qty::from_units(210),
        },
        &mut r.out,
    );
    r.time(T0 + 2_000);
    let bars = r.bars(1_000);
    let b = bars[0];
    assert_eq!(
        (b.large_trade_count, b.large_trade_volume.0),
        (1, 3_100_000)
    );
    assert_eq!(
        (b.liq_long_vol.0, b.liq_short_vol.0),
        (400_000_000, 200_000_000)
    );
    assert_eq!(b.open_interest, Qty::from_units(200));
    assert!(
        b.oi_change_pct.is_nan(),
        "no open interest when the bar opened"
    );
    assert!((bars[1].oi_change_pct - 5.0).abs() < 1e-12);
    assert_eq!(bars[1].funding_rate, Qty(10_000));
}

#[test]
fn out_of_sync_book_reads_as_empty() {
    let mut r = Rig::new(&config(&[1_000]));
    r.book(T0, (100, 1), (101, 3));
    r.book.synced = false;
    r.f.on_book_update(&r.book, T0 + 5, &mut r.out);
    let f = r.last_features();
    assert!(!f.synced && f.best_bid.is_undef() && f.spread.is_undef());
    assert!(f.mid.is_nan() && f.l1_imbalance.is_nan() && f.imbalance_20.is_nan());
    assert_eq!((f.bid_vol_20, f.ask_qty_1), (Qty::ZERO, Qty::ZERO));
}

#[test]
fn dispatcher_times_book_updates_with_their_depth_header() {
    let mut r = Rig::new(&config(&[1_000]));
    let header = orderflow_core::DepthDiff {
        transact_time_ms: T0 + 7,
        event_time_ms: T0 + 9,
        ..Default::default()
    };
    let ev = |body| Event::new(0, SYMBOL, body);
    r.book.synced = true;
    r.f.on_event(
        &ev(Body::DepthDiff(header)),
        &r.book,
        BookChange::Unchanged,
        &mut r.out,
    );
    r.book.bids.insert(px(100).0, 1);
    r.book.asks.insert(px(101).0, 1);
    let level = orderflow_core::Level::default();
    r.f.on_event(
        &ev(Body::Level(level)),
        &r.book,
        BookChange::Updated,
        &mut r.out,
    );
    assert_eq!(r.last_features().time_ms, T0 + 7);
    let ticker = BookTicker {
        transact_time_ms: T0 + 1_000,
        ..BookTicker::default()
    };
    r.f.on_event(
        &ev(Body::BookTicker(ticker)),
        &r.book,
        BookChange::Unchanged,
        &mut r.out,
    );
    assert_eq!(r.bars(1_000).len(), 1);
}

#[test]
fn huge_clock_jump_restarts_the_grid() {
    let cfg = FeatureConfig {
        max_gap_fill_ms: 10_000,
        ..config(&[1_000])
    };
    let mut r = Rig::new(&cfg);
    r.trade(trade(T0, 10, 1, Side::Buy));
    r.time(T0 + 5_000);
    assert_eq!(r.bars(1_000).len(), 5);
    r.trade(trade(T0 + 1_000_000_000, 11, 1, Side::Buy));
    assert_eq!(r.f.counters().grid_restarts, 1);
    r.time(T0 + 1_000_001_000);
    let bars = r.bars(1_000);
    assert_eq!(bars.len(), 6);
    assert_eq!(
        (bars[5].timestamp_ms, bars[5].open, bars[5].close),
        (T0 + 1_000_000_000, px(11), px(11))
    );
}

#[test]
fn invalid_config_is_an_error() {
    let cfg = config(&[150]);
    assert_eq!(
        SymbolFeatures::try_new(SYMBOL, &cfg).err(),
        Some(ConfigError::BadResolution(150))
    );
}

#[test]
fn memory_is_fixed_and_documented() {
    let f = SymbolFeatures::new(SYMBOL, &FeatureConfig::default());
    let kib = f.heap_bytes() / 1024;
    assert_eq!(kib, 470, "update the docs of `symbol.rs` and the README");
}

/// `open_bar` reads the bar that closing would emit: right before the record that closes a bar,
/// the open bar agrees with the closed one in every accumulated field (only what depends on how
/// far time has run, the time weights and the sub-bar statistics, may still move).
#[test]
fn open_bar_is_the_bar_closing_would_emit() {
    let recs = common::generate(common::GenConfig {
        seed: 17,
        start_ms: MIDNIGHT_MS - 3 * 60_000,
        duration_ms: 8 * 60_000,
        streams: common::Streams::Agg,
        max_step_ms: 300,
    });
    let config = FeatureConfig::default();
    let mut f = SymbolFeatures::new(SYMBOL, &config);
    let mut book = TestBook::default();
    let mut out = Collect::default();
    assert!(f.open_bar(60_000).is_none() && f.open_bar(700).is_none());
    let blank = |mut b: Bar| {
        b.tw_spread = 0.0;
        (b.imbalance_5, b.imbalance_10, b.imbalance_20) = (0.0, 0.0, 0.0);
        (b.realized_vol, b.volume_cv) = (0.0, 0.0);
        format!("{b:?}")
    };
    let mut compared = 0;
    for r in &recs {
        let open: Vec<Option<Bar>> = config
            .bar_resolutions_ms
            .iter()
            .map(|&res| f.open_bar(res))
            .collect();
        let before = out.0.len();
        book.apply_event(&r.event);
        f.on_event(&r.event, &book, r.change, &mut out);
        for o in &out.0[before..] {
            let Out::Bar(closed) = o else { continue };
            let k = config
                .bar_resolutions_ms
                .iter()
                .position(|&res| res == closed.resolution_ms)
                .unwrap();
            let Some(open) = open[k] else { continue };
            if open.timestamp_ms == closed.timestamp_ms {
                assert_eq!(
                    blank(open),
                    blank(*closed),
                    "bar at {}",
                    closed.timestamp_ms
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 400, "{compared} bars compared");
}
