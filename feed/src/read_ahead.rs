//! Reading on a thread of its own, in two forms:
//!
//! - [`ReadAhead`]: a [`BufRead`] over an input (a file, or the decompressed bytes of a gzip
//!   file) that a second thread reads ahead of the consumer. Inflating a capture costs more
//!   than half as much as parsing and replaying it (the BTCUSDT recording: about 270 ns of a
//!   750 ns replayed message); with the inflate on another core, `orderflow bench throughput`
//!   replayed the gzip file at 2.12 M messages/s instead of 1.33 M (best of three alternating
//!   runs each).
//! - [`FramesAhead`]: the frames of a capture file, its lines found and their receive times
//!   read on the second thread as well, so the consumer's thread only parses (and, for a gzip
//!   file, the second thread also inflates). [`MergedCapture`](crate::capture::MergedCapture)
//!   reads every file this way.
//!
//! Either thread hands over its work in chunks through a bounded channel ([`CHUNKS`] in
//! flight, the used ones sent back to be refilled), so it runs at most that far ahead and
//! blocks, never spins, when it is there. A read or inflate error reaches the reader in
//! order, after everything read before it; a thread that died is an error too, never the
//! end of the input. Dropping the reader stops the thread at its next chunk and joins it
//! ([`Ahead`] holds the reader's end of this for both).

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use orderflow_core::SymbolName;

use crate::capture::{CaptureError, CaptureReader, Frame, FrameSource};

/// Bytes per chunk (a [`FrameBlock`] is closed after the frame that reaches it).
const CHUNK: usize = 1 << 18;

/// Chunks in flight: one being inflated, one being read, the rest queued.
const CHUNKS: usize = 4;

/// The reader's end of a reading thread: filled chunks (`F`) arrive on one bounded channel,
/// read ones (`E`) go back on another. Dropping it closes both, which stops the thread at its
/// next send or receive, and joins the thread.
struct Ahead<F, E> {
    full: Option<Receiver<F>>,
    empty: Option<SyncSender<E>>,
    thread: Option<JoinHandle<()>>,
}

impl<F: Send + 'static, E: Send + 'static> Ahead<F, E> {
    /// Runs `work` on a new thread named `name`, with the thread's ends of both channels.
    fn spawn<W>(name: &str, work: W) -> io::Result<Self>
    where
        W: FnOnce(&SyncSender<F>, &Receiver<E>) + Send + 'static,
    {
        let (full_tx, full) = sync_channel::<F>(CHUNKS);
        let (empty, empty_rx) = sync_channel::<E>(CHUNKS);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || work(&full_tx, &empty_rx))?;
        Ok(Self {
            full: Some(full),
            empty: Some(empty),
            thread: Some(thread),
        })
    }
}

impl<F, E> Ahead<F, E> {
    /// The next filled chunk; `Ok(None)` once the thread has finished. A thread that died
    /// instead of finishing is an error (once), never the end of the input.
    fn next(&mut self) -> io::Result<Option<F>> {
        if let Some(Ok(chunk)) = self.full.as_ref().map(Receiver::recv) {
            return Ok(Some(chunk));
        }
        self.full = None;
        if let Some(thread) = self.thread.take() {
            let name = thread.thread().name().unwrap_or("reading").to_owned();
            if thread.join().is_err() {
                return Err(io::Error::other(format!("the {name} thread panicked")));
            }
        }
        Ok(None)
    }

    /// Hands a read chunk back for refilling (dropped when the thread has finished).
    fn give_back(&self, chunk: E) {
        if let Some(empty) = &self.empty {
            let _ = empty.try_send(chunk);
        }
    }
}

impl<F, E> Drop for Ahead<F, E> {
    fn drop(&mut self) {
        self.full = None;
        self.empty = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// For a reading thread: the next chunk to fill, made by `new` while fewer than [`CHUNKS`]
/// exist (`fresh` counts down those still to make), else the next one the reader gave back;
/// `None` once the reader is gone.
fn to_fill<E>(fresh: &mut usize, empty: &Receiver<E>, new: impl FnOnce() -> E) -> Option<E> {
    if *fresh > 0 {
        *fresh -= 1;
        return Some(new());
    }
    empty.recv().ok()
}

/// The bytes of an input, read ahead on a thread of its own.
pub(crate) struct ReadAhead {
    /// The chunk being read, and how far.
    chunk: Vec<u8>,
    pos: usize,
    thread: Ahead<io::Result<Vec<u8>>, Vec<u8>>,
}

impl ReadAhead {
    /// Reads `input` on a new thread named `name`.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub(crate) fn spawn<R: Read + Send + 'static>(name: &str, input: R) -> io::Result<Self> {
        Self::spawn_with(name, move || input)
    }

    /// Inflates `input` (a gzip stream, several members allowed) on a new thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub(crate) fn gunzip<R: BufRead + Send + 'static>(input: R) -> io::Result<Self> {
        // The decoder is made on the thread: making it reads the gzip header already.
        Self::spawn_with("gunzip", move || {
            flate2::bufread::MultiGzDecoder::new(input)
        })
    }

