//! One type for both inputs a replay accepts: a log directory or raw capture files.

use std::path::PathBuf;

use orderflow_core::{Event, EventKind, SymbolTable};
use orderflow_recorder::LevelRecord;

use crate::capture::{BadInput, CaptureSource, Message, resolve_capture_inputs};
use crate::error::ReplayError;
use crate::log::LogSource;

/// Which kind of input a [`Source`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A recorded log directory.
    Log,
    /// Raw capture files, parsed on the fly.
    Capture,
}

/// One record of an input, as [`Source::for_each_input`] hands it out.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A depth level read from a log or parsed from a capture, without its event built:
    /// levels are most of a depth stream, and the pipeline takes them as they are
    /// ([`Pipeline::on_level`]).
    ///
    /// [`Pipeline::on_level`]: orderflow_engine::Pipeline::on_level
    Level(&'a LevelRecord),
    /// Any other record (and a level a capture's fallback parser read).
    Event(&'a Event),
}

impl Input<'_> {
    /// The record's kind.
    #[inline]
    #[must_use]
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Level(_) => EventKind::Level,
            Self::Event(event) => event.kind(),
        }
    }

    /// `true` for the last record of a venue message.
    #[inline]
    #[must_use]
    pub fn is_last(&self) -> bool {
        match self {
            Self::Level(level) => level.flags.is_last(),
            Self::Event(event) => event.is_last(),
        }
    }

    /// Calls `f` with the record as an event (built for a level).
    #[inline]
    pub fn with_event<T>(&self, f: impl FnOnce(&Event) -> T) -> T {
        match self {
            Self::Level(level) => f(&level.to_event()),
            Self::Event(event) => f(event),
        }
    }
}

/// A log directory or raw capture files, read one venue message (or one frame) at a time.
#[derive(Debug)]
pub enum Source {
    /// Raw capture files.
    Capture(Box<CaptureSource>),
    /// A recorded log.
    Log(LogSource),
}

impl Source {
    /// Opens `inputs`: a single directory is a log ([`LogSource`]); otherwise every path must
    /// be a capture file ([`resolve_capture_inputs`] adds a cryptofeed ws file's snapshot files).
    ///
    /// # Errors
    /// [`ReplayError::Input`] when no input is given or a directory is mixed with other
    /// inputs; [`ReplayError::Io`] when a file cannot be opened; [`ReplayError::Log`] when a
    /// log is invalid.
    pub fn open(inputs: &[PathBuf]) -> Result<Self, ReplayError> {
        match inputs {
            [] => Err(ReplayError::Input("no input given".to_owned())),
            [dir] if dir.is_dir() => Ok(Self::Log(LogSource::open(dir)?)),
            _ => {
                if let Some(dir) = inputs.iter().find(|p| p.is_dir()) {
                    return Err(ReplayError::Input(format!(
                        "{} is a log directory: give it alone",
                        dir.display()
                    )));
                }
                let files = resolve_capture_inputs(inputs).map_err(|source| ReplayError::Io {
                    path: inputs.first().cloned().unwrap_or_default(),
                    source,
                })?;
                let capture = CaptureSource::open(&files).map_err(|source| ReplayError::Io {
                    path: inputs.first().cloned().unwrap_or_default(),
                    source,
                })?;
                Ok(Self::Capture(Box::new(capture)))
            }
        }
    }

    /// What this source reads.
    #[must_use]
    pub fn kind(&self) -> InputKind {
        match self {
            Self::Capture(_) => InputKind::Capture,
            Self::Log(_) => InputKind::Log,
        }
    }

    /// Symbols known so far (for a log: all of them).
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        match self {
            Self::Capture(c) => c.symbols(),
            Self::Log(l) => l.symbols(),
        }
    }

    /// Records in the input when known in advance (a log), for progress reports.
    #[must_use]
    pub fn total_records(&self) -> Option<u64> {
        match self {
            Self::Capture(_) => None,
            Self::Log(l) => Some(l.len()),
        }
    }

    /// Hands every record of the input to `visit` in order, without grouping records into
    /// messages: depth levels as [`Input::Level`] (a capture's fast parser path and every log
    /// level), everything else as [`Input::Event`]; an input line or record that was skipped
    /// goes to `bad`.
    pub fn for_each_input<F, B>(&mut self, visit: F, bad: B)
    where
        F: FnMut(Input<'_>),
        B: FnMut(BadInput),
    {
        match self {
            Self::Capture(c) => c.for_each_input(visit, bad),
            Self::Log(l) => l.for_each_input(visit, bad),
        }
    }

    /// [`Source::for_each_input`] with every record as an event.
    pub fn for_each_event<F, B>(&mut self, mut visit: F, bad: B)
    where
        F: FnMut(&Event),
        B: FnMut(BadInput),
    {
        self.for_each_input(|input| input.with_event(&mut visit), bad);
    }

    /// Hands every message of the input to `visit` in order: for a log one venue message per
    /// call, for a capture one frame's events per call; `Err` for an input line or record that
    /// was skipped.
    pub fn for_each_message<F>(&mut self, mut visit: F)
    where
        F: FnMut(Result<Message<'_>, BadInput>),
    {
        match self {
            Self::Capture(c) => {
                while let Some(next) = c.next_events() {
                    visit(next);
                }
            }
            Self::Log(l) => l.for_each_message(visit),
        }
    }
}
