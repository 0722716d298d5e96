//! Progress bars on standard error, hidden when it is not a terminal (so files, pipes and
//! tests see nothing), and a sink wrapper that advances one from the events it sees.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orderflow_book::Book;
use orderflow_core::{Event, SymbolId, SymbolTable};
use orderflow_engine::{BookUpdate, Pipeline, PipelineSink};
use orderflow_features::{Bar, EventFeatures, FeatureSink};

use crate::drive::Driven;

/// The bar is moved once per this many events, so the event loop stays cheap.
const EVERY: u64 = 1 << 14;

/// A bar of `total` units (a spinner with a count and rate when the total is unknown).
pub(crate) fn bar(total: Option<u64>, unit: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr_with_hz(4)
    } else {
        ProgressDrawTarget::hidden()
    };
    let style = match total {
        Some(_) => ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}, {{eta}} left"
        )),
        None => ProgressStyle::with_template(&format!(
            "{{spinner}} {{elapsed_precise}} {{human_pos}} {unit}"
        )),
    }
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let pb = ProgressBar::with_draw_target(total, target).with_style(style);
    if total.is_none() {
        pb.enable_steady_tick(Duration::from_millis(250));
    }
    pb
}

/// A bar of file bytes.
pub(crate) fn bytes_bar(total: u64) -> ProgressBar {
    let pb = bar(Some(total), "");
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
         ({binary_bytes_per_sec}), {eta} left",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb
}

/// Wraps a sink and moves `bar` by the events it sees.
pub(crate) struct WithProgress<S> {
    pub(crate) inner: S,
    bar: ProgressBar,
    seen: u64,
}

impl<S> WithProgress<S> {
    pub(crate) fn new(inner: S, bar: ProgressBar) -> Self {
        Self {
            inner,
            bar,
            seen: 0,
        }
    }

    /// Clears the bar and returns the sink.
    pub(crate) fn finish(self) -> S {
        self.bar.finish_and_clear();
        self.inner
    }
}

impl<S: FeatureSink> FeatureSink for WithProgress<S> {
    #[inline]
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.inner.event_features(symbol, features);
    }

    #[inline]
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.inner.bar(symbol, bar);
    }
}

impl<S: PipelineSink> PipelineSink for WithProgress<S> {
    #[inline]
    fn book_updated(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) {
        self.inner.book_updated(symbol, book, update);
    }

    #[inline]
    fn status(&mut self, event: &Event) {
        self.inner.status(event);
    }
}

impl<S: Driven> Driven for WithProgress<S> {
    #[inline]
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        self.inner.symbols_seen(symbols);
    }

    #[inline]
    fn on_input(&mut self, event: &Event) {
        self.seen += 1;
        if self.seen.is_multiple_of(EVERY) {
            self.bar.inc(EVERY);
        }
        self.inner.on_input(event);
    }

    #[inline]
    fn after_event(&mut self, event: &Event, pipeline: &Pipeline) {
        self.inner.after_event(event, pipeline);
    }
}
