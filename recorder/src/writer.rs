//! The append writer (DESIGN.md section 6).
//!
//! One [`LogWriter`] owns a log directory. It keeps the newest segment mapped read-write;
//! [`LogWriter::append`] serialises the event straight into the next slot of the mapping,
//! writes the frame with its CRC, then publishes the new committed length with a Release store
//! into the header. Nothing else happens per record unless the msync policy says so: the page
//! cache holds the bytes, so a killed process loses nothing it appended.
//!
//! # Rotation
//! A new segment starts when the next record does not fit, or when a record's `recv_ns` falls
//! on a later UTC day than the segment's. The local receive clock decides because every
//! record has one (exchange time is missing from depth levels); a record whose day is earlier
//! than the segment's (the wall clock stepped back) stays in the current segment, so segments
//! stay append-only and in order. Segments are created as `seg-NNNNNN.oflog.tmp`, sized,
//! mapped, given their header and then renamed, so a segment file always has a header. A
//! finished segment is trimmed to its committed length.
//!
//! # Reopening
//! [`LogWriter::open`] resumes the newest segment: it walks and validates every record up to
//! the committed length, zeroes the torn tail past it (a record written but never committed
//! when the process died, detected as non-zero bytes after the committed length), and
//! continues. If records below the committed length fail validation (pages lost to a power
//! failure between msyncs, or disk corruption), it copies the segment to
//! `seg-NNNNNN.oflog.damaged`, truncates at the first bad record and reports the lost bytes,
//! as Kafka's log recovery does. A segment written with other symbols is left as it is and
//! a new one started. Only one writer may use a directory at a time.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use orderflow_core::{Event, SymbolTable};

use crate::error::{Corruption, RecorderError};
use crate::format::{
    self, FORMAT_VERSION, HeaderBytes, MAX_SYMBOLS, PAGE, RecordHeader, SegmentHeader, SegmentId,
    UtcDay, crc_seed, header_len_for,
};
use crate::payload::{self, MAX_PAYLOAD_LEN, PAYLOAD_LEN};
use crate::raw::WriteMap;

const MAX_STRIDE: usize = RecordHeader::LEN + MAX_PAYLOAD_LEN;

/// When the writer calls `msync` to make appended records survive a power failure (a killed
/// process loses nothing under any policy: the page cache keeps the bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsyncPolicy {
    /// Never; the kernel writes pages back on its own schedule.
    Never,
    /// After every `n` records.
    EveryRecords(u64),
    /// After every `n` bytes of records.
    EveryBytes(u64),
    /// When a segment is finished (rotation, [`LogWriter::close`]) and on [`LogWriter::sync`].
    #[default]
    OnRotate,
}

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Size each segment is preallocated to, in bytes (rounded up to 4 KiB); a segment
    /// rotates when the next record would not fit.
    pub segment_bytes: u64,
    /// See [`MsyncPolicy`].
    pub msync: MsyncPolicy,
    /// The symbol table events' ids refer to; written into every segment header.
    pub symbols: SymbolTable,
}

impl WriterConfig {
    /// Default segment size: 256 MiB (about 4.5 M depth levels).
    pub const DEFAULT_SEGMENT_BYTES: u64 = 256 << 20;

    /// 256 MiB segments, [`MsyncPolicy::OnRotate`], the given symbols.
    #[must_use]
    pub fn new(symbols: SymbolTable) -> Self {
        Self {
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            msync: MsyncPolicy::OnRotate,
            symbols,
        }
    }

    /// `self` with `segment_bytes` changed.
    #[must_use]
    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    /// `self` with `msync` changed.
    #[must_use]
    pub fn with_msync(mut self, msync: MsyncPolicy) -> Self {
        self.msync = msync;
        self
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self::new(SymbolTable::new())
    }
}

/// Where an appended record went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The segment holding it.
    pub segment: SegmentId,
    /// Byte offset of its frame in the segment file.
    pub offset: u64,
    /// Log-wide sequence number (0 for the first record ever written to the directory).
    pub seq: u64,
}

