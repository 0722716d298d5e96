//! `LogWriter::append` allocates nothing after warm-up (DESIGN.md section 7).
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use common::{NEAR_MIDNIGHT_NS, every_kind, market_event, symbols};
use orderflow_recorder::{LogReader, LogWriter, WriterConfig};
use orderflow_tests::{CountingAllocator, count_allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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

    let ((), allocations) = count_allocations(|| {
        for e in kinds.iter().chain(&market) {
            let _ = writer.append(e).unwrap();
        }
    });
    assert_eq!(allocations, 0, "append allocated {allocations} times");
    writer.close().unwrap();

    let reader = LogReader::open(dir.path()).unwrap();
    let (sum, allocations) = count_allocations(|| {
        reader
            .records()
            .fold(0i64, |sum, r| sum.wrapping_add(r.to_event().recv_ns))
    });
    assert_eq!(allocations, 0, "iteration allocated {allocations} times");
    assert_ne!(sum, 0);
}
