//! Readers for raw captures: files of websocket frames as they arrived, one per line.
//!
//! Two line formats exist in the wild (`shared/data/README.md`), and both may be mixed in one
//! file, gzip-compressed or plain (detected by the gzip magic bytes):
//!
//! | line | meaning |
//! |---|---|
//! | `<local_ns> <json>` | our own captures and hftbacktest's collector: receive time in ns |
//! | `<seconds.fraction>: <json>` | cryptofeed's ws files: receive time in (fractional) seconds |
//! | `<url> -> <seconds.fraction>: <json>` | cryptofeed's http files: a REST response; the symbol is the URL's `symbol=` |
//! | `<url> <-> <seconds.fraction>` | cryptofeed's connection marker: skipped |
//!
//! A [`CaptureReader`] yields one [`Frame`] per data line, borrowed straight from the input's
//! read buffer (found with `memchr`; a line that straddles the buffer's end is copied into a
//! line buffer the reader reuses), so reading allocates nothing once the longest line has been
//! seen. Receive times in ns are read eight digits at a time; times in seconds are converted to
//! ns from their decimal digits, exactly.
//!
//! A REST snapshot body does not name its symbol. Each frame therefore carries a symbol hint:
//! the URL's `symbol=` for a cryptofeed http line, otherwise the file's symbol when the file holds
//! a single symbol. The file's symbol is found by looking at the stream names of the first lines
//! of the file ([`FILE_SYMBOL_SCAN_LINES`]); a wrapped snapshot
//! (`{"stream":"<symbol>@depthSnapshot","data":{..}}`, the form our own captures write) names
//! its own. [`MergedCapture`] interleaves several files (a cryptofeed ws file and its http file)
//! by receive time; it reads each file with a [`CaptureReader`] on a thread of its own
//! ([`FramesAhead`]), which hands the frames over in blocks.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use crate::read_ahead::FramesAhead;
use crate::read_ahead::ReadAhead;

use orderflow_core::{MAX_SYMBOL_LEN, SymbolName};

/// How many lines [`CaptureReader::open`] reads to find a single-symbol file's symbol.
pub const FILE_SYMBOL_SCAN_LINES: usize = 2_000;

/// One data line of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Local receive time, ns since the UNIX epoch.
    pub recv_ns: i64,
    /// The websocket frame or REST body, as received.
    pub bytes: &'a [u8],
    /// Symbol for a frame that does not name one (a bare REST snapshot), if known.
    pub symbol_hint: Option<SymbolName>,
    /// One-based line number in its file.
    pub line: u64,
}

/// Why a capture line could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureError {
    /// Reading the file failed.
    Io(io::Error),
    /// A line matches none of the capture formats.
    BadLine {
        /// One-based line number.
        line: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "read error: {e}"),
            Self::BadLine { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::BadLine { .. } => None,
        }
    }
}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// What one line turned out to be.
enum LineKind {
    Data {
        recv_ns: i64,
        json_start: usize,
        url_symbol: Option<SymbolName>,
    },
    Skip,
}

/// The frames of one capture file, as [`MergedCapture`] reads them: a [`CaptureReader`] on
/// this thread, or a [`FramesAhead`] that reads and splits the lines on a thread of its own.
pub trait FrameSource {
    /// The next data line, `None` at the end of the file; a bad line is an error, and calling
    /// again continues with the next (see [`CaptureReader::next_frame`]).
    fn next_frame(&mut self) -> Option<Result<Frame<'_>, CaptureError>>;

    /// The bytes of the frame [`Self::next_frame`] returned last, again (they stay until the
    /// next call).
    fn last_json(&mut self) -> &[u8];
}

/// Reads frames from one capture file.
pub struct CaptureReader<R> {
    input: R,
    /// Bytes of `input`'s buffer that the frame returned last still borrows: consumed at the
    /// start of the next read.
    pending: usize,
    /// A line that did not fit in `input`'s buffer, or ended it without a newline.
    line: Vec<u8>,
    /// Where the JSON starts in the line of the frame returned last.
    json_start: usize,
    line_no: u64,
    file_symbol: Option<SymbolName>,
}

