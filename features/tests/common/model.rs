//! The slow reference model of the features (STYLE.md section 6), shared by the synthetic
//! tests (`reference.rs`) and the real-recording tests (`real_data.rs`).
//!
//! The model keeps every input record and recomputes each per-event feature and each bar from
//! the definitions in the crate docs with plain loops over past records: book features from the
//! book's top 20 levels after each update (a `BTreeMap` book, or the states a real pipeline
//! reported), trailing windows by scanning past trades, bars by partitioning the records at the
//! clock thresholds that close them. Integer outputs must match exactly, floats within 1e-9
//! relative (relative to a stated scale where a value is a difference of larger terms).
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

use std::collections::BTreeMap;

use orderflow_core::{Body, BookSide, MarkPrice, Px, Qty, Side, UNDEF_TIME};
use orderflow_features::{
    Bar, BookChange, EventFeatures, FeatureConfig, FeatureTrigger, TradeSource,
};

use super::{Out, Rec, TestBook};

const DAY_MS: i64 = 86_400_000;

/// A book as the model sees it after an update: top 20 levels, best first (empty when not in
/// sync, which is how the features define an out-of-sync book).
#[derive(Clone, Debug)]
pub struct Snap {
    pub synced: bool,
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
}

impl Snap {
    pub const NONE: Self = Self {
        synced: false,
        bids: Vec::new(),
        asks: Vec::new(),
    };
    fn valid(&self) -> bool {
        self.synced && !self.bids.is_empty() && !self.asks.is_empty()
    }
    fn spread(&self) -> i64 {
        self.asks[0].0 - self.bids[0].0
    }
    fn vol(side: &[(i64, i64)], n: usize) -> i64 {
        side.iter().take(n).map(|l| l.1).sum()
    }
    fn imbalance(&self, n: usize) -> f64 {
        let (b, a) = (
            Self::vol(&self.bids, n) as f64,
            Self::vol(&self.asks, n) as f64,
        );
        (b - a) / (b + a)
    }
    /// Exact least squares in integers; returns (slope, scale of the cancelling terms).
    fn slope(side: &[(i64, i64)]) -> (f64, f64) {
        let n = side.len() as i128;
        if n < 2 {
            return (f64::NAN, 0.0);
        }
        let p0 = side[0].0;
        let (mut sx, mut sy, mut sxy, mut sxx) = (0i128, 0i128, 0i128, 0i128);
        for &(p, q) in side {
            let x = i128::from((p - p0).abs());
            let y = i128::from(q);
            sx += x;
            sy += y;
            sxy += x * y;
            sxx += x * x;
        }
        let den = n * sxx - sx * sx;
        if den <= 0 {
            return (f64::NAN, 0.0);
        }
        let num = n * sxy - sx * sy;
        let scale = ((n * sxy).abs() + (sx * sy).abs()) as f64 / den as f64;
        (num as f64 / den as f64, scale)
    }
}

/// One selected-source trade.
#[derive(Clone, Copy, Debug)]
struct T {
    idx: usize,
    time: i64,
    px: i64,
    qty: i64,
    side: Side,
    raw: u64,
}

/// Sums over the trades whose `T` falls in a bucketed trailing window: the bucket (of `width_ms`)
/// holding the clock and the ones before it, `window_ms / width_ms` in all (the definition in
/// the crate docs). The clock never goes back, so the window only slides forward: a bucket that
/// leaves it never returns, and a trade whose bucket has already left when it arrives is in no
/// window. Plain sums per bucket in a sorted map; nothing shared with the fast path's rings.
struct BucketWindow {
    width_ms: i64,
    len: i64,
    buckets: BTreeMap<i64, [i128; 2]>,
    total: [i128; 2],
    first: i64,
}

impl BucketWindow {
    fn new(width_ms: i64, window_ms: i64) -> Self {
        Self {
            width_ms,
            len: window_ms / width_ms,
            buckets: BTreeMap::new(),
            total: [0; 2],
            first: i64::MIN,
        }
    }

    /// The sums of the window ending at the bucket of `now_ms`.
    fn sums(&mut self, now_ms: i64) -> [i128; 2] {
        self.first = self
            .first
            .max(now_ms.div_euclid(self.width_ms) - self.len + 1);
        while let Some((&bucket, &v)) = self.buckets.first_key_value() {
            if bucket >= self.first {
                break;
            }
            self.buckets.pop_first();
            self.total = [self.total[0] - v[0], self.total[1] - v[1]];
        }
        self.total
    }

    /// A trade at `t_ms` (never after the clock, which is at least every trade time seen).
    fn add(&mut self, t_ms: i64, v: [i128; 2]) {
        let bucket = t_ms.div_euclid(self.width_ms);
        if bucket >= self.first {
            let b = self.buckets.entry(bucket).or_default();
            *b = [b[0] + v[0], b[1] + v[1]];
            self.total = [self.total[0] + v[0], self.total[1] + v[1]];
        }
    }
}

