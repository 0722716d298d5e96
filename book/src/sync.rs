//! The Binance USD-M depth sync state machine (DESIGN.md section 4; protocol doc section 3).
//!
//! A [`SyncBook`] owns the [`Book`] of one symbol and consumes that symbol's depth events one
//! record at a time: a diff is a [`DepthDiff`] header and its [`Level`]s, a REST snapshot a
//! [`DepthSnapshot`] header and its levels, the last record of each flagged [`Flags::LAST`]. It
//! never does I/O: it asks for snapshots through a [`SnapshotRequester`] and reports sync changes
//! as [`Status`] events pushed into the caller's [`SyncSink`], so a recorder can log them and a
//! replay of the same input takes the same decisions.
//!
//! # States
//! - **Buffering** (no valid book). Every diff is stored whole, header and levels, in a bounded
//!   buffer preallocated to [`BookConfig::buffer_records`] records (protocol §3.1 step 1). The
//!   first diff buffered with no snapshot outstanding requests one (§3.3: "wait until at least one
//!   event is buffered before requesting the snapshot").
//! - **Holding** `L`. A snapshot with `lastUpdateId = L` is loaded, but no diff with `u >= L` has
//!   arrived yet; diffs are decided as they come, as below.
//! - **Live** `last_u`. The book is valid as of update id `last_u`.
//!
//! # Transitions
//! When a snapshot's last record arrives, the book holds the snapshot and the state is Holding
//! `L`. The buffered diffs are then replayed in arrival order through the same rules as live
//! diffs, and later diffs follow them:
//! 1. In Holding `L`, a diff with `u < L` is dropped as stale (§3.1 step 3, strict `<`).
//! 2. In Holding `L`, the first kept diff must straddle: `U <= L <= u` (§3.1 step 4). It is
//!    applied; once its last level is in and the book is not crossed, the state is Live `u`, a
//!    `Status::Resynced` (`actual_id = L`) is emitted and [`SyncOutcome::Resynced`] returned.
//! 3. In Holding `L`, a first kept diff with `U > L` means the snapshot is older than the stream
//!    (§3.3): `Status::Gap` (`expected_id = L`, `actual_id = U`), a new snapshot is requested and
//!    the state returns to Buffering with that diff as the first buffered one.
//! 4. In Live `last_u`, a diff with `u < last_u` is a stale duplicate and is dropped (§3.3); a
//!    diff with `pu == last_u` is applied (§3.1 step 5; `pu`, never `U == last_u + 1`, §3.2);
//!    any other `pu` is a chain break: `Status::Gap` (`expected_id = last_u`, `actual_id = pu`),
//!    the book is marked unsynced, a snapshot is requested and the state returns to Buffering,
//!    starting the buffer with the diff that broke the chain (§3.4). The check runs on every diff.
//! 5. After every fully applied diff the book must not be crossed or locked (§3.3, "Crossed/locked
//!    book checks"). If it is, that is counted and treated as a gap: `Status::Gap` with
//!    `expected_id == actual_id == u` (equal ids tell a book-integrity gap from a chain break,
//!    whose ids always differ). A diff whose level counts disagree with its header, or that the
//!    book refuses ([`LevelError`](crate::LevelError)), is handled the same way.
//! 6. A snapshot that arrives while Live is ignored and counted; one that arrives while Buffering
//!    or Holding replaces the book.
//!
//! Buffered diffs whose ids are all below `L` keep the state in Holding: the machine waits for the
//! first diff with `u >= L`. A buffered diff is never reordered, merged or skipped except by the
//! rules above, and everything dropped is counted in [`SyncStats`].
//!
//! # Buffer overflow
//! When the buffer is full, the *oldest* buffered diff is evicted whole and
//! [`SyncStats::buffer_overflows`] is incremented; a single diff larger than the whole buffer is
//! dropped instead (its records return [`SyncOutcome::BufferFull`]). Nothing is lost silently: an eviction can only make the next snapshot look too
//! old (rule 3) or break the replayed chain (rule 4), and both already request a fresh snapshot.
//!
//! # Malformed input
//! Records that do not form whole messages (a level with no open message, a header arriving
//! before the previous message's `LAST`, level counts that disagree with the header) are counted
//! in [`SyncStats::malformed`]. A partially buffered diff is rolled back; a partially applied diff
//! invalidates the book as in rule 5; an incomplete snapshot, or one with a refused level, is
//! discarded and another requested. No input sequence panics (a property test feeds arbitrary
//! record streams).

