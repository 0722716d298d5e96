//! Unit tests of the sync state machine (protocol doc section 3), one rule per test.

use orderflow_core::{
    Body, BookSide, DepthDiff, DepthSnapshot, Event, Flags, Level, Px, Qty, Status, StatusCode,
    SymbolId,
};
use proptest::prelude::*;

use super::*;

const SYM: SymbolId = SymbolId(3);
/// Tick 1 raw unit keeps prices readable: `px(100)` is `Px(100)`.
const TICK: Px = Px(1);

fn config() -> BookConfig {
    BookConfig::with_tick(TICK)
}

fn level(side: BookSide, px: i64, qty: i64) -> Body {
    Body::Level(Level {
        px: Px(px),
        qty: Qty(qty),
        side,
        _reserved: [0; 7],
    })
}

/// A whole diff message: header, bids, asks, the last record flagged `LAST`.
fn diff(first: u64, last: u64, prev: u64, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> Vec<Event> {
    let header = DepthDiff {
        first_update_id: first,
        final_update_id: last,
        prev_final_update_id: prev,
        event_time_ms: 1_000 + last as i64,
        transact_time_ms: 2_000 + last as i64,
        bid_count: bids.len() as u32,
        ask_count: asks.len() as u32,
    };
    let mut events = vec![Event::new(last as i64, SYM, Body::DepthDiff(header))];
    events.extend(
        bids.iter()
            .map(|&(p, q)| Event::new(last as i64, SYM, level(BookSide::Bid, p, q))),
    );
    events.extend(
        asks.iter()
            .map(|&(p, q)| Event::new(last as i64, SYM, level(BookSide::Ask, p, q))),
    );
    if let Some(e) = events.last_mut() {
        *e = e.with_flags(Flags::LAST);
    }
    events
}

fn snapshot(last_update_id: u64, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> Vec<Event> {
    let header = DepthSnapshot {
        last_update_id,
        event_time_ms: 7_000,
        transact_time_ms: 7_001,
        bid_count: bids.len() as u32,
        ask_count: asks.len() as u32,
    };
    let mut events = vec![Event::new(-1, SYM, Body::DepthSnapshot(header))];
    for (side, levels) in [(BookSide::Bid, bids), (BookSide::Ask, asks)] {
        events.extend(
            levels
                .iter()
                .map(|&(p, q)| Event::new(-1, SYM, level(side, p, q)).with_flags(Flags::SNAPSHOT)),
        );
    }
    if let Some(e) = events.last_mut() {
        *e = e.with_flags(Flags::LAST);
    }
    events
}

/// A machine plus the requests and status events it produced.
struct Harness {
    book: SyncBook,
    requests: RecordingRequester,
    sink: Vec<Event>,
}

impl Harness {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(config: BookConfig) -> Self {
        Self {
            book: SyncBook::new(SYM, &config),
            requests: RecordingRequester::default(),
            sink: Vec::new(),
        }
    }

    /// Feeds `events`, returning the outcome of the last one.
    fn feed(&mut self, events: &[Event]) -> SyncOutcome {
        let mut last = SyncOutcome::Ignored;
        for e in events {
            last = self.book.on_event(e, &mut self.requests, &mut self.sink);
        }
        last
    }

    /// Feeds `events`, returning every outcome.
    fn feed_all(&mut self, events: &[Event]) -> Vec<SyncOutcome> {
        events
            .iter()
            .map(|e| self.book.on_event(e, &mut self.requests, &mut self.sink))
            .collect()
    }

    fn statuses(&self) -> Vec<Status> {
        self.sink
            .iter()
            .filter_map(|e| match e.body {
                Body::Status(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn bids(&self) -> Vec<(i64, i64)> {
        self.levels(BookSide::Bid)
    }

    fn asks(&self) -> Vec<(i64, i64)> {
        self.levels(BookSide::Ask)
    }

    fn levels(&self, side: BookSide) -> Vec<(i64, i64)> {
        self.book
            .book()
            .levels(side)
            .map(|l| (l.px.raw(), l.qty.raw()))
            .collect()
    }
}

fn gap(expected_id: u64, actual_id: u64) -> (StatusCode, u64, u64) {
    (StatusCode::Gap, expected_id, actual_id)
}

fn resynced(last_update_id: u64) -> (StatusCode, u64, u64) {
    (StatusCode::Resynced, 0, last_update_id)
}

fn codes(h: &Harness) -> Vec<(StatusCode, u64, u64)> {
    h.statuses()
        .iter()
        .map(|s| (s.code, s.expected_id, s.actual_id))
        .collect()
}

#[test]
fn buffers_until_a_snapshot_and_requests_one() {
    let mut h = Harness::new();
    assert_eq!(h.book.state(), SyncState::Buffering);
    assert!(
        h.requests.requests.is_empty(),
        "no request before a diff is buffered (§3.3)"
    );
    let out = h.feed_all(&diff(10, 20, 5, &[(100, 1)], &[(101, 1)]));
    assert_eq!(out, [SyncOutcome::Buffered; 3]);
    assert_eq!(
        h.feed(&diff(21, 30, 20, &[(99, 2)], &[])),
        SyncOutcome::Buffered
    );
    assert_eq!(h.requests.requests, [SYM], "one request, not one per diff");
    assert!(h.book.is_snapshot_pending());
    assert_eq!(h.book.buffered_records(), 5);
    assert!(!h.book.is_synced() && h.book.book().is_empty());
    assert!(!BookView::is_synced(&h.book));
    assert!(h.sink.is_empty());
}

#[test]
fn drops_diffs_older_than_the_snapshot_and_applies_the_straddling_one() {
    let mut h = Harness::new();
    h.feed(&diff(10, 20, 5, &[(90, 9)], &[]));
    h.feed(&diff(21, 30, 20, &[(91, 9)], &[]));
    h.feed(&diff(31, 40, 30, &[(100, 3)], &[]));
    h.feed(&diff(41, 50, 40, &[], &[(102, 4)]));
    let out = h.feed(&snapshot(35, &[(100, 1), (99, 1)], &[(101, 1)]));
    assert_eq!(
        out,
        SyncOutcome::Resynced {
            last_update_id: 35,
            final_update_id: 50
        }
    );
    assert_eq!(h.book.state(), SyncState::Live { last_update_id: 50 });
    assert!(h.book.is_synced() && BookView::is_synced(h.book.book()));
    assert_eq!(
        h.bids(),
        [(100, 3), (99, 1)],
        "stale diffs (u < L) never applied"
    );
    assert_eq!(h.asks(), [(101, 1), (102, 4)]);
    let s = h.book.stats();
    assert_eq!((s.stale_dropped, s.diffs_applied, s.resyncs), (2, 2, 1));
    assert_eq!(codes(&h), [resynced(35)]);
    assert_eq!(h.book.buffered_records(), 0);
    // The live chain continues on pu.
    let out = h.feed(&diff(51, 60, 50, &[(100, 0)], &[]));
    assert_eq!(
        out,
        SyncOutcome::Applied {
            final_update_id: 60
        }
    );
    assert_eq!(h.bids(), [(99, 1)]);
}

#[test]
fn a_diff_with_u_equal_to_the_snapshot_id_is_kept() {
    let mut h = Harness::new();
    h.feed(&diff(31, 35, 30, &[(100, 5)], &[]));
    let out = h.feed(&snapshot(35, &[(100, 1)], &[(101, 1)]));
    assert_eq!(
        out,
        SyncOutcome::Resynced {
            last_update_id: 35,
            final_update_id: 35
        }
    );
    assert_eq!(h.bids(), [(100, 5)]);
}

#[test]
fn snapshot_too_old_requests_another() {
    let mut h = Harness::new();
    h.feed(&diff(41, 50, 40, &[(100, 3)], &[]));
    h.feed(&diff(51, 60, 50, &[(100, 4)], &[]));
    let out = h.feed(&snapshot(35, &[(100, 1)], &[(101, 1)]));
    assert_eq!(out, SyncOutcome::SnapshotTooOld);
    assert_eq!(h.requests.requests, [SYM, SYM]);
    assert_eq!(codes(&h), [gap(35, 41)]);
    assert_eq!(h.book.state(), SyncState::Buffering);
    assert_eq!(h.book.stats().snapshots_too_old, 1);
    assert_eq!(h.book.buffered_records(), 4, "the buffered diffs are kept");
    // A newer snapshot syncs with the same buffer.
    let out = h.feed(&snapshot(55, &[(100, 1)], &[(101, 1)]));
    assert_eq!(
        out,
        SyncOutcome::Resynced {
            last_update_id: 55,
            final_update_id: 60
        }
    );
    assert_eq!(h.bids(), [(100, 4)]);
    assert_eq!(codes(&h), [gap(35, 41), resynced(55)]);
}

#[test]
fn snapshot_newer_than_every_buffered_diff_waits_for_the_stream() {
    let mut h = Harness::new();
    h.feed(&diff(10, 20, 5, &[(90, 9)], &[]));
    let out = h.feed(&snapshot(35, &[(100, 1)], &[(101, 1)]));
    assert_eq!(out, SyncOutcome::SnapshotHeld);
    assert_eq!(h.book.state(), SyncState::Holding { last_update_id: 35 });
    assert!(!h.book.is_synced());
    // Still older: dropped.
    assert_eq!(
        h.feed(&diff(21, 30, 20, &[(91, 9)], &[])),
        SyncOutcome::Stale
    );
    // The straddling diff arrives live.
    let out = h.feed_all(&diff(31, 40, 30, &[(100, 2)], &[(101, 0)]));
    assert_eq!(
        out,
        [
            SyncOutcome::Applying,
            SyncOutcome::Applying,
            SyncOutcome::Resynced {
                last_update_id: 35,
                final_update_id: 40
            }
        ]
    );
    assert_eq!(h.bids(), [(100, 2)]);
    assert!(h.asks().is_empty());
    assert_eq!(codes(&h), [resynced(35)]);
    assert_eq!(h.requests.requests, [SYM]);
}

#[test]
fn holding_then_a_diff_past_the_snapshot_is_too_old() {
    let mut h = Harness::new();
    h.feed(&diff(10, 20, 5, &[(90, 9)], &[]));
    assert_eq!(
        h.feed(&snapshot(35, &[(100, 1)], &[])),
        SyncOutcome::SnapshotHeld
    );
    let out = h.feed_all(&diff(36, 40, 34, &[(100, 2)], &[]));
    assert_eq!(out, [SyncOutcome::SnapshotTooOld, SyncOutcome::Buffered]);
    assert_eq!(h.book.state(), SyncState::Buffering);
    assert_eq!(h.book.buffered_records(), 2);
    assert_eq!(h.requests.requests, [SYM, SYM]);
}

#[test]
fn pu_mismatch_is_a_gap_then_a_rebuild() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[(100, 2)], &[(101, 1)]));
    h.feed(&snapshot(35, &[], &[]));
    assert!(h.book.is_synced());
    // pu 45 != last u 40: an event was lost.
    let broken = diff(46, 50, 45, &[(100, 7)], &[]);
    let out = h.feed_all(&broken);
    assert_eq!(out, [SyncOutcome::Gap, SyncOutcome::Buffered]);
    assert_eq!(codes(&h), [resynced(35), gap(40, 45)]);
    let status = h.sink.last().unwrap();
    assert_eq!(status.symbol, SYM);
    assert_eq!(
        status.recv_ns, 50,
        "status carries the receive time of the breaking record"
    );
    assert!(status.is_last());
    assert_eq!(h.statuses()[1].exchange_time_ms, 2_050);
    assert!(!h.book.is_synced() && !BookView::is_synced(h.book.book()));
    assert_eq!(h.book.stats().chain_breaks, 1);
    assert_eq!(h.requests.requests, [SYM, SYM]);
    assert_eq!(h.bids(), [(100, 2)], "the breaking diff is not applied");
    // Keep buffering, then rebuild from the new snapshot.
    h.feed(&diff(51, 60, 50, &[(99, 1)], &[]));
    let out = h.feed(&snapshot(48, &[(100, 1)], &[(101, 3)]));
    assert_eq!(
        out,
        SyncOutcome::Resynced {
            last_update_id: 48,
            final_update_id: 60
        }
    );
    assert_eq!(h.bids(), [(100, 7), (99, 1)]);
    assert_eq!(h.asks(), [(101, 3)]);
    assert_eq!(codes(&h), [resynced(35), gap(40, 45), resynced(48)]);
    assert_eq!(h.book.stats().resyncs, 2);
}

#[test]
fn chain_break_inside_the_buffer_keeps_the_rest_buffered() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[(100, 2)], &[]));
    h.feed(&diff(41, 50, 40, &[(100, 3)], &[]));
    h.feed(&diff(56, 60, 55, &[(100, 4)], &[])); // pu 55 != 50
    h.feed(&diff(61, 70, 60, &[(100, 5)], &[]));
    let out = h.feed(&snapshot(35, &[], &[(101, 1)]));
    assert_eq!(out, SyncOutcome::Gap);
    assert_eq!(codes(&h), [resynced(35), gap(50, 55)]);
    assert_eq!(h.book.state(), SyncState::Buffering);
    assert_eq!(
        h.book.buffered_records(),
        4,
        "diffs from the break on stay buffered"
    );
    let out = h.feed(&snapshot(58, &[], &[(101, 1)]));
    assert_eq!(
        out,
        SyncOutcome::Resynced {
            last_update_id: 58,
            final_update_id: 70
        }
    );
    assert_eq!(h.bids(), [(100, 5)]);
}

