//! `orderflow live`: the live Binance feed through the engine, with a status line per symbol.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use orderflow_core::{Body, Event, StatusCode, SymbolId};
use orderflow_engine::{
    Engine, EngineReport, LatencyReport, Stage, Strategy, StrategyContext, WaitStrategy,
};
use orderflow_feed::live::{LiveConfig, LiveMonitor, LiveSource};

use crate::threads::{PinLayout, RunWith, WaitArgs};

/// Connect to Binance USD-M (or `--ws-url`/`--rest-url`), keep books and features, and
/// print a status line per symbol; Ctrl-C stops cleanly with a summary.
#[derive(Debug, clap::Args)]
pub(crate) struct LiveArgs {
    /// Symbols, comma separated (`btcusdt,ethusdt`).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Record every input and status event into a log directory (`DIR/YYYY-MM-DD/...`).
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Append every frame as a `<local_ns> <json>` line (snapshots included).
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// Websocket base URL (testnet: `wss://fstream.binancefuture.com`).
    #[arg(long, default_value = orderflow_feed::live::BINANCE_WS_URL)]
    ws_url: String,
    /// REST base URL (testnet: `https://demo-fapi.binance.com`).
    #[arg(long, default_value = orderflow_feed::live::BINANCE_REST_URL)]
    rest_url: String,
    /// Diff depth speed: 100ms, 250ms, 500ms or 0ms.
    #[arg(long, default_value = "100ms")]
    depth_speed: String,
    /// Also subscribe the individual `@trade` stream.
    #[arg(long)]
    trades: bool,
    /// Open interest poll interval (`0s` turns it off).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    open_interest_every: Duration,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Keep running even if the recorder dropped events (exit 0 anyway).
    #[arg(long)]
    allow_drop: bool,
    /// Pin threads to cores, `THREAD=CORE` pairs comma separated, threads among `feed`,
    /// `engine` and `recorder` (`--pin feed=0,engine=1`). Default: no pinning.
    #[arg(long, value_name = "THREAD=CORE,...", value_parser = PinLayout::parse_live)]
    pin: Option<PinLayout>,
    #[command(flatten)]
    wait: WaitArgs,
}

/// `500ms`, `10s`, `2m`, `1h`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = digits.parse().map_err(|_| format!("bad duration {s:?}"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3_600),
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    })
}

/// Per-symbol counters the engine thread updates and the status line reads.
#[derive(Debug, Default)]
pub(crate) struct SymbolTally {
    pub(crate) updates: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) synced: AtomicBool,
}

/// A [`Strategy`] that counts feature updates, gaps and resyncs per symbol.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    pub(crate) symbols: Arc<Vec<SymbolTally>>,
}

impl Tally {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            symbols: Arc::new((0..n).map(|_| SymbolTally::default()).collect()),
        }
    }

    fn get(&self, id: SymbolId) -> Option<&SymbolTally> {
        self.symbols.get(id.index())
    }
}

impl Strategy for Tally {
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        if let Some(t) = self.get(ctx.symbol) {
            // Relaxed: counters read by the status line only.
            t.updates.fetch_add(1, Ordering::Relaxed);
            t.synced.store(ctx.features.synced, Ordering::Relaxed);
        }
    }

    fn on_status(&mut self, status: &Event) {
        if let (Body::Status(s), Some(t)) = (status.body, self.get(status.symbol)) {
            match s.code {
                StatusCode::Gap => {
                    t.gaps.fetch_add(1, Ordering::Relaxed);
                    t.synced.store(false, Ordering::Relaxed);
                }
                StatusCode::Resynced => {
                    t.resyncs.fetch_add(1, Ordering::Relaxed);
                }
                StatusCode::Connected | StatusCode::Disconnected => {}
            }
        }
    }
}

/// Sets a flag on Ctrl-C (a small thread with its own tokio runtime for the signal).
pub(crate) fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    let _ = std::thread::Builder::new()
        .name("orderflow-signal".to_owned())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                f.store(true, Ordering::Release);
            }
        });
    flag
}

pub(crate) fn fmt_ns(ns: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "display")]
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

/// The status lines, one per symbol.
fn status_lines(
    names: &[String],
    tally: &Tally,
    last: &mut [u64],
    elapsed: Duration,
    p99: &str,
    monitor: &LiveMonitor,
) -> Vec<String> {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let live = monitor.stats();
    let mut lines = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some(t) = tally.symbols.get(i) else {
            continue;
        };
        let updates = t.updates.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let rate = (updates - last[i]) as f64 / secs;
        last[i] = updates;
        let state = if t.synced.load(Ordering::Relaxed) {
            "synced"
        } else {
            "resyncing"
        };
        lines.push(format!(
            "{name:<12} {rate:>8.0} updates/s  {state:<9}  gaps {:<4} resyncs {:<4} p99 receive->features {p99}",
            t.gaps.load(Ordering::Relaxed),
            t.resyncs.load(Ordering::Relaxed),
        ));
    }
    lines.push(format!(
        "connections {} up, {} reconnects, {} frames, {} parse errors, {} snapshots",
        live.connections_up, live.disconnects, live.frames, live.parse_errors, live.snapshots
    ));
    lines
}

