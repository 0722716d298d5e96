//! [`EventSource`]: what the feed thread runs (DESIGN.md section 2; STYLE.md section 1, "one
//! engine code path for live and replay").
//!
//! A source turns some input (a websocket, a raw capture file, a recorded log) into
//! [`Event`]s, one venue message per call, pushed into an [`EventSink`]. The engine's feed
//! thread owns the source and calls [`EventSource::poll_events`] in a loop, with a sink that
//! stamps each batch and pushes it into the engine ring. Nothing else about the input is
//! visible to the engine, so a live feed and a replay run the same engine code.
//!
//! The trait only speaks core types, so it lives in `orderflow-core` (the live feed in
//! `orderflow-feed`, below the engine, implements it) and is re-exported here unchanged;
//! [`IterSource`] adapts any iterator of events, such as a log reader's or a `Vec`'s.

use orderflow_core::{Event, EventSink};
pub use orderflow_core::{EventSource, RecvClock, SourcePoll};

/// An [`EventSource`] over any iterator of events, `batch` events per poll (a `Vec`, a log
/// reader's `events()`, a generator in a test or bench).
#[derive(Clone, Debug)]
pub struct IterSource<I> {
    events: I,
    batch: usize,
}

impl<I: Iterator<Item = Event> + Send> IterSource<I> {
    /// Yields `events`, 64 per poll.
    #[must_use]
    pub fn new(events: impl IntoIterator<IntoIter = I>) -> Self {
        Self::with_batch(events, 64)
    }

    /// Yields `events`, `batch` per poll (at least 1).
    #[must_use]
    pub fn with_batch(events: impl IntoIterator<IntoIter = I>, batch: usize) -> Self {
        Self {
            events: events.into_iter(),
            batch: batch.max(1),
        }
    }
}

impl<I: Iterator<Item = Event> + Send> EventSource for IterSource<I> {
    type Error = std::convert::Infallible;

    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, Self::Error> {
        for _ in 0..self.batch {
            match self.events.next() {
                Some(e) => out.push(e),
                None => return Ok(SourcePoll::End),
            }
        }
        Ok(SourcePoll::Ready)
    }
}
