//! Round trips, rotation, reopening, seeking and `inspect` through the public API.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use common::{NEAR_MIDNIGHT_NS, every_kind, market_event, symbols};
use orderflow_core::{Body, Event, EventKind, UNDEF_TIME};
use orderflow_recorder::{
    ArchivedBodyRef, LogReader, LogWriter, MsyncPolicy, SegmentId, UtcDay, WriterConfig, inspect,
    record_stride,
};

fn config() -> WriterConfig {
    WriterConfig::new(symbols()).with_segment_bytes(1 << 20)
}

#[test]
fn every_kind_round_trips_owned_and_zero_copy() {
    let dir = tempfile::tempdir().unwrap();
    let events = every_kind(NEAR_MIDNIGHT_NS - 3_600_000_000_000, 1_748_818_800_000);
    let mut writer = LogWriter::open(dir.path(), config()).unwrap();
    assert_eq!(writer.recovery().segment, None);
    for (i, e) in events.iter().enumerate() {
        let receipt = writer.append(e).unwrap();
        assert_eq!(receipt.seq, i as u64);
    }
    writer.close().unwrap();

    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.len(), 12);
    assert_eq!(reader.events().collect::<Vec<_>>(), events);
    for (record, event) in reader.records().zip(&events) {
        assert_eq!(record.kind(), event.kind());
        assert_eq!(record.flags(), event.flags);
        assert_eq!(record.recv_ns(), event.recv_ns);
        assert_eq!(record.symbol(), event.symbol);
        assert_eq!(record.payload().len() + 16, record_stride(event.kind()));
        assert_eq!(record.body().to_body(), event.body);
        assert_eq!(record.exchange_time_ms(), event.body.exchange_time_ms());
        match (record.level(), &event.body) {
            (Some(level), Body::Level(_)) => assert_eq!(level.to_event(), *event),
            (None, body) => assert!(!matches!(body, Body::Level(_))),
            (Some(level), _) => panic!("{level:?} read from a {:?}", event.kind()),
        }
    }
    // Zero-copy field access.
    let level = reader
        .records()
        .find(|r| r.kind() == EventKind::Level)
        .unwrap();
    let ArchivedBodyRef::Level(archived) = level.body() else {
        panic!("not a level");
    };
    assert_eq!(archived.px.0.to_native(), 6_180_020_000_000);
    let segment = &reader.segments()[0];
    assert_eq!(
        segment.symbols().name(orderflow_core::SymbolId(1)),
        "ETHUSDT"
    );
    assert_eq!(segment.stats().records, 12);
    assert!(
        EventKind::ALL
            .iter()
            .all(|&k| segment.stats().count(k) == 1)
    );
    // Closing trims the preallocated file to the committed length.
    assert_eq!(segment.file_len(), segment.committed_len());
}

#[test]
fn rotates_by_size_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    // Header page plus room for about 70 depth levels per segment.
    let cfg = config().with_segment_bytes(8192);
    let mut writer = LogWriter::open(dir.path(), cfg).unwrap();
    let events: Vec<Event> = (0..500)
        .map(|i| market_event(i, NEAR_MIDNIGHT_NS - 10_000_000_000 + i as i64))
        .collect();
    let mut segments = Vec::new();
    for e in &events {
        let r = writer.append(e).unwrap();
        if segments.last() != Some(&r.segment) {
            segments.push(r.segment);
        }
    }
    writer.close().unwrap();
    assert!(segments.len() > 5, "{segments:?}");
    assert!(
        segments
            .windows(2)
            .all(|w| w[1].index == w[0].index + 1 && w[1].day == w[0].day)
    );

    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.segments().len(), segments.len());
    assert_eq!(reader.events().collect::<Vec<_>>(), events);
    // The fast walk sees the same records, segment by segment.
    let mut walked = Vec::new();
    for s in reader.segments() {
        s.for_each_record(|r| walked.push((r.offset(), r.to_event())));
    }
    let iterated: Vec<_> = reader
        .records()
        .map(|r| (r.offset(), r.to_event()))
        .collect();
    assert_eq!(walked, iterated);
    let mut next_seq = 0;
    for s in reader.segments() {
        assert_eq!(s.header().first_seq, next_seq);
        next_seq += s.stats().records;
        assert!(s.committed_len() <= 8192);
    }
}

#[test]
fn rotates_at_utc_midnight_by_receive_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LogWriter::open(dir.path(), config()).unwrap();
    // Ten events in the last 10 ms of 2025-06-01, ten in the first 10 ms of 2025-06-02.
    let midnight = NEAR_MIDNIGHT_NS + 1_000_000_000;
    let events: Vec<Event> = (0..20)
        .map(|i| market_event(i, midnight - 10_000_000 + i as i64 * 1_000_000))
        .collect();
    let receipts: Vec<_> = events.iter().map(|e| writer.append(e).unwrap()).collect();
    // The wall clock steps back 1 s: the record stays in the current (later) day.
    let stepped_back = market_event(20, midnight - 1_000_000_000);
    let r = writer.append(&stepped_back).unwrap();
    writer.close().unwrap();

    let june1 = UtcDay::parse("2025-06-01").unwrap();
    let june2 = UtcDay::parse("2025-06-02").unwrap();
    assert_eq!(UtcDay::from_ns(midnight), june2);
    assert!(receipts[..10].iter().all(|r| r.segment
        == SegmentId {
            day: june1,
            index: 0
        }));
    assert!(receipts[10..].iter().all(|r| r.segment
        == SegmentId {
            day: june2,
            index: 0
        }));
    assert_eq!(r.segment.day, june2);
    assert!(dir.path().join("2025-06-01/seg-000000.oflog").is_file());
    assert!(dir.path().join("2025-06-02/seg-000000.oflog").is_file());

    let reader = LogReader::open(dir.path()).unwrap();
    let mut all = events.clone();
    all.push(stepped_back);
    assert_eq!(reader.events().collect::<Vec<_>>(), all);
    assert_eq!(reader.segments()[1].header().first_seq, 10);
}

