//! `orderflow import`, `inspect`, `export` and `replay`/`verify` of a log directory.
//!
//! The historical-CSV tests write small Binance-format files themselves; the real-data test
//! uses the shared BTCUSDT recording (skipped with a printed reason when absent).
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{orderflow, s, text};
use orderflow_tests::btcusdt_capture;

fn digest_line(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("feature digest: ").map(str::to_owned))
        .unwrap_or_else(|| panic!("no digest in {stdout}"))
}

/// A one-entry zip as data.binance.vision serves it: local header, deflated CSV, then a
/// central directory (which the importer does not need).
fn write_zip(path: &Path, entry: &str, contents: &[u8]) {
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(contents).unwrap();
    let data = deflate.finish().unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(b"PK\x03\x04");
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(contents.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&u16::try_from(entry.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(entry.as_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(b"PK\x01\x02");
    std::fs::write(path, out).unwrap();
}

/// Three days of Binance files in miniature: futures BTCUSDT aggTrades (zip, header, ms),
/// spot ETHUSDT aggTrades (no header, µs, `True`/`False`), BTCUSDT bookTicker out of order.
fn historical_files(dir: &Path) -> Vec<PathBuf> {
    let t0: i64 = 1_790_553_599_000; // 2026-09-27T23:59:59Z
    let mut agg = String::from(
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n",
    );
    // Ids 100..160, one every 50 ms across midnight, two rows swapped.
    let mut rows: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "{},{}.{},0.{:03},{},{},{},{}\n",
                100 + i,
                84_551 + i % 7,
                i % 10,
                1 + i % 50,
                1000 + 2 * i,
                1001 + 2 * i,
                t0 + 50 * i,
                if i % 3 == 0 { "true" } else { "false" }
            )
        })
        .collect();
    rows.swap(10, 12);
    agg.extend(rows);
    let agg_zip = dir.join("BTCUSDT-aggTrades-2026-09-27.zip");
    write_zip(&agg_zip, "BTCUSDT-aggTrades-2026-09-27.csv", agg.as_bytes());

    let spot = dir.join("ETHUSDT-aggTrades-2026-09-27.csv");
    let mut text = String::new();
    for i in 0..20i64 {
        let us = (t0 + 100 * i) * 1000 + 123;
        text += &format!(
            "{},{}.25,1.5,{},{},{us},{},True\n",
            500 + i,
            3_000 + i,
            7 + i,
            7 + i,
            if i % 2 == 0 { "True" } else { "False" }
        );
    }
    std::fs::write(&spot, text).unwrap();

    let ticker = dir.join("BTCUSDT-bookTicker-2026-09-27.csv");
    let mut text = String::from(
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n",
    );
    for i in (0..30i64).rev() {
        text += &format!(
            "{},84550.{},1.{},84551.{},2.5,{},{}\n",
            9_000 + i,
            i % 10,
            i,
            i % 10,
            t0 + 70 * i,
            t0 + 70 * i + 3
        );
    }
    std::fs::write(&ticker, text).unwrap();
    vec![agg_zip, spot, ticker]
}