/// The model's view of the whole input.
pub struct Model {
    cfg: FeatureConfig,
    recs: Vec<Rec>,
    /// Clock after each record (`None` before the first timed record).
    now: Vec<Option<i64>>,
    start: i64,
    /// Book snapshot after each record that updated the book.
    snaps: Vec<Option<Snap>>,
    /// Time of each book update (the pending depth header's time, or the record's own).
    book_time: Vec<i64>,
    /// Effective time of each book update: max(previous, T, start of its 100 ms period).
    book_te: Vec<i64>,
    trades: Vec<T>,
    /// `large[k]` for `trades[k]`.
    large: Vec<bool>,
    /// Index into `trades` of the first trade at record >= i.
    trade_at: Vec<usize>,
    /// Index of the last record before `i` that updated the book.
    snap_before: Vec<Option<usize>>,
    /// The last mark price among the records before `i`.
    mark_before: Vec<Option<MarkPrice>>,
    /// The last open interest among the records before `i` ([`Qty::UNDEF`] if none).
    oi_before: Vec<Qty>,
}

fn floor_to(t: i64, unit: i64) -> i64 {
    t - t.rem_euclid(unit)
}

fn own_time(body: &Body) -> Option<i64> {
    match body {
        Body::Level(_) | Body::Timer(_) => None,
        b => {
            let t = b.exchange_time_ms();
            (t != UNDEF_TIME).then_some(t)
        }
    }
}

impl Model {
    /// The model of `recs`, with the book states of a [`TestBook`] fed the same records.
    pub fn new(recs: &[Rec], cfg: &FeatureConfig) -> Self {
        Self::build(recs, cfg, None)
    }

    /// The model of `recs`, with the book state after each record given by `books` (one entry
    /// per record, `Some` exactly for the records that updated the book). A state that is not
    /// in sync must be given empty: that is how the features read it.
    pub fn with_books(recs: &[Rec], cfg: &FeatureConfig, books: &[Option<Snap>]) -> Self {
        assert_eq!(recs.len(), books.len());
        Self::build(recs, cfg, Some(books))
    }

    #[allow(clippy::too_many_lines, reason = "one pass over the records")]
    fn build(recs: &[Rec], cfg: &FeatureConfig, books: Option<&[Option<Snap>]>) -> Self {
        let n = recs.len();
        let mut now: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut clock: Option<i64> = None;
        let mut start = None;
        let mut book = TestBook::default();
        let mut snaps = vec![None; n];
        let mut book_time = vec![UNDEF_TIME; n];
        let mut book_te = vec![i64::MIN; n];
        let mut pending = UNDEF_TIME;
        let mut te_prev = i64::MIN;
        let mut source = cfg.trade_source;
        let mut trades = Vec::new();
        let mut trade_at = Vec::with_capacity(n + 1);
        let mut snap_before = Vec::with_capacity(n + 1);
        let mut mark_before = Vec::with_capacity(n + 1);
        let mut oi_before = Vec::with_capacity(n + 1);
        let (mut last_snap, mut last_mark, mut last_oi) = (None, None, Qty::UNDEF);
        for (i, r) in recs.iter().enumerate() {
            trade_at.push(trades.len());
            snap_before.push(last_snap);
            mark_before.push(last_mark);
            oi_before.push(last_oi);
            match r.event.body {
                Body::MarkPrice(m) => last_mark = Some(m),
                Body::OpenInterest(o) => last_oi = o.open_interest,
                _ => {}
            }
            if books.is_none() {
                book.apply_event(&r.event);
            }
            let body = &r.event.body;
            let t = match body {
                Body::Timer(tm) => clock.map(|_| tm.now_ms - cfg.timer_grace_ms),
                b => own_time(b),
            };
            if let Some(t) = t {
                if start.is_none() {
                    start = Some(t);
                }
                clock = Some(clock.map_or(t, |c| c.max(t)));
            }
            now.push(clock);
            if matches!(body, Body::DepthDiff(_) | Body::DepthSnapshot(_)) {
                pending = body.exchange_time_ms();
            }
            let kind = match body {
                Body::AggTrade(_) => Some(TradeSource::AggTrade),
                Body::Trade(_) => Some(TradeSource::Trade),
                _ => None,
            };
            if let Some(kind) = kind {
                if source == TradeSource::Auto {
                    source = kind;
                }
                if source == kind {
                    let (time, px, qty, side, raw) = match body {
                        Body::AggTrade(a) => (
                            a.transact_time_ms,
                            a.px.0,
                            a.qty.0,
                            a.aggressor,
                            a.last_trade_id - a.first_trade_id + 1,
                        ),
                        Body::Trade(x) => (x.transact_time_ms, x.px.0, x.qty.0, x.aggressor, 1),
                        _ => unreachable!(),
                    };
                    trades.push(T {
                        idx: i,
                        time,
                        px,
                        qty,
                        side,
                        raw,
                    });
                }
            }
            if let Some(books) = books {
                assert_eq!(
                    books[i].is_some(),
                    r.change == BookChange::Updated,
                    "record {i}: a book state exactly for each book update"
                );
            }
            if r.change == BookChange::Updated {
                let take = |side: BookSide| {
                    if book.synced {
                        book.side(side).into_iter().take(20).collect()
                    } else {
                        Vec::new()
                    }
                };
                snaps[i] = Some(match books {
                    Some(books) => books[i].clone().expect("checked above"),
                    None => Snap {
                        synced: book.synced,
                        bids: take(BookSide::Bid),
                        asks: take(BookSide::Ask),
                    },
                });
                last_snap = Some(i);
                let bt = match body {
                    Body::Level(_) | Body::DepthDiff(_) | Body::DepthSnapshot(_) => pending,
                    b => own_time(b).unwrap_or(pending),
                };
                book_time[i] = bt;
                let c = clock.expect("book update after start");
                te_prev = te_prev.max(bt).max(floor_to(c, 100));
                book_te[i] = te_prev;
            }
        }
        trade_at.push(trades.len());
        snap_before.push(last_snap);
        mark_before.push(last_mark);
        oi_before.push(last_oi);
        let mut m = Self {
            cfg: cfg.clone(),
            recs: recs.to_vec(),
            now,
            start: start.expect("stream has a timed event"),
            snaps,
            book_time,
            book_te,
            trades,
            large: Vec::new(),
            trade_at,
            snap_before,
            mark_before,
            oi_before,
        };
        m.large = m.large_flags();
        m
    }

