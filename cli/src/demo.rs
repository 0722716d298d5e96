//! `orderflow demo`: the whole system on loopback, no internet (DESIGN.md section 9).
//!
//! 1. Starts the mock exchange's simulated market on 127.0.0.1 (websocket and REST).
//! 2. Runs the live pipeline against it (the same `LiveSource` and engine as `orderflow live`),
//!    recording a log and a raw capture, with faults injected for most of the run (a dropped
//!    diff now and then, a connection cut every few seconds) and none for the last seconds.
//! 3. Replays the log and checks that the replay digest equals the live digest, that every book
//!    ends in sync and equal to the exchange's own book at the same update id, and that the raw
//!    capture replays without a bad line.
//! 4. Prints the latency table and a few features per symbol. Exits 0 only if everything agreed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use orderflow_core::{BookLevel, BookSide, BookView, SymbolId};
use orderflow_engine::Engine;
use orderflow_feed::live::{LiveConfig, LiveSource};
use orderflow_feed::mock::{Faults, MarketSpec, MockConfig, MockExchange, SimConfig, book_hash};
use orderflow_replay::Replay;

use crate::live::{Tally, parse_duration, print_latency_table, print_summary};
use crate::threads::spawn_executor;

/// Runs a simulated exchange on loopback, the live pipeline against it, then replays the
/// recording and checks that it reproduces the live run exactly.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// How long the live part runs (the last 3 s without faults).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    duration: Duration,
    #[command(flatten)]
    market: SimArgs,
    /// Keep the log (`DIR/log`) and the raw capture (`DIR/capture.txt`) here instead of in a
    /// temporary directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No injected faults.
    #[arg(long)]
    no_faults: bool,
}

/// The simulated market, for `demo` and `mock`.
#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Symbols of the simulated market.
    #[arg(long, value_delimiter = ',', default_value = "btcusdt,ethusdt")]
    symbols: Vec<String>,
    /// Seed of the simulated market and of its faults.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Book events per second per symbol in the simulated market.
    #[arg(long, default_value_t = 400.0)]
    rate: f64,
}

impl SimArgs {
    /// The symbols, upper-cased as Binance names them.
    fn names(&self) -> Vec<String> {
        self.symbols
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect()
    }

    fn config(&self) -> SimConfig {
        SimConfig {
            symbols: self.names(),
            seed: self.seed,
            ops_per_sec: self.rate,
            ..SimConfig::default()
        }
    }
}

/// What the checks found.
struct Verdict {
    ok: bool,
    lines: Vec<String>,
}

impl Verdict {
    fn check(&mut self, ok: bool, what: String) {
        self.ok &= ok;
        self.lines
            .push(format!("  [{}] {what}", if ok { "ok" } else { "FAILED" }));
    }
}

