//! [`EventSource`]: what the engine's feed thread runs (DESIGN.md section 2; STYLE.md section 1,
//! "one engine code path for live and replay").
//!
//! A source turns some input (a websocket, a raw capture file, a recorded log) into
//! [`Event`](crate::Event)s, one venue message (or a few) per call, pushed into an [`EventSink`]. The engine's
//! feed thread owns the source and calls [`EventSource::poll_events`] in a loop. Nothing else
//! about the input is visible to the engine, so a live feed and a replay run the same engine
//! code. The trait lives here, below every crate, so the feed (live websockets) and the engine
//! (iterators, logs) can both implement it without depending on each other.

use crate::record::EventSink;
use crate::symbol::SymbolId;

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

/// A producer of [`Event`](crate::Event)s, run on the engine's feed thread.
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
