//! `orderflow-recorder`: append-only, memory-mapped event logs (DESIGN.md sections 6 and 7).
//!
//! - [`LogWriter`] appends [`Event`](orderflow_core::Event)s to preallocated, mapped segment
//!   files: a copy into the mapping plus a Release store of the committed length. Segments
//!   rotate by size and at 00:00 UTC; msync cadence is a [`MsyncPolicy`]. Reopening a log
//!   detects, reports ([`RecoveryReport`]) and truncates a torn tail.
//! - [`LogReader`] maps segments read-only, validates each header and record once, then
//!   iterates zero-copy ([`RecordRef`], [`ArchivedBodyRef`]) or as owned events, and seeks by
//!   exchange time through a small index.
//! - [`inspect`] reports segments, counts per kind, time spans, torn tails and damage; its
//!   [`Display`](std::fmt::Display) is the `orderflow inspect DIR` output.
//!
//! ```
//! use orderflow_core::{Body, Event, SymbolTable, Timer};
//! use orderflow_recorder::{LogReader, LogWriter, WriterConfig};
//!
//! let dir = std::env::temp_dir().join(format!("oflog-doc-{}", std::process::id()));
//! let mut symbols = SymbolTable::new();
//! let btc = symbols.intern(b"btcusdt")?;
//!
//! let mut writer = LogWriter::open(&dir, WriterConfig::new(symbols).with_segment_bytes(1 << 20))?;
//! let event = Event::new(1_700_000_000_000_000_000, btc, Body::Timer(Timer { now_ms: 1_700_000_000_000 }));
//! let receipt = writer.append(&event)?;
//! assert_eq!(receipt.seq, 0);
//! writer.close()?;
//!
//! let reader = LogReader::open(&dir)?;
//! assert_eq!(reader.events().collect::<Vec<_>>(), vec![event]);
//! assert_eq!(reader.segments()[0].symbols().name(btc), "BTCUSDT");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! A log is a directory `DIR/YYYY-MM-DD/seg-NNNNNN.oflog`: one folder per UTC day, segments
//! numbered from 0 within the day. The day is that of the record's `recv_ns` (the local
//! receive clock: every record has one, while depth levels have no exchange time); see
//! [`writer`](LogWriter) for clock steps. Other names in the tree are ignored (`*.tmp` while a
//! segment is created, `*.oflog.damaged` copies kept by recovery).
//!
//! # Segment header
//! All integers little endian. The header is a whole number of 4 KiB pages, so records start
//! page aligned.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `OFLOGSEG` |
//! | 8 | 4 | format version ([`FORMAT_VERSION`]) |
//! | 12 | 4 | header length `H` (multiple of 4096; 4096 for up to 99 symbols) |
//! | 16 | 8 | schema hash ([`schema_hash`]): FNV-1a over a format text and sample archives |
//! | 24 | 8 | creation time, ns since the UNIX epoch (wall clock) |
//! | 32 | 8 | log-wide sequence number of the first record |
//! | 40 | 4 | UTC day, days since 1970-01-01 (`i32`) |
//! | 44 | 4 | segment index within the day |
//! | 48 | 4 | symbol count `n` (at most [`MAX_SYMBOLS`]) |
//! | 52 | 8 | zero |
//! | 60 | 4 | CRC-32C of bytes `0..60` and `72..H` |
//! | 64 | 8 | **committed length**: end of the last committed record (`H` when empty); written with a Release store after the record, read with Acquire |
//! | 72 | 56 | zero |
//! | 128 | 40 × `n` | symbol table in id order: `[len u8][0; 7][name, zero padded to 32]` |
//! | … | to `H` | zero |
//!
//! # Records
//! From `H` to the committed length, back to back, each 8-byte aligned:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `len`: payload bytes (must equal the kind's payload size) |
//! | 4 | 2 | `kind`: [`EventKind`](orderflow_core::EventKind) discriminant |
//! | 6 | 2 | `flags`: [`Flags`](orderflow_core::Flags) bits (high byte zero) |
//! | 8 | 4 | `crc32c`: CRC-32C of the payload, continued from the state `kind << 16 \| flags` |
//! | 12 | 4 | zero (pads the frame to 8) |
//! | 16 | `len` | payload: rkyv 0.8 archive (little endian, aligned) of `Stamped<T> { recv_ns: i64, symbol: u16, [0; 6], record: T }`, `T` the record type of `kind` |
//!
//! Payloads are multiples of 8 bytes (24 + 16 for a depth level, up to 104 + 16 for a kline),
//! so frames need no padding. Past the committed length the file is zero; non-zero bytes
//! there are a torn tail.
//!
//! # Safety and trust
//! All `unsafe` is in one private module (`raw`): mapping files, the committed-length atomic,
//! and zero-copy views. Segment contents are untrusted: each header and record is validated
//! (magic, version, schema hash, checksums, lengths, alignment, checked rkyv access) before any
//! unchecked view, and invalid input is an error, never a panic. We only map files this crate
//! created in a directory it owns, and rely on nothing else truncating or rewriting them while
//! mapped: the writer only appends past the committed length, readers only read below it.
//!
//! # Performance
//! Appending is bound by page faults on the fresh mapping, which cost per byte and per page,
//! so three choices keep it fast (`cargo bench -p orderflow-benches --bench recorder`, whose
//! baseline is a bare 64-byte copy per record into a fresh mapping):
//! - each kind is stored at its own size (56 bytes with its frame for a depth level, 70 on
//!   average for a depth-heavy mix) rather than as a whole 128-byte `Event` (144 bytes, which
//!   the bare copy alone only moves at about half the 64-byte rate);
//! - segments are mapped with `MADV_HUGEPAGE` when the msync policy is
//!   [`MsyncPolicy::Never`] or [`MsyncPolicy::OnRotate`]: on Linux 6.x ext4 a fault then
//!   fills a 2 MiB page-cache folio instead of 4 KiB (the bare copy goes from ~30 to ~75 M/s
//!   here). The cost is an occasional stall of some tens of microseconds when a new folio is
//!   zeroed, and writeback in whole folios, which is why per-record msync policies keep 4 KiB
//!   pages;
//! - the record CRC is computed from the event's field values (`words.rs`) instead of being
//!   read back from the bytes rkyv just stored, which stalls on store forwarding.
//!
//! [`LogWriter::prefault`] moves the remaining faults off the append path when the recorder
//! thread is idle.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod format;
mod inspect;
mod payload;
mod raw;
mod reader;
mod words;
mod writer;

pub use error::{Corruption, RecorderError};
pub use format::{
    FORMAT_VERSION, MAGIC, MAX_SYMBOLS, SEGMENT_EXT, SegmentHeader, SegmentId, UtcDay,
    record_stride,
};
pub use inspect::{InspectReport, SegmentReport, inspect};
pub use payload::{ArchivedBodyRef, schema_hash};
pub use raw::{LevelRecord, RecordRef};
pub use reader::{INDEX_EVERY, LogReader, Records, Segment, SegmentStats};
pub use writer::{AppendReceipt, LogWriter, MsyncPolicy, RecoveryReport, WriterConfig};

#[cfg(test)]
mod tests {
    /// The engine moves the writer into its recorder thread and shares readers.
    #[test]
    fn handles_cross_threads() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<crate::LogWriter>();
        send::<crate::LogReader>();
        sync::<crate::LogReader>();
        send::<crate::RecordRef<'static>>();
    }
}