#[test]
fn crossed_book_after_a_diff_is_a_gap() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[], &[]));
    h.feed(&snapshot(35, &[(100, 1)], &[(102, 1)]));
    assert!(h.book.is_synced());
    // A bid at the ask: locked.
    let out = h.feed(&diff(41, 50, 40, &[(102, 1)], &[]));
    assert_eq!(out, SyncOutcome::Gap);
    assert_eq!(codes(&h), [resynced(35), gap(50, 50)]);
    assert_eq!(h.book.stats().crossed_books, 1);
    assert!(!h.book.is_synced());
    assert_eq!(h.requests.requests, [SYM, SYM]);
    // Crossing only inside a diff is fine: checked when the diff is complete.
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[], &[]));
    h.feed(&snapshot(35, &[(100, 1)], &[(102, 1)]));
    let out = h.feed(&diff(41, 50, 40, &[(103, 1)], &[(102, 0), (104, 1)]));
    assert_eq!(
        out,
        SyncOutcome::Applied {
            final_update_id: 50
        }
    );
}

#[test]
fn crossed_on_the_straddling_diff_is_a_gap() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[(105, 1)], &[]));
    let out = h.feed(&snapshot(35, &[(100, 1)], &[(102, 1)]));
    assert_eq!(out, SyncOutcome::Gap);
    assert_eq!(codes(&h), [gap(40, 40)]);
    assert_eq!(h.book.stats().resyncs, 0);
}