#[test]
fn reopen_continues_appending() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..300)
        .map(|i| market_event(i, NEAR_MIDNIGHT_NS - 1_000_000_000 + i as i64))
        .collect();
    for (chunk, policy) in events.chunks(100).zip([
        MsyncPolicy::Never,
        MsyncPolicy::EveryRecords(7),
        MsyncPolicy::EveryBytes(1000),
    ]) {
        let mut writer = LogWriter::open(dir.path(), config().with_msync(policy)).unwrap();
        let report = writer.recovery();
        assert!(report.is_clean(), "{report}");
        for e in chunk {
            writer.append(e).unwrap();
        }
        if policy == MsyncPolicy::Never {
            // Dropped without close: still readable, but not trimmed.
            writer.flush().unwrap();
            drop(writer);
        } else {
            writer.sync().unwrap();
            writer.close().unwrap();
        }
    }
    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(
        reader.segments().len(),
        1,
        "reopen resumes the newest segment"
    );
    assert_eq!(reader.events().collect::<Vec<_>>(), events);

    // Another symbol table: the old segment is left as is and a new one started.
    let mut other = symbols();
    other.intern(b"SOLUSDT").unwrap();
    let mut writer = LogWriter::open(
        dir.path(),
        WriterConfig::new(other).with_segment_bytes(1 << 20),
    )
    .unwrap();
    assert!(!writer.recovery().resumed);
    assert_eq!(writer.next_seq(), 300);
    let r = writer.append(&market_event(300, NEAR_MIDNIGHT_NS)).unwrap();
    assert_eq!((r.segment.index, r.seq), (1, 300));
    writer.close().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.segments().len(), 2);
    assert_eq!(reader.segments()[1].symbols().len(), 3);
}

#[test]
fn seeks_by_exchange_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LogWriter::open(dir.path(), config().with_segment_bytes(64 << 10)).unwrap();
    // 5000 events, one ms apart on the exchange clock; depth levels have no exchange time.
    let base_ns = NEAR_MIDNIGHT_NS - 100_000_000_000;
    let events: Vec<Event> = (0..5000)
        .map(|i| market_event(i, base_ns + i as i64 * 1_000_000))
        .collect();
    for e in &events {
        writer.append(e).unwrap();
    }
    writer.close().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    assert!(reader.segments().len() > 3);

    // Model: the first event whose own exchange time is >= t.
    let model = |t: i64| {
        events
            .iter()
            .position(|e| e.body.exchange_time_ms() != UNDEF_TIME && e.body.exchange_time_ms() >= t)
    };
    let base_ms = base_ns / 1_000_000;
    for t in [
        i64::MIN + 1,
        base_ms - 5,
        base_ms,
        base_ms + 1,
        base_ms + 1234,
        base_ms + 4095,
        base_ms + 4999,
        base_ms + 5000,
    ] {
        let got: Vec<Event> = reader.seek_exchange_time(t).map(|r| r.to_event()).collect();
        match model(t) {
            Some(i) => {
                assert_eq!(got.len(), events.len() - i, "t={t}");
                assert_eq!(got.first(), events.get(i), "t={t}");
            }
            None => assert!(got.is_empty(), "t={t}"),
        }
    }
}

#[test]
fn inspect_reports_counts_and_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LogWriter::open(dir.path(), config()).unwrap();
    let midnight = NEAR_MIDNIGHT_NS + 1_000_000_000;
    for e in every_kind(midnight - 1_000_000, 1_748_822_399_000)
        .iter()
        .chain(&every_kind(midnight, 1_748_822_400_000))
    {
        writer.append(e).unwrap();
    }
    writer.close().unwrap();
    let report = inspect(dir.path()).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.segments.len(), 2);
    let totals = report.totals();
    assert_eq!(totals.records, 24);
    assert!(totals.per_kind.iter().all(|&n| n == 2));
    assert_eq!(totals.first_recv_ns, Some(midnight - 1_000_000));
    let text = report.to_string();
    assert!(
        text.contains("2025-06-01/seg-000000.oflog: 12 records"),
        "{text}"
    );
    assert!(
        text.contains("2025-06-02/seg-000000.oflog: 12 records"),
        "{text}"
    );
    assert!(text.contains("level=1"), "{text}");
    assert!(text.contains("total: 24 records"), "{text}");
    assert!(
        text.contains("recv: 2025-06-01T23:59:59.999000000Z"),
        "{text}"
    );
    assert!(text.contains("symbols: BTCUSDT,ETHUSDT"), "{text}");
}

#[test]
fn empty_directory_reads_as_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    assert!(reader.is_empty());
    assert_eq!(reader.records().count(), 0);
    assert_eq!(reader.seek_exchange_time(0).count(), 0);
    // A body that round-trips through a timer-only log.
    let mut writer = LogWriter::open(dir.path(), config()).unwrap();
    let e = Event::new(
        0,
        orderflow_core::SymbolId(0),
        Body::Timer(orderflow_core::Timer { now_ms: 0 }),
    );
    writer.append(&e).unwrap();
    writer.close().unwrap();
    assert!(dir.path().join("1970-01-01/seg-000000.oflog").is_file());
}
