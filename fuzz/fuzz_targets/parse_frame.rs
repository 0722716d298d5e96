//! Any bytes as a websocket frame: the parser never panics, a failed frame pushes nothing, a
//! converted one pushes exactly the events it reports, and the fast scanner agrees with the
//! simd-json path (symbols, results and events). A crash found here becomes a regression test
//! in `feed/src/parser/tests.rs` or `feed/tests/proptest_frames.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_feed::{FrameParser, ParseMode, Parsed};

fuzz_target!(|data: &[u8]| {
    // The first byte picks whether a symbol hint is given; the rest is the frame.
    let (with_hint, frame) = match data.split_first() {
        Some((flag, rest)) => (flag & 1 == 1, rest),
        None => (false, data),
    };
    let mut outcomes = Vec::with_capacity(2);
    for mode in [ParseMode::Auto, ParseMode::SimdJsonOnly] {
        let mut parser = FrameParser::new().with_mode(mode);
        let hint = with_hint.then(|| parser.intern(b"BTCUSDT").ok()).flatten();
        let mut out = Vec::new();
        let result = parser.parse(0, frame, hint, &mut out);
        match result {
            Ok(Parsed::Events { events, .. }) => {
                assert_eq!(events as usize, out.len());
                if let Some(last) = out.last() {
                    assert!(last.is_last());
                }
            }
            Ok(_) | Err(_) => assert!(out.is_empty(), "{result:?} pushed events"),
        }
        let symbols: Vec<String> = parser.symbols().iter().map(|(_, n)| n.to_owned()).collect();
        outcomes.push((result, out, symbols));
    }
    assert_eq!(outcomes.first(), outcomes.last(), "the two paths disagree");
});
