//! Ring benches (DESIGN.md section 7: "ring: one hop between pinned threads <= 150 ns p50 /
//! streaming <= 10 ns per event, not slower than crossbeam `ArrayQueue`").
//!
//! Every case moves 128-byte [`Event`]s between two threads, the main thread pinned to the
//! first core and the other thread to the last when the machine reports two or more. Cases:
//!
//! - group `ring_hop` (`iter_custom`, as rtrb's `benches/push_pop.rs`): a ping-pong through two
//!   rings, one each way, each iteration one round trip; the figure is half of it, one hop.
//!   `base` bounces a counter through two `CachePadded` atomics: the bare cache-line transfer
//!   every ring pays.
//! - group `ring_stream` (`iter_custom`): a producer thread pushes N events as fast as the ring
//!   takes them while the main thread pops them; the figure is the time per event. `base` is the
//!   consumer loop with no ring (it makes the events it would have popped).
//! - group `ring_stream_batched`: the same, the producer publishing 21 events at a time (a
//!   20-level depth diff, published whole as the engine's feed does): `try_write` + `publish`
//!   for ours, `write_chunk_uninit` for rtrb, one push each for `ArrayQueue` (no batch API).
//! - group `ring_stream_batched_256`: ours only, 256 events a publish: the floor of streaming
//!   128-byte events between these two cores, whatever the ring's protocol.
//!
//! - group `ring_message`: a 41-record venue message through our ring, published at once and
//!   answered with one event; 128-byte `Event`s against 136-byte ones (see [`plain`]).
//! - group `ring_message_work`: the same message with work on every record, published whole
//!   or every few records (see [`with_work`]).
//!
//! In each group but the last: `orderflow` (the engine's hand-written ring), `crossbeam_array_queue`
//! (crossbeam-queue's MPMC `ArrayQueue`, the named baseline) and `rtrb` (the reference SPSC),
//! all with 1024 slots.
//!
//! Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --bench ring -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use orderflow_core::{Body, Event, SymbolId, Timer};

const CAPACITY: usize = 1024;

/// A single-producer/single-consumer queue under test.
#[allow(
    clippy::result_large_err,
    reason = "a full ring hands the value back, as every ring's push does"
)]
trait Spsc: 'static {
    const NAME: &'static str;
    type P: Send + 'static;
    type C: Send + 'static;
    fn make(capacity: usize) -> (Self::P, Self::C);
    fn push(p: &mut Self::P, v: Event) -> Result<(), Event>;
    fn pop(c: &mut Self::C) -> Option<Event>;
    /// Pushes events `first..first + n` one by one, spinning while the ring is full.
    fn push_each(p: &mut Self::P, first: u64, n: u64) {
        for i in first..first + n {
            let mut e = event(i);
            while let Err(back) = Self::push(p, e) {
                e = back;
                std::hint::spin_loop();
            }
        }
    }
    /// Pushes events `first..first + n` and makes them visible together, spinning while the
    /// ring is full; a queue with no batch API pushes them one by one.
    fn push_batch(p: &mut Self::P, first: u64, n: u64) {
        Self::push_each(p, first, n);
    }
}

struct Ours;
impl Spsc for Ours {
    const NAME: &'static str = "orderflow";
    type P = orderflow_engine::Producer<Event>;
    type C = orderflow_engine::Consumer<Event>;
    fn make(capacity: usize) -> (Self::P, Self::C) {
        orderflow_engine::ring::ring(capacity)
    }
    #[inline]
    fn push(p: &mut Self::P, v: Event) -> Result<(), Event> {
        p.try_push(v)
            .map_err(orderflow_engine::PushError::into_inner)
    }
    #[inline]
    fn pop(c: &mut Self::C) -> Option<Event> {
        c.try_pop().ok()
    }
    fn push_batch(p: &mut Self::P, first: u64, n: u64) {
        for i in first..first + n {
            let mut e = event(i);
            while let Err(full) = p.try_write(e) {
                e = full.into_inner();
                p.publish();
                std::hint::spin_loop();
            }
        }
        p.publish();
    }
}