    fn now_at(&self, i: usize) -> i64 {
        self.now[i].expect("after start")
    }

    /// Trades `j` (indices into `self.trades`) with record index <= i, newest first, stopping
    /// once a trade's clock is older than `horizon_ms` before `now_i` (its `T` is then older
    /// too, because `T <= clock` when it arrived).
    fn recent(&self, i: usize, horizon_ms: i64) -> impl Iterator<Item = &T> {
        let now = self.now_at(i);
        let end = self.trade_at[i + 1];
        self.trades[..end]
            .iter()
            .rev()
            .take_while(move |t| self.now_at(t.idx) >= now - horizon_ms - 1_000)
    }

    /// `large[k]` for every trade: its quantity exceeds twice the mean quantity of the earlier
    /// trades in the 15 min bucket window at the clock when it arrived.
    fn large_flags(&self) -> Vec<bool> {
        let mut window = BucketWindow::new(self.cfg.large_trade_bucket_ms, 900_000);
        self.trades
            .iter()
            .map(|t| {
                let [sum, count] = window.sums(self.now_at(t.idx));
                window.add(t.time, [i128::from(t.qty), 1]);
                count > 0 && i128::from(t.qty) * count > 2 * sum
            })
            .collect()
    }

    fn last_snap(&self, before: usize) -> Snap {
        self.snap_before[before]
            .and_then(|j| self.snaps[j].clone())
            .unwrap_or(Snap::NONE)
    }

    fn last_trade_px(&self, before: usize) -> Px {
        let k = self.trade_at[before];
        if k == 0 {
            Px::UNDEF
        } else {
            Px(self.trades[k - 1].px)
        }
    }

    fn last_mark(&self, before: usize) -> Option<MarkPrice> {
        self.mark_before[before]
    }

    fn last_oi(&self, before: usize) -> Qty {
        self.oi_before[before]
    }

    /// Index of the first record whose clock reaches `x`.
    pub fn c(&self, x: i64) -> usize {
        self.now.partition_point(|n| n.is_none_or(|n| n < x))
    }