impl<R> fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("line_no", &self.line_no)
            .field("file_symbol", &self.file_symbol)
            .finish_non_exhaustive()
    }
}

/// Opens `path` as a buffered reader, transparently gunzipping it. The file is read (and
/// inflated) ahead on a thread of its own, which ends when the reader is dropped (see
/// `read_ahead.rs`: on the BTCUSDT recording that took a replay from the gzip file from 1.33
/// to 2.12 M messages/s, as fast as from an uncompressed copy).
///
/// # Errors
/// When the file cannot be opened or read, or the thread cannot be spawned.
pub fn open_maybe_gzip(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(1 << 16, File::open(path)?);
    let reader = if is_gzip(&mut file)? {
        ReadAhead::gunzip(file)?
    } else {
        ReadAhead::spawn("read-ahead", file)?
    };
    Ok(Box::new(reader))
}

/// [`open_maybe_gzip`] without the thread, and whether the file is gzip.
fn open_inline(path: &Path) -> io::Result<(Box<dyn BufRead + Send>, bool)> {
    let mut file = BufReader::with_capacity(1 << 16, File::open(path)?);
    if is_gzip(&mut file)? {
        let inflated = flate2::bufread::MultiGzDecoder::new(file);
        Ok((Box::new(BufReader::with_capacity(1 << 16, inflated)), true))
    } else {
        Ok((Box::new(file), false))
    }
}

/// `true` when `file` starts with the gzip magic bytes (nothing is consumed).
fn is_gzip(file: &mut impl BufRead) -> io::Result<bool> {
    Ok(file.fill_buf()?.starts_with(&[0x1f, 0x8b]))
}

impl CaptureReader<Box<dyn BufRead + Send>> {
    /// Opens a capture file (gzip or plain) and finds its symbol if it holds only one.
    ///
    /// # Errors
    /// When the file cannot be opened or read.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::with_symbol_of(path, open_maybe_gzip(path)?)
    }

    /// Reads `input`, the file at `path` opened, with the file's symbol found by a second
    /// pass over its first lines.
    fn with_symbol_of(path: &Path, input: Box<dyn BufRead + Send>) -> io::Result<Self> {
        let file_symbol = scan_file_symbol(open_inline(path)?.0)?;
        Ok(Self::new(input).with_file_symbol(file_symbol))
    }
}

impl<R: BufRead> CaptureReader<R> {
    /// Reads frames from `input`; bare snapshots get no symbol hint unless
    /// [`Self::with_file_symbol`] sets one.
    pub fn new(input: R) -> Self {
        Self {
            input,
            pending: 0,
            line: Vec::with_capacity(1 << 16),
            json_start: 0,
            line_no: 0,
            file_symbol: None,
        }
    }

    /// Sets the symbol that frames without one belong to.
    #[must_use]
    pub fn with_file_symbol(mut self, symbol: Option<SymbolName>) -> Self {
        self.file_symbol = symbol;
        self
    }

    /// The symbol frames without one are attributed to, if any.
    #[must_use]
    pub fn file_symbol(&self) -> Option<SymbolName> {
        self.file_symbol
    }