#[test]
fn stale_diffs_while_live_are_dropped() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[(100, 1)], &[]));
    h.feed(&snapshot(35, &[], &[]));
    let out = h.feed_all(&diff(21, 30, 20, &[(100, 9)], &[]));
    assert_eq!(out, [SyncOutcome::Stale, SyncOutcome::Stale]);
    assert_eq!(h.bids(), [(100, 1)]);
    assert_eq!(h.book.stats().stale_dropped, 1);
    assert!(h.book.is_synced());
}

#[test]
fn a_full_buffer_evicts_the_oldest_diff() {
    let mut h = Harness::with(BookConfig {
        buffer_records: 16,
        ..config()
    });
    // Five diffs of four records each: the first is evicted to make room for the fifth.
    for i in 0..5u64 {
        let u = 10 * (i + 1);
        h.feed(&diff(
            u - 9,
            u,
            u - 10,
            &[(100 + i as i64, 1), (90, 1)],
            &[(200, 1)],
        ));
    }
    assert_eq!(h.book.buffered_records(), 16);
    assert_eq!(h.book.stats().buffer_overflows, 1);
    // A snapshot that needed the evicted diffs is too old.
    assert_eq!(h.feed(&snapshot(5, &[], &[])), SyncOutcome::SnapshotTooOld);
    // One covered by the kept diffs syncs.
    let out = h.feed(&snapshot(25, &[], &[]));
    assert_eq!(
        out,
        SyncOutcome::Resynced {
            last_update_id: 25,
            final_update_id: 50
        }
    );
    assert_eq!(h.bids(), [(104, 1), (103, 1), (102, 1), (90, 1)]);
}

