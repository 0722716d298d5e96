//! Every frame of the real recordings parses, per-kind counts match the data README, the fast
//! scanner and the simd-json path agree on every frame, and every value in the events equals
//! the JSON it came from (read with `serde_json` and an independent decimal normaliser).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns; a failure is the test failing"
)]

mod common;

use std::collections::BTreeMap;

use common::Frame;
use orderflow_core::{Body, BookSide, Event, EventKind, Flags, SymbolId};
use orderflow_feed::{FrameParser, ParseMode, Parsed};
use serde_json::Value;

/// Parses `frames` with both paths; returns the `Auto` parser, each frame's events, and
/// asserts the paths agree on every frame.
fn parse_all(frames: &[Frame]) -> (FrameParser, Vec<Vec<Event>>) {
    let mut auto = FrameParser::new();
    let mut simd = FrameParser::new().with_mode(ParseMode::SimdJsonOnly);
    let mut per_frame = Vec::with_capacity(frames.len());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (n, f) in frames.iter().enumerate() {
        let hint = |p: &mut FrameParser| f.hint.as_ref().map(|h| p.intern(h.as_bytes()).unwrap());
        let (ha, hb) = (hint(&mut auto), hint(&mut simd));
        a.clear();
        b.clear();
        let ra = auto.parse(f.recv_ns, f.json.as_bytes(), ha, &mut a);
        let rb = simd.parse(f.recv_ns, f.json.as_bytes(), hb, &mut b);
        assert!(ra.is_ok(), "frame {n}: {ra:?}: {}", f.json);
        assert_eq!(ra, rb, "frame {n}: paths disagree");
        assert_eq!(a, b, "frame {n}: paths disagree on events");
        per_frame.push(a.clone());
    }
    assert_eq!(
        auto.symbols().iter().collect::<Vec<_>>(),
        simd.symbols().iter().collect::<Vec<_>>()
    );
    (auto, per_frame)
}

