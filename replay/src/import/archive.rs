//! Opens a historical file as text: plain, gzip, or the single entry of a Binance zip.
//!
//! data.binance.vision serves one deflated CSV per zip (protocol doc section 6.2). Reading it
//! needs only the entry's local header (30 bytes, then the name and extra field) followed by a
//! raw deflate stream that ends itself, so the zip is streamed with `flate2` and no zip crate: no
//! central directory, no seeking, and memory stays one buffer whatever the file size. Entries
//! stored without compression are read too, when their size is in the local header.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const LOCAL_HEADER_MAGIC: [u8; 4] = *b"PK\x03\x04";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BUF: usize = 1 << 16;

/// Counts the bytes read from the file itself (compressed bytes for gzip and zip), so progress
/// can be shown against the file size.
#[derive(Debug)]
pub(crate) struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Relaxed: a progress figure, read by the same thread or approximately elsewhere.
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How the file's bytes were wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packing {
    Plain,
    Gzip,
    Zip,
}

/// A text reader over `path` (unpacked as needed) and the counter of file bytes read.
pub(crate) fn open_text(
    path: &Path,
) -> io::Result<(Box<dyn BufRead + Send>, Arc<AtomicU64>, Packing)> {
    let read = Arc::new(AtomicU64::new(0));
    let file = Counting {
        inner: File::open(path)?,
        read: Arc::clone(&read),
    };
    let mut input = BufReader::with_capacity(BUF, file);
    let head = input.fill_buf()?;
    if head.starts_with(&GZIP_MAGIC) {
        let gz = flate2::bufread::MultiGzDecoder::new(input);
        return Ok((
            Box::new(BufReader::with_capacity(BUF, gz)),
            read,
            Packing::Gzip,
        ));
    }
    if head.starts_with(&LOCAL_HEADER_MAGIC) {
        return Ok((open_zip_entry(input)?, read, Packing::Zip));
    }
    Ok((Box::new(input), read, Packing::Plain))
}

fn invalid(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_owned())
}

/// Reads the first entry's local header and returns a reader of its uncompressed bytes.
fn open_zip_entry<R: BufRead + Send + 'static>(
    mut input: R,
) -> io::Result<Box<dyn BufRead + Send>> {
    let mut header = [0u8; 30];
    input.read_exact(&mut header)?;
    let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if header[..4] != LOCAL_HEADER_MAGIC {
        return Err(invalid("not a zip local file header"));
    }
    let flags = u16_at(6);
    let method = u16_at(8);
    let compressed_size = u32_at(18);
    let name_len = u64::from(u16_at(26));
    let extra_len = u64::from(u16_at(28));
    if flags & 1 != 0 {
        return Err(invalid("encrypted zip entries are not supported"));
    }
    // Skip the file name and extra field.
    let skipped = io::copy(
        &mut (&mut input).take(name_len + extra_len),
        &mut io::sink(),
    )?;
    if skipped != name_len + extra_len {
        return Err(invalid("zip local header truncated"));
    }
    match method {
        8 => Ok(Box::new(BufReader::with_capacity(
            BUF,
            flate2::bufread::DeflateDecoder::new(input),
        ))),
        0 if flags & 0x08 == 0 && compressed_size != u32::MAX => {
            Ok(Box::new(input.take(u64::from(compressed_size))))
        }
        0 => Err(invalid(
            "stored zip entry without its size in the local header is not supported",
        )),
        _ => Err(invalid(
            "zip entry compressed with a method other than deflate is not supported",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A one-entry zip as Binance writes it (deflate), local header and data only: the reader
    /// never looks further.
    pub(crate) fn zip_bytes(name: &str, contents: &[u8]) -> Vec<u8> {
        let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        deflated.write_all(contents).unwrap();
        let data = deflated.finish().unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&LOCAL_HEADER_MAGIC);
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&8u16.to_le_bytes()); // deflate
        out.extend_from_slice(&[0; 8]); // time, date, crc
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(contents.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes()); // extra length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"xyz");
        out.extend_from_slice(&data);
        out.extend_from_slice(b"PK\x01\x02 central directory follows");
        out
    }

    #[test]
    fn reads_plain_gzip_and_zip() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a,b\n1,2\n".repeat(1000);
        let plain = dir.path().join("x.csv");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("x.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        enc.write_all(&text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let zip = dir.path().join("x.zip");
        std::fs::write(&zip, zip_bytes("x.csv", &text)).unwrap();
        for (path, packing) in [
            (plain, Packing::Plain),
            (gz, Packing::Gzip),
            (zip.clone(), Packing::Zip),
        ] {
            let (mut r, read, p) = open_text(&path).unwrap();
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, text);
            assert_eq!(p, packing);
            assert!(read.load(Ordering::Relaxed) > 0);
        }
        // A truncated zip is an error, not a panic.
        let bytes = std::fs::read(&zip).unwrap();
        std::fs::write(&zip, &bytes[..20]).unwrap();
        let (mut r, ..) = match open_text(&zip) {
            Ok(x) => x,
            Err(_) => return,
        };
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }
}
