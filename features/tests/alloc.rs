//! Zero heap allocations after warm-up (DESIGN.md section 5): a counting global allocator
//! counts every allocation made while a [`SymbolFeatures`] method runs, over a long synthetic
//! stream with every event kind, bursts, gaps, timers, late trades and book resyncs.
//!
//! Only the feature calls are counted (the test book is a `BTreeMap`, which allocates on its own
//! account). This file holds a single test so no other test thread allocates meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{GenConfig, MIDNIGHT_MS, SYMBOL, Streams, TestBook, generate};
use orderflow_features::{FeatureConfig, FeatureDigest, SymbolFeatures};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counter has no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout` (every allocation here does).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `dealloc`; `new_size` is forwarded from a caller upholding `realloc`'s
        // contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_after_warm_up() {
    let recs = generate(GenConfig {
        seed: 99,
        start_ms: MIDNIGHT_MS - 20 * 60_000,
        duration_ms: 100 * 60_000,
        streams: Streams::Both,
        max_step_ms: 60,
    });
    let mut features = SymbolFeatures::new(SYMBOL, &FeatureConfig::default());
    assert!(
        features.heap_bytes() <= 1 << 20,
        "{} bytes",
        features.heap_bytes()
    );
    let mut book = TestBook::default();
    let mut digest = FeatureDigest::new();
    let warm_up = 1_000;
    for (i, r) in recs.iter().enumerate() {
        book.apply_event(&r.event);
        COUNTING.store(i >= warm_up, Ordering::SeqCst);
        features.on_event(&r.event, &book, r.change, &mut digest);
        COUNTING.store(false, Ordering::SeqCst);
    }
    assert!(recs.len() > 50_000, "{} records", recs.len());
    assert!(digest.bar_count() > 5_000 && digest.event_count() > 20_000);
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "allocations after warm-up"
    );
}