use std::collections::VecDeque;

use orderflow_core::{
    Body, BookLevel, BookSide, BookView, DepthDiff, DepthSnapshot, Event, Flags, Level, Status,
    StatusCode, SymbolId, TopArrays,
};

use crate::book::{Book, BookConfig, ConfigError};

/// Where a [`SyncBook`] reports what it did.
///
/// Status changes come as `Status` events for the recorder; every fully applied diff is
/// reported too, including the diffs replayed from the buffer when a snapshot arrives, which all
/// complete inside one [`SyncBook::on_event`] call (one [`SyncOutcome`] cannot name them all).
pub trait SyncSink {
    /// A `Status` event (gap or resync) to record; `book` already reflects the change.
    fn status(&mut self, book: &Book, event: &Event);

    /// `diff` was fully applied: `book` is valid as of its final update id. `resynced` is `true`
    /// for the diff that made the book valid after a snapshot.
    fn diff_applied(&mut self, book: &Book, diff: &DepthDiff, resynced: bool) {
        let _ = (book, diff, resynced);
    }
}

/// Collects the status events (tests, simple callers).
impl SyncSink for Vec<Event> {
    fn status(&mut self, _: &Book, event: &Event) {
        self.push(*event);
    }
}

impl<T: SyncSink + ?Sized> SyncSink for &mut T {
    fn status(&mut self, book: &Book, event: &Event) {
        (**self).status(book, event);
    }
    fn diff_applied(&mut self, book: &Book, diff: &DepthDiff, resynced: bool) {
        (**self).diff_applied(book, diff, resynced);
    }
}

/// Where a [`SyncBook`] asks for a REST depth snapshot. The book never does I/O: the
/// implementation queues the request (and retries and rate-limits it, protocol §3.3), and the
/// snapshot comes back later as events through [`SyncBook::on_event`].
pub trait SnapshotRequester {
    /// Asks for a fresh snapshot of `symbol`.
    fn request_snapshot(&mut self, symbol: SymbolId);
}

impl<T: SnapshotRequester + ?Sized> SnapshotRequester for &mut T {
    #[inline]
    fn request_snapshot(&mut self, symbol: SymbolId) {
        (**self).request_snapshot(symbol);
    }
}

/// A requester that does nothing: replay, where the recorded snapshots arrive on their own.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopRequester;

impl SnapshotRequester for NoopRequester {
    #[inline]
    fn request_snapshot(&mut self, _symbol: SymbolId) {}
}

/// A requester that records every request (tests, or a polled I/O loop).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingRequester {
    /// Requests in order.
    pub requests: Vec<SymbolId>,
}

impl SnapshotRequester for RecordingRequester {
    fn request_snapshot(&mut self, symbol: SymbolId) {
        self.requests.push(symbol);
    }
}

/// The sync state of a [`SyncBook`] (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// No valid book: diffs are buffered until a snapshot arrives.
    Buffering,
    /// A snapshot is loaded; waiting for the first diff with `u >= last_update_id`.
    Holding {
        /// The snapshot's `lastUpdateId`.
        last_update_id: u64,
    },
    /// The book is valid as of `last_update_id` (the last applied diff's `u`).
    Live {
        /// `u` of the last applied diff.
        last_update_id: u64,
    },
}

/// What one call to [`SyncBook::on_event`] did; small and `Copy` for the caller to branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncOutcome {
    /// The record was stored in the sync buffer.
    Buffered,
    /// The record was applied to the book; its diff is not complete yet.
    Applying,
    /// The last record of a diff was applied: the book is valid as of `final_update_id`.
    Applied {
        /// The diff's `u`.
        final_update_id: u64,
    },
    /// The book became valid from a snapshot; `Status::Resynced` was emitted.
    Resynced {
        /// The snapshot's `lastUpdateId`.
        last_update_id: u64,
        /// `u` of the last diff applied on top of it.
        final_update_id: u64,
    },
    /// The book became invalid (chain break, crossed book, bad diff); `Status::Gap` was
    /// emitted and a snapshot requested.
    Gap,
    /// A snapshot record was loaded; the snapshot is not complete yet.
    SnapshotLoading,
    /// The snapshot is loaded but every buffered diff is older: waiting for a diff with
    /// `u >= lastUpdateId`.
    SnapshotHeld,
    /// The snapshot is older than the stream (`U > lastUpdateId`): `Status::Gap` was emitted and
    /// another snapshot requested.
    SnapshotTooOld,
    /// The record belongs to a diff older than the book (`u < lastUpdateId` or `u < last u`),
    /// dropped and counted.
    Stale,
    /// The record ended a message that did not add up (or had no header); it was dropped and
    /// counted in [`SyncStats::malformed`].
    Malformed,
    /// The record belongs to a diff larger than the whole sync buffer; the diff was dropped and
    /// counted in [`SyncStats::buffer_overflows`].
    BufferFull,
    /// Not a depth record of this symbol, or a snapshot while live: nothing done.
    Ignored,
}