pub(crate) fn run(args: &DemoArgs) -> Result<ExitCode> {
    let calm = Duration::from_secs(3).min(args.duration / 2);
    let faulty = args.duration.saturating_sub(calm);
    let names = args.market.names();
    let faults = if args.no_faults {
        Faults::default()
    } else {
        Faults {
            drop_diff_prob: 0.01,
            disconnect_every: Some(Duration::from_secs(5)),
            ping_every: Some(Duration::from_secs(2)),
            pong_timeout: Duration::from_secs(5),
            ..Faults::default()
        }
    };
    let mock = MockExchange::start(MockConfig {
        market: MarketSpec::Sim(args.market.config()),
        faults: faults.clone(),
        keep_reference: true,
        ..MockConfig::default()
    })
    .context("starting the mock exchange")?;
    let temp;
    let dir = match &args.out {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let log_dir = dir.join("log");
    let capture = dir.join("capture.txt");
    let _ = std::fs::remove_file(&capture);
    println!(
        "orderflow demo: simulated Binance USD-M exchange at {} (REST {}), symbols {}",
        mock.ws_url(),
        mock.rest_url(),
        names.join(",")
    );
    println!(
        "  {} of live data{}, then {} calm; log {}, capture {}",
        fmt_duration(faulty),
        if args.no_faults {
            String::new()
        } else {
            " with faults (dropped diffs, a disconnect every ~5 s, pings)".to_owned()
        },
        fmt_duration(calm),
        log_dir.display(),
        capture.display()
    );

    let mut config = LiveConfig::new(&names);
    config.ws_url = mock.ws_url();
    config.rest_url = mock.rest_url();
    config.trades = true;
    config.open_interest_every = Some(Duration::from_secs(2));
    config.reconnect_min = Duration::from_millis(100);
    config.reconnect_max = Duration::from_secs(1);
    config.stall_timeout = Duration::from_secs(2);
    config.capture = Some(capture.clone());
    let source = LiveSource::start(config).context("starting the live feed")?;
    let monitor = source.monitor();
    let tally = Tally::new(names.len());
    let engine = Engine::builder()
        .symbols(&names)
        .record_to(&log_dir)
        .build()
        .context("configuring the engine")?;
    let cores = engine.cores().clone();
    let mut handle = engine
        .spawn(source, tally.clone())
        .context("starting the engine")?;
    let executor = spawn_executor(handle.take_reader(), &cores, None)?;
    let started = Instant::now();
    let mut calmed = false;
    let mut next_print = Duration::from_secs(5);
    while started.elapsed() < args.duration {
        std::thread::sleep(Duration::from_millis(250));
        if !calmed && started.elapsed() >= faulty {
            mock.set_faults(Faults::default());
            calmed = true;
        }
        if started.elapsed() >= next_print {
            next_print += Duration::from_secs(5);
            let secs = started.elapsed().as_secs();
            let s = monitor.stats();
            let gaps: u64 = tally
                .symbols
                .iter()
                .map(|t| t.gaps.load(Ordering::Relaxed))
                .sum();
            println!(
                "  t={secs:>3}s  frames {:>7}  reconnects {:>2}  gaps {gaps:>3}  snapshots {:>3}",
                s.frames, s.disconnects, s.snapshots
            );
        }
    }
    let finished = handle.shutdown().context("stopping the engine")?;
    let published = executor.join().unwrap_or(0);
    let report = finished.report;
    println!();
    print_summary(&report, &monitor, false);
    println!("executor read {published} feature updates");

    // ---- checks ----
    let mut verdict = Verdict {
        ok: true,
        lines: Vec::new(),
    };
    verdict.check(
        report.check().is_ok(),
        format!(
            "recorder: {} events appended, none dropped",
            report.recorder.as_ref().map_or(0, |r| r.appended)
        ),
    );
    let mut replay = Replay::open(&log_dir).context("opening the recorded log")?;
    let replayed = replay.run(&mut ());
    verdict.check(
        replayed.digest == report.digest,
        format!(
            "replay digest {:016x} == live digest {:016x} ({} feature records, {} bars)",
            replayed.digest.value(),
            report.digest.value(),
            report.digest.event_count(),
            report.digest.bar_count()
        ),
    );
    let mut levels = vec![BookLevel::default(); 8_192];
    let mut features_table = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let id = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
        let Some(book) = replay.pipeline().sync_book(id) else {
            verdict.check(false, format!("{name}: no book"));
            continue;
        };
        let Some(u) = book.last_update_id() else {
            verdict.check(false, format!("{name}: book not in sync at the end"));
            continue;
        };
        let mut side = |s| {
            let n = book.book().top_levels(s, &mut levels);
            levels[..n]
                .iter()
                .map(|l| (l.px.raw(), l.qty.raw()))
                .collect::<Vec<_>>()
        };
        let (bids, asks) = (side(BookSide::Bid), side(BookSide::Ask));
        let ours = book_hash(bids.iter().copied(), asks.iter().copied());
        let theirs = mock.reference_hash(name, u);
        verdict.check(
            theirs == Some(ours),
            format!(
                "{name}: book in sync at u={u}, {} bids / {} asks, equal to the exchange's book",
                bids.len(),
                asks.len()
            ),
        );
        if let Some(f) = replay.pipeline().features(id) {
            let f = f.features();
            features_table.push(format!(
                "{name:<10} {:>12} {:>12} {:>14.4} {:>8.3} {:>10.5} {:>10.3} {:>12} {:>12} {:>11}",
                f.best_bid.to_string(),
                f.best_ask.to_string(),
                f.microprice,
                f.spread_bps,
                f.imbalance_5,
                f.cvd.to_string().parse::<f64>().unwrap_or(f64::NAN),
                f.last_trade_px.to_string(),
                f.mark_px.to_string(),
                f.funding_rate.to_string(),
            ));
        }
    }
    let gaps: u64 = tally
        .symbols
        .iter()
        .map(|t| t.gaps.load(Ordering::Relaxed))
        .sum();
    let resyncs: u64 = tally
        .symbols
        .iter()
        .map(|t| t.resyncs.load(Ordering::Relaxed))
        .sum();
    verdict.check(
        true,
        format!(
            "{gaps} gaps and {} reconnects during the run, {resyncs} resyncs (first syncs included)",
            monitor.stats().disconnects
        ),
    );
    let capture_report = Replay::open(&capture)
        .context("opening the raw capture")?
        .run(&mut ());
    verdict.check(
        capture_report.counts.bad_inputs == 0 && capture_report.counts.messages > 0,
        format!(
            "raw capture replays: {} venue messages, {} bad lines",
            capture_report.counts.messages, capture_report.counts.bad_inputs
        ),
    );

    println!("\nlatency (ns from the frame's read to each stage, this machine, loopback):");
    print_latency_table(&report.latency);
    println!("\nfeatures at the end (replayed):");
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>8} {:>10} {:>10} {:>12} {:>12} {:>11}",
        "symbol",
        "best_bid",
        "best_ask",
        "microprice",
        "spr_bps",
        "imbal_5",
        "cvd",
        "last_trade",
        "mark",
        "funding"
    );
    for line in &features_table {
        println!("{line}");
    }
    println!("\nchecks:");
    for line in &verdict.lines {
        println!("{line}");
    }
    if verdict.ok {
        println!("demo: OK (live and replay agree)");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("demo: FAILED");
        Ok(ExitCode::FAILURE)
    }
}

