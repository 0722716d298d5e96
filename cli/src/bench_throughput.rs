//! `orderflow bench throughput`: replay throughput on real recordings (DESIGN.md section 7).
//!
//! Each capture is imported into a temporary log, then replayed again and again until the
//! measurement has run for `--seconds`:
//! - from the log through book + all features + bars (the `Replay` API with no strategy);
//! - from the log through books only (features disabled), and reading the log alone, to show
//!   where the time goes;
//! - straight from the capture, parsing included: from an uncompressed copy (in the page cache),
//!   and, for a gzip capture, from the file itself (gunzip included).
//!
//! Throughput is counted in venue messages (records flagged `LAST`: a depth diff counts once,
//! whatever its levels) and, beside it, in depth level updates. Each pass starts from a fresh
//! pipeline; the figures are the median and the best pass. Opening (validating) the log is
//! timed apart. Every pass must give the same feature digest, and the log the capture's.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use orderflow_engine::PipelineConfig;
use orderflow_features::FeatureDigest;
use orderflow_replay::import::{ImportOptions, LogImporter, import_into, open_import_inputs};
use orderflow_replay::{Input, LogSource, Replay, ReplayReport, Source};

#[derive(Debug, clap::Args)]
pub(crate) struct ThroughputArgs {
    /// Capture files, each measured on its own (a cryptofeed ws file brings its snapshot
    /// files). Default: the shared recordings under `shared/data` or `../shared/data`.
    #[arg(value_name = "CAPTURE")]
    inputs: Vec<PathBuf>,
    /// Seconds of repeated passes per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Measure only the replays from the log, or only those from the capture (to profile one
    /// path with `perf record`). Default: both.
    #[arg(long, value_enum)]
    only: Option<Only>,
}

/// One half of the measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    /// From the log: book + features + bars, books only, read only.
    Log,
    /// From the capture, parsing included.
    Capture,
}

const DEFAULT_INPUTS: [&str; 2] = [
    "binance-usdm/btcusdt_20240808.gz",
    "binance-usdm/cryptofeed-2021-07-22/BINANCE_FUTURES.ws.1.0",
];

fn default_inputs() -> Vec<PathBuf> {
    for root in ["shared/data", "../shared/data", "../../shared/data"] {
        let found: Vec<PathBuf> = DEFAULT_INPUTS
            .iter()
            .map(|f| Path::new(root).join(f))
            .filter(|p| p.is_file())
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Per-pass rates of one measurement.
struct Passes {
    messages: u64,
    levels: u64,
    times: Vec<Duration>,
    digest: Option<FeatureDigest>,
}

impl Passes {
    fn new() -> Self {
        Self {
            messages: 0,
            levels: 0,
            times: Vec::new(),
            digest: None,
        }
    }

    fn add(&mut self, messages: u64, levels: u64, elapsed: Duration) {
        self.messages = messages;
        self.levels = levels;
        self.times.push(elapsed);
    }

    fn add_report(&mut self, report: &ReplayReport) -> Result<()> {
        if let Some(d) = self.digest
            && d != report.digest
        {
            bail!("two passes gave different feature digests");
        }
        self.digest = Some(report.digest);
        self.add(
            report.counts.messages,
            report.counts.level_updates,
            report.elapsed,
        );
        Ok(())
    }

    fn total(&self) -> Duration {
        self.times.iter().sum()
    }

    /// `(median, best)` pass time.
    fn median_best(&self) -> (Duration, Duration) {
        let mut t = self.times.clone();
        t.sort();
        let median = t.get(t.len() / 2).copied().unwrap_or_default();
        let best = t.first().copied().unwrap_or_default();
        (median, best)
    }

    fn row(&self, what: &str) -> String {
        let (median, best) = self.median_best();
        format!(
            "| {what} | {} | {:.2} M ({:.2} M best) | {:.2} M | {:.0} |",
            self.times.len(),
            millions_per_sec(self.messages, median),
            millions_per_sec(self.messages, best),
            millions_per_sec(self.levels, median),
            median.as_nanos() as f64 / self.messages.max(1) as f64,
        )
    }
}

/// `n` items in `t`, in millions per second.
fn millions_per_sec(n: u64, t: Duration) -> f64 {
    n as f64 / t.as_secs_f64().max(1e-12) / 1e6
}

/// Runs `pass` until `seconds` of passes have been timed (at least 3 passes).
fn repeat(seconds: f64, mut pass: impl FnMut(&mut Passes) -> Result<()>) -> Result<Passes> {
    let mut passes = Passes::new();
    while passes.times.len() < 3 || passes.total().as_secs_f64() < seconds {
        pass(&mut passes)?;
    }
    Ok(passes)
}

fn replay_pass(input: &Path, config: PipelineConfig, passes: &mut Passes) -> Result<()> {
    let mut replay = Replay::open_inputs(&[input.to_path_buf()], config)
        .with_context(|| format!("opening {}", input.display()))?;
    let report = replay.run(&mut ());
    if report.counts.bad_inputs > 0 {
        bail!(
            "{} bad inputs in {}",
            report.counts.bad_inputs,
            input.display()
        );
    }
    passes.add_report(&report)
}

/// Copies `gz` uncompressed to `to`.
fn gunzip(gz: &Path, to: &Path) -> Result<()> {
    let mut input = orderflow_feed::capture::open_maybe_gzip(gz)
        .with_context(|| format!("opening {}", gz.display()))?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?,
    );
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        out.write_all(buf)?;
        let n = buf.len();
        input.consume(n);
    }
    out.flush()?;
    Ok(())
}