    /// Per-event features in emission order, with the slope scales.
    pub fn events(&self) -> Vec<(EventFeatures, [f64; 2])> {
        let mut out = Vec::new();
        let mut cvd_by_day: BTreeMap<i64, i128> = BTreeMap::new();
        let mut pressure = BucketWindow::new(self.cfg.buy_pressure_bucket_ms, 60_000);
        let mut k = 0;
        for i in 0..self.recs.len() {
            let mut trigger = None;
            while k < self.trades.len() && self.trades[k].idx == i {
                let t = self.trades[k];
                let buy = if t.side == Side::Buy { t.qty } else { 0 };
                pressure.sums(self.now_at(i));
                pressure.add(t.time, [i128::from(buy), i128::from(t.qty)]);
                let signed = if t.side == Side::Buy { t.qty } else { -t.qty };
                *cvd_by_day.entry(t.time.div_euclid(DAY_MS)).or_default() += i128::from(signed);
                trigger = Some((FeatureTrigger::Trade, t.time, self.large[k]));
                k += 1;
            }
            if self.recs[i].change == BookChange::Updated {
                trigger = Some((FeatureTrigger::BookUpdate, self.book_time[i], false));
            }
            let Some((trigger, time_ms, large_trade)) = trigger else {
                continue;
            };
            let now = self.now_at(i);
            let snap = self.last_snap(i + 1);
            let mut f = EventFeatures {
                trigger,
                time_ms,
                clock_ms: now,
                synced: snap.synced,
                large_trade,
                ..EventFeatures::default()
            };
            let (bq, aq) = (
                snap.bids.first().map_or(0, |l| l.1),
                snap.asks.first().map_or(0, |l| l.1),
            );
            f.best_bid = snap.bids.first().map_or(Px::UNDEF, |l| Px(l.0));
            f.best_ask = snap.asks.first().map_or(Px::UNDEF, |l| Px(l.0));
            f.bid_qty_1 = Qty(bq);
            f.ask_qty_1 = Qty(aq);
            f.l1_imbalance = bq as f64 / (bq + aq) as f64;
            if snap.valid() {
                let (b, a) = (snap.bids[0].0 as f64 / 1e8, snap.asks[0].0 as f64 / 1e8);
                let mid = (b + a) / 2.0;
                f.mid = mid;
                f.spread = Px(snap.spread());
                f.spread_bps = (a - b) / mid * 1e4;
                f.microprice = (b * aq as f64 + a * bq as f64) / (bq + aq) as f64;
            } else {
                f.mid = f64::NAN;
                f.spread = Px::UNDEF;
                f.spread_bps = f64::NAN;
                f.microprice = f64::NAN;
            }
            f.bid_vol_5 = Qty(Snap::vol(&snap.bids, 5));
            f.ask_vol_5 = Qty(Snap::vol(&snap.asks, 5));
            f.bid_vol_10 = Qty(Snap::vol(&snap.bids, 10));
            f.ask_vol_10 = Qty(Snap::vol(&snap.asks, 10));
            f.bid_vol_20 = Qty(Snap::vol(&snap.bids, 20));
            f.ask_vol_20 = Qty(Snap::vol(&snap.asks, 20));
            f.imbalance_5 = snap.imbalance(5);
            f.imbalance_10 = snap.imbalance(10);
            f.imbalance_20 = snap.imbalance(20);
            let (bs, bscale) = Snap::slope(&snap.bids);
            let (asl, ascale) = Snap::slope(&snap.asks);
            f.bid_slope = bs;
            f.ask_slope = asl;
            f.last_trade_px = self.last_trade_px(i + 1);
            f.microprice_vs_last_bps = if f.last_trade_px.is_undef() {
                f64::NAN
            } else {
                let last = f.last_trade_px.0 as f64 / 1e8;
                (f.microprice - last) / last * 1e4
            };
            f.cvd = orderflow_features::QtySum(
                cvd_by_day
                    .get(&now.div_euclid(DAY_MS))
                    .copied()
                    .unwrap_or(0),
            );
            let count = |w: i64| {
                self.recent(i, w)
                    .filter(|t| t.time > now - w && t.time <= now)
                    .count() as u32
            };
            f.trade_intensity_1s = count(1_000);
            f.trade_intensity_5s = count(5_000);
            f.trade_intensity_10s = count(10_000);
            let [buy, total] = pressure.sums(now);
            f.buy_pressure_60s = if total > 0 {
                buy as f64 / total as f64
            } else {
                f64::NAN
            };
            match self.last_mark(i + 1) {
                Some(m) => {
                    f.mark_px = m.mark_px;
                    f.index_px = m.index_px;
                    f.funding_rate = m.funding_rate;
                    f.premium = (m.mark_px.0 - m.index_px.0) as f64 / m.index_px.0 as f64;
                }
                None => {
                    f.mark_px = Px::UNDEF;
                    f.index_px = Px::UNDEF;
                    f.premium = f64::NAN;
                }
            }
            out.push((f, [bscale, ascale]));
        }
        out
    }

    /// Every bar of resolution `r` the run must have closed, with the number of per-event
    /// outputs emitted before it.
    pub fn bars(&self, r: i64) -> Vec<(Bar, [f64; 2])> {
        let final_now = self.now.iter().rev().find_map(|n| *n).expect("started");
        let sub = if r >= 3_600_000 && r % 60_000 == 0 {
            60_000
        } else if r >= 60_000 && r % 1_000 == 0 {
            1_000
        } else {
            100
        };
        let mut bars = Vec::new();
        let mut s = floor_to(self.start, r);
        // CVD per UTC day of `T`, over the trades before each bar's closing record.
        let mut cvd_by_day: BTreeMap<i64, i128> = BTreeMap::new();
        let mut k = 0;
        while s + r <= final_now {
            let e = s + r;
            let (mut bar, scales) = self.bar(s, r, sub);
            while k < self.trade_at[self.c(e)] {
                let t = self.trades[k];
                let signed = if t.side == Side::Buy { t.qty } else { -t.qty };
                *cvd_by_day.entry(t.time.div_euclid(DAY_MS)).or_default() += i128::from(signed);
                k += 1;
            }
            bar.cvd.0 = cvd_by_day
                .get(&(e - 1).div_euclid(DAY_MS))
                .copied()
                .unwrap_or(0);
            bars.push((bar, scales));
            s += r;
        }
        bars
    }

