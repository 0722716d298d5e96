//! Truncated, mutated and random frames, seeded from real ones: the parser never panics, a
//! failed frame pushes nothing, a good one pushes exactly what it reports, and the fast scanner
//! agrees with the simd-json path on every input.
//!
//! Seeds are embedded frames of every type, plus a sample of the recordings when present.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns; a failure is the test failing"
)]

mod common;

use std::sync::OnceLock;

use orderflow_core::{Body, Event, SymbolId, Timer};
use orderflow_feed::{FrameParser, ParseMode, Parsed};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const EMBEDDED: &[&str] = &[
    r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["58710.20","0.014"],["61496.50","0.010"],["61510.90","0.000"]],"a":[["61800.30","3.330"],["61804.60","0.057"]]}}"#,
    r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#,
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#,
    r#"{"e":"trade","E":1790526538982,"T":1790526538981,"s":"BTCUSDT","t":8112039317,"p":"0","q":"0","X":"NA","m":true,"st":1}"#,
    r#"{"stream":"sushiusdt@aggTrade","data":{"e":"aggTrade","E":1626992741080,"a":88262163,"s":"SUSHIUSDT","p":"7.6110","q":"4","f":174116455,"l":174116455,"T":1626992741031,"m":true}}"#,
    r#"{"e":"aggTrade","E":1790526539012,"a":3462281904,"s":"BTCUSDT","p":"84551.00","q":"0.347","nq":"0.347","f":8112039311,"l":8112039316,"T":1790526538981,"m":true,"st":1,"ps":"BTCUSDT","x":{"y":[1,{"z":null}]}}"#,
    r#"{"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1790526539000,"s":"BTCUSDT","p":"84556.31250000","ap":"84554.90112500","i":"84597.42130435","P":"84601.87645211","r":"0.00004718","T":1790553600000,"st":1},{"e":"markPriceUpdate","E":1,"s":"BTCUSDT_240927","p":"1.5","i":"","P":"","r":"","T":0}]}"#,
    r#"{"e":"forceOrder","E":1790526541107,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.190","p":"84212.30","ap":"84530.60","X":"FILLED","l":"0.155","z":"0.190","T":1790526540102,"ps":"BTCUSDT","st":1}}"#,
    r#"{"stream":"ctkusdt@kline_1m","data":{"e":"kline","E":1626992741424,"s":"CTKUSDT","k":{"t":1626992700000,"T":1626992759999,"s":"CTKUSDT","i":"1m","f":23961275,"L":23961322,"o":"1.01000","c":"1.01100","h":"1.01100","l":"1.01000","v":"3917","n":48,"x":false,"q":"3957.89900","V":"1729","Q":"1748.01900","B":"0"}}}"#,
    r#"{"lastUpdateId":11671659684102,"E":1790526538990,"T":1790526538983,"bids":[["84551.00","2.646"],["84550.90","0.004"]],"asks":[["84551.10","5.302"]]}"#,
    r#"{"stream":"btcusdt@depthSnapshot","data":{"lastUpdateId":7,"bids":[["1","2"]],"asks":[]}}"#,
    r#"{"result":null,"id":1}"#,
    r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#,
    r#"{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}"#,
    "{ \"data\" : {\"s\":\"BTCUSDT\",\"e\":\"trade\",\"E\":1,\"T\":2,\"t\":3,\"p\":\"1.5\",\"q\":\"2\",\"m\":true} ,\n \"stream\":\"x\" }",
];

/// Embedded seeds plus, when the recordings are present, a sample of their frames.
fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<String> = EMBEDDED.iter().map(|s| (*s).to_owned()).collect();
        match common::recordings() {
            Some(rec) => {
                seeds.extend(rec.btcusdt.iter().step_by(997).map(|f| f.json.clone()));
                seeds.extend(rec.cryptofeed_ws.iter().step_by(31).map(|f| f.json.clone()));
                seeds.extend(rec.cryptofeed_http.iter().take(1).map(|f| f.json.clone()));
            }
            None => eprintln!("recordings absent: seeding from embedded frames only"),
        }
        seeds
    })
}

