//! [`SymbolFeatures`]: all feature state of one symbol, driven by the engine's events.
//!
//! # The symbol clock
//! Every event that carries an exchange time moves the symbol clock to the largest exchange
//! time seen so far; a `Timer` at `now` moves it to `now - timer_grace_ms`. The clock never goes
//! back. It is what trailing windows end at ([`EventFeatures::clock_ms`]) and what closes bars
//! (DESIGN.md section 5.3): a bar `[t, t + R)` closes, before the event that moves the clock to
//! `t + R` or beyond is applied. Replay sees the same events, recorded timers included, so it
//! closes bars exactly where live did.
//!
//! # Late events
//! The clock sits in an open 100 ms base period. An event whose exchange time is older than
//! that period's start (a trade from a socket that lags the depth socket, say) is *late*: it is
//! counted ([`FeatureCounters::late_events`], and per bar in [`crate::Bar::late_events`] when older
//! than that bar's open time) and accumulated into the open period, so into the open bar of
//! every resolution. Equivalently, an event belongs to the bar holding
//! `max(T, start of the 100 ms period holding the clock)`.
//!
//! # Trade source
//! Trades feed the trade features only from one stream ([`TradeSource`]); trades of the other
//! stream still move the clock and are counted in [`FeatureCounters::ignored_trades`].
//!
//! # Memory
//! Everything is allocated in [`SymbolFeatures::new`]: the three trailing-window rings
//! (117 + 141 + 211 KiB with the default bucket widths) and one open bar per resolution, 470 KiB
//! in all by default ([`SymbolFeatures::heap_bytes`]). No method allocates afterwards
//! (`tests/alloc.rs` counts allocations with a global allocator).

use orderflow_core::{
    AggTrade, BookView, Event, Liquidation, MarkPrice, OpenInterest, Px, Qty, Side, SymbolId,
    Trade, UNDEF_TIME,
};

use crate::bar::{
    Accum, BarLevel, CloseState, DAY_MS, SUB_PERIODS_MS, SubBar, TradeTick, log_return, wide_to_f64,
};
use crate::book_stats::{BarBookState, TopStatsCache, microprice_vs_last_bps, read_book};
use crate::config::{
    BASE_PERIOD_MS, BUY_PRESSURE_WINDOW_MS, ConfigError, FeatureConfig, LARGE_TRADE_WINDOW_MS,
    TradeSource,
};
use crate::output::{Bar, EventFeatures, FeatureSink, FeatureTrigger, QtySum};
use crate::window::{BucketWindow, BuyTotal, Count, QtyCount};

/// Whether the event handed to [`SymbolFeatures::on_event`] changed the book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BookChange {
    /// The book is as before (a trade, a mark price, a level of a diff not yet complete...).
    #[default]
    Unchanged,
    /// The event completed a book update (the last level of a depth diff or snapshot), or
    /// changed the book's sync state (a gap or a resync).
    Updated,
}

/// Counters of everything unusual, read off the hot path with [`SymbolFeatures::counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FeatureCounters {
    /// Book updates seen.
    pub book_updates: u64,
    /// Trades of the selected source seen.
    pub trades: u64,
    /// Trades of the other source (not counted in any feature).
    pub ignored_trades: u64,
    /// Timed events older than the open 100 ms period (see the module docs, "Late events").
    pub late_events: u64,
    /// Events without an exchange time ([`UNDEF_TIME`]): taken to happen at the clock, or
    /// dropped (trades, liquidations) before the symbol has started.
    pub untimed_events: u64,
    /// Trades older than the longest trailing window (15 min) when they arrived: in no window.
    pub trades_outside_windows: u64,
    /// Trades from an earlier UTC day than the clock's: not in the CVD (which has reset).
    pub cvd_excluded_trades: u64,
    /// Bars emitted.
    pub bars_emitted: u64,
    /// Bars emitted without any trade (prices forward-filled).
    pub gap_bars: u64,
    /// Bars closed by a `Timer` rather than by a market event.
    pub timer_closed_bars: u64,
    /// Clock jumps longer than [`FeatureConfig::max_gap_fill_ms`]: the open bars were dropped
    /// and the grid restarted at the new time.
    pub grid_restarts: u64,
}

