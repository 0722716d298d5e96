//! Stage latencies: per-thread histograms, merged off the hot path (DESIGN.md section 7;
//! STYLE.md section 3, after HdrHistogram_rust `src/lib.rs` and `src/sync/mod.rs`).
//!
//! Each thread owns preallocated `hdrhistogram` histograms for the stages it can see and
//! records into them with `saturating_record` (no `Result`, no allocation). Stamps come from
//! one monotonic clock shared by the threads ([`Clock`], an `Instant` base), read once per stage
//! per event or batch; receive-based stages use `CLOCK_REALTIME`, the clock `recv_ns` was read
//! from, and only for live sources ([`crate::RecvClock::Live`]).
//!
//! | stage | thread | from | to |
//! | --- | --- | --- | --- |
//! | [`Stage::ReceiveToParsed`] | feed | frame read (`recv_ns`) | its events handed to the feed thread (once per batch) |
//! | [`Stage::ParsedToApplied`] | engine | events handed to the feed thread | depth diff fully applied to the book |
//! | [`Stage::AppliedToFeatures`] | engine | diff applied | per-event features computed |
//! | [`Stage::ParsedToFeatures`] | engine | events handed to the feed thread | per-event features computed (trades too) |
//! | [`Stage::ReceiveToFeatures`] | engine | frame read | per-event features computed, what a [`crate::Strategy`] sees (live sources only) |
//! | [`Stage::FeaturesToExecutor`] | executor | features computed | update popped by [`crate::FeatureReader`] |
//! | [`Stage::ReceiveToExecutor`] | executor | frame read | update popped (live sources only) |
//!
//! Merging: a [`LatencyBoard`] holds one mutex-protected copy per thread. A reader asks for
//! fresh copies by bumping a generation counter; each thread checks it with one Relaxed load
//! when idle and every 1024 events, and copies its histograms into its slot only when asked.
//! Threads publish a final copy when they finish.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// Largest latency a histogram tracks: 10 s (larger values are recorded as 10 s).
pub const MAX_LATENCY_NS: u64 = 10_000_000_000;
/// Significant figures kept by the histograms.
const SIGFIG: u8 = 3;

/// A measured stage (see the module docs for the table of stamps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stage {
    /// Frame read → events handed to the feed thread (live sources).
    ReceiveToParsed = 0,
    /// Events handed to the feed thread → depth diff applied on the engine thread.
    ParsedToApplied = 1,
    /// Depth diff applied → per-event features computed.
    AppliedToFeatures = 2,
    /// Events handed to the feed thread → per-event features computed (trades included).
    ParsedToFeatures = 3,
    /// Frame read → per-event features computed on the engine thread, where the
    /// [`crate::Strategy`] is called with them next (live sources): the end to end of an
    /// executor that runs in the engine's callback.
    ReceiveToFeatures = 4,
    /// Features computed → update visible to the executor's thread.
    FeaturesToExecutor = 5,
    /// Frame read → update visible to the executor's thread (live sources).
    ReceiveToExecutor = 6,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Self; 7] = [
        Self::ReceiveToParsed,
        Self::ParsedToApplied,
        Self::AppliedToFeatures,
        Self::ParsedToFeatures,
        Self::ReceiveToFeatures,
        Self::FeaturesToExecutor,
        Self::ReceiveToExecutor,
    ];

    /// A short label (`receive->parsed`...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ReceiveToParsed => "receive->parsed",
            Self::ParsedToApplied => "parsed->applied",
            Self::AppliedToFeatures => "applied->features",
            Self::ParsedToFeatures => "parsed->features",
            Self::ReceiveToFeatures => "receive->features",
            Self::FeaturesToExecutor => "features->executor",
            Self::ReceiveToExecutor => "receive->executor",
        }
    }
}

/// A fresh histogram, 1 ns to [`MAX_LATENCY_NS`] at 3 significant figures.
///
/// # Panics
/// Never: the bounds are constants hdrhistogram accepts.
#[must_use]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGFIG)
        .unwrap_or_else(|e| panic!("constant histogram bounds rejected: {e}"))
}

