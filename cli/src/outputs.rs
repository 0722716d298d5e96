//! Sinks for `replay --emit features|bars`, and the digest every replay prints.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use orderflow_book::Book;
use orderflow_core::{Event, SymbolId, SymbolTable};
use orderflow_engine::{BookUpdate, Pipeline, PipelineSink};
use orderflow_features::{Bar, EventFeatures, FeatureDigest, FeatureSink};

use crate::csv;
use crate::drive::Driven;

/// Wraps a sink and folds every feature output into a [`FeatureDigest`] on the way.
pub(crate) struct WithDigest<S> {
    pub(crate) digest: FeatureDigest,
    pub(crate) inner: S,
}

impl<S> WithDigest<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            digest: FeatureDigest::new(),
            inner,
        }
    }
}

impl<S: FeatureSink> FeatureSink for WithDigest<S> {
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        self.digest.event_features(symbol, features);
        self.inner.event_features(symbol, features);
    }
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        self.digest.bar(symbol, bar);
        self.inner.bar(symbol, bar);
    }
}

impl<S: PipelineSink> PipelineSink for WithDigest<S> {
    fn book_updated(&mut self, symbol: SymbolId, book: &Book, update: BookUpdate) {
        self.inner.book_updated(symbol, book, update);
    }
    fn status(&mut self, event: &Event) {
        self.inner.status(event);
    }
}

impl<S: Driven> Driven for WithDigest<S> {
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        self.inner.symbols_seen(symbols);
    }
    fn on_input(&mut self, event: &Event) {
        self.inner.on_input(event);
    }
    fn after_event(&mut self, event: &Event, pipeline: &Pipeline) {
        self.inner.after_event(event, pipeline);
    }
}

/// Keeps a copy of the symbol table for naming outputs.
#[derive(Default)]
struct Names(SymbolTable);

impl Names {
    fn refresh(&mut self, symbols: &SymbolTable) {
        if symbols.len() != self.0.len() {
            self.0 = symbols.clone();
        }
    }
}

/// `--emit features`: one CSV row per per-event output.
pub(crate) struct FeaturesWriter<W> {
    out: W,
    names: Names,
    pub(crate) rows: u64,
    error: Option<io::Error>,
}

impl<W: Write> FeaturesWriter<W> {
    pub(crate) fn new(mut out: W) -> io::Result<Self> {
        out.write_all(csv::FEATURES_HEADER.as_bytes())?;
        Ok(Self {
            out,
            names: Names::default(),
            rows: 0,
            error: None,
        })
    }

    pub(crate) fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

impl<W: Write> FeatureSink for FeaturesWriter<W> {
    fn event_features(&mut self, symbol: SymbolId, features: &EventFeatures) {
        if self.error.is_none() {
            match csv::write_features(&mut self.out, self.names.0.name(symbol), features) {
                Ok(()) => self.rows += 1,
                Err(e) => self.error = Some(e),
            }
        }
    }
    fn bar(&mut self, _: SymbolId, _: &Bar) {}
}

impl<W: Write> PipelineSink for FeaturesWriter<W> {}

impl<W: Write> Driven for FeaturesWriter<W> {
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        self.names.refresh(symbols);
    }
}

/// `--emit bars`: `DIR/{SYMBOL}/{YYYY-MM-DD}_{RES}.csv` (DESIGN 5.5).
pub(crate) struct BarsWriter {
    dir: PathBuf,
    resolutions: Vec<i64>,
    names: Names,
    files: BTreeMap<(SymbolId, i64, i64), BufWriter<File>>,
    pub(crate) bars: u64,
    error: Option<io::Error>,
}

impl BarsWriter {
    /// Writes bars of the given resolutions (ms) under `dir`.
    pub(crate) fn new(dir: PathBuf, resolutions: Vec<i64>) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            resolutions,
            names: Names::default(),
            files: BTreeMap::new(),
            bars: 0,
            error: None,
        })
    }

    /// Files written and bars, or the first error.
    pub(crate) fn finish(mut self) -> io::Result<(usize, u64)> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for file in self.files.values_mut() {
            file.flush()?;
        }
        Ok((self.files.len(), self.bars))
    }

    fn write(&mut self, symbol: SymbolId, bar: &Bar) -> io::Result<()> {
        let day = bar.timestamp_ms.div_euclid(86_400_000);
        let key = (symbol, bar.resolution_ms, day);
        if !self.files.contains_key(&key) {
            let folder = self.dir.join(self.names.0.name(symbol));
            fs::create_dir_all(&folder)?;
            let path = folder.join(format!(
                "{}_{}.csv",
                csv::utc_date(bar.timestamp_ms),
                csv::resolution_label(bar.resolution_ms)
            ));
            let mut file = BufWriter::new(File::create(&path)?);
            file.write_all(csv::BARS_HEADER.as_bytes())?;
            self.files.insert(key, file);
        }
        if let Some(file) = self.files.get_mut(&key) {
            csv::write_bar(file, bar)?;
        }
        self.bars += 1;
        Ok(())
    }
}

impl FeatureSink for BarsWriter {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}
    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        if self.error.is_none()
            && self.resolutions.contains(&bar.resolution_ms)
            && let Err(e) = self.write(symbol, bar)
        {
            self.error = Some(e);
        }
    }
}

impl PipelineSink for BarsWriter {}

impl Driven for BarsWriter {
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        self.names.refresh(symbols);
    }
}