/// Mark price state.
#[derive(Clone, Copy, Debug)]
struct MarkState {
    mark_px: Px,
    index_px: Px,
    funding_rate: Qty,
    premium: f64,
}

/// Feature state of one symbol: per-event features, trailing windows, open bars.
///
/// ```
/// use orderflow_core::{AggTrade, BookLevel, BookSide, BookView, Px, Qty, Side, SymbolId};
/// use orderflow_features::{FeatureConfig, FeatureDigest, SymbolFeatures};
///
/// struct OneLevel;
/// impl BookView for OneLevel {
///     fn best_bid(&self) -> Option<BookLevel> { Some(BookLevel { px: Px(100_00000000), qty: Qty(3_00000000) }) }
///     fn best_ask(&self) -> Option<BookLevel> { Some(BookLevel { px: Px(101_00000000), qty: Qty(1_00000000) }) }
///     fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
///         out[0] = match side { BookSide::Bid => self.best_bid(), BookSide::Ask => self.best_ask() }.unwrap();
///         1
///     }
///     fn is_synced(&self) -> bool { true }
/// }
///
/// let mut features = SymbolFeatures::new(SymbolId(0), &FeatureConfig::default());
/// let mut digest = FeatureDigest::new();
/// features.on_book_update(&OneLevel, 1_700_000_000_000, &mut digest);
/// assert_eq!(features.features().microprice, 100.75);
/// let trade = AggTrade {
///     px: Px(101_00000000), qty: Qty(2_00000000), aggressor: Side::Buy,
///     transact_time_ms: 1_700_000_000_050, event_time_ms: 1_700_000_000_051,
///     first_trade_id: 7, last_trade_id: 9, ..AggTrade::default()
/// };
/// features.on_agg_trade(&trade, &mut digest);
/// assert_eq!(features.features().cvd.raw(), 2_00000000);
/// // The next event after 00.500 closes the first 500 ms bar.
/// features.on_exchange_time(1_700_000_000_600, &mut digest);
/// assert_eq!(digest.bar_count(), 1);
/// ```
#[derive(Debug)]
pub struct SymbolFeatures {
    symbol: SymbolId,
    grace_ms: i64,
    max_gap_fill_ms: i64,
    /// [`TradeSource::Auto`] until the first trade fixes it.
    source: TradeSource,
    started: bool,
    clock_ms: i64,
    base_start_ms: i64,
    base: Accum,
    /// Time up to which the current book state's weight is in `base`.
    tw_mark_ms: i64,
    bar_book: BarBookState,
    /// Per-side book statistics reused while a side's top 20 is unchanged.
    top_stats: TopStatsCache,
    feat: EventFeatures,
    last_px: Px,
    cvd: i128,
    cvd_day: i64,
    intensity: BucketWindow<Count, 3>,
    pressure: BucketWindow<BuyTotal, 1>,
    large: BucketWindow<QtyCount, 1>,
    /// Open bars, shortest resolution first.
    levels: Box<[BarLevel]>,
    subs: [SubBar; 3],
    mark: MarkState,
    open_interest: Qty,
    /// Exchange time of the last depth header, for the book update its levels complete.
    pending_book_time_ms: i64,
    closing_by_timer: bool,
    counters: FeatureCounters,
}

impl SymbolFeatures {
    /// All state for `symbol`, allocated once.
    ///
    /// # Panics
    /// When `config` is invalid ([`FeatureConfig::validate`]): a programmer error. Use
    /// [`Self::try_new`] for a config from user input.
    #[must_use]
    pub fn new(symbol: SymbolId, config: &FeatureConfig) -> Self {
        match Self::try_new(symbol, config) {
            Ok(s) => s,
            Err(e) => panic!("invalid feature config: {e}"),
        }
    }