#[test]
fn historical_csvs_import_in_time_order_with_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["import".to_owned()];
    args.extend(historical_files(dir.path()).iter().map(|p| s(p).to_owned()));
    let log = dir.path().join("log");
    args.extend(["--out".to_owned(), s(&log).to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = orderflow(&args);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.contains("imported 110 records (110 messages)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("20 aggTrades rows (20 with µs/ns times)"),
        "{stdout}"
    );
    // The rows cross 00:00 UTC: two day folders.
    assert!(
        stdout.contains("UTC day folder(s): 2026-09-27, 2026-09-28"),
        "{stdout}"
    );

    let run = orderflow(&["inspect", s(&log)]);
    let report = text(&run.stdout);
    assert!(run.status.success(), "{report}");
    assert!(
        report.contains("total: 110 records (agg_trade=80 book_ticker=30)"),
        "{report}"
    );

    // Merged by receive time (= exchange time); each file in its own sorted order.
    let events = dir.path().join("events.jsonl");
    let run = orderflow(&["replay", s(&log), "--emit", "events", "--out", s(&events)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 110);
    let recv: Vec<i64> = lines
        .iter()
        .map(|l| l["recv_ns"].as_i64().unwrap())
        .collect();
    assert!(recv.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    let btc_ids: Vec<u64> = lines
        .iter()
        .filter(|l| l["kind"] == "agg_trade" && l["symbol"] == "BTCUSDT")
        .map(|l| l["a"].as_u64().unwrap())
        .collect();
    assert_eq!(btc_ids, (100..160).collect::<Vec<u64>>());
    let first_eth = lines.iter().find(|l| l["symbol"] == "ETHUSDT").unwrap();
    // µs kept exactly in the receive time, floored to ms in T; `True` is the buyer maker.
    assert_eq!(first_eth["recv_ns"], 1_790_553_599_000_123_000_i64);
    assert_eq!(first_eth["T"], 1_790_553_599_000_i64);
    assert_eq!(first_eth["p"], "3000.25");
    assert_eq!(first_eth["m"], true);
    let tickers: Vec<u64> = lines
        .iter()
        .filter(|l| l["kind"] == "book_ticker")
        .map(|l| l["u"].as_u64().unwrap())
        .collect();
    assert_eq!(tickers, (9_000..9_030).collect::<Vec<u64>>());

    // Importing again into the same folder is refused; --append adds.
    let run = orderflow(&[
        "import",
        s(&dir.path().join("ETHUSDT-aggTrades-2026-09-27.csv")),
        "--out",
        s(&log),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("not empty"));
}

#[test]
fn bad_csv_rows_are_named_skipped_and_fail_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("BTCUSDT-aggTrades-2026-09-27.csv");
    std::fs::write(
        &csv,
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
         1,84551.0,0.347,10,11,1790526538981,true\n\
         2,84551.0,abc,12,12,1790526538982,true\n\
         3,84551.0,0.1,13,13,1790526538983,perhaps\n\
         4,84551.0,0.1,14,14,1790526538984,false\n",
    )
    .unwrap();
    let log = dir.path().join("log");
    let run = orderflow(&["import", s(&csv), "--out", s(&log)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("BTCUSDT-aggTrades-2026-09-27.csv:3:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("BTCUSDT-aggTrades-2026-09-27.csv:4:"),
        "{stderr}"
    );
    assert!(text(&run.stdout).contains("imported 2 records"));

    // A file that is no Binance CSV is an error naming it, not a panic.
    let junk = dir.path().join("junk.csv");
    std::fs::write(&junk, "a;b;c\n").unwrap();
    let run = orderflow(&[
        "import",
        s(&junk),
        "--symbol",
        "BTCUSDT",
        "--out",
        s(&dir.path().join("log2")),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("junk.csv"),
        "{}",
        text(&run.stderr)
    );
}

#[cfg(feature = "parquet")]
/// Parses an ISO time `2024-08-08T23:54:16.500Z` into ms (an oracle apart from the writer's).
fn iso_ms(iso: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| iso[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, sec, ms) = (n(11..13), n(14..16), n(17..19), n(20..23));
    // Days from civil (Howard Hinnant), independent of the code under test.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms
}

#[cfg(feature = "parquet")]
/// `text` as an integer count of `10^-scale` units (`NaN` is `None`).
fn decimal_units(text: &str, scale: u32) -> Option<i128> {
    if text == "NaN" {
        return None;
    }
    let (neg, digits) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(
        frac.len() <= scale as usize,
        "{text} has more than {scale} decimals"
    );
    let mut v: i128 = format!("{int}{frac:0<width$}", width = scale as usize)
        .parse()
        .unwrap();
    if neg {
        v = -v;
    }
    Some(v)
}

/// Reads every Parquet file under `dir` and checks each row and column against the CSV rows
/// of the same symbol and resolution; returns the number of rows compared.
#[cfg(feature = "parquet")]
fn compare_parquet_with_csv(out: &Path, symbol: &str, res: &str) -> usize {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    let mut csv_rows: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = Vec::new();
    let mut csv_files: Vec<PathBuf> = std::fs::read_dir(out.join("aggregated").join(symbol))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| s(p).ends_with(&format!("_{res}.csv")))
        .collect();
    csv_files.sort();
    for f in csv_files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut lines = text.lines();
        header = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        csv_rows.extend(lines.map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>()));
    }
    let mut parquet_files = Vec::new();
    let mut stack = vec![out.join("features").join(symbol).join(res)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                parquet_files.push(p);
            }
        }
    }
    parquet_files.sort();
    assert!(!parquet_files.is_empty());
    let mut compared = 0;
    for f in &parquet_files {
        let reader = SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
        let hour: i64 = s(f.parent().unwrap())
            .rsplit("hour=")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let csv = &csv_rows[compared];
            compared += 1;
            for (i, (name, field)) in row.get_column_iter().enumerate() {
                assert_eq!(name, &header[i], "column order");
                let want = &csv[i];
                match field {
                    Field::TimestampMillis(ms) => {
                        assert_eq!(*ms, iso_ms(want), "{name}");
                        assert_eq!(ms.rem_euclid(86_400_000) / 3_600_000, hour, "partition");
                    }
                    Field::Decimal(d) => {
                        let bytes = d.data();
                        let mut v: i128 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
                        for b in bytes {
                            v = (v << 8) | i128::from(*b);
                        }
                        let scale = u32::try_from(d.scale()).unwrap();
                        assert_eq!(Some(v), decimal_units(want, scale), "{name}: {want}");
                    }
                    Field::Null => assert_eq!(want, "NaN", "{name}"),
                    Field::Double(x) => {
                        let w: f64 = want.parse().unwrap();
                        assert!(
                            x.to_bits() == w.to_bits() || (x.is_nan() && w.is_nan()),
                            "{name}: {x} vs {want}"
                        );
                    }
                    Field::Long(n) => assert_eq!(n.to_string(), *want, "{name}"),
                    Field::Bool(b) => assert_eq!(b.to_string(), *want, "{name}"),
                    other => panic!("{name}: unexpected {other:?}"),
                }
            }
        }
    }
    assert_eq!(compared, csv_rows.len(), "Parquet and CSV row counts");
    compared
}

