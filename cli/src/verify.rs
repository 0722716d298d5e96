//! `orderflow verify`: a data-quality report per symbol.
//!
//! The capture runs through the same `Pipeline` as a replay. Beside it, every `bookTicker` is
//! compared with the diff-built book at the same update id: Binance's bookTicker `u` shares the
//! depth id space (protocol doc section 3.5), so when a diff's final id `u` equals a bookTicker's
//! `u`, both describe the same book and the best bid/ask price and quantity must be identical.
//! The two messages arrive on different streams in either order, so tops of recent diffs are kept
//! by `u` and tickers newer than the book wait for their diff.
//!
//! Binance's `kline_1m` updates are the oracle of our 1 min bars (see `klines.rs`): between two
//! kline updates of one minute whose last trade ids `L` equal aggTrades' `l`, the growth of the
//! kline's `n`, `v`, `V`, `q` and its close `c` must equal what our open bar accumulated.

mod klines;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use orderflow_book::Book;
use orderflow_core::{Body, BookTicker, Event, Px, Qty, StatusCode, SymbolId, SymbolTable};
use orderflow_engine::{BookUpdate, Pipeline, PipelineSink};
use orderflow_features::{Bar, EventFeatures, FeatureSink};

use crate::drive::Driven;

/// How many diff tops are kept for tickers that arrive after their diff.
const RECENT_TOPS: usize = 4096;
/// How many mismatches are shown per symbol.
const SHOWN_MISMATCHES: usize = 5;

/// Best bid and ask as a book or a ticker states them (`None` for an empty side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Top {
    bid: Option<(Px, Qty)>,
    ask: Option<(Px, Qty)>,
}

impl Top {
    fn of_book(book: &Book) -> Self {
        Self {
            bid: book.best_bid().map(|l| (l.px, l.qty)),
            ask: book.best_ask().map(|l| (l.px, l.qty)),
        }
    }

    fn of_ticker(t: &BookTicker) -> Self {
        Self {
            bid: Some((t.bid_px, t.bid_qty)),
            ask: Some((t.ask_px, t.ask_qty)),
        }
    }
}

impl std::fmt::Display for Top {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |s: Option<(Px, Qty)>| s.map_or("-".to_string(), |(p, q)| format!("{q}@{p}"));
        write!(f, "bid {} / ask {}", side(self.bid), side(self.ask))
    }
}

/// What `verify` found for one symbol.
#[derive(Debug, Default)]
pub(crate) struct SymbolReport {
    pub(crate) tickers: u64,
    pub(crate) compared: u64,
    pub(crate) matched: u64,
    pub(crate) mismatched: u64,
    pub(crate) mismatches: Vec<String>,
    pub(crate) breaks: Vec<String>,
    pub(crate) klines: klines::KlineReport,
    recent: VecDeque<(u64, Top)>,
    waiting: BTreeMap<u64, Top>,
}

impl SymbolReport {
    fn compare(&mut self, update_id: u64, book: Top, ticker: Top) {
        self.compared += 1;
        if book == ticker {
            self.matched += 1;
        } else {
            self.mismatched += 1;
            if self.mismatches.len() < SHOWN_MISMATCHES {
                self.mismatches
                    .push(format!("u={update_id}: book {book}, bookTicker {ticker}"));
            }
        }
    }

    fn on_diff(&mut self, update_id: u64, top: Top) {
        if let Some(ticker) = self.waiting.remove(&update_id) {
            self.compare(update_id, top, ticker);
        }
        // Tickers older than this diff can no longer meet a diff with their id.
        self.waiting = self.waiting.split_off(&update_id);
        if self.recent.len() == RECENT_TOPS {
            self.recent.pop_front();
        }
        self.recent.push_back((update_id, top));
    }

    fn on_ticker(&mut self, ticker: &BookTicker, last_applied: Option<u64>) {
        self.tickers += 1;
        let top = Top::of_ticker(ticker);
        match last_applied {
            Some(last) if ticker.update_id <= last => {
                let found = self
                    .recent
                    .binary_search_by_key(&ticker.update_id, |(u, _)| *u)
                    .ok()
                    .and_then(|i| self.recent.get(i).copied());
                if let Some((u, book)) = found {
                    self.compare(u, book, top);
                }
            }
            _ => {
                self.waiting.insert(ticker.update_id, top);
            }
        }
    }
}

/// Collects the per-symbol report while the pipeline runs.
#[derive(Debug, Default)]
pub(crate) struct Verifier {
    pub(crate) symbols: Vec<SymbolReport>,
    last_applied: Vec<Option<u64>>,
}

