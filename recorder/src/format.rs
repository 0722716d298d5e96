//! The on-disk format: directory layout, segment header, record framing and the record walk.
//!
//! The tables are in the crate docs; this module is the one place that encodes and decodes
//! them. Everything here is safe code over byte slices, so the same functions serve the
//! writer's recovery, the reader's validation, `inspect` and the fuzz target.

use std::fmt;

use orderflow_core::{EventKind, MAX_SYMBOL_LEN, SymbolTable};

use crate::error::Corruption;
use crate::payload;

/// First 8 bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"OFLOGSEG";
/// Format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Extension of segment files (`seg-000000.oflog`).
pub const SEGMENT_EXT: &str = "oflog";

/// Header lengths are multiples of this (one page), so records start page aligned.
pub(crate) const PAGE: usize = 4096;
/// Bytes of the fixed header fields before the symbol table.
pub(crate) const FIXED_HEADER_LEN: usize = 128;
/// Offset of the committed-length word (`u64`, little endian, alone in its cache line).
pub(crate) const COMMITTED_OFFSET: usize = 64;
/// Bytes per symbol-table entry: `[len u8][7 zero bytes][name, zero padded to 32]`.
pub(crate) const SYMBOL_ENTRY_LEN: usize = 40;
/// Most symbols a header holds (every id a `SymbolId` can name).
pub const MAX_SYMBOLS: usize = u16::MAX as usize;
/// Upper bound on a header's length.
pub(crate) const MAX_HEADER_LEN: usize = header_len_for(MAX_SYMBOLS);

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Header length for a table of `symbols` entries: the fixed part plus the table, rounded up
/// to a page.
pub(crate) const fn header_len_for(symbols: usize) -> usize {
    (FIXED_HEADER_LEN + symbols * SYMBOL_ENTRY_LEN).div_ceil(PAGE) * PAGE
}

/// A UTC calendar day, counted in days since 1970-01-01.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(pub i32);

impl UtcDay {
    /// The UTC day holding `ns` (nanoseconds since the UNIX epoch).
    #[inline]
    #[must_use]
    pub const fn from_ns(ns: i64) -> Self {
        // |i64::MAX / NS_PER_DAY| is about 106_751, far inside i32.
        Self(ns.div_euclid(NS_PER_DAY) as i32)
    }

    /// First nanosecond of the day.
    #[must_use]
    pub const fn start_ns(self) -> i64 {
        self.0 as i64 * NS_PER_DAY
    }

    /// `(year, month, day)` of the proleptic Gregorian calendar (Howard Hinnant's
    /// `civil_from_days`).
    #[must_use]
    pub const fn ymd(self) -> (i32, u32, u32) {
        let z = self.0 as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
        (y as i32, m as u32, d as u32)
    }

    /// The day of a date (`days_from_civil`); `None` for an invalid date.
    #[must_use]
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = i64::from((month + 9) % 12);
        let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let out = Self(i32::try_from(days).ok()?);
        (out.ymd() == (year, month, day)).then_some(out)
    }

    /// Parses the directory name form `YYYY-MM-DD`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let year = i32::try_from(num(0..4)?).ok()?;
        Self::from_ymd(year, num(5..7)?, num(8..10)?)
    }
}

impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Names one segment: its UTC day folder and its index within the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId {
    /// The day folder (`DIR/YYYY-MM-DD/`).
    pub day: UtcDay,
    /// Index within the day (`seg-NNNNNN.oflog`), from 0.
    pub index: u32,
}

impl SegmentId {
    /// Path of the segment relative to the log directory: `YYYY-MM-DD/seg-NNNNNN.oflog`.
    #[must_use]
    pub fn relative_path(&self) -> std::path::PathBuf {
        std::path::Path::new(&self.day.to_string()).join(self.file_name())
    }

    /// File name: `seg-NNNNNN.oflog`.
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("seg-{:06}.{SEGMENT_EXT}", self.index)
    }

    /// The index in a file name of the form `seg-NNNNNN.oflog`.
    #[must_use]
    pub fn parse_file_name(name: &str) -> Option<u32> {
        let digits = name.strip_prefix("seg-")?.strip_suffix(".oflog")?;
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/seg-{:06}.{SEGMENT_EXT}", self.day, self.index)
    }
}

