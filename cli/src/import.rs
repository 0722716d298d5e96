//! `orderflow import INPUT... --out DIR`: raw captures and Binance historical CSVs into a log
//! (the library side is [`orderflow_replay::import`], whose docs give the formats, the order
//! and the memory bound).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use orderflow_core::EventKind;
use orderflow_replay::import::{
    DEFAULT_REORDER_WINDOW, ImportInput, ImportOptions, LogImporter, import_into,
    open_import_inputs,
};

use crate::{drive, progress};

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// Raw capture files and/or Binance historical CSVs named as Binance names them
    /// (`BTCUSDT-aggTrades-2026-09-27.zip`, `.csv`, `.csv.gz`).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The log directory to write (created; must be empty unless --append).
    #[arg(long, short)]
    out: PathBuf,
    /// Symbol of CSV inputs whose file name does not start with it.
    #[arg(long)]
    symbol: Option<String>,
    /// Add to the log already in --out.
    #[arg(long)]
    append: bool,
    /// CSV rows out of order by up to this many rows are sorted (each buffered row costs about
    /// 150 bytes); a row displaced further is reported and skipped.
    #[arg(long, default_value_t = DEFAULT_REORDER_WINDOW)]
    reorder_window: usize,
    /// Size segments are preallocated to, MiB.
    #[arg(long, default_value_t = 256)]
    segment_mib: u64,
}

pub(crate) fn run(args: &ImportArgs) -> Result<ExitCode> {
    let options = ImportOptions {
        segment_bytes: args.segment_mib.saturating_mul(1 << 20),
        append: args.append,
        reorder_window: args.reorder_window,
    };
    let mut inputs = open_import_inputs(&args.inputs, args.symbol.as_deref(), &options)
        .context("opening the inputs")?;
    let mut importer = LogImporter::create(&args.out, options)
        .with_context(|| format!("creating the log {}", args.out.display()))?;

    // CSVs only: a bar of file bytes; with a capture: a count of records.
    let csv_bytes: Option<Vec<(Arc<AtomicU64>, u64)>> = inputs
        .iter()
        .map(|input| match input {
            ImportInput::Csv(csv) => Some((csv.bytes_read(), csv.file_len())),
            ImportInput::Capture(_) => None,
        })
        .collect();
    let bar = match &csv_bytes {
        Some(files) => progress::bytes_bar(files.iter().map(|(_, len)| len).sum()),
        None => progress::bar(None, "records"),
    };
    let mut bad = 0u64;
    import_into(
        &mut importer,
        &mut inputs,
        &mut |e| {
            bad += 1;
            bar.suspend(|| drive::report_bad_line(bad, &e));
        },
        &mut |stats| match &csv_bytes {
            Some(files) => bar.set_position(
                files
                    .iter()
                    .map(|(read, _)| read.load(Ordering::Relaxed))
                    .sum(),
            ),
            None => bar.set_position(stats.records),
        },
    )
    .with_context(|| format!("writing the log {}", args.out.display()))?;
    bar.finish_and_clear();
    if bad > 20 {
        eprintln!("({} more bad lines not shown)", bad - 20);
    }
    let stats = importer.finish().context("closing the log")?;

    println!(
        "imported {} records ({} messages) into {}",
        stats.records,
        stats.messages,
        args.out.display()
    );
    for kind in EventKind::ALL {
        let n = stats.per_kind[kind as usize];
        if n > 0 {
            println!("{:>16}: {n}", kind.name());
        }
    }
    for input in &inputs {
        if let ImportInput::Csv(csv) = input {
            let s = csv.stats();
            println!(
                "{}: {} {} rows{}, {} bad, {} out of order beyond the window",
                csv.path().display(),
                s.rows,
                csv.kind().name(),
                if s.sub_ms_rows > 0 {
                    format!(" ({} with µs/ns times)", s.sub_ms_rows)
                } else {
                    String::new()
                },
                s.bad_rows,
                s.late_rows,
            );
        }
    }
    let report = orderflow_recorder::inspect(&args.out).context("reading the log back")?;
    let days: std::collections::BTreeSet<String> = report
        .segments
        .iter()
        .filter_map(|s| s.id().map(|id| id.day.to_string()))
        .collect();
    println!(
        "segments: {} in {} UTC day folder(s): {}",
        report.segments.len(),
        days.len(),
        days.into_iter().collect::<Vec<_>>().join(", ")
    );
    println!("bad inputs: {bad}");
    if bad > 0 {
        eprintln!("error: {bad} bad input lines or rows were skipped");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