/// The monotonic clock every thread stamps with: nanoseconds since the engine started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    base: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }

    /// Nanoseconds since the clock was made.
    #[inline]
    pub(crate) fn now_ns(self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// `CLOCK_REALTIME`, ns since the UNIX epoch (the clock `recv_ns` is read from).
#[inline]
pub(crate) fn realtime_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `to - from`, zero when the clocks disagree on the order.
#[inline]
pub(crate) fn elapsed_ns(from: i64, to: i64) -> u64 {
    u64::try_from(to.saturating_sub(from)).unwrap_or(0)
}

/// Latency histograms of every [`Stage`], merged over threads.
#[derive(Clone)]
pub struct LatencyReport {
    hists: Vec<Histogram<u64>>,
}

impl Default for LatencyReport {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyReport {
    /// Empty histograms for every stage.
    #[must_use]
    pub fn new() -> Self {
        Self {
            hists: Stage::ALL.iter().map(|_| new_histogram()).collect(),
        }
    }

    /// The histogram of `stage`, in nanoseconds.
    #[must_use]
    pub fn get(&self, stage: Stage) -> &Histogram<u64> {
        &self.hists[stage as usize]
    }

    /// Adds `hist` into the histogram of `stage`.
    pub fn add(&mut self, stage: Stage, hist: &Histogram<u64>) {
        // Same bounds on both sides, so the addition cannot fail; saturate if it ever did.
        if self.hists[stage as usize].add(hist).is_err() {
            for v in hist.iter_recorded() {
                self.hists[stage as usize]
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Adds every histogram of `other`.
    pub fn merge(&mut self, other: &Self) {
        for stage in Stage::ALL {
            self.add(stage, other.get(stage));
        }
    }
}

impl fmt::Debug for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<_> = Stage::ALL
            .iter()
            .map(|&s| (s.name(), self.get(s).len()))
            .collect();
        f.debug_struct("LatencyReport")
            .field("counts", &counts)
            .finish()
    }
}

/// Writes `ns` with a unit: `850ns`, `1.25us`, `3.40ms`, `2.00s`.
fn fmt_ns(ns: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.2}us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

impl fmt::Display for LatencyReport {
    /// One line per stage with samples: count, p50, p99, p99.9, max.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "stage", "count", "p50", "p99", "p99.9", "max"
        )?;
        for stage in Stage::ALL {
            let h = self.get(stage);
            if h.is_empty() {
                continue;
            }
            writeln!(
                f,
                "{:<20} {:>10} {:>9} {:>9} {:>9} {:>9}",
                stage.name(),
                h.len(),
                fmt_ns(h.value_at_quantile(0.5)),
                fmt_ns(h.value_at_quantile(0.99)),
                fmt_ns(h.value_at_quantile(0.999)),
                fmt_ns(h.max()),
            )?;
        }
        Ok(())
    }
}

/// The threads that record latencies, one board slot each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Feed = 0,
    Engine = 1,
    Executor = 2,
}

impl Role {
    const COUNT: usize = 3;

    const fn stages(self) -> &'static [Stage] {
        match self {
            Self::Feed => &[Stage::ReceiveToParsed],
            Self::Engine => &[
                Stage::ParsedToApplied,
                Stage::AppliedToFeatures,
                Stage::ParsedToFeatures,
                Stage::ReceiveToFeatures,
            ],
            Self::Executor => &[Stage::FeaturesToExecutor, Stage::ReceiveToExecutor],
        }
    }
}

/// Generation a finished thread publishes: answers every request.
const FINAL: u64 = u64::MAX;

struct Slot {
    /// Generation of the last publication.
    generation: u64,
    hists: Vec<Histogram<u64>>,
}

/// Where threads publish histogram copies on request (see the module docs).
pub(crate) struct LatencyBoard {
    generation: AtomicU64,
    active: [AtomicBool; Role::COUNT],
    slots: [Mutex<Slot>; Role::COUNT],
}