fn is_gzip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut file = std::fs::File::open(path)?;
    Ok(std::io::Read::read(&mut file, &mut magic)? == 2 && magic == [0x1f, 0x8b])
}

/// The rows measured from the log made of one capture.
struct LogRows {
    /// Records in the log.
    records: u64,
    import_time: Duration,
    /// Book + features + bars.
    full: Passes,
    books_only: Passes,
    read_only: Passes,
    /// Median time to open (validate) the log.
    open: Duration,
}

/// The rows measured straight from one capture.
struct CaptureRows {
    /// From the capture as it is, or from an uncompressed copy of a gzip capture.
    plain: Passes,
    /// From the gzip file itself, gunzip included.
    gzip: Option<Passes>,
}

fn measure(capture: &Path, seconds: f64, only: Option<Only>) -> Result<()> {
    let dir = tempfile::tempdir().context("making a temporary folder")?;
    let log = (only != Some(Only::Capture))
        .then(|| measure_log(capture, &dir.path().join("log"), seconds))
        .transpose()?;
    let from_capture = (only != Some(Only::Log))
        .then(|| measure_capture(capture, dir.path(), seconds))
        .transpose()?;
    print_measured(capture, log.as_ref(), from_capture.as_ref())
}

/// Imports `capture` into a log at `log`, then replays it: book + features + bars, books only,
/// read only, and opens it each pass.
fn measure_log(capture: &Path, log: &Path, seconds: f64) -> Result<LogRows> {
    let started = Instant::now();
    let options = ImportOptions::default();
    let mut inputs = open_import_inputs(&[capture.to_path_buf()], None, &options)?;
    let mut importer = LogImporter::create(log, options)?;
    import_into(&mut importer, &mut inputs, &mut |_| {}, &mut |_| {})?;
    let imported = importer.finish()?;
    let import_time = started.elapsed();

    let full = PipelineConfig::default();
    let books_only = PipelineConfig {
        features_disabled: true,
        ..PipelineConfig::default()
    };
    let mut open_times = Vec::new();
    let from_log = repeat(seconds, |p| {
        let t = Instant::now();
        let source = LogSource::open(log)?;
        open_times.push(t.elapsed());
        let mut replay = Replay::new(Source::Log(source), full.clone())?;
        p.add_report(&replay.run(&mut ()))
    })?;
    let log_books = repeat(seconds / 2.0, |p| replay_pass(log, books_only.clone(), p))?;
    let log_read = repeat(seconds / 2.0, |p| {
        let mut source = LogSource::open(log)?;
        let (mut messages, mut levels) = (0u64, 0u64);
        let t = Instant::now();
        // What the replay's loop reads: levels as `Input::Level`, other records as events.
        source.for_each_input(
            |input| {
                // Keeps the whole record alive, so the decode is not optimised away.
                let input = std::hint::black_box(input);
                messages += u64::from(input.is_last());
                levels += u64::from(matches!(input, Input::Level(_)));
            },
            |_| {},
        );
        p.add(messages, levels, t.elapsed());
        Ok(())
    })?;
    open_times.sort();
    let open = open_times
        .get(open_times.len() / 2)
        .copied()
        .unwrap_or_default();
    Ok(LogRows {
        records: imported.records,
        import_time,
        full: from_log,
        books_only: log_books,
        read_only: log_read,
        open,
    })
}

