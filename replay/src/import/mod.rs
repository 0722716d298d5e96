//! Import: raw captures and Binance historical CSVs into a log (DESIGN.md section 6).
//!
//! - [`open_import_inputs`] sorts the inputs: every capture file goes into one
//!   [`CaptureSource`] (which merges several by receive time and brings a cryptofeed ws file's
//!   snapshot files), every CSV becomes a [`HistoricalCsv`].
//! - [`import_into`] merges the inputs by receive time (ties: the earlier input first) and
//!   writes every event, in that order, through a [`LogImporter`]: captures one frame at a time
//!   in receive order, CSVs one row at a time in their sorted order. The log's UTC day folders
//!   follow `recv_ns`; the recorder rotates.
//! - [`LogImporter`] owns the writer and the log's symbol table. Each input numbers its
//!   symbols itself; the importer maps them by name into one table and, when a new symbol
//!   appears, reopens the writer with the longer table (the recorder then starts a new segment,
//!   whose table extends the previous one, so ids never change meaning). A single capture keeps
//!   its own ids: its table is adopted in its order, so replaying the log and replaying the
//!   capture give the same feature digest.
//!
//! Bad input lines and rows are handed to the caller with their file and line number and
//! skipped; they never stop the import.

mod archive;
mod csv;

use std::fs;
use std::path::{Path, PathBuf};

use orderflow_core::{Event, EventKind, SymbolId, SymbolTable};
use orderflow_recorder::{LogReader, LogWriter, WriterConfig};

pub use csv::{CsvKind, CsvStats, DEFAULT_REORDER_WINDOW, HistoricalCsv, kind_from_file_name};

use crate::capture::{BadInput, CaptureSource, resolve_capture_inputs};
use crate::error::ImportError;

/// Settings of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Size segments are preallocated to, bytes ([`WriterConfig::segment_bytes`]).
    pub segment_bytes: u64,
    /// Append to a log already in the directory instead of refusing a non-empty one.
    pub append: bool,
    /// Reorder window of CSV inputs, rows (see [`HistoricalCsv`]).
    pub reorder_window: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            segment_bytes: WriterConfig::DEFAULT_SEGMENT_BYTES,
            append: false,
            reorder_window: DEFAULT_REORDER_WINDOW,
        }
    }
}

/// What an import wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Records written.
    pub records: u64,
    /// Venue messages written (records flagged `LAST`).
    pub messages: u64,
    /// Records per [`EventKind`], indexed by discriminant.
    pub per_kind: [u64; EventKind::ALL.len()],
    /// Bad input lines or rows skipped.
    pub bad_inputs: u64,
    /// Times the writer was reopened because a new symbol appeared.
    pub writer_reopens: u64,
}

#[derive(Debug, Default)]
struct InputIds {
    /// `ids[input's id]` is the log's id.
    ids: Vec<SymbolId>,
}

/// Writes events from inputs with their own symbol tables into one log (module docs).
#[derive(Debug)]
pub struct LogImporter {
    dir: PathBuf,
    options: ImportOptions,
    symbols: SymbolTable,
    writer: Option<LogWriter>,
    writer_symbols: usize,
    inputs: Vec<InputIds>,
    stats: ImportStats,
}

impl LogImporter {
    /// Prepares a log in `dir`, which must be absent or empty unless `options.append`; when
    /// appending, the log's newest symbol table is kept so ids carry on.
    ///
    /// # Errors
    /// [`ImportError::NotEmpty`]; [`ImportError::Io`] when the directory cannot be created;
    /// [`ImportError::Log`] when an existing log cannot be read.
    pub fn create(dir: impl AsRef<Path>, options: ImportOptions) -> Result<Self, ImportError> {
        let dir = dir.as_ref().to_path_buf();
        let mut symbols = SymbolTable::new();
        let has_files = fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
        if has_files {
            if !options.append {
                return Err(ImportError::NotEmpty(dir));
            }
            let reader = LogReader::open(&dir)?;
            if let Some(last) = reader.segments().last() {
                symbols = last.symbols().clone();
            }
        }
        fs::create_dir_all(&dir).map_err(|e| ImportError::io("creating", &dir, e))?;
        Ok(Self {
            dir,
            options,
            symbols,
            writer: None,
            writer_symbols: 0,
            inputs: Vec::new(),
            stats: ImportStats::default(),
        })
    }

    /// The log directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's symbol table so far.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// What was written so far.
    #[must_use]
    pub fn stats(&self) -> &ImportStats {
        &self.stats
    }

    /// Counts a bad input that was skipped.
    pub fn count_bad_input(&mut self) {
        self.stats.bad_inputs += 1;
    }