/// The status line's p99 from frame read to features on the engine thread (`-` until the
/// first).
fn p99_receive_to_features(report: &LatencyReport) -> String {
    let h = report.get(Stage::ReceiveToFeatures);
    if h.is_empty() {
        return "-".to_owned();
    }
    fmt_ns(h.value_at_quantile(0.99))
}

/// Prints the latency table of `demo` and `bench latency`: p50/p90/p99/p99.9/max per stage
/// that has samples.
pub(crate) fn print_latency_table(latency: &LatencyReport) {
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "stage", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    for stage in Stage::ALL {
        let h = latency.get(stage);
        if h.is_empty() {
            continue;
        }
        println!(
            "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            stage.name(),
            h.len(),
            fmt_ns(h.value_at_quantile(0.5)),
            fmt_ns(h.value_at_quantile(0.9)),
            fmt_ns(h.value_at_quantile(0.99)),
            fmt_ns(h.value_at_quantile(0.999)),
            fmt_ns(h.max())
        );
    }
}

/// Prints the end-of-run summary shared by `live` and `demo`.
pub(crate) fn print_summary(report: &EngineReport, monitor: &LiveMonitor, with_latency: bool) {
    let text = report.to_string();
    for line in text
        .lines()
        .take_while(|l| with_latency || !l.starts_with("stage"))
    {
        println!("{line}");
    }
    let s = monitor.stats();
    println!(
        "live feed: {} connects, {} disconnects, {} rotations, {} frames, {} parse errors, {} snapshots ({} failed fetches), {} open-interest polls, {} silent streams",
        s.connects,
        s.disconnects,
        s.rotations,
        s.frames,
        s.parse_errors,
        s.snapshots,
        s.snapshot_failures,
        s.open_interest,
        s.silent_streams
    );
}

pub(crate) fn run(args: &LiveArgs) -> Result<ExitCode> {
    args.wait.run(args)
}

/// The command, generic over the wait strategy `--wait` chose.
impl RunWith for &LiveArgs {
    type Output = ExitCode;

    fn run<W: WaitStrategy>(self, wait: W) -> Result<ExitCode> {
        let args = self;
        let mut config = LiveConfig::new(&args.symbols);
        config.ws_url.clone_from(&args.ws_url);
        config.rest_url.clone_from(&args.rest_url);
        config.depth_speed.clone_from(&args.depth_speed);
        config.trades = args.trades;
        config.open_interest_every =
            (!args.open_interest_every.is_zero()).then_some(args.open_interest_every);
        config.capture.clone_from(&args.capture);
        let names = config.symbols.clone();
        // The engine first: a core `--pin` names that is missing stops the command before it
        // connects to anything.
        let mut builder = Engine::builder()
            .symbols(&names)
            .pin(
                args.pin
                    .as_ref()
                    .map(PinLayout::engine_threads)
                    .unwrap_or_default(),
            )
            .wait(wait);
        if let Some(dir) = &args.record {
            builder = builder.record_to(dir);
        }
        let engine = builder.build().context("configuring the engine")?;
        let source = LiveSource::start(config).context("starting the live feed")?;
        let monitor = source.monitor();
        let tally = Tally::new(names.len());
        let handle = engine
            .spawn(source, tally.clone())
            .context("starting the engine")?;
        let stop = ctrl_c_flag();
        let started = Instant::now();
        let terminal = std::io::stdout().is_terminal();
        let mut last = vec![0u64; names.len()];
        let mut printed = 0usize;
        let mut last_print = Instant::now();
        let every = if terminal {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        };
        eprintln!(
            "orderflow live: {} on {} (Ctrl-C to stop){}{}",
            names.join(","),
            args.ws_url,
            args.record.as_ref().map_or(String::new(), |d| format!(
                ", recording into {}",
                d.display()
            )),
            args.capture
                .as_ref()
                .map_or(String::new(), |f| format!(", capturing to {}", f.display()))
        );
        while !stop.load(Ordering::Acquire) && args.duration.is_none_or(|d| started.elapsed() < d) {
            std::thread::sleep(Duration::from_millis(100));
            if last_print.elapsed() < every {
                continue;
            }
            let elapsed = last_print.elapsed();
            last_print = Instant::now();
            let p99 = p99_receive_to_features(&handle.latency());
            let lines = status_lines(&names, &tally, &mut last, elapsed, &p99, &monitor);
            let mut out = std::io::stdout().lock();
            if terminal && printed > 0 {
                let _ = write!(out, "\x1b[{printed}A");
            }
            for line in &lines {
                if terminal {
                    let _ = write!(out, "\x1b[2K");
                }
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
            printed = lines.len();
        }
        eprintln!("stopping: draining the engine and closing the log...");
        let finished = handle.shutdown().context("stopping the engine")?;
        print_summary(&finished.report, &monitor, true);
        for m in monitor.messages() {
            println!("  {m}");
        }
        if let Err(e) = finished.report.check() {
            eprintln!("error: {e}");
            if !args.allow_drop {
                return Ok(ExitCode::FAILURE);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("1d").is_err() && parse_duration("s").is_err());
    }
}
