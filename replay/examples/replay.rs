//! Replays a log directory or capture file under a small strategy and prints the report.
//!
//! `cargo run --release -p orderflow-replay --example replay -- INPUT [PASSES]`

use std::process::ExitCode;

use orderflow_core::SymbolId;
use orderflow_features::Bar;
use orderflow_replay::{Replay, Strategy, StrategyContext};

/// Counts one-minute bars and the trades that came with a wide spread.
#[derive(Debug, Default)]
struct Example {
    minute_bars: u64,
    wide_spread_events: u64,
}

impl Strategy for Example {
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        if ctx.features.synced && ctx.features.spread_bps > 1.0 && ctx.book.best_bid().is_some() {
            self.wide_spread_events += 1;
        }
    }

    fn on_bar(&mut self, _: SymbolId, bar: &Bar) {
        self.minute_bars += u64::from(bar.resolution_ms == 60_000);
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(input) = args.next() else {
        eprintln!("usage: replay INPUT [PASSES]");
        return ExitCode::from(2);
    };
    let passes: u32 = args.next().and_then(|p| p.parse().ok()).unwrap_or(1);
    for _ in 0..passes {
        let mut replay = match Replay::open(&input) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let mut strategy = Example::default();
        let report = replay.run(&mut strategy);
        println!(
            "{} messages, {} level updates in {:.2} ms: {:.2} M messages/s; digest {:016x}; {strategy:?}",
            report.counts.messages,
            report.counts.level_updates,
            report.elapsed.as_secs_f64() * 1e3,
            report.messages_per_sec() / 1e6,
            report.digest.value(),
        );
        for bad in &report.bad_inputs {
            eprintln!("bad input: {bad}");
        }
    }
    ExitCode::SUCCESS
}