    #[allow(clippy::too_many_lines, reason = "one definition per field, in order")]
    fn bar(&self, s: i64, r: i64, sub: i64) -> (Bar, [f64; 2]) {
        let e = s + r;
        let (lo, hi) = (self.c(s), self.c(e));
        let range = lo..hi;
        let trades: Vec<(T, bool)> = (self.trade_at[lo]..self.trade_at[hi])
            .map(|k| (self.trades[k], self.large[k]))
            .collect();
        let prev_close = self.last_trade_px(lo);
        let mut b = Bar {
            resolution_ms: r,
            timestamp_ms: s,
            ..Bar::default()
        };
        if trades.is_empty() {
            (b.open, b.high, b.low, b.close) = (prev_close, prev_close, prev_close, prev_close);
        } else {
            b.open = Px(trades[0].0.px);
            b.close = Px(trades[trades.len() - 1].0.px);
            b.high = Px(trades.iter().map(|t| t.0.px).max().unwrap());
            b.low = Px(trades.iter().map(|t| t.0.px).min().unwrap());
        }
        let (mut vb, mut vs, mut quote, mut quote_buy) = (0i128, 0i128, 0i128, 0i128);
        for (t, large) in &trades {
            let q = i128::from(t.qty);
            let n = i128::from(t.px) * q;
            quote += n;
            if t.side == Side::Buy {
                vb += q;
                quote_buy += n;
            } else {
                vs += q;
            }
            b.raw_trade_count += t.raw;
            if *large {
                b.large_trade_count += 1;
                b.large_trade_volume.0 += q;
            }
        }
        b.trade_count = trades.len() as u64;
        let vol = vb + vs;
        b.vwap = if vol > 0 {
            quote as f64 / 1e16 / (vol as f64 / 1e8)
        } else if b.close.is_undef() {
            f64::NAN
        } else {
            b.close.0 as f64 / 1e8
        };
        b.vol_total.0 = vol;
        b.vol_buy.0 = vb;
        b.vol_sell.0 = vs;
        b.vol_delta.0 = vb - vs;
        b.quote_volume.0 = quote;
        b.taker_buy_volume.0 = vb;
        b.taker_buy_quote_volume.0 = quote_buy;
        b.buy_pressure = if vol > 0 {
            vb as f64 / vol as f64
        } else {
            f64::NAN
        };

        // Book statistics: updates in the range, states weighted by how long they held.
        let before = self.last_snap(lo);
        b.synced = before.synced;
        let mut spreads = Vec::new();
        let (mut bq, mut aq) = (0i128, 0i128);
        let (mut tw_ms, mut tw_spread, mut tw_imb) = (0i64, 0i128, [0.0f64; 3]);
        let mut state = before;
        let mut since = s;
        let mut weigh = |st: &Snap, from: i64, to: i64| {
            if st.valid() && to > from {
                let dt = to - from;
                tw_ms += dt;
                tw_spread += i128::from(st.spread()) * i128::from(dt);
                for (k, n) in [5, 10, 20].into_iter().enumerate() {
                    tw_imb[k] += st.imbalance(n) * dt as f64;
                }
            }
        };
        for i in range.clone() {
            let Some(snap) = &self.snaps[i] else { continue };
            b.book_updates += 1;
            weigh(&state, since, self.book_te[i]);
            since = self.book_te[i];
            b.synced &= snap.synced;
            if snap.valid() {
                spreads.push(snap.spread());
                bq += i128::from(snap.bids[0].1);
                aq += i128::from(snap.asks[0].1);
            }
            state = snap.clone();
        }
        weigh(&state, since, e);
        let n = spreads.len() as f64;
        if spreads.is_empty() {
            (b.avg_spread, b.avg_bid_qty, b.avg_ask_qty) = (f64::NAN, f64::NAN, f64::NAN);
        } else {
            b.avg_spread = spreads.iter().map(|&x| i128::from(x)).sum::<i128>() as f64 / n / 1e8;
            b.avg_bid_qty = bq as f64 / n / 1e8;
            b.avg_ask_qty = aq as f64 / n / 1e8;
        }
        b.spread_std = if spreads.len() >= 2 {
            // Exact: Σ (n s_i - Σs)² / (n² (n - 1)).
            let nn = spreads.len() as i128;
            let total: i128 = spreads.iter().map(|&x| i128::from(x)).sum();
            let ss: i128 = spreads
                .iter()
                .map(|&x| (nn * i128::from(x) - total).pow(2))
                .sum();
            (ss as f64 / (nn * nn * (nn - 1)) as f64).sqrt() / 1e8
        } else {
            f64::NAN
        };
        if tw_ms > 0 {
            b.tw_spread = tw_spread as f64 / tw_ms as f64 / 1e8;
            [b.imbalance_5, b.imbalance_10, b.imbalance_20] = tw_imb.map(|x| x / tw_ms as f64);
        } else {
            b.tw_spread = f64::NAN;
            (b.imbalance_5, b.imbalance_10, b.imbalance_20) = (f64::NAN, f64::NAN, f64::NAN);
        }
        let (bid_slope, bid_scale) = Snap::slope(&state.bids);
        let (ask_slope, ask_scale) = Snap::slope(&state.asks);
        b.bid_slope = bid_slope;
        b.ask_slope = ask_slope;

        // Sub-bars: boundaries in (s, e] after the start.
        let mut returns = Vec::new();
        let mut volumes = Vec::new();
        let mut x = s + sub;
        while x <= e {
            if x > self.start {
                let c_now = self.last_trade_px(self.c(x));
                if x - sub > self.start {
                    let c_prev = self.last_trade_px(self.c(x - sub));
                    if !c_now.is_undef() && !c_prev.is_undef() {
                        returns.push((c_now.0 as f64 / c_prev.0 as f64).ln());
                    }
                }
                let v: i128 = self.trades[self.trade_at[self.c(x - sub)]..self.trade_at[self.c(x)]]
                    .iter()
                    .map(|t| i128::from(t.qty))
                    .sum();
                volumes.push(v as f64 / 1e8);
            }
            x += sub;
        }
        let std = |xs: &[f64]| {
            if xs.len() < 2 {
                return f64::NAN;
            }
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
        };
        b.realized_vol = std(&returns) * (returns.len() as f64).sqrt();
        let mean = volumes.iter().sum::<f64>() / volumes.len() as f64;
        b.volume_cv = if mean > 0.0 {
            std(&volumes) / mean
        } else {
            f64::NAN
        };

        match self.last_mark(hi) {
            Some(m) => {
                b.mark_px = m.mark_px;
                b.index_px = m.index_px;
                b.funding_rate = m.funding_rate;
                b.premium = (m.mark_px.0 - m.index_px.0) as f64 / m.index_px.0 as f64;
            }
            None => {
                (b.mark_px, b.index_px) = (Px::UNDEF, Px::UNDEF);
                b.premium = f64::NAN;
            }
        }
        b.open_interest = self.last_oi(hi);
        let oi_open = self.last_oi(lo);
        b.oi_change_pct = if b.open_interest.is_undef() || oi_open.is_undef() || oi_open.0 == 0 {
            f64::NAN
        } else {
            (b.open_interest.0 - oi_open.0) as f64 / oi_open.0 as f64 * 100.0
        };
        for i in range {
            let r = &self.recs[i];
            let late_time = match r.event.body {
                Body::Liquidation(l) => {
                    let q = i128::from(l.filled_qty.0);
                    match l.side {
                        Side::Sell => b.liq_long_vol.0 += q,
                        Side::Buy => b.liq_short_vol.0 += q,
                    }
                    Some(l.transact_time_ms)
                }
                _ if r.change == BookChange::Updated => Some(self.book_time[i]),
                _ => None,
            };
            if late_time.is_some_and(|t| t < s) {
                b.late_events += 1;
            }
        }
        b.late_events += trades.iter().filter(|(t, _)| t.time < s).count() as u64;
        (b, [bid_scale, ask_scale])
    }
}