/// Count of message kinds: the first event of each venue message.
fn kinds(per_frame: &[Vec<Event>]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for e in per_frame.iter().flatten() {
        if e.kind() != EventKind::Level {
            *counts.entry(e.kind().name()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn btcusdt_recording_parses_with_readme_counts() {
    let Some(rec) = common::recordings() else {
        return;
    };
    let frames = &rec.btcusdt;
    let (parser, per_frame) = parse_all(frames);
    let counts = kinds(&per_frame);
    let expected = BTreeMap::from([
        ("depth_diff", 6_551),
        ("book_ticker", 66_089),
        ("trade", 21_313),
        ("depth_snapshot", 1),
    ]);
    assert_eq!(counts, expected);

    // No placeholder trade in this recording: none in the text, none dropped, ids gapless.
    let placeholders = frames
        .iter()
        .filter(|f| f.json.contains(r#""X":"NA""#))
        .count();
    assert_eq!(placeholders, 0);
    let c = *parser.counters();
    assert_eq!((c.dropped, c.unknown, c.errors), (0, 0, 0));
    let ids: Vec<u64> = per_frame
        .iter()
        .flatten()
        .filter_map(|e| match e.body {
            Body::Trade(t) => Some(t.trade_id),
            _ => None,
        })
        .collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "trade ids have gaps"
    );

    // Every frame but the REST snapshot takes the fast path.
    assert_eq!(c.frames, frames.len() as u64);
    assert_eq!((c.fast_path, c.fallback), (frames.len() as u64 - 1, 1));
    assert_eq!(c.messages, frames.len() as u64);
    assert_eq!(
        c.events,
        per_frame.iter().map(Vec::len).sum::<usize>() as u64
    );
    assert_eq!(parser.symbols().len(), 1);
}

#[test]
fn cryptofeed_recording_parses_with_counted_kinds() {
    let Some(rec) = common::recordings() else {
        return;
    };
    // Kinds counted from the text, independently of the parser.
    let count = |needle: &str| {
        rec.cryptofeed_ws
            .iter()
            .filter(|f| f.json.contains(needle))
            .count()
    };
    let expected = BTreeMap::from([
        ("depth_diff", count(r#""e":"depthUpdate""#)),
        ("book_ticker", count(r#""e":"bookTicker""#)),
        ("agg_trade", count(r#""e":"aggTrade""#)),
        ("kline", count(r#""e":"kline""#)),
    ]);
    assert_eq!(
        expected,
        BTreeMap::from([
            ("depth_diff", 764),
            ("book_ticker", 613),
            ("agg_trade", 91),
            ("kline", 67)
        ])
    );
    assert_eq!(rec.cryptofeed_ws.len(), 764 + 613 + 91 + 67);

    let (parser, per_frame) = parse_all(&rec.cryptofeed_ws);
    assert_eq!(kinds(&per_frame), expected);
    let c = *parser.counters();
    assert_eq!((c.dropped, c.unknown, c.errors), (0, 0, 0));
    // Klines are not a hot type: they take simd-json.
    assert_eq!((c.fast_path, c.fallback), (764 + 613 + 91, 67));
    let names: Vec<&str> = parser.symbols().iter().map(|(_, n)| n).collect();
    assert_eq!(names.len(), 4);
    for n in ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"] {
        assert!(names.contains(&n), "{n}");
    }
    let closed = per_frame
        .iter()
        .flatten()
        .filter(|e| e.flags.contains(Flags::CLOSED))
        .count();
    assert_eq!(closed, count(r#""x":true"#));

    let (parser, per_frame) = parse_all(&rec.cryptofeed_http);
    assert_eq!(kinds(&per_frame), BTreeMap::from([("depth_snapshot", 4)]));
    assert_eq!(parser.symbols().len(), 4);
}

#[test]
fn every_value_equals_its_json() {
    let Some(rec) = common::recordings() else {
        return;
    };
    let mut parser = FrameParser::new();
    let mut out = Vec::new();
    let mut checked = 0usize;
    for f in rec.all() {
        let hint = f
            .hint
            .as_ref()
            .map(|h| parser.intern(h.as_bytes()).unwrap());
        out.clear();
        parser
            .parse(f.recv_ns, f.json.as_bytes(), hint, &mut out)
            .unwrap();
        let v: Value = serde_json::from_str(&f.json).unwrap();
        let mut oracle = Oracle {
            events: &out,
            next: 0,
            parser: &parser,
            frame: f,
        };
        oracle.frame(&v);
        assert_eq!(oracle.next, out.len(), "unconsumed events: {}", f.json);
        checked += out.len();
    }
    assert!(checked > 500_000, "{checked}");
}

/// The decimal string as a count of 10^-8 units, normalised by hand: sign, digits with the
/// fraction padded to eight, leading zeros removed.
fn units(text: &str) -> String {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(frac.len() <= 8, "{text}");
    assert!(
        int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()),
        "{text}"
    );
    let all = format!("{int}{frac:0<8}");
    let trimmed = all.trim_start_matches('0');
    match (trimmed.is_empty(), negative) {
        (true, _) => "0".to_owned(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.to_owned(),
    }
}

/// Walks a `serde_json` value alongside the events it must have produced.
struct Oracle<'a> {
    events: &'a [Event],
    next: usize,
    parser: &'a FrameParser,
    frame: &'a Frame,
}

impl Oracle<'_> {
    fn take(&mut self) -> Event {
        let e = *self
            .events
            .get(self.next)
            .expect("fewer events than the JSON holds");
        self.next += 1;
        assert_eq!(e.recv_ns, self.frame.recv_ns);
        e
    }

    fn frame(&mut self, v: &Value) {
        match (v.get("stream"), v.get("data")) {
            (Some(stream), Some(data)) => {
                let symbol = stream.as_str().unwrap().split('@').next().unwrap();
                self.message(data, Some(symbol));
            }
            _ => self.message(v, self.frame.hint.as_deref()),
        }
    }

    fn symbol_is(&self, e: &Event, name: &str) {
        assert!(
            self.parser
                .symbols()
                .name(e.symbol)
                .eq_ignore_ascii_case(name),
            "{} != {name}",
            self.parser.symbols().name(e.symbol)
        );
    }

    fn message(&mut self, v: &Value, stream_symbol: Option<&str>) {
        let s = |k: &str| v[k].as_str().unwrap();
        let n = |k: &str| v[k].as_u64().unwrap();
        let t = |k: &str| v[k].as_i64().unwrap();
        let Some(kind) = v.get("e") else {
            assert!(v.get("lastUpdateId").is_some(), "unexpected frame {v}");
            let head = self.take();
            let Body::DepthSnapshot(h) = head.body else {
                panic!("snapshot expected")
            };
            self.symbol_is(&head, stream_symbol.unwrap());
            assert_eq!(h.last_update_id, n("lastUpdateId"));
            assert_eq!((h.event_time_ms, h.transact_time_ms), (t("E"), t("T")));
            self.levels(v, "bids", "asks", h.bid_count, h.ask_count, head);
            return;
        };
        let e = self.take();
        match (kind.as_str().unwrap(), e.body) {
            ("depthUpdate", Body::DepthDiff(h)) => {
                self.symbol_is(&e, s("s"));
                assert_eq!(h.first_update_id, n("U"));
                assert_eq!(h.final_update_id, n("u"));
                assert_eq!(h.prev_final_update_id, n("pu"));
                assert_eq!((h.event_time_ms, h.transact_time_ms), (t("E"), t("T")));
                self.levels(v, "b", "a", h.bid_count, h.ask_count, e);
            }
            ("bookTicker", Body::BookTicker(r)) => {
                self.symbol_is(&e, s("s"));
                assert_eq!(r.update_id, n("u"));
                assert_eq!(r.bid_px.raw().to_string(), units(s("b")));
                assert_eq!(r.bid_qty.raw().to_string(), units(s("B")));
                assert_eq!(r.ask_px.raw().to_string(), units(s("a")));
                assert_eq!(r.ask_qty.raw().to_string(), units(s("A")));
                assert_eq!((r.event_time_ms, r.transact_time_ms), (t("E"), t("T")));
                assert_eq!(e.flags, Flags::LAST);
            }
            ("trade", Body::Trade(r)) => {
                self.symbol_is(&e, s("s"));
                assert_eq!(r.trade_id, n("t"));
                assert_eq!(r.px.raw().to_string(), units(s("p")));
                assert_eq!(r.qty.raw().to_string(), units(s("q")));
                assert_eq!((r.event_time_ms, r.transact_time_ms), (t("E"), t("T")));
                assert_eq!(r.aggressor.buyer_is_maker(), v["m"].as_bool().unwrap());
                assert_eq!(e.flags, Flags::LAST);
            }
            ("aggTrade", Body::AggTrade(r)) => {
                self.symbol_is(&e, s("s"));
                assert_eq!(
                    (r.agg_trade_id, r.first_trade_id, r.last_trade_id),
                    (n("a"), n("f"), n("l"))
                );
                assert_eq!(r.px.raw().to_string(), units(s("p")));
                assert_eq!(r.qty.raw().to_string(), units(s("q")));
                match v.get("nq") {
                    Some(nq) => {
                        assert_eq!(r.normal_qty.raw().to_string(), units(nq.as_str().unwrap()))
                    }
                    None => assert!(r.normal_qty.is_undef()),
                }
                assert_eq!((r.event_time_ms, r.transact_time_ms), (t("E"), t("T")));
                assert_eq!(r.aggressor.buyer_is_maker(), v["m"].as_bool().unwrap());
                assert_eq!(e.flags, Flags::LAST);
            }
            ("kline", Body::Kline(r)) => {
                self.symbol_is(&e, s("s"));
                let k = &v["k"];
                let ks = |key: &str| units(k[key].as_str().unwrap());
                assert_eq!(r.event_time_ms, t("E"));
                assert_eq!(r.open_time_ms, k["t"].as_i64().unwrap());
                assert_eq!(r.first_trade_id, k["f"].as_u64().unwrap());
                assert_eq!(r.last_trade_id, k["L"].as_u64().unwrap());
                assert_eq!(r.open.raw().to_string(), ks("o"));
                assert_eq!(r.high.raw().to_string(), ks("h"));
                assert_eq!(r.low.raw().to_string(), ks("l"));
                assert_eq!(r.close.raw().to_string(), ks("c"));
                assert_eq!(r.volume.raw().to_string(), ks("v"));
                assert_eq!(r.quote_volume.raw().to_string(), ks("q"));
                assert_eq!(r.taker_buy_volume.raw().to_string(), ks("V"));
                assert_eq!(r.taker_buy_quote_volume.raw().to_string(), ks("Q"));
                assert_eq!(u64::from(r.trade_count), k["n"].as_u64().unwrap());
                assert_eq!(r.interval.as_str(), k["i"].as_str().unwrap());
                let closed = k["x"].as_bool().unwrap();
                assert_eq!(e.flags.contains(Flags::CLOSED), closed);
                assert!(e.is_last());
            }
            (kind, body) => panic!("{kind} became {body:?}"),
        }
    }

    /// The levels after a depth header: bids then asks, in message order, the last flagged.
    fn levels(&mut self, v: &Value, b: &str, a: &str, bids: u32, asks: u32, head: Event) {
        let snapshot = head.kind() == EventKind::DepthSnapshot;
        let (bid_levels, ask_levels) = (v[b].as_array().unwrap(), v[a].as_array().unwrap());
        assert_eq!(
            (bids as usize, asks as usize),
            (bid_levels.len(), ask_levels.len())
        );
        let total = bid_levels.len() + ask_levels.len();
        assert_eq!(head.is_last(), total == 0);
        let sides = bid_levels
            .iter()
            .map(|l| (l, BookSide::Bid))
            .chain(ask_levels.iter().map(|l| (l, BookSide::Ask)));
        for (i, (json, side)) in sides.enumerate() {
            let e = self.take();
            let Body::Level(level) = e.body else {
                panic!("level expected")
            };
            assert_eq!(e.symbol, head.symbol);
            assert_eq!(level.side, side);
            assert_eq!(level.px.raw().to_string(), units(json[0].as_str().unwrap()));
            assert_eq!(
                level.qty.raw().to_string(),
                units(json[1].as_str().unwrap())
            );
            assert_eq!(json.as_array().unwrap().len(), 2);
            assert_eq!(e.is_last(), i + 1 == total);
            assert_eq!(e.flags.contains(Flags::SNAPSHOT), snapshot);
        }
    }
}

#[test]
fn parsed_reports_frame_outcomes() {
    // Sanity of the helper types on a tiny embedded frame, so this file tests something even
    // without the recordings.
    let mut p = FrameParser::new();
    let mut out = Vec::new();
    let r = p.parse(1, br#"{"result":null,"id":9}"#, None, &mut out);
    assert_eq!(r, Ok(Parsed::Reply { id: Some(9) }));
    assert!(out.is_empty());
    assert_eq!(p.symbols().get(b"BTCUSDT"), None::<SymbolId>);
}
