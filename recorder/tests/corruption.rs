//! Corrupted segments: truncated files, flipped bits, wrong magic/version/schema, absurd
//! lengths. Every case is an `Err` naming the file and offset (or a reported damage in
//! `inspect`), never a panic.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::path::{Path, PathBuf};

use common::{NEAR_MIDNIGHT_NS, every_kind, market_event, symbols};
use orderflow_recorder::{
    Corruption, FORMAT_VERSION, LogReader, LogWriter, RecorderError, Segment, WriterConfig, inspect,
};
use proptest::prelude::*;

/// A one-segment log: every kind once, then a market mix. Returns the segment path and bytes.
fn sample_log(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut writer = LogWriter::open(
        dir,
        WriterConfig::new(symbols()).with_segment_bytes(1 << 20),
    )
    .unwrap();
    for e in every_kind(NEAR_MIDNIGHT_NS - 1_000, 1_748_822_399_000) {
        let _ = writer.append(&e).unwrap();
    }
    for i in 0..40 {
        let _ = writer
            .append(&market_event(i, NEAR_MIDNIGHT_NS + i as i64))
            .unwrap();
    }
    writer.close().unwrap();
    let path = dir.join("2025-06-01/seg-000000.oflog");
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// The bytes of [`sample_log`], made once, and a fresh log directory holding them (for
/// property tests, which would otherwise write a log per case).
fn cached_log(dir: &Path) -> (PathBuf, Vec<u8>) {
    static GOOD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let good = GOOD.get_or_init(|| {
        let scratch = tempfile::tempdir().unwrap();
        sample_log(scratch.path()).1
    });
    let day = dir.join("2025-06-01");
    std::fs::create_dir_all(&day).unwrap();
    let path = day.join("seg-000000.oflog");
    std::fs::write(&path, good).unwrap();
    (path, good.clone())
}

fn corrupt_err(path: &Path) -> (u64, Corruption) {
    let err = Segment::open(path).unwrap_err();
    match &err {
        RecorderError::Corrupt {
            path: p,
            offset,
            reason,
        } => {
            assert_eq!(p, path);
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&format!("offset {offset}")), "{text}");
            (*offset, *reason)
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

fn with_bytes(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn wrong_magic_version_and_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = sample_log(dir.path());

    let mut b = good.clone();
    b[0] = b'X';
    with_bytes(&path, &b);
    assert_eq!(corrupt_err(&path), (0, Corruption::BadMagic));

    let mut b = good.clone();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    with_bytes(&path, &b);
    assert_eq!(
        corrupt_err(&path),
        (
            8,
            Corruption::UnsupportedVersion {
                found: FORMAT_VERSION + 1,
                expected: FORMAT_VERSION
            }
        )
    );

    let mut b = good.clone();
    b[16] ^= 0x80;
    with_bytes(&path, &b);
    let (offset, reason) = corrupt_err(&path);
    assert_eq!(offset, 16);
    assert!(
        matches!(reason, Corruption::SchemaMismatch { .. }),
        "{reason}"
    );

    // The writer refuses to append to a segment it cannot read back.
    let err = LogWriter::open(dir.path(), WriterConfig::new(symbols())).unwrap_err();
    assert!(matches!(err, RecorderError::Corrupt { .. }), "{err}");
    // The reader names the file; inspect reports the damage instead of failing.
    assert!(
        LogReader::open(dir.path())
            .unwrap_err()
            .to_string()
            .contains("seg-000000.oflog")
    );
    let report = inspect(dir.path()).unwrap();
    assert!(matches!(
        report.segments[0].damage,
        Some((16, Corruption::SchemaMismatch { .. }))
    ));
    assert!(
        report.to_string().contains("DAMAGED at offset 16"),
        "{report}"
    );
}

#[test]
fn truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = sample_log(dir.path());
    for len in [0, 1, 8, 64, 127, 128, 200, 4095] {
        with_bytes(&path, &good[..len]);
        let (offset, reason) = corrupt_err(&path);
        assert_eq!(
            (offset, reason),
            (0, Corruption::Truncated { len: len as u64 }),
            "len {len}"
        );
    }
    // Cut inside the records: the committed length now points past the end of the file.
    for len in [4096, 4100, good.len() - 1] {
        with_bytes(&path, &good[..len]);
        let (offset, reason) = corrupt_err(&path);
        assert_eq!(offset, 64, "len {len}");
        assert!(
            matches!(reason, Corruption::CommittedOutOfRange { .. }),
            "{reason}"
        );
    }
}

#[test]
fn the_writer_refuses_a_truncated_newest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = sample_log(dir.path());
    for len in [0, 100, 4000] {
        with_bytes(&path, &good[..len]);
        let err = LogWriter::open(dir.path(), WriterConfig::new(symbols())).unwrap_err();
        assert_eq!(
            err.corruption(),
            Some((0, Corruption::Truncated { len: len as u64 })),
            "{err}"
        );
    }
}

