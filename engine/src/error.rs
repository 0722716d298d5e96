//! [`EngineError`]: why an engine could not be built, started or finished cleanly.

use orderflow_recorder::RecorderError;
use thiserror::Error;

/// Everything that can go wrong building, starting or running an [`crate::Engine`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A configured core is not among the cores found when the engine was built.
    #[error("core {requested} requested but this process may only run on cores {available:?}")]
    MissingCore {
        /// The core asked for.
        requested: usize,
        /// The cores found by [`crate::Cores::detect`].
        available: Vec<usize>,
    },
    /// The OS refused to pin a thread.
    #[error("could not pin the {thread} thread to core {core}")]
    PinFailed {
        /// Which thread (`"feed"`, `"engine"`, `"recorder"`, ...).
        thread: &'static str,
        /// The core.
        core: usize,
    },
    /// The pipeline or engine configuration is invalid.
    #[error("invalid engine configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The recorder could not open, append to or close its log.
    #[error("recorder: {0}")]
    Recorder(#[from] RecorderError),
    /// A thread could not be spawned.
    #[error("could not spawn the {thread} thread: {source}")]
    Spawn {
        /// Which thread.
        thread: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A thread panicked (a bug, or a panicking strategy).
    #[error("the {thread} thread panicked")]
    Panicked {
        /// Which thread.
        thread: &'static str,
    },
    /// The recorder's log failed during the run; later events were not written.
    #[error("recorder failed: {reason} ({lost} events not written after the failure)")]
    RecorderFailed {
        /// The error.
        reason: String,
        /// Events received after the failure.
        lost: u64,
    },
    /// The recorder ring overflowed: events were not recorded (counted, see
    /// [`crate::EngineReport`]). Runs fail on this unless drops were explicitly allowed.
    #[error("{dropped} events were not recorded: the recorder ring overflowed")]
    RecorderOverflow {
        /// Events dropped.
        dropped: u64,
    },
}
