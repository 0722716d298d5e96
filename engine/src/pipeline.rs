//! The per-event pipeline: sync book, then features, per symbol (DESIGN.md section 2).
//!
//! For every event the pipeline finds the symbol's state (created on first sight), hands depth
//! records to the symbol's [`SyncBook`], forwards the `Status` events the sync machine emits to
//! the sink (so a recorder logs them), and then lets the symbol's [`SymbolFeatures`] see the event
//! together with whether it completed a book update. Nothing here reads a clock or allocates after
//! a symbol's first event.

use orderflow_book::{Book, BookConfig, SnapshotRequester, SyncBook, SyncSink};
use orderflow_core::{Body, DepthDiff, Event, Level, StatusCode, SymbolId};
use orderflow_features::{BookChange, FeatureConfig, FeatureSink, SymbolFeatures};

/// Configuration of a [`Pipeline`]: one book and one feature configuration for every symbol.
#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    /// Book and sync-machine settings.
    pub book: BookConfig,
    /// Feature and bar settings.
    pub features: FeatureConfig,
    /// When `false`, only books are maintained (for measuring the cost of features).
    pub features_disabled: bool,
}

/// A depth diff that was fully applied to a valid book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookUpdate {
    /// The diff's final update id `u`: the book is valid as of this id.
    pub final_update_id: u64,
    /// The diff's event time `E`, ms.
    pub event_time_ms: i64,
    /// Local receive time of the frame, ns.
    pub recv_ns: i64,
    /// `true` when this diff made the book valid again (first diff after a snapshot).
    pub resynced: bool,
}

/// What a [`Pipeline`] produces besides features.
pub trait PipelineSink: FeatureSink {
    /// A diff was fully applied; `book` is valid as of `update.final_update_id`.
    fn book_updated(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) {
        let _ = (symbol, book, update);
    }

    /// The sync machine emitted a `Status` event (gap, resync): recorders log it.
    fn status(&mut self, event: &Event) {
        let _ = event;
    }
}

impl PipelineSink for () {}

/// Routes what a symbol's [`SyncBook`] reports to its features and the pipeline's sink.
struct BookSink<'a, S: ?Sized> {
    symbol: SymbolId,
    recv_ns: i64,
    features: Option<&'a mut SymbolFeatures>,
    out: &'a mut S,
}

impl<'a, S: ?Sized> BookSink<'a, S> {
    #[inline]
    fn new(
        symbol: SymbolId,
        recv_ns: i64,
        features: Option<&'a mut SymbolFeatures>,
        out: &'a mut S,
    ) -> Self {
        Self {
            symbol,
            recv_ns,
            features,
            out,
        }
    }
}

impl<S: PipelineSink + ?Sized> SyncSink for BookSink<'_, S> {
    fn status(&mut self, book: &Book, event: &Event) {
        self.out.status(event);
        // A gap invalidates the book: features see it empty from here on.
        if let (Body::Status(status), Some(features)) = (&event.body, self.features.as_deref_mut())
            && status.code == StatusCode::Gap
        {
            features.on_book_update(book, status.exchange_time_ms, self.out);
        }
    }

    fn diff_applied(&mut self, book: &Book, diff: &DepthDiff, resynced: bool) {
        self.out.book_updated(
            self.symbol,
            book,
            BookUpdate {
                final_update_id: diff.final_update_id,
                event_time_ms: diff.event_time_ms,
                recv_ns: self.recv_ns,
                resynced,
            },
        );
        if let Some(features) = self.features.as_deref_mut() {
            features.on_book_update(book, diff.transact_time_ms, self.out);
        }
    }
}

struct SymbolState {
    book: SyncBook,
    features: SymbolFeatures,
}

