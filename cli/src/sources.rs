//! Inputs of `replay`, `verify` and `export`: capture files or a log directory
//! ([`orderflow_replay::Source`]), driven through the pipeline one message at a time.

use std::time::Duration;

use orderflow_book::NoopRequester;
use orderflow_engine::Pipeline;
use orderflow_replay::{Source, is_pipeline_input};

use crate::drive::{self, Driven};

/// Feeds every event of `source` to `pipeline` and `sink`; returns the number of bad inputs.
///
/// Captures go through [`drive::drive`]. A log's records go the same way, except the recorded
/// `Status::Gap`/`Resynced` events, which the replayed sync machine derives again (as
/// [`orderflow_replay::Replay`] does, so both print the same digest).
pub(crate) fn drive_source<S: Driven>(
    source: &mut Source,
    pipeline: &mut Pipeline,
    sink: &mut S,
) -> u64 {
    if let Source::Capture(capture) = source {
        return drive::drive(capture, pipeline, sink);
    }
    let mut bad = 0u64;
    let mut requester = NoopRequester;
    source.for_each_message(|next| match next {
        Ok(message) => {
            sink.symbols_seen(message.symbols);
            for event in message.events {
                sink.on_input(event);
                if is_pipeline_input(event) {
                    pipeline.on_event(event, &mut requester, sink);
                    sink.after_event(event, pipeline);
                }
            }
        }
        Err(e) => {
            bad += 1;
            drive::report_bad_line(bad, &e);
        }
    });
    bad
}

/// One line on what was read and how fast.
pub(crate) fn read_summary(source: &Source, elapsed: Duration, bad: u64) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    match source {
        Source::Capture(c) => {
            let stats = c.stats();
            format!(
                "frames: {} in {:.2} s ({:.0} frames/s), without market data: {}, bad lines: {bad}",
                stats.frames,
                elapsed.as_secs_f64(),
                stats.frames as f64 / secs,
                stats.frames_without_events,
            )
        }
        Source::Log(l) => {
            let stats = l.stats();
            format!(
                "log records: {} ({} messages) in {:.2} s ({:.0} messages/s), bad records: {bad}",
                stats.records,
                stats.messages,
                elapsed.as_secs_f64(),
                stats.messages as f64 / secs,
            )
        }
    }
}