    /// Appends `events` of input number `input`, whose ids `symbols` names.
    ///
    /// # Errors
    /// When the log cannot be written, or an event's id is not in `symbols`.
    pub fn write(
        &mut self,
        input: usize,
        events: &[Event],
        symbols: &SymbolTable,
    ) -> Result<(), ImportError> {
        if self.inputs.len() <= input {
            self.inputs.resize_with(input + 1, InputIds::default);
        }
        let Some(map) = self.inputs.get_mut(input) else {
            return Ok(());
        };
        if symbols.len() > map.ids.len() {
            for (_, name) in symbols.iter().skip(map.ids.len()) {
                let id = self
                    .symbols
                    .intern(name.as_bytes())
                    .map_err(|_| ImportError::TooManySymbols)?;
                map.ids.push(id);
            }
        }
        if self.writer.is_none() || self.symbols.len() > self.writer_symbols {
            if let Some(old) = self.writer.take() {
                old.close()?;
                self.stats.writer_reopens += 1;
            }
            let config = WriterConfig::new(self.symbols.clone())
                .with_segment_bytes(self.options.segment_bytes);
            self.writer = Some(LogWriter::open(&self.dir, config)?);
            self.writer_symbols = self.symbols.len();
        }
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        for event in events {
            let mut event = *event;
            event.symbol = map.ids.get(event.symbol.index()).copied().ok_or_else(|| {
                ImportError::format(
                    &self.dir,
                    format!(
                        "event with symbol id {} its input never named",
                        event.symbol.0
                    ),
                )
            })?;
            writer.append(&event)?;
            self.stats.records += 1;
            self.stats.messages += u64::from(event.is_last());
            if let Some(n) = self.stats.per_kind.get_mut(event.kind() as usize) {
                *n += 1;
            }
        }
        Ok(())
    }

    /// Closes the log (trimming and syncing its last segment).
    ///
    /// # Errors
    /// When the last segment cannot be finished.
    pub fn finish(mut self) -> Result<ImportStats, ImportError> {
        if let Some(writer) = self.writer.take() {
            writer.close()?;
        }
        Ok(self.stats)
    }
}

/// What an input file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// A raw capture (either format of `shared/data/README.md`).
    Capture,
    /// A Binance historical CSV.
    HistoricalCsv,
}

/// Tells a capture from a historical CSV: by a Binance file name (`SYMBOL-KIND-DATE...`) or a
/// `.csv`/`.zip` name, else by the first line (a capture line holds JSON or a cryptofeed URL
/// marker; a CSV line is comma-separated fields).
///
/// # Errors
/// When the file cannot be read.
pub fn detect_format(path: &Path) -> Result<InputFormat, ImportError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if kind_from_file_name(path).is_some()
        || [".csv", ".csv.gz", ".zip"]
            .iter()
            .any(|ext| name.ends_with(ext))
    {
        return Ok(InputFormat::HistoricalCsv);
    }
    let (mut input, _, packing) =
        archive::open_text(path).map_err(|e| ImportError::io("opening", path, e))?;
    if packing == archive::Packing::Zip {
        return Ok(InputFormat::HistoricalCsv);
    }
    let mut first = Vec::new();
    std::io::BufRead::read_until(&mut input, b'\n', &mut first)
        .map_err(|e| ImportError::io("reading", path, e))?;
    let looks_like_capture = first.contains(&b'{')
        || first.windows(4).any(|w| w == b" -> ")
        || first.windows(5).any(|w| w == b" <-> ");
    Ok(if !looks_like_capture && first.contains(&b',') {
        InputFormat::HistoricalCsv
    } else {
        InputFormat::Capture
    })
}

/// One input of an import.
#[derive(Debug)]
pub enum ImportInput {
    /// Every capture file of the import, merged.
    Capture(Box<CaptureSource>),
    /// One historical CSV.
    Csv(Box<HistoricalCsv>),
}

impl ImportInput {
    fn symbols(&self) -> &SymbolTable {
        match self {
            Self::Capture(c) => c.symbols(),
            Self::Csv(c) => c.symbols(),
        }
    }

    /// Loads the next message into `head`; `false` at the end.
    fn refill(&mut self, head: &mut Vec<Event>, on_bad: &mut dyn FnMut(BadInput)) -> bool {
        head.clear();
        match self {
            Self::Capture(c) => loop {
                match c.next_events() {
                    None => return false,
                    Some(Ok(message)) => {
                        head.extend_from_slice(message.events);
                        return true;
                    }
                    Some(Err(bad)) => on_bad(bad),
                }
            },
            Self::Csv(c) => loop {
                match c.next_event() {
                    None => return false,
                    Some(Ok(event)) => {
                        head.push(event);
                        return true;
                    }
                    Some(Err(bad)) => on_bad(bad),
                }
            },
        }
    }
}