/// Straight from the capture: an uncompressed copy in `tmp`, and the gzip file itself.
fn measure_capture(capture: &Path, tmp: &Path, seconds: f64) -> Result<CaptureRows> {
    let full = PipelineConfig::default();
    let gzip = is_gzip(capture)?;
    let plain = if gzip {
        let plain = tmp.join("capture.txt");
        gunzip(capture, &plain)?;
        plain
    } else {
        capture.to_path_buf()
    };
    let from_plain = repeat(seconds, |p| replay_pass(&plain, full.clone(), p))?;
    let from_gzip = if gzip {
        Some(repeat(seconds, |p| replay_pass(capture, full.clone(), p))?)
    } else {
        None
    };
    Ok(CaptureRows {
        plain: from_plain,
        gzip: from_gzip,
    })
}

fn print_measured(
    capture: &Path,
    log: Option<&LogRows>,
    from_capture: Option<&CaptureRows>,
) -> Result<()> {
    let (log_digest, capture_digest) = (
        log.and_then(|l| l.full.digest),
        from_capture.and_then(|c| c.plain.digest),
    );
    if let (Some(a), Some(b)) = (log_digest, capture_digest)
        && a != b
    {
        bail!("the log and the capture replay to different digests");
    }
    // Every measurement replays the same messages: the first one names the counts.
    let Some(first) = log.map(|l| &l.full).or(from_capture.map(|c| &c.plain)) else {
        return Ok(());
    };
    print!(
        "\n{}: {} messages, {} level updates",
        capture.display(),
        first.messages,
        first.levels
    );
    match log {
        Some(l) => println!(", {} records per pass", l.records),
        None => println!(),
    }
    println!("| replay | passes | messages/s (median pass) | level updates/s | ns/message |");
    println!("|---|---|---|---|---|");
    if let Some(l) = log {
        println!("{}", l.full.row("log → book + all features + bars"));
        println!("{}", l.books_only.row("log → books only (features off)"));
        println!(
            "{}",
            l.read_only.row("log read only (records → replay inputs)")
        );
    }
    if let Some(c) = from_capture {
        println!(
            "{}",
            c.plain.row(if c.gzip.is_some() {
                "capture (uncompressed copy) → parse + book + features + bars"
            } else {
                "capture → parse + book + features + bars"
            })
        );
        if let Some(gz) = &c.gzip {
            println!(
                "{}",
                gz.row("capture (gzip file) → gunzip + parse + book + features + bars")
            );
        }
    }
    if let Some(l) = log {
        let (median, _) = l.full.median_best();
        println!(
            "log open + validation: {:.2} ms per pass ({:.1} M records/s; the first row with \
             the open counted: {:.2} M messages/s); import: {:.2} s",
            l.open.as_secs_f64() * 1e3,
            millions_per_sec(l.records, l.open),
            millions_per_sec(l.full.messages, median + l.open),
            l.import_time.as_secs_f64(),
        );
    }
    println!(
        "feature digest {:016x} on every pass{}",
        first.digest.map_or(0, |d| d.value()),
        if log.is_some() && from_capture.is_some() {
            ", log and capture alike"
        } else {
            ""
        }
    );
    Ok(())
}

pub(crate) fn run(args: &ThroughputArgs) -> Result<ExitCode> {
    let inputs = if args.inputs.is_empty() {
        default_inputs()
    } else {
        args.inputs.clone()
    };
    if inputs.is_empty() {
        bail!(
            "no recording found under shared/data or ../shared/data: pass capture files, e.g. \
             orderflow bench throughput ../shared/data/binance-usdm/btcusdt_20240808.gz"
        );
    }
    if cfg!(debug_assertions) {
        println!("warning: a debug build; measure with `cargo run --release -p orderflow-cli`");
    }
    for input in &inputs {
        measure(input, args.seconds, args.only)
            .with_context(|| format!("measuring {}", input.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
