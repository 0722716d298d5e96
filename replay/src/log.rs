//! Recorded logs as an event source.
//!
//! A log directory ([`orderflow_recorder`]) is opened and validated once by [`LogReader`]; its
//! records are then walked zero-copy in recorded order and copied into [`Event`]s one venue
//! message at a time (the records up to the one flagged [`Flags::LAST`](orderflow_core::Flags)).
//!
//! Each segment carries its own symbol table. A log written in one go has the same table in
//! every segment, but a writer reopened with more symbols starts a new segment with a longer
//! table, and logs written by different runs may even number the same symbol differently. So
//! the source builds one table for the whole log (the first segment's names, then every later
//! segment's new names in order) and maps each segment's ids into it; when a segment's table is
//! a prefix of the whole one (the usual case) its ids are used as they are.

use std::path::Path;

use orderflow_core::{Event, SymbolId, SymbolTable};
use orderflow_recorder::{LogReader, RecorderError};

use crate::capture::{BadInput, Message};
use crate::source::Input;

/// Counters of what a [`LogSource`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records read.
    pub records: u64,
    /// Messages handed out (groups of records ending with a `LAST` record).
    pub messages: u64,
    /// Records whose symbol id is not in their segment's symbol table (skipped).
    pub bad_records: u64,
}

#[cold]
fn bad_symbol(path: &Path, offset: u64, id: SymbolId) -> BadInput {
    BadInput {
        path: path.to_path_buf(),
        line: 0,
        reason: format!(
            "record at byte {offset}: symbol id {} is not in the segment's table",
            id.0
        ),
    }
}

/// Maps one segment's symbol ids into the log-wide table.
#[derive(Debug)]
enum Remap {
    /// The segment's table is a prefix of the log-wide one.
    Identity { len: usize },
    /// `ids[segment id]` is the log-wide id.
    Table(Vec<SymbolId>),
}

impl Remap {
    #[inline]
    fn map(&self, id: SymbolId) -> Option<SymbolId> {
        match self {
            Self::Identity { len } => (id.index() < *len).then_some(id),
            Self::Table(ids) => ids.get(id.index()).copied(),
        }
    }
}

/// The messages of a recorded log, in recorded order.
#[derive(Debug)]
pub struct LogSource {
    reader: LogReader,
    symbols: SymbolTable,
    remaps: Vec<Remap>,
    events: Vec<Event>,
    stats: LogStats,
}

impl LogSource {
    /// Opens and validates every segment under `dir` (see [`LogReader::open`]).
    ///
    /// # Errors
    /// When the directory cannot be read, a segment is invalid, or the segments together name
    /// more symbols than a table holds.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, RecorderError> {
        Self::from_reader(LogReader::open(dir)?)
    }

    /// Wraps an opened reader.
    ///
    /// # Errors
    /// When the segments together name more symbols than a table holds.
    pub fn from_reader(reader: LogReader) -> Result<Self, RecorderError> {
        let mut symbols = SymbolTable::new();
        let mut remaps = Vec::with_capacity(reader.segments().len());
        for segment in reader.segments() {
            let table = segment.symbols();
            let mut ids = Vec::with_capacity(table.len());
            for (_, name) in table.iter() {
                let id = symbols
                    .intern(name.as_bytes())
                    .map_err(|_| RecorderError::Config {
                        reason: "the log's segments name more symbols than a table holds",
                    })?;
                ids.push(id);
            }
            let identity = ids.iter().enumerate().all(|(i, id)| id.index() == i);
            remaps.push(if identity {
                Remap::Identity { len: ids.len() }
            } else {
                Remap::Table(ids)
            });
        }
        Ok(Self {
            reader,
            symbols,
            remaps,
            events: Vec::with_capacity(4096),
            stats: LogStats::default(),
        })
    }

    /// The validated log.
    #[must_use]
    pub fn reader(&self) -> &LogReader {
        &self.reader
    }

    /// The symbol table of the whole log (events handed out use its ids).
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// What was read so far.
    #[must_use]
    pub fn stats(&self) -> LogStats {
        self.stats
    }

    /// Committed records in the log.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.reader.len()
    }

    /// `true` when the log holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    /// Hands every record of the log to `visit` as an [`Input`], in recorded order, without
    /// grouping them into messages: depth levels without their events built (the replay hot
    /// path), every other record as an event. A record whose symbol id its segment does not
    /// name goes to `bad` and is skipped. A second call reads the log again from the start.
    pub fn for_each_input<F, B>(&mut self, mut visit: F, mut bad: B)
    where
        F: FnMut(Input<'_>),
        B: FnMut(BadInput),
    {
        let mut messages = 0;
        walk_records(
            &self.reader,
            &self.remaps,
            &mut self.stats,
            |record| match record {
                Ok(input) => {
                    messages += u64::from(input.is_last());
                    visit(input);
                }
                Err(b) => bad(b),
            },
        );
        self.stats.messages += messages;
    }

    /// [`LogSource::for_each_input`] with every record as an event.
    pub fn for_each_event<F, B>(&mut self, mut visit: F, bad: B)
    where
        F: FnMut(&Event),
        B: FnMut(BadInput),
    {
        self.for_each_input(|input| input.with_event(&mut visit), bad);
    }

    /// Hands every message of the log to `visit`, in recorded order: `Ok` with the records of
    /// one venue message (up to and including the record flagged `LAST`; a trailing group
    /// without one is handed out as it is), `Err` for a record whose symbol id its segment does
    /// not name (skipped). A second call reads the log again from the start.
    pub fn for_each_message<F>(&mut self, mut visit: F)
    where
        F: FnMut(Result<Message<'_>, BadInput>),
    {
        let Self {
            reader,
            symbols,
            remaps,
            events,
            stats,
        } = self;
        events.clear();
        let mut messages = 0;
        walk_records(reader, remaps, stats, |record| match record {
            Ok(input) => {
                input.with_event(|event| events.push(*event));
                if input.is_last() {
                    messages += 1;
                    visit(Ok(Message { events, symbols }));
                    events.clear();
                }
            }
            Err(b) => visit(Err(b)),
        });
        if !events.is_empty() {
            messages += 1;
            visit(Ok(Message { events, symbols }));
            events.clear();
        }
        stats.messages += messages;
    }
}

/// Every record of `reader` in recorded order as an [`Input`] with its symbol id mapped into
/// the log-wide table, or `Err` for a record whose id its segment does not name; counts records
/// and bad records into `stats`. The one walk behind [`LogSource::for_each_input`] and
/// [`LogSource::for_each_message`].
#[inline(always)]
fn walk_records(
    reader: &LogReader,
    remaps: &[Remap],
    stats: &mut LogStats,
    mut visit: impl FnMut(Result<Input<'_>, BadInput>),
) {
    for (segment, remap) in reader.segments().iter().zip(remaps) {
        segment.for_each_record(|record| {
            stats.records += 1;
            let Some(symbol) = remap.map(record.symbol()) else {
                stats.bad_records += 1;
                visit(Err(bad_symbol(
                    segment.path(),
                    record.offset(),
                    record.symbol(),
                )));
                return;
            };
            if let Some(mut level) = record.level() {
                level.symbol = symbol;
                visit(Ok(Input::Level(&level)));
            } else {
                let mut event = record.to_event();
                event.symbol = symbol;
                visit(Ok(Input::Event(&event)));
            }
        });
    }
}
