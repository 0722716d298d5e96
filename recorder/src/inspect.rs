//! `orderflow inspect DIR`: what a log holds, without failing on a damaged segment.
//!
//! [`inspect`] walks every segment like the reader does, but a segment whose header or
//! records are invalid is reported (with the offset and reason) rather than stopping the
//! report; counts cover the valid records before the damage.

use std::fmt;
use std::path::{Path, PathBuf};

use orderflow_core::EventKind;

use crate::error::{Corruption, RecorderError};
use crate::format::{self, SegmentHeader, SegmentId};
use crate::reader::{SegmentStats, open_segment, segment_paths};

/// One segment's line of an [`InspectReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentReport {
    /// The file.
    pub path: PathBuf,
    /// The header's fixed fields (`None` when the header itself is invalid).
    pub header: Option<SegmentHeader>,
    /// Symbol names in id order.
    pub symbols: Vec<String>,
    /// File length, bytes.
    pub file_len: u64,
    /// Committed length, bytes (header included).
    pub committed_len: u64,
    /// Counts and time spans of the valid records.
    pub stats: SegmentStats,
    /// First invalid byte range (offset, reason), if any.
    pub damage: Option<(u64, Corruption)>,
}

/// What a log directory holds: per segment, record counts per kind, time spans, torn tails
/// and damage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectReport {
    /// The log directory.
    pub dir: PathBuf,
    /// Segments in order.
    pub segments: Vec<SegmentReport>,
}

impl InspectReport {
    /// Sum of every segment's stats (time spans merged).
    #[must_use]
    pub fn totals(&self) -> SegmentStats {
        let mut t = SegmentStats::default();
        for s in self.segments.iter().map(|s| &s.stats) {
            t.records += s.records;
            for (sum, n) in t.per_kind.iter_mut().zip(s.per_kind) {
                *sum += n;
            }
            t.first_recv_ns = t.first_recv_ns.or(s.first_recv_ns);
            t.last_recv_ns = s.last_recv_ns.or(t.last_recv_ns);
            t.min_exchange_ms = min_opt(t.min_exchange_ms, s.min_exchange_ms);
            t.max_exchange_ms = max_opt(t.max_exchange_ms, s.max_exchange_ms);
            t.torn_tail_bytes += s.torn_tail_bytes;
        }
        t
    }

    /// `true` when no segment is damaged and none has a torn tail.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.segments
            .iter()
            .all(|s| s.damage.is_none() && s.stats.torn_tail_bytes == 0)
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Reports on every segment under `dir` (see the module docs).
///
/// # Errors
/// [`RecorderError::Io`] when `dir` or a day folder cannot be listed. Damaged segments are
/// reported in the result, not returned as errors.
pub fn inspect(dir: impl AsRef<Path>) -> Result<InspectReport, RecorderError> {
    let dir = dir.as_ref().to_path_buf();
    let segments = segment_paths(&dir)?
        .into_iter()
        .map(|path| inspect_segment(&path))
        .collect();
    Ok(InspectReport { dir, segments })
}

fn inspect_segment(path: &Path) -> SegmentReport {
    let mut report = SegmentReport {
        path: path.to_path_buf(),
        header: None,
        symbols: Vec::new(),
        file_len: std::fs::metadata(path).map_or(0, |m| m.len()),
        committed_len: 0,
        stats: SegmentStats::default(),
        damage: None,
    };
    let opened = match open_segment(path) {
        Ok(opened) => opened,
        Err(e) => {
            report.damage = Some(e.corruption().unwrap_or((
                0,
                Corruption::Truncated {
                    len: report.file_len,
                },
            )));
            return report;
        }
    };
    report.header = Some(opened.header);
    report.symbols = opened.symbols.iter().map(|(_, n)| n.to_owned()).collect();
    report.committed_len = opened.committed as u64;
    report.stats.torn_tail_bytes = opened.torn_tail_bytes;
    let start = opened.header.header_len as usize;
    let area = opened
        .map
        .bytes(start, opened.committed)
        .unwrap_or_default();
    let outcome = format::scan(area, start, |s| report.stats.visit(s));
    report.damage = outcome.error;
    report
}

struct Ns(Option<i64>);

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(ns) = self.0 else {
            return f.write_str("-");
        };
        let day = format::UtcDay::from_ns(ns);
        let in_day = ns - day.start_ns();
        let secs = in_day / 1_000_000_000;
        write!(
            f,
            "{day}T{:02}:{:02}:{:02}.{:09}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            in_day % 1_000_000_000
        )
    }
}

fn write_counts(f: &mut fmt::Formatter<'_>, stats: &SegmentStats) -> fmt::Result {
    let mut first = true;
    for kind in EventKind::ALL {
        let n = stats.count(kind);
        if n > 0 {
            write!(f, "{}{}={n}", if first { "" } else { " " }, kind.name())?;
            first = false;
        }
    }
    if first {
        f.write_str("(none)")?;
    }
    Ok(())
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "log {}: {} segment(s)",
            self.dir.display(),
            self.segments.len()
        )?;
        for s in &self.segments {
            let name = s
                .header
                .map(|h| h.id.to_string())
                .unwrap_or_else(|| s.path.display().to_string());
            writeln!(
                f,
                "{name}: {} records, {} of {} bytes committed, first seq {}",
                s.stats.records,
                s.committed_len,
                s.file_len,
                s.header.map_or(0, |h| h.first_seq)
            )?;
            f.write_str("  kinds: ")?;
            write_counts(f, &s.stats)?;
            writeln!(f)?;
            writeln!(
                f,
                "  recv: {} .. {}; exchange ms: {} .. {}",
                Ns(s.stats.first_recv_ns),
                Ns(s.stats.last_recv_ns),
                s.stats
                    .min_exchange_ms
                    .map_or("-".to_owned(), |t| t.to_string()),
                s.stats
                    .max_exchange_ms
                    .map_or("-".to_owned(), |t| t.to_string()),
            )?;
            if !s.symbols.is_empty() {
                writeln!(f, "  symbols: {}", s.symbols.join(","))?;
            }
            if s.stats.torn_tail_bytes > 0 {
                writeln!(
                    f,
                    "  torn tail: {} bytes past the committed length",
                    s.stats.torn_tail_bytes
                )?;
            }
            if let Some((offset, reason)) = s.damage {
                writeln!(f, "  DAMAGED at offset {offset}: {reason}")?;
            }
        }
        let t = self.totals();
        write!(f, "total: {} records (", t.records)?;
        write_counts(f, &t)?;
        writeln!(
            f,
            "), recv {} .. {}",
            Ns(t.first_recv_ns),
            Ns(t.last_recv_ns)
        )
    }
}

impl SegmentReport {
    /// The segment id from the header, if it was readable.
    #[must_use]
    pub fn id(&self) -> Option<SegmentId> {
        self.header.map(|h| h.id)
    }
}
