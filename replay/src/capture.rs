//! Raw capture files as an event source.

use std::fmt;
use std::io::{self, BufRead};
use std::path::PathBuf;

use orderflow_core::{Event, SymbolId, SymbolName, SymbolTable};
use orderflow_feed::FrameParser;
use orderflow_feed::capture::{MergedCapture, companion_http_files};

/// The files to read for `inputs`: each path as given, plus, for a lone cryptofeed ws file
/// (`*.ws.*`), the `*.http.*` snapshot files beside it.
///
/// # Errors
/// When a path does not exist or its folder cannot be listed.
pub fn resolve_capture_inputs(inputs: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in inputs {
        if !path.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a file", path.display()),
            ));
        }
        files.push(path.clone());
    }
    if let [only] = inputs {
        files.extend(companion_http_files(only)?);
    }
    Ok(files)
}

/// Counters of what a [`CaptureSource`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Data lines read.
    pub frames: u64,
    /// Frames that produced events (one venue message each, or several for an array frame).
    pub frames_with_events: u64,
    /// Lines in no capture format, or frames the parser rejected.
    pub bad_lines: u64,
    /// Frames without market data (subscription replies, dropped placeholders, unknown types).
    pub frames_without_events: u64,
}

/// A line that could not be used, with where it was.
#[derive(Debug)]
pub struct BadInput {
    /// File.
    pub path: PathBuf,
    /// One-based line number (0 when the file could not be read at all).
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

impl std::error::Error for BadInput {}

/// The events of one frame, with the symbol table that names their ids.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The events, in message order.
    pub events: &'a [Event],
    /// Names for the events' symbol ids.
    pub symbols: &'a SymbolTable,
}

/// Frames of one or more capture files, parsed into events in receive order.
#[derive(Debug)]
pub struct CaptureSource {
    capture: MergedCapture<Box<dyn BufRead + Send>>,
    parser: FrameParser,
    events: Vec<Event>,
    stats: InputStats,
    last_hint: Option<(SymbolName, SymbolId)>,
}

impl CaptureSource {
    /// Opens `files` (see [`resolve_capture_inputs`]).
    ///
    /// # Errors
    /// When a file cannot be opened.
    pub fn open(files: &[PathBuf]) -> io::Result<Self> {
        Ok(Self {
            capture: MergedCapture::open(files)?,
            parser: FrameParser::new(),
            events: Vec::with_capacity(4096),
            stats: InputStats::default(),
            last_hint: None,
        })
    }

    /// The events of the next frame that has any (one venue message, or one per element of an
    /// array frame); `None` at the end of input.
    ///
    /// # Errors
    /// A bad line (reported with its file and line number); calling again continues after it.
    pub fn next_events(&mut self) -> Option<Result<Message<'_>, BadInput>> {
        loop {
            let merged = match self.capture.next_frame()? {
                Ok(m) => m,
                Err(e) => {
                    self.stats.bad_lines += 1;
                    let line = match &e.error {
                        orderflow_feed::capture::CaptureError::BadLine { line, .. } => *line,
                        _ => 0,
                    };
                    return Some(Err(BadInput {
                        path: e.path,
                        line,
                        reason: e.error.to_string(),
                    }));
                }
            };
            self.stats.frames += 1;
            let frame = merged.frame;
            let hint = match frame.symbol_hint {
                None => None,
                Some(name) => match self.last_hint {
                    Some((cached, id)) if cached == name => Some(id),
                    _ => match self.parser.intern(name.as_str().as_bytes()) {
                        Ok(id) => {
                            self.last_hint = Some((name, id));
                            Some(id)
                        }
                        Err(_) => None,
                    },
                },
            };
            self.events.clear();
            match self
                .parser
                .parse(frame.recv_ns, frame.bytes, hint, &mut self.events)
            {
                Ok(_) if self.events.is_empty() => {
                    self.stats.frames_without_events += 1;
                }
                Ok(_) => {
                    self.stats.frames_with_events += 1;
                    return Some(Ok(Message {
                        events: &self.events,
                        symbols: self.parser.symbols(),
                    }));
                }
                Err(e) => {
                    self.stats.bad_lines += 1;
                    return Some(Err(BadInput {
                        path: merged.path.to_path_buf(),
                        line: frame.line,
                        reason: e.to_string(),
                    }));
                }
            }
        }
    }

    /// Symbols seen so far.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        self.parser.symbols()
    }

    /// What was read so far.
    #[must_use]
    pub fn stats(&self) -> InputStats {
        self.stats
    }

    /// The parser's counters.
    #[must_use]
    pub fn parser(&self) -> &FrameParser {
        &self.parser
    }
}