/// What [`LogWriter::open`] found and repaired in the newest segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The newest segment found, if any.
    pub segment: Option<SegmentId>,
    /// `true` when appends continue in that segment (`false`: a new one is started).
    pub resumed: bool,
    /// Committed length the header held, bytes.
    pub committed_len: u64,
    /// Length of the validated records prefix (header included), where appends continue.
    pub valid_len: u64,
    /// Non-zero bytes found past the committed length (a record being written when the
    /// process died), zeroed.
    pub torn_tail_bytes: u64,
    /// Committed bytes that failed validation (lost writeback or corruption) and were
    /// truncated; a copy of the segment was kept as `*.oflog.damaged`.
    pub lost_committed_bytes: u64,
    /// Sequence number the next append gets.
    pub next_seq: u64,
}

impl RecoveryReport {
    /// `true` when nothing had to be repaired.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.torn_tail_bytes == 0 && self.lost_committed_bytes == 0
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.segment {
            None => write!(f, "new log"),
            Some(id) => write!(
                f,
                "{id}: {} at {} bytes, torn tail {} bytes, lost {} committed bytes, next seq {}",
                if self.resumed { "resumed" } else { "left" },
                self.valid_len,
                self.torn_tail_bytes,
                self.lost_committed_bytes,
                self.next_seq
            ),
        }
    }
}

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    id: SegmentId,
    path: PathBuf,
    file: File,
    map: WriteMap,
    committed: usize,
    synced: usize,
    unsynced_records: u64,
}

/// Appends events to a log directory: `DIR/YYYY-MM-DD/seg-NNNNNN.oflog` (module docs).
#[derive(Debug)]
#[must_use = "a writer that is dropped at once records nothing"]
pub struct LogWriter {
    dir: PathBuf,
    config: WriterConfig,
    header_len: usize,
    active: Option<Active>,
    /// The newest segment of the log (the active one, or one left behind by recovery).
    newest: Option<SegmentId>,
    next_seq: u64,
    recovery: RecoveryReport,
}

impl LogWriter {
    /// Opens (creating it if needed) the log directory `dir` for appending, recovering the
    /// newest segment as the module docs describe; [`LogWriter::recovery`] tells what was found.
    ///
    /// # Errors
    /// [`RecorderError::Config`] for a segment size below the header plus one record or more
    /// than [`MAX_SYMBOLS`] symbols; [`RecorderError::Io`] when the directory or segment cannot
    /// be created, read or mapped; [`RecorderError::Corrupt`] when the newest segment's header
    /// is invalid or from another format version or schema (the writer never appends to a
    /// log it cannot read back).
    pub fn open(dir: impl AsRef<Path>, mut config: WriterConfig) -> Result<Self, RecorderError> {
        let dir = dir.as_ref().to_path_buf();
        if config.symbols.len() > MAX_SYMBOLS {
            return Err(RecorderError::Config {
                reason: "more symbols than a segment header holds",
            });
        }
        let header_len = header_len_for(config.symbols.len());
        config.segment_bytes = config.segment_bytes.div_ceil(PAGE as u64) * PAGE as u64;
        if config.segment_bytes < (header_len + MAX_STRIDE) as u64
            || usize::try_from(config.segment_bytes).is_err()
        {
            return Err(RecorderError::Config {
                reason: "segment_bytes must hold the header and at least one record",
            });
        }
        fs::create_dir_all(&dir).map_err(|e| RecorderError::io("create", &dir, e))?;
        let mut writer = Self {
            dir,
            config,
            header_len,
            active: None,
            newest: None,
            next_seq: 0,
            recovery: RecoveryReport::default(),
        };
        if let Some(id) = newest_segment(&writer.dir)? {
            writer.recover(id)?;
        }
        Ok(writer)
    }

    /// What [`LogWriter::open`] found in the newest segment.
    #[must_use]
    pub fn recovery(&self) -> RecoveryReport {
        self.recovery
    }

    /// The log directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequence number the next append gets.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The active segment and its committed length in bytes, if one is open.
    #[must_use]
    pub fn position(&self) -> Option<(SegmentId, u64)> {
        self.active.as_ref().map(|a| (a.id, a.committed as u64))
    }

