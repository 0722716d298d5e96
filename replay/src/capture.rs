//! Raw capture files as an event source.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use orderflow_core::{Event, EventSink, Flags, Level, SymbolId, SymbolName, SymbolTable};
use orderflow_feed::FrameParser;
use orderflow_feed::capture::{MergedCapture, companion_http_files};
use orderflow_recorder::LevelRecord;

use crate::source::Input;

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
    capture: MergedCapture,
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
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let next = self.next_into(&mut events);
        self.events = events;
        match next? {
            Ok(()) => Some(Ok(Message {
                events: &self.events,
                symbols: self.parser.symbols(),
            })),
            Err(e) => Some(Err(e)),
        }
    }

    /// Hands every remaining record to `visit` in order: depth levels parsed on the fast path
    /// as [`Input::Level`] (no event is built for them), everything else as [`Input::Event`];
    /// a bad line goes to `bad`.
    ///
    /// After the first 4,096 frames, the rest are parsed on a thread of their own,
    /// a few batches of records ahead of `visit`, when the machine has a core for it (more
    /// cores than this thread plus one per gzip file, whose reading thread is busy inflating);
    /// otherwise, or when that thread cannot be spawned, on this one. `visit` and `bad` are
    /// called on this thread either way.
    pub fn for_each_input<F, B>(&mut self, mut visit: F, mut bad: B)
    where
        F: FnMut(Input<'_>),
        B: FnMut(BadInput),
    {
        let start = self.stats.frames;
        let mut ahead = self.parse_ahead_pays();
        let mut sink = InputSink(&mut visit);
        while let Some(next) = self.next_into(&mut sink) {
            if let Err(e) = next {
                bad(e);
            }
            if ahead && self.stats.frames - start >= INLINE_FRAMES {
                ahead = false;
                if self.parse_ahead(&mut *sink.0, &mut bad).is_ok() {
                    return;
                }
            }
        }
    }

    /// Whether a parsing thread has a core of its own: besides this thread, each gzip file's
    /// reading thread is busy inflating.
    ///
    /// Measured on two cores with the BTCUSDT recording (`orderflow bench throughput`): from
    /// the plain file, a parsing thread took the replay from 2.8 to 3.3 M messages/s; from the
    /// gzip file, with its reading thread inflating, it slowed it from 2.6 to 2.0 M.
    fn parse_ahead_pays(&self) -> bool {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        cores > 1 + self.capture.gzip_files()
    }

    /// [`Self::for_each_input`] with the parsing on a scoped thread: it fills batches of
    /// parsed records and sends them here, where `visit` and `bad` see them in order; the
    /// batches come back empty to be refilled, so at most [`BATCHES`] exist.
    ///
    /// Parsing is about two thirds of a capture replay (the README's throughput table), and
    /// the pipeline behind `visit` the rest, so on two cores the two overlap. The thread
    /// blocks on the channels, never spins.
    ///
    /// # Errors
    /// When the thread cannot be spawned; nothing was read then.
    fn parse_ahead<F, B>(&mut self, visit: &mut F, bad: &mut B) -> io::Result<()>
    where
        F: FnMut(Input<'_>),
        B: FnMut(BadInput),
    {
        let (full_tx, full) = sync_channel::<Batch>(BATCHES);
        let (empty, empty_rx) = sync_channel::<Batch>(BATCHES);
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("parse".to_owned())
                .spawn_scoped(scope, move || self.fill_batches(&full_tx, &empty_rx))?;
            for mut batch in full {
                batch.replay(visit, bad);
                batch.clear();
                // The thread is gone once it sent its last batch.
                let _ = empty.send(batch);
            }
            Ok(())
        })
    }

    /// The parsing thread of [`Self::parse_ahead`]: fills batches (fresh ones first, then
    /// those sent back) until the input ends or the receiving side is gone.
    fn fill_batches(&mut self, full: &SyncSender<Batch>, empty: &Receiver<Batch>) {
        let mut fresh = BATCHES;
        loop {
            let mut batch = if fresh > 0 {
                fresh -= 1;
                Batch::new()
            } else {
                match empty.recv() {
                    Ok(batch) => batch,
                    Err(_) => return,
                }
            };
            let mut more = true;
            while more && batch.records.len() < BATCH_RECORDS {
                match self.next_into(&mut batch) {
                    None => more = false,
                    Some(Ok(())) => {}
                    Some(Err(e)) => batch.push_bad(e),
                }
            }
            if full.send(batch).is_err() || !more {
                return;
            }
        }
    }

    /// Parses frames into `out` up to and including the next one that has events; `None` at
    /// the end of input, `Err` for a bad line (nothing of it reaches `out`).
    fn next_into<S: EventSink>(&mut self, out: &mut S) -> Option<Result<(), BadInput>> {
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
            let mut counted = Counted { out, pushed: false };
            match self
                .parser
                .parse(frame.recv_ns, frame.bytes, hint, &mut counted)
            {
                Ok(_) if !counted.pushed => {
                    self.stats.frames_without_events += 1;
                }
                Ok(_) => {
                    self.stats.frames_with_events += 1;
                    return Some(Ok(()));
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

/// Frames [`CaptureSource::for_each_input`] parses on its own thread before it starts a
/// parsing thread: on a short input the thread costs more than it saves. The 1,539-message
/// cryptofeed recording (2 ms of work) replayed at 0.5 M messages/s with the thread from its
/// first frame and at 0.75 M without (`orderflow bench throughput`, alternating runs).
const INLINE_FRAMES: u64 = 4096;

/// Records per [`Batch`], about: a batch is closed after the frame that reaches it.
const BATCH_RECORDS: usize = 8192;

/// Batches in flight between the parsing thread and the reader.
const BATCHES: usize = 4;

/// Parsed records on their way from the parsing thread, in input order.
struct Batch {
    records: Vec<Record>,
    /// The events, one per [`Record::Event`], in the same order.
    events: Vec<Event>,
    /// The bad lines, one per [`Record::Bad`], in the same order.
    bad: Vec<BadInput>,
}

/// One entry of a [`Batch`]: a level as it is (most of a depth stream), or the place of the
/// next event or bad line (kept in order beside the records).
enum Record {
    Level(LevelRecord),
    Event,
    Bad,
}

impl Batch {
    fn new() -> Self {
        Self {
            records: Vec::with_capacity(BATCH_RECORDS),
            events: Vec::new(),
            bad: Vec::new(),
        }
    }

    fn push_bad(&mut self, bad: BadInput) {
        self.records.push(Record::Bad);
        self.bad.push(bad);
    }

    /// Hands the records to `visit` and the bad lines to `bad`, in order; the bad lines are
    /// moved out.
    fn replay<F, B>(&mut self, visit: &mut F, bad: &mut B)
    where
        F: FnMut(Input<'_>),
        B: FnMut(BadInput),
    {
        let mut events = self.events.iter();
        let mut bad_lines = self.bad.drain(..);
        for record in &self.records {
            match record {
                Record::Level(level) => visit(Input::Level(level)),
                Record::Event => {
                    if let Some(event) = events.next() {
                        visit(Input::Event(event));
                    }
                }
                Record::Bad => {
                    if let Some(line) = bad_lines.next() {
                        bad(line);
                    }
                }
            }
        }
    }

    fn clear(&mut self) {
        self.records.clear();
        self.events.clear();
        self.bad.clear();
    }
}

impl EventSink for Batch {
    #[inline]
    fn push(&mut self, event: Event) {
        self.records.push(Record::Event);
        self.events.push(event);
    }

    #[inline]
    fn push_level(&mut self, recv_ns: i64, symbol: SymbolId, flags: Flags, level: Level) {
        self.records.push(Record::Level(LevelRecord {
            recv_ns,
            symbol,
            flags,
            level,
        }));
    }
}

/// An [`EventSink`] that notes whether anything reached it.
struct Counted<'a, S> {
    out: &'a mut S,
    pushed: bool,
}

impl<S: EventSink> EventSink for Counted<'_, S> {
    #[inline]
    fn push(&mut self, event: Event) {
        self.pushed = true;
        self.out.push(event);
    }

    #[inline]
    fn push_level(&mut self, recv_ns: i64, symbol: SymbolId, flags: Flags, level: Level) {
        self.pushed = true;
        self.out.push_level(recv_ns, symbol, flags, level);
    }
}

/// The parser's output handed to a [`CaptureSource::for_each_input`] visitor as it comes.
struct InputSink<'a, F>(&'a mut F);

impl<F: FnMut(Input<'_>)> EventSink for InputSink<'_, F> {
    #[inline]
    fn push(&mut self, event: Event) {
        (self.0)(Input::Event(&event));
    }

    #[inline]
    fn push_level(&mut self, recv_ns: i64, symbol: SymbolId, flags: Flags, level: Level) {
        (self.0)(Input::Level(&LevelRecord {
            recv_ns,
            symbol,
            flags,
            level,
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use orderflow_core::EventKind;

    use super::*;

    /// Two depth diffs, a trade and a bad line between them.
    fn capture_file() -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let lines = [
            r#"1723161255030314667 {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["58710.20","0.014"],["61510.90","0.000"]],"a":[["61800.30","3.330"]]}}"#,
            "not a capture line",
            r#"1723161255030314668 {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256300,"T":1723161256299,"s":"BTCUSDT","t":5337871541,"p":"61800.30","q":"0.002","X":"MARKET","m":false}}"#,
            r#"1723161255030314669 {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256301,"T":1723161256300,"s":"BTCUSDT","U":5123107837558,"u":5123107837560,"pu":5123107837557,"b":[],"a":[["61800.40","1.000"]]}}"#,
        ];
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
        file
    }

    /// `for_each_input` hands out what `next_events` returns, in the same order, with the
    /// fast parser's levels as `Input::Level` and the bad line in between.
    #[test]
    fn for_each_input_matches_next_events() {
        let file = capture_file();
        let files = [file.path().to_path_buf()];

        let (expected, expected_stats) = by_messages(&files);

        let seen = std::cell::RefCell::new(Vec::new());
        let mut levels = 0;
        let mut source = CaptureSource::open(&files).unwrap();
        source.for_each_input(
            |input| {
                if let Input::Level(_) = input {
                    levels += 1;
                }
                assert_eq!(input.kind(), input.with_event(Event::kind));
                seen.borrow_mut().push(Ok(input.with_event(|e| *e)));
            },
            |bad| seen.borrow_mut().push(Err(bad.line)),
        );

        assert_eq!(seen.into_inner(), expected);
        assert_eq!(levels, 4);
        assert_eq!(source.stats(), expected_stats);
        assert_eq!(expected_stats.bad_lines, 1);
        let kinds: Vec<_> = expected
            .iter()
            .filter_map(|e| e.as_ref().ok().map(Event::kind))
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::DepthDiff,
                EventKind::Level,
                EventKind::Level,
                EventKind::Level,
                EventKind::Trade,
                EventKind::DepthDiff,
                EventKind::Level,
            ]
        );
    }

    /// What `next_events` gives (events, and bad lines by line number), with the stats after.
    fn by_messages(files: &[PathBuf]) -> (Vec<Result<Event, u64>>, InputStats) {
        let mut out = Vec::new();
        let mut source = CaptureSource::open(files).unwrap();
        while let Some(next) = source.next_events() {
            match next {
                Ok(message) => out.extend(message.events.iter().map(|e| Ok(*e))),
                Err(bad) => out.push(Err(bad.line)),
            }
        }
        (out, source.stats())
    }

    /// The parsing thread hands out what parsing on this thread gives, in order, across many
    /// batches (each filled, handed over and refilled several times).
    #[test]
    fn parsing_ahead_gives_what_parsing_here_gives() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut levels = 0usize;
        for i in 0..6_000u64 {
            let ns = 1_723_161_255_000_000_000 + i;
            let line = match i % 40 {
                39 => "not a capture line".to_owned(),
                n if n % 3 == 0 => format!(
                    r#"{ns} {{"stream":"btcusdt@trade","data":{{"e":"trade","E":{i},"T":{i},"s":"BTCUSDT","t":{i},"p":"61800.{n}","q":"0.002","X":"MARKET","m":false}}}}"#
                ),
                n => {
                    let side: Vec<String> = (0..n)
                        .map(|k| format!(r#"["{}.{k}","{}.5"]"#, 60_000 + k, i % 7))
                        .collect();
                    levels += 2 * usize::try_from(n).unwrap();
                    format!(
                        r#"{ns} {{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":{i},"T":{i},"s":"BTCUSDT","U":{i},"u":{i},"pu":{i},"b":[{}],"a":[{}]}}}}"#,
                        side.join(","),
                        side.join(",")
                    )
                }
            };
            writeln!(file, "{line}").unwrap();
        }
        assert!(levels > 3 * BATCHES * BATCH_RECORDS, "{levels} levels");
        let files = [file.path().to_path_buf()];
        let (expected, expected_stats) = by_messages(&files);
        assert_eq!(expected_stats.bad_lines, 150);
        assert!(expected_stats.frames > 1_000 + INLINE_FRAMES);

        // From the first frame on, and as `for_each_input` does it: its first frames here,
        // the rest on the thread (on a machine with a core for it).
        for all_ahead in [true, false] {
            let seen = std::cell::RefCell::new(Vec::new());
            let mut visit = |input: Input<'_>| seen.borrow_mut().push(Ok(input.with_event(|e| *e)));
            let mut bad = |bad: BadInput| seen.borrow_mut().push(Err(bad.line));
            let mut source = CaptureSource::open(&files).unwrap();
            if all_ahead {
                source.parse_ahead(&mut visit, &mut bad).unwrap();
            } else {
                source.for_each_input(visit, bad);
            }
            assert!(
                seen.borrow().len() == expected.len(),
                "record counts differ"
            );
            assert!(seen.into_inner() == expected, "records differ");
            assert_eq!(source.stats(), expected_stats);
        }
    }
}