    /// One-based number of the line read last.
    #[must_use]
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// The next data line, `None` at the end of the file.
    ///
    /// A bad line is returned as an error and skipped: calling again continues with the next.
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails, [`CaptureError::BadLine`] for a line in none of
    /// the capture formats.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, CaptureError>> {
        loop {
            let kind = match self.next_line() {
                Ok(None) => return None,
                Ok(Some(line)) => classify(line),
                Err(e) => return Some(Err(e.into())),
            };
            match kind {
                Ok(LineKind::Skip) => continue,
                Ok(LineKind::Data {
                    recv_ns,
                    json_start,
                    url_symbol,
                }) => {
                    let symbol_hint = url_symbol.or(self.file_symbol);
                    let line_no = self.line_no;
                    self.json_start = json_start;
                    return Some(Ok(Frame {
                        recv_ns,
                        bytes: self.last_json(),
                        symbol_hint,
                        line: line_no,
                    }));
                }
                Err(reason) => {
                    return Some(Err(CaptureError::BadLine {
                        line: self.line_no,
                        reason,
                    }));
                }
            }
        }
    }

    /// The next line without its end-of-line bytes, `None` at the end of the input.
    ///
    /// A line wholly inside `input`'s buffer is borrowed from it (the buffer is consumed past it
    /// on the next call; `self.line` is left empty); one that straddles the buffer's end, or
    /// ends the input without a newline, is copied into `self.line`.
    fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        self.input.consume(std::mem::take(&mut self.pending));
        self.line.clear();
        let buf = self.input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        self.line_no += 1;
        if let Some(end) = memchr::memchr(b'\n', buf) {
            self.pending = end + 1;
            return Ok(Some(self.buffered_line()));
        }
        if self.input.read_until(b'\n', &mut self.line)? == 0 {
            return Ok(None);
        }
        Ok(Some(trim_eol(&self.line)))
    }

    /// The JSON of the frame [`Self::next_frame`] returned last: it stays in `input`'s buffer
    /// (or in `line`) until the next call, so it can be borrowed again without a copy.
    fn last_json(&mut self) -> &[u8] {
        let start = self.json_start;
        let line = if self.line.is_empty() {
            self.buffered_line()
        } else {
            trim_eol(&self.line)
        };
        line.get(start..).unwrap_or_default()
    }

    /// The line `next_line` left in `input`'s buffer, without its end-of-line bytes.
    fn buffered_line(&mut self) -> &[u8] {
        let pending = self.pending;
        // `fill_buf` on a buffer not yet consumed returns it again without reading.
        match self.input.fill_buf() {
            Ok(buf) => trim_eol(buf.get(..pending).unwrap_or_default()),
            Err(_) => &[],
        }
    }
}

impl<R: BufRead> FrameSource for CaptureReader<R> {
    fn next_frame(&mut self) -> Option<Result<Frame<'_>, CaptureError>> {
        CaptureReader::next_frame(self)
    }

    fn last_json(&mut self) -> &[u8] {
        CaptureReader::last_json(self)
    }
}

/// `line` without trailing `\n` and `\r` bytes.
fn trim_eol(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

/// Splits one line into receive time and JSON.
fn classify(line: &[u8]) -> Result<LineKind, &'static str> {
    let Some(&first) = line.first() else {
        return Ok(LineKind::Skip);
    };
    if first.is_ascii_digit() {
        let (recv_ns, rest) = parse_time_prefix(line)?;
        let json_start = line.len() - rest.len();
        return match rest.first() {
            Some(b'{' | b'[') => Ok(LineKind::Data {
                recv_ns,
                json_start,
                url_symbol: None,
            }),
            _ => Err("expected JSON after the receive time"),
        };
    }
    if let Some(arrow) = find(line, b" -> ") {
        let url = &line[..arrow];
        let tail = &line[arrow + 4..];
        let (recv_ns, rest) = parse_time_prefix(tail)?;
        if !matches!(rest.first(), Some(b'{' | b'[')) {
            return Err("expected JSON after the REST receive time");
        }
        return Ok(LineKind::Data {
            recv_ns,
            json_start: line.len() - rest.len(),
            url_symbol: url_query_symbol(url),
        });
    }
    if find(line, b" <-> ").is_some() {
        return Ok(LineKind::Skip);
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(LineKind::Skip);
    }
    Err("not a capture line (`<ns> <json>`, `<seconds>: <json>` or `<url> -> <seconds>: <json>`)")
}