pub fn approx(ctx: &str, name: &str, fast: f64, reference: f64, scale: f64) {
    if fast.is_nan() && reference.is_nan() {
        return;
    }
    let tol = 1e-9 * reference.abs().max(scale);
    assert!(
        (fast - reference).abs() <= tol,
        "{ctx}: {name} fast {fast:e} reference {reference:e}"
    );
}

pub fn compare_event(ctx: &str, f: &EventFeatures, r: &EventFeatures, slope_scale: [f64; 2]) {
    let exact = |name: &str, a: i128, b: i128| assert_eq!(a, b, "{ctx}: {name}");
    assert_eq!(f.trigger, r.trigger, "{ctx}: trigger");
    assert_eq!(f.synced, r.synced, "{ctx}: synced");
    assert_eq!(f.large_trade, r.large_trade, "{ctx}: large_trade");
    for (name, a, b) in [
        ("time_ms", f.time_ms, r.time_ms),
        ("clock_ms", f.clock_ms, r.clock_ms),
        ("best_bid", f.best_bid.0, r.best_bid.0),
        ("best_ask", f.best_ask.0, r.best_ask.0),
        ("bid_qty_1", f.bid_qty_1.0, r.bid_qty_1.0),
        ("ask_qty_1", f.ask_qty_1.0, r.ask_qty_1.0),
        ("spread", f.spread.0, r.spread.0),
        ("bid_vol_5", f.bid_vol_5.0, r.bid_vol_5.0),
        ("ask_vol_5", f.ask_vol_5.0, r.ask_vol_5.0),
        ("bid_vol_10", f.bid_vol_10.0, r.bid_vol_10.0),
        ("ask_vol_10", f.ask_vol_10.0, r.ask_vol_10.0),
        ("bid_vol_20", f.bid_vol_20.0, r.bid_vol_20.0),
        ("ask_vol_20", f.ask_vol_20.0, r.ask_vol_20.0),
        ("last_trade_px", f.last_trade_px.0, r.last_trade_px.0),
        ("mark_px", f.mark_px.0, r.mark_px.0),
        ("index_px", f.index_px.0, r.index_px.0),
        ("funding_rate", f.funding_rate.0, r.funding_rate.0),
        (
            "trade_intensity_1s",
            f.trade_intensity_1s.into(),
            r.trade_intensity_1s.into(),
        ),
        (
            "trade_intensity_5s",
            f.trade_intensity_5s.into(),
            r.trade_intensity_5s.into(),
        ),
        (
            "trade_intensity_10s",
            f.trade_intensity_10s.into(),
            r.trade_intensity_10s.into(),
        ),
    ] {
        exact(name, a.into(), b.into());
    }
    exact("cvd", f.cvd.0, r.cvd.0);
    // Both sides compute the slope as one division of exact integers, each rounded once.
    for (name, a, b) in [
        ("bid_slope", f.bid_slope, r.bid_slope),
        ("ask_slope", f.ask_slope, r.ask_slope),
    ] {
        assert_eq!(a.to_bits(), b.to_bits(), "{ctx}: {name}: {a} vs {b}");
    }
    for (name, a, b, scale) in [
        ("mid", f.mid, r.mid, 0.0),
        ("spread_bps", f.spread_bps, r.spread_bps, 0.0),
        ("microprice", f.microprice, r.microprice, 0.0),
        ("l1_imbalance", f.l1_imbalance, r.l1_imbalance, 0.0),
        ("imbalance_5", f.imbalance_5, r.imbalance_5, 1.0),
        ("imbalance_10", f.imbalance_10, r.imbalance_10, 1.0),
        ("imbalance_20", f.imbalance_20, r.imbalance_20, 1.0),
        ("bid_slope", f.bid_slope, r.bid_slope, slope_scale[0]),
        ("ask_slope", f.ask_slope, r.ask_slope, slope_scale[1]),
        (
            "microprice_vs_last_bps",
            f.microprice_vs_last_bps,
            r.microprice_vs_last_bps,
            1.0,
        ),
        (
            "buy_pressure_60s",
            f.buy_pressure_60s,
            r.buy_pressure_60s,
            0.0,
        ),
        ("premium", f.premium, r.premium, 0.0),
    ] {
        approx(ctx, name, a, b, scale);
    }
}