#[test]
fn absurd_lengths_and_kinds_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = sample_log(dir.path());
    let first = 4096;
    for len in [0u32, 8, 39, 41, 4096, u32::MAX] {
        let mut b = good.clone();
        b[first..first + 4].copy_from_slice(&len.to_le_bytes());
        with_bytes(&path, &b);
        let (offset, reason) = corrupt_err(&path);
        assert_eq!(offset, first as u64);
        assert!(matches!(reason, Corruption::BadLength { .. }), "{reason}");
    }
    let mut b = good.clone();
    b[first + 4..first + 6].copy_from_slice(&999u16.to_le_bytes());
    with_bytes(&path, &b);
    assert_eq!(
        corrupt_err(&path),
        (first as u64, Corruption::UnknownKind { kind: 999 })
    );

    // A committed length cut by one byte: the last record overruns it (found by proptest).
    let mut b = good.clone();
    b[64..72].copy_from_slice(&(good.len() as u64 - 1).to_le_bytes());
    with_bytes(&path, &b);
    let (offset, reason) = corrupt_err(&path);
    assert!(offset > 4096 && (offset as usize) < good.len(), "{offset}");
    assert!(matches!(reason, Corruption::Overrun { .. }), "{reason}");

    // A committed length far past the file.
    let mut b = good.clone();
    b[64..72].copy_from_slice(&u64::MAX.to_le_bytes());
    with_bytes(&path, &b);
    assert_eq!(corrupt_err(&path).0, 64);
    // A header length of 4 GiB.
    let mut b = good.clone();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    with_bytes(&path, &b);
    assert_eq!(
        corrupt_err(&path),
        (
            12,
            Corruption::BadHeaderLength {
                len: u64::from(u32::MAX)
            }
        )
    );
    // A symbol count beyond the header.
    let mut b = good.clone();
    b[48..52].copy_from_slice(&1_000_000u32.to_le_bytes());
    with_bytes(&path, &b);
    assert_eq!(
        corrupt_err(&path).0,
        60,
        "the header checksum catches it first"
    );
}

#[test]
fn a_flipped_payload_bit_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = sample_log(dir.path());
    let reader = LogReader::open(dir.path()).unwrap();
    let offsets: Vec<u64> = reader.records().map(|r| r.offset()).collect();
    drop(reader);
    let third = offsets[2] as usize;
    let mut b = good.clone();
    b[third + 20] ^= 0x04;
    with_bytes(&path, &b);
    let (offset, reason) = corrupt_err(&path);
    assert_eq!(offset, third as u64);
    assert!(matches!(reason, Corruption::Checksum { .. }), "{reason}");
}

#[test]
fn a_bad_enum_tag_behind_a_valid_crc_fails_rkyv_validation() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = sample_log(dir.path());
    let reader = LogReader::open(dir.path()).unwrap();
    let level = reader
        .records()
        .find(|r| r.kind() == orderflow_core::EventKind::Level)
        .map(|r| (r.offset() as usize, r.flags()))
        .unwrap();
    drop(reader);
    let (at, flags) = level;
    let mut b = good.clone();
    // Payload: 16 bytes of stamp, then the level: px, qty, side (a two-variant enum).
    b[at + 16 + 16 + 16] = 7;
    let payload_len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let seed = (orderflow_core::EventKind::Level as u32) << 16 | u32::from(flags.0);
    let crc = crc32c::crc32c_append(seed, &b[at + 16..at + 16 + payload_len]);
    b[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
    with_bytes(&path, &b);
    assert_eq!(corrupt_err(&path), (at as u64, Corruption::BadPayload));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any single flipped bit in the committed part is an error at or before the flipped
    /// byte's record, or (in reserved-but-unchecked bytes) harmless; never a panic.
    #[test]
    fn flipped_bits_never_panic(pos in 0usize..1_000_000, bit in 0u8..8, extra in proptest::option::of((0usize..1_000_000, any::<u8>()))) {
        let dir = tempfile::tempdir().unwrap();
        let (path, good) = cached_log(dir.path());
        let mut b = good.clone();
        let at = pos % b.len();
        b[at] ^= 1 << bit;
        if let Some((p, v)) = extra {
            let p = p % b.len();
            b[p] = v;
        }
        with_bytes(&path, &b);
        match Segment::open(&path) {
            Ok(segment) => {
                // No byte of a closed segment is unchecked, so an accepted file equals the
                // original, or its committed length was lowered onto an earlier record
                // boundary, which leaves the rest as a reported torn tail.
                if b != good {
                    prop_assert!(segment.stats().torn_tail_bytes > 0);
                    prop_assert!(segment.records().count() < 52);
                } else {
                    prop_assert_eq!(segment.records().count(), 52);
                }
            }
            Err(RecorderError::Corrupt { offset, .. }) => {
                // Reported at or before the damage, except that a damaged committed length
                // (bytes 64..72) shows up at the record it cuts.
                let last = at.max(extra.map_or(0, |(p, _)| p % good.len()));
                let committed_hit = (64..72).contains(&at)
                    || extra.is_some_and(|(p, _)| (64..72).contains(&(p % good.len())));
                // Damage anywhere in the header page is found by the header CRC (at 60..64).
                let first = at.min(extra.map_or(usize::MAX, |(p, _)| p % good.len()));
                let header_hit = offset == 60 && first < 4096;
                prop_assert!(
                    offset as usize <= last || committed_hit || header_hit,
                    "offset {} > {}", offset, last
                );
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
        let _ = inspect(dir.path()).unwrap();
    }

    /// Arbitrary bytes after a valid fixed header (and arbitrary files) never panic.
    #[test]
    fn garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..9000), keep in 0usize..5000) {
        let dir = tempfile::tempdir().unwrap();
        let (path, good) = cached_log(dir.path());
        let mut b = good[..keep.min(good.len())].to_vec();
        b.extend_from_slice(&garbage);
        with_bytes(&path, &b);
        let _ = Segment::open(&path);
        let _ = LogReader::open(dir.path());
        let _ = inspect(dir.path()).unwrap();
        with_bytes(&path, &garbage);
        prop_assert!(Segment::open(&path).is_err() || garbage.len() >= 4096);
    }
}