impl fmt::Debug for LatencyBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyBoard")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LatencyBoard {
    pub(crate) fn new() -> Arc<Self> {
        let slot = |role: Role| {
            Mutex::new(Slot {
                generation: 0,
                hists: role.stages().iter().map(|_| new_histogram()).collect(),
            })
        };
        Arc::new(Self {
            generation: AtomicU64::new(0),
            active: std::array::from_fn(|_| AtomicBool::new(false)),
            slots: [slot(Role::Feed), slot(Role::Engine), slot(Role::Executor)],
        })
    }

    /// Asks every active thread for fresh copies, calls `wake` so parked threads see it,
    /// waits up to `timeout` for the answers, then merges what is published.
    pub(crate) fn snapshot(&self, timeout: Duration, wake: impl Fn()) -> LatencyReport {
        let wanted = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        wake();
        let deadline = Instant::now() + timeout;
        for role in [Role::Feed, Role::Engine, Role::Executor] {
            while self.active[role as usize].load(Ordering::Acquire)
                && self.lock(role).generation < wanted
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.merged()
    }

    /// `true` while some thread (or the executor's reader) has not published its final copy.
    pub(crate) fn has_active(&self) -> bool {
        self.active.iter().any(|a| a.load(Ordering::Acquire))
    }

    /// Merges the last publication of every thread.
    pub(crate) fn merged(&self) -> LatencyReport {
        let mut report = LatencyReport::new();
        for role in [Role::Feed, Role::Engine, Role::Executor] {
            let slot = self.lock(role);
            for (stage, h) in role.stages().iter().zip(&slot.hists) {
                report.add(*stage, h);
            }
        }
        report
    }

    fn lock(&self, role: Role) -> std::sync::MutexGuard<'_, Slot> {
        self.slots[role as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One thread's histograms (see the module docs).
pub(crate) struct ThreadLatency {
    role: Role,
    hists: Vec<Histogram<u64>>,
    board: Arc<LatencyBoard>,
    seen: u64,
}

impl fmt::Debug for ThreadLatency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadLatency")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl ThreadLatency {
    /// Preallocates the histograms of `role` and marks it active on `board`.
    pub(crate) fn new(role: Role, board: Arc<LatencyBoard>) -> Self {
        board.active[role as usize].store(true, Ordering::Release);
        Self {
            role,
            hists: role.stages().iter().map(|_| new_histogram()).collect(),
            seen: board.generation.load(Ordering::Relaxed),
            board,
        }
    }

    /// Records `ns` for the `index`-th stage of this thread's role.
    #[inline]
    pub(crate) fn record(&mut self, index: usize, ns: u64) {
        if let Some(h) = self.hists.get_mut(index) {
            h.saturating_record(ns);
        }
    }

    /// Publishes a copy if a snapshot was requested since the last one: one Relaxed load.
    #[inline]
    pub(crate) fn poll_request(&mut self) {
        let generation = self.board.generation.load(Ordering::Relaxed);
        if generation != self.seen {
            self.publish(generation);
        }
    }

    #[cold]
    fn publish(&mut self, generation: u64) {
        let mut slot = self.board.lock(self.role);
        for (dst, src) in slot.hists.iter_mut().zip(&self.hists) {
            // Same bounds: `set_to` copies counts into the preallocated slot.
            let _ = dst.set_to(src);
        }
        slot.generation = generation;
        self.seen = generation;
    }

    /// Publishes the final copy and marks the thread inactive.
    pub(crate) fn finish(&mut self) {
        self.publish(FINAL);
        self.board.active[self.role as usize].store(false, Ordering::Release);
    }
}

impl Drop for ThreadLatency {
    fn drop(&mut self) {
        if self.seen != FINAL {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_publish_on_request_and_on_finish() {
        let board = LatencyBoard::new();
        let mut engine = ThreadLatency::new(Role::Engine, Arc::clone(&board));
        engine.record(0, 1_000);
        engine.record(2, 5_000);
        // Not asked yet: the board is empty.
        assert!(board.merged().get(Stage::ParsedToApplied).is_empty());
        let handle = {
            let board = Arc::clone(&board);
            // Long enough that a descheduled test thread cannot time it out; the answer
            // below ends it at once.
            std::thread::spawn(move || board.snapshot(Duration::from_secs(60), || {}))
        };
        while board.generation.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        engine.poll_request();
        let report = handle.join().unwrap();
        assert_eq!(report.get(Stage::ParsedToApplied).len(), 1);
        assert_eq!(report.get(Stage::ParsedToFeatures).len(), 1);
        engine.record(0, 2_000);
        drop(engine);
        assert_eq!(board.merged().get(Stage::ParsedToApplied).len(), 2);
        let text = board.merged().to_string();
        assert!(text.contains("parsed->applied"), "{text}");
        assert!(!text.contains("receive->parsed"), "{text}");
    }

    #[test]
    fn values_saturate() {
        let mut h = new_histogram();
        h.saturating_record(u64::MAX);
        assert!(h.max() >= MAX_LATENCY_NS);
        assert_eq!(fmt_ns(850), "850ns");
        assert_eq!(fmt_ns(1_250), "1.25us");
        assert_eq!(elapsed_ns(10, 5), 0);
    }
}