    /// Reads the input `make` returns, on a new thread named `name` that calls it.
    fn spawn_with<R, M>(name: &str, make: M) -> io::Result<Self>
    where
        R: Read,
        M: FnOnce() -> R + Send + 'static,
    {
        Ok(Self {
            chunk: Vec::new(),
            pos: 0,
            thread: Ahead::spawn(name, move |full, empty| read_chunks(make(), full, empty))?,
        })
    }
}

/// The thread: fills chunks (fresh ones first, then those the reader sent back) until the
/// input ends, an error (sent on) stops it, or the reader is gone.
fn read_chunks(
    mut input: impl Read,
    full: &SyncSender<io::Result<Vec<u8>>>,
    empty: &Receiver<Vec<u8>>,
) {
    let mut fresh = CHUNKS;
    while let Some(mut chunk) = to_fill(&mut fresh, empty, || Vec::with_capacity(CHUNK)) {
        chunk.clear();
        // `read_to_end` keeps the bytes it read before an error, and retries interrupted
        // reads; `Ok(true)` while the input may go on.
        let filled = (&mut input)
            .take(CHUNK as u64)
            .read_to_end(&mut chunk)
            .map(|n| n == CHUNK);
        let end = !matches!(filled, Ok(true));
        let sent = match filled {
            Ok(_) if chunk.is_empty() => Ok(()),
            Ok(_) => full.send(Ok(chunk)),
            Err(e) => {
                // The bytes before the error first, then the error.
                let before = if chunk.is_empty() {
                    Ok(())
                } else {
                    full.send(Ok(chunk))
                };
                before.and_then(|()| full.send(Err(e)))
            }
        };
        if end || sent.is_err() {
            return;
        }
    }
}

/// The frames of one capture file, read (and inflated) and split from their lines on a thread
/// of its own, which hands them over in blocks of about 256 KiB of frames (four in flight,
/// the used ones sent back to be refilled).
///
/// Finding the lines and reading their receive times is about a fifth of reading and parsing
/// a capture's frames (the BTCUSDT recording: 52 of 270 ns a frame); on this thread it
/// overlaps the parsing. A bad line reaches the reader in order; a read or inflate error ends
/// the input after the frames before it; a thread that died is an error, never the end of
/// the input.
pub struct FramesAhead {
    /// The block being read, and the index of its next entry.
    block: FrameBlock,
    next: usize,
    thread: Ahead<FrameBlock, FrameBlock>,
}

/// Frames of consecutive lines: their bytes one after another, and each line's place.
#[derive(Default)]
struct FrameBlock {
    bytes: Vec<u8>,
    lines: Vec<Line>,
    /// The errors [`Line::Bad`] stands for, in order.
    errors: VecDeque<CaptureError>,
}

/// One line of a [`FrameBlock`].
enum Line {
    /// A frame: `bytes[start..end]` of the block.
    Frame {
        recv_ns: i64,
        symbol_hint: Option<SymbolName>,
        line: u64,
        start: usize,
        end: usize,
    },
    /// The next of the block's errors.
    Bad,
}

impl FrameBlock {
    fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
        self.errors.clear();
    }
}

impl FramesAhead {
    /// Reads the frames of `reader` on a new thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub(crate) fn spawn<R: BufRead + Send + 'static>(reader: CaptureReader<R>) -> io::Result<Self> {
        Ok(Self {
            block: FrameBlock::default(),
            next: 0,
            thread: Ahead::spawn("frames", move |full, empty| {
                split_frames(reader, full, empty);
            })?,
        })
    }

    /// Moves to the next block; `Ok(false)` at the end of the input.
    fn next_block(&mut self) -> Result<bool, CaptureError> {
        self.next = 0;
        match self.thread.next()? {
            Some(block) => {
                let mut used = std::mem::replace(&mut self.block, block);
                used.clear();
                self.thread.give_back(used);
                Ok(true)
            }
            None => {
                self.block.clear();
                Ok(false)
            }
        }
    }
}

