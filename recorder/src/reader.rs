//! The validated, zero-copy reader (DESIGN.md section 6).
//!
//! [`LogReader::open`] maps every segment of a log directory read-only, in order (day folder,
//! then index), and validates each once: header (magic, version, schema hash, checksum,
//! symbols), committed length, then every record below it (length, kind, CRC-32C, checked
//! rkyv access). After that, iteration hands out [`RecordRef`]s that view the mapped bytes
//! directly. A torn tail past the committed length (a writer killed mid-append) is not an
//! error: it is counted in [`SegmentStats::torn_tail_bytes`] and skipped. Anything invalid
//! below the committed length is [`RecorderError::Corrupt`] naming the file and offset.
//!
//! # Live logs
//! A reader sees the committed prefix of each segment as of [`LogReader::open`]; records
//! appended later need a new reader. Readers are meant for finished segments: a writer trims
//! a segment to its committed length when it rotates, and a reader probing that segment's tail
//! at that instant would read past the new end of file.
//!
//! # Seeking
//! While validating, the reader keeps a small index: every [`INDEX_EVERY`] records (and at
//! each segment start) the position and the largest exchange time seen before it. Exchange
//! times are per-symbol and per-stream, so they are not sorted across a log; the running
//! maximum is, which lets [`LogReader::seek_exchange_time`] binary-search the index and scan
//! at most one stride to the first record whose exchange time is at or after the target.

use std::fs::File;
use std::path::{Path, PathBuf};

use orderflow_core::{Event, EventKind, SymbolId, SymbolTable, UNDEF_TIME};

use crate::error::{Corruption, RecorderError};
use crate::format::{
    self, COMMITTED_OFFSET, HeaderBytes, RecordHeader, Scanned, SegmentHeader, SegmentId,
};
use crate::payload::MAX_PAYLOAD_LEN;
use crate::raw::{Pos, ReadMap, RecordArea, RecordRef};
use crate::writer::{day_dirs, segment_indices};

/// Records between two entries of the seek index.
pub const INDEX_EVERY: u64 = 1024;

/// Counts and time spans of one segment's committed records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Committed records.
    pub records: u64,
    /// Records per kind, indexed by the [`EventKind`] discriminant.
    pub per_kind: [u64; 12],
    /// `recv_ns` of the first record.
    pub first_recv_ns: Option<i64>,
    /// `recv_ns` of the last record.
    pub last_recv_ns: Option<i64>,
    /// Smallest exchange time (ms) among records that have one.
    pub min_exchange_ms: Option<i64>,
    /// Largest exchange time (ms) among records that have one.
    pub max_exchange_ms: Option<i64>,
    /// Non-zero bytes past the committed length: a record torn by a killed writer.
    pub torn_tail_bytes: u64,
}

impl SegmentStats {
    pub(crate) fn visit(&mut self, s: &Scanned) {
        self.records += 1;
        if let Some(n) = self.per_kind.get_mut(s.kind as usize) {
            *n += 1;
        }
        self.first_recv_ns.get_or_insert(s.recv_ns);
        self.last_recv_ns = Some(s.recv_ns);
        let t = s.exchange_time_ms;
        if t != UNDEF_TIME {
            self.min_exchange_ms = Some(self.min_exchange_ms.map_or(t, |m| m.min(t)));
            self.max_exchange_ms = Some(self.max_exchange_ms.map_or(t, |m| m.max(t)));
        }
    }

    /// Records of `kind`.
    #[must_use]
    pub fn count(&self, kind: EventKind) -> u64 {
        self.per_kind.get(kind as usize).copied().unwrap_or(0)
    }
}

/// A segment file's header checked and its committed length read; records not yet walked.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) map: ReadMap,
    pub(crate) header: SegmentHeader,
    pub(crate) symbols: SymbolTable,
    pub(crate) file_len: u64,
    pub(crate) committed: usize,
    pub(crate) torn_tail_bytes: u64,
}