struct Crossbeam;
impl Spsc for Crossbeam {
    const NAME: &'static str = "crossbeam_array_queue";
    type P = Arc<ArrayQueue<Event>>;
    type C = Arc<ArrayQueue<Event>>;
    fn make(capacity: usize) -> (Self::P, Self::C) {
        let q = Arc::new(ArrayQueue::new(capacity));
        (Arc::clone(&q), q)
    }
    #[inline]
    fn push(p: &mut Self::P, v: Event) -> Result<(), Event> {
        p.push(v)
    }
    #[inline]
    fn pop(c: &mut Self::C) -> Option<Event> {
        c.pop()
    }
}

struct Rtrb;
impl Spsc for Rtrb {
    const NAME: &'static str = "rtrb";
    type P = rtrb::Producer<Event>;
    type C = rtrb::Consumer<Event>;
    fn make(capacity: usize) -> (Self::P, Self::C) {
        rtrb::RingBuffer::new(capacity)
    }
    #[inline]
    fn push(p: &mut Self::P, v: Event) -> Result<(), Event> {
        p.push(v).map_err(|rtrb::PushError::Full(v)| v)
    }
    #[inline]
    fn pop(c: &mut Self::C) -> Option<Event> {
        c.pop().ok()
    }
    fn push_batch(p: &mut Self::P, first: u64, n: u64) {
        let n_slots = usize::try_from(n).unwrap_or(usize::MAX);
        loop {
            if let Ok(chunk) = p.write_chunk_uninit(n_slots) {
                let written = chunk.fill_from_iter((first..first + n).map(event));
                debug_assert_eq!(written, n_slots);
                return;
            }
            std::hint::spin_loop();
        }
    }
}

fn event(i: u64) -> Event {
    Event::new(
        i as i64,
        SymbolId(0),
        Body::Timer(Timer { now_ms: i as i64 }),
    )
}

fn stamp(e: &Event) -> u64 {
    e.recv_ns as u64
}

/// First and last core, when there are two or more.
fn cores() -> Option<(core_affinity::CoreId, core_affinity::CoreId)> {
    let ids = core_affinity::get_core_ids()?;
    match (ids.first(), ids.last()) {
        (Some(a), Some(b)) if a.id != b.id => Some((*a, *b)),
        _ => None,
    }
}

/// Pins the calling thread; a refused pin only costs precision, so it is reported, not fatal.
fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(c) = core
        && !core_affinity::set_for_current(c)
    {
        eprintln!("could not pin to core {}", c.id);
    }
}

fn hop<Q: Spsc>(
    c: &mut Criterion,
    main_core: Option<core_affinity::CoreId>,
    other: Option<core_affinity::CoreId>,
) {
    let (mut ping_tx, mut ping_rx) = Q::make(CAPACITY);
    let (mut pong_tx, mut pong_rx) = Q::make(CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let echo_stop = Arc::clone(&stop);
    let echo = thread::spawn(move || {
        pin(other);
        while !echo_stop.load(Ordering::Relaxed) {
            if let Some(e) = Q::pop(&mut ping_rx) {
                let mut e = e;
                while let Err(back) = Q::push(&mut pong_tx, e) {
                    e = back;
                    std::hint::spin_loop();
                }
            } else {
                std::hint::spin_loop();
            }
        }
    });
    pin(main_core);
    let mut group = c.benchmark_group("ring_hop");
    group.bench_function(Q::NAME, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let mut e = event(i);
                while let Err(back) = Q::push(&mut ping_tx, e) {
                    e = back;
                    std::hint::spin_loop();
                }
                loop {
                    if let Some(r) = Q::pop(&mut pong_rx) {
                        debug_assert_eq!(stamp(&r), i);
                        black_box(r);
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            start.elapsed() / 2
        });
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
}

fn hop_base(
    c: &mut Criterion,
    main_core: Option<core_affinity::CoreId>,
    other: Option<core_affinity::CoreId>,
) {
    let ping = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let pong = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let (ping2, pong2) = (Arc::clone(&ping), Arc::clone(&pong));
    let echo = thread::spawn(move || {
        pin(other);
        loop {
            let v = ping2.load(Ordering::Acquire);
            if v == u64::MAX {
                break;
            }
            if v == pong2.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            } else {
                pong2.store(v, Ordering::Release);
            }
        }
    });
    pin(main_core);
    let mut next = 0u64;
    let mut group = c.benchmark_group("ring_hop");
    group.bench_function("base", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                next += 1;
                ping.store(next, Ordering::Release);
                while pong.load(Ordering::Acquire) != next {
                    std::hint::spin_loop();
                }
            }
            start.elapsed() / 2
        });
    });
    group.finish();
    ping.store(u64::MAX, Ordering::Release);
    let _ = echo.join();
}