/// Opens `paths` for an import (module docs). `symbol` names the symbol of CSVs whose file
/// name does not.
///
/// # Errors
/// When a file cannot be read or recognised.
pub fn open_import_inputs(
    paths: &[PathBuf],
    symbol: Option<&str>,
    options: &ImportOptions,
) -> Result<Vec<ImportInput>, ImportError> {
    let mut captures = Vec::new();
    let mut inputs = Vec::new();
    for path in paths {
        if !path.is_file() {
            return Err(ImportError::io(
                "opening",
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        match detect_format(path)? {
            InputFormat::Capture => captures.push(path.clone()),
            InputFormat::HistoricalCsv => inputs.push(ImportInput::Csv(Box::new(
                HistoricalCsv::open(path, symbol, options.reorder_window)?,
            ))),
        }
    }
    if !captures.is_empty() {
        let first = captures.first().cloned().unwrap_or_default();
        let files =
            resolve_capture_inputs(&captures).map_err(|e| ImportError::io("opening", &first, e))?;
        let capture =
            CaptureSource::open(&files).map_err(|e| ImportError::io("opening", &first, e))?;
        inputs.insert(0, ImportInput::Capture(Box::new(capture)));
    }
    Ok(inputs)
}

/// Merges `inputs` by receive time into `importer` (module docs). `on_bad` gets every skipped
/// line or row; `progress` is called every 65 536 records with the stats so far.
///
/// # Errors
/// When the log cannot be written.
pub fn import_into(
    importer: &mut LogImporter,
    inputs: &mut [ImportInput],
    on_bad: &mut dyn FnMut(BadInput),
    progress: &mut dyn FnMut(&ImportStats),
) -> Result<(), ImportError> {
    let mut bad = 0u64;
    let mut count_bad = |b: BadInput| {
        bad += 1;
        on_bad(b);
    };
    let mut heads: Vec<Vec<Event>> = Vec::with_capacity(inputs.len());
    let mut live: Vec<bool> = Vec::with_capacity(inputs.len());
    for input in inputs.iter_mut() {
        let mut head = Vec::with_capacity(64);
        live.push(input.refill(&mut head, &mut count_bad));
        heads.push(head);
    }
    let mut next_progress = 1u64 << 16;
    loop {
        let next = heads
            .iter()
            .zip(&live)
            .enumerate()
            .filter(|(_, (_, live))| **live)
            .filter_map(|(i, (head, _))| head.first().map(|e| (e.recv_ns, i)))
            .min();
        let Some((_, i)) = next else { break };
        let (Some(input), Some(head)) = (inputs.get_mut(i), heads.get_mut(i)) else {
            break;
        };
        importer.write(i, head, input.symbols())?;
        let more = input.refill(head, &mut count_bad);
        if let Some(slot) = live.get_mut(i) {
            *slot = more;
        }
        if importer.stats.records >= next_progress {
            next_progress = importer.stats.records + (1 << 16);
            progress(&importer.stats);
        }
    }
    importer.stats.bad_inputs += bad;
    progress(&importer.stats);
    Ok(())
}

#[cfg(test)]
mod tests {
    use orderflow_core::{Body, Flags, Timer};

    use super::*;

    #[test]
    fn symbols_from_several_inputs_share_one_table() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut importer = LogImporter::create(&log, ImportOptions::default()).unwrap();
        let mut a = SymbolTable::new();
        a.intern(b"ETHUSDT").unwrap();
        let mut b = SymbolTable::new();
        b.intern(b"BTCUSDT").unwrap();
        let event = |t: i64| {
            Event::new(
                1_700_000_000_000_000_000 + t,
                SymbolId(0),
                Body::Timer(Timer { now_ms: t }),
            )
            .with_flags(Flags::LAST)
        };
        importer.write(0, &[event(1)], &a).unwrap();
        importer.write(1, &[event(2)], &b).unwrap();
        importer.write(0, &[event(3)], &a).unwrap();
        let stats = importer.finish().unwrap();
        assert_eq!(
            (stats.records, stats.messages, stats.writer_reopens),
            (3, 3, 1)
        );

        let reader = LogReader::open(&log).unwrap();
        assert_eq!(reader.segments().len(), 2);
        let ids: Vec<u16> = reader.events().map(|e| e.symbol.0).collect();
        assert_eq!(ids, [0, 1, 0]);
        assert_eq!(reader.segments()[1].symbols().name(SymbolId(1)), "BTCUSDT");

        // Refused when not empty, accepted when appending (ids carry on).
        assert!(matches!(
            LogImporter::create(&log, ImportOptions::default()),
            Err(ImportError::NotEmpty(_))
        ));
        let mut again = LogImporter::create(
            &log,
            ImportOptions {
                append: true,
                ..ImportOptions::default()
            },
        )
        .unwrap();
        again.write(0, &[event(4)], &b).unwrap();
        again.finish().unwrap();
        let reader = LogReader::open(&log).unwrap();
        assert_eq!(reader.events().last().map(|e| e.symbol), Some(SymbolId(1)));
        assert_eq!(reader.segments().len(), 2);
    }

    #[test]
    fn formats_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let capture = dir.path().join("cap");
        fs::write(&capture, "1723161256123456789 {\"stream\":\"x\"}\n").unwrap();
        let csv = dir.path().join("rows");
        fs::write(&csv, "1,2.0,3.0,4,5,1790526538981,true\n").unwrap();
        let named = dir.path().join("BTCUSDT-aggTrades-2026-09-27.zip");
        fs::write(&named, "").unwrap();
        assert_eq!(detect_format(&capture).unwrap(), InputFormat::Capture);
        assert_eq!(detect_format(&csv).unwrap(), InputFormat::HistoricalCsv);
        assert_eq!(detect_format(&named).unwrap(), InputFormat::HistoricalCsv);
    }
}