/// The fixed fields of a segment header (the symbol table comes separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Header length in bytes; records start here.
    pub header_len: u32,
    /// Hash of the record layouts the segment was written with.
    pub schema_hash: u64,
    /// Wall-clock creation time, ns since the UNIX epoch.
    pub created_ns: i64,
    /// Log-wide sequence number of the segment's first record.
    pub first_seq: u64,
    /// Day folder and index.
    pub id: SegmentId,
}

/// Writes a header with an empty committed region into `out` (`header_len` zeroed bytes).
pub(crate) fn encode_header(out: &mut [u8], header: &SegmentHeader, symbols: &SymbolTable) {
    fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
        if let Some(dst) = out.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    put(out, 0, &MAGIC);
    put(out, 8, &header.format_version.to_le_bytes());
    put(out, 12, &header.header_len.to_le_bytes());
    put(out, 16, &header.schema_hash.to_le_bytes());
    put(out, 24, &header.created_ns.to_le_bytes());
    put(out, 32, &header.first_seq.to_le_bytes());
    put(out, 40, &header.id.day.0.to_le_bytes());
    put(out, 44, &header.id.index.to_le_bytes());
    put(out, 48, &(symbols.len() as u32).to_le_bytes());
    for (i, (_, name)) in symbols.iter().enumerate() {
        let at = FIXED_HEADER_LEN + i * SYMBOL_ENTRY_LEN;
        put(out, at, &[name.len() as u8]);
        put(out, at + 8, name.as_bytes());
    }
    put(
        out,
        COMMITTED_OFFSET,
        &u64::from(header.header_len).to_le_bytes(),
    );
    let crc = HeaderBytes::whole(out).crc();
    put(out, 60, &crc.to_le_bytes());
}

/// A header as two slices around the committed-length word (bytes 64..72), which a reader
/// only ever loads atomically: `head` is bytes `0..64`, `rest` is bytes `72..header_len`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderBytes<'a> {
    head: &'a [u8],
    rest: &'a [u8],
}

impl<'a> HeaderBytes<'a> {
    const REST_START: usize = COMMITTED_OFFSET + 8;

    /// From the two slices (`rest` may be empty before the header length is known).
    pub(crate) fn new(head: &'a [u8], rest: &'a [u8]) -> Self {
        Self { head, rest }
    }

    /// From a whole header buffer (the writer's own, or tests).
    pub(crate) fn whole(header: &'a [u8]) -> Self {
        Self {
            head: header.get(..COMMITTED_OFFSET).unwrap_or_default(),
            rest: header.get(Self::REST_START..).unwrap_or_default(),
        }
    }

