//! [`LiveMonitor`]: what the live feed did, readable from any thread while it runs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::streams::Route;

/// How many recent messages [`LiveMonitor::messages`] keeps.
pub const KEPT_MESSAGES: usize = 32;

macro_rules! stats {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Counters of a live feed ([`LiveMonitor::stats`]).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct LiveStats {
            $($(#[$doc])* pub $name: u64,)*
            /// Connections open now, over both routes.
            pub connections_up: u64,
        }

        #[derive(Debug, Default)]
        pub(crate) struct Counters { $(pub(crate) $name: AtomicU64,)* }

        impl Counters {
            fn snapshot(&self) -> LiveStats {
                LiveStats { $($name: self.$name.load(Ordering::Relaxed),)* connections_up: 0 }
            }
        }
    };
}

stats!(
    /// Connections opened (rotations included).
    connects,
    /// Connections lost or closed.
    disconnects,
    /// Connection attempts that failed.
    connect_failures,
    /// Proactive rotations before the 24 h cut.
    rotations,
    /// Websocket text frames received.
    frames,
    /// Frames that failed to parse (dropped, counted, reported as source errors).
    parse_errors,
    /// Frames dropped as copies delivered by the second connection of a rotation overlap.
    overlap_duplicates,
    /// Subscription replies.
    replies,
    /// Subscription errors.
    reply_errors,
    /// Snapshot requests from the engine.
    snapshot_requests,
    /// Snapshot requests folded into one already in flight.
    snapshot_requests_coalesced,
    /// Snapshots received and pushed.
    snapshots,
    /// Snapshot fetches that failed (retried).
    snapshot_failures,
    /// REST answers 429/418 (rate limited; every REST call waits Retry-After).
    rate_limited,
    /// Open-interest answers pushed.
    open_interest,
    /// Open-interest polls that failed.
    open_interest_failures,
    /// Steady streams with no first message within the watchdog timeout.
    silent_streams,
    /// Reconnects asked by the watchdog.
    watchdog_reconnects,
    /// `Timer` events pushed.
    timers,
    /// Lines written to the raw capture.
    capture_lines,
    /// Capture write errors.
    capture_errors,
);

/// Live counters and recent messages of a [`super::LiveSource`], shared with the thread that
/// prints status; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LiveMonitor {
    pub(crate) inner: Arc<Monitor>,
}

#[derive(Debug, Default)]
pub(crate) struct Monitor {
    pub(crate) c: Counters,
    up: [AtomicI64; 2],
    messages: Mutex<VecDeque<String>>,
}

impl Monitor {
    pub(crate) fn bump(counter: &AtomicU64) {
        // Relaxed: statistics only.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note(&self, message: String) {
        let mut m = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() == KEPT_MESSAGES {
            m.pop_front();
        }
        m.push_back(message);
    }

    pub(crate) fn connected(&self, route: Route) {
        Self::bump(&self.c.connects);
        if let Some(u) = self.up.get(route.index()) {
            u.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn disconnected(&self, route: Route, reason: &str) {
        Self::bump(&self.c.disconnects);
        if let Some(u) = self.up.get(route.index()) {
            u.fetch_sub(1, Ordering::Relaxed);
        }
        self.note(format!("{route}: disconnected: {reason}"));
    }

    pub(crate) fn connect_failed(&self, reason: &str) {
        Self::bump(&self.c.connect_failures);
        self.note(reason.to_owned());
    }

    pub(crate) fn rotation(&self) {
        Self::bump(&self.c.rotations);
    }
}

impl LiveMonitor {
    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> LiveStats {
        let mut s = self.inner.c.snapshot();
        s.connections_up = self
            .inner
            .up
            .iter()
            .map(|u| u64::try_from(u.load(Ordering::Relaxed)).unwrap_or(0))
            .sum();
        s
    }

    /// Connections open now on `route`.
    #[must_use]
    pub fn connections_up(&self, route: Route) -> u64 {
        self.inner
            .up
            .get(route.index())
            .map_or(0, |u| u64::try_from(u.load(Ordering::Relaxed)).unwrap_or(0))
    }

    /// The last [`KEPT_MESSAGES`] notable messages (disconnect reasons, failures, silent
    /// streams), oldest first.
    #[must_use]
    pub fn messages(&self) -> Vec<String> {
        self.inner
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}