/// Venue messages of [`BATCH`] records (a 20-level depth diff: its header and 20 levels),
/// each published at once, as the engine's feed does.
const BATCH: u64 = 21;

/// Events published at once in group `ring_stream_batched_256`: the index traffic is then
/// a rounding error, so the figure is what moving the events' bytes between the cores costs.
const FLOOR_BATCH: u64 = 256;

/// Group `ring_stream` with `batch` 1 (one push per event), `ring_stream_batched` with
/// [`BATCH`] (`Spsc::push_batch`), `ring_stream_batched_<n>` with any other `n`.
fn stream<Q: Spsc>(
    c: &mut Criterion,
    main_core: Option<core_affinity::CoreId>,
    other: Option<core_affinity::CoreId>,
    batch: u64,
) {
    pin(main_core);
    let name = match batch {
        1 => "ring_stream".to_owned(),
        BATCH => "ring_stream_batched".to_owned(),
        n => format!("ring_stream_batched_{n}"),
    };
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function(Q::NAME, |b| {
        b.iter_custom(|iters| {
            // Whole batches only: round up, and scale the time back to `iters` events.
            let asked = iters;
            let iters = iters.div_ceil(batch) * batch;
            let (mut tx, mut rx) = Q::make(CAPACITY);
            let go = Arc::new(AtomicBool::new(false));
            let go2 = Arc::clone(&go);
            let producer = thread::spawn(move || {
                pin(other);
                while !go2.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                if batch == 1 {
                    Q::push_each(&mut tx, 0, iters);
                } else {
                    for first in (0..iters).step_by(batch as usize) {
                        Q::push_batch(&mut tx, first, batch);
                    }
                }
            });
            go.store(true, Ordering::Release);
            let start = Instant::now();
            let mut got = 0;
            while got < iters {
                if let Some(e) = Q::pop(&mut rx) {
                    debug_assert_eq!(stamp(&e), got);
                    black_box(e);
                    got += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
            let elapsed = start.elapsed();
            let _ = producer.join();
            elapsed.mul_f64(asked as f64 / iters as f64)
        });
    });
    group.finish();
}

fn stream_base(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_stream");
    group.throughput(Throughput::Elements(1));
    group.bench_function("base", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                black_box(event(black_box(i)));
            }
            start.elapsed()
        });
    });
    group.finish();
}

/// Records in a message of group `ring_message`: a depth diff's header and 40 levels (the
/// BTCUSDT recording's diffs have 37 records at the median).
const MESSAGE: u64 = 41;

/// An event with a separate `u64` beside it: 136 bytes, so three cache lines a slot.
#[derive(Clone, Copy)]
#[expect(
    dead_code,
    reason = "only its size matters: the bench copies it through the ring"
)]
struct EventAndStamp {
    event: Event,
    stamp: u64,
}

/// One case of the `ring_message` groups: a venue message of [`MESSAGE`] records, written
/// into our ring, read by the other thread, which answers with one event on a second ring
/// once it has the whole message; the figure is the round trip per message.
struct Message<T, R> {
    group: &'static str,
    name: String,
    make: fn(u64) -> T,
    /// What the reader does with each record (a closure, inlined into the reader's loop).
    read: R,
    /// Publish every this many records as well as at the end (`None`: the whole message at
    /// once, as the engine's feed did before).
    every: Option<u64>,
}

/// Group `ring_message`, the message published at once: `event_128B` sends `Event`s (the
/// engine's slots, two cache lines each), `event_and_u64_136B` an `Event` plus a `u64` (three
/// lines each): what a separate parse stamp beside each event would cost.
fn plain<T>(name: &str, make: fn(u64) -> T) -> Message<T, impl Fn(&T) + Send + 'static> {
    Message {
        group: "ring_message",
        name: name.to_owned(),
        make,
        read: |r: &T| {
            black_box(r);
        },
        every: None,
    }
}

