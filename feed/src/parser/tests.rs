//! Per-message-type tests. Every frame goes through both paths ([`ParseMode::Auto`] and
//! [`ParseMode::SimdJsonOnly`]), which must agree exactly.

use orderflow_core::{
    AggTrade, Body, BookSide, BookTicker, DecimalError, DepthDiff, DepthSnapshot, Event, Flags,
    KlineInterval, Level, OrderStatus, Px, Qty, Side, SymbolError, SymbolId, Trade, UNDEF_TIME,
};

use super::*;

const RECV: i64 = 1_723_161_255_030_314_667;

/// What one parse did.
struct Run {
    result: Result<Parsed, ParseError>,
    events: Vec<Event>,
    parser: FrameParser,
}

impl Run {
    fn events(&self) -> &[Event] {
        &self.events
    }

    fn name(&self, e: &Event) -> &str {
        self.parser.symbols().name(e.symbol)
    }

    fn fast(&self) -> bool {
        self.parser.counters().fast_path == 1
    }
}

/// Parses `frame` with both paths, asserts they agree, and returns the `Auto` run.
fn run_hint(frame: &str, hint: Option<&str>) -> Run {
    let mut runs = [ParseMode::Auto, ParseMode::SimdJsonOnly].map(|mode| {
        let mut parser = FrameParser::new().with_mode(mode);
        let hint = hint.map(|h| parser.intern(h.as_bytes()).unwrap());
        // A sink that already holds an event: a failed frame must leave it alone.
        let mut events = vec![sentinel()];
        let result = parser.parse(RECV, frame.as_bytes(), hint, &mut events);
        assert_eq!(events.remove(0), sentinel());
        if result.is_err() {
            assert!(events.is_empty(), "{mode:?} leaked {events:?}");
            assert_eq!(parser.counters().errors, 1);
        }
        if let Ok(Parsed::Events { events: n, .. }) = result {
            assert_eq!(n as usize, events.len());
        }
        Run {
            result,
            events,
            parser,
        }
    });
    let [auto, simd] = &mut runs;
    assert_eq!(auto.result, simd.result, "paths disagree on {frame}");
    assert_eq!(auto.events, simd.events, "paths disagree on {frame}");
    assert_eq!(
        auto.parser.symbols().iter().collect::<Vec<_>>(),
        simd.parser.symbols().iter().collect::<Vec<_>>()
    );
    let [auto, _] = runs;
    auto
}

fn run(frame: &str) -> Run {
    run_hint(frame, None)
}

fn sentinel() -> Event {
    Event::new(
        -1,
        SymbolId(99),
        Body::Timer(orderflow_core::Timer { now_ms: -1 }),
    )
}

fn px(s: &str) -> Px {
    Px::from_str(s).unwrap()
}

fn qty(s: &str) -> Qty {
    Qty::from_str(s).unwrap()
}

fn level(p: &str, q: &str, side: BookSide) -> Body {
    Body::Level(Level {
        px: px(p),
        qty: qty(q),
        side,
        _reserved: [0; 7],
    })
}

const DEPTH: &str = r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["58710.20","0.014"],["61510.90","0.000"]],"a":[["61800.30","3.330"]]}}"#;

fn depth_head() -> DepthDiff {
    DepthDiff {
        first_update_id: 5_123_107_832_006,
        final_update_id: 5_123_107_837_557,
        prev_final_update_id: 5_123_107_831_937,
        event_time_ms: 1_723_161_256_299,
        transact_time_ms: 1_723_161_256_298,
        bid_count: 2,
        ask_count: 1,
    }
}

fn assert_depth(r: &Run) {
    assert_eq!(
        r.result,
        Ok(Parsed::Events {
            messages: 1,
            events: 4
        })
    );
    let bodies: Vec<Body> = r.events().iter().map(|e| e.body).collect();
    assert_eq!(
        bodies,
        [
            Body::DepthDiff(depth_head()),
            level("58710.20", "0.014", BookSide::Bid),
            level("61510.90", "0", BookSide::Bid),
            level("61800.30", "3.330", BookSide::Ask),
        ]
    );
    let flags: Vec<Flags> = r.events().iter().map(|e| e.flags).collect();
    assert_eq!(flags, [Flags::NONE, Flags::NONE, Flags::NONE, Flags::LAST]);
    for e in r.events() {
        assert_eq!(e.recv_ns, RECV);
        assert_eq!(r.name(e), "BTCUSDT");
    }
}

