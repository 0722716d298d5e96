//! `orderflow live` against the mock exchange on loopback, and `orderflow demo`: records a log
//! and a raw capture, both of which `verify` passes and `replay` reads to the same books.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use common::{orderflow, s, text};
use orderflow_feed::mock::{MockConfig, MockExchange};

#[test]
fn live_against_the_mock_records_a_log_and_a_capture() {
    let mock = MockExchange::start(MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (log, capture) = (dir.path().join("log"), dir.path().join("capture.txt"));
    let (ws, rest) = (mock.ws_url(), mock.rest_url());
    let out = orderflow(&[
        "live",
        "--symbols",
        "btcusdt,ethusdt",
        "--ws-url",
        &ws,
        "--rest-url",
        &rest,
        "--duration",
        "4s",
        "--open-interest-every",
        "1s",
        "--record",
        s(&log),
        "--capture",
        s(&capture),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("live feed: 2 connects, 0 disconnects"),
        "{stdout}"
    );
    assert!(stdout.contains("recorder:"), "{stdout}");

    let captured = std::fs::read_to_string(&capture).unwrap();
    assert!(captured.contains(r#"{"stream":"btcusdt@depthSnapshot","data":{"lastUpdateId":"#));
    assert!(captured.contains(r#"{"stream":"ethusdt@openInterest","data":{"symbol":"ETHUSDT""#));
    assert!(captured.lines().count() > 200);

    for input in [&capture, &log] {
        let out = orderflow(&["verify", s(input)]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "verify {}: {stdout}", input.display());
        assert!(stdout.contains("verify: OK"));
    }
}

#[test]
fn demo_agrees_with_itself() {
    let out = orderflow(&["demo", "--duration", "6s"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("demo: OK (live and replay agree)"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn bench_latency_reports_the_end_to_end_of_either_executor() {
    for (executor, end_to_end, consumed, absent) in [
        (
            "thread",
            "receive->executor",
            "read by the executor",
            "handed to the callback",
        ),
        (
            "callback",
            "receive->features",
            "handed to the callback",
            "features->executor",
        ),
    ] {
        let out = orderflow(&[
            "bench",
            "latency",
            "--synthetic",
            "--rate",
            "200",
            "--duration",
            "1s",
            "--executor",
            executor,
        ]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        assert!(stdout.contains(end_to_end), "{executor}: {stdout}");
        assert!(stdout.contains(consumed), "{executor}: {stdout}");
        assert!(!stdout.contains(absent), "{executor}: {stdout}");
    }
    // No executor thread to pin.
    let out = orderflow(&[
        "bench",
        "latency",
        "--synthetic",
        "--executor",
        "callback",
        "--pin",
        "executor=0",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no executor thread with --executor callback"),
        "{}",
        text(&out.stderr)
    );
}
