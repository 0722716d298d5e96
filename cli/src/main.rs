//! `orderflow`: the command line of the orderflow market-data engine.
#![forbid(unsafe_code)]

mod bench_latency;
mod bench_throughput;
mod book_top;
mod csv;
mod demo;
mod drive;
mod emit_events;
mod export;
mod import;
mod inspect;
mod live;
mod outputs;
#[cfg(feature = "parquet")]
mod parquet_bars;
mod progress;
mod sources;
mod threads;
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
use orderflow_replay::Source;

use crate::drive::Driven;

/// Low-latency market-data engine for Binance USD-M perpetual futures.
///
/// `replay`, `verify` and `export` read raw captures or a log directory. Raw captures are
/// `<local_ns> <json>` lines (gzip or plain, the format `orderflow` and hftbacktest's collector
/// write), or a cryptofeed `*.ws.*` file, whose `*.http.*` snapshot files beside it are read too;
/// several files are merged by receive time. A log directory is what the recorder or `import`
/// writes (`DIR/YYYY-MM-DD/seg-NNNNNN.oflog`).
#[derive(Debug, Parser)]
#[command(name = "orderflow", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole system on loopback, no internet: a simulated Binance USD-M exchange on
    /// 127.0.0.1, the live pipeline against it (recording a log and a raw capture, with
    /// faults injected), a replay of the recording, and checks that the replay digest equals
    /// the live digest and every book equals the exchange's. Prints latencies and features.
    ///
    /// Exits 0 only if everything agreed.
    Demo(demo::DemoArgs),
    /// Connect to Binance USD-M (or `--ws-url`/`--rest-url`: testnet, the mock), keep books
    /// and features, print a status line per symbol, record a log and/or a raw capture.
    /// Ctrl-C stops cleanly with a summary.
    Live(live::LiveArgs),
    /// Serve the simulated exchange of `demo` on 127.0.0.1 (for `live --ws-url/--rest-url`).
    #[command(hide = true)]
    Mock(demo::MockArgs),
    /// Re-run recorded market data through the engine and write what it produces.
    ///
    /// Prints counts, venue messages per second and the digest of the whole feature stream
    /// (per-event features and bars), which is identical on every run of the same input.
    Replay(ReplayArgs),
    /// Data-quality report per symbol: depth chain breaks, resyncs, crossed books, the
    /// diff-built book against Binance's bookTicker at equal update id, and our 1 min bars
    /// against Binance's kline_1m updates between equal last trade ids.
    ///
    /// Exits 1 on any chain break, gap, crossed book, bookTicker or kline mismatch or bad line,
    /// 0 when everything agreed.
    Verify(VerifyArgs),
    /// Convert raw captures and Binance historical CSVs (aggTrades, trades, bookTicker; `.csv`,
    /// `.csv.gz` or the `.zip` Binance serves) into a log directory.
    ///
    /// Inputs are merged by receive time (a CSV row's is its exchange time). Bad lines and
    /// rows are named with their line number and skipped; the exit code is then 1.
    Import(import::ImportArgs),
    /// Replay an input and write its bars as CSV (`OUT/aggregated/{SYMBOL}/{YYYY-MM-DD}_{RES}.csv`)
    /// and/or Parquet (`OUT/features/{SYMBOL}/{RES}/{YYYY}/{MM}/{DD}/hour={HH}/data.parquet`).
    Export(export::ExportArgs),
    /// What a log directory holds: segments, record counts per kind, time spans, torn tails.
    ///
    /// Exits 1 when a segment is damaged or has a torn tail.
    Inspect(inspect::InspectArgs),
    /// Benchmarks on real recordings.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Replay throughput in venue messages/s and level updates/s: from a log (book + all
    /// features + bars) and straight from the raw capture (parsing included).
    Throughput(bench_throughput::ThroughputArgs),
    /// End-to-end latency on loopback: the mock exchange serves real frames (the shared
    /// BTCUSDT recording, or `--input`) or the simulated market over its websocket, through
    /// the live client, parser, engine and an executor thread on the feature ring (or only the
    /// engine's callback, `--executor callback`); p50/p90/p99/p99.9/max per stage and frames/s.
    Latency(bench_latency::LatencyArgs),
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// Capture file(s), or one log directory.
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
    /// Capture file(s), or one log directory.
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
        Command::Demo(args) => demo::run(&args),
        Command::Live(args) => live::run(&args),
        Command::Mock(args) => demo::serve_mock(&args),
        Command::Replay(args) => replay(&args),
        Command::Verify(args) => verify(&args),
        Command::Import(args) => import::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Bench(BenchCommand::Throughput(args)) => bench_throughput::run(&args),
        Command::Bench(BenchCommand::Latency(args)) => bench_latency::run(&args),
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