/// Opens and maps `path`, validates its header and committed length.
pub(crate) fn open_segment(path: &Path) -> Result<Opened, RecorderError> {
    let file = File::open(path).map_err(|e| RecorderError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| RecorderError::io("stat", path, e))?
        .len();
    let corrupt = |(offset, reason)| RecorderError::corrupt(path, offset, reason);
    if file_len < format::FIXED_HEADER_LEN as u64 {
        return Err(corrupt((0, Corruption::Truncated { len: file_len })));
    }
    let map = ReadMap::new(&file).map_err(|e| RecorderError::io("map", path, e))?;
    let head = map.bytes(0, COMMITTED_OFFSET).unwrap_or_default();
    let header_len = format::check_fixed_header(head, map.len() as u64).map_err(corrupt)?;
    let rest = map
        .bytes(COMMITTED_OFFSET + 8, header_len)
        .unwrap_or_default();
    let (header, symbols) = format::decode_header(HeaderBytes::new(head, rest)).map_err(corrupt)?;
    let committed = map.committed().unwrap_or(0);
    let file_len = map.len() as u64;
    if committed < header_len as u64 || committed > file_len {
        return Err(corrupt((
            COMMITTED_OFFSET as u64,
            Corruption::CommittedOutOfRange {
                committed,
                header_len: header_len as u64,
                file_len,
            },
        )));
    }
    let committed = committed as usize;
    let window_end = (committed + RecordHeader::LEN + MAX_PAYLOAD_LEN).min(map.len());
    let torn_tail_bytes = map
        .bytes(committed, window_end)
        .and_then(|w| w.iter().rposition(|&b| b != 0))
        .map_or(0, |last| last as u64 + 1);
    Ok(Opened {
        map,
        header,
        symbols,
        file_len,
        committed,
        torn_tail_bytes,
    })
}

/// One mapped, validated segment.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    header: SegmentHeader,
    symbols: SymbolTable,
    file_len: u64,
    committed_len: u64,
    stats: SegmentStats,
    area: RecordArea,
    /// `(position, largest exchange time before it within this segment)`.
    index: Vec<(Pos, i64)>,
}

impl Segment {
    /// Maps the segment file at `path` read-only and validates its header and every committed
    /// record.
    ///
    /// # Errors
    /// [`RecorderError::Io`] when the file cannot be opened or mapped;
    /// [`RecorderError::Corrupt`] with the file offset of the first invalid byte range.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RecorderError> {
        let path = path.as_ref();
        let opened = open_segment(path)?;
        let start = opened.header.header_len as usize;
        let mut stats = SegmentStats {
            torn_tail_bytes: opened.torn_tail_bytes,
            ..SegmentStats::default()
        };
        let mut index = Vec::new();
        let mut max_before = UNDEF_TIME;
        let area = RecordArea::validate(opened.map, start, opened.committed, |pos, s| {
            if stats.records.is_multiple_of(INDEX_EVERY) {
                index.push((pos, max_before));
            }
            stats.visit(s);
            max_before = max_before.max(s.exchange_time_ms);
        })
        .map_err(|(offset, reason)| RecorderError::corrupt(path, offset, reason))?;
        Ok(Self {
            path: path.to_path_buf(),
            header: opened.header,
            symbols: opened.symbols,
            file_len: opened.file_len,
            committed_len: opened.committed as u64,
            stats,
            area,
            index,
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Day folder and index, from the header.
    #[must_use]
    pub fn id(&self) -> SegmentId {
        self.header.id
    }

    /// The header's fixed fields.
    #[must_use]
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The symbol table event ids refer to.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Counts and time spans.
    #[must_use]
    pub fn stats(&self) -> &SegmentStats {
        &self.stats
    }

    /// Committed length in bytes (header included).
    #[must_use]
    pub fn committed_len(&self) -> u64 {
        self.committed_len
    }

    /// File length in bytes (more than the committed length while preallocated).
    #[must_use]
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Calls `visit` with each of the segment's records in order: the records of
    /// [`Segment::records`], walked faster (the replay's loop), since the checks opening the
    /// segment made are not repeated.
    #[inline]
    pub fn for_each_record<'a>(&'a self, visit: impl FnMut(RecordRef<'a>)) {
        self.area.for_each(visit);
    }

    /// The segment's records in order.
    #[must_use]
    pub fn records(&self) -> Records<'_> {
        Records {
            segments: std::slice::from_ref(self),
            seg: 0,
            pos: self.area.first(),
        }
    }
}

/// An index entry across the whole log.
#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    seg: usize,
    pos: Pos,
    /// Largest exchange time of every record before this one in the log.
    max_before: i64,
}

/// All segments of a log directory, validated and mapped (module docs).
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    segments: Vec<Segment>,
    index: Vec<IndexEntry>,
}