fn sentinel() -> Event {
    Event::new(-1, SymbolId(999), Body::Timer(Timer { now_ms: -1 }))
}

/// Parses `frame` with both paths and checks every property.
fn check(frame: &[u8], with_hint: bool) -> Result<(), TestCaseError> {
    let mut outcomes = Vec::new();
    for mode in [ParseMode::Auto, ParseMode::SimdJsonOnly] {
        let mut parser = FrameParser::new().with_mode(mode);
        let hint = with_hint.then(|| parser.intern(b"BTCUSDT").unwrap());
        let mut out = vec![sentinel()];
        let result = parser.parse(7, frame, hint, &mut out);
        prop_assert_eq!(out.first(), Some(&sentinel()));
        let pushed = out.get(1..).unwrap_or_default().to_vec();
        match result {
            Ok(Parsed::Events { events, .. }) => {
                prop_assert_eq!(events as usize, pushed.len());
                if let Some(last) = pushed.last() {
                    prop_assert!(last.is_last());
                }
                prop_assert!(pushed.iter().all(|e| e.recv_ns == 7));
            }
            Ok(_) | Err(_) => prop_assert!(pushed.is_empty(), "{:?} pushed {:?}", result, pushed),
        }
        prop_assert_eq!(parser.counters().errors, u64::from(result.is_err()));
        let names: Vec<String> = parser.symbols().iter().map(|(_, n)| n.to_owned()).collect();
        outcomes.push((result, pushed, names));
    }
    let simd = outcomes.pop();
    let auto = outcomes.pop();
    prop_assert_eq!(
        auto,
        simd,
        "paths disagree on {:?}",
        String::from_utf8_lossy(frame)
    );
    Ok(())
}

/// Bytes that steer a mutation into interesting JSON.
const INTERESTING: &[u8] = b"\"{}[],:\\-.0123456789eEtfnul \t\n\x00\x7f\xc3\xff";

#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        3 => proptest::sample::select(INTERESTING),
        1 => any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(frame: &mut Vec<u8>, edit: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *edit {
        Edit::Replace(i, b) => {
            let i = at(i, frame.len());
            if let Some(slot) = frame.get_mut(i) {
                *slot = b;
            }
        }
        Edit::Insert(i, b) => {
            let i = at(i, frame.len() + 1);
            frame.insert(i, b);
        }
        Edit::Delete(i) => {
            if !frame.is_empty() {
                let i = at(i, frame.len());
                frame.remove(i);
            }
        }
    }
}

/// `cases` cases (or `PROPTEST_CASES` for a longer run), with failures saved to
/// `feed/proptest-regressions/` (to be committed).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/proptest_frames.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    fn truncated_frames(seed in any::<proptest::sample::Index>(), cut in any::<proptest::sample::Index>(), hint: bool) {
        let frame = seed.get(seeds()).as_bytes();
        let end = cut.index(frame.len() + 1);
        check(frame.get(..end).unwrap_or_default(), hint)?;
    }

    #[test]
    fn random_frames(bytes in proptest::collection::vec(
        prop_oneof![3 => proptest::sample::select(INTERESTING), 1 => any::<u8>()], 0..64,
    ), hint: bool) {
        check(&bytes, hint)?;
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn mutated_frames(
        seed in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(edit(), 1..6),
        hint: bool,
    ) {
        let mut frame = seed.get(seeds()).as_bytes().to_vec();
        for e in &edits {
            apply(&mut frame, e);
        }
        check(&frame, hint)?;
    }
}

#[test]
fn seeds_parse_cleanly() {
    if common::recordings().is_some() {
        assert!(seeds().len() > EMBEDDED.len() + 100, "{}", seeds().len());
    }
    for seed in seeds() {
        let mut parser = FrameParser::new();
        let hint = parser.intern(b"BTCUSDT").unwrap();
        let mut out = Vec::new();
        let r = parser.parse(0, seed.as_bytes(), Some(hint), &mut out);
        assert!(r.is_ok(), "{r:?}: {seed}");
        check(seed.as_bytes(), true).unwrap();
    }
}