/// Parses `<ns> ` or `<seconds>[.fraction]: ` and returns the time in ns and the remainder.
fn parse_time_prefix(s: &[u8]) -> Result<(i64, &[u8]), &'static str> {
    match ns_prefix(s) {
        Some(parsed) => Ok(parsed),
        None => parse_time_prefix_slow(s),
    }
}

/// The common case, `<at most 19 digits> `, read eight digits at a time as the frame scanner
/// reads integers ([`crate::parser::digit_run`]), the usual 19 of a time in ns without a
/// loop ([`crate::parser::nineteen_digits`]); `None` sends anything else to the slow path,
/// which also decides every error.
#[inline]
fn ns_prefix(s: &[u8]) -> Option<(i64, &[u8])> {
    if let Some(value) = crate::parser::nineteen_digits(s, b' ') {
        return Some((i64::try_from(value).ok()?, s.get(20..)?));
    }
    let (value, count) = crate::parser::digit_run(s, 0)?;
    if count == 0 || s.get(count) != Some(&b' ') {
        return None;
    }
    Some((i64::try_from(value).ok()?, s.get(count + 1..)?))
}

fn parse_time_prefix_slow(s: &[u8]) -> Result<(i64, &[u8]), &'static str> {
    let end = s
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .ok_or("line ends after the receive time")?;
    let (number, rest) = s.split_at(end);
    if let Some(rest) = rest.strip_prefix(b": ") {
        return Ok((seconds_to_ns(number)?, rest));
    }
    if let Some(rest) = rest.strip_prefix(b" ") {
        if number.contains(&b'.') {
            return Err("a receive time in ns has no fraction");
        }
        return Ok((digits_to_i64(number)?, rest));
    }
    Err("expected a space or `: ` after the receive time")
}

fn digits_to_i64(digits: &[u8]) -> Result<i64, &'static str> {
    if digits.is_empty() {
        return Err("empty receive time");
    }
    digits.iter().try_fold(0i64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err("bad digit in receive time");
        }
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or("receive time out of range")
    })
}

/// `"1626992741.06217"` → `1_626_992_741_062_170_000`, exactly (fraction digits beyond ns are
/// truncated).
fn seconds_to_ns(number: &[u8]) -> Result<i64, &'static str> {
    let (int, frac) = match number.iter().position(|&b| b == b'.') {
        Some(p) => (&number[..p], &number[p + 1..]),
        None => (number, &[][..]),
    };
    let mut ns = digits_to_i64(int)?
        .checked_mul(1_000_000_000)
        .ok_or("receive time out of range")?;
    let mut scale = 100_000_000;
    for &b in frac.iter().take(9) {
        if !b.is_ascii_digit() {
            return Err("bad digit in receive time");
        }
        ns += i64::from(b - b'0') * scale;
        scale /= 10;
    }
    if frac.iter().skip(9).any(|b| !b.is_ascii_digit()) {
        return Err("bad digit in receive time");
    }
    Ok(ns)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `symbol=` query parameter of a REST URL.
fn url_query_symbol(url: &[u8]) -> Option<SymbolName> {
    let query = &url[url.iter().position(|&b| b == b'?')? + 1..];
    query
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"symbol="))
        .and_then(SymbolName::new)
}

/// The symbol named by a combined-stream envelope (`"stream":"btcusdt@..."`) or a payload's
/// `"s":"BTCUSDT"`, by a byte search good enough for attribution (the parser does the real work).
fn line_symbol(line: &[u8]) -> Option<SymbolName> {
    if let Some(p) = find(line, b"\"stream\":\"") {
        let rest = line.get(p + 10..)?;
        let end = rest
            .iter()
            .take(MAX_SYMBOL_LEN + 1)
            .position(|&b| b == b'@')?;
        return SymbolName::new(&rest[..end]);
    }
    let p = find(line, b"\"s\":\"")?;
    let rest = line.get(p + 5..)?;
    let end = rest
        .iter()
        .take(MAX_SYMBOL_LEN + 1)
        .position(|&b| b == b'"')?;
    SymbolName::new(&rest[..end])
}

