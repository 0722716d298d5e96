//! `orderflow bench latency`: end-to-end latency on loopback (DESIGN.md section 7).
//!
//! The mock exchange serves real frames from a raw capture (the shared BTCUSDT recording when
//! it is found, or `--input`) at a fixed rate, or the seeded simulated market when there is
//! none, over its websocket. The live client reads them, the engine runs books and features,
//! and an executor thread reads the feature ring: every stage the engine measures is reported
//! with p50/p90/p99/p99.9/max, plus frames per second. The clock starts when the client's
//! reader has the frame (after the kernel and the websocket decoder), so loopback
//! transport itself is not in the figures.
//!
//! `--executor` picks where the features are consumed: `thread` (default), an executor thread
//! polling the engine's feature ring (receive->executor is then the end to end), or `callback`,
//! the engine thread's own [`orderflow_engine::Strategy`] callback only, with no executor
//! thread (receive->features is then the end to end, and a core is left for the rest).
//!
//! `--pin` pins any of the feed, engine, executor and mock exchange threads to cores.
//!
//! `--wait` picks how the engine thread and the executor wait for the next item: `park` (the
//! engine's default, `SpinYieldPark`: an idle thread sleeps and pays a futex wake-up per
//! frame), `yield` (`SpinYield`: never sleeps, yields its core while idle) or `spin` (`Spin`:
//! burns two cores; only sensible with cores to spare).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use orderflow_engine::{Engine, WaitStrategy};
use orderflow_feed::live::{LiveConfig, LiveSource};
use orderflow_feed::mock::{MarketSpec, MockConfig, MockExchange, Pace, SimConfig};

use crate::live::{Tally, parse_duration, print_latency_table};
use crate::threads::{PinLayout, RunWith, WaitArgs, spawn_executor, start_pinned};

/// The shared BTCUSDT recording, relative to the repository root.
const SHARED_CAPTURE: &str = "../shared/data/binance-usdm/btcusdt_20240808.gz";

/// End-to-end latency: mock exchange → websocket → parser → engine → executor, on loopback.
#[derive(Debug, clap::Args)]
pub(crate) struct LatencyArgs {
    /// Raw capture to serve (default: the shared BTCUSDT recording if present, else the
    /// simulated market).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Serve the simulated market even if a recording is found.
    #[arg(long)]
    synthetic: bool,
    /// Frames per second for a capture; book events per second per symbol for the simulation.
    #[arg(long, default_value_t = 2_000.0)]
    rate: f64,
    /// How long to measure.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Symbols (a capture's symbols must be named: default btcusdt).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// Where the features are consumed: an executor thread polling the feature ring, or only
    /// the strategy callback on the engine thread (one thread fewer; receive->features is then
    /// the end to end).
    #[arg(long, value_enum, default_value_t = Executor::Thread)]
    executor: Executor,
    #[command(flatten)]
    wait: WaitArgs,
    /// Pin threads to cores, `THREAD=CORE` pairs comma separated, threads among `feed`,
    /// `engine`, `executor` and `mock` (the exchange). On 2 cores,
    /// `mock=0,feed=0,engine=1,executor=1` with `--wait yield` keeps the engine's side off the
    /// network's core; with `--executor callback`, `mock=0,feed=0,engine=1` gives the engine a
    /// core of its own. Default: no pinning.
    #[arg(long, value_name = "THREAD=CORE,...", value_parser = PinLayout::parse_bench)]
    pin: Option<PinLayout>,
}

/// Where `bench latency` consumes the features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Executor {
    /// An executor thread reads the engine's feature ring.
    Thread,
    /// Only the strategy callback on the engine thread; no executor thread.
    Callback,
}

pub(crate) fn run(args: &LatencyArgs) -> Result<ExitCode> {
    args.wait.run(args)
}

/// The command, generic over the wait strategy `--wait` chose.
impl RunWith for &LatencyArgs {
    type Output = ExitCode;

