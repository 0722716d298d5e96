//! Fuzzes the segment reader, the writer's recovery and `inspect` on arbitrary segment bytes.
//!
//! Input: one mode byte, then the segment file. With mode bit 0 set, the header checksum and
//! every record CRC the walk reaches are recomputed first, so mutations get past the checksums
//! into length, kind and rkyv validation and the zero-copy views after it. Seed the corpus
//! with real segments (any `*.oflog`, prefixed with a mode byte); each crash becomes a test in
//! `recorder/tests/corruption.rs`.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run read_segment -- -max_len=65536`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_recorder::{LogReader, LogWriter, Segment, WriterConfig, inspect};

/// Recomputes the header CRC (bytes 60..64) and the CRC of each record frame found by walking
/// lengths from the header end, as far as they stay in bounds.
fn fix_checksums(b: &mut [u8]) {
    let Some(header_len) = b
        .get(12..16)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
    else {
        return;
    };
    if header_len < 128 || header_len > b.len() {
        return;
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..60]), &b[72..header_len]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    let mut at = header_len;
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        let kind_flags = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]);
        let seed = (kind_flags & 0xFFFF) << 16 | kind_flags >> 16;
        let Some(end) = (at + 16).checked_add(len).filter(|&e| e <= b.len()) else {
            return;
        };
        let crc = crc32c::crc32c_append(seed, &b[at + 16..end]);
        b[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
        if len == 0 {
            return;
        }
        at = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, segment)) = data.split_first() else {
        return;
    };
    let mut bytes = segment.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut bytes);
    }
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let day = dir.path().join("2025-06-01");
    if std::fs::create_dir(&day).is_err() {
        return;
    }
    let path = day.join("seg-000000.oflog");
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    if let Ok(segment) = Segment::open(&path) {
        for record in segment.records() {
            let event = record.to_event();
            assert_eq!(event.kind(), record.kind());
            let _ = record.exchange_time_ms();
        }
    }
    if let Ok(reader) = LogReader::open(dir.path()) {
        let _ = reader.seek_exchange_time(i64::MIN + 1).count();
    }
    let _ = inspect(dir.path()).map(|r| r.to_string());
    if mode & 2 == 2 {
        // Writer recovery on the same bytes: repairs or refuses, never panics.
        if let Ok(mut writer) = LogWriter::open(dir.path(), WriterConfig::default()) {
            let _ = writer.sync();
            let _ = writer.close();
        }
        let _ = inspect(dir.path());
    }
});