/// Counters of a [`SyncBook`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Diffs applied to a valid (or becoming valid) book.
    pub diffs_applied: u64,
    /// `pu` mismatches while live (or while replaying the buffer).
    pub chain_breaks: u64,
    /// Books found crossed or locked after a fully applied diff.
    pub crossed_books: u64,
    /// Times the book became valid from a snapshot, the first sync included.
    pub resyncs: u64,
    /// `Status::Gap` events emitted, whatever the cause.
    pub gaps: u64,
    /// Diffs dropped as older than the snapshot or the book.
    pub stale_dropped: u64,
    /// Snapshots asked of the [`SnapshotRequester`].
    pub snapshots_requested: u64,
    /// Snapshots fully received (usable or not).
    pub snapshots_received: u64,
    /// Snapshots older than the first buffered diff.
    pub snapshots_too_old: u64,
    /// Snapshots that arrived while the book was live.
    pub snapshots_ignored: u64,
    /// Diffs evicted (or refused) because the buffer was full.
    pub buffer_overflows: u64,
    /// Messages whose records did not add up.
    pub malformed: u64,
    /// Levels the book refused (non-positive price, negative quantity).
    pub invalid_levels: u64,
    /// Events of other kinds or symbols.
    pub ignored: u64,
}

/// A buffered diff record.
#[derive(Clone, Copy, Debug)]
enum Record {
    Diff(DepthDiff),
    Level(Level),
}

const _: () = assert!(size_of::<Record>() == 56);

/// Internal state; [`SyncState`] is its public view.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Buffering,
    Holding { last_update_id: u64, time_ms: i64 },
    Live { last_u: u64 },
}

/// The message whose records are arriving.
#[derive(Clone, Copy, Debug)]
enum Open {
    Idle,
    /// A diff applied to the book; `resync` is the snapshot id when it completes a sync.
    Apply {
        header: DepthDiff,
        seen: u64,
        resync: Option<(u64, i64)>,
    },
    /// A diff stored in the buffer: its last `records` buffer entries (0 once it was dropped).
    Buffer {
        header: DepthDiff,
        seen: u64,
        records: usize,
    },
    /// The rest of a message being skipped; the outcome to report for each record.
    Skip(SyncOutcome),
    /// A snapshot being loaded into the book.
    Snapshot {
        header: DepthSnapshot,
        seen: u64,
        bad: bool,
    },
}

/// The I/O handles and the current record's receive time, threaded through one call.
struct Io<'a, R: ?Sized, S: ?Sized> {
    requester: &'a mut R,
    sink: &'a mut S,
    recv_ns: i64,
}