#[test]
fn a_diff_larger_than_the_buffer_is_dropped_and_counted() {
    let mut h = Harness::with(BookConfig {
        buffer_records: 16,
        ..config()
    });
    h.feed(&diff(1, 10, 0, &[(100, 1)], &[]));
    let big: Vec<(i64, i64)> = (0..20).map(|i| (50 + i, 1)).collect();
    let out = h.feed_all(&diff(11, 20, 10, &big, &[]));
    assert_eq!(out[0], SyncOutcome::Buffered);
    assert_eq!(
        out[20],
        SyncOutcome::BufferFull,
        "dropped once it alone fills the buffer"
    );
    assert_eq!(h.book.stats().buffer_overflows, 2);
    assert_eq!(h.book.buffered_records(), 0);
    h.feed(&diff(21, 30, 20, &[(101, 1)], &[]));
    // The chain through the dropped diff is broken, so a snapshot before it cannot sync.
    assert_eq!(h.feed(&snapshot(5, &[], &[])), SyncOutcome::SnapshotTooOld);
}

#[test]
fn malformed_messages_are_counted_never_applied_silently() {
    let mut h = Harness::new();
    // An orphan level.
    let orphan = Event::new(0, SYM, level(BookSide::Bid, 1, 1)).with_flags(Flags::LAST);
    assert_eq!(h.feed(&[orphan]), SyncOutcome::Malformed);
    // A buffered diff whose LAST never comes is rolled back when the next header arrives.
    let mut truncated = diff(1, 10, 0, &[(100, 1), (99, 1)], &[]);
    truncated.pop();
    h.feed(&truncated);
    assert_eq!(h.book.buffered_records(), 2);
    h.feed(&diff(11, 20, 10, &[(98, 1)], &[]));
    assert_eq!(h.book.buffered_records(), 2);
    // Counts that disagree with the header.
    let mut short = diff(21, 30, 20, &[(97, 1), (96, 1)], &[]);
    short.remove(1);
    assert_eq!(h.feed(&short), SyncOutcome::Malformed);
    assert_eq!(h.book.stats().malformed, 3);
    // Live: a truncated diff is a gap (the book holds half of it).
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[], &[]));
    h.feed(&snapshot(35, &[(100, 1)], &[(102, 1)]));
    let mut truncated = diff(41, 50, 40, &[(99, 1), (98, 1)], &[]);
    truncated.pop();
    h.feed(&truncated);
    let out = h.feed(&diff(51, 60, 50, &[], &[]));
    assert_eq!(out, SyncOutcome::Gap);
    assert_eq!(codes(&h), [resynced(35), gap(50, 50)]);
}

