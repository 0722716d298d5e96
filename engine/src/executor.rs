//! [`FeatureReader`]: the executor's own thread reads the engine's features from a ring.
//!
//! The engine thread publishes a [`FeatureUpdate`] for every per-event feature record and every
//! closed bar of every symbol, in the order it computed them, into an SPSC ring whose full-ring
//! policy is [`crate::Backpressure`] (configured with [`crate::EngineBuilder::executor_ring`]).
//! The reader polls it ([`FeatureReader::poll`]) or waits on it ([`FeatureReader::next`]);
//! each update popped records the features → executor latency on the reader's thread.

use std::fmt;

use orderflow_core::SymbolId;
use orderflow_features::{Bar, EventFeatures};

use crate::channel::Receiver;
use crate::latency::{Clock, ThreadLatency, elapsed_ns, realtime_ns};
use crate::source::RecvClock;
use crate::wait::WaitStrategy;

/// What one [`FeatureUpdate`] carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateKind {
    /// Per-event features after a book update or trade.
    Event(EventFeatures),
    /// A bar that closed.
    Bar(Bar),
}

/// One output of the engine for the executor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureUpdate {
    /// The symbol.
    pub symbol: SymbolId,
    /// `recv_ns` of the event that produced it: ns since the UNIX epoch (`CLOCK_REALTIME`).
    pub recv_ns: i64,
    /// When the engine thread computed it: ns on the engine's monotonic clock (since the
    /// engine was spawned).
    pub published_ns: u64,
    /// The features or the bar.
    pub kind: UpdateKind,
}

/// Polls the engine's features on the executor's thread. Taken once from
/// [`crate::EngineHandle::take_reader`]; drop it to tell the engine to stop publishing.
pub struct FeatureReader<W> {
    rx: Receiver<FeatureUpdate>,
    clock: Clock,
    latency: ThreadLatency,
    live: bool,
    wait: W,
}

impl<W> fmt::Debug for FeatureReader<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureReader")
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

/// Index of [`crate::Stage::FeaturesToExecutor`] in the executor role.
const FEATURES_TO_EXECUTOR: usize = 0;
/// Index of [`crate::Stage::ReceiveToExecutor`] in the executor role.
const RECEIVE_TO_EXECUTOR: usize = 1;

impl<W: WaitStrategy> FeatureReader<W> {
    pub(crate) fn new(
        rx: Receiver<FeatureUpdate>,
        clock: Clock,
        latency: ThreadLatency,
        recv_clock: RecvClock,
        wait: W,
    ) -> Self {
        Self {
            rx,
            clock,
            latency,
            live: recv_clock == RecvClock::Live,
            wait,
        }
    }

    /// The next update if one is waiting; never blocks.
    #[inline]
    pub fn poll(&mut self) -> Option<FeatureUpdate> {
        match self.rx.try_recv() {
            Some(update) => {
                self.stamp(&update);
                Some(update)
            }
            None => {
                self.latency.poll_request();
                None
            }
        }
    }

    /// The next update, waiting with the engine's wait strategy while there is none; `None`
    /// once the engine has finished and every update was read.
    #[allow(
        clippy::should_implement_trait,
        reason = "blocking, unlike Iterator::next"
    )]
    pub fn next(&mut self) -> Option<FeatureUpdate> {
        let mut step = 0u32;
        loop {
            if let Some(u) = self.poll() {
                return Some(u);
            }
            if self.rx.is_abandoned() {
                return self.poll();
            }
            self.rx.wait(self.wait.action(step));
            step = step.saturating_add(1);
        }
    }

    /// `true` once the engine has stopped publishing (updates may still wait: poll them).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.rx.is_abandoned()
    }

    /// Updates waiting now.
    #[must_use]
    pub fn backlog(&mut self) -> usize {
        self.rx.len()
    }

    #[inline]
    fn stamp(&mut self, update: &FeatureUpdate) {
        let now = self.clock.now_ns();
        self.latency.record(
            FEATURES_TO_EXECUTOR,
            now.saturating_sub(update.published_ns),
        );
        if self.live {
            self.latency.record(
                RECEIVE_TO_EXECUTOR,
                elapsed_ns(update.recv_ns, realtime_ns()),
            );
        }
    }
}
