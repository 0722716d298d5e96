//! Recorder append throughput (DESIGN.md section 7: >= 20 M records/s, 0 allocations).
//!
//! One group, records per second (`Throughput::Elements`), each iteration into a fresh file
//! in a fresh temp dir, with page faults inside the timed loop and file creation outside it:
//! - `bare_copy_64B`: the baseline, a 64-byte copy per record into a fresh shared mapping;
//! - `bare_copy_64B_large_folios`: the same after `madvise(MADV_HUGEPAGE)`, which the writer
//!   does too: the like-for-like floor for `append_mix`;
//! - `bare_copy_144B`: 144 bytes per record, what a record holding a whole 128-byte `Event`
//!   would take (shows why records are stored at their own size);
//! - `append_mix`: `LogWriter::append` on a realistic mix (`orderflow_tests::market_event`:
//!   5/8 depth levels, 2/8 book tickers, 1/8 trades: 70 bytes per record on average), segment created before timing;
//! - `append_mix_prefaulted`: the same after `LogWriter::prefault`, the cost without faults.
//!
//! A second group, `recorder_read`, times the reader on the same mix: `open_validate`
//! (`LogReader::open`: map, validate every record once, build the seek index) and
//! `iterate_to_event` (zero-copy walk, each record copied out as an owned `Event`).
//!
//! The zero-allocation half of the target is a test (`recorder/tests/alloc.rs`).
//!
//! Run briefly on a shared machine:
//! `cargo bench -p orderflow-benches --bench recorder -- --warm-up-time 1 --measurement-time 3`.
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    reason = "a bench that cannot set up its temp files has nothing to measure"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memmap2::MmapMut;
use orderflow_core::{Event, SymbolTable};
use orderflow_recorder::{LogReader, LogWriter, MsyncPolicy, WriterConfig};
use orderflow_tests::market_event;

/// Records per timed iteration.
const N: usize = 200_000;

/// The recorder tests' mix (`orderflow_tests::market_event`), 1 µs apart.
fn mix() -> Vec<Event> {
    let base_ns = 1_750_000_000_000_000_000i64;
    (0..4096u64)
        .map(|i| market_event(i, base_ns + i as i64 * 1_000))
        .collect()
}

fn symbols() -> SymbolTable {
    let mut t = SymbolTable::new();
    let _ = t.intern(b"BTCUSDT");
    let _ = t.intern(b"ETHUSDT");
    t
}

/// How the bare copy's mapping is set up.
#[derive(Clone, Copy)]
enum Folios {
    /// 4 KiB pages: the baseline as DESIGN.md section 7 states it.
    Small,
    /// `MADV_HUGEPAGE`, as `LogWriter` maps its segments (`WriteMap::advise_large_folios`).
    Large,
}

/// `N` copies of `RECORD` bytes into a fresh mapped file; only the copies are timed.
fn bare_copy<const RECORD: usize>(iters: u64, folios: Folios) -> Duration {
    let src = [0x5Au8; RECORD];
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("bare"))
            .expect("create");
        file.set_len((N * RECORD) as u64).expect("set_len");
        // SAFETY: a file this bench just created in its own temp dir; nothing else maps,
        // truncates or writes it while `map` lives.
        let mut map = unsafe { MmapMut::map_mut(&file) }.expect("map");
        if matches!(folios, Folios::Large) {
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        let start = Instant::now();
        for slot in map.chunks_exact_mut(RECORD) {
            slot.copy_from_slice(black_box(&src));
        }
        total += start.elapsed();
        black_box(&map);
    }
    total
}

fn append(iters: u64, events: &[Event], prefault: bool) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = WriterConfig::new(symbols())
            .with_segment_bytes(32 << 20)
            .with_msync(MsyncPolicy::Never);
        let mut writer = LogWriter::open(dir.path(), config).expect("open");
        // Creates the segment (file, preallocation, mapping, header) before timing.
        let _ = writer.append(&events[0]).expect("append");
        if prefault {
            let _ = writer.prefault(usize::MAX).expect("prefault");
        }
        let start = Instant::now();
        for e in events.iter().cycle().take(N) {
            let _ = black_box(writer.append(black_box(e)));
        }
        total += start.elapsed();
        writer.close().expect("close");
    }
    total
}

fn recorder(c: &mut Criterion) {
    let events = mix();
    let mut group = c.benchmark_group("recorder_append");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    group.bench_function("bare_copy_64B", |b| {
        b.iter_custom(|iters| bare_copy::<64>(iters, Folios::Small));
    });
    group.bench_function("bare_copy_64B_large_folios", |b| {
        b.iter_custom(|iters| bare_copy::<64>(iters, Folios::Large));
    });
    group.bench_function("bare_copy_144B", |b| {
        b.iter_custom(|iters| bare_copy::<144>(iters, Folios::Small));
    });
    group.bench_function("append_mix", |b| {
        b.iter_custom(|iters| append(iters, &events, false));
    });
    group.bench_function("append_mix_prefaulted", |b| {
        b.iter_custom(|iters| append(iters, &events, true));
    });
    group.finish();

    let dir = tempfile::tempdir().expect("temp dir");
    let config = WriterConfig::new(symbols()).with_msync(MsyncPolicy::Never);
    let mut writer = LogWriter::open(dir.path(), config).expect("open");
    for e in events.iter().cycle().take(N) {
        let _ = writer.append(e).expect("append");
    }
    writer.close().expect("close");
    let mut group = c.benchmark_group("recorder_read");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    group.bench_function("open_validate", |b| {
        b.iter(|| LogReader::open(dir.path()).expect("read"));
    });
    let reader = LogReader::open(dir.path()).expect("read");
    group.bench_function("iterate_to_event", |b| {
        b.iter(|| {
            reader.records().fold(0i64, |acc, r| {
                acc.wrapping_add(black_box(r.to_event()).recv_ns)
            })
        });
    });
    group.finish();
}

criterion_group!(benches, recorder);
criterion_main!(benches);