/// Reads the first [`FILE_SYMBOL_SCAN_LINES`] lines; `Some` when they name exactly one symbol.
fn scan_file_symbol(mut input: impl BufRead) -> io::Result<Option<SymbolName>> {
    let mut line = Vec::new();
    let mut found: Option<SymbolName> = None;
    for _ in 0..FILE_SYMBOL_SCAN_LINES {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(symbol) = line_symbol(&line) {
            match found {
                None => found = Some(symbol),
                Some(f) if f == symbol => {}
                Some(_) => return Ok(None),
            }
        }
    }
    Ok(found)
}

/// The cryptofeed http files beside a ws file: `X.ws.N.M` → every `X.http.*` in its folder.
///
/// # Errors
/// When the folder cannot be listed.
pub fn companion_http_files(ws_path: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = ws_path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let Some(prefix) = name.split_once(".ws.").map(|(p, _)| format!("{p}.http.")) else {
        return Ok(Vec::new());
    };
    let dir = match ws_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Frames of several capture files interleaved by receive time (ties: the earlier file first).
///
/// Each file must itself be in receive-time order, as captures are.
pub struct MergedCapture<S = FramesAhead> {
    readers: Vec<Source<S>>,
}

impl<S: fmt::Debug> fmt::Debug for MergedCapture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.readers.iter().map(|s| (&s.path, &s.reader)))
            .finish()
    }
}

struct Source<S> {
    reader: S,
    /// The file is gzip (inflated by `reader`).
    gzip: bool,
    path: PathBuf,
    /// The next frame: its bytes stay in `reader` ([`CaptureReader::last_json`]) until it is
    /// handed out.
    head: Option<Head>,
}

#[derive(Clone, Copy, Debug)]
struct Head {
    recv_ns: i64,
    symbol_hint: Option<SymbolName>,
    line: u64,
}

/// A frame from a [`MergedCapture`], with the file it came from.
#[derive(Clone, Copy, Debug)]
pub struct MergedFrame<'a> {
    /// The frame.
    pub frame: Frame<'a>,
    /// The file it came from.
    pub path: &'a Path,
}

/// A bad line in one file of a [`MergedCapture`].
#[derive(Debug)]
pub struct MergedError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub error: CaptureError,
}

impl fmt::Display for MergedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for MergedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl MergedCapture {
    /// Opens every file, each read on a thread of its own ([`FramesAhead`]); a bare snapshot's
    /// symbol hint is found as [`CaptureReader::open`] finds it.
    ///
    /// # Errors
    /// When a file cannot be opened or read, or a thread cannot be spawned.
    pub fn open(paths: &[PathBuf]) -> io::Result<Self> {
        let readers = paths
            .iter()
            .map(|p| {
                let (input, gzip) = open_inline(p)?;
                Ok(Source {
                    reader: FramesAhead::spawn(CaptureReader::with_symbol_of(p, input)?)?,
                    gzip,
                    path: p.clone(),
                    head: None,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { readers })
    }
}

impl<S> MergedCapture<S> {
    /// How many of the files are gzip. Their reading threads inflate as well as split lines,
    /// which keeps each about as busy as parsing the frames would (the BTCUSDT recording);
    /// a plain file's thread mostly waits.
    #[must_use]
    pub fn gzip_files(&self) -> usize {
        self.readers.iter().filter(|s| s.gzip).count()
    }
}

impl<S: FrameSource> MergedCapture<S> {
    /// The next frame in receive-time order, `None` when every file is exhausted.
    ///
    /// # Errors
    /// A bad line in one file; calling again continues.
    pub fn next_frame(&mut self) -> Option<Result<MergedFrame<'_>, MergedError>> {
        for source in &mut self.readers {
            if source.head.is_none()
                && let Err(error) = source.refill()
            {
                return Some(Err(MergedError {
                    path: source.path.clone(),
                    error,
                }));
            }
        }
        let next = self
            .readers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.head.map(|h| (h.recv_ns, i)))
            .min()?
            .1;
        let source = self.readers.get_mut(next)?;
        let head = source.head.take()?;
        Some(Ok(MergedFrame {
            frame: Frame {
                recv_ns: head.recv_ns,
                bytes: source.reader.last_json(),
                symbol_hint: head.symbol_hint,
                line: head.line,
            },
            path: &source.path,
        }))
    }
}

impl<S: FrameSource> Source<S> {
    /// Loads the next frame into `head`/`bytes`; leaves `head` empty at the end of the file.
    fn refill(&mut self) -> Result<(), CaptureError> {
        match self.reader.next_frame() {
            None => Ok(()),
            Some(Err(e)) => Err(e),
            Some(Ok(frame)) => {
                self.head = Some(Head {
                    recv_ns: frame.recv_ns,
                    symbol_hint: frame.symbol_hint,
                    line: frame.line,
                });
                Ok(())
            }
        }
    }
}

/// Reads all of `input` into memory, ungzipping when needed (for tests and small inputs).
///
/// # Errors
/// When reading fails.
pub fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    open_maybe_gzip(path)?.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<(i64, String, Option<String>, u64)> {
        frames_from(text.as_bytes())
    }

