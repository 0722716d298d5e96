//! An executor linking the engine: a strategy on the engine thread reads the microprice and
//! the order-book imbalance after every event and prints one line per second (of exchange
//! time), while the executor's own thread polls the [`FeatureReader`] and asks for a graceful
//! shutdown after a number of seconds.
//!
//! ```text
//! cargo run --release -p orderflow-engine --example executor -- [CAPTURE] [SECONDS]
//! ```
//!
//! `CAPTURE` defaults to the shared BTCUSDT recording, `SECONDS` to 20. With `RECORD_DIR` set
//! the input is also recorded there.

use std::path::PathBuf;
use std::time::Duration;

use orderflow_core::{EventSink, SymbolId};
use orderflow_engine::{Engine, EventSource, SourcePoll, Strategy, StrategyContext, UpdateKind};
use orderflow_features::Bar;
use orderflow_replay::{BadInput, CaptureSource};

/// A raw capture as an [`EventSource`]: one venue message per poll.
struct Capture(CaptureSource);

impl EventSource for Capture {
    type Error = BadInput;

    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, BadInput> {
        match self.0.next_events() {
            None => Ok(SourcePoll::End),
            Some(Err(e)) => Err(e),
            Some(Ok(message)) => {
                for e in message.events {
                    out.push(*e);
                }
                Ok(SourcePoll::Ready)
            }
        }
    }
}

/// Tracks the microprice against the mid and the 5-level imbalance over each second.
#[derive(Default)]
struct MicropriceWatch {
    updates: u64,
    microprice: f64,
    mid: f64,
    imbalance_sum: f64,
    imbalance_n: u64,
}

impl Strategy for MicropriceWatch {
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        let f = ctx.features;
        self.updates += 1;
        if f.synced && f.microprice.is_finite() {
            self.microprice = f.microprice;
            self.mid = f.mid;
        }
        if f.imbalance_5.is_finite() {
            self.imbalance_sum += f.imbalance_5;
            self.imbalance_n += 1;
        }
    }

    fn on_bar(&mut self, _symbol: SymbolId, bar: &Bar) {
        if bar.resolution_ms != 1_000 {
            return;
        }
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let imbalance = self.imbalance_sum / self.imbalance_n.max(1) as f64;
        println!(
            "{} updates={:>5} trades={:>4} microprice={:.2} (mid {:+.3}) imbalance_5={:+.3}",
            bar.timestamp_ms / 1_000,
            self.updates,
            bar.trade_count,
            self.microprice,
            self.microprice - self.mid,
            imbalance,
        );
        self.updates = 0;
        self.imbalance_sum = 0.0;
        self.imbalance_n = 0;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let capture = args.next().map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data/binance-usdm/btcusdt_20240808.gz"
            ))
        },
        PathBuf::from,
    );
    let seconds: u64 = args.next().map_or(Ok(20), |s| s.parse())?;

    let mut builder = Engine::builder()
        .symbols(["BTCUSDT"])
        .bars([Duration::from_secs(1), Duration::from_secs(60)]);
    if let Some(dir) = std::env::var_os("RECORD_DIR") {
        builder = builder.record_to(PathBuf::from(dir));
    }
    let engine = builder.build()?;
    let source = Capture(CaptureSource::open(&[capture])?);
    let mut handle = engine.spawn(source, MicropriceWatch::default())?;

    // The executor's own thread: poll the features, stop after `seconds` one-second bars.
    let mut reader = handle.take_reader().ok_or("reader already taken")?;
    let mut bars = 0u64;
    let mut updates = 0u64;
    while let Some(update) = reader.next() {
        updates += 1;
        if let UpdateKind::Bar(bar) = update.kind
            && bar.resolution_ms == 1_000
        {
            bars += 1;
            if bars == seconds {
                break;
            }
        }
    }
    // Dropping the reader publishes its latency histograms and stops the executor ring.
    drop(reader);
    // Graceful shutdown: stop reading, process and record what is in flight.
    let finished = handle.shutdown()?;
    println!(
        "\nexecutor thread read {updates} updates\n{}",
        finished.report
    );
    finished.report.check()?;
    Ok(())
}