pub fn compare_bar(ctx: &str, f: &Bar, r: &Bar, slope_scale: [f64; 2]) {
    let exact = |name: &str, a: i128, b: i128| assert_eq!(a, b, "{ctx}: {name}");
    assert_eq!(f.synced, r.synced, "{ctx}: synced");
    for (name, a, b) in [
        (
            "resolution_ms",
            f.resolution_ms.into(),
            r.resolution_ms.into(),
        ),
        ("timestamp_ms", f.timestamp_ms.into(), r.timestamp_ms.into()),
        ("open", f.open.0.into(), r.open.0.into()),
        ("high", f.high.0.into(), r.high.0.into()),
        ("low", f.low.0.into(), r.low.0.into()),
        ("close", f.close.0.into(), r.close.0.into()),
        ("vol_total", f.vol_total.0, r.vol_total.0),
        ("vol_buy", f.vol_buy.0, r.vol_buy.0),
        ("vol_sell", f.vol_sell.0, r.vol_sell.0),
        ("vol_delta", f.vol_delta.0, r.vol_delta.0),
        ("quote_volume", f.quote_volume.0, r.quote_volume.0),
        ("trade_count", f.trade_count.into(), r.trade_count.into()),
        (
            "raw_trade_count",
            f.raw_trade_count.into(),
            r.raw_trade_count.into(),
        ),
        (
            "taker_buy_volume",
            f.taker_buy_volume.0,
            r.taker_buy_volume.0,
        ),
        (
            "taker_buy_quote_volume",
            f.taker_buy_quote_volume.0,
            r.taker_buy_quote_volume.0,
        ),
        ("cvd", f.cvd.0, r.cvd.0),
        (
            "large_trade_count",
            f.large_trade_count.into(),
            r.large_trade_count.into(),
        ),
        (
            "large_trade_volume",
            f.large_trade_volume.0,
            r.large_trade_volume.0,
        ),
        ("mark_px", f.mark_px.0.into(), r.mark_px.0.into()),
        ("index_px", f.index_px.0.into(), r.index_px.0.into()),
        (
            "funding_rate",
            f.funding_rate.0.into(),
            r.funding_rate.0.into(),
        ),
        (
            "open_interest",
            f.open_interest.0.into(),
            r.open_interest.0.into(),
        ),
        ("liq_long_vol", f.liq_long_vol.0, r.liq_long_vol.0),
        ("liq_short_vol", f.liq_short_vol.0, r.liq_short_vol.0),
        ("book_updates", f.book_updates.into(), r.book_updates.into()),
        ("late_events", f.late_events.into(), r.late_events.into()),
    ] {
        exact(name, a, b);
    }
    for (name, a, b, scale) in [
        ("vwap", f.vwap, r.vwap, 0.0),
        ("buy_pressure", f.buy_pressure, r.buy_pressure, 0.0),
        ("avg_spread", f.avg_spread, r.avg_spread, 0.0),
        ("tw_spread", f.tw_spread, r.tw_spread, 0.0),
        ("spread_std", f.spread_std, r.spread_std, 0.0),
        ("avg_bid_qty", f.avg_bid_qty, r.avg_bid_qty, 0.0),
        ("avg_ask_qty", f.avg_ask_qty, r.avg_ask_qty, 0.0),
        ("imbalance_5", f.imbalance_5, r.imbalance_5, 1.0),
        ("imbalance_10", f.imbalance_10, r.imbalance_10, 1.0),
        ("imbalance_20", f.imbalance_20, r.imbalance_20, 1.0),
        ("bid_slope", f.bid_slope, r.bid_slope, slope_scale[0]),
        ("ask_slope", f.ask_slope, r.ask_slope, slope_scale[1]),
        ("realized_vol", f.realized_vol, r.realized_vol, 1e-6),
        ("volume_cv", f.volume_cv, r.volume_cv, 0.0),
        ("premium", f.premium, r.premium, 0.0),
        ("oi_change_pct", f.oi_change_pct, r.oi_change_pct, 0.0),
    ] {
        approx(ctx, name, a, b, scale);
    }
}