#[cfg(feature = "parquet")]
#[test]
fn export_parquet_reads_back_equal_to_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let files = historical_files(dir.path());
    let mut args = vec!["import"];
    args.extend(files.iter().map(|p| s(p)));
    args.extend(["--out", s(&log)]);
    assert!(orderflow(&args).status.success());
    let out = dir.path().join("out");
    let run = orderflow(&[
        "export",
        s(&log),
        "--bars",
        "500ms,1s",
        "--format",
        "csv,parquet",
        "--out",
        s(&out),
    ]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    assert!(
        out.join("features/BTCUSDT/1s/2026/09/27/hour=23/data.parquet")
            .is_file(),
        "{stdout}"
    );
    assert!(
        out.join("features/BTCUSDT/1s/2026/09/28/hour=00/data.parquet")
            .is_file()
    );
    assert!(
        out.join("aggregated/BTCUSDT/2026-09-28_500ms.csv")
            .is_file()
    );
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for res in ["500ms", "1s"] {
            assert!(compare_parquet_with_csv(&out, symbol, res) > 0);
        }
    }
}

#[test]
fn btcusdt_log_replays_verifies_and_exports_like_its_capture() {
    let Some(capture) =
        btcusdt_capture("btcusdt_log_replays_verifies_and_exports_like_its_capture")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let run = orderflow(&["import", s(&capture), "--out", s(&log)]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.contains("imported 539475 records (93954 messages)"),
        "{stdout}"
    );

    let run = orderflow(&["inspect", s(&log)]);
    let report = text(&run.stdout);
    assert!(run.status.success(), "{report}");
    assert!(
        report.contains(
            "depth_diff=6551 depth_snapshot=1 level=445521 trade=21313 book_ticker=66089"
        ),
        "{report}"
    );

    let run = orderflow(&["verify", s(&log)]);
    assert!(run.status.success(), "{}", text(&run.stdout));
    assert!(text(&run.stdout).contains("verify: OK"));

    let from_capture = orderflow(&[
        "replay",
        s(&capture),
        "--emit",
        "bars",
        "--out",
        s(&dir.path().join("a")),
    ]);
    let out = dir.path().join("export");
    let mut args = vec![
        "export",
        s(&log),
        "--bars",
        "1s,1m",
        "--out",
        s(&out),
        "--format",
    ];
    args.push(if cfg!(feature = "parquet") {
        "csv,parquet"
    } else {
        "csv"
    });
    let exported = orderflow(&args);
    let stdout = text(&exported.stdout);
    assert!(
        exported.status.success(),
        "{stdout}{}",
        text(&exported.stderr)
    );
    assert_eq!(
        digest_line(&stdout),
        digest_line(&text(&from_capture.stdout))
    );
    // The log's bars are the capture's, byte for byte.
    for name in [
        "2024-08-08_1s.csv",
        "2024-08-09_1s.csv",
        "2024-08-08_1m.csv",
    ] {
        assert_eq!(
            std::fs::read(out.join("aggregated/BTCUSDT").join(name)).unwrap(),
            std::fs::read(dir.path().join("a/BTCUSDT").join(name)).unwrap(),
            "{name}"
        );
    }
    #[cfg(feature = "parquet")]
    for res in ["1s", "1m"] {
        assert!(compare_parquet_with_csv(&out, "BTCUSDT", res) > 0);
    }
}

#[test]
fn inspect_reports_a_missing_log_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = orderflow(&["inspect", s(&dir.path().join("nothing"))]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("nothing"));
}
