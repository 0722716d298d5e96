//! `orderflow export INPUT --bars 1s,1m --format csv|parquet --out DIR`: replay an input and
//! write its bars in the layouts of DESIGN.md section 5.5:
//!
//! - CSV: `OUT/aggregated/{SYMBOL}/{YYYY-MM-DD}_{RES}.csv` (the columns of `replay --emit bars`);
//! - Parquet: `OUT/features/{SYMBOL}/{RES}/{YYYY}/{MM}/{DD}/hour={HH}/data.parquet`, snappy,
//!   the same columns typed as `parquet_bars.rs` documents.
//!
//! Bars are those the replay closes: the bar still open when the input ends is not written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use orderflow_core::{SymbolId, SymbolTable};
use orderflow_engine::PipelineSink;
use orderflow_features::{Bar, EventFeatures, FeatureSink};

use crate::drive::Driven;
use crate::{outputs, sources};

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Capture file(s), or one log directory.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Bar resolutions (multiples of 100 ms: `500ms`, `1s`, `1m`, `1h`...).
    #[arg(long, value_delimiter = ',', default_value = "1s,1m")]
    bars: Vec<String>,
    /// Output format(s).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    format: Vec<Format>,
    /// Output folder (`aggregated/` and `features/` are made in it).
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// `OUT/aggregated/{SYMBOL}/{YYYY-MM-DD}_{RES}.csv`.
    Csv,
    /// `OUT/features/{SYMBOL}/{RES}/{YYYY}/{MM}/{DD}/hour={HH}/data.parquet`.
    Parquet,
}

#[cfg(feature = "parquet")]
type ParquetWriter = crate::parquet_bars::ParquetBarsWriter;

/// Stand-in when the binary is built without the `parquet` feature.
#[cfg(not(feature = "parquet"))]
struct ParquetWriter;

#[cfg(not(feature = "parquet"))]
impl ParquetWriter {
    fn finish(self) -> std::io::Result<(usize, u64)> {
        Ok((0, 0))
    }
}

#[cfg(not(feature = "parquet"))]
impl FeatureSink for ParquetWriter {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}
    fn bar(&mut self, _: SymbolId, _: &Bar) {}
}

#[cfg(not(feature = "parquet"))]
impl Driven for ParquetWriter {}

#[cfg(not(feature = "parquet"))]
impl PipelineSink for ParquetWriter {}

/// The writers asked for.
struct ExportSink {
    csv: Option<outputs::BarsWriter>,
    parquet: Option<ParquetWriter>,
}

impl FeatureSink for ExportSink {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}

    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        if let Some(w) = &mut self.csv {
            w.bar(symbol, bar);
        }
        if let Some(w) = &mut self.parquet {
            w.bar(symbol, bar);
        }
    }
}

impl PipelineSink for ExportSink {}

impl Driven for ExportSink {
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        if let Some(w) = &mut self.csv {
            w.symbols_seen(symbols);
        }
        if let Some(w) = &mut self.parquet {
            w.symbols_seen(symbols);
        }
    }
}

pub(crate) fn run(args: &ExportArgs) -> Result<ExitCode> {
    let bars = crate::bar_resolutions(&args.bars)?;
    let parquet_wanted = args.format.contains(&Format::Parquet);
    if parquet_wanted && cfg!(not(feature = "parquet")) {
        bail!("this orderflow was built without the `parquet` feature");
    }
    let mut source = crate::open_source(&args.inputs)?;
    let mut pipeline = crate::pipeline(&bars)?;
    let csv_dir = args.out.join("aggregated");
    let parquet_dir = args.out.join("features");
    let csv = if args.format.contains(&Format::Csv) {
        Some(
            outputs::BarsWriter::new(csv_dir.clone(), bars.clone())
                .with_context(|| format!("creating {}", csv_dir.display()))?,
        )
    } else {
        None
    };
    #[cfg(feature = "parquet")]
    let parquet = if parquet_wanted {
        Some(
            ParquetWriter::new(parquet_dir.clone(), bars.clone())
                .with_context(|| format!("creating {}", parquet_dir.display()))?,
        )
    } else {
        None
    };
    #[cfg(not(feature = "parquet"))]
    let parquet: Option<ParquetWriter> = None;

    let started = Instant::now();
    let (bad, sink) =
        crate::drive_with_digest(&mut source, &mut pipeline, ExportSink { csv, parquet });
    let digest = sink.digest;
    let ExportSink { csv, parquet } = sink.inner;
    if let Some(csv) = csv {
        let (files, written) = csv.finish().context("writing the CSV bars")?;
        println!(
            "csv: {written} bars in {files} files under {}",
            csv_dir.display()
        );
    }
    if let Some(parquet) = parquet {
        let (files, written) = parquet.finish().context("writing the Parquet bars")?;
        println!(
            "parquet: {written} bars in {files} files under {}",
            parquet_dir.display()
        );
    }
    println!("{}", sources::read_summary(&source, started.elapsed(), bad));
    println!(
        "feature digest: {:016x} ({} event rows, {} bars)",
        digest.value(),
        digest.event_count(),
        digest.bar_count()
    );
    if bad > 0 {
        eprintln!("error: {bad} bad input lines were skipped");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