impl Verifier {
    fn report(&mut self, symbol: SymbolId) -> &mut SymbolReport {
        let i = symbol.index();
        if self.symbols.len() <= i {
            self.symbols.resize_with(i + 1, SymbolReport::default);
            self.last_applied.resize(i + 1, None);
        }
        &mut self.symbols[i]
    }

    /// The text report; `true` in the second field when everything agreed.
    pub(crate) fn render(
        &self,
        symbols: &SymbolTable,
        stats: impl Fn(SymbolId) -> Option<orderflow_book::SyncStats>,
    ) -> (String, bool) {
        let mut out = String::new();
        let mut ok = true;
        for (i, r) in self.symbols.iter().enumerate() {
            let id = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
            let s = stats(id).unwrap_or_default();
            let _ = writeln!(out, "{}", symbols.name(id));
            let _ = writeln!(out, "  diffs applied        {}", s.diffs_applied);
            let _ = writeln!(out, "  chain breaks         {}", s.chain_breaks);
            let _ = writeln!(out, "  crossed books        {}", s.crossed_books);
            let _ = writeln!(out, "  gaps                 {}", s.gaps);
            let _ = writeln!(out, "  syncs and resyncs    {}", s.resyncs);
            let _ = writeln!(out, "  snapshots requested  {}", s.snapshots_requested);
            let _ = writeln!(out, "  stale diffs dropped  {}", s.stale_dropped);
            let _ = writeln!(out, "  bookTicker messages  {}", r.tickers);
            let _ = writeln!(out, "  compared at equal u  {}", r.compared);
            let _ = writeln!(out, "  matched              {}", r.matched);
            let _ = writeln!(out, "  mismatched           {}", r.mismatched);
            for b in &r.breaks {
                let _ = writeln!(out, "    break: {b}");
            }
            for m in &r.mismatches {
                let _ = writeln!(out, "    mismatch: {m}");
            }
            let k = &r.klines;
            let _ = writeln!(out, "  kline 1m updates     {}", k.klines);
            let _ = writeln!(out, "  at an aggTrade's l   {}", k.paired);
            let _ = writeln!(out, "  kline intervals      {}", k.compared);
            let _ = writeln!(out, "  intervals matched    {}", k.matched);
            let _ = writeln!(out, "  intervals mismatched {}", k.mismatched);
            for m in &k.mismatches {
                let _ = writeln!(out, "    kline mismatch: {m}");
            }
            if s.chain_breaks > 0
                || s.crossed_books > 0
                || s.gaps > 0
                || r.mismatched > 0
                || k.mismatched > 0
            {
                ok = false;
            }
        }
        (out, ok)
    }
}

impl Driven for Verifier {
    fn on_input(&mut self, event: &Event) {
        match &event.body {
            Body::BookTicker(t) => {
                let last = self
                    .last_applied
                    .get(event.symbol.index())
                    .copied()
                    .flatten();
                self.report(event.symbol).on_ticker(t, last);
            }
            Body::Kline(k) => self.report(event.symbol).klines.on_kline(k),
            _ => {}
        }
    }

    fn after_event(&mut self, event: &Event, pipeline: &Pipeline) {
        if let Body::AggTrade(t) = &event.body
            && let Some(bar) = pipeline
                .features(event.symbol)
                .and_then(|f| f.open_bar(klines::KLINE_BAR_MS))
        {
            self.report(event.symbol)
                .klines
                .on_agg_trade(t.last_trade_id, &bar);
        }
    }
}

impl FeatureSink for Verifier {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}
    fn bar(&mut self, _: SymbolId, _: &Bar) {}
}

impl PipelineSink for Verifier {
    fn book_updated(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) {
        let top = Top::of_book(book);
        self.report(symbol).on_diff(update.final_update_id, top);
        if let Some(slot) = self.last_applied.get_mut(symbol.index()) {
            *slot = Some(update.final_update_id);
        }
    }

    fn status(&mut self, event: &Event) {
        if let Body::Status(s) = &event.body {
            let report = self.report(event.symbol);
            match s.code {
                StatusCode::Gap => {
                    let what = if s.expected_id == s.actual_id {
                        format!(
                            "book invalid after u={} (crossed or malformed)",
                            s.actual_id
                        )
                    } else {
                        format!("expected pu={}, got pu={}", s.expected_id, s.actual_id)
                    };
                    report
                        .breaks
                        .push(format!("{what} at exchange time {} ms", s.exchange_time_ms));
                }
                StatusCode::Resynced | StatusCode::Connected | StatusCode::Disconnected => {}
            }
        }
    }
}
