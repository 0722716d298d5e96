//! The recorder's one error type, [`RecorderError`], and the reasons a segment is refused.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong writing, reading or inspecting a log.
///
/// Errors about file contents name the file and the byte offset where the problem starts.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing (`"open"`, `"map"`, `"msync"`...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A segment's contents are invalid: wrong magic, version or schema, a bad checksum, an
    /// impossible length. Never a panic.
    #[error("corrupt segment {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset in the file where the invalid data starts.
        offset: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// The writer configuration cannot work (segment too small, too many symbols...).
    #[error("invalid recorder configuration: {reason}")]
    Config {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// rkyv refused to serialise an event into its slot; a bug, since every slot is sized
    /// from the archived type.
    #[error("could not serialise a {kind} event")]
    Encode {
        /// Kind name of the event.
        kind: &'static str,
    },
}

impl RecorderError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: Corruption) -> Self {
        Self::Corrupt {
            path: path.into(),
            offset,
            reason,
        }
    }

    /// The corruption reason and offset, when this is [`RecorderError::Corrupt`].
    #[must_use]
    pub fn corruption(&self) -> Option<(u64, Corruption)> {
        match self {
            Self::Corrupt { offset, reason, .. } => Some((*offset, *reason)),
            _ => None,
        }
    }
}

/// Why a segment (or one of its records) was refused. Small and `Copy`, so the scan that
/// finds it never allocates; [`RecorderError::Corrupt`] adds the path and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The file is shorter than the fixed header part (128 bytes) or than its own header.
    #[error("file is {len} bytes, shorter than its header")]
    Truncated {
        /// File length in bytes.
        len: u64,
    },
    /// The first 8 bytes are not the segment magic.
    #[error("bad magic (not an orderflow segment)")]
    BadMagic,
    /// The format version is not one this build reads.
    #[error("format version {found}, this build reads {expected}")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build writes and reads.
        expected: u32,
    },
    /// The schema hash differs: the file was written by a build with another record layout.
    #[error("schema hash {found:#018x}, this build has {expected:#018x}")]
    SchemaMismatch {
        /// Hash in the file.
        found: u64,
        /// Hash of this build's record layout.
        expected: u64,
    },
    /// The header length is not a multiple of 4096 within bounds.
    #[error("header length {len} invalid")]
    BadHeaderLength {
        /// Header length in the file.
        len: u64,
    },
    /// The header checksum does not match its contents.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// A header field that must be zero, or a symbol entry, is invalid.
    #[error("invalid header field")]
    BadHeaderField,
    /// The committed length points outside the record area or the file.
    #[error("committed length {committed} outside [{header_len}, {file_len}]")]
    CommittedOutOfRange {
        /// Committed length in the header.
        committed: u64,
        /// Header length.
        header_len: u64,
        /// File length.
        file_len: u64,
    },
    /// A record's length field is not the payload length of its kind.
    #[error("record length {len} for kind {kind} (expected {expected})")]
    BadLength {
        /// Length field.
        len: u32,
        /// Kind field.
        kind: u16,
        /// Payload length of that kind (0 for an unknown kind).
        expected: u32,
    },
    /// A record's kind is not an [`orderflow_core::EventKind`].
    #[error("unknown record kind {kind}")]
    UnknownKind {
        /// Kind field.
        kind: u16,
    },
    /// A record's flags or reserved bytes hold bits this format never writes.
    #[error("reserved record bits set")]
    ReservedBits,
    /// A record runs past the committed length.
    #[error("record of {len} bytes runs past the committed length")]
    Overrun {
        /// Record length including its header.
        len: u64,
    },
    /// A record's CRC-32C does not match its bytes.
    #[error("record checksum {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Stored CRC.
        stored: u32,
        /// CRC of the bytes on disk.
        computed: u32,
    },
    /// A record's payload fails rkyv validation (an enum tag out of range...).
    #[error("record payload fails validation")]
    BadPayload,
}