/// Compares the fast path's `outputs` (in emission order) with `model`: every per-event output,
/// every bar of every resolution of `config`, and where in the stream each bar was emitted.
/// `ctx` prefixes failure messages. Returns the numbers of per-event outputs and bars.
pub fn compare_outputs(
    model: &Model,
    outputs: &[Out],
    config: &FeatureConfig,
    ctx: &str,
) -> (usize, usize) {
    // Per-event features, in order.
    let fast: Vec<&EventFeatures> = outputs
        .iter()
        .filter_map(|o| match o {
            Out::Features(f) => Some(f),
            Out::Bar(_) => None,
        })
        .collect();
    let reference = model.events();
    assert_eq!(fast.len(), reference.len(), "number of per-event outputs");
    for (k, (f, (r, scale))) in fast.iter().zip(&reference).enumerate() {
        compare_event(&format!("{ctx} event {k}"), f, r, *scale);
    }

    // Bars: each resolution's sequence, and where in the stream each was emitted.
    let mut emitted_before = Vec::new();
    let mut n_features = 0usize;
    let mut last_key = (i64::MIN, 0);
    for o in outputs {
        match o {
            Out::Features(_) => n_features += 1,
            Out::Bar(b) => {
                let key = (b.timestamp_ms + b.resolution_ms, b.resolution_ms);
                assert!(key > last_key, "bars close in time order, shortest first");
                last_key = key;
                emitted_before.push((*b, n_features));
            }
        }
    }
    // Outputs from records before index i: a record emits once if it updated the book or
    // is a trade of the selected source.
    let mut emissions_before = vec![0usize; model.recs.len() + 1];
    for i in 0..model.recs.len() {
        let emits = model.recs[i].change == BookChange::Updated
            || model.trade_at[i + 1] > model.trade_at[i];
        emissions_before[i + 1] = emissions_before[i] + usize::from(emits);
    }
    let mut n_bars = 0;
    for &r in &config.bar_resolutions_ms {
        let fast: Vec<&(Bar, usize)> = emitted_before
            .iter()
            .filter(|(b, _)| b.resolution_ms == r)
            .collect();
        let reference = model.bars(r);
        assert_eq!(fast.len(), reference.len(), "number of {r} ms bars");
        for (k, ((f, before), (rb, scales))) in fast.iter().zip(&reference).enumerate() {
            let ctx = format!("{ctx} {r} ms bar {k} at {}", rb.timestamp_ms);
            compare_bar(&ctx, f, rb, *scales);
            // Closed right before the first record whose clock reached its end.
            let c = model.c(rb.timestamp_ms + r);
            assert_eq!(
                *before, emissions_before[c],
                "{ctx}: emitted at the wrong place"
            );
        }
        n_bars += reference.len();
    }
    (reference.len(), n_bars)
}
