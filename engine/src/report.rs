//! [`EngineReport`]: what a run did, returned at shutdown.

use std::fmt;

use orderflow_features::FeatureDigest;

use crate::error::EngineError;
use crate::latency::LatencyReport;

/// Counters of the feed thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Calls of [`crate::EventSource::poll_events`].
    pub polls: u64,
    /// Events pushed into the engine ring.
    pub events: u64,
    /// Errors the source returned (each counted, the first few kept in `first_errors`).
    pub source_errors: u64,
    /// The first [`FeedStats::KEPT_ERRORS`] error messages.
    pub first_errors: Vec<String>,
    /// Times the feed found the engine ring full and waited (it never drops).
    pub engine_ring_full: u64,
    /// Events lost because the engine thread was gone (it panicked).
    pub lost: u64,
    /// Snapshot requests passed to the source.
    pub snapshot_requests: u64,
    /// `true` when the source reached its end (rather than a shutdown request).
    pub source_ended: bool,
}

impl FeedStats {
    /// How many error messages are kept.
    pub const KEPT_ERRORS: usize = 8;
}

/// Counters of the engine thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Events run through the pipeline.
    pub events: u64,
    /// Per-event feature records computed.
    pub feature_events: u64,
    /// Bars closed.
    pub bars: u64,
    /// `Status` events the sync machines emitted.
    pub status_events: u64,
    /// Snapshot requests the feed ring could not take (counted, the book asks again).
    pub snapshot_requests_dropped: u64,
}

/// Counters of the executor ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// Updates pushed into the ring.
    pub published: u64,
    /// Updates skipped on a full ring under [`crate::Backpressure::CountAndSkip`].
    pub skipped: u64,
    /// Times the engine waited on a full ring under [`crate::Backpressure::BlockSpin`].
    pub full_waits: u64,
    /// Updates not published because the reader was dropped.
    pub unread: u64,
}

/// Counters of the recorder ring and thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Events the engine forwarded (input events and `Status` events).
    pub forwarded: u64,
    /// Events appended to the log.
    pub appended: u64,
    /// Events dropped on a full recorder ring (overflow). Non-zero fails
    /// [`EngineReport::check`].
    pub dropped: u64,
    /// Times the engine waited on a full ring under [`crate::Backpressure::BlockSpin`].
    pub full_waits: u64,
    /// Events received after the log failed, not written.
    pub lost_after_error: u64,
    /// The first append or close error, if any.
    pub error: Option<String>,
}

/// What a run did: counters of every thread, the feature digest and the latencies.
#[derive(Clone, Debug, Default)]
pub struct EngineReport {
    /// The feed thread.
    pub feed: FeedStats,
    /// The engine thread.
    pub pipeline: PipelineStats,
    /// The executor ring.
    pub executor: ExecutorStats,
    /// The recorder, when recording.
    pub recorder: Option<RecorderStats>,
    /// Digest of every feature output, in order: equal to a single-threaded
    /// [`crate::Pipeline`] run over the same events.
    pub digest: FeatureDigest,
    /// Stage latencies of every thread, merged.
    pub latency: LatencyReport,
}

impl EngineReport {
    /// Events the recorder ring dropped (0 when not recording).
    #[must_use]
    pub fn recorder_dropped(&self) -> u64 {
        self.recorder.as_ref().map_or(0, |r| r.dropped)
    }

    /// `Ok` when everything was recorded; a run exits non-zero on `Err` unless drops were
    /// explicitly allowed (`--allow-drop`).
    ///
    /// # Errors
    /// [`EngineError::RecorderFailed`] when the log failed, else
    /// [`EngineError::RecorderOverflow`] when the recorder ring dropped events.
    pub fn check(&self) -> Result<(), EngineError> {
        if let Some(r) = &self.recorder {
            if let Some(reason) = &r.error {
                return Err(EngineError::RecorderFailed {
                    reason: reason.clone(),
                    lost: r.lost_after_error,
                });
            }
            if r.dropped > 0 {
                return Err(EngineError::RecorderOverflow { dropped: r.dropped });
            }
        }
        Ok(())
    }
}

impl fmt::Display for EngineReport {
    /// A few lines for a terminal: counts, drops, digest, then the latency table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feed = &self.feed;
        writeln!(
            f,
            "feed: {} events in {} polls, {} source errors, engine ring full {} times",
            feed.events, feed.polls, feed.source_errors, feed.engine_ring_full
        )?;
        let p = &self.pipeline;
        writeln!(
            f,
            "engine: {} events, {} feature records, {} bars, {} status events",
            p.events, p.feature_events, p.bars, p.status_events
        )?;
        let x = &self.executor;
        writeln!(
            f,
            "executor ring: {} published, {} skipped, {} full waits, {} unread",
            x.published, x.skipped, x.full_waits, x.unread
        )?;
        if let Some(r) = &self.recorder {
            writeln!(
                f,
                "recorder: {} forwarded, {} appended, {} dropped (overflow), {} lost after error{}",
                r.forwarded,
                r.appended,
                r.dropped,
                r.lost_after_error,
                r.error
                    .as_ref()
                    .map_or(String::new(), |e| format!(", error: {e}"))
            )?;
        }
        writeln!(
            f,
            "feature digest: {:016x} ({} event records, {} bars)",
            self.digest.value(),
            self.digest.event_count(),
            self.digest.bar_count()
        )?;
        write!(f, "{}", self.latency)
    }
}