    /// As [`Self::new`], checking the config.
    ///
    /// # Errors
    /// The [`ConfigError`] of [`FeatureConfig::validate`].
    pub fn try_new(symbol: SymbolId, config: &FeatureConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut res = config.bar_resolutions_ms.clone();
        res.sort_unstable();
        let levels: Box<[BarLevel]> = res.iter().map(|&r| BarLevel::new(r)).collect();
        let mut subs = SUB_PERIODS_MS.map(|len_ms| SubBar {
            len_ms,
            used: false,
            vol: 0,
            prev_close: Px::UNDEF,
        });
        for l in &levels {
            subs[l.sub].used = true;
        }
        let feat = EventFeatures {
            best_bid: Px::UNDEF,
            best_ask: Px::UNDEF,
            mid: f64::NAN,
            spread: Px::UNDEF,
            spread_bps: f64::NAN,
            microprice: f64::NAN,
            l1_imbalance: f64::NAN,
            imbalance_5: f64::NAN,
            imbalance_10: f64::NAN,
            imbalance_20: f64::NAN,
            bid_slope: f64::NAN,
            ask_slope: f64::NAN,
            microprice_vs_last_bps: f64::NAN,
            last_trade_px: Px::UNDEF,
            buy_pressure_60s: f64::NAN,
            mark_px: Px::UNDEF,
            index_px: Px::UNDEF,
            premium: f64::NAN,
            time_ms: UNDEF_TIME,
            clock_ms: UNDEF_TIME,
            ..EventFeatures::default()
        };
        Ok(Self {
            symbol,
            grace_ms: config.timer_grace_ms,
            max_gap_fill_ms: config.max_gap_fill_ms,
            source: config.trade_source,
            started: false,
            clock_ms: UNDEF_TIME,
            base_start_ms: 0,
            base: Accum::empty(false),
            tw_mark_ms: 0,
            bar_book: BarBookState::NONE,
            top_stats: TopStatsCache::default(),
            feat,
            last_px: Px::UNDEF,
            cvd: 0,
            cvd_day: 0,
            intensity: BucketWindow::new(1, [1_000, 5_000, 10_000]),
            pressure: BucketWindow::new(config.buy_pressure_bucket_ms, [BUY_PRESSURE_WINDOW_MS]),
            large: BucketWindow::new(config.large_trade_bucket_ms, [LARGE_TRADE_WINDOW_MS]),
            levels,
            subs,
            mark: MarkState {
                mark_px: Px::UNDEF,
                index_px: Px::UNDEF,
                funding_rate: Qty::ZERO,
                premium: f64::NAN,
            },
            open_interest: Qty::UNDEF,
            pending_book_time_ms: UNDEF_TIME,
            closing_by_timer: false,
            counters: FeatureCounters::default(),
        })
    }

