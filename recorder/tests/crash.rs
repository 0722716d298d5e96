//! Crash safety: a child process appends and is SIGKILLed at random points; everything it
//! reported as appended reads back intact, the torn tail is detected and truncated on reopen,
//! and appending continues. Torn tails and lost writeback are also simulated byte by byte.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;
#[path = "common/crash_events.rs"]
mod crash_events;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{NEAR_MIDNIGHT_NS, market_event, symbols};
use crash_events::crash_event;
use orderflow_core::Event;
use orderflow_recorder::{Corruption, LogReader, LogWriter, RecorderError, WriterConfig, inspect};

const CHILD: &str = env!("CARGO_BIN_EXE_orderflow-recorder-crash-writer");
const ITERATIONS: u64 = 10;

/// splitmix64: a seeded, dependency-free RNG for the kill points.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Everything in the log must be the deterministic event of its sequence number.
fn check_log(dir: &Path) -> u64 {
    let reader = LogReader::open(dir).unwrap();
    for (seq, event) in reader.events().enumerate() {
        assert_eq!(event, crash_event(seq as u64), "seq {seq}");
    }
    reader.len()
}

#[test]
fn sigkill_at_random_points_loses_nothing_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x5EED_u64;
    let mut torn_seen = 0;
    let mut expected_next = 0;
    for iteration in 0..ITERATIONS {
        let mut child = Command::new(CHILD)
            .arg(dir.path())
            .arg("100000000")
            .arg("65536") // small segments: kills also land around rotations
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let fields: Vec<u64> = first
            .strip_prefix("recovered ")
            .unwrap()
            .split(' ')
            .map(|f| f.parse().unwrap())
            .collect();
        let (next_seq, torn, lost) = (fields[0], fields[1], fields[2]);
        assert_eq!(
            next_seq, expected_next,
            "iteration {iteration}: recovery lost records"
        );
        assert_eq!(lost, 0, "a kill never loses committed bytes");
        torn_seen += u64::from(torn > 0);

        let wanted = 1 + splitmix(&mut rng) % 3000;
        let mut last = None;
        for line in lines.by_ref().take(wanted as usize) {
            let seq: u64 = line.unwrap().parse().unwrap();
            assert_eq!(seq, last.map_or(next_seq, |l| l + 1));
            last = Some(seq);
        }
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        let last = last.unwrap();

        // The reader accepts the log as it is (a torn tail is skipped and counted).
        let len = check_log(dir.path());
        assert!(
            len > last,
            "iteration {iteration}: reported seq {last} missing (log has {len})"
        );
        expected_next = len;
    }
    // A final clean run: recovery truncates whatever the last kill tore, appending continues.
    let status = Command::new(CHILD)
        .arg(dir.path())
        .arg("10")
        .arg("65536")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(check_log(dir.path()), expected_next + 10);
    let report = inspect(dir.path()).unwrap();
    assert!(report.is_clean(), "{report}");
    eprintln!("kills that left a torn tail: {torn_seen} of {ITERATIONS}");
}

fn write_some(dir: &Path, n: u64) -> Vec<Event> {
    let mut writer = LogWriter::open(
        dir,
        WriterConfig::new(symbols()).with_segment_bytes(1 << 20),
    )
    .unwrap();
    let events: Vec<Event> = (0..n)
        .map(|i| market_event(i, NEAR_MIDNIGHT_NS + i as i64))
        .collect();
    for e in &events {
        let _ = writer.append(e).unwrap();
    }
    writer.close().unwrap();
    events
}

fn segment(dir: &Path) -> std::path::PathBuf {
    dir.join("2025-06-01/seg-000000.oflog")
}

#[test]
fn partial_record_is_reported_and_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let events = write_some(dir.path(), 10);
    let path = segment(dir.path());
    // A process killed mid-append: the first 30 bytes of a record past the committed length.
    let bytes = std::fs::read(&path).unwrap();
    let partial = bytes[4096..4096 + 30].to_vec();
    // Trailing zero bytes of a torn record are indistinguishable from the zeroed file.
    let torn = partial.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    assert!(torn > 16);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&partial)
        .unwrap();

    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.events().collect::<Vec<_>>(), events);
    assert_eq!(reader.segments()[0].stats().torn_tail_bytes, torn);
    let report = inspect(dir.path()).unwrap();
    assert!(!report.is_clean());
    assert!(
        report
            .to_string()
            .contains(&format!("torn tail: {torn} bytes")),
        "{report}"
    );
    drop(reader);

    let mut writer = LogWriter::open(
        dir.path(),
        WriterConfig::new(symbols()).with_segment_bytes(1 << 20),
    )
    .unwrap();
    let recovery = writer.recovery();
    assert_eq!(recovery.torn_tail_bytes, torn);
    assert_eq!(recovery.lost_committed_bytes, 0);
    assert_eq!(recovery.next_seq, 10);
    assert!(recovery.resumed);
    let more = market_event(10, NEAR_MIDNIGHT_NS + 10);
    assert_eq!(writer.append(&more).unwrap().seq, 10);
    writer.close().unwrap();

    let reader = LogReader::open(dir.path()).unwrap();
    let mut all = events;
    all.push(more);
    assert_eq!(reader.events().collect::<Vec<_>>(), all);
    assert!(inspect(dir.path()).unwrap().is_clean());
}

#[test]
fn lost_writeback_below_committed_is_an_error_for_readers_and_repaired_by_writers() {
    let dir = tempfile::tempdir().unwrap();
    let events = write_some(dir.path(), 10);
    let path = segment(dir.path());
    // Power loss: the header (committed length) reached the disk, the last record's page did
    // not. Zero the last record.
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    let last_stride = orderflow_recorder::record_stride(events[9].kind());
    bytes[len - last_stride..].fill(0);
    std::fs::write(&path, &bytes).unwrap();

    let err = LogReader::open(dir.path()).unwrap_err();
    let RecorderError::Corrupt {
        path: p,
        offset,
        reason,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(p, &path);
    assert_eq!(*offset, (len - last_stride) as u64);
    assert!(
        matches!(reason, Corruption::BadLength { len: 0, .. }),
        "{reason}"
    );
    assert!(
        err.to_string().contains("seg-000000.oflog at offset"),
        "{err}"
    );

    let writer = LogWriter::open(
        dir.path(),
        WriterConfig::new(symbols()).with_segment_bytes(1 << 20),
    )
    .unwrap();
    let recovery = writer.recovery();
    assert_eq!(recovery.lost_committed_bytes, last_stride as u64);
    assert_eq!(recovery.next_seq, 9);
    writer.close().unwrap();
    assert!(path.with_extension("oflog.damaged").is_file());
    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.events().collect::<Vec<_>>(), events[..9]);
}
