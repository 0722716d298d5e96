//! What an idle gap before a depth diff costs the engine's work on it.
//!
//! `orderflow bench latency` reports 7 to 17 us p50 from a depth diff parsed to the diff
//! applied (parsed->applied, pinned layouts), where diffs applied back to back, as a replay
//! applies them, take 1 to 2 us p50 here. Between two live frames the engine thread waits;
//! this bench measures what that wait costs the next diff, on one thread and without a ring.
//!
//! The first messages of the BTCUSDT recording run through a [`Pipeline`] (book and every
//! feature) until the book is synced; then each of the next depth diffs is timed on its own
//! (every record of its message, features included), after the thread has waited [`GAP`]
//! (one frame's time at `bench latency`'s default 2,000 frames/s) in one of four ways:
//!
//! - `none`: no wait, diff after diff: the replay's steady state;
//! - `spin`: a busy loop on the clock, as `--wait spin` waits;
//! - `yield`: `sched_yield` in a loop, as `--wait yield`;
//! - `sleep`: `thread::sleep`, as a parked thread (`--wait park`, the default).
//!
//! Messages between the timed diffs (trades, book tickers) run without a wait. The modes take
//! turns over [`ROUNDS`] rounds, each on a fresh pipeline, and the output is p50/p90/p99 ns per
//! diff and the mean ns per record, per round. Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --bench idle_gap
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use orderflow_book::NoopRequester;
use orderflow_core::{Body, Event};
use orderflow_engine::{Pipeline, PipelineConfig};
use orderflow_replay::CaptureSource;

/// The wait before each timed diff.
const GAP: Duration = Duration::from_micros(500);
/// Messages run before timing starts (the book syncs on the recording's first snapshot).
const WARM_UP_MESSAGES: usize = 2_000;
/// Diffs timed per mode and round.
const TIMED_DIFFS: usize = 2_000;
const ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug)]
enum Wait {
    None,
    Spin,
    Yield,
    Sleep,
}

impl Wait {
    const ALL: [Self; 4] = [Self::None, Self::Spin, Self::Yield, Self::Sleep];

    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Spin => "spin",
            Self::Yield => "yield",
            Self::Sleep => "sleep",
        }
    }

    fn wait(self) {
        let start = Instant::now();
        match self {
            Self::None => {}
            Self::Spin => {
                while start.elapsed() < GAP {
                    std::hint::spin_loop();
                }
            }
            Self::Yield => {
                while start.elapsed() < GAP {
                    std::thread::yield_now();
                }
            }
            Self::Sleep => std::thread::sleep(GAP),
        }
    }
}

/// The recording's messages, as many as the warm-up and the timed diffs need.
fn load() -> Result<Vec<Vec<Event>>, String> {
    let path = orderflow_benches::frames::data_dir().join("btcusdt_20240808.gz");
    let mut source = CaptureSource::open(std::slice::from_ref(&path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut messages = Vec::new();
    let mut diffs = 0;
    while diffs < TIMED_DIFFS {
        match source.next_events() {
            Some(Ok(m)) => {
                if messages.len() >= WARM_UP_MESSAGES && is_diff(m.events) {
                    diffs += 1;
                }
                messages.push(m.events.to_vec());
            }
            Some(Err(_)) => {}
            None => return Err(format!("{}: too few depth diffs", path.display())),
        }
    }
    Ok(messages)
}

fn is_diff(message: &[Event]) -> bool {
    matches!(message.first().map(|e| &e.body), Some(Body::DepthDiff(_)))
}

/// Per-diff times in ns, and the records they covered.
fn run(messages: &[Vec<Event>], wait: Wait) -> (Vec<u64>, usize) {
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    let mut times = Vec::with_capacity(TIMED_DIFFS);
    let mut records = 0;
    for (i, message) in messages.iter().enumerate() {
        let timed = i >= WARM_UP_MESSAGES && is_diff(message);
        if timed {
            wait.wait();
        }
        let start = Instant::now();
        for event in message {
            pipeline.on_event(black_box(event), &mut NoopRequester, &mut ());
        }
        let elapsed = start.elapsed();
        if timed {
            times.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
            records += message.len();
        }
    }
    black_box(&pipeline);
    times.sort_unstable();
    (times, records)
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short slice"
    )]
    let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn main() {
    // As a libtest harness would: `--list` names the bench, and a filter that does not match
    // its name (`cargo bench -- ring_hop` over the workspace) skips it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("idle_gap: bench");
        return;
    }
    if let Some(filter) = args.iter().find(|a| !a.starts_with('-'))
        && !"idle_gap".contains(filter.as_str())
    {
        return;
    }
    let messages = match load() {
        Ok(m) => m,
        Err(e) => {
            println!("idle_gap: skipped, the BTCUSDT recording is needed: {e}");
            return;
        }
    };
    println!(
        "idle_gap: {TIMED_DIFFS} depth diffs of the BTCUSDT recording, each after a {} us wait",
        GAP.as_micros()
    );
    println!(
        "{:<6} {:>6} {:>10} {:>10} {:>10} {:>14}",
        "round", "wait", "p50 ns", "p90 ns", "p99 ns", "mean ns/record"
    );
    for round in 1..=ROUNDS {
        for wait in Wait::ALL {
            let (times, records) = run(&messages, wait);
            #[allow(clippy::cast_precision_loss, reason = "a mean")]
            let per_record = times.iter().sum::<u64>() as f64 / records.max(1) as f64;
            println!(
                "{round:<6} {:>6} {:>10} {:>10} {:>10} {per_record:>14.1}",
                wait.name(),
                quantile(&times, 0.5),
                quantile(&times, 0.9),
                quantile(&times, 0.99),
            );
        }
    }
}