/// The book of one symbol kept in sync with Binance USD-M diff depth; see the module docs.
///
/// ```
/// use orderflow_book::{BookConfig, RecordingRequester, SyncBook, SyncOutcome};
/// use orderflow_core::{
///     Body, BookSide, DepthDiff, DepthSnapshot, Event, Flags, Level, Px, Qty, SymbolId,
/// };
///
/// let sym = SymbolId(0);
/// let mut book = SyncBook::new(sym, &BookConfig::with_tick(Px(10_000_000)));
/// let (mut requests, mut status) = (RecordingRequester::default(), Vec::<Event>::new());
/// let level = |px: &str, side| {
///     Body::Level(Level { px: px.parse().unwrap(), qty: Qty(100_000_000), side, _reserved: [0; 7] })
/// };
///
/// // A diff arrives first: it is buffered and a snapshot is requested.
/// let diff = DepthDiff { first_update_id: 95, final_update_id: 110, prev_final_update_id: 90,
///     bid_count: 1, ..DepthDiff::default() };
/// book.on_event(&Event::new(1, sym, Body::DepthDiff(diff)), &mut requests, &mut status);
/// let out = book.on_event(
///     &Event::new(1, sym, level("100.0", BookSide::Bid)).with_flags(Flags::LAST),
///     &mut requests, &mut status);
/// assert_eq!(out, SyncOutcome::Buffered);
/// assert_eq!(requests.requests, [sym]);
///
/// // The snapshot (lastUpdateId 100) is straddled by the buffered diff: the book is live.
/// let snap = DepthSnapshot { last_update_id: 100, ask_count: 1, ..DepthSnapshot::default() };
/// book.on_event(&Event::new(2, sym, Body::DepthSnapshot(snap)), &mut requests, &mut status);
/// let out = book.on_event(
///     &Event::new(2, sym, level("100.1", BookSide::Ask)).with_flags(Flags::SNAPSHOT.with(Flags::LAST)),
///     &mut requests, &mut status);
/// assert_eq!(out, SyncOutcome::Resynced { last_update_id: 100, final_update_id: 110 });
/// assert_eq!(book.book().best_bid().map(|l| l.px.to_string()), Some("100".into()));
/// assert_eq!(status.len(), 1); // Status::Resynced
/// ```
#[derive(Debug)]
pub struct SyncBook {
    symbol: SymbolId,
    book: Book,
    phase: Phase,
    open: Open,
    buffer: VecDeque<Record>,
    capacity: usize,
    snapshot_pending: bool,
    stats: SyncStats,
}

impl SyncBook {
    /// A book for `symbol` in the Buffering state.
    ///
    /// # Panics
    /// When `config` is invalid; see [`SyncBook::try_new`].
    #[must_use]
    pub fn new(symbol: SymbolId, config: &BookConfig) -> Self {
        match Self::try_new(symbol, config) {
            Ok(book) => book,
            Err(e) => panic!("invalid book configuration: {e}"),
        }
    }