    fn frames_from(input: impl BufRead) -> Vec<(i64, String, Option<String>, u64)> {
        let mut reader = CaptureReader::new(input);
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame() {
            let f = frame.unwrap();
            out.push((
                f.recv_ns,
                String::from_utf8(f.bytes.to_vec()).unwrap(),
                f.symbol_hint.map(|s| s.to_string()),
                f.line,
            ));
        }
        out
    }

    #[test]
    fn reads_every_line_format() {
        let text = "wss://x/stream?streams=a@b <-> 1626992740.179554\n\
                    1723161255030314667 {\"a\":1}\n\
                    1626992741.06217: {\"b\":2}\n\
                    https://fapi/fapi/v1/depth?symbol=SUSHIUSDT&limit=1000 -> 1626992741.301402: {\"c\":3}\r\n\
                    \n\
                    1626992742: [1]\n";
        assert_eq!(
            frames(text),
            vec![
                (1_723_161_255_030_314_667, "{\"a\":1}".into(), None, 2),
                (1_626_992_741_062_170_000, "{\"b\":2}".into(), None, 3),
                (
                    1_626_992_741_301_402_000,
                    "{\"c\":3}".into(),
                    Some("SUSHIUSDT".into()),
                    4
                ),
                (1_626_992_742_000_000_000, "[1]".into(), None, 6),
            ]
        );
    }