    /// Bytes `start..end` of the header; `None` across the committed-length word or past
    /// the end.
    fn get(&self, start: usize, end: usize) -> Option<&'a [u8]> {
        if end <= COMMITTED_OFFSET {
            self.head.get(start..end)
        } else if start >= Self::REST_START {
            self.rest
                .get(start - Self::REST_START..end - Self::REST_START)
        } else {
            None
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        self.get(at, at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }

    fn u64_at(&self, at: usize) -> u64 {
        self.get(at, at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }

    /// Header length in bytes (`head` and `rest` plus the committed word).
    fn len(&self) -> usize {
        Self::REST_START + self.rest.len()
    }

    /// CRC-32C over the header except its checksum and committed-length words.
    fn crc(&self) -> u32 {
        let head = self.head.get(..60).unwrap_or_default();
        crc32c::crc32c_append(crc32c::crc32c(head), self.rest)
    }
}

/// Checks the fixed header fields (`head`, bytes `0..64`) of a file of `file_len` bytes and
/// returns the header length they announce.
///
/// Order: magic, version, schema hash, header length (the checksum needs the whole header, see
/// [`decode_header`]).
pub(crate) fn check_fixed_header(head: &[u8], file_len: u64) -> Result<usize, (u64, Corruption)> {
    if file_len < FIXED_HEADER_LEN as u64 || head.len() < COMMITTED_OFFSET {
        return Err((0, Corruption::Truncated { len: file_len }));
    }
    let fixed = HeaderBytes::new(head, &[]);
    if fixed.get(0, 8) != Some(&MAGIC[..]) {
        return Err((0, Corruption::BadMagic));
    }
    let version = fixed.u32_at(8);
    if version != FORMAT_VERSION {
        return Err((
            8,
            Corruption::UnsupportedVersion {
                found: version,
                expected: FORMAT_VERSION,
            },
        ));
    }
    let schema = fixed.u64_at(16);
    let expected = payload::schema_hash();
    if schema != expected {
        return Err((
            16,
            Corruption::SchemaMismatch {
                found: schema,
                expected,
            },
        ));
    }
    let header_len = fixed.u32_at(12) as usize;
    if header_len < PAGE || !header_len.is_multiple_of(PAGE) || header_len > MAX_HEADER_LEN {
        return Err((
            12,
            Corruption::BadHeaderLength {
                len: header_len as u64,
            },
        ));
    }
    if header_len as u64 > file_len {
        return Err((0, Corruption::Truncated { len: file_len }));
    }
    Ok(header_len)
}

/// Decodes a whole header (`rest` running to the header length [`check_fixed_header`]
/// returned): checksum, reserved fields, symbol table.
pub(crate) fn decode_header(
    header: HeaderBytes<'_>,
) -> Result<(SegmentHeader, SymbolTable), (u64, Corruption)> {
    if header.crc() != header.u32_at(60) {
        return Err((60, Corruption::HeaderChecksum));
    }
    let bad = |at: usize| (at as u64, Corruption::BadHeaderField);
    if header.u64_at(52) != 0 {
        return Err(bad(52));
    }
    let reserved = header
        .get(HeaderBytes::REST_START, FIXED_HEADER_LEN)
        .ok_or(bad(72))?;
    if reserved.iter().any(|&b| b != 0) {
        return Err(bad(72));
    }
    let count = header.u32_at(48) as usize;
    if FIXED_HEADER_LEN + count.saturating_mul(SYMBOL_ENTRY_LEN) > header.len() {
        return Err(bad(48));
    }
    let mut symbols = SymbolTable::new();
    for i in 0..count {
        let at = FIXED_HEADER_LEN + i * SYMBOL_ENTRY_LEN;
        let entry = header.get(at, at + SYMBOL_ENTRY_LEN).ok_or(bad(at))?;
        let len = usize::from(entry.first().copied().unwrap_or(0));
        let pad_ok = entry.get(1..8).is_some_and(|p| p.iter().all(|&b| b == 0));
        let name = entry.get(8..8 + len).filter(|_| len <= MAX_SYMBOL_LEN);
        let tail_ok = entry
            .get(8 + len..)
            .is_some_and(|p| p.iter().all(|&b| b == 0));
        let Some(name) = name.filter(|_| pad_ok && tail_ok) else {
            return Err(bad(at));
        };
        match symbols.intern(name) {
            Ok(id) if id.index() == i && symbols.name(id).as_bytes() == name => {}
            _ => return Err(bad(at)),
        }
    }
    let fields = SegmentHeader {
        format_version: header.u32_at(8),
        header_len: header.u32_at(12),
        schema_hash: header.u64_at(16),
        created_ns: header.u64_at(24) as i64,
        first_seq: header.u64_at(32),
        id: SegmentId {
            day: UtcDay(header.u32_at(40) as i32),
            index: header.u32_at(44),
        },
    };
    Ok((fields, symbols))
}

#[inline]
fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|w| w.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The 16-byte frame in front of every payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// Payload length in bytes (the header and padding excluded).
    pub(crate) len: u32,
    /// [`EventKind`] discriminant.
    pub(crate) kind: u16,
    /// [`Flags`] bits (the high byte is zero).
    pub(crate) flags: u16,
    /// CRC-32C of the payload, continued from `kind << 16 | flags` ([`record_crc`]).
    pub(crate) crc: u32,
    /// Zero.
    pub(crate) reserved: u32,
}

impl RecordHeader {
    /// Bytes of the frame.
    pub(crate) const LEN: usize = 16;