/// The thread of [`FramesAhead`]: fills blocks (fresh ones first, then those the reader sent
/// back) until the input ends, a read error (sent on) stops it, or the reader is gone.
fn split_frames<R: BufRead>(
    mut reader: CaptureReader<R>,
    full: &SyncSender<FrameBlock>,
    empty: &Receiver<FrameBlock>,
) {
    let mut fresh = CHUNKS;
    let new = || FrameBlock {
        bytes: Vec::with_capacity(CHUNK + (1 << 16)),
        ..FrameBlock::default()
    };
    while let Some(mut block) = to_fill(&mut fresh, empty, new) {
        let mut more = true;
        while more && block.bytes.len() < CHUNK {
            match reader.next_frame() {
                None => more = false,
                Some(Ok(frame)) => {
                    let start = block.bytes.len();
                    block.bytes.extend_from_slice(frame.bytes);
                    block.lines.push(Line::Frame {
                        recv_ns: frame.recv_ns,
                        symbol_hint: frame.symbol_hint,
                        line: frame.line,
                        start,
                        end: block.bytes.len(),
                    });
                }
                Some(Err(e)) => {
                    // A read error ends the input: reading again could fail forever.
                    more = !matches!(e, CaptureError::Io(_));
                    block.lines.push(Line::Bad);
                    block.errors.push_back(e);
                }
            }
        }
        let sent = if block.lines.is_empty() {
            Ok(())
        } else {
            full.send(block)
        };
        if !more || sent.is_err() {
            return;
        }
    }
}

impl FrameSource for FramesAhead {
    fn next_frame(&mut self) -> Option<Result<Frame<'_>, CaptureError>> {
        while self.next >= self.block.lines.len() {
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        let at = self.next;
        self.next += 1;
        match self.block.lines.get(at)? {
            Line::Frame {
                recv_ns,
                symbol_hint,
                line,
                start,
                end,
            } => Some(Ok(Frame {
                recv_ns: *recv_ns,
                bytes: self.block.bytes.get(*start..*end).unwrap_or_default(),
                symbol_hint: *symbol_hint,
                line: *line,
            })),
            Line::Bad => self.block.errors.pop_front().map(Err),
        }
    }

    fn last_json(&mut self) -> &[u8] {
        match self
            .next
            .checked_sub(1)
            .and_then(|at| self.block.lines.get(at))
        {
            Some(Line::Frame { start, end, .. }) => {
                self.block.bytes.get(*start..*end).unwrap_or_default()
            }
            _ => &[],
        }
    }
}

