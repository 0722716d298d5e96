//! The fast path against a slow, obviously correct model (STYLE.md section 6) on synthetic
//! streams: the model is `common/model.rs`, its book a `BTreeMap` book.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    reason = "test model"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

mod common;

use common::model::{Model, compare_outputs};
use common::{Collect, GenConfig, MIDNIGHT_MS, Out, Rec, Streams, generate, run};
use orderflow_core::Body;
use orderflow_features::{
    Bar, EventFeatures, FeatureConfig, FeatureDigest, FeatureTrigger, TradeSource,
};

fn check(stream: GenConfig, config: &FeatureConfig) -> Checked {
    let recs = generate(stream);
    let mut sink = Collect::default();
    let features = run(&recs, config, &mut sink);
    let model = Model::new(&recs, config);
    let (events, bars) = compare_outputs(&model, &sink.0, config, &format!("seed {}", stream.seed));
    assert_eq!(features.counters().bars_emitted, bars as u64);
    Checked {
        events,
        bars,
        counters: *features.counters(),
        outputs: sink.0,
    }
}

struct Checked {
    events: usize,
    bars: usize,
    counters: orderflow_features::FeatureCounters,
    outputs: Vec<Out>,
}

impl Checked {
    fn bars(&self) -> impl Iterator<Item = &Bar> {
        self.outputs.iter().filter_map(|o| match o {
            Out::Bar(b) => Some(b),
            Out::Features(_) => None,
        })
    }
    fn events(&self) -> impl Iterator<Item = &EventFeatures> {
        self.outputs.iter().filter_map(|o| match o {
            Out::Features(f) => Some(f),
            Out::Bar(_) => None,
        })
    }
}

fn stream(seed: u64, streams: Streams, duration_ms: i64) -> GenConfig {
    GenConfig {
        seed,
        start_ms: MIDNIGHT_MS - 50 * 60_000 + 1_234,
        duration_ms,
        streams,
        max_step_ms: 400,
    }
}

/// 2 h 20 min across 00:00 UTC: a full 1 h bar, 1 min bars, 500 ms and 1 s bars, the CVD
/// reset, gaps with and without timers, late trades, book gaps and resyncs.
#[test]
fn matches_reference_across_midnight_with_trade_stream() {
    let run = check(
        stream(7, Streams::Trade, 140 * 60_000),
        &FeatureConfig::default(),
    );
    // The stream exercises what it claims to.
    let c = run.counters;
    println!("{} events, {} bars, {c:?}", run.events, run.bars);
    assert!(run.events > 20_000 && run.bars > 20_000);
    assert!(c.late_events > 100 && c.gap_bars > 1_000 && c.timer_closed_bars > 100);
    assert!(c.trades_outside_windows > 0 && c.untimed_events == 0);
    let hours: Vec<&Bar> = run
        .bars()
        .filter(|b| b.resolution_ms == 3_600_000)
        .collect();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[1].timestamp_ms, MIDNIGHT_MS);
    assert!(
        hours[1].synced
            == run
                .bars()
                .filter(|b| b.resolution_ms == 60_000
                    && b.timestamp_ms >= MIDNIGHT_MS
                    && b.timestamp_ms < MIDNIGHT_MS + 3_600_000)
                .all(|b| b.synced)
    );
    assert!(hours[1].realized_vol > 0.0 && hours[1].volume_cv > 0.0);
    assert!(run.bars().any(|b| !b.synced) && run.bars().any(|b| b.synced));
    assert!(run.bars().any(|b| b.late_events > 0) && run.bars().any(|b| b.large_trade_count > 0));
    assert!(run.events().any(|f| f.large_trade) && run.events().any(|f| !f.synced));
    assert!(
        run.events().any(|f| f.spread_bps.is_nan())
            && run.events().any(|f| f.bid_vol_20 != f.bid_vol_10)
    );
    // The CVD resets: the first trade after midnight starts from its own quantity.
    let first_after = run
        .events()
        .find(|f| {
            f.clock_ms >= MIDNIGHT_MS
                && f.trigger == FeatureTrigger::Trade
                && f.time_ms >= MIDNIGHT_MS
        })
        .unwrap();
    assert!(
        first_after.cvd.0.abs() <= 20_000 * 100_000,
        "{:?}",
        first_after.cvd
    );
}

#[test]
fn matches_reference_with_agg_trades_and_other_buckets() {
    let config = FeatureConfig {
        bar_resolutions_ms: vec![60_000, 100, 1_500, 300_000],
        buy_pressure_bucket_ms: 1,
        large_trade_bucket_ms: 1_000,
        timer_grace_ms: 250,
        ..FeatureConfig::default()
    };
    check(stream(11, Streams::Agg, 25 * 60_000), &config);
}

#[test]
fn matches_reference_when_both_streams_arrive() {
    for (seed, source) in [
        (3, TradeSource::Auto),
        (4, TradeSource::Trade),
        (5, TradeSource::AggTrade),
    ] {
        let config = FeatureConfig {
            trade_source: source,
            ..FeatureConfig::default()
        };
        check(stream(seed, Streams::Both, 12 * 60_000), &config);
    }
}

/// Replay gives the same digest; a changed input changes it.
#[test]
fn digest_is_stable_and_sensitive() {
    let recs = generate(stream(21, Streams::Trade, 10 * 60_000));
    let config = FeatureConfig::default();
    let digest = |recs: &[Rec]| {
        let mut d = FeatureDigest::new();
        run(recs, &config, &mut d);
        d
    };
    let a = digest(&recs);
    let b = digest(&recs);
    assert_eq!(a, b);
    assert!(a.event_count() > 1_000 && a.bar_count() > 1_000);

    let mut changed = recs.clone();
    let k = changed
        .iter()
        .position(|r| matches!(r.event.body, Body::Trade(_)))
        .unwrap()
        + 500;
    let k = k + changed[k..]
        .iter()
        .position(|r| matches!(r.event.body, Body::Trade(_)))
        .unwrap();
    if let Body::Trade(t) = &mut changed[k].event.body {
        t.qty.0 += 1;
    }
    assert_ne!(digest(&changed).value(), a.value());
}