    fn run<W: WaitStrategy>(self, wait: W) -> Result<ExitCode> {
        let args = self;
        let pin = args.pin.clone().unwrap_or_default();
        let capture = if args.synthetic {
            None
        } else {
            args.input.clone().or_else(|| {
                Path::new(SHARED_CAPTURE)
                    .exists()
                    .then(|| SHARED_CAPTURE.into())
            })
        };
        let mut symbols: Vec<String> = args
            .symbols
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect();
        let market = match &capture {
            Some(path) => {
                if symbols.is_empty() {
                    symbols.push("BTCUSDT".to_owned());
                }
                MarketSpec::Capture {
                    paths: vec![path.clone()],
                    pace: Pace::Rate(args.rate),
                }
            }
            None => {
                if symbols.is_empty() {
                    symbols = vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()];
                }
                MarketSpec::Sim(SimConfig {
                    symbols: symbols.clone(),
                    ops_per_sec: args.rate,
                    diff_interval_ms: 0,
                    ..SimConfig::default()
                })
            }
        };
        // Built first: it enumerates the cores before any thread is pinned (a pinned thread
        // sees only its own core) and checks the feed's and the engine's.
        let engine = Engine::builder()
            .symbols(&symbols)
            .pin(pin.engine_threads())
            .wait(wait)
            .build()
            .context("configuring the engine")?;
        let cores = engine.cores().clone();
        if let Some(core) = pin.executor {
            if args.executor == Executor::Callback {
                bail!("--pin executor: there is no executor thread with --executor callback");
            }
            // Before anything starts; the mock's core is checked as it starts.
            cores.check(core).context("--pin executor")?;
        }
        let mock = start_pinned(&cores, pin.mock, "mock exchange", || {
            MockExchange::start(MockConfig {
                market,
                step: Duration::from_millis(1),
                ..MockConfig::default()
            })
        })?
        .context("starting the mock exchange")?;
        let mut config = LiveConfig::new(&symbols);
        config.ws_url = mock.ws_url();
        config.rest_url = mock.rest_url();
        config.depth_speed = "0ms".to_owned();
        config.trades = true;
        if capture.is_some() {
            // The shared recording holds depth, bookTicker and trades only.
            config.agg_trades = false;
            config.mark_price = false;
            config.liquidations = false;
            config.open_interest_every = None;
        }
        let source = LiveSource::start(config).context("starting the live feed")?;
        let monitor = source.monitor();
        let mut handle = engine
            .spawn(source, Tally::new(symbols.len()))
            .context("starting the engine")?;
        let executor = match args.executor {
            Executor::Thread => Some(spawn_executor(handle.take_reader(), &cores, pin.executor)?),
            Executor::Callback => {
                // Dropping the reader tells the engine not to publish.
                drop(handle.take_reader());
                None
            }
        };
        println!(
            "bench latency: {} over ws://loopback at {} {}, {} s, executor {:?}, wait {:?}{}",
            capture.as_ref().map_or_else(
                || format!("simulated market ({})", symbols.join(",")),
                |p| p.display().to_string()
            ),
            args.rate,
            if capture.is_some() {
                "frames/s"
            } else {
                "book events/s per symbol"
            },
            args.duration.as_secs_f64(),
            args.executor,
            args.wait.wait,
            args.pin
                .as_ref()
                .map_or_else(String::new, |p| format!(", pinned {p}"))
        );
        // Warm up (connect, first snapshot), then measure from a clean slate of frames.
        std::thread::sleep(Duration::from_secs(1));
        let frames_before = monitor.stats().frames;
        let started = Instant::now();
        while started.elapsed() < args.duration && (capture.is_none() || mock.is_running()) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let elapsed = started.elapsed();
        let frames = monitor.stats().frames - frames_before;
        let finished = handle.shutdown().context("stopping the engine")?;
        let report = finished.report;
        let consumed = match executor {
            Some(thread) => format!(
                "{} feature updates read by the executor",
                thread.join().unwrap_or(0)
            ),
            None => format!(
                "{} feature updates handed to the callback",
                report.pipeline.feature_events
            ),
        };
        print_latency_table(&report.latency);
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let rate = frames as f64 / elapsed.as_secs_f64().max(1e-9);
        println!(
            "{frames} frames in {:.1} s: {rate:.0} frames/s; {} events, {consumed}; {} parse errors",
            elapsed.as_secs_f64(),
            report.feed.events,
            monitor.stats().parse_errors
        );
        println!(
            "(whole run, warm-up included, in the table; receive = the client's read of the frame)"
        );
        Ok(ExitCode::SUCCESS)
    }
}
