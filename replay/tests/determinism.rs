//! Determinism on the shared real recordings (skipped with a printed reason when absent):
//! the same input gives the same digest on every run, and a log imported from a capture
//! replays to the digest of the capture itself.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

use std::path::{Path, PathBuf};

use orderflow_core::{Event, EventKind, SymbolId};
use orderflow_features::Bar;
use orderflow_recorder::LogReader;
use orderflow_replay::import::{ImportOptions, LogImporter, import_into, open_import_inputs};
use orderflow_replay::{InputKind, Replay, ReplayReport, Strategy, StrategyContext};
use orderflow_tests::{btcusdt_capture, cryptofeed_ws};

/// Counts what a strategy is shown, and checks the book it gets is the one the features saw.
#[derive(Default)]
struct Counting {
    events: u64,
    bars: u64,
    statuses: u64,
    synced_with_touch: u64,
    finished: bool,
}

impl Strategy for Counting {
    fn on_event(&mut self, ctx: &StrategyContext<'_>) {
        self.events += 1;
        let f = ctx.features;
        if f.synced && f.best_bid.0 != i64::MIN {
            assert_eq!(ctx.book.best_bid().map(|l| l.px), Some(f.best_bid));
            self.synced_with_touch += 1;
        }
    }

    fn on_bar(&mut self, _: SymbolId, _: &Bar) {
        self.bars += 1;
    }

    fn on_status(&mut self, _: &Event) {
        self.statuses += 1;
    }

    fn on_finish(&mut self) {
        self.finished = true;
    }
}

fn replay(input: &Path) -> (ReplayReport, Counting) {
    let mut replay = Replay::open(input).unwrap();
    let mut strategy = Counting::default();
    let report = replay.run(&mut strategy);
    assert_eq!(report.counts.bad_inputs, 0, "{:?}", report.bad_inputs);
    (report, strategy)
}

fn import(input: &Path, log: &Path) {
    let options = ImportOptions::default();
    let mut inputs = open_import_inputs(&[input.to_path_buf()], None, &options).unwrap();
    let mut importer = LogImporter::create(log, options).unwrap();
    import_into(
        &mut importer,
        &mut inputs,
        &mut |bad| panic!("bad input: {bad}"),
        &mut |_| {},
    )
    .unwrap();
    importer.finish().unwrap();
}

