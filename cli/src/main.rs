//! `orderflow`: the command line of the orderflow market-data engine.
#![forbid(unsafe_code)]

mod book_top;
mod csv;
mod drive;
mod emit_events;
mod outputs;
mod verify;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use orderflow_core::EventKind;
use orderflow_engine::{Pipeline, PipelineConfig};
use orderflow_features::FeatureConfig;
use orderflow_replay::{CaptureSource, resolve_capture_inputs};

/// Low-latency market-data engine for Binance USD-M perpetual futures.
///
/// Every command reads raw captures: `<local_ns> <json>` lines (gzip or plain, the format
/// `orderflow` and hftbacktest's collector write), or a cryptofeed `*.ws.*` file, whose
/// `*.http.*` snapshot files beside it are read too. Several files are merged by receive time.
#[derive(Debug, Parser)]
#[command(name = "orderflow", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Re-run recorded market data through the engine and write what it produces.
    ///
    /// Prints counts, venue messages per second and the digest of the whole feature stream
    /// (per-event features and bars), which is identical on every run of the same input.
    Replay(ReplayArgs),
    /// Data-quality report per symbol: depth chain breaks, resyncs, crossed books, and the
    /// diff-built book against Binance's bookTicker at equal update id.
    ///
    /// Exits 1 on any chain break, gap, crossed book, bookTicker mismatch or bad line, 0 when
    /// everything agreed.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// Capture file(s).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = Emit::Events)]
    emit: Emit,
    /// Output: a file (`-` for standard output); a folder for `--emit bars`.
    #[arg(long, short, default_value = "-")]
    out: PathBuf,
    /// Bar resolutions for `--emit bars` (multiples of 100 ms: `500ms`, `1s`, `1m`, `1h`...).
    #[arg(long, value_delimiter = ',', default_value = "500ms,1s,1m,1h")]
    bars: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Capture file(s).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// One JSON line per venue message after normalisation: `kind`, `symbol`, Binance's own
    /// field names for ids and times, exact decimal strings, `recv_ns`.
    Events,
    /// CSV `symbol,update_id,event_time_ms,bid_px,bid_qty,ask_px,ask_qty`, one row after each
    /// fully applied depth diff, exact decimals.
    BookTop,
    /// CSV, one row of per-event features after every book update and every trade.
    Features,
    /// CSV bars under `OUT/{SYMBOL}/{YYYY-MM-DD}_{RES}.csv`.
    Bars,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay(&args),
        Command::Verify(args) => verify(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `--out`: a file, or standard output for `-`.
fn open_out(path: &Path) -> Result<Box<dyn Write>> {
    if is_stdout(path) {
        return Ok(Box::new(BufWriter::new(io::stdout().lock())));
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Box::new(BufWriter::with_capacity(1 << 20, file)))
}

fn open_source(inputs: &[PathBuf]) -> Result<CaptureSource> {
    let files = resolve_capture_inputs(inputs).context("finding the input files")?;
    CaptureSource::open(&files).context("opening the capture")
}

/// The pipeline every command runs: default books and features, plus any extra bar resolution.
fn pipeline(extra_bars_ms: &[i64]) -> Result<Pipeline> {
    let mut features = FeatureConfig::default();
    for ms in extra_bars_ms {
        if !features.bar_resolutions_ms.contains(ms) {
            features.bar_resolutions_ms.push(*ms);
        }
    }
    features.bar_resolutions_ms.sort_unstable();
    Pipeline::try_new(PipelineConfig {
        features,
        ..PipelineConfig::default()
    })
    .map_err(anyhow::Error::msg)
    .context("configuring the pipeline")
}

fn replay(args: &ReplayArgs) -> Result<ExitCode> {
    let bars = args
        .bars
        .iter()
        .map(|s| csv::parse_resolution(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)
        .context("reading --bars")?;
    let mut source = open_source(&args.inputs)?;
    let started = Instant::now();
    let mut summary = Vec::new();
    let (bad, digest) = match args.emit {
        Emit::Events => (emit_events(&mut source, &args.out, &mut summary)?, None),
        Emit::BookTop => {
            let mut pipeline = pipeline(&[])?;
            let mut sink =
                outputs::WithDigest::new(book_top::BookTopWriter::new(open_out(&args.out)?)?);
            let bad = drive::drive(&mut source, &mut pipeline, &mut sink);
            let rows = sink.inner.finish().context("writing the output")?;
            writeln!(summary, "book-top rows: {rows}")?;
            (bad, Some(sink.digest))
        }
        Emit::Features => {
            let mut pipeline = pipeline(&[])?;
            let mut sink =
                outputs::WithDigest::new(outputs::FeaturesWriter::new(open_out(&args.out)?)?);
            let bad = drive::drive(&mut source, &mut pipeline, &mut sink);
            let rows = sink.inner.finish().context("writing the output")?;
            writeln!(summary, "feature rows: {rows}")?;
            (bad, Some(sink.digest))
        }
        Emit::Bars => {
            if is_stdout(&args.out) {
                bail!("--emit bars writes a folder: give it with --out DIR");
            }
            let mut pipeline = pipeline(&bars)?;
            let mut sink = outputs::WithDigest::new(
                outputs::BarsWriter::new(args.out.clone(), bars.clone())
                    .with_context(|| format!("creating {}", args.out.display()))?,
            );
            let bad = drive::drive(&mut source, &mut pipeline, &mut sink);
            let (files, written) = sink.inner.finish().context("writing the bars")?;
            writeln!(
                summary,
                "bars: {written} in {files} files under {}",
                args.out.display()
            )?;
            (bad, Some(sink.digest))
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let stats = source.stats();
    let mut report: Box<dyn Write> = if is_stdout(&args.out) {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    };
    report.write_all(&summary)?;
    writeln!(
        report,
        "frames: {} in {elapsed:.2} s ({:.0} frames/s), without market data: {}, bad lines: {bad}",
        stats.frames,
        stats.frames as f64 / elapsed.max(1e-9),
        stats.frames_without_events,
    )?;
    if let Some(digest) = digest {
        writeln!(
            report,
            "feature digest: {:016x} ({} event rows, {} bars)",
            digest.value(),
            digest.event_count(),
            digest.bar_count()
        )?;
    }
    if bad > 0 {
        eprintln!("error: {bad} bad input lines were skipped");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--emit events`: returns the number of bad lines.
fn emit_events(source: &mut CaptureSource, out: &Path, summary: &mut Vec<u8>) -> Result<u64> {
    let mut writer = open_out(out)?;
    let mut per_kind = [0u64; EventKind::ALL.len()];
    let mut bad = 0u64;
    while let Some(next) = source.next_events() {
        match next {
            Ok(message) => emit_events::write_messages(&mut writer, message, &mut per_kind)
                .context("writing the output")?,
            Err(e) => {
                bad += 1;
                drive::report_bad_line(bad, &e);
            }
        }
    }
    writer.flush().context("writing the output")?;
    for kind in EventKind::ALL {
        let n = per_kind[kind as usize];
        if n > 0 {
            writeln!(summary, "{:>16}: {n}", kind.name())?;
        }
    }
    Ok(bad)
}

fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let mut source = open_source(&args.inputs)?;
    let mut pipeline = pipeline(&[])?;
    let mut verifier = verify::Verifier::default();
    let bad = drive::drive(&mut source, &mut pipeline, &mut verifier);
    let (report, ok) = verifier.render(source.symbols(), |id| {
        pipeline.sync_book(id).map(orderflow_book::SyncBook::stats)
    });
    print!("{report}");
    println!("bad lines: {bad}");
    if ok && bad == 0 {
        println!("verify: OK");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verify: FAILED");
        Ok(ExitCode::FAILURE)
    }
}
