//! Zero heap allocations after warm-up (DESIGN.md section 5): a counting global allocator
//! counts every allocation made while a [`SymbolFeatures`] method runs, over a long synthetic
//! stream with every event kind, bursts, gaps, timers, late trades and book resyncs.
//!
//! Only the feature calls are counted (the test book is a `BTreeMap`, which allocates on its own
//! account). This file holds a single test so no other test thread allocates meanwhile.

mod common;

use common::{GenConfig, MIDNIGHT_MS, SYMBOL, Streams, TestBook, generate};
use orderflow_features::{FeatureConfig, FeatureDigest, SymbolFeatures};
use orderflow_tests::{CountingAllocator, count_allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    let mut allocations = 0;
    for (i, r) in recs.iter().enumerate() {
        book.apply_event(&r.event);
        let ((), n) =
            count_allocations(|| features.on_event(&r.event, &book, r.change, &mut digest));
        if i >= warm_up {
            allocations += n;
        }
    }
    assert!(recs.len() > 50_000, "{} records", recs.len());
    assert!(digest.bar_count() > 5_000 && digest.event_count() > 20_000);
    assert_eq!(allocations, 0, "allocations after warm-up");
}