#[test]
fn refused_levels_invalidate_the_book() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[], &[]));
    h.feed(&snapshot(35, &[(100, 1)], &[(102, 1)]));
    let out = h.feed_all(&diff(41, 50, 40, &[(99, -1), (98, 1)], &[]));
    assert_eq!(
        out,
        [
            SyncOutcome::Applying,
            SyncOutcome::Gap,
            SyncOutcome::Malformed
        ]
    );
    assert_eq!(h.book.stats().invalid_levels, 1);
    assert!(!h.book.is_synced());
    // A snapshot with a refused level is not used.
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[], &[]));
    let out = h.feed(&snapshot(35, &[(0, 1)], &[(102, 1)]));
    assert_eq!(out, SyncOutcome::Malformed);
    assert_eq!(h.book.state(), SyncState::Buffering);
    assert_eq!(h.requests.requests, [SYM, SYM]);
}

#[test]
fn snapshots_while_live_and_foreign_events_are_ignored() {
    let mut h = Harness::new();
    h.feed(&diff(31, 40, 30, &[(100, 1)], &[]));
    h.feed(&snapshot(35, &[], &[]));
    let out = h.feed_all(&snapshot(45, &[(1, 1)], &[]));
    assert_eq!(out, [SyncOutcome::Ignored, SyncOutcome::Ignored]);
    assert_eq!(h.bids(), [(100, 1)]);
    assert_eq!(h.book.stats().snapshots_ignored, 1);
    let mut other = diff(41, 50, 40, &[(1, 1)], &[]);
    for e in &mut other {
        e.symbol = SymbolId(9);
    }
    assert_eq!(h.feed(&other), SyncOutcome::Ignored);
    let timer = Event::new(0, SYM, Body::Timer(orderflow_core::Timer { now_ms: 1 }));
    assert_eq!(h.feed(&[timer]), SyncOutcome::Ignored);
    assert_eq!(h.book.stats().ignored, 3);
    assert_eq!(
        h.feed(&diff(41, 50, 40, &[], &[])),
        SyncOutcome::Applied {
            final_update_id: 50
        }
    );
}