impl LogReader {
    /// Opens every segment under `dir` (`YYYY-MM-DD/seg-NNNNNN.oflog`, other names ignored),
    /// in day then index order, and validates each once.
    ///
    /// # Errors
    /// [`RecorderError::Io`] when `dir` or a segment cannot be read or mapped;
    /// [`RecorderError::Corrupt`] naming the first invalid segment and offset.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, RecorderError> {
        let dir = dir.as_ref().to_path_buf();
        let mut segments = Vec::new();
        for path in segment_paths(&dir)? {
            segments.push(Segment::open(path)?);
        }
        let mut index = Vec::new();
        let mut running = UNDEF_TIME;
        for (seg, segment) in segments.iter().enumerate() {
            for &(pos, local) in &segment.index {
                index.push(IndexEntry {
                    seg,
                    pos,
                    max_before: running.max(local),
                });
            }
            if let Some(max) = segment.stats.max_exchange_ms {
                running = running.max(max);
            }
        }
        Ok(Self {
            dir,
            segments,
            index,
        })
    }

    /// The log directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segments, in order.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Committed records in the whole log.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.stats.records).sum()
    }

    /// `true` when the log holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record, zero-copy, in recorded order.
    #[must_use]
    pub fn records(&self) -> Records<'_> {
        Records {
            segments: &self.segments,
            seg: 0,
            pos: self.segments.first().and_then(|s| s.area.first()),
        }
    }

    /// Every record as an owned [`Event`], in recorded order.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.records().map(|r| r.to_event())
    }

    /// Records from the first one whose exchange time (ms, see
    /// [`Body::exchange_time_ms`](orderflow_core::Body::exchange_time_ms)) is at or after
    /// `time_ms`, in recorded order (empty when none is). Records without an exchange time
    /// (depth levels) never start the range, but those after its start are included.
    #[must_use]
    pub fn seek_exchange_time(&self, time_ms: i64) -> Records<'_> {
        let after = self.index.partition_point(|e| e.max_before < time_ms);
        let mut records = match after.checked_sub(1).and_then(|i| self.index.get(i)) {
            Some(e) => Records {
                segments: &self.segments,
                seg: e.seg,
                pos: Some(e.pos),
            },
            None => self.records(),
        };
        loop {
            let before = records.clone();
            match records.next() {
                Some(r)
                    if r.exchange_time_ms() != UNDEF_TIME && r.exchange_time_ms() >= time_ms =>
                {
                    return before;
                }
                Some(_) => {}
                None => return records,
            }
        }
    }
}

/// Iterator over records of a [`LogReader`] or [`Segment`], zero-copy.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    segments: &'a [Segment],
    seg: usize,
    pos: Option<Pos>,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<RecordRef<'a>> {
        loop {
            let segment = self.segments.get(self.seg)?;
            if let Some(pos) = self.pos {
                let (record, next) = segment.area.read(pos)?;
                self.pos = next;
                return Some(record);
            }
            self.seg += 1;
            self.pos = self.segments.get(self.seg).and_then(|s| s.area.first());
        }
    }
}

impl RecordRef<'_> {
    /// [`Event::recv_ns`]: local receive time, ns since the UNIX epoch.
    #[inline]
    #[must_use]
    pub fn recv_ns(&self) -> i64 {
        self.payload()
            .get(0..8)
            .and_then(|b| b.try_into().ok())
            .map_or(UNDEF_TIME, i64::from_le_bytes)
    }

    /// [`Event::symbol`].
    #[inline]
    #[must_use]
    pub fn symbol(&self) -> SymbolId {
        self.payload()
            .get(8..10)
            .and_then(|b| b.try_into().ok())
            .map_or(SymbolId(u16::MAX), |b| SymbolId(u16::from_le_bytes(b)))
    }

    /// Exchange time in ms ([`UNDEF_TIME`] for a depth level).
    #[must_use]
    pub fn exchange_time_ms(&self) -> i64 {
        self.body().to_body().exchange_time_ms()
    }
}

/// Segment files under `dir` in order.
pub(crate) fn segment_paths(dir: &Path) -> Result<Vec<PathBuf>, RecorderError> {
    let mut out = Vec::new();
    for (day, day_dir) in day_dirs(dir)? {
        for index in segment_indices(&day_dir)? {
            out.push(day_dir.join(SegmentId { day, index }.file_name()));
        }
    }
    Ok(out)
}
