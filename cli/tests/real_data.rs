//! The `orderflow` binary on the shared real recordings (skipped with a printed reason when
//! `../shared/data` is absent).

#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    reason = "test helpers: a failure should panic with the value"
)]

mod common;

use std::io::{BufRead, Write};
use std::path::Path;

use common::{line_value, orderflow, text};
use orderflow_book::{Book, NoopRequester};
use orderflow_core::{BookSide, SymbolId};
use orderflow_engine::{BookUpdate, Pipeline, PipelineConfig, PipelineSink};
use orderflow_features::{Bar, EventFeatures, FeatureSink};
use orderflow_replay::{CaptureSource, resolve_capture_inputs};
use orderflow_tests::{btcusdt_capture, cryptofeed_ws};

#[test]
fn emit_events_counts_every_kind() {
    let cases: [(Option<std::path::PathBuf>, &[(&str, u64)]); 2] = [
        (
            btcusdt_capture("emit_events_counts_every_kind"),
            &[
                ("depth_diff", 6_551),
                ("depth_snapshot", 1),
                ("trade", 21_313),
                ("book_ticker", 66_089),
            ],
        ),
        (
            cryptofeed_ws("emit_events_counts_every_kind"),
            &[
                ("depth_diff", 764),
                ("depth_snapshot", 4),
                ("agg_trade", 91),
                ("book_ticker", 613),
                ("kline", 67),
            ],
        ),
    ];
    for (path, expected) in cases {
        let Some(path) = path else { return };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let run = orderflow(&[
            "replay",
            path.to_str().unwrap(),
            "--emit",
            "events",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let stdout = text(&run.stdout);
        for (kind, n) in expected {
            assert_eq!(line_value(&stdout, kind), vec![*n], "{kind} in {stdout}");
        }
        // One JSON line per venue message, every one a JSON object with kind and symbol.
        let lines = std::fs::read_to_string(&out).unwrap();
        let total: u64 = expected.iter().map(|(_, n)| n).sum();
        assert_eq!(lines.lines().count() as u64, total);
        for line in lines.lines().take(2_000) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["kind"].is_string() && v["symbol"].is_string() && v["recv_ns"].is_i64());
        }
    }
}

#[test]
fn verify_passes_on_both_recordings() {
    for (path, compared) in [
        (btcusdt_capture("verify_passes_on_both_recordings"), 629),
        (cryptofeed_ws("verify_passes_on_both_recordings"), 50),
    ] {
        let Some(path) = path else { return };
        let run = orderflow(&["verify", path.to_str().unwrap()]);
        let stdout = text(&run.stdout);
        assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
        assert_eq!(
            line_value(&stdout, "compared at equal u")
                .iter()
                .sum::<u64>(),
            compared
        );
        assert_eq!(line_value(&stdout, "matched").iter().sum::<u64>(), compared);
        assert!(stdout.contains("verify: OK"));
    }
}

#[test]
fn book_top_rows_follow_applied_diffs() {
    let Some(path) = btcusdt_capture("book_top_rows_follow_applied_diffs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("top.csv");
    let run = orderflow(&[
        "replay",
        path.to_str().unwrap(),
        "--emit",
        "book-top",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("symbol,update_id,event_time_ms,bid_px,bid_qty,ask_px,ask_qty")
    );
    // 6,551 diffs: 4 older than the snapshot are dropped, the straddling one resyncs and
    // every later one is applied; one row per applied diff.
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 6_547);
    let mut last_u = 0;
    for row in rows {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 7);
        assert_eq!(f[0], "BTCUSDT");
        let u: u64 = f[1].parse().unwrap();
        assert!(u > last_u);
        last_u = u;
        // Exact decimals: at most 8 fraction digits, never an exponent.
        for v in &f[3..] {
            assert!(!v.contains('e') && v.split('.').nth(1).is_none_or(|d| d.len() <= 8));
        }
        let (bid, ask): (f64, f64) = (f[3].parse().unwrap(), f[5].parse().unwrap());
        assert!(bid < ask);
    }
}

/// Keeps a copy of the book after the diff with `u == target`.
struct Capture {
    target: u64,
    found: Option<(Vec<(String, String)>, Vec<(String, String)>, i64)>,
}

impl FeatureSink for Capture {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}
    fn bar(&mut self, _: SymbolId, _: &Bar) {}
}

impl PipelineSink for Capture {
    fn book_updated(&mut self, _: SymbolId, book: &Book, update: BookUpdate) {
        if update.final_update_id == self.target {
            let side = |s| {
                book.levels(s)
                    .map(|l| (l.px.to_string(), l.qty.to_string()))
                    .collect()
            };
            self.found = Some((
                side(BookSide::Bid),
                side(BookSide::Ask),
                update.event_time_ms,
            ));
        }
    }
}

