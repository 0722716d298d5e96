//! `LogWriter::append` allocates nothing after warm-up (DESIGN.md section 7).
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::{NEAR_MIDNIGHT_NS, every_kind, market_event, symbols};
use orderflow_recorder::{LogReader, LogWriter, WriterConfig};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn append_and_zero_copy_reads_do_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LogWriter::open(
        dir.path(),
        WriterConfig::new(symbols()).with_segment_bytes(8 << 20),
    )
    .unwrap();
    let kinds = every_kind(NEAR_MIDNIGHT_NS - 1_000_000, 1_748_822_399_000);
    let market: Vec<_> = (0..50_000)
        .map(|i| market_event(i, NEAR_MIDNIGHT_NS + i as i64))
        .collect();
    // Warm-up: the first append creates the segment.
    let _ = writer.append(&kinds[0]).unwrap();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for e in kinds.iter().chain(&market) {
        let _ = writer.append(e).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "append allocated {} times",
        after - before
    );
    writer.close().unwrap();

    let reader = LogReader::open(dir.path()).unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut sum = 0i64;
    for r in reader.records() {
        sum = sum.wrapping_add(r.to_event().recv_ns);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "iteration allocated {} times",
        after - before
    );
    assert_ne!(sum, 0);
}