    /// Reads a frame from the first 16 bytes of `b`.
    #[inline]
    pub(crate) fn parse(b: &[u8]) -> Option<Self> {
        let b = b.get(..Self::LEN)?;
        Some(Self {
            len: le_u32(b, 0),
            kind: le_u32(b, 4) as u16,
            flags: (le_u32(b, 4) >> 16) as u16,
            crc: le_u32(b, 8),
            reserved: le_u32(b, 12),
        })
    }

    /// Writes the frame into the first 16 bytes of `out`.
    #[inline]
    pub(crate) fn write(&self, out: &mut [u8]) {
        let mut b = [0u8; Self::LEN];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..6].copy_from_slice(&self.kind.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.crc.to_le_bytes());
        b[12..16].copy_from_slice(&self.reserved.to_le_bytes());
        if let Some(dst) = out.get_mut(..Self::LEN) {
            dst.copy_from_slice(&b);
        }
    }

    /// The kind, when the field names one.
    #[inline]
    pub(crate) fn kind(&self) -> Option<EventKind> {
        u8::try_from(self.kind).ok().and_then(EventKind::from_u8)
    }
}

/// CRC-32C of a payload, continued from the state `kind << 16 | flags`, so a flipped kind or
/// flag bit fails the check as surely as a flipped payload bit (the length is checked
/// against the kind separately).
#[inline]
pub(crate) fn record_crc(kind: u16, flags: u16, payload: &[u8]) -> u32 {
    crate::raw::crc32c_append(crc_seed(kind, flags), payload)
}

/// The CRC state a record's payload CRC starts from: `kind << 16 | flags`.
#[inline]
pub(crate) const fn crc_seed(kind: u16, flags: u16) -> u32 {
    (kind as u32) << 16 | flags as u32
}

/// Bytes a record of `kind` takes in a segment: frame plus payload (payloads are multiples
/// of 8, so no padding follows).
#[inline]
#[must_use]
pub const fn record_stride(kind: EventKind) -> usize {
    RecordHeader::LEN + payload::PAYLOAD_LEN[kind as usize] as usize
}

/// One record seen by [`scan`], decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scanned {
    /// Byte offset in the file.
    pub(crate) offset: u64,
    /// Receive time, ns.
    pub(crate) recv_ns: i64,
    /// The record's kind.
    pub(crate) kind: EventKind,
    /// The record's exchange time ([`orderflow_core::Body::exchange_time_ms`]).
    pub(crate) exchange_time_ms: i64,
}

/// Result of walking a record area.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScanOutcome {
    /// File offset just past the last valid record.
    pub(crate) end: usize,
    /// Valid records seen.
    pub(crate) records: u64,
    /// The first invalid record, if the walk stopped early.
    pub(crate) error: Option<(u64, Corruption)>,
}

/// Walks the records in `area` (the file bytes from offset `base`), validating each: kind,
/// length, reserved bits, bounds, CRC, then checked rkyv access. Stops at the end of `area`
/// or at the first invalid record.
pub(crate) fn scan(area: &[u8], base: usize, mut visit: impl FnMut(&Scanned)) -> ScanOutcome {
    let mut at = 0usize;
    let mut records = 0u64;
    let error = loop {
        if at == area.len() {
            break None;
        }
        let offset = (base + at) as u64;
        crate::raw::prefetch(area, at + crate::raw::PREFETCH_AHEAD);
        match check_record(area.get(at..).unwrap_or_default(), offset) {
            Ok((stride, scanned)) => {
                visit(&scanned);
                records += 1;
                at += stride;
            }
            Err(reason) => break Some((offset, reason)),
        }
    };
    ScanOutcome {
        end: base + at,
        records,
        error,
    }
}