fn day_folders(log: &Path) -> Vec<String> {
    let mut days: Vec<String> = std::fs::read_dir(log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    days.sort();
    days
}

fn check_capture_and_its_log(capture: PathBuf) -> (ReplayReport, PathBuf, tempfile::TempDir) {
    let (first, strategy) = replay(&capture);
    let (second, _) = replay(&capture);
    assert_eq!(first.input, InputKind::Capture);
    assert_eq!(first.digest, second.digest, "two capture replays differ");
    assert_eq!(first.counts, second.counts);
    assert!(first.digest.event_count() > 0 && first.digest.bar_count() > 0);
    // One call per input event that produced features: every output but the extra ones of
    // the record that completed the snapshot (which applies the buffered diffs at once).
    assert!(strategy.events <= first.digest.event_count());
    assert!(strategy.events + 100 > first.digest.event_count());
    assert_eq!(strategy.bars, first.digest.bar_count());
    assert!(strategy.synced_with_touch > 0);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    import(&capture, &log);
    let (from_log, _) = replay(&log);
    let (again, _) = replay(&log);
    assert_eq!(from_log.input, InputKind::Log);
    assert_eq!(from_log.digest, again.digest, "two log replays differ");
    assert_eq!(
        from_log.digest, first.digest,
        "the log replays to another digest than its capture"
    );
    assert_eq!(from_log.counts, first.counts);
    (first, log, dir)
}

#[test]
fn btcusdt_capture_and_its_log_replay_identically() {
    let Some(capture) = btcusdt_capture("btcusdt_capture_and_its_log_replay_identically") else {
        return;
    };
    let (report, log, _dir) = check_capture_and_its_log(capture);
    // shared/data/README.md: 6,551 diffs, 1 snapshot, 21,313 trades, 66,089 bookTickers.
    let c = &report.counts;
    assert_eq!(c.count(EventKind::DepthDiff), 6_551);
    assert_eq!(c.count(EventKind::DepthSnapshot), 1);
    assert_eq!(c.count(EventKind::Trade), 21_313);
    assert_eq!(c.count(EventKind::BookTicker), 66_089);
    assert_eq!(c.messages, 6_551 + 1 + 21_313 + 66_089);
    // Every record but the one LAST flag per message is a depth header or level... and a
    // header is always followed by its levels here, so the rest are exactly the levels.
    assert_eq!(c.level_updates, c.records - c.messages);
    // The receive clock of this recording ends at 23:59:59.83 (the collector's clock ran
    // 1.27 s behind the exchange, whose times cross midnight): one day folder.
    assert_eq!(day_folders(&log), ["2024-08-08"]);
}

/// The recorder rotates at 00:00 UTC of the receive clock. The BTCUSDT recording crosses
/// midnight in exchange time, but its collector's clock ran 1.27 s behind (ending at
/// 23:59:59.83), so the capture is shifted here by +2 s, which puts its receive times on both
/// sides of midnight as its exchange times are. Features run on exchange time only, so the
/// shifted capture's log still replays to the digest of the original capture.
#[test]
fn btcusdt_log_rotates_at_midnight_utc() {
    let Some(capture) = btcusdt_capture("btcusdt_log_rotates_at_midnight_utc") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shifted = dir.path().join("btcusdt_shifted");
    shift_receive_clock(&capture, &shifted, 2_000_000_000);
    let log = dir.path().join("log");
    import(&shifted, &log);
    assert_eq!(day_folders(&log), ["2024-08-08", "2024-08-09"]);
    let reader = LogReader::open(&log).unwrap();
    let midnight_ns = 1_723_161_600_000_000_000_i64;
    let mut per_day = [0u64; 2];
    for segment in reader.segments() {
        let day = segment.id().day.to_string();
        for record in segment.records() {
            let before = record.recv_ns() < midnight_ns;
            assert_eq!(before, day == "2024-08-08", "{day}: {}", record.recv_ns());
            per_day[usize::from(!before)] += 1;
        }
    }
    assert!(per_day[0] > 0 && per_day[1] > 0, "{per_day:?}");
    let (original, _) = replay(&capture);
    let (from_log, _) = replay(&log);
    assert_eq!(from_log.digest, original.digest);
    assert_eq!(from_log.counts, original.counts);
}

/// Copies a `<local_ns> <json>` capture with every receive time moved by `shift_ns`.
fn shift_receive_clock(from: &Path, to: &Path, shift_ns: i64) {
    use std::io::{BufRead, BufReader, BufWriter, Write};
    let input = BufReader::new(flate2::read::MultiGzDecoder::new(
        std::fs::File::open(from).unwrap(),
    ));
    let mut out = BufWriter::new(std::fs::File::create(to).unwrap());
    for line in input.lines() {
        let line = line.unwrap();
        let (ns, rest) = line.split_once(' ').unwrap();
        let ns: i64 = ns.parse().unwrap();
        writeln!(out, "{} {rest}", ns + shift_ns).unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn cryptofeed_capture_and_its_log_replay_identically() {
    let Some(ws) = cryptofeed_ws("cryptofeed_capture_and_its_log_replay_identically") else {
        return;
    };
    let (report, log, _dir) = check_capture_and_its_log(ws);
    assert_eq!(report.counts.count(EventKind::DepthSnapshot), 4);
    assert_eq!(report.counts.count(EventKind::AggTrade), 91);
    let reader = LogReader::open(&log).unwrap();
    let names: Vec<String> = reader
        .segments()
        .last()
        .unwrap()
        .symbols()
        .iter()
        .map(|(_, n)| n.to_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

/// What live computes is what replay computes: the threaded engine runs the recording's events
/// (as its feed would deliver them) and records them; replaying that log gives the engine's
/// digest and calls the strategy as often as the engine did. The engine's log also holds the
/// `Status` events its sync machine emitted, which replay derives again instead of feeding.
#[test]
fn replay_of_an_engine_recording_matches_the_engine() {
    let Some(capture) = btcusdt_capture("replay_of_an_engine_recording_matches_the_engine") else {
        return;
    };
    let mut source = orderflow_replay::Source::open(&[capture]).unwrap();
    let mut events = Vec::new();
    source.for_each_event(|e| events.push(*e), |bad| panic!("{bad}"));
    let names: Vec<String> = source.symbols().iter().map(|(_, n)| n.to_owned()).collect();

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("live");
    let finished = orderflow_engine::Engine::builder()
        .symbols(names)
        .record_to(&log)
        // The feed here is a Vec, far faster than a socket: let the recorder keep up.
        .recorder_ring(1 << 16, orderflow_engine::Backpressure::BlockSpin)
        .build()
        .unwrap()
        .run(
            orderflow_engine::IterSource::new(events),
            Counting::default(),
        )
        .unwrap();
    finished.report.check().unwrap();
    assert!(finished.report.pipeline.status_events > 0);

    let (report, strategy) = replay(&log);
    assert_eq!(report.digest, finished.report.digest);
    assert_eq!(
        report.counts.derived_status_skipped,
        finished.report.pipeline.status_events
    );
    assert_eq!(strategy.events, finished.strategy.events);
    assert_eq!(strategy.bars, finished.strategy.bars);
    assert_eq!(strategy.statuses, finished.strategy.statuses);
    assert!(strategy.finished && finished.strategy.finished);
}
