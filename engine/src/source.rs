//! [`EventSource`]: what the feed thread runs (DESIGN.md section 2; STYLE.md section 1, "one
//! engine code path for live and replay").
//!
//! A source turns some input (a websocket, a raw capture file, a recorded log) into
//! [`Event`]s, one venue message per call, pushed into an [`EventSink`]. The engine's feed
//! thread owns the source and calls [`EventSource::poll_events`] in a loop, with a sink that
//! stamps each batch and pushes it into the engine ring. Nothing else about the input is
//! visible to the engine, so a live feed and a replay run the same engine code.
//!
//! The trait only speaks core types, so it can move to `orderflow-core` unchanged once the
//! feed and recorder crates (which sit below the engine) implement it themselves; until then
//! [`IterSource`] adapts any iterator of events, such as a log reader's or a `Vec`'s.

use orderflow_core::{Event, EventSink, SymbolId};

/// What one [`EventSource::poll_events`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcePoll {
    /// Zero or more events were pushed; poll again at once.
    Ready,
    /// Nothing is available now (a live feed between frames): the feed thread waits with the
    /// engine's wait strategy before polling again.
    Idle,
    /// The input has ended; the feed thread closes the engine ring and exits.
    End,
}

/// Where the receive timestamps of a source's events come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecvClock {
    /// `recv_ns` was read from `CLOCK_REALTIME` when the frame arrived in this process: the
    /// engine measures receive → parsed and receive → executor latencies from it.
    Live,
    /// `recv_ns` is historical (a replay): receive-based latencies are not measured.
    #[default]
    Recorded,
}

/// A producer of [`Event`]s, run on the engine's feed thread.
///
/// Implementations push the events of one venue message (or a few) per call, in order, and
/// return. They may block briefly (a live feed waiting on its socket with a timeout) but must
/// return regularly so the feed thread can see a shutdown request.
pub trait EventSource: Send {
    /// A failure the feed thread counts and reports; the source is polled again afterwards
    /// (return [`SourcePoll::End`] from the next call to stop).
    type Error: std::error::Error + Send + 'static;

    /// Pushes the next events into `out`.
    ///
    /// # Errors
    /// A bad input (an unparsable frame, a damaged record); the feed thread counts it, keeps
    /// the first few messages for the report, and polls again.
    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, Self::Error>;

    /// How `recv_ns` was stamped; [`RecvClock::Recorded`] unless overridden.
    fn recv_clock(&self) -> RecvClock {
        RecvClock::Recorded
    }

    /// The engine's book for `symbol` lost sync and needs a REST depth snapshot. A live feed
    /// queues the request; recorded sources ignore it (the default), since their snapshots
    /// were recorded.
    fn request_snapshot(&mut self, symbol: SymbolId) {
        let _ = symbol;
    }
}

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