#[test]
fn depth_update_becomes_header_and_levels() {
    let r = run(DEPTH);
    assert_depth(&r);
    assert!(r.fast());
    let c = r.parser.counters();
    assert_eq!((c.frames, c.messages, c.events, c.errors), (1, 1, 4, 0));
}

#[test]
fn depth_update_bare_payload() {
    let bare = DEPTH
        .trim_start_matches(r#"{"stream":"btcusdt@depth@0ms","data":"#)
        .strip_suffix('}')
        .unwrap();
    let r = run(bare);
    assert_depth(&r);
    assert!(r.fast());
}

#[test]
fn keys_in_any_order_with_extra_fields_and_whitespace() {
    // `data` before `stream`, `e` not first, asks before bids, `st`/`ps` and nested unknown
    // values, whitespace of every kind between tokens.
    let frame = "{ \"data\" :\n\t{\"st\":1, \"a\": [ [ \"61800.30\" , \"3.330\" ] ],\r\n\
        \"ps\":\"BTCUSDT\",\"x\":{\"y\":[1,-2,{\"z\":null}],\"w\":[]},\"T\":1723161256298,\
        \"u\":5123107837557,\"E\":1723161256299,\"s\":\"BTCUSDT\",\"U\":5123107832006,\
        \"e\" : \"depthUpdate\",\"pu\":5123107831937,\"flag\":true,\"no\":false,\
        \"b\":[[\"58710.20\",\"0.014\"],[\"61510.90\",\"0.000\"]] } ,\n\
        \"stream\":\"btcusdt@depth@0ms\", \"extra\": [\"x\"] }\n";
    let r = run(frame);
    assert_depth(&r);
    assert!(r.fast());
}

/// Layouts around the scanner's in-order readers (Binance's member order, read without key
/// dispatch): every variant must give what simd-json gives (checked by `run`), and the valid
/// ones must go through the fast path, whichever of its readers takes them.
#[test]
fn members_in_binance_order_and_every_departure_from_it() {
    let book_ticker = r#""e":"bookTicker","u":11671659685961,"s":"BTCUSDT","b":"84551.00","B":"2.646","a":"84551.10","A":"5.302","T":1790526538939,"E":1790526538940"#;
    let trade = r#""e":"trade","E":1790526538982,"T":1790526538981,"s":"BTCUSDT","t":8112039316,"p":"84551.00","q":"0.002","X":"MARKET","m":true"#;
    let agg = r#""e":"aggTrade","E":1790526539012,"a":3462281904,"s":"BTCUSDT","p":"84551.00","q":"0.347","nq":"0.340","f":8112039311,"l":8112039316,"T":1790526538981,"m":false"#;
    // Each payload with its first member after `e`, and the member an unknown one goes before.
    for (payload, first, later) in [
        (book_ticker, r#","u":11671659685961"#, r#","b":"#),
        (trade, r#","E":1790526538982"#, r#","p":"#),
        (agg, r#","E":1790526539012"#, r#","f":"#),
    ] {
        let unknown = payload.replacen(later, &format!(r#","ps":"BTCUSDT"{later}"#), 1);
        let nested = payload.replacen(later, &format!(r#","x":[1,{{"y":null}}]{later}"#), 1);
        let valid = [
            payload.to_owned(),
            // Unknown members in the middle, at the end, and both.
            unknown.clone(),
            nested,
            format!(r#"{payload},"st":1"#),
            format!(r#"{unknown},"st":1,"ps":"X""#),
            // Whitespace between members, and a known key out of order: the general reader.
            payload.replacen(later, &format!(" ,\n{}", &later[1..]), 1),
            payload.replacen(first, "", 1) + first,
        ];
        let departures = [
            // A known key twice (the second time with another value), or missing.
            format!("{payload}{}1", &first[..=first.find(':').unwrap_or(0)]),
            payload.replacen(first, "", 1),
            // `stream` or `data` inside a bare payload: only simd-json knows what that is.
            format!(r#"{payload},"stream":"btcusdt@x""#),
            format!(r#"{payload},"data":{{}}"#),
            format!(r#"{payload},"data":{{"stream":"x"}},"stream":"btcusdt@x""#),
        ];
        for (p, ok) in valid
            .iter()
            .map(|p| (p, true))
            .chain(departures.iter().map(|p| (p, false)))
        {
            for frame in [
                format!("{{{p}}}"),
                format!(r#"{{"stream":"btcusdt@x","data":{{{p}}}}}"#),
            ] {
                let r = run(&frame);
                if ok {
                    assert!(r.fast(), "{frame}");
                    assert_eq!(r.events().len(), 1, "{frame}");
                }
            }
            // Cut short: the closing brace missing.
            run(&format!("{{{p}"));
        }
    }
    // The envelope's head as Binance writes it, then departures from it after the payload.
    for (frame, fast) in [
        (
            format!(r#"{{"stream":"btcusdt@trade","data":{{{trade}}},"x":[1]}}"#),
            true,
        ),
        (
            format!(r#"{{"stream":"btcusdt@trade","data":{{{trade}}},"stream":"x"}}"#),
            false,
        ),
        (
            format!(r#"{{"stream":"btcusdt@trade","data":{{{trade}}},"data":{{}}}}"#),
            false,
        ),
        (
            // An escape in the stream name (valid JSON): simd-json's to read.
            format!(r#"{{"stream":"btc\"usdt","data":{{{trade}}}}}"#),
            false,
        ),
        (
            format!(r#"{{"stream":"btcusdt@trade","data":{{{trade}}}"#),
            false,
        ),
        (
            format!(r#"{{"stream":"btcusdt@trade","data":[{{{trade}}}]}}"#),
            false,
        ),
    ] {
        assert_eq!(run(&frame).fast(), fast, "{frame}");
    }
    // `nq` is optional: absent, the aggTrade's normal quantity is undefined.
    let r = run(&format!("{{{}}}", agg.replace(r#""nq":"0.340","#, "")));
    assert!(r.fast());
    let Body::AggTrade(a) = r.events()[0].body else {
        panic!("an aggTrade")
    };
    assert_eq!(a.normal_qty, Qty::UNDEF);
}

#[test]
fn depth_update_without_levels_flags_the_header_last() {
    let frame =
        r#"{"e":"depthUpdate","E":1,"T":2,"s":"AKROUSDT","U":3,"u":4,"pu":5,"b":[],"a":[]}"#;
    let r = run(frame);
    assert_eq!(
        r.result,
        Ok(Parsed::Events {
            messages: 1,
            events: 1
        })
    );
    assert_eq!(r.events().len(), 1);
    assert_eq!(r.events()[0].flags, Flags::LAST);
    let Body::DepthDiff(h) = r.events()[0].body else {
        panic!("header")
    };
    assert_eq!((h.bid_count, h.ask_count), (0, 0));
    assert_eq!(r.name(&r.events()[0]), "AKROUSDT");
}

#[test]
fn depth_update_with_only_asks() {
    let frame = r#"{"stream":"akrousdt@depth@100ms","data":{"e":"depthUpdate","E":1626992741077,"T":1626992740974,"s":"AKROUSDT","U":600859599831,"u":600859599831,"pu":600859598737,"b":[],"a":[["0.01737","437848"]]}}"#;
    let r = run(frame);
    let bodies: Vec<Body> = r.events().iter().map(|e| e.body).collect();
    assert_eq!(bodies[1], level("0.01737", "437848", BookSide::Ask));
    assert_eq!(r.events()[1].flags, Flags::LAST);
    assert!(r.fast());
}

#[test]
fn book_ticker() {
    let frame = r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","ps":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256314,"st":1}}"#;
    let r = run(frame);
    assert!(r.fast());
    assert_eq!(r.events().len(), 1);
    assert_eq!(r.events()[0].flags, Flags::LAST);
    assert_eq!(
        r.events()[0].body,
        Body::BookTicker(BookTicker {
            update_id: 5_123_107_839_020,
            bid_px: px("61800.2"),
            bid_qty: qty("2.507"),
            ask_px: px("61800.3"),
            ask_qty: qty("2.51"),
            transact_time_ms: 1_723_161_256_313,
            event_time_ms: 1_723_161_256_314,
        })
    );
}

#[test]
fn trade_and_aggressor_side() {
    let frame = r#"{"e":"trade","E":1790526538982,"T":1790526538981,"s":"BTCUSDT","t":8112039316,"p":"84551.00","q":"0.002","X":"MARKET","m":true,"st":1}"#;
    let r = run(frame);
    assert!(r.fast());
    assert_eq!(
        r.events()[0].body,
        Body::Trade(Trade {
            trade_id: 8_112_039_316,
            px: px("84551"),
            qty: qty("0.002"),
            transact_time_ms: 1_790_526_538_981,
            event_time_ms: 1_790_526_538_982,
            aggressor: Side::Sell,
            _reserved: [0; 7],
        })
    );
    assert_eq!(r.events()[0].flags, Flags::LAST);
    let buy = run(&frame.replace(r#""m":true"#, r#""m":false"#));
    let Body::Trade(t) = buy.events()[0].body else {
        panic!("trade")
    };
    assert_eq!(t.aggressor, Side::Buy);
}

#[test]
fn placeholder_trades_are_dropped_and_counted() {
    let base = r#"{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":8112039317,"p":"0","q":"0","X":"NA","m":true,"st":1}"#;
    for frame in [
        base.to_owned(),
        base.replace(r#""p":"0","q":"0""#, r#""p":"84551.00","q":"0.002""#),
        base.replace(r#""X":"NA""#, r#""X":"MARKET""#),
        base.replace(r#""p":"0""#, r#""p":"-1.5""#)
            .replace(r#""X":"NA""#, r#""X":"MARKET""#),
    ] {
        let r = run(&frame);
        assert_eq!(r.result, Ok(Parsed::Dropped), "{frame}");
        assert!(r.events().is_empty());
        assert_eq!(r.parser.counters().dropped, 1);
        assert_eq!(r.parser.counters().messages, 0);
        // A dropped trade interns nothing.
        assert!(r.parser.symbols().is_empty());
    }
}

#[test]
fn agg_trade_with_and_without_nq() {
    let frame = r#"{"e":"aggTrade","E":1790526539012,"a":3462281904,"s":"BTCUSDT","p":"84551.00","q":"0.347","nq":"0.340","f":8112039311,"l":8112039316,"T":1790526538981,"m":false,"st":1}"#;
    let r = run(frame);
    assert!(r.fast());
    let expected = AggTrade {
        agg_trade_id: 3_462_281_904,
        first_trade_id: 8_112_039_311,
        last_trade_id: 8_112_039_316,
        px: px("84551"),
        qty: qty("0.347"),
        normal_qty: qty("0.34"),
        transact_time_ms: 1_790_526_538_981,
        event_time_ms: 1_790_526_539_012,
        aggressor: Side::Buy,
        _reserved: [0; 7],
    };
    assert_eq!(r.events()[0].body, Body::AggTrade(expected));
    let r = run(&frame.replace(r#""nq":"0.340","#, ""));
    assert_eq!(
        r.events()[0].body,
        Body::AggTrade(AggTrade {
            normal_qty: Qty::UNDEF,
            ..expected
        })
    );
}

const MARK: &str = r#"{"e":"markPriceUpdate","E":1790526539000,"s":"BTCUSDT","p":"84556.31250000","ap":"84554.90112500","i":"84597.42130435","P":"84601.87645211","r":"0.00004718","T":1790553600000,"st":1}"#;

#[test]
fn mark_price() {
    let r = run(MARK);
    assert!(!r.fast());
    let Body::MarkPrice(m) = r.events()[0].body else {
        panic!("mark price")
    };
    assert_eq!(m.event_time_ms, 1_790_526_539_000);
    assert_eq!(m.mark_px, px("84556.3125"));
    assert_eq!(m.mark_avg_px, px("84554.901125"));
    assert_eq!(m.index_px, px("84597.42130435"));
    assert_eq!(m.est_settle_px, px("84601.87645211"));
    assert_eq!(m.funding_rate, qty("0.00004718"));
    assert_eq!(m.next_funding_time_ms, 1_790_553_600_000);
    assert_eq!(r.events()[0].flags, Flags::LAST);

    // A delivery contract: empty funding fields, no `ap`.
    let delivery = MARK
        .replace(r#""ap":"84554.90112500","#, "")
        .replace(r#""r":"0.00004718""#, r#""r":"""#)
        .replace(r#""P":"84601.87645211""#, r#""P":"""#)
        .replace(r#""T":1790553600000"#, r#""T":0"#);
    let r = run(&delivery);
    let Body::MarkPrice(m) = r.events()[0].body else {
        panic!("mark price")
    };
    assert!(m.mark_avg_px.is_undef() && m.est_settle_px.is_undef() && m.funding_rate.is_undef());
    assert_eq!(m.next_funding_time_ms, 0);
}

#[test]
fn mark_price_array_gives_an_event_per_element() {
    let eth = MARK.replace("BTCUSDT", "ETHUSDT");
    let unknown = r#"{"e":"somethingNew","E":1}"#;
    let arr = format!("[{MARK},{eth},{unknown}]");
    for frame in [
        arr.clone(),
        format!(r#"{{"stream":"!markPrice@arr","data":{arr}}}"#),
    ] {
        let r = run(&frame);
        assert_eq!(
            r.result,
            Ok(Parsed::Events {
                messages: 2,
                events: 2
            })
        );
        let names: Vec<&str> = r.events().iter().map(|e| r.name(e)).collect();
        assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
        assert!(r.events().iter().all(Event::is_last));
        assert_eq!(r.parser.counters().unknown, 1);
        assert_eq!(r.parser.counters().messages, 2);
    }
    // One bad element fails the whole frame, and nothing reaches the sink.
    let bad = MARK.replace(r#""p":"84556.31250000""#, r#""p":"x""#);
    let r = run(&format!("[{MARK},{bad}]"));
    assert_eq!(
        r.result,
        Err(ParseError::InvalidDecimal {
            field: "p",
            err: DecimalError::InvalidByte { pos: 0 }
        })
    );
}

#[test]
fn force_order() {
    let frame = r#"{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1790526541107,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.190","p":"84212.30","ap":"84530.60","X":"FILLED","l":"0.155","z":"0.190","T":1790526540102,"ps":"BTCUSDT","st":1}}}"#;
    let r = run(frame);
    let Body::Liquidation(l) = r.events()[0].body else {
        panic!("liquidation")
    };
    assert_eq!(l.event_time_ms, 1_790_526_541_107);
    assert_eq!(l.transact_time_ms, 1_790_526_540_102);
    assert_eq!((l.px, l.avg_px), (px("84212.3"), px("84530.6")));
    assert_eq!(
        (l.orig_qty, l.last_filled_qty, l.filled_qty),
        (qty("0.19"), qty("0.155"), qty("0.19"))
    );
    assert_eq!((l.side, l.status), (Side::Sell, OrderStatus::Filled));
    assert_eq!(r.name(&r.events()[0]), "BTCUSDT");
    assert_eq!(
        run(&frame.replace(r#""S":"SELL""#, r#""S":"HOLD""#)).result,
        Err(ParseError::InvalidValue { field: "o.S" })
    );
}

const KLINE: &str = r#"{"stream":"ctkusdt@kline_1m","data":{"e":"kline","E":1626992741424,"s":"CTKUSDT","k":{"t":1626992700000,"T":1626992759999,"s":"CTKUSDT","i":"1m","f":23961275,"L":23961322,"o":"1.01000","c":"1.01100","h":"1.01200","l":"1.00900","v":"3917","n":48,"x":false,"q":"3957.89900","V":"1729","Q":"1748.01900","B":"0"}}}"#;

#[test]
fn kline_open_and_closed() {
    let r = run(KLINE);
    let Body::Kline(k) = r.events()[0].body else {
        panic!("kline")
    };
    assert_eq!(k.open_time_ms, 1_626_992_700_000);
    assert_eq!(k.event_time_ms, 1_626_992_741_424);
    assert_eq!(
        (k.first_trade_id, k.last_trade_id),
        (23_961_275, 23_961_322)
    );
    assert_eq!(
        (k.open, k.high, k.low, k.close),
        (px("1.01"), px("1.012"), px("1.009"), px("1.011"))
    );
    assert_eq!((k.volume, k.quote_volume), (qty("3917"), qty("3957.899")));
    assert_eq!(
        (k.taker_buy_volume, k.taker_buy_quote_volume),
        (qty("1729"), qty("1748.019"))
    );
    assert_eq!(
        (k.trade_count, k.interval),
        (48, KlineInterval::from_binance(b"1m").unwrap())
    );
    assert_eq!(r.events()[0].flags, Flags::LAST);

    let r = run(&KLINE.replace(r#""x":false"#, r#""x":true"#));
    assert_eq!(r.events()[0].flags, Flags::LAST.with(Flags::CLOSED));

    let r = run(&KLINE.replace(r#""f":23961275,"L":23961322"#, r#""f":-1,"L":-1"#));
    let Body::Kline(k) = r.events()[0].body else {
        panic!("kline")
    };
    assert_eq!((k.first_trade_id, k.last_trade_id), (u64::MAX, u64::MAX));

    assert_eq!(
        run(&KLINE.replace(r#""i":"1m""#, r#""i":"7m""#)).result,
        Err(ParseError::InvalidValue { field: "k.i" })
    );
}

#[test]
fn subscription_replies_and_errors() {
    let r = run(r#"{"result":null,"id":1}"#);
    assert_eq!(r.result, Ok(Parsed::Reply { id: Some(1) }));
    assert_eq!(r.parser.counters().replies, 1);
    let r = run(r#"{"id":3,"result":["btcusdt@depth@100ms"]}"#);
    assert_eq!(r.result, Ok(Parsed::Reply { id: Some(3) }));
    let r = run(r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#);
    assert_eq!(
        r.result,
        Ok(Parsed::ReplyError {
            id: Some(1),
            code: 2
        })
    );
    assert_eq!(r.parser.counters().reply_errors, 1);
    let r = run(
        r#"{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"},"id":null}"#,
    );
    assert_eq!(r.result, Ok(Parsed::ReplyError { id: None, code: 3 }));
    assert_eq!(
        run(r#"{"error":{"msg":"?"},"id":1}"#).result,
        Err(ParseError::MissingField("error.code"))
    );
    assert!(run(r#"{"result":null,"id":"x"}"#).result.is_err());
}

#[test]
fn unknown_messages_are_counted_not_errors() {
    for frame in [
        r#"{"stream":"btcusdt@rpiDepth@500ms","data":{"e":"somethingNew","E":1,"s":"BTCUSDT"}}"#,
        r#"{"e":"24hrTicker","E":1,"s":"BTCUSDT","c":"1"}"#,
        r#"{"code":-1121,"msg":"Invalid symbol."}"#,
        r#"{}"#,
    ] {
        let r = run(frame);
        assert_eq!(r.result, Ok(Parsed::Unknown), "{frame}");
        assert!(r.events().is_empty());
        assert_eq!(r.parser.counters().unknown, 1);
        assert_eq!(r.parser.counters().errors, 0);
    }
}

const SNAPSHOT: &str = r#"{"lastUpdateId":11671659684102,"E":1790526538990,"T":1790526538983,"bids":[["84551.00","2.646"],["84550.90","0.004"]],"asks":[["84551.10","5.302"]]}"#;

#[test]
fn snapshot_takes_the_hint_or_fails() {
    let r = run_hint(SNAPSHOT, Some("btcusdt"));
    assert_eq!(
        r.result,
        Ok(Parsed::Events {
            messages: 1,
            events: 4
        })
    );
    assert_eq!(
        r.events()[0].body,
        Body::DepthSnapshot(DepthSnapshot {
            last_update_id: 11_671_659_684_102,
            event_time_ms: 1_790_526_538_990,
            transact_time_ms: 1_790_526_538_983,
            bid_count: 2,
            ask_count: 1,
        })
    );
    let flags: Vec<Flags> = r.events().iter().map(|e| e.flags).collect();
    let snap = Flags::SNAPSHOT;
    assert_eq!(flags, [Flags::NONE, snap, snap, snap.with(Flags::LAST)]);
    assert_eq!(
        r.events()[3].body,
        level("84551.10", "5.302", BookSide::Ask)
    );
    assert!(r.events().iter().all(|e| r.name(e) == "BTCUSDT"));

    assert_eq!(run(SNAPSHOT).result, Err(ParseError::MissingSymbol));

    let mut parser = FrameParser::new();
    let mut out = Vec::new();
    assert_eq!(
        parser.parse(RECV, SNAPSHOT.as_bytes(), Some(SymbolId(7)), &mut out),
        Err(ParseError::UnknownSymbolHint { id: 7 })
    );
    assert!(out.is_empty());
}

#[test]
fn wrapped_snapshot_names_its_symbol() {
    let frame = format!(r#"{{"stream":"ethusdt@depthSnapshot","data":{SNAPSHOT}}}"#);
    // The stream name wins over a hint.
    let r = run_hint(&frame, Some("btcusdt"));
    assert_eq!(r.events().len(), 4);
    assert!(r.events().iter().all(|e| r.name(e) == "ETHUSDT"));
}

#[test]
fn snapshot_without_times_and_without_levels() {
    let r = run_hint(
        r#"{"lastUpdateId":7,"bids":[],"asks":[]}"#,
        Some("SUSHIUSDT"),
    );
    assert_eq!(
        r.events()[0].body,
        Body::DepthSnapshot(DepthSnapshot {
            last_update_id: 7,
            event_time_ms: UNDEF_TIME,
            transact_time_ms: UNDEF_TIME,
            bid_count: 0,
            ask_count: 0,
        })
    );
    assert_eq!(r.events()[0].flags, Flags::LAST);
}

#[test]
fn open_interest_rest_body() {
    let r = run(r#"{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}"#);
    let Body::OpenInterest(oi) = r.events()[0].body else {
        panic!("open interest")
    };
    assert_eq!(
        (oi.time_ms, oi.open_interest),
        (1_589_437_530_011, qty("10659.509"))
    );
}

#[test]
fn escaped_strings_fall_back_and_parse_right() {
    // `\u0055` is `U`, `\u0070` is `p`: escapes in a value, in a key and in the type.
    let frame = r#"{"e":"trade","E":1,"T":2,"s":"BTC\u0055SDT","t":3,"\u0070":"84551.00","q":"0.002","X":"MARK\u0045T","m":true,"note":"a \"quoted\" \\ word"}"#;
    let r = run(frame);
    assert!(!r.fast());
    assert_eq!(r.parser.counters().fallback, 1);
    let Body::Trade(t) = r.events()[0].body else {
        panic!("trade")
    };
    assert_eq!(t.px, px("84551"));
    assert_eq!(r.name(&r.events()[0]), "BTCUSDT");
    let r = run(
        r#"{"e":"tra\u0064e","E":1,"T":2,"s":"BTCUSDT","t":3,"p":"1","q":"1","X":"N\u0041","m":true}"#,
    );
    assert_eq!(r.result, Ok(Parsed::Dropped));
    // An escaped quote inside an ignored string does not end it early.
    let r = run(
        r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3,"p":"1","q":"1","m":true,"z":"\",\"p\":\"2\""}"#,
    );
    let Body::Trade(t) = r.events()[0].body else {
        panic!("trade")
    };
    assert_eq!(t.px, px("1"));
}

#[test]
fn repeated_keys_take_the_last_value() {
    let r =
        run(r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3,"p":"1","q":"1","m":true,"p":"2"}"#);
    assert!(!r.fast());
    let Body::Trade(t) = r.events()[0].body else {
        panic!("trade")
    };
    assert_eq!(t.px, px("2"));
}

#[test]
fn malformed_frames_are_typed_errors() {
    let cases: &[(&str, ParseError)] = &[
        ("", ParseError::InvalidJson { offset: 0 }),
        ("[1]", ParseError::UnexpectedType { field: "data" }),
        ("42", ParseError::UnexpectedType { field: "frame" }),
        (
            r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3,"p":"1.123456789","q":"1","m":true}"#,
            ParseError::InvalidDecimal {
                field: "p",
                err: DecimalError::TooManyFractionDigits,
            },
        ),
        (
            r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3,"p":1.5,"q":"1","m":true}"#,
            ParseError::UnexpectedType { field: "p" },
        ),
        (
            r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3.5,"p":"1","q":"1","m":true}"#,
            ParseError::InvalidNumber { field: "t" },
        ),
        (
            r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":-3,"p":"1","q":"1","m":true}"#,
            ParseError::InvalidNumber { field: "t" },
        ),
        (
            r#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3,"p":"1","q":"1","m":1}"#,
            ParseError::UnexpectedType { field: "m" },
        ),
        (
            r#"{"e":"trade","E":1,"T":2,"s":"BTC USDT","t":3,"p":"1","q":"1","m":true}"#,
            ParseError::InvalidSymbol(SymbolError::InvalidName),
        ),
        (
            r#"{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":3,"u":4,"b":[],"a":[]}"#,
            ParseError::MissingField("pu"),
        ),
        (
            r#"{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1","T":1}"#,
            ParseError::MissingField("E"),
        ),
        (
            r#"{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":3,"u":4,"pu":5,"b":[["1","2","3"]],"a":[]}"#,
            ParseError::UnexpectedType { field: "b" },
        ),
        (
            r#"{"stream":"btcusdt@trade","data":"x"}"#,
            ParseError::UnexpectedType { field: "data" },
        ),
        (
            r#"{"stream":7,"data":{}}"#,
            ParseError::UnexpectedType { field: "stream" },
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(run(frame).result, Err(*expected), "{frame}");
    }
}

#[test]
fn an_error_late_in_a_depth_frame_pushes_nothing() {
    // The last ask is bad, after the header and the other levels were read.
    let bad_level = DEPTH.replace(r#"["61800.30","3.330"]"#, r#"["61800.30","3.3.0"]"#);
    let r = run(&bad_level);
    assert_eq!(
        r.result,
        Err(ParseError::InvalidDecimal {
            field: "a",
            err: DecimalError::InvalidByte { pos: 3 }
        })
    );
    assert!(r.events().is_empty());
    // Truncated anywhere: an error, never a panic, never a partial frame.
    for end in 0..DEPTH.len() {
        let r = run(&DEPTH[..end]);
        assert!(r.result.is_err(), "{end}");
    }
    // Trailing garbage after a complete frame.
    assert!(run(&format!("{DEPTH}x")).result.is_err());
    assert_depth(&run(&format!(" \n{DEPTH}\r\n ")));
}

#[test]
fn errors_display_their_field() {
    let e = ParseError::InvalidDecimal {
        field: "b",
        err: DecimalError::TooManyFractionDigits,
    };
    assert_eq!(
        e.to_string(),
        "invalid decimal in `b`: more than 8 fraction digits"
    );
    assert_eq!(
        ParseError::MissingField("pu").to_string(),
        "missing field `pu`"
    );
    let _: &dyn std::error::Error = &e;
}

#[test]
fn symbols_are_interned_once_in_first_seen_order() {
    let mut parser = FrameParser::new();
    let btc = parser.intern(b"btcusdt").unwrap();
    let mut out = Vec::new();
    let eth = DEPTH.replace("BTCUSDT", "ETHUSDT");
    for frame in [eth.as_str(), DEPTH, eth.as_str()] {
        parser
            .parse(RECV, frame.as_bytes(), None, &mut out)
            .unwrap();
    }
    assert_eq!(out[0].symbol, SymbolId(1));
    assert_eq!(out[4].symbol, btc);
    assert_eq!(parser.symbols().len(), 2);
    assert_eq!(parser.counters().events, 12);
}