    /// The symbol these features belong to.
    #[must_use]
    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }

    /// The latest per-event features (as last emitted, plus any mark price received since).
    #[must_use]
    pub fn features(&self) -> &EventFeatures {
        &self.feat
    }

    /// Counters of unusual events.
    #[must_use]
    pub fn counters(&self) -> &FeatureCounters {
        &self.counters
    }

    /// The symbol clock (ms), `None` before the first timed event.
    #[must_use]
    pub fn clock_ms(&self) -> Option<i64> {
        self.started.then_some(self.clock_ms)
    }

    /// The trade source in use: [`TradeSource::Auto`] until the first trade fixes it.
    #[must_use]
    pub fn trade_source(&self) -> TradeSource {
        self.source
    }

    /// Heap bytes held (fixed after construction).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.intensity.heap_bytes()
            + self.pressure.heap_bytes()
            + self.large.heap_bytes()
            + self.levels.len() * size_of::<BarLevel>()
    }

    /// The open bar of `resolution_ms` as it would close now, without closing it: everything
    /// accumulated so far, the open 100 ms period included (which [`Self::on_event`] merges
    /// into the open bars only when the period closes), with the current book state weighted up
    /// to the clock. Fields read at close (`cvd`, slopes, mark price, open interest...) are the
    /// current values; `realized_vol` and `volume_cv` cover the sub-bars completed so far.
    ///
    /// `None` before the symbol's first timed event, or when `resolution_ms` is not one of
    /// [`FeatureConfig::bar_resolutions_ms`]. Reads only; allocates nothing.
    ///
    /// ```
    /// use orderflow_core::{AggTrade, Px, Qty, Side, SymbolId};
    /// use orderflow_features::{FeatureConfig, FeatureDigest, SymbolFeatures};
    ///
    /// let mut features = SymbolFeatures::new(SymbolId(0), &FeatureConfig::default());
    /// let mut digest = FeatureDigest::new();
    /// assert!(features.open_bar(60_000).is_none());
    /// let trade = AggTrade {
    ///     px: Px(101_00000000), qty: Qty(2_00000000), aggressor: Side::Buy,
    ///     transact_time_ms: 1_700_000_000_050, event_time_ms: 1_700_000_000_051,
    ///     first_trade_id: 7, last_trade_id: 9, ..AggTrade::default()
    /// };
    /// features.on_agg_trade(&trade, &mut digest);
    /// let bar = features.open_bar(60_000).unwrap();
    /// assert_eq!((bar.timestamp_ms, bar.raw_trade_count), (1_699_999_980_000, 3));
    /// assert_eq!(bar.vol_total.raw(), 2_00000000);
    /// assert_eq!(digest.bar_count(), 0); // nothing was closed
    /// ```
    #[must_use]
    pub fn open_bar(&self, resolution_ms: i64) -> Option<Bar> {
        if !self.started {
            return None;
        }
        let level = self.levels.iter().find(|l| l.res_ms == resolution_ms)?;
        let mut base = self.base;
        base.add_weight(&self.bar_book, self.clock_ms - self.tw_mark_ms);
        let mut open = *level;
        open.acc.merge(&base);
        Some(open.finish(&self.close_state()))
    }

    // ---- event entry points -------------------------------------------------------------

    /// Handles any event of this symbol: the dispatcher the engine calls per event.
    ///
    /// `change` says whether applying `event` to `book` completed a book update or changed its
    /// sync state; the update is then timed with the last depth header's exchange time (`T` of
    /// the diff or snapshot whose levels it completed) or the event's own time for other kinds.
    /// `DepthDiff`, `DepthSnapshot`, `BookTicker`, `Kline` and timed `Status` events only move the
    /// clock; `Level` events carry no time.
    pub fn on_event<B, S>(&mut self, event: &Event, book: &B, change: BookChange, out: &mut S)
    where
        B: BookView + ?Sized,
        S: FeatureSink + ?Sized,
    {
        use orderflow_core::Body;
        let t = event.body.exchange_time_ms();
        match &event.body {
            Body::DepthDiff(_) | Body::DepthSnapshot(_) => {
                self.pending_book_time_ms = t;
                if t != UNDEF_TIME {
                    self.on_exchange_time(t, out);
                }
            }
            Body::Level(_) => {}
            Body::AggTrade(r) => self.on_agg_trade(r, out),
            Body::Trade(r) => self.on_trade(r, out),
            Body::MarkPrice(r) => self.on_mark_price(r, out),
            Body::Liquidation(r) => self.on_liquidation(r, out),
            Body::OpenInterest(r) => self.on_open_interest(r, out),
            Body::Timer(r) => self.on_timer(r.now_ms, out),
            Body::BookTicker(_) | Body::Kline(_) | Body::Status(_) => {
                if t != UNDEF_TIME {
                    self.on_exchange_time(t, out);
                }
            }
        }
        if change == BookChange::Updated {
            let t = match &event.body {
                Body::Level(_) | Body::DepthDiff(_) | Body::DepthSnapshot(_) => {
                    self.pending_book_time_ms
                }
                _ if t == UNDEF_TIME => self.pending_book_time_ms,
                _ => t,
            };
            self.on_book_update(book, t, out);
        }
    }

    /// After every fully applied depth update, and whenever the book's sync state changes:
    /// reads the top 20 levels of `book`, updates the bar statistics and emits
    /// [`EventFeatures`]. `exchange_time_ms` is the update's `T` (its `E` when it has none).
    /// While `book.is_synced()` is `false` the book reads as empty.
    #[inline]
    pub fn on_book_update<B, S>(&mut self, book: &B, exchange_time_ms: i64, out: &mut S)
    where
        B: BookView + ?Sized,
        S: FeatureSink + ?Sized,
    {
        self.counters.book_updates += 1;
        let t = self.event_time(exchange_time_ms, out);
        read_book(book, &mut self.top_stats, &mut self.feat);
        let state = BarBookState::from_features(&self.feat);
        if let Some(t) = t {
            self.mark_late(t);
            // The old state held until this update (never before what is already weighted).
            let te = t.max(self.tw_mark_ms);
            self.base.add_weight(&self.bar_book, te - self.tw_mark_ms);
            self.tw_mark_ms = te;
            self.base.add_book_update(&state);
        }
        self.bar_book = state;
        let f = &mut self.feat;
        f.trigger = FeatureTrigger::BookUpdate;
        f.time_ms = exchange_time_ms;
        f.large_trade = false;
        f.microprice_vs_last_bps = microprice_vs_last_bps(f.microprice, f.last_trade_px);
        self.refresh_windows();
        out.event_features(self.symbol, &self.feat);
    }

    /// An `aggTrade`: counts `l - f + 1` underlying trades.
    #[inline]
    pub fn on_agg_trade<S: FeatureSink + ?Sized>(&mut self, trade: &AggTrade, out: &mut S) {
        let raw = trade
            .last_trade_id
            .checked_sub(trade.first_trade_id)
            .map_or(1, |d| d.saturating_add(1));
        let tick = TradeTick {
            px: trade.px,
            qty: trade.qty,
            side: trade.aggressor,
            raw_count: raw,
        };
        self.trade(TradeSource::AggTrade, trade.transact_time_ms, tick, out);
    }

    /// An individual `trade`: one underlying trade.
    #[inline]
    pub fn on_trade<S: FeatureSink + ?Sized>(&mut self, trade: &Trade, out: &mut S) {
        let tick = TradeTick {
            px: trade.px,
            qty: trade.qty,
            side: trade.aggressor,
            raw_count: 1,
        };
        self.trade(TradeSource::Trade, trade.transact_time_ms, tick, out);
    }

    /// A `markPriceUpdate` (time: its `E`): updates mark, index, funding and premium, which the
    /// next emitted features and closing bars carry. Emits nothing itself.
    pub fn on_mark_price<S: FeatureSink + ?Sized>(&mut self, m: &MarkPrice, out: &mut S) {
        self.event_time(m.event_time_ms, out);
        let premium = if m.mark_px.is_undef() || m.index_px.is_undef() || m.index_px.0 == 0 {
            f64::NAN
        } else {
            #[allow(clippy::cast_precision_loss, reason = "feature output is f64")]
            let p = (m.mark_px.0 - m.index_px.0) as f64 / m.index_px.0 as f64;
            p
        };
        self.mark = MarkState {
            mark_px: m.mark_px,
            index_px: m.index_px,
            funding_rate: m.funding_rate,
            premium,
        };
        let f = &mut self.feat;
        f.mark_px = m.mark_px;
        f.index_px = m.index_px;
        f.funding_rate = m.funding_rate;
        f.premium = premium;
    }

    /// An open-interest poll: the value closing bars report.
    pub fn on_open_interest<S: FeatureSink + ?Sized>(&mut self, oi: &OpenInterest, out: &mut S) {
        self.event_time(oi.time_ms, out);
        self.open_interest = oi.open_interest;
    }

    /// A `forceOrder` (time: `o.T`): its filled quantity `o.z` goes to the bar's `liq_long_vol`
    /// (a forced SELL) or `liq_short_vol` (a forced BUY).
    pub fn on_liquidation<S: FeatureSink + ?Sized>(&mut self, l: &Liquidation, out: &mut S) {
        let Some(t) = self.event_time(l.transact_time_ms, out) else {
            return;
        };
        self.mark_late(t);
        let qty = if l.filled_qty.is_undef() {
            Qty::ZERO
        } else {
            l.filled_qty
        };
        self.base.add_liquidation(l.side, qty);
    }

    /// A recorded engine `Timer` at `now_ms`: closes every bar ending at or before
    /// `now_ms - timer_grace_ms` (and moves the clock there). Ignored before the symbol's first
    /// market event.
    pub fn on_timer<S: FeatureSink + ?Sized>(&mut self, now_ms: i64, out: &mut S) {
        if !self.started || now_ms == UNDEF_TIME {
            return;
        }
        let horizon = now_ms.saturating_sub(self.grace_ms);
        self.closing_by_timer = true;
        self.advance(horizon, out);
        self.closing_by_timer = false;
    }

    /// Any other event with an exchange time (`bookTicker`, depth headers, klines, status...):
    /// moves the clock, which may close bars.
    pub fn on_exchange_time<S: FeatureSink + ?Sized>(
        &mut self,
        exchange_time_ms: i64,
        out: &mut S,
    ) {
        self.event_time(exchange_time_ms, out);
    }

    // ---- internals -----------------------------------------------------------------------

    /// Moves the clock to `t` and returns the time to account the event at, or `None` for an
    /// untimed event before the symbol started.
    #[inline]
    fn event_time<S: FeatureSink + ?Sized>(&mut self, t: i64, out: &mut S) -> Option<i64> {
        if t == UNDEF_TIME {
            self.counters.untimed_events += 1;
            return self.started.then_some(self.clock_ms);
        }
        self.advance(t, out);
        Some(t)
    }

    /// Counts `t` as late when it is older than the open base period (and per bar).
    #[inline]
    fn mark_late(&mut self, t: i64) {
        if t < self.base_start_ms {
            self.counters.late_events += 1;
            for l in self.levels.iter_mut() {
                if t < l.open_ms {
                    l.late_events += 1;
                }
            }
        }
    }

    #[inline]
    fn advance<S: FeatureSink + ?Sized>(&mut self, t: i64, out: &mut S) {
        if !self.started {
            self.start(t);
        } else if t > self.clock_ms {
            self.clock_ms = t;
            if t >= self.base_start_ms + BASE_PERIOD_MS {
                self.roll(t, out);
            }
        }
    }

    fn start(&mut self, t: i64) {
        self.started = true;
        self.clock_ms = t;
        self.cvd_day = t.div_euclid(DAY_MS);
        self.open_grid(t);
    }

    /// Opens the base period and every bar at the ones holding `t`.
    fn open_grid(&mut self, t: i64) {
        self.base_start_ms = t - t.rem_euclid(BASE_PERIOD_MS);
        self.base = Accum::empty(self.bar_book.synced);
        self.tw_mark_ms = self.base_start_ms;
        for sub in &mut self.subs {
            sub.vol = 0;
            sub.prev_close = Px::UNDEF;
        }
        for l in self.levels.iter_mut() {
            l.open_at(t, self.last_px, self.open_interest);
        }
    }

    /// Closes base periods (and bars) until the open period holds `t`.
    fn roll<S: FeatureSink + ?Sized>(&mut self, t: i64, out: &mut S) {
        let target = t - t.rem_euclid(BASE_PERIOD_MS);
        if target - self.base_start_ms > self.max_gap_fill_ms {
            self.counters.grid_restarts += 1;
            self.open_grid(t);
            self.reset_cvd_day(target);
            return;
        }
        while self.base_start_ms < target {
            self.close_base_period(out);
        }
    }

    fn reset_cvd_day(&mut self, period_start_ms: i64) {
        let day = period_start_ms.div_euclid(DAY_MS);
        if day != self.cvd_day {
            self.cvd_day = day;
            self.cvd = 0;
        }
    }

    /// Closes the open base period: merges it into every open bar, closes sub-bars and bars
    /// ending at its end, and opens the next period.
    fn close_base_period<S: FeatureSink + ?Sized>(&mut self, out: &mut S) {
        let end = self.base_start_ms + BASE_PERIOD_MS;
        self.base.add_weight(&self.bar_book, end - self.tw_mark_ms);
        self.tw_mark_ms = end;
        let base = self.base;
        self.base = Accum::empty(self.bar_book.synced);
        let vol = base.vol_total();
        for sub in self.subs.iter_mut().filter(|s| s.used) {
            sub.vol += vol;
        }
        for l in self.levels.iter_mut() {
            l.acc.merge(&base);
        }
        for (i, sub) in self.subs.iter_mut().enumerate() {
            if !sub.used || end.rem_euclid(sub.len_ms) != 0 {
                continue;
            }
            let r = log_return(sub.prev_close, self.last_px);
            let v = wide_to_f64(sub.vol) / 1e8;
            sub.vol = 0;
            sub.prev_close = self.last_px;
            for l in self.levels.iter_mut().filter(|l| l.sub == i) {
                if let Some(r) = r {
                    l.returns.push(r);
                }
                l.volumes.push(v);
            }
        }
        let close = self.close_state();
        for l in self.levels.iter_mut() {
            if l.end_ms() != end {
                continue;
            }
            let bar = l.finish(&close);
            self.counters.bars_emitted += 1;
            self.counters.gap_bars += u64::from(bar.trade_count == 0);
            self.counters.timer_closed_bars += u64::from(self.closing_by_timer);
            out.bar(self.symbol, &bar);
            l.open_at(end, close.last_px, close.open_interest);
        }
        self.base_start_ms = end;
        self.reset_cvd_day(end);
    }

    /// What a bar closing now reports besides its accumulators.
    fn close_state(&self) -> CloseState {
        CloseState {
            cvd: self.cvd,
            last_px: self.last_px,
            book: self.bar_book,
            mark_px: self.mark.mark_px,
            index_px: self.mark.index_px,
            funding_rate: self.mark.funding_rate,
            premium: self.mark.premium,
            open_interest: self.open_interest,
        }
    }

    fn trade<S: FeatureSink + ?Sized>(
        &mut self,
        kind: TradeSource,
        time_ms: i64,
        tick: TradeTick,
        out: &mut S,
    ) {
        if self.source == TradeSource::Auto {
            self.source = kind;
        }
        if self.source != kind {
            self.counters.ignored_trades += 1;
            self.event_time(time_ms, out);
            return;
        }
        let Some(t) = self.event_time(time_ms, out) else {
            return;
        };
        self.counters.trades += 1;
        self.mark_late(t);
        let q = tick.qty.0;
        if t.div_euclid(DAY_MS) == self.cvd_day {
            self.cvd += i128::from(if tick.side == Side::Buy { q } else { -q });
        } else {
            self.counters.cvd_excluded_trades += 1;
        }

        let now = self.clock_ms;
        self.large.advance(now);
        let mean = self.large.sum(0);
        let large =
            mean.count > 0 && i128::from(q) * i128::from(mean.count) > 2 * i128::from(mean.qty);
        let inside = self.large.add(t, &QtyCount { qty: q, count: 1 });
        self.counters.trades_outside_windows += u64::from(!inside);
        self.intensity.advance(now);
        self.intensity.add(t, &Count(1));
        self.pressure.advance(now);
        let buy = if tick.side == Side::Buy { q } else { 0 };
        self.pressure.add(t, &BuyTotal { buy, total: q });

        self.base.add_trade(&tick, large);
        self.last_px = tick.px;

        let f = &mut self.feat;
        f.trigger = FeatureTrigger::Trade;
        f.time_ms = time_ms;
        f.last_trade_px = tick.px;
        f.large_trade = large;
        f.microprice_vs_last_bps = microprice_vs_last_bps(f.microprice, tick.px);
        self.refresh_windows();
        out.event_features(self.symbol, &self.feat);
    }

    /// Writes the clock, CVD and trailing-window fields of the features.
    #[inline]
    #[allow(clippy::cast_precision_loss, reason = "a ratio, f64 by definition")]
    fn refresh_windows(&mut self) {
        let now = self.clock_ms;
        let f = &mut self.feat;
        f.clock_ms = now;
        f.cvd = QtySum(self.cvd);
        if !self.started {
            return;
        }
        self.intensity.advance(now);
        self.pressure.advance(now);
        let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        f.trade_intensity_1s = sat(self.intensity.sum(0));
        f.trade_intensity_5s = sat(self.intensity.sum(1));
        f.trade_intensity_10s = sat(self.intensity.sum(2));
        let p = self.pressure.sum(0);
        f.buy_pressure_60s = if p.total > 0 {
            p.buy as f64 / p.total as f64
        } else {
            f64::NAN
        };
    }
}