/// Validates the record at the start of `b` (the file from `offset` to the committed end).
#[inline]
fn check_record(b: &[u8], offset: u64) -> Result<(usize, Scanned), Corruption> {
    let header = RecordHeader::parse(b).ok_or(Corruption::Overrun {
        len: RecordHeader::LEN as u64,
    })?;
    let kind = header
        .kind()
        .ok_or(Corruption::UnknownKind { kind: header.kind })?;
    let expected = payload::PAYLOAD_LEN[kind as usize];
    if header.len != expected {
        return Err(Corruption::BadLength {
            len: header.len,
            kind: header.kind,
            expected,
        });
    }
    if header.flags > 0xFF || header.reserved != 0 {
        return Err(Corruption::ReservedBits);
    }
    let stride = RecordHeader::LEN + header.len as usize;
    let payload = b
        .get(RecordHeader::LEN..stride)
        .ok_or(Corruption::Overrun { len: stride as u64 })?;
    let computed = record_crc(header.kind, header.flags, payload);
    if computed != header.crc {
        return Err(Corruption::Checksum {
            stored: header.crc,
            computed,
        });
    }
    let (recv_ns, exchange_time_ms) = payload::validate(kind, payload)?;
    let scanned = Scanned {
        offset,
        recv_ns,
        kind,
        exchange_time_ms,
    };
    Ok((stride, scanned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_match_known_dates() {
        assert_eq!(UtcDay(0).to_string(), "1970-01-01");
        assert_eq!(UtcDay::from_ns(-1).to_string(), "1969-12-31");
        // 2024-02-29T23:59:59.999999999Z and the next nanosecond.
        let leap_end = 1_709_251_199_999_999_999;
        assert_eq!(UtcDay::from_ns(leap_end).to_string(), "2024-02-29");
        assert_eq!(UtcDay::from_ns(leap_end + 1).to_string(), "2024-03-01");
        assert_eq!(UtcDay::from_ns(leap_end + 1).start_ns(), leap_end + 1);
        for d in [-700_000, -1, 0, 19_782, 2_932_896] {
            let day = UtcDay(d);
            assert_eq!(UtcDay::parse(&day.to_string()), Some(day), "{day}");
        }
        assert_eq!(UtcDay::parse("2023-02-29"), None);
        assert_eq!(UtcDay::parse("2023-1-01x"), None);
        assert_eq!(UtcDay::parse("+023-01-01"), None);
    }

    #[test]
    fn segment_names_round_trip() {
        let id = SegmentId {
            day: UtcDay::parse("2025-06-01").unwrap(),
            index: 7,
        };
        assert_eq!(id.to_string(), "2025-06-01/seg-000007.oflog");
        assert_eq!(SegmentId::parse_file_name(&id.file_name()), Some(7));
        assert_eq!(SegmentId::parse_file_name("seg-.oflog"), None);
        assert_eq!(SegmentId::parse_file_name("seg-000001.oflog.tmp"), None);
    }

    #[test]
    fn header_round_trips() {
        let mut symbols = SymbolTable::new();
        symbols.intern(b"btcusdt").unwrap();
        symbols.intern(b"ETHUSDT").unwrap();
        let len = header_len_for(symbols.len());
        let header = SegmentHeader {
            format_version: FORMAT_VERSION,
            header_len: len as u32,
            schema_hash: payload::schema_hash(),
            created_ns: 123,
            first_seq: 42,
            id: SegmentId {
                day: UtcDay(20_000),
                index: 3,
            },
        };
        let mut buf = vec![0u8; len];
        encode_header(&mut buf, &header, &symbols);
        assert_eq!(check_fixed_header(&buf[..64], len as u64), Ok(len));
        let (back, syms) = decode_header(HeaderBytes::whole(&buf)).unwrap();
        assert_eq!(back, header);
        assert_eq!(
            syms.iter().collect::<Vec<_>>(),
            symbols.iter().collect::<Vec<_>>()
        );
        buf[200] ^= 1;
        assert_eq!(
            decode_header(HeaderBytes::whole(&buf)).unwrap_err().1,
            Corruption::HeaderChecksum
        );
    }

    #[test]
    fn header_len_is_bounded() {
        assert_eq!(header_len_for(0), PAGE);
        assert_eq!(header_len_for(99), PAGE);
        assert_eq!(header_len_for(100), 2 * PAGE);
        const { assert!(MAX_HEADER_LEN < 3 << 20) };
    }
}
