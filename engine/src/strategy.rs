//! [`Strategy`]: the executor's code that runs on the engine thread (DESIGN.md section 2).

use orderflow_book::Book;
use orderflow_core::{Event, SymbolId};
use orderflow_features::{Bar, EventFeatures};

/// What a [`Strategy`] sees after an event produced per-event features.
#[derive(Clone, Copy, Debug)]
pub struct StrategyContext<'a> {
    /// The symbol.
    pub symbol: SymbolId,
    /// The input event that produced the features (a depth record ending a diff, a trade...).
    pub event: &'a Event,
    /// The symbol's book after the event. Read it only when `features.synced` is `true`.
    pub book: &'a Book,
    /// The per-event features just computed.
    pub features: &'a EventFeatures,
}

/// Code called on the engine thread, in event order, with the book and the features.
///
/// Calls happen between two events of the pipeline, so anything slow here delays every later
/// event: keep them short and allocation-free, or hand work to another thread (the
/// [`crate::FeatureReader`] ring is the engine's own way to do that).
pub trait Strategy: Send {
    /// After every event that produced [`EventFeatures`] (every fully applied book update,
    /// book sync change and trade of the selected source).
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        let _ = ctx;
    }

    /// When a bar of `symbol` closes (before the event that closed it is applied).
    fn on_bar(&mut self, symbol: SymbolId, bar: &Bar) {
        let _ = (symbol, bar);
    }

    /// When the book sync machine emits a `Status` event (gap, resync).
    fn on_status(&mut self, status: &Event) {
        let _ = status;
    }

    /// Once, on the engine thread, after the last event.
    fn on_finish(&mut self) {}
}

/// No strategy: features still go to the [`crate::FeatureReader`] and the digest.
impl Strategy for () {}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        (**self).on_event(ctx);
    }
    fn on_bar(&mut self, symbol: SymbolId, bar: &Bar) {
        (**self).on_bar(symbol, bar);
    }
    fn on_status(&mut self, status: &Event) {
        (**self).on_status(status);
    }
    fn on_finish(&mut self) {
        (**self).on_finish();
    }
}