/// Multiply-adds per record in group `ring_message_work`: a dependent chain, 56 to 66 ns a
/// record here (`reader_alone`), in the range of the engine's own work on a depth record
/// (about 30 ns warm, 60 to 100 ns after an idle gap: `--bench idle_gap`).
const WORK: u32 = 60;

/// The reader's stand-in for applying one record.
#[inline]
fn work(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..WORK {
        x = black_box(x.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1));
    }
    x
}

/// Group `ring_message_work`: 128-byte events, the reader working on every record ([`work`])
/// as the engine applies a depth diff's levels, the message published whole (`whole`) or every
/// `n` records (`every_n`), so the reader starts on the first records while the rest are
/// written. `reader_alone` ([`message_work_alone`]) is the reader's work with no ring.
fn with_work(every: Option<u64>) -> Message<Event, impl Fn(&Event) + Send + 'static> {
    Message {
        group: "ring_message_work",
        name: every.map_or_else(|| "whole".to_owned(), |n| format!("every_{n}")),
        make: event,
        read: |r: &Event| {
            black_box(work(stamp(r)));
        },
        every,
    }
}

fn message<T: Copy + Send + 'static, R: Fn(&T) + Send + 'static>(
    c: &mut Criterion,
    case: Message<T, R>,
    main_core: Option<core_affinity::CoreId>,
    other: Option<core_affinity::CoreId>,
) {
    let Message {
        group,
        name,
        make,
        read,
        every,
    } = case;
    let (mut tx, mut rx) = orderflow_engine::ring::ring::<T>(CAPACITY);
    let (mut ack_tx, mut ack_rx) = orderflow_engine::ring::ring::<Event>(CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let echo_stop = Arc::clone(&stop);
    let echo = thread::spawn(move || {
        pin(other);
        let mut got = 0;
        while !echo_stop.load(Ordering::Relaxed) {
            if let Ok(record) = rx.try_pop() {
                read(&record);
                got += 1;
                if got == MESSAGE {
                    got = 0;
                    while ack_tx.try_push(event(0)).is_err() {
                        std::hint::spin_loop();
                    }
                }
            } else {
                std::hint::spin_loop();
            }
        }
    });
    pin(main_core);
    let mut group = c.benchmark_group(group);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                for j in 0..MESSAGE {
                    let mut record = make(i + j);
                    while let Err(full) = tx.try_write(record) {
                        record = full.into_inner();
                        tx.publish();
                        std::hint::spin_loop();
                    }
                    if every.is_some_and(|n| (j + 1) % n == 0) {
                        tx.publish();
                    }
                }
                tx.publish();
                while ack_rx.try_pop().is_err() {
                    std::hint::spin_loop();
                }
            }
            start.elapsed()
        });
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
}

fn message_work_alone(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_message_work");
    group.bench_function("reader_alone", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                for j in 0..MESSAGE {
                    black_box(work(stamp(&black_box(event(i + j)))));
                }
            }
            start.elapsed()
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let (main_core, other) = match cores() {
        Some((a, b)) => (Some(a), Some(b)),
        None => {
            eprintln!("one core: the threads are not pinned");
            (None, None)
        }
    };
    hop_base(c, main_core, other);
    hop::<Ours>(c, main_core, other);
    hop::<Crossbeam>(c, main_core, other);
    hop::<Rtrb>(c, main_core, other);
    stream_base(c);
    for batch in [1, BATCH] {
        stream::<Ours>(c, main_core, other, batch);
        stream::<Crossbeam>(c, main_core, other, batch);
        stream::<Rtrb>(c, main_core, other, batch);
    }
    stream::<Ours>(c, main_core, other, FLOOR_BATCH);
    message(c, plain("event_128B", event), main_core, other);
    message(
        c,
        plain("event_and_u64_136B", |i| EventAndStamp {
            event: event(i),
            stamp: i,
        }),
        main_core,
        other,
    );
    message_work_alone(c);
    for every in [None, Some(8), Some(1)] {
        message(c, with_work(every), main_core, other);
    }
}

criterion_group! {
    name = ring;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(ring);