/// Books and features for every symbol, driven one event at a time.
pub struct Pipeline {
    config: PipelineConfig,
    symbols: Vec<Option<SymbolState>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("symbols", &self.symbols.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline with no symbol yet; each symbol's state is created at its first event.
    ///
    /// # Panics
    /// When `config` is invalid (see [`Pipeline::try_new`]).
    #[must_use]
    pub fn new(config: PipelineConfig) -> Self {
        match Self::try_new(config) {
            Ok(p) => p,
            Err(e) => panic!("invalid pipeline configuration: {e}"),
        }
    }

    /// A pipeline, after checking the configuration.
    ///
    /// # Errors
    /// A message naming what is wrong with the book or feature configuration.
    pub fn try_new(config: PipelineConfig) -> Result<Self, String> {
        config.book.validate().map_err(|e| e.to_string())?;
        SymbolFeatures::try_new(SymbolId(0), &config.features).map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            symbols: Vec::new(),
        })
    }

    /// Processes one event.
    pub fn on_event<R, S>(&mut self, event: &Event, requester: &mut R, sink: &mut S)
    where
        R: SnapshotRequester + ?Sized,
        S: PipelineSink + ?Sized,
    {
        let (symbol, recv_ns) = (event.symbol, event.recv_ns);
        let body = &event.body;
        // Gap and Resynced are what the sync machine derives from the depth stream: a recorded
        // log holds them (the recorder logs the pipeline's status output), and replaying them as
        // input would let them move the features' clock where live did not. The sync machine
        // derives them again from the same depth events.
        if let Body::Status(status) = body
            && matches!(status.code, StatusCode::Gap | StatusCode::Resynced)
        {
            return;
        }
        if let Body::Level(level) = body {
            self.on_level(symbol, level, event.is_last(), recv_ns, requester, sink);
            return;
        }
        let features_disabled = self.config.features_disabled;
        let Some(state) = self.state_mut(symbol) else {
            return;
        };
        // A depth header moves the features' clock (it may close bars) before the book changes.
        if !features_disabled {
            let book = state.book.book();
            state
                .features
                .on_event(event, book, BookChange::Unchanged, sink);
        }
        if matches!(body, Body::DepthDiff(_) | Body::DepthSnapshot(_)) {
            let features = (!features_disabled).then_some(&mut state.features);
            let mut book_sink = BookSink::new(symbol, recv_ns, features, sink);
            state.book.on_event(event, requester, &mut book_sink);
        }
    }

    /// Processes one depth level: the same as [`Pipeline::on_event`] with the event
    /// `Event::new(recv_ns, symbol, Body::Level(*level))`, flagged
    /// [`Flags::LAST`](orderflow_core::Flags::LAST) when `last`, without building that event.
    /// A level carries no time, so features have nothing to see in it until it completes a
    /// diff. Levels are most of a depth stream; a replay hands them over straight from its log.
    #[inline]
    pub fn on_level<R, S>(
        &mut self,
        symbol: SymbolId,
        level: &Level,
        last: bool,
        recv_ns: i64,
        requester: &mut R,
        sink: &mut S,
    ) where
        R: SnapshotRequester + ?Sized,
        S: PipelineSink + ?Sized,
    {
        let features_disabled = self.config.features_disabled;
        let Some(state) = self.state_mut(symbol) else {
            return;
        };
        let features = (!features_disabled).then_some(&mut state.features);
        let mut book_sink = BookSink::new(symbol, recv_ns, features, sink);
        state
            .book
            .on_level(level, last, recv_ns, requester, &mut book_sink);
    }

    /// The state of `symbol`, made at its first event.
    #[inline]
    fn state_mut(&mut self, symbol: SymbolId) -> Option<&mut SymbolState> {
        let index = symbol.index();
        if self.symbols.get(index).is_none_or(Option::is_none) {
            self.open_symbol(symbol);
        }
        self.symbols.get_mut(index)?.as_mut()
    }

    /// Makes the state of a symbol's first event. Out of line: a `SymbolState` is a few KiB,
    /// and built inline it gave `on_event` a stack frame of 6.8 KiB (two pages probed on every
    /// event).
    #[cold]
    #[inline(never)]
    fn open_symbol(&mut self, symbol: SymbolId) {
        let index = symbol.index();
        if self.symbols.len() <= index {
            self.symbols.resize_with(index + 1, || None);
        }
        if let Some(slot @ None) = self.symbols.get_mut(index) {
            *slot = Some(SymbolState {
                book: SyncBook::new(symbol, &self.config.book),
                features: SymbolFeatures::new(symbol, &self.config.features),
            });
        }
    }

    /// The sync book of `symbol`, if it has had an event.
    #[must_use]
    pub fn sync_book(&self, symbol: SymbolId) -> Option<&SyncBook> {
        self.state(symbol).map(|s| &s.book)
    }

    /// The features of `symbol`, if it has had an event.
    #[must_use]
    pub fn features(&self, symbol: SymbolId) -> Option<&SymbolFeatures> {
        self.state(symbol).map(|s| &s.features)
    }

    /// Ids of every symbol that has had an event, in id order.
    pub fn symbol_ids(&self) -> impl Iterator<Item = SymbolId> + '_ {
        self.symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| SymbolId(u16::try_from(i).unwrap_or(u16::MAX)))
    }

    fn state(&self, symbol: SymbolId) -> Option<&SymbolState> {
        self.symbols.get(symbol.index()).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use orderflow_book::NoopRequester;
    use orderflow_core::{Flags, Px, Qty, Side, Status, Trade};
    use orderflow_features::FeatureDigest;

    use super::*;

    fn trade(t: i64) -> Event {
        let trade = Trade {
            trade_id: t as u64,
            px: Px::from_units(100),
            qty: Qty::from_units(1),
            transact_time_ms: t,
            event_time_ms: t,
            aggressor: Side::Buy,
            ..Trade::default()
        };
        Event::new(t * 1_000_000, SymbolId(0), Body::Trade(trade)).with_flags(Flags::LAST)
    }

    fn status(code: StatusCode, t: i64) -> Event {
        let status = Status {
            code,
            exchange_time_ms: t,
            ..Status::default()
        };
        Event::new(t * 1_000_000, SymbolId(0), Body::Status(status)).with_flags(Flags::LAST)
    }

    fn digest(events: &[Event]) -> (u64, u64) {
        let mut pipeline = Pipeline::new(PipelineConfig::default());
        let mut digest = FeatureDigest::new();
        for e in events {
            pipeline.on_event(e, &mut NoopRequester, &mut digest);
        }
        (digest.value(), digest.bar_count())
    }

    impl PipelineSink for FeatureDigest {}

    #[test]
    fn recorded_sync_statuses_are_not_replayed_as_input() {
        let live = [trade(1_000), trade(1_500), trade(9_000)];
        let logged = [
            trade(1_000),
            status(StatusCode::Gap, 5_000),
            trade(1_500),
            status(StatusCode::Resynced, 6_000),
            trade(9_000),
        ];
        assert_eq!(digest(&live), digest(&logged));
        // A feed status (a disconnect) is input and does move the clock.
        let disconnected = [
            trade(1_000),
            status(StatusCode::Disconnected, 5_000),
            trade(1_500),
            trade(9_000),
        ];
        assert_ne!(digest(&live), digest(&disconnected));
    }
}
