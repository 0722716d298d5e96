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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use orderflow_feed::{FrameParser, ParseMode};

/// Counts allocations made by the thread that switched counting on.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: defers every call to `System` unchanged; counting touches only an atomic and a
// const-initialised thread-local without destructor, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as `alloc`; `ptr` came from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: as `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_counter_sees_allocations() {
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    drop(std::hint::black_box(Vec::<u8>::with_capacity(16)));
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(false));
    assert!(after >= before + 2, "{before} -> {after}");
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
        COUNTING.with(|c| c.set(true));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let hot = pass(&mut parser);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        COUNTING.with(|c| c.set(false));
        assert_eq!(warm, hot);
        assert!(hot > 500_000);
        assert_eq!(
            allocations, 0,
            "{mode:?}: allocations during the second pass"
        );
    }
}