impl fmt::Debug for FramesAhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramesAhead")
            .field("lines_in_block", &self.block.lines.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.chunk.len() {
            self.pos = 0;
            match self.thread.next()? {
                Some(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.chunk, chunk);
                    if used.capacity() > 0 {
                        self.thread.give_back(used);
                    }
                }
                // Reported once; the thread has stopped after sending it, so the input ends
                // here.
                Some(Err(e)) => {
                    self.chunk.clear();
                    return Err(e);
                }
                None => self.chunk.clear(),
            }
        }
        Ok(self.chunk.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.chunk.len());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(parts: &[&[u8]]) -> Vec<u8> {
        // One gzip member per part, as `cat a.gz b.gz` makes.
        let mut out = Vec::new();
        for part in parts {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(part).unwrap();
            out.extend(encoder.finish().unwrap());
        }
        out
    }

    fn text(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 97 == 96 {
                    b'\n'
                } else {
                    b"0123456789,:\"{}"[(x % 15) as usize]
                }
            })
            .collect()
    }

    #[test]
    fn gives_the_bytes_the_decoder_gives() {
        // Several members, chunk boundaries inside lines, an empty member.
        let a = text(3 * CHUNK + 12_345, 1);
        let b = text(777, 2);
        let data = gzip(&[&a, b"", &b]);
        let mut expected = a.clone();
        expected.extend(&b);

        let mut all = Vec::new();
        ReadAhead::gunzip(io::Cursor::new(data.clone()))
            .unwrap()
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all, expected);

        // Line by line, through `BufRead`.
        let mut lines: Vec<u8> = Vec::new();
        let mut reader = ReadAhead::gunzip(io::Cursor::new(data)).unwrap();
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap() > 0 {
            lines.extend(&line);
            line.clear();
        }
        assert_eq!(lines, expected);
    }

    #[test]
    fn gives_a_plain_input_as_it_is() {
        for len in [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 777] {
            let data = text(len, 5);
            let mut all = Vec::new();
            ReadAhead::spawn("test", io::Cursor::new(data.clone()))
                .unwrap()
                .read_to_end(&mut all)
                .unwrap();
            assert_eq!(all, data, "{len} bytes");
        }
    }

    #[test]
    fn a_corrupt_stream_is_an_error_after_the_good_bytes() {
        let good = text(2 * CHUNK + 5, 3);
        let mut data = gzip(&[&good]);
        data.extend(b"\x1f\x8b\x08\x00 certainly not deflate");
        let mut reader = ReadAhead::gunzip(io::Cursor::new(data)).unwrap();
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(out, good);
        // After the error, the input is over.
        assert!(reader.fill_buf().unwrap().is_empty());
    }

    /// Input that panics when read: the thread dies.
    struct Panics;

    impl Read for Panics {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("input failed (a deliberate panic of the read-ahead tests)")
        }
    }

    impl BufRead for Panics {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            panic!("input failed (a deliberate panic of the read-ahead tests)")
        }

        fn consume(&mut self, _: usize) {}
    }

    #[test]
    fn a_thread_that_dies_is_an_error_not_the_end_of_input() {
        let mut reader = ReadAhead::gunzip(Panics).unwrap();
        let err = reader.fill_buf().unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    /// Capture lines: frames of varied length, every 50th line a bad one.
    fn capture_text(lines: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..lines {
            if i % 50 == 49 {
                out.extend(b"not a capture line\n");
            } else {
                let pad = "x".repeat(i % 300);
                out.extend(format!("{} {{\"i\":{i},\"pad\":\"{pad}\"}}\n", 1_000 + i).bytes());
            }
        }
        out
    }

    /// A frame as receive time, bytes and line number; an error as its message.
    type Seen = Result<(i64, Vec<u8>, u64), String>;

    /// What a frame source gives, frame by frame (with `last_json` after each) and error by
    /// error.
    fn drain(source: &mut impl FrameSource) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Some(next) = source.next_frame() {
            match next {
                Ok(frame) => {
                    let item = (frame.recv_ns, frame.bytes.to_vec(), frame.line);
                    assert_eq!(source.last_json(), item.1.as_slice());
                    out.push(Ok(item));
                }
                Err(e) => out.push(Err(e.to_string())),
            }
        }
        out
    }

    #[test]
    fn frames_ahead_gives_what_the_reader_gives() {
        // About 1.9 MB: blocks are filled, handed over and refilled several times.
        let text = capture_text(12_000);
        assert!(text.len() > (CHUNKS + 2) * CHUNK);
        let expected = drain(&mut CaptureReader::new(io::Cursor::new(text.clone())));
        assert_eq!(expected.len(), 12_000);
        assert_eq!(expected.iter().filter(|e| e.is_err()).count(), 240);
        let mut ahead = FramesAhead::spawn(CaptureReader::new(io::Cursor::new(text))).unwrap();
        assert_eq!(drain(&mut ahead), expected);
        // The end stays the end.
        assert!(ahead.next_frame().is_none());
        assert!(ahead.last_json().is_empty());
    }

    #[test]
    fn frames_ahead_of_an_empty_input() {
        let mut ahead = FramesAhead::spawn(CaptureReader::new(io::empty())).unwrap();
        assert!(ahead.next_frame().is_none());
    }

    #[test]
    fn frames_ahead_end_with_a_read_error_after_the_frames_before_it() {
        let good = capture_text(3_000);
        let mut data = gzip(&[&good]);
        data.extend(b"\x1f\x8b\x08\x00 certainly not deflate");
        let expected = drain(&mut CaptureReader::new(io::Cursor::new(good)));

        let reader =
            io::BufReader::new(flate2::bufread::MultiGzDecoder::new(io::Cursor::new(data)));
        let mut seen = drain(&mut FramesAhead::spawn(CaptureReader::new(reader)).unwrap());
        let last = seen.pop().unwrap();
        assert!(last.unwrap_err().starts_with("read error"));
        assert_eq!(seen, expected);
    }

    #[test]
    fn frames_ahead_of_a_thread_that_dies_is_an_error_not_the_end() {
        let mut ahead = FramesAhead::spawn(CaptureReader::new(Panics)).unwrap();
        let err = ahead.next_frame().unwrap().unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert!(ahead.next_frame().is_none());
    }

    #[test]
    fn dropping_frames_ahead_early_stops_the_thread() {
        let text = capture_text(20_000);
        let mut ahead = FramesAhead::spawn(CaptureReader::new(io::Cursor::new(text))).unwrap();
        assert!(ahead.next_frame().unwrap().is_ok());
        // Joins the thread, which is blocked on a full channel: must not hang.
        drop(ahead);
    }

    #[test]
    fn dropping_the_reader_early_stops_the_thread() {
        let data = gzip(&[&text(20 * CHUNK, 4)]);
        let mut reader = ReadAhead::gunzip(io::Cursor::new(data)).unwrap();
        assert!(!reader.fill_buf().unwrap().is_empty());
        // Joins the thread, which is blocked on a full channel: must not hang.
        drop(reader);
    }
}
