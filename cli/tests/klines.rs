//! `orderflow verify` against Binance's own klines on the cryptofeed recording (skipped with a
//! printed reason when `../shared/data` is absent): between kline_1m updates whose last trade
//! id `L` equals an aggTrade's `l`, the growth of `n`, `v`, `V`, `q` and the close `c` must equal
//! what our open 1 min bar accumulated (shared/data/README.md: 42 such intervals, all equal).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with the value"
)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use orderflow_tests::cryptofeed_ws;

fn verify(path: &Path) -> Output {
    common::orderflow(&[OsStr::new("verify"), path.as_os_str()])
}

/// The sum over symbols of the report lines starting with `key`.
fn total(stdout: &str, key: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum()
}

#[test]
fn klines_agree_with_our_one_minute_bars() {
    let Some(path) = cryptofeed_ws("klines_agree_with_our_one_minute_bars") else {
        return;
    };
    let run = verify(&path);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    assert_eq!(total(&stdout, "kline 1m updates"), 67, "{stdout}");
    assert_eq!(total(&stdout, "at an aggTrade's l"), 52, "{stdout}");
    assert_eq!(total(&stdout, "kline intervals"), 42, "{stdout}");
    assert_eq!(total(&stdout, "intervals matched"), 42, "{stdout}");
    assert_eq!(total(&stdout, "intervals mismatched"), 0, "{stdout}");
    assert!(stdout.contains("verify: OK"));
}

/// A copy of the capture without one aggTrade: our bar misses its trades, so the kline
/// interval around it disagrees, and verify fails.
#[test]
fn a_missing_agg_trade_is_a_kline_mismatch() {
    let Some(path) = cryptofeed_ws("a_missing_agg_trade_is_a_kline_mismatch") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let agg: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("\"stream\":\"ctkusdt@aggTrade\""))
        .collect();
    let dropped = agg[agg.len() / 2];
    let kept: Vec<&str> = (0..lines.len())
        .filter(|&i| i != dropped)
        .map(|i| lines[i])
        .collect();
    let ws = dir.path().join(path.file_name().unwrap());
    std::fs::write(&ws, kept.join("\n") + "\n").unwrap();
    // The REST snapshots are read from the `*.http.*` file beside the ws file.
    let http = path.with_file_name("BINANCE_FUTURES.http.0.0");
    std::fs::copy(&http, dir.path().join(http.file_name().unwrap())).unwrap();

    let run = verify(&ws);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(total(&stdout, "intervals mismatched") >= 1, "{stdout}");
    assert!(stdout.contains("kline mismatch: L="), "{stdout}");
    assert!(stdout.contains("verify: FAILED"));
    // Only the klines notice: the books still match every bookTicker.
    assert_eq!(total(&stdout, "mismatched"), 0, "{stdout}");
    assert_eq!(total(&stdout, "chain breaks"), 0, "{stdout}");
}
