//! Runs a capture through the `Pipeline`, reporting bad lines as it goes.

use orderflow_book::NoopRequester;
use orderflow_core::{Event, SymbolTable};
use orderflow_engine::{Pipeline, PipelineSink};
use orderflow_replay::CaptureSource;

/// How many bad lines are printed before the rest are only counted.
const SHOWN_BAD_LINES: u64 = 20;

/// A pipeline sink that also sees the input.
pub(crate) trait Driven: PipelineSink {
    /// Called before each frame's events with the symbols known so far.
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        let _ = symbols;
    }

    /// Every input event, before the pipeline sees it.
    fn on_input(&mut self, event: &Event) {
        let _ = event;
    }

    /// Every input event, right after the pipeline processed it.
    fn after_event(&mut self, event: &Event, pipeline: &Pipeline) {
        let _ = (event, pipeline);
    }
}

/// Feeds every event of `source` to `pipeline` and `sink`; returns the number of bad lines.
pub(crate) fn drive<S: Driven>(
    source: &mut CaptureSource,
    pipeline: &mut Pipeline,
    sink: &mut S,
) -> u64 {
    let mut bad = 0u64;
    let mut requester = NoopRequester;
    while let Some(next) = source.next_events() {
        match next {
            Ok(message) => {
                sink.symbols_seen(message.symbols);
                for event in message.events {
                    sink.on_input(event);
                    pipeline.on_event(event, &mut requester, sink);
                    sink.after_event(event, pipeline);
                }
            }
            Err(e) => {
                bad += 1;
                report_bad_line(bad, &e);
            }
        }
    }
    if bad > SHOWN_BAD_LINES {
        eprintln!("({} more bad lines not shown)", bad - SHOWN_BAD_LINES);
    }
    bad
}

/// Prints the first [`SHOWN_BAD_LINES`] bad lines.
pub(crate) fn report_bad_line(count: u64, e: &impl std::fmt::Display) {
    if count <= SHOWN_BAD_LINES {
        eprintln!("bad input: {e}");
    }
}
