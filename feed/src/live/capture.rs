//! The raw capture writer: one `<local_ns> <json>` line per frame (`shared/data/README.md`, the
//! first format), so a capture replays and verifies like the shared recordings.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Appends frames to a capture file.
#[derive(Debug)]
pub(crate) struct CaptureWriter {
    out: BufWriter<File>,
}

impl CaptureWriter {
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    /// Writes one line. A frame never holds a raw newline in valid JSON except as whitespace
    /// between tokens, which becomes a space.
    pub(crate) fn write(&mut self, recv_ns: i64, frame: &[u8]) -> io::Result<()> {
        write!(self.out, "{recv_ns} ")?;
        if frame.contains(&b'\n') {
            let cleaned: Vec<u8> = frame
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            self.out.write_all(&cleaned)?;
        } else {
            self.out.write_all(frame)?;
        }
        self.out.write_all(b"\n")
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back() {
        let dir = std::env::temp_dir().join(format!("orderflow-capture-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let mut w = CaptureWriter::create(&dir).unwrap();
        w.write(5, br#"{"a":1}"#).unwrap();
        w.write(6, b"{\"b\":\n2}").unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        assert_eq!(text, "5 {\"a\":1}\n6 {\"b\": 2}\n");
        let _ = std::fs::remove_file(&dir);
    }
}