#[test]
fn header_only_messages() {
    let mut h = Harness::new();
    assert_eq!(h.feed(&diff(31, 40, 30, &[], &[])), SyncOutcome::Buffered);
    assert_eq!(
        h.feed(&snapshot(35, &[], &[])),
        SyncOutcome::Resynced {
            last_update_id: 35,
            final_update_id: 40,
        }
    );
    assert_eq!(
        h.feed(&diff(41, 50, 40, &[], &[])),
        SyncOutcome::Applied {
            final_update_id: 50
        }
    );
    assert_eq!(h.feed(&diff(61, 70, 60, &[], &[])), SyncOutcome::Gap);
}

#[test]
fn explicit_snapshot_requests() {
    let mut h = Harness::new();
    h.book.request_snapshot(&mut h.requests);
    assert!(h.book.is_snapshot_pending());
    h.feed(&diff(1, 2, 0, &[], &[]));
    assert_eq!(
        h.requests.requests,
        [SYM],
        "already pending: no second request"
    );
    h.book.request_snapshot(&mut h.requests);
    assert_eq!(h.book.stats().snapshots_requested, 2);
}

#[test]
fn dyn_requester_and_sink() {
    let mut book = SyncBook::new(SYM, &config());
    let mut requester = NoopRequester;
    let mut sink: Vec<Event> = Vec::new();
    let requester: &mut dyn SnapshotRequester = &mut requester;
    let sink: &mut dyn SyncSink = &mut sink;
    for e in diff(1, 2, 0, &[], &[]) {
        book.on_event(&e, requester, sink);
    }
    assert_eq!(book.stats().snapshots_requested, 1);
}

/// Arbitrary record streams: nothing panics, and the machine's invariants hold after every
/// record (a live book is never crossed, the synced flags agree, the buffer stays bounded).
#[derive(Clone, Debug)]
enum Rec {
    Diff {
        first: u64,
        len: u64,
        pu_slip: u64,
        bids: u32,
        asks: u32,
        last: bool,
    },
    Snapshot {
        id: u64,
        bids: u32,
        asks: u32,
        last: bool,
    },
    Level {
        side: bool,
        px: i64,
        qty: i64,
        last: bool,
    },
    Other,
}