    #[test]
    fn lines_straddling_the_read_buffer_read_the_same() {
        // Lines longer than the buffer, a CRLF split between two fills, a blank line, and a
        // last line without a newline: every capacity gives what one whole-input buffer gives.
        let text = "1723161255030314667 {\"stream\":\"btcusdt@trade\",\"data\":{}}\r\n\
                    \n\
                    1626992741.06217: {\"b\":2}\n\
                    2 [1]\r\n\
                    3 {\"last\":true}";
        let whole = frames(text);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[3], (3, "{\"last\":true}".into(), None, 5));
        for capacity in 1..=64 {
            let small = BufReader::with_capacity(capacity, text.as_bytes());
            assert_eq!(frames_from(small), whole, "buffer of {capacity} bytes");
        }
    }

    #[test]
    fn receive_times_in_ns_take_the_fast_path() {
        let line = b"1723161255030314667 {\"a\":1}";
        assert_eq!(
            ns_prefix(line),
            Some((1_723_161_255_030_314_667, &line[20..]))
        );
        assert_eq!(
            ns_prefix(b"12345678 {\"a\":1}"),
            Some((12_345_678, &b"{\"a\":1}"[..]))
        );
        // Beyond i64, or 20 digits: left to the slow path, which rejects them.
        for line in [
            &b"9999999999999999999 {}......"[..],
            b"12345678901234567890 {}......",
        ] {
            assert_eq!(ns_prefix(line), None);
            assert!(parse_time_prefix(line).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn the_ns_fast_path_agrees_with_the_slow_path(
            digits in "[0-9]{0,22}",
            separator in "( |: |\\.[0-9]{0,3}: |\\.5 |x| {2})",
            json in "[{\\[][a-z\":0-9]{0,12}",
        ) {
            let line = format!("{digits}{separator}{json}");
            let slow = parse_time_prefix_slow(line.as_bytes());
            if let Some(fast) = ns_prefix(line.as_bytes()) {
                proptest::prop_assert_eq!(Ok(fast), slow);
            }
            proptest::prop_assert_eq!(parse_time_prefix(line.as_bytes()), slow);
        }
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let mut reader = CaptureReader::new(&b"garbage\n12 x\n1.5 {}\n99: {}\n"[..]);
        let mut errors = Vec::new();
        let mut good = 0;
        while let Some(frame) = reader.next_frame() {
            match frame {
                Ok(_) => good += 1,
                Err(CaptureError::BadLine { line, .. }) => errors.push(line),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((errors, good), (vec![1, 2, 3], 1));
    }

    #[test]
    fn file_symbol_is_found_only_for_single_symbol_files() {
        let one = "1 {\"stream\":\"btcusdt@depth@0ms\",\"data\":{}}\n2 {\"lastUpdateId\":1}\n";
        assert_eq!(
            scan_file_symbol(one.as_bytes())
                .unwrap()
                .map(|s| s.to_string()),
            Some("BTCUSDT".into())
        );
        let two = "1 {\"stream\":\"btcusdt@trade\"}\n2 {\"e\":\"trade\",\"s\":\"ETHUSDT\"}\n";
        assert_eq!(scan_file_symbol(two.as_bytes()).unwrap(), None);
        let reader =
            CaptureReader::new("1 {}\n".as_bytes()).with_file_symbol(SymbolName::new(b"btcusdt"));
        assert_eq!(
            reader.file_symbol().map(|s| s.to_string()),
            Some("BTCUSDT".into())
        );
    }

    #[test]
    fn merge_interleaves_by_receive_time() {
        let a: &[u8] = b"1 {\"a\":1}\n5 {\"a\":5}\n";
        let b: &[u8] = b"3 {\"b\":3}\n5 {\"b\":5}\n9 {\"b\":9}\n";
        // Whole-input buffers, and buffers smaller than a line (frames copied into the line
        // buffer): each frame's bytes are its own while the other file is read ahead.
        for capacity in [64, 4] {
            let mut merged = MergedCapture {
                readers: [(a, "a"), (b, "b")]
                    .into_iter()
                    .map(|(text, p)| Source {
                        reader: CaptureReader::new(BufReader::with_capacity(capacity, text)),
                        gzip: false,
                        path: PathBuf::from(p),
                        head: None,
                    })
                    .collect(),
            };
            let mut order = Vec::new();
            while let Some(f) = merged.next_frame() {
                let f = f.unwrap();
                let json = String::from_utf8(f.frame.bytes.to_vec()).unwrap();
                order.push(format!("{}{} {json}", f.path.display(), f.frame.recv_ns));
            }
            assert_eq!(
                order,
                [
                    "a1 {\"a\":1}",
                    "b3 {\"b\":3}",
                    "a5 {\"a\":5}",
                    "b5 {\"b\":5}",
                    "b9 {\"b\":9}"
                ],
                "buffer of {capacity} bytes"
            );
        }
    }

    #[test]
    fn seconds_convert_exactly() {
        assert_eq!(seconds_to_ns(b"1.5"), Ok(1_500_000_000));
        assert_eq!(seconds_to_ns(b"1.0000000019"), Ok(1_000_000_001));
        assert!(seconds_to_ns(b"99999999999999").is_err());
    }
}
