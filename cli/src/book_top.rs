//! `--emit book-top`: one CSV row after each fully applied depth diff.

use std::io::{self, Write};

use orderflow_book::Book;
use orderflow_core::{SymbolId, SymbolTable};
use orderflow_engine::{BookUpdate, PipelineSink};

use crate::drive::Driven;
use orderflow_features::{Bar, EventFeatures, FeatureSink};

/// The CSV header.
const HEADER: &str = "symbol,update_id,event_time_ms,bid_px,bid_qty,ask_px,ask_qty\n";

/// Writes a row per applied diff; an empty side leaves its two fields empty.
pub(crate) struct BookTopWriter<W> {
    out: W,
    symbols: SymbolTable,
    rows: u64,
    error: Option<io::Error>,
}

impl<W: Write> BookTopWriter<W> {
    /// Writes the header to `out`.
    pub(crate) fn new(mut out: W) -> io::Result<Self> {
        out.write_all(HEADER.as_bytes())?;
        Ok(Self {
            out,
            symbols: SymbolTable::new(),
            rows: 0,
            error: None,
        })
    }

    /// Rows written and the output, or the first write error.
    pub(crate) fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.rows)
    }

    fn row(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) -> io::Result<()> {
        write!(
            self.out,
            "{},{},{},",
            self.symbols.name(symbol),
            update.final_update_id,
            update.event_time_ms
        )?;
        match book.best_bid() {
            Some(l) => write!(self.out, "{},{},", l.px, l.qty)?,
            None => self.out.write_all(b",,")?,
        }
        match book.best_ask() {
            Some(l) => writeln!(self.out, "{},{}", l.px, l.qty),
            None => self.out.write_all(b",\n"),
        }
    }
}

impl<W: Write> FeatureSink for BookTopWriter<W> {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}
    fn bar(&mut self, _: SymbolId, _: &Bar) {}
}

impl<W: Write> Driven for BookTopWriter<W> {
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        if symbols.len() != self.symbols.len() {
            self.symbols = symbols.clone();
        }
    }
}

impl<W: Write> PipelineSink for BookTopWriter<W> {
    fn book_updated(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) {
        if self.error.is_some() {
            return;
        }
        match self.row(symbol, book, update) {
            Ok(()) => self.rows += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