fn rec() -> impl Strategy<Value = Rec> {
    prop_oneof![
        3 => (0u64..200, 0u64..20, prop_oneof![4 => Just(0u64), 1 => 0u64..5], 0u32..4, 0u32..4, any::<bool>())
            .prop_map(|(first, len, pu_slip, bids, asks, last)| Rec::Diff { first, len, pu_slip, bids, asks, last }),
        1 => (0u64..200, 0u32..4, 0u32..4, any::<bool>())
            .prop_map(|(id, bids, asks, last)| Rec::Snapshot { id, bids, asks, last }),
        8 => (any::<bool>(), -2i64..40, prop_oneof![Just(0i64), Just(-1), 1i64..5], prop_oneof![1 => Just(true), 2 => Just(false)])
            .prop_map(|(side, px, qty, last)| Rec::Level { side, px, qty, last }),
        1 => Just(Rec::Other),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_and_keeps_invariants(recs in proptest::collection::vec(rec(), 0..300)) {
        let mut h = Harness::with(BookConfig { buffer_records: 32, ladder_ticks: 64, ..config() });
        // Fed the same records, with levels through `on_level`: the same machine.
        let mut by_level = Harness::with(BookConfig { buffer_records: 32, ladder_ticks: 64, ..config() });
        let mut prev_u = 0u64;
        for r in recs {
            let flags = |last: bool| if last { Flags::LAST } else { Flags::NONE };
            let event = match r {
                Rec::Diff { first, len, pu_slip, bids, asks, last } => {
                    let header = DepthDiff {
                        first_update_id: prev_u.max(first) + 1,
                        final_update_id: prev_u.max(first) + 1 + len,
                        prev_final_update_id: prev_u + pu_slip,
                        bid_count: bids,
                        ask_count: asks,
                        ..DepthDiff::default()
                    };
                    prev_u = header.final_update_id;
                    Event::new(0, SYM, Body::DepthDiff(header)).with_flags(flags(last))
                }
                Rec::Snapshot { id, bids, asks, last } => {
                    let header = DepthSnapshot { last_update_id: id, bid_count: bids, ask_count: asks, ..DepthSnapshot::default() };
                    Event::new(0, SYM, Body::DepthSnapshot(header)).with_flags(flags(last))
                }
                Rec::Level { side, px, qty, last } => {
                    let side = if side { BookSide::Bid } else { BookSide::Ask };
                    // Bids low, asks high, so a live book is mostly uncrossed.
                    let px = if side == BookSide::Ask { px + 30 } else { px };
                    Event::new(0, SYM, level(side, px, qty)).with_flags(flags(last))
                }
                Rec::Other => Event::new(0, SYM, Body::Timer(orderflow_core::Timer { now_ms: 0 })),
            };
            let out = h.feed(&[event]);
            let out_by_level = match &event.body {
                Body::Level(level) => by_level.book.on_level(
                    level,
                    event.is_last(),
                    event.recv_ns,
                    &mut by_level.requests,
                    &mut by_level.sink,
                ),
                _ => by_level.feed(&[event]),
            };
            prop_assert_eq!(out, out_by_level);
            prop_assert_eq!(h.book.state(), by_level.book.state());
            prop_assert_eq!((h.bids(), h.asks()), (by_level.bids(), by_level.asks()));
            prop_assert_eq!(&h.sink, &by_level.sink);
            let live = matches!(h.book.state(), SyncState::Live { .. });
            prop_assert_eq!(h.book.is_synced(), live);
            prop_assert_eq!(BookView::is_synced(h.book.book()), live);
            prop_assert!(h.book.buffered_records() <= 32);
            if let SyncOutcome::Applied { .. } | SyncOutcome::Resynced { .. } = out {
                prop_assert!(live);
                prop_assert!(!h.book.book().is_crossed());
            }
            if let SyncOutcome::Gap = out {
                prop_assert!(!live);
                prop_assert_eq!(h.statuses().last().map(|s| s.code), Some(StatusCode::Gap));
            }
        }
        let s = h.book.stats();
        prop_assert_eq!(s.gaps as usize, h.statuses().iter().filter(|s| s.code == StatusCode::Gap).count());
        prop_assert_eq!(s.resyncs as usize, h.statuses().iter().filter(|s| s.code == StatusCode::Resynced).count());
        prop_assert_eq!(s.snapshots_requested as usize, h.requests.requests.len());
        prop_assert_eq!(s, by_level.book.stats());
        prop_assert_eq!(&h.requests.requests, &by_level.requests.requests);
    }
}

/// Records every applied diff with the touch it left.
#[derive(Default)]
struct AppliedLog {
    status: Vec<Event>,
    applied: Vec<(u64, bool, Option<i64>)>,
}

impl SyncSink for AppliedLog {
    fn status(&mut self, _: &Book, event: &Event) {
        self.status.push(*event);
    }
    fn diff_applied(&mut self, book: &Book, diff: &DepthDiff, resynced: bool) {
        let bid = book.best_bid().map(|l| l.px.raw());
        self.applied.push((diff.final_update_id, resynced, bid));
    }
}

#[test]
fn every_diff_replayed_from_the_buffer_is_reported_with_its_own_book() {
    let mut book = SyncBook::new(SYM, &config());
    let mut log = AppliedLog::default();
    let mut requests = RecordingRequester::default();
    let mut events = diff(1, 5, 0, &[(90, 1)], &[]); // stale: u < L
    events.extend(diff(6, 12, 5, &[(100, 1)], &[])); // straddles L = 10
    events.extend(diff(13, 20, 12, &[(101, 1)], &[]));
    events.extend(diff(21, 30, 20, &[(102, 1)], &[]));
    events.extend(snapshot(10, &[(99, 1)], &[(200, 1)]));
    events.extend(diff(31, 40, 30, &[(103, 1)], &[]));
    for e in &events {
        book.on_event(e, &mut requests, &mut log);
    }
    assert_eq!(
        log.applied,
        vec![
            (12, true, Some(100)),
            (20, false, Some(101)),
            (30, false, Some(102)),
            (40, false, Some(103)),
        ]
    );
    assert_eq!(log.status.len(), 1);
    assert_eq!(book.stats().diffs_applied, 4);
}