/// A wrapped snapshot line (the form our own captures write) of the book after diff `u`.
fn snapshot_line(capture: &Path, u: u64, recv_ns: &str) -> String {
    let files = resolve_capture_inputs(&[capture.to_path_buf()]).unwrap();
    let mut source = CaptureSource::open(&files).unwrap();
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    let mut sink = Capture {
        target: u,
        found: None,
    };
    while let Some(Ok(message)) = source.next_events() {
        for event in message.events {
            pipeline.on_event(event, &mut NoopRequester, &mut sink);
        }
    }
    let (bids, asks, e) = sink.found.unwrap();
    let levels = |side: &[(String, String)]| {
        side.iter()
            .map(|(p, q)| format!(r#"["{p}","{q}"]"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{recv_ns} {{"stream":"btcusdt@depthSnapshot","data":{{"lastUpdateId":{u},"E":{e},"T":{e},"bids":[{}],"asks":[{}]}}}}"#,
        levels(&bids),
        levels(&asks)
    )
}

fn diff_u(line: &str) -> Option<u64> {
    if !line.contains("depthUpdate") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line.split_once(' ')?.1).ok()?;
    v["data"]["u"].as_u64()
}

#[test]
fn a_missing_diff_is_a_named_gap_and_a_later_snapshot_rebuilds() {
    let Some(path) = btcusdt_capture("a_missing_diff_is_a_named_gap") else {
        return;
    };
    let lines: Vec<String> = std::io::BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&path).unwrap(),
    ))
    .lines()
    .map(Result::unwrap)
    .collect();
    let diffs: Vec<usize> = (0..lines.len())
        .filter(|&i| diff_u(&lines[i]).is_some())
        .collect();
    let (removed, resume) = (diffs[3_000], diffs[3_200]);
    let removed_u = diff_u(&lines[removed]).unwrap();
    let next_pu = {
        let v: serde_json::Value =
            serde_json::from_str(lines[diffs[3_001]].split_once(' ').unwrap().1).unwrap();
        v["data"]["pu"].as_u64().unwrap()
    };
    assert_eq!(next_pu, removed_u);

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, with_snapshot: bool| {
        let path_out = dir.path().join(name);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path_out).unwrap());
        for (i, line) in lines.iter().enumerate() {
            if i == removed {
                continue;
            }
            if with_snapshot && i == resume {
                let resume_u = diff_u(line).unwrap();
                let recv = line.split_once(' ').unwrap().0;
                writeln!(f, "{}", snapshot_line(&path, resume_u, recv)).unwrap();
            }
            writeln!(f, "{line}").unwrap();
        }
        f.flush().unwrap();
        path_out
    };

    // Without a later snapshot: the gap is found at the next diff and named.
    let broken = write("broken.txt", false);
    let run = orderflow(&["verify", broken.to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("expected pu={}, got pu={removed_u}", {
            let v: serde_json::Value =
                serde_json::from_str(lines[diffs[2_999]].split_once(' ').unwrap().1).unwrap();
            v["data"]["u"].as_u64().unwrap()
        })),
        "{stdout}"
    );
    assert_eq!(line_value(&stdout, "chain breaks"), vec![1]);
    assert_eq!(line_value(&stdout, "syncs and resyncs"), vec![1]);
    assert!(stdout.contains("verify: FAILED"));

    // With a snapshot before diff 3,200: the book rebuilds, and every bookTicker at an equal
    // update id after that matches again.
    let healed = write("healed.txt", true);
    let run = orderflow(&["verify", healed.to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "a gap still fails verify: {stdout}"
    );
    assert_eq!(line_value(&stdout, "chain breaks"), vec![1]);
    assert_eq!(line_value(&stdout, "syncs and resyncs"), vec![2]);
    assert_eq!(line_value(&stdout, "mismatched"), vec![0]);
    let matched = line_value(&stdout, "matched")[0];
    assert!(matched > 500 && matched < 629, "{stdout}");
}

#[test]
fn bad_lines_are_named_skipped_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(
        &path,
        "1 {\"e\":\"trade\",\"E\":2,\"T\":2,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1.5\",\"q\":\"2\",\"X\":\"MARKET\",\"m\":true}\n\
         not a capture line\n\
         3 {\"e\":\"trade\",\"E\":2,\"T\":2,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1.123456789\",\"q\":\"2\",\"X\":\"MARKET\",\"m\":true}\n",
    )
    .unwrap();
    let run = orderflow(&["replay", path.to_str().unwrap(), "--emit", "events"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr.contains("bad.txt:2:"), "{stderr}");
    assert!(stderr.contains("bad.txt:3:"), "{stderr}");
    assert_eq!(
        text(&run.stdout).lines().count(),
        1,
        "the good line is still written"
    );
}

#[test]
fn replay_digest_is_stable_and_bars_land_in_the_seed_layout() {
    let Some(path) = btcusdt_capture("replay_digest_is_stable") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let digest = |out: &str| {
        let run = orderflow(&[
            "replay",
            path.to_str().unwrap(),
            "--emit",
            "bars",
            "--out",
            dir.path().join(out).to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        text(&run.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("feature digest: ").map(str::to_owned))
            .unwrap()
    };
    assert_eq!(digest("a"), digest("b"));
    let day1 = dir.path().join("a/BTCUSDT/2024-08-08_1m.csv");
    let csv = std::fs::read_to_string(day1).unwrap();
    assert!(csv.starts_with("timestamp,open,high,low,close,vwap,vol_total,"));
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("2024-08-08T23:54:00.000Z,")
    );
    for res in ["500ms", "1s"] {
        assert!(
            dir.path()
                .join(format!("a/BTCUSDT/2024-08-09_{res}.csv"))
                .exists()
        );
    }
}

#[test]
fn help_explains_every_command() {
    let run = orderflow(&["--help"]);
    let stdout = text(&run.stdout);
    assert!(run.status.success());
    assert!(stdout.contains("replay") && stdout.contains("verify"));
    let run = orderflow(&["replay", "--help"]);
    assert!(text(&run.stdout).contains("book-top"));
}
