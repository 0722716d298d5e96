//! Errors of opening a replay and of importing into a log.

use std::io;
use std::path::PathBuf;

use orderflow_recorder::RecorderError;
use thiserror::Error;

/// Why a replay could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The inputs do not make one replay (none given, a log directory mixed with files).
    #[error("{0}")]
    Input(String),
    /// A capture file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A log could not be opened or is invalid.
    #[error(transparent)]
    Log(#[from] RecorderError),
    /// The pipeline configuration was refused.
    #[error("invalid pipeline configuration: {0}")]
    Config(String),
}

/// Why an import stopped. Bad input rows are not errors: they are reported and skipped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file could not be opened or read.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The log could not be written.
    #[error(transparent)]
    Log(#[from] RecorderError),
    /// The output directory already holds files and appending was not asked for.
    #[error("{0} is not empty (pass append to add to an existing log)")]
    NotEmpty(PathBuf),
    /// An input is in no format the importer knows, or its name and contents disagree.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// More symbols than a log's table holds.
    #[error("too many symbols for one log")]
    TooManySymbols,
}

impl ImportError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
