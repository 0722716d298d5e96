//! After warm-up, parsing allocates nothing (DESIGN.md section 7): every frame of both
//! recordings is parsed twice with each path, and the second pass must not touch the heap.
//!
//! Its own test binary, because the counting allocator is global to the binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns; a failure is the test failing"
)]

mod common;

use orderflow_feed::{FrameParser, ParseMode};
use orderflow_tests::{CountingAllocator, count_allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let ((), n) = count_allocations(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(16))));
    assert_eq!(n, 1);
}

#[test]
fn second_pass_over_the_recordings_allocates_nothing() {
    let Some(rec) = common::recordings() else {
        return;
    };
    for mode in [ParseMode::Auto, ParseMode::SimdJsonOnly] {
        let mut parser = FrameParser::new().with_mode(mode);
        // Hints are interned up front, as a caller does at subscribe time.
        let frames: Vec<_> = rec
            .all()
            .map(|f| {
                let hint = f
                    .hint
                    .as_ref()
                    .map(|h| parser.intern(h.as_bytes()).unwrap());
                (f.recv_ns, f.json.as_bytes(), hint)
            })
            .collect();
        let mut out = Vec::new();
        let mut pass = |parser: &mut FrameParser| {
            let mut events = 0;
            for &(recv_ns, json, hint) in &frames {
                out.clear();
                parser.parse(recv_ns, json, hint, &mut out).unwrap();
                events += out.len();
            }
            events
        };
        let warm = pass(&mut parser);
        let (hot, allocations) = count_allocations(|| pass(&mut parser));
        assert_eq!(warm, hot);
        assert!(hot > 500_000);
        assert_eq!(
            allocations, 0,
            "{mode:?}: allocations during the second pass"
        );
    }
}