    /// Appends one event: a copy into the mapped segment and a Release store of the committed
    /// length. No allocation and no system call unless the segment rotates or the msync policy
    /// is due.
    ///
    /// # Errors
    /// [`RecorderError::Io`] when a new segment cannot be created or an msync fails;
    /// [`RecorderError::Encode`] if rkyv refuses the event (a bug).
    #[inline]
    pub fn append(&mut self, event: &Event) -> Result<AppendReceipt, RecorderError> {
        let kind = event.kind();
        let len = PAYLOAD_LEN[kind as usize] as usize;
        let stride = RecordHeader::LEN + len;
        let day = UtcDay::from_ns(event.recv_ns);
        let fits = self
            .active
            .as_ref()
            .is_some_and(|a| day <= a.id.day && a.committed + stride <= a.map.len());
        if !fits {
            self.rotate(day)?;
        }
        let Some(active) = self.active.as_mut() else {
            return Err(RecorderError::Config {
                reason: "no active segment after rotation",
            });
        };
        let offset = active.committed;
        let encode_failed = || RecorderError::Encode { kind: kind.name() };
        let slot = active
            .map
            .bytes_mut(offset, offset + stride)
            .ok_or_else(encode_failed)?;
        let (frame, payload) = slot.split_at_mut(RecordHeader::LEN);
        let flags = u16::from(event.flags.0);
        let crc = payload::encode(event, crc_seed(kind as u16, flags), payload)
            .map_err(|_| encode_failed())?;
        RecordHeader {
            len: len as u32,
            kind: kind as u16,
            flags,
            crc,
            reserved: 0,
        }
        .write(frame);
        active.committed = offset + stride;
        // Release: the frame and payload above are visible before the new length.
        active.map.store_committed(active.committed as u64);
        active.unsynced_records += 1;
        let receipt = AppendReceipt {
            segment: active.id,
            offset: offset as u64,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let due = match self.config.msync {
            MsyncPolicy::EveryRecords(n) => active.unsynced_records >= n,
            MsyncPolicy::EveryBytes(n) => (active.committed - active.synced) as u64 >= n,
            MsyncPolicy::Never | MsyncPolicy::OnRotate => false,
        };
        if due {
            sync_active(active)?;
        }
        Ok(receipt)
    }

    /// Starts writeback of everything appended so far without waiting (`msync(MS_ASYNC)`).
    ///
    /// # Errors
    /// [`RecorderError::Io`] when msync fails.
    pub fn flush(&mut self) -> Result<(), RecorderError> {
        if let Some(a) = &self.active {
            let start = a.synced / PAGE * PAGE;
            a.map
                .flush_range(start, a.committed - start)
                .and_then(|()| a.map.flush_range(0, PAGE))
                .map_err(|e| RecorderError::io("msync", &a.path, e))?;
        }
        Ok(())
    }

    /// Makes everything appended so far durable (`msync(MS_SYNC)` of the new records, then of
    /// the header with the committed length). Any policy but [`MsyncPolicy::Never`] also does
    /// this when a segment is finished.
    ///
    /// # Errors
    /// [`RecorderError::Io`] when msync fails.
    pub fn sync(&mut self) -> Result<(), RecorderError> {
        match self.active.as_mut() {
            Some(a) => sync_active(a),
            None => Ok(()),
        }
    }

    /// Faults in up to `bytes` of the active segment past the committed length, so the
    /// appends that follow do not page-fault. Meant for a recorder thread with nothing to do;
    /// returns the bytes requested from the kernel (0 without an active segment).
    ///
    /// # Errors
    /// [`RecorderError::Io`] when `madvise(MADV_POPULATE_WRITE)` fails (Linux before 5.14).
    pub fn prefault(&mut self, bytes: usize) -> Result<usize, RecorderError> {
        let Some(a) = &self.active else {
            return Ok(0);
        };
        let start = a.committed / PAGE * PAGE;
        let len = bytes.min(a.map.len() - start);
        if len > 0 {
            a.map
                .prefault(start, len)
                .map_err(|e| RecorderError::io("madvise", &a.path, e))?;
        }
        Ok(len)
    }

    /// Finishes the active segment (msync unless [`MsyncPolicy::Never`], trimmed to its
    /// committed length) and closes the writer. Dropping the writer does the same but
    /// ignores errors.
    ///
    /// # Errors
    /// [`RecorderError::Io`] when msync or trimming fails.
    pub fn close(mut self) -> Result<(), RecorderError> {
        self.finish_active()
    }

    fn finish_active(&mut self) -> Result<(), RecorderError> {
        let Some(mut active) = self.active.take() else {
            return Ok(());
        };
        if self.config.msync != MsyncPolicy::Never {
            sync_active(&mut active)?;
        }
        let Active {
            path,
            file,
            map,
            committed,
            ..
        } = active;
        drop(map);
        file.set_len(committed as u64)
            .map_err(|e| RecorderError::io("trim", &path, e))?;
        if self.config.msync != MsyncPolicy::Never {
            file.sync_all()
                .map_err(|e| RecorderError::io("fsync", &path, e))?;
        }
        Ok(())
    }

    /// Finishes the active segment and starts the next one: on `day` if later than the
    /// active segment's, else on the same day with the next index.
    #[cold]
    #[inline(never)]
    fn rotate(&mut self, day: UtcDay) -> Result<(), RecorderError> {
        let previous = self.newest;
        self.finish_active()?;
        let id = match previous {
            Some(prev) if day <= prev.day => SegmentId {
                day: prev.day,
                index: prev.index + 1,
            },
            _ => SegmentId {
                day,
                index: next_index(&self.dir, day)?,
            },
        };
        self.active = Some(self.create(id)?);
        self.newest = Some(id);
        Ok(())
    }

    fn create(&self, id: SegmentId) -> Result<Active, RecorderError> {
        let day_dir = self.dir.join(id.day.to_string());
        fs::create_dir_all(&day_dir).map_err(|e| RecorderError::io("create", &day_dir, e))?;
        let path = day_dir.join(id.file_name());
        let tmp = day_dir.join(format!("{}.tmp", id.file_name()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| RecorderError::io("create", &tmp, e))?;
        file.set_len(self.config.segment_bytes)
            .map_err(|e| RecorderError::io("preallocate", &tmp, e))?;
        let mut map = WriteMap::new(&file).map_err(|e| RecorderError::io("map", &tmp, e))?;
        self.advise(&map);
        let header = SegmentHeader {
            format_version: FORMAT_VERSION,
            header_len: self.header_len as u32,
            schema_hash: payload::schema_hash(),
            created_ns: wall_clock_ns(),
            first_seq: self.next_seq,
            id,
        };
        let out = map
            .bytes_mut(0, self.header_len)
            .ok_or(RecorderError::Config {
                reason: "segment smaller than its header",
            })?;
        format::encode_header(out, &header, &self.config.symbols);
        if self.config.msync != MsyncPolicy::Never {
            map.sync_range(0, self.header_len)
                .map_err(|e| RecorderError::io("msync", &tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| RecorderError::io("rename", &tmp, e))?;
        if self.config.msync != MsyncPolicy::Never {
            File::open(&day_dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| RecorderError::io("fsync", &day_dir, e))?;
        }
        Ok(Active {
            id,
            path,
            file,
            map,
            committed: self.header_len,
            synced: self.header_len,
            unsynced_records: 0,
        })
    }

    /// Large folios cut page-fault cost per byte by about 3x (crate docs, "Performance"), but
    /// writeback then rewrites whole folios: only worth it when msync runs rarely.
    fn advise(&self, map: &WriteMap) {
        if matches!(
            self.config.msync,
            MsyncPolicy::Never | MsyncPolicy::OnRotate
        ) {
            map.advise_large_folios();
        }
    }

    /// Validates the newest segment, repairs its tail and makes it the active segment.
    fn recover(&mut self, id: SegmentId) -> Result<(), RecorderError> {
        self.newest = Some(id);
        let path = self.dir.join(id.relative_path());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| RecorderError::io("open", &path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| RecorderError::io("stat", &path, e))?
            .len();
        let corrupt = |(offset, reason)| RecorderError::corrupt(&path, offset, reason);
        if file_len < format::FIXED_HEADER_LEN as u64 {
            return Err(corrupt((0, Corruption::Truncated { len: file_len })));
        }
        let mut map = WriteMap::new(&file).map_err(|e| RecorderError::io("map", &path, e))?;
        let head = map.bytes(0, format::COMMITTED_OFFSET).unwrap_or_default();
        let header_len = format::check_fixed_header(head, file_len).map_err(corrupt)?;
        let rest = map
            .bytes(format::COMMITTED_OFFSET + 8, header_len)
            .unwrap_or_default();
        let (header, symbols) =
            format::decode_header(HeaderBytes::new(head, rest)).map_err(corrupt)?;
        let committed_raw = map
            .bytes(format::COMMITTED_OFFSET, format::COMMITTED_OFFSET + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes);
        if committed_raw < header_len as u64 {
            return Err(corrupt((
                format::COMMITTED_OFFSET as u64,
                Corruption::CommittedOutOfRange {
                    committed: committed_raw,
                    header_len: header_len as u64,
                    file_len,
                },
            )));
        }
        let committed = usize::try_from(committed_raw)
            .unwrap_or(usize::MAX)
            .min(map.len());
        let area = map.bytes(header_len, committed).unwrap_or_default();
        let outcome = format::scan(area, header_len, |_| {});
        let valid_end = outcome.end;
        let lost = committed_raw - valid_end as u64;
        let tail_start = valid_end.max(committed);
        let window_end = (tail_start + MAX_STRIDE).min(map.len());
        let torn = map
            .bytes(tail_start, window_end)
            .and_then(|w| w.iter().rposition(|&b| b != 0))
            .map_or(0, |last| last as u64 + 1);
        let same_symbols = symbols.iter().eq(self.config.symbols.iter());
        self.next_seq = header.first_seq + outcome.records;
        self.recovery = RecoveryReport {
            segment: Some(id),
            resumed: same_symbols,
            committed_len: committed_raw,
            valid_len: valid_end as u64,
            torn_tail_bytes: torn,
            lost_committed_bytes: lost,
            next_seq: self.next_seq,
        };
        if lost > 0 {
            let keep = path.with_extension("oflog.damaged");
            fs::copy(&path, &keep).map_err(|e| RecorderError::io("copy", &keep, e))?;
        }
        if lost > 0 || torn > 0 {
            if let Some(tail) = map.bytes_mut(valid_end, window_end) {
                tail.fill(0);
            }
            map.store_committed(valid_end as u64);
            map.sync_range(0, map.len())
                .map_err(|e| RecorderError::io("msync", &path, e))?;
        }
        if !same_symbols {
            drop(map);
            file.set_len(valid_end as u64)
                .map_err(|e| RecorderError::io("trim", &path, e))?;
            return Ok(());
        }
        if (map.len() as u64) < self.config.segment_bytes {
            drop(map);
            file.set_len(self.config.segment_bytes)
                .map_err(|e| RecorderError::io("preallocate", &path, e))?;
            map = WriteMap::new(&file).map_err(|e| RecorderError::io("map", &path, e))?;
        }
        self.advise(&map);
        self.header_len = self.header_len.max(header_len);
        self.active = Some(Active {
            id,
            path,
            file,
            map,
            committed: valid_end,
            synced: valid_end,
            unsynced_records: 0,
        });
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // Best effort: `close` reports errors; the bytes are in the page cache either way.
        let _ = self.finish_active();
    }
}

fn sync_active(a: &mut Active) -> Result<(), RecorderError> {
    let start = a.synced / PAGE * PAGE;
    a.map
        .sync_range(start, a.committed - start)
        .and_then(|()| a.map.sync_range(0, PAGE))
        .map_err(|e| RecorderError::io("msync", &a.path, e))?;
    a.synced = a.committed;
    a.unsynced_records = 0;
    Ok(())
}

fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Day folders of `dir`, sorted (names that are not `YYYY-MM-DD` are ignored).
pub(crate) fn day_dirs(dir: &Path) -> Result<Vec<(UtcDay, PathBuf)>, RecorderError> {
    let mut days = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| RecorderError::io("list", dir, e))? {
        let entry = entry.map_err(|e| RecorderError::io("list", dir, e))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let Some(day) = entry.file_name().to_str().and_then(UtcDay::parse)
            && is_dir
        {
            days.push((day, entry.path()));
        }
    }
    days.sort();
    Ok(days)
}

/// Segment indices in a day folder, sorted (other names are ignored).
pub(crate) fn segment_indices(day_dir: &Path) -> Result<Vec<u32>, RecorderError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(day_dir).map_err(|e| RecorderError::io("list", day_dir, e))? {
        let entry = entry.map_err(|e| RecorderError::io("list", day_dir, e))?;
        if let Some(index) = entry
            .file_name()
            .to_str()
            .and_then(SegmentId::parse_file_name)
        {
            out.push(index);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn newest_segment(dir: &Path) -> Result<Option<SegmentId>, RecorderError> {
    for (day, path) in day_dirs(dir)?.into_iter().rev() {
        if let Some(&index) = segment_indices(&path)?.last() {
            return Ok(Some(SegmentId { day, index }));
        }
    }
    Ok(None)
}

fn next_index(dir: &Path, day: UtcDay) -> Result<u32, RecorderError> {
    let day_dir = dir.join(day.to_string());
    if !day_dir.is_dir() {
        return Ok(0);
    }
    Ok(segment_indices(&day_dir)?.last().map_or(0, |i| i + 1))
}