fn fmt_duration(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Serves the simulated exchange on 127.0.0.1 until Ctrl-C or `--duration`, for trying
/// `orderflow live --ws-url ... --rest-url ...` by hand.
#[derive(Debug, clap::Args)]
pub(crate) struct MockArgs {
    #[command(flatten)]
    market: SimArgs,
    /// Cut every connection after about this long.
    #[arg(long, value_parser = parse_duration)]
    disconnect_every: Option<Duration>,
    /// Chance a depth diff is dropped.
    #[arg(long, default_value_t = 0.0)]
    drop_diff_prob: f64,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
}

pub(crate) fn serve_mock(args: &MockArgs) -> Result<ExitCode> {
    let mock = MockExchange::start(MockConfig {
        market: MarketSpec::Sim(args.market.config()),
        faults: Faults {
            drop_diff_prob: args.drop_diff_prob,
            disconnect_every: args.disconnect_every,
            ..Faults::default()
        },
        ..MockConfig::default()
    })
    .context("starting the mock exchange")?;
    println!(
        "mock exchange: --ws-url {} --rest-url {} (symbols {})",
        mock.ws_url(),
        mock.rest_url(),
        args.market.symbols.join(",")
    );
    let stop = crate::live::ctrl_c_flag();
    let started = Instant::now();
    while !stop.load(Ordering::Acquire) && args.duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("{:?}", mock.stats());
    Ok(ExitCode::SUCCESS)
}