    /// A book for `symbol` in the Buffering state, with its buffer preallocated.
    ///
    /// # Errors
    /// [`ConfigError`] when `config` is invalid.
    pub fn try_new(symbol: SymbolId, config: &BookConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            symbol,
            book: Book::try_new(config)?,
            phase: Phase::Buffering,
            open: Open::Idle,
            buffer: VecDeque::with_capacity(config.buffer_records),
            capacity: config.buffer_records,
            snapshot_pending: false,
            stats: SyncStats::default(),
        })
    }

    /// The symbol this book follows.
    #[must_use]
    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }

    /// The book (valid only while [`SyncBook::is_synced`]).
    #[inline]
    #[must_use]
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// `true` while Live.
    #[inline]
    #[must_use]
    pub fn is_synced(&self) -> bool {
        matches!(self.phase, Phase::Live { .. })
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> SyncState {
        match self.phase {
            Phase::Buffering => SyncState::Buffering,
            Phase::Holding { last_update_id, .. } => SyncState::Holding { last_update_id },
            Phase::Live { last_u } => SyncState::Live {
                last_update_id: last_u,
            },
        }
    }

    /// `u` of the last applied diff while Live.
    #[must_use]
    pub fn last_update_id(&self) -> Option<u64> {
        match self.phase {
            Phase::Live { last_u } => Some(last_u),
            _ => None,
        }
    }

    /// `true` while a requested snapshot has not arrived.
    #[must_use]
    pub fn is_snapshot_pending(&self) -> bool {
        self.snapshot_pending
    }

    /// Records held in the sync buffer.
    #[must_use]
    pub fn buffered_records(&self) -> usize {
        self.buffer.len()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// Asks `requester` for a fresh snapshot now, whatever the state: for the caller's own
    /// retry policy (a request that timed out by exchange time, a reconnect). Counted in
    /// [`SyncStats::snapshots_requested`].
    pub fn request_snapshot<R: SnapshotRequester + ?Sized>(&mut self, requester: &mut R) {
        self.snapshot_pending = true;
        self.stats.snapshots_requested += 1;
        requester.request_snapshot(self.symbol);
    }

    /// Consumes one event. Events of other symbols or kinds are [`SyncOutcome::Ignored`];
    /// status changes are pushed into `sink`, snapshot requests go to `requester`.
    ///
    /// The records of one message must arrive contiguously (a snapshot's levels are not
    /// interleaved with a diff): a header that arrives before the previous message's `LAST`
    /// ends that message as malformed.
    pub fn on_event<R, S>(&mut self, event: &Event, requester: &mut R, sink: &mut S) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        if event.symbol != self.symbol {
            self.stats.ignored += 1;
            return SyncOutcome::Ignored;
        }
        let mut io = Io {
            requester,
            sink,
            recv_ns: event.recv_ns,
        };
        match &event.body {
            Body::Level(level) => self.level(level, event.is_last(), &mut io),
            Body::DepthDiff(header) => {
                let interrupted = self.interrupt(&mut io);
                let head = self.on_diff_header(header, &mut io);
                let out = if event.is_last() {
                    match head {
                        SyncOutcome::Gap | SyncOutcome::SnapshotTooOld => {
                            self.end_message(&mut io);
                            head
                        }
                        _ => self.end_message(&mut io),
                    }
                } else {
                    head
                };
                interrupted.unwrap_or(out)
            }
            Body::DepthSnapshot(header) => {
                let interrupted = self.interrupt(&mut io);
                let head = self.on_snapshot_header(header);
                let out = if event.is_last() {
                    self.end_message(&mut io)
                } else {
                    head
                };
                interrupted.unwrap_or(out)
            }
            _ => {
                self.stats.ignored += 1;
                SyncOutcome::Ignored
            }
        }
    }

    /// Consumes one depth level of this book's symbol: the same as [`SyncBook::on_event`] with
    /// the event `Event::new(recv_ns, symbol, Body::Level(*level))`, flagged
    /// [`Flags::LAST`](orderflow_core::Flags::LAST) when `last`, without building that event.
    /// Levels are most of a depth stream, and a replay reads them straight out of its log.
    #[inline]
    pub fn on_level<R, S>(
        &mut self,
        level: &Level,
        last: bool,
        recv_ns: i64,
        requester: &mut R,
        sink: &mut S,
    ) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        let mut io = Io {
            requester,
            sink,
            recv_ns,
        };
        self.level(level, last, &mut io)
    }

    /// A header arrived: close a message still open (its `LAST` never came). Returns `Gap` when
    /// that invalidated the book.
    fn interrupt<R, S>(&mut self, io: &mut Io<'_, R, S>) -> Option<SyncOutcome>
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        match core::mem::replace(&mut self.open, Open::Idle) {
            Open::Idle => None,
            Open::Skip(_) => {
                self.stats.malformed += 1;
                None
            }
            Open::Buffer { records, .. } => {
                self.stats.malformed += 1;
                self.unbuffer(records);
                None
            }
            Open::Apply { header, .. } => {
                self.stats.malformed += 1;
                let u = header.final_update_id;
                self.gap(u, u, header.transact_time_ms, io);
                Some(SyncOutcome::Gap)
            }
            Open::Snapshot { .. } => {
                self.stats.malformed += 1;
                self.snapshot_unusable(io);
                None
            }
        }
    }

    fn on_diff_header<R, S>(&mut self, h: &DepthDiff, io: &mut Io<'_, R, S>) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        match self.phase {
            Phase::Live { last_u } => {
                if h.final_update_id < last_u {
                    self.skip_stale()
                } else if h.prev_final_update_id == last_u {
                    self.open = Open::Apply {
                        header: *h,
                        seen: 0,
                        resync: None,
                    };
                    SyncOutcome::Applying
                } else {
                    self.stats.chain_breaks += 1;
                    self.gap(last_u, h.prev_final_update_id, h.transact_time_ms, io);
                    self.begin_buffer(h);
                    SyncOutcome::Gap
                }
            }
            Phase::Holding {
                last_update_id,
                time_ms,
            } => {
                if h.final_update_id < last_update_id {
                    self.skip_stale()
                } else if h.first_update_id <= last_update_id {
                    self.open = Open::Apply {
                        header: *h,
                        seen: 0,
                        resync: Some((last_update_id, time_ms)),
                    };
                    SyncOutcome::Applying
                } else {
                    self.snapshot_too_old(last_update_id, h, io);
                    self.begin_buffer(h);
                    SyncOutcome::SnapshotTooOld
                }
            }
            Phase::Buffering => {
                self.begin_buffer(h);
                if !self.snapshot_pending {
                    self.request(io);
                }
                SyncOutcome::Buffered
            }
        }
    }

    fn skip_stale(&mut self) -> SyncOutcome {
        self.stats.stale_dropped += 1;
        self.open = Open::Skip(SyncOutcome::Stale);
        SyncOutcome::Stale
    }

    fn on_snapshot_header(&mut self, h: &DepthSnapshot) -> SyncOutcome {
        if let Phase::Live { .. } = self.phase {
            self.stats.snapshots_ignored += 1;
            self.open = Open::Skip(SyncOutcome::Ignored);
            return SyncOutcome::Ignored;
        }
        // Buffering or Holding: the snapshot replaces whatever the book held.
        self.phase = Phase::Buffering;
        self.book.clear();
        self.book.set_synced(false);
        self.open = Open::Snapshot {
            header: *h,
            seen: 0,
            bad: false,
        };
        SyncOutcome::SnapshotLoading
    }

    /// One level of the open message. The common case, a level of a diff being applied that
    /// is not its last, is tested first and kept short; the rest is out of line.
    // `inline(always)`: with two callers the compiler kept it out of line, a call and five
    // register saves per level; inlined, the BTCUSDT log replay went from 7.87 to 8.38 M
    // messages/s (`orderflow bench throughput --only log`, three alternating runs).
    #[inline(always)]
    fn level<R, S>(&mut self, level: &Level, last: bool, io: &mut Io<'_, R, S>) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        if !last && let Open::Apply { header, seen, .. } = &mut self.open {
            *seen += 1;
            if self.book.apply(level).is_ok() {
                return SyncOutcome::Applying;
            }
            let (u, time) = (header.final_update_id, header.transact_time_ms);
            return self.refused_level(u, time, false, io);
        }
        self.any_level(level, last, io)
    }

    /// [`SyncBook::level`] in every state.
    #[inline(never)]
    fn any_level<R, S>(&mut self, level: &Level, last: bool, io: &mut Io<'_, R, S>) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        let out = match &mut self.open {
            Open::Idle => {
                self.stats.malformed += 1;
                return SyncOutcome::Malformed;
            }
            Open::Apply { header, seen, .. } => {
                *seen += 1;
                if self.book.apply(level).is_err() {
                    let (u, time) = (header.final_update_id, header.transact_time_ms);
                    return self.refused_level(u, time, last, io);
                }
                SyncOutcome::Applying
            }
            Open::Buffer { seen, .. } => {
                *seen += 1;
                self.push_level(*level);
                match self.open {
                    Open::Skip(out) => out,
                    _ => SyncOutcome::Buffered,
                }
            }
            Open::Skip(out) => *out,
            Open::Snapshot { seen, bad, .. } => {
                *seen += 1;
                if self.book.apply(level).is_err() {
                    self.stats.invalid_levels += 1;
                    *bad = true;
                }
                SyncOutcome::SnapshotLoading
            }
        };
        if last { self.end_message(io) } else { out }
    }

    /// The book refused a level of the diff `u` (transaction time `time`) being applied: the
    /// book is no longer valid, a gap; the rest of the message is skipped.
    #[cold]
    fn refused_level<R, S>(
        &mut self,
        u: u64,
        time: i64,
        last: bool,
        io: &mut Io<'_, R, S>,
    ) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        self.stats.invalid_levels += 1;
        self.open = if last {
            Open::Idle
        } else {
            Open::Skip(SyncOutcome::Malformed)
        };
        self.gap(u, u, time, io);
        SyncOutcome::Gap
    }

    /// The `LAST` record of the open message was consumed.
    fn end_message<R, S>(&mut self, io: &mut Io<'_, R, S>) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        match core::mem::replace(&mut self.open, Open::Idle) {
            Open::Idle => SyncOutcome::Malformed,
            Open::Skip(out) => out,
            Open::Apply {
                header,
                seen,
                resync,
            } => {
                if seen != level_count(&header) {
                    self.stats.malformed += 1;
                    let u = header.final_update_id;
                    self.gap(u, u, header.transact_time_ms, io);
                    return SyncOutcome::Gap;
                }
                self.finish_diff(&header, resync, io)
            }
            Open::Buffer {
                header,
                seen,
                records,
            } => {
                if seen != level_count(&header) {
                    self.stats.malformed += 1;
                    self.unbuffer(records);
                    return SyncOutcome::Malformed;
                }
                SyncOutcome::Buffered
            }
            Open::Snapshot { header, seen, bad } => {
                self.stats.snapshots_received += 1;
                self.snapshot_pending = false;
                let expected = u64::from(header.bid_count) + u64::from(header.ask_count);
                if seen != expected {
                    self.stats.malformed += 1;
                }
                if bad || seen != expected {
                    self.snapshot_unusable(io);
                    return SyncOutcome::Malformed;
                }
                let time_ms = Body::DepthSnapshot(header).exchange_time_ms();
                self.phase = Phase::Holding {
                    last_update_id: header.last_update_id,
                    time_ms,
                };
                self.replay(io)
            }
        }
    }

    /// A diff's levels are all in the book: check it and move to Live.
    fn finish_diff<R, S>(
        &mut self,
        h: &DepthDiff,
        resync: Option<(u64, i64)>,
        io: &mut Io<'_, R, S>,
    ) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        let u = h.final_update_id;
        if self.book.is_crossed() {
            self.stats.crossed_books += 1;
            self.gap(u, u, h.transact_time_ms, io);
            return SyncOutcome::Gap;
        }
        self.stats.diffs_applied += 1;
        self.phase = Phase::Live { last_u: u };
        match resync {
            None => {
                io.sink.diff_applied(&self.book, h, false);
                SyncOutcome::Applied { final_update_id: u }
            }
            Some((last_update_id, time_ms)) => {
                self.stats.resyncs += 1;
                self.book.set_synced(true);
                self.emit(StatusCode::Resynced, 0, last_update_id, time_ms, io);
                io.sink.diff_applied(&self.book, h, true);
                SyncOutcome::Resynced {
                    last_update_id,
                    final_update_id: u,
                }
            }
        }
    }

    /// Runs the buffered diffs through the Holding/Live rules after a snapshot was loaded.
    fn replay<R, S>(&mut self, io: &mut Io<'_, R, S>) -> SyncOutcome
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        let mut buffer = core::mem::take(&mut self.buffer);
        let mut outcome = SyncOutcome::SnapshotHeld;
        let mut i = 0;
        let mut keep_from = buffer.len();
        while i < buffer.len() {
            let Some(&Record::Diff(header)) = buffer.get(i) else {
                // Unreachable: only whole diffs are buffered.
                i += 1;
                continue;
            };
            let end = (i + 1..buffer.len())
                .find(|&j| matches!(buffer.get(j), Some(Record::Diff(_))))
                .unwrap_or(buffer.len());
            let resync = match self.phase {
                Phase::Holding {
                    last_update_id,
                    time_ms,
                } => {
                    if header.final_update_id < last_update_id {
                        self.stats.stale_dropped += 1;
                        i = end;
                        continue;
                    }
                    if header.first_update_id > last_update_id {
                        self.snapshot_too_old(last_update_id, &header, io);
                        outcome = SyncOutcome::SnapshotTooOld;
                        keep_from = i;
                        break;
                    }
                    Some((last_update_id, time_ms))
                }
                Phase::Live { last_u } => {
                    if header.final_update_id < last_u {
                        self.stats.stale_dropped += 1;
                        i = end;
                        continue;
                    }
                    if header.prev_final_update_id != last_u {
                        self.stats.chain_breaks += 1;
                        self.gap(
                            last_u,
                            header.prev_final_update_id,
                            header.transact_time_ms,
                            io,
                        );
                        outcome = SyncOutcome::Gap;
                        keep_from = i;
                        break;
                    }
                    None
                }
                Phase::Buffering => {
                    keep_from = i;
                    break;
                }
            };
            let mut refused = false;
            for record in buffer.range(i + 1..end) {
                if let Record::Level(level) = record
                    && self.book.apply(level).is_err()
                {
                    self.stats.invalid_levels += 1;
                    refused = true;
                }
            }
            i = end;
            let step = if refused {
                let u = header.final_update_id;
                self.gap(u, u, header.transact_time_ms, io);
                SyncOutcome::Gap
            } else {
                self.finish_diff(&header, resync, io)
            };
            match step {
                SyncOutcome::Gap => {
                    // The diff that broke the book is dropped; the ones after it stay buffered.
                    outcome = SyncOutcome::Gap;
                    keep_from = end;
                    break;
                }
                SyncOutcome::Resynced { .. } => outcome = step,
                SyncOutcome::Applied { final_update_id } => {
                    if let SyncOutcome::Resynced { last_update_id, .. } = outcome {
                        outcome = SyncOutcome::Resynced {
                            last_update_id,
                            final_update_id,
                        };
                    } else {
                        outcome = step;
                    }
                }
                _ => {}
            }
        }
        buffer.drain(..keep_from.min(buffer.len()));
        self.buffer = buffer;
        outcome
    }

    /// Starts buffering a diff.
    fn begin_buffer(&mut self, h: &DepthDiff) {
        self.open = Open::Buffer {
            header: *h,
            seen: 0,
            records: 0,
        };
        self.push_record(Record::Diff(*h));
    }

    fn push_level(&mut self, level: Level) {
        self.push_record(Record::Level(level));
    }

    /// Appends a record of the open buffered diff, evicting the oldest whole diff when full.
    fn push_record(&mut self, record: Record) {
        let Open::Buffer { records, .. } = self.open else {
            return;
        };
        if self.buffer.len() >= self.capacity {
            if self.buffer.len() > records {
                // Evict the oldest diff: its header and the levels up to the next header.
                self.buffer.pop_front();
                while let Some(Record::Level(_)) = self.buffer.front() {
                    self.buffer.pop_front();
                }
                self.stats.buffer_overflows += 1;
            } else {
                // This diff alone fills the buffer: drop it whole.
                let len = self.buffer.len();
                self.buffer.truncate(len - records);
                self.stats.buffer_overflows += 1;
                self.open = Open::Skip(SyncOutcome::BufferFull);
                return;
            }
        }
        self.buffer.push_back(record);
        if let Open::Buffer { records, .. } = &mut self.open {
            *records += 1;
        }
    }

    /// Removes the last `records` buffer entries (a diff that turned out malformed).
    fn unbuffer(&mut self, records: usize) {
        let len = self.buffer.len();
        self.buffer.truncate(len.saturating_sub(records));
    }

    /// Invalidates the book: `Status::Gap`, Buffering, and a snapshot request.
    fn gap<R, S>(&mut self, expected: u64, actual: u64, time_ms: i64, io: &mut Io<'_, R, S>)
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        self.stats.gaps += 1;
        self.phase = Phase::Buffering;
        self.book.set_synced(false);
        self.emit(StatusCode::Gap, expected, actual, time_ms, io);
        self.request(io);
    }

    /// Rule 3: the held snapshot is older than the stream.
    fn snapshot_too_old<R, S>(&mut self, last_update_id: u64, h: &DepthDiff, io: &mut Io<'_, R, S>)
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        self.stats.snapshots_too_old += 1;
        self.gap(last_update_id, h.first_update_id, h.transact_time_ms, io);
    }

    /// A snapshot that cannot be used (incomplete, or with refused levels): ask for another.
    fn snapshot_unusable<R, S>(&mut self, io: &mut Io<'_, R, S>)
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        self.phase = Phase::Buffering;
        self.book.clear();
        self.request(io);
    }

    fn request<R, S>(&mut self, io: &mut Io<'_, R, S>)
    where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        self.request_snapshot(io.requester);
    }

    fn emit<R, S>(
        &self,
        code: StatusCode,
        expected_id: u64,
        actual_id: u64,
        exchange_time_ms: i64,
        io: &mut Io<'_, R, S>,
    ) where
        R: SnapshotRequester + ?Sized,
        S: SyncSink + ?Sized,
    {
        let status = Status {
            code,
            _reserved: [0; 7],
            expected_id,
            actual_id,
            exchange_time_ms,
        };
        let event =
            Event::new(io.recv_ns, self.symbol, Body::Status(status)).with_flags(Flags::LAST);
        io.sink.status(&self.book, &event);
    }
}

/// Levels a diff header announces.
fn level_count(h: &DepthDiff) -> u64 {
    u64::from(h.bid_count) + u64::from(h.ask_count)
}

impl BookView for SyncBook {
    #[inline]
    fn best_bid(&self) -> Option<BookLevel> {
        self.book.best_bid()
    }

    #[inline]
    fn best_ask(&self) -> Option<BookLevel> {
        self.book.best_ask()
    }

    #[inline]
    fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
        BookView::top_levels(&self.book, side, out)
    }

    #[inline]
    fn top_arrays(&self, side: BookSide, depth: usize) -> Option<TopArrays<'_>> {
        BookView::top_arrays(&self.book, side, depth)
    }

    #[inline]
    fn is_synced(&self) -> bool {
        self.is_synced()
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