fn open_source(inputs: &[PathBuf]) -> Result<Source> {
    Source::open(inputs).context("opening the input")
}

/// `--bars`: the resolutions in milliseconds.
fn bar_resolutions(bars: &[String]) -> Result<Vec<i64>> {
    bars.iter()
        .map(|s| csv::parse_resolution(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)
        .context("reading --bars")
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

/// Runs `source` through `pipeline` into `sink` with a progress bar, folding every feature
/// output into the digest on the way; returns the number of bad lines and the sink.
fn drive_with_digest<S: Driven>(
    source: &mut Source,
    pipeline: &mut Pipeline,
    sink: S,
) -> (u64, outputs::WithDigest<S>) {
    let mut sink = progress::WithProgress::new(
        outputs::WithDigest::new(sink),
        progress::bar(source.total_records(), "records"),
    );
    let bad = sources::drive_source(source, pipeline, &mut sink);
    (bad, sink.finish())
}

fn replay(args: &ReplayArgs) -> Result<ExitCode> {
    let bars = bar_resolutions(&args.bars)?;
    let mut source = open_source(&args.inputs)?;
    let started = Instant::now();
    let mut summary = Vec::new();
    let (bad, digest) = match args.emit {
        Emit::Events => (emit_events(&mut source, &args.out, &mut summary)?, None),
        Emit::BookTop => {
            let mut pipeline = pipeline(&[])?;
            let writer = book_top::BookTopWriter::new(open_out(&args.out)?)?;
            let (bad, sink) = drive_with_digest(&mut source, &mut pipeline, writer);
            let rows = sink.inner.finish().context("writing the output")?;
            writeln!(summary, "book-top rows: {rows}")?;
            (bad, Some(sink.digest))
        }
        Emit::Features => {
            let mut pipeline = pipeline(&[])?;
            let writer = outputs::FeaturesWriter::new(open_out(&args.out)?)?;
            let (bad, sink) = drive_with_digest(&mut source, &mut pipeline, writer);
            let rows = sink.inner.finish().context("writing the output")?;
            writeln!(summary, "feature rows: {rows}")?;
            (bad, Some(sink.digest))
        }
        Emit::Bars => {
            if is_stdout(&args.out) {
                bail!("--emit bars writes a folder: give it with --out DIR");
            }
            let mut pipeline = pipeline(&bars)?;
            let writer = outputs::BarsWriter::new(args.out.clone(), bars.clone())
                .with_context(|| format!("creating {}", args.out.display()))?;
            let (bad, sink) = drive_with_digest(&mut source, &mut pipeline, writer);
            let (files, written) = sink.inner.finish().context("writing the bars")?;
            writeln!(
                summary,
                "bars: {written} in {files} files under {}",
                args.out.display()
            )?;
            (bad, Some(sink.digest))
        }
    };
    let elapsed = started.elapsed();
    let mut report: Box<dyn Write> = if is_stdout(&args.out) {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    };
    report.write_all(&summary)?;
    writeln!(report, "{}", sources::read_summary(&source, elapsed, bad))?;
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
fn emit_events(source: &mut Source, out: &Path, summary: &mut Vec<u8>) -> Result<u64> {
    let mut writer = open_out(out)?;
    let mut per_kind = [0u64; EventKind::ALL.len()];
    let mut bad = 0u64;
    let mut error = None;
    let bar = progress::bar(source.total_records(), "messages");
    source.for_each_message(|next| match next {
        Ok(message) => {
            if error.is_none()
                && let Err(e) = emit_events::write_messages(&mut writer, message, &mut per_kind)
            {
                error = Some(e);
            }
            bar.inc(message.events.len() as u64);
        }
        Err(e) => {
            bad += 1;
            drive::report_bad_line(bad, &e);
        }
    });
    bar.finish_and_clear();
    if let Some(e) = error {
        return Err(e).context("writing the output");
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
    let mut verifier = progress::WithProgress::new(
        verify::Verifier::default(),
        progress::bar(source.total_records(), "records"),
    );
    let bad = sources::drive_source(&mut source, &mut pipeline, &mut verifier);
    let verifier = verifier.finish();
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
